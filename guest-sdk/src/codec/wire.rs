//! The byte-level layer of the format: the header byte, the writers and a bounds-checked
//! [`Reader`]. Both this crate's codecs (the dynamic [`Value`](super::Value) one and serde) and
//! the host's Lua codec are built on it, so they all write and read exactly the same bytes.
//!
//! It knows nothing of values: a caller walks its own data and writes each value with the
//! writer of its type (a table is [`write_table_header`], its array items, its key/value pairs,
//! then [`write_nil`]); to read, it takes the [`header`](Reader::header) of each value and
//! dispatches on the type. The writers append straight to the output `Vec`, the reader borrows
//! straight from the input slice, and the small functions are `#[inline]`, so nothing is
//! allocated or copied per value.
//!
//! The [module documentation](super) describes the format.

use super::{DecodeError, DecodeReason, EncodeError};

/// Type of nil (and, as a key, of a table's terminator).
pub const TYPE_NIL: u8 = 0;
/// Type of a boolean; the cookie is 0 for false, anything else for true.
pub const TYPE_BOOLEAN: u8 = 1;
/// Type of a number; the cookie is one of the `NUMBER_*` forms.
pub const TYPE_NUMBER: u8 = 2;
/// Type of a light userdata: a pointer, 8 bytes.
pub const TYPE_USERDATA: u8 = 3;
/// Type of a string of up to 31 bytes; the cookie is its length.
pub const TYPE_SHORT_STRING: u8 = 4;
/// Type of a longer string; the cookie (2 or 4) is the width of the length that follows.
pub const TYPE_LONG_STRING: u8 = 5;
/// Type of a table; the cookie is the array length, or [`COOKIE_EXTENDED`].
pub const TYPE_TABLE: u8 = 6;

/// Number cookie: the integer 0, no payload.
pub const NUMBER_ZERO: u8 = 0;
/// Number cookie: an integer as a `u8`.
pub const NUMBER_BYTE: u8 = 1;
/// Number cookie: an integer as a `u16`.
pub const NUMBER_WORD: u8 = 2;
/// Number cookie: an integer as an `i32`.
pub const NUMBER_DWORD: u8 = 4;
/// Number cookie: an integer as an `i64`.
pub const NUMBER_QWORD: u8 = 6;
/// Number cookie: a real, as an `f64`.
pub const NUMBER_REAL: u8 = 8;

/// Largest cookie; as a table cookie it means "array length follows as a number value".
pub const COOKIE_EXTENDED: u8 = 31;

/// The one-byte encoding of nil (also the table terminator).
pub const NIL: u8 = header(TYPE_NIL, 0);

/// The header byte of a value of type `kind` (0..=7) with this `cookie` (0..=31).
#[inline]
pub const fn header(kind: u8, cookie: u8) -> u8 {
    kind | (cookie << 3)
}

/// Writes a nil, which is also the terminator of a table.
#[inline]
pub fn write_nil(out: &mut Vec<u8>) {
    out.push(NIL);
}

/// Writes a boolean.
#[inline]
pub fn write_bool(out: &mut Vec<u8>, b: bool) {
    out.push(header(TYPE_BOOLEAN, u8::from(b)));
}

/// Writes an integer in the narrowest form, as skynet picks it: only `u8` and `u16` are
/// unsigned, so negatives take at least four bytes.
#[inline]
pub fn write_integer(out: &mut Vec<u8>, n: i64) {
    if n == 0 {
        out.push(header(TYPE_NUMBER, NUMBER_ZERO));
    } else if let Ok(small) = i32::try_from(n) {
        if let Ok(byte) = u8::try_from(small) {
            out.extend_from_slice(&[header(TYPE_NUMBER, NUMBER_BYTE), byte]);
        } else if let Ok(word) = u16::try_from(small) {
            out.push(header(TYPE_NUMBER, NUMBER_WORD));
            out.extend_from_slice(&word.to_le_bytes());
        } else {
            out.push(header(TYPE_NUMBER, NUMBER_DWORD));
            out.extend_from_slice(&small.to_le_bytes());
        }
    } else {
        out.push(header(TYPE_NUMBER, NUMBER_QWORD));
        out.extend_from_slice(&n.to_le_bytes());
    }
}

