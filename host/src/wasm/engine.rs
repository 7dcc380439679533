//! The node's wasmtime engine: code generation with fuel metering and epoch interruption, and
//! where instances live.
//!
//! Spawning is fastest with the pooling allocator (instance, memory and table slots reserved up
//! front, memory images mapped copy-on-write), but a pool has a fixed number of slots. So the
//! node keeps two engines with identical code-generation settings: the primary one, pooled with
//! `wasm_pool` slots, and an on-demand twin built the first time the pool is full (or the only
//! one when `wasm_pool = 0` or the pool cannot be reserved). Pooling does not change generated
//! code, so a module compiled for one loads into the other (see `modules`); the number of guests
//! is bounded by memory, not by the pool.

use std::sync::OnceLock;

use wasmtime::{Config, Engine, InstanceAllocationStrategy, Linker, PoolingAllocationConfig};

use super::limiter::MAX_TABLE_ELEMENTS;
use super::state::GuestState;

/// An engine and the linker that provides the `skybox` imports on it.
///
/// Invariant: `linker` was built for `engine` and defines every import of ABI.md.
pub struct Flavor {
    pub engine: Engine,
    pub linker: Linker<GuestState>,
    /// Whether instances come from the pool.
    pub pooled: bool,
}

/// The primary engine and its lazily built on-demand twin.
///
/// Invariant: both engines are built from [`base_config`] with the same `metering` flag, so
/// they share a precompile compatibility hash; only the allocation strategy differs.
pub struct Engines {
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

fn flavor(config: &Config, pooled: bool) -> wasmtime::Result<Flavor> {
    let engine = Engine::new(config)?;
    let linker = super::imports::linker(&engine)?;
    Ok(Flavor { engine, linker, pooled })
}

impl Engines {
    /// Builds the primary engine: pooled with `pool` slots when `pool > 0`. If the pool cannot be
    /// reserved, the primary engine allocates on demand and the reason is returned as a warning.
    pub fn new(metering: bool, pool: u32) -> anyhow::Result<(Engines, Option<String>)> {
        let mut warning = None;
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
                Ok(primary) => return Ok((Engines { primary, on_demand: OnceLock::new(), metering }, None)),
                Err(err) => {
                    warning = Some(format!(
                        "wasm: cannot reserve a pool of {pool} guests ({err}); allocating on demand"
                    ))
                }
            }
        }
        let primary = flavor(&base_config(metering), false).map_err(anyhow::Error::from)?;
        Ok((Engines { primary, on_demand: OnceLock::new(), metering }, warning))
    }

    /// The engine modules are compiled for.
    pub fn primary(&self) -> &Flavor {
        &self.primary
    }

    /// The on-demand engine: the primary one if it is not pooled, else its twin (built now if
    /// this is the first time it is needed).
    pub fn on_demand(&self) -> anyhow::Result<&Flavor> {
        if !self.primary.pooled {
            return Ok(&self.primary);
        }
        if let Some(f) = self.on_demand.get() {
            return Ok(f);
        }
        let built = flavor(&base_config(self.metering), false)?;
        Ok(self.on_demand.get_or_init(|| built))
    }

    /// Whether fuel is metered.
    pub fn metering(&self) -> bool {
        self.metering
    }
}

/// Whether an instantiation failed only because every pool slot is taken.
pub fn pool_exhausted(err: &wasmtime::Error) -> bool {
    err.chain().any(|e| e.downcast_ref::<wasmtime::PoolConcurrencyLimitError>().is_some())
}
