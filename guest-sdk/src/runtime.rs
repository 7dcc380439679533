//! The executor: a single-threaded task set driven by incoming messages, as skynet drives a
//! service's coroutines.
//!
//! Every request runs as a task. A task that awaits an answer (a call, a sleep) registers the
//! session it waits for and is put aside; the service goes on dispatching other messages. When
//! the RESPONSE (or ERROR) with that session arrives, the waiting task is woken and runs within
//! the same dispatch. The host never calls into a guest re-entrantly, so nothing here is shared
//! across threads: the state lives in a thread-local (one per guest instance; one per test
//! thread natively).
//!
//! Borrowing rule: no `RefCell` of the runtime is borrowed while user code runs (a task is taken
//! out of the table while it is polled) or while user data is dropped (dropping a request may
//! send an ERROR, dropping a call unregisters its session), so user code may call back into the
//! runtime freely.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use crate::abi::{self, Address, ptype};
use crate::call::CallError;
use crate::message::Payload;
use crate::service::{self, Reply, Request, Service};

/// A task's future. Tasks run on one thread, so nothing needs `Send`.
pub(crate) type LocalFuture = Pin<Box<dyn Future<Output = ()>>>;

/// The service's request handler, installed once its `start` has finished.
type Handler = Rc<dyn Fn(Request) -> Pin<Box<dyn Future<Output = crate::Result<Reply>>>>>;

/// Identifies a task; the generation keeps a stale id (a waker outliving its task) from
/// reaching a later task in the same slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TaskId {
    index: usize,
    generation: u64,
}

/// Ids of tasks to poll, in wake-up order. Behind a `Mutex` only because `Waker` must be
/// `Send + Sync`; in a guest there is one thread and the lock is never contended.
#[derive(Default)]
struct ReadyQueue(Mutex<VecDeque<TaskId>>);

impl ReadyQueue {
    fn push(&self, id: TaskId) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push_back(id);
    }

    fn pop(&self) -> Option<TaskId> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).pop_front()
    }
}

/// A task's waker: queues the task once, however often it is woken before it runs.
struct TaskWaker {
    id: TaskId,
    queued: AtomicBool,
    ready: Arc<ReadyQueue>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.queued.swap(true, Ordering::Relaxed) {
            self.ready.push(self.id);
        }
    }
}

struct Task {
    /// `None` while the task is being polled.
    future: Option<LocalFuture>,
    waker: Arc<TaskWaker>,
    /// Aborted while it was being polled: drop it instead of putting it back.
    aborted: bool,
}

/// The task table: a slab whose slots carry a generation.
#[derive(Default)]
struct Tasks {
    slots: Vec<(u64, Option<Task>)>,
    free: Vec<usize>,
    live: usize,
}

impl Tasks {
    fn insert(&mut self, future: LocalFuture, ready: &Arc<ReadyQueue>) -> Arc<TaskWaker> {
        let index = self.free.pop().unwrap_or_else(|| {
            self.slots.push((0, None));
            self.slots.len() - 1
        });
        let slot = &mut self.slots[index];
        slot.0 += 1;
        let id = TaskId { index, generation: slot.0 };
        let waker = Arc::new(TaskWaker { id, queued: AtomicBool::new(false), ready: ready.clone() });
        slot.1 = Some(Task { future: Some(future), waker: waker.clone(), aborted: false });
        self.live += 1;
        waker
    }

    fn get(&mut self, id: TaskId) -> Option<&mut Task> {
        match self.slots.get_mut(id.index) {
            Some((generation, Some(task))) if *generation == id.generation => Some(task),
            _ => None,
        }
    }

    /// Takes the task's future out to poll it, with its waker.
    fn take(&mut self, id: TaskId) -> Option<(LocalFuture, Waker)> {
        let task = self.get(id)?;
        let future = task.future.take()?;
        // Cleared before the poll, so a wake-up during the poll queues the task again.
        task.waker.queued.store(false, Ordering::Relaxed);
        Some((future, Waker::from(task.waker.clone())))
    }

