//! The host imports of `guest-sdk/ABI.md` (module `skybox`), with safe wrappers.
//!
//! This is the only place where the SDK crosses into the host. The raw imports take pointers
//! into linear memory and return negative codes for errors; each wrapper takes Rust slices and
//! returns a [`Result`] with an [`AbiError`]. Held messages are wrapped by
//! [`Held`](crate::Held), which owns its handle.
//!
//! On targets other than `wasm32` there is no host to import from: the wrappers call the mock
//! host of [`testing`](crate::testing) when a test installed one, and panic otherwise, so the SDK
//! (and guests) build and unit-test natively.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Message type numbers, skynet's (`skynet.h`).
pub mod ptype {
    /// Text, `skynet.PTYPE_TEXT`.
    pub const TEXT: u8 = 0;
    /// A reply to a request, with the request's session.
    pub const RESPONSE: u8 = 1;
    /// skynet's multicast channels (`skynet.multicast`).
    pub const MULTICAST: u8 = 2;
    /// Client traffic (a gate to its agents); also the exit notice sent to the `MONITOR` service.
    pub const CLIENT: u8 = 3;
    /// System messages; the boot message of a launch is SYSTEM, from 0, session 0, empty.
    pub const SYSTEM: u8 = 4;
    /// Messages to the harbor service (global names).
    pub const HARBOR: u8 = 5;
    /// Socket events from the socket thread (layout in [`socket`](crate::socket)).
    pub const SOCKET: u8 = 6;
    /// A failed request (with its session), or "I am gone" (session 0).
    pub const ERROR: u8 = 7;
    /// skynet's `PTYPE_QUEUE`, of the deprecated mqueue.
    pub const QUEUE: u8 = 8;
    /// The debug protocol every service answers (`PING`, `LINK`, `MEM`, `STAT`, ...).
    pub const DEBUG: u8 = 9;
    /// skynet's `lua` protocol: payloads in the [`codec`](crate::codec) format.
    pub const LUA: u8 = 10;
    /// skynet's snax framework.
    pub const SNAX: u8 = 11;
    /// A trace tag announcing the sender's next request.
    pub const TRACE: u8 = 12;

    const NAMES: [&str; 13] = [
        "text",
        "response",
        "multicast",
        "client",
        "system",
        "harbor",
        "socket",
        "error",
        "queue",
        "debug",
        "lua",
        "snax",
        "trace",
    ];

    /// The type number of a protocol name (`"lua"` is 10), as `skynet.send` takes them.
    pub fn by_name(name: &str) -> Option<u8> {
        NAMES.iter().position(|n| *n == name).map(|i| i as u8)
    }

    /// The protocol name of a type number.
    pub fn name(ptype: u8) -> Option<&'static str> {
        NAMES.get(usize::from(ptype)).copied()
    }
}

/// `session` for [`send`] and friends: allocate a new session for a request.
pub const NEW_SESSION: i32 = -1;

/// The import module every host function comes from.
pub const MODULE: &str = "skybox";
/// Export: the guest's linear memory.
pub const EXPORT_MEMORY: &str = "memory";
/// Export `(size: i32) -> i32`: a block of `size` bytes for the host to fill, 0 on failure.
pub const EXPORT_ALLOC: &str = "skybox_alloc";
/// Export `(args_ptr: i32, args_len: i32)`: the service's first message.
pub const EXPORT_START: &str = "skybox_start";
/// Export `(ptype, session, source, ptr, size, msg: i32)`: one message.
pub const EXPORT_DISPATCH: &str = "skybox_dispatch";

/// Import result: a pointer or size outside memory, bad UTF-8, a bad type number, a malformed
/// argument.
pub const ERR_ARG: i32 = -1;
/// Import result: no service at that address or name.
pub const ERR_DEST: i32 = -2;
/// Import result: not a live held-message handle of this guest.
pub const ERR_HANDLE: i32 = -3;
/// Import result: the command has no result (skynet's NULL).
pub const ERR_NONE: i32 = -4;
/// Import result: the command failed (the host logs why).
pub const ERR_COMMAND: i32 = -5;
/// Import result: this guest is not granted that (the network: config `wasm_net`).
pub const ERR_DENIED: i32 = -6;
/// Import result: not a live socket of this guest.
pub const ERR_SOCKET: i32 = -7;
/// Import result: the system refused (a bind, a new socket; the host logs why).
pub const ERR_IO: i32 = -8;
/// Import result: a limit is reached: the receiver's mailbox, or what the sender's tenant may
/// have in flight (the host logs which); the message was not sent, a later try may pass.
pub const ERR_FULL: i32 = -9;

