//! Tenants, tried by guests that misbehave on a real node (real wasmtime, real worker threads):
//! who may send to whom, the totals a tenant is held to, mailbox caps, network allow-lists and
//! a busy tenant that must leave a worker to the others. Every refusal is an error code for the
//! guest and a log line; the host and the other tenants keep running.

#[path = "support/wasm.rs"]
mod wasm_support;

use std::io::Read as _;
use std::net::{TcpListener, TcpStream};

use skybox::core::message::{Handle, ptype};
use skybox_sdk::abi::{ERR_ARG, ERR_COMMAND, ERR_DENIED, ERR_FULL, ERR_IO, ERR_NONE};
use wasm_support::*;

const DENIED: i64 = ERR_DENIED as i64;
const FULL: i64 = ERR_FULL as i64;
const IO: i64 = ERR_IO as i64;

/// A guest sends `size` bytes from its address 0 to `dest` (type TEXT, no session).
fn send(h: &Harness, from: Handle, dest: Handle, size: i32) -> i64 {
    h.op(from, OP_SEND, &[dest as i32, ptype::TEXT as i32, 0, 0, size], &[])
}

#[test]
fn tenants_send_among_themselves_and_to_public_names_only() {
    let h = Harness::new(
        "tenants-send",
        &[("profile_member", "commands=TIMEOUT,EXIT,REG,KILL,PROFILE"), ("public", ".probe,.shop_*")],
    );
    h.guest("abi", &abi_guest());
    let a1 = h.launch("wasm --profile=member --tenant=a abi").unwrap();
    let a2 = h.launch("wasm --profile=member --tenant=a abi").unwrap();
    let b1 = h.launch("wasm --profile=member --tenant=b abi").unwrap();
    // The operator's own service, not public.
    let private = h.launch("wasm --profile=trusted abi").unwrap();
    assert_eq!(command(&h, a1, "PROFILE", None, SCRATCH, 64), 8);
    assert_eq!(h.peek(a1, SCRATCH, 8), b"member a");

    assert_eq!(send(&h, a1, a2, 4), 0, "its own tenant");
    assert_eq!(send(&h, a1, h.probe, 4), 0, "a public name (.probe)");
    assert_eq!(h.wait_for(WAIT, |m| m.ptype == ptype::TEXT).unwrap().source, a1);
    assert_eq!(send(&h, a1, b1, 4), DENIED, "another tenant's");
    h.wait_log(&format!("send refused: profile member may not send to :{b1:08x}"));
    assert_eq!(send(&h, a1, private, 4), DENIED, "the operator's, not public");
    // A public pattern: a name the operator binds under it opens that service.
    assert!(h.node.bind_name(".shop_fruit", private));
    assert_eq!(send(&h, a1, private, 4), 0, "public by the pattern .shop_*");
    assert_eq!(
        command(&h, a1, "REG", Some(".shop_mine"), SCRATCH, 64),
        ERR_COMMAND as i64,
        "not the guest's to bind"
    );
    // An answer only to a request it holds: a forged RESPONSE is refused.
    let forged = h.op(a1, OP_SEND, &[h.probe as i32, ptype::RESPONSE as i32, 77, 0, 4], &[]);
    assert_eq!(forged, DENIED);
    h.wait_log("may answer only requests it holds (session 77");
    // A request it holds is answered (every op above was one), held and answered later too.
    // Commands act on its own tenant only; public names are the operator's to bind.
    assert_eq!(command(&h, a1, "KILL", Some(&format!(":{b1:08x}")), SCRATCH, 64), ERR_COMMAND as i64);
    h.wait_log("acts on its own tenant's services only");
    assert!(h.alive(b1));
    assert_eq!(command(&h, a1, "REG", Some(".probe"), SCRATCH, 64), ERR_COMMAND as i64);
    h.wait_log(".probe is a public name: only a trusted service binds it");
    assert_eq!(command(&h, a1, "KILL", Some(&format!(":{a2:08x}")), SCRATCH, 64), ERR_NONE as i64);
    h.wait_dead(a2);
    assert!(h.alive(a1) && h.alive(b1) && h.alive(private));
}