    /// Puts a polled, unfinished future back; hands it back when the task was aborted meanwhile.
    fn put_back(&mut self, id: TaskId, future: LocalFuture) -> Option<LocalFuture> {
        match self.get(id) {
            Some(task) if !task.aborted => {
                task.future = Some(future);
                None
            }
            Some(_) => {
                self.remove(id);
                Some(future)
            }
            None => Some(future),
        }
    }

    /// Removes a task; returns its future (if it is not being polled) for the caller to drop
    /// outside any borrow.
    fn remove(&mut self, id: TaskId) -> Option<LocalFuture> {
        let task = self.get(id)?;
        if task.future.is_none() {
            // Being polled: the runner drops it when the poll returns.
            task.aborted = true;
            return None;
        }
        let task = self.slots[id.index].1.take()?;
        self.free.push(id.index);
        self.live -= 1;
        task.future
    }

    fn finish(&mut self, id: TaskId) {
        if let Some((generation, slot)) = self.slots.get_mut(id.index)
            && *generation == id.generation
            && slot.take().is_some()
        {
            self.free.push(id.index);
            self.live -= 1;
        }
    }

    fn drain(&mut self) -> Vec<LocalFuture> {
        self.free.clear();
        self.live = 0;
        let futures = self.slots.iter_mut().filter_map(|(_, task)| task.take()?.future).collect();
        self.free.extend(0..self.slots.len());
        futures
    }
}

/// A pending answer: what a [`Call`](crate::Call) (or a sleep) waits for.
pub(crate) struct Pending {
    /// The callee, when known: its "I am gone" notice fails the call.
    target: Option<Address>,
    state: RefCell<PendingState>,
}

enum PendingState {
    Waiting(Option<Waker>),
    Done(Result<Payload, CallError>),
    Taken,
}

impl Pending {
    pub(crate) fn poll(&self, cx: &mut Context<'_>) -> Poll<Result<Payload, CallError>> {
        let mut state = self.state.borrow_mut();
        match &mut *state {
            PendingState::Waiting(waker) => {
                *waker = Some(cx.waker().clone());
                Poll::Pending
            }
            PendingState::Done(_) => match std::mem::replace(&mut *state, PendingState::Taken) {
                PendingState::Done(result) => Poll::Ready(result),
                _ => unreachable!(),
            },
            PendingState::Taken => panic!("skybox_sdk: an answer was polled after it was taken"),
        }
    }

    fn complete(&self, result: Result<Payload, CallError>) {
        let previous = self.state.replace(PendingState::Done(result));
        if let PendingState::Waiting(Some(waker)) = previous {
            waker.wake();
        }
    }
}

/// Everything the executor keeps between messages.
#[derive(Default)]
struct Runtime {
    tasks: RefCell<Tasks>,
    ready: Arc<ReadyQueue>,
    /// Answers awaited, by session.
    sessions: RefCell<HashMap<i32, Rc<Pending>>>,
    /// Set once the service has started.
    handler: RefCell<Option<Handler>>,
    /// Requests that arrived before the service had started.
    backlog: RefCell<Vec<Request>>,
    /// Held answers to debug LINK: they fail when the guest exits.
    links: RefCell<Vec<service::Responder>>,
    /// Every request answer that may still be open, failed at exit; pruned as it grows.
    answers: RefCell<Vec<Weak<service::Answer>>>,
    exiting: Cell<bool>,
    messages: Cell<u64>,
}

thread_local! {
    static RUNTIME: Runtime = Runtime::default();
}

fn with<R>(f: impl FnOnce(&Runtime) -> R) -> R {
    RUNTIME.with(f)
}

/// Spawns a task; it first runs before the current dispatch returns.
pub(crate) fn spawn(future: LocalFuture) -> TaskId {
    with(|rt| {
        let waker = rt.tasks.borrow_mut().insert(future, &rt.ready);
        waker.wake_by_ref();
        waker.id
    })
}

/// Removes a task (skynet's `killthread`): it never runs again.
pub(crate) fn abort(id: TaskId) {
    let future = with(|rt| rt.tasks.borrow_mut().remove(id));
    drop(future);
}

/// How many tasks are alive.
pub(crate) fn task_count() -> usize {
    with(|rt| rt.tasks.borrow().live)
}

