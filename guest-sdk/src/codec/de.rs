//! serde deserialization from decoded [`Value`]s.
//!
//! The stream is first decoded into values (hardened, see [`decode`](super::decode)); the
//! deserializers then borrow from them. `&Value` is the one-value deserializer; [`Args`] reads
//! a message (see the mapping in [the module docs](super)).

use std::fmt;

use serde::de::{
    self, Deserialize, DeserializeOwned, DeserializeSeed, EnumAccess, IntoDeserializer, MapAccess, SeqAccess,
    Unexpected, VariantAccess, Visitor,
};

use super::value::real_to_integer;
use super::{Error, Table, Value};

static NIL: Value = Value::Nil;

/// Decodes a message into `T`: a tuple takes the values in order (missing ones read as nil,
/// extra ones are ignored), an enum takes a command name and its arguments, `()` accepts
/// anything, and any other type reads the first value.
pub fn from_bytes<T: DeserializeOwned>(data: &[u8]) -> Result<T, Error> {
    let values = super::decode(data)?;
    T::deserialize(Args { values: &values })
}

/// Reads one [`Value`] as `T`.
pub fn from_value<'de, T: Deserialize<'de>>(value: &'de Value) -> Result<T, Error> {
    T::deserialize(value)
}

fn unexpected(value: &Value) -> Unexpected<'_> {
    match value {
        Value::Nil => Unexpected::Other("nil"),
        Value::Boolean(b) => Unexpected::Bool(*b),
        Value::Integer(n) => Unexpected::Signed(*n),
        Value::Real(x) => Unexpected::Float(*x),
        Value::String(s) => match std::str::from_utf8(s) {
            Ok(s) => Unexpected::Str(s),
            Err(_) => Unexpected::Bytes(s),
        },
        Value::Table(_) => Unexpected::Other("table"),
        Value::LightUserData(_) => Unexpected::Other("light userdata"),
    }
}

fn invalid<T>(value: &Value, expected: &dyn de::Expected) -> Result<T, Error> {
    Err(de::Error::invalid_type(unexpected(value), expected))
}

/// Reads a number as an integer: integers, reals with an integral value (what Lua's
/// `math.tointeger` accepts) and light userdata (as their unsigned address).
macro_rules! integer {
    ($($method:ident),*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            match *self {
                Value::Integer(n) => visitor.visit_i64(n),
                Value::Real(x) => match real_to_integer(x) {
                    Some(n) => visitor.visit_i64(n),
                    None => invalid(self, &visitor),
                },
                Value::LightUserData(p) => visitor.visit_u64(p),
                _ => invalid(self, &visitor),
            }
        }
    )*};
}

