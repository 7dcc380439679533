//! Fuel, memory caps and interrupts: a guest that runs away is killed, alone; its callers get
//! errors; every other service keeps answering.

#[path = "support/wasm.rs"]
mod wasm_support;

use std::time::{Duration, Instant};

use skybox::core::message::ptype;
use wasm_support::*;

#[test]
fn an_endless_loop_is_killed_by_fuel_while_another_guest_answers() {
    let h = Harness::new("fuel", &[]);
    h.guest("abi", &abi_guest());
    h.guest("echo", &echo_guest());
    let spin = h.launch("wasm --fuel=300000000 abi").unwrap();
    let echo = h.launch("wasm echo").unwrap();
    let spinning = h.new_session();
    h.send(spin, ptype::CLIENT, spinning, op_payload(OP_SPIN, &[], &[])).unwrap();
    // Requests queued behind the loop bounce when the guest dies.
    let queued: Vec<i32> = (0..5)
        .map(|_| {
            let s = h.new_session();
            h.send(spin, ptype::CLIENT, s, op_payload(OP_SELF, &[], &[])).unwrap();
            s
        })
        .collect();
    // Meanwhile echo answers, on the other worker.
    let mut answered = 0;
    let started = Instant::now();
    while h.alive(spin) && started.elapsed() < WAIT {
        assert_eq!(h.call(echo, ptype::LUA, b"ping".to_vec()).data, b"ping");
        answered += 1;
    }
    let m = h.wait_for(WAIT, |m| m.session == spinning).expect("the spinning call fails");
    assert_eq!(m.ptype, ptype::ERROR);
    for s in queued {
        assert_eq!(
            h.wait_for(WAIT, |m| m.session == s).expect("a queued request bounces").ptype,
            ptype::ERROR
        );
    }
    let line = h.wait_log("killed in skybox_dispatch: out of fuel");
    eprintln!("{line} (echo answered {answered} calls meanwhile)");
    assert!(line.contains("'abi'") && line.contains("used 300000000 of 300000000 fuel"), "{line}");
    assert_eq!(h.log_lines("killed").len(), 1);
    assert!(answered > 0, "echo answered while the loop ran");
    assert_eq!(h.call(echo, ptype::LUA, b"after".to_vec()).data, b"after");
}

#[test]
fn the_budget_is_per_message() {
    // Many small messages use far more fuel in total than one budget.
    let h = Harness::new("budget", &[]);
    h.guest("abi", &abi_guest());
    let g = h.launch("wasm --fuel=20000 abi").unwrap();
    for _ in 0..200 {
        assert_eq!(h.op(g, OP_SELF, &[], &[]), g as i64);
    }
    assert!(h.alive(g));
}

#[test]
fn memory_growth_stops_at_the_cap_and_a_guest_that_needs_more_dies() {
    let h = Harness::new("memcap", &[]);
    h.guest("abi", &abi_guest());
    h.guest("echo", &echo_guest());
    let echo = h.launch("wasm echo").unwrap();
    let g = h.launch("wasm --memlimit=1M abi").unwrap();
    // 1 page now; 15 more fit, the 17th does not.
    assert_eq!(h.op(g, OP_GROW, &[10], &[]), 1);
    assert_eq!(h.op(g, OP_GROW, &[6], &[]), -1, "past the cap memory.grow returns -1");
    assert_eq!(h.op(g, OP_GROW, &[5], &[]), 11);
    assert_eq!(h.op(g, OP_GROW, &[1], &[]), -1);
    assert_eq!(h.op(g, OP_GROW, &[0], &[]), 16);
    // A message larger than the room left cannot be delivered: the guest refuses it, and lives.
    assert_eq!(h.call(g, ptype::LUA, vec![1; 2 << 20]).ptype, ptype::ERROR);
    assert!(h.alive(g));
    // Growing until refused, then trapping (what a Rust guest's allocation failure does).
    assert_eq!(h.op_reply(g, OP_HOG, &[], &[]).ptype, ptype::ERROR);
    let line = h.wait_log("killed in skybox_dispatch: memory limit");
    eprintln!("{line}");
    assert!(
        line.contains("growth to 1114112 bytes refused") && line.contains("1048576 of 1048576 bytes"),
        "{line}"
    );
    h.wait_dead(g);
    assert_eq!(h.call(echo, ptype::LUA, b"fine".to_vec()).data, b"fine");
}

#[test]
fn the_config_cap_applies_to_every_guest() {
    let h = Harness::new("memcap-config", &[("wasm_memlimit", "256K")]);
    h.guest("abi", &abi_guest());
    let g = h.launch("wasm abi").unwrap();
    assert_eq!(h.op(g, OP_GROW, &[3], &[]), 1);
    assert_eq!(h.op(g, OP_GROW, &[1], &[]), -1);
    // A launch option overrides it.
    let big = h.launch("wasm --memlimit=1M abi").unwrap();
    assert_eq!(h.op(big, OP_GROW, &[15], &[]), 1);
}

