//! serde serialization straight into the wire format (no intermediate [`Value`]).
//!
//! [`ValueSerializer`] writes one value; [`ArgsSerializer`] writes a message, spreading a
//! top-level tuple or enum variant into several values (see the mapping in [the module
//! docs](super)).

use serde::ser::{self, Serialize};

use super::wire;
use super::{EncodeError, Error, MAX_DEPTH, Table, Value};

/// Encodes `value` as a message: a tuple gives several values (`skynet.pack(a, b, c)`), `()`
/// none, an enum variant its name then its fields, anything else one value.
pub fn to_bytes<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    value.serialize(ArgsSerializer { out: &mut out })?;
    Ok(out)
}

/// Converts `value` to one [`Value`] (a tuple becomes an array table).
pub fn to_value<T: Serialize + ?Sized>(value: &T) -> Result<Value, Error> {
    let mut out = Vec::new();
    value.serialize(ValueSerializer { out: &mut out, depth: 0 })?;
    // The serializer only writes well-formed streams of exactly one value.
    let mut values = super::decode(&out)?;
    Ok(values.pop().unwrap_or_default())
}

/// Writes one value; `depth` counts the tables enclosing it.
struct ValueSerializer<'a> {
    out: &'a mut Vec<u8>,
    depth: usize,
}

impl<'a> ValueSerializer<'a> {
    /// skynet refuses any value (even a nil) inside more than `MAX_DEPTH` tables.
    fn checked(out: &'a mut Vec<u8>, depth: usize) -> Result<Self, Error> {
        if depth > MAX_DEPTH {
            return Err(EncodeError::TooDeep.into());
        }
        Ok(ValueSerializer { out, depth })
    }

    fn integer(self, n: impl TryInto<i64>) -> Result<(), Error> {
        let n = n.try_into().map_err(|_| EncodeError::IntegerOutOfRange)?;
        wire::write_integer(self.out, n);
        Ok(())
    }

    /// Opens `{ variant = ... }`: the wrapper table of a non-unit enum variant. The caller writes
    /// the payload at `depth + 1` and then one more terminator.
    fn open_variant(&mut self, variant: &str) -> Result<(), Error> {
        wire::write_table_header(self.out, 0);
        ValueSerializer::checked(self.out, self.depth + 1)?;
        wire::write_string(self.out, variant.as_bytes())?;
        Ok(())
    }
}

