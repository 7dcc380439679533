//! skynet's Lua value encoding (`skynet.pack` / `skynet.unpack`), byte-compatible with
//! skynet's `lualib-src/lua-seri.c`, straight between the Lua stack and bytes.
//!
//! The format itself (header bytes, number forms, string and table layouts) and its byte-level
//! reading and writing are [`skybox_sdk::codec::wire`], shared with the guests' codec; this
//! module only walks Lua values on one side and creates them on the other, with Lua's C API
//! (this is the message path: no per-value conversion layer).
//!
//! The array part of a table covers keys `1..=n` with `n` its raw length; the other pairs
//! follow in `next` order and a nil key ends the table. A table whose metatable has
//! `__pairs` is written with an empty array part and every pair its iterator yields.
//!
//! Both directions raise Lua errors and may call Lua (`__pairs`, allocation): call them in
//! protected mode (see `raw::protect`) whenever a Rust value with a destructor is live.

use std::ffi::{c_int, c_void};

use mlua::ffi::{self, lua_State};
use mlua::{Lua, MultiValue, Value};
use skybox_sdk::codec::wire::{self, Reader};
use skybox_sdk::codec::{DecodeError, DecodeReason, MAX_DECODE_DEPTH, MAX_DEPTH, PREALLOCATE};

use super::raw;

/// Appends the encoding of the stack values `first..=top` to `out`.
///
/// # Safety
/// `state` is live, `first >= 1`; raises Lua errors (see the module docs).
pub(crate) unsafe fn encode(state: *mut lua_State, first: c_int, out: &mut Vec<u8>) {
    // SAFETY: per the contract.
    unsafe {
        let top = ffi::lua_gettop(state);
        for index in first..=top {
            encode_value(state, index, 0, out);
        }
    }
}

/// Pushes every value encoded in `data`, in order, and returns how many.
///
/// # Safety
/// `state` is live and `data` stays valid during the call; raises Lua errors (see the module
/// docs).
pub(crate) unsafe fn decode(state: *mut lua_State, data: &[u8]) -> c_int {
    let mut reader = Reader::new(data);
    let mut count = 0;
    // SAFETY: per the contract.
    unsafe {
        while !reader.at_end() {
            ffi::luaL_checkstack(state, 1, c"too many values to unpack".as_ptr());
            decode_value(state, &mut reader, 0);
            count += 1;
        }
    }
    count
}

/// The encoding of the stack values `first..=top`, in a buffer of its exact size, when they are
/// all values whose encoding cannot fail or call Lua (nil, booleans, numbers, light userdata,
/// strings): this needs no protected call. `None` (nothing done) for anything else.
///
/// # Safety
/// `state` is live, `first >= 1`; never raises.
pub(crate) unsafe fn encode_plain(state: *mut lua_State, first: c_int) -> Option<Vec<u8>> {
    // SAFETY: per the contract; only reads the stack.
    unsafe {
        let top = ffi::lua_gettop(state);
        let mut size = 0;
        for index in first..=top {
            size += match ffi::lua_type(state, index) {
                ffi::LUA_TNIL | ffi::LUA_TBOOLEAN => 1,
                ffi::LUA_TNUMBER | ffi::LUA_TLIGHTUSERDATA => 9,
                ffi::LUA_TSTRING => {
                    let len = ffi::lua_rawlen(state, index);
                    if i32::try_from(len).is_err() {
                        return None;
                    }
                    len + 5
                }
                _ => return None,
            };
        }
        let mut out = Vec::with_capacity(size);
        encode(state, first, &mut out);
        Some(out)
    }
}

/// Pushes every value encoded in `data` when none of them allocates (nil, booleans, numbers,
/// light userdata) and the stack has room: this cannot raise, so it needs no protected call.
/// `None` (nothing pushed) for anything else, a malformed stream included.
///
/// # Safety
/// `state` is live; never raises.
pub(crate) unsafe fn decode_plain(state: *mut lua_State, data: &[u8]) -> Option<c_int> {
    let mut reader = Reader::new(data);
    let mut count: c_int = 0;
    while !reader.at_end() {
        let (kind, cookie) = reader.header().ok()?;
        match kind {
            wire::TYPE_NIL | wire::TYPE_BOOLEAN => {}
            wire::TYPE_NUMBER if cookie == wire::NUMBER_REAL => drop(reader.array::<8>().ok()?),
            wire::TYPE_NUMBER => drop(reader.integer(cookie).ok()?),
            wire::TYPE_USERDATA => drop(reader.array::<8>().ok()?),
            _ => return None,
        }
        count = count.checked_add(1)?;
    }
    // SAFETY: per the contract; lua_checkstack reports failure instead of raising, and the
    // values checked above push without allocating.
    unsafe {
        if ffi::lua_checkstack(state, count) == 0 {
            return None;
        }
        let mut reader = Reader::new(data);
        for _ in 0..count {
            decode_value(state, &mut reader, 0);
        }
    }
    Some(count)
}