/// How many messages this guest has dispatched.
pub(crate) fn message_count() -> u64 {
    with(|rt| rt.messages.get())
}

/// Registers a wait for the answer to `session`.
pub(crate) fn register(session: i32, target: Option<Address>) -> Rc<Pending> {
    let pending = Rc::new(Pending { target, state: RefCell::new(PendingState::Waiting(None)) });
    with(|rt| rt.sessions.borrow_mut().insert(session, pending.clone()));
    pending
}

/// Forgets the wait for `session` (its waiter is gone). Tolerates a runtime being torn down.
pub(crate) fn unregister(session: i32) {
    let removed = RUNTIME.try_with(|rt| rt.sessions.try_borrow_mut().ok()?.remove(&session));
    drop(removed);
}

/// Delivers the answer for `session` to whoever waits for it; an answer nobody waits for (an
/// abandoned call, a cancelled sleep) is dropped.
fn complete(session: i32, result: Result<Payload, CallError>) {
    let pending = with(|rt| rt.sessions.borrow_mut().remove(&session));
    match pending {
        Some(pending) => pending.complete(result),
        None => drop(result),
    }
}

/// `source` is gone: every call pending on it fails.
pub(crate) fn service_down(source: Address) {
    let failed: Vec<Rc<Pending>> = with(|rt| {
        let mut sessions = rt.sessions.borrow_mut();
        let gone: Vec<i32> =
            sessions.iter().filter(|(_, p)| p.target == Some(source)).map(|(s, _)| *s).collect();
        gone.iter().filter_map(|s| sessions.remove(s)).collect()
    });
    for pending in failed {
        pending.complete(Err(CallError::ServiceDown));
    }
}

/// Remembers a request's answer so that [`teardown`] can fail it.
pub(crate) fn track_answer(answer: &Rc<service::Answer>) {
    with(|rt| {
        let mut answers = rt.answers.borrow_mut();
        // Amortized pruning: drop the answered and the gone whenever the list doubles.
        if answers.len() >= 64 && answers.len().is_power_of_two() {
            answers.retain(|a| a.upgrade().is_some_and(|a| !a.is_done()));
        }
        answers.push(Rc::downgrade(answer));
    });
}

/// Keeps a debug LINK answer until the guest exits.
pub(crate) fn hold_link(responder: service::Responder) {
    with(|rt| rt.links.borrow_mut().push(responder));
}

/// Has [`crate::exit`] been called?
pub(crate) fn exiting() -> bool {
    with(|rt| rt.exiting.get())
}

/// Marks the guest as exiting; returns false if it already was.
pub(crate) fn begin_exit() -> bool {
    with(|rt| !rt.exiting.replace(true))
}

/// Starts the service: runs `S::start(args)` as the first task. Messages that arrive before it
/// finishes wait in a backlog (answers and debug messages excepted), then get dispatched.
pub(crate) fn start<S: Service>(args: String) {
    spawn(Box::pin(async move {
        match S::start(args).await {
            Ok(service) => {
                // The service lives as long as the guest: handlers borrow it for 'static.
                let service: &'static S = Box::leak(Box::new(service));
                let handler: Handler = Rc::new(move |request: Request| match request.ptype() {
                    ptype::LUA => Box::pin(service.lua(request)),
                    ptype::TEXT => Box::pin(service.text(request)),
                    _ => Box::pin(service.other(request)),
                });
                with(|rt| *rt.handler.borrow_mut() = Some(handler.clone()));
                service.started();
                // As snlua's skynet.init_service: the launcher answers newservice now. In the
                // launcher's text words ("" started), which every profile may send.
                let _ = abi::send_name(".launcher", ptype::TEXT, 0, b"");
                let backlog = with(|rt| std::mem::take(&mut *rt.backlog.borrow_mut()));
                for request in backlog {
                    spawn_request(&handler, request);
                }
            }
            Err(e) => {
                abi::log(&format!("init service failed: {e}"));
                let _ = abi::send_name(".launcher", ptype::TEXT, 0, b"ERROR");
                crate::exit();
            }
        }
    }));
    settle();
}

