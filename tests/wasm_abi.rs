//! The imports of guest-sdk/ABI.md at their edges, on a real node with real wasmtime: every bad
//! pointer, size, handle, type, session and destination is an error code for the guest that
//! passed it, never a crash, a hang, or a touch of memory outside that guest.

#[path = "support/wasm.rs"]
mod wasm_support;

use skybox::core::message::{Handle, ptype};
use skybox_sdk::abi::{ERR_ARG, ERR_COMMAND, ERR_DENIED, ERR_DEST, ERR_HANDLE, ERR_NONE};
use wasm_support::*;

const ARG: i64 = ERR_ARG as i64;
const DEST: i64 = ERR_DEST as i64;
const HANDLE: i64 = ERR_HANDLE as i64;

/// The `abi` guest under every right (`trusted`): the ABI's mechanics. What the default
/// profile refuses is tried in `a_guest_under_the_default_profile_is_confined`.
fn abi(tag: &str) -> (Harness, Handle) {
    let h = Harness::new(tag, &[]);
    h.guest("abi", &abi_guest());
    let g = h.launch("wasm --profile=trusted abi").unwrap();
    (h, g)
}

#[test]
fn echo_answers_with_the_payload() {
    let h = Harness::new("echo", &[]);
    h.guest("echo", &echo_guest());
    let g = h.launch("wasm echo").unwrap();
    for payload in [b"hello".to_vec(), Vec::new(), vec![7u8; 200_000]] {
        let reply = h.call(g, ptype::LUA, payload.clone());
        assert_eq!(reply.ptype, ptype::RESPONSE);
        assert_eq!(reply.source, g);
        assert_eq!(reply.data, payload);
    }
}

#[test]
fn send_checks_pointers_sizes_types_and_sessions() {
    let (h, g) = abi("send");
    let p = h.probe as i32;
    h.poke(g, SCRATCH, b"hello");
    // Ranges outside the guest's memory (one page now: 65536 bytes).
    for (ptr, size) in [(65536, 1), (65000, 1000), (-1, 1), (0, -1), (i32::MAX, i32::MAX), (-4096, 8192)] {
        assert_eq!(h.op(g, OP_SEND, &[p, 0, 0, ptr, size], &[]), ARG, "ptr={ptr} size={size}");
    }
    // Type numbers are 0..=255; sessions are 0, > 0 or -1.
    for t in [256, -1, i32::MIN] {
        assert_eq!(h.op(g, OP_SEND, &[p, t, 0, SCRATCH, 5], &[]), ARG, "ptype {t}");
    }
    assert_eq!(h.op(g, OP_SEND, &[p, 0, -2, SCRATCH, 5], &[]), ARG);
    assert!(h.wait_for(std::time::Duration::from_millis(50), |_| true).is_none(), "nothing was sent");
    // Good ones are delivered, with the bytes copied at the time of the call.
    assert_eq!(h.op(g, OP_SEND, &[p, 0, 0, SCRATCH, 5], &[]), 0);
    let m = h.wait_for(WAIT, |m| m.ptype == ptype::TEXT).unwrap();
    assert_eq!((m.source, m.session, &m.data[..]), (g, 0, &b"hello"[..]));
    assert_eq!(h.op(g, OP_SEND, &[p, 200, 77, SCRATCH, 0], &[]), 77);
    let m = h.wait_for(WAIT, |m| m.ptype == 200).unwrap();
    assert_eq!((m.session, m.data.len()), (77, 0));
    let s1 = h.op(g, OP_SEND, &[p, 0, -1, SCRATCH, 1], &[]);
    let s2 = h.op(g, OP_SEND, &[p, 0, -1, SCRATCH, 1], &[]);
    assert!(s1 > 0 && s2 > s1, "new sessions {s1} {s2}");
    // The whole memory, to its last byte, is a valid range.
    assert_eq!(h.op(g, OP_SEND, &[p, 0, 0, 0, 65536], &[]), 0);
    assert_eq!(h.wait_for(WAIT, |m| m.data.len() == 65536).unwrap().source, g);
    assert!(h.alive(g));
}

