//! The socket imports of module `skybox` (ABI.md, "Sockets"): a guest's way to the node's socket
//! server, the same one Lua services use.
//!
//! Confinement, checked on every call:
//! - nothing unless the node grants this guest the network (config `wasm_net`, or its profile's
//!   `listen`/`connect`): `ERR_DENIED`;
//! - with profile rules, only the ports it may listen on or bind and the peers it may connect or
//!   send a datagram to: `ERR_DENIED` and a log line otherwise;
//! - only the guest's own sockets (`Access::Owner`): a forged, stale or another service's id is
//!   `ERR_SOCKET`, and the operation reaches nothing;
//! - `listen` and `udp` bind IP literals only (or `""`), so no name lookup blocks the worker;
//!   `connect` takes names, looked up on the server's resolver thread.
//!
//! Ownership at the boundary: bytes to send are copied out of guest memory into a `Vec` that
//! moves into the socket's queue (or is written at once); events come back as `PTYPE_SOCKET`
//! messages like any other.

use std::io;
use std::sync::Arc;

use skybox_sdk::socket::udp_address;
use wasmtime::Linker;

use super::abi::{AbiError, MODULE, to_code};
use super::imports::{Ctx, guest_memory};
use super::memory;
use super::recorded;
use super::state::{GuestState, Network};
use crate::core::profile::NetRules;
use crate::socket::{Access, Server, addr, sockets};

/// An operation on one of the guest's own sockets: `(server, the guest, socket id)`.
type SocketOp = fn(&Server, u32, i32);

/// The imports that take a socket id alone.
const OPS: [(&str, SocketOp); 5] = [
    ("socket_start", |server, owner, id| server.start_socket(owner, id, Access::Owner(owner))),
    ("socket_pause", |server, owner, id| server.pause(id, Access::Owner(owner))),
    ("socket_nodelay", |server, owner, id| server.nodelay(id, Access::Owner(owner))),
    ("socket_close", |server, owner, id| server.close(id, Access::Owner(owner))),
    ("socket_shutdown", |server, owner, id| server.shutdown(id, Access::Owner(owner))),
];

/// Defines the socket imports on `l`.
pub(super) fn define(l: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    // Each through the tape (see `recorded`): a replay opens and sends nothing.
    l.func_wrap(MODULE, "socket_listen", |mut c: Ctx, ptr: i32, len: i32, port: i32, backlog: i32| {
        recorded::import(&mut c, "socket_listen", &[ptr, len, port, backlog], |c| {
            to_code(open(c, ptr, len, "listen", |server, owner, host, rules| {
                let port = port_arg(port)?;
                allowed(rules, |r| r.may_listen(port))?;
                server.listen(owner, &literal(host, port)?.ip().to_string(), port, backlog)
            }))
        })
    })?;
    l.func_wrap(MODULE, "socket_connect", |mut c: Ctx, ptr: i32, len: i32, port: i32| {
        recorded::import(&mut c, "socket_connect", &[ptr, len, port], |c| {
            to_code(open(c, ptr, len, "connect", |server, owner, host, rules| {
                let port = port_arg(port)?;
                allowed(rules, |r| r.may_connect(host, port))?;
                server.connect(owner, host, port)
            }))
        })
    })?;
    l.func_wrap(MODULE, "socket_udp", |mut c: Ctx, ptr: i32, len: i32, port: i32| {
        recorded::import(&mut c, "socket_udp", &[ptr, len, port], |c| {
            to_code(open(c, ptr, len, "udp", |server, owner, host, rules| {
                let port = port_arg(port)?;
                if port != 0 {
                    allowed(rules, |r| r.may_listen(port))?;
                }
                let bind = if host.is_empty() && port == 0 { None } else { Some(literal(host, port)?) };
                server.udp(owner, bind)
            }))
        })
    })?;
    for (name, op) in OPS {
        l.func_wrap(MODULE, name, move |mut c: Ctx, id: i32| {
            recorded::import(&mut c, name, &[id], |c| {
                to_code(on_own(c, id, |server, owner| op(server, owner, id)))
            })
        })?;
    }
    l.func_wrap(MODULE, "socket_send", |mut c: Ctx, id: i32, ptr: i32, len: i32, low: i32| {
        recorded::import(&mut c, "socket_send", &[id, ptr, len, low], |c| {
            to_code(send(c, id, None, ptr, len, low != 0))
        })
    })?;
    l.func_wrap(
        MODULE,
        "socket_send_to",
        |mut c: Ctx, id: i32, addr_ptr: i32, addr_len: i32, ptr: i32, len: i32| {
            recorded::import(&mut c, "socket_send_to", &[id, addr_ptr, addr_len, ptr, len], |c| {
                to_code(send(c, id, Some((addr_ptr, addr_len)), ptr, len, false))
            })
        },
    )?;
    Ok(())
}

