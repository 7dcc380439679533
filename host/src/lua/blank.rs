//! Blank Lua VMs: a state with the standard libraries and `skynet.core` and the generational
//! collector, stopped, and nothing of any service yet. Building one is about a third of a Lua service's launch and
//! none of it depends on the service, so a helper thread keeps a few ready: a launch takes one
//! (or builds one itself when none is ready) and the helper builds the next while the new
//! service boots. The helper runs only on CPU time no other thread wants (`SCHED_IDLE`), so on
//! a busy host launches simply build their own, as before.

use std::sync::{Condvar, Mutex, OnceLock};

use mlua::{Lua, LuaOptions, StdLib};

/// VMs kept ready (~15 KB each): enough for a burst of launches while the helper catches up.
const READY: usize = 4;

/// Builds a blank VM.
pub(crate) fn build() -> mlua::Result<Lua> {
    // Before the VM exists: only VMs created after the code state is frozen share it.
    super::embed::shared_code();
    // SAFETY: `unsafe_new_with` is needed for the `debug` library, which skynet's Lua code uses
    // (tracebacks, the registry for memlimit). A trusted Lua service runs operator-supplied
    // code, as in skynet; the VM of an untrusted one loses `debug` (but `traceback`), bytecode,
    // `io` and the rest before its code runs (`confine`, per service: a blank VM belongs to no
    // service yet).
    let lua = unsafe { Lua::unsafe_new_with(StdLib::ALL_SAFE | StdLib::DEBUG, LuaOptions::new()) };
    // The library's native side: it looks the service up when called. Installed before the
    // switch below, which makes everything here old: a service's collections never mark it.
    super::core_api::install(&lua)?;
    // skynet runs its VMs with the generational collector: most service garbage dies young.
    // SAFETY: switching the collector's mode allocates nothing.
    unsafe { lua.exec_raw::<()>((), |state| _ = mlua::ffi::lua_gc(state, mlua::ffi::LUA_GCGEN, 0, 0))? };
    // As snlua: no collection while the VM is built and the loader runs (the heap only grows
    // then, and marking it over and over would be most of a spawn's cost); the service restarts
    // the collector when it has booted.
    lua.gc_stop();
    Ok(lua)
}

/// A blank VM: a ready one, else one built now.
pub(crate) fn take() -> mlua::Result<Lua> {
    let pool = pool();
    // Never waits for the helper: it runs at idle priority and may be preempted holding the lock.
    let ready = pool.ready.try_lock().ok().and_then(|mut ready| ready.pop());
    pool.taken.notify_one();
    match ready {
        Some(lua) => Ok(lua),
        None => build(),
    }
}

/// The ready VMs, and the helper's wake-up.
struct Pool {
    ready: Mutex<Vec<Lua>>,
    /// Signalled when a VM is taken.
    taken: Condvar,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| {
        // Here, not in the helper: a launch must not wait on a one-time build at idle priority.
        super::embed::shared_code();
        // Without the helper, launches build their own VMs.
        let _ = std::thread::Builder::new().name("skybox-lua-blank".into()).spawn(keep_ready);
        Pool { ready: Mutex::new(Vec::with_capacity(READY)), taken: Condvar::new() }
    })
}

/// The helper thread: keeps `READY` VMs built, for the life of the process.
fn keep_ready() {
    run_when_idle();
    let pool = pool();
    loop {
        {
            let mut ready = pool.ready.lock().unwrap_or_else(|e| e.into_inner());
            while ready.len() >= READY {
                ready = pool.taken.wait(ready).unwrap_or_else(|e| e.into_inner());
            }
        }
        // Built outside the lock: a launch meanwhile builds its own rather than wait.
        match build() {
            Ok(lua) => pool.ready.lock().unwrap_or_else(|e| e.into_inner()).push(lua),
            Err(_) => return,
        }
    }
}

/// Schedules the calling thread only on otherwise idle CPU time (Linux `SCHED_IDLE`): building
/// VMs ahead must never take a core from a worker. Elsewhere, or if refused, it runs as usual.
fn run_when_idle() {
    #[cfg(target_os = "linux")]
    // SAFETY: sets the policy of the calling thread (pid 0) from a valid parameter block.
    unsafe {
        let param = libc::sched_param { sched_priority: 0 };
        libc::sched_setscheduler(0, libc::SCHED_IDLE, &param);
    }
}
