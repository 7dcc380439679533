//! `skynet.cluster.core`: the frames of skynet's cluster protocol (the contract is skynet's
//! `lualib-src/lua-cluster.c`), for the cluster services in lua-guest.
//!
//! Every frame is a 2-byte big-endian length and its body; integers inside are little-endian
//! u32. A request or push whose message is larger than [`PART`] goes as a head naming the total
//! size followed by parts of at most [`PART`] bytes; so does a successful response. A request's
//! body starts with its kind:
//!
//! | kind | body |
//! |------|------|
//! | 0    | address, session (0: a push), message |
//! | 1 / 0x41 | address, session, size: a multi-part request / push follows |
//! | 2 / 3 | session, a part (3: the last) |
//! | 4    | a trace tag for the next request |
//! | 0x80 | name length, name, session (0: a push), message |
//! | 0x81 / 0xc1 | name length, name, session, size: a multi-part request / push by name |
//!
//! A response's body is the session and a kind: 0 an error text, 1 the message, 2 the size of a
//! multi-part response, 3 a part, 4 the last part.
//!
//! Messages are tokens of the VM's buffers (see `socketdriver`), or strings where skynet takes
//! strings; `packrequest` and `packpush` also take a string message (skybox's cluster proxy
//! forwards one). Malformed input is a Lua error (requests) or no values (responses), as in
//! skynet; nothing here trusts a length it did not check.

use std::ffi::c_int;

use mlua::ffi::{self, lua_State};
use mlua::{Lua, Table};

use super::native::VmCtx;
use super::raw;
use super::socketdriver::{
    Failure, bad_argument, integer_arg, push_block, push_owned_bytes, size_arg, state_mut, token_arg, with_vm,
};

/// The largest part of a multi-part message.
const PART: usize = 0x8000;
/// The largest trace tag.
const MAX_TAG: usize = 0x8000;

/// Where a request goes: a service address, or a name registered with `cluster.register`
/// (1 to 255 bytes; the caller's `@` is kept, as skynet sends it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target<'a> {
    Address(u32),
    Name(&'a [u8]),
}

