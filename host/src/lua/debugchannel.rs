//! `skynet.debugchannel`: the channel between skynet's debug console agent (`debug_agent`) and
//! the service it debugs (`skynet.remotedebug`), and a `sethook` whose hook may yield (the
//! contract is skynet's `lualib-src/lua-debugchannel.c`).
//!
//! `create()` returns the writer's end and a handle the debugged service `connect`s to, once;
//! `read([timeout])` takes the next command, or sleeps `timeout` tenths of a second and returns
//! nothing (the debugged service's worker waits there, as in skynet: for debugging only).
//! skynet passes the channel's address; here the handle is a checked token, good while the
//! creator holds its end. `sethook([thread,] f, mask [, count])` is `debug.sethook` whose hook,
//! returning true, yields the running coroutine. It replaces skybox's interrupt hook on that
//! thread while it is set. skybox passes the hook a third argument, whether the coroutine can
//! yield there (not inside a metamethod or a C function's callback such as `table.sort`'s), and
//! does not yield when it cannot (skynet's raises "attempt to yield across a C-call boundary" in
//! the debugged code).

use std::collections::VecDeque;
use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use mlua::ffi::{self, lua_State};
use mlua::{LightUserData, Lua, Table, UserData, UserDataMethods};

use super::buffers::Tokens;
use super::core_api::{guarded, wrap_raising};

/// One channel: commands written by the agent, read by the debugged service.
#[derive(Default)]
struct Channel {
    commands: Mutex<VecDeque<Vec<u8>>>,
    /// A reader has connected (a channel takes one).
    connected: AtomicBool,
}

impl Channel {
    fn commands(&self) -> MutexGuard<'_, VecDeque<Vec<u8>>> {
        self.commands.lock().unwrap_or_else(|e| e.into_inner())
    }
}

static CHANNELS: Mutex<Tokens<Arc<Channel>>> = Mutex::new(Tokens::new());

fn channels() -> MutexGuard<'static, Tokens<Arc<Channel>>> {
    CHANNELS.lock().unwrap_or_else(|e| e.into_inner())
}

/// An end of a channel; the creator's end takes the handle away when it goes.
struct End {
    channel: Arc<Channel>,
    handle: Option<usize>,
}

impl Drop for End {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            channels().take(handle);
        }
    }
}

impl UserData for End {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_method("read", |lua, this, timeout: Option<f64>| {
            let command = this.channel.commands().pop_front();
            match command {
                Some(bytes) => Ok(Some(lua.create_string(bytes)?)),
                None => {
                    let secs = timeout.unwrap_or(0.0).clamp(0.0, 100.0) / 10.0;
                    std::thread::sleep(Duration::from_secs_f64(secs));
                    Ok(None)
                }
            }
        });
        methods.add_method("write", |_, this, command: mlua::LuaString| {
            this.channel.commands().push_back(command.as_bytes().to_vec());
            Ok(())
        });
    }
}

/// The module, as `require "skynet.debugchannel"` returns it.
pub(crate) fn module(lua: &Lua) -> mlua::Result<Table> {
    let raw = lua.create_table()?;
    raw.set(
        "create",
        guarded(lua, |lua, ()| {
            let channel = Arc::new(Channel::default());
            let handle = channels().insert(channel.clone());
            let end = lua.create_userdata(End { channel, handle: Some(handle) })?;
            Ok((end, LightUserData(std::ptr::without_provenance_mut::<c_void>(handle))))
        })?,
    )?;
    raw.set(
        "connect",
        guarded(lua, |lua, handle: LightUserData| {
            let channel = channels()
                .get(handle.0 as usize)
                .cloned()
                .ok_or_else(|| mlua::Error::runtime("Invalid channel pointer"))?;
            if channel.connected.swap(true, Ordering::AcqRel) {
                return Err(mlua::Error::runtime("new channel failed"));
            }
            lua.create_userdata(End { channel, handle: None })
        })?,
    )?;
    // `release(end)`: the end goes now rather than at its collection.
    raw.set(
        "release",
        guarded(lua, |_, end: mlua::AnyUserData| {
            if let Ok(mut end) = end.borrow_mut::<End>()
                && let Some(handle) = end.handle.take()
            {
                channels().take(handle);
            }
            Ok(())
        })?,
    )?;
    let module = wrap_raising(lua, raw)?;
    // SAFETY: `sethook` is a C function following Lua's protocol.
    module.set("sethook", unsafe { lua.create_c_function(sethook)? })?;
    Ok(module)
}

