//! `skynet.core`: the native API of a Lua service, with the functions and semantics of skynet's
//! `lua-skynet.c`, plus `skybox.embed` and the package searcher for the embedded library.
//!
//! The message functions (send, pack, unpack, ...) are native C functions in `native`; this
//! module builds the table around them with the rarer ones (commands, logging, tracing).

use std::ffi::{CStr, c_int};
use std::sync::Arc;

use mlua::ffi;
use mlua::{
    FromLuaMulti, Function, Integer, IntoLuaMulti, LightUserData, Lua, MultiValue, Table, Value, Variadic,
};

use super::native::VmCtx;
use super::{embed, lua_tostring, raw};
use crate::core::message::parse_handle;
use crate::core::node::Node;
use crate::core::service::Service;

/// The service a VM runs, for the functions below (mlua app data, set at launch): the library is
/// installed in blank VMs, before they belong to any service (see `blank`).
pub(crate) struct Owner {
    pub(crate) node: Arc<Node>,
    pub(crate) service: Arc<Service>,
}

/// The VM's owner, or an error for a VM not launched as a service.
pub(super) fn owner(lua: &Lua) -> mlua::Result<mlua::AppDataRef<'_, Owner>> {
    lua.app_data_ref::<Owner>()
        .ok_or_else(|| mlua::Error::runtime("skynet.core used outside a skybox service"))
}

/// Registers `skynet.core` and `skybox.embed` in `package.preload` and the embedded searcher.
/// Nothing here depends on the service: its functions find the VM's [`Owner`] when called.
pub(crate) fn install(lua: &Lua) -> mlua::Result<()> {
    let core = core_table(lua)?;
    let package: Table = lua.globals().get("package")?;
    let preload: Table = package.get("preload")?;
    let core_loader = lua.create_function(move |_, ()| Ok(core.clone()))?;
    preload.set("skynet.core", core_loader)?;
    // Built when first required (`require` keeps the result): most services never use them.
    let blocking = |lua: &Lua, ()| {
        let table = {
            let owner = owner(lua)?;
            super::blocking::table(lua, &owner.node, &owner.service)?
        };
        wrap_raising(lua, table)
    };
    preload.set("skybox.blocking", lua.create_function(blocking)?)?;
    // Only for trusted services: it opens any path (an untrusted one finds no such module).
    let sqlite = |lua: &Lua, ()| {
        let table = {
            let owner = owner(lua)?;
            if !owner.service.profile().is_trusted() {
                return Err(mlua::Error::runtime("skybox.sqlite: not for an untrusted service"));
            }
            super::sqlite::table(lua, &owner.node, &owner.service)?
        };
        wrap_raising(lua, table)
    };
    preload.set("skybox.sqlite", lua.create_function(sqlite)?)?;
    preload.set("skybox.embed", lua.create_function(|lua, ()| embed_table(lua))?)?;
    // SAFETY: `open` is a C function following Lua's protocol.
    preload.set("skynet.socketdriver", unsafe { lua.create_c_function(super::socketdriver::open)? })?;
    // SAFETY: as `skynet.socketdriver`'s.
    preload.set("skynet.netpack", unsafe { lua.create_c_function(super::netpack::open)? })?;
    // Before Lua's file searcher: it would try every `package.path` pattern on disk first, for
    // every library module of every new VM (a fifth of a spawn's time).
    // SAFETY: `exec_raw` runs this protected, with `package` pushed; the stack is left as found.
    unsafe {
        lua.exec_raw::<()>(&package, |state| {
            ffi::lua_getfield(state, -1, c"searchers".as_ptr());
            let last = ffi::lua_rawlen(state, -1) as ffi::lua_Integer;
            for i in (2..=last).rev() {
                ffi::lua_rawgeti(state, -1, i);
                ffi::lua_rawseti(state, -2, i + 1);
            }
            ffi::lua_pushvalue(state, -2);
            ffi::lua_pushcclosure(state, search_embedded, 1);
            ffi::lua_rawseti(state, -2, 2);
            // Lua's file searcher, now third, reads through the code cache.
            ffi::lua_pushvalue(state, -2);
            ffi::lua_pushcclosure(state, super::codecache::search_file, 1);
            ffi::lua_rawseti(state, -2, 3);
            ffi::lua_pop(state, 1);
            ffi::lua_pushcfunction(state, super::codecache::loadfile);
            ffi::lua_setglobal(state, c"loadfile".as_ptr());
        })?;
    }
    Ok(())
}

