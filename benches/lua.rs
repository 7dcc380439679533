//! Lua service benchmarks (criterion), on a real node (2 workers, the real launcher):
//! `cargo bench --bench lua`.
//!
//! - `lua/call`: one `skynet.call` round trip between two Lua services (a caller makes K calls
//!   to an echo service and reports back; the time is divided by K);
//! - `lua/spawn`: one `skynet.newservice` of a minimal service (through `.launcher`, until its
//!   start function has run), timed inside Lua; each service is killed after it is timed;
//! - `forward/lua_proxy/SIZE`: a request through a `forward_type` proxy to a mirror that answers
//!   with the request's own buffer, and the answer back through the proxy, for payloads of
//!   16 B, 1 KiB and 64 KiB. The buffer the bench sends is the one it gets back (checked): the
//!   payload is moved along four hops, never copied, so the time does not depend on its size
//!   (bytes per second grow with it). `forward/direct/SIZE` is the same without the proxy: the
//!   difference is the cost of two forwards.

#![allow(missing_docs, reason = "criterion_group! defines an undocumented `pub fn`")]

#[path = "../tests/support/wasm.rs"]
#[allow(unused)]
mod wasm_support;

#[path = "forwarding.rs"]
mod forwarding;

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use skybox::core::message::{Handle, ptype};
use skybox_sdk::{Value, codec};
use wasm_support::Harness;

/// The allocator of the `skybox` binary, so the figures are the binary's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const MINIMAL: &str = r#"
local skynet = require "skynet"
skynet.start(function()
    skynet.dispatch("lua", function() end)
end)
"#;

/// Asked `k`, starts and kills k minimal services; answers the nanoseconds spent in
/// `skynet.newservice` alone.
const SPAWNER: &str = r#"
local skynet = require "skynet"
require "skynet.manager"
skynet.start(function()
    skynet.dispatch("lua", function(_, _, k)
        local spent = 0
        for _ = 1, k do
            local t = skynet.hpc()
            local s = skynet.newservice("minimal")
            spent = spent + (skynet.hpc() - t)
            skynet.kill(s)
        end
        skynet.ret(skynet.pack(spent))
    end)
end)
"#;

/// Calls `dest` with integer arguments; the first value of the answer, an integer.
fn answer_int(h: &Harness, dest: Handle, args: &[i64]) -> i64 {
    let args: Vec<Value> = args.iter().map(|&a| Value::Integer(a)).collect();
    let reply = h.call(dest, ptype::LUA, codec::encode(&args).unwrap());
    assert_eq!(reply.ptype, ptype::RESPONSE, "{}", h.log_text());
    codec::decode(&reply.data).unwrap()[0].as_integer().unwrap()
}

fn call(c: &mut Criterion) {
    let h = Harness::new("bench-lua-call", &[]);
    h.file("echo.lua", forwarding::LUA_ECHO);
    h.file("caller.lua", forwarding::LUA_CALLER);
    let echo = h.launch("snlua echo").unwrap();
    let caller = h.launch("snlua caller").unwrap();
    forwarding::settle();
    assert_eq!(answer_int(&h, caller, &[10, i64::from(echo)]), 10, "warm up");
    let mut g = c.benchmark_group("lua");
    g.throughput(Throughput::Elements(1));
    g.bench_function("call", |b| {
        b.iter_custom(|k| {
            let started = std::time::Instant::now();
            answer_int(&h, caller, &[k as i64, i64::from(echo)]);
            started.elapsed()
        })
    });
    g.finish();
}

fn spawn(c: &mut Criterion) {
    let h = Harness::new("bench-lua-spawn", &[]);
    h.file("minimal.lua", MINIMAL);
    h.file("spawner.lua", SPAWNER);
    forwarding::start_launcher(&h);
    let spawner = h.launch("snlua spawner").unwrap();
    forwarding::settle();
    answer_int(&h, spawner, &[10]);
    let mut g = c.benchmark_group("lua");
    g.throughput(Throughput::Elements(1));
    g.bench_function("spawn", |b| {
        b.iter_custom(|k| Duration::from_nanos(answer_int(&h, spawner, &[k as i64]) as u64))
    });
    g.finish();
}

fn forward(c: &mut Criterion) {
    let h = Harness::new("bench-lua-forward", &[]);
    h.file("mirror.lua", forwarding::MIRROR);
    h.file("proxy.lua", forwarding::LUA_PROXY);
    let mirror = h.launch("snlua mirror").unwrap();
    let proxy = h.launch(&format!("snlua proxy {mirror}")).unwrap();
    forwarding::settle();
    forwarding::round_trips(c, &h, "forward", "direct", mirror);
    forwarding::round_trips(c, &h, "forward", "lua_proxy", proxy);
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = call, spawn, forward
}
criterion_main!(benches);
