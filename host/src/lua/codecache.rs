//! The code cache of Lua files loaded from disk: a file is parsed once per process, and every
//! VM after that loads its bytecode, as skynet's patched Lua shares a file's compiled code between
//! services. It serves `loadfile` (skynet's loader loads service files with it) and `require`'s
//! file searcher, so a skynet library on `lua_path` costs a new service a binary load, not a parse.
//!
//! A cached file is checked against the disk (length and modification time) on every load, and
//! parsed again when it changed. `skynet.codecache` sets the mode: `ON` (the default: cache),
//! `OFF` (parse every time), `EXIST` (use what is cached, cache nothing new); `clear()` empties it.
//! (The embedded library is shared more deeply: its prototypes themselves, see `embed`.)

use std::collections::HashMap;
use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::SystemTime;

use mlua::ffi::{self, lua_State};
use parking_lot::Mutex;

use super::raw;

/// The string at `index` as a C string (Lua strings end in a NUL), if it is a string.
///
/// # Safety
/// `state` is live; the result borrows the stack slot.
pub(super) unsafe fn cstr_at<'a>(state: *mut lua_State, index: c_int) -> Option<&'a CStr> {
    // SAFETY: per the contract; only a string is read (a number is not converted in place).
    unsafe {
        if ffi::lua_type(state, index) != ffi::LUA_TSTRING {
            return None;
        }
        Some(CStr::from_ptr(ffi::lua_tolstring(state, index, std::ptr::null_mut())))
    }
}

/// The modes by number; `EXIST` (2) is every mode that neither parses each time nor caches.
const MODES: [&str; 3] = ["ON", "OFF", "EXIST"];
const ON: u8 = 0;
const OFF: u8 = 1;

static MODE: AtomicU8 = AtomicU8::new(ON);

/// The first byte of a binary chunk (`LUA_SIGNATURE`, "\x1bLua").
const LUA_SIGNATURE: u8 = 0x1b;

/// A file's bytecode and the file it came from.
struct Entry {
    len: u64,
    modified: Option<SystemTime>,
    /// Compiled from source text (not a binary chunk): what a text-only load may use.
    text: bool,
    bytecode: Arc<[u8]>,
}

static CACHE: LazyLock<Mutex<HashMap<PathBuf, Entry>>> = LazyLock::new(|| Mutex::new(HashMap::new()));

/// `skybox.codecache`, behind `skynet.codecache`: `clear()` empties the cache; `mode([m])`
/// returns the mode, after setting it to `m` (an unknown name is an error).
pub(crate) fn module(lua: &mlua::Lua) -> mlua::Result<mlua::Table> {
    let t = lua.create_table()?;
    t.set(
        "clear",
        lua.create_function(|_, ()| {
            CACHE.lock().clear();
            Ok(())
        })?,
    )?;
    t.set(
        "mode",
        lua.create_function(|_, mode: Option<String>| {
            if let Some(name) = mode {
                let index = MODES.iter().position(|m| *m == name).ok_or_else(|| {
                    mlua::Error::runtime(format!("bad argument #1 to 'mode' (invalid option '{name}')"))
                })?;
                MODE.store(index as u8, Ordering::Relaxed);
            }
            Ok(MODES[usize::from(MODE.load(Ordering::Relaxed)).min(2)])
        })?,
    )?;
    Ok(t)
}

/// The cached bytecode of `path` if it is still the file on disk, and whether its source was
/// text.
fn cached(path: &Path, len: u64, modified: Option<SystemTime>) -> Option<(Arc<[u8]>, bool)> {
    let cache = CACHE.lock();
    let entry = cache.get(path)?;
    (entry.len == len && entry.modified == modified).then(|| (entry.bytecode.clone(), entry.text))
}

unsafe extern "C-unwind" fn dump_writer(
    _: *mut lua_State,
    p: *const c_void,
    size: usize,
    ud: *mut c_void,
) -> c_int {
    // Lua 5.5 ends a dump with a call whose buffer is NULL (and size 0).
    if p.is_null() {
        return 0;
    }
    // SAFETY: `ud` is the `Vec` `load` passed to lua_dump, and `p..p+size` is Lua's buffer.
    unsafe { (*(ud as *mut Vec<u8>)).extend_from_slice(std::slice::from_raw_parts(p.cast::<u8>(), size)) };
    0
}

