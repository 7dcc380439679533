//! One socket: its state, its write queues, and what happens to it under its slot's lock
//! (reading, writing, closing), whoever holds the lock: a worker sending or closing, or the
//! socket thread on a readiness event.
//!
//! Events go out while the lock is held, so the owner's mailbox gets them in the order they
//! happened to the socket (every DATA before the CLOSE that follows it).

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};

use mio::net::{TcpListener, TcpStream, UdpSocket};
use mio::{Interest, Registry, Token};
use skybox_sdk::socket::{self as event, Event};

use super::frame::Framer;
use super::slots::Locked;

/// Writes waiting past this many bytes warn the owner, and again at each doubling.
const WARNING_SIZE: usize = 1024 * 1024;
/// The first read of a stream takes this many bytes; full reads double it, short ones halve it.
const MIN_READ: usize = 64;
/// Reads (or accepts, or datagrams) of one socket per readiness event before the others get a
/// turn; the rest waits for the next round of the loop.
pub(crate) const READ_BUDGET: usize = 16;

/// Where events go: the owner is an opaque number here (a service address outside).
pub(crate) trait Sink: Send + Sync + 'static {
    /// Delivers one event and its bytes to `owner`; false when `owner` is gone.
    fn deliver(&self, owner: u32, event: Event, bytes: Vec<u8>) -> bool;
    /// Delivers one frame of forwarded socket `id` to `to` (`frame.rs`); a frame for a service
    /// that is gone is dropped.
    fn deliver_frame(&self, to: u32, source: u32, id: i32, frame: Vec<u8>);
    /// One log line about socket `id`.
    fn log(&self, id: i32, text: String);
    /// The time for the sockets' statistics (`skynet.now()`).
    fn now(&self) -> u64;
    /// True once nobody is left to tell: the socket thread closes everything and ends.
    fn stopping(&self) -> bool;
}

/// What a socket is.
pub(crate) enum Io {
    /// An id handed out; the connect is being resolved.
    Reserved,
    Listener(TcpListener),
    Stream(TcpStream),
    Udp(UdpSocket),
    /// A descriptor of the process's own (`bind`), never closed here.
    Bound(super::bound::Bound),
}

/// skynet's socket states (`socket_server.c`), for a stream or listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// Reserved, or resolving a connect.
    Reserved,
    /// Listening, not accepting until started.
    PListen,
    Listen,
    Connecting,
    /// A connected stream, and every UDP socket.
    Connected,
    /// No more reading (the peer's EOF, or a close with writes pending); still writable.
    HalfCloseRead,
    /// A write failed; still readable.
    HalfCloseWrite,
    /// Accepted, not read until started.
    PAccept,
}

/// Bytes waiting to be written, from `offset` on; a datagram carries its destination.
pub(crate) struct Pending {
    data: Vec<u8>,
    offset: usize,
    to: Option<SocketAddr>,
}

impl Pending {
    pub(crate) fn new(data: Vec<u8>, to: Option<SocketAddr>) -> Pending {
        Pending { data, offset: 0, to }
    }
}

/// One socket and everything the server knows of it.
///
/// Invariants: `wb_size` is the bytes left in `high` and `low`; `registered` is the interest
/// the poll has for it (none: not registered); once `closing`, nothing more is queued and the
/// socket closes when the queues drain.
pub(crate) struct Socket {
    pub(crate) id: i32,
    pub(crate) owner: u32,
    pub(crate) state: State,
    pub(crate) io: Io,
    /// The owner wants its data (read interest), unless paused or not started.
    pub(crate) reading: bool,
    registered: Option<Interest>,
    high: VecDeque<Pending>,
    low: VecDeque<Pending>,
    pub(crate) wb_size: usize,
    warn_size: usize,
    pub(crate) closing: bool,
    read_size: usize,
    /// A UDP socket's default destination.
    pub(crate) udp_peer: Option<SocketAddr>,
    /// Addresses of a connect still to try after the current one.
    pub(crate) connect_rest: Vec<SocketAddr>,
    /// Bytes read and written (a listener counts accepted connections as read).
    pub(crate) read_bytes: u64,
    pub(crate) write_bytes: u64,
    /// `skynet.now()` of the last read and write.
    pub(crate) rtime: u64,
    pub(crate) wtime: u64,
    /// A forwarded stream: what is read is cut into frames for a service, not sent as DATA.
    pub(crate) framer: Option<Framer>,
}

