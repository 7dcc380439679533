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

/// Values named by tokens: a token is a slot and the slot's generation, so a token that is
/// unknown, already taken or forged names nothing. Also the table of `skynet.stm`'s references.
pub(crate) struct Tokens<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
}

struct Slot<T> {
    generation: u32,
    value: Option<T>,
}

impl<T> Tokens<T> {
    pub(crate) const fn new() -> Tokens<T> {
        Tokens { slots: Vec::new(), free: Vec::new() }
    }

    /// Takes ownership of `value` and returns its token (never 0).
    pub(crate) fn insert(&mut self, value: T) -> usize {
        let index = match self.free.pop() {
            Some(index) => {
                self.slots[index as usize].value = Some(value);
                index
            }
            None => {
                self.slots.push(Slot { generation: 1, value: Some(value) });
                (self.slots.len() - 1) as u32
            }
        };
        let generation = self.slots[index as usize].generation;
        ((generation as usize) << 32) | (index as usize + 1)
    }

    /// The slot of a live `token`.
    fn locate(&self, token: usize) -> Option<usize> {
        let index = (token & 0xffff_ffff).wrapping_sub(1);
        let generation = (token >> 32) as u32;
        match self.slots.get(index) {
            Some(slot) if slot.generation == generation && slot.value.is_some() => Some(index),
            _ => None,
        }
    }

    /// The value behind `token`.
    pub(crate) fn get(&self, token: usize) -> Option<&T> {
        self.slots[self.locate(token)?].value.as_ref()
    }

    /// Removes the value behind `token`; the token names nothing from now on.
    pub(crate) fn take(&mut self, token: usize) -> Option<T> {
        self.take_if(token, |_| Ok::<(), ()>(())).ok()
    }

    /// As `take`, unless `check` refuses the value (it stays then); `Err(None)` for a token
    /// that names nothing.
    pub(crate) fn take_if<E>(
        &mut self,
        token: usize,
        check: impl FnOnce(&T) -> Result<(), E>,
    ) -> Result<T, Option<E>> {
        let index = self.locate(token).ok_or(None)?;
        let slot = &mut self.slots[index];
        check(slot.value.as_ref().expect("located")).map_err(Some)?;
        slot.generation = slot.generation.wrapping_add(1).max(1);
        self.free.push(index as u32);
        Ok(slot.value.take().expect("located"))
    }

    /// Live values (for leak checks).
    #[cfg(test)]
    pub(crate) fn live(&self) -> usize {
        self.slots.len() - self.free.len()
    }
}

/// The message buffers of one VM.
pub(crate) struct Buffers(Tokens<Vec<u8>>);

impl Default for Buffers {
    fn default() -> Self {
        Buffers(Tokens::new())
    }
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
        LightUserData(std::ptr::without_provenance_mut::<c_void>(self.0.insert(data)))
    }

    /// The bytes behind `token`, the first `size` of them when given.
    pub(crate) fn get(&self, token: LightUserData, size: Option<usize>) -> Result<&[u8], BufferError> {
        let data = self.0.get(token.0 as usize).ok_or(BufferError::Unknown)?;
        match size {
            None => Ok(data),
            Some(given) if given <= data.len() => Ok(&data[..given]),
            Some(given) => Err(BufferError::Size { given, len: data.len() }),
        }
    }

    /// Removes the buffer behind `token` (truncated to `size` when given) and returns it.
    pub(crate) fn take(&mut self, token: LightUserData, size: Option<usize>) -> Result<Vec<u8>, BufferError> {
        let fits = |data: &Vec<u8>| match size {
            Some(given) if given > data.len() => Err(BufferError::Size { given, len: data.len() }),
            _ => Ok(()),
        };
        let mut data =
            self.0.take_if(token.0 as usize, fits).map_err(|e| e.unwrap_or(BufferError::Unknown))?;
        if let Some(given) = size {
            data.truncate(given);
        }
        Ok(data)
    }

    /// Live buffers (for leak checks).
    #[cfg(test)]
    pub(crate) fn live(&self) -> usize {
        self.0.live()
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
