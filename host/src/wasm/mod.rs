//! Wasm guests: services compiled to wasm32, run by wasmtime with fuel and memory limits, on the
//! same scheduler and message ABI as Lua services (`guest-sdk/ABI.md`).
//!
//! - [`settings`]: config keys (`wasmservice`, `fuel`, `wasm_memlimit`, `wasm_pool`,
//!   `wasm_cache`), per-launch options, finding a module;
//! - `engine`: the node's engines (pooled, with a dense on-demand twin for guests beyond the
//!   pool); `dense`: the memories of that twin, which cost no memory mapping per guest;
//! - `modules` and `disk`: modules compiled once per node, and kept on disk between runs;
//! - `guest`: one guest as an [`Actor`]; `report`: its kill line;
//! - `state`, `imports`, `net`, `memory`, `held`, `limiter`: the host side of the ABI (`net`:
//!   sockets, for the guests the config grants them).
//!
//! The runtime registers as `wasm` (`LAUNCH "wasm [--fuel=N] [--memlimit=BYTES] name args..."`)
//! and, through `WasmRuntime::lua_fallback`, makes `snlua NAME` launch the wasm module NAME
//! when there is no Lua service of that name, so `skynet.newservice(name)` finds guests too.

mod abi;
mod dense;
mod disk;
mod engine;
mod files;
mod guest;
mod held;
mod imports;
mod limiter;
mod memory;
mod modules;
mod net;
mod recorded;
mod report;
pub mod settings;
mod state;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use anyhow::anyhow;

use crate::config::Config;
use crate::core::node::{Node, RuntimeFactory};
use crate::core::profile::Profile;
use crate::core::service::{Actor, Service};
use disk::DiskCache;
use engine::Engines;
use modules::{Compiled, ModuleCache, Ready};
use settings::{LaunchSpec, Settings};

pub use modules::CacheStats;

/// The wasm runtime of one node: settings, engine and compiled modules, shared by every guest.
///
/// Invariant: `core` is built once, on the first launch (a node without guests reserves no pool),
/// and never changes; every cached module belongs to its engines.
pub struct WasmRuntime {
    settings: Settings,
    core: OnceLock<Result<Core, String>>,
    modules: ModuleCache,
    pool_full_noted: AtomicBool,
}

/// What the first launch builds. Invariant: `disk` (if any) was opened for `engines`' primary
/// engine, `on_demand_disk` (once set) for its on-demand engine, in the same directory.
struct Core {
    engines: Engines,
    disk: Option<DiskCache>,
    on_demand_disk: OnceLock<Option<DiskCache>>,
}

impl WasmRuntime {
    /// A runtime configured from the node's environment (the config keys of [`settings`]).
    pub(crate) fn new(node: &Node) -> anyhow::Result<Arc<WasmRuntime>> {
        Ok(WasmRuntime::with_settings(Settings::from_env(|k| node.getenv(k))?))
    }

    /// A runtime with the given settings (nothing is built until the first launch).
    pub fn with_settings(settings: Settings) -> Arc<WasmRuntime> {
        Arc::new(WasmRuntime {
            settings,
            core: OnceLock::new(),
            modules: ModuleCache::default(),
            pool_full_noted: AtomicBool::new(false),
        })
    }

    pub(crate) fn settings(&self) -> &Settings {
        &self.settings
    }

    /// How modules were obtained so far (compiled, from the disk cache, from memory).
    pub fn cache_stats(&self) -> &CacheStats {
        &self.modules.stats
    }

    /// The engines, built on first use; `node` receives the warnings (pool, cache directory).
    fn core(&self, node: &Node) -> anyhow::Result<&Core> {
        let core = self.core.get_or_init(|| {
            let (engines, warnings) =
                Engines::new(self.settings.fuel > 0, self.settings.pool, max_map_count())
                    .map_err(|e| format!("wasm: {e:#}"))?;
            for w in warnings {
                node.log(0, w);
            }
            let disk = self.settings.cache_dir.as_deref().and_then(|dir| {
                DiskCache::open(dir, &engines.primary().engine)
                    .inspect_err(|e| node.log(0, format!("wasm cache off: {e:#}")))
                    .ok()
            });
            Ok(Core { engines, disk, on_demand_disk: OnceLock::new() })
        });
        core.as_ref().map_err(|e| anyhow!("{e}"))
    }