/// What an operation on a locked socket needs from the server.
pub(crate) struct Ctx<'a> {
    pub(crate) registry: &'a Registry,
    pub(crate) sink: &'a dyn Sink,
    /// `skynet.now()`, for the socket's times.
    pub(crate) now: u64,
}

impl Socket {
    pub(crate) fn new(id: i32, owner: u32, state: State, io: Io) -> Socket {
        Socket {
            id,
            owner,
            state,
            io,
            reading: false,
            registered: None,
            high: VecDeque::new(),
            low: VecDeque::new(),
            wb_size: 0,
            warn_size: 0,
            closing: false,
            read_size: MIN_READ,
            udp_peer: None,
            connect_rest: Vec::new(),
            read_bytes: 0,
            write_bytes: 0,
            rtime: 0,
            wtime: 0,
            framer: None,
        }
    }

    pub(crate) fn is_udp(&self) -> bool {
        matches!(self.io, Io::Udp(_))
    }

    /// Tells the owner; false if it is gone.
    pub(crate) fn emit(&self, cx: &Ctx<'_>, kind: i32, ud: i32, bytes: Vec<u8>) -> bool {
        cx.sink.deliver(self.owner, Event { kind, id: self.id, ud }, bytes)
    }

    fn wants_write(&self) -> bool {
        !self.high.is_empty() || !self.low.is_empty() || self.state == State::Connecting
    }

    /// Brings the poll's interest in line with what the socket wants now.
    pub(crate) fn update_interest(&mut self, registry: &Registry) -> io::Result<()> {
        let read = self.reading.then_some(Interest::READABLE);
        let write = self.wants_write().then_some(Interest::WRITABLE);
        let want = match (read, write) {
            (Some(r), Some(w)) => Some(r | w),
            (r, w) => r.or(w),
        };
        if want == self.registered {
            return Ok(());
        }
        let token = Token(self.id as usize);
        let source: &mut dyn mio::event::Source = match &mut self.io {
            Io::Reserved => return Ok(()),
            Io::Listener(l) => l,
            Io::Stream(s) => s,
            Io::Udp(u) => u,
            Io::Bound(b) => b,
        };
        match (self.registered, want) {
            (None, Some(want)) => registry.register(source, token, want)?,
            (Some(_), Some(want)) => registry.reregister(source, token, want)?,
            (Some(_), None) => registry.deregister(source)?,
            (None, None) => {}
        }
        self.registered = want;
        Ok(())
    }

    /// Stops reading (pause, half-close).
    pub(crate) fn stop_reading(&mut self, registry: &Registry) {
        self.reading = false;
        let _ = self.update_interest(registry);
    }

    // ---- writing ------------------------------------------------------------------------

    /// Whether a send from a worker may write at once: a connected socket with nothing queued.
    pub(crate) fn can_write_now(&self) -> bool {
        self.state == State::Connected && !self.closing && self.high.is_empty() && self.low.is_empty()
    }

    /// Queues `data` (high or low priority) and asks for write readiness. Warns the owner when
    /// the queues pass 1 MiB and each doubling.
    pub(crate) fn queue(&mut self, cx: &Ctx<'_>, pending: Pending, low: bool) {
        self.wb_size += pending.data.len() - pending.offset;
        // A new low-priority block waits behind high ones; with nothing queued it goes first.
        if low && !(self.high.is_empty() && self.low.is_empty()) {
            self.low.push_back(pending);
        } else {
            self.high.push_back(pending);
        }
        if self.wb_size >= WARNING_SIZE && self.wb_size >= self.warn_size {
            self.warn_size = if self.warn_size == 0 { WARNING_SIZE * 2 } else { self.warn_size * 2 };
            let kib = self.wb_size.div_ceil(1024).min(i32::MAX as usize) as i32;
            self.emit(cx, event::WARNING, kib, Vec::new());
        }
        if let Err(err) = self.update_interest(cx.registry) {
            cx.sink.log(self.id, format!("socket: cannot wait for write readiness: {err}"));
        }
    }

    /// Writes as much of `data` (from `offset`) as the socket takes now; `Ok(n)` bytes written.
    fn write_some(&mut self, data: &[u8], to: Option<SocketAddr>) -> io::Result<usize> {
        let n = match &mut self.io {
            Io::Stream(s) => s.write(data),
            Io::Bound(b) => b.write(data),
            Io::Udp(u) => match to.or(self.udp_peer) {
                Some(to) => u.send_to(data, to),
                None => Err(io::Error::new(io::ErrorKind::InvalidInput, "no destination (address first)")),
            },
            _ => Err(io::Error::new(io::ErrorKind::InvalidInput, "not writable")),
        }?;
        self.write_bytes += n as u64;
        Ok(n)
    }