impl<'a> ser::Serializer for ValueSerializer<'a> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = SeqWriter<'a>;
    type SerializeTuple = SeqWriter<'a>;
    type SerializeTupleStruct = SeqWriter<'a>;
    type SerializeTupleVariant = SeqWriter<'a>;
    type SerializeMap = MapWriter<'a>;
    type SerializeStruct = MapWriter<'a>;
    type SerializeStructVariant = MapWriter<'a>;

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        wire::write_bool(self.out, v);
        Ok(())
    }

    fn serialize_i8(self, v: i8) -> Result<(), Error> {
        self.integer(v)
    }

    fn serialize_i16(self, v: i16) -> Result<(), Error> {
        self.integer(v)
    }

    fn serialize_i32(self, v: i32) -> Result<(), Error> {
        self.integer(v)
    }

    fn serialize_i64(self, v: i64) -> Result<(), Error> {
        self.integer(v)
    }

    fn serialize_i128(self, v: i128) -> Result<(), Error> {
        self.integer(v)
    }

    fn serialize_u8(self, v: u8) -> Result<(), Error> {
        self.integer(v)
    }

    fn serialize_u16(self, v: u16) -> Result<(), Error> {
        self.integer(v)
    }

    fn serialize_u32(self, v: u32) -> Result<(), Error> {
        self.integer(v)
    }

    fn serialize_u64(self, v: u64) -> Result<(), Error> {
        self.integer(v)
    }

    fn serialize_u128(self, v: u128) -> Result<(), Error> {
        self.integer(v)
    }

    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        self.serialize_f64(f64::from(v))
    }

    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        wire::write_real(self.out, v);
        Ok(())
    }

    fn serialize_char(self, v: char) -> Result<(), Error> {
        self.serialize_str(v.encode_utf8(&mut [0; 4]))
    }

    fn serialize_str(self, v: &str) -> Result<(), Error> {
        self.serialize_bytes(v.as_bytes())
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<(), Error> {
        Ok(wire::write_string(self.out, v)?)
    }

    fn serialize_none(self) -> Result<(), Error> {
        wire::write_nil(self.out);
        Ok(())
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), Error> {
        self.serialize_none()
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        self.serialize_none()
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        self.serialize_str(variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        mut self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.open_variant(variant)?;
        // Unlike a struct field, the payload is kept even when nil: the pair is the variant.
        value.serialize(ValueSerializer::checked(self.out, self.depth + 1)?)?;
        wire::write_nil(self.out);
        Ok(())
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<SeqWriter<'a>, Error> {
        Ok(SeqWriter::open(self.out, self.depth, len, 0))
    }

    fn serialize_tuple(self, len: usize) -> Result<SeqWriter<'a>, Error> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<SeqWriter<'a>, Error> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_variant(
        mut self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<SeqWriter<'a>, Error> {
        self.open_variant(variant)?;
        ValueSerializer::checked(self.out, self.depth + 1)?;
        Ok(SeqWriter::open(self.out, self.depth + 1, Some(len), 1))
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<MapWriter<'a>, Error> {
        Ok(MapWriter::open(self.out, self.depth, 0))
    }

    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<MapWriter<'a>, Error> {
        Ok(MapWriter::open(self.out, self.depth, 0))
    }

    fn serialize_struct_variant(
        mut self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<MapWriter<'a>, Error> {
        self.open_variant(variant)?;
        ValueSerializer::checked(self.out, self.depth + 1)?;
        Ok(MapWriter::open(self.out, self.depth + 1, 1))
    }
}

/// Writes the array part of a table at `depth` (its items at `depth + 1`).
///
/// With a known length the header goes first; otherwise it is inserted in front of the items
/// once they are counted. `extra_ends` closes enclosing variant wrappers.
struct SeqWriter<'a> {
    out: &'a mut Vec<u8>,
    depth: usize,
    expected: Option<usize>,
    header_at: usize,
    count: usize,
    extra_ends: usize,
}

impl<'a> SeqWriter<'a> {
    fn open(out: &'a mut Vec<u8>, depth: usize, expected: Option<usize>, extra_ends: usize) -> Self {
        if let Some(len) = expected {
            wire::write_table_header(out, len);
        }
        let header_at = out.len();
        SeqWriter { out, depth, expected, header_at, count: 0, extra_ends }
    }

    fn item<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        value.serialize(ValueSerializer::checked(self.out, self.depth + 1)?)?;
        self.count += 1;
        Ok(())
    }

    fn close(self) -> Result<(), Error> {
        match self.expected {
            Some(len) if len != self.count => {
                return Err(Error::Message(format!(
                    "sequence announced {len} items but gave {}",
                    self.count
                )));
            }
            Some(_) => {}
            None => {
                let mut header = Vec::with_capacity(10);
                wire::write_table_header(&mut header, self.count);
                self.out.splice(self.header_at..self.header_at, header);
            }
        }
        for _ in 0..=self.extra_ends {
            wire::write_nil(self.out);
        }
        Ok(())
    }
}

impl ser::SerializeSeq for SeqWriter<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.item(value)
    }

    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

impl ser::SerializeTuple for SeqWriter<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.item(value)
    }

    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

impl ser::SerializeTupleStruct for SeqWriter<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.item(value)
    }

    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

impl ser::SerializeTupleVariant for SeqWriter<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.item(value)
    }

    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

