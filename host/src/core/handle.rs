//! Handles and names: the map from a 32-bit address to a live service.
//!
//! Handles come from a counter, not a free list, so an address is not reused until the 24-bit
//! local index wraps around (skynet's scheme): a message to a service that just exited finds
//! nothing rather than a newcomer. The table is an open-addressed array indexed by the low bits of
//! the handle; lookups on the message path take no lock (an `ArcSwap` load and a reference-count
//! increment), while registration and retirement serialize on a writer mutex.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::{ArcSwap, ArcSwapOption};
use parking_lot::{Mutex, RwLock};

use super::message::Handle;
use super::service::Service;

/// The local part of a handle; the high 8 bits name the harbor (node).
pub(crate) const HANDLE_MASK: u32 = 0x00ff_ffff;
const INITIAL_SLOTS: usize = 64;

/// The node's live services by handle, and its local names.
///
/// Invariant: every handle carries this table's harbor id, and a handle is not given to another
/// service until the 24-bit counter wraps around.
pub struct HandleTable {
    harbor: u32,
    slots: ArcSwap<Slots>,
    writer: Mutex<Writer>,
    names: RwLock<HashMap<Box<str>, Handle>>,
}

struct Slots {
    mask: usize,
    entries: Box<[ArcSwapOption<Service>]>,
}

struct Writer {
    next_index: u32,
    live: usize,
}

impl Slots {
    fn with_capacity(cap: usize) -> Slots {
        debug_assert!(cap.is_power_of_two());
        Slots { mask: cap - 1, entries: (0..cap).map(|_| ArcSwapOption::empty()).collect() }
    }

    fn slot(&self, handle: Handle) -> &ArcSwapOption<Service> {
        &self.entries[handle as usize & self.mask]
    }
}

impl HandleTable {
    /// An empty table whose handles carry `harbor` in their high 8 bits.
    pub fn new(harbor: u8) -> HandleTable {
        HandleTable {
            harbor: (harbor as u32) << 24,
            slots: ArcSwap::from_pointee(Slots::with_capacity(INITIAL_SLOTS)),
            writer: Mutex::new(Writer { next_index: 1, live: 0 }),
            names: RwLock::new(HashMap::new()),
        }
    }

    /// Allocates a handle, builds the service for it with `make` and makes it reachable.
    pub fn register(&self, make: impl FnOnce(Handle) -> Arc<Service>) -> Arc<Service> {
        let mut writer = self.writer.lock();
        loop {
            let slots = self.slots.load();
            let cap = slots.entries.len();
            for step in 0..cap as u32 {
                let index = writer.next_index.wrapping_add(step) & HANDLE_MASK;
                if index == 0 {
                    continue;
                }
                let handle = index | self.harbor;
                let slot = slots.slot(handle);
                if slot.load().is_none() {
                    let service = make(handle);
                    debug_assert_eq!(service.handle(), handle);
                    slot.store(Some(service.clone()));
                    writer.next_index = index.wrapping_add(1) & HANDLE_MASK;
                    writer.live += 1;
                    return service;
                }
            }
            // Full: double the table. Readers holding the old table still see valid services.
            let bigger = Slots::with_capacity(cap * 2);
            for entry in slots.entries.iter() {
                if let Some(service) = entry.load_full() {
                    bigger.slot(service.handle()).store(Some(service));
                }
            }
            self.slots.store(Arc::new(bigger));
        }
    }

    /// Makes `service` reachable at its own handle (a replay's one service, whose handle is the
    /// recorded one). False if that handle is taken.
    pub(crate) fn register_at(&self, service: Arc<Service>) -> bool {
        let mut writer = self.writer.lock();
        let slots = self.slots.load();
        let slot = slots.slot(service.handle());
        if slot.load().is_some() {
            return false;
        }
        slot.store(Some(service));
        writer.live += 1;
        true
    }

    /// The live service at `handle`, if any.
    #[inline]
    pub fn grab(&self, handle: Handle) -> Option<Arc<Service>> {
        let slots = self.slots.load();
        let entry = slots.slot(handle).load();
        match &*entry {
            Some(service) if service.handle() == handle => Some(Arc::clone(service)),
            _ => None,
        }
    }

    /// Makes `handle` unreachable and drops its names; returns the service if it was live.
    pub(crate) fn retire(&self, handle: Handle) -> Option<Arc<Service>> {
        let mut writer = self.writer.lock();
        let slots = self.slots.load();
        let slot = slots.slot(handle);
        let service = slot.load_full().filter(|s| s.handle() == handle)?;
        slot.store(None);
        writer.live -= 1;
        drop(writer);
        self.names.write().retain(|_, h| *h != handle);
        Some(service)
    }

    /// Every live service, for a global stop.
    pub(crate) fn all(&self) -> Vec<Arc<Service>> {
        let _writer = self.writer.lock();
        self.slots.load().entries.iter().filter_map(|e| e.load_full()).collect()
    }

    /// How many services are registered.
    pub fn live(&self) -> usize {
        self.writer.lock().live
    }

    /// Binds a local name (`.name`); false if the name is taken.
    pub(crate) fn bind_name(&self, name: &str, handle: Handle) -> bool {
        let mut names = self.names.write();
        if names.contains_key(name) {
            return false;
        }
        names.insert(name.into(), handle);
        true
    }

    pub(crate) fn find_name(&self, name: &str) -> Option<Handle> {
        self.names.read().get(name).copied()
    }

    pub(crate) fn harbor(&self) -> u8 {
        (self.harbor >> 24) as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table_with(n: usize) -> (HandleTable, Vec<Handle>) {
        let table = HandleTable::new(0);
        let handles = (0..n).map(|_| table.register(Service::bare).handle()).collect();
        (table, handles)
    }

    #[test]
    fn handles_grow_and_resolve() {
        let (table, handles) = table_with(1000);
        assert_eq!(handles[0], 1);
        for h in &handles {
            assert_eq!(table.grab(*h).unwrap().handle(), *h);
        }
        assert_eq!(table.live(), 1000);
    }

    #[test]
    fn retired_handles_are_not_reused_soon() {
        let (table, handles) = table_with(10);
        let gone = handles[3];
        assert!(table.retire(gone).is_some());
        assert!(table.retire(gone).is_none());
        assert!(table.grab(gone).is_none());
        let fresh = table.register(Service::bare).handle();
        assert!(fresh > handles[9], "new handle {fresh} must not reuse {gone}");
    }

    #[test]
    fn names_bind_once_and_vanish_with_the_service() {
        let (table, handles) = table_with(2);
        assert!(table.bind_name(".a", handles[0]));
        assert!(!table.bind_name(".a", handles[1]));
        assert_eq!(table.find_name(".a"), Some(handles[0]));
        table.retire(handles[0]);
        assert_eq!(table.find_name(".a"), None);
    }

    #[test]
    fn harbor_bits_are_kept() {
        let table = HandleTable::new(3);
        let h = table.register(Service::bare).handle();
        assert_eq!(h >> 24, 3);
        assert!(table.grab(h).is_some());
    }
}
