//! The network functions of `skynet.socketdriver` (lua-socket.c's): each acts on the node's
//! socket server for the calling service, which becomes the owner of what it opens.
//!
//! Ids are checked by the server (a stale or forged id reaches nothing); a send takes its
//! payload as a string (copied), a message token with its size (the buffer moves into the
//! socket, no copy), a table of strings (joined) or a full userdata (its bytes copied).
//!
//! Every function comes in two builds, chosen when the module is opened: a trusted service's
//! (`CONFINED = false`, skynet's rules: any id) and an untrusted service's (`CONFINED = true`),
//! which checks its profile (see [`Net`]) and uses only the sockets it owns. The checks are
//! compiled out of the first.

use std::ffi::{CStr, c_int};
use std::sync::Arc;

use mlua::ffi::{self, lua_State};
use skybox_sdk::socket::udp_address;

use super::super::native::VmCtx;
use super::super::raw;
use super::{Failure, Outcome, bytes_arg, integer_arg, size_arg, state_mut, token_arg, with_vm};
use crate::core::profile::NetRules;
use crate::socket::{Access, Server, addr, sockets};

/// Adds the network functions to the table on top of `state`'s stack: the untrusted build with
/// `CONFINED`.
///
/// # Safety
/// `state` is a live thread with a table on top of its stack.
pub(super) unsafe fn register<const CONFINED: bool>(state: *mut lua_State) {
    let functions: [(&CStr, ffi::lua_CFunction); 20] = [
        (c"connect", connect::<CONFINED>),
        (c"close", close::<CONFINED>),
        (c"shutdown", shutdown::<CONFINED>),
        (c"listen", listen::<CONFINED>),
        (c"send", send::<CONFINED>),
        (c"lsend", lsend::<CONFINED>),
        (c"bind", bind::<CONFINED>),
        (c"start", start::<CONFINED>),
        (c"pause", pause::<CONFINED>),
        (c"nodelay", nodelay::<CONFINED>),
        (c"forward", forward::<CONFINED>),
        (c"udp", udp::<CONFINED>),
        (c"udp_connect", udp_connect::<CONFINED>),
        (c"udp_dial", udp_dial::<CONFINED>),
        (c"udp_listen", udp_listen::<CONFINED>),
        (c"udp_send", udp_send::<CONFINED>),
        (c"udp_address", udp_address_fn::<CONFINED>),
        (c"resolve", resolve::<CONFINED>),
        (c"info", info::<CONFINED>),
        (c"netstat", info::<CONFINED>),
    ];
    // SAFETY: per the contract.
    unsafe {
        for (name, f) in functions {
            ffi::lua_pushcfunction(state, f);
            ffi::lua_setfield(state, -2, name.as_ptr());
        }
    }
}

/// The calling service, and the rules of an untrusted one (`CONFINED`): it opens only what its
/// profile's `listen` and `connect` allow (nothing at all without rules: the profile grants no
/// network), reaches only its own sockets, binds no descriptor of the process, forwards a
/// stream only as its send rules would let it send, and sees only its own sockets in `info`.
/// A refusal is one log line and a Lua error with the same text. Without `CONFINED`, every
/// check is `Ok` and the access is skynet's (any id).
struct Net<'a, const CONFINED: bool> {
    ctx: &'a VmCtx,
}

