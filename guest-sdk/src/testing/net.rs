//! The mock host's sockets: it hands out ids and records what the guest asked for; a test plays
//! the socket thread by delivering events ([`Harness::socket_event`]).

use std::collections::BTreeSet;

use super::{Harness, with_host};
use crate::abi::{ERR_ARG, ERR_DENIED, ERR_SOCKET, ptype};
use crate::socket::{Event, udp_address};

/// What the guest asked the mock's sockets for, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SocketCall {
    /// `listen`, answered with `id`.
    Listen {
        /// The new socket.
        id: i32,
        /// The host to bind.
        host: String,
        /// The port (0: any).
        port: u16,
        /// The backlog asked for.
        backlog: i32,
    },
    /// `connect`, answered with `id`.
    Connect {
        /// The new socket.
        id: i32,
        /// The peer's host.
        host: String,
        /// The peer's port.
        port: u16,
    },
    /// `udp`, answered with `id`.
    Udp {
        /// The new socket.
        id: i32,
        /// The host to bind.
        host: String,
        /// The port (0: any).
        port: u16,
    },
    /// `start`, `pause`, `nodelay`, `close` or `shutdown` on `id`.
    Op {
        /// The operation's name.
        op: &'static str,
        /// The socket.
        id: i32,
    },
    /// `send` on `id`.
    Send {
        /// The socket.
        id: i32,
        /// The bytes.
        data: Vec<u8>,
        /// Low priority.
        low: bool,
    },
    /// `send_to` on UDP socket `id`.
    SendTo {
        /// The socket.
        id: i32,
        /// The destination.
        to: std::net::SocketAddr,
        /// The datagram.
        data: Vec<u8>,
    },
}

/// The mock's socket table.
///
/// Invariant: `live` holds the ids handed out (or opened by the test) and not closed.
#[derive(Debug)]
pub struct MockNet {
    pub(super) granted: bool,
    next_id: i32,
    live: BTreeSet<i32>,
    calls: Vec<SocketCall>,
}

impl Default for MockNet {
    fn default() -> Self {
        MockNet { granted: true, next_id: 0, live: BTreeSet::new(), calls: Vec::new() }
    }
}

impl MockNet {
    /// A new live id, as the socket thread gives an accepted connection.
    pub fn open(&mut self) -> i32 {
        self.next_id += 1;
        self.live.insert(self.next_id);
        self.next_id
    }

    /// Takes the calls recorded so far.
    pub fn take_calls(&mut self) -> Vec<SocketCall> {
        std::mem::take(&mut self.calls)
    }

    /// Is `id` open (handed out and not closed)?
    pub fn is_open(&self, id: i32) -> bool {
        self.live.contains(&id)
    }

    fn new_socket(&mut self, make: impl FnOnce(i32) -> SocketCall) -> i32 {
        if !self.granted {
            return ERR_DENIED;
        }
        let id = self.open();
        self.calls.push(make(id));
        id
    }

    /// Runs `f` when `id` is a live socket (and the network is granted).
    fn with_live(&mut self, id: i32, f: impl FnOnce(&mut MockNet) -> SocketCall) -> i32 {
        if !self.granted {
            return ERR_DENIED;
        }
        if !self.live.contains(&id) {
            return ERR_SOCKET;
        }
        let call = f(self);
        self.calls.push(call);
        0
    }

    pub(crate) fn listen(&mut self, host: &str, port: u16, backlog: i32) -> i32 {
        self.new_socket(|id| SocketCall::Listen { id, host: host.into(), port, backlog })
    }

    pub(crate) fn connect(&mut self, host: &str, port: u16) -> i32 {
        self.new_socket(|id| SocketCall::Connect { id, host: host.into(), port })
    }

    pub(crate) fn udp(&mut self, host: &str, port: u16) -> i32 {
        self.new_socket(|id| SocketCall::Udp { id, host: host.into(), port })
    }

    pub(crate) fn op(&mut self, op: &'static str, id: i32) -> i32 {
        self.with_live(id, |net| {
            if matches!(op, "close" | "shutdown") {
                net.live.remove(&id);
            }
            SocketCall::Op { op, id }
        })
    }

    pub(crate) fn send(&mut self, id: i32, data: &[u8], low: bool) -> i32 {
        self.with_live(id, |_| SocketCall::Send { id, data: data.to_vec(), low })
    }

    pub(crate) fn send_to(&mut self, id: i32, to: &[u8], data: &[u8]) -> i32 {
        let Some(to) = udp_address::decode(to) else { return ERR_ARG };
        self.with_live(id, |_| SocketCall::SendTo { id, to, data: data.to_vec() })
    }
}

impl Harness {
    /// Delivers one socket event to the guest, as the socket thread does (`PTYPE_SOCKET`, from
    /// 0, session 0).
    pub fn socket_event(&self, kind: i32, id: i32, ud: i32, bytes: &[u8]) {
        let payload = Event { kind, id, ud }.encode(bytes.to_vec());
        self.deliver(ptype::SOCKET, 0, crate::Address(0), &payload);
    }

    /// Takes the socket calls recorded so far.
    pub fn socket_calls(&self) -> Vec<SocketCall> {
        with_host(|h| h.net().take_calls())
    }
}
