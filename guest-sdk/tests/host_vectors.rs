//! The SDK's codec against the host's: byte vectors produced by the host's own `skynet.pack`
//! implementation (host/src/lua/seri.rs running under mlua, see host_vectors/generator), with
//! the values they encode. The SDK must write exactly those bytes for those values and read
//! exactly those values back, so guests and Lua services understand each other.

use skybox_sdk::codec::{self, Value};

#[allow(clippy::all)]
mod generated {
    use skybox_sdk::codec::Value::{self, *};

    fn s(bytes: &[u8]) -> Value {
        Value::String(bytes.to_vec())
    }

    fn rep(byte: u8, n: usize) -> Value {
        Value::String(vec![byte; n])
    }

    fn t(array: Vec<Value>, hash: Vec<(Value, Value)>) -> Value {
        Value::Table(skybox_sdk::codec::Table { array, hash })
    }

    include!("host_vectors/cases.rs");
}

fn unhex(hex: &str) -> Vec<u8> {
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect()
}

/// Equality that tells reals apart by their bits (NaN payloads and -0.0 included).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Real(x), Value::Real(y)) => x.to_bits() == y.to_bits(),
        (Value::Table(x), Value::Table(y)) => {
            x.array.len() == y.array.len()
                && x.hash.len() == y.hash.len()
                && x.array.iter().zip(&y.array).all(|(a, b)| same(a, b))
                && x.hash.iter().zip(&y.hash).all(|((ka, va), (kb, vb))| same(ka, kb) && same(va, vb))
        }
        _ => a == b,
    }
}

#[test]
fn encoder_writes_the_host_bytes() {
    let cases = generated::cases();
    assert!(cases.len() >= 100);
    for (what, values, hex) in &cases {
        assert_eq!(codec::encode(values).unwrap(), unhex(hex), "{what}");
    }
}

#[test]
fn decoder_reads_the_host_values() {
    for (what, values, hex) in generated::cases() {
        let bytes = unhex(hex);
        let decoded = codec::decode(&bytes).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(decoded.len(), values.len(), "{what}");
        for (a, b) in decoded.iter().zip(&values) {
            assert!(same(a, b), "{what}: {a:?} != {b:?}");
        }
        // Re-encoding what was decoded gives the same bytes: the array/hash split and the pair
        // order survive.
        assert_eq!(codec::encode(&decoded).unwrap(), bytes, "{what}");
    }
}

#[test]
fn every_prefix_of_a_host_stream_is_rejected_or_shorter() {
    // A cut inside a value fails; a cut between top-level values gives fewer values.
    for (what, values, hex) in generated::cases() {
        let bytes = unhex(hex);
        for cut in 0..bytes.len() {
            if let Ok(decoded) = codec::decode(&bytes[..cut]) {
                assert!(decoded.len() < values.len(), "{what}: prefix {cut} decoded whole");
            }
        }
    }
}
