//! Interrupting a running Lua handler from another thread (skynet's SIGNAL, the endless-loop
//! monitor).
//!
//! Lua hooks are per coroutine, so the VM must know which coroutine runs right now: skybox
//! replaces `coroutine.resume` with a native one that records the active `lua_State` on the
//! way in and out. To interrupt, another thread sets `trap` and installs a count hook on the
//! active coroutine; the hook raises `"signal 0"` inside the handler, which fails like any Lua
//! error (its caller gets an error reply) and the service goes on with its next message. The hook
//! raises only while `trap` is still set, so a hook left on a coroutine that has already yielded
//! cannot fail a later, unrelated request; and every switch between coroutines re-hooks the one
//! taking over while `trap` is set, so a signal is not lost on a coroutine that stops running.
//!
//! The active state may be a coroutine that finishes and is collected right after it is read.
//! `signallers` closes that window: a signaller counts itself in before reading `active` and out
//! after `lua_sethook`; the VM thread, after switching `active` away from a coroutine, waits until
//! no signaller is in, so a state is never freed while a signaller may still use it. Once
//! `closed`, signallers leave the VM alone for good.

use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};

use mlua::Lua;
use mlua::ffi::{self, lua_Debug, lua_State};

const REGISTRY_KEY: &std::ffi::CStr = c"skybox.interrupt";

#[derive(Default)]
pub struct Interrupt {
    main: AtomicPtr<lua_State>,
    active: AtomicPtr<lua_State>,
    signallers: AtomicUsize,
    closed: AtomicBool,
    trap: AtomicBool,
}

impl Interrupt {
    /// Asks the running handler to stop with `"signal 0"`.
    pub fn signal(&self) {
        self.trap.store(true, Ordering::SeqCst);
        self.signallers.fetch_add(1, Ordering::SeqCst);
        if !self.closed.load(Ordering::SeqCst) {
            let state = self.active.load(Ordering::SeqCst);
            if !state.is_null() {
                // SAFETY: `state` is live: the VM thread does not release a state it switched
                // away from while a signaller is counted in (see `switch_to`), and `closed` stops
                // signallers before the VM is closed. The call itself races with the VM thread:
                // lua_sethook stores the hook fields and walks the call-info chain to set traps
                // while the VM may be returning through it. Lua documents the call as safe from
                // a signal handler, i.e. on a frozen thread; from another thread the risk of that
                // walk is the one skynet's SIGNAL has always taken. It is confined to explicit
                // interrupts (SIGNAL, the endless-loop monitor, a stop), never the message path.
                unsafe { ffi::lua_sethook(state, Some(signal_hook), ffi::LUA_MASKCOUNT, 1) };
            }
        }
        self.signallers.fetch_sub(1, Ordering::SeqCst);
    }

    /// Drops a signal that arrived between messages, at the start of the next one.
    pub fn reset(&self) {
        if self.trap.swap(false, Ordering::SeqCst) {
            let main = self.main.load(Ordering::Relaxed);
            // SAFETY: called on the VM's own thread before it runs any Lua code; the main state
            // lives as long as the VM.
            unsafe { ffi::lua_sethook(main, None, 0, 0) };
        }
    }

    fn switch_to(&self, state: *mut lua_State) {
        if self.closed.load(Ordering::Relaxed) {
            return;
        }
        self.active.store(state, Ordering::SeqCst);
        while self.signallers.load(Ordering::SeqCst) != 0 {
            std::hint::spin_loop();
        }
    }

    /// Called before the VM is closed: no signaller touches its states from now on.
    pub fn close(&self) {
        self.active.store(std::ptr::null_mut(), Ordering::SeqCst);
        self.closed.store(true, Ordering::SeqCst);
        while self.signallers.load(Ordering::SeqCst) != 0 {
            std::hint::spin_loop();
        }
    }

    /// Installs the tracking `coroutine.resume` (and a `coroutine.wrap` built on it) in `lua` and
    /// marks its main state active. `self` must outlive the VM (the VM keeps a raw pointer).
    pub fn install(&self, lua: &Lua) -> mlua::Result<()> {
        let me = self as *const Interrupt as *mut c_void;
        lua.exec_raw_lua(|raw| {
            let state = raw.state();
            // SAFETY: balanced stack use on the main state, outside any running Lua code; the
            // pushed closure's upvalue points at `self`, which the caller keeps alive.
            unsafe {
                ffi::lua_getglobal(state, c"coroutine".as_ptr());
                ffi::lua_pushlightuserdata(state, me);
                ffi::lua_pushcclosure(state, tracking_resume, 1);
                ffi::lua_setfield(state, -2, c"resume".as_ptr());
                ffi::lua_pop(state, 1);
                ffi::lua_pushlightuserdata(state, me);
                ffi::lua_setfield(state, ffi::LUA_REGISTRYINDEX, REGISTRY_KEY.as_ptr());
            }
            self.main.store(state, Ordering::SeqCst);
            self.active.store(state, Ordering::SeqCst);
        });
        COROUTINE_WRAP.source().load(lua)?.call(())
    }

