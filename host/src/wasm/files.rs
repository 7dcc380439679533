//! The file imports of module `skybox` (ABI.md, "Files"): a guest reads and writes files only
//! in the directories its profile grants (`files=NAME:PATH:ro|rw`), named `NAME/relative/path`.
//!
//! Confinement: each granted directory is opened once, at launch, as a `cap_std::fs::Dir`, and
//! every path is resolved beneath it by cap-std, which refuses absolute paths, `..` that leaves
//! the directory and symlinks that lead outside it, whatever the path's spelling. A grant the
//! guest does not hold, or a write to a read-only one, is `ERR_DENIED`; what the system refuses
//! (no such file, a path outside the directory) is `ERR_IO`, with the reason in the log.
//!
//! The calls are synchronous, on the guest's worker: meant for configuration and small state,
//! not for bulk data. A read never loads more than the guest's buffer can take: the size comes
//! first, so a guest learns it and asks again.
//!
//! Ownership at the boundary: bytes to write are copied out of guest memory; bytes read are
//! copied into the guest's buffer, which stays the guest's.

use std::io::{Read as _, Write as _};

use std::sync::Arc;

use cap_std::ambient_authority;
use cap_std::fs::{Dir, OpenOptions};
use wasmtime::Linker;

use super::abi::{AbiError, MODULE, to_code};
use super::imports::{Ctx, guest_memory};
use super::memory;
use super::recorded;
use super::state::GuestState;
use crate::core::profile::Profile;

/// One granted directory, open.
pub(crate) struct Granted {
    name: Box<str>,
    dir: Dir,
    writable: bool,
}

/// The directories a guest may use, opened at launch; shared by the attempts of one launch.
pub(crate) type Files = Arc<[Granted]>;

/// Opens the directories `profile` grants; a directory that cannot be opened fails the launch.
pub(crate) fn open(profile: &Profile) -> anyhow::Result<Files> {
    profile
        .files()
        .iter()
        .map(|grant| {
            let dir = Dir::open_ambient_dir(&*grant.path, ambient_authority()).map_err(|e| {
                anyhow::anyhow!(
                    "profile {}: cannot open files directory {} ({e})",
                    profile.name(),
                    grant.path
                )
            })?;
            Ok(Granted { name: grant.name.clone(), dir, writable: grant.writable })
        })
        .collect()
}

/// Defines the file imports on `l`.
pub(super) fn define(l: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    // Each through the tape (see `recorded`): a replay reads what was read then, writes nothing.
    l.func_wrap(MODULE, "file_read", |mut c: Ctx, path_ptr: i32, path_len: i32, ptr: i32, cap: i32| {
        recorded::import_writing(
            &mut c,
            "file_read",
            &[path_ptr, path_len, ptr, cap],
            Some((ptr, cap)),
            |c| to_code(read(c, path_ptr, path_len, ptr, cap)),
        )
    })?;
    l.func_wrap(
        MODULE,
        "file_write",
        |mut c: Ctx, path_ptr: i32, path_len: i32, ptr: i32, len: i32, append: i32| {
            recorded::import(&mut c, "file_write", &[path_ptr, path_len, ptr, len, append], |c| {
                to_code(write(c, path_ptr, path_len, ptr, len, append != 0))
            })
        },
    )?;
    l.func_wrap(MODULE, "file_remove", |mut c: Ctx, path_ptr: i32, path_len: i32| {
        recorded::import(&mut c, "file_remove", &[path_ptr, path_len], |c| {
            to_code(remove(c, path_ptr, path_len))
        })
    })?;
    Ok(())
}

/// The grant and the path beneath it that `path` (`NAME/rel`) names; for a write, a grant that
/// allows writing.
fn resolve<'p>(st: &'p GuestState, path: &'p str, write: bool) -> Result<(&'p Granted, &'p str), AbiError> {
    let (name, rel) = path.split_once('/').ok_or(AbiError::Arg)?;
    let Some(grant) = st.files.iter().find(|g| &*g.name == name) else {
        st.node.log(
            st.handle,
            format!("file {path}: no directory '{name}' in profile {}", st.service.profile().name()),
        );
        return Err(AbiError::Denied);
    };
    if write && !grant.writable {
        st.node.log(st.handle, format!("file {path}: directory '{name}' is read-only"));
        return Err(AbiError::Denied);
    }
    if rel.is_empty() {
        return Err(AbiError::Arg);
    }
    Ok((grant, rel))
}

/// A system refusal: logged, `ERR_IO`.
fn io_error(st: &GuestState, what: &str, path: &str, e: std::io::Error) -> AbiError {
    st.node.log(st.handle, format!("file {what} {path}: {e}"));
    AbiError::Io
}

/// `file_read`: the file's size; its bytes are copied to `ptr` when they fit in `cap`.
fn read(c: &mut Ctx, path_ptr: i32, path_len: i32, ptr: i32, cap: i32) -> Result<i32, AbiError> {
    let m = guest_memory(c)?;
    let (mem, st) = m.data_and_store_mut(&mut *c);
    let path = memory::read_str(mem, path_ptr, path_len)?.to_owned();
    memory::slice_mut(mem, ptr, cap)?;
    let (grant, rel) = resolve(st, &path, false)?;
    let mut file = grant.dir.open(rel).map_err(|e| io_error(st, "read", &path, e))?;
    let size = file.metadata().map_err(|e| io_error(st, "read", &path, e))?.len();
    let size = i32::try_from(size).map_err(|_| AbiError::Arg)?;
    if size > cap {
        return Ok(size);
    }
    // At most `cap` bytes, even if the file grew since its size was read.
    let mut bytes = Vec::with_capacity(size as usize);
    std::io::Read::take(&mut file, cap as u64)
        .read_to_end(&mut bytes)
        .map_err(|e| io_error(st, "read", &path, e))?;
    let out = memory::slice_mut(mem, ptr, bytes.len() as i32)?;
    out.copy_from_slice(&bytes);
    Ok(bytes.len() as i32)
}

/// `file_write`: writes (or appends) `len` bytes from `ptr`, creating the file.
fn write(
    c: &mut Ctx,
    path_ptr: i32,
    path_len: i32,
    ptr: i32,
    len: i32,
    append: bool,
) -> Result<i32, AbiError> {
    let m = guest_memory(c)?;
    let (mem, st) = m.data_and_store_mut(&mut *c);
    let path = memory::read_str(mem, path_ptr, path_len)?;
    let data = memory::read(mem, ptr, len)?;
    let (grant, rel) = resolve(st, path, true)?;
    let mut options = OpenOptions::new();
    options.write(true).create(true);
    if append {
        options.append(true);
    } else {
        options.truncate(true);
    }
    let mut file = grant.dir.open_with(rel, &options).map_err(|e| io_error(st, "write", path, e))?;
    file.write_all(data).map_err(|e| io_error(st, "write", path, e))?;
    Ok(0)
}

/// `file_remove`: removes a file.
fn remove(c: &mut Ctx, path_ptr: i32, path_len: i32) -> Result<i32, AbiError> {
    let m = guest_memory(c)?;
    let (mem, st) = m.data_and_store_mut(&mut *c);
    let path = memory::read_str(mem, path_ptr, path_len)?;
    let (grant, rel) = resolve(st, path, true)?;
    grant.dir.remove_file(rel).map_err(|e| io_error(st, "remove", path, e))?;
    Ok(0)
}
