//! The built-in `gate` service from outside the process: a real `skybox` runs the example in
//! `services/gate_example` (a watchdog, the gate, one agent per client) and `std::net` clients
//! talk to it in 2-byte big-endian frames. The agent answers each frame with the frame in upper
//! case, and `quit` with `BYE`, after which the gate kicks the client.

#[path = "support/mod.rs"]
mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use support::{Spawned, repo_root};

const WAIT: Duration = Duration::from_secs(20);

/// The example node, following its log; killed on drop.
struct Node {
    process: Spawned,
    port: u16,
    /// `KILL self` lines seen so far: one per service that exited (bootstrap, then agents)
    exits: usize,
    /// Whether a Lua error in the log fails the test (off while one is expected)
    check_errors: bool,
}

impl Node {
    fn start(maxclient: usize) -> Node {
        let example = repo_root().join("services/gate_example");
        let path = example.display().to_string();
        let maxclient = format!("gate_maxclient={maxclient}");
        let args = [
            "run",
            "--start",
            "watchdog",
            "--thread",
            "2",
            "--path",
            &path,
            "--set",
            "gate_port=0",
            "--set",
            &maxclient,
        ];
        let mut node = Node::follow(Spawned::start(&args, &example));
        let line = node.wait_line("watchdog: gate on ");
        node.port = line.rsplit(':').next().unwrap().trim().parse().expect("a port");
        eprintln!("the gate listens on port {}", node.port);
        node
    }

    /// Follows the log of a started node.
    fn follow(process: Spawned) -> Node {
        Node { process, port: 0, exits: 0, check_errors: true }
    }

    /// The next log line, checked for Lua errors and counted if it is an exit.
    fn next_line(&mut self, deadline: Instant) -> Option<String> {
        let line = self.process.next_line(deadline)?;
        if self.check_errors {
            assert!(!line.contains("traceback") && !line.contains("did not start"), "a Lua error: {line}");
        }
        if line.contains("KILL self") {
            self.exits += 1;
        }
        Some(line)
    }

    fn wait_line(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            match self.next_line(deadline) {
                Some(line) if line.contains(needle) => return line,
                Some(_) => {}
                None => panic!("no log line with {needle:?}"),
            }
        }
    }

    /// Waits until `n` services have exited (the bootstrap is the first), checking the log.
    fn wait_exits(&mut self, n: usize) {
        let deadline = Instant::now() + WAIT;
        while self.exits < n {
            assert!(self.next_line(deadline).is_some(), "{} services exited, not {n}", self.exits);
        }
    }

    fn client(&self) -> Client {
        Client::connect(self.port)
    }
}

struct Client(TcpStream);

fn frame(payload: &[u8]) -> Vec<u8> {
    let len = u16::try_from(payload.len()).expect("a frame holds at most 65535 bytes");
    let mut out = len.to_be_bytes().to_vec();
    out.extend_from_slice(payload);
    out
}

impl Client {
    fn connect(port: u16) -> Client {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_read_timeout(Some(WAIT)).unwrap();
        stream.set_nodelay(true).unwrap();
        Client(stream)
    }

    fn send(&mut self, bytes: &[u8]) {
        self.0.write_all(bytes).unwrap();
    }

    /// One reply frame, or `None` at EOF (or a reset) before its header.
    fn recv(&mut self) -> Option<Vec<u8>> {
        let mut header = [0u8; 2];
        match self.0.read_exact(&mut header) {
            Ok(()) => {}
            Err(e) if matches!(e.kind(), ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset) => {
                return None;
            }
            Err(e) => panic!("reading a reply: {e}"),
        }
        let mut payload = vec![0u8; usize::from(u16::from_be_bytes(header))];
        self.0.read_exact(&mut payload).expect("a whole reply frame");
        Some(payload)
    }

    fn request(&mut self, text: &[u8]) -> Vec<u8> {
        self.send(&frame(text));
        self.recv().expect("a reply")
    }

    /// The connection ends (EOF or reset) with no further reply.
    fn expect_closed(&mut self) {
        assert_eq!(self.recv(), None, "the gate closed the connection");
    }
}

fn upper(payload: &[u8]) -> Vec<u8> {
    payload.to_ascii_uppercase()
}