#[test]
fn sends_to_dead_or_unknown_destinations_fail() {
    let (h, g) = abi("dest");
    h.guest("echo", &echo_guest());
    let gone = h.launch("wasm echo").unwrap();
    assert!(h.node.kill(gone));
    for dest in [0, gone as i32, 0x00ff_fff0, -1] {
        assert_eq!(h.op(g, OP_SEND, &[dest, 0, 0, SCRATCH, 1], &[]), DEST, "dest {dest:#x}");
        assert_eq!(h.op(g, OP_REDIRECT, &[dest, 0, 0, 0, SCRATCH, 1], &[]), DEST);
    }
    // By name: unknown names, ":00000000", a dead address; bad text.
    for name in [".nobody", ":00000000", &format!(":{gone:08x}"), "NOBODY"] {
        h.poke(g, SCRATCH, name.as_bytes());
        let r = h.op(g, OP_SEND_NAME, &[SCRATCH, name.len() as i32, 0, 0, SCRATCH, 1], &[]);
        assert_eq!(r, DEST, "name {name}");
    }
    h.poke(g, SCRATCH, b".\xff\xfe");
    assert_eq!(h.op(g, OP_SEND_NAME, &[SCRATCH, 3, 0, 0, SCRATCH, 1], &[]), ARG);
    assert_eq!(h.op(g, OP_SEND_NAME, &[65530, 100, 0, 0, SCRATCH, 1], &[]), ARG);
    // A bound name works (the harness binds `.probe`).
    h.poke(g, SCRATCH, b".probe");
    assert_eq!(h.op(g, OP_SEND_NAME, &[SCRATCH, 6, 0, 0, SCRATCH, 6], &[]), 0);
    assert_eq!(h.wait_for(WAIT, |m| m.ptype == ptype::TEXT).unwrap().data, b".probe");
    h.poke(g, SCRATCH, format!(":{:08x}", h.probe).as_bytes());
    assert_eq!(h.op(g, OP_SEND_NAME, &[SCRATCH, 9, 0, 5, SCRATCH, 9], &[]), 5);
    assert!(h.alive(g));
}

#[test]
fn redirect_sends_on_behalf_of_another_source() {
    let (h, g) = abi("redirect");
    let p = h.probe as i32;
    h.poke(g, SCRATCH, b"via");
    assert_eq!(h.op(g, OP_REDIRECT, &[p, 0x1234, 0, 9, SCRATCH, 3], &[]), 9);
    let m = h.wait_for(WAIT, |m| m.ptype == ptype::TEXT).unwrap();
    assert_eq!((m.source, m.session, &m.data[..]), (0x1234, 9, &b"via"[..]));
    // Source 0 is the guest itself.
    assert_eq!(h.op(g, OP_REDIRECT, &[p, 0, 0, 0, SCRATCH, 3], &[]), 0);
    assert_eq!(h.wait_for(WAIT, |m| m.ptype == ptype::TEXT).unwrap().source, g);
}

/// A guest that passes every request on, for its caller, to the address in the first four
/// bytes of the payload (a dead one here), or drops a one-way message.
fn relay_guest() -> String {
    format!(
        r#"(module {IMPORTS}
  (memory (export "memory") 1)
  {ALLOCATOR}
  (func (export "skybox_start") (param i32 i32) (call $reset))
  (func (export "skybox_dispatch")
    (param $ptype i32) (param $session i32) (param $source i32) (param $ptr i32) (param $size i32) (param $msg i32)
    (if (i32.ge_u (local.get $size) (i32.const 4))
      (then (drop (call $redirect (i32.load (local.get $ptr)) (local.get $source) (local.get $ptype)
        (local.get $session) (local.get $ptr) (local.get $size)))))
    (call $reset))
)"#
    )
}

#[test]
fn a_request_redirected_to_nowhere_fails_for_its_caller() {
    let h = Harness::new("relay", &[]);
    h.guest("relay", &relay_guest());
    h.guest("echo", &echo_guest());
    let g = h.launch("wasm --profile=trusted relay").unwrap();
    let gone = h.launch("wasm echo").unwrap();
    assert!(h.node.kill(gone));
    for dest in [gone, 0x00ff_fff0] {
        let reply = h.call(g, ptype::LUA, dest.to_le_bytes().to_vec());
        assert_eq!((reply.ptype, reply.source), (ptype::ERROR, g), "redirect to :{dest:08x}");
    }
    // Delivered, the answer is the new destination's: the echo answers the caller directly.
    let echo = h.launch("wasm echo").unwrap();
    let reply = h.call(g, ptype::LUA, echo.to_le_bytes().to_vec());
    assert_eq!((reply.ptype, reply.source), (ptype::RESPONSE, echo));
    assert!(h.alive(g));
}

