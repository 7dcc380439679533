//! The wasm runtime around the guests: the instance pool and its on-demand fallback, the module
//! caches (memory and disk), `snlua NAME` falling back to a wasm guest, Lua launching guests,
//! and a wasm start service in the real binary.

#[path = "support/wasm.rs"]
mod wasm_support;

use std::os::unix::fs::PermissionsExt as _;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use skybox::core::message::{Handle, ptype};
use wasm_support::*;

#[test]
fn guests_beyond_the_pool_are_allocated_on_demand() {
    let h = Harness::new("pool", &[("wasm_pool", "4")]);
    h.guest("echo", &echo_guest());
    for round in 0..2 {
        let guests: Vec<Handle> = (0..40).map(|_| h.launch("wasm echo").unwrap()).collect();
        for (i, g) in guests.iter().enumerate() {
            let payload = format!("{round}-{i}").into_bytes();
            assert_eq!(h.call(*g, ptype::LUA, payload.clone()).data, payload);
        }
        for g in guests {
            assert!(h.node.kill(g));
        }
    }
    assert_eq!(h.log_lines("pool slots are in use").len(), 1, "said once:\n{}", h.log_text());
}

#[test]
fn without_a_pool_every_guest_is_on_demand() {
    let h = Harness::new("nopool", &[("wasm_pool", "0")]);
    h.guest("echo", &echo_guest());
    let guests: Vec<Handle> = (0..10).map(|_| h.launch("wasm echo").unwrap()).collect();
    for g in guests {
        assert_eq!(h.call(g, ptype::LUA, b"x".to_vec()).data, b"x");
    }
    assert!(h.log_lines("pool").is_empty());
}

#[test]
fn a_thousand_guests_with_a_small_pool() {
    let h = Harness::new("many", &[("wasm_pool", "64")]);
    h.guest("echo", &echo_guest());
    let started = Instant::now();
    let guests: Vec<Handle> = (0..1000).map(|_| h.launch("wasm echo").unwrap()).collect();
    let spawn = started.elapsed();
    for g in &guests {
        assert_eq!(h.call(*g, ptype::LUA, b"hi".to_vec()).data, b"hi");
    }
    eprintln!("1000 guests launched in {spawn:?} (pool of 64), all answered in {:?}", started.elapsed());
    let stats = h.wasm.cache_stats();
    let built = stats.compiled.load(Ordering::Relaxed) + stats.from_disk.load(Ordering::Relaxed);
    // Once per engine: the pooled one, and the dense one of the guests beyond the pool.
    assert_eq!(built, 2, "compiled (or loaded from disk) once per engine");
}

/// A guest that answers CLIENT requests `[op, addr, value: i32 LE]` with an i32: op 0 loads the
/// i32 at `addr`, op 1 stores `value` there (answers 0), op 2 grows memory by `addr` pages
/// (answers `memory.grow`'s result). One page of memory to start with.
fn peek_guest() -> String {
    format!(
        r#"(module {IMPORTS}
  (memory (export "memory") 1)
  {ALLOCATOR}
  (func (export "skybox_start") (param i32 i32) (call $reset))
  (func (export "skybox_dispatch")
    (param $ptype i32) (param $session i32) (param $source i32) (param $ptr i32) (param $size i32) (param $msg i32)
    (local $op i32) (local $addr i32) (local $r i32)
    (local.set $op (i32.load (local.get $ptr)))
    (local.set $addr (i32.load offset=4 (local.get $ptr)))
    (if (i32.eqz (local.get $op)) (then (local.set $r (i32.load (local.get $addr)))))
    (if (i32.eq (local.get $op) (i32.const 1))
      (then (i32.store (local.get $addr) (i32.load offset=8 (local.get $ptr)))))
    (if (i32.eq (local.get $op) (i32.const 2)) (then (local.set $r (memory.grow (local.get $addr)))))
    (i32.store (i32.const 0) (local.get $r))
    (drop (call $send (local.get $source) (i32.const 1) (local.get $session) (i32.const 0) (i32.const 4)))
    (call $reset))
)"#
    )
}

/// Runs `op` on a peek guest: its answer, or `None` if the guest trapped (and died).
fn peek_op(h: &Harness, guest: Handle, op: i32, addr: u32, value: i32) -> Option<i32> {
    let mut payload = op.to_le_bytes().to_vec();
    payload.extend_from_slice(&addr.to_le_bytes());
    payload.extend_from_slice(&value.to_le_bytes());
    let reply = h.call(guest, ptype::CLIENT, payload);
    (reply.ptype == ptype::RESPONSE).then(|| i32::from_le_bytes(reply.data[..4].try_into().unwrap()))
}

