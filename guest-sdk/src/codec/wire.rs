//! The byte-level pieces of the format, shared by the [`Value`](super::Value) codec and the
//! serde serializer so both write exactly the same bytes.

use super::{DecodeError, DecodeReason, EncodeError};

pub(super) const TYPE_NIL: u8 = 0;
pub(super) const TYPE_BOOLEAN: u8 = 1;
pub(super) const TYPE_NUMBER: u8 = 2;
pub(super) const TYPE_USERDATA: u8 = 3;
pub(super) const TYPE_SHORT_STRING: u8 = 4;
pub(super) const TYPE_LONG_STRING: u8 = 5;
pub(super) const TYPE_TABLE: u8 = 6;

const NUMBER_ZERO: u8 = 0;
const NUMBER_BYTE: u8 = 1;
const NUMBER_WORD: u8 = 2;
const NUMBER_DWORD: u8 = 4;
const NUMBER_QWORD: u8 = 6;
pub(super) const NUMBER_REAL: u8 = 8;

/// Largest cookie; as a table cookie it means "array length follows as a number value".
pub(super) const COOKIE_EXTENDED: u8 = 31;

/// The one-byte encoding of nil (also the table terminator).
pub(super) const NIL: u8 = header(TYPE_NIL, 0);

const fn header(kind: u8, cookie: u8) -> u8 {
    kind | (cookie << 3)
}

pub(super) fn write_nil(out: &mut Vec<u8>) {
    out.push(NIL);
}

pub(super) fn write_bool(out: &mut Vec<u8>, b: bool) {
    out.push(header(TYPE_BOOLEAN, u8::from(b)));
}

/// The narrowest form, as skynet picks it: only `u8` and `u16` are unsigned, so negatives take
/// at least four bytes.
pub(super) fn write_integer(out: &mut Vec<u8>, n: i64) {
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

pub(super) fn write_real(out: &mut Vec<u8>, x: f64) {
    out.push(header(TYPE_NUMBER, NUMBER_REAL));
    out.extend_from_slice(&x.to_le_bytes());
}

pub(super) fn write_pointer(out: &mut Vec<u8>, p: u64) {
    out.push(header(TYPE_USERDATA, 0));
    out.extend_from_slice(&p.to_le_bytes());
}

pub(super) fn write_string(out: &mut Vec<u8>, bytes: &[u8]) -> Result<(), EncodeError> {
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

/// The table header for an array part of `len` items; the items, the pairs and the
/// terminating nil follow.
pub(super) fn write_table_header(out: &mut Vec<u8>, len: usize) {
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

/// A cursor over a stream. Every read is bounds-checked and reports where it failed.
pub(super) struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(super) fn new(data: &'a [u8]) -> Self {
        Reader { data, pos: 0 }
    }

    pub(super) fn at_end(&self) -> bool {
        self.pos >= self.data.len()
    }

    pub(super) fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    pub(super) fn error(&self, reason: DecodeReason) -> DecodeError {
        DecodeError { pos: self.pos, len: self.data.len(), reason }
    }

    pub(super) fn bytes(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.remaining() {
            return Err(self.error(DecodeReason::Truncated(n)));
        }
        let slice = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(slice)
    }

    pub(super) fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        match self.data[self.pos..].first_chunk::<N>() {
            Some(chunk) => {
                self.pos += N;
                Ok(*chunk)
            }
            None => Err(self.error(DecodeReason::Truncated(N))),
        }
    }

    /// The header byte of the next value, split into (type, cookie).
    pub(super) fn header(&mut self) -> Result<(u8, u8), DecodeError> {
        let [tag] = self.array()?;
        Ok((tag & 7, tag >> 3))
    }

    /// The payload of an integer whose header had this (non-real) cookie.
    pub(super) fn integer(&mut self, cookie: u8) -> Result<i64, DecodeError> {
        Ok(match cookie {
            NUMBER_ZERO => 0,
            NUMBER_BYTE => i64::from(u8::from_le_bytes(self.array()?)),
            NUMBER_WORD => i64::from(u16::from_le_bytes(self.array()?)),
            NUMBER_DWORD => i64::from(i32::from_le_bytes(self.array()?)),
            NUMBER_QWORD => i64::from_le_bytes(self.array()?),
            _ => return Err(self.error(DecodeReason::BadNumberCookie(cookie))),
        })
    }

    /// The bytes of a long string whose header had this cookie.
    pub(super) fn long_string(&mut self, cookie: u8) -> Result<&'a [u8], DecodeError> {
        let len = match cookie {
            2 => usize::from(u16::from_le_bytes(self.array()?)),
            4 => u32::from_le_bytes(self.array()?) as usize,
            _ => return Err(self.error(DecodeReason::BadStringCookie(cookie))),
        };
        self.bytes(len)
    }

    /// The array length of a table whose header had this cookie, checked against the data left.
    pub(super) fn array_len(&mut self, cookie: u8) -> Result<usize, DecodeError> {
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