/// Encodes `values` (the tests, a recorded host call's results; services use `skynet.pack`).
pub(crate) fn pack(lua: &Lua, values: &[Value]) -> mlua::Result<Vec<u8>> {
    let mut out = Vec::new();
    // SAFETY: `exec_raw` runs the closure protected with `values` on the stack; the closure owns
    // nothing (it writes through a borrow).
    unsafe {
        lua.exec_raw::<()>(MultiValue::from_iter(values.iter().cloned()), |state| {
            encode(state, 1, &mut out);
            ffi::lua_settop(state, 0);
        })?;
    }
    Ok(out)
}

/// Decodes every value in `data`, in order (the tests, a replayed host call's results;
/// services use `skynet.unpack`).
pub(crate) fn unpack(lua: &Lua, data: &[u8]) -> mlua::Result<MultiValue> {
    // SAFETY: as `pack`; `data` outlives the call.
    unsafe {
        lua.exec_raw((), |state| {
            decode(state, data);
        })
    }
}

/// `skynet.packstring(...)`: the encoding of all arguments as a Lua string.
///
/// # Safety
/// Called by Lua as a C function.
pub unsafe extern "C-unwind" fn packstring(state: *mut lua_State) -> c_int {
    let mut out = Vec::new();
    // SAFETY: the encoding and the string push run protected, so an error cannot skip `out`'s
    // destructor; the error value is re-raised once `out` is gone.
    unsafe {
        let nargs = ffi::lua_gettop(state);
        let status = raw::protect(state, nargs, 1, &mut |state| {
            encode(state, 1, &mut out);
            ffi::lua_pushlstring(state, out.as_ptr().cast(), out.len());
            1
        });
        drop(out);
        if status != ffi::LUA_OK {
            raw::raise_top(state);
        }
        1
    }
}

/// `unpackstring(s)`: every value encoded in string `s` (a non-string decodes as empty).
///
/// # Safety
/// Called by Lua as a C function.
pub unsafe extern "C-unwind" fn unpackstring(state: *mut lua_State) -> c_int {
    // SAFETY: the argument string stays on the stack while it is decoded; nothing here owns a
    // destructor.
    unsafe {
        let bytes = raw::string_at(state, 1).unwrap_or_default();
        decode(state, bytes)
    }
}

/// `depth` counts the tables enclosing the value at `index`.
unsafe fn encode_value(state: *mut lua_State, index: c_int, depth: usize, out: &mut Vec<u8>) {
    // SAFETY: the callers pass a valid stack index of a live state.
    unsafe {
        // skynet checks before looking at the type, so even a nil this deep is refused.
        if depth > MAX_DEPTH {
            raw::raise(state, format_args!("serialize can't pack too depth table"));
        }
        match ffi::lua_type(state, index) {
            ffi::LUA_TNIL => wire::write_nil(out),
            ffi::LUA_TBOOLEAN => wire::write_bool(out, ffi::lua_toboolean(state, index) != 0),
            ffi::LUA_TNUMBER => {
                if ffi::lua_isinteger(state, index) != 0 {
                    wire::write_integer(out, ffi::lua_tointeger(state, index));
                } else {
                    wire::write_real(out, ffi::lua_tonumber(state, index));
                }
            }
            // Exposed: the address may be a real buffer the host later takes back.
            ffi::LUA_TLIGHTUSERDATA => {
                let mut pointer = ffi::lua_touserdata(state, index).expose_provenance();
                // One of this VM's message blocks travels with the message (see `buffers`); a
                // service that is not trusted keeps its blocks (a travelling one is beyond its
                // tenant's memory until its receiver frees it).
                if let Some(ctx) = super::native::ctx(state)
                    && ctx.service.profile().is_trusted()
                    && let Ok(mut st) = ctx.state.try_borrow_mut()
                    && let Some(handle) = st.buffers.depart(pointer)
                {
                    pointer = handle;
                }
                wire::write_pointer(out, pointer as u64)
            }
            ffi::LUA_TSTRING => {
                let bytes = raw::string_at(state, index).unwrap_or_default();
                if let Err(err) = wire::write_string(out, bytes) {
                    raw::raise(state, format_args!("{err}"));
                }
            }
            ffi::LUA_TTABLE => encode_table(state, ffi::lua_absindex(state, index), depth + 1, out),
            _ => raw::raise(
                state,
                format_args!("unsupported type {} to serialize", raw::type_name(state, index)),
            ),
        }
    }
}

/// `depth` is the nesting level of the table at `index` (1 for a top-level table); `index` is
/// absolute.
unsafe fn encode_table(state: *mut lua_State, index: c_int, depth: usize, out: &mut Vec<u8>) {
    // SAFETY: `index` is an absolute index of a table on a live state; every push is popped
    // before returning.
    unsafe {
        ffi::luaL_checkstack(state, ffi::LUA_MINSTACK, std::ptr::null());
        if ffi::luaL_getmetafield(state, index, c"__pairs".as_ptr()) != ffi::LUA_TNIL {
            encode_meta_pairs(state, index, depth, out);
            return;
        }
        let len = ffi::lua_rawlen(state, index);
        wire::write_table_header(out, len);
        for i in 1..=len {
            ffi::lua_rawgeti(state, index, i as ffi::lua_Integer);
            encode_value(state, -1, depth, out);
            ffi::lua_pop(state, 1);
        }
        ffi::lua_pushnil(state);
        while ffi::lua_next(state, index) != 0 {
            let in_array = ffi::lua_isinteger(state, -2) != 0
                && usize::try_from(ffi::lua_tointeger(state, -2)).is_ok_and(|i| (1..=len).contains(&i));
            if !in_array {
                encode_value(state, -2, depth, out);
                encode_value(state, -1, depth, out);
            }
            ffi::lua_pop(state, 1);
        }
        wire::write_nil(out);
    }
}

