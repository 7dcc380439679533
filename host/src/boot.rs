//! A service's start, the same for every runtime, as skynet's snlua does it.
//!
//! A launch builds the runtime and queues one boot message (SYSTEM, from 0, empty); the
//! service's first message runs the runtime's start (the Lua loader, a guest's `skybox_start`)
//! on a worker, so a launch returns as soon as the service exists. The launcher (`.launcher`)
//! hears how the start went: TEXT "" started, "ERROR" failed. A service that goes away before
//! anything was said says "ERROR" as it goes, so a `skynet.newservice` waiting for it fails
//! instead of hanging (the launcher ignores services it is not waiting for). A Lua service
//! reports its own success (`LAUNCHOK`, from `skynet.start`), as in skynet.

use std::sync::Arc;

use crate::core::message::{Handle, Message, ptype};
use crate::core::node::Node;
use crate::core::service::Service;

/// One service's start.
///
/// Invariant: the launcher is told at most once, by [`Boot::report`] or, failing that, when the
/// `Boot` is dropped with the runtime.
pub(crate) struct Boot {
    node: Arc<Node>,
    handle: Handle,
    /// The launch arguments, until the start runs.
    args: Option<String>,
    told: bool,
}

impl Boot {
    /// Queues the boot message of `service`, launched with `args`.
    pub(crate) fn queue(node: &Arc<Node>, service: &Service, args: &str) -> Boot {
        service.mailbox.push(Message { source: 0, session: 0, ptype: ptype::SYSTEM, data: Vec::new() });
        Boot { node: node.clone(), handle: service.handle(), args: Some(args.to_string()), told: false }
    }

    /// The launch arguments the first time it is called (the service starts now), then `None`.
    pub(crate) fn take_args(&mut self) -> Option<String> {
        self.args.take()
    }

    /// True for the boot message itself (it carries nothing to deliver).
    pub(crate) fn is_boot_message(msg: &Message) -> bool {
        msg.source == 0 && msg.session == 0 && msg.ptype == ptype::SYSTEM && msg.data.is_empty()
    }

    /// Tells the launcher how the start went.
    pub(crate) fn report(&mut self, started: bool) {
        if std::mem::replace(&mut self.told, true) {
            return;
        }
        if let Some(launcher) = self.node.resolve(".launcher")
            && launcher != self.handle
        {
            let text: &[u8] = if started { b"" } else { b"ERROR" };
            let msg = Message { source: self.handle, session: 0, ptype: ptype::TEXT, data: text.to_vec() };
            let _ = self.node.push(launcher, msg);
        }
    }
}

impl Drop for Boot {
    fn drop(&mut self) {
        self.report(false);
    }
}
