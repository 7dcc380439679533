//! The socket table: 65536 slots, each a lock around at most one socket, and the ids that name
//! them.
//!
//! An id comes from a 31-bit counter; its low 16 bits pick the slot. A socket keeps its id, and
//! every operation by id checks it under the slot's lock, so an id whose socket is gone (a stale
//! or forged id) finds nothing, and never reaches the socket that took the slot after it: the
//! counter does not come back to an id until 2^31 sockets later.

use parking_lot::{Mutex, MutexGuard};
use std::sync::atomic::{AtomicU32, Ordering};

use super::socket::Socket;

/// Slots in the table, as skynet's `MAX_SOCKET`.
pub(crate) const SLOTS: usize = 1 << 16;

/// The table.
///
/// Invariant: a slot holds a socket whose `id & 0xffff` is the slot's index; the lock of a slot
/// is held by whoever reads or changes its socket (a worker sending, the socket thread).
pub(crate) struct Slots {
    slots: Box<[Mutex<Option<Box<Socket>>>]>,
    next: AtomicU32,
}

impl Default for Slots {
    fn default() -> Self {
        Slots { slots: (0..SLOTS).map(|_| Mutex::new(None)).collect(), next: AtomicU32::new(0) }
    }
}

/// A locked slot with a live socket of the id it was locked for.
pub(crate) type Locked<'a> = MutexGuard<'a, Option<Box<Socket>>>;

impl Slots {
    /// Puts the socket `make(id)` into a free slot under a new id; `None` when every slot is taken.
    pub(crate) fn insert(&self, make: impl FnOnce(i32) -> Socket) -> Option<(i32, Locked<'_>)> {
        for _ in 0..SLOTS {
            let id = (self.next.fetch_add(1, Ordering::Relaxed).wrapping_add(1) & 0x7fff_ffff) as i32;
            if id == 0 {
                continue;
            }
            let Some(mut slot) = self.slots[id as usize % SLOTS].try_lock() else { continue };
            if slot.is_none() {
                *slot = Some(Box::new(make(id)));
                return Some((id, slot));
            }
        }
        None
    }

    /// The slot of `id`, locked, if it still holds that socket.
    pub(crate) fn lock(&self, id: i32) -> Option<Locked<'_>> {
        if id <= 0 {
            return None;
        }
        let slot = self.slots[id as usize % SLOTS].lock();
        slot.as_ref().is_some_and(|s| s.id == id).then_some(slot)
    }

    /// Every slot, locked one at a time (for listings and the final close).
    pub(crate) fn each(&self, mut f: impl FnMut(&mut Locked<'_>)) {
        for slot in self.slots.iter() {
            let mut slot = slot.lock();
            if slot.is_some() {
                f(&mut slot);
            }
        }
    }
}
