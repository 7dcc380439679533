//! TCP and UDP for guests, on the node's socket thread: [`TcpListener`], [`TcpStream`],
//! [`UdpSocket`].
//!
//! The host owns the sockets; a guest holds ids, and the socket thread's events reach it as
//! `PTYPE_SOCKET` messages, which the runtime hands to this module: each event lands in its
//! socket's state here (bytes read, connections accepted, datagrams, close, error) and wakes the
//! task waiting on that socket. So reads are `async` and the service goes on handling other
//! messages meanwhile, as a skynet service blocked in `socket.read` does.
//!
//! Writes never wait: the host writes at once when nothing is queued and queues the rest.
//! [`TcpStream::drained`] waits while more than 1 MiB is queued (the host's WARNING), for a
//! writer that must not outrun a slow peer.
//!
//! A guest reaches the network only when the node grants it (config `wasm_net`); otherwise
//! every call fails with [`NetError::Denied`]. A guest can use only the sockets it opened or
//! accepted. Dropping a socket closes it (what was written is still sent); the host closes what
//! is left when the guest exits.
//!
//! ```no_run
//! use skybox_sdk::net::TcpListener;
//!
//! # async fn serve() -> skybox_sdk::Result<()> {
//! let listener = TcpListener::bind("127.0.0.1", 0).await?;
//! skybox_sdk::log!("listening on {}", listener.port());
//! loop {
//!     let (stream, _peer) = listener.accept().await?;
//!     skybox_sdk::spawn(async move {
//!         // echo until the peer closes
//!         while let Ok(Some(bytes)) = stream.read().await {
//!             let _ = stream.write(&bytes);
//!         }
//!     });
//! }
//! # }
//! ```

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::poll_fn;
use std::net::SocketAddr;
use std::task::{Context, Poll, Waker};

use crate::abi::{AbiError, net as sys};
use crate::socket::{self as event, Event, udp_address};

/// Why a socket call failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NetError {
    /// The node does not grant this guest the network (config `wasm_net`).
    Denied,
    /// The socket is closed (by the peer, by this guest, or by the host), or the peer closed
    /// before the bytes asked for arrived.
    Closed,
    /// A connect failed, a bind was refused, a read or write failed: the host's reason.
    Failed(String),
}

