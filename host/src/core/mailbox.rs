//! Per-service mailbox: an unbounded FIFO plus the flag that keeps a service in the global queue
//! at most once.
//!
//! Invariant: `scheduled` is true while the service sits in the global queue or a worker is
//! running it. A push onto a mailbox that is not scheduled sets the flag and tells the pusher to
//! put the service into the global queue; a pop that finds the mailbox empty clears it. Both
//! happen under the mailbox lock, so a service is never in the global queue twice and never runs
//! on two workers at once. This lock is the only one on the message path.

use std::collections::VecDeque;

use parking_lot::Mutex;

use super::message::Message;
use super::tenant::Tenant;

/// Queue length above which the first overload warning is raised; it doubles after each warning.
const OVERLOAD_THRESHOLD: usize = 1024;
/// An empty queue with more room than this (left by a flood) is shrunk back.
const SHRINK_ABOVE: usize = 4096;
const INITIAL_CAPACITY: usize = 16;

/// A service's queue of messages and its `scheduled` flag (see the module docs for the
/// invariant).
pub struct Mailbox {
    inner: Mutex<Inner>,
}

struct Inner {
    /// Each message with the tenant its sender charged for it (see `tenant`), released when the
    /// message leaves the queue.
    queue: VecDeque<(Message, Option<&'static Tenant>)>,
    /// Payload bytes queued.
    bytes: usize,
    /// Messages and bytes a service's sends may fill it to (answers and the host's messages
    /// pass anyway).
    cap: (usize, usize),
    scheduled: bool,
    closed: bool,
    overload_threshold: usize,
    /// A length to warn about, reported once by the next `pop` (or `take_overload`).
    overload: usize,
    peak: usize,
}

impl Inner {
    /// The queue is empty: unscheduled, warnings rearmed, and the buffer a flood left behind
    /// given back.
    fn go_idle(&mut self) {
        self.overload_threshold = OVERLOAD_THRESHOLD;
        self.scheduled = false;
        if self.queue.capacity() > SHRINK_ABOVE {
            self.queue.shrink_to(INITIAL_CAPACITY);
        }
    }

    /// Takes the front message and releases its charge.
    fn pop_front(&mut self) -> Option<Message> {
        let (msg, charged) = self.queue.pop_front()?;
        self.bytes -= msg.data.len();
        if let Some(tenant) = charged {
            tenant.release(msg.data.len());
        }
        Some(msg)
    }
}

/// A message taken by [`Mailbox::pop`].
#[derive(Debug)]
pub struct Popped {
    pub(crate) msg: Message,
    /// Messages still queued behind it.
    pub(crate) remaining: usize,
    /// A queue length that passed the overload threshold since the last pop, to be logged.
    pub(crate) overload: Option<usize>,
}

/// What the pusher must do after [`Mailbox::push`].
#[derive(Debug)]
pub enum Pushed {
    /// The service was idle: put it into the global queue.
    Schedule,
    /// The service is already scheduled; nothing to do.
    Queued,
    /// The service is gone; the message is handed back undelivered.
    Closed(Message),
    /// The mailbox is at its cap; the message is handed back undelivered.
    Full(Message),
}

impl Mailbox {
    /// A new mailbox starts scheduled so that nothing runs the service before its launch is done;
    /// the launcher puts it into the global queue itself.
    pub fn new() -> Mailbox {
        Mailbox {
            inner: Mutex::new(Inner {
                queue: VecDeque::new(),
                bytes: 0,
                cap: (usize::MAX, usize::MAX),
                scheduled: true,
                closed: false,
                overload_threshold: OVERLOAD_THRESHOLD,
                overload: 0,
                peak: 0,
            }),
        }
    }

    /// Caps what a service's sends may queue here: messages, bytes (`None`: no cap).
    pub(crate) fn set_caps(&self, messages: Option<usize>, bytes: Option<usize>) {
        self.inner.lock().cap = (messages.unwrap_or(usize::MAX), bytes.unwrap_or(usize::MAX));
    }

    /// Appends `msg` unless the mailbox is closed; says whether the caller must schedule the
    /// service. For the host's own messages and for answers: no cap applies.
    #[inline]
    pub fn push(&self, msg: Message) -> Pushed {
        self.push_with(msg, None, false)
    }

    /// Appends a message a service sent, within the mailbox's caps, with the tenant that
    /// `charged` for it (released when it leaves the queue, delivered or not).
    #[inline]
    pub(crate) fn push_sent(&self, msg: Message, charged: Option<&'static Tenant>) -> Pushed {
        self.push_with(msg, charged, true)
    }

    fn push_with(&self, msg: Message, charged: Option<&'static Tenant>, capped: bool) -> Pushed {
        let mut inner = self.inner.lock();
        let refuse = inner.closed
            || (capped && (inner.queue.len() >= inner.cap.0 || inner.bytes + msg.data.len() > inner.cap.1));
        if refuse {
            let closed = inner.closed;
            drop(inner);
            if let Some(tenant) = charged {
                tenant.release(msg.data.len());
            }
            return if closed { Pushed::Closed(msg) } else { Pushed::Full(msg) };
        }
        inner.bytes += msg.data.len();
        inner.queue.push_back((msg, charged));
        let len = inner.queue.len();
        if len > inner.peak {
            inner.peak = len;
        }
        if len > inner.overload_threshold {
            inner.overload = len;
            inner.overload_threshold *= 2;
        }
        if inner.scheduled {
            Pushed::Queued
        } else {
            inner.scheduled = true;
            Pushed::Schedule
        }
    }

