//! The host-side state of one guest: the data of its `wasmtime::Store`, reached by every import.

use std::sync::Arc;

use wasmtime::Memory;

use super::files::Files;
use super::held::HeldMessages;
use super::limiter::Limiter;
use crate::core::message::Handle;
use crate::core::node::Node;
use crate::core::profile::{NetRules, Profile};
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
    /// What this guest may do with sockets (see [`Network`]); `sockets` is the server, once
    /// used.
    pub(crate) network: Network,
    pub(crate) sockets: Option<Arc<Server>>,
    /// The directories its profile grants, open (`files`).
    pub(crate) files: Files,
}

/// A guest's access to the socket server.
#[derive(Clone)]
pub(crate) enum Network {
    /// No socket import works.
    None,
    /// Any port, any peer: its module is named by the config's `wasm_net` and its profile sets
    /// no rules (or is trusted).
    Any,
    /// As its profile's `listen` and `connect` allow.
    Rules(NetRules),
}

impl Network {
    /// What a guest of module `name` under `profile` gets, `by_module` telling whether
    /// `wasm_net` names it.
    pub(crate) fn of(profile: &Profile, by_module: bool) -> Network {
        if !profile.is_trusted() && profile.net().grants_any() {
            Network::Rules(profile.net().clone())
        } else if by_module {
            Network::Any
        } else {
            Network::None
        }
    }
}

impl GuestState {
    pub(crate) fn new(
        node: Arc<Node>,
        service: Arc<Service>,
        memlimit: usize,
        network: Network,
        files: Files,
    ) -> GuestState {
        let handle = service.handle();
        let limiter = Limiter::new(memlimit, service.tenant().map(|t| t.memory_account()));
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
            limiter,
            network,
            sockets: None,
            files,
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