/// The registry key of the table of hook functions by thread (its address).
static HOOKKEY: u8 = 0;

fn hookkey() -> *const c_void {
    (&raw const HOOKKEY).cast()
}

/// Calls the thread's hook function with the event's name, the line and whether the thread can
/// yield; yields if it returns true and can.
unsafe extern "C-unwind" fn hook(state: *mut lua_State, ar: *mut ffi::lua_Debug) {
    const NAMES: [&std::ffi::CStr; 5] = [c"call", c"return", c"line", c"count", c"tail call"];
    // SAFETY: called by Lua as a hook on a live thread; this frame owns nothing, so an error
    // raised by the hook function, or the yield, may unwind through it.
    unsafe {
        ffi::lua_rawgetp(state, ffi::LUA_REGISTRYINDEX, hookkey());
        ffi::lua_pushthread(state);
        if ffi::lua_rawget(state, -2) != ffi::LUA_TFUNCTION {
            ffi::lua_pop(state, 2);
            return;
        }
        let event = (*ar).event as usize;
        ffi::lua_pushstring(state, NAMES.get(event).unwrap_or(&c"count").as_ptr());
        if (*ar).currentline >= 0 {
            ffi::lua_pushinteger(state, ffi::lua_Integer::from((*ar).currentline));
        } else {
            ffi::lua_pushnil(state);
        }
        let yieldable = ffi::lua_isyieldable(state) != 0;
        ffi::lua_pushboolean(state, c_int::from(yieldable));
        ffi::lua_call(state, 3, 1);
        let yield_now = yieldable && ffi::lua_toboolean(state, -1) != 0;
        ffi::lua_pop(state, 2);
        if yield_now {
            ffi::lua_yield(state, 0);
        }
    }
}

/// `sethook([thread,] f, mask [, count])`, or `sethook([thread])` to turn the hook off.
unsafe extern "C-unwind" fn sethook(state: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as a C function; the checks raise before anything is changed, and
    // this frame owns nothing.
    unsafe {
        let (thread, arg) = if ffi::lua_type(state, 1) == ffi::LUA_TTHREAD {
            (ffi::lua_tothread(state, 1), 1)
        } else {
            (state, 0)
        };
        let (func, mask, count): (Option<ffi::lua_Hook>, c_int, c_int) =
            if ffi::lua_isnoneornil(state, arg + 1) != 0 {
                ffi::lua_settop(state, arg + 1);
                (None, 0, 0)
            } else {
                let smask = std::ffi::CStr::from_ptr(ffi::luaL_checkstring(state, arg + 2)).to_bytes();
                ffi::luaL_checktype(state, arg + 1, ffi::LUA_TFUNCTION);
                let count =
                    ffi::luaL_optinteger(state, arg + 3, 0).clamp(0, c_int::MAX as ffi::lua_Integer) as c_int;
                let mut mask = 0;
                if smask.contains(&b'c') {
                    mask |= ffi::LUA_MASKCALL;
                }
                if smask.contains(&b'r') {
                    mask |= ffi::LUA_MASKRET;
                }
                if smask.contains(&b'l') {
                    mask |= ffi::LUA_MASKLINE;
                }
                if count > 0 {
                    mask |= ffi::LUA_MASKCOUNT;
                }
                (Some(hook as ffi::lua_Hook), mask, count)
            };
        if ffi::lua_rawgetp(state, ffi::LUA_REGISTRYINDEX, hookkey()) == ffi::LUA_TNIL {
            ffi::lua_pop(state, 1);
            ffi::lua_createtable(state, 0, 2);
            ffi::lua_pushvalue(state, -1);
            ffi::lua_rawsetp(state, ffi::LUA_REGISTRYINDEX, hookkey());
            ffi::lua_pushstring(state, c"k".as_ptr());
            ffi::lua_setfield(state, -2, c"__mode".as_ptr());
            ffi::lua_pushvalue(state, -1);
            ffi::lua_setmetatable(state, -2);
        }
        // The key is pushed here, not on `thread`: a thread stopped in a hook may have no
        // stack room left (pushing there failed Lua's API check and aborted the process).
        if arg == 1 {
            ffi::lua_pushvalue(state, 1);
        } else {
            ffi::lua_pushthread(state);
        }
        ffi::lua_pushvalue(state, arg + 1);
        ffi::lua_rawset(state, -3);
        ffi::lua_sethook(thread, func, mask, count);
        0
    }
}
