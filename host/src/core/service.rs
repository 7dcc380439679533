//! A service: an address, a mailbox and the runtime (Lua VM, wasm instance) that handles its
//! messages.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};

use parking_lot::Mutex;

use super::mailbox::Mailbox;
use super::message::{Handle, Message};
use super::profile::Profile;
use super::requests::HeldRequests;
use super::tenant::{Member, Tenant};

/// What a runtime made of one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    /// The handler ran (whatever it answered).
    Done,
    /// The runtime could not run a handler for it, or lost it (no handler, a Lua callback out
    /// of memory, a payload the guest had no room for, a trap): if the message was a request
    /// and nothing answered it, the core answers ERROR (see `requests`).
    Failed,
}

/// The code behind a service. One message at a time, on whichever worker runs the service.
pub trait Actor: Send {
    /// Handles one message; the actor owns `msg.data` from here on.
    fn dispatch(&mut self, msg: Message) -> Handled;

    /// The requests this actor holds. The core records each request it dispatches here, and
    /// the actor's sends go through `Node::send` with it (see `requests`).
    fn held(&mut self) -> &mut HeldRequests;

    /// Bytes of memory the runtime holds (the Lua heap, the guest's linear memory and held
    /// payloads), read by the worker after each batch.
    fn memory(&self) -> usize {
        0
    }
}

/// Stops the handler a runtime is running right now, from another thread (SIGNAL, the monitor).
pub(crate) trait Interrupter: Send + Sync {
    fn interrupt(&self);
}

/// Per-service counters, readable from any thread.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) messages_in: AtomicU64,
    pub(crate) messages_out: AtomicU64,
    /// Nanoseconds spent running this service's messages.
    pub(crate) busy_ns: AtomicU64,
    /// When the message being handled started (host clock, ns), 0 while idle. Read by STAT
    /// "time" and by the monitor.
    pub(crate) running_since: AtomicU64,
    /// Bytes the runtime held after its last batch of messages (`Actor::memory`).
    pub(crate) memory: AtomicU64,
}

/// One service: its address, mailbox and runtime, shared by the handle table, the queues and the
/// worker running it.
///
/// Invariant: the runtime (`actor`) is taken by at most one worker at a time (the mailbox's
/// `scheduled` flag), and a closed service runs no further message.
pub struct Service {
    handle: Handle,
    pub(crate) mailbox: Mailbox,
    /// Taken by the worker running the service; `None` once the service has been reaped.
    pub(crate) actor: Mutex<Option<Box<dyn Actor>>>,
    session: AtomicI32,
    /// Set when the service is retired; a retired service runs no further message.
    closed: AtomicBool,
    /// Set by the monitor when a message runs past the endless-loop limit.
    pub(crate) endless: AtomicBool,
    pub(crate) counters: Counters,
    /// `LOGON`: every message this service receives is also written here.
    message_log: parking_lot::Mutex<Option<BufWriter<File>>>,
    logging: AtomicBool,
    interrupter: std::sync::OnceLock<Arc<dyn Interrupter>>,
    /// Set at launch, before the first message (`trusted` when never set).
    profile: std::sync::OnceLock<Arc<Profile>>,
    /// Its place in a tenant, set at launch with the profile; none for the operator's.
    member: std::sync::OnceLock<Member>,
    /// Bound to a name the config lists in `public`: any service may send to it.
    public: AtomicBool,
    /// Set at launch when the service is recorded (config `record`) or replayed.
    tape: std::sync::OnceLock<crate::record::Tape>,
}

impl Service {
    pub(crate) fn new(handle: Handle) -> Service {
        Service {
            handle,
            mailbox: Mailbox::new(),
            actor: Mutex::new(None),
            session: AtomicI32::new(0),
            closed: AtomicBool::new(false),
            endless: AtomicBool::new(false),
            counters: Counters::default(),
            message_log: parking_lot::Mutex::new(None),
            logging: AtomicBool::new(false),
            interrupter: std::sync::OnceLock::new(),
            profile: std::sync::OnceLock::new(),
            member: std::sync::OnceLock::new(),
            public: AtomicBool::new(false),
            tape: std::sync::OnceLock::new(),
        }
    }

    /// The service's recording or replay, if any (see `record`).
    #[inline]
    pub(crate) fn tape(&self) -> Option<&crate::record::Tape> {
        self.tape.get()
    }

    /// Sets the tape, once, before the runtime is built.
    pub(crate) fn set_tape(&self, tape: crate::record::Tape) {
        let _ = self.tape.set(tape);
    }

    /// The last session id handed out (a replay restores it after a command or host call).
    pub(crate) fn session(&self) -> i32 {
        self.session.load(Ordering::Relaxed)
    }

