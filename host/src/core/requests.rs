//! The requests a service holds, and the one rule of who answers them.
//!
//! A request is a message with a session that is neither a RESPONSE nor an ERROR; its sender
//! waits for exactly one answer. Every runtime keeps one [`HeldRequests`] (`Actor::held`), and
//! the core applies the rule to it, so no caller waits forever whichever runtime it called:
//!
//! 1. a request is held from the moment the worker dispatches it to the service;
//! 2. a RESPONSE or ERROR the service sends to `(source, session)` answers it, delivered or not
//!    (a dead caller waits for nothing);
//! 3. a request the service sends on its caller's behalf (`redirect`, a forward keeping the
//!    source) passes the answer to the new destination; if it cannot be delivered, the service
//!    answers ERROR at once;
//! 4. when the runtime fails to run the handler (`Handled::Failed`), the request it was given is
//!    answered with ERROR if nothing answered it;
//! 5. when the service dies, every request still held is answered with ERROR.
//!
//! Rules 1, 4 and 5 live in the worker and the reaper; 2 and 3 in `Node::send`, through
//! `HeldRequests::sent`.

use rustc_hash::FxHashSet;

use super::message::{Handle, Message, is_request, ptype};

/// Requests received and not answered yet, keyed by `(source, session)`.
///
/// Invariant: holds exactly the requests dispatched to the service that no message it sent has
/// answered or passed on (see the module's rules).
#[derive(Default)]
pub struct HeldRequests(FxHashSet<u64>);

/// What the sender of a message must still do about a request it passed on.
#[derive(Debug, PartialEq, Eq)]
#[must_use]
pub(crate) enum Passed {
    /// Nothing: the message answered or passed on nothing, or was delivered.
    Done,
    /// A request passed on for `source` could not be delivered: answer it with ERROR.
    Undelivered,
}

fn key(source: Handle, session: i32) -> u64 {
    (u64::from(source) << 32) | u64::from(session as u32)
}

impl HeldRequests {
    /// Rule 1: `msg` is being dispatched to the service. Returns its key when it is a request.
    #[inline]
    pub(crate) fn received(&mut self, msg: &Message) -> Option<(Handle, i32)> {
        if !msg.is_request() {
            return None;
        }
        self.0.insert(key(msg.source, msg.session));
        Some((msg.source, msg.session))
    }

    /// Rules 2 and 3, for a message the service `me` sent as `source` to `dest` (`None`: a name
    /// that is not bound yet), delivered or not.
    #[inline]
    pub(crate) fn sent(
        &mut self,
        me: Handle,
        source: Handle,
        dest: Option<Handle>,
        ptype: u8,
        session: i32,
        delivered: bool,
    ) -> Passed {
        if ptype == ptype::RESPONSE || ptype == ptype::ERROR {
            if session != 0
                && let Some(dest) = dest
            {
                self.0.remove(&key(dest, session));
            }
        } else if source != me
            && is_request(ptype, session)
            && self.0.remove(&key(source, session))
            && !delivered
        {
            return Passed::Undelivered;
        }
        Passed::Done
    }

    /// Takes `(source, session)` out if it is still held (rule 4): true when the caller still
    /// waits for an answer.
    pub(crate) fn take(&mut self, source: Handle, session: i32) -> bool {
        self.0.remove(&key(source, session))
    }

    /// Every request still held, as `(source, session)` (rule 5).
    pub(crate) fn drain(&mut self) -> impl Iterator<Item = (Handle, i32)> + '_ {
        self.0.drain().map(|k| ((k >> 32) as Handle, k as u32 as i32))
    }

    /// How many requests are held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// True when no request is held.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(source: Handle, session: i32) -> Message {
        Message { source, session, ptype: ptype::LUA, data: Vec::new() }
    }

    #[test]
    fn only_requests_are_held() {
        let mut held = HeldRequests::default();
        assert_eq!(held.received(&request(5, 0)), None);
        let reply = Message { source: 5, session: 3, ptype: ptype::RESPONSE, data: Vec::new() };
        assert_eq!(held.received(&reply), None);
        assert_eq!(held.received(&request(5, 3)), Some((5, 3)));
        assert_eq!(held.len(), 1);
    }

    #[test]
    fn an_answer_releases_its_request_delivered_or_not() {
        let mut held = HeldRequests::default();
        let _ = held.received(&request(5, 3));
        let _ = held.received(&request(5, -7));
        assert_eq!(held.sent(9, 9, Some(5), ptype::RESPONSE, 3, false), Passed::Done);
        assert_eq!(held.sent(9, 9, Some(5), ptype::ERROR, -7, true), Passed::Done);
        assert!(held.is_empty());
    }

    #[test]
    fn a_request_passed_on_is_answered_here_only_when_undelivered() {
        let mut held = HeldRequests::default();
        let _ = held.received(&request(5, 3));
        let _ = held.received(&request(6, 4));
        // Redirected for 5 and delivered: the new destination answers.
        assert_eq!(held.sent(9, 5, Some(7), ptype::LUA, 3, true), Passed::Done);
        // Redirected for 6 and lost: ours to fail.
        assert_eq!(held.sent(9, 6, None, ptype::LUA, 4, false), Passed::Undelivered);
        assert!(held.is_empty());
        // A request of our own that fails is not an answer to anyone.
        assert_eq!(held.sent(9, 9, None, ptype::LUA, 4, false), Passed::Done);
    }

    #[test]
    fn what_is_left_drains_once() {
        let mut held = HeldRequests::default();
        let _ = held.received(&request(0xff00_0001, i32::MAX));
        let _ = held.received(&request(2, 1));
        assert!(held.take(2, 1));
        assert!(!held.take(2, 1));
        assert_eq!(held.drain().collect::<Vec<_>>(), vec![(0xff00_0001, i32::MAX)]);
        assert_eq!(held.drain().count(), 0);
    }
}
