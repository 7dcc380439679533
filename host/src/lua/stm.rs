//! `skynet.stm`: one service publishes a value, others read its latest version without a
//! message per update (the contract is skynet's `lualib-src/lua-stm.c`).
//!
//! ```lua
//! local obj = stm.new(skynet.pack(1, 2))      -- the writer (a message block or a string)
//! skynet.call(reader, "lua", stm.copy(obj))   -- a reference to hand to one reader
//! local r = stm.newcopy(ref)                  -- in the reader: a reader object
//! r(skynet.unpack)                            -- true, 1, 2 (false: nothing new since last read)
//! obj(skynet.pack(3))                         -- a new version
//! ```
//!
//! The versions are reference-counted byte strings: the writer swaps in a new one under a short
//! write lock, readers take the current one under a read lock, and a version lives until neither
//! the object nor any reader's last read holds it. When the writer is collected the object has
//! no version any more (readers read `false`). `copy` returns a light userdata naming a
//! reference kept in a process-wide table until one `newcopy` takes it, so it can travel in a
//! message (skynet.pack keeps light userdata); a forged, stale or reused one is an error, never
//! a dereference. A reader's function gets the bytes as a string (with their size): skynet's
//! `skynet.unpack` and skybox's take strings as they take message blocks.

use std::ffi::{c_int, c_void};
use std::sync::{Arc, Mutex, RwLock};

use mlua::ffi::{self, lua_State};
use mlua::{Lua, Table};

use super::buffers::Tokens;
use super::native::VmCtx;
use super::raw;
use super::socketdriver::{
    Failure, bad_argument, new_userdata, own_userdata, push_metatable, set_functions, size_arg, state_mut,
    token_arg, with_vm,
};

/// A published value: its current version, none once the writer is gone.
struct Object {
    current: RwLock<Option<Arc<[u8]>>>,
}

/// The writer's userdata. Dropping it (its `__gc`) takes the version away.
#[derive(Default)]
struct Writer(Option<Arc<Object>>);

impl Drop for Writer {
    fn drop(&mut self) {
        if let Some(object) = &self.0 {
            *object.current.write().unwrap_or_else(|e| e.into_inner()) = None;
        }
    }
}

/// A reader's userdata: the object and the version it read last.
#[derive(Default)]
struct Reader {
    object: Option<Arc<Object>>,
    last: Option<Arc<[u8]>>,
}

/// References made by `copy` and not yet taken by `newcopy`.
static COPIES: Mutex<Tokens<Arc<Object>>> = Mutex::new(Tokens::new());

fn copies() -> std::sync::MutexGuard<'static, Tokens<Arc<Object>>> {
    COPIES.lock().unwrap_or_else(|e| e.into_inner())
}

/// The module, as `require "skynet.stm"` returns it.
pub(crate) fn module(lua: &Lua) -> mlua::Result<Table> {
    // SAFETY: `open` is a C function following Lua's protocol.
    unsafe { lua.create_c_function(open)? }.call(())
}

/// Builds the module table: `new` and `copy` close over the writers' metatable, `newcopy` over
/// the readers'; each metatable's `__call` closes over itself.
unsafe extern "C-unwind" fn open(state: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as a C function; this frame owns nothing.
    unsafe {
        ffi::lua_createtable(state, 0, 3);
        let table = ffi::lua_gettop(state);
        push_metatable::<Writer>(state, c"stm_writer");
        let writers = ffi::lua_gettop(state);
        ffi::lua_pushvalue(state, writers);
        set_functions(state, writers, &[(c"__call", update)], 1);
        set_functions(state, table, &[(c"new", new), (c"copy", copy)], 1);
        push_metatable::<Reader>(state, c"stm_reader");
        let readers = ffi::lua_gettop(state);
        ffi::lua_pushvalue(state, readers);
        set_functions(state, readers, &[(c"__call", read)], 1);
        set_functions(state, table, &[(c"newcopy", newcopy)], 1);
        1
    }
}

/// The bytes at `arg`: a string (copied) or a message block and its size (taken).
unsafe fn version_arg(
    state: *mut lua_State,
    ctx: &VmCtx,
    arg: c_int,
    function: &str,
) -> Result<Arc<[u8]>, Failure> {
    // SAFETY: reads stack slots of a live state; nothing raises.
    unsafe {
        if let Some(bytes) = raw::string_at(state, arg) {
            return Ok(Arc::from(bytes));
        }
        if ffi::lua_type(state, arg) != ffi::LUA_TLIGHTUSERDATA {
            return Err(bad_argument(state, arg, function, "string or message"));
        }
        let size = size_arg(state, arg + 1, function)?;
        let block = state_mut(ctx)?.buffers.take(token_arg(state, arg, "")?, Some(size))?;
        Ok(Arc::from(block))
    }
}

/// `new(msg, sz)` or `new(string)`: a writer holding the first version.
unsafe extern "C-unwind" fn new(state: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as a C closure over the writers' metatable. The userdata is made
    // (it may raise) before the version is taken out of the arguments.
    unsafe {
        with_vm(state, |ctx| {
            let writer = new_userdata::<Writer>(state);
            let first = version_arg(state, ctx, 1, "new")?;
            (*writer).0 = Some(Arc::new(Object { current: RwLock::new(Some(first)) }));
            Ok(1)
        })
    }
}