/// Writes a real (always 8 bytes, even when it is integral).
#[inline]
pub fn write_real(out: &mut Vec<u8>, x: f64) {
    out.push(header(TYPE_NUMBER, NUMBER_REAL));
    out.extend_from_slice(&x.to_le_bytes());
}

/// Writes a light userdata: the pointer's address, 8 bytes.
#[inline]
pub fn write_pointer(out: &mut Vec<u8>, p: u64) {
    out.push(header(TYPE_USERDATA, 0));
    out.extend_from_slice(&p.to_le_bytes());
}

/// Writes a string (any bytes). Fails, writing nothing, for more than `i32::MAX` bytes.
#[inline]
pub fn write_string(out: &mut Vec<u8>, bytes: &[u8]) -> Result<(), EncodeError> {
    let len = bytes.len();
    if len <= usize::from(COOKIE_EXTENDED) {
        out.push(header(TYPE_SHORT_STRING, len as u8));
    } else if let Ok(len) = u16::try_from(len) {
        out.push(header(TYPE_LONG_STRING, 2));
        out.extend_from_slice(&len.to_le_bytes());
    } else if let Ok(len) = i32::try_from(len) {
        // skynet reads the length into a C int, so longer strings cannot round-trip there.
        out.push(header(TYPE_LONG_STRING, 4));
        out.extend_from_slice(&len.to_le_bytes());
    } else {
        return Err(EncodeError::StringTooLong(len));
    }
    out.extend_from_slice(bytes);
    Ok(())
}

/// Writes the header of a table whose array part has `len` items; the items, the key/value
/// pairs and the terminating [`write_nil`] follow.
#[inline]
pub fn write_table_header(out: &mut Vec<u8>, len: usize) {
    if len >= usize::from(COOKIE_EXTENDED) {
        out.push(header(TYPE_TABLE, COOKIE_EXTENDED));
        write_integer(out, i64::try_from(len).unwrap_or(i64::MAX));
    } else {
        out.push(header(TYPE_TABLE, len as u8));
    }
}

/// Is `bytes` (one encoded value) a nil?
pub(super) fn is_nil(bytes: &[u8]) -> bool {
    bytes == [NIL]
}

/// Is `bytes` (one encoded value) a NaN real?
pub(super) fn is_nan(bytes: &[u8]) -> bool {
    match bytes {
        [tag, rest @ ..] if *tag == header(TYPE_NUMBER, NUMBER_REAL) => {
            rest.try_into().is_ok_and(|b: [u8; 8]| f64::from_le_bytes(b).is_nan())
        }
        _ => false,
    }
}

