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
//! `closed`, signallers leave the VM alone for good. That protocol is [`Switch`], generic over
//! the state so that the model tests (`mod loom_tests`) run it on stand-in states.

use std::ffi::{c_int, c_void};

use mlua::Lua;
use mlua::ffi::{self, lua_Debug, lua_State};

// loom's atomics in the model tests (see `crate::sync`).
use crate::sync::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};

const REGISTRY_KEY: &std::ffi::CStr = c"skybox.interrupt";

#[derive(Default)]
pub(crate) struct Interrupt {
    main: AtomicPtr<lua_State>,
    switch: Switch<lua_State>,
}

/// Which state of a VM runs, who is using it from another thread, and the pending signal.
///
/// The VM thread calls [`Switch::enter`] on every switch between states and [`Switch::close`]
/// before it frees its states; any thread calls [`Switch::signal`]. Invariants (all accesses
/// SeqCst):
///
/// - A signaller uses only the state `active` holds between its counting in and out of
///   `signallers`; the VM thread, after storing a new `active`, waits until `signallers` reads
///   0. So a state the VM switched away from is no longer used once `enter` returns, and may be
///   freed; the signaller's use happens-before that (its decrement is the store the VM's load
///   reads), or it read the new `active` (its increment came after the VM's store).
/// - `close` stores a null `active` and `closed`, then waits the same way: afterwards no
///   signaller uses any state.
/// - `trap` is set before a signaller counts in and is read by `enter` after the switch: either
///   the signaller hooks the new state, or `enter` sees `trap` and hooks it. A signal is not lost
///   on a state that stops running.
pub(crate) struct Switch<S> {
    active: AtomicPtr<S>,
    signallers: AtomicUsize,
    closed: AtomicBool,
    trap: AtomicBool,
}

impl<S> Default for Switch<S> {
    fn default() -> Self {
        Switch {
            active: AtomicPtr::default(),
            signallers: AtomicUsize::default(),
            closed: AtomicBool::default(),
            trap: AtomicBool::default(),
        }
    }
}

impl<S> Switch<S> {
    /// Sets the pending signal and calls `hook` with the active state, if any and not closed.
    /// The state stays live until `hook` returns.
    pub(crate) fn signal(&self, hook: impl FnOnce(*mut S)) {
        self.trap.store(true, Ordering::SeqCst);
        self.signallers.fetch_add(1, Ordering::SeqCst);
        if !self.closed.load(Ordering::SeqCst) {
            let state = self.active.load(Ordering::SeqCst);
            if !state.is_null() {
                hook(state);
            }
        }
        self.signallers.fetch_sub(1, Ordering::SeqCst);
    }

    /// Takes the pending signal, if any.
    pub(crate) fn take_trap(&self) -> bool {
        self.trap.swap(false, Ordering::SeqCst)
    }

    /// Makes `state` the active one (the VM thread, at install: no state was active before).
    pub(crate) fn activate(&self, state: *mut S) {
        self.active.store(state, Ordering::SeqCst);
    }

    /// Makes `state` the active one and, if a signal is pending, calls `hook` with it (the VM
    /// thread, on every switch). On return no signaller uses the state active before.
    pub(crate) fn enter(&self, state: *mut S, hook: impl FnOnce(*mut S)) {
        self.switch_to(state);
        if self.trap.load(Ordering::SeqCst) {
            hook(state);
        }
    }

    fn switch_to(&self, state: *mut S) {
        // Only the VM thread stores `closed`.
        if self.closed.load(Ordering::Relaxed) {
            return;
        }
        self.active.store(state, Ordering::SeqCst);
        while self.signallers.load(Ordering::SeqCst) != 0 {
            spin();
        }
    }

    /// Called before the VM is closed: no signaller touches its states from now on.
    pub(crate) fn close(&self) {
        self.active.store(std::ptr::null_mut(), Ordering::SeqCst);
        self.closed.store(true, Ordering::SeqCst);
        while self.signallers.load(Ordering::SeqCst) != 0 {
            spin();
        }
    }
}

/// A turn of a spin-wait (under loom, a yield to the other model threads).
#[inline]
fn spin() {
    #[cfg(not(feature = "loom"))]
    std::hint::spin_loop();
    #[cfg(feature = "loom")]
    loom::thread::yield_now();
}

impl Interrupt {
    /// Asks the running handler to stop with `"signal 0"`.
    pub(crate) fn signal(&self) {
        self.switch.signal(|state| {
            // SAFETY: `state` is live while the hook runs (see `Switch`: the VM thread does not
            // release a state it switched away from while a signaller is counted in, and
            // `close` stops signallers before the VM is closed). The call itself races with the
            // VM thread: lua_sethook stores the hook fields and walks the call-info chain to set
            // traps while the VM may be returning through it. Lua documents the call as safe
            // from a signal handler, i.e. on a frozen thread; from another thread the risk of
            // that walk is the one skynet's SIGNAL has always taken. It is confined to explicit
            // interrupts (SIGNAL, the endless-loop monitor, a stop), never the message path.
            unsafe { ffi::lua_sethook(state, Some(signal_hook), ffi::LUA_MASKCOUNT, 1) };
        });
    }

    /// Drops a signal that arrived between messages, at the start of the next one.
    pub(crate) fn reset(&self) {
        if self.switch.take_trap() {
            let main = self.main.load(Ordering::Relaxed);
            // SAFETY: called on the VM's own thread before it runs any Lua code; the main state
            // lives as long as the VM.
            unsafe { ffi::lua_sethook(main, None, 0, 0) };
        }
    }