/// The writer at `arg`, or an error.
unsafe fn writer_arg<'a>(
    state: *mut lua_State,
    arg: c_int,
    function: &str,
) -> Result<&'a Arc<Object>, Failure> {
    // SAFETY: per `own_userdata`; the reference is used before any call into Lua.
    unsafe {
        own_userdata::<Writer>(state, arg)
            .and_then(|w| (*w).0.as_ref())
            .ok_or_else(|| bad_argument(state, arg, function, "stm writer"))
    }
}

/// `writer(msg, sz)` or `writer(string)`: publishes a new version.
unsafe extern "C-unwind" fn update(state: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as a C closure over the writers' metatable; nothing raises while the
    // new version is owned here.
    unsafe {
        with_vm(state, |ctx| {
            let object = Arc::clone(writer_arg(state, 1, "update")?);
            let version = version_arg(state, ctx, 2, "update")?;
            let old = object.current.write().unwrap_or_else(|e| e.into_inner()).replace(version);
            drop(old);
            Ok(0)
        })
    }
}

/// `copy(writer)`: a reference to the object for one `newcopy`, as a light userdata.
unsafe extern "C-unwind" fn copy(state: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as a C closure over the writers' metatable; a light userdata
    // allocates nothing.
    unsafe {
        with_vm(state, |_| {
            let object = Arc::clone(writer_arg(state, 1, "copy")?);
            let name = copies().insert(object);
            ffi::lua_pushlightuserdata(state, std::ptr::without_provenance_mut::<c_void>(name));
            Ok(1)
        })
    }
}

/// `newcopy(reference)`: a reader of the object `copy` named; each reference works once.
unsafe extern "C-unwind" fn newcopy(state: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as a C closure over the readers' metatable. The userdata is made
    // first; the object taken from the table moves straight into it.
    unsafe {
        with_vm(state, |_| {
            if ffi::lua_type(state, 1) != ffi::LUA_TLIGHTUSERDATA {
                return Err(bad_argument(state, 1, "newcopy", "stm reference"));
            }
            let name = ffi::lua_touserdata(state, 1) as usize;
            let reader = new_userdata::<Reader>(state);
            match copies().take(name) {
                Some(object) => (*reader).object = Some(object),
                None => {
                    return Err(Failure::Static("stm.newcopy: not a live stm reference (forged or used)"));
                }
            }
            Ok(1)
        })
    }
}

/// `reader(f[, extra])`: `false` when the version is the one read last (or the writer is
/// gone); else `true` and what `f(bytes, size, extra)` returns.
unsafe extern "C-unwind" fn read(state: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as a C closure over the readers' metatable. Only the string copy of
    // the version is made while Rust holds a reference (in a protected call); `f` runs after
    // every Rust value of this frame is gone.
    unsafe {
        let changed = with_vm(state, |_| {
            let reader = own_userdata::<Reader>(state, 1)
                .filter(|r| (**r).object.is_some())
                .ok_or_else(|| bad_argument(state, 1, "read", "stm reader"))?;
            if ffi::lua_type(state, 2) != ffi::LUA_TFUNCTION {
                return Err(bad_argument(state, 2, "read", "function"));
            }
            let reader = &mut *reader;
            let current = reader
                .object
                .as_ref()
                .and_then(|o| o.current.read().unwrap_or_else(|e| e.into_inner()).clone());
            let same = match (&current, &reader.last) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                (None, None) => true,
                _ => false,
            };
            reader.last = current;
            let Some(bytes) = reader.last.clone().filter(|_| !same) else {
                ffi::lua_pushboolean(state, 0);
                return Ok(1);
            };
            // Stack: reader, f, extra -> extra, f, bytes, size, extra.
            ffi::lua_settop(state, 3);
            ffi::lua_replace(state, 1);
            let status = raw::protect(state, 0, 1, &mut |state| {
                ffi::lua_pushlstring(state, bytes.as_ptr().cast(), bytes.len());
                1
            });
            let size = bytes.len();
            drop(bytes);
            if status != ffi::LUA_OK {
                raw::raise_top(state);
            }
            ffi::lua_pushinteger(state, size as ffi::lua_Integer);
            ffi::lua_pushvalue(state, 1);
            Ok(-1)
        });
        if changed != -1 {
            return changed;
        }
        ffi::lua_call(state, 3, ffi::LUA_MULTRET);
        ffi::lua_pushboolean(state, 1);
        ffi::lua_replace(state, 1);
        ffi::lua_gettop(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reference_is_taken_once() {
        let object = Arc::new(Object { current: RwLock::new(None) });
        let name = copies().insert(Arc::clone(&object));
        assert!(copies().take(name ^ (1 << 40)).is_none(), "another generation");
        assert!(copies().take(0).is_none() && copies().take(usize::MAX).is_none());
        assert!(Arc::ptr_eq(&copies().take(name).unwrap(), &object));
        assert!(copies().take(name).is_none(), "used");
        let again = copies().insert(object);
        assert_ne!(again, name, "a reused slot has a new generation");
        assert!(copies().take(again).is_some());
    }

    #[test]
    fn a_gone_writer_leaves_no_version() {
        let object = Arc::new(Object { current: RwLock::new(Some(Arc::from(&b"v1"[..]))) });
        let writer = Writer(Some(Arc::clone(&object)));
        drop(writer);
        assert!(object.current.read().unwrap().is_none());
    }
}
