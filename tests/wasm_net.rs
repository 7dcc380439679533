//! Wasm guests on the network. From outside the process: a real `skybox` runs the `net_echo`
//! guest (granted the network by `wasm_net`) beside a Lua service that owns a socket of its
//! own, and `std::net` clients talk to both over loopback; the same module under a name the
//! config does not grant is refused. At the ABI's edges: the socket imports with every bad
//! argument, without the grant, and on other services' ids.

#[path = "support/mod.rs"]
mod support;
#[path = "support/wasm.rs"]
mod wasm_support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::time::Duration;

use skybox_sdk::abi::{ERR_ARG, ERR_DENIED, ERR_SOCKET};
use skybox_sdk::socket::udp_address;
use support::{Spawned, TempDir, guests_dir, have_guests};
use wasm_support::{
    Harness, OP_SOCKET_CLOSE, OP_SOCKET_LISTEN, OP_SOCKET_SEND, OP_SOCKET_SEND_TO, SCRATCH, abi_guest,
};

const WAIT: Duration = Duration::from_secs(20);

/// A Lua listener (its id handed to the guest to steal), the granted guest, the refused one.
const MAIN: &str = r#"
local skynet = require "skynet"
local socket = require "skynet.socket"

skynet.start(function()
	local id, _, port = socket.listen("127.0.0.1", 0)
	socket.start(id, function(fd)
		socket.start(fd)
		socket.write(fd, "lua\n")
		socket.close(fd)
	end)
	skynet.error("LUA " .. port)
	local guest = skynet.newservice("net_echo", "127.0.0.1", 0, "steal=" .. id,
		"udp=" .. skynet.getenv("udp_port"))
	skynet.error("GUEST " .. skynet.call(guest, "lua", "port"))
	local ok, err = pcall(skynet.newservice, "ungranted", "127.0.0.1", 0)
	skynet.error("UNGRANTED " .. tostring(ok))
end)
"#;

fn line_client(port: u16) -> (TcpStream, BufReader<TcpStream>) {
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let reader = BufReader::new(stream.try_clone().unwrap());
    (stream, reader)
}

fn ask(stream: &mut TcpStream, reader: &mut BufReader<TcpStream>, line: &str) -> String {
    writeln!(stream, "{line}").unwrap();
    let mut got = String::new();
    reader.read_line(&mut got).unwrap();
    got.strip_suffix('\n').unwrap_or_else(|| panic!("a whole line back, got {got:?}")).to_string()
}

fn number_after(line: &str, tag: &str) -> u16 {
    line.split(tag).nth(1).unwrap().trim().parse().unwrap()
}

