//! Time: the host clock (1/100 s ticks since start) and timeouts.
//!
//! Timeouts live in a min-heap ordered by expiry tick and insertion order, so two timeouts for
//! the same tick fire in the order they were set. The timer thread ([`run`]) wakes every 2.5 ms,
//! pops what is due and delivers each as a RESPONSE carrying its session; it is also the clock
//! of the run-next slots and the wake-up of last resort for idle workers.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;

use super::message::{Handle, Message, ptype};
use super::node::Node;
use super::scheduler::Runnable;

/// The timer thread, until the node stops.
pub(super) fn run(node: &Node) {
    const TICK: Duration = Duration::from_micros(2500);
    let mut due = Vec::new();
    let mut second = 0;
    while !node.is_stopping() {
        std::thread::sleep(TICK);
        // Tenants held back for burning their fuel of the second run again in the next.
        if node.clock.now() / 100 != second {
            second = node.clock.now() / 100;
            for tenant in node.tenants.all() {
                if tenant.new_second() {
                    node.global.push_runnable(Runnable::Tenant(tenant));
                }
            }
        }
        node.timeouts.expire(node.clock.now(), &mut due);
        for d in due.drain(..) {
            // A timeout for a service that is gone has nobody to tell.
            let _ = node.push(
                d.handle,
                Message { source: 0, session: d.session, ptype: ptype::RESPONSE, data: Vec::new() },
            );
        }
        // A worker stuck in a long message (or batch) would hold its run-next service back.
        let tick = node.global.advance_tick();
        for slot in node.run_next.iter() {
            if let Some(service) = slot.take_older(tick - 1) {
                node.global.push(service);
            }
        }
        if node.global.has_sleepers() && !node.global.is_empty() {
            node.global.wake_one();
        }
    }
}

pub(crate) struct Clock {
    start: Instant,
    /// Wall-clock seconds at start (UTC), for `skynet.starttime`.
    start_secs: u64,
    /// Sub-second part of the start time in centiseconds, so `starttime + now/100` tracks the wall
    /// clock to the tick.
    start_cs: u64,
}

impl Clock {
    pub(crate) fn new() -> Clock {
        let wall = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        Clock {
            start: Instant::now(),
            start_secs: wall.as_secs(),
            start_cs: u64::from(wall.subsec_millis() / 10),
        }
    }

    /// Centiseconds since start (monotonic), `skynet.now()`.
    pub(crate) fn now(&self) -> u64 {
        self.start.elapsed().as_millis() as u64 / 10 + self.start_cs
    }

    /// Monotonic nanoseconds, `skynet.hpc()`.
    pub(crate) fn hpc(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    pub(crate) fn start_secs(&self) -> u64 {
        self.start_secs
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Due {
    pub(crate) tick: u64,
    seq: u64,
    pub(crate) handle: Handle,
    pub(crate) session: i32,
}

#[derive(Default)]
pub(crate) struct Timeouts {
    heap: Mutex<(BinaryHeap<Reverse<Due>>, u64)>,
}

impl Timeouts {
    pub(crate) fn add(&self, tick: u64, handle: Handle, session: i32) {
        let mut guard = self.heap.lock();
        let (heap, seq) = &mut *guard;
        *seq += 1;
        heap.push(Reverse(Due { tick, seq: *seq, handle, session }));
    }

    /// Removes and returns every timeout due at or before `now`, earliest first.
    pub(crate) fn expire(&self, now: u64, due: &mut Vec<Due>) {
        let mut guard = self.heap.lock();
        let heap = &mut guard.0;
        while heap.peek().is_some_and(|Reverse(d)| d.tick <= now) {
            due.push(heap.pop().unwrap().0);
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.heap.lock().0.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_fire_in_tick_then_insertion_order() {
        let t = Timeouts::default();
        t.add(5, 1, 10);
        t.add(3, 1, 11);
        t.add(5, 2, 12);
        t.add(9, 1, 13);
        let mut due = Vec::new();
        t.expire(5, &mut due);
        let sessions: Vec<i32> = due.iter().map(|d| d.session).collect();
        assert_eq!(sessions, vec![11, 10, 12]);
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn clock_is_monotonic() {
        let c = Clock::new();
        let a = c.hpc();
        let b = c.hpc();
        assert!(b >= a);
        assert!(c.now() < 100 + c.start_cs);
    }
}
