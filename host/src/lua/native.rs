//! The message functions of `skynet.core` (`send`, `redirect`, `genid`, `callback`, `pack`,
//! `packstring`, `unpack`, `tostring`, `trash`, `now`, `hpc`) and the call of the message
//! callback, written against Lua's C API as lua-skynet.c's are: they run on every message, so
//! they skip mlua's conversion layer. The rarer functions stay in `core_api`.
//!
//! Each VM's [`VmCtx`] is reached through the main thread's extra space (`lua_getextraspace`),
//! which every coroutine inherits and Lua code cannot reach or forge (the vendored Lua zeroes it
//! at creation, so threads made before the context exists hold null). Errors follow
//! [`raw`]'s rule: a function's body returns a `Result` and drops what it owns before the error
//! is raised.

use std::cell::RefCell;
use std::ffi::c_int;
use std::sync::Arc;

use mlua::LightUserData;
use mlua::ffi::{self, lua_State};

use super::buffers::{Block, BufferError, Buffers};
use super::{multicast, raw, seri};
use crate::core::message::Handle;
use crate::core::node::{Dest, Node, SendError};
use crate::core::requests::HeldRequests;
use crate::core::service::Service;
use crate::record::Clock;

/// What the native functions of one VM share with its dispatcher.
pub(crate) struct VmCtx {
    pub(crate) node: Arc<Node>,
    pub(crate) service: Arc<Service>,
    /// Borrowed by one native call at a time: a finalizer that re-enters `skynet.core` while
    /// `unpack` reads a buffer gets an error, never an aliased buffer.
    pub(crate) state: RefCell<VmState>,
    /// The VM's main thread, where the dispatcher calls the callback.
    main: *mut lua_State,
    /// The node's socket server, once this VM used `skynet.socketdriver`.
    pub(crate) sockets: std::sync::OnceLock<Arc<crate::socket::Server>>,
}

// SAFETY: `main` is the main thread of the VM this context belongs to; both move between workers
// together and are used by one worker at a time (the service's actor lock).
unsafe impl Send for VmCtx {}

/// Per-VM message state.
pub(crate) struct VmState {
    pub(crate) buffers: Buffers,
    /// `skynet.core.callback`: a registry reference to the function every message is handed to.
    pub(crate) callback: Option<c_int>,
    /// Forward mode: the dispatcher does not free messages; Lua passes them on or trashes them.
    pub(crate) forward: bool,
    /// The requests this VM holds (see `core::requests`).
    pub(crate) held: HeldRequests,
}

/// A native function's failure, raised as a Lua error string once the body has returned.
pub(crate) enum Failure {
    Text(String),
    Static(&'static str),
}

pub(crate) type Outcome = Result<c_int, Failure>;

impl From<BufferError> for Failure {
    fn from(err: BufferError) -> Self {
        Failure::Text(err.to_string())
    }
}

const BUSY: Failure = Failure::Static("skynet.core re-entered while the message state is busy");

impl VmCtx {
    /// Creates the context of the VM whose main thread is `main` and publishes it in the extra
    /// space of `main` (coroutines created later inherit it).
    ///
    /// # Safety
    /// `main` is the main thread of a live VM that is closed before the returned box is dropped.
    pub(crate) unsafe fn install(
        main: *mut lua_State,
        node: &Arc<Node>,
        service: &Arc<Service>,
    ) -> Box<VmCtx> {
        let ctx = Box::new(VmCtx {
            node: node.clone(),
            service: service.clone(),
            state: RefCell::new(VmState {
                buffers: Buffers::default(),
                callback: None,
                forward: false,
                held: HeldRequests::default(),
            }),
            main,
            sockets: std::sync::OnceLock::new(),
        });
        // SAFETY: the extra space is LUA_EXTRASPACE (pointer-sized) bytes before the state; the
        // box's heap address is stable and outlives the VM per the contract.
        unsafe { *(ffi::lua_getextraspace(main) as *mut *const VmCtx) = &*ctx };
        ctx
    }

    /// Adds the message functions to the `skynet.core` table on top of `state`'s stack.
    ///
    /// # Safety
    /// `state` is a thread of this VM, with a table on top of its stack.
    pub(crate) unsafe fn register(state: *mut lua_State) {
        const FUNCTIONS: [(&std::ffi::CStr, ffi::lua_CFunction); 11] = [
            (c"send", send),
            (c"redirect", redirect),
            (c"genid", genid),
            (c"callback", callback),
            (c"pack", pack),
            (c"packstring", seri::packstring),
            (c"unpack", unpack),
            (c"tostring", tostring),
            (c"trash", trash),
            (c"now", now),
            (c"hpc", hpc),
        ];
        // SAFETY: per the contract; light C functions need no allocation beyond the table slots.
        unsafe {
            for (name, f) in FUNCTIONS {
                ffi::lua_pushcfunction(state, f);
                ffi::lua_setfield(state, -2, name.as_ptr());
            }
        }
    }