    /// Takes the next message; on `None` the mailbox is no longer scheduled. One lock gives the
    /// worker everything it needs: the message, what is left (for its batch size) and a
    /// pending overload warning.
    pub fn pop(&self) -> Option<Popped> {
        let mut inner = self.inner.lock();
        match inner.pop_front() {
            Some(msg) => {
                let overload = match std::mem::take(&mut inner.overload) {
                    0 => None,
                    n => Some(n),
                };
                Some(Popped { msg, remaining: inner.queue.len(), overload })
            }
            None => {
                inner.go_idle();
                None
            }
        }
    }

    /// Ends a worker's batch: if the mailbox is empty it is no longer scheduled and this returns
    /// true (the service is idle); else the worker must requeue the service.
    pub(crate) fn unschedule_if_empty(&self) -> bool {
        let mut inner = self.inner.lock();
        if !inner.queue.is_empty() {
            return false;
        }
        inner.go_idle();
        true
    }

    /// A queue length that passed the overload threshold since the last call, if any.
    #[cfg(test)]
    pub(crate) fn take_overload(&self) -> Option<usize> {
        let mut inner = self.inner.lock();
        match std::mem::take(&mut inner.overload) {
            0 => None,
            n => Some(n),
        }
    }

    /// Messages queued now.
    pub fn len(&self) -> usize {
        self.inner.lock().queue.len()
    }

    /// True when no message is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The longest the queue has been.
    pub(crate) fn peak(&self) -> usize {
        self.inner.lock().peak
    }

    /// Refuses further pushes and returns what was still queued, for the caller to bounce.
    pub(crate) fn close(&self) -> Vec<Message> {
        let mut inner = self.inner.lock();
        inner.closed = true;
        std::iter::from_fn(|| inner.pop_front()).collect()
    }
}

impl Drop for Mailbox {
    fn drop(&mut self) {
        // Charges of messages nobody took go back to their tenants.
        let inner = self.inner.get_mut();
        while inner.pop_front().is_some() {}
    }
}

impl Default for Mailbox {
    fn default() -> Self {
        Mailbox::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(session: i32) -> Message {
        Message { source: 1, session, ptype: 0, data: Vec::new() }
    }

    #[test]
    fn schedules_once_until_drained() {
        let mb = Mailbox::new();
        // Born scheduled: launch owns the first scheduling.
        assert!(matches!(mb.push(msg(1)), Pushed::Queued));
        assert_eq!(mb.pop().unwrap().msg.session, 1);
        assert!(mb.pop().is_none());
        assert!(matches!(mb.push(msg(2)), Pushed::Schedule));
        assert!(matches!(mb.push(msg(3)), Pushed::Queued));
        assert_eq!(mb.len(), 2);
    }

    #[test]
    fn overload_warns_at_threshold_and_each_doubling() {
        let mb = Mailbox::new();
        let mut warnings = Vec::new();
        for i in 0..5000 {
            mb.push(msg(i));
            warnings.extend(mb.take_overload());
        }
        assert_eq!(warnings, vec![1025, 2049, 4097]);
        assert_eq!(mb.peak(), 5000);
        // Draining resets the threshold (the next flood warns from 1024 again) and gives the
        // flood's buffer back.
        while mb.pop().is_some() {}
        assert!(mb.inner.lock().queue.capacity() <= SHRINK_ABOVE);
        for i in 0..1100 {
            mb.push(msg(i));
        }
        assert_eq!(mb.take_overload(), Some(1025));
        // A worker's batch that ends on an empty mailbox gives the buffer back too.
        for i in 0..5000 {
            mb.push(msg(i));
        }
        while !mb.is_empty() {
            mb.pop();
        }
        assert!(mb.unschedule_if_empty());
        assert!(mb.inner.lock().queue.capacity() <= SHRINK_ABOVE);
    }

    #[test]
    fn closed_mailbox_hands_messages_back() {
        let mb = Mailbox::new();
        mb.push(msg(1));
        let left = mb.close();
        assert_eq!(left.len(), 1);
        assert!(matches!(mb.push(msg(2)), Pushed::Closed(m) if m.session == 2));
    }

    #[test]
    fn caps_hold_back_sends_not_answers_and_charges_are_released() {
        use super::super::tenant::Limits;
        let tenant = super::super::tenant::tests::leak(Tenant::new("t", Limits::parse("t", "", 2).unwrap()));
        let mb = Mailbox::new();
        mb.set_caps(Some(2), Some(10));
        let sized = |n: usize| Message { source: 1, session: 0, ptype: 0, data: vec![0; n] };
        tenant.charge(6).unwrap();
        assert!(matches!(mb.push_sent(sized(6), Some(tenant)), Pushed::Queued));
        tenant.charge(6).unwrap();
        assert!(matches!(mb.push_sent(sized(6), Some(tenant)), Pushed::Full(_)), "bytes");
        assert_eq!(tenant.usage().2, 1, "the refused message's charge is released");
        assert!(matches!(mb.push_sent(sized(4), None), Pushed::Queued));
        assert!(matches!(mb.push_sent(sized(0), None), Pushed::Full(_)), "messages");
        assert!(matches!(mb.push(sized(100)), Pushed::Queued), "the host's and answers pass");
        assert_eq!(mb.pop().unwrap().msg.data.len(), 6);
        assert_eq!(tenant.usage().3, 0, "taken: released");
        tenant.charge(0).unwrap();
        assert!(matches!(mb.push_sent(sized(0), Some(tenant)), Pushed::Full(_)));
        tenant.charge(0).unwrap();
        mb.pop();
        mb.pop();
        assert!(matches!(mb.push_sent(sized(0), Some(tenant)), Pushed::Queued));
        drop(mb);
        assert_eq!(tenant.usage().2, 0, "dropped with the mailbox: released");
    }
}
