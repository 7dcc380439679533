//! [`Value`]: one Lua value as it travels in a message, and its encoder and decoder.

use super::wire::{self, Reader};
use super::{DecodeReason, EncodeError, MAX_DECODE_DEPTH, MAX_DEPTH, PREALLOCATE};
use crate::codec::DecodeError;

/// One Lua value of a message.
///
/// A `Value` is plain data: it owns its strings and tables and holds no reference to any Lua VM.
/// Integers and reals are distinct, as in Lua 5.4 (`Integer(2)` and `Real(2.0)` encode
/// differently), and strings are byte strings (Lua strings need not be UTF-8).
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Value {
    /// `nil`.
    #[default]
    Nil,
    /// `true` / `false`.
    Boolean(bool),
    /// A Lua integer.
    Integer(i64),
    /// A Lua float.
    Real(f64),
    /// A Lua string: any bytes.
    String(Vec<u8>),
    /// A table, with skynet's split into an array part and a hash part.
    Table(Table),
    /// A light userdata: an address in the *host's* memory, meaningless inside a guest; it can
    /// only be passed on.
    LightUserData(u64),
}

/// A Lua table as skynet encodes it: the array part (keys `1..=array.len()`, in order, holes
/// written as nil) then the other pairs in the order the sender's `next` gave them.
///
/// Keeping the two parts and the pair order as they arrived is what makes [`encode`] of a
/// [`decode`]d table give back the same bytes. The hash part is a plain list, so lookups are
/// linear: tables in messages are small, and the order matters more than lookup speed. Nothing
/// stops a decoded hash part from repeating a key (a forged stream may); [`Table::get`] then
/// finds the first one.
///
/// [`encode`]: super::encode
/// [`decode`]: super::decode
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Table {
    /// Values for keys `1..=array.len()`.
    pub array: Vec<Value>,
    /// Every other key/value pair, in stream order.
    pub hash: Vec<(Value, Value)>,
}

impl Value {
    /// A string value from text.
    pub fn string(s: impl Into<String>) -> Value {
        Value::String(s.into().into_bytes())
    }

    /// Is this `nil`?
    pub fn is_nil(&self) -> bool {
        matches!(self, Value::Nil)
    }

    /// Lua truthiness: everything but `nil` and `false` is true.
    pub fn is_truthy(&self) -> bool {
        !matches!(self, Value::Nil | Value::Boolean(false))
    }

    /// The boolean, if this is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Boolean(b) => Some(*b),
            _ => None,
        }
    }

    /// The integer, if this is an integer or a real with an exact integer value (Lua's
    /// `math.tointeger`).
    pub fn as_integer(&self) -> Option<i64> {
        match *self {
            Value::Integer(n) => Some(n),
            Value::Real(x) => real_to_integer(x),
            _ => None,
        }
    }

    /// The number as a float, if this is an integer or a real.
    pub fn as_real(&self) -> Option<f64> {
        match *self {
            Value::Integer(n) => Some(n as f64),
            Value::Real(x) => Some(x),
            _ => None,
        }
    }

    /// The string's bytes, if this is a string.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The string, if this is a string holding UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        self.as_bytes().and_then(|b| std::str::from_utf8(b).ok())
    }

    /// The table, if this is one.
    pub fn as_table(&self) -> Option<&Table> {
        match self {
            Value::Table(t) => Some(t),
            _ => None,
        }
    }

    /// Lua's `type()` name of this value.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Nil => "nil",
            Value::Boolean(_) => "boolean",
            Value::Integer(_) | Value::Real(_) => "number",
            Value::String(_) => "string",
            Value::Table(_) => "table",
            Value::LightUserData(_) => "userdata",
        }
    }
}

/// `Some(n)` when `x` is exactly the integer `n`.
pub(super) fn real_to_integer(x: f64) -> Option<i64> {
    // i64::MIN is exactly representable; 2^63 is not an i64, hence the half-open range.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    (x.fract() == 0.0 && (-LIMIT..LIMIT).contains(&x)).then_some(x as i64)
}

impl Table {
    /// An empty table.
    pub fn new() -> Table {
        Table::default()
    }

    /// A table with only an array part.
    pub fn from_array(array: impl IntoIterator<Item = impl Into<Value>>) -> Table {
        Table { array: array.into_iter().map(Into::into).collect(), hash: Vec::new() }
    }

    /// Appends to the array part (Lua's `t[#t + 1] = v`).
    pub fn push(&mut self, value: impl Into<Value>) {
        self.array.push(value.into());
    }

    /// Sets `key` to `value` in the hash part, replacing the first pair with an equal key, or
    /// appending one. Keys `1..=array.len()` go to the array part instead.
    pub fn insert(&mut self, key: impl Into<Value>, value: impl Into<Value>) {
        let key = normalize_key(key.into());
        let value = value.into();
        if let Some(slot) = self.array_slot(&key) {
            self.array[slot] = value;
        } else if let Some(pair) = self.hash.iter_mut().find(|(k, _)| *k == key) {
            pair.1 = value;
        } else {
            self.hash.push((key, value));
        }
    }

    /// The value at `key`, looked up as Lua would (a real key with an integer value finds the
    /// integer key). `None` when absent.
    pub fn get(&self, key: &Value) -> Option<&Value> {
        let key = normalize_key(key.clone());
        match self.array_slot(&key) {
            Some(slot) => Some(&self.array[slot]),
            None => self.hash.iter().find(|(k, _)| *k == key).map(|(_, v)| v),
        }
    }