/// A service address (skynet's handle): harbor id in the high 8 bits, local index in the low 24.
///
/// Displays and parses as skynet prints handles, `:0000000a`. In messages it is a plain integer,
/// as Lua services pass addresses.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Address(pub u32);

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, ":{:08x}", self.0)
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Address {
    type Err = AbiError;

    /// `:0000000a` (or bare hex, 1 to 8 digits): the one address parser, the host's too.
    fn from_str(text: &str) -> Result<Self, AbiError> {
        let hex = text.strip_prefix(':').unwrap_or(text);
        // from_str_radix alone would take a sign.
        if hex.is_empty() || hex.len() > 8 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(AbiError::Arg);
        }
        u32::from_str_radix(hex, 16).map(Address).map_err(|_| AbiError::Arg)
    }
}

/// An error code returned by a host import.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AbiError {
    /// `ERR_ARG` (-1): a pointer or size outside memory, bad UTF-8, a bad type number, a
    /// malformed argument.
    Arg,
    /// `ERR_DEST` (-2): no service at that address or name.
    Dest,
    /// `ERR_HANDLE` (-3): not a live held-message handle of this guest.
    Handle,
    /// `ERR_NONE` (-4): the command has no result.
    None,
    /// `ERR_COMMAND` (-5): the command failed (the host logs why).
    Command,
    /// `ERR_DENIED` (-6): this guest is not granted that.
    Denied,
    /// `ERR_SOCKET` (-7): not a live socket of this guest.
    Socket,
    /// `ERR_IO` (-8): the system refused (the host logs why).
    Io,
    /// `ERR_FULL` (-9): a limit is reached (the receiver's mailbox, the tenant's messages in
    /// flight); nothing was sent.
    Full,
    /// A negative code this SDK does not know.
    Other(i32),
}

impl AbiError {
    /// The error for a negative import result.
    pub fn from_code(code: i32) -> AbiError {
        match code {
            ERR_ARG => AbiError::Arg,
            ERR_DEST => AbiError::Dest,
            ERR_HANDLE => AbiError::Handle,
            ERR_NONE => AbiError::None,
            ERR_COMMAND => AbiError::Command,
            ERR_DENIED => AbiError::Denied,
            ERR_SOCKET => AbiError::Socket,
            ERR_IO => AbiError::Io,
            ERR_FULL => AbiError::Full,
            other => AbiError::Other(other),
        }
    }

    /// The code of this error, as the host returns it.
    pub fn code(self) -> i32 {
        match self {
            AbiError::Arg => ERR_ARG,
            AbiError::Dest => ERR_DEST,
            AbiError::Handle => ERR_HANDLE,
            AbiError::None => ERR_NONE,
            AbiError::Command => ERR_COMMAND,
            AbiError::Denied => ERR_DENIED,
            AbiError::Socket => ERR_SOCKET,
            AbiError::Io => ERR_IO,
            AbiError::Full => ERR_FULL,
            AbiError::Other(code) => code,
        }
    }
}

impl fmt::Display for AbiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AbiError::Arg => f.write_str("bad argument to a host call"),
            AbiError::Dest => f.write_str("no such service"),
            AbiError::Handle => f.write_str("not a live held message"),
            AbiError::None => f.write_str("no result"),
            AbiError::Command => f.write_str("command failed"),
            AbiError::Denied => f.write_str("not granted to this service"),
            AbiError::Socket => f.write_str("not a live socket of this service"),
            AbiError::Io => f.write_str("refused by the system (the node's log says why)"),
            AbiError::Full => f.write_str("a limit is reached (the node's log says which)"),
            AbiError::Other(code) => write!(f, "host error {code}"),
        }
    }
}

impl std::error::Error for AbiError {}

/// A non-negative import result, or its error.
pub(crate) fn check(code: i32) -> Result<i32, AbiError> {
    if code < 0 { Err(AbiError::from_code(code)) } else { Ok(code) }
}