#[test]
fn signal_1_reports_a_guests_memory() {
    let h = Harness::new("signal1", &[]);
    h.guest("echo", &echo_guest());
    let g = h.launch("wasm echo").unwrap();
    // Two pages after this message: the allocator grows memory for a payload past the first.
    assert_eq!(h.call(g, ptype::LUA, vec![1; 70_000]).ptype, ptype::RESPONSE);
    // The worker records the memory when the batch ends, just after the reply left.
    let probe = h.node.handles.grab(h.probe).unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    while !h.log_text().contains("Current Memory 128.000K") {
        assert!(std::time::Instant::now() < deadline, "{}", h.log_text());
        h.node.command(&probe, "SIGNAL", Some(&format!(":{g:08x} 1"))).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Switches TEXT to forward mode and sends `payload`; the handle the guest got.
fn hold(h: &Harness, g: Handle, payload: &[u8]) -> i32 {
    h.send(g, ptype::TEXT, 0, payload.to_vec()).unwrap();
    let m = h.wait_for(WAIT, |m| m.ptype == ptype::CLIENT && m.source == g && m.data.len() == 4).unwrap();
    i32::from_le_bytes(m.data[..4].try_into().unwrap())
}

#[test]
fn held_messages_are_read_forwarded_and_freed_by_checked_handles() {
    let (h, g) = abi("held");
    assert_eq!(h.op(g, OP_FORWARD_TYPE, &[ptype::TEXT as i32, 1], &[]), 0);
    let a = hold(&h, g, b"hello");
    assert!(a > 0);
    assert_eq!(h.op(g, OP_MSG_SIZE, &[a], &[]), 5);
    assert_eq!(h.op(g, OP_MSG_READ, &[a, 0, SCRATCH, 100], &[]), 5);
    assert_eq!(h.peek(g, SCRATCH, 5), b"hello");
    assert_eq!(h.op(g, OP_MSG_READ, &[a, 3, SCRATCH + 100, 100], &[]), 2);
    assert_eq!(h.peek(g, SCRATCH + 100, 2), b"lo");
    assert_eq!(h.op(g, OP_MSG_READ, &[a, 1, SCRATCH + 200, 2], &[]), 2);
    assert_eq!(h.peek(g, SCRATCH + 200, 2), b"el");
    assert_eq!(h.op(g, OP_MSG_READ, &[a, 5, SCRATCH, 100], &[]), 0);
    assert_eq!(h.op(g, OP_MSG_READ, &[a, 6, SCRATCH, 100], &[]), ARG, "offset past the end");
    assert_eq!(h.op(g, OP_MSG_READ, &[a, -1, SCRATCH, 100], &[]), ARG);
    assert_eq!(h.op(g, OP_MSG_READ, &[a, 0, 65530, 100], &[]), ARG, "destination past memory");
    assert_eq!(h.op(g, OP_MSG_READ, &[a, 0, -1, 1], &[]), ARG);
    // Forged handles.
    for forged in [0, -1, a + 1, a + 1000, i32::MAX, i32::MIN, a ^ 0x4000_0000] {
        assert_eq!(h.op(g, OP_MSG_SIZE, &[forged], &[]), HANDLE, "{forged}");
        assert_eq!(h.op(g, OP_MSG_READ, &[forged, 0, SCRATCH, 4], &[]), HANDLE, "{forged}");
        assert_eq!(h.op(g, OP_MSG_FREE, &[forged], &[]), HANDLE, "{forged}");
        assert_eq!(h.op(g, OP_FORWARD, &[h.probe as i32, 0, 0, 0, forged], &[]), HANDLE, "{forged}");
    }
    // Free once; the second free and every later use are ERR_HANDLE.
    assert_eq!(h.op(g, OP_MSG_FREE, &[a], &[]), 0);
    assert_eq!(h.op(g, OP_MSG_FREE, &[a], &[]), HANDLE);
    assert_eq!(h.op(g, OP_MSG_SIZE, &[a], &[]), HANDLE);
    assert_eq!(h.op(g, OP_FORWARD, &[h.probe as i32, 0, 0, 0, a], &[]), HANDLE);
    // Forward consumes the handle, whatever the outcome: bad arguments drop the payload.
    for bad in [[h.probe as i32, 0, 256, 0], [h.probe as i32, 0, 0, -7]] {
        let x = hold(&h, g, b"lost");
        assert_eq!(h.op(g, OP_FORWARD, &[bad[0], bad[1], bad[2], bad[3], x], &[]), ARG);
        assert_eq!(h.op(g, OP_MSG_SIZE, &[x], &[]), HANDLE);
    }
    let b = hold(&h, g, b"world");
    assert_ne!(a, b, "a freed handle is not reissued");
    assert_eq!(h.op(g, OP_FORWARD, &[h.probe as i32, 0x77, ptype::TEXT as i32, 3, b], &[]), 3);
    let m = h.wait_for(WAIT, |m| m.ptype == ptype::TEXT && m.data == b"world").unwrap();
    assert_eq!((m.source, m.session), (0x77, 3));
    assert_eq!(h.op(g, OP_FORWARD, &[h.probe as i32, 0, 0, 0, b], &[]), HANDLE, "forwarded twice");
    // To a dead address: ERR_DEST, and the handle is consumed.
    let c = hold(&h, g, b"x");
    assert_eq!(h.op(g, OP_FORWARD, &[0x00ff_fff0, 0, 0, 0, c], &[]), DEST);
    assert_eq!(h.op(g, OP_MSG_SIZE, &[c], &[]), HANDLE);
    // Forward mode off again: payloads are copied into guest memory.
    assert_eq!(h.op(g, OP_FORWARD_TYPE, &[ptype::TEXT as i32, 0], &[]), 0);
    assert_eq!(h.op(g, OP_OBSERVE, &[h.probe as i32], &[]), 0);
    h.send(g, ptype::TEXT, 0, b"copied".to_vec()).unwrap();
    let (t, _, source, size, data) =
        report(&h.wait_for(WAIT, |m| m.ptype == ptype::CLIENT && m.data.len() > 4).unwrap());
    assert_eq!((t, source, size, &data[..]), (0, h.probe, 6, &b"copied"[..]));
    for bad in [256, -1] {
        assert_eq!(h.op(g, OP_FORWARD_TYPE, &[bad, 1], &[]), ARG);
    }
}

#[test]
fn handles_belong_to_one_guest() {
    let h = Harness::new("handles", &[]);
    h.guest("abi", &abi_guest());
    let (g1, g2) =
        (h.launch("wasm --profile=trusted abi").unwrap(), h.launch("wasm --profile=trusted abi").unwrap());
    assert_eq!(h.op(g1, OP_FORWARD_TYPE, &[0, 1], &[]), 0);
    let a = hold(&h, g1, b"mine");
    assert_eq!(h.op(g2, OP_MSG_SIZE, &[a], &[]), HANDLE);
    assert_eq!(h.op(g2, OP_MSG_FREE, &[a], &[]), HANDLE);
    assert_eq!(h.op(g2, OP_FORWARD, &[h.probe as i32, 0, 0, 0, a], &[]), HANDLE);
    assert_eq!(h.op(g1, OP_MSG_SIZE, &[a], &[]), 4);
}

#[test]
fn command_copies_results_and_checks_buffers_first() {
    let (h, g) = abi("command");
    let me = format!(":{g:08x}");
    assert_eq!(command(&h, g, "REG", None, SCRATCH, 64), 9);
    assert_eq!(h.peek(g, SCRATCH, 9), me.as_bytes());
    // A short buffer gets the first bytes; the result is the full length.
    h.poke(g, SCRATCH, b"________");
    assert_eq!(command(&h, g, "REG", None, SCRATCH, 4), 9);
    assert_eq!(h.peek(g, SCRATCH, 8), format!("{}____", &me[..4]).as_bytes());
    assert_eq!(command(&h, g, "REG", None, 0, 0), 9, "size query");
    assert_eq!(command(&h, g, "GETENV", Some("wasm_pool"), SCRATCH, 64), 2);
    assert_eq!(h.peek(g, SCRATCH, 2), b"32");
    assert_eq!(command(&h, g, "QUERY", Some(".nobody"), SCRATCH, 64), ERR_NONE as i64);
    assert_eq!(command(&h, g, "NOSUCH", None, SCRATCH, 64), ERR_COMMAND as i64);
    h.wait_log("command NOSUCH failed");
    // A bad output buffer is refused before the command runs: nothing is launched.
    let live = h.node.handles.live();
    assert_eq!(command(&h, g, "LAUNCH", Some("wasm abi"), 65530, 64), ARG);
    assert_eq!(command(&h, g, "LAUNCH", Some("wasm abi"), -1, 1), ARG);
    assert_eq!(h.node.handles.live(), live);
    let n = command(&h, g, "LAUNCH", Some("wasm abi"), SCRATCH, 64);
    assert_eq!(n, 9);
    assert_eq!(h.node.handles.live(), live + 1);
    // Bad text and bad pointers.
    h.poke(g, SCRATCH + 2048, b"RE\xffG");
    assert_eq!(h.op(g, OP_COMMAND, &[SCRATCH + 2048, 4, 0, 0, SCRATCH, 64], &[]), ARG);
    assert_eq!(h.op(g, OP_COMMAND, &[-5, 4, 0, 0, SCRATCH, 64], &[]), ARG);
    assert_eq!(h.op(g, OP_COMMAND, &[SCRATCH + 2048, 3, 65535, 2, SCRATCH, 64], &[]), ARG);
    // REG with a name, then the name resolves to the guest.
    assert_eq!(command(&h, g, "REG", Some(".named"), SCRATCH, 64), 6);
    assert_eq!(h.node.resolve(".named"), Some(g));
    assert!(h.alive(g));
}

#[test]
fn log_writes_a_line_and_survives_bad_pointers() {
    let (h, g) = abi("log");
    h.poke(g, SCRATCH, b"hello from the guest");
    assert_eq!(h.op(g, OP_LOG, &[SCRATCH, 20], &[]), 0);
    let line = h.wait_log("hello from the guest");
    assert!(line.starts_with(&format!("[:{g:08x}]")), "{line}");
    h.poke(g, SCRATCH, b"bad \xff utf8");
    assert_eq!(h.op(g, OP_LOG, &[SCRATCH, 10], &[]), 0);
    h.wait_log("bad \u{fffd} utf8");
    assert_eq!(h.op(g, OP_LOG, &[-1, 10], &[]), 0);
    assert_eq!(h.op(g, OP_LOG, &[65000, 1000], &[]), 0);
    h.wait_log("skybox.log: invalid text at ptr=65000, len=1000");
    assert!(h.alive(g));
}

#[test]
fn sessions_timeouts_clock_and_self() {
    let (h, g) = abi("clock");
    assert_eq!(h.op(g, OP_SELF, &[], &[]), g as i64);
    let s1 = h.op(g, OP_GENID, &[], &[]);
    let s2 = h.op(g, OP_GENID, &[], &[]);
    assert!(s1 > 0 && s2 > s1);
    let t1 = h.op(g, OP_HPC, &[], &[]);
    let t2 = h.op(g, OP_HPC, &[], &[]);
    assert!(t2 > t1 && t1 > 0);
    assert!(h.op(g, OP_NOW, &[], &[]) >= 0);
    assert_eq!(h.op(g, OP_OBSERVE, &[h.probe as i32], &[]), 0);
    let at_once = h.op(g, OP_TIMEOUT, &[0], &[]) as i32;
    let later = h.op(g, OP_TIMEOUT, &[3], &[]) as i32;
    assert!(i64::from(at_once) > s2 && later > at_once);
    for session in [at_once, later] {
        let m =
            h.wait_for(WAIT, |m| m.ptype == ptype::CLIENT && m.data.len() >= 16 && report(m).1 == session);
        let (t, _, source, size, _) = report(&m.expect("the timeout fires"));
        assert_eq!((t, source, size), (ptype::RESPONSE as i32, 0, 0));
    }
}

#[test]
fn a_trap_mid_call_fails_the_caller_and_only_that_guest() {
    let (h, g) = abi("trap");
    h.guest("echo", &echo_guest());
    let other = h.launch("wasm echo").unwrap();
    let reply = h.op_reply(g, OP_TRAP, &[], &[]);
    assert_eq!(reply.ptype, ptype::ERROR, "the caller's call fails");
    let line = h.wait_log("killed in skybox_dispatch");
    assert!(line.contains("wasm guest 'abi'") && line.contains("unreachable"), "{line}");
    assert!(line.contains("fuel") && line.contains("bytes of memory"), "{line}");
    assert_eq!(h.log_lines("killed").len(), 1, "one line per kill");
    h.wait_dead(g);
    assert_eq!(h.call(g, ptype::CLIENT, op_payload(OP_SELF, &[], &[])).ptype, ptype::ERROR);
    assert_eq!(h.call(other, ptype::LUA, b"still here".to_vec()).data, b"still here");
}

#[test]
fn requests_a_guest_holds_fail_when_it_exits() {
    let (h, g) = abi("held-requests");
    let held: Vec<i32> = (0..3)
        .map(|_| {
            let s = h.new_session();
            h.send(g, ptype::CLIENT, s, op_payload(OP_HOLD, &[], &[])).unwrap();
            s
        })
        .collect();
    // An answered request is not failed again.
    let answered = h.new_session();
    h.send(g, ptype::CLIENT, answered, op_payload(OP_HOLD, &[], &[])).unwrap();
    assert_eq!(h.op(g, OP_ANSWER, &[h.probe as i32, answered], &[]), i64::from(answered));
    let r = h.wait_for(WAIT, |m| m.session == answered).unwrap();
    assert_eq!(r.ptype, ptype::RESPONSE);
    assert_eq!(h.op(g, OP_EXIT, &[], &[]), 0);
    for s in held {
        let m =
            h.wait_for(WAIT, |m| m.session == s).expect("a held request is answered when the guest exits");
        assert_eq!(m.ptype, ptype::ERROR);
    }
    h.wait_dead(g);
    assert!(h.wait_for(std::time::Duration::from_millis(100), |m| m.session == answered).is_none());
}

#[test]
fn start_reports_to_the_launcher() {
    let h = Harness::new("start", &[]);
    h.guest("abi", &abi_guest());
    assert!(h.node.bind_name(".launcher", h.probe));
    let ok = h.launch("wasm abi hello").unwrap();
    let m = h.wait_for(WAIT, |m| m.source == ok && m.ptype == ptype::TEXT).unwrap();
    assert_eq!(m.data, b"", "LAUNCHOK");
    let bad = h.launch("wasm abi trap").unwrap();
    let m = h.wait_for(WAIT, |m| m.source == bad && m.ptype == ptype::TEXT).unwrap();
    assert_eq!(m.data, b"ERROR");
    let line = h.wait_log("killed in skybox_start");
    assert!(line.contains("'abi'"), "{line}");
    h.wait_dead(bad);
    let spin = h.launch("wasm --fuel=1000000 abi spin").unwrap();
    let m = h.wait_for(WAIT, |m| m.source == spin && m.ptype == ptype::TEXT).unwrap();
    assert_eq!(m.data, b"ERROR");
    assert!(h.wait_log("killed in skybox_start: out of fuel").contains("used 1000000 of 1000000 fuel"));
    let exits = h.launch("wasm abi exit").unwrap();
    let m = h.wait_for(WAIT, |m| m.source == exits && m.ptype == ptype::TEXT).unwrap();
    assert_eq!(m.data, b"");
    h.wait_dead(exits);
    assert!(h.alive(ok));
}

#[test]
fn launch_errors_are_reported_to_the_launcher_of_the_launch() {
    let h = Harness::new("launch-errors", &[]);
    let err = |line: &str| format!("{:#}", h.launch(line).unwrap_err());
    assert!(err("wasm nosuch").contains("wasm module 'nosuch' not found"));
    assert!(err("wasm").contains("no module name"));
    h.guest("abi", &abi_guest());
    assert!(err("wasm --fuel=lots abi").contains("--fuel"));
    assert!(err("wasm --memlimit=1 abi").contains("--memlimit"));
    assert!(err("wasm --stack=1 abi").contains("unknown option"));
    h.guest("noexports", r#"(module (memory (export "memory") 1))"#);
    assert!(err("wasm noexports").contains("skybox_alloc"), "{}", err("wasm noexports"));
    h.guest(
        "badsig",
        r#"(module (memory (export "memory") 1)
             (func (export "skybox_alloc") (param i32) (result i32) (i32.const 0))
             (func (export "skybox_start") (param i32 i32))
             (func (export "skybox_dispatch") (param i32 i32 i32 i32 i32)))"#,
    );
    assert!(err("wasm badsig").contains("skybox_dispatch"));
    h.guest(
        "badimport",
        r#"(module (import "skybox" "steal_keys" (func)) (memory (export "memory") 1)
             (func (export "skybox_alloc") (param i32) (result i32) (i32.const 0))
             (func (export "skybox_start") (param i32 i32))
             (func (export "skybox_dispatch") (param i32 i32 i32 i32 i32 i32)))"#,
    );
    assert!(err("wasm badimport").contains("steal_keys"), "{}", err("wasm badimport"));
    h.guest(
        "bigmem",
        r#"(module (memory (export "memory") 100)
             (func (export "skybox_alloc") (param i32) (result i32) (i32.const 0))
             (func (export "skybox_start") (param i32 i32))
             (func (export "skybox_dispatch") (param i32 i32 i32 i32 i32 i32)))"#,
    );
    assert!(
        err("wasm --memlimit=1M bigmem").contains("exceeds the cap"),
        "{}",
        err("wasm --memlimit=1M bigmem")
    );
    assert!(h.launch("wasm --memlimit=8M bigmem").is_ok());
    std::fs::write(h.dir.path.join("garbage.wasm"), b"\0asm\x01\0\0\0garbage").unwrap();
    assert!(err("wasm garbage").contains("cannot load wasm module"));
    // A failed launch leaves no service behind.
    assert_eq!(h.node.handles.live(), 2, "the probe and bigmem");
}

