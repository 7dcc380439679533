//! Compiled modules kept on disk between runs (`wasm_cache`).
//!
//! A file is `<sha256 of the wasm bytes>-<engine tag>.cwasm`: the output of
//! `Module::serialize`, followed by the SHA-256 of that output. The engine tag hashes the
//! engine's precompile compatibility hash, so a different wasmtime or different code-generation
//! settings never look at another's files.
//!
//! Loading one is `Module::deserialize`, which is `unsafe`: the bytes are native code and are
//! trusted to be what `Module::serialize` produced for a compatible engine. This module keeps
//! that promise by construction:
//! - the directory must belong to this user and be writable by no one else (checked on open);
//!   otherwise the disk cache is off;
//! - files are written to a temporary name and renamed into place, so a reader never sees a
//!   partial file;
//! - the trailer must match the SHA-256 of the artifact, so a damaged file is recompiled, never
//!   loaded;
//! - `deserialize` copies the bytes (not `deserialize_file`, which maps the file and would
//!   require that nobody modifies it while it is in use);
//! - wasmtime itself checks the artifact's header, version and engine compatibility.

use std::fs;
use std::hash::{Hash, Hasher};
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context as _, bail};
use sha2::{Digest as _, Sha256};
use wasmtime::{Engine, Module};

/// A SHA-256 digest.
pub(crate) type Digest = [u8; 32];

pub(crate) fn sha256(bytes: &[u8]) -> Digest {
    Sha256::digest(bytes).into()
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A checked cache directory for one engine configuration.
///
/// Invariant: `dir` existed when opened, is owned by this process's effective user and is not
/// writable by group or others.
pub(crate) struct DiskCache {
    dir: PathBuf,
    engine_tag: String,
}

/// Feeds `Hash` output into SHA-256 (the compatibility hash is only available as `impl Hash`).
struct ShaHasher(Sha256);

impl Hasher for ShaHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
    fn finish(&self) -> u64 {
        0
    }
}

/// A short name for everything that decides whether an artifact loads into `engine`.
pub(crate) fn engine_tag(engine: &Engine) -> String {
    let mut hasher = ShaHasher(Sha256::new());
    "skybox-wasm-cache-v1".hash(&mut hasher);
    engine.precompile_compatibility_hash().hash(&mut hasher);
    hex(&hasher.0.finalize()[..12])
}

impl DiskCache {
    /// Opens (creating with mode 0700) the cache directory `dir` for artifacts of `engine`.
    pub(crate) fn open(dir: &Path, engine: &Engine) -> anyhow::Result<DiskCache> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        // The directory itself, not what a symlink would point to (it could be repointed later).
        let meta = fs::symlink_metadata(dir).with_context(|| format!("cannot read {}", dir.display()))?;
        if !meta.is_dir() {
            bail!("{} is not a directory (a symlink?)", dir.display());
        }
        // SAFETY: geteuid has no preconditions and cannot fail.
        let me = unsafe { libc::geteuid() };
        if meta.uid() != me {
            bail!("{} belongs to uid {}, not to this user ({me})", dir.display(), meta.uid());
        }
        if meta.mode() & 0o022 != 0 {
            bail!("{} is writable by group or others (mode {:o})", dir.display(), meta.mode() & 0o777);
        }
        Ok(DiskCache { dir: dir.to_path_buf(), engine_tag: engine_tag(engine) })
    }

    fn path(&self, digest: &Digest) -> PathBuf {
        self.dir.join(format!("{}-{}.cwasm", hex(digest), self.engine_tag))
    }

    /// The compiled module for wasm bytes with `digest`, if a sound artifact is on disk.
    /// `Err` means a file was there but unusable (it is removed).
    pub(crate) fn load(&self, engine: &Engine, digest: &Digest) -> anyhow::Result<Option<Module>> {
        let path = self.path(digest);
        // Never follow a symlink, and read only a file this user owns and alone can write,
        // through the handle that was checked: whoever could plant a file here runs code.
        let mut file = match fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW).open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("cannot open {}", path.display())),
        };
        let meta = file.metadata().with_context(|| format!("cannot read {}", path.display()))?;
        // SAFETY: geteuid has no preconditions and cannot fail.
        let me = unsafe { libc::geteuid() };
        if !meta.is_file() || meta.uid() != me || meta.mode() & 0o022 != 0 {
            bail!("{} is not a file of this user writable only by it", path.display());
        }
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        std::io::Read::read_to_end(&mut file, &mut bytes)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let result = (|| {
            let Some(split) = bytes.len().checked_sub(32) else { bail!("truncated") };
            let (artifact, trailer) = bytes.split_at(split);
            if sha256(artifact) != trailer {
                bail!("checksum mismatch");
            }
            // SAFETY: `artifact` is, byte for byte (checksum above), what `Module::serialize`
            // wrote in `store` for an engine with the same compatibility tag (it is in the file
            // name), in a directory only this user can write (checked in `open`), renamed into
            // place only once complete. `deserialize` copies it, so later changes to the file
            // cannot affect the loaded module; wasmtime checks the header and engine settings.
            Ok(unsafe { Module::deserialize(engine, artifact) }?)
        })();
        match result {
            Ok(module) => Ok(Some(module)),
            Err(err) => {
                let _ = fs::remove_file(&path);
                Err(err.context(format!("discarded cached module {}", path.display())))
            }
        }
    }

    /// Writes `module` (compiled from wasm bytes with `digest`) to the cache.
    pub(crate) fn store(&self, digest: &Digest, module: &Module) -> anyhow::Result<()> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let artifact = module.serialize()?;
        let path = self.path(digest);
        let tmp = self.dir.join(format!(
            ".{}.{}.{}.tmp",
            hex(&digest[..8]),
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let write = || -> std::io::Result<()> {
            let mut file = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
            file.write_all(&artifact)?;
            file.write_all(&sha256(&artifact))?;
            file.sync_data()?;
            fs::rename(&tmp, &path)
        };
        write().inspect_err(|_| {
            let _ = fs::remove_file(&tmp);
        })?;
        Ok(())
    }
}