#[test]
fn held_messages_count_against_the_cap() {
    let h = Harness::new("heldcap", &[]);
    h.guest("abi", &abi_guest());
    let g = h.launch("wasm --memlimit=1M abi").unwrap();
    assert_eq!(h.op(g, OP_FORWARD_TYPE, &[ptype::TEXT as i32, 1], &[]), 0);
    // The guest tells the sender the handle of each held message.
    h.send(g, ptype::TEXT, h.new_session(), vec![0; 600 << 10]).unwrap();
    let told = h.wait_for(WAIT, |m| m.ptype == ptype::CLIENT || m.ptype == ptype::ERROR).unwrap();
    assert_eq!(told.ptype, ptype::CLIENT, "600 KiB fit");
    let s = h.new_session();
    h.send(g, ptype::TEXT, s, vec![0; 600 << 10]).unwrap();
    assert_eq!(h.wait_for(WAIT, |m| m.session == s).unwrap().ptype, ptype::ERROR, "1.2 MiB held do not");
    h.wait_log("held messages would pass the memory cap");
    assert!(h.alive(g));
}

#[test]
fn a_signal_interrupts_a_guest_with_unlimited_fuel() {
    let h = Harness::new("signal", &[]);
    h.guest("abi", &abi_guest());
    let g = h.launch("wasm --fuel=0 abi").unwrap();
    let s = h.new_session();
    h.send(g, ptype::CLIENT, s, op_payload(OP_SPIN, &[], &[])).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert!(h.alive(g), "unlimited fuel: still running");
    let service = h.node.handles.grab(g).unwrap();
    assert!(service.interrupt(None));
    assert_eq!(h.wait_for(WAIT, |m| m.session == s).unwrap().ptype, ptype::ERROR);
    let line = h.wait_log("killed in skybox_dispatch: interrupted");
    assert!(line.contains("(unlimited)"), "{line}");
}

#[test]
fn an_interrupt_between_messages_does_not_kill_the_next_one() {
    let h = Harness::new("signal-idle", &[]);
    h.guest("abi", &abi_guest());
    let g = h.launch("wasm abi").unwrap();
    h.op(g, OP_SELF, &[], &[]);
    // Nothing runs: interrupt() says so and nothing is killed.
    let service = h.node.handles.grab(g).unwrap();
    assert!(!service.interrupt(None));
    assert_eq!(h.op(g, OP_SELF, &[], &[]), g as i64);
}

#[test]
fn a_stopping_node_does_not_wait_for_an_endless_guest() {
    let h = Harness::new("stop", &[]);
    h.guest("abi", &abi_guest());
    let g = h.launch("wasm --fuel=0 abi").unwrap();
    h.send(g, ptype::CLIENT, h.new_session(), op_payload(OP_SPIN, &[], &[])).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    drop(h);
    assert!(started.elapsed() < Duration::from_secs(10), "stop took {:?}", started.elapsed());
}

#[test]
fn fuel_metering_can_be_turned_off() {
    let h = Harness::new("nofuel", &[("fuel", "0")]);
    h.guest("abi", &abi_guest());
    let g = h.launch("wasm abi").unwrap();
    assert_eq!(h.op(g, OP_SELF, &[], &[]), g as i64);
    let err = format!("{:#}", h.launch("wasm --fuel=100 abi").unwrap_err());
    assert!(err.contains("fuel metering"), "{err}");
    let s = h.new_session();
    h.send(g, ptype::CLIENT, s, op_payload(OP_SPIN, &[], &[])).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    h.node.handles.grab(g).unwrap().interrupt(None);
    assert_eq!(h.wait_for(WAIT, |m| m.session == s).unwrap().ptype, ptype::ERROR);
    assert!(h.wait_log("killed").contains("fuel not metered"));
}

#[test]
fn the_endless_loop_monitor_kills_a_guest_with_unlimited_fuel() {
    let h = Harness::with_endless("monitor", &[], Duration::from_millis(300));
    h.guest("abi", &abi_guest());
    h.guest("echo", &echo_guest());
    let echo = h.launch("wasm echo").unwrap();
    let g = h.launch("wasm --fuel=0 abi").unwrap();
    assert_eq!(h.op(g, OP_SELF, &[], &[]), g as i64);
    let reply = h.op_reply(g, OP_SPIN, &[], &[]);
    assert_eq!(reply.ptype, ptype::ERROR);
    h.wait_log("maybe in an endless loop");
    h.wait_log("wasm guest 'abi' killed in skybox_dispatch: interrupted");
    assert_eq!(h.call(echo, ptype::LUA, b"alive".to_vec()).data, b"alive");
}