#[test]
fn a_guest_that_cannot_allocate_refuses_the_message() {
    let h = Harness::new("noalloc", &[]);
    h.guest(
        "noalloc",
        &format!(
            r#"(module {IMPORTS} (memory (export "memory") 1)
                 (func (export "skybox_alloc") (param i32) (result i32) (i32.const 0))
                 (func (export "skybox_start") (param i32 i32))
                 (func (export "skybox_dispatch") (param i32 i32 i32 i32 i32 i32)
                   (drop (call $send (local.get 2) (i32.const 1) (local.get 1) (i32.const 0) (i32.const 0)))))"#
        ),
    );
    let g = h.launch("wasm noalloc").unwrap();
    assert_eq!(h.call(g, ptype::LUA, b"payload".to_vec()).ptype, ptype::ERROR);
    h.wait_log("skybox_alloc returned 0");
    // An empty payload needs no block.
    assert_eq!(h.call(g, ptype::LUA, Vec::new()).ptype, ptype::RESPONSE);
    h.guest(
        "wildalloc",
        r#"(module (memory (export "memory") 1)
             (func (export "skybox_alloc") (param i32) (result i32) (i32.const 65530))
             (func (export "skybox_start") (param i32 i32))
             (func (export "skybox_dispatch") (param i32 i32 i32 i32 i32 i32)))"#,
    );
    let w = h.launch("wasm wildalloc").unwrap();
    assert_eq!(h.call(w, ptype::LUA, vec![0; 100]).ptype, ptype::ERROR);
    assert!(h.wait_log("killed in skybox_alloc").contains("outside linear memory"));
    h.wait_dead(w);
    assert!(h.alive(g));
}

