//! Wasm guest benchmarks (criterion): `cargo bench --bench wasm`.
//!
//! - `dispatch/direct`: one message through `Actor::dispatch` of a WAT echo guest (fuel reset,
//!   `skybox_alloc`, copy in, `skybox_dispatch`, the guest's reply through `Node::send`), no
//!   scheduler;
//! - `dispatch/call`: a request from a Rust service to the echo guest and its reply, through the
//!   real scheduler (2 workers);
//! - `fuel`: compute-heavy kernels (a dependency chain, recursion, a memory loop) with fuel
//!   metering on and off, and (`dense`, metering on) on the engine of the guests beyond the
//!   pool, whose code bounds-checks every memory access;
//! - `spawn`: instantiating a guest and running its `skybox_start`, pooled and on demand (a
//!   dense memory);
//! - `lua_call`: `skynet.call` from a Lua service to the echo guest (and, for scale, to a Lua
//!   echo service), per round trip;
//! - `forward/wasm_proxy/SIZE`: a request through the SDK-built `proxy` guest (held messages,
//!   forwarded by handle) to a Lua mirror that answers with the request's own buffer, and back,
//!   for payloads of 16 B, 1 KiB and 64 KiB: one buffer moves along four hops and is never
//!   copied (checked), so the time does not depend on the size. Compare with
//!   `forward/direct` and `forward/lua_proxy` in `benches/lua.rs`. Skipped unless
//!   `cargo xtask guests` has built `proxy.wasm`.

#![allow(missing_docs, reason = "criterion_group! defines an undocumented `pub fn`")]

#[path = "../tests/support/wasm.rs"]
#[allow(unused)]
mod wasm_support;

#[path = "forwarding.rs"]
#[allow(unused)]
mod forwarding;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use skybox::core::message::{Message, ptype};
use skybox::core::node::{Node, NodeConfig};
use skybox::core::service::{Actor, Service};
use skybox::wasm::WasmRuntime;
use skybox::wasm::settings::Settings;
use wasm_support::*;

/// The allocator of the `skybox` binary, so the figures are the binary's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A node that never starts its threads: enough for direct dispatch and spawn.
fn idle_node() -> Arc<Node> {
    Node::new(NodeConfig { threads: 1, ..NodeConfig::default() }).unwrap()
}

fn runtime(dir: &Scratch, fuel: u64, pool: u32) -> Arc<WasmRuntime> {
    WasmRuntime::with_settings(Settings {
        patterns: format!("{}/?.wasm", dir.path.display()),
        fuel,
        pool,
        cache_dir: None,
        ..Settings::default()
    })
}

fn write_guest(dir: &Scratch, name: &str, wat: &str) {
    std::fs::write(dir.path.join(format!("{name}.wasm")), wat::parse_str(wat).unwrap()).unwrap();
}

/// A compute-heavy guest; the first payload byte picks the kernel:
/// 0: 1M steps of an LCG (one long dependency chain);
/// 1: fib(25) by naive recursion (243k calls: function-entry checks);
/// 2: the sum of 1M bytes of memory (a 64 KiB page, 16 times: loop-bound throughput).
fn compute_guest() -> String {
    format!(
        r#"(module {IMPORTS}
  (memory (export "memory") 2)
  {ALLOCATOR}
  (global $acc (mut i64) (i64.const 1))
  (func (export "skybox_start") (param i32 i32) (call $reset))
  (func $fib (param $n i32) (result i32)
    (if (result i32) (i32.lt_u (local.get $n) (i32.const 2))
      (then (local.get $n))
      (else (i32.add (call $fib (i32.sub (local.get $n) (i32.const 1)))
                     (call $fib (i32.sub (local.get $n) (i32.const 2)))))))
  (func $lcg (local $i i32) (local $x i64)
    (local.set $x (global.get $acc))
    (loop $l
      (local.set $x (i64.add (i64.mul (local.get $x) (i64.const 6364136223846793005)) (i64.const 1442695040888963407)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 1000000))))
    (global.set $acc (local.get $x)))
  (func $sum (local $i i32) (local $s i32)
    (loop $l
      (local.set $s (i32.add (local.get $s) (i32.load8_u offset=65536 (i32.and (local.get $i) (i32.const 65535)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 1000000))))
    (global.set $acc (i64.extend_i32_u (local.get $s))))
  (func (export "skybox_dispatch") (param i32 i32 i32 i32 i32 i32)
    (local $k i32)
    (local.set $k (i32.load8_u (local.get 3)))
    (if (i32.eqz (local.get $k)) (then (call $lcg)))
    (if (i32.eq (local.get $k) (i32.const 1)) (then (global.set $acc (i64.extend_i32_u (call $fib (i32.const 25))))))
    (if (i32.eq (local.get $k) (i32.const 2)) (then (call $sum)))
    (call $reset)))"#
    )
}

/// Launches `line` as a new (unregistered) service on `rt` and runs its boot message (the one
/// the launch queued: source 0, session 0, SYSTEM, empty), i.e. `skybox_start`; the guest, ready.
fn boot(rt: &WasmRuntime, node: &Arc<Node>, line: &str) -> Box<dyn Actor> {
    let service = Service::bare(0x00ab_cdef);
    let mut guest = rt.launch(node, &service, line).unwrap();
    guest.dispatch(Message { source: 0, session: 0, ptype: ptype::SYSTEM, data: Vec::new() });
    guest
}

