//! What `benches/lua.rs` and `benches/wasm.rs` share: a Lua echo service and a Lua caller, and
//! for forwarding a Lua mirror that answers a request with the request's own buffer, skynet's
//! `forward_type` proxy in Lua, and round trips of one buffer that is never copied. Included with `#[path]`, next to
//! `wasm_support` (tests/support/wasm.rs).

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput};
use skybox::core::message::{Handle, ptype};

use crate::wasm_support::Harness;

/// Answers every `lua` request with its arguments.
pub(crate) const LUA_ECHO: &str = r#"
local skynet = require "skynet"
skynet.start(function()
    skynet.dispatch("lua", function(_, _, ...) skynet.ret(skynet.pack(...)) end)
end)
"#;

/// Asked `k, target`, calls `target` k times with one integer, then answers k.
pub(crate) const LUA_CALLER: &str = r#"
local skynet = require "skynet"
skynet.start(function()
    skynet.dispatch("lua", function(_, _, k, target)
        local call = skynet.call
        for i = 1, k do
            call(target, "lua", i)
        end
        skynet.ret(skynet.pack(k))
    end)
end)
"#;

/// Answers every `lua` request with the request's own buffer (forward mode: the payload belongs
/// to the handler, which hands it back with `skynet.ret`).
pub(crate) const MIRROR: &str = r#"
local skynet = require "skynet"
require "skynet.manager"
skynet.register_protocol { name = "system", id = skynet.PTYPE_SYSTEM, unpack = function(...) return ... end }
skynet.forward_type({ [skynet.PTYPE_LUA] = skynet.PTYPE_SYSTEM }, function()
    skynet.dispatch("system", function(_, _, msg, sz)
        skynet.ret(msg, sz)
    end)
end)
"#;

/// skynet's clusterproxy pattern (as tests/lua/proxy_svc.lua): `lua` requests and their answers
/// pass through by buffer, never unpacked. Launched with the target's address (decimal).
pub(crate) const LUA_PROXY: &str = r#"
local skynet = require "skynet"
require "skynet.manager"
local target = tonumber((...))
skynet.register_protocol { name = "system", id = skynet.PTYPE_SYSTEM, unpack = function(...) return ... end }
skynet.forward_type({ [skynet.PTYPE_LUA] = skynet.PTYPE_SYSTEM, [skynet.PTYPE_RESPONSE] = skynet.PTYPE_RESPONSE }, function()
    skynet.dispatch("system", function(session, _, msg, sz)
        if session == 0 then
            skynet.rawsend(target, "lua", msg, sz)
        else
            skynet.ret(skynet.rawcall(target, "lua", msg, sz))
        end
    end)
end)
"#;

/// Payload sizes: 16 B, 1 KiB, 64 KiB.
pub(crate) const SIZES: [usize; 3] = [16, 1 << 10, 64 << 10];

/// Lets services just launched finish booting (a Lua service's start function runs after its
/// first message; a request before that would find no dispatch function).
pub(crate) fn settle() {
    std::thread::sleep(Duration::from_millis(200));
}

/// Benchmarks round trips of payloads of each of [`SIZES`] to `dest`, as `group/label/SIZE`, with
/// one buffer going round: each answer's buffer is sent again. Panics if an answer comes back in
/// another buffer (a copy somewhere on the path).
pub(crate) fn round_trips(c: &mut Criterion, h: &Harness, group: &str, label: &str, dest: Handle) {
    let mut g = c.benchmark_group(group);
    for size in SIZES {
        let mut payload = vec![0x5a; size];
        let sent = payload.as_ptr();
        let reply = h.call(dest, ptype::LUA, std::mem::take(&mut payload));
        assert_eq!(reply.ptype, ptype::RESPONSE, "{label}/{size}:\n{}", h.log_text());
        assert_eq!(reply.data.len(), size);
        assert_eq!(reply.data.as_ptr(), sent, "{label}/{size}: the payload was copied on the way");
        payload = reply.data;
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_function(BenchmarkId::new(label, size), |b| {
            b.iter(|| payload = h.call(dest, ptype::LUA, std::mem::take(&mut payload)).data)
        });
    }
    g.finish();
}

/// Starts the launcher, as the bootstrap does (`skynet.newservice` needs it).
pub(crate) fn start_launcher(h: &Harness) {
    let launcher = h.launch("snlua launcher").unwrap();
    assert!(h.node.bind_name(".launcher", launcher));
}