/// A start section runs inside the launch, on the launching thread: it may not run commands, so
/// it cannot launch itself again and again on one native stack (or kill, or abort) from there.
#[test]
fn a_start_section_cannot_run_commands() {
    let h = Harness::new("start-section", &[]);
    h.guest(
        "selflaunch",
        &format!(
            r#"(module {IMPORTS}
  (memory (export "memory") 1)
  (data (i32.const 0) "LAUNCH")
  (data (i32.const 16) "wasm selflaunch")
  (global $result (mut i32) (i32.const 0))
  (func $boot
    (global.set $result
      (call $command (i32.const 0) (i32.const 6) (i32.const 16) (i32.const 15) (i32.const 64) (i32.const 32))))
  (start $boot)
  {ALLOCATOR}
  (func (export "skybox_start") (param i32 i32))
  (func (export "skybox_dispatch") (param i32 i32 i32 i32 i32 i32)))"#
        ),
    );
    let guest = h.launch("wasm selflaunch").expect("the guest itself launches");
    assert!(h.alive(guest));
    h.wait_log("command refused: the module is still being instantiated");
    // Only the probe and the one guest: the start section launched nothing.
    assert_eq!(h.node.handles.live(), 2);
}

/// Per-launch limits are the operator's: a guest launches others within the configured ones.
#[test]
fn a_guest_cannot_set_the_limits_of_what_it_launches() {
    let (h, g) = abi("launch-limits");
    h.guest("echo", &echo_guest());
    let live = h.node.handles.live();
    assert_eq!(
        command(&h, g, "LAUNCH", Some("wasm --fuel=99999999999 echo"), SCRATCH, 64),
        ERR_COMMAND as i64
    );
    assert_eq!(command(&h, g, "LAUNCH", Some("wasm --memlimit=4G echo"), SCRATCH, 64), ERR_COMMAND as i64);
    h.wait_log("a guest cannot set the limits of what it launches");
    assert_eq!(h.node.handles.live(), live, "nothing was launched");
    assert_eq!(command(&h, g, "LAUNCH", Some("wasm echo"), SCRATCH, 64), 9, "within the defaults it may");
}

