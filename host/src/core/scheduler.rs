//! The global queue of services with pending messages, and how idle workers wait for it.
//!
//! A service is in the queue at most once (see `mailbox`). Workers pop a service, run a bounded
//! batch of its messages and push it back if more remain. Waking a sleeping worker costs a system
//! call, so a worker that schedules a service does not wake another one unless the queue holds
//! more than the worker itself will take next; the timer thread, the socket thread and the main
//! thread always wake one. An idle worker spins briefly before it sleeps.

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crossbeam::queue::SegQueue;
use parking_lot::{Condvar, Mutex};

use super::service::Service;

thread_local! {
    static ON_WORKER: Cell<bool> = const { Cell::new(false) };
}

/// Marks the current thread as a worker (changes the wake-up policy of its pushes).
pub fn enter_worker() {
    ON_WORKER.with(|w| w.set(true));
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
    lock: Mutex<()>,
    wake: Condvar,
}

const SPINS: u32 = 64;
const PARK_LIMIT: Duration = Duration::from_millis(100);

impl GlobalQueue {
    pub fn push(&self, service: Arc<Service>) {
        self.queue.push(service);
        // SeqCst pairs with the sleeper's increment-then-recheck in `idle`: either the sleeper sees
        // the service or this load sees the sleeper.
        if self.sleepers.load(Ordering::SeqCst) == 0 {
            return;
        }
        if !ON_WORKER.with(|w| w.get()) || self.queue.len() > 1 {
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

    /// Waits until the queue may hold work, or `stop` says to quit.
    pub fn idle(&self, stop: impl Fn() -> bool) {
        for i in 0..SPINS {
            if !self.queue.is_empty() || stop() {
                return;
            }
            if i < SPINS / 2 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        let mut guard = self.lock.lock();
        self.sleepers.fetch_add(1, Ordering::SeqCst);
        if self.queue.is_empty() && !stop() {
            self.wake.wait_for(&mut guard, PARK_LIMIT);
        }
        self.sleepers.fetch_sub(1, Ordering::SeqCst);
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
                q2.idle(|| false);
            }
        });
        while !q.has_sleepers() {
            std::thread::yield_now();
        }
        q.push(Service::bare(7, "t"));
        assert_eq!(sleeper.join().unwrap(), 7);
    }
}
