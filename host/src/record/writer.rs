//! Writes a record file through a shared memory map: an entry is encoded straight into the
//! file's pages, with no system call and no copy beyond the encoding, and what is written
//! survives the process being killed (the kernel holds the pages). The file grows by doubling
//! its mapping, never past `recordlimit`; unwritten space is zeroes, which a reader takes for
//! the end of the entries.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::ptr::NonNull;

use super::format::{self, Entry, FRAME_HEADER, Header, PREAMBLE};

/// Kept free below the limit for the `Limit` and `End` marks.
const RESERVE: usize = 256;
/// The first mapping.
const FIRST_MAP: usize = 64 * 1024;

/// One record file being written.
///
/// Invariants: `map` maps the file's first `mapped` bytes (the file is at least that long);
/// `len <= mapped <= limit`; bytes `len..mapped` are zero; `len <= limit - RESERVE` until the
/// limit mark is written.
pub(crate) struct Writer {
    file: File,
    map: NonNull<u8>,
    mapped: usize,
    len: usize,
    limit: usize,
    /// Past the limit (or a failed growth): nothing more is written but the end mark.
    stopped: bool,
    finished: bool,
    /// What the end mark will say.
    pub(crate) reason: &'static str,
}

// SAFETY: the mapping is owned by this writer alone; it moves between threads with it.
unsafe impl Send for Writer {}

impl Writer {
    /// Creates `path` (which must not exist: a record is never overwritten), readable by its
    /// owner only (it holds every payload and the config), and writes the preamble and
    /// `header`. `limit` is raised to what the header and the end marks need.
    pub(crate) fn create(path: &Path, header: &Header, limit: usize) -> io::Result<Writer> {
        use std::os::unix::fs::OpenOptionsExt as _;
        let encoded = postcard::to_stdvec(header).map_err(io::Error::other)?;
        let limit = limit.max(PREAMBLE + FRAME_HEADER + encoded.len() + 2 * RESERVE);
        let file = File::options().read(true).write(true).create_new(true).mode(0o600).open(path)?;
        let mut writer = Writer {
            file,
            map: NonNull::dangling(),
            mapped: 0,
            len: 0,
            limit,
            stopped: false,
            finished: false,
            reason: "the recording service was dropped",
        };
        writer.grow(FIRST_MAP.max(PREAMBLE + FRAME_HEADER + encoded.len() + RESERVE).min(limit))?;
        let buf = writer.unwritten();
        buf[..PREAMBLE].copy_from_slice(&format::preamble());
        let n = format::put_frame(header, &mut buf[PREAMBLE..]).ok_or_else(|| io::Error::other("header"))?;
        writer.len = PREAMBLE + n;
        Ok(writer)
    }

    /// Appends `entry`; `hint`: about how many bytes it holds (a payload's size), for growing.
    /// Past the limit this writes the limit mark once and then nothing.
    pub(crate) fn append(&mut self, entry: &Entry<'_>, hint: usize) {
        if self.stopped || self.finished {
            return;
        }
        let room_end = self.limit - RESERVE;
        loop {
            let end = self.mapped.min(room_end);
            let start = self.len;
            // SAFETY of the slice: `start <= end <= mapped` (invariants).
            if let Some(n) = format::put_frame(entry, &mut self.unwritten()[..end - start]) {
                self.len += n;
                return;
            }
            // The failed encoding wrote at most `end - start` bytes, all of which the next try
            // (longer, at the same place) writes again; if there is none, zero them (the
            // unwritten space must stay zeroes).
            if self.mapped >= room_end {
                self.unwritten()[..end - start].fill(0);
                return self.stop(Some(format::Entry::Limit { limit: self.limit as u64 }));
            }
            let want = (self.mapped * 2).max(start + FRAME_HEADER + hint * 2 + 256).min(self.limit);
            if self.grow(want).is_err() {
                self.unwritten()[..end - start].fill(0);
                self.reason = "the record file could not grow (disk full?)";
                return self.stop(None);
            }
        }
    }

    /// Writes the end mark and trims the file to what was written. Idempotent.
    pub(crate) fn finish(&mut self) {
        if self.finished {
            return;
        }
        self.put_mark(&Entry::End { reason: self.reason });
        self.finished = true;
        self.stopped = true;
        self.unmap();
        let _ = self.file.set_len(self.len as u64);
    }