impl<const CONFINED: bool> Net<'_, CONFINED> {
    /// Which socket ids the caller may act on.
    fn access(&self) -> Access {
        if CONFINED { Access::Owner(self.ctx.service.handle()) } else { Access::Any }
    }

    /// Logs `what` refused and returns it as the failure to raise.
    #[cold]
    fn refuse(&self, what: String) -> Failure {
        self.ctx.node.log(self.ctx.service.handle(), what.clone());
        Failure::Text(what)
    }

    /// Checks that the profile grants some network and that `ok` holds for its rules.
    fn check(
        &self,
        what: impl FnOnce() -> String,
        ok: impl FnOnce(&NetRules) -> bool,
    ) -> Result<(), Failure> {
        if !CONFINED {
            return Ok(());
        }
        let profile = self.ctx.service.profile();
        let rules = profile.net();
        let why = if !rules.grants_any() {
            "grants no network"
        } else if !ok(rules) {
            "does not allow it (its listen= and connect= rules)"
        } else {
            return Ok(());
        };
        Err(self.refuse(format!("{} refused: profile {} {why}", what(), profile.name())))
    }

    /// Any use of the network (a name lookup, a UDP socket on a port the system picks).
    fn network(&self, what: &str) -> Result<(), Failure> {
        self.check(|| format!("socket {what}"), |_| true)
    }

    /// Listening on (or binding) `port`.
    fn listen(&self, what: &str, host: &str, port: u16) -> Result<(), Failure> {
        self.check(|| format!("socket {what} {host}:{port}"), |rules| rules.may_listen(port))
    }

    /// Connecting (or sending a datagram) to `host:port`, `host` as the service wrote it.
    fn connect(&self, what: &str, host: &str, port: u16) -> Result<(), Failure> {
        self.check(|| format!("socket {what} {host}:{port}"), |rules| rules.may_connect(host, port))
    }

    /// Forwarding a stream's frames to `to` as `client`: to itself, as itself, unless its profile
    /// may send anywhere (`send=any`) or as others (`redirect`). The socket thread delivers
    /// those frames without the send path's per-destination checks.
    fn forward(&self, to: u32, client: u32) -> Result<(), Failure> {
        if !CONFINED {
            return Ok(());
        }
        let (me, profile) = (self.ctx.service.handle(), self.ctx.service.profile());
        if (to == me || profile.sends_anywhere()) && (client == me || profile.may_redirect()) {
            return Ok(());
        }
        Err(self.refuse(format!(
            "socket forward to :{to:08x} as :{client:08x} refused: profile {} forwards only to itself, as itself",
            profile.name()
        )))
    }
}

/// The node's socket server for the VM of `ctx` (started on first use, then kept by the VM).
fn server(ctx: &VmCtx) -> Result<&Arc<Server>, Failure> {
    if let Some(server) = ctx.sockets.get() {
        return Ok(server);
    }
    let server = sockets(&ctx.node).map_err(|e| Failure::Text(format!("{e:#}")))?;
    Ok(ctx.sockets.get_or_init(|| server))
}

fn io_failure(err: std::io::Error) -> Failure {
    Failure::Text(err.to_string())
}

/// The string at `index` (UTF-8 not required of bytes, but of a host name).
unsafe fn str_arg<'a>(state: *mut lua_State, index: c_int, what: &str) -> Result<&'a str, Failure> {
    // SAFETY: the string stays on the stack for the whole call.
    let bytes = unsafe { raw::string_at(state, index) }
        .ok_or_else(|| Failure::Text(format!("bad argument #{index} ({what}): string expected")))?;
    std::str::from_utf8(bytes)
        .map_err(|_| Failure::Text(format!("bad argument #{index} ({what}): not UTF-8")))
}

/// `(addr, port)` at `index`, `index + 1`: with no port, `addr` is `"host:port"` or
/// `"[v6]:port"`.
unsafe fn address_args<'a>(state: *mut lua_State, index: c_int) -> Result<(&'a str, u16), Failure> {
    // SAFETY: reading the arguments of a live call.
    unsafe {
        let host =
            if ffi::lua_isnoneornil(state, index) != 0 { "" } else { str_arg(state, index, "address")? };
        if ffi::lua_isnoneornil(state, index + 1) != 0 {
            return addr::split(host).map_err(io_failure);
        }
        let port = integer_arg(state, index + 1, "port")?;
        let port = u16::try_from(port).map_err(|_| Failure::Text(format!("Invalid port {port}")))?;
        Ok((host, port))
    }
}

/// A socket id argument.
unsafe fn id_arg(state: *mut lua_State, index: c_int) -> Result<i32, Failure> {
    // SAFETY: reading the arguments of a live call.
    let id = unsafe { integer_arg(state, index, "id") }?;
    Ok(i32::try_from(id).unwrap_or(-1))
}