/// A guest launched without `--profile` runs `guest`: no command reaches another service or the
/// node, no message goes out under another address; its own timers, names and exit work.
#[test]
fn a_guest_under_the_default_profile_is_confined() {
    let h = Harness::new("confined", &[]);
    h.guest("abi", &abi_guest());
    h.guest("echo", &echo_guest());
    let g = h.launch("wasm abi").unwrap();
    let other = h.launch("wasm echo").unwrap();
    let live = h.node.handles.live();
    let other_name = format!(":{other:08x}");
    for (cmd, param) in [
        ("ABORT", None),
        ("KILL", Some(other_name.as_str())),
        ("SIGNAL", Some(&*format!("{other_name} 1"))),
        ("SETENV", Some("owned 1")),
        ("LAUNCH", Some("wasm echo")),
        ("LAUNCH", Some("snlua bootstrap")),
        ("NAME", Some(&*format!(".stolen {other_name}"))),
        ("MONITOR", Some(":00000001")),
        ("LOGON", Some(other_name.as_str())),
    ] {
        assert_eq!(command(&h, g, cmd, param, SCRATCH, 64), ERR_COMMAND as i64, "{cmd}");
        h.wait_log(&format!("{cmd} refused: profile guest does not allow it"));
    }
    assert!(h.alive(other) && h.alive(g), "nothing was killed, the node did not abort");
    assert_eq!(h.node.handles.live(), live, "nothing was launched");
    assert_eq!(command(&h, g, "GETENV", Some("owned"), SCRATCH, 64), ERR_NONE as i64, "SETENV did nothing");
    assert_eq!(h.node.resolve(".stolen"), None);
    // What it may do.
    assert_eq!(command(&h, g, "PROFILE", None, SCRATCH, 64), 11);
    assert_eq!(h.peek(g, SCRATCH, 11), b"guest guest", "profile and tenant");
    assert_eq!(command(&h, g, "REG", Some(".mine"), SCRATCH, 64), 5);
    assert_eq!(h.node.resolve(".mine"), Some(g));
    assert_eq!(command(&h, g, "GETENV", Some("wasm_pool"), SCRATCH, 64), 2);
    // A message under another address is refused; under its own it goes.
    let p = h.probe as i32;
    h.poke(g, SCRATCH, b"via");
    assert_eq!(h.op(g, OP_REDIRECT, &[p, 0x1234, 0, 9, SCRATCH, 3], &[]), ERR_DENIED as i64);
    h.wait_log("send refused: profile guest may not send as :00001234");
    assert_eq!(h.op(g, OP_REDIRECT, &[p, 0, 0, 0, SCRATCH, 3], &[]), 0);
    let m = h.wait_for(WAIT, |m| m.ptype == ptype::TEXT).unwrap();
    assert_eq!(m.source, g);
}

