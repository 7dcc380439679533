//! The socket server (skynet's `socket_server.c`): the operations on sockets by id, and the
//! socket thread that waits on one poll for every socket's readiness. It knows no services: an
//! owner is a number, and events go to a [`Sink`].
//!
//! Operations run on the calling thread under the socket's slot lock, in call order: a send
//! writes at once when nothing is queued (no round trip through the socket thread), the rest
//! waits for write readiness. The socket thread reads, accepts, completes connects and
//! flushes queues. Name lookups for `connect` run on a resolver thread, never on the socket
//! thread or a worker.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use crossbeam::channel::{self, Sender};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Poll, Registry};
use parking_lot::Mutex;
use rustc_hash::{FxHashMap, FxHashSet};
use skybox_sdk::socket as event;

use super::addr;
use super::frame::Framer;
use super::slots::{Locked, Slots};
use super::socket::{Ctx, Io, Sink, Socket, State, drop_socket};

/// One socket as `info` (netstat) lists it.
#[derive(Debug, Clone)]
pub(crate) struct Info {
    pub(crate) id: i32,
    pub(crate) owner: u32,
    /// "LISTEN", "TCP", "UDP" or "CLOSING" (a half-closed stream).
    pub(crate) kind: &'static str,
    pub(crate) read: u64,
    pub(crate) write: u64,
    pub(crate) wbuffer: usize,
    pub(crate) rtime: u64,
    pub(crate) wtime: u64,
    pub(crate) reading: bool,
    pub(crate) writing: bool,
    /// The local address of a listener, the peer of a stream, the default destination of UDP.
    pub(crate) name: Option<String>,
}

/// Whose sockets a caller may use. A Lua service may use any id, as in skynet (a gate writes
/// to its agents' connections); a wasm guest only the sockets it owns, so a forged or guessed id
/// reaches nothing of another service's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    Any,
    Owner(u32),
}

/// The server.
///
/// Invariant: `owners` maps each owner to the ids of its live sockets; it changes only under
/// the slot lock of the socket concerned.
pub(crate) struct Server {
    pub(super) slots: Slots,
    pub(super) registry: Registry,
    sink: Box<dyn Sink>,
    owners: Mutex<FxHashMap<u32, FxHashSet<i32>>>,
    resolver: Sender<(i32, String, u16)>,
    /// A descriptor kept in reserve: given up to accept (and drop) a connection when the process
    /// is out of descriptors, so the listener does not spin on it.
    reserve: Mutex<Option<std::fs::File>>,
    stop: AtomicBool,
}

pub(super) fn error(kind: io::ErrorKind, text: &str) -> io::Error {
    io::Error::new(kind, text.to_string())
}

fn reserve_fd() -> Option<std::fs::File> {
    std::fs::File::open("/dev/null").ok()
}

impl Server {
    /// Starts the socket thread and the resolver thread; events go to `sink`.
    pub(crate) fn start(sink: Box<dyn Sink>) -> io::Result<Arc<Server>> {
        let poll = Poll::new()?;
        let (resolver, lookups) = channel::unbounded::<(i32, String, u16)>();
        let server = Arc::new(Server {
            slots: Slots::default(),
            registry: poll.registry().try_clone()?,
            sink,
            owners: Mutex::new(FxHashMap::default()),
            resolver,
            reserve: Mutex::new(reserve_fd()),
            stop: AtomicBool::new(false),
        });
        let weak = Arc::downgrade(&server);
        std::thread::Builder::new().name("skybox-resolver".into()).spawn(move || {
            for (id, host, port) in lookups {
                let addrs = addr::resolve(&host, port);
                let Some(server) = weak.upgrade() else { return };
                server.connect_to(id, addrs);
            }
        })?;
        let weak = Arc::downgrade(&server);
        std::thread::Builder::new().name("skybox-socket".into()).spawn(move || run(weak, poll))?;
        Ok(server)
    }