impl fmt::Display for NetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetError::Denied => f.write_str("the network is not granted to this service"),
            NetError::Closed => f.write_str("socket closed"),
            NetError::Failed(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for NetError {}

impl From<AbiError> for NetError {
    fn from(e: AbiError) -> NetError {
        match e {
            AbiError::Denied => NetError::Denied,
            AbiError::Socket => NetError::Closed,
            other => NetError::Failed(other.to_string()),
        }
    }
}

/// The waiting writer's threshold: the host warns at 1 MiB queued and each doubling.
const WARN_KIB: i32 = 1024;

/// One socket's state between its events and its owner's futures.
///
/// Invariant: an entry exists while its socket object (or an accepted id not yet taken) does;
/// events for ids without an entry (a socket dropped before its CLOSE arrived) are dropped.
#[derive(Default)]
struct Entry {
    /// Bytes read and not yet taken.
    inbox: VecDeque<u8>,
    /// Connections accepted by a listener: (id, peer).
    accepted: VecDeque<(i32, String)>,
    /// Datagrams received: (payload, sender).
    datagrams: VecDeque<(Vec<u8>, SocketAddr)>,
    /// The first CONNECT (its `ud` and text) or ERROR, for a connect or a listen to wait for.
    opened: Option<Result<(i32, String), String>>,
    /// CLOSE or ERROR arrived: nothing more will be read.
    closed: bool,
    /// The error that ended the socket.
    error: Option<String>,
    /// KiB queued for writing, as the last WARNING said (0: drained).
    queued_kib: i32,
    reader: Option<Waker>,
    writer: Option<Waker>,
}

impl Entry {
    fn wake(&mut self) {
        for waker in [self.reader.take(), self.writer.take()].into_iter().flatten() {
            waker.wake();
        }
    }

    /// The error a read meets once the bytes are gone.
    fn end(&self) -> NetError {
        self.error.clone().map_or(NetError::Closed, NetError::Failed)
    }
}

thread_local! {
    static SOCKETS: RefCell<HashMap<i32, Entry>> = RefCell::new(HashMap::new());
}

/// Registers a socket the host just gave out.
fn track(id: i32) {
    SOCKETS.with(|s| {
        s.borrow_mut().entry(id).or_default();
    });
}

/// Forgets a socket; the entry (and its wakers) drop outside the borrow.
fn forget(id: i32) {
    let entry = SOCKETS.with(|s| s.borrow_mut().remove(&id));
    drop(entry);
}

/// Hands one `PTYPE_SOCKET` payload to its socket. A malformed payload or an event for a
/// socket this guest no longer holds is dropped.
pub(crate) fn deliver(mut payload: Vec<u8>) {
    let Some(Event { kind, id, ud }) = Event::decode(&mut payload) else { return };
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    SOCKETS.with(|sockets| {
        let mut sockets = sockets.borrow_mut();
        if kind == event::ACCEPT {
            // The new connection needs an entry before its own events can arrive.
            if sockets.contains_key(&id) {
                sockets.entry(ud).or_default();
            } else {
                // Its listener is gone: nobody will take it.
                let _ = sys::close(ud);
                return;
            }
        }
        let Some(entry) = sockets.get_mut(&id) else { return };
        match kind {
            event::DATA => entry.inbox.extend(&payload),
            event::CONNECT => {
                if entry.opened.is_none() {
                    entry.opened = Some(Ok((ud, text(&payload))));
                }
            }
            event::CLOSE => entry.closed = true,
            event::ACCEPT => entry.accepted.push_back((ud, text(&payload))),
            event::ERROR => {
                if entry.opened.is_none() {
                    entry.opened = Some(Err(text(&payload)));
                }
                entry.error = Some(text(&payload));
                entry.closed = true;
            }
            event::UDP => {
                let size = usize::try_from(ud).unwrap_or(usize::MAX).min(payload.len());
                if let Some(from) = udp_address::decode(&payload[size..]) {
                    payload.truncate(size);
                    entry.datagrams.push_back((payload, from));
                }
            }
            event::WARNING => entry.queued_kib = ud,
            _ => return,
        }
        entry.wake();
    });
}

/// Forgets every socket (natively, between two harnesses on one thread).
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn reset() {
    let all = SOCKETS.with(|s| std::mem::take(&mut *s.borrow_mut()));
    drop(all);
}

/// Waits until `ready` gives a value for socket `id`; `None` from it parks the task as the
/// socket's reader (or writer). A socket without an entry is closed.
async fn wait<T>(
    id: i32,
    writer: bool,
    mut ready: impl FnMut(&mut Entry) -> Option<Result<T, NetError>>,
) -> Result<T, NetError> {
    poll_fn(|cx: &mut Context<'_>| {
        SOCKETS.with(|s| {
            let mut sockets = s.borrow_mut();
            let Some(entry) = sockets.get_mut(&id) else { return Poll::Ready(Err(NetError::Closed)) };
            match ready(entry) {
                Some(result) => Poll::Ready(result),
                None => {
                    let slot = if writer { &mut entry.writer } else { &mut entry.reader };
                    *slot = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
    })
    .await
}

/// `got`, else the socket's end once it is closed, else `None` (wait on).
fn or_end<T>(entry: &Entry, got: Option<T>) -> Option<Result<T, NetError>> {
    match got {
        Some(value) => Some(Ok(value)),
        None if entry.closed => Some(Err(entry.end())),
        None => None,
    }
}

/// Waits for a new socket's first CONNECT (its `ud` and text) or ERROR.
async fn opened(id: i32) -> Result<(i32, String), NetError> {
    wait(id, false, |e| e.opened.take().map(|r| r.map_err(NetError::Failed))).await
}

/// Closes socket `id` (if this guest still holds it) and forgets it.
fn close_id(id: i32) {
    forget(id);
    let _ = sys::close(id);
}

/// A listening TCP socket. Dropping it closes it, and the connections it accepted that were
/// not taken yet.
#[derive(Debug)]
pub struct TcpListener {
    id: i32,
    port: u16,
}

impl TcpListener {
    /// Listens on `host:port` (`""`: every IPv4 interface; port 0: a free port, see
    /// [`port`](Self::port)) with skynet's backlog of 32, and starts accepting.
    pub async fn bind(host: &str, port: u16) -> Result<TcpListener, NetError> {
        TcpListener::bind_with_backlog(host, port, 32).await
    }

    /// As [`bind`](Self::bind), with the kernel's accept backlog given.
    pub async fn bind_with_backlog(host: &str, port: u16, backlog: i32) -> Result<TcpListener, NetError> {
        let id = sys::listen(host, port, backlog)?;
        track(id);
        // From here on `listener` owns the id, so an error below closes it.
        let mut listener = TcpListener { id, port: 0 };
        let (bound, _) = opened(id).await?;
        listener.port = u16::try_from(bound).unwrap_or(0);
        sys::start(id)?;
        Ok(listener)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The socket id (as `netstat` shows it).
    pub fn id(&self) -> i32 {
        self.id
    }

    /// The next connection, started, and its peer (`"ip:port"`).
    pub async fn accept(&self) -> Result<(TcpStream, String), NetError> {
        let (id, peer) = wait(self.id, false, |e| {
            let next = e.accepted.pop_front();
            or_end(e, next)
        })
        .await?;
        let stream = TcpStream { id, peer: peer.clone() };
        sys::start(id)?;
        Ok((stream, peer))
    }
}

impl Drop for TcpListener {
    fn drop(&mut self) {
        let entry = SOCKETS.with(|s| s.borrow_mut().remove(&self.id));
        if let Some(entry) = entry {
            for (id, _) in &entry.accepted {
                close_id(*id);
            }
        }
        let _ = sys::close(self.id);
    }
}

/// A TCP connection. Dropping it closes it once what was written has been sent.
///
/// One task reads a stream at a time (a second reader replaces the first's wake-up).
#[derive(Debug)]
pub struct TcpStream {
    id: i32,
    peer: String,
}

impl TcpStream {
    /// Connects to `host:port` (a host name is looked up off the workers).
    pub async fn connect(host: &str, port: u16) -> Result<TcpStream, NetError> {
        let id = sys::connect(host, port)?;
        track(id);
        let mut stream = TcpStream { id, peer: String::new() };
        let (_, peer) = opened(id).await?;
        stream.peer = peer;
        Ok(stream)
    }

    /// The socket id (as `netstat` shows it).
    pub fn id(&self) -> i32 {
        self.id
    }

    /// The peer: `"ip:port"` for an accepted connection, the IP for a connect.
    pub fn peer(&self) -> &str {
        &self.peer
    }

    /// Everything read so far, waiting for at least one byte; `None` once the peer has closed
    /// and everything was read.
    pub async fn read(&self) -> Result<Option<Vec<u8>>, NetError> {
        wait(self.id, false, |e| {
            if !e.inbox.is_empty() {
                Some(Ok(Some(e.inbox.drain(..).collect())))
            } else if e.closed {
                Some(e.error.clone().map_or(Ok(None), |why| Err(NetError::Failed(why))))
            } else {
                None
            }
        })
        .await
    }

    /// Exactly `n` bytes; [`NetError::Closed`] if the peer closes first (the bytes that did
    /// arrive stay for [`read`](Self::read)).
    pub async fn read_exact(&self, n: usize) -> Result<Vec<u8>, NetError> {
        wait(self.id, false, |e| {
            let bytes = (e.inbox.len() >= n).then(|| e.inbox.drain(..n).collect());
            or_end(e, bytes)
        })
        .await
    }

    /// The bytes up to `separator` (taken off, not returned), as skynet's `socket.readline`;
    /// [`NetError::Closed`] if the peer closes first.
    pub async fn read_until(&self, separator: &[u8]) -> Result<Vec<u8>, NetError> {
        assert!(!separator.is_empty(), "read_until: an empty separator");
        wait(self.id, false, |e| {
            let bytes = e.inbox.make_contiguous();
            let line = bytes.windows(separator.len()).position(|w| w == separator).map(|at| {
                let line = e.inbox.drain(..at).collect();
                e.inbox.drain(..separator.len());
                line
            });
            or_end(e, line)
        })
        .await
    }

    /// Writes `data`: at once when nothing is queued, else queued behind what is.
    pub fn write(&self, data: &[u8]) -> Result<(), NetError> {
        Ok(sys::send(self.id, data, false)?)
    }

    /// Writes `data` at low priority: behind everything [`write`](Self::write) queued.
    pub fn write_low(&self, data: &[u8]) -> Result<(), NetError> {
        Ok(sys::send(self.id, data, true)?)
    }

    /// Waits while 1 MiB or more waits to be written (a slow peer), until it drains or the
    /// socket closes.
    pub async fn drained(&self) -> Result<(), NetError> {
        wait(self.id, true, |e| {
            if e.closed {
                Some(Err(e.end()))
            } else if e.queued_kib < WARN_KIB {
                Some(Ok(()))
            } else {
                None
            }
        })
        .await
    }

    /// KiB waiting to be written, as the host last warned (0 below 1 MiB).
    pub fn queued_kib(&self) -> i32 {
        SOCKETS.with(|s| s.borrow().get(&self.id).map_or(0, |e| e.queued_kib))
    }

    /// Has the peer closed (or the socket failed)? What was read before can still be read.
    pub fn is_closed(&self) -> bool {
        SOCKETS.with(|s| s.borrow().get(&self.id).is_none_or(|e| e.closed))
    }

    /// Sets TCP_NODELAY.
    pub fn nodelay(&self) -> Result<(), NetError> {
        Ok(sys::nodelay(self.id)?)
    }

    /// Closes now, dropping what waits to be written (skynet's `socket.shutdown`).
    pub fn shutdown(self) {
        forget(self.id);
        let _ = sys::shutdown(self.id);
        // Dropping `self` then finds the id gone: nothing more happens.
    }
}

impl Drop for TcpStream {
    fn drop(&mut self) {
        close_id(self.id);
    }
}

/// A UDP socket. Dropping it closes it.
#[derive(Debug)]
pub struct UdpSocket {
    id: i32,
}

impl UdpSocket {
    /// A UDP socket bound to `host:port` (`""` and 0: any IPv4 port).
    pub fn bind(host: &str, port: u16) -> Result<UdpSocket, NetError> {
        let id = sys::udp(host, port)?;
        track(id);
        Ok(UdpSocket { id })
    }

    /// The socket id.
    pub fn id(&self) -> i32 {
        self.id
    }

    /// Sends one datagram to `to`.
    pub fn send_to(&self, to: SocketAddr, data: &[u8]) -> Result<(), NetError> {
        Ok(sys::send_to(self.id, &udp_address::encode(to), data)?)
    }

    /// The next datagram and its sender.
    pub async fn recv_from(&self) -> Result<(Vec<u8>, SocketAddr), NetError> {
        wait(self.id, false, |e| {
            let next = e.datagrams.pop_front();
            or_end(e, next)
        })
        .await
    }
}

impl Drop for UdpSocket {
    fn drop(&mut self) {
        close_id(self.id);
    }
}