/// The payload of a send at `index` (and its size at `index + 1`), owned by the caller now.
unsafe fn payload_arg(state: *mut lua_State, ctx: &VmCtx, index: c_int) -> Result<Vec<u8>, Failure> {
    // SAFETY: reading the arguments of a live call; strings stay on the stack meanwhile.
    unsafe {
        match ffi::lua_type(state, index) {
            ffi::LUA_TSTRING | ffi::LUA_TNUMBER => Ok(bytes_arg(state, index, "send")?.to_vec()),
            ffi::LUA_TLIGHTUSERDATA => {
                if ffi::lua_isnoneornil(state, index + 1) != 0 {
                    return Err(Failure::Static("a message buffer needs its size"));
                }
                let size = size_arg(state, index + 1, "send")?;
                let token = token_arg(state, index, "message buffer expected")?;
                Ok(state_mut(ctx)?.buffers.take(token, Some(size))?)
            }
            ffi::LUA_TUSERDATA => {
                let len = ffi::lua_rawlen(state, index);
                let len = if ffi::lua_isnoneornil(state, index + 1) != 0 {
                    len
                } else {
                    size_arg(state, index + 1, "send")?.min(len)
                };
                let p = ffi::lua_touserdata(state, index);
                Ok(std::slice::from_raw_parts(p.cast::<u8>(), len).to_vec())
            }
            ffi::LUA_TTABLE => {
                let mut out = Vec::new();
                let mut i = 1;
                loop {
                    let t = ffi::lua_rawgeti(state, index, i);
                    if t == ffi::LUA_TNIL {
                        ffi::lua_pop(state, 1);
                        break;
                    }
                    let item = raw::string_at(state, -1);
                    let Some(item) = item.filter(|_| t == ffi::LUA_TSTRING) else {
                        ffi::lua_pop(state, 1);
                        return Err(Failure::Static("Invalid strings table"));
                    };
                    out.extend_from_slice(item);
                    ffi::lua_pop(state, 1);
                    i += 1;
                }
                Ok(out)
            }
            _ => Err(Failure::Text(format!(
                "bad argument #{index} to 'send' (string expected, got {})",
                raw::type_name(state, index)
            ))),
        }
    }
}

/// Pushes an id, or the integer result of a function.
unsafe fn push_int(state: *mut lua_State, n: i64) -> Outcome {
    // SAFETY: one slot, guaranteed by Lua for a C function's results.
    unsafe { ffi::lua_pushinteger(state, n) };
    Ok(1)
}

unsafe fn push_bool(state: *mut lua_State, b: bool) -> Outcome {
    // SAFETY: as `push_int`.
    unsafe { ffi::lua_pushboolean(state, c_int::from(b)) };
    Ok(1)
}

macro_rules! lua_fn {
    ($name:ident, |$state:ident, $net:ident, $ctx:ident| $body:expr) => {
        unsafe extern "C-unwind" fn $name<const CONFINED: bool>($state: *mut lua_State) -> c_int {
            // SAFETY: called by Lua as a C function with its own live state; the body reads its
            // arguments from that state and pushes its results there, and whatever it owns is
            // dropped before `run` raises its error (strings it pushes are pushed protected).
            unsafe {
                with_vm($state, |$ctx| {
                    let $net = Net::<CONFINED> { ctx: $ctx };
                    $body
                })
            }
        }
    };
}

lua_fn!(connect, |state, net, ctx| {
    let (host, port) = address_args(state, 1)?;
    net.connect("connect", host, port)?;
    let id = server(ctx)?.connect(ctx.service.handle(), host, port).map_err(io_failure)?;
    push_int(state, i64::from(id))
});

lua_fn!(close, |state, net, ctx| {
    server(ctx)?.close(id_arg(state, 1)?, net.access());
    Ok(0)
});

lua_fn!(shutdown, |state, net, ctx| {
    server(ctx)?.shutdown(id_arg(state, 1)?, net.access());
    Ok(0)
});

lua_fn!(listen, |state, net, ctx| {
    let (host, port) = address_args(state, 1)?;
    net.listen("listen", host, port)?;
    let backlog = if ffi::lua_isnoneornil(state, 3) != 0 { 32 } else { integer_arg(state, 3, "backlog")? };
    let backlog = i32::try_from(backlog).unwrap_or(32);
    let id = server(ctx)?
        .listen(ctx.service.handle(), host, port, backlog)
        .map_err(|e| Failure::Text(format!("Listen error: {e}")))?;
    push_int(state, i64::from(id))
});

unsafe fn send_with(state: *mut lua_State, ctx: &VmCtx, low: bool, access: Access) -> Outcome {
    // SAFETY: reading the arguments of a live call.
    unsafe {
        let id = id_arg(state, 1)?;
        let data = payload_arg(state, ctx, 2)?;
        push_bool(state, server(ctx)?.send(id, data, low, access))
    }
}

lua_fn!(send, |state, net, ctx| send_with(state, ctx, false, net.access()));
lua_fn!(lsend, |state, net, ctx| send_with(state, ctx, true, net.access()));