    /// Sets the session counter as a recording found it (replay only).
    pub(crate) fn restore_session(&self, session: i32) {
        self.session.store(session, Ordering::Relaxed);
    }

    /// The profile the service runs under (see `profile`).
    #[inline]
    pub fn profile(&self) -> &Arc<Profile> {
        self.profile.get().unwrap_or_else(|| Profile::trusted_ref())
    }

    /// Sets the profile, once, before the service runs; false if it was already set.
    pub(crate) fn set_profile(&self, profile: Arc<Profile>) -> bool {
        self.profile.set(profile).is_ok()
    }

    pub(crate) fn has_profile(&self) -> bool {
        self.profile.get().is_some()
    }

    /// The tenant it belongs to; `None` for the operator's services.
    #[inline]
    pub fn tenant(&self) -> Option<&'static Tenant> {
        self.member.get().map(Member::tenant)
    }

    /// Makes it a member of a tenant, once, at launch.
    pub(crate) fn set_member(&self, member: Member) {
        let _ = self.member.set(member);
    }

    /// Whether it holds a public name (see `Node::bind_name`).
    #[inline]
    pub(crate) fn is_public(&self) -> bool {
        self.public.load(Ordering::Relaxed)
    }

    pub(crate) fn make_public(&self) {
        self.public.store(true, Ordering::Relaxed);
    }

    /// A service with no runtime, for tests of the tables around it.
    pub fn bare(handle: Handle) -> Arc<Service> {
        Arc::new(Service::new(handle))
    }

    /// The service's address.
    #[inline]
    pub fn handle(&self) -> Handle {
        self.handle
    }

    /// A fresh session id: positive, never 0, wrapping from `i32::MAX` back to 1 (as skynet's
    /// `skynet_context_newsession`; skynet.lua's wrap-around guard relies on this range).
    pub(crate) fn new_session(&self) -> i32 {
        loop {
            let prev = self.session.load(Ordering::Relaxed);
            let next = if (0..i32::MAX).contains(&prev) { prev + 1 } else { 1 };
            if self.session.compare_exchange_weak(prev, next, Ordering::Relaxed, Ordering::Relaxed).is_ok() {
                return next;
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn set_session_for_test(&self, value: i32) {
        self.session.store(value, Ordering::Relaxed);
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    pub(crate) fn mark_closed(&self) -> bool {
        !self.closed.swap(true, Ordering::AcqRel)
    }

    pub(crate) fn mqlen(&self) -> usize {
        self.mailbox.len()
    }

    /// Starts (`Some`) or stops (`None`) the message log of this service.
    pub(crate) fn set_message_log(&self, file: Option<File>) {
        let mut log = self.message_log.lock();
        if let Some(mut old) = log.take() {
            let _ = old.flush();
        }
        self.logging.store(file.is_some(), Ordering::Relaxed);
        *log = file.map(BufWriter::new);
    }

    /// Writes `msg` to the message log if one is on: `:source type session tick hexpayload`.
    #[inline]
    pub(crate) fn log_message(&self, msg: &Message, clock: &super::timer::Clock) {
        if !self.logging.load(Ordering::Relaxed) {
            return;
        }
        let tick = clock.now();
        if let Some(out) = self.message_log.lock().as_mut() {
            let _ = write!(out, ":{:08x} {} {} {} ", msg.source, msg.ptype, msg.session, tick);
            for byte in &msg.data {
                let _ = write!(out, "{byte:02x}");
            }
            let _ = writeln!(out);
            let _ = out.flush();
        }
    }

    /// Set once by the runtime that can interrupt its handlers.
    pub(crate) fn set_interrupter(&self, interrupter: Arc<dyn Interrupter>) {
        let _ = self.interrupter.set(interrupter);
    }

    /// Interrupts the message running now, if any (and, with `started`, only if it is the message
    /// that started then); false if nothing was interrupted.
    pub fn interrupt(&self, started: Option<u64>) -> bool {
        let running = self.counters.running_since.load(Ordering::Relaxed);
        if running == 0 || started.is_some_and(|s| s != running) {
            return false;
        }
        match self.interrupter.get() {
            Some(i) => {
                i.interrupt();
                true
            }
            None => false,
        }
    }

    pub(crate) fn take_endless(&self) -> bool {
        self.endless.swap(false, Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_skip_zero_and_wrap() {
        let s = Service::new(1);
        assert_eq!(s.new_session(), 1);
        assert_eq!(s.new_session(), 2);
        s.set_session_for_test(i32::MAX - 1);
        assert_eq!(s.new_session(), i32::MAX);
        assert_eq!(s.new_session(), 1);
    }
}
