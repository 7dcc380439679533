//! Codec tests: the host's exact vectors (host/src/lua/seri.rs tests), hardening against
//! malformed input, and the serde mapping. The bulk comparison with the host's codec is in
//! tests/host_vectors.rs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::*;

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn s(text: &str) -> Value {
    Value::from(text)
}

fn enc(values: &[Value]) -> Vec<u8> {
    encode(values).unwrap()
}

/// `n` tables around `leaf`.
fn nest(n: usize, leaf: Value) -> Value {
    (0..n).fold(leaf, |inner, _| Value::Table(Table::from_array([inner])))
}

#[test]
fn scalars_and_integers() {
    assert_eq!(enc(&[Value::Nil]), [0x00]);
    assert_eq!(enc(&[Value::Boolean(false)]), [0x01]);
    assert_eq!(enc(&[Value::Boolean(true)]), [0x09]);
    assert_eq!(enc(&[Value::Nil, Value::Boolean(true), Value::Nil]), [0x00, 0x09, 0x00]);
    assert!(enc(&[]).is_empty());
    let cases: &[(i64, &[u8])] = &[
        (0, &[0x02]),
        (1, &[0x0a, 0x01]),
        (-1, &[0x22, 0xff, 0xff, 0xff, 0xff]),
        (255, &[0x0a, 0xff]),
        (256, &[0x12, 0x00, 0x01]),
        (65535, &[0x12, 0xff, 0xff]),
        (65536, &[0x22, 0x00, 0x00, 0x01, 0x00]),
        (-70000, &[0x22, 0x90, 0xee, 0xfe, 0xff]),
        (0x8000_0000, &[0x32, 0, 0, 0, 0x80, 0, 0, 0, 0]),
        (i64::MIN, &[0x32, 0, 0, 0, 0, 0, 0, 0, 0x80]),
    ];
    for (n, bytes) in cases {
        assert_eq!(enc(&[Value::Integer(*n)]), *bytes, "{n}");
        assert_eq!(decode(bytes).unwrap(), [Value::Integer(*n)]);
    }
}

#[test]
fn reals_stay_reals() {
    assert_eq!(enc(&[Value::Real(1.5)]), [0x42, 0, 0, 0, 0, 0, 0, 0xf8, 0x3f]);
    assert_eq!(enc(&[Value::Real(2.0)]), [0x42, 0, 0, 0, 0, 0, 0, 0, 0x40]);
    let back = decode(&enc(&[Value::Real(2.0), Value::Integer(2), Value::Real(f64::NAN)])).unwrap();
    assert_eq!(back[..2], [Value::Real(2.0), Value::Integer(2)]);
    assert!(matches!(back[2], Value::Real(x) if x.is_nan()));
}

#[test]
fn strings() {
    assert_eq!(enc(&[s("")]), [0x04]);
    assert_eq!(enc(&[s("hi")]), [0x14, b'h', b'i']);
    assert_eq!(enc(&[s(&"a".repeat(31))]), cat(&[&[0xfc], &[b'a'; 31]]));
    assert_eq!(enc(&[s(&"b".repeat(32))]), cat(&[&[0x15, 0x20, 0x00], &[b'b'; 32]]));
    assert_eq!(enc(&[Value::String(vec![b'c'; 65535])]), cat(&[&[0x15, 0xff, 0xff], &[b'c'; 65535]]));
    let long = cat(&[&[0x25, 0x70, 0x11, 0x01, 0x00], &[b'd'; 70000]]);
    assert_eq!(enc(&[Value::String(vec![b'd'; 70000])]), long);
    assert_eq!(decode(&long).unwrap(), [Value::String(vec![b'd'; 70000])]);
    assert_eq!(enc(&[Value::String(vec![0x00, 0xff])]), [0x14, 0x00, 0xff]);
}

#[test]
fn light_userdata_is_the_hosts_pointer() {
    let bytes = enc(&[Value::LightUserData(0x1234_5678)]);
    assert_eq!(bytes, cat(&[&[0x03], &0x1234_5678u64.to_le_bytes()]));
    assert_eq!(decode(&bytes).unwrap(), [Value::LightUserData(0x1234_5678)]);
}

