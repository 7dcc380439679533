//! Tasks and time: [`spawn`] (skynet's `fork`), [`sleep`], [`timeout`], [`spawn_after`]
//! (skynet's `timeout`), and combinators to await several things at once.
//!
//! Time is in ticks: hundredths of a second, skynet's unit.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use crate::abi;
use crate::call::Call;
use crate::runtime::{self, TaskId};

/// Runs `future` as a new task (skynet's `fork`). It starts before the current message's
/// dispatch returns, and runs independently of the handle: dropping the handle detaches it.
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
{
    let state = Rc::new(RefCell::new(JoinState { output: None, aborted: false, waker: None }));
    let completion = Completion { state: state.clone() };
    let id = runtime::spawn(Box::pin(async move {
        let output = future.await;
        completion.finish(Some(output));
    }));
    JoinHandle { state, id }
}

/// Runs `future` after `ticks` hundredths of a second, as a new task (skynet's
/// `skynet.timeout(ti, f)`).
pub fn spawn_after<F>(ticks: i32, future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
{
    spawn(async move {
        sleep(ticks).await;
        future.await
    })
}

struct JoinState<T> {
    output: Option<T>,
    aborted: bool,
    waker: Option<Waker>,
}

/// Owned by the task: hands its output to the handle, or, dropped unfinished (the task was
/// aborted, or the guest is exiting), tells the handle the task is gone.
struct Completion<T> {
    state: Rc<RefCell<JoinState<T>>>,
}

impl<T> Completion<T> {
    fn finish(&self, output: Option<T>) {
        let waker = {
            let mut state = self.state.borrow_mut();
            match output {
                Some(output) => state.output = Some(output),
                None if state.output.is_none() => state.aborted = true,
                None => {}
            }
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<T> Drop for Completion<T> {
    fn drop(&mut self) {
        self.finish(None);
    }
}

/// A spawned task: await it for its output (`Err(Aborted)` if the task was aborted before it
/// finished), or [`abort`](JoinHandle::abort) it.
pub struct JoinHandle<T> {
    state: Rc<RefCell<JoinState<T>>>,
    id: TaskId,
}

impl<T> JoinHandle<T> {
    /// Has the task finished (or been aborted)?
    pub fn is_finished(&self) -> bool {
        let state = self.state.borrow();
        state.output.is_some() || state.aborted
    }

    /// Stops the task (skynet's `killthread`): it never runs again, and what it holds is dropped
    /// (a request it was answering fails). Aborting a task from inside itself takes effect when it
    /// next suspends. Does nothing to a finished task.
    pub fn abort(&self) {
        runtime::abort(self.id);
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, Aborted>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.state.borrow_mut();
        if let Some(output) = state.output.take() {
            return Poll::Ready(Ok(output));
        }
        if state.aborted {
            return Poll::Ready(Err(Aborted));
        }
        state.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JoinHandle({:?}, finished: {})", self.id, self.is_finished())
    }
}

/// A [`JoinHandle`]'s task was aborted (or the guest exited) before it finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Aborted;

impl fmt::Display for Aborted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the task was aborted")
    }
}

impl std::error::Error for Aborted {}

/// Suspends the task for `ticks` hundredths of a second (`skynet.sleep`); other messages are
/// handled meanwhile. `ticks <= 0` still lets queued messages run first (`skynet.yield`).
pub fn sleep(ticks: i32) -> Sleep {
    match abi::timeout(ticks) {
        Ok(session) => Sleep { call: Some(Call::pending(session, None)) },
        // The host refuses no tick count; if it ever did, do not wait forever.
        Err(_) => Sleep { call: None },
    }
}

/// Lets the messages already queued for this guest run before the task goes on
/// (`skynet.yield`).
pub fn yield_now() -> Sleep {
    sleep(0)
}

/// The future of [`sleep`].
#[must_use = "a sleep does nothing unless awaited"]
pub struct Sleep {
    call: Option<Call>,
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match &mut self.call {
            Some(call) => match Pin::new(call).poll(cx) {
                Poll::Ready(_) => {
                    self.call = None;
                    Poll::Ready(())
                }
                Poll::Pending => Poll::Pending,
            },
            None => Poll::Ready(()),
        }
    }
}

/// [`timeout`] ran out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Elapsed;

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("timed out")
    }
}

impl std::error::Error for Elapsed {}

/// Awaits `future` for at most `ticks` hundredths of a second. On time-out `future` is dropped
/// (a call it was making is abandoned: its answer will be ignored).
pub async fn timeout<F: Future>(ticks: i32, future: F) -> Result<F::Output, Elapsed> {
    let mut future = std::pin::pin!(future);
    let mut deadline = sleep(ticks);
    std::future::poll_fn(move |cx| {
        if let Poll::Ready(output) = future.as_mut().poll(cx) {
            return Poll::Ready(Ok(output));
        }
        Pin::new(&mut deadline).poll(cx).map(|()| Err(Elapsed))
    })
    .await
}

/// Awaits two futures at once; both run until both are done.
pub async fn join<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    let (mut a, mut b) = (std::pin::pin!(a), std::pin::pin!(b));
    let (mut out_a, mut out_b) = (None, None);
    std::future::poll_fn(move |cx| {
        if out_a.is_none()
            && let Poll::Ready(v) = a.as_mut().poll(cx)
        {
            out_a = Some(v);
        }
        if out_b.is_none()
            && let Poll::Ready(v) = b.as_mut().poll(cx)
        {
            out_b = Some(v);
        }
        if out_a.is_some() && out_b.is_some() {
            Poll::Ready((out_a.take().unwrap(), out_b.take().unwrap()))
        } else {
            Poll::Pending
        }
    })
    .await
}

/// Awaits every future at once and returns their outputs in order: parallel calls, as
/// skynet's `skynet.request():add{...}`. Each future is polled only until it is done.
pub async fn join_all<I>(futures: I) -> Vec<<I::Item as Future>::Output>
where
    I: IntoIterator,
    I::Item: Future,
{
    let mut futures: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<_>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(move |cx| {
        let mut done = true;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(v) => *output = Some(v),
                    Poll::Pending => done = false,
                }
            }
        }
        if done {
            Poll::Ready(outputs.iter_mut().map(|o| o.take().unwrap()).collect())
        } else {
            Poll::Pending
        }
    })
    .await
}