#[test]
fn every_access_past_a_memory_traps_pooled_or_dense() {
    const PAGE: u32 = 64 << 10;
    // Pooled memories trap on guard pages; dense ones (no pool) sit next to each other in one
    // mapping, so only the compiled bounds checks stop a guest from reaching its neighbour.
    for pool in ["32", "0"] {
        let h = Harness::new("bounds", &[("wasm_pool", pool)]);
        h.guest("peek", &peek_guest());
        let (a, b) = (h.launch("wasm peek").unwrap(), h.launch("wasm peek").unwrap());
        assert_eq!(peek_op(&h, b, 1, 4096, 0x5eed), Some(0), "pool {pool}");
        assert_eq!(peek_op(&h, a, 0, PAGE - 4, 0), Some(0), "pool {pool}: the last word is in bounds");
        assert_eq!(peek_op(&h, a, 0, PAGE - 3, 0), None, "pool {pool}: a word across the end traps");
        h.wait_dead(a);
        let a = h.launch("wasm peek").unwrap();
        assert_eq!(peek_op(&h, a, 0, PAGE, 0), None, "pool {pool}: the next page traps");
        // Growth, in place or moved to a larger chunk, keeps the bytes and moves the bound.
        let c = h.launch("wasm peek").unwrap();
        assert_eq!(peek_op(&h, c, 1, 100, 0x1234), Some(0));
        for (pages, before) in [(1, 1), (2, 2), (4, 4)] {
            assert_eq!(peek_op(&h, c, 2, pages, 0), Some(before), "pool {pool}: grow by {pages}");
            let size = (before + pages as i32) as u32 * PAGE;
            assert_eq!(peek_op(&h, c, 1, size - 4, 7), Some(0));
            assert_eq!(peek_op(&h, c, 0, 100, 0), Some(0x1234), "pool {pool}: bytes kept");
        }
        assert_eq!(peek_op(&h, c, 0, 8 * PAGE, 0), None, "pool {pool}: past the grown memory traps");
        assert_eq!(peek_op(&h, b, 0, 4096, 0), Some(0x5eed), "pool {pool}: the neighbour is untouched");
        h.wait_log_lines("out of bounds", 3);
    }
}

fn cache_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "cwasm"))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn modules_are_compiled_once_and_kept_on_disk() {
    let cache = Scratch::new("cache");
    let dir = cache.path.join("modules");
    let dir_s = dir.display().to_string();
    let env = [("wasm_cache", dir_s.as_str())];
    {
        let h = Harness::new("cache-a", &env);
        h.guest("echo", &echo_guest());
        let a = h.launch("wasm echo").unwrap();
        let b = h.launch("wasm echo").unwrap();
        assert_eq!(h.call(b, ptype::LUA, b"1".to_vec()).data, b"1");
        assert_eq!(h.call(a, ptype::LUA, b"2".to_vec()).data, b"2");
        let stats = h.wasm.cache_stats();
        assert_eq!(stats.compiled.load(Ordering::Relaxed), 1);
        assert_eq!(stats.from_memory.load(Ordering::Relaxed), 1);
        // The same bytes under another name are the same module.
        std::fs::copy(h.dir.path.join("echo.wasm"), h.dir.path.join("echo2.wasm")).unwrap();
        h.launch("wasm echo2").unwrap();
        assert_eq!(stats.compiled.load(Ordering::Relaxed), 1);
    }
    let files = cache_files(&dir);
    assert_eq!(files.len(), 1, "one artifact on disk: {files:?}");
    let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
    {
        let h = Harness::new("cache-b", &env);
        h.guest("echo", &echo_guest());
        let g = h.launch("wasm echo").unwrap();
        assert_eq!(h.call(g, ptype::LUA, b"from disk".to_vec()).data, b"from disk");
        let stats = h.wasm.cache_stats();
        assert_eq!((stats.compiled.load(Ordering::Relaxed), stats.from_disk.load(Ordering::Relaxed)), (0, 1));
    }
    // A damaged artifact is discarded and the module recompiled.
    let mut bytes = std::fs::read(&files[0]).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&files[0], &bytes).unwrap();
    {
        let h = Harness::new("cache-c", &env);
        h.guest("echo", &echo_guest());
        let g = h.launch("wasm echo").unwrap();
        assert_eq!(h.call(g, ptype::LUA, b"again".to_vec()).data, b"again");
        assert_eq!(h.wasm.cache_stats().compiled.load(Ordering::Relaxed), 1);
        h.wait_log("checksum mismatch");
        // A changed module file is noticed: a new module, not the cached one.
        std::thread::sleep(Duration::from_millis(20));
        h.guest("echo", &abi_guest());
        let g = h.launch("wasm echo").unwrap();
        assert_eq!(h.op(g, OP_SELF, &[], &[]), g as i64);
        assert_eq!(h.wasm.cache_stats().compiled.load(Ordering::Relaxed), 2);
    }
    assert_eq!(cache_files(&dir).len(), 2);
}