/// Dispatches one message, then runs every task it made ready.
pub(crate) fn dispatch(ptype: u8, session: i32, source: Address, payload: Payload) {
    with(|rt| rt.messages.set(rt.messages.get() + 1));
    match ptype {
        ptype::RESPONSE => complete(session, Ok(payload)),
        ptype::ERROR if session == 0 => service_down(source),
        ptype::ERROR => complete(session, Err(CallError::Failed(payload))),
        // Socket events go to the sockets of `net` (unless the service holds them by handle).
        ptype::SOCKET if matches!(payload, Payload::Bytes(_)) => {
            if let Payload::Bytes(bytes) = payload {
                crate::net::deliver(bytes);
            }
        }
        _ => {
            let request = Request::new(ptype, session, source, payload);
            if exiting() || ptype == ptype::TRACE {
                // Dropping a request answers it with ERROR; a trace tag is one-way.
                drop(request);
            } else if ptype == ptype::DEBUG {
                let handler: Handler = Rc::new(|request| Box::pin(crate::debug::handle(request)));
                spawn_request(&handler, request);
            } else {
                let handler = with(|rt| rt.handler.borrow().clone());
                match handler {
                    Some(handler) => spawn_request(&handler, request),
                    None => with(|rt| rt.backlog.borrow_mut().push(request)),
                }
            }
        }
    }
    settle();
}

/// Runs a request's handler as a task, then answers the request with what it returned (unless
/// the handler took the answer over with [`Request::responder`]).
fn spawn_request(handler: &Handler, request: Request) {
    let (proto, source, answer) = (request.ptype(), request.source(), request.answer());
    let handling = handler(request);
    spawn(Box::pin(async move {
        let result = handling.await;
        service::finish(proto, source, answer, result);
    }));
}

/// Polls ready tasks until none is left, then tears down if the guest is exiting.
pub(crate) fn settle() {
    run_ready();
    if exiting() {
        teardown();
    }
}

fn run_ready() {
    while !exiting() {
        let Some(id) = with(|rt| rt.ready.pop()) else { break };
        let Some((mut future, waker)) = with(|rt| rt.tasks.borrow_mut().take(id)) else { continue };
        let poll = future.as_mut().poll(&mut Context::from_waker(&waker));
        match poll {
            Poll::Ready(()) => {
                with(|rt| rt.tasks.borrow_mut().finish(id));
                drop(future);
            }
            Poll::Pending => {
                let aborted = with(|rt| rt.tasks.borrow_mut().put_back(id, future));
                drop(aborted);
            }
        }
    }
}

/// The guest is exiting: drop every task and queued request (each request still unanswered is
/// answered with ERROR as it drops), and tell the services it was calling that it is gone (so
/// they drop its requests), as skynet.exit does.
fn teardown() {
    // First the answers still open anywhere (tasks, the backlog, responders kept in the
    // service's state, which is never dropped).
    let answers = with(|rt| std::mem::take(&mut *rt.answers.borrow_mut()));
    for answer in answers.iter().filter_map(Weak::upgrade) {
        if !answer.is_done() {
            answer.fail("the service exited");
        }
    }
    let (handler, tasks, backlog, links, sessions) = with(|rt| {
        while rt.ready.pop().is_some() {}
        (
            rt.handler.borrow_mut().take(),
            rt.tasks.borrow_mut().drain(),
            std::mem::take(&mut *rt.backlog.borrow_mut()),
            std::mem::take(&mut *rt.links.borrow_mut()),
            std::mem::take(&mut *rt.sessions.borrow_mut()),
        )
    });
    let mut targets: Vec<Address> = Vec::new();
    for target in sessions.values().filter_map(|p| p.target) {
        if !targets.contains(&target) {
            targets.push(target);
        }
    }
    drop((handler, tasks, backlog, links, sessions));
    for target in targets {
        let _ = abi::send(target, ptype::ERROR, 0, &[]);
    }
}

/// Drops everything and forgets the exit, so a test thread can start another service.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn reset() {
    with(|rt| rt.exiting.set(true));
    teardown();
    crate::net::reset();
    with(|rt| {
        // Tasks woken while they were dropped: gone already.
        while rt.ready.pop().is_some() {}
        rt.exiting.set(false);
        rt.messages.set(0);
    });
}
