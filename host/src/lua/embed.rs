//! skybox's own Lua library and built-in services (`lua-guest/`), compiled into the binary.
//!
//! Paths from the config are searched first; these copies are the fallback, so a bare
//! `skybox run` needs no files besides the user's own services.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use include_dir::{Dir, include_dir};
use mlua::{Function, Lua};

static LUA_GUEST: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../lua-guest");

/// An embedded Lua source and the chunk name to load it under.
pub struct Source {
    pub code: &'static str,
    pub chunkname: String,
}

fn file(path: &str) -> Option<Source> {
    let code = LUA_GUEST.get_file(path)?.contents_utf8()?;
    Some(Source { code, chunkname: format!("@lua-guest/{path}") })
}

/// Module `a.b` from `lualib/a/b.lua` or `lualib/a/b/init.lua`.
pub fn module(name: &str) -> Option<Source> {
    if name.is_empty() || name.contains("..") || name.contains('/') {
        return None;
    }
    let base = name.replace('.', "/");
    file(&format!("lualib/{base}.lua")).or_else(|| file(&format!("lualib/{base}/init.lua")))
}

/// A chunk of host code (glue the host runs in every VM), cached as bytecode like the library.
pub fn host_chunk(code: &'static str, chunkname: &str) -> Source {
    Source { code, chunkname: chunkname.to_string() }
}

/// Built-in service `name` from `service/name.lua`.
pub fn service(name: &str) -> Option<Source> {
    if name.is_empty() || name.contains('/') || name.contains("..") {
        return None;
    }
    file(&format!("service/{name}.lua"))
}

/// Bytecode of embedded sources and host chunks, compiled once per process (keyed by the
/// address of the static source): every Lua service loads skynet.lua and its companions, and
/// parsing them per VM would dominate the cost of a spawn.
fn bytecode_cache() -> &'static Mutex<HashMap<usize, Arc<[u8]>>> {
    static CACHE: OnceLock<Mutex<HashMap<usize, Arc<[u8]>>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

impl Source {
    /// The source compiled to bytecode (with debug information, for tracebacks).
    pub fn bytecode(&self, lua: &Lua) -> mlua::Result<Arc<[u8]>> {
        let key = self.code.as_ptr() as usize;
        if let Some(bytes) = bytecode_cache().lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return Ok(bytes.clone());
        }
        let function = lua.load(self.code).set_name(self.chunkname.as_str()).into_function()?;
        let bytes: Arc<[u8]> = function.dump(false).into();
        bytecode_cache().lock().unwrap_or_else(|e| e.into_inner()).insert(key, bytes.clone());
        Ok(bytes)
    }

    /// The source as a function, loaded from the cached bytecode.
    pub fn load(&self, lua: &Lua) -> mlua::Result<Function> {
        let bytes = self.bytecode(lua)?;
        lua.load(&bytes[..]).set_name(self.chunkname.as_str()).into_function()
    }
}

/// The default service loader (used when the config names no `lualoader`).
pub fn loader() -> Option<Source> {
    file("lualib/loader.lua")
}
