//! The send path: how a message reaches a mailbox, and the rules a service that is not trusted
//! sends under (its profile and its tenant; see docs/SECURITY.md).
//!
//! Every runtime sends through [`Node::send`]; a trusted sender takes one branch more than the
//! host's own pushes ([`Node::push`]), a confined one [`Node::send_confined`].

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::mailbox::Pushed;
use super::message::{Handle, Message, is_answer, ptype};
use super::node::{Dest, Node, SendError};
use super::profile::Profile;
use super::requests::{HeldRequests, Passed};
use super::service::Service;
use super::tenant::Tenant;

impl Node {
    /// Delivers `msg` to `dest`: the host's own messages and answers, which no cap holds back.
    /// On failure the message is dropped and its payload freed.
    #[inline]
    pub fn push(&self, dest: Handle, msg: Message) -> Result<(), SendError> {
        let service = self.handles.grab(dest).ok_or(SendError::NoDestination)?;
        let pushed = service.mailbox.push(msg);
        self.pushed(service, pushed)
    }

    /// Delivers a message a service sent to `service`, within its mailbox's caps unless it is
    /// an answer; `charged`: the sender's tenant, which counted it in flight.
    #[inline]
    fn deliver(
        &self,
        service: Arc<Service>,
        msg: Message,
        charged: Option<&'static Tenant>,
    ) -> Result<(), SendError> {
        let pushed = if is_answer(msg.ptype) {
            service.mailbox.push(msg)
        } else {
            service.mailbox.push_sent(msg, charged)
        };
        self.pushed(service, pushed)
    }

    #[inline]
    fn pushed(&self, service: Arc<Service>, pushed: Pushed) -> Result<(), SendError> {
        match pushed {
            Pushed::Queued => Ok(()),
            Pushed::Schedule => {
                self.global.schedule(service);
                Ok(())
            }
            Pushed::Closed(_) => Err(SendError::NoDestination),
            Pushed::Full(msg) => {
                let n = self.full_refusals.fetch_add(1, Ordering::Relaxed) + 1;
                // A flood logs its first refusal, then one in a thousand.
                if (n - 1).is_multiple_of(1000) {
                    self.log(
                        msg.source,
                        format!(
                            "send refused: :{:08x}'s mailbox is at its cap ({n} refused so far)",
                            service.handle()
                        ),
                    );
                }
                Err(SendError::Full)
            }
        }
    }

    /// The send path of a service: `from` (running now, holding `held`) sends as `source` to
    /// `dest`. The name is resolved once; a global name nobody has bound yet is waited for
    /// while a harbor runs (see `names`). A service that is not trusted sends as its profile
    /// and tenant allow (see [`Node::send_confined`]). The requests `from` holds follow the
    /// rules of `requests`: a request passed on for its caller that cannot be delivered is
    /// answered with ERROR here. On failure the payload is freed.
    #[inline]
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn send(
        &self,
        from: &Service,
        held: &mut HeldRequests,
        source: Handle,
        dest: Dest<'_>,
        ptype: u8,
        session: i32,
        data: Vec<u8>,
    ) -> Result<(), SendError> {
        from.counters.messages_out.fetch_add(1, Ordering::Relaxed);
        if let Some(tape) = from.tape() {
            return tape.send(source, dest, ptype, session, data, |data| {
                self.send_unrecorded(from, held, source, dest, ptype, session, data)
            });
        }
        self.send_unrecorded(from, held, source, dest, ptype, session, data)
    }

