//! The node's wasmtime engines: code generation with fuel metering and epoch interruption, and
//! where instances live.
//!
//! Two engines share the fuel and epoch settings but not their memories:
//! - the primary engine pools `wasm_pool` instance slots. Each memory has 4 GiB of address space
//!   plus a guard region, so compiled code needs no bounds checks, and its initial image is
//!   mapped copy-on-write: the fastest code and the fastest spawn. But a pooled guest costs
//!   about four memory mappings, and Linux allows a process `vm.max_map_count` of them (65530
//!   by default), so the pool stays a bounded fast path;
//! - the dense engine, for every guest beyond the pool (built the first time the pool is full or
//!   refuses a module), or the only one when `wasm_pool = 0` or the pool cannot be reserved. Its
//!   memories come from `dense`: no reservation and no guard pages, so its code checks each
//!   access against the memory's current size, and a guest costs no mapping of its own. The
//!   number of guests is then bounded by memory (RSS), not by mappings or address space.
//!
//! The two engines generate different code, so a module is compiled once for each engine it
//! runs on (see `modules`).

use std::sync::{Arc, OnceLock};

use wasmtime::{Config, Engine, InstanceAllocationStrategy, Linker, PoolingAllocationConfig};

use super::dense::DenseMemories;
use super::limiter::MAX_TABLE_ELEMENTS;
use super::state::GuestState;

/// Memory mappings one pooled guest in use costs (measured): the pages before its data (the
/// shadow stack), the copy-on-write image, the rest of its accessible memory, and the
/// inaccessible remainder of its slot.
const MAPPINGS_PER_POOLED_GUEST: u64 = 4;

/// An engine and the linker that provides the `skybox` imports on it.
///
/// Invariant: `linker` was built for `engine` and defines every import of ABI.md.
pub(crate) struct Flavor {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<GuestState>,
    /// Whether instances come from the pool (else their memories are dense).
    pub(crate) pooled: bool,
}

/// The primary engine and its lazily built on-demand (dense) twin.
///
/// Invariant: both engines are built from [`base_config`] with the same `metering` flag; the
/// on-demand one is the dense engine ([`dense_config`]) and, when `primary` is not pooled, is
/// `primary` itself.
pub(crate) struct Engines {
    primary: Flavor,
    on_demand: OnceLock<Flavor>,
    metering: bool,
}

/// The settings every engine of a node shares.
fn base_config(metering: bool) -> Config {
    let mut config = Config::new();
    // Fuel: the per-message budget (ABI.md, Limits). Without it (fuel = 0) nothing is metered.
    config.consume_fuel(metering);
    // Epochs: SIGNAL and the node's stop interrupt a running guest (see `guest::Interrupt`).
    config.epoch_interruption(true);
    // Kill reports name the function that trapped (the innermost frame is enough).
    config.wasm_backtrace_max_frames(std::num::NonZeroUsize::new(4));
    config.memory_init_cow(true);
    config
}

/// The dense engine's settings: no reservation and no guard pages (so the code bounds-checks
/// every access against the current size), memories from [`DenseMemories`] (which refuse any
/// other settings), data segments copied in (a copy-on-write image needs a mapping per guest).
fn dense_config(metering: bool) -> Config {
    let mut config = base_config(metering);
    config
        .memory_reservation(0)
        .memory_guard_size(0)
        .memory_reservation_for_growth(0)
        .guard_before_linear_memory(false)
        .memory_init_cow(false)
        .with_host_memory(Arc::new(DenseMemories::default()));
    config
}

fn flavor(config: &Config, pooled: bool) -> wasmtime::Result<Flavor> {
    let engine = Engine::new(config)?;
    let linker = super::imports::linker(&engine)?;
    Ok(Flavor { engine, linker, pooled })
}

impl Engines {
    /// Builds the primary engine: pooled with `pool` slots when `pool > 0`. If the pool cannot be
    /// reserved, the primary engine is the dense one and the reason is returned as a warning, as
    /// is a pool that would use up `max_map_count` (the process's mapping limit, if known).
    pub(crate) fn new(
        metering: bool,
        pool: u32,
        max_map_count: Option<u64>,
    ) -> anyhow::Result<(Engines, Vec<String>)> {
        let mut warnings = Vec::new();
        if let Some(max) = max_map_count
            && u64::from(pool) * MAPPINGS_PER_POOLED_GUEST > max / 2
        {
            warnings.push(format!(
                "wasm: a full pool of {pool} guests takes about {} of the {max} memory mappings \
                 a process may have (vm.max_map_count); consider a smaller wasm_pool",
                u64::from(pool) * MAPPINGS_PER_POOLED_GUEST
            ));
        }
        if pool > 0 {
            let mut pooling = PoolingAllocationConfig::new();
            pooling
                .total_core_instances(pool)
                .total_memories(pool)
                .total_tables(pool)
                .max_memories_per_module(1)
                .max_tables_per_module(1)
                .table_elements(MAX_TABLE_ELEMENTS)
                // Any cap up to 4 GiB fits a slot; each store's limiter applies the real cap.
                .max_memory_size(1 << 32);
            let mut config = base_config(metering);
            config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
            match flavor(&config, true) {
                Ok(primary) => {
                    return Ok((Engines { primary, on_demand: OnceLock::new(), metering }, warnings));
                }
                Err(err) => warnings.push(format!(
                    "wasm: cannot reserve a pool of {pool} guests ({err}); allocating on demand"
                )),
            }
        }
        let primary = flavor(&dense_config(metering), false).map_err(anyhow::Error::from)?;
        Ok((Engines { primary, on_demand: OnceLock::new(), metering }, warnings))
    }

    /// The engine modules are compiled for first (the pooled one, when there is a pool).
    pub(crate) fn primary(&self) -> &Flavor {
        &self.primary
    }

    /// The on-demand (dense) engine: the primary one if it is not pooled, else its twin (built
    /// now if this is the first time it is needed).
    pub(crate) fn on_demand(&self) -> anyhow::Result<&Flavor> {
        if !self.primary.pooled {
            return Ok(&self.primary);
        }
        if let Some(f) = self.on_demand.get() {
            return Ok(f);
        }
        let built = flavor(&dense_config(self.metering), false)?;
        Ok(self.on_demand.get_or_init(|| built))
    }

    /// Whether fuel is metered.
    pub(crate) fn metering(&self) -> bool {
        self.metering
    }
}

/// Whether an instantiation failed only because every pool slot is taken.
pub(crate) fn pool_exhausted(err: &wasmtime::Error) -> bool {
    err.chain().any(|e| e.downcast_ref::<wasmtime::PoolConcurrencyLimitError>().is_some())
}
