//! Dense linear memories, for the guests that do not get a pool slot (see `engine`).
//!
//! Why they exist: Linux caps the memory mappings of a process at `vm.max_map_count` (65530 by
//! default). A guarded wasmtime memory (4 GiB reserved plus a 32 MiB guard, everything past the
//! current size `PROT_NONE`, a copy-on-write image mapped over its start) costs four mappings,
//! so about 16 000 guests exhaust the limit while using under 1 GB of RSS, and every later
//! `mmap` of the process (a thread stack, a large allocation) fails too.
//!
//! A dense memory costs no mapping of its own: memories are carved out of a few large
//! read-write regions. Nothing past a memory's size needs protecting because the engine that
//! uses them reserves nothing and has no guard pages, so its code checks every access against
//! the memory's current size.
//!
//! Each memory takes a chunk of a power-of-two size class (64 KiB to 4 GiB) at least as large as
//! itself. Growing within the chunk is free; growing past it moves the memory to a chunk of a
//! larger class, copying only the pages that are not all zeros (untouched pages stay
//! untouched). A dropped memory's pages go back to the kernel (`MADV_DONTNEED`, after which
//! they read as zeros, as a new memory must) and its chunk serves the next memory of its class.
//! Regions are mapped `MAP_NORESERVE` and without transparent huge pages: a guest costs the
//! pages it touches, not its size.

use std::sync::Arc;

use parking_lot::Mutex;
use wasmtime::{LinearMemory, MemoryCreator, MemoryType};

/// The smallest class: one wasm page.
const MIN_SHIFT: u32 = 16;
/// The largest class: all of wasm32's 4 GiB.
const MAX_SHIFT: u32 = 32;
const CLASSES: usize = (MAX_SHIFT - MIN_SHIFT + 1) as usize;
/// Address space mapped at a time (one mapping; pages cost only when touched).
const REGION: usize = 64 << 30;
/// Granularity of the zero-page scan when a memory moves (the smallest host page).
const SCAN: usize = 4096;

/// The size class of a memory of `bytes` bytes, if it has one.
fn class_of(bytes: usize) -> Option<usize> {
    let shift = bytes.max(1 << MIN_SHIFT).checked_next_power_of_two()?.trailing_zeros();
    (shift <= MAX_SHIFT).then(|| (shift - MIN_SHIFT) as usize)
}

fn class_size(class: usize) -> usize {
    1 << (class as u32 + MIN_SHIFT)
}

/// A chunk of a region: `class_size(class)` bytes at `addr`, owned by one memory or on a free
/// list.
#[derive(Clone, Copy, Debug)]
struct Chunk {
    addr: usize,
    class: usize,
}

/// The regions and the chunks not in use.
///
/// Invariants: every chunk (free or in use) lies in one of `regions` and no two overlap; every
/// byte of a free chunk, and of `cursor..end`, reads as zero; `cursor..end` is the unused tail
/// of the last region.
struct Arena {
    regions: Vec<(usize, usize)>,
    cursor: usize,
    end: usize,
    free: [Vec<usize>; CLASSES],
}

impl Arena {
    /// Maps a new region of at least `min` bytes and makes it the one chunks are cut from.
    fn map_region(&mut self, min: usize) -> std::io::Result<()> {
        let mut last = std::io::Error::from(std::io::ErrorKind::OutOfMemory);
        for len in [REGION.max(min), min] {
            // SAFETY: a new anonymous private mapping at an address the kernel picks; nothing
            // else refers to that range.
            let addr = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                    -1,
                    0,
                )
            };
            if addr == libc::MAP_FAILED {
                last = std::io::Error::last_os_error();
                continue;
            }
            // A huge page would make a guest that touches 4 KiB cost 2 MiB. Advice only: a
            // kernel without THP refuses it, harmlessly.
            // SAFETY: `addr..addr + len` is the mapping made above.
            unsafe { libc::madvise(addr, len, libc::MADV_NOHUGEPAGE) };
            self.regions.push((addr as usize, len));
            self.cursor = addr as usize;
            self.end = addr as usize + len;
            return Ok(());
        }
        Err(last)
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        for &(addr, len) in &self.regions {
            // SAFETY: the arena is dropped once no memory holds it, so nothing uses the region.
            unsafe { libc::munmap(addr as *mut libc::c_void, len) };
        }
    }
}