#[test]
fn tables() {
    let t = |array: Vec<Value>, hash: Vec<(Value, Value)>| Value::Table(Table { array, hash });
    let i = Value::Integer;
    assert_eq!(enc(&[t(vec![], vec![])]), [0x06, 0x00]);
    assert_eq!(enc(&[t(vec![i(1), i(2), i(3)], vec![])]), [0x1e, 0x0a, 0x01, 0x0a, 0x02, 0x0a, 0x03, 0x00]);
    assert_eq!(
        enc(&[t(vec![i(10)], vec![(s("x"), i(1))])]),
        [0x0e, 0x0a, 0x0a, 0x0c, b'x', 0x0a, 0x01, 0x00]
    );
    // A hole inside the array part is a nil item.
    assert_eq!(enc(&[t(vec![i(1), Value::Nil, i(3)], vec![])]), [0x1e, 0x0a, 0x01, 0x00, 0x0a, 0x03, 0x00]);
    let items = |n: u8| (1..=n).flat_map(|k| [0x0a, k]).collect::<Vec<u8>>();
    let list = |n: u8| Value::Table(Table::from_array((1..=n).map(i64::from)));
    assert_eq!(enc(&[list(30)]), cat(&[&[0xf6], &items(30), &[0x00]]));
    assert_eq!(enc(&[list(31)]), cat(&[&[0xfe, 0x0a, 31], &items(31), &[0x00]]));
    let zeros = Value::Table(Table::from_array(vec![0; 300]));
    assert_eq!(enc(&[zeros])[..4], [0xfe, 0x12, 0x2c, 0x01]);
    // Keys nil and NaN cannot be written; nothing is left behind on failure.
    let mut out = vec![0xaa];
    assert_eq!(encode_into(&mut out, &[i(1), t(vec![], vec![(Value::Nil, i(1))])]), Err(EncodeError::NilKey));
    assert_eq!(out, [0xaa]);
    assert_eq!(encode(&[t(vec![], vec![(Value::Real(f64::NAN), i(1))])]), Err(EncodeError::NanKey));
}

#[test]
fn table_lookup_is_luas() {
    let mut t = Table::from_array([10, 20]);
    t.insert("name", "x");
    t.insert(2.0, 21); // a real key with an integer value is that integer: the array slot
    t.insert(5, 50);
    assert_eq!(t.array, [Value::Integer(10), Value::Integer(21)]);
    assert_eq!(t.get(&Value::Integer(5)), Some(&Value::Integer(50)));
    assert_eq!(t.get(&Value::Real(1.0)), Some(&Value::Integer(10)));
    assert_eq!(t.field("name"), Some(&s("x")));
    t.insert("name", "y");
    assert_eq!(t.hash.len(), 2);
    assert_eq!(t.field("name").and_then(Value::as_str), Some("y"));
    assert_eq!(Value::Real(3.0).as_integer(), Some(3));
    assert_eq!(Value::Real(3.5).as_integer(), None);
    assert_eq!(Value::Real(9.3e18).as_integer(), None);
    assert!(!Value::Boolean(false).is_truthy() && Value::Integer(0).is_truthy());
}

#[test]
fn depth_limit_matches_skynet() {
    // 32 tables with a value in the innermost: the deepest skynet accepts.
    let bytes = enc(&[nest(32, Value::Integer(1))]);
    assert_eq!(bytes, cat(&[&[0x0e; 32], &[0x0a, 0x01], &[0x00; 32]]));
    assert_eq!(decode(&bytes).unwrap(), [nest(32, Value::Integer(1))]);
    assert_eq!(encode(&[nest(33, Value::Integer(1))]), Err(EncodeError::TooDeep));
    // The check is on values inside tables, so one more empty level still fits.
    let bytes = enc(&[nest(32, Value::Table(Table::new()))]);
    assert_eq!(bytes, cat(&[&[0x0e; 32], &[0x06, 0x00], &[0x00; 32]]));
    assert!(decode(&bytes).is_ok());
    assert_eq!(encode(&[nest(33, Value::Table(Table::new()))]), Err(EncodeError::TooDeep));
    // Keys count too.
    let key_deep =
        Value::Table(Table { array: vec![], hash: vec![(nest(2, Value::Integer(1)), Value::Integer(1))] });
    assert_eq!(encode(&[nest(31, key_deep)]), Err(EncodeError::TooDeep));
}