    /// A send from a worker: writes at once when nothing is queued, queues the rest. False if
    /// the socket takes no more data (closing, half-closed for writing, a listener).
    pub(crate) fn send(&mut self, cx: &Ctx<'_>, data: Vec<u8>, to: Option<SocketAddr>, low: bool) -> bool {
        match self.state {
            State::Connected | State::Connecting | State::HalfCloseRead | State::Reserved
                if !self.closing => {}
            _ => return false,
        }
        if matches!(self.io, Io::Listener(_)) {
            return false;
        }
        let mut pending = Pending::new(data, to);
        if !low && self.can_write_now() {
            match self.write_some(&pending.data, to) {
                Ok(n) if n == pending.data.len() => {
                    self.wtime = cx.now;
                    return true;
                }
                Ok(n) => pending.offset = n,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                Err(err) if self.is_udp() => {
                    cx.sink.log(self.id, format!("socket: udp send failed: {err}"));
                    return true;
                }
                // The socket thread meets the error again when it flushes.
                Err(_) => {}
            }
        }
        self.queue(cx, pending, low);
        true
    }

    /// Writes what is queued (the socket is writable). Returns false when the socket must be
    /// closed now (silently: its CLOSE, if any, was sent already).
    pub(crate) fn flush(&mut self, cx: &Ctx<'_>) -> bool {
        for low in [false, true] {
            loop {
                let queue = if low { &mut self.low } else { &mut self.high };
                let Some(mut head) = queue.pop_front() else { break };
                let result = self.write_some(&head.data[head.offset..], head.to);
                match result {
                    Ok(n) => {
                        self.wtime = cx.now;
                        head.offset += n;
                        self.wb_size -= n;
                        if head.offset < head.data.len() {
                            // A low block once started finishes before anything else.
                            self.high.push_front(head);
                            return self.after_flush(cx, false);
                        }
                    }
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                        let queue = if low { &mut self.low } else { &mut self.high };
                        queue.push_front(head);
                        return self.after_flush(cx, false);
                    }
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => {
                        let queue = if low { &mut self.low } else { &mut self.high };
                        queue.push_front(head);
                    }
                    Err(err) if self.is_udp() => {
                        self.wb_size -= head.data.len() - head.offset;
                        cx.sink.log(self.id, format!("socket: udp send failed: {err}"));
                    }
                    Err(err) => return self.write_failed(cx, err),
                }
            }
            if !low && !self.high.is_empty() {
                return self.after_flush(cx, false);
            }
        }
        self.after_flush(cx, true)
    }

    fn after_flush(&mut self, cx: &Ctx<'_>, drained: bool) -> bool {
        if drained {
            if self.closing {
                return false;
            }
            if self.warn_size > 0 {
                self.warn_size = 0;
                self.emit(cx, event::WARNING, 0, Vec::new());
            }
        }
        let _ = self.update_interest(cx.registry);
        true
    }

    /// A stream write failed: half-close for writing and tell the owner (it still reads).
    fn write_failed(&mut self, cx: &Ctx<'_>, err: io::Error) -> bool {
        if self.closing || self.state == State::HalfCloseRead {
            return false;
        }
        self.high.clear();
        self.low.clear();
        self.wb_size = 0;
        if self.state != State::HalfCloseWrite {
            self.state = State::HalfCloseWrite;
            if let Io::Stream(s) = &self.io {
                let _ = s.shutdown(Shutdown::Write);
            }
            self.emit(cx, event::ERROR, 0, err.to_string().into_bytes());
        }
        let _ = self.update_interest(cx.registry);
        true
    }

    // ---- reading ------------------------------------------------------------------------

    /// Reads what the stream has, up to [`READ_BUDGET`] reads. Returns (more may be waiting,
    /// close the socket now).
    pub(crate) fn read_stream(&mut self, cx: &Ctx<'_>) -> (bool, bool) {
        for _ in 0..READ_BUDGET {
            // Room for the event's trailer too: the buffer becomes the message as it is.
            let mut buf = Vec::with_capacity(self.read_size + event::TRAILER);
            buf.resize(self.read_size, 0);
            let read = match &mut self.io {
                Io::Stream(stream) => stream.read(&mut buf),
                Io::Bound(bound) => bound.read(&mut buf),
                _ => return (false, false),
            };
            match read {
                Ok(0) => return (false, self.peer_closed(cx)),
                Ok(n) => {
                    self.read_bytes += n as u64;
                    self.rtime = cx.now;
                    if self.state == State::HalfCloseRead {
                        continue; // discarded: nobody reads any more
                    }
                    if n == self.read_size {
                        self.read_size *= 2;
                    } else if self.read_size > MIN_READ && n * 2 < self.read_size {
                        self.read_size /= 2;
                    }
                    buf.truncate(n);
                    if let Some(framer) = &mut self.framer {
                        let (to, source, id) = (framer.to, framer.source, self.id);
                        framer.feed(buf, |frame| cx.sink.deliver_frame(to, source, id, frame));
                    } else if !self.emit(cx, event::DATA, n as i32, buf) {
                        return (false, true);
                    }
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return (false, false),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => {
                    self.emit(cx, event::ERROR, 0, err.to_string().into_bytes());
                    return (false, false);
                }
            }
        }
        (true, false)
    }

    /// The peer's EOF. Returns true when the socket must be closed now.
    fn peer_closed(&mut self, cx: &Ctx<'_>) -> bool {
        if self.closing {
            return !self.wants_write();
        }
        match self.state {
            State::HalfCloseRead => false,
            State::HalfCloseWrite => {
                self.emit(cx, event::CLOSE, 0, Vec::new());
                true
            }
            _ => {
                self.state = State::HalfCloseRead;
                self.stop_reading(cx.registry);
                self.emit(cx, event::CLOSE, 0, Vec::new());
                false
            }
        }
    }

    /// Receives datagrams, up to [`READ_BUDGET`]. `scratch` holds one datagram (64 KiB).
    /// Returns (more may be waiting, close the socket now).
    pub(crate) fn read_udp(&mut self, cx: &Ctx<'_>, scratch: &mut [u8]) -> (bool, bool) {
        for _ in 0..READ_BUDGET {
            let Io::Udp(udp) = &self.io else { return (false, false) };
            match udp.recv_from(scratch) {
                Ok((n, from)) => {
                    self.read_bytes += n as u64;
                    self.rtime = cx.now;
                    let address = event::udp_address::encode(from);
                    let mut bytes = Vec::with_capacity(n + address.len() + event::TRAILER);
                    bytes.extend_from_slice(&scratch[..n]);
                    bytes.extend_from_slice(&address);
                    if !self.emit(cx, event::UDP, n as i32, bytes) {
                        return (false, true);
                    }
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return (false, false),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => {
                    self.emit(cx, event::ERROR, 0, err.to_string().into_bytes());
                    return (false, true);
                }
            }
        }
        (true, false)
    }

    // ---- closing ------------------------------------------------------------------------

    /// `close`: flushes what is queued, then closes. The owner gets CLOSE now (unless it had it
    /// at the peer's EOF). Returns true when the socket must be dropped now.
    pub(crate) fn close(&mut self, cx: &Ctx<'_>) -> bool {
        let half_closed = self.state == State::HalfCloseRead;
        if !self.wants_write() || self.state == State::HalfCloseWrite || self.state == State::Connecting {
            if !half_closed {
                self.emit(cx, event::CLOSE, 0, Vec::new());
            }
            return true;
        }
        self.closing = true;
        if !half_closed {
            self.state = State::HalfCloseRead;
            self.stop_reading(cx.registry);
            if let Io::Stream(s) = &self.io {
                let _ = s.shutdown(Shutdown::Read);
            }
            self.emit(cx, event::CLOSE, 0, Vec::new());
        }
        false
    }

    /// `shutdown`: what is queued is dropped with the socket; the owner gets CLOSE unless it
    /// had it already (at the peer's EOF, or at a `close` still flushing).
    pub(crate) fn shutdown(&mut self, cx: &Ctx<'_>) {
        if self.state != State::HalfCloseRead {
            self.emit(cx, event::CLOSE, 0, Vec::new());
        }
    }

    /// Unregisters the socket; dropping it then closes the descriptor.
    pub(crate) fn deregister(&mut self, registry: &Registry) {
        self.reading = false;
        self.high.clear();
        self.low.clear();
        self.wb_size = 0;
        self.closing = false;
        let _ = self.update_interest(registry);
    }
}

/// Drops the socket in `slot` (unregistered first): its descriptor is closed, its queues freed.
pub(crate) fn drop_socket(slot: &mut Locked<'_>, registry: &Registry) -> Option<Box<Socket>> {
    let mut socket = slot.take()?;
    socket.deregister(registry);
    Some(socket)
}
