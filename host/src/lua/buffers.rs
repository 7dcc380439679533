//! Message buffers lent to Lua as lightuserdata.
//!
//! skynet hands Lua raw `void*` message pointers and trusts it to pass them back intact. skybox
//! hands out opaque tokens instead: a token names a slot and the slot's generation, so a token
//! that is unknown, already freed or forged is refused with an error instead of being
//! dereferenced or freed twice. A buffer leaves the table exactly once: sent on, trashed, or
//! released by the host after a non-forwarding dispatch.

use std::ffi::c_void;

use mlua::LightUserData;

const _: () = assert!(usize::BITS == 64, "tokens pack a 32-bit generation and a 32-bit slot");

#[derive(Default)]
pub(crate) struct Buffers {
    slots: Vec<Slot>,
    free: Vec<u32>,
}

struct Slot {
    generation: u32,
    data: Option<Vec<u8>>,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum BufferError {
    /// The token is not a live buffer of this service (never issued, freed, or sent on).
    Unknown,
    /// The size given with the token is larger than the buffer.
    Size { given: usize, len: usize },
}

impl std::fmt::Display for BufferError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BufferError::Unknown => write!(f, "invalid message pointer (unknown, freed or already sent)"),
            BufferError::Size { given, len } => {
                write!(f, "invalid message size {given} (the message has {len} bytes)")
            }
        }
    }
}

impl Buffers {
    /// Takes ownership of `data` and returns its token.
    pub(crate) fn insert(&mut self, data: Vec<u8>) -> LightUserData {
        let index = match self.free.pop() {
            Some(index) => {
                self.slots[index as usize].data = Some(data);
                index
            }
            None => {
                self.slots.push(Slot { generation: 1, data: Some(data) });
                (self.slots.len() - 1) as u32
            }
        };
        let generation = self.slots[index as usize].generation;
        let token = ((generation as usize) << 32) | (index as usize + 1);
        LightUserData(token as *mut c_void)
    }

    fn locate(&self, token: LightUserData) -> Result<usize, BufferError> {
        let raw = token.0 as usize;
        let index = (raw & 0xffff_ffff).wrapping_sub(1);
        let generation = (raw >> 32) as u32;
        match self.slots.get(index) {
            Some(slot) if slot.generation == generation && slot.data.is_some() => Ok(index),
            _ => Err(BufferError::Unknown),
        }
    }

    /// The bytes behind `token`, the first `size` of them when given.
    pub(crate) fn get(&self, token: LightUserData, size: Option<usize>) -> Result<&[u8], BufferError> {
        let index = self.locate(token)?;
        let data = self.slots[index].data.as_deref().unwrap_or_default();
        match size {
            None => Ok(data),
            Some(given) if given <= data.len() => Ok(&data[..given]),
            Some(given) => Err(BufferError::Size { given, len: data.len() }),
        }
    }

    /// Removes the buffer behind `token` (truncated to `size` when given) and returns it.
    pub(crate) fn take(&mut self, token: LightUserData, size: Option<usize>) -> Result<Vec<u8>, BufferError> {
        let index = self.locate(token)?;
        let len = self.slots[index].data.as_ref().map_or(0, Vec::len);
        if let Some(given) = size
            && given > len
        {
            return Err(BufferError::Size { given, len });
        }
        let slot = &mut self.slots[index];
        let mut data = slot.data.take().unwrap_or_default();
        slot.generation = slot.generation.wrapping_add(1).max(1);
        self.free.push(index as u32);
        if let Some(given) = size {
            data.truncate(given);
        }
        Ok(data)
    }

    /// Live buffers (for leak checks).
    #[cfg(test)]
    pub(crate) fn live(&self) -> usize {
        self.slots.len() - self.free.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_good_once() {
        let mut b = Buffers::default();
        let t = b.insert(vec![1, 2, 3]);
        assert_eq!(b.get(t, Some(2)).unwrap(), &[1, 2]);
        assert_eq!(b.take(t, None).unwrap(), vec![1, 2, 3]);
        assert_eq!(b.take(t, None), Err(BufferError::Unknown));
        assert_eq!(b.get(t, None), Err(BufferError::Unknown));
        // The slot is reused with a new generation: the old token stays dead.
        let t2 = b.insert(vec![9]);
        assert_ne!(t.0, t2.0);
        assert_eq!(b.get(t, None), Err(BufferError::Unknown));
        assert_eq!(b.live(), 1);
    }

    #[test]
    fn forged_tokens_and_sizes_are_refused() {
        let mut b = Buffers::default();
        let t = b.insert(vec![0; 4]);
        for forged in [0usize, 1, 2, usize::MAX, (t.0 as usize) ^ (1 << 40)] {
            assert_eq!(b.get(LightUserData(forged as *mut c_void), None), Err(BufferError::Unknown));
        }
        assert_eq!(b.take(t, Some(5)), Err(BufferError::Size { given: 5, len: 4 }));
        assert_eq!(b.take(t, Some(2)).unwrap(), vec![0, 0]);
    }
}