/// The host's imports, exactly as ABI.md declares them.
#[cfg(target_arch = "wasm32")]
mod sys {
    #[link(wasm_import_module = "skybox")]
    unsafe extern "C" {
        pub(super) fn send(dest: i32, ptype: i32, session: i32, ptr: *const u8, size: i32) -> i32;
        pub(super) fn send_name(
            name_ptr: *const u8,
            name_len: i32,
            ptype: i32,
            session: i32,
            ptr: *const u8,
            size: i32,
        ) -> i32;
        pub(super) fn redirect(
            dest: i32,
            source: i32,
            ptype: i32,
            session: i32,
            ptr: *const u8,
            size: i32,
        ) -> i32;
        pub(super) fn forward(dest: i32, source: i32, ptype: i32, session: i32, msg: i32) -> i32;
        pub(super) fn msg_read(msg: i32, offset: i32, ptr: *mut u8, len: i32) -> i32;
        pub(super) fn msg_size(msg: i32) -> i32;
        pub(super) fn msg_free(msg: i32) -> i32;
        pub(super) fn forward_type(ptype: i32, on: i32) -> i32;
        pub(super) fn genid() -> i32;
        pub(super) fn timeout(ticks: i32) -> i32;
        pub(super) fn now() -> i64;
        pub(super) fn hpc() -> i64;
        #[link_name = "self"]
        pub(super) fn self_address() -> i32;
        pub(super) fn log(ptr: *const u8, len: i32);
        pub(super) fn command(
            cmd_ptr: *const u8,
            cmd_len: i32,
            param_ptr: *const u8,
            param_len: i32,
            out_ptr: *mut u8,
            out_cap: i32,
        ) -> i32;
        pub(super) fn exit();
    }
}

#[cfg(target_arch = "wasm32")]
/// A slice length as the ABI's `i32`; a longer slice cannot be passed (and cannot exist in a
/// 32-bit guest short of 2 GiB in one block).
fn len_i32(bytes: &[u8]) -> Result<i32, AbiError> {
    i32::try_from(bytes.len()).map_err(|_| AbiError::Arg)
}

/// Runs one import: through `sys` in a wasm guest, through the installed mock host natively.
/// `$native` is the mock's method, called with the same (safe) arguments.
macro_rules! import {
    (unsafe $wasm:expr, $native:expr) => {{
        #[cfg(target_arch = "wasm32")]
        // SAFETY: each call site passes pointers/lengths taken from live Rust slices (or 0/0),
        // which the host only reads or writes within those bounds during the call.
        let result = unsafe { $wasm };
        #[cfg(not(target_arch = "wasm32"))]
        let result = crate::testing::with_host($native);
        result
    }};
}

pub mod files;
pub mod net;

/// Sends `data` (copied) to `dest` as a message of type `ptype`. `session`: 0 for a one-way
/// message, > 0 to answer that session, [`NEW_SESSION`] to allocate one. Returns the session.
pub fn send(dest: Address, ptype: u8, session: i32, data: &[u8]) -> Result<i32, AbiError> {
    check(import!(
        unsafe sys::send(dest.0 as i32, i32::from(ptype), session, data.as_ptr(), len_i32(data)?),
        |h| h.send(dest, ptype, session, data)
    ))
}

/// As [`send`], to a name (`.launcher`) or a printed address (`:0000000a`).
pub fn send_name(name: &str, ptype: u8, session: i32, data: &[u8]) -> Result<i32, AbiError> {
    check(import!(
        unsafe sys::send_name(
            name.as_ptr(),
            len_i32(name.as_bytes())?,
            i32::from(ptype),
            session,
            data.as_ptr(),
            len_i32(data)?
        ),
        |h| h.send_name(name, ptype, session, data)
    ))
}

/// As [`send`], with an explicit source address.
pub fn redirect(
    dest: Address,
    source: Address,
    ptype: u8,
    session: i32,
    data: &[u8],
) -> Result<i32, AbiError> {
    check(import!(
        unsafe sys::redirect(dest.0 as i32, source.0 as i32, i32::from(ptype), session, data.as_ptr(), len_i32(data)?),
        |h| h.redirect(dest, source, ptype, session, data)
    ))
}

/// Sends held message `msg` as the payload, without copying it into guest memory; the handle is
/// consumed whatever the outcome (unless the error is [`AbiError::Handle`]). `source`
/// `None` means this guest. Prefer [`Held::forward`](crate::Held::forward), which owns the
/// handle.
pub fn forward(
    dest: Address,
    source: Option<Address>,
    ptype: u8,
    session: i32,
    msg: i32,
) -> Result<i32, AbiError> {
    let source = source.map_or(0, |a| a.0 as i32);
    check(import!(
        unsafe sys::forward(dest.0 as i32, source, i32::from(ptype), session, msg),
        |h| h.forward(dest, source as u32, ptype, session, msg)
    ))
}