    /// `compiled` on the on-demand engine (compiled for it, or loaded from its disk cache, the
    /// first time); `warn` receives cache problems.
    fn on_demand<'c>(&self, compiled: &'c Compiled, warn: &dyn Fn(String)) -> anyhow::Result<&'c Ready> {
        let Some(Ok(core)) = self.core.get() else {
            return Err(anyhow!("wasm: the engine is not built yet"));
        };
        let engines = &core.engines;
        let disk = match (&self.settings.cache_dir, engines.primary().pooled) {
            (Some(dir), true) if core.disk.is_some() => core
                .on_demand_disk
                .get_or_init(|| {
                    let engine = &engines.on_demand().ok()?.engine;
                    DiskCache::open(dir, engine).inspect_err(|e| warn(format!("wasm cache off: {e:#}"))).ok()
                })
                .as_ref(),
            _ => core.disk.as_ref(),
        };
        compiled.on_demand(engines, &self.modules, disk, warn)
    }

    fn engines(&self) -> anyhow::Result<&Engines> {
        match self.core.get() {
            Some(Ok(core)) => Ok(&core.engines),
            Some(Err(e)) => Err(anyhow!("{e}")),
            None => Err(anyhow!("wasm: the engine is not built yet")),
        }
    }

    fn note_pool_full(&self, node: &Node) {
        if !self.pool_full_noted.swap(true, Ordering::Relaxed) {
            node.log(
                0,
                format!(
                    "wasm: all {} pool slots are in use; further guests are allocated on demand",
                    self.settings.pool
                ),
            );
        }
    }

    /// Builds the guest for a `wasm` launch line (`[--fuel=N] [--memlimit=BYTES] name args...`).
    pub fn launch(
        &self,
        node: &Arc<Node>,
        service: &Arc<Service>,
        line: &str,
    ) -> anyhow::Result<Box<dyn Actor>> {
        self.launch_spec(node, service, &LaunchSpec::parse(line)?)
    }

    fn launch_spec(
        &self,
        node: &Arc<Node>,
        service: &Arc<Service>,
        spec: &LaunchSpec<'_>,
    ) -> anyhow::Result<Box<dyn Actor>> {
        let path = self.settings.find_module(spec.name).ok_or_else(|| {
            anyhow!(
                "wasm module '{}' not found (searched wasmservice = \"{}\")",
                spec.name,
                self.settings.patterns
            )
        })?;
        // The profile and tenant are fixed before the guest runs any code (its start function
        // included).
        node.confine(service, &node.getenv("wasm_profile").unwrap_or_else(|| "guest".into()))?;
        let core = self.core(node)?;
        let warn = |w: String| node.log(service.handle(), w);
        let compiled = self.modules.get(&core.engines, core.disk.as_ref(), &path, &warn)?;
        if let Some(tape) = service.tape() {
            tape.code_hash(&path.display().to_string(), compiled.digest());
        }
        Ok(Box::new(guest::WasmGuest::new(self, node, service, spec, &compiled)?))
    }

    /// The `wasm` runtime factory for [`Node::register_runtime`].
    pub(crate) fn factory(self: &Arc<Self>) -> RuntimeFactory {
        let runtime = self.clone();
        Box::new(move |node, service, args| runtime.launch(node, service, args))
    }

    /// Wraps the `snlua` factory: `snlua NAME args` launches the wasm module NAME (found on
    /// `wasmservice`) when no Lua service NAME exists (none on `luaservice`, no built-in).
    pub(crate) fn lua_fallback(self: &Arc<Self>, lua: RuntimeFactory) -> RuntimeFactory {
        let runtime = self.clone();
        Box::new(move |node, service, args| {
            let args = args.trim_start();
            let (name, rest) = args.split_once(char::is_whitespace).unwrap_or((args, ""));
            if !crate::lua::service_exists(
                &node.getenv("luaservice").unwrap_or_else(|| crate::lua::DEFAULT_LUASERVICE.into()),
                name,
            ) && runtime.settings.find_module(name).is_some()
            {
                // The config's start service is the operator's own code: it runs trusted.
                let start = node.getenv("start").unwrap_or_else(|| "main".into());
                if start == name {
                    service.set_profile(Profile::trusted());
                }
                let spec = LaunchSpec { fuel: None, memlimit: None, name, args: rest.trim_start() };
                return runtime.launch_spec(node, service, &spec);
            }
            lua(node, service, args)
        })
    }
}

/// The process's memory-mapping limit (`vm.max_map_count`), if readable.
fn max_map_count() -> Option<u64> {
    std::fs::read_to_string("/proc/sys/vm/max_map_count").ok()?.trim().parse().ok()
}

/// Whether a config's `wasmservice` patterns find module `name` (the start-service check).
pub(crate) fn module_exists(config: &Config, name: &str) -> bool {
    let patterns = config.get("wasmservice").unwrap_or(settings::DEFAULT_WASMSERVICE);
    settings::find_on_patterns(patterns, name).is_some()
}

/// Registers the `wasm` runtime on `node` and the Lua runtime with its wasm fallback as `snlua`
/// (what `skybox run` does); returns the wasm runtime.
pub fn register(node: &Arc<Node>) -> anyhow::Result<Arc<WasmRuntime>> {
    let wasm = WasmRuntime::new(node)?;
    node.register_runtime("snlua", wasm.lua_fallback(crate::lua::factory()));
    node.register_runtime("wasm", wasm.factory());
    Ok(wasm)
}