    /// Writes nothing more but `mark` (if any) and, at the finish, the end mark.
    fn stop(&mut self, mark: Option<Entry<'_>>) {
        if let Some(mark) = mark {
            self.put_mark(&mark);
        }
        self.stopped = true;
    }

    /// Writes a mark in the reserve (it always fits: the reserve is kept free for two).
    fn put_mark(&mut self, mark: &Entry<'_>) {
        let want = (self.len + RESERVE).min(self.limit);
        if want > self.mapped && self.grow(want).is_err() {
            return;
        }
        if let Some(n) = format::put_frame(mark, self.unwritten()) {
            self.len += n;
        }
    }

    /// The mapped bytes after `len`.
    fn unwritten(&mut self) -> &mut [u8] {
        // SAFETY: `map` is valid for `mapped` bytes and `len <= mapped` (invariants); `&mut self`
        // makes this the only reference into the mapping.
        unsafe { std::slice::from_raw_parts_mut(self.map.as_ptr().add(self.len), self.mapped - self.len) }
    }

    /// Extends the file to `size` bytes and maps all of it (the written bytes stay where they
    /// are: they live in the file).
    fn grow(&mut self, size: usize) -> io::Result<()> {
        debug_assert!(size > self.mapped);
        // Blocks allocated now: a write into a mapped page the disk has no room for would be a
        // SIGBUS, not an error.
        // SAFETY: plain system call on the file this writer owns.
        match unsafe { libc::posix_fallocate(self.file.as_raw_fd(), 0, size as libc::off_t) } {
            0 => {}
            // A file system without it (the write faults are then the kernel's to fill).
            libc::EOPNOTSUPP | libc::EINVAL => self.file.set_len(size as u64)?,
            err => return Err(io::Error::from_raw_os_error(err)),
        }
        // SAFETY: maps the file, open read-write, shared; the result is checked below.
        let map = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                size,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                self.file.as_raw_fd(),
                0,
            )
        };
        if map == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        self.unmap();
        self.map = NonNull::new(map.cast()).ok_or_else(|| io::Error::other("mmap returned null"))?;
        self.mapped = size;
        Ok(())
    }

    fn unmap(&mut self) {
        if self.mapped > 0 {
            // SAFETY: `map` is the live mapping of `mapped` bytes, and no reference into it
            // outlives this call (`unwritten` borrows `self`).
            unsafe { libc::munmap(self.map.as_ptr().cast(), self.mapped) };
            self.mapped = 0;
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size_of<T: serde::Serialize>(value: &T) -> usize {
        postcard::to_stdvec(value).unwrap().len() + FRAME_HEADER
    }
    use crate::record::format::{Bytes, Ending, read};

    fn header() -> Header {
        Header {
            skybox: "t".into(),
            runtime: "snlua".into(),
            args: "x".into(),
            handle: 1,
            threads: 1,
            started_ms: 0,
            hash_seed: 0,
            library: [0; 32],
            config: Vec::new(),
        }
    }

    #[test]
    fn grows_past_the_first_map_and_stops_at_the_limit() {
        let dir = std::env::temp_dir().join(format!("skybox-writer-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.record");
        let payload = vec![7u8; 10_000];
        let entry = Entry::Message { ptype: 1, session: 0, source: 2, data: Bytes(&payload) };
        let mut w = Writer::create(&path, &header(), 1 << 20).unwrap();
        for _ in 0..200 {
            w.append(&entry, payload.len());
        }
        w.finish();
        drop(w);
        let bytes = std::fs::read(&path).unwrap();
        let record = read(&bytes).unwrap();
        let fit = (1 << 20) / size_of(&entry);
        assert!(record.entries.len() >= fit - 2 && record.entries.len() <= fit, "{}", record.entries.len());
        assert_eq!(record.ending, Ending::Limited(1 << 20));
        assert!(std::fs::metadata(&path).unwrap().len() <= 1 << 20);

        // Unclosed (as if the process died): the zeroed tail reads as unfinished.
        assert!(Writer::create(&path, &header(), 1 << 20).is_err(), "a record is never overwritten");
        std::fs::remove_file(&path).unwrap();
        let mut w = Writer::create(&path, &header(), 1 << 20).unwrap();
        w.append(&entry, payload.len());
        std::mem::forget(w);
        let bytes = std::fs::read(&path).unwrap();
        let record = read(&bytes).unwrap();
        assert_eq!((record.entries.len(), record.ending), (1, Ending::Unfinished));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
