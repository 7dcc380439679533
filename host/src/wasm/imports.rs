//! The imports of module `skybox` (ABI.md, "Imports").
//!
//! Every argument is checked before use: pointers and sizes against the guest's own memory
//! (`memory`), held-message handles against its own table (`held`), type numbers and sessions
//! against their ranges. A bad argument is a negative error code for the guest; no import traps,
//! panics or touches memory other than the calling guest's.
//!
//! Ownership at the boundary: bytes read from guest memory are copied into a new `Vec` owned by
//! the outgoing `Message` (the guest keeps its buffer); a held payload moves out of the table into
//! the message (`forward`) or is dropped (`msg_free`); bytes written into guest memory
//! (`msg_read`, `command`) belong to the guest.

use wasmtime::{Caller, Engine, Extern, Linker, Memory};

use super::abi::{self, AbiError, MODULE, NEW_SESSION, ptype_arg, to_code};
use super::memory;
use super::recorded;
use super::state::GuestState;
use crate::core::message::Handle;
use crate::core::node::{Dest, SendError};
use crate::record::Clock;

pub(super) type Ctx<'a> = Caller<'a, GuestState>;

/// A linker with every `skybox` import defined.
pub(crate) fn linker(engine: &Engine) -> wasmtime::Result<Linker<GuestState>> {
    let mut l = Linker::new(engine);
    l.func_wrap(MODULE, "send", |mut c: Ctx, dest: i32, ptype: i32, session: i32, ptr: i32, size: i32| {
        to_code(send_bytes(&mut c, GuestDest::Handle(dest), 0, ptype, session, ptr, size))
    })?;
    l.func_wrap(
        MODULE,
        "send_name",
        |mut c: Ctx, name_ptr: i32, name_len: i32, ptype: i32, session: i32, ptr: i32, size: i32| {
            to_code(send_bytes(&mut c, GuestDest::Name(name_ptr, name_len), 0, ptype, session, ptr, size))
        },
    )?;
    l.func_wrap(
        MODULE,
        "redirect",
        |mut c: Ctx, dest: i32, source: i32, ptype: i32, session: i32, ptr: i32, size: i32| {
            to_code(send_bytes(&mut c, GuestDest::Handle(dest), source, ptype, session, ptr, size))
        },
    )?;
    l.func_wrap(
        MODULE,
        "forward",
        |mut c: Ctx, dest: i32, source: i32, ptype: i32, session: i32, msg: i32| {
            to_code(forward(&mut c, dest, source, ptype, session, msg))
        },
    )?;
    l.func_wrap(MODULE, "msg_read", |mut c: Ctx, msg: i32, offset: i32, ptr: i32, len: i32| {
        to_code(msg_read(&mut c, msg, offset, ptr, len))
    })?;
    l.func_wrap(MODULE, "msg_size", |c: Ctx, msg: i32| {
        to_code(c.data().held.get(msg).and_then(|d| i32::try_from(d.len()).map_err(|_| AbiError::Arg)))
    })?;
    l.func_wrap(MODULE, "msg_free", |mut c: Ctx, msg: i32| to_code(c.data_mut().held.take(msg).map(|_| 0)))?;
    l.func_wrap(MODULE, "forward_type", |mut c: Ctx, ptype: i32, on: i32| {
        to_code(ptype_arg(ptype).map(|t| {
            c.data_mut().set_forward(t, on != 0);
            0
        }))
    })?;
    l.func_wrap(MODULE, "genid", |c: Ctx| c.data().service.new_session())?;
    l.func_wrap(MODULE, "timeout", |mut c: Ctx, ticks: i32| {
        recorded::import(&mut c, "timeout", &[ticks], |c| {
            let st = c.data();
            let session = st.service.new_session();
            st.node.timeout(st.handle, i64::from(ticks), session);
            session
        })
    })?;
    l.func_wrap(MODULE, "now", |c: Ctx| {
        let st = c.data();
        recorded::clock(st, Clock::Now, || st.node.clock.now()) as i64
    })?;
    l.func_wrap(MODULE, "hpc", |c: Ctx| {
        let st = c.data();
        recorded::clock(st, Clock::Hpc, || st.node.clock.hpc()) as i64
    })?;
    l.func_wrap(MODULE, "self", |c: Ctx| c.data().handle as i32)?;
    l.func_wrap(MODULE, "log", |mut c: Ctx, ptr: i32, len: i32| {
        let text = match guest_memory(&mut c).and_then(|m| memory::read(m.data(&c), ptr, len)) {
            Ok(bytes) => String::from_utf8_lossy(bytes).into_owned(),
            Err(_) => format!("(skybox.log: invalid text at ptr={ptr}, len={len})"),
        };
        let st = c.data();
        st.node.log(st.handle, text);
    })?;
    l.func_wrap(
        MODULE,
        "command",
        |mut c: Ctx,
         cmd_ptr: i32,
         cmd_len: i32,
         param_ptr: i32,
         param_len: i32,
         out_ptr: i32,
         out_cap: i32| {
            to_code(command(&mut c, cmd_ptr, cmd_len, param_ptr, param_len, out_ptr, out_cap))
        },
    )?;
    l.func_wrap(MODULE, "exit", |mut c: Ctx| c.data_mut().exit = true)?;
    super::net::define(&mut l)?;
    super::files::define(&mut l)?;
    Ok(l)
}