#[test]
fn a_tenant_is_held_to_its_services_memory_and_messages_in_flight() {
    let h = Harness::new(
        "tenants-totals",
        &[
            ("tenant_few", "services=2 messages=8 inflight=64K workers=2"),
            ("tenant_lean", "memory=100K"),
            ("profile_launcher", "tenant=few commands=EXIT launch=yes"),
        ],
    );
    h.guest("abi", &abi_guest());
    // Services: a launch bomb stops at the tenant's count, and a place freed is reusable.
    let f1 = h.launch("wasm --profile=launcher abi").unwrap();
    h.poke(f1, SCRATCH, b"");
    assert_eq!(command(&h, f1, "LAUNCH", Some("wasm abi"), SCRATCH, 64), 9, "the second of two");
    let f2 = u32::from_str_radix(std::str::from_utf8(&h.peek(f1, SCRATCH + 1, 8)).unwrap(), 16).unwrap();
    assert_eq!(command(&h, f1, "LAUNCH", Some("wasm abi"), SCRATCH, 64), ERR_NONE as i64);
    h.wait_log("tenant few is at its limit of 2 services");
    assert!(h.launch("wasm --tenant=few abi").is_err(), "the operator's launch too");

    // Messages in flight: f2 is busy, so what f1 sends it waits in its mailbox, charged to few.
    let busy = h.new_session();
    h.send(f2, ptype::CLIENT, busy, op_payload(OP_SPIN, &[], &[])).unwrap();
    assert_eq!(send(&h, f1, f2, 40_000), 0);
    assert_eq!(send(&h, f1, f2, 40_000), FULL, "64 KiB in flight at most");
    h.wait_log("send refused: tenant few is at its limit of bytes in flight");
    let sent = (0..10).take_while(|_| send(&h, f1, f2, 0) == 0).count();
    assert_eq!(sent, 7, "8 messages in flight at most");
    // The busy guest dies (interrupted): what waited for it goes back to its tenant.
    assert!(h.node.handles.grab(f2).unwrap().interrupt(None));
    h.wait_dead(f2);
    assert_eq!(send(&h, f1, f1, 40_000), 0, "released");
    let f3 = h.launch("wasm --tenant=few abi").unwrap();
    assert!(h.alive(f3));

    // Memory: a guest is one 64 KiB page; two pass the tenant's 100 KiB.
    let l1 = h.launch("wasm --tenant=lean abi").unwrap();
    let err = h.launch("wasm --tenant=lean abi").unwrap_err();
    assert!(format!("{err:#}").contains("tenant lean is at its limit of 102400 bytes of memory"), "{err:#}");
    assert_eq!(h.op(l1, OP_GROW, &[1], &[]), -1, "no growth past the tenant's total either");
    assert!(h.node.kill(l1));
    let l2 = h.launch("wasm --tenant=lean abi").unwrap();
    assert!(h.alive(l2));
}

#[test]
fn a_mailbox_cap_refuses_sends_but_not_answers() {
    let h = Harness::new("tenants-mailbox", &[("profile_capped", "mailbox_bytes=3 commands=EXIT")]);
    h.guest("abi", &abi_guest());
    let sender = h.launch("wasm --tenant=t abi").unwrap();
    let capped = h.launch("wasm --profile=capped --tenant=t abi").unwrap();
    assert_eq!(send(&h, sender, capped, 10), FULL);
    h.wait_log(&format!("send refused: :{capped:08x}'s mailbox is at its cap"));
    assert_eq!(send(&h, sender, capped, 0), 0, "within the cap");
    // The host's own requests and the answers to them pass whatever the cap.
    assert_eq!(h.op(capped, OP_SELF, &[], &[]), capped as i64);
}

#[test]
fn a_busy_tenant_leaves_a_worker_to_the_others() {
    // Two workers; the noisy tenant may hold one of them (its default), so two guests of it
    // looping without end cannot block the quiet tenant. Without the rule both workers loop
    // and the quiet call below times out.
    let h = Harness::new("tenants-fair", &[]);
    h.guest("abi", &abi_guest());
    let noisy: Vec<_> = (0..2).map(|_| h.launch("wasm --fuel=0 --tenant=noisy abi").unwrap()).collect();
    let quiet = h.launch("wasm --tenant=quiet abi").unwrap();
    for &n in &noisy {
        h.send(n, ptype::CLIENT, h.new_session(), op_payload(OP_SPIN, &[], &[])).unwrap();
    }
    // Let them take the workers.
    std::thread::sleep(std::time::Duration::from_millis(200));
    for _ in 0..20 {
        assert_eq!(h.op(quiet, OP_SELF, &[], &[]), quiet as i64);
    }
    for &n in &noisy {
        h.node.handles.grab(n).unwrap().interrupt(None);
    }
}

