//! Target `config`: the config loader (`host/src/config.rs`: `$NAME` expansion, the chunk run
//! in its own environment, `include`, every key read back as text), on arbitrary files.
//!
//! The input is up to three files separated by NUL bytes: `main.cfg` (loaded), `a.cfg` and
//! `b.cfg` (for `include`). Checks: a bad config is an error, never a panic; every value the
//! loader returns goes through the count and size parsers without a panic.
//!
//! A config is the operator's own Lua code, trusted: it may loop, eat memory or `include
//! "/dev/zero"`. So the chunk runs in a VM capped at 8 MiB and 100k instructions, without the
//! string methods (whose patterns can run unbounded inside one instruction), and inputs that
//! could reach a file outside the three are skipped: `include` must be called with one of their
//! names as a literal, `_ENV` (the environment by another name) is refused, and `$NAME` must
//! name one of this target's variables (`SKYBOX_FUZZ_*`).

#![no_main]

use std::path::PathBuf;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU32, Ordering};

use libfuzzer_sys::fuzz_target;
use mlua::{HookTriggers, Lua, VmState};
use skybox::fuzzing;

const FILES: [&str; 3] = ["main.cfg", "a.cfg", "b.cfg"];

/// The directory of the three files, one per process.
static DIR: LazyLock<PathBuf> = LazyLock::new(|| {
    let dir = skybox_fuzz::scratch("config");
    // SAFETY: set once, before any other thread of this process reads the environment.
    unsafe {
        std::env::set_var("SKYBOX_FUZZ_ROOT", "/srv/game");
        std::env::set_var("SKYBOX_FUZZ_THREADS", "4");
    }
    dir
});

fuzz_target!(|data: &[u8]| {
    let parts: Vec<&[u8]> = data.splitn(FILES.len(), |&b| b == 0).collect();
    if !parts.iter().all(|p| contained(p)) {
        return;
    }
    for (i, name) in FILES.iter().enumerate() {
        std::fs::write(DIR.join(name), parts.get(i).copied().unwrap_or_default()).expect("cannot write");
    }
    let Ok(values) = fuzzing::load_config(&capped_lua(), &DIR.join("main.cfg")) else {
        return;
    };
    for value in values.values() {
        let _ = fuzzing::parse_count(value);
        let _ = fuzzing::parse_bytes(value);
    }
});

/// Whether `text` can only include the three files and read only this target's variables.
fn contained(text: &[u8]) -> bool {
    let has = |at: usize, s: &[u8]| text[at..].starts_with(s);
    (0..text.len()).all(|i| {
        if has(i, b"_ENV") {
            return false;
        }
        if has(i, b"include") {
            return literal_call(&text[i + b"include".len()..]);
        }
        if text[i] == b'$' && text.get(i + 1).is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_') {
            return has(i + 1, b"SKYBOX_FUZZ_");
        }
        true
    })
}

/// Whether `rest` (what follows `include`) starts with a call whose argument is the literal
/// name of one of the files: `include "a.cfg"` or `include("a.cfg")`.
fn literal_call(rest: &[u8]) -> bool {
    let rest = rest.trim_ascii_start();
    let (rest, paren) = match rest.strip_prefix(b"(") {
        Some(rest) => (rest.trim_ascii_start(), true),
        None => (rest, false),
    };
    FILES.iter().any(|name| {
        let literal = format!("\"{name}\"");
        rest.strip_prefix(literal.as_bytes())
            .is_some_and(|after| !paren || after.trim_ascii_start().starts_with(b")"))
    })
}

/// A fresh VM capped in memory and instructions, its strings without methods.
fn capped_lua() -> Lua {
    let lua = Lua::new();
    lua.set_memory_limit(8 << 20).expect("memory limit");
    lua.load("getmetatable('').__index = nil").exec().expect("strings without methods");
    let steps = AtomicU32::new(0);
    let every = HookTriggers::new().every_nth_instruction(1000);
    lua.set_hook(every, move |_, _| match steps.fetch_add(1, Ordering::Relaxed) {
        0..100 => Ok(VmState::Continue),
        _ => Err(mlua::Error::runtime("instruction budget spent")),
    })
    .expect("hook");
    lua
}
