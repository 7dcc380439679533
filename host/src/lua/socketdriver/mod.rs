//! `skynet.socketdriver`: skynet's `lua-socket.c` on Lua's C API, in the style of `native`.
//!
//! The module has two halves. `buffer` holds the pure functions (a socket's receive buffer, the
//! event `unpack`, `str2p`, `header`, `drop`); `net` the functions that talk to the socket
//! thread. Payloads are never raw pointers: a DATA block, a `str2p` copy or a netpack frame is a
//! token in the VM's [`Buffers`](super::buffers::Buffers) table, moved in and out of it (no
//! copy), so `skynet.trash`, `skynet.tostring`, `skynet.redirect` and `send` all accept it, and a
//! stale or forged token is a Lua error.
//!
//! This file also holds what the native functions of both `skynet.socketdriver` and
//! `skynet.netpack` share beyond `native`'s frame of a native function (`Failure`, `run`,
//! `finish`): argument checks, and full userdata owning a Rust value.

mod buffer;
mod net;

use std::cell::RefMut;
use std::ffi::{CStr, c_int};

use mlua::LightUserData;
use mlua::ffi::{self, lua_State};

pub(crate) use super::native::{Failure, Outcome, ctx as vm, finish, run as with_vm};
use super::native::{VmCtx, VmState};
use super::raw;

pub(crate) use buffer::decode_event;

/// The loader of `skynet.socketdriver` (in `package.preload`, see `core_api`): the module table.
/// As skynet's, it refuses to load outside a service ("Init skynet context first"). A service
/// that is not trusted gets the confined network functions (see `net`); its profile never
/// changes, so the choice is made once, here.
pub(crate) unsafe extern "C-unwind" fn open(state: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as a C function; this frame owns nothing, so the errors raised here
    // (and allocation failures) unwind nothing.
    unsafe {
        let Some(ctx) = vm(state) else {
            raw::raise(state, "Init skynet context first");
        };
        let trusted = ctx.service.profile().is_trusted();
        ffi::lua_createtable(state, 0, 32);
        buffer::register(state);
        if trusted {
            net::register::<false>(state);
        } else {
            net::register::<true>(state);
        }
        1
    }
}

/// The VM's message state (its `Buffers`), or a failure if a native call up the stack holds it
/// (a finalizer re-entering during one).
pub(crate) fn state_mut(ctx: &VmCtx) -> Result<RefMut<'_, VmState>, Failure> {
    ctx.state
        .try_borrow_mut()
        .map_err(|_| Failure::Static("socket functions re-entered while the message state is busy"))
}

/// Moves `data` into the VM's buffers and pushes its token and size: how a new block (a frame,
/// a copy) is handed to Lua.
///
/// # Safety
/// `state` is live with two free stack slots (a light userdata and an integer allocate nothing,
/// so nothing raises).
pub(crate) unsafe fn push_block(state: *mut lua_State, ctx: &VmCtx, data: Vec<u8>) -> Result<(), Failure> {
    let size = data.len();
    let token = state_mut(ctx)?.buffers.insert(data);
    // SAFETY: per the contract.
    unsafe {
        ffi::lua_pushlightuserdata(state, token.0);
        ffi::lua_pushinteger(state, size as ffi::lua_Integer);
    }
    Ok(())
}

/// `bad argument #arg to 'function' (expected)`, as `luaL_argerror` words it.
#[cold]
pub(crate) unsafe fn bad_argument(
    state: *mut lua_State,
    arg: c_int,
    function: &str,
    expected: &str,
) -> Failure {
    // SAFETY: reads the type of a stack slot of a live state.
    let got = unsafe { raw::type_name(state, arg) };
    Failure::Text(format!("bad argument #{arg} to '{function}' ({expected} expected, got {got})"))
}

/// The integer at `arg`, converted as `luaL_checkinteger` does (a float with an exact integer
/// value, a numeric string).
///
/// # Safety
/// `state` is live and `arg` a valid index.
pub(crate) unsafe fn integer_arg(state: *mut lua_State, arg: c_int, function: &str) -> Result<i64, Failure> {
    // SAFETY: reads a stack slot of a live state; lua_tointegerx neither allocates nor raises.
    unsafe {
        let mut isnum = 0;
        let n = ffi::lua_tointegerx(state, arg, &mut isnum);
        if isnum != 0 {
            return Ok(n);
        }
        if ffi::lua_type(state, arg) == ffi::LUA_TNUMBER {
            return Err(Failure::Text(format!(
                "bad argument #{arg} to '{function}' (number has no integer representation)"
            )));
        }
        Err(bad_argument(state, arg, function, "number"))
    }
}

