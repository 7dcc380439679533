//! Two cluster nodes over loopback TCP, each a real process: `tests/cluster/server.lua` serves
//! `sdb` (and the `echo` guest) as node "db"; `tests/cluster/client.lua` calls it every way
//! `skynet.cluster` offers, then keeps calling while the test kills the server mid-call and
//! starts it again. A raw TCP peer sends the server garbage and oversized requests.
//! With a built skynet in `SKYNET_DIR`, the same scripts run with skynet on either side.

#[path = "support/mod.rs"]
mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use support::{Spawned, TempDir, repo_root};

const WAIT: Duration = Duration::from_secs(30);

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A scratch directory with the test's scripts.
fn scripts() -> TempDir {
    let dir = TempDir::new("cluster");
    for name in ["sdb.lua", "server.lua", "client.lua"] {
        let text = std::fs::read_to_string(repo_root().join("tests/cluster").join(name)).unwrap();
        dir.write(name, &text);
    }
    dir
}

/// `skybox run` of `start` in `dir`, node "db" at `port`; with the guests when they are built.
/// A peer leaving 512 KiB of answers unread is cut off.
fn skybox(dir: &Path, start: &str, port: u16, guests: bool) -> Spawned {
    let address = format!("db_address=127.0.0.1:{port}");
    let nodes = format!("cluster={}", nodes_file(dir, port).display());
    let wasm = format!("wasmservice={}/?.wasm", support::guests_dir().display());
    let mut args = vec![
        "run",
        "--start",
        start,
        "--path",
        ".",
        "--thread",
        "2",
        "--set",
        &address,
        "--set",
        "cluster_backlog=512",
        "--set",
        &nodes,
    ];
    if guests {
        args.extend([
            "--set",
            &wasm,
            "--set",
            "guests=1",
            "--set",
            "profile_relay=commands=TIMEOUT,REG,QUERY,EXIT,GETENV send=any",
        ]);
    }
    Spawned::start(&args, dir)
}

/// Writes `nodes.lua` (node "db3" at `port`), the file the `cluster` key names.
fn nodes_file(dir: &Path, port: u16) -> PathBuf {
    let path = dir.join("nodes.lua");
    std::fs::write(&path, format!("db3 = \"127.0.0.1:{port}\"\n")).unwrap();
    path
}

/// skynet in `skynet_dir` running `start` from `dir` (its own services and lualib from the
/// checkout).
fn skynet(skynet_dir: &Path, dir: &Path, start: &str, port: u16) -> Spawned {
    let root = skynet_dir.display();
    let here = dir.display();
    let config = format!(
        "thread = 2\nharbor = 0\nstart = \"{start}\"\nbootstrap = \"snlua bootstrap\"\n\
         luaservice = \"{root}/service/?.lua;{here}/?.lua\"\nlualoader = \"{root}/lualib/loader.lua\"\n\
         lua_path = \"{root}/lualib/?.lua;{root}/lualib/?/init.lua;{here}/?.lua\"\n\
         lua_cpath = \"{root}/luaclib/?.so\"\ncpath = \"{root}/cservice/?.so\"\n\
         db_address = \"127.0.0.1:{port}\"\ncluster = \"{nodes}\"\n",
        nodes = nodes_file(dir, port).display()
    );
    let path = dir.join(format!("config.{start}"));
    std::fs::write(&path, config).unwrap();
    Spawned::start_program(skynet_dir.join("skynet"), &[path.to_str().unwrap()], dir)
}

/// Waits for the client's checks and asserts that none failed.
fn expect_checks(client: &mut Spawned, expected: &[&str]) {
    let mut passed = Vec::new();
    loop {
        let line = client.wait_line("CHECK", WAIT);
        if let Some(rest) = line.split("CHECKS DONE ").nth(1) {
            assert_eq!(rest.trim(), "0", "failed checks (see the log above)");
            break;
        }
        assert!(line.ends_with(" ok"), "{line}");
        passed.push(line.split("CHECK ").nth(1).unwrap().trim_end_matches(" ok").to_string());
    }
    for name in expected {
        assert!(passed.iter().any(|p| p == name), "check {name} did not run: {passed:?}");
    }
}

const CHECKS: &[&str] = &[
    "call",
    "get",
    "values",
    "large",
    "push",
    "proxy_push",
    "query",
    "by_address",
    "query_unknown",
    "unknown_name",
    "remote_error",
    "after_errors",
    "concurrent",
    "down_node",
    "absent_node",
    "db2",
    "db2_moved",
    "db2_back",
    "traced",
    "file",
    "file_reload",
];

/// Sends `bytes` on a new connection to the cluster port and expects the node to close it.
fn closed_after(port: u16, bytes: &[u8]) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(bytes).unwrap();
    let mut buf = [0u8; 64];
    match s.read(&mut buf) {
        Ok(0) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        other => panic!("the node kept a connection that sent {bytes:?}: {other:?}"),
    }
}

