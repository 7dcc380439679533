//! Generates guest-sdk/tests/host_vectors/cases.rs: byte vectors from the host's codec
//! (host/src/lua/seri.rs, compiled here on its own) with the value trees they encode, walked in
//! the order its pack wrote them.
//!
//! cargo run --release --manifest-path guest-sdk/tests/host_vectors/generator/Cargo.toml \
//!     > guest-sdk/tests/host_vectors/cases.rs

#[allow(dead_code)]
#[path = "../../../../../host/src/lua/seri.rs"]
mod seri;

use mlua::{Lua, Table, Value};
use std::fmt::Write;

fn lit(v: &Value, out: &mut String) {
    match v {
        Value::Nil => out.push_str("Nil"),
        Value::Boolean(b) => write!(out, "Boolean({b})").unwrap(),
        Value::Integer(i) if *i == i64::MIN => out.push_str("Integer(i64::MIN)"),
        Value::Integer(i) => write!(out, "Integer({i})").unwrap(),
        Value::Number(x) => write!(out, "Real(f64::from_bits({:#x}))", x.to_bits()).unwrap(),
        Value::String(s) => {
            let b = s.as_bytes();
            if b.len() > 40 && b.iter().all(|c| *c == b[0]) {
                write!(out, "rep({}, {})", b[0], b.len()).unwrap();
            } else {
                write!(out, "s(b\"").unwrap();
                for c in b.iter() {
                    if c.is_ascii_alphanumeric() || *c == b' ' || *c == b'_' {
                        out.push(*c as char);
                    } else {
                        write!(out, "\\x{c:02x}").unwrap();
                    }
                }
                out.push_str("\")");
            }
        }
        Value::LightUserData(p) => write!(out, "LightUserData({:#x})", p.0 as usize).unwrap(),
        Value::Table(t) => table(t, out),
        other => panic!("unsupported {other:?}"),
    }
}

fn table(t: &Table, out: &mut String) {
    let len = t.raw_len();
    out.push_str("t(vec![");
    for i in 1..=len {
        let v: Value = t.raw_get(i).unwrap();
        lit(&v, out);
        out.push_str(", ");
    }
    out.push_str("], vec![");
    t.for_each(|k: Value, v: Value| {
        if let Value::Integer(i) = k {
            if i >= 1 && (i as usize) <= len {
                return Ok(());
            }
        }
        out.push('(');
        lit(&k, out);
        out.push_str(", ");
        lit(&v, out);
        out.push_str("), ");
        Ok(())
    })
    .unwrap();
    out.push_str("])");
}

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
}

fn random_integer(rng: &mut Rng) -> i64 {
    const EDGES: [i64; 12] =
        [0, 1, -1, 255, 256, 65535, 65536, i32::MAX as i64, i32::MIN as i64, 1 << 31, i64::MIN, i64::MAX];
    match rng.below(3) {
        0 => EDGES[rng.below(EDGES.len() as u64) as usize],
        1 => (rng.next() as i64) >> rng.below(64),
        _ => rng.below(40) as i64 - 5,
    }
}

fn random_string(lua: &Lua, rng: &mut Rng) -> Value {
    let len = match rng.below(10) {
        0 => 32 + rng.below(60),
        1 => 31,
        _ => rng.below(12),
    } as usize;
    let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
    Value::String(lua.create_string(bytes).unwrap())
}

fn random_key(lua: &Lua, rng: &mut Rng) -> Value {
    match rng.below(5) {
        0 => Value::Integer(random_integer(rng)),
        1 => Value::Number(rng.below(1000) as f64 + 0.25),
        2 => Value::Boolean(rng.below(2) == 0),
        _ => random_string(lua, rng),
    }
}