/// A size: an integer at `arg` that is not negative.
///
/// # Safety
/// As [`integer_arg`].
pub(crate) unsafe fn size_arg(state: *mut lua_State, arg: c_int, function: &str) -> Result<usize, Failure> {
    // SAFETY: per the contract.
    let n = unsafe { integer_arg(state, arg, function)? };
    usize::try_from(n)
        .map_err(|_| Failure::Text(format!("bad argument #{arg} to '{function}' (invalid size {n})")))
}

/// Checks that the value at `arg` is a table (the socket pool is type-checked only).
///
/// # Safety
/// As [`integer_arg`].
pub(crate) unsafe fn table_arg(state: *mut lua_State, arg: c_int, function: &str) -> Result<(), Failure> {
    // SAFETY: reads the type of a stack slot of a live state.
    unsafe {
        if ffi::lua_type(state, arg) == ffi::LUA_TTABLE {
            Ok(())
        } else {
            Err(bad_argument(state, arg, function, "table"))
        }
    }
}

/// The bytes of the string at `arg`; a number is converted in place, as `luaL_checklstring`
/// does. The slice lives as long as the string stays on the stack.
///
/// # Safety
/// As [`integer_arg`]; converting a number allocates and may raise, so the caller owns nothing
/// with a destructor when it calls this.
pub(crate) unsafe fn bytes_arg<'a>(
    state: *mut lua_State,
    arg: c_int,
    function: &str,
) -> Result<&'a [u8], Failure> {
    // SAFETY: per the contract; lua_tolstring on a string or a number returns its bytes, which
    // stay valid while the value is on the stack.
    unsafe {
        match ffi::lua_type(state, arg) {
            ffi::LUA_TSTRING | ffi::LUA_TNUMBER => {
                let mut len = 0;
                let ptr = ffi::lua_tolstring(state, arg, &mut len);
                Ok(std::slice::from_raw_parts(ptr.cast(), len))
            }
            _ => Err(bad_argument(state, arg, function, "string")),
        }
    }
}

/// The token at `arg`, or the failure `missing` if the value there is not a light userdata.
/// Whether the token names a live buffer is for `Buffers` to say.
///
/// # Safety
/// As [`integer_arg`].
pub(crate) unsafe fn token_arg(
    state: *mut lua_State,
    arg: c_int,
    missing: &'static str,
) -> Result<LightUserData, Failure> {
    // SAFETY: reads a stack slot of a live state.
    unsafe {
        if ffi::lua_type(state, arg) == ffi::LUA_TLIGHTUSERDATA {
            Ok(LightUserData(ffi::lua_touserdata(state, arg)))
        } else {
            Err(Failure::Static(missing))
        }
    }
}

/// Pushes `bytes` as a Lua string and drops them. The string is made in a protected call, so an
/// allocation failure is raised only after `bytes` are freed.
///
/// # Safety
/// Runs in a C function called by Lua on `state`; the caller's frames own nothing with a
/// destructor.
pub(crate) unsafe fn push_owned_bytes(state: *mut lua_State, bytes: Vec<u8>) {
    // SAFETY: per the contract; the protected call catches the error, and the stack keeps the
    // string (or the error value) on top.
    unsafe {
        let status = raw::protect(state, 0, 1, &mut |state| {
            ffi::lua_pushlstring(state, bytes.as_ptr().cast(), bytes.len());
            1
        });
        drop(bytes);
        if status != ffi::LUA_OK {
            raw::raise_top(state);
        }
    }
}