    /// Stops the socket thread; it closes every socket as it goes.
    #[cfg(test)]
    pub(crate) fn stop(&self) {
        self.stop.store(true, Ordering::Release);
    }

    pub(super) fn cx(&self) -> Ctx<'_> {
        Ctx { registry: &self.registry, sink: &*self.sink, now: self.sink.now() }
    }

    fn track(&self, owner: u32, id: i32) {
        self.owners.lock().entry(owner).or_default().insert(id);
    }

    fn untrack(&self, owner: u32, id: i32) {
        let mut owners = self.owners.lock();
        if let Some(ids) = owners.get_mut(&owner) {
            ids.remove(&id);
            if ids.is_empty() {
                owners.remove(&owner);
            }
        }
    }

    /// A new socket of `owner` in a free slot; its id, with the slot still locked.
    pub(super) fn insert(&self, owner: u32, state: State, io: Io) -> io::Result<(i32, Locked<'_>)> {
        let (id, slot) = self
            .slots
            .insert(|id| Socket::new(id, owner, state, io))
            .ok_or_else(|| error(io::ErrorKind::OutOfMemory, "reach skynet socket number limit"))?;
        self.track(owner, id);
        Ok((id, slot))
    }

    /// Drops the socket in `slot`: unregistered, its descriptor closed, its queues freed.
    pub(super) fn remove(&self, slot: &mut Locked<'_>) {
        if let Some(socket) = drop_socket(slot, &self.registry) {
            self.untrack(socket.owner, socket.id);
        }
    }

    /// The slot of `id`, locked, if it holds that socket and `access` reaches it.
    pub(super) fn lock(&self, id: i32, access: Access) -> Option<Locked<'_>> {
        let slot = self.slots.lock(id)?;
        match access {
            Access::Owner(owner) if slot.as_ref().is_some_and(|s| s.owner != owner) => None,
            _ => Some(slot),
        }
    }

    /// Does `owner` hold socket `id`?
    pub(crate) fn owns(&self, id: i32, owner: u32) -> bool {
        self.lock(id, Access::Owner(owner)).is_some()
    }

    /// Gives the socket in `slot` to `owner`.
    fn set_owner(&self, socket: &mut Socket, owner: u32) {
        if socket.owner != owner {
            self.untrack(socket.owner, socket.id);
            socket.owner = owner;
            self.track(owner, socket.id);
        }
    }

    // ---- streams ------------------------------------------------------------------------

    /// Listens on `host:port` (bound here, on the caller's thread); the owner gets CONNECT with
    /// the bound address and port, and accepts nothing until started.
    pub(crate) fn listen(&self, owner: u32, host: &str, port: u16, backlog: i32) -> io::Result<i32> {
        let at = addr::bind_addr(host, port)?;
        let socket = socket2::Socket::new(socket2::Domain::for_address(at), socket2::Type::STREAM, None)?;
        socket.set_reuse_address(true)?;
        socket.bind(&at.into())?;
        socket.listen(backlog.max(1))?;
        socket.set_nonblocking(true)?;
        let listener = TcpListener::from_std(socket.into());
        let bound = listener.local_addr()?;
        let (_, slot) = self.insert(owner, State::PListen, Io::Listener(listener))?;
        let socket = slot.as_ref().expect("just inserted");
        socket.emit(&self.cx(), event::CONNECT, i32::from(bound.port()), bound.ip().to_string().into_bytes());
        Ok(socket.id)
    }

    /// Connects to `host:port`. The id is returned at once; the owner gets CONNECT (the peer's
    /// address) or ERROR later.
    pub(crate) fn connect(&self, owner: u32, host: &str, port: u16) -> io::Result<i32> {
        if port == 0 {
            return Err(error(io::ErrorKind::InvalidInput, "Invalid port"));
        }
        let (id, slot) = self.insert(owner, State::Reserved, Io::Reserved)?;
        drop(slot);
        match addr::literal(host, port) {
            Some(at) => self.connect_to(id, Ok(vec![at])),
            None => {
                if self.resolver.send((id, host.to_string(), port)).is_err() {
                    self.connect_to(id, Err(error(io::ErrorKind::Other, "the resolver has stopped")));
                }
            }
        }
        Ok(id)
    }

    /// Starts connecting socket `id` (if it was not closed meanwhile) to the first of `addrs`
    /// that takes a connect; the others stay for a failure.
    fn connect_to(&self, id: i32, addrs: io::Result<Vec<SocketAddr>>) {
        let Some(mut slot) = self.slots.lock(id) else { return };
        let socket = slot.as_mut().expect("locked live");
        match addrs {
            Ok(mut addrs) => {
                addrs.reverse();
                socket.connect_rest = addrs;
                self.connect_next(&mut slot, None);
            }
            Err(err) => {
                socket.emit(&self.cx(), event::ERROR, 0, err.to_string().into_bytes());
                self.remove(&mut slot);
            }
        }
    }

    /// Tries the next address of a connect; ERROR and the socket is dropped when none is left.
    fn connect_next(&self, slot: &mut Locked<'_>, mut last: Option<io::Error>) {
        let socket = slot.as_mut().expect("locked live");
        while let Some(at) = socket.connect_rest.pop() {
            match TcpStream::connect(at) {
                Ok(stream) => {
                    let _ = socket2::SockRef::from(&stream).set_keepalive(true);
                    socket.io = Io::Stream(stream);
                    socket.state = State::Connecting;
                    socket.reading = true;
                    match socket.update_interest(&self.registry) {
                        Ok(()) => return,
                        Err(err) => last = Some(err),
                    }
                }
                Err(err) => last = Some(err),
            }
        }
        let text = last.map_or_else(|| "connect failed".to_string(), |e| e.to_string());
        socket.emit(&self.cx(), event::ERROR, 0, text.into_bytes());
        self.remove(slot);
    }

    /// A connecting socket is writable (or failed): connected, or on to the next address.
    fn connected(&self, slot: &mut Locked<'_>) {
        let socket = slot.as_mut().expect("locked live");
        let Io::Stream(stream) = &socket.io else { return };
        let failure = match stream.take_error() {
            Ok(Some(err)) | Err(err) => Some(err),
            Ok(None) => match stream.peer_addr() {
                Ok(peer) => {
                    socket.state = State::Connected;
                    let cx = self.cx();
                    let _ = socket.update_interest(&self.registry);
                    if !socket.emit(&cx, event::CONNECT, 0, peer.ip().to_string().into_bytes()) {
                        self.remove(slot);
                    }
                    return;
                }
                Err(err) if err.kind() == io::ErrorKind::NotConnected => return,
                Err(err) => Some(err),
            },
        };
        // This address failed: its stream goes, the next one is tried.
        socket.state = State::Reserved;
        socket.reading = false;
        let _ = socket.update_interest(&self.registry);
        socket.io = Io::Reserved;
        self.connect_next(slot, failure);
    }

    /// `start`: the caller becomes the owner and the socket is read (an accepted socket or a
    /// listener starts, a connected one is transferred). The caller gets CONNECT ("start",
    /// "transfer"), or ERROR for a closed or unknown id.
    pub(crate) fn start_socket(&self, caller: u32, id: i32, access: Access) {
        let cx = self.cx();
        let Some(mut slot) = self.lock(id, access) else {
            cx.sink.deliver(
                caller,
                event::Event { kind: event::ERROR, id, ud: 0 },
                b"invalid socket".to_vec(),
            );
            return;
        };
        let socket = slot.as_mut().expect("locked live");
        let reply = match socket.state {
            State::HalfCloseRead => {
                cx.sink.deliver(
                    caller,
                    event::Event { kind: event::ERROR, id, ud: 0 },
                    b"socket closed".to_vec(),
                );
                return;
            }
            State::PAccept => {
                socket.state = State::Connected;
                Some("start")
            }
            State::PListen => {
                socket.state = State::Listen;
                Some("start")
            }
            State::Connected => Some("transfer"),
            State::Reserved | State::Connecting | State::Listen | State::HalfCloseWrite => None,
        };
        socket.reading = true;
        if let Err(err) = socket.update_interest(&self.registry) {
            socket.reading = false;
            cx.sink.deliver(
                caller,
                event::Event { kind: event::ERROR, id, ud: 0 },
                err.to_string().into_bytes(),
            );
            return;
        }
        if let Some(text) = reply {
            self.set_owner(socket, caller);
            socket.emit(&cx, event::CONNECT, 0, text.as_bytes().to_vec());
        }
    }

    /// `pause`: the socket is not read until started again.
    pub(crate) fn pause(&self, id: i32, access: Access) {
        if let Some(mut slot) = self.lock(id, access) {
            slot.as_mut().expect("locked live").stop_reading(&self.registry);
        }
    }

    /// `close`: what is queued is sent first; the owner gets CLOSE now.
    pub(crate) fn close(&self, id: i32, access: Access) {
        if let Some(mut slot) = self.lock(id, access)
            && slot.as_mut().expect("locked live").close(&self.cx())
        {
            self.remove(&mut slot);
        }
    }

    /// `shutdown`: closes now, dropping what is queued; the owner gets CLOSE.
    pub(crate) fn shutdown(&self, id: i32, access: Access) {
        if let Some(mut slot) = self.lock(id, access) {
            slot.as_mut().expect("locked live").shutdown(&self.cx());
            self.remove(&mut slot);
        }
    }

    /// `nodelay`: TCP_NODELAY on a stream.
    pub(crate) fn nodelay(&self, id: i32, access: Access) {
        if let Some(slot) = self.lock(id, access)
            && let Io::Stream(stream) = &slot.as_ref().expect("locked live").io
        {
            let _ = stream.set_nodelay(true);
        }
    }

    /// Forwards stream `id`: from now on what it reads is cut into frames (`frame.rs`), each
    /// delivered to `to` with `source` and session `id`; `None` stops that, and the start of an
    /// incomplete frame goes to the owner as DATA, so its next reader misses nothing. False when
    /// the socket is gone or is not a stream.
    pub(crate) fn forward(&self, id: i32, to: Option<(u32, u32)>, access: Access) -> bool {
        let Some(mut slot) = self.lock(id, access) else { return false };
        let socket = slot.as_mut().expect("locked live");
        if !matches!(socket.io, Io::Stream(_) | Io::Bound(_)) {
            return false;
        }
        match to {
            Some((to, source)) => match &mut socket.framer {
                Some(framer) => (framer.to, framer.source) = (to, source),
                None => socket.framer = Some(Framer::new(to, source)),
            },
            None => {
                let partial = socket.framer.take().map(Framer::into_partial).unwrap_or_default();
                if !partial.is_empty() {
                    let n = partial.len() as i32;
                    socket.emit(&self.cx(), event::DATA, n, partial);
                }
            }
        }
        true
    }

    /// `send` / `lsend`: false when the socket is gone or takes no more data.
    pub(crate) fn send(&self, id: i32, data: Vec<u8>, low: bool, access: Access) -> bool {
        let Some(mut slot) = self.lock(id, access) else { return false };
        let socket = slot.as_mut().expect("locked live");
        if socket.is_udp() && socket.udp_peer.is_none() {
            self.sink.log(id, "socket: udp send without a destination (udp_connect first)".into());
            return false;
        }
        socket.send(&self.cx(), data, None, low)
    }

    /// `bind`: the process's own descriptor `fd` (stdin, a pipe) as a stream of `owner`, read
    /// at once; the owner gets CONNECT "binding". Closing it never closes `fd`.
    pub(crate) fn bind(&self, owner: u32, fd: std::os::fd::RawFd) -> io::Result<i32> {
        let bound = super::bound::Bound::new(fd)?;
        let (id, mut slot) = self.insert(owner, State::Connected, Io::Bound(bound))?;
        let socket = slot.as_mut().expect("just inserted");
        socket.reading = true;
        if let Err(err) = socket.update_interest(&self.registry) {
            self.remove(&mut slot);
            return Err(err);
        }
        let socket = slot.as_ref().expect("just inserted");
        socket.emit(&self.cx(), event::CONNECT, 0, b"binding".to_vec());
        Ok(id)
    }

    // ---- the rest -----------------------------------------------------------------------

    /// Every socket that `netstat` shows (listeners, streams, UDP; not those being set up).
    pub(crate) fn info(&self) -> Vec<Info> {
        let mut out = Vec::new();
        self.slots.each(|slot| {
            let s = slot.as_ref().expect("each gives live slots");
            let (kind, name) = match (&s.io, s.state) {
                (Io::Listener(l), State::Listen) => ("LISTEN", l.local_addr().ok().map(addr::peer_text)),
                (Io::Udp(_), _) => ("UDP", s.udp_peer.map(addr::peer_text)),
                (Io::Stream(t), State::Connected) => ("TCP", t.peer_addr().ok().map(addr::peer_text)),
                (Io::Stream(t), State::HalfCloseRead | State::HalfCloseWrite) => {
                    ("CLOSING", t.peer_addr().ok().map(addr::peer_text))
                }
                _ => return,
            };
            out.push(Info {
                id: s.id,
                owner: s.owner,
                kind,
                read: s.read_bytes,
                write: s.write_bytes,
                wbuffer: s.wb_size,
                rtime: s.rtime,
                wtime: s.wtime,
                reading: s.reading,
                writing: s.wb_size > 0,
                name,
            });
        });
        out
    }

    /// Closes every socket `owner` has (it is gone): what it queued is dropped and nobody is
    /// told; a socket it closed itself goes on sending what it queued before, then closes.
    pub(crate) fn close_owned_by(&self, owner: u32) {
        let Some(ids) = self.owners.lock().remove(&owner) else { return };
        for id in ids {
            if let Some(mut slot) = self.slots.lock(id)
                && slot.as_ref().is_some_and(|s| s.owner == owner && !s.closing)
            {
                drop_socket(&mut slot, &self.registry);
            }
        }
    }

    /// The local address of socket `id` (a UDP socket's bound port, for one).
    #[cfg(test)]
    pub(crate) fn local_addr(&self, id: i32) -> Option<SocketAddr> {
        let slot = self.slots.lock(id)?;
        match &slot.as_ref()?.io {
            Io::Listener(l) => l.local_addr().ok(),
            Io::Stream(s) => s.local_addr().ok(),
            Io::Udp(u) => u.local_addr().ok(),
            Io::Reserved | Io::Bound(_) => None,
        }
    }

    /// Sockets open now (for tests and leak checks).
    #[cfg(test)]
    pub(crate) fn open_count(&self) -> usize {
        self.owners.lock().values().map(|ids| ids.len()).sum()
    }

    // ---- the socket thread --------------------------------------------------------------

    /// One readiness event for socket `id`; true when it may have more to read.
    fn ready(&self, id: i32, event: &mio::event::Event, scratch: &mut [u8]) -> bool {
        let Some(mut slot) = self.slots.lock(id) else { return false };
        let socket = slot.as_mut().expect("locked live");
        if socket.state == State::Connecting {
            if event.is_writable() || event.is_error() || event.is_read_closed() {
                self.connected(&mut slot);
            }
            return false;
        }
        if let Io::Listener(_) = socket.io {
            return event.is_readable() && self.accept(&mut slot);
        }
        let cx = self.cx();
        if event.is_writable() && !socket.flush(&cx) {
            self.remove(&mut slot);
            return false;
        }
        if !(event.is_readable() || event.is_read_closed()) {
            return false;
        }
        self.read(&mut slot, scratch)
    }

    /// Reads socket `slot`'s data (accepts, for a listener); true when it may have more.
    fn read(&self, slot: &mut Locked<'_>, scratch: &mut [u8]) -> bool {
        let socket = slot.as_mut().expect("locked live");
        if let Io::Listener(_) = socket.io {
            return self.accept(slot);
        }
        if !socket.reading && socket.state != State::HalfCloseRead {
            return false;
        }
        let cx = self.cx();
        let (more, close) =
            if socket.is_udp() { socket.read_udp(&cx, scratch) } else { socket.read_stream(&cx) };
        if close {
            self.remove(slot);
            return false;
        }
        more
    }

    /// Accepts connections on the listener in `slot`; true when more may be waiting.
    fn accept(&self, slot: &mut Locked<'_>) -> bool {
        let cx = self.cx();
        let mut told = false;
        for _ in 0..super::socket::READ_BUDGET {
            let listener = slot.as_mut().expect("locked live");
            let Io::Listener(l) = &listener.io else { return false };
            match l.accept() {
                Ok((stream, peer)) => {
                    let _ = socket2::SockRef::from(&stream).set_keepalive(true);
                    listener.read_bytes += 1;
                    let owner = listener.owner;
                    let Ok((new_id, mut new_slot)) = self.insert(owner, State::PAccept, Io::Stream(stream))
                    else {
                        continue; // the table is full: the connection is dropped
                    };
                    let listener = slot.as_mut().expect("locked live");
                    if !listener.emit(&cx, event::ACCEPT, new_id, addr::peer_text(peer).into_bytes()) {
                        // The owner is gone: so are its listener and this connection.
                        self.remove(&mut new_slot);
                        self.remove(slot);
                        return false;
                    }
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return false,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) if matches!(err.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE)) => {
                    // Out of descriptors: take this connection with the reserve and drop it (its
                    // client sees the close at once rather than waiting in the backlog), and go
                    // on with the rest of the backlog. The owner is told once a turn.
                    let mut reserve = self.reserve.lock();
                    drop(reserve.take());
                    drop(l.accept());
                    *reserve = reserve_fd();
                    if !told {
                        told = true;
                        listener.emit(&cx, event::ERROR, 0, err.to_string().into_bytes());
                    }
                }
                Err(_) => return false,
            }
        }
        true
    }
}