    /// The value at the string key `name`.
    pub fn field(&self, name: &str) -> Option<&Value> {
        self.hash.iter().find(|(k, _)| k.as_bytes() == Some(name.as_bytes())).map(|(_, v)| v)
    }

    /// The array index for `key`, when it is one of `1..=array.len()`.
    fn array_slot(&self, key: &Value) -> Option<usize> {
        match *key {
            Value::Integer(i) if i >= 1 => {
                usize::try_from(i).ok().filter(|&i| i <= self.array.len()).map(|i| i - 1)
            }
            _ => None,
        }
    }

    /// Is the table empty (no array items, no pairs)?
    pub fn is_empty(&self) -> bool {
        self.array.is_empty() && self.hash.is_empty()
    }
}

/// Lua converts float keys with an integer value to integers.
fn normalize_key(key: Value) -> Value {
    match key {
        Value::Real(x) => real_to_integer(x).map_or(key, Value::Integer),
        key => key,
    }
}

macro_rules! from_integer {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(n: $t) -> Value {
                Value::Integer(i64::from(n))
            }
        }
    )*};
}
from_integer!(i8, i16, i32, i64, u8, u16, u32);

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Boolean(b)
    }
}

impl From<f64> for Value {
    fn from(x: f64) -> Value {
        Value::Real(x)
    }
}

impl From<f32> for Value {
    fn from(x: f32) -> Value {
        Value::Real(f64::from(x))
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::String(s.as_bytes().to_vec())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::String(s.into_bytes())
    }
}

/// Bytes become a Lua string (not an array of numbers).
impl From<&[u8]> for Value {
    fn from(s: &[u8]) -> Value {
        Value::String(s.to_vec())
    }
}

impl From<Table> for Value {
    fn from(t: Table) -> Value {
        Value::Table(t)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Nil, Into::into)
    }
}

/// `depth` counts the tables enclosing `value`.
pub(super) fn encode_value(out: &mut Vec<u8>, value: &Value, depth: usize) -> Result<(), EncodeError> {
    // skynet checks before looking at the type, so even a nil this deep is refused.
    if depth > MAX_DEPTH {
        return Err(EncodeError::TooDeep);
    }
    match value {
        Value::Nil => wire::write_nil(out),
        Value::Boolean(b) => wire::write_bool(out, *b),
        Value::Integer(n) => wire::write_integer(out, *n),
        Value::Real(x) => wire::write_real(out, *x),
        Value::String(s) => wire::write_string(out, s)?,
        Value::LightUserData(p) => wire::write_pointer(out, *p),
        Value::Table(t) => {
            wire::write_table_header(out, t.array.len());
            for item in &t.array {
                encode_value(out, item, depth + 1)?;
            }
            for (key, item) in &t.hash {
                match key {
                    Value::Nil => return Err(EncodeError::NilKey),
                    Value::Real(x) if x.is_nan() => return Err(EncodeError::NanKey),
                    _ => {}
                }
                encode_value(out, key, depth + 1)?;
                encode_value(out, item, depth + 1)?;
            }
            wire::write_nil(out);
        }
    }
    Ok(())
}

/// `depth` counts the tables enclosing the value about to be read.
pub(super) fn decode_value(reader: &mut Reader<'_>, depth: usize) -> Result<Value, DecodeError> {
    let (kind, cookie) = reader.header()?;
    Ok(match kind {
        wire::TYPE_NIL => Value::Nil,
        wire::TYPE_BOOLEAN => Value::Boolean(cookie != 0),
        wire::TYPE_NUMBER if cookie == wire::NUMBER_REAL => Value::Real(f64::from_le_bytes(reader.array()?)),
        wire::TYPE_NUMBER => Value::Integer(reader.integer(cookie)?),
        wire::TYPE_USERDATA => Value::LightUserData(u64::from_le_bytes(reader.array()?)),
        wire::TYPE_SHORT_STRING => Value::String(reader.bytes(usize::from(cookie))?.to_vec()),
        wire::TYPE_LONG_STRING => Value::String(reader.long_string(cookie)?.to_vec()),
        wire::TYPE_TABLE => Value::Table(decode_table(reader, cookie, depth + 1)?),
        _ => return Err(reader.error(DecodeReason::UnknownType(kind))),
    })
}

/// `depth` is the nesting level of the table being read (1 for a top-level table).
fn decode_table(reader: &mut Reader<'_>, cookie: u8, depth: usize) -> Result<Table, DecodeError> {
    if depth > MAX_DECODE_DEPTH {
        return Err(reader.error(DecodeReason::TooDeep));
    }
    let len = reader.array_len(cookie)?;
    // A value inside more than MAX_DEPTH tables could not be packed again: the deepest table
    // must be empty.
    let deepest = depth > MAX_DEPTH;
    if deepest && len > 0 {
        return Err(reader.error(DecodeReason::TooDeep));
    }
    // What a stream claims reserves little: nested tables each claiming the bytes left would
    // otherwise hold far more memory than the message.
    let mut table = Table { array: Vec::with_capacity(len.min(PREALLOCATE)), hash: Vec::new() };
    for _ in 0..len {
        table.array.push(decode_value(reader, depth)?);
    }
    loop {
        let key = decode_value(reader, depth)?;
        match key {
            Value::Nil => break,
            _ if deepest => return Err(reader.error(DecodeReason::TooDeep)),
            Value::Real(x) if x.is_nan() => return Err(reader.error(DecodeReason::NanKey)),
            _ => {}
        }
        let value = decode_value(reader, depth)?;
        table.hash.push((key, value));
    }
    Ok(table)
}
