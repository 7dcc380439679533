//! The memory cap of one guest: wasmtime's `StoreLimits`, plus a note of the last growth it
//! refused, so that a guest that dies after hitting the cap is reported as "memory limit" rather
//! than by whatever trap its allocator ends in.

use wasmtime::{ResourceLimiter, StoreLimits, StoreLimitsBuilder};

/// Table elements a guest may have (function-pointer tables; Rust guests use a few hundred).
pub(crate) const MAX_TABLE_ELEMENTS: usize = 1 << 16;

/// The limits of one guest's store.
///
/// Invariant: `limits` never lets linear memory exceed `cap` bytes; growth past it makes
/// `memory.grow` return -1 (no trap) and is remembered in `refused` until taken.
pub(crate) struct Limiter {
    limits: StoreLimits,
    cap: usize,
    refused: Option<usize>,
}

impl Limiter {
    /// A limiter for a guest of at most `cap` bytes of linear memory: one instance, one memory,
    /// one table of at most [`MAX_TABLE_ELEMENTS`].
    pub(crate) fn new(cap: usize) -> Limiter {
        let limits = StoreLimitsBuilder::new()
            .memory_size(cap)
            .table_elements(MAX_TABLE_ELEMENTS)
            .instances(1)
            .memories(1)
            .tables(1)
            .trap_on_grow_failure(false)
            .build();
        Limiter { limits, cap, refused: None }
    }

    pub(crate) fn cap(&self) -> usize {
        self.cap
    }

    /// The size (bytes) of the last growth refused since the previous call, if any.
    pub(crate) fn take_refused(&mut self) -> Option<usize> {
        self.refused.take()
    }
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = self.limits.memory_growing(current, desired, maximum)?;
        if !allowed {
            self.refused = Some(desired);
        }
        Ok(allowed)
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.limits.memory_grow_failed(error)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.limits.table_growing(current, desired, maximum)
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.limits.table_grow_failed(error)
    }

    fn instances(&self) -> usize {
        self.limits.instances()
    }

    fn tables(&self) -> usize {
        self.limits.tables()
    }

    fn memories(&self) -> usize {
        self.limits.memories()
    }
}