/// Builds a native module's table.
type ModuleBuilder = fn(&Lua) -> mlua::Result<Table>;

/// Whether an untrusted service may load a [`NATIVE`] module.
#[derive(PartialEq)]
enum Untrusted {
    May,
    /// It acts on the whole process (the code cache's mode), beyond any one service.
    MayNot,
}

/// Native modules built by mlua when first required, found by [`search_embedded`]: nothing of
/// them exists in a VM before (a preload entry would cost every VM a closure).
const NATIVE: &[(&str, ModuleBuilder, Untrusted)] = &[
    ("skynet.crypt", super::crypt::module, Untrusted::May),
    // skynet's luaclib registers the same module under both names.
    ("client.crypt", super::crypt::module, Untrusted::May),
    ("skynet.memory", super::memory::module, Untrusted::May),
    ("skynet.cluster.core", super::cluster::module, Untrusted::May),
    ("skynet.stm", super::stm::module, Untrusted::May),
    // Its packages live in a process-wide table, beyond any tenant's memory.
    ("skynet.multicast.core", super::multicast::module, Untrusted::MayNot),
    // As multicast's: documents in a process-wide table.
    ("skynet.datasheet.core", super::datasheet::module, Untrusted::MayNot),
    ("skynet.sharetable.core", super::sharetable::module, Untrusted::MayNot),
    // Its reads sleep on the worker, and its hooks replace the interrupt's.
    ("skynet.debugchannel", super::debugchannel::module, Untrusted::MayNot),
    // It refuses writes to an untrusted service itself (names are the node's).
    ("skybox.sharedata", super::sharedata::module, Untrusted::May),
    ("skybox.codecache", super::codecache::module, Untrusted::MayNot),
];

/// The loader of a [`NATIVE`] module: builds it and returns its table. A light C function.
unsafe extern "C-unwind" fn load_native(state: *mut ffi::lua_State) -> c_int {
    const SLOT: &CStr = c"skybox.native.loading";
    // SAFETY: called by Lua as a C function on a VM made by mlua; every Rust value is dropped
    // before the error (if any) is raised.
    unsafe {
        let name = raw::string_at(state, 1).unwrap_or_default();
        let Some((module, build, untrusted)) = NATIVE.iter().find(|(n, ..)| n.as_bytes() == name) else {
            raw::raise(state, "no such native module");
        };
        if *untrusted == Untrusted::MayNot
            && let Some(ctx) = super::native::ctx(state)
            && !ctx.service.profile().is_trusted()
        {
            let profile = ctx.service.profile().name();
            raw::raise(
                state,
                format!("module '{module}' is not available to an untrusted service (profile {profile})"),
            );
        }
        let lua = Lua::get_or_init_from_ptr(state);
        let slot = SLOT.to_str().expect("an ASCII name");
        if let Err(err) = build(lua).and_then(|module| lua.set_named_registry_value(slot, module)) {
            raw::raise(state, super::error_text(&err));
        }
        ffi::lua_getfield(state, ffi::LUA_REGISTRYINDEX, SLOT.as_ptr());
        ffi::lua_pushnil(state);
        ffi::lua_setfield(state, ffi::LUA_REGISTRYINDEX, SLOT.as_ptr());
        1
    }
}

