//! Message buffers lent to Lua as lightuserdata.
//!
//! skynet hands Lua raw `void*` message pointers and trusts it to pass them back intact. skybox
//! hands out opaque tokens instead: a token names a slot and the slot's generation, so a token
//! that is unknown, already freed or forged is refused with an error instead of being
//! dereferenced or freed twice. A buffer leaves the table exactly once: sent on, trashed, or
//! released by the host after a non-forwarding dispatch.
//!
//! skynet code also packs a message pointer into another message (`skynet.call(addr, "lua",
//! cmd, skynet.pack(t))`) for the receiver to unpack and trash. Such a block *travels*: packing
//! moves it out of the sender's table into a process-wide one, under a handle with 32 random
//! bits, which every VM's table answers for as for its own tokens (see [`Travelling`]).

use std::ffi::c_void;
use std::ops::Deref;
use std::sync::{Arc, Mutex, MutexGuard};

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

/// A block's bytes: this VM's, or shared ones (travelling, a multicast package) of which the
/// first `.1` are the block's.
pub(crate) enum Block<'a> {
    Here(&'a [u8]),
    Shared(Arc<Vec<u8>>, usize),
}

impl Block<'_> {
    /// The first `size` bytes when given.
    pub(crate) fn first(self, size: Option<usize>) -> Result<Self, BufferError> {
        let len = self.len();
        match (self, size) {
            (block, None) => Ok(block),
            (_, Some(given)) if given > len => Err(BufferError::Size { given, len }),
            (Block::Here(data), Some(given)) => Ok(Block::Here(&data[..given])),
            (Block::Shared(data, _), Some(given)) => Ok(Block::Shared(data, given)),
        }
    }
}

impl PartialEq for Block<'_> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl std::fmt::Debug for Block<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", &**self)
    }
}

impl Deref for Block<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Block::Here(data) => data,
            Block::Shared(data, len) => &data[..(*len).min(data.len())],
        }
    }
}

/// A number no service can predict from the ones it saw: SipHash, keyed at random once per
/// process, of a counter (handles carry these as their unguessable part).
pub(crate) fn secret_nonce(counter: u64) -> u32 {
    use std::hash::{BuildHasher, Hasher};
    static KEY: std::sync::OnceLock<std::collections::hash_map::RandomState> = std::sync::OnceLock::new();
    let mut hasher = KEY.get_or_init(std::collections::hash_map::RandomState::new).build_hasher();
    hasher.write_u64(counter);
    hasher.finish() as u32 | 1
}

/// Values named by a *sealed* key, `nonce << 32 | index`: the nonce is [`secret_nonce`]'s, drawn
/// per value, so a key is good once and cannot be guessed from another. Indexes stay below
/// 2^31, so a user may mark its keys with bit 31 (multicast's kinds). Process-wide tables of
/// values any VM may name (travelling blocks, multicast packages) are `Sealed`.
pub(crate) struct Sealed<T> {
    slots: Vec<Option<(u32, T)>>,
    free: Vec<u32>,
    /// Counts nonces drawn.
    drawn: u64,
}

impl<T> Sealed<T> {
    pub(crate) const fn new() -> Sealed<T> {
        Sealed { slots: Vec::new(), free: Vec::new(), drawn: 0 }
    }

    /// Takes `value`; its key.
    pub(crate) fn insert(&mut self, value: T) -> u64 {
        self.drawn += 1;
        let nonce = secret_nonce(self.drawn);
        let index = match self.free.pop() {
            Some(index) => {
                self.slots[index as usize] = Some((nonce, value));
                index
            }
            None => {
                assert!(self.slots.len() < 1 << 31, "2^31 live values");
                self.slots.push(Some((nonce, value)));
                (self.slots.len() - 1) as u32
            }
        };
        (u64::from(nonce) << 32) | u64::from(index)
    }

    fn locate(&self, key: u64) -> Option<usize> {
        let index = (key & 0xffff_ffff) as usize;
        match self.slots.get(index) {
            Some(Some((nonce, _))) if u64::from(*nonce) == key >> 32 => Some(index),
            _ => None,
        }
    }

    pub(crate) fn get_mut(&mut self, key: u64) -> Option<&mut T> {
        let index = self.locate(key)?;
        self.slots[index].as_mut().map(|(_, value)| value)
    }

