//! `harbor`: skynet's harbor service, for a standalone node (harbor id 0).
//!
//! skynet's own bootstrap (through `cdummy`) launches a C `harbor` and registers every global name
//! with it by redirecting `"N name"` from the named service. On one node there is nowhere remote
//! to route to, so this harbor only binds names; while it runs, messages to a global name that is
//! not bound yet wait for the binding instead of failing (see `core::names`), as they do in
//! skynet.

use std::sync::Arc;

use crate::core::message::{Handle, Message, ptype};
use crate::core::node::{Node, RuntimeFactory};
use crate::core::requests::HeldRequests;
use crate::core::service::{Actor, Handled};

/// The harbor of a standalone node. It answers no request (each fails for its caller).
pub(crate) struct Harbor {
    node: Arc<Node>,
    handle: Handle,
    held: HeldRequests,
}

/// The `harbor` runtime factory (`LAUNCH "harbor <id> <slave>"`).
pub(crate) fn factory() -> RuntimeFactory {
    Box::new(|node, service, _args| {
        node.set_harbor_service(service.handle());
        Ok(Box::new(Harbor { node: node.clone(), handle: service.handle(), held: HeldRequests::default() }))
    })
}

impl Actor for Harbor {
    fn dispatch(&mut self, msg: Message) -> Handled {
        if msg.ptype == ptype::HARBOR
            && let Some(name) = msg.data.strip_prefix(b"N ")
            && let Ok(name) = std::str::from_utf8(name)
        {
            let name = name.trim();
            if !name.is_empty() && !self.node.bind_name(name, msg.source) {
                self.node.log(self.handle, format!("global name {name} is already bound"));
            }
            return Handled::Done;
        }
        if !msg.is_request() {
            self.node.log(
                self.handle,
                format!("harbor: unknown message (type {}) from :{:08x}", msg.ptype, msg.source),
            );
        }
        Handled::Failed
    }

    fn held(&mut self) -> &mut HeldRequests {
        &mut self.held
    }
}

impl Drop for Harbor {
    fn drop(&mut self) {
        self.node.clear_harbor_service(self.handle);
    }
}