/// A `package.searchers` entry that finds modules in the embedded lua-guest library, unless a
/// file on `package.path` has the module (the config's `lua_path` may override the library;
/// Lua's file searcher, next in line, loads it). Whether a path has the module is looked up on
/// disk once per process (see [`embed::overridden_on_path`]). Upvalue 1 is the `package` table.
/// A C function: it runs for every `require` of every VM. (An untrusted service's VM gets it over
/// a private table instead of `package`, see `confine`.)
pub(super) unsafe extern "C-unwind" fn search_embedded(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: called by Lua as a C function. Until it returns or raises, this frame holds only
    // borrows of strings on the stack and `&'static` sources; the one call into Lua code
    // (`package.searchpath`) is protected.
    unsafe {
        let mut len = 0;
        let name = ffi::luaL_checklstring(state, 1, &mut len);
        let name = std::str::from_utf8(std::slice::from_raw_parts(name.cast(), len)).unwrap_or("");
        if NATIVE.iter().any(|(n, ..)| *n == name) {
            ffi::lua_pushcfunction(state, load_native);
            ffi::lua_pushvalue(state, 1);
            return 2;
        }
        let Some(src) = embed::module(name) else {
            ffi::lua_pushfstring(state, c"\n\tno embedded module '%s'".as_ptr(), ffi::lua_tostring(state, 1));
            return 1;
        };
        if ffi::lua_getfield(state, ffi::lua_upvalueindex(1), c"path".as_ptr()) != ffi::LUA_TSTRING {
            raw::raise(state, "'package.path' must be a string");
        }
        let path = raw::string_at(state, -1).unwrap_or_default();
        // `package.searchpath(name, path)` finds a file: the library module is overridden.
        let overridden = embed::overridden_on_path(path, name, || {
            ffi::lua_getfield(state, ffi::lua_upvalueindex(1), c"searchpath".as_ptr());
            ffi::lua_pushvalue(state, 1);
            ffi::lua_pushvalue(state, -3);
            if ffi::lua_pcall(state, 2, 1, 0) != ffi::LUA_OK {
                return None; // its error stays on top
            }
            let found = ffi::lua_type(state, -1) != ffi::LUA_TNIL;
            ffi::lua_pop(state, 1);
            Some(found)
        });
        let Some(overridden) = overridden else {
            raw::raise_top(state);
        };
        if overridden {
            ffi::lua_pushstring(state, c"".as_ptr());
            return 1;
        }
        if src.push(state) != ffi::LUA_OK {
            raw::raise_top(state);
        }
        ffi::lua_pushlstring(state, src.chunkname.as_ptr().cast(), src.chunkname.len());
        2
    }
}

/// `chunk, chunkname` or nothing; the chunk is precompiled bytecode, which `load` accepts.
fn embedded_source(lua: &Lua, src: Option<embed::Source>) -> mlua::Result<MultiValue> {
    match src {
        Some(src) => {
            let code = lua.create_string(&src.bytecode(lua)?[..])?;
            (code, src.chunkname).into_lua_multi(lua)
        }
        None => Ok(MultiValue::new()),
    }
}

/// `function, chunkname` or nothing: for an untrusted service, whose `load` takes no bytecode.
fn embedded_function(lua: &Lua, src: Option<embed::Source>) -> mlua::Result<MultiValue> {
    match src {
        Some(src) => (src.load(lua)?, src.chunkname).into_lua_multi(lua),
        None => Ok(MultiValue::new()),
    }
}

/// `skybox.embed`: `service(name)` and `lualib(name)` give an embedded source as bytecode to
/// `load`, or, in an untrusted service's VM, as the function itself (the loader takes either).
fn embed_table(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    // A VM that runs no service (the host's own tests) is nobody's to confine.
    let trusted = lua.app_data_ref::<Owner>().is_none_or(|owner| owner.service.profile().is_trusted());
    let give: fn(&Lua, Option<embed::Source>) -> mlua::Result<MultiValue> =
        if trusted { embedded_source } else { embedded_function };
    t.set("service", lua.create_function(move |lua, name: String| give(lua, embed::service(&name)))?)?;
    t.set("lualib", lua.create_function(move |lua, name: String| give(lua, embed::module(&name)))?)?;
    Ok(t)
}

fn opt_param(lua: &Lua, v: Option<Value>) -> mlua::Result<Option<String>> {
    match v {
        None | Some(Value::Nil) => Ok(None),
        Some(v @ (Value::String(_) | Value::Integer(_) | Value::Number(_))) => {
            lua_tostring(lua, &v).map(Some)
        }
        Some(other) => Err(mlua::Error::runtime(format!("string expected, got {}", other.type_name()))),
    }
}

