//! The server on real sockets, driven by `std::net` clients; its events collected by a test sink.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener as StdListener, TcpStream as StdStream, UdpSocket as StdUdp};
use std::time::{Duration, Instant};

use crossbeam::channel::{Receiver, Sender, unbounded};
use skybox_sdk::socket::{self as ev, Event};

use super::*;
use Access::{Any, Owner};

const WAIT: Duration = Duration::from_secs(10);
/// The test sink's kind for a frame of a forwarded stream (`ud`: its source).
const FRAME: i32 = -1;

/// Events by owner, in order; the owners in `gone` are dead.
struct Collect {
    tx: Sender<(u32, Event, Vec<u8>)>,
    gone: Mutex<Vec<u32>>,
}

impl Sink for Collect {
    fn deliver(&self, owner: u32, event: Event, bytes: Vec<u8>) -> bool {
        if self.gone.lock().contains(&owner) {
            return false;
        }
        let _ = self.tx.send((owner, event, bytes));
        true
    }
    fn deliver_frame(&self, to: u32, source: u32, id: i32, frame: Vec<u8>) {
        let _ = self.tx.send((to, Event { kind: FRAME, id, ud: source as i32 }, frame));
    }
    fn log(&self, _: i32, _: String) {}
    fn now(&self) -> u64 {
        0
    }
    fn stopping(&self) -> bool {
        false
    }
}

struct Fixture {
    server: Arc<Server>,
    rx: Receiver<(u32, Event, Vec<u8>)>,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.server.stop();
    }
}

fn fixture() -> Fixture {
    let (tx, rx) = unbounded();
    let server = Server::start(Box::new(Collect { tx, gone: Mutex::new(Vec::new()) })).unwrap();
    Fixture { server, rx }
}

impl Fixture {
    /// The next event; panics after [`WAIT`].
    fn next(&self) -> (u32, Event, Vec<u8>) {
        self.rx.recv_timeout(WAIT).expect("an event")
    }

    fn expect(&self, owner: u32, kind: i32, id: i32) -> (i32, Vec<u8>) {
        let (o, e, bytes) = self.next();
        assert_eq!((o, e.kind, e.id), (owner, kind, id), "{e:?} {:?}", String::from_utf8_lossy(&bytes));
        (e.ud, bytes)
    }

    /// Bytes of DATA events for `id` until `n` arrived.
    fn data(&self, owner: u32, id: i32, n: usize) -> Vec<u8> {
        let mut got = Vec::new();
        while got.len() < n {
            let (ud, bytes) = self.expect(owner, ev::DATA, id);
            assert_eq!(ud as usize, bytes.len());
            got.extend(bytes);
        }
        got
    }

    /// A started listener of `owner` on a loopback port: (id, port).
    fn listener(&self, owner: u32) -> (i32, u16) {
        let id = self.server.listen(owner, "127.0.0.1", 0, 32).unwrap();
        let (port, ip) = self.expect(owner, ev::CONNECT, id);
        assert_eq!(ip, b"127.0.0.1");
        self.server.start_socket(owner, id, Any);
        assert_eq!(self.expect(owner, ev::CONNECT, id).1, b"start");
        (id, port as u16)
    }

    /// A client connected to the listener, accepted and started by `owner`: (client, id).
    fn accepted(&self, owner: u32, listener: i32, port: u16) -> (StdStream, i32) {
        let client = StdStream::connect(("127.0.0.1", port)).unwrap();
        let (id, peer) = self.expect(owner, ev::ACCEPT, listener);
        assert_eq!(peer, client.local_addr().unwrap().to_string().into_bytes());
        self.server.start_socket(owner, id, Any);
        assert_eq!(self.expect(owner, ev::CONNECT, id).1, b"start");
        (client, id)
    }
}

