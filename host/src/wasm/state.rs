//! The host-side state of one guest: the data of its `wasmtime::Store`, reached by every import.

use std::sync::Arc;

use rustc_hash::FxHashSet;
use wasmtime::Memory;

use super::held::HeldMessages;
use super::limiter::Limiter;
use crate::core::message::{Handle, is_request, ptype};
use crate::core::node::Node;
use crate::core::service::Service;

/// One guest's host state. Owned by its `Store`, touched only by the worker running the guest.
///
/// Invariants:
/// - `requests` holds exactly the requests (source, session) this guest was handed and has not
///   answered, redirected or forwarded; whatever is left when the guest dies is failed for its
///   callers (`Actor::take_held_requests`), as for a Lua service (`lua::VmState::held`).
/// - `held` owns every forward-mode payload the guest has not forwarded or freed; its bytes count
///   against the memory cap.
/// - `memory` is the guest's exported memory once the instance exists (`None` only while its
///   start section runs).
pub struct GuestState {
    pub node: Arc<Node>,
    pub service: Arc<Service>,
    pub handle: Handle,
    pub memory: Option<Memory>,
    pub held: HeldMessages,
    pub requests: FxHashSet<(Handle, i32)>,
    /// Forward-mode types (bit `ptype` set: delivered held, by handle).
    forward: [u64; 4],
    /// `exit` was called: the guest exits after the current message.
    pub exit: bool,
    pub limiter: Limiter,
    /// False while the module is being instantiated (its start section runs on the launching
    /// thread, outside any message): commands are refused then, so a start section cannot
    /// launch more guests on the same native stack, or kill and abort from a launch.
    pub instantiated: bool,
}

impl GuestState {
    pub fn new(node: Arc<Node>, service: Arc<Service>, memlimit: usize) -> GuestState {
        let handle = service.handle();
        GuestState {
            node,
            service,
            handle,
            memory: None,
            held: HeldMessages::default(),
            requests: FxHashSet::default(),
            forward: [0; 4],
            exit: false,
            instantiated: false,
            limiter: Limiter::new(memlimit),
        }
    }

    pub fn is_forward(&self, ptype: u8) -> bool {
        self.forward[usize::from(ptype >> 6)] & (1 << (ptype & 63)) != 0
    }

    pub fn set_forward(&mut self, ptype: u8, on: bool) {
        let (word, bit) = (usize::from(ptype >> 6), 1u64 << (ptype & 63));
        if on {
            self.forward[word] |= bit;
        } else {
            self.forward[word] &= !bit;
        }
    }

    /// Records an incoming message: a request is held until answered.
    pub fn received(&mut self, source: Handle, ptype: u8, session: i32) {
        if is_request(ptype, session) {
            self.requests.insert((source, session));
        }
    }

    /// Updates the held requests for an outgoing message, as the Lua runtime does
    /// (`lua::core_api::send_message`): a RESPONSE or ERROR answers the request `(dest,
    /// session)`; a request sent on behalf of another `source` (redirect, forward) makes its
    /// answer the new destination's job.
    pub fn sending(&mut self, source: Handle, dest: Handle, ptype: u8, session: i32) {
        if ptype == ptype::RESPONSE || ptype == ptype::ERROR {
            if session != 0 {
                self.requests.remove(&(dest, session));
            }
        } else if source != self.handle && is_request(ptype, session) {
            self.requests.remove(&(source, session));
        }
    }
}