    /// [`Node::send`] past the recording seam.
    #[inline]
    #[allow(clippy::too_many_arguments)]
    fn send_unrecorded(
        &self,
        from: &Service,
        held: &mut HeldRequests,
        source: Handle,
        dest: Dest<'_>,
        ptype: u8,
        session: i32,
        data: Vec<u8>,
    ) -> Result<(), SendError> {
        let msg = Message { source, session, ptype, data };
        let (sent, dest) = if from.profile().is_trusted() {
            let to = |handle: Handle, msg| match self.handles.grab(handle) {
                Some(service) => self.deliver(service, msg, None),
                None => Err(SendError::NoDestination),
            };
            match dest {
                Dest::Handle(handle) => (to(handle, msg), Some(handle)),
                Dest::Name(name) => match self.resolve(name) {
                    Some(handle) => (to(handle, msg), Some(handle)),
                    None => (self.push_unbound(name, msg), None),
                },
            }
        } else {
            self.send_confined(from, held, dest, msg)
        };
        let me = from.handle();
        if held.sent(me, source, dest, ptype, session, sent.is_ok()) == Passed::Undelivered {
            self.send_error(me, source, session);
        }
        sent
    }

    /// The send path of a service that is not trusted: as itself unless its profile has
    /// `redirect`; answers only to requests it holds; requests and one-way messages only to
    /// whom its profile's `send` names (its tenant, public names, names), each counted in
    /// flight against its tenant. Each refusal is a log line and an error to the sender.
    fn send_confined(
        &self,
        from: &Service,
        held: &mut HeldRequests,
        dest: Dest<'_>,
        msg: Message,
    ) -> (Result<(), SendError>, Option<Handle>) {
        let (me, profile) = (from.handle(), from.profile());
        let refuse = |why: String| {
            self.log(me, format!("send refused: profile {} {why}", profile.name()));
            Err(SendError::Denied)
        };
        if msg.source != me && !profile.may_redirect() {
            return (refuse(format!("may not send as :{:08x}", msg.source)), None);
        }
        let handle = match dest {
            Dest::Handle(handle) => handle,
            Dest::Name(name) => match self.resolve(name) {
                Some(handle) => handle,
                None => return (Err(SendError::NoDestination), None),
            },
        };
        let Some(target) = self.handles.grab(handle) else {
            return (Err(SendError::NoDestination), Some(handle));
        };
        if is_answer(msg.ptype) {
            // Taken here (rule 2 of `requests`), so the caller's `held.sent` finds nothing to do.
            if !held.take(handle, msg.session) {
                let why =
                    format!("may answer only requests it holds (session {} of :{handle:08x})", msg.session);
                return (refuse(why), None);
            }
            return (self.deliver(target, msg, None), None);
        }
        if !self.may_reach(from, profile, &target) && !self.is_launch_report(handle, &msg) {
            return (
                refuse(format!("may not send to :{handle:08x} (not its tenant's, not public)")),
                Some(handle),
            );
        }
        let charged = match from.tenant() {
            Some(tenant) => match tenant.charge(msg.data.len()) {
                Ok(()) => Some(tenant),
                Err(over) => {
                    if tenant.note_refusal() {
                        self.log(
                            me,
                            format!("send refused: tenant {} is at its limit of {over}", tenant.name()),
                        );
                    }
                    return (Err(SendError::Full), Some(handle));
                }
            },
            None => None,
        };
        (self.deliver(target, msg, charged), Some(handle))
    }

    /// A service's report of its own start to `.launcher` (TEXT "" started, "ERROR" failed: the
    /// only words the launcher's text protocol takes), which every service may send.
    fn is_launch_report(&self, dest: Handle, msg: &Message) -> bool {
        msg.ptype == ptype::TEXT
            && (msg.data.is_empty() || msg.data == b"ERROR")
            && self.handles.find_name(".launcher") == Some(dest)
    }

    /// Whether a service under `profile` may send requests and one-way messages to `target`.
    fn may_reach(&self, from: &Service, profile: &Profile, target: &Service) -> bool {
        let same_tenant =
            matches!((from.tenant(), target.tenant()), (Some(a), Some(b)) if std::ptr::eq(a, b));
        profile.sends_anywhere()
            || (profile.sends_to_tenant() && same_tenant)
            || (profile.sends_to_public() && target.is_public())
            || profile.send_names().iter().any(|name| self.resolve(name) == Some(target.handle()))
    }
}
