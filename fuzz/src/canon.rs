//! A canonical form of decoded values, to compare what the host's decoder built in a Lua VM with
//! what the guest SDK's decoder read from the same bytes.
//!
//! A Lua table is a map, not skynet's array part plus ordered pairs: [`Canon::Table`] holds its
//! pairs sorted. [`of_value`] models how the host builds a table from the stream (array items
//! set at `1..=n`, then each pair set in order: a later pair replaces an earlier one with the
//! same key, a nil value removes it, a float key with an integral value is that integer), so
//! equal canonical forms mean the host's table holds exactly what the stream said.

use mlua::Value as Lua;
use skybox_sdk::codec::Value;

/// One value, canonical. Reals are kept as their bits, so NaNs compare (and must match bit for
/// bit: the format carries them unchanged).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Canon {
    Nil,
    Boolean(bool),
    Integer(i64),
    Real(u64),
    String(Vec<u8>),
    Pointer(u64),
    /// Pairs sorted by key. A table used as a key is a key of its own even when another key
    /// has the same contents (Lua compares tables by identity), so keys may repeat here.
    Table(Vec<(Canon, Canon)>),
}

/// What the host's decoder must have built for `value`.
pub fn of_value(value: &Value) -> Canon {
    match value {
        Value::Nil => Canon::Nil,
        Value::Boolean(b) => Canon::Boolean(*b),
        Value::Integer(n) => Canon::Integer(*n),
        Value::Real(x) => Canon::Real(x.to_bits()),
        Value::String(s) => Canon::String(s.clone()),
        Value::LightUserData(p) => Canon::Pointer(*p),
        Value::Table(t) => {
            let mut pairs = Vec::new();
            let items = t.array.iter().enumerate().map(|(i, v)| (Value::Integer(i as i64 + 1), v));
            for (key, item) in items.chain(t.hash.iter().map(|(k, v)| (k.clone(), v))) {
                set(&mut pairs, normalize_key(key), of_value(item));
            }
            pairs.sort();
            Canon::Table(pairs)
        }
    }
}

/// `t[key] = item`, as `lua_rawset` does it (the key already normalized).
fn set(pairs: &mut Vec<(Canon, Canon)>, key: Canon, item: Canon) {
    // A table key is a fresh table: it never equals an existing key.
    let existing = match key {
        Canon::Table(_) => None,
        _ => pairs.iter().position(|(k, _)| *k == key),
    };
    match (existing, item) {
        (Some(i), Canon::Nil) => drop(pairs.remove(i)),
        (Some(i), item) => pairs[i].1 = item,
        (None, Canon::Nil) => {}
        (None, item) => pairs.push((key, item)),
    }
}

/// Lua stores a float key with an integral value (-0.0 included) as that integer.
fn normalize_key(key: Value) -> Canon {
    match key {
        Value::Real(x) if x.fract() == 0.0 && (-9.223372036854776e18..9.223372036854776e18).contains(&x) => {
            Canon::Integer(x as i64)
        }
        key => of_value(&key),
    }
}

/// What a Lua VM holds. Panics on a type the decoder cannot create.
pub fn of_lua(value: &Lua) -> Canon {
    match value {
        Lua::Nil => Canon::Nil,
        Lua::Boolean(b) => Canon::Boolean(*b),
        Lua::Integer(n) => Canon::Integer(*n),
        Lua::Number(x) => Canon::Real(x.to_bits()),
        Lua::String(s) => Canon::String(s.as_bytes().to_vec()),
        Lua::LightUserData(p) => Canon::Pointer(p.0 as u64),
        Lua::Table(t) => {
            let mut pairs: Vec<(Canon, Canon)> = t
                .pairs::<Lua, Lua>()
                .map(|pair| pair.expect("a decoded table iterates"))
                .map(|(k, v)| (of_lua(&k), of_lua(&v)))
                .collect();
            pairs.sort();
            Canon::Table(pairs)
        }
        other => panic!("the decoder made a {}", other.type_name()),
    }
}

/// The most tables that enclose any value inside `value` (0 for a scalar and an empty table):
/// what the encoder's depth limit ([`skybox_sdk::codec::MAX_DEPTH`]) bounds.
pub fn depth(value: &Value) -> usize {
    match value {
        Value::Table(t) => {
            let items = t.array.iter().chain(t.hash.iter().flat_map(|(k, v)| [k, v]));
            items.map(|v| 1 + depth(v)).max().unwrap_or(0)
        }
        _ => 0,
    }
}