    /// Hands one message to the Lua callback: `callback(type, msg, size, session, source)`, in
    /// protected mode with a traceback. Returns the error text if the callback failed, and
    /// whether that failure was a memory error.
    ///
    /// # Safety
    /// On the VM's thread, outside running Lua code.
    pub(crate) unsafe fn call_callback(
        &self,
        callback: c_int,
        args: (u8, LightUserData, usize, i32, Handle),
    ) -> Option<(String, bool)> {
        let l = self.main;
        // SAFETY: per the contract. Nothing before lua_pcall allocates (a registry read, light
        // values, integers), so nothing raises outside the protected call; the stack is restored.
        unsafe {
            let top = ffi::lua_gettop(l);
            if ffi::lua_checkstack(l, 7) == 0 {
                return Some(("no Lua stack left for the callback".into(), false));
            }
            ffi::lua_pushcfunction(l, traceback);
            ffi::lua_rawgeti(l, ffi::LUA_REGISTRYINDEX, callback as ffi::lua_Integer);
            let (ptype, token, size, session, source) = args;
            ffi::lua_pushinteger(l, ptype as ffi::lua_Integer);
            ffi::lua_pushlightuserdata(l, token.0);
            ffi::lua_pushinteger(l, size as ffi::lua_Integer);
            ffi::lua_pushinteger(l, session as ffi::lua_Integer);
            ffi::lua_pushinteger(l, source as ffi::lua_Integer);
            let status = ffi::lua_pcall(l, 5, 0, top + 1);
            let failure = (status != ffi::LUA_OK).then(|| {
                let text = raw::string_at(l, -1).map_or_else(
                    || format!("(error object is a {} value)", raw::type_name(l, -1)),
                    |bytes| String::from_utf8_lossy(bytes).into_owned(),
                );
                (text, status == ffi::LUA_ERRMEM)
            });
            ffi::lua_settop(l, top);
            failure
        }
    }
}

/// The context of the VM running `state`.
///
/// # Safety
/// `state` is a live thread of a VM; the context, when set, outlives the VM.
pub(crate) unsafe fn ctx<'a>(state: *mut lua_State) -> Option<&'a VmCtx> {
    // SAFETY: per the contract; threads of VMs without a context (or created before it was set)
    // hold a null pointer.
    unsafe { (*(ffi::lua_getextraspace(state) as *const *const VmCtx)).as_ref() }
}

/// Runs `body` with the VM's context and turns its failure into a Lua error after everything it
/// owned is dropped (see [`finish`]).
///
/// # Safety
/// As [`finish`]; `body` may let Lua raise only where it owns nothing with a destructor.
#[inline(always)]
pub(crate) unsafe fn run(state: *mut lua_State, body: impl FnOnce(&VmCtx) -> Outcome) -> c_int {
    // SAFETY: per the contract.
    unsafe {
        let outcome = match ctx(state) {
            Some(ctx) => body(ctx),
            None => Err(Failure::Static("skynet.core used outside a skybox service")),
        };
        finish(state, outcome)
    }
}

/// The number of results of `outcome`, or its failure raised as a Lua error (the failure is
/// dropped first, see [`raw::raise`]).
///
/// # Safety
/// Runs in a C function called by Lua on `state`; the caller's frames own nothing with a
/// destructor.
#[inline(always)]
pub(crate) unsafe fn finish(state: *mut lua_State, outcome: Outcome) -> c_int {
    match outcome {
        Ok(n) => n,
        // SAFETY: per the contract; `raise_failure` takes the failure by value.
        Err(failure) => unsafe { raise_failure(state, failure) },
    }
}

#[cold]
unsafe fn raise_failure(state: *mut lua_State, failure: Failure) -> ! {
    // SAFETY: per `run`'s contract; `raise` drops `failure` before Lua unwinds.
    unsafe { raw::raise(state, failure) }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Text(t) => f.write_str(t),
            Failure::Static(t) => f.write_str(t),
        }
    }
}