/// Marks a failed call in the values a guarded function returns; never a valid buffer token
/// (tokens carry a generation in their high bits).
const FAILED: LightUserData = LightUserData(std::ptr::dangling_mut::<std::ffi::c_void>());

/// A native function that reports failure as `FAILED, message` instead of raising: mlua raises
/// errors from Rust as userdata, and Lua code (skynet's included) expects error strings. The
/// [`raising`] trampoline turns the pair into a Lua error with the message.
pub(super) fn guarded<A, R, F>(lua: &Lua, f: F) -> mlua::Result<Function>
where
    A: FromLuaMulti,
    R: IntoLuaMulti,
    F: Fn(&Lua, A) -> mlua::Result<R> + Send + 'static,
{
    lua.create_function(move |lua, args: MultiValue| {
        let result = A::from_lua_multi(args, lua).and_then(|a| f(lua, a)).and_then(|r| r.into_lua_multi(lua));
        match result {
            Ok(values) => Ok(values),
            Err(err) => {
                let text = lua.create_string(super::error_text(&err))?;
                Ok(MultiValue::from_iter([Value::LightUserData(FAILED), Value::String(text)]))
            }
        }
    })
}

/// Builds the module table: each guarded function behind the native [`raising`] trampoline.
pub(super) fn wrap_raising(lua: &Lua, raw: Table) -> mlua::Result<Table> {
    // SAFETY: `make_raising` follows the lua_CFunction protocol (see its body).
    let make_raising = unsafe { lua.create_c_function(make_raising)? };
    WRAP_RAISING.source().load(lua)?.call((raw, make_raising))
}

/// Wraps each guarded function of a module table with `make_raising`, and adds `trace`.
pub(super) static WRAP_RAISING: embed::HostChunk = embed::HostChunk {
    chunkname: "=[skynet.core]",
    code: r#"
        local raw, make_raising = ...
        local module = {}
        for name, f in pairs(raw) do
            module[name] = make_raising(f)
        end
        -- trace(tag, user, [co], [level]) as lua-skynet.c: up to three frames with a line,
        -- from `level` of `co` (default: the caller, i.e. level 1 of the running thread).
        local raw_trace, getinfo, tointeger, concat = module.trace, debug.getinfo, math.tointeger, table.concat
        module.trace = raw_trace and function(tag, user, co, level)
            if co == nil then return raw_trace(tag, user) end
            if type(co) ~= "thread" then co, level = nil, co end
            level = tointeger(level) or 1
            local frames, n = {}, 0
            while n < 3 do
                -- getinfo(1) is this function, which stands where skynet's C function stands.
                local info
                if co then info = getinfo(co, level, "Sl") else info = getinfo(level + 1, "Sl") end
                if not info then break end
                level = level + 1
                if info.currentline >= 0 then
                    n = n + 1
                    frames[n] = info.source .. ":" .. info.currentline
                end
            end
            return raw_trace(tag, user, n > 0 and concat(frames, " ") or nil)
        end
        return module
        "#,
};

/// `make_raising(f)`: a C closure around guarded function `f` (see [`raising`]).
unsafe extern "C-unwind" fn make_raising(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: called by Lua as a C function; checks its argument before using it.
    unsafe {
        ffi::luaL_checktype(state, 1, ffi::LUA_TFUNCTION);
        ffi::lua_settop(state, 1);
        ffi::lua_pushcclosure(state, raising, 1);
        1
    }
}

