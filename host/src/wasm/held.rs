//! Held messages: payloads of forward-mode types, kept by the host and named to the guest by an
//! opaque `i32` handle (ABI.md, "Ownership").
//!
//! The Lua side solves the same problem in `lua/buffers.rs`, with 64-bit tokens (a 32-bit slot
//! and a 32-bit generation) carried as lightuserdata. A wasm handle must be a positive `i32`, and
//! a slot index plus a generation squeezed into 31 bits would repeat a handle after a few
//! thousand reuses of one slot (a proxy reuses the same slot for every message). So here the
//! generation is the whole handle: handles come from a per-guest counter, and a handle is not
//! issued again until 2^31 − 1 later ones have been. A stale, forged or double-freed handle finds
//! no entry and is refused with `ERR_HANDLE`; it never names another guest's message, since each
//! guest has its own table.

use rustc_hash::FxHashMap;

use super::abi::AbiError;

/// Owns every payload the guest holds.
///
/// Invariants: each key of `live` is in `1..=i32::MAX` and was issued by [`HeldMessages::insert`];
/// `bytes` is the sum of the lengths of the live payloads; `next` is in `1..=i32::MAX`.
pub(crate) struct HeldMessages {
    live: FxHashMap<i32, Vec<u8>>,
    next: i32,
    bytes: usize,
}

/// Host memory one held entry takes besides its payload (map slot, Vec header), rounded up.
pub(crate) const ENTRY_OVERHEAD: usize = 64;

impl Default for HeldMessages {
    fn default() -> Self {
        HeldMessages { live: FxHashMap::default(), next: 1, bytes: 0 }
    }
}

impl HeldMessages {
    /// Takes ownership of `data` and returns its handle (positive).
    pub(crate) fn insert(&mut self, data: Vec<u8>) -> i32 {
        // At most `live.len() + 1` probes: the table cannot hold 2^31 - 1 payloads (each costs
        // memory and the memory cap is far below that many entries).
        let mut handle = self.next;
        while self.live.contains_key(&handle) {
            handle = Self::after(handle);
        }
        self.next = Self::after(handle);
        self.bytes += Self::charge(&data);
        self.live.insert(handle, data);
        handle
    }

    /// What one held payload costs against the memory cap: its bytes plus the table entry, so
    /// that even empty payloads cannot pile up without bound.
    fn charge(data: &[u8]) -> usize {
        data.len() + ENTRY_OVERHEAD
    }

    fn after(handle: i32) -> i32 {
        if handle == i32::MAX { 1 } else { handle + 1 }
    }

    /// The payload behind `handle`; it stays held.
    pub(crate) fn get(&self, handle: i32) -> Result<&[u8], AbiError> {
        self.live.get(&handle).map(Vec::as_slice).ok_or(AbiError::Handle)
    }

    /// Removes the payload behind `handle` and hands it to the caller.
    pub(crate) fn take(&mut self, handle: i32) -> Result<Vec<u8>, AbiError> {
        let data = self.live.remove(&handle).ok_or(AbiError::Handle)?;
        self.bytes -= Self::charge(&data);
        Ok(data)
    }

    /// How many payloads are held.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.live.len()
    }

    /// Bytes of all held payloads plus their entries (they count against the guest's memory
    /// cap).
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    #[cfg(test)]
    fn set_next_for_test(&mut self, next: i32) {
        self.next = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handle_is_good_once() {
        let mut h = HeldMessages::default();
        let a = h.insert(vec![1, 2, 3]);
        assert!(a > 0);
        assert_eq!(h.get(a).unwrap(), &[1, 2, 3]);
        assert_eq!(h.bytes(), 3 + ENTRY_OVERHEAD);
        assert_eq!(h.take(a).unwrap(), vec![1, 2, 3]);
        assert_eq!(h.take(a), Err(AbiError::Handle));
        assert_eq!(h.get(a), Err(AbiError::Handle));
        assert_eq!(h.bytes(), 0);
        // The next payload gets a new handle: the old one stays dead.
        let b = h.insert(vec![9]);
        assert_ne!(a, b);
        assert_eq!(h.get(a), Err(AbiError::Handle));
    }

    #[test]
    fn empty_payloads_are_charged_too() {
        let mut h = HeldMessages::default();
        for _ in 0..10 {
            h.insert(Vec::new());
        }
        assert_eq!(h.bytes(), 10 * ENTRY_OVERHEAD);
    }

    #[test]
    fn forged_handles_are_refused() {
        let mut h = HeldMessages::default();
        let a = h.insert(vec![0; 4]);
        for forged in [0, -1, i32::MIN, i32::MAX, a + 1, a ^ (1 << 20)] {
            assert_eq!(h.get(forged), Err(AbiError::Handle), "{forged}");
            assert_eq!(h.take(forged), Err(AbiError::Handle), "{forged}");
        }
        assert_eq!(h.len(), 1);
    }

    #[test]
    fn the_counter_wraps_past_live_handles() {
        let mut h = HeldMessages::default();
        let one = h.insert(vec![1]);
        assert_eq!(one, 1);
        h.set_next_for_test(i32::MAX);
        assert_eq!(h.insert(vec![2]), i32::MAX);
        // 1 is still live: the counter skips it.
        assert_eq!(h.insert(vec![3]), 2);
        assert_eq!(h.len(), 3);
    }
}
