//! The network: the socket thread beside the scheduler, and its one seam to the core.
//!
//! `server.rs` is skynet's `socket_server.c`: sockets by id in a table of slots (`slots.rs`),
//! each one's state and queues (`socket.rs`), the socket thread on one `mio` poll; it knows no
//! services. This file is skynet's `skynet_socket.c`: the server's events become `PTYPE_SOCKET`
//! messages to the socket's owner (payload layout: `skybox_sdk::socket`), the frames of a
//! forwarded stream (`frame.rs`) `PTYPE_CLIENT` messages to its agent, and the sockets of a
//! service that exits are closed. The runtimes reach the server through [`sockets`].

pub(crate) mod addr;
mod bound;
mod frame;
mod server;
mod slots;
#[allow(clippy::module_inception, reason = "one socket's state and queues, named as in skynet")]
mod socket;
mod udp;

use std::sync::{Arc, Weak};

use skybox_sdk::socket::Event;

use crate::core::message::{Message, ptype};
use crate::core::node::Node;
pub(crate) use server::{Access, Server};

/// Turns the server's events into messages to the node's services.
struct Deliver {
    node: Weak<Node>,
}

impl socket::Sink for Deliver {
    fn deliver(&self, owner: u32, event: Event, bytes: Vec<u8>) -> bool {
        let Some(node) = self.node.upgrade() else { return false };
        let msg = Message { source: 0, session: 0, ptype: ptype::SOCKET, data: event.encode(bytes) };
        node.push(owner, msg).is_ok()
    }

    fn deliver_frame(&self, to: u32, source: u32, id: i32, frame: Vec<u8>) {
        if let Some(node) = self.node.upgrade() {
            let _ = node.push(to, Message { source, session: id, ptype: ptype::CLIENT, data: frame });
        }
    }

    fn log(&self, id: i32, text: String) {
        if let Some(node) = self.node.upgrade() {
            node.log(0, format!("{text} (socket {id})"));
        }
    }

    fn now(&self) -> u64 {
        self.node.upgrade().map_or(0, |node| node.clock.now())
    }

    fn stopping(&self) -> bool {
        self.node.upgrade().is_none_or(|node| node.is_stopping())
    }
}

/// The node's socket server, started on first use. A service that exits has its sockets
/// closed (nothing more is sent on them, and its owner is not told).
pub(crate) fn sockets(node: &Arc<Node>) -> anyhow::Result<Arc<Server>> {
    node.subsystem(|node| {
        let server = Server::start(Box::new(Deliver { node: Arc::downgrade(node) }))?;
        let weak = Arc::downgrade(&server);
        node.on_exit(Box::new(move |handle| {
            if let Some(server) = weak.upgrade() {
                server.close_owned_by(handle);
            }
        }));
        Ok(server)
    })
}
