//! Untrusted Lua services: the VM of a service whose profile is not trusted keeps Lua's
//! computing and skynet's messaging, and loses what reaches past the service (see
//! docs/SECURITY.md, "Untrusted Lua services").
//!
//! [`confine`] runs once, on the service's own VM, after it is taken from the blank pool and
//! before any of the service's code: nothing here touches the shared code state or another VM,
//! and a trusted service's VM never comes through here. What it leaves:
//!
//! - no `io`, no `dofile`; `os` with only `time`, `clock`, `date`, `difftime`; `print` writes a
//!   log line as the service (not raw text to the process's stdout, where it could pass for
//!   another service's or the host's lines);
//! - `debug` with only `traceback`; no `string.dump`; `load` (and `loadstring`, if any) of text
//!   only: without bytecode and the debug library, no Lua code can forge a value or reach the
//!   registry, upvalues or the host's own functions;
//! - no `package.loadlib`, `package.searchpath` or C searchers; `require` searches the preload
//!   table, the embedded library and the Lua files of the `lua_path` the config had at launch,
//!   held in a table private to the searchers, so changing `package.path`, `package.cpath` or
//!   `package.searchers` reaches no other file (a searcher written in Lua is confined too);
//! - `loadfile` only of files `require` could find on that path, of the service's own file and
//!   of the config's `preload`, as text;
//! - a memory cap (the profile's `memory`, else `lua_memlimit`) that `skynet.memlimit` may only
//!   lower (`skynet.core.memlimit`, as this VM has no `debug.getregistry`).
//!
//! The native modules check the profile themselves when they are opened: the socket driver's
//! rules (`socketdriver::net`), no file functions in `skybox.blocking`, read-only
//! `skybox.sharedata`, no `skybox.codecache`.

use std::ffi::c_int;
use std::path::Path;

use mlua::ffi::{self, lua_State};
use mlua::{Function, IntoLua, Lua, MultiValue, Table, Value};

use super::{DEFAULT_LUA_PATH, DEFAULT_LUASERVICE, codecache, core_api, lua_tostring, raw};
use crate::core::node::Node;
use crate::core::service::Service;

/// The functions of `os` an untrusted service keeps: clocks and dates. The others run programs,
/// touch files, read the environment, change the locale or end the process.
const OS_KEPT: [&str; 4] = ["time", "clock", "date", "difftime"];

/// Confines the VM of `service` (launched with `args`, "name arg1 ...") to its profile, which is
/// not trusted. `config_limit` is the config's `lua_memlimit` (0: none). Returns the VM's memory
/// cap in bytes (0: none), for the caller to set once the VM is built.
pub(crate) fn confine(
    lua: &Lua,
    node: &Node,
    service: &Service,
    args: &str,
    config_limit: usize,
) -> mlua::Result<usize> {
    let profile = service.profile();
    let cap = profile.memory().unwrap_or(config_limit);
    let globals = lua.globals();
    let package: Table = globals.get("package")?;
    strip(lua, &globals, &package)?;
    confine_loading(lua, &globals, &package, &Reach::of(node, args))?;
    add_memlimit(lua, &package, cap, profile.name())?;
    globals.set("print", print_to_log(lua)?)?;
    Ok(cap)
}

/// Takes away the libraries that reach the process: files, programs, the environment, native
/// code, bytecode, the debug library.
fn strip(lua: &Lua, globals: &Table, package: &Table) -> mlua::Result<()> {
    let loaded: Table = package.get("loaded")?;
    globals.set("io", Value::Nil)?;
    loaded.set("io", Value::Nil)?;
    globals.set("dofile", Value::Nil)?;
    // New tables of what is kept: the full ones stay reachable from nowhere.
    let os: Table = globals.get("os")?;
    let kept_os = lua.create_table()?;
    for name in OS_KEPT {
        kept_os.set(name, os.get::<Value>(name)?)?;
    }
    globals.set("os", &kept_os)?;
    loaded.set("os", kept_os)?;
    // skynet.lua and the library take `debug.traceback` (when they load, after this).
    let debug: Table = globals.get("debug")?;
    let kept_debug = lua.create_table()?;
    kept_debug.set("traceback", debug.get::<Function>("traceback")?)?;
    globals.set("debug", &kept_debug)?;
    loaded.set("debug", kept_debug)?;
    // The same table as strings' `__index`.
    globals.get::<Table>("string")?.set("dump", Value::Nil)?;
    package.set("loadlib", Value::Nil)?;
    Ok(())
}

