//! skynet's commands (`skynet_command`): a table of small functions, one a command.
//!
//! Each answers `Ok(None)` where skynet returns NULL, `Ok(Some(text))` with its result, and
//! `Err` for a malformed parameter (raised as a Lua error, `ERR_COMMAND` for a guest).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use anyhow::{Context as _, anyhow, bail};

use super::message::{Handle, format_handle, parse_handle};
use super::node::Node;
use super::service::Service;

/// One command: the node, the calling service, the parameter.
type Command = fn(&Arc<Node>, &Arc<Service>, Option<&str>) -> anyhow::Result<Option<String>>;

const COMMANDS: &[(&str, Command)] = &[
    ("TIMEOUT", timeout),
    ("REG", reg),
    ("QUERY", query),
    ("NAME", name),
    ("EXIT", exit),
    ("KILL", kill),
    ("LAUNCH", launch),
    ("GETENV", getenv),
    ("SETENV", setenv),
    ("STARTTIME", starttime),
    ("ABORT", abort),
    ("MONITOR", monitor),
    ("STAT", stat),
    ("MQLEN", mqlen),
    ("LOGON", logon),
    ("LOGOFF", logoff),
    ("SIGNAL", signal),
    ("PROFILE", profile),
];

impl Node {
    /// Runs skynet command `cmd` for `from`.
    pub fn command(
        self: &Arc<Self>,
        from: &Arc<Service>,
        cmd: &str,
        param: Option<&str>,
    ) -> anyhow::Result<Option<String>> {
        let (_, run) =
            COMMANDS.iter().find(|(name, _)| *name == cmd).ok_or_else(|| anyhow!("unknown command {cmd}"))?;
        let profile = from.profile();
        if !profile.allows(cmd) {
            bail!("{cmd} refused: profile {} does not allow it", profile.name());
        }
        let command =
            || run(self, from, param).with_context(|| format!("{cmd} {}", param.unwrap_or_default()));
        match from.tape() {
            Some(tape) => tape.command(from, cmd, param, command),
            None => command(),
        }
    }
}

fn required(param: Option<&str>) -> anyhow::Result<&str> {
    param.ok_or_else(|| anyhow!("needs a parameter"))
}

/// An address or name that must resolve.
fn address(node: &Node, text: &str) -> anyhow::Result<u32> {
    node.resolve(text.trim()).ok_or_else(|| anyhow!("bad address {text}"))
}

fn timeout(node: &Arc<Node>, from: &Arc<Service>, param: Option<&str>) -> anyhow::Result<Option<String>> {
    let text = required(param)?;
    let ticks: i64 = text.trim().parse().with_context(|| format!("bad time {text:?}"))?;
    let session = from.new_session();
    node.timeout(from.handle(), ticks, session);
    Ok(Some(session.to_string()))
}

fn reg(node: &Arc<Node>, from: &Arc<Service>, param: Option<&str>) -> anyhow::Result<Option<String>> {
    match param {
        None | Some("") => Ok(Some(format_handle(from.handle()))),
        Some(name) => {
            public_name_guard(node, from, name)?;
            Ok(node.bind_name(name, from.handle()).then(|| name.to_string()))
        }
    }
}

/// A public name (config `public`) opens its holder to every tenant: only a trusted service
/// binds one.
fn public_name_guard(node: &Node, from: &Service, name: &str) -> anyhow::Result<()> {
    if !from.profile().is_trusted() && node.is_public_name(name) {
        bail!("{name} is a public name: only a trusted service binds it");
    }
    Ok(())
}

fn query(node: &Arc<Node>, _: &Arc<Service>, param: Option<&str>) -> anyhow::Result<Option<String>> {
    let name = required(param)?;
    Ok(node.resolve(name).filter(|h| node.handles.grab(*h).is_some()).map(format_handle))
}

