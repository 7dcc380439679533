//! Model tests (loom) of the scheduler's lock-free parts: the run-next slot and the sleepers'
//! wake-up protocol (`cargo test -p skybox --features loom --lib loom`).

use std::sync::Arc;
use std::time::Duration;

use loom::cell::UnsafeCell;
use loom::thread;

use super::{RunNext, Sleepers};
use crate::sync::{AtomicUsize, Ordering, model};

/// A stand-in service: what its sender did to it (a loom-tracked cell, so that a taker that
/// does not see the sender's writes is a reported race) and an id.
struct Job {
    id: u64,
    state: UnsafeCell<u64>,
}

// SAFETY: `state` is accessed only by whoever holds the job (made by the model thread that
// puts it, then by the one that takes it): ordering those accesses is what the model checks,
// and loom reports any two that are not.
unsafe impl Sync for Job {}

impl Job {
    fn new(id: u64) -> Arc<Job> {
        Arc::new(Job { id, state: UnsafeCell::new(0) })
    }

    /// What the sender does to the job before it puts it in a slot (fills its mailbox).
    fn send(&self) {
        // SAFETY: the sender holds the job; loom checks the access is ordered with the
        // others.
        self.state.with_mut(|state| unsafe { *state = self.id });
    }

    /// What the taker does: runs the job, seeing what its sender wrote.
    fn run(&self) {
        // SAFETY: the taker holds the job; loom checks the access is ordered after the
        // sender's write.
        self.state.with_mut(|state| unsafe {
            assert_eq!(*state, self.id, "the taker does not see what the sender did");
            *state += 100;
        });
    }
}

/// Runs what a party took and records it.
fn took(taken: &mut Vec<Arc<Job>>, job: Option<Arc<Job>>) {
    if let Some(job) = job {
        job.run();
        taken.push(job);
    }
}

/// The owner worker puts two services (the second displaces the first unless a thief or the
/// timer got it) and takes its slot; a thief takes; the timer takes what waited since tick
/// 0. Every service put comes back exactly once (no double free), nothing stays owned by
/// nobody (no leak), and every taker sees what the sender did to the service.
#[test]
fn loom_run_next_hands_back_each_service_once() {
    model(5, || {
        let slot = loom::sync::Arc::new(RunNext::<Job>::default());
        let (a, b) = (Job::new(1), Job::new(2));
        let owner = {
            let (slot, a, b) = (slot.clone(), a.clone(), b.clone());
            thread::spawn(move || {
                let mut taken = Vec::new();
                a.send();
                took(&mut taken, slot.put(a, 0));
                b.send();
                took(&mut taken, slot.put(b, 1));
                took(&mut taken, slot.take());
                taken
            })
        };
        let thief = {
            let slot = slot.clone();
            thread::spawn(move || {
                let mut taken = Vec::new();
                took(&mut taken, slot.take());
                taken
            })
        };
        let mut taken = Vec::new();
        // This thread is the timer.
        took(&mut taken, slot.take_older(1));
        taken.extend(owner.join().unwrap());
        taken.extend(thief.join().unwrap());
        let left = slot.take();
        for job in [&a, &b] {
            let times = taken.iter().chain(&left).filter(|t| Arc::ptr_eq(t, job)).count();
            if times != 1 {
                // Two Arcs from one reference would free the job twice: leak them instead.
                std::mem::forget(taken);
                std::mem::forget(left);
                panic!("service {} taken back {times} times", job.id);
            }
        }
        drop((taken, left));
        assert_eq!((Arc::strong_count(&a), Arc::strong_count(&b)), (1, 1), "a service leaked");
    });
}

/// A slot dropped with a service in it releases the service.
#[test]
fn loom_run_next_drop_releases_the_service() {
    model(8, || {
        let slot = loom::sync::Arc::new(RunNext::<Job>::default());
        let a = Job::new(1);
        let thief = {
            let slot = slot.clone();
            thread::spawn(move || {
                if let Some(job) = slot.take() {
                    job.run();
                }
            })
        };
        a.send();
        assert!(slot.put(a.clone(), 0).is_none());
        thief.join().unwrap();
        drop(slot);
        assert_eq!(Arc::strong_count(&a), 1, "the service leaked");
    });
}

/// The global queue as the sleepers' protocol sees it: a count of queued services, pushed
/// with a SeqCst increment and read with SeqCst loads, as `SegQueue` pushes (a SeqCst CAS of
/// the tail index) and reads it (`is_empty`: SeqCst loads of both indices).
#[derive(Default)]
struct Queue {
    len: AtomicUsize,
    sleepers: Sleepers,
}

impl Queue {
    /// `GlobalQueue::push` from outside the workers (the timer, the main thread).
    fn push(&self) {
        self.len.fetch_add(1, Ordering::SeqCst);
        if self.sleepers.any() {
            self.sleepers.wake_one();
        }
    }

    fn pop(&self) -> bool {
        let mut len = self.len.load(Ordering::SeqCst);
        while len > 0 {
            match self.len.compare_exchange(len, len - 1, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => return true,
                Err(now) => len = now,
            }
        }
        false
    }

    /// A worker: pops a service, sleeping in between as `GlobalQueue::idle` does.
    fn work(&self) {
        while !self.pop() {
            self.sleepers.sleep(|| self.len.load(Ordering::SeqCst) != 0, Duration::MAX);
        }
    }
}

/// One worker goes idle while another thread pushes: the worker sees the service or is
/// woken (a lost wake-up leaves it waiting forever, which loom reports as a deadlock).
#[test]
fn loom_sleepers_a_push_wakes_or_is_seen() {
    model(8, || {
        let queue = loom::sync::Arc::new(Queue::default());
        let pusher = {
            let queue = queue.clone();
            thread::spawn(move || queue.push())
        };
        queue.work();
        pusher.join().unwrap();
    });
}

/// Two workers go idle while another thread pushes two services: both are taken (a second
/// wake-up delivered to the worker the first one woke would leave the other asleep).
#[test]
fn loom_sleepers_two_pushes_wake_two_workers() {
    model(4, || {
        let queue = loom::sync::Arc::new(Queue::default());
        let spawn = |f: fn(&Queue)| {
            let queue = queue.clone();
            thread::spawn(move || f(&queue))
        };
        let threads = [
            spawn(|queue| {
                queue.push();
                queue.push();
            }),
            spawn(Queue::work),
        ];
        queue.work();
        for thread in threads {
            thread.join().unwrap();
        }
    });
}

/// The node's stop: a flag, then `wake_all`. Every idle worker leaves, even with the flag
/// stored Relaxed (the lock orders it with the sleepers' check).
#[test]
fn loom_sleepers_wake_all_reaches_every_sleeper() {
    model(4, || {
        let queue = loom::sync::Arc::new(Queue::default());
        let stop = loom::sync::Arc::new(loom::sync::atomic::AtomicBool::new(false));
        let worker = {
            let (queue, stop) = (queue.clone(), stop.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    queue.sleepers.sleep(|| stop.load(Ordering::Relaxed), Duration::MAX);
                }
            })
        };
        let stopper = {
            let (queue, stop) = (queue.clone(), stop.clone());
            thread::spawn(move || {
                stop.store(true, Ordering::Relaxed);
                queue.sleepers.wake_all();
            })
        };
        while !stop.load(Ordering::Relaxed) {
            queue.sleepers.sleep(|| stop.load(Ordering::Relaxed), Duration::MAX);
        }
        worker.join().unwrap();
        stopper.join().unwrap();
    });
}