#[test]
fn a_cache_directory_others_can_write_is_not_used() {
    let cache = Scratch::new("cache-perm");
    std::fs::set_permissions(&cache.path, std::fs::Permissions::from_mode(0o777)).unwrap();
    let dir_s = cache.path.display().to_string();
    let h = Harness::new("cache-perm", &[("wasm_cache", dir_s.as_str())]);
    h.guest("echo", &echo_guest());
    let g = h.launch("wasm echo").unwrap();
    assert_eq!(h.call(g, ptype::LUA, b"ok".to_vec()).data, b"ok");
    assert!(h.wait_log("wasm cache off").contains("writable by group or others"));
    assert!(cache_files(&cache.path).is_empty());
}

/// Starts the launcher (as the bootstrap does), then Lua service `tester` with the probe's
/// address; collects the TEXT lines it sends until "done".
fn run_lua_tester(h: &Harness, tester: &str) -> Vec<String> {
    let launcher = h.launch("snlua launcher").unwrap();
    assert!(h.node.bind_name(".launcher", launcher));
    h.file("tester.lua", tester);
    h.launch(&format!("snlua tester {}", h.probe)).unwrap();
    let mut lines = Vec::new();
    loop {
        let m = h
            .wait_for(WAIT, |m| m.ptype == ptype::TEXT)
            .unwrap_or_else(|| panic!("tester stopped after {lines:?}\n{}", h.log_text()));
        let line = String::from_utf8_lossy(&m.data).into_owned();
        if line == "done" {
            return lines;
        }
        lines.push(line);
    }
}

const TESTER_PRELUDE: &str = r#"
local skynet = require "skynet"
require "skynet.manager"
local probe = tonumber((...))
local core = require "skynet.core"
local function report(line) core.send(probe, skynet.PTYPE_TEXT, 0, line) end
skynet.register_protocol { name = "client", id = skynet.PTYPE_CLIENT }
-- runs op `n` of the ABI guest at `addr` with up to 6 arguments; its i64 result
local function op(addr, n, ...)
    local a = { ... }
    local msg = string.pack("<i4i4i4i4i4i4i4", n, a[1] or 0, a[2] or 0, a[3] or 0, a[4] or 0, a[5] or 0, a[6] or 0)
    return (string.unpack("<i8", skynet.tostring(skynet.rawcall(addr, "client", msg))))
end
"#;

#[test]
fn newservice_falls_back_to_a_wasm_guest_and_lua_calls_it() {
    let h = Harness::new("fallback", &[]);
    h.guest("echo", &echo_guest());
    h.guest("abi", &abi_guest());
    h.guest("both", &echo_guest());
    h.file("both.lua", "local skynet = require 'skynet'\nskynet.start(function() skynet.dispatch('lua', function() skynet.ret(skynet.pack('lua wins')) end) end)\n");
    let tester = format!(
        r#"{TESTER_PRELUDE}
skynet.start(function()
    -- newservice finds echo.wasm: there is no echo.lua
    local echo = skynet.newservice("echo")
    local a, b, c = skynet.call(echo, "lua", "hi", 42, {{ x = 1 }})
    report(string.format("echo %s %d %d", a, b, c.x))
    -- a Lua service of the same name wins
    report("both " .. skynet.call(skynet.newservice("both"), "lua", "?"))
    -- neither: newservice fails, it does not hang
    report("nosuch " .. tostring((pcall(skynet.newservice, "nosuch"))))
    -- skynet.launch with per-launch options
    local abi = skynet.launch("wasm", "--memlimit=128K", "abi")
    report("grow " .. op(abi, {OP_GROW}, 1) .. " " .. op(abi, {OP_GROW}, 1))
    -- a guest that traps mid-call: the Lua caller's call raises
    local ok, err = pcall(op, abi, {OP_TRAP})
    report("trap " .. tostring(ok))
    -- a guest that fails in start: newservice raises
    report("start " .. tostring((pcall(skynet.newservice, "abi", "trap"))))
    report("done")
end)
"#,
        OP_GROW = OP_GROW,
        OP_TRAP = OP_TRAP
    );
    let lines = run_lua_tester(&h, &tester);
    assert_eq!(
        lines,
        ["echo hi 42 1", "both lua wins", "nosuch false", "grow 1 -1", "trap false", "start false"],
        "\n{}",
        h.log_text()
    );
    h.wait_log("wasm guest 'abi' killed in skybox_dispatch: trap");
    h.wait_log("wasm guest 'abi' killed in skybox_start: trap");
}