#[test]
fn accept_start_read_write_and_peer_close() {
    let f = fixture();
    let (listener, port) = f.listener(7);
    let (mut client, id) = f.accepted(7, listener, port);
    client.write_all(b"hello, skybox").unwrap();
    assert_eq!(f.data(7, id, 13), b"hello, skybox");
    assert!(f.server.send(id, b"back".to_vec(), false, Any));
    let mut buf = [0u8; 4];
    client.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"back");
    // The peer's EOF: CLOSE, and the socket can still be written.
    client.shutdown(Shutdown::Write).unwrap();
    f.expect(7, ev::CLOSE, id);
    assert!(f.server.send(id, b"after".to_vec(), false, Any));
    let mut buf = [0u8; 5];
    client.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"after");
    f.server.close(id, Any);
    assert_eq!(client.read(&mut buf).unwrap(), 0, "closed after the flush");
    assert!(!f.server.send(id, b"gone".to_vec(), false, Any), "a closed id takes nothing");
}

#[test]
fn accepted_sockets_are_not_read_until_started_and_start_moves_the_owner() {
    let f = fixture();
    let (listener, port) = f.listener(7);
    let mut client = StdStream::connect(("127.0.0.1", port)).unwrap();
    let (id, _) = f.expect(7, ev::ACCEPT, listener);
    client.write_all(b"early").unwrap();
    assert!(f.rx.recv_timeout(Duration::from_millis(100)).is_err(), "no DATA before start");
    f.server.start_socket(9, id, Any);
    assert_eq!(f.expect(9, ev::CONNECT, id).1, b"start");
    assert_eq!(f.data(9, id, 5), b"early");
    // A started stream moves again with "transfer".
    f.server.start_socket(11, id, Any);
    assert_eq!(f.expect(11, ev::CONNECT, id).1, b"transfer");
    client.write_all(b"x").unwrap();
    assert_eq!(f.data(11, id, 1), b"x");
}

#[test]
fn stale_and_forged_ids_reach_nothing() {
    let f = fixture();
    let (listener, port) = f.listener(7);
    let (_client, id) = f.accepted(7, listener, port);
    f.server.shutdown(id, Any);
    f.expect(7, ev::CLOSE, id);
    for bad in [id, -1, 0, id + 65536, i32::MAX] {
        assert!(!f.server.send(bad, b"x".to_vec(), false, Any));
        f.server.close(bad, Any);
        f.server.pause(bad, Any);
        f.server.start_socket(7, bad, Any);
        assert_eq!(f.expect(7, ev::ERROR, bad).1, b"invalid socket");
    }
    // A new socket in the same slot is not reachable by the old id.
    let (_c2, id2) = f.accepted(7, listener, port);
    assert_ne!(id2, id);
    assert!(!f.server.send(id, b"x".to_vec(), false, Any));
    assert!(f.server.send(id2, b"x".to_vec(), false, Any));
}

#[test]
fn a_forwarded_stream_sends_frames_to_its_agent_and_hands_back_the_rest() {
    let f = fixture();
    let (listener, port) = f.listener(7);
    let mut client = StdStream::connect(("127.0.0.1", port)).unwrap();
    let (id, _) = f.expect(7, ev::ACCEPT, listener);
    // Forwarded before it is read, as the gate does: nothing goes to the gate but events.
    assert!(f.server.forward(id, Some((20, 3)), Owner(7)));
    assert!(!f.server.forward(id, Some((20, 3)), Owner(8)), "another owner's stream");
    assert!(!f.server.forward(listener, Some((20, 3)), Any), "not a stream");
    f.server.start_socket(7, id, Any);
    assert_eq!(f.expect(7, ev::CONNECT, id).1, b"start");
    client.write_all(&[0, 5, b'h', b'e', b'l', b'l', b'o', 0, 0, 0, 3, b'a']).unwrap();
    assert_eq!(f.expect(20, FRAME, id), (3, b"hello".to_vec()));
    assert_eq!(f.expect(20, FRAME, id), (3, Vec::new()));
    client.write_all(b"bc").unwrap();
    assert_eq!(f.expect(20, FRAME, id), (3, b"abc".to_vec()));
    // Half a frame, then the forward ends: the gate gets those bytes as DATA, then the rest.
    client.write_all(&[0, 4, b'x']).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    assert!(f.server.forward(id, None, Any));
    assert_eq!(f.expect(7, ev::DATA, id).1, [0, 4, b'x']);
    client.write_all(b"yzw").unwrap();
    assert_eq!(f.data(7, id, 3), b"yzw");
    drop(client);
    f.expect(7, ev::CLOSE, id);
}

