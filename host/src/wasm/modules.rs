//! Guest modules, compiled once per node and kept ready to instantiate.
//!
//! A launch names a file; the cache maps it to a [`Compiled`] module in three steps:
//! 1. by file: path plus size, mtime and inode, so an unchanged file costs one `stat`;
//! 2. by content: the SHA-256 of the bytes (a copy under another name, or a touched file);
//! 3. on disk ([`DiskCache`]), else compiled and written there.
//!
//! A compiled module carries its `InstancePre` (imports resolved against the `skybox` linker,
//! exports checked against ABI.md) for the primary engine, and, compiled when first needed, for
//! the on-demand (dense) engine, whose code differs (see `engine`).

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};

use anyhow::{Context as _, anyhow, bail};
use parking_lot::Mutex;
use wasmtime::{ExternType, InstancePre, Module, ModuleExport, ValType};

use super::abi;
use super::disk::{self, Digest, DiskCache};
use super::engine::{Engines, Flavor};
use super::state::GuestState;

/// Where each export the host calls sits in a module (looked up once, not by name per call).
///
/// Invariant: the indices belong to the module they were taken from, whose exports have the
/// types ABI.md requires (checked by `check_exports`).
#[derive(Clone, Copy)]
pub(crate) struct Exports {
    pub(crate) memory: ModuleExport,
    pub(crate) alloc: ModuleExport,
    pub(crate) start: ModuleExport,
    pub(crate) dispatch: ModuleExport,
}

/// A module ready to instantiate on one engine.
///
/// Invariant: `exports` indexes the module of `pre`.
pub(crate) struct Ready {
    pub(crate) pre: InstancePre<GuestState>,
    pub(crate) exports: Exports,
}

/// One guest module. Invariant: `primary` was built on the primary engine, `on_demand` (once
/// set) on the on-demand one, both from `wasm`, whose SHA-256 is `digest`.
pub(crate) struct Compiled {
    pub(crate) primary: Ready,
    on_demand: OnceLock<Ready>,
    /// Set when the pool cannot host this module at all (not merely full): launches go straight
    /// to the on-demand engine.
    pub(crate) pool_refused: AtomicBool,
    /// The module's bytes, for the on-demand engine (kept only while the primary is pooled).
    wasm: Box<[u8]>,
    digest: Digest,
}

impl Compiled {
    /// SHA-256 of the module's bytes.
    pub(crate) fn digest(&self) -> [u8; 32] {
        self.digest
    }

    /// The module on the on-demand engine: `primary` if that engine is not pooled, else compiled
    /// for it (or loaded from `disk`, the cache of that engine) the first time it is needed.
    pub(crate) fn on_demand(
        &self,
        engines: &Engines,
        cache: &ModuleCache,
        disk: Option<&DiskCache>,
        warn: &dyn Fn(String),
    ) -> anyhow::Result<&Ready> {
        if !engines.primary().pooled {
            return Ok(&self.primary);
        }
        if let Some(ready) = self.on_demand.get() {
            return Ok(ready);
        }
        let flavor = engines.on_demand()?;
        let module = cache.load(flavor, disk, &self.wasm, &self.digest, warn)?;
        let ready = prepare(flavor, &module)?;
        Ok(self.on_demand.get_or_init(|| ready))
    }
}

/// What identifies an unchanged file: a different size, mtime, inode or device means the file
/// must be read again.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Stamp {
    len: u64,
    mtime_ns: i128,
    ino: u64,
    dev: u64,
}

/// How modules were obtained (for tests and the log); counters only grow.
#[derive(Default, Debug)]
pub struct CacheStats {
    /// Modules compiled from their bytes.
    pub compiled: AtomicU64,
    /// Modules loaded from the on-disk cache.
    pub from_disk: AtomicU64,
    /// Modules this node had compiled or loaded already (same file, or same content).
    pub from_memory: AtomicU64,
}

/// The per-node module cache.
///
/// Invariant: every `Compiled` in either map was built on this node's `Engines`; `by_digest`
/// holds weak references, so a module that no file maps to and no guest uses is freed.
#[derive(Default)]
pub(crate) struct ModuleCache {
    by_file: Mutex<HashMap<PathBuf, (Stamp, Arc<Compiled>)>>,
    by_digest: Mutex<HashMap<Digest, Weak<Compiled>>>,
    pub(crate) stats: CacheStats,
}