lua_fn!(bind, |state, net, ctx| {
    if CONFINED {
        let profile = ctx.service.profile().name();
        return Err(net.refuse(format!(
            "socket bind refused: profile {profile} may not use the process's descriptors"
        )));
    }
    let fd = integer_arg(state, 1, "bind")?;
    let fd = c_int::try_from(fd).map_err(|_| Failure::Text(format!("Invalid fd {fd}")))?;
    let id = server(ctx)?.bind(ctx.service.handle(), fd).map_err(io_failure)?;
    push_int(state, i64::from(id))
});

lua_fn!(start, |state, net, ctx| {
    server(ctx)?.start_socket(ctx.service.handle(), id_arg(state, 1)?, net.access());
    Ok(0)
});

lua_fn!(pause, |state, net, ctx| {
    server(ctx)?.pause(id_arg(state, 1)?, net.access());
    Ok(0)
});

lua_fn!(nodelay, |state, net, ctx| {
    server(ctx)?.nodelay(id_arg(state, 1)?, net.access());
    Ok(0)
});

// skybox's: forward(id, address, client) cuts stream id's frames (2-byte big-endian length) on
// the socket thread and sends each to `address` as PTYPE_CLIENT from `client`, session id; the
// owner still gets every other event. forward(id) stops (an incomplete frame goes back to the
// owner as DATA). Returns false for an id that is not a live stream.
lua_fn!(forward, |state, net, ctx| {
    let id = id_arg(state, 1)?;
    let to = if ffi::lua_isnoneornil(state, 2) != 0 {
        None
    } else {
        let address = integer_arg(state, 2, "forward")?;
        // An untrusted service forwards as itself by default (0 would be the system's address).
        let default_client = if CONFINED { i64::from(ctx.service.handle()) } else { 0 };
        let client = if ffi::lua_isnoneornil(state, 3) != 0 {
            default_client
        } else {
            integer_arg(state, 3, "forward")?
        };
        let handle =
            |n: i64| u32::try_from(n).map_err(|_| Failure::Text(format!("forward: bad address {n}")));
        let (to, client) = (handle(address)?, handle(client)?);
        net.forward(to, client)?;
        Some((to, client))
    };
    push_bool(state, server(ctx)?.forward(id, to, net.access()))
});

lua_fn!(udp, |state, net, ctx| {
    let bind = if ffi::lua_isnoneornil(state, 1) != 0 && ffi::lua_isnoneornil(state, 2) != 0 {
        net.network("udp")?;
        None
    } else {
        let (host, port) = address_args(state, 1)?;
        if port == 0 {
            net.network("udp")?;
        } else {
            net.listen("udp", host, port)?;
        }
        Some(addr::bind_addr(host, port).map_err(io_failure)?)
    };
    let id = server(ctx)?
        .udp(ctx.service.handle(), bind)
        .map_err(|e| Failure::Text(format!("udp init failed: {e}")))?;
    push_int(state, i64::from(id))
});

lua_fn!(udp_connect, |state, net, ctx| {
    let id = id_arg(state, 1)?;
    let (host, port) = address_args(state, 2)?;
    net.connect("udp_connect", host, port)?;
    let to = addr::resolve(host, port).map_err(|e| Failure::Text(format!("udp connect failed: {e}")))?[0];
    server(ctx)?
        .udp_connect(id, to, net.access())
        .map_err(|e| Failure::Text(format!("udp connect failed: {e}")))?;
    Ok(0)
});

lua_fn!(udp_dial, |state, net, ctx| {
    let (host, port) = address_args(state, 1)?;
    net.connect("udp_dial", host, port)?;
    let id = server(ctx)?
        .udp_dial(ctx.service.handle(), host, port)
        .map_err(|e| Failure::Text(format!("udp dial host failed: {e}")))?;
    push_int(state, i64::from(id))
});

lua_fn!(udp_listen, |state, net, ctx| {
    let (host, port) = address_args(state, 1)?;
    net.listen("udp_listen", host, port)?;
    let id = server(ctx)?
        .udp_listen(ctx.service.handle(), host, port)
        .map_err(|e| Failure::Text(format!("udp listen host failed: {e}")))?;
    push_int(state, i64::from(id))
});

lua_fn!(udp_send, |state, net, ctx| {
    let id = id_arg(state, 1)?;
    let address = raw::string_at(state, 2).ok_or(Failure::Static("udp_send: address string expected"))?;
    let Some(to) = udp_address::decode(address) else {
        return push_bool(state, false);
    };
    if CONFINED {
        net.connect("udp_send", &to.ip().to_string(), to.port())?;
    }
    let data = payload_arg(state, ctx, 3)?;
    push_bool(state, server(ctx)?.udp_send(id, to, data, net.access()))
});