#[test]
fn a_guest_listens_and_connects_only_where_its_profile_allows() {
    let free = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let h = Harness::new("tenants-net", &[("profile_server", &format!("listen={free} commands=EXIT"))]);
    h.guest("abi", &abi_guest());
    let g = h.launch("wasm --profile=server abi").unwrap();
    h.poke(g, SCRATCH, b"127.0.0.1");
    let listen = |port: u16| h.op(g, OP_SOCKET_LISTEN, &[SCRATCH, 9, i32::from(port), 16], &[]);
    assert_eq!(listen(free.wrapping_add(1)), DENIED);
    h.wait_log("not allowed by its profile's listen/connect");
    let id = listen(free);
    assert!(id > 0, "{id}");
    // The socket is real: a client connects (the guest has not started it, so no data flows).
    let mut client = TcpStream::connect(("127.0.0.1", free)).unwrap();
    client.set_read_timeout(Some(std::time::Duration::from_millis(50))).unwrap();
    let _ = client.read(&mut [0; 1]);
    // A guest whose profile grants no network gets none.
    let none = h.launch("wasm abi").unwrap();
    h.poke(none, SCRATCH, b"127.0.0.1");
    assert_eq!(h.op(none, OP_SOCKET_LISTEN, &[SCRATCH, 9, 0, 16], &[]), DENIED);
}

#[test]
fn a_guest_reads_and_writes_only_beneath_the_directories_its_profile_grants() {
    let base = Scratch::new("tenants-files-dirs");
    let root = base.path.display().to_string();
    std::fs::create_dir_all(base.path.join("data")).unwrap();
    std::fs::create_dir_all(base.path.join("out")).unwrap();
    std::fs::write(base.path.join("data/hello.txt"), "hello").unwrap();
    std::fs::write(base.path.join("secret.txt"), "secret").unwrap();
    std::os::unix::fs::symlink("../secret.txt", base.path.join("data/escape")).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", base.path.join("data/absolute")).unwrap();
    let grants = format!("files=data:{root}/data:ro,out:{root}/out:rw commands=EXIT");
    let h = Harness::new("tenants-files", &[("profile_files", &grants)]);
    h.guest("abi", &abi_guest());
    let g = h.launch("wasm --profile=files abi").unwrap();
    const OUT: i32 = SCRATCH + 512;
    let op_path = |op: i32, path: &str, c: i32, d: i32, e: i32| {
        h.poke(g, SCRATCH, path.as_bytes());
        h.op(g, op, &[SCRATCH, path.len() as i32, c, d, e], &[])
    };
    let read = |path: &str, cap: i32| op_path(OP_FILE_READ, path, OUT, cap, 0);
    let write = |path: &str, data: &[u8], append: i32| {
        h.poke(g, OUT, data);
        op_path(OP_FILE_WRITE, path, OUT, data.len() as i32, append)
    };
    assert_eq!(read("data/hello.txt", 64), 5);
    assert_eq!(h.peek(g, OUT, 5), b"hello");
    h.poke(g, OUT, b"_____");
    assert_eq!(read("data/hello.txt", 2), 5, "too small: the size, nothing copied");
    assert_eq!(h.peek(g, OUT, 5), b"_____");
    // Out of the directory, however spelled: the system (cap-std) refuses.
    for escape in
        ["data/../secret.txt", "data/escape", "data/absolute", "data//etc/hostname", "out/../data/hello.txt"]
    {
        assert_eq!(read(escape, 64), IO, "{escape}");
    }
    assert_eq!(read("secret/x", 64), DENIED, "not a granted name");
    h.wait_log("file secret/x: no directory 'secret' in profile files");
    assert_eq!(read("hello.txt", 64), ERR_ARG as i64, "no directory name");
    // Writes: only where read-write, and beneath it.
    assert_eq!(write("data/new.txt", b"x", 0), DENIED);
    h.wait_log("file data/new.txt: directory 'data' is read-only");
    assert_eq!(write("out/a.txt", b"abc", 0), 0);
    assert_eq!(write("out/a.txt", b"def", 1), 0);
    assert_eq!(std::fs::read(base.path.join("out/a.txt")).unwrap(), b"abcdef");
    assert_eq!(write("out/../secret.txt", b"owned", 0), IO);
    assert_eq!(std::fs::read(base.path.join("secret.txt")).unwrap(), b"secret");
    assert!(!base.path.join("data/new.txt").exists());
    assert_eq!(op_path(OP_FILE_REMOVE, "out/a.txt", 0, 0, 0), 0);
    assert!(!base.path.join("out/a.txt").exists());
    // A guest whose profile grants no directory has no file at all.
    let none = h.launch("wasm abi").unwrap();
    h.poke(none, SCRATCH, b"data/hello.txt");
    assert_eq!(h.op(none, OP_FILE_READ, &[SCRATCH, 14, OUT, 64], &[]), DENIED);
    // A directory that cannot be opened fails the launch.
    let h2 = Harness::new("tenants-files-missing", &[("profile_gone", "files=x:/nonexistent/skybox:ro")]);
    h2.guest("abi", &abi_guest());
    let err = h2.launch("wasm --profile=gone abi").unwrap_err();
    assert!(format!("{err:#}").contains("cannot open files directory /nonexistent/skybox"), "{err:#}");
}