/// The shared arena behind every dense memory of one engine.
struct Shared(Mutex<Arena>);

impl Shared {
    fn take(&self, class: usize) -> std::io::Result<Chunk> {
        let mut arena = self.0.lock();
        if let Some(addr) = arena.free[class].pop() {
            return Ok(Chunk { addr, class });
        }
        let size = class_size(class);
        if arena.end - arena.cursor < size {
            // The old tail is abandoned: address space only, never touched.
            arena.map_region(size)?;
        }
        let addr = arena.cursor;
        arena.cursor += size;
        Ok(Chunk { addr, class })
    }

    /// Takes back `chunk`, whose first `used` bytes may have been written.
    fn give(&self, chunk: Chunk, used: usize) {
        // SAFETY: the chunk's owner is giving it up; `used` is within the chunk.
        let zeroed = used == 0
            || unsafe { libc::madvise(chunk.addr as *mut libc::c_void, used, libc::MADV_DONTNEED) } == 0;
        // A chunk that could not be cleared is never reused (its address space is lost).
        if zeroed {
            self.0.lock().free[chunk.class].push(chunk.addr);
        }
    }
}

/// The engine's memory creator: every memory of the dense engine comes from here.
pub(crate) struct DenseMemories(Arc<Shared>);

impl Default for DenseMemories {
    fn default() -> DenseMemories {
        DenseMemories(Arc::new(Shared(Mutex::new(Arena {
            regions: Vec::new(),
            cursor: 0,
            end: 0,
            free: Default::default(),
        }))))
    }
}

// SAFETY: memories are zero-filled (fresh or `MADV_DONTNEED`ed chunks), page-aligned (chunks are
// multiples of 64 KiB from page-aligned regions), and refused unless the engine asks for neither
// a reservation nor guard pages, i.e. unless its code bounds-checks every access against the
// current size, so the chunk bytes past the size are never reached by a guest.
unsafe impl MemoryCreator for DenseMemories {
    fn new_memory(
        &self,
        _ty: MemoryType,
        minimum: usize,
        _maximum: Option<usize>,
        reserved_size_in_bytes: Option<usize>,
        guard_size_in_bytes: usize,
    ) -> Result<Box<dyn LinearMemory>, String> {
        if reserved_size_in_bytes.unwrap_or(0) != 0 || guard_size_in_bytes != 0 {
            return Err("dense memories need an engine without memory reservation or guard pages".into());
        }
        let class = class_of(minimum).ok_or_else(|| format!("a memory of {minimum} bytes is too large"))?;
        let chunk = self.0.take(class).map_err(|e| format!("cannot map memory for a guest: {e}"))?;
        Ok(Box::new(DenseMemory { shared: self.0.clone(), chunk, size: minimum }))
    }
}

/// One guest's memory: the first `size` bytes of `chunk`.
///
/// Invariant: `size <= class_size(chunk.class)`; the bytes of the chunk past `size` are zero.
struct DenseMemory {
    shared: Arc<Shared>,
    chunk: Chunk,
    size: usize,
}

/// Copies the first `len` bytes at `from` to `to`, skipping the scan-sized pages that are all
/// zeros (the destination reads as zeros already, and stays untouched there).
///
/// # Safety
/// `from..from + len` and `to..to + len` are valid, disjoint, and `len` is a multiple of `SCAN`.
unsafe fn copy_written(from: usize, to: usize, len: usize) {
    for offset in (0..len).step_by(SCAN) {
        // SAFETY: within the source range (caller), u64-aligned (page-aligned addresses).
        let page = unsafe { std::slice::from_raw_parts((from + offset) as *const u64, SCAN / 8) };
        if page.iter().any(|&w| w != 0) {
            // SAFETY: both ranges valid and disjoint (caller).
            unsafe {
                std::ptr::copy_nonoverlapping((from + offset) as *const u8, (to + offset) as *mut u8, SCAN)
            };
        }
    }
}

// SAFETY: see `DenseMemories`; `as_ptr` is the start of a chunk owned by this memory alone, at
// least `byte_capacity` bytes long.
unsafe impl LinearMemory for DenseMemory {
    fn byte_size(&self) -> usize {
        self.size
    }