/// Pushes a table built by `fill` (strings allocate: in a protected call, so an out-of-memory
/// error never jumps over the Rust values `fill` reads) and returns 1, or the error.
unsafe fn push_table(state: *mut lua_State, mut fill: impl FnMut(*mut lua_State)) -> Outcome {
    // SAFETY: `fill` only pushes onto the table and borrows what the caller owns.
    let status = unsafe {
        raw::protect(state, 0, 1, &mut |state| {
            fill(state);
            1
        })
    };
    if status == ffi::LUA_OK { Ok(1) } else { Err(Failure::Static("not enough memory")) }
}

/// Pushes `text` as a Lua string.
unsafe fn push_str(state: *mut lua_State, text: &str) {
    // SAFETY: a live state; callers run this inside `protect`.
    unsafe { ffi::lua_pushlstring(state, text.as_ptr().cast(), text.len()) };
}

lua_fn!(udp_address_fn, |state, _net, _ctx| {
    let bytes = raw::string_at(state, 1).unwrap_or_default();
    // As skynet: the family follows the length.
    let family = match bytes.len() {
        7 => 1u8,
        19 => 2,
        _ => return Err(Failure::Static("Invalid udp address")),
    };
    let fixed = [&[family][..], &bytes[1..]].concat();
    let at = udp_address::decode(&fixed).ok_or(Failure::Static("Invalid udp address"))?;
    let ip = at.ip().to_string();
    let status = raw::protect(state, 0, 2, &mut |state| {
        push_str(state, &ip);
        ffi::lua_pushinteger(state, ffi::lua_Integer::from(at.port()));
        2
    });
    if status == ffi::LUA_OK { Ok(2) } else { Err(Failure::Static("not enough memory")) }
});

lua_fn!(resolve, |state, net, _ctx| {
    let host = str_arg(state, 1, "host")?;
    net.network("resolve")?;
    let addrs: Vec<String> =
        addr::resolve(host, 0).map_err(io_failure)?.iter().map(|a| a.ip().to_string()).collect();
    push_table(state, |state| {
        ffi::lua_createtable(state, addrs.len() as c_int, 0);
        for (i, ip) in addrs.iter().enumerate() {
            push_str(state, ip);
            ffi::lua_rawseti(state, -2, i as ffi::lua_Integer + 1);
        }
    })
});

/// Sets `t[key] = value` on the table on top of the stack.
unsafe fn set_int(state: *mut lua_State, key: &CStr, value: i64) {
    // SAFETY: a table is on top of a live state; callers run this inside `protect`.
    unsafe {
        ffi::lua_pushinteger(state, value);
        ffi::lua_setfield(state, -2, key.as_ptr());
    }
}

lua_fn!(info, |state, _net, ctx| {
    let mut list = server(ctx)?.info();
    if CONFINED {
        // Other services' sockets (and peers) are not an untrusted service's to see.
        list.retain(|s| s.owner == ctx.service.handle());
    }
    push_table(state, |state| {
        ffi::lua_createtable(state, list.len() as c_int, 0);
        for (i, s) in list.iter().enumerate() {
            ffi::lua_createtable(state, 0, 12);
            set_int(state, c"id", i64::from(s.id));
            set_int(state, c"address", i64::from(s.owner));
            push_str(state, s.kind);
            ffi::lua_setfield(state, -2, c"type".as_ptr());
            set_int(state, c"rtime", s.rtime as i64);
            if s.kind == "LISTEN" {
                set_int(state, c"accept", s.read as i64);
            } else {
                set_int(state, c"read", s.read as i64);
                set_int(state, c"write", s.write as i64);
                set_int(state, c"wbuffer", s.wbuffer as i64);
                set_int(state, c"wtime", s.wtime as i64);
                ffi::lua_pushboolean(state, c_int::from(s.reading));
                ffi::lua_setfield(state, -2, c"reading".as_ptr());
                ffi::lua_pushboolean(state, c_int::from(s.writing));
                ffi::lua_setfield(state, -2, c"writing".as_ptr());
            }
            if let Some(name) = &s.name {
                push_str(state, name);
                let key = if s.kind == "LISTEN" { c"sock" } else { c"peer" };
                ffi::lua_setfield(state, -2, key.as_ptr());
            }
            ffi::lua_rawseti(state, -2, i as ffi::lua_Integer + 1);
        }
    })
});