/// A name query for "sdb" (address 0, session 1, the name packed as skynet.pack packs a short
/// string) answered on a raw connection: the node still serves.
fn still_serves(port: u16) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    let body = [&[0u8, 0, 0, 0, 0, 1, 0, 0, 0][..], &[(3 << 3) | 4, b's', b'd', b'b']].concat();
    s.write_all(&[&(body.len() as u16).to_be_bytes()[..], &body].concat()).unwrap();
    let mut head = [0u8; 2];
    s.read_exact(&mut head).unwrap();
    let mut answer = vec![0u8; usize::from(u16::from_be_bytes(head))];
    s.read_exact(&mut answer).unwrap();
    assert_eq!(&answer[..5], &[1, 0, 0, 0, 1], "session 1, ok");
}

/// A peer that sends 2000 requests for 30 KB answers and reads none: once 512 KiB wait unsent,
/// the node drops the connection (and its answers) instead of holding 60 MB.
fn slow_reader_is_cut_off(port: u16, server: &mut Spawned) {
    const N: usize = 2000;
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    // "ECHO" and a 30000-byte string, as skynet.pack packs them, to "@sdb" by name.
    let payload =
        [&[(4 << 3) | 4][..], b"ECHO", &[(2 << 3) | 5], &30000u16.to_le_bytes(), &[b'e'; 30000]].concat();
    let writer = {
        let mut s = s.try_clone().unwrap();
        std::thread::spawn(move || {
            for session in 1..=N as u32 {
                let body = [&[0x80u8, 4][..], b"@sdb", &session.to_le_bytes(), &payload].concat();
                let frame = [&(body.len() as u16).to_be_bytes()[..], &body].concat();
                if s.write_all(&frame).is_err() {
                    return; // cut off while still sending
                }
            }
        })
    };
    server.wait_line("reads too slowly", WAIT);
    writer.join().unwrap();
    let mut got = 0usize;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("reading the cut-off connection: {e}"),
        }
    }
    assert!(got < N * 30000, "all {got} bytes of answers came: nothing was cut");
}

#[test]
fn two_skybox_nodes_call_each_other_and_survive_faults() {
    let guests = support::have_guests("two_skybox_nodes (guest checks)", &["echo", "proxy"]);
    let dir = scripts();
    let port = free_port();
    let mut expected = CHECKS.to_vec();
    if guests {
        expected.extend(["guest_serves", "guest_calls"]);
    }
    checks_and_a_restart(
        || skybox(dir.path(), "server", port, guests),
        || skybox(dir.path(), "client", port, guests),
        &expected,
        |server| {
            // Garbage, a request of an unknown kind, a part nobody announced, 4 GiB announced,
            // a peer gone mid-frame: each connection is closed, the node keeps serving.
            closed_after(port, &[0, 3, 0x99, 1, 2]);
            closed_after(port, &[0, 6, 2, 9, 0, 0, 0, b'x']);
            closed_after(port, &[0, 13, 1, 7, 0, 0, 0, 5, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
            {
                let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
                s.write_all(&[0x40, 0, 0, 1, 2]).unwrap();
            }
            still_serves(port);
            slow_reader_is_cut_off(port, server);
            still_serves(port);
        },
    );
}

fn skynet_dir(test: &str) -> Option<PathBuf> {
    let Some(dir) = std::env::var_os("SKYNET_DIR").filter(|d| !d.is_empty()).map(PathBuf::from) else {
        eprintln!("SKIPPED {test}: SKYNET_DIR is not set");
        return None;
    };
    if !dir.join("skynet").is_file() || !dir.join("luaclib/skynet.so").is_file() {
        eprintln!("SKIPPED {test}: {} is not built (make linux there)", dir.display());
        return None;
    }
    Some(dir)
}

/// The server node started by `start` serves the client's checks, goes through `faults`, dies
/// with a call in progress (the call fails, later calls fail fast) and comes back on the same
/// port (calls work again).
fn checks_and_a_restart(
    start: impl Fn() -> Spawned,
    client: impl FnOnce() -> Spawned,
    expected: &[&str],
    faults: impl FnOnce(&mut Spawned),
) {
    let mut server = start();
    server.wait_line("SERVER READY", WAIT);
    let mut client = client();
    expect_checks(&mut client, expected);
    faults(&mut server);
    client.wait_line("SLOW STARTED", WAIT);
    std::thread::sleep(Duration::from_millis(300));
    drop(server);
    let slow = client.wait_line("SLOW ", WAIT);
    assert!(slow.contains("SLOW FAILED"), "{slow}");
    client.wait_line("CALLS FAILING", WAIT);
    let mut server = start();
    server.wait_line("SERVER READY", WAIT);
    client.wait_line("CALLS OK AGAIN", WAIT);
}

#[test]
fn a_skybox_node_calls_a_skynet_node() {
    let Some(skynet_dir) = skynet_dir("a_skybox_node_calls_a_skynet_node") else { return };
    let dir = scripts();
    let port = free_port();
    checks_and_a_restart(
        || skynet(&skynet_dir, dir.path(), "server", port),
        || skybox(dir.path(), "client", port, false),
        CHECKS,
        |_| {},
    );
}

#[test]
fn a_skynet_node_calls_a_skybox_node() {
    let Some(skynet_dir) = skynet_dir("a_skynet_node_calls_a_skybox_node") else { return };
    let dir = scripts();
    let port = free_port();
    checks_and_a_restart(
        || skybox(dir.path(), "server", port, false),
        || skynet(&skynet_dir, dir.path(), "client", port),
        CHECKS,
        |_| {},
    );
}