#[test]
fn decode_depth_limit() {
    let nested = |n: usize| cat(&[&vec![0x0e; n - 1], &[0x06, 0x00], &vec![0x00; n - 1]]);
    assert!(decode(&nested(MAX_DECODE_DEPTH)).is_ok());
    let err = decode(&nested(MAX_DECODE_DEPTH + 1)).unwrap_err();
    assert_eq!(err.reason, DecodeReason::TooDeep);
    assert!(err.to_string().contains("nested too deep"), "{err}");
    // A value inside MAX_DECODE_DEPTH tables could not be packed again: refused (found by
    // fuzzing), in the array part and in the hash part.
    let scalar = cat(&[&[0x0e; MAX_DECODE_DEPTH], &[0x02], &[0x00; MAX_DECODE_DEPTH]]);
    assert_eq!(decode(&scalar).unwrap_err().reason, DecodeReason::TooDeep);
    let keyed =
        cat(&[&[0x0e; MAX_DECODE_DEPTH - 1], &[0x06, 0x02, 0x02, 0x00], &[0x00; MAX_DECODE_DEPTH - 1]]);
    assert_eq!(decode(&keyed).unwrap_err().reason, DecodeReason::TooDeep);
    // Far beyond: fails cleanly, without overflowing the stack.
    assert!(decode(&vec![0x0e; 1 << 20]).is_err());
    assert!(decode(&vec![0x06; 1 << 20]).is_err());
}

#[test]
fn malformed_input_is_an_error() {
    let bad: &[(&str, &[u8])] = &[
        ("byte int", &[0x0a]),
        ("word int", &[0x12, 0x00]),
        ("dword int", &[0x22, 0, 0, 0]),
        ("qword int", &[0x32, 0, 0, 0, 0, 0, 0, 0]),
        ("real", &[0x42, 0, 0]),
        ("pointer", &[0x03, 0, 0, 0]),
        ("short string", &[0x14, b'h']),
        ("long string length", &[0x15, 0x20]),
        ("long string body", &[0x15, 0x20, 0x00, b'x']),
        ("table items", &[0x1e, 0x0a, 0x01]),
        ("table terminator", &[0x0e, 0x0a, 0x01]),
        ("table value", &[0x06, 0x0c, b'x']),
        ("extended size missing", &[0xfe]),
        ("unknown type 7", &[0x07]),
        ("number cookie 3", &[0x1a, 0x00]),
        ("number cookie 31", &[0xfa]),
        ("long string cookie 3", &[0x1d, 0, 0, 0]),
        ("long string cookie 0", &[0x05]),
        ("extended size is real", &[0xfe, 0x42, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0x00]),
        ("extended size is string", &[0xfe, 0x0c, b'1', 0x00]),
        ("negative array size", &[0xfe, 0x22, 0xff, 0xff, 0xff, 0xff, 0x00]),
        ("forged array size", &[0xfe, 0x22, 0xff, 0xff, 0xff, 0x7f, 0x00, 0x00]),
        ("forged qword array size", &[0xfe, 0x32, 0, 0, 0, 0, 0, 0, 0, 0x40, 0x00]),
        ("array size without room", &[0x16, 0x00]),
        ("forged string length", &[0x25, 0xff, 0xff, 0xff, 0xff, b'a', b'b']),
        ("NaN key", &[0x06, 0x42, 0, 0, 0, 0, 0, 0, 0xf8, 0x7f, 0x09, 0x00]),
    ];
    for (what, bytes) in bad {
        let err = decode(bytes).expect_err(what);
        assert!(!err.to_string().is_empty(), "{what}");
    }
    let err = decode(&[0x09, 0x07]).unwrap_err();
    assert_eq!(err.to_string(), "invalid serialize stream at byte 2 of 2: unknown type 7");
    // Lenient where skynet is: any nonzero boolean cookie is true, nil ignores its cookie, a
    // long string may carry a short length.
    assert_eq!(decode(&[0x11, 0xf8]).unwrap(), [Value::Boolean(true), Value::Nil]);
    assert_eq!(decode(&[0x15, 0x01, 0x00, b'z']).unwrap(), [s("z")]);
    assert!(decode(&[]).unwrap().is_empty());
}

