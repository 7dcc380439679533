//! Target `codec`: the guest SDK's decoder of the `lua` wire format (`skybox_sdk::codec`), on
//! arbitrary bytes, as a guest receives them from any sender.
//!
//! Checks: decoding never panics or hangs (libFuzzer's `-timeout`); the memory it holds at its
//! peak stays in proportion to the input (a counting allocator: at most [`BYTES_PER_BYTE`] per
//! input byte, whatever lengths the stream claims); a decoded stream re-encodes, and the
//! encoding decodes to the same values and encodes to the same bytes again (a fixed point); the
//! serde reader (`from_bytes`) never panics on the same bytes, whatever type it is asked for.

#![no_main]

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use libfuzzer_sys::fuzz_target;
use skybox_fuzz::canon;
use skybox_sdk::codec::{self, MAX_DECODE_DEPTH, PREALLOCATE, Value};

/// Peak bytes a decode may hold per input byte: a few values per byte (a growing `Vec` briefly
/// holds two buffers), plus what each table reserves ahead (at most `PREALLOCATE` items,
/// whatever length it claims; before that cap, nested tables each claiming the rest of the
/// input held 47 MB for 36 KB).
const BYTES_PER_BYTE: usize = 8 * std::mem::size_of::<Value>();
const AHEAD: usize = (MAX_DECODE_DEPTH + 1) * PREALLOCATE * std::mem::size_of::<Value>();

fuzz_target!(|data: &[u8]| {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let decoded = codec::decode(data);
    let held = PEAK.load(Ordering::Relaxed) - base;
    assert!(
        held <= BYTES_PER_BYTE * data.len() + AHEAD + 4096,
        "decoding {} bytes held {held} bytes",
        data.len()
    );
    let Ok(values) = decoded else {
        return;
    };
    // Every value is made of at least one byte of input.
    assert!(values.len() <= data.len());
    let deepest = values.iter().map(canon::depth).max().unwrap_or(0);
    // Whatever decodes encodes again (the decoder refuses a value inside more than MAX_DEPTH
    // tables, as the encoder and skynet.pack do).
    let bytes = codec::encode(&values)
        .unwrap_or_else(|err| panic!("a decoded stream must encode: {err} (values {deepest} deep)"));
    let again = codec::decode(&bytes).expect("an encoded stream must decode");
    // Compared as bytes: `Value`'s `==` has NaN != NaN, and the encoding is exact (every value
    // has one encoding, reals bit for bit), so equal bytes are equal values.
    let bytes2 = codec::encode(&again).expect("a decoded stream must encode");
    assert_eq!(bytes, bytes2, "decode . encode is not a fixed point");
    if !values.iter().any(has_nan) {
        assert_eq!(values, again);
    }
    serde_reads(data);
});

/// Whether a NaN hides in `v` (it compares unequal to itself).
fn has_nan(v: &Value) -> bool {
    match v {
        Value::Real(x) => x.is_nan(),
        Value::Table(t) => {
            t.array.iter().any(has_nan) || t.hash.iter().any(|(k, v)| has_nan(k) || has_nan(v))
        }
        _ => false,
    }
}

/// The typed reader on the same bytes, as a few message shapes a guest declares: errors are
/// fine, panics are not.
fn serde_reads(data: &[u8]) {
    let _ = codec::from_bytes::<(String, Option<i64>, Vec<u8>)>(data);
    let _ = codec::from_bytes::<(HashMap<String, Value>, Vec<Option<f64>>)>(data);
    let _ = codec::from_bytes::<Command>(data);
    let _ = codec::from_bytes::<(u8, i32, u64, char, bool)>(data);
    let _ = codec::from_bytes::<Vec<Value>>(data);
}

/// A command enum as guests declare them (`skynet.call(g, "lua", "add", 1, 2)`).
#[derive(serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
enum Command {
    Add(i64, i64),
    Get { key: String, default: Option<Vec<u8>> },
    Ping,
    Nested(Vec<(String, HashMap<i64, Command>)>),
}

/// The system allocator, counting the bytes live and their peak.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

#[global_allocator]
static ALLOCATOR: Counting = Counting;

// SAFETY: every call goes to `System` with the caller's arguments; the counters only observe.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as `System.alloc`, per this method's contract.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        // SAFETY: as `System.dealloc`, per this method's contract.
        unsafe { System.dealloc(p, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, p: *mut u8, layout: Layout, size: usize) -> *mut u8 {
        // SAFETY: as `System.realloc`, per this method's contract.
        let q = unsafe { System.realloc(p, layout, size) };
        if !q.is_null() {
            // Counted as the old block and the new one both live, as a move may have them.
            grew(size);
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        q
    }
}

fn grew(size: usize) {
    let live = LIVE.fetch_add(size, Ordering::Relaxed) + size;
    PEAK.fetch_max(live, Ordering::Relaxed);
}
