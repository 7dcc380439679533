//! Target `seri`: the host's decoder of the `lua` wire format (`host/src/lua/seri.rs`, what
//! `skynet.unpack` runs), on arbitrary bytes, into a real Lua VM.
//!
//! Checks: a malformed stream is a Lua error, never a crash or a panic; the host accepts exactly
//! the streams the guest SDK's decoder accepts, and builds the values that decoder read (compared
//! in canonical form, see `skybox_fuzz::canon`); the unprotected fast path (`decode_plain`) never
//! raises, takes exactly the streams of scalars and pushes the same values; what the host decoded
//! the host's encoder packs again, into bytes that decode to the same values. A second VM with
//! only 64 KiB to spare decodes the same bytes: running out of memory midway (a Lua error raised
//! from deep in the decoder) must be an error like any other.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mlua::{Lua, MultiValue};
use skybox::fuzzing;
use skybox_fuzz::canon::{self, Canon};
use skybox_sdk::codec::{self, Value};

thread_local! {
    // One VM for the whole run: a decoded input leaves nothing behind but garbage.
    static LUA: Lua = Lua::new();
    static SMALL: Lua = Lua::new();
    static SMALL_LIMIT: usize = SMALL.with(|lua| lua.used_memory()) + (64 << 10);
}

fuzz_target!(|data: &[u8]| LUA.with(|lua| SMALL.with(|small| check(lua, small, data))));

fn check(lua: &Lua, small: &Lua, data: &[u8]) {
    let guest = codec::decode(data);
    let host = fuzzing::unpack(lua, data);
    let capped = capped_unpack(small, data);
    let plain = fuzzing::unpack_plain(lua, data).expect("the unprotected path must never raise");
    let (guest, host) = match (guest, host) {
        (Ok(guest), Ok(host)) => (guest, host),
        (Err(_), Err(_)) => return assert!(plain.is_none() && capped.is_err()),
        (guest, host) => panic!("the decoders disagree: guest {guest:?}, host {host:?}"),
    };
    let expected: Vec<Canon> = guest.iter().map(canon::of_value).collect();
    assert_eq!(of_lua(&host), expected, "the host built other values");
    if let Ok(capped) = capped {
        assert_eq!(capped, expected, "the capped VM built other values");
    }
    let scalars = guest.iter().all(|v| !matches!(v, Value::String(_) | Value::Table(_)));
    match plain {
        Some(plain) => {
            assert!(scalars, "the fast path took a string or a table");
            assert_eq!(of_lua(&plain), expected, "the fast path built other values");
        }
        None => assert!(!scalars, "the fast path refused a stream of scalars"),
    }
    let packed = fuzzing::pack(lua, host).unwrap_or_else(|err| panic!("decoded values must pack: {err}"));
    let repacked = codec::decode(&packed).expect("what the host packs must decode");
    let repacked: Vec<Canon> = repacked.iter().map(canon::of_value).collect();
    assert_eq!(repacked, expected, "pack . unpack changed the values");
}

/// `unpack` in `small` under its limit; what it built is read with the limit lifted (reading
/// allocates too), then collected, so every input starts from the same heap.
fn capped_unpack(small: &Lua, data: &[u8]) -> mlua::Result<Vec<Canon>> {
    small.set_memory_limit(SMALL_LIMIT.with(|l| *l)).expect("a memory limit");
    let values = fuzzing::unpack(small, data);
    small.set_memory_limit(0).expect("no memory limit");
    let values = values.map(|values| of_lua(&values));
    small.gc_collect().expect("a collection");
    values
}

fn of_lua(values: &MultiValue) -> Vec<Canon> {
    values.iter().map(canon::of_lua).collect()
}