    pub(crate) fn remove(&mut self, key: u64) -> Option<T> {
        let index = self.locate(key)?;
        self.free.push(index as u32);
        self.slots[index].take().map(|(_, value)| value)
    }
}

/// Blocks packed into a message (see the module docs), by sealed key.
static TRAVELLING: Mutex<Sealed<Arc<Vec<u8>>>> = Mutex::new(Sealed::new());

fn travelling() -> MutexGuard<'static, Sealed<Arc<Vec<u8>>>> {
    TRAVELLING.lock().unwrap_or_else(|e| e.into_inner())
}

/// Marks message-block tokens apart from the other token tables' (stm copies, datasheet and
/// sharetable pointers), which count from the same small numbers: a value one of those hands
/// out is never mistaken for a block (see [`Buffers::depart`]).
const BLOCK_TAG: usize = 0x2d << 56;

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
        LightUserData(std::ptr::without_provenance_mut::<c_void>(self.0.insert(data) ^ BLOCK_TAG))
    }

    /// The bytes behind `token` (this VM's block, or a travelling one), the first `size` of
    /// them when given.
    pub(crate) fn get(&self, token: LightUserData, size: Option<usize>) -> Result<Block<'_>, BufferError> {
        let block = match self.0.get(token.0 as usize ^ BLOCK_TAG) {
            Some(data) => Block::Here(data),
            None => Block::Shared(
                travelling().get_mut(token.0 as usize as u64).ok_or(BufferError::Unknown)?.clone(),
                usize::MAX,
            ),
        };
        block.first(size)
    }

    /// Removes the buffer behind `token` (this VM's block, or a travelling one), truncated to
    /// `size` when given, and returns it.
    pub(crate) fn take(&mut self, token: LightUserData, size: Option<usize>) -> Result<Vec<u8>, BufferError> {
        let fits = |data: &[u8]| match size {
            Some(given) if given > data.len() => Err(BufferError::Size { given, len: data.len() }),
            _ => Ok(()),
        };
        let mut data = match self.0.take_if(token.0 as usize ^ BLOCK_TAG, |data| fits(data)) {
            Ok(data) => data,
            Err(Some(err)) => return Err(err),
            Err(None) => {
                let mut travelling = travelling();
                let key = token.0 as usize as u64;
                fits(travelling.get_mut(key).ok_or(BufferError::Unknown)?)?;
                let data = travelling.remove(key).expect("found above");
                Arc::try_unwrap(data).unwrap_or_else(|shared| (*shared).clone())
            }
        };
        if let Some(given) = size {
            data.truncate(given);
        }
        Ok(data)
    }

    /// Moves this VM's block `token` into the travelling table; its handle there. `None` (nothing
    /// done) for anything that is not one of this VM's blocks.
    pub(crate) fn depart(&mut self, token: usize) -> Option<usize> {
        let data = self.0.take(token ^ BLOCK_TAG)?;
        Some(travelling().insert(Arc::new(data)) as usize)
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
        assert_eq!(*b.get(t, Some(2)).unwrap(), [1, 2]);
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
    fn a_departed_block_is_any_vms_once() {
        let (mut a, mut b) = (Buffers::default(), Buffers::default());
        let t = a.insert(vec![5, 6, 7]);
        let handle = a.depart(t.0 as usize).unwrap();
        let h = LightUserData(std::ptr::without_provenance_mut(handle));
        assert_eq!(a.get(t, None), Err(BufferError::Unknown));
        assert_eq!(*b.get(h, Some(2)).unwrap(), [5, 6]);
        assert_eq!(b.take(h, Some(4)), Err(BufferError::Size { given: 4, len: 3 }));
        assert_eq!(a.take(h, None).unwrap(), vec![5, 6, 7]);
        assert_eq!(b.take(h, None), Err(BufferError::Unknown));
        // Another nonce, the same slot: nothing.
        let one = a.insert(vec![1]);
        let again = a.depart(one.0 as usize).unwrap();
        let forged = LightUserData(std::ptr::without_provenance_mut(again ^ (1 << 40)));
        assert_eq!(b.get(forged, None), Err(BufferError::Unknown));
        assert!(a.depart(12345).is_none());
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
