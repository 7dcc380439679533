//! The file imports (ABI.md, "Files"): files in the directories the guest's profile grants
//! (`files=NAME:PATH:ro|rw`), named `NAME/relative/path`. Prefer [`crate::fs`].
//!
//! A directory the profile does not grant, or a write to a read-only one, is
//! [`AbiError::Denied`]; what the system refuses (no such file, a path that would leave the
//! directory) is [`AbiError::Io`], with the reason in the node's log.

use super::{AbiError, check};

#[cfg(target_arch = "wasm32")]
use super::len_i32;

#[cfg(target_arch = "wasm32")]
mod sys {
    #[link(wasm_import_module = "skybox")]
    unsafe extern "C" {
        pub(super) fn file_read(path_ptr: *const u8, path_len: i32, ptr: *mut u8, cap: i32) -> i32;
        pub(super) fn file_write(
            path_ptr: *const u8,
            path_len: i32,
            ptr: *const u8,
            len: i32,
            append: i32,
        ) -> i32;
        pub(super) fn file_remove(path_ptr: *const u8, path_len: i32) -> i32;
    }
}

/// Reads file `path` into `out` if it fits; returns the file's size either way (larger than
/// `out.len()`: nothing was copied, ask again with a buffer that large).
pub fn file_read(path: &str, out: &mut [u8]) -> Result<usize, AbiError> {
    #[cfg(not(target_arch = "wasm32"))]
    let _ = out;
    check(import!(
        unsafe sys::file_read(path.as_ptr(), len_i32(path.as_bytes())?, out.as_mut_ptr(), len_i32(out)?),
        |h| h.file_call(path)
    ))
    .map(|n| n as usize)
}

/// Writes `data` to file `path` (created; replaced unless `append`).
pub fn file_write(path: &str, data: &[u8], append: bool) -> Result<(), AbiError> {
    #[cfg(not(target_arch = "wasm32"))]
    let _ = (data, append);
    check(import!(
        unsafe sys::file_write(
            path.as_ptr(),
            len_i32(path.as_bytes())?,
            data.as_ptr(),
            len_i32(data)?,
            i32::from(append)
        ),
        |h| h.file_call(path)
    ))
    .map(drop)
}

/// Removes file `path`.
pub fn file_remove(path: &str) -> Result<(), AbiError> {
    check(import!(unsafe sys::file_remove(path.as_ptr(), len_i32(path.as_bytes())?), |h| h.file_call(path)))
        .map(drop)
}