fn skybox(args: &[&str], cwd: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_skybox"))
        .args(args)
        .current_dir(cwd)
        .env("XDG_CACHE_HOME", cwd.join("xdg-cache"))
        .output()
        .unwrap()
}

#[test]
fn a_wasm_guest_can_be_the_start_service() {
    let dir = Scratch::new("start-bin");
    let wat = format!(
        r#"(module {IMPORTS}
  (memory (export "memory") 1)
  (data (i32.const 100) "hello from a wasm start service")
  (data (i32.const 200) "ABORT")
  {ALLOCATOR}
  (func (export "skybox_start") (param i32 i32)
    (call $log (i32.const 100) (i32.const 31))
    (drop (call $command (i32.const 200) (i32.const 5) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0))))
  (func (export "skybox_dispatch") (param i32 i32 i32 i32 i32 i32)))"#
    );
    std::fs::write(dir.path.join("main.wasm"), wat::parse_str(&wat).unwrap()).unwrap();
    let path = dir.path.display().to_string();
    let out = skybox(&["run", "--start", "main", "--path", &path], &dir.path);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("hello from a wasm start service"), "{stdout}");
    // The default disk cache is under $XDG_CACHE_HOME.
    assert_eq!(cache_files(&dir.path.join("xdg-cache/skybox/wasm")).len(), 1);
    // Neither a Lua nor a wasm start service: one line naming both searches.
    let out = skybox(&["run", "--start", "nosuch", "--path", &path], &dir.path);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("luaservice") && stderr.contains("wasmservice") && stderr.lines().count() == 1,
        "{stderr}"
    );
    // Bad wasm settings fail early, with one line.
    let out = skybox(&["run", "--start", "main", "--path", &path, "--set", "wasm_memlimit=lots"], &dir.path);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("wasm_memlimit") && stderr.lines().count() == 1, "{stderr}");
}

/// Whoever can plant a compiled artifact runs native code: artifacts others can write, and
/// symlinks, are never loaded (the module is compiled again instead).
#[test]
fn cache_artifacts_others_could_have_planted_are_not_loaded() {
    let cache = Scratch::new("cache-planted");
    let dir = cache.path.join("modules");
    let dir_s = dir.display().to_string();
    let env = [("wasm_cache", dir_s.as_str())];
    let compiled_on_launch = || {
        let h = Harness::new("cache-planted", &env);
        h.guest("echo", &echo_guest());
        let g = h.launch("wasm echo").unwrap();
        assert_eq!(h.call(g, ptype::LUA, b"ok".to_vec()).data, b"ok");
        h.wasm.cache_stats().compiled.load(Ordering::Relaxed)
    };
    assert_eq!(compiled_on_launch(), 1, "first run compiles and stores");
    assert_eq!(compiled_on_launch(), 0, "second run loads from disk");
    let artifact = cache_files(&dir).remove(0);
    std::fs::set_permissions(&artifact, std::fs::Permissions::from_mode(0o666)).unwrap();
    assert_eq!(compiled_on_launch(), 1, "an artifact others can write is not loaded");
    let artifact = cache_files(&dir).remove(0);
    let elsewhere = cache.path.join("elsewhere.cwasm");
    std::fs::copy(&artifact, &elsewhere).unwrap();
    std::fs::remove_file(&artifact).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &artifact).unwrap();
    assert_eq!(compiled_on_launch(), 1, "a symlinked artifact is not loaded");
}