/// Replaces what loads code: `load` of text only, `loadfile` and `require` within [`Reach`].
fn confine_loading(lua: &Lua, globals: &Table, package: &Table, reach: &Reach) -> mlua::Result<()> {
    let text_load = c_closure(lua, globals.get::<Function>("load")?, load_text)?;
    globals.set("load", &text_load)?;
    if globals.contains_key("loadstring")? {
        globals.set("loadstring", &text_load)?;
    }
    // What the searchers and `loadfile` read instead of `package`: no Lua code holds it.
    let private = lua.create_table()?;
    private.set("path", reach.path.as_str())?;
    private.set("searchpath", package.get::<Function>("searchpath")?)?;
    let files = lua.create_table()?;
    for file in &reach.files {
        files.set(file.as_str(), true)?;
    }
    private.set("files", files)?;
    globals.set("loadfile", c_closure(lua, &private, loadfile)?)?;
    // The preload searcher (first, see `core_api::install`), then the embedded library and Lua
    // files over the private table; no C searcher.
    let searchers: Table = package.get("searchers")?;
    let preload: Function = searchers.raw_get(1)?;
    let confined = [
        preload,
        c_closure(lua, &private, core_api::search_embedded)?,
        c_closure(lua, &private, codecache::search_text_file)?,
    ];
    for i in (1..=searchers.raw_len()).rev() {
        searchers.raw_set(i, Value::Nil)?;
    }
    for (i, searcher) in confined.into_iter().enumerate() {
        searchers.raw_set(i + 1, searcher)?;
    }
    package.set("searchpath", Value::Nil)?;
    package.set("cpath", "")?;
    Ok(())
}

/// `skynet.core.memlimit(bytes)`, which skynet.lua's `skynet.memlimit` calls when it exists:
/// leaves the limit where `LuaService::run_loader` applies it (as skynet.lua does through
/// `debug.getregistry()` in a trusted VM), and refuses one above `cap`.
fn add_memlimit(lua: &Lua, package: &Table, cap: usize, profile: &str) -> mlua::Result<()> {
    let core: Table = package.get::<Table>("preload")?.get::<Function>("skynet.core")?.call(())?;
    let profile = profile.to_string();
    let raw = lua.create_table()?;
    let memlimit = move |lua: &Lua, bytes: i64| {
        if cap > 0 && bytes > 0 && bytes as u64 > cap as u64 {
            return Err(mlua::Error::runtime(format!(
                "skynet.memlimit({bytes}): profile {profile} caps this service at {cap} bytes"
            )));
        }
        lua.set_named_registry_value("memlimit", bytes)
    };
    raw.set("memlimit", core_api::guarded(lua, memlimit)?)?;
    let wrapped = core_api::wrap_raising(lua, raw)?;
    core.set("memlimit", wrapped.get::<Function>("memlimit")?)
}

/// `print(...)`: the values as `tostring` gives them, tab-separated, in one log line of the
/// service.
fn print_to_log(lua: &Lua) -> mlua::Result<Function> {
    let print = |lua: &Lua, values: MultiValue| {
        let text = values.iter().map(|v| lua_tostring(lua, v)).collect::<mlua::Result<Vec<_>>>()?.join("\t");
        let owner = core_api::owner(lua)?;
        owner.node.log(owner.service.handle(), text);
        Ok(())
    };
    let raw = lua.create_table()?;
    raw.set("print", core_api::guarded(lua, print)?)?;
    core_api::wrap_raising(lua, raw)?.get("print")
}

