//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`, off in every normal build):
//! thin wrappers that make crate-private parsers and decoders reachable from outside the crate.
//! Nothing here is part of skybox's API, and nothing else uses it.

use std::collections::HashMap;
use std::path::Path;

use mlua::{Lua, MultiValue};

use crate::lua::seri;

/// `skynet.unpack(s)` for a string `s`: every value of `data` pushed onto `lua`'s stack by the
/// host's decoder, in protected mode (a malformed stream is a Lua error).
pub fn unpack(lua: &Lua, data: &[u8]) -> mlua::Result<MultiValue> {
    // SAFETY: the closure owns nothing with a destructor, so a Lua error may unwind past it;
    // `data` outlives the call.
    unsafe {
        lua.exec_raw((), |state| {
            seri::decode(state, data);
        })
    }
}

/// The unprotected fast path of `skynet.unpack` on a message buffer: `Some(values)` when
/// `data` holds only values that push without allocating, `None` (nothing pushed) otherwise.
/// The real caller runs it outside any protected call, so it must never raise: an `Err` here
/// is a bug.
pub fn unpack_plain(lua: &Lua, data: &[u8]) -> mlua::Result<Option<MultiValue>> {
    let mut plain = false;
    // SAFETY: as `unpack`.
    let values = unsafe {
        lua.exec_raw((), |state| {
            plain = seri::decode_plain(state, data).is_some();
        })?
    };
    Ok(plain.then_some(values))
}

/// `skynet.packstring(...)`: the encoding of `values` by the host's encoder.
pub fn pack(lua: &Lua, values: MultiValue) -> mlua::Result<Vec<u8>> {
    let mut out = Vec::new();
    // SAFETY: the closure writes through a borrow and owns nothing; `values` are its arguments.
    unsafe {
        lua.exec_raw::<()>(values, |state| {
            seri::encode(state, 1, &mut out);
            mlua::ffi::lua_settop(state, 0);
        })?;
    }
    Ok(out)
}

/// Reads a record file as `skybox replay` does before it runs anything (every frame checked),
/// and formats each entry as `--dump` does; the number of entries, or the one-line error.
pub fn read_record(bytes: &[u8]) -> Result<usize, String> {
    let record = crate::record::format::read(bytes)?;
    for entry in &record.entries {
        let _ = entry.to_string();
    }
    Ok(record.entries.len())
}

/// Loads the config file at `path` as `skybox run` does, but in `lua` (so the caller may cap
/// its memory and instructions); every key and its value as text.
pub fn load_config(lua: &Lua, path: &Path) -> anyhow::Result<HashMap<String, String>> {
    Ok(crate::config::Config::load_in(lua, path)?.values)
}

/// A config value read as a count (`1e9`, `1_000`), as the config's numeric keys are.
pub fn parse_count(text: &str) -> anyhow::Result<u64> {
    crate::config::parse_count(text)
}

/// A config value read as a byte size (`64M`).
pub fn parse_bytes(text: &str) -> anyhow::Result<u64> {
    crate::config::parse_bytes(text)
}

/// `tenant_NAME = "..."` parsed for a node of `threads` workers: the limits, in declaration
/// order (services, memory, messages, inflight, fuel, workers).
pub fn parse_tenant(name: &str, spec: &str, threads: usize) -> anyhow::Result<[u64; 6]> {
    let l = crate::core::tenant::Limits::parse(name, spec, threads)?;
    Ok([l.services as u64, l.memory as u64, l.messages as u64, l.inflight as u64, l.fuel, l.workers as u64])
}

/// A launch line's `--profile=` and `--tenant=` options taken out: (profile, tenant, the rest).
pub fn take_launch_options(args: &str) -> anyhow::Result<(Option<&str>, Option<&str>, String)> {
    let o = crate::core::profile::LaunchOptions::take(args)?;
    Ok((o.profile, o.tenant, o.rest))
}
