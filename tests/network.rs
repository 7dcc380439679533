//! The network from outside the process: a real `skybox` runs Lua services on
//! `skynet.socket`, and this test talks to them with `std::net` TCP and UDP clients over
//! loopback.

#[path = "support/mod.rs"]
mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream, UdpSocket};
use std::time::Duration;

use support::{Spawned, TempDir};

const WAIT: Duration = Duration::from_secs(20);

/// Line echo on TCP: one agent service per connection (it owns the socket), `exit` makes the
/// agent exit without closing its socket, `quit` stops the node; UDP echo on `udp_port`; and a
/// check of forged socket ids, reported on the log.
const MAIN: &str = r#"
local skynet = require "skynet"
require "skynet.manager"
local socket = require "skynet.socket"

skynet.start(function()
	-- forged and stale ids reach nothing and hang nobody
	local sid, err = socket.start(999999)
	local ok = socket.write(123456, "x") == false and socket.lwrite(-1, "x") == false
		and sid == nil and err == "invalid socket"

	-- a backlog for a burst of clients (the default, 32, is skynet's)
	local id, addr, port = socket.listen("127.0.0.1", 0, 1024)
	socket.start(id, function(fd, peer)
		skynet.newservice("agent", fd)
	end)
	local udp
	udp = socket.udp_listen("127.0.0.1", tonumber(skynet.getenv("udp_port")), function(data, from)
		socket.sendto(udp, from, "udp:" .. data)
	end)
	skynet.error("LISTEN " .. port .. " forged ids refused: " .. tostring(ok))
end)
"#;

const AGENT: &str = r#"
local skynet = require "skynet"
require "skynet.manager"
local socket = require "skynet.socket"

local fd = tonumber(...)

skynet.start(function()
	assert(socket.start(fd))
	skynet.fork(function()
		while true do
			local line = socket.readline(fd)
			if not line then
				socket.close(fd)
				skynet.exit()
				return
			end
			if line == "exit" then
				skynet.exit()	-- without closing: the host closes what it owned
				return
			elseif line == "quit" then
				socket.write(fd, "bye\n")
				skynet.sleep(5)
				skynet.abort()
				return
			end
			socket.write(fd, line .. "\n")
		end
	end)
end)
"#;

/// The node of the test: skybox on `main.lua` and `agent.lua` in a scratch directory.
struct Node {
    process: Spawned,
    _dir: TempDir,
}

impl Node {
    fn start(udp_port: u16) -> (Node, u16) {
        let dir = TempDir::new("net");
        dir.write("main.lua", MAIN);
        dir.write("agent.lua", AGENT);
        let udp = format!("udp_port={udp_port}");
        let args = ["run", "--start", "main", "--path", ".", "--thread", "2", "--set", &udp];
        let mut process = Spawned::start(&args, dir.path());
        let listen = process.wait_line("LISTEN ", WAIT);
        assert!(listen.ends_with("forged ids refused: true"), "{listen}");
        let port = listen.split(' ').nth(2).unwrap().parse().unwrap();
        (Node { process, _dir: dir }, port)
    }
}

fn connect(port: u16) -> (TcpStream, BufReader<TcpStream>) {
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let reader = BufReader::new(stream.try_clone().unwrap());
    (stream, reader)
}

fn echo(stream: &mut TcpStream, reader: &mut BufReader<TcpStream>, line: &[u8]) -> Vec<u8> {
    stream.write_all(line).unwrap();
    stream.write_all(b"\n").unwrap();
    let mut got = Vec::new();
    reader.read_until(b'\n', &mut got).unwrap();
    assert_eq!(got.pop(), Some(b'\n'), "a whole line back");
    got
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn tcp_and_udp_from_outside_the_process() {
    let udp_port = free_udp_port();
    let (mut node, port) = Node::start(udp_port);

    // Many clients at once, each with several lines.
    let clients: Vec<_> = (0..200)
        .map(|i| {
            std::thread::spawn(move || {
                let (mut s, mut r) = connect(port);
                for j in 0..10 {
                    let line = format!("client {i} line {j} {}", "x".repeat(j * 100));
                    assert_eq!(echo(&mut s, &mut r, line.as_bytes()), line.as_bytes());
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }

    // Bytes that are not text come back unchanged; a line split across writes is one line.
    let (mut s, mut r) = connect(port);
    let garbage: Vec<u8> = (0u8..=255).filter(|b| *b != b'\n').collect();
    assert_eq!(echo(&mut s, &mut r, &garbage), garbage);
    s.write_all(b"split ").unwrap();
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(echo(&mut s, &mut r, b"line"), b"split line");

    // A client that dies mid-line, and one that half-closes: the node goes on.
    let (mut dying, _) = connect(port);
    dying.write_all(b"no newline").unwrap();
    drop(dying);
    let (mut half, mut half_r) = connect(port);
    half.write_all(b"last\n").unwrap();
    half.shutdown(Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    half_r.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, b"last\n", "the answer still arrives after our EOF, then the close");
    assert_eq!(echo(&mut s, &mut r, b"still here"), b"still here");

    // An agent that exits without closing: its socket is closed by the host.
    let (mut orphan, mut orphan_r) = connect(port);
    assert_eq!(echo(&mut orphan, &mut orphan_r, b"hello"), b"hello");
    orphan.write_all(b"exit\n").unwrap();
    let mut buf = [0u8; 1];
    assert_eq!(orphan_r.read(&mut buf).unwrap(), 0, "EOF once the owner is gone");

    // UDP: datagrams echo to the sender's address.
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(WAIT)).unwrap();
    for msg in ["one", "two", ""] {
        udp.send_to(msg.as_bytes(), ("127.0.0.1", udp_port)).unwrap();
        let mut buf = [0u8; 64];
        let (n, _) = udp.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], format!("udp:{msg}").as_bytes());
    }

    let (mut q, mut q_r) = connect(port);
    q.write_all(b"quit\n").unwrap();
    let mut bye = String::new();
    q_r.read_line(&mut bye).unwrap();
    assert_eq!(bye, "bye\n");
    let status = node.process.child.wait().unwrap();
    assert!(status.success(), "{status}");
}

/// Out of descriptors: a line echo in one service under a limit of 64 open files.
const EMFILE_MAIN: &str = r#"
local skynet = require "skynet"
local socket = require "skynet.socket"

skynet.start(function()
	-- a backlog for a burst of clients (the default, 32, is skynet's)
	local id, addr, port = socket.listen("127.0.0.1", 0, 1024)
	socket.start(id, function(fd)
		skynet.fork(function()
			socket.start(fd)
			while true do
				local line = socket.readline(fd)
				if not line then
					break
				end
				socket.write(fd, line .. "\n")
			end
			socket.close(fd)
		end)
	end)
	skynet.error("LISTEN " .. port)
end)
"#;

#[test]
fn out_of_descriptors_the_listener_goes_on() {
    let dir = TempDir::new("emfile");
    dir.write("main.lua", EMFILE_MAIN);
    let bin = support::skybox_bin().display().to_string();
    let args = ["--nofile=64:64", &bin, "run", "--start", "main", "--path", ".", "--thread", "2"];
    let mut node = Spawned::start_program("prlimit", &args, dir.path());
    let listen = node.wait_line("LISTEN ", WAIT);
    let port: u16 = listen.rsplit(' ').next().unwrap().parse().unwrap();
    // Far more clients than descriptors: the excess is accepted and dropped at once (a dropped
    // client reads EOF, it does not wait in the backlog), and the listener's owner is told.
    let mut clients: Vec<_> = (0..100).map(|_| connect(port)).collect();
    let line = node.wait_line("Too many open files", WAIT);
    assert!(line.contains("socket: error on"), "{line}");
    let mut served = 0;
    for (s, r) in clients.iter_mut() {
        let _ = s.write_all(b"ping\n");
        let mut got = String::new();
        r.get_ref().set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        if matches!(r.read_line(&mut got), Ok(5)) && got == "ping\n" {
            served += 1;
        }
    }
    assert!(served > 10 && served < 64, "{served} of 100 served under a limit of 64 descriptors");
    // Descriptors come back when clients leave: the listener serves new clients again.
    clients.clear();
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let (mut s, mut r) = connect(port);
        r.get_ref().set_read_timeout(Some(Duration::from_secs(1))).unwrap();
        let _ = s.write_all(b"again\n");
        let mut got = String::new();
        if matches!(r.read_line(&mut got), Ok(6)) {
            assert_eq!(got, "again\n");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the listener never recovered");
    }
}