#[test]
fn a_granted_guest_serves_tcp_and_udp_and_reaches_only_its_own_sockets() {
    if !have_guests("a_granted_guest_serves_tcp_and_udp_and_reaches_only_its_own_sockets", &["net_echo"]) {
        return;
    }
    let dir = TempDir::new("wasm-net");
    dir.write("main.lua", MAIN);
    // The same module under another name, which `wasm_net` does not name.
    std::fs::copy(guests_dir().join("net_echo.wasm"), dir.path().join("ungranted.wasm")).unwrap();
    let udp_port = UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let wasmservice = format!("wasmservice=./?.wasm;{}/?.wasm", guests_dir().display());
    let udp = format!("udp_port={udp_port}");
    let args = [
        "run",
        "--start",
        "main",
        "--path",
        ".",
        "--thread",
        "2",
        "--set",
        &wasmservice,
        "--set",
        "wasm_net=net_echo",
        "--set",
        &udp,
    ];
    let mut node = Spawned::start(&args, dir.path());
    let lua_port = number_after(&node.wait_line("LUA ", WAIT), "LUA ");
    let steal = node.wait_line("steal: ", WAIT);
    assert!(
        steal.ends_with("steal: send=Socket start=Socket pause=Socket close=Socket"),
        "another service's socket is out of reach: {steal}"
    );
    let port = number_after(&node.wait_line("GUEST ", WAIT), "GUEST ");
    let refused = node.wait_line("not granted", WAIT);
    assert!(refused.contains("init service failed: the network is not granted"), "{refused}");
    assert!(node.wait_line("UNGRANTED ", WAIT).ends_with("UNGRANTED false"));

    // Lines from many clients at once, a line split across writes, bytes that are not text.
    let clients: Vec<_> = (0..50)
        .map(|i| {
            std::thread::spawn(move || {
                let (mut s, mut r) = line_client(port);
                for j in 0..5 {
                    let line = format!("client {i} line {j} {}", "y".repeat(j * 300));
                    assert_eq!(ask(&mut s, &mut r, &line), line);
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    let (mut s, mut r) = line_client(port);
    s.write_all(b"split ").unwrap();
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(ask(&mut s, &mut r, "line"), "split line");

    // The guest dials out to a server of ours, and reports a refused connect as an error.
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let server_port = server.local_addr().unwrap().port();
    let answer = std::thread::spawn(move || {
        let (conn, _) = server.accept().unwrap();
        let mut line = String::new();
        BufReader::new(conn.try_clone().unwrap()).read_line(&mut line).unwrap();
        (&conn).write_all(format!("you said {line}").as_bytes()).unwrap();
        drop(server);
    });
    assert_eq!(ask(&mut s, &mut r, &format!("dial {server_port}")), "dialed: you said hello from the guest");
    answer.join().unwrap();
    assert!(ask(&mut s, &mut r, &format!("dial {server_port}")).starts_with("dialed: Connection refused"));

    // UDP echo.
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client.set_read_timeout(Some(WAIT)).unwrap();
    client.send_to(b"datagram", ("127.0.0.1", udp_port)).unwrap();
    let mut buf = [0; 64];
    let (n, _) = client.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"udp:datagram");

    // The Lua service's socket was not touched by the guest.
    let (_l, mut lua) = line_client(lua_port);
    let mut hello = String::new();
    lua.read_line(&mut hello).unwrap();
    assert_eq!(hello, "lua\n");

    // `quit` closes one connection; `exit` ends the guest with its sockets, which the host closes.
    let (mut q, mut qr) = line_client(port);
    writeln!(q, "quit").unwrap();
    let mut rest = Vec::new();
    qr.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
    writeln!(s, "exit").unwrap();
    let mut rest = Vec::new();
    r.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "closed by the host at the guest's exit");
    // Its listener is gone too.
    std::thread::sleep(Duration::from_millis(100));
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err(), "the listener closed with the guest");
}

#[test]
fn socket_imports_check_the_grant_every_argument_and_the_owner() {
    // Not granted: every call is refused, whatever its arguments.
    let h = Harness::new("net-denied", &[]);
    h.guest("abi", &abi_guest());
    let g = h.launch("wasm abi").unwrap();
    h.poke(g, SCRATCH, b"127.0.0.1");
    assert_eq!(h.op(g, OP_SOCKET_LISTEN, &[SCRATCH, 9, 0, 32], &[]), i64::from(ERR_DENIED));
    assert_eq!(h.op(g, OP_SOCKET_SEND, &[1, SCRATCH, 1, 0], &[]), i64::from(ERR_DENIED));
    assert_eq!(h.op(g, OP_SOCKET_CLOSE, &[1], &[]), i64::from(ERR_DENIED));
    drop(h);

    let h = Harness::new("net-abi", &[("wasm_net", "abi")]);
    h.guest("abi", &abi_guest());
    let g = h.launch("wasm abi").unwrap();
    let other = h.launch("wasm abi").unwrap();
    let (arg, socket) = (i64::from(ERR_ARG), i64::from(ERR_SOCKET));
    h.poke(g, SCRATCH, b"127.0.0.1");
    h.poke(other, SCRATCH, b"127.0.0.1");
    let mine = h.op(g, OP_SOCKET_LISTEN, &[SCRATCH, 9, 0, 32], &[]);
    let theirs = h.op(other, OP_SOCKET_LISTEN, &[SCRATCH, 9, 0, 32], &[]);
    assert!(mine > 0 && theirs > 0 && mine != theirs, "{mine} {theirs}");
    let (mine, theirs) = (mine as i32, theirs as i32);
    // Bad host text and ports: a pointer outside memory, bad UTF-8, a name where an IP is
    // needed (no lookup on the worker), a port out of range.
    assert_eq!(h.op(g, OP_SOCKET_LISTEN, &[65530, 100, 0, 32], &[]), arg);
    h.poke(g, SCRATCH + 64, b"\xff\xfe");
    assert_eq!(h.op(g, OP_SOCKET_LISTEN, &[SCRATCH + 64, 2, 0, 32], &[]), arg);
    h.poke(g, SCRATCH + 64, b"localhost");
    assert_eq!(h.op(g, OP_SOCKET_LISTEN, &[SCRATCH + 64, 9, 0, 32], &[]), arg);
    assert_eq!(h.op(g, OP_SOCKET_LISTEN, &[SCRATCH, 9, 70000, 32], &[]), arg);
    // Forged, stale and another guest's ids reach nothing.
    for id in [0, -1, mine + 65536, theirs, i32::MAX] {
        assert_eq!(h.op(g, OP_SOCKET_SEND, &[id, SCRATCH, 1, 0], &[]), socket, "send on {id}");
        assert_eq!(h.op(g, OP_SOCKET_CLOSE, &[id], &[]), socket, "close of {id}");
    }
    // A bad payload range or UDP address is an argument error, before any socket is looked at.
    assert_eq!(h.op(g, OP_SOCKET_SEND, &[mine, 65530, 100, 0], &[]), arg);
    let to = udp_address::encode("127.0.0.1:9".parse().unwrap());
    h.poke(g, SCRATCH + 64, &to[..5]);
    assert_eq!(h.op(g, OP_SOCKET_SEND_TO, &[mine, SCRATCH + 64, 5, SCRATCH, 1], &[]), arg);
    h.poke(g, SCRATCH + 64, &to);
    assert_eq!(h.op(g, OP_SOCKET_SEND_TO, &[mine, SCRATCH + 64, 7, SCRATCH, 1], &[]), socket, "not UDP");
    // Its own socket closes once; the other guest's is still there.
    assert_eq!(h.op(g, OP_SOCKET_CLOSE, &[mine], &[]), 0);
    assert_eq!(h.op(g, OP_SOCKET_CLOSE, &[mine], &[]), socket);
    assert_eq!(h.op(other, OP_SOCKET_CLOSE, &[theirs], &[]), 0);
    assert!(h.alive(g) && h.alive(other));
}