/// Profiles from the config; a launcher gives its children its own profile or a weaker one,
/// never a stronger one, and only wasm guests; an unknown profile fails the launch.
#[test]
fn launches_are_attenuated() {
    let h = Harness::new(
        "attenuate",
        &[
            ("profile_launcher", "commands=TIMEOUT,EXIT,REG,SETENV launch=yes"),
            ("profile_leaf", "commands=EXIT"),
            ("profile_killer", "commands=KILL"),
            ("profile_mute", "commands=TIMEOUT"),
        ],
    );
    h.guest("abi", &abi_guest());
    let g = h.launch("wasm --profile=launcher abi").unwrap();
    let child = command(&h, g, "LAUNCH", Some("wasm abi"), SCRATCH, 64);
    assert_eq!(child, 9, "under its own profile");
    let text = h.peek(g, SCRATCH, 9);
    let child = u32::from_str_radix(std::str::from_utf8(&text[1..]).unwrap(), 16).unwrap();
    let service = h.node.handles.grab(child).unwrap();
    assert_eq!(service.profile().name(), "launcher");
    assert_eq!(command(&h, g, "LAUNCH", Some("wasm --profile=leaf abi"), SCRATCH, 64), 9, "weaker");
    let live = h.node.handles.live();
    for (line, why) in [
        ("wasm --profile=killer abi", "stronger profile killer"),
        ("wasm --profile=trusted abi", "stronger profile trusted"),
        ("logger x", "Lua services and wasm guests only"),
        ("wasm --profile=nosuch abi", "no profile 'nosuch'"),
        ("wasm --profile=leaf --profile=trusted abi", "is given twice"),
        ("wasm --tenant=other abi", "may not pass launch options"),
        ("wasm --fuel=1 abi", "may not pass launch options"),
    ] {
        assert_eq!(command(&h, g, "LAUNCH", Some(line), SCRATCH, 64), ERR_COMMAND as i64, "{line}");
        h.wait_log(why);
    }
    assert_eq!(h.node.handles.live(), live);
    assert!(h.launch("wasm --profile=nosuch abi").is_err(), "from the host too");
    // SETENV cannot define what later launches run under.
    for key in ["wasm_profile trusted", "profile_guest commands=KILL", "start abi"] {
        assert_eq!(command(&h, g, "SETENV", Some(key), SCRATCH, 64), ERR_COMMAND as i64, "{key}");
    }
    h.wait_log("decides profiles: only a trusted service sets it");
    assert_eq!(command(&h, g, "SETENV", Some("harmless 1"), SCRATCH, 64), ERR_NONE as i64);
    // A guest always may end itself, whatever its profile.
    let mute = h.launch("wasm --profile=mute abi exit").unwrap();
    h.wait_dead(mute);
}