/// The guest's exported memory (looked up by name only while the instance is being created).
pub(super) fn guest_memory(c: &mut Ctx) -> Result<Memory, AbiError> {
    if let Some(m) = c.data().memory {
        return Ok(m);
    }
    match c.get_export(abi::EXPORT_MEMORY) {
        Some(Extern::Memory(m)) => {
            c.data_mut().memory = Some(m);
            Ok(m)
        }
        _ => Err(AbiError::Arg),
    }
}

/// A `session` argument: 0 (one-way), > 0 (as given), -1 (a new one).
fn session_arg(st: &GuestState, session: i32) -> Result<i32, AbiError> {
    match session {
        NEW_SESSION => Ok(st.service.new_session()),
        s if s >= 0 => Ok(s),
        _ => Err(AbiError::Arg),
    }
}

/// A destination as the guest gave it (not yet checked).
enum GuestDest {
    Handle(i32),
    /// A name (`.name`, `:0000000a`, a global `NAME`) in guest memory.
    Name(i32, i32),
}

/// Sends `data` (owned by the host from here on) through the node's send path, which keeps
/// the guest's held requests (`core::requests`). `mem` is the guest's memory, for a name.
#[allow(clippy::too_many_arguments)]
fn deliver(
    mem: &[u8],
    st: &mut GuestState,
    dest: GuestDest,
    source: i32,
    ptype: u8,
    session: i32,
    data: Vec<u8>,
) -> Result<i32, AbiError> {
    let dest = match dest {
        GuestDest::Handle(0) => return Err(AbiError::Dest),
        GuestDest::Handle(h) => Dest::Handle(h as Handle),
        GuestDest::Name(ptr, len) => Dest::Name(memory::read_str(mem, ptr, len)?),
    };
    let session = session_arg(st, session)?;
    // A `source` of 0 means the guest itself; the core checks the rest against its profile.
    let source = if source == 0 { st.handle } else { source as Handle };
    let GuestState { node, service, requests, .. } = st;
    node.send(service, requests, source, dest, ptype, session, data).map(|()| session).map_err(|e| match e {
        SendError::NoDestination => AbiError::Dest,
        SendError::Denied => AbiError::Denied,
        SendError::Full => AbiError::Full,
    })
}