#[test]
fn an_owner_bound_caller_reaches_only_its_own_sockets() {
    let f = fixture();
    let (listener, port) = f.listener(7);
    let (mut client, id) = f.accepted(7, listener, port);
    // Owner 8 (a guest) names socket 7's id: nothing happens to it.
    assert!(!f.server.send(id, b"x".to_vec(), false, Owner(8)));
    f.server.close(id, Owner(8));
    f.server.shutdown(id, Owner(8));
    f.server.pause(id, Owner(8));
    f.server.start_socket(8, id, Owner(8));
    assert_eq!(f.expect(8, ev::ERROR, id).1, b"invalid socket");
    // The owner still has it, whole.
    assert!(f.server.send(id, b"mine".to_vec(), false, Owner(7)));
    let mut got = [0; 4];
    client.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"mine");
    f.server.start_socket(7, id, Owner(7));
    assert_eq!(f.expect(7, ev::CONNECT, id).1, b"transfer");
}

#[test]
fn connect_succeeds_or_fails_with_an_error() {
    let f = fixture();
    let peer = StdListener::bind("127.0.0.1:0").unwrap();
    let port = peer.local_addr().unwrap().port();
    let id = f.server.connect(3, "127.0.0.1", port).unwrap();
    assert_eq!(f.expect(3, ev::CONNECT, id).1, b"127.0.0.1");
    let (mut accepted, _) = peer.accept().unwrap();
    assert!(f.server.send(id, b"ping".to_vec(), false, Any));
    let mut buf = [0u8; 4];
    accepted.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ping");
    // A port nobody listens on.
    drop(peer);
    let refused = f.server.connect(3, "127.0.0.1", port).unwrap();
    let (_, text) = f.expect(3, ev::ERROR, refused);
    assert!(!text.is_empty());
    assert!(f.server.connect(3, "127.0.0.1", 0).is_err(), "port 0");
    // A name that does not resolve fails later, off the caller's thread.
    let unknown = f.server.connect(3, "no-such-host.invalid", 80).unwrap();
    f.expect(3, ev::ERROR, unknown);
    assert_eq!(f.server.open_count(), 1);
}

#[test]
fn writes_that_pile_up_warn_and_drain() {
    let f = fixture();
    let (listener, port) = f.listener(7);
    let (mut client, id) = f.accepted(7, listener, port);
    let block = vec![7u8; 256 * 1024];
    for _ in 0..24 {
        assert!(f.server.send(id, block.clone(), false, Any));
    }
    let (kib, _) = f.expect(7, ev::WARNING, id);
    assert!(kib >= 1024, "first warning at 1 MiB, got {kib} KiB");
    let mut total = 0;
    let mut buf = vec![0u8; 65536];
    let mut warnings = vec![kib];
    while total < 24 * block.len() {
        total += client.read(&mut buf).unwrap();
    }
    loop {
        let (ud, _) = f.expect(7, ev::WARNING, id);
        warnings.push(ud);
        if ud == 0 {
            break;
        }
    }
    // At 1 MiB, 2 MiB, 4 MiB... of queued bytes, then 0 when drained.
    let (last, rising) = warnings.split_last().unwrap();
    assert_eq!(*last, 0, "{warnings:?}");
    assert!(rising.len() >= 2, "{warnings:?}");
    assert!(rising.iter().enumerate().all(|(k, kib)| *kib >= 1024 << k), "{warnings:?}");
}