/// Runs the generic `for` protocol by hand: `__pairs(t)` (on top of the stack) gives
/// `next, state, control`; `next(state, control)` gives each pair until a nil key.
unsafe fn encode_meta_pairs(state: *mut lua_State, index: c_int, depth: usize, out: &mut Vec<u8>) {
    // SAFETY: as `encode_table`; lua_call honours `__call` on tables and userdata, as a `for`
    // loop would.
    unsafe {
        wire::write_table_header(out, 0);
        ffi::lua_pushvalue(state, index);
        ffi::lua_call(state, 1, 3);
        loop {
            ffi::lua_pushvalue(state, -3);
            ffi::lua_pushvalue(state, -3);
            ffi::lua_pushvalue(state, -3);
            ffi::lua_call(state, 2, 2);
            if ffi::lua_type(state, -2) == ffi::LUA_TNIL {
                ffi::lua_pop(state, 5);
                break;
            }
            encode_value(state, -2, depth, out);
            encode_value(state, -1, depth, out);
            // The key becomes the control value.
            ffi::lua_pop(state, 1);
            ffi::lua_replace(state, -2);
        }
        wire::write_nil(out);
    }
}

// `invalid` raises with the error still on its frame: it must have no destructor to skip.
const _: () = assert!(!std::mem::needs_drop::<DecodeError>());

/// A malformed stream, as a Lua error ("invalid serialize stream at byte N of M: ...").
#[cold]
unsafe fn invalid(state: *mut lua_State, err: DecodeError) -> ! {
    // SAFETY: the message is formatted into a fixed buffer; `err` is gone before the raise.
    unsafe { raw::raise(state, format_args!("{err}")) }
}

/// `depth` counts the tables enclosing the value about to be read.
unsafe fn decode_value(state: *mut lua_State, reader: &mut Reader<'_>, depth: usize) {
    // SAFETY: `state` is live with a free stack slot (checked by the callers).
    unsafe {
        let (kind, cookie) = reader.header().unwrap_or_else(|e| invalid(state, e));
        match kind {
            wire::TYPE_NIL => ffi::lua_pushnil(state),
            wire::TYPE_BOOLEAN => ffi::lua_pushboolean(state, c_int::from(cookie != 0)),
            wire::TYPE_NUMBER if cookie == wire::NUMBER_REAL => {
                let bytes = reader.array().unwrap_or_else(|e| invalid(state, e));
                ffi::lua_pushnumber(state, f64::from_le_bytes(bytes));
            }
            wire::TYPE_NUMBER => {
                let n = reader.integer(cookie).unwrap_or_else(|e| invalid(state, e));
                ffi::lua_pushinteger(state, n);
            }
            wire::TYPE_USERDATA => {
                // The pointer field is 8 bytes wide, and so is the address on the hosts skybox
                // runs on.
                let addr = u64::from_le_bytes(reader.array().unwrap_or_else(|e| invalid(state, e))) as usize;
                ffi::lua_pushlightuserdata(state, std::ptr::with_exposed_provenance_mut::<c_void>(addr));
            }
            wire::TYPE_SHORT_STRING => {
                let bytes = reader.bytes(usize::from(cookie)).unwrap_or_else(|e| invalid(state, e));
                ffi::lua_pushlstring(state, bytes.as_ptr().cast(), bytes.len());
            }
            wire::TYPE_LONG_STRING => {
                let bytes = reader.long_string(cookie).unwrap_or_else(|e| invalid(state, e));
                ffi::lua_pushlstring(state, bytes.as_ptr().cast(), bytes.len());
            }
            wire::TYPE_TABLE => decode_table(state, reader, cookie, depth + 1),
            _ => {
                let err = reader.error(DecodeReason::UnknownType(kind));
                invalid(state, err)
            }
        }
    }
}

