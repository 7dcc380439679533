//! `logger`: skynet's log service, at address `:00000001` and named `.logger` as skynet starts
//! it (before the bootstrap, so every other address is the one skynet gives). A text message to
//! it is a log line from the message's source; the lines go to the node's log like every other
//! (`logger` in the config: a file, else stdout). skybox's services log straight to the log
//! thread; this service is for code that sends to `.logger` itself.

use std::sync::Arc;

use crate::core::message::{Handle, Message, ptype};
use crate::core::node::{Node, RuntimeFactory};
use crate::core::requests::HeldRequests;
use crate::core::service::{Actor, Handled};

/// The log service. It answers no request (each fails for its caller).
pub(crate) struct Logger {
    node: Arc<Node>,
    handle: Handle,
    held: HeldRequests,
}

/// The `logger` runtime factory (`LAUNCH "logger"`).
pub(crate) fn factory() -> RuntimeFactory {
    Box::new(|node, service, _args| {
        Ok(Box::new(Logger { node: node.clone(), handle: service.handle(), held: HeldRequests::default() }))
    })
}

impl Actor for Logger {
    fn dispatch(&mut self, msg: Message) -> Handled {
        match msg.ptype {
            ptype::TEXT => {
                self.node.log(msg.source, String::from_utf8_lossy(&msg.data).into_owned());
                Handled::Done
            }
            _ if msg.is_request() => Handled::Failed,
            other => {
                self.node.log(
                    self.handle,
                    format!("logger: message of type {other} from :{:08x} ignored", msg.source),
                );
                Handled::Done
            }
        }
    }

    fn held(&mut self) -> &mut HeldRequests {
        &mut self.held
    }
}
