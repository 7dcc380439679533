//! The network functions of `skynet.socketdriver` (connect, listen, send, close, start, udp..., info, resolve) are added here.

use mlua::ffi::lua_State;

/// Adds the network functions to the `skynet.socketdriver` table on top of `state`'s stack (none
/// yet: a placeholder that keeps the module building until they land).
///
/// # Safety
/// `state` is a live thread of a service's VM, with the module table on top of its stack.
pub(super) unsafe fn register(_state: *mut lua_State) {}