impl ModuleCache {
    /// The compiled module for the file at `path`. `disk` is where artifacts persist, if
    /// anywhere; a problem with it is reported through `warn` and never fails the load.
    pub(crate) fn get(
        &self,
        engines: &Engines,
        disk: Option<&DiskCache>,
        path: &Path,
        warn: &dyn Fn(String),
    ) -> anyhow::Result<Arc<Compiled>> {
        let meta = std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
        let stamp = Stamp {
            len: meta.len(),
            mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
            ino: meta.ino(),
            dev: meta.dev(),
        };
        if let Some((s, compiled)) = self.by_file.lock().get(path)
            && *s == stamp
        {
            self.stats.from_memory.fetch_add(1, Ordering::Relaxed);
            return Ok(compiled.clone());
        }
        let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let digest = disk::sha256(&bytes);
        let known = self.by_digest.lock().get(&digest).and_then(Weak::upgrade);
        let compiled = match known {
            Some(c) => {
                self.stats.from_memory.fetch_add(1, Ordering::Relaxed);
                c
            }
            None => {
                let c = Arc::new(
                    self.build(engines, disk, &bytes, digest, warn)
                        .with_context(|| format!("cannot load wasm module {}", path.display()))?,
                );
                let mut by_digest = self.by_digest.lock();
                by_digest.retain(|_, w| w.strong_count() > 0);
                by_digest.insert(digest, Arc::downgrade(&c));
                c
            }
        };
        self.by_file.lock().insert(path.to_path_buf(), (stamp, compiled.clone()));
        Ok(compiled)
    }

    fn build(
        &self,
        engines: &Engines,
        disk: Option<&DiskCache>,
        bytes: &[u8],
        digest: Digest,
        warn: &dyn Fn(String),
    ) -> anyhow::Result<Compiled> {
        let flavor = engines.primary();
        let module = self.load(flavor, disk, bytes, &digest, warn)?;
        let primary = prepare(flavor, &module)?;
        // A pooled primary may need the bytes again, for the dense engine.
        let wasm = if flavor.pooled { bytes.into() } else { Box::default() };
        Ok(Compiled {
            primary,
            on_demand: OnceLock::new(),
            pool_refused: AtomicBool::new(false),
            wasm,
            digest,
        })
    }

    /// The module compiled for `flavor`'s engine: from `disk` (that engine's cache) if there,
    /// else compiled now and written there.
    fn load(
        &self,
        flavor: &Flavor,
        disk: Option<&DiskCache>,
        bytes: &[u8],
        digest: &Digest,
        warn: &dyn Fn(String),
    ) -> anyhow::Result<Module> {
        let cached = disk.and_then(|d| match d.load(&flavor.engine, digest) {
            Ok(found) => found,
            Err(err) => {
                warn(format!("wasm cache: {err:#}"));
                None
            }
        });
        let module = match cached {
            Some(m) => {
                self.stats.from_disk.fetch_add(1, Ordering::Relaxed);
                m
            }
            None => {
                let m = Module::from_binary(&flavor.engine, bytes)?;
                self.stats.compiled.fetch_add(1, Ordering::Relaxed);
                if let Some(d) = disk
                    && let Err(err) = d.store(digest, &m)
                {
                    warn(format!("wasm cache: cannot write a compiled module: {err:#}"));
                }
                m
            }
        };
        Ok(module)
    }
}

/// Checks `module` against the ABI and resolves its imports on `flavor`'s linker.
fn prepare(flavor: &Flavor, module: &Module) -> anyhow::Result<Ready> {
    let exports = check_exports(module)?;
    let pre = flavor.linker.instantiate_pre(module).map_err(|e| anyhow!("{e}"))?;
    Ok(Ready { pre, exports })
}

fn check_exports(module: &Module) -> anyhow::Result<Exports> {
    let func = |name: &str, params: usize, results: usize| -> anyhow::Result<ModuleExport> {
        let index = module.get_export_index(name);
        let (Some(index), Some(ty)) = (index, module.get_export(name)) else {
            bail!("the module does not export `{name}` (see guest-sdk/ABI.md)");
        };
        let ExternType::Func(ft) = ty else { bail!("export `{name}` is not a function") };
        let all_i32 = |mut it: Box<dyn ExactSizeIterator<Item = ValType> + '_>, n: usize| {
            it.len() == n && it.all(|t| t.is_i32())
        };
        if !all_i32(Box::new(ft.params()), params) || !all_i32(Box::new(ft.results()), results) {
            bail!(
                "export `{name}` has type {ft}; expected {params} i32 parameter(s) and {results} i32 result(s)"
            );
        }
        Ok(index)
    };
    let memory = match (module.get_export_index(abi::EXPORT_MEMORY), module.get_export(abi::EXPORT_MEMORY)) {
        (Some(index), Some(ExternType::Memory(ty))) if !ty.is_shared() && !ty.is_64() => index,
        (Some(_), Some(_)) => bail!("export `memory` must be a 32-bit, unshared linear memory"),
        _ => bail!("the module does not export `memory` (see guest-sdk/ABI.md)"),
    };
    Ok(Exports {
        memory,
        alloc: func(abi::EXPORT_ALLOC, 1, 1)?,
        start: func(abi::EXPORT_START, 2, 0)?,
        dispatch: func(abi::EXPORT_DISPATCH, 6, 0)?,
    })
}