/// `depth` is the nesting level of the table being read (1 for a top-level table).
unsafe fn decode_table(state: *mut lua_State, reader: &mut Reader<'_>, cookie: u8, depth: usize) {
    // SAFETY: as `decode_value`; the table stays on top while its items are set.
    unsafe {
        if depth > MAX_DECODE_DEPTH {
            let err = reader.error(DecodeReason::TooDeep);
            invalid(state, err);
        }
        // Bounded by the data left, whatever the stream claims.
        let len = reader.array_len(cookie).unwrap_or_else(|e| invalid(state, e));
        // A value inside more than MAX_DEPTH tables could not be packed again: the deepest
        // table must be empty (as the SDK's decoder says).
        let deepest = depth > MAX_DEPTH;
        if deepest && len > 0 {
            invalid(state, reader.error(DecodeReason::TooDeep));
        }
        ffi::luaL_checkstack(state, 3, c"table too deep to unpack".as_ptr());
        // Room for a few items ahead (PREALLOCATE): nested tables each claiming the bytes left
        // would otherwise reserve far more than the message holds.
        ffi::lua_createtable(state, len.min(PREALLOCATE) as c_int, 0);
        for i in 1..=len {
            decode_value(state, reader, depth);
            ffi::lua_rawseti(state, -2, i as ffi::lua_Integer);
        }
        loop {
            decode_value(state, reader, depth);
            if ffi::lua_type(state, -1) == ffi::LUA_TNIL {
                ffi::lua_pop(state, 1);
                break;
            }
            if deepest {
                invalid(state, reader.error(DecodeReason::TooDeep));
            }
            decode_value(state, reader, depth);
            ffi::lua_rawset(state, -3);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mlua::{LightUserData, Table};
    use std::ptr;

    fn eval(lua: &Lua, src: &str) -> MultiValue {
        lua.load(format!("return {src}")).eval().unwrap()
    }

    fn enc(lua: &Lua, src: &str) -> Vec<u8> {
        let mut values = eval(lua, src);
        pack(lua, values.make_contiguous()).unwrap_or_else(|e| panic!("pack {src}: {e}"))
    }

    fn enc_err(lua: &Lua, src: &str) -> String {
        let values = eval(lua, src);
        let values: Vec<Value> = values.into_iter().collect();
        pack(lua, &values).unwrap_err().to_string()
    }

    fn cat(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    /// Structural equality that keeps integer and float apart; tables compare by content.
    fn same(a: &Value, b: &Value) -> bool {
        match (a, b) {
            (Value::Nil, Value::Nil) => true,
            (Value::Boolean(x), Value::Boolean(y)) => x == y,
            (Value::Integer(x), Value::Integer(y)) => x == y,
            (Value::Number(x), Value::Number(y)) => x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()),
            (Value::String(x), Value::String(y)) => *x.as_bytes() == *y.as_bytes(),
            (Value::LightUserData(x), Value::LightUserData(y)) => x == y,
            (Value::Table(x), Value::Table(y)) => same_table(x, y),
            _ => false,
        }
    }

    fn same_table(x: &Table, y: &Table) -> bool {
        let pairs =
            |t: &Table| -> Vec<(Value, Value)> { t.pairs::<Value, Value>().map(|p| p.unwrap()).collect() };
        let (xs, ys) = (pairs(x), pairs(y));
        xs.len() == ys.len()
            && xs.iter().all(|(k, v)| match k {
                // Table keys are identities, so look for a structurally equal entry.
                Value::Table(_) => ys.iter().any(|(k2, v2)| same(k, k2) && same(v, v2)),
                _ => same(v, &y.raw_get::<Value>(k.clone()).unwrap()),
            })
    }

    fn roundtrip(lua: &Lua, values: &[Value]) -> MultiValue {
        let bytes = pack(lua, values).unwrap();
        let back = unpack(lua, &bytes).unwrap();
        assert_eq!(back.len(), values.len());
        for (a, b) in values.iter().zip(back.iter()) {
            assert!(same(a, b), "{a:?} != {b:?}");
        }
        back
    }

    #[test]
    fn scalars() {
        let lua = Lua::new();
        assert_eq!(enc(&lua, "nil"), [0x00]);
        assert_eq!(enc(&lua, "false"), [0x01]);
        assert_eq!(enc(&lua, "true"), [0x09]);
        assert_eq!(enc(&lua, "nil, true, nil"), [0x00, 0x09, 0x00]);
        assert!(enc(&lua, "").is_empty());
    }

    #[test]
    fn integers() {
        let lua = Lua::new();
        let cases: &[(&str, &[u8])] = &[
            ("0", &[0x02]),
            ("1", &[0x0a, 0x01]),
            ("-1", &[0x22, 0xff, 0xff, 0xff, 0xff]),
            ("255", &[0x0a, 0xff]),
            ("256", &[0x12, 0x00, 0x01]),
            ("65535", &[0x12, 0xff, 0xff]),
            ("65536", &[0x22, 0x00, 0x00, 0x01, 0x00]),
            ("-70000", &[0x22, 0x90, 0xee, 0xfe, 0xff]),
            ("0x7fffffff", &[0x22, 0xff, 0xff, 0xff, 0x7f]),
            ("-0x80000000", &[0x22, 0x00, 0x00, 0x00, 0x80]),
            ("0x80000000", &[0x32, 0, 0, 0, 0x80, 0, 0, 0, 0]),
            ("-0x80000001", &[0x32, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff]),
            ("1 << 40", &[0x32, 0, 0, 0, 0, 0, 0x01, 0, 0]),
            ("math.mininteger", &[0x32, 0, 0, 0, 0, 0, 0, 0, 0x80]),
            ("math.maxinteger", &[0x32, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]),
        ];
        for (src, bytes) in cases {
            assert_eq!(enc(&lua, src), *bytes, "{src}");
            let back = unpack(&lua, bytes).unwrap();
            assert!(same(&back[0], &eval(&lua, src)[0]), "{src}");
        }
    }

    #[test]
    fn reals_stay_reals() {
        let lua = Lua::new();
        assert_eq!(enc(&lua, "1.5"), [0x42, 0, 0, 0, 0, 0, 0, 0xf8, 0x3f]);
        // 2.0 is a float in Lua 5.4 and 5.5 and must not collapse into an integer.
        assert_eq!(enc(&lua, "2.0"), [0x42, 0, 0, 0, 0, 0, 0, 0, 0x40]);
        assert_eq!(enc(&lua, "-0.0"), [0x42, 0, 0, 0, 0, 0, 0, 0, 0x80]);
        assert_eq!(enc(&lua, "1/0"), [0x42, 0, 0, 0, 0, 0, 0, 0xf0, 0x7f]);
        let back = unpack(&lua, &enc(&lua, "2.0, 2, 0/0")).unwrap();
        assert!(matches!(back[0], Value::Number(x) if x == 2.0));
        assert!(matches!(back[1], Value::Integer(2)));
        assert!(matches!(back[2], Value::Number(x) if x.is_nan()));
    }

    #[test]
    fn strings() {
        let lua = Lua::new();
        assert_eq!(enc(&lua, "''"), [0x04]);
        assert_eq!(enc(&lua, "'hi'"), [0x14, b'h', b'i']);
        let s31 = "a".repeat(31);
        assert_eq!(enc(&lua, &format!("'{s31}'")), cat(&[&[0xfc], s31.as_bytes()]));
        let s32 = "b".repeat(32);
        assert_eq!(enc(&lua, &format!("'{s32}'")), cat(&[&[0x15, 0x20, 0x00], s32.as_bytes()]));
        assert_eq!(enc(&lua, "('c'):rep(65535)"), cat(&[&[0x15, 0xff, 0xff], &[b'c'; 65535]]));
        assert_eq!(enc(&lua, "('d'):rep(70000)"), cat(&[&[0x25, 0x70, 0x11, 0x01, 0x00], &[b'd'; 70000]]));
        // Binary content, embedded zeros included.
        assert_eq!(enc(&lua, "'\\0\\255'"), [0x14, 0x00, 0xff]);
        let values: Vec<Value> =
            eval(&lua, "'', 'x', ('y'):rep(31), ('z'):rep(32), ('w'):rep(70000)").into_iter().collect();
        roundtrip(&lua, &values);
    }

    #[test]
    fn light_userdata() {
        let lua = Lua::new();
        let p = LightUserData(ptr::with_exposed_provenance_mut(0x1234_5678));
        let bytes = pack(&lua, &[Value::LightUserData(p)]).unwrap();
        let mut expected = vec![0x03];
        expected.extend_from_slice(&0x1234_5678usize.to_le_bytes());
        assert_eq!(bytes, expected);
        let back = unpack(&lua, &bytes).unwrap();
        assert!(matches!(back[0], Value::LightUserData(q) if q == p));
    }

    #[test]
    fn tables() {
        let lua = Lua::new();
        assert_eq!(enc(&lua, "{}"), [0x06, 0x00]);
        assert_eq!(enc(&lua, "{1, 2, 3}"), [0x1e, 0x0a, 0x01, 0x0a, 0x02, 0x0a, 0x03, 0x00]);
        assert_eq!(enc(&lua, "{{}}"), [0x0e, 0x06, 0x00, 0x00]);
        assert_eq!(
            enc(&lua, "{{1}, {x = 'y'}}"),
            [0x16, 0x0e, 0x0a, 0x01, 0x00, 0x06, 0x0c, b'x', 0x0c, b'y', 0x00, 0x00]
        );
        // Array part then hash part.
        assert_eq!(enc(&lua, "{10, x = 1}"), [0x0e, 0x0a, 0x0a, 0x0c, b'x', 0x0a, 0x01, 0x00]);
        // An integer key past the border goes to the hash part with its integer type.
        assert_eq!(enc(&lua, "{1, [5] = 2}"), [0x0e, 0x0a, 0x01, 0x0a, 0x05, 0x0a, 0x02, 0x00]);
        // Float and boolean keys.
        assert_eq!(enc(&lua, "{[1.5] = true}"), [0x06, 0x42, 0, 0, 0, 0, 0, 0, 0xf8, 0x3f, 0x09, 0x00]);
        // The array part is 1..#t whatever border Lua picks (5.4 keeps 3 here, 5.5 answers 1):
        // a hole inside it is written as nil, an element past it goes to the hash part.
        let t: Table = lua.load("local t = {1, 2, 3}; t[2] = nil; return t").eval().unwrap();
        let expected: &[u8] = match t.raw_len() {
            3 => &[0x1e, 0x0a, 0x01, 0x00, 0x0a, 0x03, 0x00],
            1 => &[0x0e, 0x0a, 0x01, 0x0a, 0x03, 0x0a, 0x03, 0x00],
            len => panic!("#t is {len}, not a border of {{1, nil, 3}}"),
        };
        assert_eq!(pack(&lua, &[Value::Table(t)]).unwrap(), expected);
        // Metatables without __pairs are ignored, __index included.
        assert_eq!(
            enc(&lua, "setmetatable({7}, {__index = function() return 1 end})"),
            [0x0e, 0x0a, 0x07, 0x00]
        );
    }

    #[test]
    fn long_array_parts() {
        let lua = Lua::new();
        let items = |n: u8| (1..=n).flat_map(|i| [0x0a, i]).collect::<Vec<u8>>();
        let list = |n: u32| format!("{{{}}}", (1..=n).map(|i| i.to_string()).collect::<Vec<_>>().join(","));

        assert_eq!(enc(&lua, &list(30)), cat(&[&[0xf6], &items(30), &[0x00]]));
        // 31 and up: cookie 31, then the length as a number value.
        assert_eq!(enc(&lua, &list(31)), cat(&[&[0xfe, 0x0a, 31], &items(31), &[0x00]]));
        assert_eq!(enc(&lua, &list(40)), cat(&[&[0xfe, 0x0a, 40], &items(40), &[0x00]]));
        let bytes = enc(&lua, "(function() local t = {} for i = 1, 300 do t[i] = 0 end return t end)()");
        assert_eq!(bytes[..4], [0xfe, 0x12, 0x2c, 0x01]);
        assert_eq!(bytes.len(), 4 + 300 + 1);

        for n in [30, 31, 32, 300, 70000] {
            let t: Table = lua
                .load(format!("local t = {{}} for i = 1, {n} do t[i] = i * 3 end t.k = 'v' return t"))
                .eval()
                .unwrap();
            let back = roundtrip(&lua, &[Value::Table(t)]);
            assert_eq!(back[0].as_table().unwrap().raw_len(), n);
        }
    }

    #[test]
    fn pairs_metamethod() {
        let lua = Lua::new();
        // The iterator's view replaces the raw content, and the array part is empty.
        assert_eq!(
            enc(&lua, "setmetatable({1, 2}, {__pairs = function(t) return next, {a = 1}, nil end})"),
            [0x06, 0x0c, b'a', 0x0a, 0x01, 0x00]
        );
        assert_eq!(
            enc(&lua, "setmetatable({5, 6}, {__pairs = function(t) return next, t, nil end})"),
            [0x06, 0x0a, 0x01, 0x0a, 0x05, 0x0a, 0x02, 0x0a, 0x06, 0x00]
        );
        // A stateful iterator: the control value is threaded through like a generic `for`.
        let src = "setmetatable({}, {__pairs = function(t)
            return function(s, k) if k < s then return k + 1, k * 10 end end, 3, 0
        end})";
        assert_eq!(enc(&lua, src), [0x06, 0x0a, 1, 0x02, 0x0a, 2, 0x0a, 10, 0x0a, 3, 0x0a, 20, 0x00]);
        // Errors from the iterator propagate.
        let err = enc_err(&lua, "setmetatable({}, {__pairs = function() error('boom') end})");
        assert!(err.contains("boom"), "{err}");
        let err = enc_err(&lua, "setmetatable({}, {__pairs = 42})");
        assert!(err.contains("attempt to call"), "{err}");
    }

    #[test]
    fn plain_values_take_the_unprotected_path_with_the_same_bytes() {
        let lua = Lua::new();
        let plain = eval(&lua, "1, -2.5, true, nil, 'short', string.rep('x', 300)");
        let expected = pack(&lua, &plain.iter().cloned().collect::<Vec<_>>()).unwrap();
        let mut fast = None;
        // SAFETY: exec_raw runs the closure with the values on the stack; nothing in it raises.
        unsafe {
            lua.exec_raw::<()>(plain, |state| {
                fast = encode_plain(state, 1);
                ffi::lua_settop(state, 0);
            })
            .unwrap();
        }
        assert_eq!(fast.as_ref(), Some(&expected));
        assert_eq!(fast.unwrap().capacity(), 9 + 9 + 1 + 1 + 10 + 305, "sized up front");
        let tables = eval(&lua, "1, {}");
        // SAFETY: as above.
        unsafe {
            lua.exec_raw::<()>(tables, |state| {
                assert!(encode_plain(state, 1).is_none(), "a table is not plain");
                ffi::lua_settop(state, 0);
            })
            .unwrap();
        }
        let scalars = pack(&lua, &eval(&lua, "7, 1.5, false, nil").into_iter().collect::<Vec<_>>()).unwrap();
        // SAFETY: as above.
        unsafe {
            lua.exec_raw::<()>((), |state| {
                assert_eq!(decode_plain(state, &scalars), Some(4));
                assert_eq!(ffi::lua_tointeger(state, 1), 7);
                assert_eq!(ffi::lua_tonumber(state, 2), 1.5);
                ffi::lua_settop(state, 0);
                assert_eq!(decode_plain(state, &expected), None, "strings allocate");
                assert_eq!(decode_plain(state, &[0x02 | (6 << 3)]), None, "malformed");
                assert_eq!(ffi::lua_gettop(state), 0, "nothing pushed when refused");
            })
            .unwrap();
        }
    }

    #[test]
    fn depth_limit() {
        let lua = Lua::new();
        lua.load("function nest(n, leaf) local t = leaf for _ = 1, n do t = {t} end return t end")
            .exec()
            .unwrap();

        // 32 tables with a value in the innermost: the deepest skynet accepts.
        let bytes = enc(&lua, "nest(32, 1)");
        assert_eq!(bytes, cat(&[&[0x0e; 32], &[0x0a, 0x01], &[0x00; 32]]));
        let back = unpack(&lua, &bytes).unwrap();
        assert!(same(&back[0], &eval(&lua, "nest(32, 1)")[0]));

        let err = enc_err(&lua, "nest(33, 1)");
        assert!(err.contains("serialize can't pack too depth table"), "{err}");
        // The check is on values inside tables, so one more empty level still fits.
        let bytes = enc(&lua, "nest(32, {})");
        assert_eq!(bytes, cat(&[&[0x0e; 32], &[0x06, 0x00], &[0x00; 32]]));
        assert!(unpack(&lua, &bytes).is_ok());
        assert!(enc_err(&lua, "nest(33, {})").contains("too depth"));
        // What cannot be packed is not unpacked either: a value inside 33 tables (found by
        // fuzzing: it decoded, and could not be sent on).
        let too_deep = cat(&[&[0x0e; 33], &[0x02], &[0x00; 33]]);
        assert!(unpack(&lua, &too_deep).is_err());
        // Keys count too.
        assert!(enc_err(&lua, "nest(31, {[nest(2, 1)] = 1})").contains("too depth"));

        // A self-referencing table hits the limit instead of looping.
        assert!(enc_err(&lua, "(function() local t = {} t[1] = t return t end)()").contains("too depth"));
    }

    #[test]
    fn unsupported_types() {
        let lua = Lua::new();
        for (src, name) in [
            ("print", "function"),
            ("coroutine.create(print)", "thread"),
            ("{f = function() end}", "function"),
            ("io.stdout", "userdata"),
        ] {
            let err = enc_err(&lua, src);
            assert!(err.contains(&format!("unsupported type {name}")), "{src}: {err}");
        }
    }

    #[test]
    fn lua_vm_roundtrip() {
        let lua = Lua::new();
        let g = lua.globals();
        // SAFETY: both follow the lua_CFunction protocol.
        unsafe {
            g.set("pack", lua.create_c_function(packstring).unwrap()).unwrap();
            g.set("unpack", lua.create_c_function(unpackstring).unwrap()).unwrap();
        }
        lua.load(
            r##"
            local a, b, c, d, e, f = unpack(pack(nil, 3, 3.0, "s", {1, 2.5, x = {y = true}}, false))
            assert(a == nil and b == 3 and c == 3.0 and d == "s" and f == false)
            assert(math.type(b) == "integer" and math.type(c) == "float")
            assert(e[1] == 1 and math.type(e[1]) == "integer" and e[2] == 2.5 and e.x.y == true)
            assert(select("#", unpack(pack(nil, nil))) == 2)
            assert(select("#", unpack(pack())) == 0)

            local big = {}
            for i = 1, 100 do big[i] = i end
            big[-1] = math.mininteger
            big[0] = -0.0
            big[1000] = ("x"):rep(1000)
            big[math.maxinteger] = 1e300
            big[{k = 1}] = "table key"
            local r = unpack(pack(big))
            for i = 1, 100 do assert(r[i] == i and math.type(r[i]) == "integer") end
            assert(#r == 100)
            assert(r[-1] == math.mininteger and math.type(r[0]) == "float" and 1 / r[0] < 0)
            assert(r[1000] == ("x"):rep(1000) and r[math.maxinteger] == 1e300)
            local found
            for key, v in pairs(r) do if type(key) == "table" then found = key.k == 1 and v == "table key" end end
            assert(found)

            -- Unpacked tables are plain: no metatable, even if the source had __pairs.
            local p = unpack(pack(setmetatable({}, {__pairs = function(t) return next, {9}, nil end})))
            assert(getmetatable(p) == nil and p[1] == 9)
        "##,
        )
        .exec()
        .unwrap();
    }

    #[test]
    fn malformed_input() {
        let lua = Lua::new();
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
            let err = unpack(&lua, bytes).expect_err(what).to_string();
            assert!(!err.is_empty(), "{what}");
        }
        let err = unpack(&lua, &[0x09, 0x07]).unwrap_err().to_string();
        assert!(err.contains("invalid serialize stream at byte 2 of 2"), "{err}");

        // Every proper prefix of one value is incomplete.
        let full = enc(&lua, "{1, -1, 1 << 40, 1.5, ('s'):rep(40), {x = 'y', [true] = {}}, k = 'v'}");
        for cut in 1..full.len() {
            assert!(unpack(&lua, &full[..cut]).is_err(), "prefix {cut}");
        }

        // Lenient where skynet is: any nonzero boolean cookie is true, nil ignores its cookie.
        let back = unpack(&lua, &[0x11, 0xf8]).unwrap();
        assert!(matches!(back[0], Value::Boolean(true)) && back[1].is_nil());
        // A long string may carry a short length.
        let back = unpack(&lua, &[0x15, 0x01, 0x00, b'z']).unwrap();
        assert!(same(&back[0], &eval(&lua, "'z'")[0]));
        assert!(unpack(&lua, &[]).unwrap().is_empty());
    }

    #[test]
    fn decode_depth_limit() {
        let lua = Lua::new();
        let nested = |n: usize| cat(&[&vec![0x0e; n - 1], &[0x06, 0x00], &vec![0x00; n - 1]]);
        assert!(unpack(&lua, &nested(MAX_DECODE_DEPTH)).is_ok());
        let err = unpack(&lua, &nested(MAX_DECODE_DEPTH + 1)).unwrap_err().to_string();
        assert!(err.contains("nested too deep"), "{err}");
        // Far beyond: must fail cleanly, not overflow the stack.
        assert!(unpack(&lua, &vec![0x0e; 1 << 20]).is_err());
        assert!(unpack(&lua, &vec![0x06; 1 << 20]).is_err());
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
    }

    fn random_integer(rng: &mut Rng) -> i64 {
        const EDGES: [i64; 12] =
            [0, 1, -1, 255, 256, 65535, 65536, i32::MAX as i64, i32::MIN as i64, 1 << 31, i64::MIN, i64::MAX];
        match rng.below(3) {
            0 => EDGES[rng.below(EDGES.len() as u64) as usize],
            // Random magnitude so every width gets exercised.
            1 => (rng.next() as i64) >> rng.below(64),
            _ => rng.below(40) as i64 - 5,
        }
    }

    fn random_key(lua: &Lua, rng: &mut Rng) -> Value {
        match rng.below(5) {
            0 => Value::Integer(random_integer(rng)),
            1 => Value::Number(rng.below(1000) as f64 + 0.25),
            2 => Value::Boolean(rng.below(2) == 0),
            _ => random_string(lua, rng),
        }
    }

    fn random_string(lua: &Lua, rng: &mut Rng) -> Value {
        let len = match rng.below(10) {
            0 => 32 + rng.below(300),
            1 => 31,
            _ => rng.below(12),
        } as usize;
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        Value::String(lua.create_string(bytes).unwrap())
    }

    /// `budget` caps the node count so wide arrays cannot compound into huge trees.
    fn random_value(lua: &Lua, rng: &mut Rng, depth: usize, budget: &mut u32) -> Value {
        *budget = budget.saturating_sub(1);
        let kinds = if depth >= 5 || *budget == 0 { 6 } else { 8 };
        match rng.below(kinds) {
            0 => Value::Boolean(rng.below(2) == 0),
            1 | 2 => Value::Integer(random_integer(rng)),
            3 => Value::Number(f64::from_bits(rng.next())),
            4 => Value::LightUserData(LightUserData(ptr::with_exposed_provenance_mut(rng.next() as usize))),
            5 => random_string(lua, rng),
            _ => {
                let array = match rng.below(4) {
                    0 => 31 + rng.below(40),
                    _ => rng.below(6),
                };
                let t = lua.create_table().unwrap();
                for i in 1..=array {
                    t.raw_set(i, random_value(lua, rng, depth + 1, budget)).unwrap();
                }
                for _ in 0..rng.below(6) {
                    let key = random_key(lua, rng);
                    t.raw_set(key, random_value(lua, rng, depth + 1, budget)).unwrap();
                }
                Value::Table(t)
            }
        }
    }

    #[test]
    fn random_roundtrip() {
        let lua = Lua::new();
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..1000 {
            let count = rng.below(4) as usize;
            let mut budget = 200;
            let values: Vec<Value> = (0..count)
                .map(|_| match rng.below(8) {
                    0 => Value::Nil,
                    _ => random_value(&lua, &mut rng, 0, &mut budget),
                })
                .collect();
            let bytes = pack(&lua, &values).unwrap();
            let back = roundtrip(&lua, &values);
            // Re-encoding the decoded values decodes to the same thing again (not always to
            // the same bytes: a rebuilt table may place its border elsewhere).
            let mut back = back;
            let again = pack(&lua, back.make_contiguous()).unwrap();
            let back2 = unpack(&lua, &again).unwrap();
            assert!(values.iter().zip(back2.iter()).all(|(a, b)| same(a, b)));

            // Damaged copies must fail or decode, never panic.
            let mut damaged = bytes.clone();
            if !damaged.is_empty() {
                for _ in 0..3 {
                    let i = rng.below(damaged.len() as u64) as usize;
                    damaged[i] = rng.next() as u8;
                }
                let _ = unpack(&lua, &damaged);
                let cut = rng.below(damaged.len() as u64) as usize;
                let _ = unpack(&lua, &damaged[..cut]);
            }
        }
        // Pure noise as well.
        for _ in 0..2000 {
            let noise: Vec<u8> = (0..rng.below(64)).map(|_| rng.next() as u8).collect();
            let _ = unpack(&lua, &noise);
        }
    }
}