/// Pushes a new full userdata holding `T::default()`, with the metatable that is upvalue 1 of
/// the running C function, and returns its value's address. The value lives in Lua's memory
/// until [`release`] takes it out; Lua never moves a userdata's memory.
///
/// # Safety
/// Runs in a C closure whose upvalue 1 is a metatable built by [`push_metatable::<T>`]; the
/// caller's frames own nothing with a destructor (the allocation may raise).
pub(crate) unsafe fn new_userdata<T: Default>(state: *mut lua_State) -> *mut T {
    const { assert!(align_of::<T>() <= 8, "Lua aligns userdata memory to 8 bytes") };
    // SAFETY: per the contract. The block is fresh, large and aligned enough for a `T`; the
    // metatable is set before anything else can run, so Lua finalizes the value once it has one.
    unsafe {
        let value = ffi::lua_newuserdatauv(state, size_of::<T>(), 0) as *mut T;
        value.write(T::default());
        ffi::lua_pushvalue(state, ffi::lua_upvalueindex(1));
        ffi::lua_setmetatable(state, -2);
        value
    }
}

/// The value of the userdata at `arg` if its metatable is upvalue 1 of the running C function
/// (one made by [`new_userdata::<T>`] in this VM), else `None`. The pointer is valid while the
/// userdata is on the stack; a reference made from it must not outlive a call into Lua.
///
/// # Safety
/// As [`new_userdata`], except that nothing here raises.
pub(crate) unsafe fn own_userdata<T>(state: *mut lua_State, arg: c_int) -> Option<*mut T> {
    // SAFETY: reads a stack slot of a live state and pops what it pushed; uses one stack slot of
    // the LUA_MINSTACK a C function gets.
    unsafe {
        if ffi::lua_type(state, arg) != ffi::LUA_TUSERDATA || ffi::lua_getmetatable(state, arg) == 0 {
            return None;
        }
        let ours = ffi::lua_rawequal(state, -1, ffi::lua_upvalueindex(1)) != 0;
        ffi::lua_pop(state, 1);
        ours.then(|| ffi::lua_touserdata(state, arg) as *mut T)
    }
}

/// `__gc` and `__close` of a userdata made by [`new_userdata::<T>`]: takes its value out and
/// drops it, leaving `T::default()` (which owns nothing), so a second call, or a use of the
/// userdata after it, finds an empty value rather than freed memory.
unsafe extern "C-unwind" fn release<T: Default>(state: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as a C closure with the metatable as upvalue 1; the check makes sure
    // the argument holds a `T`. Dropping a `T` runs no Lua code.
    unsafe {
        if let Some(value) = own_userdata::<T>(state, 1) {
            drop(std::mem::take(&mut *value));
        }
        0
    }
}

/// Pushes a new metatable for userdata holding a `T`: `__name` = `name`, and `__gc` and
/// `__close` that free the value (see [`release`]).
///
/// # Safety
/// `state` is live; allocation may raise (the caller's frames own nothing with a destructor).
pub(crate) unsafe fn push_metatable<T: Default>(state: *mut lua_State, name: &CStr) {
    // SAFETY: per the contract.
    unsafe {
        ffi::lua_createtable(state, 0, 3);
        ffi::lua_pushstring(state, name.as_ptr());
        ffi::lua_setfield(state, -2, c"__name".as_ptr());
        for event in [c"__gc", c"__close"] {
            ffi::lua_pushvalue(state, -1);
            ffi::lua_pushcclosure(state, release::<T>, 1);
            ffi::lua_setfield(state, -2, event.as_ptr());
        }
    }
}

/// Sets `functions` in the table at absolute index `table`, each a C closure over the `upvalues`
/// values on top of the stack, then pops those values (what `luaL_setfuncs` does).
///
/// # Safety
/// `state` is live with a table at `table` and `upvalues` values on top; allocation may raise
/// (the caller's frames own nothing with a destructor).
pub(crate) unsafe fn set_functions(
    state: *mut lua_State,
    table: c_int,
    functions: &[(&CStr, ffi::lua_CFunction)],
    upvalues: c_int,
) {
    // SAFETY: per the contract; at most `upvalues` + 1 slots are pushed at a time.
    unsafe {
        if ffi::lua_checkstack(state, upvalues + 1) == 0 {
            raw::raise(state, "stack overflow");
        }
        for &(name, function) in functions {
            for _ in 0..upvalues {
                ffi::lua_pushvalue(state, -upvalues);
            }
            ffi::lua_pushcclosure(state, function, upvalues);
            ffi::lua_setfield(state, table, name.as_ptr());
        }
        ffi::lua_pop(state, upvalues);
    }
}