/// Loads file `path` onto the stack as `luaL_loadfilex` does (a function, or an error message and
/// a status), through the cache when `mode` allows binary chunks, or text and the file is text
/// (its bytecode is what parsing it gives). Owns nothing across a raise.
///
/// # Safety
/// `state` is live with room for two values.
unsafe fn load(state: *mut lua_State, path: &CStr, mode: Option<&CStr>) -> c_int {
    let name = String::from_utf8_lossy(path.to_bytes()).into_owned();
    let chunkname = CString::new(format!("@{name}")).unwrap_or_default();
    let allows = |kind: u8| mode.is_none_or(|m| m.to_bytes().contains(&kind));
    let cache_mode = MODE.load(Ordering::Relaxed);
    // SAFETY: per the contract; every Rust value here is dropped before a Lua call can raise
    // (loading a buffer reports errors by status; lua_dump's writer does not raise).
    unsafe {
        let meta = std::fs::metadata(&name);
        let (len, modified) = match &meta {
            Ok(m) => (m.len(), m.modified().ok()),
            Err(_) => (0, None),
        };
        if cache_mode != OFF
            && meta.is_ok()
            && let Some((bytecode, text)) = cached(Path::new(&name), len, modified)
            && (allows(b'b') || (text && allows(b't')))
        {
            if let Some(tape) = tape(state) {
                tape.code(&name, &std::fs::read(&name).unwrap_or_default());
            }
            return ffi::luaL_loadbufferx(
                state,
                bytecode.as_ptr().cast::<c_char>(),
                bytecode.len(),
                chunkname.as_ptr(),
                c"b".as_ptr(),
            );
        }
        let text = match std::fs::read(&name) {
            Ok(text) => text,
            Err(err) => {
                let message = format!("cannot open {name}: {err}");
                ffi::lua_pushlstring(state, message.as_ptr().cast(), message.len());
                return ffi::LUA_ERRFILE;
            }
        };
        // As luaL_loadfilex: a first line starting with '#' is skipped (kept as an empty line).
        let body: &[u8] = if text.first() == Some(&b'#') {
            text.iter().position(|&b| b == b'\n').map_or(&[][..], |at| &text[at..])
        } else {
            &text
        };
        if let Some(tape) = tape(state) {
            tape.code(&name, &text);
        }
        let text_source = body.first() != Some(&LUA_SIGNATURE);
        let mode_ptr = mode.map_or(std::ptr::null(), CStr::as_ptr);
        let status =
            ffi::luaL_loadbufferx(state, body.as_ptr().cast(), body.len(), chunkname.as_ptr(), mode_ptr);
        drop(text);
        if status != ffi::LUA_OK || cache_mode != ON || meta.is_err() {
            return status;
        }
        let mut bytecode = Vec::new();
        ffi::lua_dump(state, dump_writer, (&mut bytecode as *mut Vec<u8>).cast(), 0);
        let entry = Entry { len, modified, text: text_source, bytecode: bytecode.into() };
        CACHE.lock().insert(PathBuf::from(name), entry);
        ffi::LUA_OK
    }
}

/// The tape of the service whose VM `state` belongs to, if it is recorded or replayed: the
/// code a service loads is part of its record (see `record`).
///
/// # Safety
/// `state` is live.
unsafe fn tape<'a>(state: *mut lua_State) -> Option<&'a crate::record::Tape> {
    // SAFETY: per the contract.
    unsafe { super::native::ctx(state) }.and_then(|ctx| ctx.service.tape())
}

/// `loadfile([filename [, mode [, env]]])`, through the cache. Without a filename (stdin) it
/// defers to Lua's own, which it replaces.
pub(crate) unsafe extern "C-unwind" fn loadfile(state: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as a C function; the strings borrowed stay on the stack.
    unsafe {
        let Some(path) = cstr_at(state, 1) else {
            return ffi::luaL_error(state, c"loadfile without a file name is not supported".as_ptr());
        };
        let mode = cstr_at(state, 2);
        let env = if ffi::lua_isnone(state, 3) == 0 { 3 } else { 0 };
        let status = load(state, path, mode);
        if status != ffi::LUA_OK {
            ffi::lua_pushnil(state);
            ffi::lua_insert(state, -2);
            return 2;
        }
        if env != 0 {
            ffi::lua_pushvalue(state, env);
            if ffi::lua_setupvalue(state, -2, 1).is_null() {
                ffi::lua_pop(state, 1);
            }
        }
        1
    }
}

/// `require`'s searcher for Lua files on `package.path`, through the cache (it replaces Lua's).
/// Upvalue 1 is the `package` table.
pub(crate) unsafe extern "C-unwind" fn search_file(state: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as a C function.
    unsafe { search_file_with(state, None) }
}

/// The searcher of an untrusted service's VM (see `confine`): as [`search_file`], over the
/// private table in upvalue 1 (`path`, `searchpath`) instead of `package`, and text files only.
pub(crate) unsafe extern "C-unwind" fn search_text_file(state: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as a C function.
    unsafe { search_file_with(state, Some(c"t")) }
}

/// The body of the file searchers: finds the module with `searchpath` and `path` of the table in
/// upvalue 1 and loads it in `mode`.
///
/// # Safety
/// Called by Lua as a C function with that upvalue.
unsafe fn search_file_with(state: *mut lua_State, mode: Option<&CStr>) -> c_int {
    // SAFETY: `package.searchpath` runs as a Lua call that may raise, with nothing owned on this
    // frame.
    unsafe {
        ffi::luaL_checkstring(state, 1);
        ffi::lua_getfield(state, ffi::lua_upvalueindex(1), c"searchpath".as_ptr());
        ffi::lua_pushvalue(state, 1);
        if ffi::lua_getfield(state, ffi::lua_upvalueindex(1), c"path".as_ptr()) != ffi::LUA_TSTRING {
            return ffi::luaL_error(state, c"'package.path' must be a string".as_ptr());
        }
        ffi::lua_call(state, 2, 2);
        if ffi::lua_isnil(state, -2) != 0 {
            return 1; // the error message listing the files tried
        }
        ffi::lua_pop(state, 1);
        // The file name stays on the stack (below what `load` pushes) while it is borrowed.
        let Some(path) = cstr_at(state, -1) else { return 1 };
        let status = load(state, path, mode);
        if status != ffi::LUA_OK {
            let text = format!(
                "error loading module '{}' from file '{}':\n\t{}",
                String::from_utf8_lossy(raw::string_at(state, 1).unwrap_or_default()),
                path.to_string_lossy(),
                String::from_utf8_lossy(raw::string_at(state, -1).unwrap_or_default()),
            );
            raw::raise(state, text);
        }
        ffi::lua_insert(state, -2); // the loader, then its file name
        2
    }
}