    /// Called before the VM is closed: no signaller touches its states from now on.
    pub(crate) fn close(&self) {
        self.switch.close();
    }

    /// Installs the tracking `coroutine.resume` (and a `coroutine.wrap` built on it) in `lua` and
    /// marks its main state active. `self` must outlive the VM (the VM keeps a raw pointer).
    pub(crate) fn install(&self, lua: &Lua) -> mlua::Result<()> {
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
            self.switch.activate(state);
        });
        COROUTINE_WRAP.source().load(lua)?.call(())
    }

    /// Makes `state` the active one, and hooks it if a signal is pending.
    ///
    /// # Safety
    /// `state` must be a live state of this VM, and this must run on the VM's thread.
    unsafe fn enter(&self, state: *mut lua_State) {
        self.switch.enter(state, |state| {
            // SAFETY: per the contract, on the VM's own thread with a live state.
            unsafe { ffi::lua_sethook(state, Some(signal_hook), ffi::LUA_MASKCOUNT, 1) };
        });
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
        if interrupt.is_null() || !(*interrupt).switch.take_trap() {
            return;
        }
        ffi::lua_pushstring(state, c"signal 0".as_ptr());
        ffi::lua_error(state);
    }
}

/// Model tests (`cargo test -p skybox --release --features loom --lib loom`): the [`Switch`]
/// protocol under every interleaving loom explores (see `crate::sync`), on stand-in states whose
/// release is a write to a loom-tracked cell, so a signaller's use of a released state is a
/// reported race.
#[cfg(all(test, feature = "loom"))]
mod loom_tests {
    use loom::cell::UnsafeCell;
    use loom::sync::Arc;
    use loom::sync::atomic::AtomicBool;
    use loom::thread;

    use super::Switch;
    use crate::sync::{Ordering, model};

    /// A stand-in `lua_State`: `lua_sethook` reads it and sets `hooked`; releasing it (the
    /// collector freeing a finished coroutine, or `lua_close`) writes it.
    struct State {
        live: UnsafeCell<bool>,
        hooked: AtomicBool,
    }

    impl State {
        fn new() -> *mut State {
            Box::into_raw(Box::new(State { live: UnsafeCell::new(true), hooked: AtomicBool::new(false) }))
        }

        /// `lua_sethook`, from a signaller or the VM thread.
        fn hook(state: *mut State) {
            // SAFETY: the protocol under test keeps `state` allocated while the hook runs (the
            // boxes are freed only after the model's threads are joined); whether it is still
            // live, i.e. not released, is what loom and the assertion check.
            let state = unsafe { &*state };
            // SAFETY: a read; loom reports it if it is not ordered with the release's write.
            state.live.with(|live| assert!(unsafe { *live }, "a signaller used a released state"));
            state.hooked.store(true, Ordering::Relaxed);
        }

        /// What the VM thread does to a state once nobody may use it: frees it.
        fn release(state: *mut State) {
            // SAFETY: allocated until the end of the model (see `hook`).
            let state = unsafe { &*state };
            // SAFETY: a write; loom reports it if a signaller's read is not ordered before it.
            state.live.with_mut(|live| unsafe { *live = false });
        }

        fn hooked(state: *mut State) -> bool {
            // SAFETY: allocated until the end of the model (see `hook`).
            unsafe { &*state }.hooked.load(Ordering::Relaxed)
        }

        fn free(state: *mut State) {
            // SAFETY: made by `new`, freed once, after every model thread that used it ended.
            drop(unsafe { Box::from_raw(state) });
        }
    }

    /// The model's states, as addresses (raw pointers are not `Send`).
    #[derive(Clone, Copy)]
    struct States {
        main: usize,
        co: usize,
    }

    impl States {
        fn new() -> States {
            States { main: State::new() as usize, co: State::new() as usize }
        }

        fn main(self) -> *mut State {
            self.main as *mut State
        }

        fn co(self) -> *mut State {
            self.co as *mut State
        }

        fn free(self) {
            State::free(self.main());
            State::free(self.co());
        }
    }

    fn signaller(switch: &Arc<Switch<State>>) -> thread::JoinHandle<()> {
        let switch = switch.clone();
        thread::spawn(move || switch.signal(State::hook))
    }

    /// Two signallers while the VM resumes a coroutine, returns from it, frees it, closes and
    /// frees its main state: no signaller uses a state after the VM switched away from it and
    /// released it, nor any state after `close`.
    #[test]
    fn loom_interrupt_signallers_never_use_a_released_state() {
        model(4, || {
            let states = States::new();
            let switch = Arc::new(Switch::<State>::default());
            switch.activate(states.main());
            let signallers = [signaller(&switch), signaller(&switch)];
            switch.enter(states.co(), State::hook);
            switch.enter(states.main(), State::hook);
            State::release(states.co());
            switch.close();
            State::release(states.main());
            for signaller in signallers {
                signaller.join().unwrap();
            }
            states.free();
        });
    }

    /// A signal while the VM resumes a coroutine and returns from it: whichever state the
    /// signaller finds, the state running at the end is hooked (the signal is not lost on the
    /// coroutine that stopped running).
    #[test]
    fn loom_interrupt_a_signal_is_not_lost_on_a_switch() {
        model(8, || {
            let states = States::new();
            let switch = Arc::new(Switch::<State>::default());
            switch.activate(states.main());
            let signaller = signaller(&switch);
            switch.enter(states.co(), State::hook);
            switch.enter(states.main(), State::hook);
            signaller.join().unwrap();
            assert!(State::hooked(states.main()), "the signal was lost");
            states.free();
        });
    }
}