    /// Makes `state` the active one, and hooks it if a signal is pending.
    ///
    /// # Safety
    /// `state` must be a live state of this VM, and this must run on the VM's thread.
    unsafe fn enter(&self, state: *mut lua_State) {
        self.switch_to(state);
        if self.trap.load(Ordering::SeqCst) {
            // SAFETY: per the contract, on the VM's own thread with a live state.
            unsafe { ffi::lua_sethook(state, Some(signal_hook), ffi::LUA_MASKCOUNT, 1) };
        }
    }
}

/// `coroutine.wrap` on top of the tracking `coroutine.resume`.
pub(super) static COROUTINE_WRAP: super::embed::HostChunk = super::embed::HostChunk {
    chunkname: "=[skybox coroutine.wrap]",
    code: r#"
    local create, resume, close = coroutine.create, coroutine.resume, coroutine.close
    local function unwrap(co, ok, ...)
        if ok then return ... end
        close(co)
        error((...), 0)
    end
    coroutine.wrap = function(f)
        local co = create(f)
        return function(...) return unwrap(co, resume(co, ...)) end
    end
    "#,
};

/// `coroutine.resume` with the same results as Lua's, recording the active coroutine.
unsafe extern "C-unwind" fn tracking_resume(state: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as a C function with the upvalue set up in `install`; all stack
    // operations follow lua_resume's documented protocol (as luaB_coresume does). No Rust value
    // with a destructor is live where Lua may raise.
    unsafe {
        let interrupt = &*(ffi::lua_touserdata(state, ffi::lua_upvalueindex(1)) as *const Interrupt);
        let co = ffi::lua_tothread(state, 1);
        if co.is_null() {
            return ffi::luaL_error(state, c"bad argument #1 to 'resume' (coroutine expected)".as_ptr());
        }
        let nargs = ffi::lua_gettop(state) - 1;
        if ffi::lua_checkstack(co, nargs) == 0 {
            ffi::lua_pushboolean(state, 0);
            ffi::lua_pushstring(state, c"too many arguments to resume".as_ptr());
            return 2;
        }
        ffi::lua_xmove(state, co, nargs);
        interrupt.enter(co);
        let mut nres: c_int = 0;
        let status = ffi::lua_resume(co, state, nargs, &mut nres);
        interrupt.enter(state);
        if status == ffi::LUA_OK || status == ffi::LUA_YIELD {
            if ffi::lua_checkstack(state, nres + 1) == 0 {
                ffi::lua_pop(co, nres);
                ffi::lua_pushboolean(state, 0);
                ffi::lua_pushstring(state, c"too many results to resume".as_ptr());
                return 2;
            }
            ffi::lua_pushboolean(state, 1);
            ffi::lua_xmove(co, state, nres);
            nres + 1
        } else {
            // The message goes below `false`; when `co` is `state` itself (resuming the running
            // coroutine) the message is already on this stack.
            ffi::lua_xmove(co, state, 1);
            ffi::lua_pushboolean(state, 0);
            ffi::lua_insert(state, -2);
            2
        }
    }
}

/// The count hook a signal installs: removes itself and, if the signal is still pending, raises
/// `"signal 0"` in the running code.
unsafe extern "C-unwind" fn signal_hook(state: *mut lua_State, _ar: *mut lua_Debug) {
    // SAFETY: runs inside the VM on the thread executing `state`; the registry entry was set by
    // `install` and points at an `Interrupt` that outlives the VM. Raising an error from a hook is
    // the documented way to abort running code; no Rust value with a destructor is live here.
    unsafe {
        ffi::lua_sethook(state, None, 0, 0);
        ffi::lua_getfield(state, ffi::LUA_REGISTRYINDEX, REGISTRY_KEY.as_ptr());
        let interrupt = ffi::lua_touserdata(state, -1) as *const Interrupt;
        ffi::lua_pop(state, 1);
        if interrupt.is_null() || !(*interrupt).trap.swap(false, Ordering::SeqCst) {
            return;
        }
        ffi::lua_pushstring(state, c"signal 0".as_ptr());
        ffi::lua_error(state);
    }
}
