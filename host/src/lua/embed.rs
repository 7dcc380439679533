//! skybox's own Lua library and built-in services (`lua-guest/`), compiled into the binary.
//!
//! Paths from the config are searched first; these copies are the fallback, so a bare
//! `skybox run` needs no files besides the user's own services.

use include_dir::{Dir, include_dir};

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

/// Built-in service `name` from `service/name.lua`.
pub fn service(name: &str) -> Option<Source> {
    if name.is_empty() || name.contains('/') || name.contains("..") {
        return None;
    }
    file(&format!("service/{name}.lua"))
}

/// The default service loader (used when the config names no `lualoader`).
pub fn loader() -> Option<Source> {
    file("lualib/loader.lua")
}
