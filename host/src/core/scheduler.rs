//! The global queue of services with pending messages, each worker's run-next slot, and how idle
//! workers wait for work.
//!
//! A service is in the queue (or in a slot) at most once (see `mailbox`). Workers pop a service,
//! run a bounded batch of its messages and push it back if more remain. Waking a sleeping worker
//! costs a system call, so a worker that schedules a service does not wake another one unless the
//! queue holds more than the worker itself will take next; the timer thread, the socket thread and
//! the main thread always wake one. An idle worker spins briefly before it sleeps.
//!
//! A service woken by a message sent from a worker goes to that worker's run-next slot rather
//! than the global queue: the worker runs it as soon as the current message is done, on the same
//! core, with the message still in cache. A conversation (call, reply, call...) then stays on one
//! core instead of bouncing its Lua VMs between cores, which costs more than the work itself.
//! Three things keep the slot from starving anyone: a worker takes its slot at most
//! [`RUN_NEXT_STREAK`] times in a row while the global queue waits; an idle worker about to sleep
//! steals from other slots; and the timer moves a service that has waited in a slot for a whole
//! tick (a worker stuck in a long message, or a long batch) to the global queue.

use std::cell::Cell;
use std::ptr;
use std::sync::Arc;
use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use crossbeam::queue::SegQueue;
use parking_lot::{Condvar, Mutex};

use super::service::Service;

thread_local! {
    static ON_WORKER: Cell<bool> = const { Cell::new(false) };
    /// The run-next slot of the worker on this thread (null on other threads).
    static RUN_NEXT: Cell<*const RunNext> = const { Cell::new(ptr::null()) };
}

/// Marks the current thread as a worker with slot `run_next` (changes where its pushes go and
/// its wake-up policy).
///
/// `run_next` must outlive the thread's use of it: the worker holds the node that owns it.
pub fn enter_worker(run_next: &RunNext) {
    ON_WORKER.with(|w| w.set(true));
    RUN_NEXT.with(|r| r.set(run_next));
}

/// How many times in a row a worker takes its run-next slot while the global queue has work.
pub const RUN_NEXT_STREAK: u32 = 32;

/// A worker's run-next slot: at most one service, owned through the pointer.
///
/// Invariant: a non-null `service` came from `Arc::into_raw` and is owned by the slot; every
/// access is a swap, so exactly one party takes it back.
#[derive(Default)]
pub struct RunNext {
    service: AtomicPtr<Service>,
    /// The queue's tick when the service was put (see [`GlobalQueue::advance_tick`]).
    since: AtomicU64,
}

impl RunNext {
    /// Puts `service` in the slot at `tick` and returns the service it displaces.
    pub fn put(&self, service: Arc<Service>, tick: u64) -> Option<Arc<Service>> {
        self.since.store(tick, Ordering::Relaxed);
        let old = self.service.swap(Arc::into_raw(service).cast_mut(), Ordering::AcqRel);
        // SAFETY: per the invariant, a non-null pointer is an owned Arc, now ours.
        (!old.is_null()).then(|| unsafe { Arc::from_raw(old) })
    }

    fn is_occupied(&self) -> bool {
        !self.service.load(Ordering::Relaxed).is_null()
    }

    /// Takes the service if it has waited since before tick `before` (the timer, for a worker
    /// busy with a long message or a long batch).
    pub fn take_older(&self, before: u64) -> Option<Arc<Service>> {
        if self.since.load(Ordering::Relaxed) < before { self.take() } else { None }
    }

    /// Takes the service out of the slot (the owner, a thief or the timer).
    pub fn take(&self) -> Option<Arc<Service>> {
        if self.service.load(Ordering::Relaxed).is_null() {
            return None;
        }
        let old = self.service.swap(ptr::null_mut(), Ordering::AcqRel);
        // SAFETY: as in `put`.
        (!old.is_null()).then(|| unsafe { Arc::from_raw(old) })
    }
}

impl Drop for RunNext {
    fn drop(&mut self) {
        drop(self.take());
    }
}

/// How many messages of one service a worker handles before it requeues the service, from the
/// queue length and the worker's weight (skynet's scheme: weight -1 takes one message, weight w
/// takes `len >> w`). The cap keeps a flooded service from starving the rest.
pub fn batch_size(weight: i8, queued: usize) -> usize {
    const CAP: usize = 256;
    if weight < 0 { 1 } else { (queued >> weight).clamp(1, CAP) }
}

/// skynet's worker weights: the first four workers take one message at a time, the next four a
/// whole queue, then half, a quarter...
pub fn worker_weight(index: usize) -> i8 {
    const WEIGHTS: [i8; 32] =
        [-1, -1, -1, -1, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3];
    WEIGHTS.get(index).copied().unwrap_or(0)
}