impl<'de> de::Deserializer<'de> for &'de Value {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            Value::Nil => visitor.visit_unit(),
            Value::Boolean(b) => visitor.visit_bool(*b),
            Value::Integer(n) => visitor.visit_i64(*n),
            Value::Real(x) => visitor.visit_f64(*x),
            Value::String(s) => match std::str::from_utf8(s) {
                Ok(s) => visitor.visit_borrowed_str(s),
                Err(_) => visitor.visit_borrowed_bytes(s),
            },
            Value::LightUserData(p) => visitor.visit_u64(*p),
            Value::Table(t) if t.hash.is_empty() => visitor.visit_seq(Items::new(&t.array, 0)),
            Value::Table(t) => visitor.visit_map(Pairs::new(t, true)),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match *self {
            Value::Boolean(b) => visitor.visit_bool(b),
            _ => invalid(self, &visitor),
        }
    }

    integer!(
        deserialize_i8,
        deserialize_i16,
        deserialize_i32,
        deserialize_i64,
        deserialize_i128,
        deserialize_u8,
        deserialize_u16,
        deserialize_u32,
        deserialize_u64,
        deserialize_u128
    );

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match *self {
            Value::Real(x) => visitor.visit_f64(x),
            Value::Integer(n) => visitor.visit_f64(n as f64),
            _ => invalid(self, &visitor),
        }
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            Value::String(s) => match std::str::from_utf8(s) {
                Ok(s) => visitor.visit_borrowed_str(s),
                Err(_) => visitor.visit_borrowed_bytes(s),
            },
            _ => invalid(self, &visitor),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            Value::String(s) => visitor.visit_borrowed_bytes(s),
            Value::Table(_) => self.deserialize_seq(visitor),
            _ => invalid(self, &visitor),
        }
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            Value::Nil => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            Value::Nil => visitor.visit_unit(),
            _ => invalid(self, &visitor),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_tuple(0, visitor)
    }

    /// An array table; a shorter one is padded with nils (Lua arrays lose trailing nils).
    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, Error> {
        match self {
            Value::Table(t) if t.hash.is_empty() => visitor.visit_seq(Items::new(&t.array, len)),
            Value::Table(_) => {
                Err(de::Error::invalid_type(Unexpected::Other("table with a hash part"), &visitor))
            }
            _ => invalid(self, &visitor),
        }
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_tuple(len, visitor)
    }

    /// Every pair of the table, the array part as keys `1..=n`.
    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            Value::Table(t) => visitor.visit_map(Pairs::new(t, true)),
            _ => invalid(self, &visitor),
        }
    }

    /// The string-keyed pairs of the hash part (the array part is not a field); or, for a
    /// table with only an array part, the fields in declaration order.
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self {
            Value::Table(t) if t.hash.is_empty() && !t.array.is_empty() => {
                visitor.visit_seq(Items::new(&t.array, fields.len()))
            }
            Value::Table(t) => visitor.visit_map(Pairs::new(t, false)),
            _ => invalid(self, &visitor),
        }
    }

    /// `"Name"` for a unit variant, `{ Name = payload }` for the others.
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self {
            Value::String(_) => visitor.visit_enum(Variant { name: self, payload: None }),
            Value::Table(Table { array, hash }) if array.is_empty() && hash.len() == 1 => {
                let (name, payload) = &hash[0];
                visitor.visit_enum(Variant { name, payload: Some(payload) })
            }
            _ => invalid(self, &visitor),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match *self {
            Value::Integer(n) if n >= 0 => visitor.visit_u64(n as u64),
            _ => self.deserialize_str(visitor),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }
}

/// The items of an array part, then nils up to `len` items in all.
struct Items<'de> {
    items: std::slice::Iter<'de, Value>,
    padding: usize,
}

impl<'de> Items<'de> {
    fn new(items: &'de [Value], len: usize) -> Self {
        Items { items: items.iter(), padding: len.saturating_sub(items.len()) }
    }
}

impl<'de> SeqAccess<'de> for Items<'de> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, Error> {
        match self.items.next() {
            Some(item) => seed.deserialize(item).map(Some),
            None if self.padding > 0 => {
                self.padding -= 1;
                seed.deserialize(&NIL).map(Some)
            }
            None => Ok(None),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len() + self.padding)
    }
}

/// A table's pairs: optionally the array part as keys `1..=n`, then the hash part.
struct Pairs<'de> {
    array: std::iter::Enumerate<std::slice::Iter<'de, Value>>,
    hash: std::slice::Iter<'de, (Value, Value)>,
    value: Option<&'de Value>,
}

impl<'de> Pairs<'de> {
    fn new(table: &'de Table, with_array: bool) -> Self {
        let array = if with_array { &table.array[..] } else { &[] };
        Pairs { array: array.iter().enumerate(), hash: table.hash.iter(), value: None }
    }
}

impl<'de> MapAccess<'de> for Pairs<'de> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Error> {
        if let Some((i, item)) = self.array.next() {
            self.value = Some(item);
            let key: de::value::I64Deserializer<Error> = (i as i64 + 1).into_deserializer();
            return seed.deserialize(key).map(Some);
        }
        match self.hash.next() {
            Some((key, item)) => {
                self.value = Some(item);
                seed.deserialize(key).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, Error> {
        let value = self
            .value
            .take()
            .ok_or_else(|| <Error as de::Error>::custom("value requested before its key"))?;
        seed.deserialize(value)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.array.len() + self.hash.len())
    }
}

/// An enum variant: its name, and its payload unless it is written as a bare name.
struct Variant<'de> {
    name: &'de Value,
    payload: Option<&'de Value>,
}

impl<'de> EnumAccess<'de> for Variant<'de> {
    type Error = Error;
    type Variant = Self;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self), Error> {
        Ok((seed.deserialize(self.name)?, self))
    }
}

