//! Core benchmarks (criterion): `cargo bench --bench core`.
//!
//! - `mailbox`: push then pop of one message, uncontended, and with a second thread pushing
//!   into the same mailbox (the one lock on the message path);
//! - `seri`: `skynet.packstring` / `skynet.unpack` of typical payloads, called from a Lua loop in
//!   a real VM (one integer, a short argument list, a 100-item table of small tables), bytes per
//!   second;
//! - `handles`: the lock-free address lookup every send makes.

#![allow(missing_docs, reason = "criterion_group! defines an undocumented `pub fn`")]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mlua::Lua;
use skybox::core::handle::HandleTable;
use skybox::core::mailbox::Mailbox;
use skybox::core::message::Message;
use skybox::core::service::Service;
use skybox::lua::seri;

/// The allocator of the `skybox` binary, so the figures are the binary's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn message(session: i32) -> Message {
    Message { source: 1, session, ptype: 10, data: vec![0x0a, 0x2a] }
}

fn mailbox(c: &mut Criterion) {
    let mut group = c.benchmark_group("mailbox");
    let mb = Mailbox::new();
    group.bench_function("push_pop", |b| {
        b.iter(|| {
            mb.push(message(1));
            mb.pop()
        })
    });
    // A second thread keeps pushing into the same mailbox; this thread drains it.
    let shared = Arc::new(Mailbox::new());
    let stop = Arc::new(AtomicBool::new(false));
    let pusher = {
        let (shared, stop) = (shared.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if shared.len() < 4096 {
                    shared.push(message(2));
                } else {
                    std::hint::spin_loop();
                }
            }
        })
    };
    group.bench_function("push_pop_contended", |b| {
        b.iter(|| {
            shared.push(message(1));
            shared.pop()
        })
    });
    stop.store(true, Ordering::Relaxed);
    pusher.join().unwrap();
    group.finish();
}

fn seri(c: &mut Criterion) {
    let lua = Lua::new();
    // The C functions services call (`skynet.packstring` and `skynet.unpack` of a string), driven
    // by a Lua loop: the figures include the Lua call, as in a service.
    // SAFETY: both follow the lua_CFunction protocol.
    let (pack, unpack) = unsafe {
        (lua.create_c_function(seri::packstring).unwrap(), lua.create_c_function(seri::unpackstring).unwrap())
    };
    // (name, values, locals holding them): the values are built once, outside the loop.
    let cases: [(&str, &str, &str); 3] = [
        ("integer", "42", "a"),
        ("args", "'login', 1001, 'player', true, 3.5", "a, b, c, d, e"),
        (
            "table100",
            "(function() local t = {} for i = 1, 100 do t[i] = { id = i, name = 'item' .. i } end return t end)()",
            "a",
        ),
    ];
    let mut group = c.benchmark_group("seri");
    for (name, values, locals) in cases {
        let make: mlua::Function = lua
            .load(format!(
                "local pack, unpack = ...
                 local {locals} = {values}
                 local msg = pack({locals})
                 return #msg,
                     function(k) for _ = 1, k do pack({locals}) end end,
                     function(k) for _ = 1, k do unpack(msg) end end"
            ))
            .into_function()
            .unwrap();
        let (size, pack_loop, unpack_loop): (usize, mlua::Function, mlua::Function) =
            make.call((&pack, &unpack)).unwrap();
        group.throughput(Throughput::Bytes(size as u64));
        for (what, f) in [("pack", pack_loop), ("unpack", unpack_loop)] {
            group.bench_function(format!("{what}/{name}"), |b| {
                b.iter_custom(|iters| {
                    let start = std::time::Instant::now();
                    f.call::<()>(iters).unwrap();
                    start.elapsed()
                })
            });
        }
    }
    group.finish();
}

fn handles(c: &mut Criterion) {
    let table = HandleTable::new(0);
    let handles: Vec<u32> = (0..1000).map(|_| table.register(Service::bare).handle()).collect();
    let mut i = 0;
    c.bench_function("handles/grab", |b| {
        b.iter(|| {
            i = (i + 1) % handles.len();
            table.grab(handles[i])
        })
    });
}

criterion_group!(benches, mailbox, seri, handles);
criterion_main!(benches);