/// xorshift64*: enough randomness for shape coverage, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn value(&mut self, depth: usize, budget: &mut u32) -> Value {
        *budget = budget.saturating_sub(1);
        let kinds = if depth >= 5 || *budget == 0 { 6 } else { 8 };
        match self.below(kinds) {
            0 => Value::Boolean(self.below(2) == 0),
            1 | 2 => Value::Integer((self.next() as i64) >> self.below(64)),
            3 => Value::Real(f64::from_bits(self.next())),
            4 => Value::LightUserData(self.next()),
            5 => Value::String((0..self.below(40)).map(|_| self.next() as u8).collect()),
            _ => {
                let len = if self.below(4) == 0 { 31 + self.below(40) } else { self.below(6) };
                let array = (0..len).map(|_| self.value(depth + 1, budget)).collect();
                let hash = (0..self.below(5))
                    .map(|_| {
                        let key = match self.value(depth + 1, budget) {
                            Value::Real(x) if x.is_nan() => Value::Real(0.5),
                            Value::Nil => Value::Boolean(true),
                            key => key,
                        };
                        (key, self.value(depth + 1, budget))
                    })
                    .collect();
                Value::Table(Table { array, hash })
            }
        }
    }
}

#[test]
fn random_round_trips_and_damage() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..2000 {
        let mut budget = 200;
        let values: Vec<Value> = (0..rng.below(4)).map(|_| rng.value(0, &mut budget)).collect();
        let bytes = enc(&values);
        let back = decode(&bytes).unwrap();
        // Bytes, not values, are compared: NaN reals are not equal to themselves.
        assert_eq!(enc(&back), bytes);

        // Damaged copies must fail or decode, never panic.
        if !bytes.is_empty() {
            let mut damaged = bytes.clone();
            for _ in 0..3 {
                let i = rng.below(damaged.len() as u64) as usize;
                damaged[i] = rng.next() as u8;
            }
            let _ = decode(&damaged);
            let cut = rng.below(damaged.len() as u64) as usize;
            let _ = decode(&damaged[..cut]);
        }
    }
    for _ in 0..5000 {
        let noise: Vec<u8> = (0..rng.below(64)).map(|_| rng.next() as u8).collect();
        let _ = decode(&noise);
    }
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Player {
    name: String,
    score: i64,
    tags: Vec<String>,
    #[serde(default)]
    team: Option<String>,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
#[serde(rename_all = "lowercase")]
enum Command {
    Ping,
    Add(i64, i64),
    Get(String),
    Transfer { from: String, to: String, amount: i64 },
}

#[test]
fn serde_values() {
    // One value: the same bytes Lua writes for the same table.
    assert_eq!(
        to_bytes(&(1, 2, 3)).unwrap(),
        enc(&[Value::Integer(1), Value::Integer(2), Value::Integer(3)])
    );
    assert_eq!(to_bytes(&vec![1, 2, 3]).unwrap(), [0x1e, 0x0a, 0x01, 0x0a, 0x02, 0x0a, 0x03, 0x00]);
    // serde sees a fixed-size array as a tuple: at the top level it spreads.
    assert_eq!(to_bytes(&[[1u8]]).unwrap(), [0x0e, 0x0a, 0x01, 0x00]);
    assert_eq!(to_bytes(&([[1u8]],)).unwrap(), [0x0e, 0x0e, 0x0a, 0x01, 0x00, 0x00]);
    assert_eq!(to_bytes(&"hi").unwrap(), [0x14, b'h', b'i']);
    assert_eq!(to_bytes(&2.0f32).unwrap(), [0x42, 0, 0, 0, 0, 0, 0, 0, 0x40]);
    assert_eq!(to_bytes(&'é').unwrap(), [0x14, 0xc3, 0xa9]);
    assert_eq!(to_bytes(&None::<i64>).unwrap(), [0x00]);
    assert_eq!(to_bytes(&Some(7)).unwrap(), [0x0a, 0x07]);
    assert!(matches!(to_bytes(&u64::MAX), Err(Error::Encode(EncodeError::IntegerOutOfRange))));
    assert_eq!(to_bytes(&(u64::MAX >> 1)).unwrap(), enc(&[Value::Integer(i64::MAX)]));

    // A struct is a hash table in field order; nil fields are left out.
    let player = Player { name: "alice".into(), score: 1500, tags: vec!["a".into()], team: None };
    let bytes = to_bytes(&player).unwrap();
    let mut expected = Table::new();
    expected.insert("name", "alice");
    expected.insert("score", 1500);
    expected.insert("tags", Table::from_array(["a"]));
    assert_eq!(bytes, enc(&[Value::Table(expected.clone())]));
    assert_eq!(from_bytes::<Player>(&bytes).unwrap(), player);
    // Lua may send the fields in any order, and a real where an integer is expected.
    let mut lua_order = Table::new();
    lua_order.insert("tags", Table::new());
    lua_order.insert("team", "red");
    lua_order.insert("score", 3.0);
    lua_order.insert("name", "bob");
    let bob: Player = from_bytes(&enc(&[Value::Table(lua_order)])).unwrap();
    assert_eq!(bob, Player { name: "bob".into(), score: 3, tags: vec![], team: Some("red".into()) });
    // A struct from an array table, by position.
    let positional =
        Value::Table(Table::from_array([s("carol"), Value::Integer(9), Value::Table(Table::new())]));
    assert_eq!(from_value::<Player>(&positional).unwrap().name, "carol");

    // Maps: hash tables; nil values are left out.
    let map: BTreeMap<String, Option<i64>> = [("a".into(), Some(1)), ("b".into(), None)].into();
    let bytes = to_bytes(&map).unwrap();
    assert_eq!(bytes, [0x06, 0x0c, b'a', 0x0a, 0x01, 0x00]);
    let back: BTreeMap<String, i64> = from_bytes(&bytes).unwrap();
    assert_eq!(back, [("a".to_string(), 1)].into());
    let by_index: BTreeMap<i64, String> = from_value(&Value::Table(Table::from_array(["x", "y"]))).unwrap();
    assert_eq!(by_index, [(1, "x".to_string()), (2, "y".to_string())].into());
    assert!(matches!(to_bytes(&BTreeMap::from([(None::<i64>, 1)])), Err(Error::Encode(EncodeError::NilKey))));

    // Enums as values: unit variants are strings, others one-pair tables.
    assert_eq!(to_value(&Command::Ping).unwrap(), s("ping"));
    let mut add = Table::new();
    add.insert("add", Table::from_array([1, 2]));
    assert_eq!(to_value(&Command::Add(1, 2)).unwrap(), Value::Table(add.clone()));
    assert_eq!(from_value::<Command>(&Value::Table(add)).unwrap(), Command::Add(1, 2));
    let transfer = Command::Transfer { from: "a".into(), to: "b".into(), amount: 5 };
    assert_eq!(from_value::<Command>(&to_value(&transfer).unwrap()).unwrap(), transfer);
    assert_eq!(
        from_value::<Vec<Command>>(&to_value(&vec![Command::Ping]).unwrap()).unwrap(),
        [Command::Ping]
    );
}

#[test]
fn serde_messages_spread_like_skynet_pack() {
    // A tuple is several values; `()` none; anything else one.
    let bytes = to_bytes(&("add", 1, 2.5)).unwrap();
    assert_eq!(bytes, enc(&[s("add"), Value::Integer(1), Value::Real(2.5)]));
    assert!(to_bytes(&()).unwrap().is_empty());
    assert_eq!(to_bytes(&(7,)).unwrap(), [0x0a, 0x07]);
    assert_eq!(to_bytes(&((1, 2),)).unwrap(), [0x16, 0x0a, 0x01, 0x0a, 0x02, 0x00]);
    assert_eq!(to_bytes(&(None::<i64>, Some(1))).unwrap(), [0x00, 0x0a, 0x01]);

    // Reading: missing values are nil, extra ones ignored, a lone type reads the first value.
    let (cmd, n, x, missing): (String, i64, f64, Option<String>) = from_bytes(&bytes).unwrap();
    assert_eq!((cmd.as_str(), n, x, missing), ("add", 1, 2.5, None));
    let (cmd, n): (String, i64) = from_bytes(&bytes).unwrap();
    assert_eq!((cmd.as_str(), n), ("add", 1));
    assert_eq!(from_bytes::<String>(&bytes).unwrap(), "add");
    assert_eq!(from_bytes::<Option<i64>>(&[]).unwrap(), None);
    from_bytes::<()>(&bytes).unwrap();
    assert!(from_bytes::<(i64,)>(&bytes).is_err(), "a string is not an integer");

    // Enums are commands: the name, then the arguments.
    for (command, values) in [
        (Command::Ping, vec![s("ping")]),
        (Command::Add(1, 2), vec![s("add"), Value::Integer(1), Value::Integer(2)]),
        (Command::Get("k".into()), vec![s("get"), s("k")]),
        (
            Command::Transfer { from: "a".into(), to: "b".into(), amount: 5 },
            vec![s("transfer"), s("a"), s("b"), Value::Integer(5)],
        ),
    ] {
        let bytes = to_bytes(&command).unwrap();
        assert_eq!(bytes, enc(&values), "{command:?}");
        assert_eq!(from_bytes::<Command>(&bytes).unwrap(), command);
    }
    // What a Lua caller sends, extra arguments and all.
    let lua = enc(&[s("get"), s("k"), Value::Boolean(true)]);
    assert_eq!(from_bytes::<Command>(&lua).unwrap(), Command::Get("k".into()));
    assert!(from_bytes::<Command>(&enc(&[s("nope")])).is_err());
    assert!(from_bytes::<Command>(&[]).is_err());
}

#[test]
fn serde_dynamic_values() {
    // A Value through serde: array-only tables keep their bytes; mixed tables are read back
    // with their split restored.
    let mut mixed = Table::from_array([1, 2]);
    mixed.insert("k", "v");
    let values = vec![Value::Nil, Value::Table(Table::from_array([1, 2])), Value::Table(mixed.clone())];
    for value in &values {
        let bytes = to_bytes(&(value,)).unwrap();
        let back: Value = from_bytes(&bytes).unwrap();
        assert_eq!(&back, value);
    }
    assert_eq!(to_bytes(&(&values[1],)).unwrap(), enc(&values[1..2]));
    let (a, b): (Value, Value) = from_bytes(&enc(&values[1..])).unwrap();
    assert_eq!((a, b), (values[1].clone(), values[2].clone()));
}

/// `n` nested one-item sequences around the integer 1.
struct Nested(usize);

impl Serialize for Nested {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        if self.0 == 0 {
            return serializer.serialize_i64(1);
        }
        let mut seq = serializer.serialize_seq(None)?;
        seq.serialize_element(&Nested(self.0 - 1))?;
        seq.end()
    }
}

#[test]
fn serde_depth_limit_and_unknown_lengths() {
    // Sequences of unknown length get their header once counted.
    assert_eq!(to_bytes(&Nested(32)).unwrap(), enc(&[nest(32, Value::Integer(1))]));
    assert!(matches!(to_bytes(&Nested(33)), Err(Error::Encode(EncodeError::TooDeep))));
    struct Many(usize);
    impl Serialize for Many {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            serializer.collect_seq((0..self.0).filter(|_| true))
        }
    }
    assert_eq!(to_bytes(&Many(40)).unwrap(), enc(&[Value::Table(Table::from_array(0..40))]));
}