/// One decoded request frame body.
#[derive(Debug, PartialEq, Eq)]
enum Request<'a> {
    /// A whole request (session > 0) or push (session 0).
    Whole { target: Target<'a>, session: u32, msg: &'a [u8] },
    /// The head of a multi-part request or push of `size` bytes.
    Head { target: Target<'a>, session: u32, size: u32, push: bool },
    /// A part of session's multi-part message; `last` ends it.
    Part { session: u32, msg: &'a [u8], last: bool },
    /// The trace tag of the next request.
    Trace(&'a [u8]),
}

/// One decoded response frame body.
#[derive(Debug, PartialEq, Eq)]
enum Response<'a> {
    /// A whole answer (`ok`) or an error text.
    Whole { session: u32, ok: bool, msg: &'a [u8] },
    /// The head of a multi-part answer of `size` bytes.
    Head { session: u32, size: u32 },
    /// A part; `last` ends the answer.
    Part { session: u32, msg: &'a [u8], last: bool },
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Starts a frame whose body will be `body` bytes long (at most 65535: callers cut to [`PART`]).
fn frame(body: usize) -> Vec<u8> {
    debug_assert!(body <= 0xffff);
    let mut f = Vec::with_capacity(2 + body);
    f.extend_from_slice(&(body as u16).to_be_bytes());
    f
}

/// Frames a request (or a push) of `msg` to `target`: the first frame, then the parts when the
/// message is larger than a part. A push carries session 0 unless it is multi-part (the parts
/// need a session to be put together).
fn pack_request(target: Target, session: u32, msg: &[u8], push: bool) -> (Vec<u8>, Vec<Vec<u8>>) {
    let whole = msg.len() < PART;
    let session_field = if whole && push { 0 } else { session };
    let (kind, tail) = match (whole, push) {
        (true, _) => (0u8, msg.len()),
        (false, false) => (1, 4),
        (false, true) => (0x41, 4),
    };
    let head = match target {
        Target::Address(_) => 1 + 4 + 4,
        Target::Name(name) => 1 + 1 + name.len() + 4,
    };
    let mut first = frame(head + tail);
    match target {
        Target::Address(addr) => {
            first.push(kind);
            first.extend_from_slice(&addr.to_le_bytes());
        }
        Target::Name(name) => {
            first.push(kind | 0x80);
            first.push(name.len() as u8);
            first.extend_from_slice(name);
        }
    }
    first.extend_from_slice(&session_field.to_le_bytes());
    if whole {
        first.extend_from_slice(msg);
        return (first, Vec::new());
    }
    first.extend_from_slice(&(msg.len() as u32).to_le_bytes());
    let mut parts = Vec::with_capacity(msg.len().div_ceil(PART));
    let mut chunks = msg.chunks(PART).peekable();
    while let Some(chunk) = chunks.next() {
        let mut part = frame(5 + chunk.len());
        part.push(if chunks.peek().is_some() { 2 } else { 3 });
        part.extend_from_slice(&session.to_le_bytes());
        part.extend_from_slice(chunk);
        parts.push(part);
    }
    (first, parts)
}

fn bad(size: usize) -> String {
    format!("Invalid cluster message (size={size})")
}

/// Decodes a request frame body.
fn unpack_request(b: &[u8]) -> Result<Request<'_>, String> {
    let Some(&kind) = b.first() else { return Err("Invalid req package. size == 0".into()) };
    let n = b.len();
    match kind {
        0 if n >= 9 => {
            Ok(Request::Whole { target: Target::Address(u32_at(b, 1)), session: u32_at(b, 5), msg: &b[9..] })
        }
        1 | 0x41 if n == 13 => Ok(Request::Head {
            target: Target::Address(u32_at(b, 1)),
            session: u32_at(b, 5),
            size: u32_at(b, 9),
            push: kind == 0x41,
        }),
        1 | 0x41 => Err(format!("Invalid cluster message size {n} (multi req must be 13)")),
        2 | 3 if n >= 5 => Ok(Request::Part { session: u32_at(b, 1), msg: &b[5..], last: kind == 3 }),
        2 | 3 => Err("Invalid cluster multi part message".into()),
        4 => Ok(Request::Trace(&b[1..])),
        0x80 | 0x81 | 0xc1 => {
            let name_len = usize::from(*b.get(1).ok_or_else(|| bad(n))?);
            let at = 2 + name_len;
            let name = Target::Name(&b[2..at.min(n)]);
            if kind == 0x80 {
                if n < at + 4 {
                    return Err(bad(n));
                }
                return Ok(Request::Whole { target: name, session: u32_at(b, at), msg: &b[at + 4..] });
            }
            if n < at + 8 {
                return Err(bad(n));
            }
            Ok(Request::Head {
                target: name,
                session: u32_at(b, at),
                size: u32_at(b, at + 4),
                push: kind == 0xc1,
            })
        }
        0 => Err(bad(n)),
        other => Err(format!("Invalid req package type {}", other as i8)),
    }
}

/// Frames the answer to `session`: one frame, or (a large successful answer) a head and its
/// parts. An error text is cut to a part.
fn pack_response(session: u32, ok: bool, msg: &[u8]) -> Vec<Vec<u8>> {
    let one = |kind: u8, body: &[u8]| {
        let mut f = frame(5 + body.len());
        f.extend_from_slice(&session.to_le_bytes());
        f.push(kind);
        f.extend_from_slice(body);
        f
    };
    if !ok {
        return vec![one(0, &msg[..msg.len().min(PART)])];
    }
    if msg.len() <= PART {
        return vec![one(1, msg)];
    }
    let mut frames = Vec::with_capacity(1 + msg.len().div_ceil(PART));
    frames.push(one(2, &(msg.len() as u32).to_le_bytes()));
    let mut chunks = msg.chunks(PART).peekable();
    while let Some(chunk) = chunks.next() {
        frames.push(one(if chunks.peek().is_some() { 3 } else { 4 }, chunk));
    }
    frames
}

/// Decodes a response frame body; `None` for anything malformed.
fn unpack_response(b: &[u8]) -> Option<Response<'_>> {
    if b.len() < 5 {
        return None;
    }
    let session = u32_at(b, 0);
    let msg = &b[5..];
    match b[4] {
        0 => Some(Response::Whole { session, ok: false, msg }),
        1 => Some(Response::Whole { session, ok: true, msg }),
        2 if b.len() == 9 => Some(Response::Head { session, size: u32_at(b, 5) }),
        3 => Some(Response::Part { session, msg, last: false }),
        4 => Some(Response::Part { session, msg, last: true }),
        _ => None,
    }
}

/// `nodename()`: the host name (blanks and control characters as `_`) followed by the pid.
fn node_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most `buf.len()` bytes into `buf`.
    let ok = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0;
    let pid = std::process::id();
    if !ok {
        return format!("noname{pid}");
    }
    let len = buf.iter().position(|&c| c == 0).unwrap_or(buf.len());
    let host: String = buf[..len].iter().map(|&c| if c <= b' ' { '_' } else { c as char }).collect();
    format!("{host}{pid}")
}

/// The module, as `require "skynet.cluster.core"` returns it.
pub(crate) fn module(lua: &Lua) -> mlua::Result<Table> {
    const FUNCTIONS: [(&str, ffi::lua_CFunction); 10] = [
        ("packrequest", packrequest),
        ("packpush", packpush),
        ("packtrace", packtrace),
        ("unpackrequest", unpackrequest),
        ("packresponse", packresponse),
        ("unpackresponse", unpackresponse),
        ("append", append),
        ("concat", concat),
        ("isname", isname),
        ("nodename", nodename),
    ];
    let t = lua.create_table_with_capacity(0, FUNCTIONS.len())?;
    for (name, f) in FUNCTIONS {
        // SAFETY: each is a C function following Lua's protocol.
        t.set(name, unsafe { lua.create_c_function(f)? })?;
    }
    Ok(t)
}

/// Pushes the frames as strings: `first`, then `next` (a session), then (when there are parts)
/// a table of them. Returns how many values it pushed.
///
/// # Safety
/// Runs in a C function called by Lua; the caller owns nothing else with a destructor.
unsafe fn push_frames(
    state: *mut lua_State,
    first: Option<Vec<u8>>,
    next: Option<u32>,
    parts: Vec<Vec<u8>>,
) -> c_int {
    // SAFETY: per the contract: everything that allocates in Lua runs protected, and the frames
    // are dropped before an error is raised.
    unsafe {
        let mut pushed = 0;
        let status = raw::protect(state, 0, ffi::LUA_MULTRET, &mut |state| {
            if let Some(first) = &first {
                ffi::lua_pushlstring(state, first.as_ptr().cast(), first.len());
            }
            if let Some(next) = next {
                ffi::lua_pushinteger(state, ffi::lua_Integer::from(next));
            }
            if !parts.is_empty() {
                ffi::lua_createtable(state, parts.len() as c_int, 0);
                for (i, part) in parts.iter().enumerate() {
                    ffi::lua_pushlstring(state, part.as_ptr().cast(), part.len());
                    ffi::lua_rawseti(state, -2, i as ffi::lua_Integer + 1);
                }
            }
            pushed =
                c_int::from(first.is_some()) + c_int::from(next.is_some()) + c_int::from(!parts.is_empty());
            pushed
        });
        drop((first, parts));
        if status != ffi::LUA_OK {
            raw::raise_top(state);
        }
        pushed
    }
}

/// The message at `arg` (a string, or a token and the size at `arg + 1`), taken out of the
/// buffers when it is a token.
unsafe fn message_arg(
    state: *mut lua_State,
    ctx: &VmCtx,
    arg: c_int,
    function: &str,
) -> Result<Vec<u8>, Failure> {
    // SAFETY: per `bytes_at`.
    unsafe { bytes_at(state, ctx, arg, function, true) }
}

/// `packrequest(address, session, msg, sz)` / `packpush(...)`: the first frame, the next
/// session, and a table of parts when the message is larger than a part. The message is
/// consumed, also when an argument is refused.
unsafe fn pack(state: *mut lua_State, push: bool) -> c_int {
    let function = if push { "packpush" } else { "packrequest" };
    // SAFETY: called by Lua as a C function. The message is owned from its removal from the
    // buffers until `push_frames`, where nothing raises.
    unsafe {
        with_vm(state, |ctx| {
            let msg = message_arg(state, ctx, 3, function)?;
            let session = integer_arg(state, 2, function)?;
            if session <= 0 || session > i64::from(i32::MAX) {
                return Err(Failure::Text(format!("Invalid request session {session}")));
            }
            let session = session as u32;
            let target = if ffi::lua_type(state, 1) == ffi::LUA_TNUMBER {
                Target::Address(integer_arg(state, 1, function)? as u32)
            } else {
                match raw::string_at(state, 1) {
                    Some(name) if (1..=255).contains(&name.len()) => Target::Name(name),
                    Some(name) => {
                        return Err(Failure::Text(format!(
                            "name length is invalid, must be between 1 and 255 characters: {}",
                            String::from_utf8_lossy(name)
                        )));
                    }
                    None => {
                        return Err(Failure::Text(format!(
                            "name is not a string, it's a {}",
                            raw::type_name(state, 1)
                        )));
                    }
                }
            };
            let (first, parts) = pack_request(target, session, &msg, push);
            drop(msg);
            let next = if session >= i32::MAX as u32 { 1 } else { session + 1 };
            Ok(push_frames(state, Some(first), Some(next), parts))
        })
    }
}

unsafe extern "C-unwind" fn packrequest(state: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as a C function.
    unsafe { pack(state, false) }
}

unsafe extern "C-unwind" fn packpush(state: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as a C function.
    unsafe { pack(state, true) }
}

/// `packtrace(tag)`: the frame announcing the trace tag of the next request.
unsafe extern "C-unwind" fn packtrace(state: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as a C function; the frame is pushed by `push_frames`.
    unsafe {
        with_vm(state, |_| {
            let Some(tag) = raw::string_at(state, 1) else {
                return Err(bad_argument(state, 1, "packtrace", "string"));
            };
            if tag.len() > MAX_TAG {
                return Err(Failure::Text(format!("trace tag is too long : {}", tag.len())));
            }
            let mut f = frame(1 + tag.len());
            f.push(4);
            f.extend_from_slice(tag);
            Ok(push_frames(state, Some(f), None, Vec::new()))
        })
    }
}

/// The bytes at `arg` (a string, or a token and the size at `arg + 1`), copied when a token:
/// the buffer stays the caller's (a dispatched message is released by the host).
unsafe fn bytes_of(
    state: *mut lua_State,
    ctx: &VmCtx,
    arg: c_int,
    function: &str,
) -> Result<Vec<u8>, Failure> {
    // SAFETY: per `bytes_at`.
    unsafe { bytes_at(state, ctx, arg, function, false) }
}

/// The bytes at `arg`: a string's (copied), or a message block's (the size at `arg + 1`),
/// taken out of the buffers when `take`, else copied.
///
/// # Safety
/// Reads stack slots of a live state; nothing raises.
unsafe fn bytes_at(
    state: *mut lua_State,
    ctx: &VmCtx,
    arg: c_int,
    function: &str,
    take: bool,
) -> Result<Vec<u8>, Failure> {
    // SAFETY: per the contract.
    unsafe {
        if let Some(bytes) = raw::string_at(state, arg) {
            return Ok(bytes.to_vec());
        }
        let token = token_arg(state, arg, "Invalid request message")?;
        let size = size_arg(state, arg + 1, function)?;
        let mut st = state_mut(ctx)?;
        Ok(if take {
            st.buffers.take(token, Some(size))?
        } else {
            st.buffers.get(token, Some(size))?.to_vec()
        })
    }
}

/// `unpackrequest(msg, sz)` or `unpackrequest(string)`: what the frame says, as skynet's
/// returns it (see the module docs for the kinds):
/// whole: `address|name, session, msg, sz` and for a push also `nil, true`;
/// head: `address|name, session, nil, size, true, is_push`;
/// part: `false, session, msg, sz, not_last`; trace: `tag`.
unsafe extern "C-unwind" fn unpackrequest(state: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as a C function. The frame copy is owned until its message moves
    // into the buffers; strings are pushed by `push_owned_bytes` (protected).
    unsafe {
        with_vm(state, |ctx| {
            let body = bytes_of(state, ctx, 1, "unpackrequest")?;
            let request = match unpack_request(&body) {
                Ok(r) => r,
                Err(e) => return Err(Failure::Text(e)),
            };
            // Everything borrowed from `body` is copied out before anything is pushed.
            let int = |n: u32| ffi::lua_pushinteger(state, ffi::lua_Integer::from(n));
            enum Out {
                Whole(Option<u32>, Option<Vec<u8>>, u32, Vec<u8>),
                Head(Option<u32>, Option<Vec<u8>>, u32, u32, bool),
                Part(u32, Vec<u8>, bool),
                Trace(Vec<u8>),
            }
            let split = |t: Target| match t {
                Target::Address(a) => (Some(a), None),
                Target::Name(n) => (None, Some(n.to_vec())),
            };
            let out = match request {
                Request::Whole { target, session, msg } => {
                    let (a, n) = split(target);
                    Out::Whole(a, n, session, msg.to_vec())
                }
                Request::Head { target, session, size, push } => {
                    let (a, n) = split(target);
                    Out::Head(a, n, session, size, push)
                }
                Request::Part { session, msg, last } => Out::Part(session, msg.to_vec(), last),
                Request::Trace(tag) => Out::Trace(tag.to_vec()),
            };
            drop(body);
            let push_target = |a: Option<u32>, n: Option<Vec<u8>>| match (a, n) {
                (Some(a), _) => int(a),
                (None, Some(n)) => push_owned_bytes(state, n),
                (None, None) => ffi::lua_pushnil(state),
            };
            match out {
                Out::Whole(a, n, session, msg) => {
                    // The message moves into the buffers before the name (which may raise) is
                    // pushed; then `msg, sz, target, session` turn into `target, session, msg, sz`.
                    push_block(state, ctx, msg)?;
                    push_target(a, n);
                    int(session);
                    ffi::lua_rotate(state, -4, 2);
                    if session == 0 {
                        ffi::lua_pushnil(state);
                        ffi::lua_pushboolean(state, 1);
                        return Ok(6);
                    }
                    Ok(4)
                }
                Out::Head(a, n, session, size, push) => {
                    push_target(a, n);
                    int(session);
                    ffi::lua_pushnil(state);
                    int(size);
                    ffi::lua_pushboolean(state, 1);
                    ffi::lua_pushboolean(state, c_int::from(push));
                    Ok(6)
                }
                Out::Part(session, msg, last) => {
                    ffi::lua_pushboolean(state, 0);
                    int(session);
                    push_block(state, ctx, msg)?;
                    ffi::lua_pushboolean(state, c_int::from(!last));
                    Ok(5)
                }
                Out::Trace(tag) => {
                    push_owned_bytes(state, tag);
                    Ok(1)
                }
            }
        })
    }
}

/// `packresponse(session, ok, msg[, sz])`: the answer's frame as a string, or a table of frames
/// for a large successful answer. A token message stays the caller's.
unsafe extern "C-unwind" fn packresponse(state: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as a C function; the frames are pushed by `push_frames`.
    unsafe {
        with_vm(state, |ctx| {
            let session = integer_arg(state, 1, "packresponse")? as u32;
            let ok = ffi::lua_toboolean(state, 2) != 0;
            let msg = if ffi::lua_isnoneornil(state, 3) != 0 {
                Vec::new()
            } else {
                bytes_of(state, ctx, 3, "packresponse")?
            };
            let mut frames = pack_response(session, ok, &msg);
            drop(msg);
            if frames.len() == 1 {
                return Ok(push_frames(state, frames.pop(), None, Vec::new()));
            }
            Ok(push_frames(state, None, None, frames))
        })
    }
}

/// `unpackresponse(string)` or `unpackresponse(msg, sz)`: `session, ok, data` for a whole
/// answer or the last part, `session, true, size, true` for a head, `session, true, data, true`
/// for a part; nothing for a malformed frame.
unsafe extern "C-unwind" fn unpackresponse(state: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as a C function; the data is pushed by `push_owned_bytes`.
    unsafe {
        with_vm(state, |ctx| {
            let body = bytes_of(state, ctx, 1, "unpackresponse")?;
            let (session, ok, data, more) = match unpack_response(&body) {
                None => return Ok(0),
                Some(Response::Head { session, size }) => {
                    drop(body);
                    ffi::lua_pushinteger(state, ffi::lua_Integer::from(session));
                    ffi::lua_pushboolean(state, 1);
                    ffi::lua_pushinteger(state, ffi::lua_Integer::from(size));
                    ffi::lua_pushboolean(state, 1);
                    return Ok(4);
                }
                Some(Response::Whole { session, ok, msg }) => (session, ok, msg.to_vec(), false),
                Some(Response::Part { session, msg, last }) => (session, true, msg.to_vec(), !last),
            };
            drop(body);
            ffi::lua_pushinteger(state, ffi::lua_Integer::from(session));
            ffi::lua_pushboolean(state, c_int::from(ok));
            push_owned_bytes(state, data);
            if more {
                ffi::lua_pushboolean(state, 1);
                return Ok(4);
            }
            Ok(3)
        })
    }
}

/// `append(t, msg, sz)`: appends the message to `t` as a string and frees it; `append(t, nil,
/// size)` appends the size (the head of a multi-part message).
unsafe extern "C-unwind" fn append(state: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as a C function; the message is pushed by `push_owned_bytes`.
    unsafe {
        with_vm(state, |ctx| {
            if ffi::lua_type(state, 1) != ffi::LUA_TTABLE {
                return Err(bad_argument(state, 1, "append", "table"));
            }
            let n = ffi::lua_rawlen(state, 1) as ffi::lua_Integer;
            if ffi::lua_isnil(state, 2) != 0 {
                ffi::lua_settop(state, 3);
                ffi::lua_rawseti(state, 1, n + 1);
                return Ok(0);
            }
            let token = token_arg(state, 2, "Need lightuserdata")?;
            let size = size_arg(state, 3, "append")?;
            let data = state_mut(ctx)?.buffers.take(token, Some(size))?;
            push_owned_bytes(state, data);
            ffi::lua_rawseti(state, 1, n + 1);
            Ok(0)
        })
    }
}

/// `concat(t)`: `t[1]` is the total size, `t[2..]` the parts: `msg, sz` of them put together,
/// or nothing when the parts do not add up to the size.
unsafe extern "C-unwind" fn concat(state: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as a C function; reading a table with raw gets does not raise, and
    // the joined message is owned only until it moves into the buffers.
    unsafe {
        with_vm(state, |ctx| {
            if ffi::lua_type(state, 1) != ffi::LUA_TTABLE {
                return Ok(0);
            }
            if ffi::lua_rawgeti(state, 1, 1) != ffi::LUA_TNUMBER {
                return Ok(0);
            }
            let size = ffi::lua_tointeger(state, -1);
            ffi::lua_pop(state, 1);
            let Ok(size) = usize::try_from(size) else { return Ok(0) };
            let mut total = 0usize;
            let mut i = 2;
            while ffi::lua_rawgeti(state, 1, i) == ffi::LUA_TSTRING {
                total += ffi::lua_rawlen(state, -1);
                ffi::lua_pop(state, 1);
                i += 1;
            }
            ffi::lua_pop(state, 1);
            if total != size {
                return Ok(0);
            }
            let mut joined = Vec::with_capacity(size);
            for i in 2..i {
                ffi::lua_rawgeti(state, 1, i);
                joined.extend_from_slice(raw::string_at(state, -1).unwrap_or_default());
                ffi::lua_pop(state, 1);
            }
            push_block(state, ctx, joined)?;
            Ok(2)
        })
    }
}

/// `isname(v)`: true for a string starting with `@`, nothing otherwise.
unsafe extern "C-unwind" fn isname(state: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as a C function; reads one stack slot.
    unsafe {
        if raw::string_at(state, 1).is_some_and(|s| s.first() == Some(&b'@')) {
            ffi::lua_pushboolean(state, 1);
            return 1;
        }
        0
    }
}

/// `nodename()`: this process's name in a cluster, host name and pid.
unsafe extern "C-unwind" fn nodename(state: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as a C function; the name is pushed by `push_owned_bytes`.
    unsafe {
        push_owned_bytes(state, node_name().into_bytes());
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(frame: &[u8]) -> &[u8] {
        let len = usize::from(u16::from_be_bytes([frame[0], frame[1]]));
        assert_eq!(frame.len(), len + 2, "the header counts the body");
        &frame[2..]
    }

    #[test]
    fn small_requests_round_trip() {
        for (target, push) in [
            (Target::Address(0x0100_000a), false),
            (Target::Address(7), true),
            (Target::Name(b"@sdb"), false),
            (Target::Name(b"x"), true),
        ] {
            let (first, parts) = pack_request(target, 42, b"hello", push);
            assert!(parts.is_empty());
            let session = if push { 0 } else { 42 };
            assert_eq!(
                unpack_request(body(&first)).unwrap(),
                Request::Whole { target, session, msg: b"hello" }
            );
        }
    }

    #[test]
    fn the_bytes_are_skynets() {
        let (first, _) = pack_request(Target::Address(0x0102_0304), 5, b"ab", false);
        assert_eq!(first, [0, 11, 0, 4, 3, 2, 1, 5, 0, 0, 0, b'a', b'b']);
        let (first, _) = pack_request(Target::Name(b"db"), 1, b"", true);
        assert_eq!(first, [0, 8, 0x80, 2, b'd', b'b', 0, 0, 0, 0]);
        assert_eq!(pack_response(9, true, b"ok"), vec![vec![0, 7, 9, 0, 0, 0, 1, b'o', b'k']]);
    }

    #[test]
    fn large_messages_go_in_parts() {
        for len in [PART, PART + 1, 3 * PART, 3 * PART + 17] {
            let msg: Vec<u8> = (0..len).map(|i| i as u8).collect();
            for push in [false, true] {
                let (first, parts) = pack_request(Target::Name(b"@big"), 77, &msg, push);
                assert_eq!(
                    unpack_request(body(&first)).unwrap(),
                    Request::Head { target: Target::Name(b"@big"), session: 77, size: len as u32, push }
                );
                assert_eq!(parts.len(), len.div_ceil(PART));
                let mut joined = Vec::new();
                for (i, part) in parts.iter().enumerate() {
                    let Request::Part { session, msg, last } = unpack_request(body(part)).unwrap() else {
                        panic!("not a part")
                    };
                    assert_eq!((session, last), (77, i + 1 == parts.len()));
                    joined.extend_from_slice(msg);
                }
                assert_eq!(joined, msg);
            }
            let frames = pack_response(3, true, &msg);
            if len == PART {
                assert_eq!(frames.len(), 1, "a part's worth is one answer");
                continue;
            }
            let mut joined = Vec::new();
            assert_eq!(
                unpack_response(body(&frames[0])),
                Some(Response::Head { session: 3, size: len as u32 })
            );
            for (i, f) in frames[1..].iter().enumerate() {
                let Some(Response::Part { session: 3, msg, last }) = unpack_response(body(f)) else {
                    panic!()
                };
                assert_eq!(last, i + 2 == frames.len());
                joined.extend_from_slice(msg);
            }
            assert_eq!(joined, msg);
        }
        // A message of exactly a part is whole in a response, in parts in a request (skynet's
        // boundaries differ by one; both are kept).
        assert_eq!(pack_response(1, true, &[0; PART]).len(), 1);
        assert_eq!(pack_response(1, false, &[0; 2 * PART])[0].len(), 2 + 5 + PART);
    }

    #[test]
    fn malformed_frames_are_refused() {
        assert!(unpack_request(&[]).is_err());
        assert!(unpack_request(&[0, 1, 2]).is_err());
        assert!(unpack_request(&[1; 12]).is_err());
        assert!(unpack_request(&[2, 0, 0]).is_err());
        assert!(unpack_request(&[0x80]).is_err());
        assert!(unpack_request(&[0x80, 200, 1, 2, 3]).is_err());
        assert!(unpack_request(&[0x81, 1, b'a', 0, 0, 0, 0]).is_err());
        assert!(unpack_request(&[0x99, 0]).unwrap_err().contains("type"));
        assert_eq!(unpack_request(&[4]).unwrap(), Request::Trace(b""));
        assert_eq!(unpack_response(&[1, 0, 0, 0]), None);
        assert_eq!(unpack_response(&[1, 0, 0, 0, 9]), None);
        assert_eq!(unpack_response(&[1, 0, 0, 0, 2, 0]), None);
        // Every prefix of a good frame decodes or is refused, never panics.
        let (first, parts) = pack_request(Target::Name(b"@n"), 1, &[7; PART + 3], false);
        for f in std::iter::once(&first).chain(&parts) {
            for cut in 0..f.len() {
                let _ = unpack_request(&f[2..cut.max(2)]);
                let _ = unpack_response(&f[2..cut.max(2)]);
            }
        }
    }

    #[test]
    fn node_names_have_no_blanks() {
        let name = node_name();
        assert!(name.ends_with(&std::process::id().to_string()));
        assert!(!name.bytes().any(|c| c <= b' '));
    }
}
