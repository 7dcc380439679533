//! A service's life in the core: launch (register, build its runtime, hand it to the workers),
//! kill (retire its address, fail what is queued) and reap (drop its runtime, fail the requests
//! it held).
//!
//! A service is reaped exactly once, by whoever finds it closed and its runtime not running:
//! `kill` itself when no worker runs it, else the worker when the current message is done.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use anyhow::anyhow;

use super::message::{Handle, Message, ptype};
use super::node::Node;
use super::service::Service;

impl Node {
    /// Registers and starts a service: `line` is `"runtime args..."`, e.g. `"snlua main 1 2"`.
    pub fn launch(self: &Arc<Self>, line: &str) -> anyhow::Result<Handle> {
        self.launch_logged(line, true)
    }

    /// As [`Node::launch`], without the `LAUNCH` line: for skynet's logger, which starts before
    /// anything can log (skynet's first line is the bootstrap's).
    pub fn launch_quietly(self: &Arc<Self>, line: &str) -> anyhow::Result<Handle> {
        self.launch_logged(line, false)
    }

    fn launch_logged(self: &Arc<Self>, line: &str, logged: bool) -> anyhow::Result<Handle> {
        let line = line.trim();
        let (runtime, args) = line.split_once(' ').unwrap_or((line, ""));
        let service = self.handles.register(|handle| Arc::new(Service::new(handle)));
        let built = match self.runtimes.read().get(runtime) {
            Some(factory) => factory(self, &service, args.trim_start()),
            None => Err(anyhow!("unknown service type '{runtime}'")),
        };
        match built {
            Ok(actor) => {
                *service.actor.lock() = Some(actor);
                let handle = service.handle();
                // skynet logs every launch from the new service, its arguments as given.
                if logged {
                    self.log(handle, format!("LAUNCH {runtime} {}", args.trim_start()));
                }
                // Born scheduled (see `mailbox`): hand it to the workers now that it is complete.
                self.global.push(service);
                Ok(handle)
            }
            Err(err) => {
                self.handles.retire(service.handle());
                service.mark_closed();
                Err(err.context(format!("launch {line} failed")))
            }
        }
    }

    /// Retires `handle`: it gets no further message, queued requests fail for their senders, and
    /// once it is not running its runtime is dropped and the requests it held fail too.
    pub fn kill(&self, handle: Handle) -> bool {
        let Some(service) = self.handles.retire(handle) else {
            return false;
        };
        service.mark_closed();
        for msg in service.mailbox.close() {
            self.bounce(handle, msg);
        }
        self.reap(&service);
        for hook in self.exit_hooks.read().iter() {
            hook(handle);
        }
        let monitor = self.monitor_exit.load(Ordering::Relaxed);
        if monitor != 0 && monitor != handle {
            let _ = self.push(
                monitor,
                Message { source: handle, session: 0, ptype: ptype::CLIENT, data: Vec::new() },
            );
        }
        if self.handles.live() == 0 && !self.is_stopping() {
            self.abort(self.exit_code.load(Ordering::SeqCst));
        }
        true
    }

    /// Drops the runtime of a closed service unless a worker is running it right now (that worker
    /// reaps it after the current message).
    pub(super) fn reap(&self, service: &Arc<Service>) {
        let Some(mut slot) = service.actor.try_lock() else {
            return;
        };
        let Some(mut actor) = slot.take() else {
            return;
        };
        drop(slot);
        let held: Vec<_> = actor.held().drain().collect();
        drop(actor);
        for (source, session) in held {
            self.send_error(service.handle(), source, session);
        }
        for msg in service.mailbox.close() {
            self.bounce(service.handle(), msg);
        }
    }

    /// A message that reached a dead service: a request gets an ERROR reply, anything else is dropped.
    pub(super) fn bounce(&self, dead: Handle, msg: Message) {
        if msg.is_request() {
            self.send_error(dead, msg.source, msg.session);
        }
    }
}