/// The socket thread: waits for readiness and hands each event to its socket, until the
/// server is stopped or dropped; then closes every socket.
fn run(weak: Weak<Server>, mut poll: Poll) {
    let mut events = Events::with_capacity(1024);
    let mut scratch = vec![0u8; 65536];
    let mut again: Vec<i32> = Vec::new();
    let mut next = Vec::new();
    loop {
        let Some(server) = weak.upgrade() else { return };
        if server.stop.load(Ordering::Acquire) || server.sink.stopping() {
            server.slots.each(|slot| drop(drop_socket(slot, &server.registry)));
            server.owners.lock().clear();
            return;
        }
        let timeout = if again.is_empty() { Duration::from_millis(100) } else { Duration::ZERO };
        drop(server);
        if let Err(err) = poll.poll(&mut events, Some(timeout))
            && err.kind() != io::ErrorKind::Interrupted
        {
            return;
        }
        let Some(server) = weak.upgrade() else { return };
        for event in events.iter() {
            let id = event.token().0 as i32;
            if server.ready(id, event, &mut scratch) {
                next.push(id);
            }
        }
        // Sockets that had more to read than one turn allows: another turn each.
        for id in again.drain(..) {
            if let Some(mut slot) = server.slots.lock(id)
                && server.read(&mut slot, &mut scratch)
            {
                next.push(id);
            }
        }
        std::mem::swap(&mut again, &mut next);
        again.sort_unstable();
        again.dedup();
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
