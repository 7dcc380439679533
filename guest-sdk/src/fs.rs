//! Files in the directories the guest's profile grants (`files=NAME:PATH:ro|rw` in the node's
//! config; docs/SECURITY.md): paths are `NAME/relative/path`, resolved by the host beneath the
//! granted directory (no `..` out of it, no absolute path, no symlink leading outside).
//!
//! The calls are synchronous: for configuration and small state, not bulk data.

use crate::abi::{self, AbiError};

/// The whole file `path`.
pub fn read(path: &str) -> Result<Vec<u8>, AbiError> {
    let mut buf = vec![0; 4096];
    loop {
        let size = abi::files::file_read(path, &mut buf)?;
        if size <= buf.len() {
            buf.truncate(size);
            return Ok(buf);
        }
        // It did not fit (or grew): ask again with room for what it holds now.
        buf.resize(size, 0);
    }
}

/// Replaces (or creates) file `path` with `data`.
pub fn write(path: &str, data: &[u8]) -> Result<(), AbiError> {
    abi::files::file_write(path, data, false)
}

/// Appends `data` to file `path` (created if absent).
pub fn append(path: &str, data: &[u8]) -> Result<(), AbiError> {
    abi::files::file_write(path, data, true)
}

/// Removes file `path`.
pub fn remove(path: &str) -> Result<(), AbiError> {
    abi::files::file_remove(path)
}