impl<'de> VariantAccess<'de> for Variant<'de> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        match self.payload {
            None | Some(Value::Nil) => Ok(()),
            Some(other) => invalid(other, &"a unit variant"),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        match self.payload {
            Some(payload) => seed.deserialize(payload),
            None => Err(de::Error::invalid_type(Unexpected::UnitVariant, &"a newtype variant")),
        }
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, Error> {
        match self.payload {
            Some(payload) => de::Deserializer::deserialize_tuple(payload, len, visitor),
            None => Err(de::Error::invalid_type(Unexpected::UnitVariant, &"a tuple variant")),
        }
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.payload {
            Some(payload) => de::Deserializer::deserialize_struct(payload, "", fields, visitor),
            None => Err(de::Error::invalid_type(Unexpected::UnitVariant, &"a struct variant")),
        }
    }
}

/// The values of a message, read as a Lua function reads its arguments.
struct Args<'de> {
    values: &'de [Value],
}

impl<'de> Args<'de> {
    fn first(&self) -> &'de Value {
        self.values.first().unwrap_or(&NIL)
    }
}

/// Forwards `deserialize_*` methods that read one value to the first value.
macro_rules! first_value {
    ($($method:ident($($arg:ident: $ty:ty),*);)*) => {$(
        fn $method<V: Visitor<'de>>(self, $($arg: $ty,)* visitor: V) -> Result<V::Value, Error> {
            de::Deserializer::$method(self.first(), $($arg,)* visitor)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for Args<'de> {
    type Error = Error;

    first_value! {
        deserialize_any();
        deserialize_bool();
        deserialize_i8();
        deserialize_i16();
        deserialize_i32();
        deserialize_i64();
        deserialize_i128();
        deserialize_u8();
        deserialize_u16();
        deserialize_u32();
        deserialize_u64();
        deserialize_u128();
        deserialize_f32();
        deserialize_f64();
        deserialize_char();
        deserialize_str();
        deserialize_string();
        deserialize_bytes();
        deserialize_byte_buf();
        deserialize_option();
        deserialize_seq();
        deserialize_map();
        deserialize_struct(name: &'static str, fields: &'static [&'static str]);
        deserialize_identifier();
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_seq(Items::new(self.values, len))
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_seq(Items::new(self.values, len))
    }

    /// A command: its name as the first value, its arguments after it. A first value that is
    /// not a string is read as one enum value instead.
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.values.split_first() {
            Some((command @ Value::String(_), args)) => visitor.visit_enum(Command { name: command, args }),
            _ => de::Deserializer::deserialize_enum(self.first(), name, variants, visitor),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }
}

/// A top-level enum: a command name and the arguments after it.
struct Command<'de> {
    name: &'de Value,
    args: &'de [Value],
}

impl<'de> EnumAccess<'de> for Command<'de> {
    type Error = Error;
    type Variant = Self;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self), Error> {
        Ok((seed.deserialize(self.name)?, self))
    }
}

impl<'de> VariantAccess<'de> for Command<'de> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        seed.deserialize(self.args.first().unwrap_or(&NIL))
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_seq(Items::new(self.args, len))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_seq(Items::new(self.args, fields.len()))
    }
}

/// Builds a [`Value`] from any self-describing format. A map whose first keys are `1, 2, ...`
/// gets them back in the array part, so a table read through serde keeps its split.
impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Lua value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Boolean(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Integer(v))
    }

    /// Above `i64::MAX` a number can only be a Lua float.
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(i64::try_from(v).map_or(Value::Real(v as f64), Value::Integer))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Real(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_bytes<E>(self, v: &[u8]) -> Result<Value, E> {
        Ok(Value::String(v.to_vec()))
    }

    fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Nil)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Nil)
    }

    fn visit_some<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        Value::deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        // Not preallocated from the size hint: it may come from untrusted input.
        let mut array = Vec::new();
        while let Some(item) = seq.next_element()? {
            array.push(item);
        }
        Ok(Value::Table(Table { array, hash: Vec::new() }))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut table = Table::new();
        while let Some((key, value)) = map.next_entry::<Value, Value>()? {
            let next_index = i64::try_from(table.array.len() + 1).ok();
            if table.hash.is_empty() && key.as_integer().is_some() && key.as_integer() == next_index {
                table.array.push(value);
            } else {
                table.hash.push((key, value));
            }
        }
        Ok(Value::Table(table))
    }
}

impl<'de> Deserialize<'de> for Table {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Table, D::Error> {
        match Value::deserialize(deserializer)? {
            Value::Table(t) => Ok(t),
            other => Err(de::Error::invalid_type(unexpected(&other), &"a table")),
        }
    }
}
