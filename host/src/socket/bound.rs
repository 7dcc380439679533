//! An OS descriptor the process already has (stdin, a pipe), read and written as a stream
//! (skynet's `bind`). The server never closes it: it belongs to whoever opened it.

use std::io;
use std::os::fd::RawFd;

use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};

/// A borrowed, non-blocking descriptor.
///
/// Invariant: `fd` stays open for as long as this value lives (the caller of `bind` vouches
/// for it, as skynet's does); it is never closed here.
pub(crate) struct Bound(pub(crate) RawFd);

impl Bound {
    /// Switches `fd` to non-blocking mode and wraps it.
    pub(crate) fn new(fd: RawFd) -> io::Result<Bound> {
        // SAFETY: fcntl on a descriptor number only reads and sets its flags; a closed or
        // invalid number is an error (EBADF), not undefined behaviour.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        if flags < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: as above.
        if unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Bound(fd))
    }

    pub(crate) fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        // SAFETY: `buf` is valid for `buf.len()` bytes of writes for the whole call.
        let n = unsafe { libc::read(self.0, buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 { Err(io::Error::last_os_error()) } else { Ok(n as usize) }
    }

    pub(crate) fn write(&self, data: &[u8]) -> io::Result<usize> {
        // SAFETY: `data` is valid for `data.len()` bytes of reads for the whole call.
        let n = unsafe { libc::write(self.0, data.as_ptr().cast(), data.len()) };
        if n < 0 { Err(io::Error::last_os_error()) } else { Ok(n as usize) }
    }
}

impl mio::event::Source for Bound {
    fn register(&mut self, registry: &Registry, token: Token, interests: Interest) -> io::Result<()> {
        SourceFd(&self.0).register(registry, token, interests)
    }

    fn reregister(&mut self, registry: &Registry, token: Token, interests: Interest) -> io::Result<()> {
        SourceFd(&self.0).reregister(registry, token, interests)
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        SourceFd(&self.0).deregister(registry)
    }
}