fn dispatch(c: &mut Criterion) {
    let dir = Scratch::new("bench-dispatch");
    write_guest(&dir, "echo", &echo_guest());
    let node = idle_node();
    let rt = runtime(&dir, 1_000_000_000, 16);
    let mut guest = boot(&rt, &node, "echo");
    let mut group = c.benchmark_group("dispatch");
    group.throughput(Throughput::Elements(1));
    for size in [16usize, 1024] {
        let payload = vec![7u8; size];
        // The reply goes to a handle that does not exist: Node::send fails fast, as for a caller
        // that left.
        group.bench_function(BenchmarkId::new("direct", size), |b| {
            b.iter(|| {
                guest.dispatch(Message {
                    source: 0x00ff_fff0,
                    session: 1,
                    ptype: ptype::LUA,
                    data: payload.clone(),
                })
            })
        });
    }
    drop(guest);

    let h = Harness::new("bench-call", &[("wasm_pool", "16")]);
    h.guest("echo", &echo_guest());
    let echo = h.launch("wasm echo").unwrap();
    group.bench_function("call", |b| b.iter(|| h.call(echo, ptype::LUA, vec![1u8; 16])));
    group.finish();
}

fn fuel(c: &mut Criterion) {
    let dir = Scratch::new("bench-fuel");
    write_guest(&dir, "compute", &compute_guest());
    let node = idle_node();
    let mut group = c.benchmark_group("fuel");
    for (label, fuel, pool) in [("on", 1_000_000_000u64, 16), ("off", 0, 16), ("dense", 1_000_000_000, 0)] {
        let rt = runtime(&dir, fuel, pool);
        let mut guest = boot(&rt, &node, "compute");
        for (kernel, byte) in [("lcg_1M", 0u8), ("fib_25", 1), ("sum_1M", 2)] {
            group.bench_function(BenchmarkId::new(kernel, label), |b| {
                b.iter(|| {
                    guest.dispatch(Message { source: 0, session: 0, ptype: ptype::LUA, data: vec![byte] })
                })
            });
        }
    }
    group.finish();
}

fn spawn(c: &mut Criterion) {
    let dir = Scratch::new("bench-spawn");
    write_guest(&dir, "echo", &echo_guest());
    let node = idle_node();
    let mut group = c.benchmark_group("spawn");
    for (label, pool) in [("pooled", 1024u32), ("on_demand", 0)] {
        let rt = runtime(&dir, 1_000_000_000, pool);
        drop(boot(&rt, &node, "echo")); // compile once, outside the measurement
        group.bench_function(label, |b| b.iter(|| drop(boot(&rt, &node, "echo"))));
    }
    group.finish();
}

fn lua_call(c: &mut Criterion) {
    let h = Harness::new("bench-lua", &[]);
    h.guest("echo", &echo_guest());
    h.file("lecho.lua", forwarding::LUA_ECHO);
    h.file("pinger.lua", forwarding::LUA_CALLER);
    let wasm_echo = h.launch("wasm echo").unwrap();
    let lua_echo = h.launch("snlua lecho").unwrap();
    let pinger = h.launch("snlua pinger").unwrap();
    // Let the Lua services boot.
    std::thread::sleep(Duration::from_millis(200));
    let mut group = c.benchmark_group("lua_call");
    group.throughput(Throughput::Elements(1));
    for (label, target) in [("lua_to_wasm", wasm_echo), ("lua_to_lua", lua_echo)] {
        group.bench_function(label, |b| {
            b.iter_custom(|iters| {
                // lua-seri: (integer n, integer target); the payload is built by hand.
                let payload = pack_two_ints(iters as i64, i64::from(target));
                let started = Instant::now();
                let reply = h.call(pinger, ptype::LUA, payload);
                assert_eq!(reply.ptype, ptype::RESPONSE);
                started.elapsed()
            })
        });
    }
    group.finish();
}

/// skynet.pack(a, b) for two integers (lua-seri: type 2 = number, subtype 6 = 64-bit integer).
fn pack_two_ints(a: i64, b: i64) -> Vec<u8> {
    let mut out = Vec::new();
    for v in [a, b] {
        out.push(2 | (6 << 3));
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// Where `cargo xtask guests` put the SDK-built guests, if it did: `$SKYBOX_GUESTS`, else the
/// first of `$CARGO_TARGET_DIR/guests` and `target/guests` with `proxy.wasm` (as
/// tests/wasm_guests.rs looks for them).
fn built_guests() -> Option<PathBuf> {
    let env = |key| std::env::var_os(key).filter(|d| !d.is_empty());
    env("SKYBOX_GUESTS")
        .map(PathBuf::from)
        .into_iter()
        .chain(env("CARGO_TARGET_DIR").map(|d| repo_root().join(d).join("guests")))
        .chain([repo_root().join("target").join("guests")])
        .find(|d| d.join("proxy.wasm").is_file())
}

fn forward(c: &mut Criterion) {
    let Some(guests) = built_guests() else {
        eprintln!("SKIPPED forward/wasm_proxy: proxy.wasm not built (run `cargo xtask guests`)");
        return;
    };
    let patterns = format!("{}/?.wasm", guests.display());
    let h = Harness::new("bench-forward", &[("wasmservice", patterns.as_str())]);
    h.file("mirror.lua", forwarding::MIRROR);
    let mirror = h.launch("snlua mirror").unwrap();
    let proxy = h.launch(&format!("wasm proxy {mirror}")).unwrap();
    forwarding::settle();
    forwarding::round_trips(c, &h, "forward", "wasm_proxy", proxy);
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = dispatch, fuel, spawn, lua_call, forward
}
criterion_main!(benches);