/// An optional size argument: none, or a non-negative integer.
unsafe fn size_arg(state: *mut lua_State, index: c_int) -> Result<Option<usize>, Failure> {
    // SAFETY: reading a stack slot of a live state.
    unsafe {
        if ffi::lua_isnoneornil(state, index) != 0 {
            return Ok(None);
        }
        let mut isnum = 0;
        let n = ffi::lua_tointegerx(state, index, &mut isnum);
        match usize::try_from(n) {
            Ok(n) if isnum != 0 => Ok(Some(n)),
            _ => Err(Failure::Text(format!("invalid message size {}", describe(state, index)))),
        }
    }
}

/// A value for an error message: numbers as numbers, anything else by type name.
unsafe fn describe(state: *mut lua_State, index: c_int) -> String {
    // SAFETY: reading a stack slot of a live state.
    unsafe {
        match ffi::lua_type(state, index) {
            ffi::LUA_TNUMBER if ffi::lua_isinteger(state, index) != 0 => {
                ffi::lua_tointeger(state, index).to_string()
            }
            ffi::LUA_TNUMBER => ffi::lua_tonumber(state, index).to_string(),
            _ => raw::type_name(state, index).to_string(),
        }
    }
}

unsafe fn token_at(state: *mut lua_State, index: c_int) -> LightUserData {
    // SAFETY: reading a stack slot of a live state.
    LightUserData(unsafe { ffi::lua_touserdata(state, index) })
}

unsafe fn integer_arg(state: *mut lua_State, index: c_int, what: &str) -> Result<ffi::lua_Integer, Failure> {
    // SAFETY: reading a stack slot of a live state.
    unsafe {
        let mut isnum = 0;
        let n = ffi::lua_tointegerx(state, index, &mut isnum);
        if isnum == 0 {
            return Err(Failure::Text(format!(
                "bad argument #{index} ({what}): number expected, got {}",
                raw::type_name(state, index)
            )));
        }
        Ok(n)
    }
}

/// `send(addr, type, session, msg, size)` and `redirect(addr, source, type, session, msg, size)`:
/// the session used, or no value at all for a dead destination (as skynet).
unsafe fn send_message(state: *mut lua_State, ctx: &VmCtx, redirect: bool) -> Outcome {
    // SAFETY: reading the arguments of a live call; the destination name and string payload are
    // borrowed from strings on the stack, which stay there for the whole call.
    unsafe {
        let me = &*ctx.service;
        let mut arg = 2;
        let source = if redirect {
            arg += 1;
            integer_arg(state, 2, "source")? as Handle
        } else {
            me.handle()
        };
        let ptype = (integer_arg(state, arg, "type")? & 0xff) as u8;
        let session = match ffi::lua_type(state, arg + 1) {
            ffi::LUA_TNIL | ffi::LUA_TNONE => me.new_session(),
            ffi::LUA_TNUMBER => {
                if ffi::lua_isinteger(state, arg + 1) != 0 {
                    ffi::lua_tointeger(state, arg + 1) as i32
                } else {
                    ffi::lua_tonumber(state, arg + 1) as i32
                }
            }
            _ => return Err(Failure::Text(format!("invalid session {}", raw::type_name(state, arg + 1)))),
        };
        let (msg, size) = (arg + 2, arg + 3);
        // The destination is checked before the payload is taken, so a bad address leaves the
        // message with its owner.
        let dest = match ffi::lua_type(state, 1) {
            ffi::LUA_TNUMBER => {
                let mut isint = 0;
                let n = ffi::lua_tointegerx(state, 1, &mut isint);
                if isint == 0 || n <= 0 || n > Handle::MAX as ffi::lua_Integer {
                    return Err(Failure::Text(format!("Invalid service address {}", describe(state, 1))));
                }
                Dest::Handle(n as Handle)
            }
            ffi::LUA_TSTRING => {
                let bytes = raw::string_at(state, 1).unwrap_or_default();
                match std::str::from_utf8(bytes) {
                    Ok(name) => Dest::Name(name),
                    Err(_) => return Err(Failure::Static("invalid service name (not UTF-8)")),
                }
            }
            _ => {
                return Err(Failure::Text(format!(
                    "dest address type ({}) must be a string or number.",
                    raw::type_name(state, 1)
                )));
            }
        };
        // Borrowed before anything is sent: a call that cannot record its request must not send.
        let mut st = ctx.state.try_borrow_mut().map_err(|_| BUSY)?;
        let data = match ffi::lua_type(state, msg) {
            ffi::LUA_TSTRING => raw::string_at(state, msg).unwrap_or_default().to_vec(),
            ffi::LUA_TLIGHTUSERDATA => {
                let size = size_arg(state, size)?.ok_or(Failure::Static("message size expected"))?;
                st.buffers.take(token_at(state, msg), Some(size))?
            }
            _ => return Err(Failure::Text(format!("invalid param {}", raw::type_name(state, msg)))),
        };
        let sent = ctx.node.send(me, &mut st.held, source, dest, ptype, session, data);
        drop(st);
        match sent {
            Ok(()) => {
                ffi::lua_pushinteger(state, session as ffi::lua_Integer);
                Ok(1)
            }
            // skynet's: no session back (skynet.call raises); the host logged a refusal.
            Err(SendError::NoDestination | SendError::Denied | SendError::Full) => Ok(0),
        }
    }
}