#[test]
fn huge_payloads_and_malformed_packs_are_refused_or_contained() {
    let h =
        Harness::new("tenants-bad-input", &[("tenant_small", "inflight=1M"), ("public", ".probe,.books")]);
    h.guest("abi", &abi_guest());
    // A trusted Lua service with a public name that unpacks what it is sent.
    h.file(
        "books.lua",
        r#"
local skynet = require "skynet"
require "skynet.manager"
skynet.start(function()
	skynet.dispatch("lua", function(_, _, cmd, n)
		skynet.retpack(cmd, n)
	end)
	skynet.register ".books"
end)
"#,
    );
    let books = h.launch("snlua books").unwrap();
    let since = std::time::Instant::now();
    while h.node.resolve(".books").is_none() {
        assert!(since.elapsed() < WAIT, "books did not start\n{}", h.log_text());
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let g = h.launch("wasm --tenant=small abi").unwrap();
    // 2 MiB at once: past the tenant's bytes in flight, refused before it is queued.
    assert_eq!(h.op(g, OP_GROW, &[40], &[]), 1);
    assert_eq!(send(&h, g, books, 2 << 20), FULL);
    h.wait_log("send refused: tenant small is at its limit of bytes in flight");
    // Bytes that are no `lua` pack, as a request: the service's handler fails, the guest gets
    // an ERROR answer, and the service goes on answering.
    assert_eq!(h.op(g, OP_OBSERVE, &[h.probe as i32], &[]), 0);
    h.poke(g, SCRATCH, &[0xff, 0x13, 0x00, 0x7f, 0x80]);
    let session =
        h.op(g, OP_SEND, &[books as i32, ptype::LUA as i32, skybox_sdk::abi::NEW_SESSION, SCRATCH, 5], &[]);
    assert!(session > 0, "{session}");
    // The guest reports what reaches it: an ERROR from `.books` for that session.
    let (t, s, source, _, _) =
        report(&h.wait_for(WAIT, |m| m.ptype == ptype::CLIENT && m.data.len() >= 16).unwrap());
    assert_eq!((t, i64::from(s), source), (i32::from(ptype::ERROR), session, books));
    let reply = h.call(books, ptype::LUA, skybox_sdk::codec::to_bytes(&("count", 7)).unwrap());
    assert_eq!(reply.ptype, ptype::RESPONSE);
    assert_eq!(skybox_sdk::codec::from_bytes::<(String, i64)>(&reply.data).unwrap(), ("count".into(), 7));
    assert!(h.alive(books) && h.alive(g));
}

#[test]
fn lua_heaps_count_in_their_tenants_memory() {
    let h = Harness::new("tenants-lua-heap", &[("tenant_heap", "memory=48M")]);
    h.file(
        "heap.lua",
        r#"
local skynet = require "skynet"
local hoard = {}
skynet.start(function()
	skynet.dispatch("lua", function(_, _, mb)
		if mb == 0 then
			hoard = {}
			collectgarbage()
			skynet.retpack(true)
		else
			skynet.retpack((pcall(function() hoard[#hoard + 1] = string.rep("x", mb * 1024 * 1024) end)))
		end
	end)
	skynet.error "HEAP READY"
end)
"#,
    );
    let a = h.launch("snlua --tenant=heap heap").unwrap();
    let b = h.launch("snlua --tenant=heap heap").unwrap();
    // Started (their handlers set) before anyone calls them.
    h.wait_log_lines("HEAP READY", 2);
    let grow = |service: Handle, mb: i64| -> bool {
        let reply = h.call(service, ptype::LUA, skybox_sdk::codec::to_bytes(&(mb,)).unwrap());
        assert_eq!(reply.ptype, ptype::RESPONSE, "{}", h.log_text());
        skybox_sdk::codec::from_bytes::<(bool,)>(&reply.data).unwrap().0
    };
    // string.rep of N MiB holds 2N at its peak in Lua 5.4 (its buffer, then the string), N in
    // Lua 5.5 (the buffer becomes the string).
    assert!(grow(a, 16), "16 MiB (32 at the peak) of the tenant's 48");
    assert!(!grow(b, 40), "another 40 would pass the tenant's total");
    assert!(grow(b, 4), "what is left is b's");
    assert!(grow(a, 0), "a lets go");
    assert!(grow(b, 16), "and b may grow into it");
    assert!(h.alive(a) && h.alive(b));
}
