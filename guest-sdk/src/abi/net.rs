//! The network imports (ABI.md, "Sockets"), with safe wrappers. Prefer [`crate::net`], which
//! owns its sockets and turns their events into futures.
//!
//! Every call is refused with [`AbiError::Denied`] unless the node grants this guest the network
//! (config `wasm_net`); an id that is not a live socket of this guest is [`AbiError::Socket`].
//! Events come back as `PTYPE_SOCKET` messages (layout: [`crate::socket`]).

use super::{AbiError, check};

#[cfg(target_arch = "wasm32")]
use super::len_i32;

#[cfg(target_arch = "wasm32")]
mod sys {
    #[link(wasm_import_module = "skybox")]
    unsafe extern "C" {
        pub(super) fn socket_listen(host_ptr: *const u8, host_len: i32, port: i32, backlog: i32) -> i32;
        pub(super) fn socket_connect(host_ptr: *const u8, host_len: i32, port: i32) -> i32;
        pub(super) fn socket_udp(host_ptr: *const u8, host_len: i32, port: i32) -> i32;
        pub(super) fn socket_start(id: i32) -> i32;
        pub(super) fn socket_pause(id: i32) -> i32;
        pub(super) fn socket_nodelay(id: i32) -> i32;
        pub(super) fn socket_close(id: i32) -> i32;
        pub(super) fn socket_shutdown(id: i32) -> i32;
        pub(super) fn socket_send(id: i32, ptr: *const u8, len: i32, low: i32) -> i32;
        pub(super) fn socket_send_to(
            id: i32,
            addr_ptr: *const u8,
            addr_len: i32,
            ptr: *const u8,
            len: i32,
        ) -> i32;
    }
}

/// Listens on `host:port` (`""`: every IPv4 interface; port 0: any free port). The listener
/// accepts nothing until [`start`]ed; its first event is CONNECT with the bound port as `ud`.
pub fn listen(host: &str, port: u16, backlog: i32) -> Result<i32, AbiError> {
    check(import!(
        unsafe sys::socket_listen(host.as_ptr(), len_i32(host.as_bytes())?, i32::from(port), backlog),
        |h| h.net().listen(host, port, backlog)
    ))
}

/// Connects to `host:port` (a name is looked up off the workers). The id comes at once; CONNECT
/// or ERROR follows.
pub fn connect(host: &str, port: u16) -> Result<i32, AbiError> {
    check(import!(
        unsafe sys::socket_connect(host.as_ptr(), len_i32(host.as_bytes())?, i32::from(port)),
        |h| h.net().connect(host, port)
    ))
}

/// A UDP socket bound to `host:port` (`""` and 0: any IPv4 port), read at once (UDP events).
pub fn udp(host: &str, port: u16) -> Result<i32, AbiError> {
    check(import!(
        unsafe sys::socket_udp(host.as_ptr(), len_i32(host.as_bytes())?, i32::from(port)),
        |h| h.net().udp(host, port)
    ))
}

/// Starts reading socket `id` (an accepted stream, a listener); CONNECT "start" follows, or
/// ERROR.
pub fn start(id: i32) -> Result<(), AbiError> {
    check(import!(unsafe sys::socket_start(id), |h| h.net().op("start", id))).map(drop)
}

/// Stops reading socket `id` until it is started again.
pub fn pause(id: i32) -> Result<(), AbiError> {
    check(import!(unsafe sys::socket_pause(id), |h| h.net().op("pause", id))).map(drop)
}

/// Sets TCP_NODELAY on stream `id`.
pub fn nodelay(id: i32) -> Result<(), AbiError> {
    check(import!(unsafe sys::socket_nodelay(id), |h| h.net().op("nodelay", id))).map(drop)
}

/// Closes socket `id` once what is queued has been sent; CLOSE follows (unless it came already
/// at the peer's end).
pub fn close(id: i32) -> Result<(), AbiError> {
    check(import!(unsafe sys::socket_close(id), |h| h.net().op("close", id))).map(drop)
}

/// Closes socket `id` now, dropping what is queued.
pub fn shutdown(id: i32) -> Result<(), AbiError> {
    check(import!(unsafe sys::socket_shutdown(id), |h| h.net().op("shutdown", id))).map(drop)
}

/// Writes `data` (copied) to stream `id`, or to a UDP socket's default destination: at once
/// when nothing is queued, else queued (`low`: behind everything of normal priority).
pub fn send(id: i32, data: &[u8], low: bool) -> Result<(), AbiError> {
    check(import!(
        unsafe sys::socket_send(id, data.as_ptr(), len_i32(data)?, i32::from(low)),
        |h| h.net().send(id, data, low)
    ))
    .map(drop)
}

/// Sends one datagram `data` on UDP socket `id` to `to` (encoded by
/// [`udp_address::encode`](crate::socket::udp_address::encode)).
pub fn send_to(id: i32, to: &[u8], data: &[u8]) -> Result<(), AbiError> {
    check(import!(
        unsafe sys::socket_send_to(id, to.as_ptr(), len_i32(to)?, data.as_ptr(), len_i32(data)?),
        |h| h.net().send_to(id, to, data)
    ))
    .map(drop)
}
