//! The host-side state of one guest: the data of its `wasmtime::Store`, reached by every import.

use std::sync::Arc;

use wasmtime::Memory;

use super::held::HeldMessages;
use super::limiter::Limiter;
use crate::core::message::Handle;
use crate::core::node::Node;
use crate::core::requests::HeldRequests;
use crate::core::service::Service;
use crate::socket::Server;

/// One guest's host state. Owned by its `Store`, touched only by the worker running the guest.
///
/// Invariants:
/// - `requests` are the requests this guest holds, kept by the core's rule (`core::requests`),
///   as for a Lua service.
/// - `held` owns every forward-mode payload the guest has not forwarded or freed; its bytes count
///   against the memory cap.
/// - `memory` is the guest's exported memory once the instance exists (`None` only while its
///   start section runs).
pub(crate) struct GuestState {
    pub(crate) node: Arc<Node>,
    pub(crate) service: Arc<Service>,
    pub(crate) handle: Handle,
    pub(crate) memory: Option<Memory>,
    pub(crate) held: HeldMessages,
    pub(crate) requests: HeldRequests,
    /// Forward-mode types (bit `ptype` set: delivered held, by handle).
    forward: [u64; 4],
    /// `exit` was called: the guest exits after the current message.
    pub(crate) exit: bool,
    pub(crate) limiter: Limiter,
    /// False while the module is being instantiated (its start section runs on the launching
    /// thread, outside any message): commands are refused then, so a start section cannot
    /// launch more guests on the same native stack, or kill and abort from a launch.
    pub(crate) instantiated: bool,
    /// The node grants this guest sockets (config `wasm_net`); `sockets` is the server, once used.
    pub(crate) network: bool,
    pub(crate) sockets: Option<Arc<Server>>,
}

impl GuestState {
    pub(crate) fn new(node: Arc<Node>, service: Arc<Service>, memlimit: usize, network: bool) -> GuestState {
        let handle = service.handle();
        GuestState {
            node,
            service,
            handle,
            memory: None,
            held: HeldMessages::default(),
            requests: HeldRequests::default(),
            forward: [0; 4],
            exit: false,
            instantiated: false,
            limiter: Limiter::new(memlimit),
            network,
            sockets: None,
        }
    }

    pub(crate) fn is_forward(&self, ptype: u8) -> bool {
        self.forward[usize::from(ptype >> 6)] & (1 << (ptype & 63)) != 0
    }

    pub(crate) fn set_forward(&mut self, ptype: u8, on: bool) {
        let (word, bit) = (usize::from(ptype >> 6), 1u64 << (ptype & 63));
        if on {
            self.forward[word] |= bit;
        } else {
            self.forward[word] &= !bit;
        }
    }
}