/// Writes the hash part of a table at `depth` (keys and values at `depth + 1`); its header
/// (empty array part) is already written.
///
/// A pair whose value is nil is dropped, as a Lua table cannot hold it; a nil or NaN key is an
/// error (a nil key would end the table early on the wire).
struct MapWriter<'a> {
    out: &'a mut Vec<u8>,
    depth: usize,
    /// Where the pair being written starts, and where its value starts.
    key_at: usize,
    value_at: usize,
    extra_ends: usize,
}

impl<'a> MapWriter<'a> {
    fn open(out: &'a mut Vec<u8>, depth: usize, extra_ends: usize) -> Self {
        wire::write_table_header(out, 0);
        let at = out.len();
        MapWriter { out, depth, key_at: at, value_at: at, extra_ends }
    }

    fn key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        self.key_at = self.out.len();
        key.serialize(ValueSerializer::checked(self.out, self.depth + 1)?)?;
        let written = &self.out[self.key_at..];
        if wire::is_nil(written) {
            return Err(EncodeError::NilKey.into());
        }
        if wire::is_nan(written) {
            return Err(EncodeError::NanKey.into());
        }
        self.value_at = self.out.len();
        Ok(())
    }

    fn value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        value.serialize(ValueSerializer::checked(self.out, self.depth + 1)?)?;
        if wire::is_nil(&self.out[self.value_at..]) {
            self.out.truncate(self.key_at);
        }
        Ok(())
    }

    fn close(self) -> Result<(), Error> {
        for _ in 0..=self.extra_ends {
            wire::write_nil(self.out);
        }
        Ok(())
    }
}

impl ser::SerializeMap for MapWriter<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        self.key(key)
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.value(value)
    }

    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

impl ser::SerializeStruct for MapWriter<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), Error> {
        self.key(key)?;
        self.value(value)
    }

    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

impl ser::SerializeStructVariant for MapWriter<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), Error> {
        self.key(key)?;
        self.value(value)
    }

    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

/// Writes a message: spreads tuples and enum variants, writes nothing for `()`, and hands
/// everything else to [`ValueSerializer`] as one value.
struct ArgsSerializer<'a> {
    out: &'a mut Vec<u8>,
}

/// Forwards `serialize_*` methods that write a single value to [`ValueSerializer`].
macro_rules! one_value {
    ($($method:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)*) => {$(
        fn $method(self, $($arg: $ty),*) -> Result<$ret, Error> {
            ser::Serializer::$method(ValueSerializer { out: self.out, depth: 0 }, $($arg),*)
        }
    )*};
}

impl<'a> ser::Serializer for ArgsSerializer<'a> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = SeqWriter<'a>;
    type SerializeTuple = ArgsTuple<'a>;
    type SerializeTupleStruct = ArgsTuple<'a>;
    type SerializeTupleVariant = ArgsTuple<'a>;
    type SerializeMap = MapWriter<'a>;
    type SerializeStruct = MapWriter<'a>;
    type SerializeStructVariant = ArgsTuple<'a>;

    one_value! {
        serialize_bool(v: bool) -> ();
        serialize_i8(v: i8) -> ();
        serialize_i16(v: i16) -> ();
        serialize_i32(v: i32) -> ();
        serialize_i64(v: i64) -> ();
        serialize_i128(v: i128) -> ();
        serialize_u8(v: u8) -> ();
        serialize_u16(v: u16) -> ();
        serialize_u32(v: u32) -> ();
        serialize_u64(v: u64) -> ();
        serialize_u128(v: u128) -> ();
        serialize_f32(v: f32) -> ();
        serialize_f64(v: f64) -> ();
        serialize_char(v: char) -> ();
        serialize_str(v: &str) -> ();
        serialize_bytes(v: &[u8]) -> ();
        serialize_none() -> ();
        serialize_seq(len: Option<usize>) -> SeqWriter<'a>;
        serialize_map(len: Option<usize>) -> MapWriter<'a>;
        serialize_struct(name: &'static str, len: usize) -> MapWriter<'a>;
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        // `Some(x)` is one value even when `x` is a tuple: only the top level spreads.
        value.serialize(ValueSerializer { out: self.out, depth: 0 })
    }

    fn serialize_unit(self) -> Result<(), Error> {
        Ok(())
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        Ok(())
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        Ok(wire::write_string(self.out, variant.as_bytes())?)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        wire::write_string(self.out, variant.as_bytes())?;
        value.serialize(ValueSerializer { out: self.out, depth: 0 })
    }

    fn serialize_tuple(self, _len: usize) -> Result<ArgsTuple<'a>, Error> {
        Ok(ArgsTuple { out: self.out })
    }

    fn serialize_tuple_struct(self, _name: &'static str, _len: usize) -> Result<ArgsTuple<'a>, Error> {
        Ok(ArgsTuple { out: self.out })
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<ArgsTuple<'a>, Error> {
        wire::write_string(self.out, variant.as_bytes())?;
        Ok(ArgsTuple { out: self.out })
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<ArgsTuple<'a>, Error> {
        wire::write_string(self.out, variant.as_bytes())?;
        Ok(ArgsTuple { out: self.out })
    }
}