/// Calls the guarded function in upvalue 1 with all arguments and returns its results, except
/// that `FAILED, message` becomes a Lua error whose value is the message string, as skynet's C
/// functions raise (mlua would raise a userdata). One C call, no Lua frame: this sits on every
/// `skynet.core` call.
unsafe extern "C-unwind" fn raising(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: called by Lua as a C function with the upvalue set by `make_raising`; the stack
    // holds the arguments, and lua_call may raise through this frame, which owns nothing that
    // needs dropping.
    unsafe {
        let nargs = ffi::lua_gettop(state);
        ffi::lua_pushvalue(state, ffi::lua_upvalueindex(1));
        ffi::lua_insert(state, 1);
        ffi::lua_call(state, nargs, ffi::LUA_MULTRET);
        let nres = ffi::lua_gettop(state);
        if nres >= 1
            && ffi::lua_type(state, 1) == ffi::LUA_TLIGHTUSERDATA
            && ffi::lua_touserdata(state, 1) == FAILED.0
        {
            ffi::lua_settop(state, 2);
            ffi::lua_remove(state, 1);
            raw::raise_top(state);
        }
        nres
    }
}

fn core_table(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table_with_capacity(0, 20)?;

    let command = |lua: &Lua, cmd: String, param: Option<Value>| -> mlua::Result<Option<String>> {
        let param = opt_param(lua, param)?;
        let owner = owner(lua)?;
        owner
            .node
            .command(&owner.service, &cmd, param.as_deref())
            .map_err(|e| mlua::Error::runtime(format!("{e:#}")))
    };

    // No result is no value at all (skynet's NULL), not a nil.
    t.set(
        "command",
        guarded(lua, move |lua, (cmd, param): (String, Option<Value>)| {
            command(lua, cmd, param).map(Variadic::from_iter)
        })?,
    )?;

    t.set(
        "intcommand",
        guarded(lua, move |lua, (cmd, param): (String, Option<Value>)| {
            let param = match param {
                Some(Value::Number(f)) => Some(Value::Integer(f as i32 as Integer)),
                Some(Value::Integer(i)) => Some(Value::Integer(i as i32 as Integer)),
                other => other,
            };
            match command(lua, cmd, param)? {
                None => Ok(MultiValue::new()),
                Some(text) => {
                    if let Ok(i) = text.parse::<Integer>() {
                        Ok(MultiValue::from_iter([Value::Integer(i)]))
                    } else if let Ok(f) = text.parse::<f64>() {
                        Ok(MultiValue::from_iter([Value::Number(f)]))
                    } else {
                        Err(mlua::Error::runtime(format!("Invalid result {text}")))
                    }
                }
            }
        })?,
    )?;

    t.set(
        "addresscommand",
        guarded(lua, move |lua, (cmd, param): (String, Option<Value>)| {
            Ok(Variadic::from_iter(
                command(lua, cmd, param)?
                    .and_then(|r| r.starts_with(':').then(|| parse_handle(&r)).flatten()),
            ))
        })?,
    )?;

    t.set(
        "error",
        guarded(lua, |lua, args: Variadic<Value>| {
            let mut text = String::new();
            for (i, v) in args.iter().enumerate() {
                if i > 0 {
                    text.push(' ');
                }
                text.push_str(&lua_tostring(lua, v)?);
            }
            if args.is_empty() {
                text.push_str("nil");
            }
            let owner = owner(lua)?;
            owner.node.log(owner.service.handle(), text);
            Ok(())
        })?,
    )?;

    t.set(
        "harbor",
        guarded(lua, |lua, addr: Integer| {
            let harbor = (addr as u32 >> 24) as Integer;
            Ok((harbor, harbor != 0 && harbor != owner(lua)?.node.handles.harbor() as Integer))
        })?,
    )?;

    t.set(
        "trace",
        // The stack walk is Lua's (see `wrap_raising`); this writes the line.
        guarded(lua, |lua, (tag, user, frames): (String, String, Option<String>)| {
            let owner = owner(lua)?;
            let mut text = format!("<TRACE {tag}> {} {user}", owner.node.clock.hpc());
            if let Some(frames) = frames {
                text.push_str(" : ");
                text.push_str(&frames);
            }
            owner.node.log(owner.service.handle(), text);
            Ok(())
        })?,
    )?;

    let module = wrap_raising(lua, t)?;
    // SAFETY: `register` only sets fields of the table `exec_raw` pushed.
    unsafe { lua.exec_raw::<()>(&module, |state| VmCtx::register(state))? };
    Ok(module)
}