/// Checks an opening against the guest's profile rules (`None`: no rules apply).
fn allowed(rules: Option<&NetRules>, ok: impl FnOnce(&NetRules) -> bool) -> io::Result<()> {
    match rules {
        Some(rules) if !ok(rules) => Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "not allowed by its profile's listen/connect",
        )),
        _ => Ok(()),
    }
}

/// The node's socket server, if this guest is granted the network.
fn server(st: &mut GuestState) -> Result<Arc<Server>, AbiError> {
    if matches!(st.network, Network::None) {
        return Err(AbiError::Denied);
    }
    if let Some(server) = &st.sockets {
        return Ok(server.clone());
    }
    let server = sockets(&st.node).map_err(|e| {
        st.node.log(st.handle, format!("sockets: {e:#}"));
        AbiError::Io
    })?;
    st.sockets = Some(server.clone());
    Ok(server)
}

fn port_arg(port: i32) -> io::Result<u16> {
    u16::try_from(port)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, format!("Invalid port {port}")))
}

/// `host:port` to bind, when `host` is an IP literal (or `""`: every IPv4 interface); checked
/// here, so that no name lookup runs on the worker.
fn literal(host: &str, port: u16) -> io::Result<std::net::SocketAddr> {
    let host = if host.is_empty() { "0.0.0.0" } else { host };
    addr::literal(host, port).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("'{host}' is not an IP address (a guest binds IPs only)"),
        )
    })
}

/// Opens a socket at the host named in guest memory; a refusal is logged with its reason and is
/// `ERR_ARG` for a bad argument (a port out of range, a name where an IP is needed), `ERR_IO`
/// for the system's.
fn open(
    c: &mut Ctx,
    ptr: i32,
    len: i32,
    what: &str,
    make: impl FnOnce(&Server, u32, &str, Option<&NetRules>) -> io::Result<i32>,
) -> Result<i32, AbiError> {
    let server = server(c.data_mut())?;
    let m = guest_memory(c)?;
    let (mem, st) = m.data_and_store_mut(&mut *c);
    let host = memory::read_str(mem, ptr, len)?;
    let rules = match &st.network {
        Network::Rules(rules) => Some(rules),
        _ => None,
    };
    make(&server, st.handle, host, rules).map_err(|e| {
        st.node.log(st.handle, format!("socket {what} {host}: {e}"));
        match e.kind() {
            io::ErrorKind::InvalidInput => AbiError::Arg,
            io::ErrorKind::PermissionDenied => AbiError::Denied,
            _ => AbiError::Io,
        }
    })
}

/// Runs `op` on socket `id` if this guest owns it.
fn on_own(c: &mut Ctx, id: i32, op: impl FnOnce(&Server, u32)) -> Result<i32, AbiError> {
    let st = c.data_mut();
    let server = server(st)?;
    if !server.owns(id, st.handle) {
        return Err(AbiError::Socket);
    }
    op(&server, st.handle);
    Ok(0)
}

/// `socket_send` / `socket_send_to`: the bytes are copied out of guest memory into the queue.
fn send(
    c: &mut Ctx,
    id: i32,
    to: Option<(i32, i32)>,
    ptr: i32,
    len: i32,
    low: bool,
) -> Result<i32, AbiError> {
    let server = server(c.data_mut())?;
    let m = guest_memory(c)?;
    let (mem, st) = m.data_and_store_mut(&mut *c);
    let data = memory::read(mem, ptr, len)?.to_vec();
    let access = Access::Owner(st.handle);
    let sent = match to {
        None => server.send(id, data, low, access),
        Some((addr_ptr, addr_len)) => {
            let to = udp_address::decode(memory::read(mem, addr_ptr, addr_len)?).ok_or(AbiError::Arg)?;
            if let Network::Rules(rules) = &st.network
                && !rules.may_connect(&to.ip().to_string(), to.port())
            {
                st.node.log(st.handle, format!("socket send to {to}: not allowed by its profile's connect"));
                return Err(AbiError::Denied);
            }
            server.udp_send(id, to, data, access)
        }
    };
    if sent { Ok(0) } else { Err(AbiError::Socket) }
}