/// `f` as a C closure with `upvalue` as its one upvalue.
fn c_closure(lua: &Lua, upvalue: impl IntoLua, f: ffi::lua_CFunction) -> mlua::Result<Function> {
    // SAFETY: `exec_raw` pushes the upvalue and runs this protected; the closure takes the
    // upvalue and is the one value left, the result.
    unsafe { lua.exec_raw(upvalue, |state| ffi::lua_pushcclosure(state, f, 1)) }
}

/// What an untrusted service may load from disk, fixed at its launch from the config.
/// Invariant: `path` is the config's `lua_path` (or skynet's default), after the service's own
/// directory when it has one (skynet's loader puts that first in `package.path`); `files` are
/// the exact files the loader may ask for besides: the `luaservice` candidates for the
/// service's name and the `preload` file.
struct Reach {
    path: String,
    files: Vec<String>,
}

impl Reach {
    fn of(node: &Node, args: &str) -> Reach {
        let lua_path = node.getenv("lua_path").unwrap_or_else(|| DEFAULT_LUA_PATH.to_string());
        let luaservice = node.getenv("luaservice").unwrap_or_else(|| DEFAULT_LUASERVICE.to_string());
        let name = args.split_whitespace().next().unwrap_or("");
        let mut files = Vec::new();
        let mut own_dir = None;
        // A name that climbs (`..`) or starts at the root names no file of the operator's.
        if !name.is_empty() && !name.starts_with('/') && !name.split('/').any(|part| part == "..") {
            let mut found = false;
            for pattern in luaservice.split(';').filter(|p| !p.is_empty()) {
                let file = pattern.replace('?', name);
                // The loader takes the first candidate that loads.
                if !found && Path::new(&file).is_file() {
                    found = true;
                    own_dir = own_dir_of(pattern, name);
                }
                files.push(file);
            }
        }
        files.extend(node.getenv("preload"));
        let path = match own_dir {
            Some(dir) => format!("{dir}?.lua;{lua_path}"),
            None => lua_path,
        };
        Reach { path, files }
    }
}

/// The directory of a service found as `dir/?/main.lua`, with `name` put in, as skynet's loader
/// finds it (`^(.*/)[^/?]+$`: the pattern's last part names a file, not `?`).
fn own_dir_of(pattern: &str, name: &str) -> Option<String> {
    let (dir, file) = pattern.rsplit_once('/')?;
    (!file.is_empty() && !file.contains('?')).then(|| format!("{dir}/").replace('?', name))
}

/// Whether `require` could find `file` on `path` (`;`-separated templates): `file` is a template
/// with each `?` replaced by the same name, a name without dots (`searchpath` turns a module
/// name's dots into `/`, so it never climbs out with `..`); a template without `?` is itself.
pub(crate) fn on_path(path: &[u8], file: &[u8]) -> bool {
    path.split(|&b| b == b';').filter(|t| !t.is_empty()).any(|template| fills(template, file))
}

fn fills(template: &[u8], file: &[u8]) -> bool {
    let marks = template.iter().filter(|&&b| b == b'?').count();
    let Some(first) = template.iter().position(|&b| b == b'?') else {
        return template == file;
    };
    let Some(extra) = file.len().checked_sub(template.len() - marks) else { return false };
    if extra % marks != 0 {
        return false;
    }
    let Some(name) = file.get(first..first + extra / marks) else { return false };
    if name.contains(&b'.') {
        return false;
    }
    let mut filled = Vec::with_capacity(file.len());
    for &b in template {
        if b == b'?' {
            filled.extend_from_slice(name);
        } else {
            filled.push(b);
        }
    }
    filled == file
}

