//! Checked access to a guest's linear memory.
//!
//! Every pointer and size a guest passes is an `i32` read as an unsigned 32-bit value (ABI.md).
//! Nothing here trusts it: a range is turned into a slice of the guest's own memory only after
//! `ptr + len <= memory size` is checked without overflow, so a bad argument is `ERR_ARG` and
//! never a read or write outside that guest's memory.
//!
//! The slices come from `wasmtime::Memory::data{,_mut}`, which borrow the store: they cannot
//! outlive a call into the guest (which may grow and move the memory).

use std::ops::Range;

use super::abi::AbiError;

/// The byte range `ptr .. ptr + len` if it lies inside a memory of `memory_len` bytes.
pub(crate) fn range(ptr: i32, len: i32, memory_len: usize) -> Result<Range<usize>, AbiError> {
    let start = ptr as u32 as usize;
    let end = start.checked_add(len as u32 as usize).ok_or(AbiError::Arg)?;
    if end > memory_len {
        return Err(AbiError::Arg);
    }
    Ok(start..end)
}

/// The guest bytes at `ptr .. ptr + len`.
pub(crate) fn read(memory: &[u8], ptr: i32, len: i32) -> Result<&[u8], AbiError> {
    Ok(&memory[range(ptr, len, memory.len())?])
}

/// The guest bytes at `ptr .. ptr + len` as UTF-8 text.
pub(crate) fn read_str(memory: &[u8], ptr: i32, len: i32) -> Result<&str, AbiError> {
    std::str::from_utf8(read(memory, ptr, len)?).map_err(|_| AbiError::Arg)
}

/// The writable guest bytes at `ptr .. ptr + len`.
pub(crate) fn slice_mut(memory: &mut [u8], ptr: i32, len: i32) -> Result<&mut [u8], AbiError> {
    let r = range(ptr, len, memory.len())?;
    Ok(&mut memory[r])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_inside_memory_only() {
        let mem = vec![7u8; 100];
        assert_eq!(read(&mem, 0, 0).unwrap(), &[] as &[u8]);
        assert_eq!(read(&mem, 90, 10).unwrap().len(), 10);
        assert_eq!(read(&mem, 100, 0).unwrap().len(), 0);
        assert_eq!(read(&mem, 91, 10), Err(AbiError::Arg));
        assert_eq!(read(&mem, 101, 0), Err(AbiError::Arg));
        // Negative i32 values are huge unsigned ones, and ptr + len may overflow 32 bits.
        assert_eq!(read(&mem, -1, 1), Err(AbiError::Arg));
        assert_eq!(read(&mem, 10, -1), Err(AbiError::Arg));
        assert_eq!(read(&mem, i32::MAX, i32::MAX), Err(AbiError::Arg));
        assert_eq!(read(&mem, -1, -1), Err(AbiError::Arg));
    }

    #[test]
    fn text_must_be_utf8() {
        let mem = b"ok\xff".to_vec();
        assert_eq!(read_str(&mem, 0, 2).unwrap(), "ok");
        assert_eq!(read_str(&mem, 0, 3), Err(AbiError::Arg));
    }

    #[test]
    fn writes_are_checked_too() {
        let mut mem = vec![0u8; 8];
        slice_mut(&mut mem, 4, 4).unwrap().copy_from_slice(&[1, 2, 3, 4]);
        assert_eq!(mem, [0, 0, 0, 0, 1, 2, 3, 4]);
        assert_eq!(slice_mut(&mut mem, 5, 4).map(|s| s.len()), Err(AbiError::Arg));
    }
}