unsafe extern "C-unwind" fn send(state: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as a C function.
    unsafe { run(state, |ctx| send_message(state, ctx, false)) }
}

unsafe extern "C-unwind" fn redirect(state: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as a C function.
    unsafe { run(state, |ctx| send_message(state, ctx, true)) }
}

unsafe extern "C-unwind" fn genid(state: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as a C function; pushing an integer cannot raise.
    unsafe {
        run(state, |ctx| {
            ffi::lua_pushinteger(state, ctx.service.new_session() as ffi::lua_Integer);
            Ok(1)
        })
    }
}

unsafe extern "C-unwind" fn now(state: *mut lua_State) -> c_int {
    // SAFETY: as `genid`.
    unsafe {
        run(state, |ctx| {
            let read = || ctx.node.clock.now();
            let now = match ctx.service.tape() {
                Some(tape) => tape.clock(Clock::Now, read),
                None => read(),
            };
            ffi::lua_pushinteger(state, now as ffi::lua_Integer);
            Ok(1)
        })
    }
}

unsafe extern "C-unwind" fn hpc(state: *mut lua_State) -> c_int {
    // SAFETY: as `genid`.
    unsafe {
        run(state, |ctx| {
            let read = || ctx.node.clock.hpc();
            let hpc = match ctx.service.tape() {
                Some(tape) => tape.clock(Clock::Hpc, read),
                None => read(),
            };
            ffi::lua_pushinteger(state, hpc as ffi::lua_Integer);
            Ok(1)
        })
    }
}

/// `callback(f, forward)`: sets the function every message is handed to.
unsafe extern "C-unwind" fn callback(state: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as a C function; luaL_checktype and luaL_ref may raise, before any
    // Rust value is created.
    unsafe {
        ffi::luaL_checktype(state, 1, ffi::LUA_TFUNCTION);
        let forward = ffi::lua_toboolean(state, 2) != 0;
        ffi::lua_settop(state, 1);
        let Some(ctx) = ctx(state) else {
            raw::raise(state, format_args!("skynet.core used outside a skybox service"));
        };
        // The reference first: it may fail for memory, and then nothing has changed.
        let new = ffi::luaL_ref(state, ffi::LUA_REGISTRYINDEX);
        let Ok(mut st) = ctx.state.try_borrow_mut() else {
            ffi::luaL_unref(state, ffi::LUA_REGISTRYINDEX, new);
            raw::raise(state, format_args!("skynet.core re-entered while the message state is busy"));
        };
        let old = st.callback.replace(new);
        st.forward = forward;
        drop(st);
        if let Some(old) = old {
            ffi::luaL_unref(state, ffi::LUA_REGISTRYINDEX, old);
        }
        0
    }
}

/// `pack(...)`: a message buffer token and its size.
unsafe extern "C-unwind" fn pack(state: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as a C function; the encoding runs protected (see `seri`).
    unsafe {
        run(state, |ctx| {
            // Scalars and strings encode without a protected call; tables may call Lua.
            let out = match seri::encode_plain(state, 1) {
                Some(out) => out,
                None => {
                    let mut out = Vec::new();
                    let nargs = ffi::lua_gettop(state);
                    let status = raw::protect(state, nargs, 0, &mut |state| {
                        seri::encode(state, 1, &mut out);
                        0
                    });
                    if status != ffi::LUA_OK {
                        drop(out);
                        raw::raise_top(state);
                    }
                    out
                }
            };
            let size = out.len();
            let token = ctx.state.try_borrow_mut().map_err(|_| BUSY)?.buffers.insert(out);
            ffi::lua_pushlightuserdata(state, token.0);
            ffi::lua_pushinteger(state, size as ffi::lua_Integer);
            Ok(2)
        })
    }
}