/// `load(chunk [, chunkname [, mode [, env]]])`: Lua's own (upvalue 1) with the mode forced to
/// text, so a binary chunk (bytecode, which can forge any value) is refused with Lua's message.
/// `env` is passed only if it was given (a nil `env` is not a missing one).
unsafe extern "C-unwind" fn load_text(state: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as a C function with its upvalue; this frame owns nothing, so the
    // errors `lua_call` (or an allocation) raises unwind nothing.
    unsafe {
        let nargs = ffi::lua_gettop(state).max(3);
        ffi::lua_settop(state, nargs);
        ffi::lua_pushstring(state, c"t".as_ptr());
        ffi::lua_replace(state, 3);
        ffi::lua_pushvalue(state, ffi::lua_upvalueindex(1));
        ffi::lua_insert(state, 1);
        ffi::lua_call(state, nargs, ffi::LUA_MULTRET);
        ffi::lua_gettop(state)
    }
}

/// `loadfile(filename [, mode [, env]])`: the code cache's (`codecache::loadfile`), as text, of a
/// file within reach (the private table, upvalue 1, see [`Reach`]); any other file fails as a
/// missing one does, `nil, message`.
unsafe extern "C-unwind" fn loadfile(state: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as a C function with its upvalue; the file name is borrowed from
    // the stack, where it stays, and nothing here owns a value with a destructor.
    unsafe {
        if let Some(file) = codecache::cstr_at(state, 1)
            && !reachable(state, file.to_bytes())
        {
            ffi::lua_pushnil(state);
            ffi::lua_pushfstring(
                state,
                c"cannot open %s (not on this service's lua_path)".as_ptr(),
                file.as_ptr(),
            );
            return 2;
        }
        ffi::lua_settop(state, ffi::lua_gettop(state).max(2));
        ffi::lua_pushstring(state, c"t".as_ptr());
        ffi::lua_replace(state, 2);
        codecache::loadfile(state)
    }
}

/// Whether `file` is within the reach kept in the private table (upvalue 1).
///
/// # Safety
/// In a C closure made by [`confine_loading`]; may raise a memory error, so the caller owns
/// nothing with a destructor.
unsafe fn reachable(state: *mut lua_State, file: &[u8]) -> bool {
    // SAFETY: per the contract; the private table has no metatable, and the path string stays
    // in it while it is borrowed.
    unsafe {
        ffi::lua_getfield(state, ffi::lua_upvalueindex(1), c"files".as_ptr());
        ffi::lua_pushlstring(state, file.as_ptr().cast(), file.len());
        let listed = ffi::lua_rawget(state, -2) == ffi::LUA_TBOOLEAN;
        ffi::lua_pop(state, 2);
        if listed {
            return true;
        }
        ffi::lua_getfield(state, ffi::lua_upvalueindex(1), c"path".as_ptr());
        let found = raw::string_at(state, -1).is_some_and(|path| on_path(path, file));
        ffi::lua_pop(state, 1);
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_on_path_are_what_require_could_find() {
        let path = b"./lualib/?.lua;./lualib/?/init.lua;;/srv/?/x?.lua;/etc/fixed.lua";
        for file in [
            "./lualib/a.lua",
            "./lualib/a/b.lua",
            "./lualib/a/init.lua",
            "./lualib/.lua",
            "/srv/m/xm.lua",
            "/etc/fixed.lua",
        ] {
            assert!(on_path(path, file.as_bytes()), "{file}");
        }
        for file in [
            "./lualib/../secret.lua",
            "./lualib/a.b.lua",
            "./lualib/a.txt",
            "lualib/a.lua",
            "/srv/m/xn.lua",
            "/srv/m/m.lua",
            "/etc/passwd",
            "./lualib/x/../../y/init.lua",
        ] {
            assert!(!on_path(path, file.as_bytes()), "{file}");
        }
        assert!(!on_path(b"", b""), "an empty path finds nothing");
    }

    #[test]
    fn own_dir_follows_skynets_loader() {
        assert_eq!(own_dir_of("./service/?/main.lua", "gate").as_deref(), Some("./service/gate/"));
        assert_eq!(own_dir_of("./svc/main.lua", "x").as_deref(), Some("./svc/"));
        assert_eq!(own_dir_of("./service/?.lua", "gate"), None);
        assert_eq!(own_dir_of("?.lua", "gate"), None);
    }
}