    fn byte_capacity(&self) -> usize {
        class_size(self.chunk.class)
    }

    fn grow_to(&mut self, new_size: usize) -> wasmtime::Result<()> {
        if new_size > self.byte_capacity() {
            let class = class_of(new_size)
                .ok_or_else(|| wasmtime::format_err!("a memory of {new_size} bytes is too large"))?;
            let chunk = self.shared.take(class)?;
            // SAFETY: two distinct chunks, each larger than `size` (a multiple of the wasm page).
            unsafe { copy_written(self.chunk.addr, chunk.addr, self.size) };
            let old = std::mem::replace(&mut self.chunk, chunk);
            self.shared.give(old, self.size);
        }
        self.size = new_size;
        Ok(())
    }

    fn as_ptr(&self) -> *mut u8 {
        self.chunk.addr as *mut u8
    }
}

impl Drop for DenseMemory {
    fn drop(&mut self) {
        self.shared.give(self.chunk, self.size);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memory(creator: &DenseMemories, pages: usize) -> Box<dyn LinearMemory> {
        creator.new_memory(MemoryType::new(pages as u32, None), pages << 16, None, Some(0), 0).unwrap()
    }

    #[test]
    fn classes_are_powers_of_two_from_one_wasm_page() {
        assert_eq!(class_of(0), Some(0));
        assert_eq!(class_of(64 << 10), Some(0));
        assert_eq!(class_of((64 << 10) + 1), Some(1));
        assert_eq!(class_of(17 << 16), Some(5));
        assert_eq!(class_size(5), 2 << 20);
        assert_eq!(class_of(1 << 32), Some(CLASSES - 1));
        assert_eq!(class_of((1 << 32) + 1), None);
    }

    #[test]
    fn memories_start_zeroed_grow_in_place_then_move_keeping_their_bytes() {
        let creator = DenseMemories::default();
        let mut m = memory(&creator, 1);
        assert_eq!((m.byte_size(), m.byte_capacity()), (64 << 10, 64 << 10));
        // SAFETY: within the memory's size, which this test alone uses.
        let bytes = unsafe { std::slice::from_raw_parts_mut(m.as_ptr(), 64 << 10) };
        assert!(bytes.iter().all(|&b| b == 0));
        bytes[0] = 1;
        bytes[(64 << 10) - 1] = 2;
        let before = m.as_ptr();
        m.grow_to(3 << 16).unwrap();
        assert_ne!(m.as_ptr(), before, "past its chunk: moved");
        assert_eq!(m.byte_capacity(), 4 << 16);
        // SAFETY: as above.
        let bytes = unsafe { std::slice::from_raw_parts(m.as_ptr(), 3 << 16) };
        assert_eq!((bytes[0], bytes[(64 << 10) - 1]), (1, 2));
        assert_eq!(bytes.iter().filter(|&&b| b != 0).count(), 2);
        let moved = m.as_ptr();
        m.grow_to(4 << 16).unwrap();
        assert_eq!(m.as_ptr(), moved, "within its chunk: in place");
    }

    #[test]
    fn a_freed_chunk_is_reused_and_reads_as_zeros() {
        let creator = DenseMemories::default();
        let m = memory(&creator, 2);
        let addr = m.as_ptr();
        // SAFETY: within the memory's size.
        unsafe { std::ptr::write_bytes(addr, 0xab, 2 << 16) };
        drop(m);
        let again = memory(&creator, 2);
        assert_eq!(again.as_ptr(), addr);
        // SAFETY: within the memory's size.
        let bytes = unsafe { std::slice::from_raw_parts(again.as_ptr(), 2 << 16) };
        assert!(bytes.iter().all(|&b| b == 0));
        let other = memory(&creator, 2);
        assert_ne!(other.as_ptr(), addr);
    }

    #[test]
    fn guarded_engines_are_refused() {
        let creator = DenseMemories::default();
        let ty = MemoryType::new(1, None);
        assert!(creator.new_memory(ty.clone(), 64 << 10, None, Some(1 << 32), 0).is_err());
        assert!(creator.new_memory(ty, 64 << 10, None, Some(0), 64 << 10).is_err());
    }
}