fn name(node: &Arc<Node>, from: &Arc<Service>, param: Option<&str>) -> anyhow::Result<Option<String>> {
    // As skynet: a malformed parameter names nothing and returns nil.
    let Some((name, addr)) = required(param)?.split_once(' ') else { return Ok(None) };
    let Some(handle) = parse_handle(addr.trim()) else { return Ok(None) };
    public_name_guard(node, from, name)?;
    own_tenant_guard(node, from, handle)?;
    Ok(node.bind_name(name, handle).then(|| name.to_string()))
}

fn exit(node: &Arc<Node>, from: &Arc<Service>, _: Option<&str>) -> anyhow::Result<Option<String>> {
    node.log(from.handle(), "KILL self".into());
    node.kill(from.handle());
    Ok(None)
}

/// A service that is not trusted acts on services of its own tenant only (KILL, SIGNAL,
/// LOGON, LOGOFF, NAME), whatever commands its profile grants.
fn own_tenant_guard(node: &Node, from: &Service, target: Handle) -> anyhow::Result<()> {
    if from.profile().is_trusted() {
        return Ok(());
    }
    let theirs = node.handles.grab(target);
    let same = matches!((from.tenant(), theirs.as_ref().and_then(|t| t.tenant())), (Some(a), Some(b)) if std::ptr::eq(a, b));
    if !same {
        bail!("profile {} acts on its own tenant's services only, not :{target:08x}", from.profile().name());
    }
    Ok(())
}

fn kill(node: &Arc<Node>, from: &Arc<Service>, param: Option<&str>) -> anyhow::Result<Option<String>> {
    if let Some(handle) = node.resolve(required(param)?) {
        own_tenant_guard(node, from, handle)?;
        node.log(from.handle(), format!("KILL :{handle:x}"));
        node.kill(handle);
    }
    Ok(None)
}

fn launch(node: &Arc<Node>, from: &Arc<Service>, param: Option<&str>) -> anyhow::Result<Option<String>> {
    let line = super::profile::attenuate(node, from, required(param)?)?;
    match node.launch(&line) {
        Ok(handle) => Ok(Some(format_handle(handle))),
        Err(err) => {
            node.log(from.handle(), format!("{err:#}"));
            Ok(None)
        }
    }
}

fn getenv(node: &Arc<Node>, _: &Arc<Service>, param: Option<&str>) -> anyhow::Result<Option<String>> {
    Ok(node.getenv(required(param)?))
}

fn setenv(node: &Arc<Node>, from: &Arc<Service>, param: Option<&str>) -> anyhow::Result<Option<String>> {
    let p = required(param)?;
    let (key, value) = p.split_once(' ').unwrap_or((p, ""));
    if !from.profile().is_trusted() && super::profile::guards_launches(key) {
        bail!("the key {key} decides profiles: only a trusted service sets it");
    }
    let mut env = node.env.write();
    if env.contains_key(key) {
        bail!("the key {key} is already set");
    }
    env.insert(key.to_string(), value.to_string());
    Ok(None)
}

fn starttime(node: &Arc<Node>, _: &Arc<Service>, _: Option<&str>) -> anyhow::Result<Option<String>> {
    Ok(Some(node.clock.start_secs().to_string()))
}

fn abort(node: &Arc<Node>, _: &Arc<Service>, param: Option<&str>) -> anyhow::Result<Option<String>> {
    node.abort(param.and_then(|p| p.trim().parse().ok()).unwrap_or(0));
    Ok(None)
}

fn monitor(node: &Arc<Node>, _: &Arc<Service>, param: Option<&str>) -> anyhow::Result<Option<String>> {
    match param {
        None | Some("") => {
            let m = node.monitor_exit.load(Ordering::Relaxed);
            Ok((m != 0).then(|| format_handle(m)))
        }
        Some(addr) => {
            node.monitor_exit.store(address(node, addr)?, Ordering::Relaxed);
            Ok(None)
        }
    }
}