/// Copies up to `buf.len()` bytes of held message `msg`, from `offset`, into `buf`; returns the
/// count.
pub fn msg_read(msg: i32, offset: usize, buf: &mut [u8]) -> Result<usize, AbiError> {
    let offset = i32::try_from(offset).map_err(|_| AbiError::Arg)?;
    let n = check(import!(
        unsafe sys::msg_read(msg, offset, buf.as_mut_ptr(), len_i32(buf)?),
        |h| h.msg_read(msg, offset as usize, buf)
    ))?;
    Ok(n as usize)
}

/// The size of held message `msg`.
pub fn msg_size(msg: i32) -> Result<usize, AbiError> {
    Ok(check(import!(unsafe sys::msg_size(msg), |h| h.msg_size(msg)))? as usize)
}

/// Drops held message `msg`. Prefer dropping the [`Held`](crate::Held) that owns it.
pub fn msg_free(msg: i32) -> Result<(), AbiError> {
    check(import!(unsafe sys::msg_free(msg), |h| h.msg_free(msg))).map(drop)
}

/// `on`: messages of `ptype` are delivered held (by handle) from now on; otherwise copied into
/// guest memory (the default).
pub fn forward_type(ptype: u8, on: bool) -> Result<(), AbiError> {
    check(import!(unsafe sys::forward_type(i32::from(ptype), i32::from(on)), |h| h.forward_type(ptype, on)))
        .map(drop)
}

/// A new session id.
pub fn genid() -> i32 {
    import!(unsafe sys::genid(), |h| h.genid())
}

/// After `ticks` hundredths of a second this guest receives a RESPONSE with the returned session
/// (at once for `ticks <= 0`).
pub fn timeout(ticks: i32) -> Result<i32, AbiError> {
    check(import!(unsafe sys::timeout(ticks), |h| h.timeout(ticks)))
}

/// Hundredths of a second since the node started (`skynet.now`).
pub fn now() -> i64 {
    import!(unsafe sys::now(), |h| h.now())
}

/// Monotonic nanoseconds (`skynet.hpc`).
pub fn hpc() -> i64 {
    import!(unsafe sys::hpc(), |h| h.hpc())
}

/// This guest's own address.
pub fn self_address() -> Address {
    Address(import!(unsafe sys::self_address(), |h| h.self_address().0 as i32) as u32)
}

/// Writes one log line, as `skynet.error`.
pub fn log(text: &str) {
    // A line too long for the ABI is cut rather than lost.
    let bytes = &text.as_bytes()[..text.len().min(i32::MAX as usize)];
    import!(unsafe sys::log(bytes.as_ptr(), bytes.len() as i32), |h| h.log(bytes))
}

/// Runs a skynet command (`REG`, `NAME`, `QUERY`, `LAUNCH`, `KILL`, `GETENV`, `STAT`, ...), with
/// a parameter or without one (skynet's NULL, not the same as an empty string: `REG` without a
/// parameter answers the guest's address, with one it registers a name). `Ok(None)` when the
/// command has no result.
pub fn command(cmd: &str, param: Option<&str>) -> Result<Option<String>, AbiError> {
    let mut out = vec![0u8; 64];
    loop {
        let result = import!(
            unsafe {
                let (param_ptr, param_len) = match param {
                    Some(p) => (p.as_ptr(), len_i32(p.as_bytes())?),
                    // ABI.md: (0, 0) is "no parameter".
                    None => (std::ptr::null(), 0),
                };
                sys::command(
                    cmd.as_ptr(),
                    len_i32(cmd.as_bytes())?,
                    param_ptr,
                    param_len,
                    out.as_mut_ptr(),
                    len_i32(&out)?,
                )
            },
            |h| h.command(cmd, param, &mut out)
        );
        let len = match check(result) {
            Ok(len) => len as usize,
            Err(AbiError::None) => return Ok(None),
            Err(e) => return Err(e),
        };
        if len <= out.len() {
            out.truncate(len);
            return Ok(Some(String::from_utf8_lossy(&out).into_owned()));
        }
        // The result did not fit: run the command again with room for all of it. (Commands
        // with side effects, LAUNCH included, answer with a short address, which always fits.)
        out.resize(len, 0);
    }
}

/// Makes this guest exit after the current message. Prefer [`crate::exit`], which also fails
/// the requests this guest still holds.
pub fn exit() {
    import!(unsafe sys::exit(), |h| h.exit())
}

/// The size of this guest's linear memory in bytes (0 natively).
pub fn memory_size() -> usize {
    #[cfg(target_arch = "wasm32")]
    {
        core::arch::wasm32::memory_size(0) * 65536
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        0
    }
}