/// `send`, `send_name`, `redirect`: the payload is copied out of guest memory.
fn send_bytes(
    c: &mut Ctx,
    dest: GuestDest,
    source: i32,
    ptype: i32,
    session: i32,
    ptr: i32,
    size: i32,
) -> Result<i32, AbiError> {
    let ptype = ptype_arg(ptype)?;
    if session < NEW_SESSION {
        return Err(AbiError::Arg);
    }
    let m = guest_memory(c)?;
    let (mem, st) = m.data_and_store_mut(&mut *c);
    let data = memory::read(mem, ptr, size)?.to_vec();
    deliver(mem, st, dest, source, ptype, session, data)
}

/// `forward`: the held payload moves into the message. The handle is consumed whatever the
/// outcome, unless it is not a live handle (`ERR_HANDLE`).
fn forward(c: &mut Ctx, dest: i32, source: i32, ptype: i32, session: i32, msg: i32) -> Result<i32, AbiError> {
    let data = c.data_mut().held.take(msg)?;
    let ptype = ptype_arg(ptype)?;
    if session < NEW_SESSION {
        return Err(AbiError::Arg);
    }
    deliver(&[], c.data_mut(), GuestDest::Handle(dest), source, ptype, session, data)
}

fn msg_read(c: &mut Ctx, msg: i32, offset: i32, ptr: i32, len: i32) -> Result<i32, AbiError> {
    let m = guest_memory(c)?;
    let (mem, st) = m.data_and_store_mut(&mut *c);
    let data = st.held.get(msg)?;
    let out = memory::slice_mut(mem, ptr, len)?;
    let offset = offset as u32 as usize;
    let rest = data.get(offset..).ok_or(AbiError::Arg)?;
    let n = rest.len().min(out.len()).min(i32::MAX as usize);
    out[..n].copy_from_slice(&rest[..n]);
    Ok(n as i32)
}

fn command(
    c: &mut Ctx,
    cmd_ptr: i32,
    cmd_len: i32,
    param_ptr: i32,
    param_len: i32,
    out_ptr: i32,
    out_cap: i32,
) -> Result<i32, AbiError> {
    if !c.data().instantiated {
        let st = c.data();
        st.node.log(st.handle, "command refused: the module is still being instantiated".into());
        return Err(AbiError::Command);
    }
    let m = guest_memory(c)?;
    let (cmd, param) = {
        let mem = m.data(&*c);
        // Check the output buffer before running anything: a bad pointer must not launch or kill.
        memory::range(out_ptr, out_cap, mem.len())?;
        let cmd = memory::read_str(mem, cmd_ptr, cmd_len)?.to_string();
        let param = match (param_ptr, param_len) {
            (0, 0) => None,
            _ => Some(memory::read_str(mem, param_ptr, param_len)?.to_string()),
        };
        (cmd, param)
    };
    let st = c.data();
    // A guest launches others within the node's configured limits: per-launch limits are the
    // operator's (config, Lua), or a guest could hand its children unlimited fuel and memory.
    if cmd == "LAUNCH"
        && param.as_deref().is_some_and(|p| {
            p.split_whitespace().any(|w| w.starts_with("--fuel") || w.starts_with("--memlimit"))
        })
    {
        st.node.log(st.handle, "command refused: a guest cannot set the limits of what it launches".into());
        return Err(AbiError::Command);
    }
    let text = match st.node.command(&st.service, &cmd, param.as_deref()) {
        Ok(Some(text)) => text,
        Ok(None) => return Err(AbiError::None),
        Err(err) => {
            st.node.log(st.handle, format!("command {cmd} failed: {err:#}"));
            return Err(AbiError::Command);
        }
    };
    let len = i32::try_from(text.len()).map_err(|_| AbiError::Command)?;
    let out = memory::slice_mut(m.data_mut(&mut *c), out_ptr, out_cap)?;
    let n = out.len().min(text.len());
    out[..n].copy_from_slice(&text.as_bytes()[..n]);
    Ok(len)
}