fn stat(node: &Arc<Node>, from: &Arc<Service>, param: Option<&str>) -> anyhow::Result<Option<String>> {
    let c = &from.counters;
    Ok(Some(match required(param)? {
        "mqlen" => from.mqlen().to_string(),
        "endless" => u8::from(from.take_endless()).to_string(),
        "cpu" => format!("{:.6}", c.busy_ns.load(Ordering::Relaxed) as f64 / 1e9),
        "time" => {
            let since = c.running_since.load(Ordering::Relaxed);
            let secs = if since == 0 { 0.0 } else { node.clock.hpc().saturating_sub(since) as f64 / 1e9 };
            format!("{secs:.6}")
        }
        "message" => c.messages_in.load(Ordering::Relaxed).to_string(),
        "messages_out" => c.messages_out.load(Ordering::Relaxed).to_string(),
        "mqpeak" => from.mailbox.peak().to_string(),
        what => bail!("unknown item {what}"),
    }))
}

/// skybox: the queue length of another service, read without a message (a proxy watching an
/// overloaded service must not queue behind its backlog).
fn mqlen(node: &Arc<Node>, _: &Arc<Service>, param: Option<&str>) -> anyhow::Result<Option<String>> {
    let handle = node.resolve(required(param)?.trim());
    Ok(handle.and_then(|h| node.handles.grab(h)).map(|s| s.mqlen().to_string()))
}

/// skybox's: the profile of the service at `param` (the caller's own without one), and its
/// tenant if it has one: `guest acme`.
fn profile(node: &Arc<Node>, from: &Arc<Service>, param: Option<&str>) -> anyhow::Result<Option<String>> {
    let service = match param.map(str::trim).filter(|p| !p.is_empty()) {
        None => Some(Arc::clone(from)),
        Some(p) => node.resolve(p).and_then(|h| node.handles.grab(h)),
    };
    Ok(service.map(|s| match s.tenant() {
        Some(tenant) => format!("{} {}", s.profile().name(), tenant.name()),
        None => s.profile().name().to_string(),
    }))
}

fn logon(node: &Arc<Node>, from: &Arc<Service>, param: Option<&str>) -> anyhow::Result<Option<String>> {
    let handle = address(node, required(param)?)?;
    own_tenant_guard(node, from, handle)?;
    let Some(target) = node.handles.grab(handle) else { return Ok(None) };
    let dir = node.getenv("logpath").unwrap_or_else(|| ".".into());
    let path = PathBuf::from(dir).join(format!("{handle:08x}.log"));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    node.log(handle, format!("Open log file {}", path.display()));
    target.set_message_log(Some(file));
    Ok(None)
}

fn logoff(node: &Arc<Node>, from: &Arc<Service>, param: Option<&str>) -> anyhow::Result<Option<String>> {
    let handle = address(node, required(param)?)?;
    own_tenant_guard(node, from, handle)?;
    if let Some(target) = node.handles.grab(handle) {
        target.set_message_log(None);
    }
    Ok(None)
}

/// As skynet's snlua: signal 0 interrupts the running handler, 1 logs the memory in use.
fn signal(node: &Arc<Node>, from: &Arc<Service>, param: Option<&str>) -> anyhow::Result<Option<String>> {
    let p = required(param)?;
    let (addr, signal) = p.split_once(' ').unwrap_or((p, "0"));
    let signal: i32 = signal.trim().parse().with_context(|| format!("bad signal {signal}"))?;
    let handle = address(node, addr)?;
    own_tenant_guard(node, from, handle)?;
    if let Some(target) = node.handles.grab(handle) {
        match signal {
            0 => {
                node.log(from.handle(), format!("Send signal 0 to :{handle:08x}"));
                target.interrupt(None);
            }
            1 => {
                let bytes = target.counters.memory.load(Ordering::Relaxed);
                node.log(handle, format!("Current Memory {:.3}K", bytes as f64 / 1024.0));
            }
            _ => {}
        }
    }
    Ok(None)
}
