//! Target `abi`: the guest ABI's imports (guest-sdk/ABI.md) called with fuzzer-chosen
//! arguments (pointers, sizes, handles, types, sessions, names, socket ids, paths) by a real
//! wasmtime guest on a real node (`skybox_fuzz::guest` describes the program an input is,
//! `skybox_fuzz::node` the node).
//!
//! The first byte picks the node: bit 0 set, guests with pooled memories; clear, with the
//! host's dense memories. The rest is the program, run in a fresh guest.
//!
//! Checks: the host never crashes or panics; it never writes guest memory outside the range an
//! import was given (canaries, see the guest); the request is always answered, by the guest or
//! with ERROR when the guest dies, never left waiting.

#![no_main]

use std::sync::{LazyLock, Mutex};

use libfuzzer_sys::fuzz_target;
use skybox_fuzz::node::{Harness, Outcome};

static POOLED: LazyLock<Mutex<Harness>> = LazyLock::new(|| Mutex::new(Harness::new(true)));
static DENSE: LazyLock<Mutex<Harness>> = LazyLock::new(|| Mutex::new(Harness::new(false)));

fuzz_target!(|data: &[u8]| {
    let Some((&pick, program)) = data.split_first() else {
        return;
    };
    let harness = if pick & 1 == 1 { &POOLED } else { &DENSE };
    let outcome = harness.lock().unwrap().run(program);
    if let Outcome::Answered { violations } = outcome {
        assert_eq!(violations, 0, "the host wrote guest memory outside the range it was given");
    }
});
