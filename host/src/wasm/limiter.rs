//! The memory cap of one guest: wasmtime's `StoreLimits` and its tenant's memory total, plus a
//! note of the last growth it refused, so that a guest that dies after hitting the cap is reported as "memory limit" rather
//! than by whatever trap its allocator ends in.

use wasmtime::{ResourceLimiter, StoreLimits, StoreLimitsBuilder};

use crate::core::tenant::{MemoryCharge, Tenant};

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
    /// The guest's tenant's memory account, charged as the memory grows.
    tenant: Option<MemoryCharge>,
    /// The last growth charged, given back if it then fails.
    last_growth: usize,
    /// The last refusal was the tenant's total, not the guest's cap.
    pub(crate) tenant_refused: bool,
}

impl Limiter {
    /// A limiter for a guest of at most `cap` bytes of linear memory: one instance, one memory,
    /// one table of at most [`MAX_TABLE_ELEMENTS`].
    pub(crate) fn new(cap: usize, tenant: Option<MemoryCharge>) -> Limiter {
        let limits = StoreLimitsBuilder::new()
            .memory_size(cap)
            .table_elements(MAX_TABLE_ELEMENTS)
            .instances(1)
            .memories(1)
            .tables(1)
            .trap_on_grow_failure(false)
            .build();
        Limiter { limits, cap, refused: None, tenant, last_growth: 0, tenant_refused: false }
    }

    pub(crate) fn cap(&self) -> usize {
        self.cap
    }

    /// The tenant whose total refused the last growth, if that was the reason.
    pub(crate) fn refusing_tenant(&self) -> Option<&Tenant> {
        self.tenant.as_ref().filter(|_| self.tenant_refused).map(MemoryCharge::tenant)
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
        let mut allowed = self.limits.memory_growing(current, desired, maximum)?;
        self.last_growth = 0;
        if allowed && let Some(account) = &mut self.tenant {
            let growth = desired.saturating_sub(current);
            if account.grow(growth).is_ok() {
                self.last_growth = growth;
            } else {
                allowed = false;
                self.tenant_refused = true;
            }
        }
        if !allowed {
            self.refused = Some(desired);
        }
        Ok(allowed)
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        if let Some(account) = &mut self.tenant {
            account.shrink(std::mem::take(&mut self.last_growth));
        }
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
