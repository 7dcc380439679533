//! Names: resolving `:0000000a`, `.name` and global names, binding them, and the messages that
//! wait for a global name nobody has bound yet.
//!
//! A standalone node keeps global names in the same table as local ones (skynet's harbor 0
//! does the same). While a harbor service runs, a message to an unbound global name waits here
//! until the name is bound (skynet's harbor queues them the same way); without one, or once
//! the harbor is gone, such a send fails and what waited is failed for its senders.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};

use parking_lot::Mutex;

use super::message::{Handle, Message, parse_handle};
use super::node::{Node, SendError};

/// The waiting side of global names.
///
/// Invariant: `pending` only holds messages while `harbor` is non-zero; a binding takes the
/// name's queue under the same lock, so a message is either queued before the binding (and
/// delivered by it) or sees the name bound.
#[derive(Default)]
pub(crate) struct Names {
    /// The harbor service, 0 when none runs.
    harbor: AtomicU32,
    pending: Mutex<HashMap<Box<str>, Vec<Message>>>,
}

/// A global name: neither an address nor a local `.name`.
fn is_global(name: &str) -> bool {
    !name.is_empty() && !name.starts_with(':') && !name.starts_with('.')
}

impl Node {
    /// Resolves `:0000000a`, `.name` or a global `NAME` to a handle (live or not).
    pub fn resolve(&self, name: &str) -> Option<Handle> {
        if name.starts_with(':') { parse_handle(name) } else { self.handles.find_name(name) }
    }

    /// Queues `msg` for the global `name` while a harbor runs (the caller found it unbound).
    pub(super) fn push_unbound(&self, name: &str, msg: Message) -> Result<(), SendError> {
        if !is_global(name) || self.names.harbor.load(Ordering::Acquire) == 0 {
            return Err(SendError::NoDestination);
        }
        let mut pending = self.names.pending.lock();
        // Looked up again under the lock: a binding empties the queue under the same lock.
        match self.handles.find_name(name) {
            Some(dest) => {
                drop(pending);
                self.push(dest, msg)
            }
            None => {
                pending.entry(name.into()).or_default().push(msg);
                Ok(())
            }
        }
    }

    /// Binds `name` to `handle` (false if taken, or if `handle` is dead) and delivers what
    /// waited for the name.
    pub fn bind_name(&self, name: &str, handle: Handle) -> bool {
        let mut pending = self.names.pending.lock();
        // A dead service gets no name: it would keep the name, and what waits for it, forever.
        let Some(service) = self.handles.grab(handle) else { return false };
        if !self.handles.bind_name(name, handle) {
            return false;
        }
        if self.is_public_name(name) {
            service.make_public();
        }
        let waiting = pending.remove(name).unwrap_or_default();
        drop(pending);
        for msg in waiting {
            let (source, session, request) = (msg.source, msg.session, msg.is_request());
            if self.push(handle, msg).is_err() && request {
                // The service died in between: fail the request rather than drop it.
                self.send_error(handle, source, session);
            }
        }
        true
    }

    /// Marks `handle` as the harbor service: unbound global names are waited for from now on.
    pub(crate) fn set_harbor_service(&self, handle: Handle) {
        self.names.harbor.store(handle, Ordering::Release);
    }

    /// The harbor `handle` is gone: nothing waits for global names any more; waiting requests
    /// fail.
    pub(crate) fn clear_harbor_service(&self, handle: Handle) {
        if self.names.harbor.compare_exchange(handle, 0, Ordering::AcqRel, Ordering::Acquire).is_err() {
            return;
        }
        let waiting = std::mem::take(&mut *self.names.pending.lock());
        for msg in waiting.into_values().flatten() {
            self.bounce(handle, msg);
        }
    }
}