/// A client's traffic: frames one per write, several per write, and a batch cut at odd places
/// (inside headers too), with the empty frame, a frame of every byte value and a 65535-byte one.
fn traffic(i: usize, port: u16) {
    let mut c = Client::connect(port);
    let mut every_byte: Vec<u8> = (0u8..=255).collect();
    every_byte.rotate_left(i % 256);
    let big: Vec<u8> = (0..65535).map(|k| b"abcdefghijklmnopqrstuvwxyz0123456789"[(k + i) % 36]).collect();
    for round in 0..6 {
        let payloads: Vec<Vec<u8>> = vec![
            format!("client {i} round {round} hello").into_bytes(),
            Vec::new(),
            every_byte.clone(),
            "x".repeat(i * 37 + round * 101).into_bytes(),
            format!("short {round}").into_bytes(),
            if round % 3 == i % 3 { big.clone() } else { b"mixed Case 123".to_vec() },
        ];
        let stream: Vec<u8> = payloads.iter().flat_map(|p| frame(p)).collect();
        match (round + i) % 3 {
            // one frame per write
            0 => {
                for p in &payloads {
                    c.send(&frame(p));
                }
            }
            // the whole batch in one write
            1 => c.send(&stream),
            // cut at odd positions: inside the first header, then at growing odd steps
            _ => {
                let mut at = 0;
                let mut step = 1;
                while at < stream.len() {
                    let end = (at + step).min(stream.len());
                    c.send(&stream[at..end]);
                    at = end;
                    step = step * 3 + 2 + (i % 5);
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
        for p in &payloads {
            let got = c.recv().unwrap_or_else(|| panic!("client {i} round {round}: connection closed"));
            assert!(
                got == upper(p),
                "client {i} round {round}: a reply of {} bytes for {} sent",
                got.len(),
                p.len()
            );
        }
    }
    // a last frame and the quit in one write: the reply, BYE, then the kick
    let mut last = frame(b"see you");
    last.extend(frame(b"quit"));
    c.send(&last);
    assert_eq!(c.recv().unwrap(), b"SEE YOU");
    assert_eq!(c.recv().unwrap(), b"BYE");
    c.expect_closed();
}

#[test]
fn framed_clients_and_faults() {
    let mut node = Node::start(1024);
    let port = node.port;
    let mut watcher = node.client();
    assert_eq!(watcher.request(b"first"), b"FIRST");

    // 50 clients at once
    let clients: Vec<_> = (0..50).map(|i| std::thread::spawn(move || traffic(i, port))).collect();
    for c in clients {
        c.join().unwrap();
    }
    assert_eq!(watcher.request(b"after the crowd"), b"AFTER THE CROWD");

    // A client that dies mid-frame, after a whole one was answered.
    let mut dying = node.client();
    assert_eq!(dying.request(b"one"), b"ONE");
    let mut half = frame(b"never finished");
    half.truncate(7);
    dying.send(&half);
    drop(dying);
    assert_eq!(watcher.request(b"still here"), b"STILL HERE");

    // Garbage: a header promising 65535 bytes, 3 of them, then close; a lone header byte; a
    // header promising 2 bytes followed by nothing at all, half-closed.
    let mut liar = node.client();
    liar.send(&[0xff, 0xff, b'a', b'b', b'c']);
    drop(liar);
    let mut one_byte = node.client();
    one_byte.send(&[0x01]);
    drop(one_byte);
    let mut half_closed = node.client();
    half_closed.send(&[0x00, 0x02]);
    half_closed.0.shutdown(std::net::Shutdown::Write).unwrap();
    half_closed.expect_closed();
    assert_eq!(watcher.request(b"after garbage"), b"AFTER GARBAGE");

    // A fresh client after every fault is served like the first.
    let mut fresh = node.client();
    assert_eq!(fresh.request(b"fresh"), b"FRESH");
    assert_eq!(fresh.request(b""), b"");

    // Kick: `bye` makes the agent ask the watchdog, which kicks the client through the gate.
    assert_eq!(fresh.request(b"bye"), b"BYE");
    fresh.expect_closed();
    assert_eq!(watcher.request(b"after the kick"), b"AFTER THE KICK");

    // Every agent went with its client (each exit is logged as `KILL self`): the bootstrap, 50
    // crowd clients and 5 others; the watcher's agent too once it leaves. No Lua error anywhere.
    node.wait_exits(1 + 50 + 5);
    drop(watcher);
    node.wait_exits(1 + 50 + 5 + 1);
    assert_eq!(node.client().request(b"last"), b"LAST");
}

#[test]
fn maxclient_is_enforced() {
    const MAX: usize = 4;
    let mut node = Node::start(MAX);

    // exactly MAX clients are served (skynet's gateserver serves MAX - 1)
    let mut served: Vec<Client> = (0..MAX).map(|_| node.client()).collect();
    for (i, c) in served.iter_mut().enumerate() {
        assert_eq!(c.request(format!("client {i}").as_bytes()), format!("CLIENT {i}").as_bytes());
    }
    // one more is closed by the gate, and the others go on
    let mut extra = node.client();
    extra.expect_closed();
    for c in &mut served {
        assert_eq!(c.request(b"still"), b"STILL");
    }

    // A client kicked and one that leaves free their places (once the gate saw their CLOSE).
    assert_eq!(served[0].request(b"quit"), b"BYE");
    served[0].expect_closed();
    served.remove(0);
    drop(served.remove(0));
    for n in 0..2 {
        let deadline = Instant::now() + WAIT;
        let c = loop {
            let mut c = node.client();
            c.send(&frame(b"again"));
            match c.recv() {
                Some(reply) => {
                    assert_eq!(reply, b"AGAIN");
                    break c;
                }
                None => {
                    assert!(Instant::now() < deadline, "place {n} never came free");
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        };
        served.push(c);
    }
    // full again: the next one is refused
    let mut extra = node.client();
    extra.expect_closed();
    for c in &mut served {
        assert_eq!(c.request(b"end"), b"END");
    }
    // the bootstrap, then the agents of the kicked and the departed client
    node.wait_exits(3);
}

/// A watchdog of its own that keeps clients in accept mode (frames come to it as "data"), kicks,
/// closes the gate, and a second gate on a taken port; and a gate built on `snax.gateserver`
/// with `embed`.
const ACCEPT_MAIN: &str = r#"
local skynet = require "skynet"
local socket = require "skynet.socket"

local gate
local SOCKET = {}
local forward_next = false

-- frames of a forwarded client come here as PTYPE_CLIENT (session: the fd)
skynet.register_protocol {
	name = "client",
	id = skynet.PTYPE_CLIENT,
	unpack = skynet.tostring,
	dispatch = function(fd, _, msg)
		skynet.ignoreret()
		if msg == "accept me" then
			skynet.call(gate, "lua", "accept", fd)
			socket.write(fd, string.pack(">s2", "ACCEPTED"))
		else
			socket.write(fd, string.pack(">s2", "client:" .. msg))
		end
	end,
}

function SOCKET.open(fd, addr)
	if forward_next then
		forward_next = false
		skynet.call(gate, "lua", "forward", fd, 0, skynet.self())
	else
		skynet.call(gate, "lua", "accept", fd)
	end
end

function SOCKET.data(fd, msg)
	if msg == "forward next" then
		forward_next = true
		socket.write(fd, string.pack(">s2", "NEXT"))
	elseif msg == "close gate" then
		skynet.call(gate, "lua", "close")
		socket.write(fd, string.pack(">s2", "CLOSED"))
	elseif msg == "kick me" then
		skynet.call(gate, "lua", "kick", fd)
	else
		socket.write(fd, string.pack(">s2", "data:" .. msg))
	end
end

function SOCKET.close(fd)
	skynet.error("WATCHDOG close " .. fd)
end

function SOCKET.error(fd, text)
	skynet.error("WATCHDOG error " .. fd .. " " .. text)
end

function SOCKET.warning() end

skynet.start(function()
	skynet.dispatch("lua", function(_, _, cmd, sub, ...)
		assert(cmd == "socket")
		SOCKET[sub](...)
	end)
	gate = skynet.newservice("gate")
	local addr, port = skynet.call(gate, "lua", "open", { address = "127.0.0.1", port = 0 })
	local other = skynet.newservice("gate")
	local ok, err = pcall(skynet.call, other, "lua", "open", { address = "127.0.0.1", port = port })
	skynet.error("taken port: " .. tostring(err))

	local embedded = skynet.newservice("mygate")
	local _, eport = skynet.call(embedded, "lua", "open", { address = "127.0.0.1", port = 0 })
	assert(skynet.call(embedded, "lua", "hello") == "world")
	skynet.error(string.format("GATES %d %d second open failed: %s", port, eport, tostring(not ok)))
end)
"#;

const MYGATE: &str = r#"
local skynet = require "skynet"
local gateserver = require "snax.gateserver"
local driver = require "skynet.socketdriver"
local netpack = require "skynet.netpack"

skynet.start(function()
	gateserver.start {
		embed = true,
		connect = function(fd, addr)
			gateserver.openclient(fd)
		end,
		message = function(fd, msg, sz)
			driver.send(fd, string.pack(">s2", "embed:" .. netpack.tostring(msg, sz)))
		end,
		open = function(source, conf)
			return conf.address, conf.port
		end,
		command = function(cmd, source)
			assert(cmd == "hello")
			return "world"
		end,
	}
end)
"#;

#[test]
fn accept_mode_close_and_embed() {
    let dir = support::TempDir::new("gate");
    dir.write("main.lua", ACCEPT_MAIN);
    dir.write("mygate.lua", MYGATE);
    let mut node =
        Node::follow(Spawned::start(&["run", "--start", "main", "--path", ".", "--thread", "2"], dir.path()));
    // the second gate's open fails with "Listen error: Address already in use" (and its
    // traceback), and the caller's pcall sees it
    node.check_errors = false;
    node.wait_line("taken port: ");
    node.check_errors = true;
    let line = node.wait_line("GATES ");
    assert!(line.ends_with("second open failed: true"), "{line}");
    let mut words = line.split(' ').skip(2);
    let port: u16 = words.next().unwrap().parse().unwrap();
    let eport: u16 = words.next().unwrap().parse().unwrap();

    // accept mode: frames reach the watchdog as strings, several in one write too
    let mut c = Client::connect(port);
    assert_eq!(c.request(b"hi"), b"data:hi");
    let batch: Vec<u8> = [&b"a"[..], b"", b"ccc"].iter().flat_map(|p| frame(p)).collect();
    c.send(&batch);
    for p in [&b"a"[..], b"", b"ccc"] {
        assert_eq!(c.recv().unwrap(), [&b"data:"[..], p].concat());
    }
    // A client forwarded from its first byte (framed on the socket thread), then switched back
    // to accept mode with half a frame read: that half is not lost.
    assert_eq!(c.request(b"forward next"), b"NEXT");
    let mut f = Client::connect(port);
    assert_eq!(f.request(b"x"), b"client:x");
    f.send(&[frame(b"accept me"), vec![0, 5, b'h', b'e']].concat());
    assert_eq!(f.recv().unwrap(), b"ACCEPTED");
    f.send(b"llo");
    assert_eq!(f.recv().unwrap(), b"data:hello");
    assert_eq!(f.request(b"again"), b"data:again");

    // kick: the client is closed and the watchdog still hears "close"
    let mut k = Client::connect(port);
    assert_eq!(k.request(b"k"), b"data:k");
    k.send(&frame(b"kick me"));
    k.expect_closed();
    node.wait_line("WATCHDOG close ");

    // the embedded gateserver
    let mut e = Client::connect(eport);
    assert_eq!(e.request(b"x"), b"embed:x");
    assert_eq!(e.request(&[b'y'; 65535 - 6]), [&b"embed:"[..], &[b'y'; 65535 - 6]].concat());

    // close: no new clients, the connected ones go on
    assert_eq!(c.request(b"close gate"), b"CLOSED");
    let deadline = Instant::now() + WAIT;
    while TcpStream::connect(("127.0.0.1", port)).is_ok() {
        assert!(Instant::now() < deadline, "the gate still accepts after close");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(c.request(b"still"), b"data:still");
    assert_eq!(e.request(b"z"), b"embed:z");
}

#[test]
fn a_client_that_does_not_read_is_reported() {
    let mut node = Node::start(16);
    let mut c = node.client();
    // 26 MB of requests, no reading: the replies pile up at the gate's socket, the watchdog is
    // warned ("socket", "warning", fd, kib), and told 0 once the client drained them
    let big = vec![b'w'; 65535];
    let count = 400;
    let writer = {
        let mut w = Client(c.0.try_clone().unwrap());
        std::thread::spawn(move || {
            for _ in 0..count {
                w.send(&frame(&big));
            }
        })
    };
    let warned = node.wait_line("KiB waiting to be sent");
    assert!(!warned.contains(": 0 KiB"), "{warned}");
    for _ in 0..count {
        assert_eq!(c.recv().unwrap(), vec![b'W'; 65535]);
    }
    writer.join().unwrap();
    node.wait_line(": 0 KiB waiting to be sent");
    assert_eq!(c.request(b"drained"), b"DRAINED");
}