/// A cursor over a stream. Every read is bounds-checked: it either advances past what it read
/// or fails with a [`DecodeError`] that tells where (the position before the failed read; for
/// an invalid header field, after it).
///
/// ```
/// use skybox_sdk::codec::wire::{self, Reader};
///
/// let mut reader = Reader::new(&[0x0a, 0x2a, 0x0c, b'h', b'i']);
/// assert_eq!(reader.header().unwrap(), (wire::TYPE_NUMBER, wire::NUMBER_BYTE));
/// assert_eq!(reader.integer(wire::NUMBER_BYTE).unwrap(), 42);
/// assert_eq!(reader.header().unwrap(), (wire::TYPE_SHORT_STRING, 1));
/// assert_eq!(reader.bytes(1).unwrap(), b"h");
/// assert_eq!(reader.position(), 4);
/// assert!(reader.bytes(2).is_err());
/// ```
pub struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `data`.
    #[inline]
    pub fn new(data: &'a [u8]) -> Self {
        Reader { data, pos: 0 }
    }

    /// Is the whole stream read?
    #[inline]
    pub fn at_end(&self) -> bool {
        self.pos >= self.data.len()
    }

    /// The offset of the next byte to read.
    #[inline]
    pub fn position(&self) -> usize {
        self.pos
    }

    /// How many bytes are left to read.
    #[inline]
    pub fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    /// An error for `reason` at the current position.
    #[cold]
    pub fn error(&self, reason: DecodeReason) -> DecodeError {
        DecodeError { pos: self.pos, len: self.data.len(), reason }
    }

    /// The next `n` bytes, borrowed from the input.
    #[inline]
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.remaining() {
            return Err(self.error(DecodeReason::Truncated(n)));
        }
        let slice = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(slice)
    }

    /// The next `N` bytes, copied (for fixed-width fields: `u32::from_le_bytes(r.array()?)`).
    #[inline]
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        match self.data[self.pos..].first_chunk::<N>() {
            Some(chunk) => {
                self.pos += N;
                Ok(*chunk)
            }
            None => Err(self.error(DecodeReason::Truncated(N))),
        }
    }

    /// The header byte of the next value, split into (type, cookie).
    #[inline]
    pub fn header(&mut self) -> Result<(u8, u8), DecodeError> {
        let [tag] = self.array()?;
        Ok((tag & 7, tag >> 3))
    }

    /// After a [`TYPE_NUMBER`] header whose cookie is not [`NUMBER_REAL`]: the integer.
    /// Fails on a cookie that is not one of the integer forms.
    #[inline]
    pub fn integer(&mut self, cookie: u8) -> Result<i64, DecodeError> {
        Ok(match cookie {
            NUMBER_ZERO => 0,
            NUMBER_BYTE => i64::from(u8::from_le_bytes(self.array()?)),
            NUMBER_WORD => i64::from(u16::from_le_bytes(self.array()?)),
            NUMBER_DWORD => i64::from(i32::from_le_bytes(self.array()?)),
            NUMBER_QWORD => i64::from_le_bytes(self.array()?),
            _ => return Err(self.error(DecodeReason::BadNumberCookie(cookie))),
        })
    }

    /// After a [`TYPE_LONG_STRING`] header with this cookie: the string's bytes, borrowed.
    /// Fails on a cookie other than 2 and 4. (For a short string, the cookie is the length:
    /// use [`bytes`](Self::bytes).)
    #[inline]
    pub fn long_string(&mut self, cookie: u8) -> Result<&'a [u8], DecodeError> {
        let len = match cookie {
            2 => usize::from(u16::from_le_bytes(self.array()?)),
            4 => u32::from_le_bytes(self.array()?) as usize,
            _ => return Err(self.error(DecodeReason::BadStringCookie(cookie))),
        };
        self.bytes(len)
    }

    /// After a [`TYPE_TABLE`] header with this cookie: the length of the array part, read from
    /// the stream for [`COOKIE_EXTENDED`]. Fails unless it is a non-negative integer smaller than
    /// what is left, so a caller may preallocate that many items.
    #[inline]
    pub fn array_len(&mut self, cookie: u8) -> Result<usize, DecodeError> {
        let len = if cookie == COOKIE_EXTENDED {
            let (kind, cookie) = self.header()?;
            if kind != TYPE_NUMBER || cookie == NUMBER_REAL {
                return Err(self.error(DecodeReason::BadArraySize));
            }
            let len = self.integer(cookie)?;
            u64::try_from(len).map_err(|_| self.error(DecodeReason::BadArraySize))?
        } else {
            u64::from(cookie)
        };
        // Each item takes at least one byte and the terminating nil one more, so this bounds any
        // preallocation by the input size, whatever the stream claims.
        match usize::try_from(len) {
            Ok(len) if len < self.remaining() => Ok(len),
            _ => Err(self.error(DecodeReason::ArraySizeExceedsData(len))),
        }
    }
}
