//! The `lua` wire format: `skynet.pack` / `skynet.unpack`, byte-compatible with skynet's
//! `lua-seri.c` and with the host's codec (`host/src/lua/seri.rs`).
//!
//! A message payload is a *stream* of values (`skynet.pack(a, b, c)` is three values). Each value
//! starts with a header byte: the low 3 bits are the type, the high 5 bits a "cookie". Multi-byte
//! fields are little-endian.
//!
//! | type | cookie | payload |
//! |------|--------|---------|
//! | 0 nil | ignored | none |
//! | 1 boolean | 0 false, otherwise true | none |
//! | 2 number | 0 zero, 1 `u8`, 2 `u16`, 4 `i32`, 6 `i64`, 8 `f64` | 0, 1, 2, 4, 8 or 8 bytes |
//! | 3 light userdata | ignored | the host's pointer, 8 bytes (skybox hosts are 64-bit) |
//! | 4 short string | length, 0..=31 | bytes |
//! | 5 long string | 2 or 4: width of the length field | length, bytes |
//! | 6 table | array length, or 31 then the length as a number value | array items, key/value pairs, nil |
//!
//! Quirks kept for compatibility: only the 1- and 2-byte integer forms are unsigned, so every
//! negative integer takes at least 4 bytes; integers and reals stay distinct (`2` and `2.0`
//! encode differently, as in Lua 5.4); nothing may be nested deeper than 32 tables.
//!
//! Two levels of API:
//!
//! - dynamic: [`Value`] (with skynet's array/hash split, so decoding then re-encoding gives the
//!   same bytes), [`encode`] and [`decode`];
//! - typed, through serde: [`to_bytes`] / [`from_bytes`] for a message (an argument list, see
//!   below), [`to_value`] / [`from_value`] for one value.
//!
//! Underneath both, [`wire`] is the byte level (header bytes, writers, a bounds-checked reader),
//! public so that other implementations of the format (the host's, on Lua values) share it.
//!
//! # The serde mapping
//!
//! One value:
//!
//! | Rust | lua |
//! |------|-----|
//! | `bool` | boolean |
//! | integers | integer (an `u64`/`u128` above `i64::MAX` is an error) |
//! | `f32`, `f64` | real |
//! | `char`, `str`, `String`, bytes (`serde_bytes`) | string (Lua strings are bytes) |
//! | `None`, `()`, unit struct | nil |
//! | `Some(x)`, newtype struct | `x` |
//! | sequence, tuple, tuple struct, array `[T; N]` | array table `{a, b, c}` |
//! | map | hash table; pairs whose value is nil are left out (a Lua table cannot hold them) |
//! | struct | hash table with string keys; fields that are nil (`None`) are left out |
//! | unit variant `E::A` | the string `"A"` |
//! | other variants `E::B(..)` | a one-pair table `{ B = payload }` (payload as for a newtype, tuple or struct) |
//!
//! Reading is lenient where Lua is: an integral real reads as an integer and an integer as a
//! real; a missing struct field of type `Option` reads as `None` (serde's default); a struct
//! may also be read from an array table (fields in declaration order); a tuple shorter than
//! expected is padded with nils.
//!
//! A *message* (the top level of [`to_bytes`] / [`from_bytes`]) is an argument list, as in
//! `skynet.pack(...)` and `skynet.unpack(msg)`:
//!
//! | Rust | values |
//! |------|--------|
//! | tuple `(a, b, c)`, tuple struct, array `[T; N]` (a tuple to serde) | `a, b, c` (so `(x,)` is the one value `x`) |
//! | `()`, unit struct | no value at all |
//! | enum variant `Cmd::Add(1, 2)` | `"Add", 1, 2`: the skynet command convention; a unit variant is its name alone, a struct variant its name then its fields in order |
//! | newtype struct | whatever its content gives |
//! | anything else | one value |
//!
//! When reading a message, missing trailing values read as nil and extra values are ignored,
//! like the arguments of a Lua function: `from_bytes::<(String, Option<i64>)>` accepts `"x"`
//! alone, and `from_bytes::<i64>` reads the first value. Use `#[serde(rename_all =
//! "lowercase")]` (or `rename`) to match the command names Lua code sends.

mod de;
mod ser;
mod value;
pub mod wire;

use std::fmt;

pub use de::{from_bytes, from_value};
pub use ser::{to_bytes, to_value};
pub use value::{Table, Value};

/// skynet refuses to pack a value inside more than this many tables.
pub const MAX_DEPTH: usize = 32;

/// The deepest table nesting a stream may hold: a value inside [`MAX_DEPTH`] tables is still
/// accepted, and it may itself be a table, an empty one (what can be packed again). Matches the
/// host's decoder.
pub const MAX_DECODE_DEPTH: usize = MAX_DEPTH + 1;

/// The most array items a decoder reserves room for before reading them (the rest grow as they
/// come): a stream's claims cost at most this much memory ahead of its bytes.
pub const PREALLOCATE: usize = 64;

