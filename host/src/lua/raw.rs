//! Helpers for native functions written against Lua's C API.
//!
//! Lua raises errors with `longjmp`, which must never skip a Rust destructor. Native functions
//! therefore follow one rule: whatever may raise (a Lua error, an allocation in a memory-capped
//! VM, a metamethod) runs either where no value with a destructor is live, or inside
//! [`protect`], whose protected call stops the jump before it reaches the caller's frame.

use std::ffi::{c_int, c_void};
use std::fmt;

use mlua::ffi::{self, lua_State};

/// Runs `f` in protected mode with the top `nargs` values of the stack as its arguments, as
/// `lua_pcall` does; `f` returns how many values it leaves on top, `nresults` of which (or all,
/// with `LUA_MULTRET`) stay on the stack on success. On failure the error value is on top.
/// Returns the `lua_pcall` status.
///
/// # Safety
/// `state` is a live Lua state of the calling thread with `nargs` values on its stack. `f` must
/// not let a Rust panic escape and must own nothing with a destructor where it may raise.
pub(crate) unsafe fn protect<F: FnMut(*mut lua_State) -> c_int>(
    state: *mut lua_State,
    nargs: c_int,
    nresults: c_int,
    f: &mut F,
) -> c_int {
    unsafe extern "C-unwind" fn trampoline<F: FnMut(*mut lua_State) -> c_int>(
        state: *mut lua_State,
    ) -> c_int {
        // SAFETY: pushed by `protect` below as the last argument; `f` outlives the call.
        unsafe {
            let f = ffi::lua_touserdata(state, -1) as *mut F;
            ffi::lua_pop(state, 1);
            (*f)(state)
        }
    }
    // SAFETY: per the contract; a light C function and a light userdata allocate nothing, so
    // nothing here raises outside the protected call.
    unsafe {
        if ffi::lua_checkstack(state, 2) == 0 {
            ffi::lua_pop(state, nargs);
            ffi::lua_pushstring(state, c"stack overflow".as_ptr());
            return ffi::LUA_ERRMEM;
        }
        ffi::lua_pushcfunction(state, trampoline::<F>);
        ffi::lua_insert(state, -(nargs + 1));
        ffi::lua_pushlightuserdata(state, f as *mut F as *mut c_void);
        ffi::lua_pcall(state, nargs + 1, nresults, 0)
    }
}

/// Raises a Lua error whose value is `message`'s text (cut at 1 KiB): the one way native code
/// raises an error of its own. The text is copied onto this frame and `message` is dropped
/// before Lua unwinds, so an owned message (a `String`) is not leaked.
///
/// # Safety
/// Runs inside a Lua call on `state`; the caller's frames own nothing with a destructor.
pub(crate) unsafe fn raise(state: *mut lua_State, message: impl fmt::Display) -> ! {
    let mut text = FixedText { buf: [0; 1024], len: 0 };
    let _ = fmt::write(&mut text, format_args!("{message}"));
    drop(message);
    // SAFETY: per the contract; `text` is plain bytes on this frame.
    unsafe {
        ffi::lua_pushlstring(state, text.buf.as_ptr().cast(), text.len);
        ffi::lua_error(state)
    }
}

/// Raises the error value on top of the stack (left there by a failed [`protect`] or
/// `lua_pcall`).
///
/// # Safety
/// As [`raise`].
pub(crate) unsafe fn raise_top(state: *mut lua_State) -> ! {
    // SAFETY: per the contract.
    unsafe { ffi::lua_error(state) }
}

/// The bytes of the string at `index`, or `None` if the value is not a string. Numbers are not
/// converted (that would change the stack slot).
///
/// # Safety
/// `state` is live; the slice lives as long as the string stays on the stack.
pub(crate) unsafe fn string_at<'a>(state: *mut lua_State, index: c_int) -> Option<&'a [u8]> {
    // SAFETY: per the contract; lua_tolstring on a string neither allocates nor raises.
    unsafe {
        if ffi::lua_type(state, index) != ffi::LUA_TSTRING {
            return None;
        }
        let mut len = 0;
        let ptr = ffi::lua_tolstring(state, index, &mut len);
        Some(std::slice::from_raw_parts(ptr.cast(), len))
    }
}

/// The type name of the value at `index`, for error messages.
///
/// # Safety
/// `state` is live.
pub(crate) unsafe fn type_name(state: *mut lua_State, index: c_int) -> &'static str {
    // SAFETY: lua_typename returns static strings.
    unsafe {
        let name = ffi::lua_typename(state, ffi::lua_type(state, index));
        std::ffi::CStr::from_ptr(name).to_str().unwrap_or("?")
    }
}

/// A message buffer that needs no allocation (and so no destructor).
struct FixedText {
    buf: [u8; 1024],
    len: usize,
}

impl fmt::Write for FixedText {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = self.buf.len() - self.len;
        let n = s.len().min(room);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}