/// The elements of a top-level tuple (or the fields of a top-level variant, by position): each
/// one top-level value. A nil stays in place, as it keeps the positions of the others.
struct ArgsTuple<'a> {
    out: &'a mut Vec<u8>,
}

impl ArgsTuple<'_> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        value.serialize(ValueSerializer { out: self.out, depth: 0 })
    }
}

impl ser::SerializeTuple for ArgsTuple<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element(value)
    }

    fn end(self) -> Result<(), Error> {
        Ok(())
    }
}

impl ser::SerializeTupleStruct for ArgsTuple<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element(value)
    }

    fn end(self) -> Result<(), Error> {
        Ok(())
    }
}

impl ser::SerializeTupleVariant for ArgsTuple<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element(value)
    }

    fn end(self) -> Result<(), Error> {
        Ok(())
    }
}

impl ser::SerializeStructVariant for ArgsTuple<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, _key: &'static str, value: &T) -> Result<(), Error> {
        self.element(value)
    }

    fn end(self) -> Result<(), Error> {
        Ok(())
    }
}

/// A `Value` serializes as the Lua value it is, through any serde format. Through this codec:
/// an array-only table keeps its bytes; a table with a hash part is written as a map (its
/// array items become keys `1..n` in the hash part, and nil values are dropped), which Lua
/// reads as the same table. A light userdata becomes its number. For byte-exact re-encoding use
/// [`encode`](super::encode).
impl Serialize for Value {
    fn serialize<S: ser::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            // `none`, not `unit`: at the top level of a message, `()` is "no value at all".
            Value::Nil => serializer.serialize_none(),
            Value::Boolean(b) => serializer.serialize_bool(*b),
            Value::Integer(n) => serializer.serialize_i64(*n),
            Value::Real(x) => serializer.serialize_f64(*x),
            Value::String(bytes) => match std::str::from_utf8(bytes) {
                Ok(s) => serializer.serialize_str(s),
                Err(_) => serializer.serialize_bytes(bytes),
            },
            Value::LightUserData(p) => serializer.serialize_u64(*p),
            Value::Table(t) => t.serialize(serializer),
        }
    }
}

impl Serialize for Table {
    fn serialize<S: ser::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use ser::{SerializeMap, SerializeSeq};
        if self.hash.is_empty() {
            let mut seq = serializer.serialize_seq(Some(self.array.len()))?;
            for item in &self.array {
                seq.serialize_element(item)?;
            }
            return seq.end();
        }
        let mut map = serializer.serialize_map(Some(self.array.len() + self.hash.len()))?;
        for (i, item) in self.array.iter().enumerate() {
            map.serialize_entry(&(i as u64 + 1), item)?;
        }
        for (key, item) in &self.hash {
            map.serialize_entry(key, item)?;
        }
        map.end()
    }
}