/// Encodes `values` as one stream (what `skynet.pack(v1, v2, ...)` returns).
///
/// Fails, like skynet, for values nested deeper than [`MAX_DEPTH`] tables; also for a nil or
/// NaN table key (Lua tables cannot hold them, and a nil key would end the table early) and for
/// a string longer than `i32::MAX` bytes.
pub fn encode(values: &[Value]) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::new();
    encode_into(&mut out, values)?;
    Ok(out)
}

/// Appends the encoding of `values` to `out`. On error `out` is left as it was.
pub fn encode_into(out: &mut Vec<u8>, values: &[Value]) -> Result<(), EncodeError> {
    let start = out.len();
    let result = values.iter().try_for_each(|value| value::encode_value(out, value, 0));
    if result.is_err() {
        out.truncate(start);
    }
    result
}

/// Decodes every value of a stream, in order (what `skynet.unpack(msg)` returns).
///
/// Hardened for untrusted input: it never panics, never reads out of bounds, allocates at most
/// in proportion to `data.len()` whatever lengths the stream claims, and refuses tables nested
/// deeper than [`MAX_DECODE_DEPTH`], exactly where the host's decoder does.
pub fn decode(data: &[u8]) -> Result<Vec<Value>, DecodeError> {
    let mut reader = wire::Reader::new(data);
    let mut values = Vec::new();
    while !reader.at_end() {
        values.push(value::decode_value(&mut reader, 0)?);
    }
    Ok(values)
}

/// Why [`encode`] (or the serde serializer) refused a value.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodeError {
    /// A value inside more than [`MAX_DEPTH`] tables (skynet: "serialize can't pack too depth
    /// table").
    TooDeep,
    /// A table key that is nil.
    NilKey,
    /// A table key that is NaN.
    NanKey,
    /// A string of this many bytes: longer than the format's 32-bit length.
    StringTooLong(usize),
    /// An integer outside Lua's `i64`.
    IntegerOutOfRange,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::TooDeep => write!(f, "serialize can't pack too depth table"),
            EncodeError::NilKey => write!(f, "table key is nil"),
            EncodeError::NanKey => write!(f, "table key is NaN"),
            EncodeError::StringTooLong(len) => write!(f, "string of {len} bytes is too long to serialize"),
            EncodeError::IntegerOutOfRange => write!(f, "integer out of the range of a Lua integer"),
        }
    }
}

impl std::error::Error for EncodeError {}

/// Why [`decode`] refused a stream: what was wrong, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError {
    /// Byte offset where decoding stopped.
    pub pos: usize,
    /// Length of the whole stream.
    pub len: usize,
    /// What was wrong there.
    pub reason: DecodeReason,
}

/// The reason part of a [`DecodeError`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeReason {
    /// The stream ends inside a value; this many more bytes were needed.
    Truncated(usize),
    /// Type 7 in a header byte.
    UnknownType(u8),
    /// A number cookie that is none of 0, 1, 2, 4, 6, 8.
    BadNumberCookie(u8),
    /// A long string cookie that is neither 2 nor 4.
    BadStringCookie(u8),
    /// An extended array size that is not a non-negative integer.
    BadArraySize,
    /// An array size larger than what the rest of the stream could hold.
    ArraySizeExceedsData(u64),
    /// Tables nested deeper than [`MAX_DECODE_DEPTH`].
    TooDeep,
    /// A NaN table key (Lua cannot hold one, so the host refuses it too).
    NanKey,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid serialize stream at byte {} of {}: ", self.pos, self.len)?;
        match &self.reason {
            DecodeReason::Truncated(n) => write!(f, "{n} bytes needed, data truncated"),
            DecodeReason::UnknownType(t) => write!(f, "unknown type {t}"),
            DecodeReason::BadNumberCookie(c) => write!(f, "bad number cookie {c}"),
            DecodeReason::BadStringCookie(c) => write!(f, "bad long string cookie {c}"),
            DecodeReason::BadArraySize => write!(f, "table array size is not a non-negative integer"),
            DecodeReason::ArraySizeExceedsData(n) => write!(f, "array size {n} exceeds the data"),
            DecodeReason::TooDeep => write!(f, "tables nested too deep"),
            DecodeReason::NanKey => write!(f, "table key is NaN"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// An error of the typed (serde) API: the value could not be encoded, the stream could not be
/// decoded, or the decoded values do not fit the Rust type.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// See [`EncodeError`].
    Encode(EncodeError),
    /// See [`DecodeError`].
    Decode(DecodeError),
    /// A type mismatch or a custom error from a `Serialize` / `Deserialize` implementation.
    Message(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Encode(e) => e.fmt(f),
            Error::Decode(e) => e.fmt(f),
            Error::Message(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Encode(e) => Some(e),
            Error::Decode(e) => Some(e),
            Error::Message(_) => None,
        }
    }
}

impl From<EncodeError> for Error {
    fn from(e: EncodeError) -> Self {
        Error::Encode(e)
    }
}

impl From<DecodeError> for Error {
    fn from(e: DecodeError) -> Self {
        Error::Decode(e)
    }
}

impl serde::ser::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error::Message(msg.to_string())
    }
}

impl serde::de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error::Message(msg.to_string())
    }
}

#[cfg(test)]
mod tests;