#[derive(Default)]
pub struct GlobalQueue {
    queue: SegQueue<Arc<Service>>,
    sleepers: AtomicUsize,
    /// Advanced by the timer thread: the clock of run-next slots.
    tick: AtomicU64,
    lock: Mutex<()>,
    wake: Condvar,
}

const SPINS: u32 = 64;
const PARK_LIMIT: Duration = Duration::from_millis(100);

impl GlobalQueue {
    /// Schedules a service a message just woke: into the run-next slot of the worker running on
    /// this thread (the service it displaces goes to the queue), else into the queue.
    #[inline]
    pub fn schedule(&self, service: Arc<Service>) {
        let slot = RUN_NEXT.with(|r| r.get());
        if slot.is_null() {
            return self.push(service);
        }
        // SAFETY: set by `enter_worker` to a slot its node owns for as long as the worker runs.
        if let Some(displaced) = unsafe { &*slot }.put(service, self.tick.load(Ordering::Relaxed)) {
            self.push(displaced);
        }
    }

    /// Advances the slots' clock (the timer thread, every tick) and returns the new tick.
    pub fn advance_tick(&self) -> u64 {
        self.tick.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub fn push(&self, service: Arc<Service>) {
        self.queue.push(service);
        // SeqCst pairs with the sleeper's increment-then-recheck in `idle`: either the sleeper sees
        // the service or this load sees the sleeper.
        if self.sleepers.load(Ordering::SeqCst) == 0 {
            return;
        }
        // A worker takes its own slot before the queue: with the slot occupied, nobody else will
        // take this service soon unless woken.
        let own_slot_busy = || {
            let slot = RUN_NEXT.with(|r| r.get());
            // SAFETY: as in `schedule`.
            !slot.is_null() && unsafe { &*slot }.is_occupied()
        };
        if !ON_WORKER.with(|w| w.get()) || self.queue.len() > 1 || own_slot_busy() {
            self.wake_one();
        }
    }

    #[inline]
    pub fn pop(&self) -> Option<Arc<Service>> {
        self.queue.pop()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn has_sleepers(&self) -> bool {
        self.sleepers.load(Ordering::SeqCst) > 0
    }

    pub fn wake_one(&self) {
        let _guard = self.lock.lock();
        self.wake.notify_one();
    }

    pub fn wake_all(&self) {
        let _guard = self.lock.lock();
        self.wake.notify_all();
    }

    /// Waits until the queue may hold work, or `stop` says to quit. Before sleeping, tries
    /// `steal` (another worker's run-next slot) and returns what it gets.
    pub fn idle(
        &self,
        stop: impl Fn() -> bool,
        steal: impl Fn() -> Option<Arc<Service>>,
    ) -> Option<Arc<Service>> {
        for i in 0..SPINS {
            if !self.queue.is_empty() || stop() {
                return None;
            }
            if i < SPINS / 2 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        if let Some(stolen) = steal() {
            return Some(stolen);
        }
        let mut guard = self.lock.lock();
        self.sleepers.fetch_add(1, Ordering::SeqCst);
        if self.queue.is_empty() && !stop() {
            self.wake.wait_for(&mut guard, PARK_LIMIT);
        }
        self.sleepers.fetch_sub(1, Ordering::SeqCst);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_follow_weights() {
        assert_eq!(batch_size(-1, 1000), 1);
        assert_eq!(batch_size(0, 10), 10);
        assert_eq!(batch_size(1, 10), 5);
        assert_eq!(batch_size(3, 2), 1);
        assert_eq!(batch_size(0, 100_000), 256);
        assert_eq!(worker_weight(0), -1);
        assert_eq!(worker_weight(4), 0);
        assert_eq!(worker_weight(100), 0);
    }

    #[test]
    fn a_push_from_outside_wakes_a_sleeper() {
        let q = Arc::new(GlobalQueue::default());
        let q2 = q.clone();
        let sleeper = std::thread::spawn(move || {
            loop {
                if let Some(s) = q2.pop() {
                    return s.handle();
                }
                q2.idle(|| false, || None);
            }
        });
        while !q.has_sleepers() {
            std::thread::yield_now();
        }
        q.push(Service::bare(7, "t"));
        assert_eq!(sleeper.join().unwrap(), 7);
    }

    #[test]
    fn a_worker_schedules_into_its_slot_and_displaces_into_the_queue() {
        let q = GlobalQueue::default();
        let slot = Box::leak(Box::new(RunNext::default()));
        std::thread::scope(|s| {
            s.spawn(|| {
                enter_worker(slot);
                q.schedule(Service::bare(1, "a"));
                assert!(q.is_empty());
                q.schedule(Service::bare(2, "b"));
                assert_eq!(q.pop().map(|s| s.handle()), Some(1));
            });
        });
        assert_eq!(slot.take().map(|s| s.handle()), Some(2));
        assert!(slot.take().is_none());
        // Off a worker thread: the queue.
        q.schedule(Service::bare(3, "c"));
        assert_eq!(q.pop().map(|s| s.handle()), Some(3));
    }
}