/// `unpack(msg, size)`: the values in a string or a message buffer.
unsafe extern "C-unwind" fn unpack(state: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as a C function. A string argument stays on the stack while it is
    // decoded, with nothing owned on this frame; a buffer is decoded protected, with the state
    // borrowed so the buffer cannot be freed meanwhile.
    unsafe {
        match ffi::lua_type(state, 1) {
            ffi::LUA_TNIL | ffi::LUA_TNONE => 0,
            ffi::LUA_TSTRING => {
                let bytes = raw::string_at(state, 1).unwrap_or_default();
                let bytes = match size_arg(state, 2) {
                    Ok(Some(n)) if n <= bytes.len() => &bytes[..n],
                    Ok(None) => bytes,
                    Ok(Some(n)) => raw::raise(state, format_args!("invalid message size {n}")),
                    Err(failure) => raise_failure(state, failure),
                };
                let base = ffi::lua_gettop(state);
                seri::decode(state, bytes);
                ffi::lua_gettop(state) - base
            }
            ffi::LUA_TLIGHTUSERDATA => run(state, |ctx| {
                let size = size_arg(state, 2)?;
                let st = ctx.state.try_borrow().map_err(|_| Failure::Static("skynet.unpack re-entered"))?;
                let bytes = block_at(&st.buffers, token_at(state, 1), size)?;
                // Scalars push without allocating: no protected call needed.
                if let Some(n) = seri::decode_plain(state, &bytes) {
                    return Ok(n);
                }
                let base = ffi::lua_gettop(state);
                let status =
                    raw::protect(state, 0, ffi::LUA_MULTRET, &mut |state| seri::decode(state, &bytes));
                drop(bytes);
                drop(st);
                if status != ffi::LUA_OK {
                    raw::raise_top(state);
                }
                Ok(ffi::lua_gettop(state) - base)
            }),
            _ => raw::raise(state, format_args!("skynet.unpack invalid param {}", raw::type_name(state, 1))),
        }
    }
}

/// The bytes a light userdata names for `unpack` and `tostring`: a block (this VM's or a
/// travelling one) or a multicast holder's name or package (see `multicast`), read in place.
fn block_at(buffers: &Buffers, token: LightUserData, size: Option<usize>) -> Result<Block<'_>, Failure> {
    match buffers.get(token, size) {
        Err(BufferError::Unknown) => multicast::shared_bytes(token, size).ok_or(BufferError::Unknown.into()),
        other => Ok(other?),
    }
}

/// `tostring(msg, size)`: the bytes of a message as a Lua string.
unsafe extern "C-unwind" fn tostring(state: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as a C function; the string is created protected while the buffer is
    // borrowed.
    unsafe {
        match ffi::lua_type(state, 1) {
            // skynet returns no value at all for a nil message.
            ffi::LUA_TNIL | ffi::LUA_TNONE => 0,
            ffi::LUA_TSTRING => {
                ffi::lua_settop(state, 1);
                1
            }
            ffi::LUA_TLIGHTUSERDATA => run(state, |ctx| {
                let size = size_arg(state, 2)?;
                let st = ctx.state.try_borrow().map_err(|_| BUSY)?;
                let bytes = block_at(&st.buffers, token_at(state, 1), size)?;
                let status = raw::protect(state, 0, 1, &mut |state| {
                    ffi::lua_pushlstring(state, bytes.as_ptr().cast(), bytes.len());
                    1
                });
                drop(bytes);
                drop(st);
                if status != ffi::LUA_OK {
                    raw::raise_top(state);
                }
                Ok(1)
            }),
            _ => {
                raw::raise(state, format_args!("skynet.tostring invalid param {}", raw::type_name(state, 1)))
            }
        }
    }
}

/// `trash(msg, size)`: frees a message buffer (a string needs nothing).
unsafe extern "C-unwind" fn trash(state: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as a C function.
    unsafe {
        match ffi::lua_type(state, 1) {
            ffi::LUA_TSTRING => 0,
            ffi::LUA_TLIGHTUSERDATA => run(state, |ctx| {
                size_arg(state, 2)?;
                let taken =
                    ctx.state.try_borrow_mut().map_err(|_| BUSY)?.buffers.take(token_at(state, 1), None);
                taken?;
                Ok(0)
            }),
            _ => raw::raise(state, format_args!("skynet.trash invalid param {}", raw::type_name(state, 1))),
        }
    }
}

/// The message handler of the callback's protected call: the error with a traceback, as snlua's.
unsafe extern "C-unwind" fn traceback(state: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as a message handler with the error value at 1; nothing owned here.
    unsafe {
        let msg = ffi::lua_tostring(state, 1);
        if msg.is_null() {
            ffi::lua_pushfstring(
                state,
                c"(error object is a %s value)".as_ptr(),
                ffi::luaL_typename(state, 1),
            );
            ffi::luaL_traceback(state, state, ffi::lua_tostring(state, -1), 1);
        } else {
            ffi::luaL_traceback(state, state, msg, 1);
        }
        1
    }
}