#[test]
fn close_flushes_and_shutdown_drops() {
    let f = fixture();
    let (listener, port) = f.listener(7);
    let (mut client, id) = f.accepted(7, listener, port);
    let big = vec![1u8; 4 * 1024 * 1024];
    assert!(f.server.send(id, big.clone(), false, Any));
    f.server.close(id, Any);
    // CLOSE comes at once; the bytes still arrive, then EOF.
    loop {
        let (_, e, _) = f.next();
        if e.kind == ev::CLOSE {
            break;
        }
        assert_eq!(e.kind, ev::WARNING);
    }
    assert!(!f.server.send(id, b"more".to_vec(), false, Any), "closing takes nothing more");
    let mut got = Vec::new();
    client.read_to_end(&mut got).unwrap();
    assert_eq!(got.len(), big.len());

    let (mut client, id) = f.accepted(7, listener, port);
    client.set_read_timeout(Some(WAIT)).unwrap();
    assert!(f.server.send(id, big.clone(), true, Any));
    f.server.shutdown(id, Any);
    loop {
        let (_, e, _) = f.next();
        if e.kind == ev::CLOSE {
            break;
        }
    }
    let mut got = Vec::new();
    let _ = client.read_to_end(&mut got);
    assert!(got.len() < big.len(), "shutdown drops what is queued");
}

#[test]
fn udp_datagrams_both_ways() {
    let f = fixture();
    let id = f.server.udp(5, Some("127.0.0.1:0".parse().unwrap())).unwrap();
    let at = f.server.local_addr(id).unwrap();
    let peer = StdUdp::bind("127.0.0.1:0").unwrap();
    peer.send_to(b"dgram", at).unwrap();
    let (n, bytes) = f.expect(5, ev::UDP, id);
    assert_eq!(&bytes[..n as usize], b"dgram");
    let from = ev::udp_address::decode(&bytes[n as usize..]).unwrap();
    assert_eq!(from, peer.local_addr().unwrap());
    assert!(f.server.udp_send(id, from, b"reply".to_vec(), Any));
    let mut buf = [0u8; 16];
    peer.set_read_timeout(Some(WAIT)).unwrap();
    let (n, _) = peer.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"reply");
    // Without a destination a plain send fails; after udp_connect it goes there.
    assert!(!f.server.send(id, b"x".to_vec(), false, Any));
    f.server.udp_connect(id, from, Any).unwrap();
    assert!(f.server.send(id, b"connected".to_vec(), false, Any));
    let (n, _) = peer.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"connected");
    f.server.close(id, Any);
    f.expect(5, ev::CLOSE, id);
}

#[test]
fn sockets_of_a_gone_owner_are_closed() {
    let f = fixture();
    let (listener, port) = f.listener(7);
    let (mut client, id) = f.accepted(7, listener, port);
    assert_eq!(f.server.open_count(), 2);
    f.server.close_owned_by(7);
    assert_eq!(f.server.open_count(), 0);
    let mut buf = [0u8; 1];
    client.set_read_timeout(Some(WAIT)).unwrap();
    assert_eq!(client.read(&mut buf).unwrap(), 0);
    assert!(!f.server.send(id, b"x".to_vec(), false, Any));
    let deadline = Instant::now() + WAIT;
    while StdStream::connect(("127.0.0.1", port)).is_ok() {
        assert!(Instant::now() < deadline, "the listener is closed");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_burst_of_connections_is_accepted_whole() {
    let f = fixture();
    let (listener, port) = f.listener(7);
    // More than one readiness event's budget of accepts arrive at once: one edge, all accepted.
    let clients: Vec<_> = (0..100).map(|_| StdStream::connect(("127.0.0.1", port)).unwrap()).collect();
    for _ in &clients {
        f.expect(7, ev::ACCEPT, listener);
    }
    assert_eq!(f.server.open_count(), 101);
}

#[test]
fn a_descriptor_of_the_process_is_bound_as_a_stream_and_never_closed() {
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;
    let f = fixture();
    let (ours, mut theirs) = UnixStream::pair().unwrap();
    let id = f.server.bind(4, ours.as_raw_fd()).unwrap();
    assert_eq!(f.expect(4, ev::CONNECT, id).1, b"binding");
    theirs.write_all(b"typed").unwrap();
    assert_eq!(f.data(4, id, 5), b"typed");
    assert!(f.server.send(id, b"shown".to_vec(), false, Any));
    let mut buf = [0u8; 5];
    theirs.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"shown");
    f.server.close(id, Any);
    f.expect(4, ev::CLOSE, id);
    // The descriptor still works: closing the socket did not close it.
    (&ours).write_all(b"still open").unwrap();
    let mut buf = [0u8; 10];
    theirs.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"still open");
    assert!(f.server.bind(4, -1).is_err());
}