fn random_value(lua: &Lua, rng: &mut Rng, depth: usize, budget: &mut u32) -> Value {
    *budget = budget.saturating_sub(1);
    let kinds = if depth >= 4 || *budget == 0 { 6 } else { 8 };
    match rng.below(kinds) {
        0 => Value::Boolean(rng.below(2) == 0),
        1 | 2 => Value::Integer(random_integer(rng)),
        3 => Value::Number(f64::from_bits(rng.next())),
        4 => Value::LightUserData(mlua::LightUserData(std::ptr::with_exposed_provenance_mut(rng.next() as usize))),
        5 => random_string(lua, rng),
        _ => {
            let array = match rng.below(5) {
                0 => 31 + rng.below(10),
                _ => rng.below(6),
            };
            let t = lua.create_table().unwrap();
            for i in 1..=array {
                t.raw_set(i, random_value(lua, rng, depth + 1, budget)).unwrap();
            }
            for _ in 0..rng.below(5) {
                let key = random_key(lua, rng);
                t.raw_set(key, random_value(lua, rng, depth + 1, budget)).unwrap();
            }
            Value::Table(t)
        }
    }
}

fn main() {
    let lua = Lua::new();
    lua.load(
        "function nest(n, leaf) local t = leaf for _ = 1, n do t = {t} end return t end
         function list(n) local t = {} for i = 1, n do t[i] = i end return t end
         function hole() local t = {1, 2, 3} t[2] = nil return t end",
    )
    .exec()
    .unwrap();
    let exprs = [
        "nil", "true", "false", "nil, true, nil", "0", "1", "-1", "255", "256", "65535", "65536", "-70000",
        "0x7fffffff", "-0x80000000", "0x80000000", "-0x80000001", "1 << 40", "math.mininteger",
        "math.maxinteger", "1.5", "2.0", "-0.0", "1/0", "-1/0", "1e300", "3.14159", "-2.5e-300", "''",
        "'hi'", "('a'):rep(31)", "('b'):rep(32)", "('c'):rep(300)", "'\\0\\255'", "'héllo'", "{}", "{1, 2, 3}",
        "{{}}", "{{1}, {x = 'y'}}", "{10, x = 1}", "{1, [5] = 2}", "{[1.5] = true}", "{[true] = false}",
        "{[-1] = 1, [0] = 2}", "{[math.mininteger] = 'min'}", "list(30)", "list(31)", "list(40)",
        "list(300)", "nest(32, 1)", "nest(32, {})", "{1, 2.5, 'three', {four = 4}, false}",
        "1, nil, 'x', {}", "{name = 'alice', score = 1500}", "{tags = {'a', 'b'}}", "hole()",
        "{[{k = 1}] = 'table key'}", "'ping', 1, 2.0, 'pong'", "{1, nil, 3}", "{nil, nil, 3}",
        "{x = {y = {z = {}}}}", "{1, {2, {3, {4}}}}",
    ];
    let mut out = String::new();
    out.push_str("// @generated by tests/host_vectors/generator (host/src/lua/seri.rs under mlua, Lua 5.4):\n");
    out.push_str("// each case is a Lua expression, the values it gives (walked in the order the host's pack\n");
    out.push_str("// wrote them) and the host's bytes, in hex. Regenerate with the command in its main.rs (the\n");
    out.push_str("// order of string keys changes from run to run: Lua seeds its string hash at random).\n\n");
    out.push_str("pub(super) fn cases() -> Vec<(&'static str, Vec<Value>, &'static str)> {\n    vec![\n");
    let emit = |name: &str, values: &[Value], out: &mut String| {
        let bytes = seri::pack(values).unwrap();
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        write!(out, "        ({name:?}, vec![").unwrap();
        for v in values {
            lit(v, out);
            out.push_str(", ");
        }
        write!(out, "], {hex:?}),\n").unwrap();
    };
    for e in exprs {
        let mut values: mlua::MultiValue = lua.load(format!("return {e}")).eval().unwrap();
        emit(e, values.make_contiguous(), &mut out);
    }
    let mut rng = Rng(0x5eed_0f5b_0c5e_ed01);
    for i in 0..40 {
        let count = 1 + rng.below(3) as usize;
        let mut budget = 40;
        let values: Vec<Value> = (0..count).map(|_| random_value(&lua, &mut rng, 0, &mut budget)).collect();
        emit(&format!("random {i}"), &values, &mut out);
    }
    out.push_str("    ]\n}\n");
    print!("{out}");
}

