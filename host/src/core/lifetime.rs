//! A service's life in the core: launch (register, build its runtime, hand it to the workers),
//! kill (retire its address, fail what is queued) and reap (drop its runtime, fail the requests
//! it held).
//!
//! A service is reaped exactly once, by whoever finds it closed and its runtime not running:
//! `kill` itself when no worker runs it, else the worker when the current message is done.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use anyhow::{anyhow, bail};

use super::message::{Handle, Message, ptype};
use super::node::Node;
use super::profile::{LaunchOptions, Profile};
use super::service::{Actor, Service};

/// The line skynet logs as a new service: its runtime and arguments as given.
pub(crate) fn launch_line(runtime: &str, args: &str) -> String {
    format!("LAUNCH {runtime} {}", args.trim_start())
}

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
        let built = self.build(&service, runtime, args);
        match built {
            Ok(actor) => {
                *service.actor.lock() = Some(actor);
                let handle = service.handle();
                // skynet logs every launch from the new service, its arguments as given.
                if logged {
                    self.log(handle, launch_line(runtime, args));
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

    /// The runtime of a new service, under the profile and in the tenant the launch options
    /// name (see `profile::LaunchOptions`), else the runtime's defaults (see [`Node::confine`]).
    pub(crate) fn build(
        self: &Arc<Self>,
        service: &Arc<Service>,
        runtime: &str,
        args: &str,
    ) -> anyhow::Result<Box<dyn Actor>> {
        let options = LaunchOptions::take(args)?;
        if let Some(name) = options.profile {
            service.set_profile(Profile::named(self, name)?);
        }
        if let Some(name) = options.tenant {
            self.join_tenant(service, name)?;
        }
        // The service's name: the first word that is not an option (`wasm --fuel=N name`).
        let name = options.rest.split_whitespace().find(|w| !w.starts_with("--")).unwrap_or("");
        crate::record::attach(self, service, runtime, args, name);
        let actor = match self.runtimes.read().get(runtime) {
            Some(factory) => factory(self, service, &options.rest)?,
            None => bail!("unknown service type '{runtime}'"),
        };
        // Runtimes that name no default (the native services) run trusted.
        self.confine(service, "trusted")?;
        Ok(actor)
    }

    /// Fixes what `service` may do before it runs any code: its profile (`default_profile`
    /// unless its launch named one), its tenant (the launch's, else its profile's, else, for a
    /// profile that is not trusted, one named after the profile) and its mailbox caps. A
    /// runtime calls this before it runs the service's code; calling it again changes nothing.
    pub(crate) fn confine(&self, service: &Service, default_profile: &str) -> anyhow::Result<()> {
        if !service.has_profile() {
            service.set_profile(Profile::named(self, default_profile)?);
        }
        let profile = service.profile().clone();
        if service.tenant().is_none() {
            let tenant = profile.tenant().or((!profile.is_trusted()).then(|| profile.name()));
            if let Some(name) = tenant {
                self.join_tenant(service, name)?;
            }
        }
        let (messages, bytes) = profile.mailbox_caps();
        if messages.is_some() || bytes.is_some() {
            service.mailbox.set_caps(messages, bytes);
        }
        Ok(())
    }

    /// Makes `service` a member of tenant `name`, within the tenant's `services`.
    fn join_tenant(&self, service: &Service, name: &str) -> anyhow::Result<()> {
        let spec = self.getenv(&format!("tenant_{name}"));
        let tenant = self.tenants.get(name, spec.as_deref(), self.threads())?;
        let member = tenant.join().map_err(|over| {
            anyhow!("tenant {name} is at its limit of {} {over}", tenant.limits().services)
        })?;
        service.set_member(member);
        Ok(())
    }

    /// Retires `handle`: it gets no further message, queued requests fail for their senders, and
    /// once it is not running its runtime is dropped and the requests it held fail too.
    pub fn kill(&self, handle: Handle) -> bool {
        let Some(service) = self.handles.retire(handle) else {
            return false;
        };
        service.mark_closed();
        if let Some(tape) = service.tape() {
            tape.retired(self.is_stopping());
        }
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
        if let Some(tape) = service.tape() {
            tape.finish();
        }
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
