//! Network load: framed echo through `gate` to one agent per connection, skybox and skynet
//! side by side in one run, plus loopback's own ceiling (an echo server in Rust).
//!
//! ```sh
//! cargo bench --bench netload                          # skybox and the ceiling
//! cargo bench --bench netload -- --skynet ~/skynet     # and skynet, built in that checkout
//! cargo bench --bench netload -- --conns 1,100,1000 --seconds 5 --size 32
//! ```
//!
//! Each connection sends a 2-byte big-endian length and `size` bytes, waits for the same frame
//! back, and sends the next (closed loop): messages per second over all connections, and the
//! round trip's median and 99th percentile. Both servers run the same Lua services
//! (`benches/net/`: a watchdog opening `gate`, and an agent that writes each frame back) with 2
//! worker threads. Also measured: the server's resident memory per idle connection (1000
//! connections opened and left idle).

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

struct Options {
    skynet: Option<PathBuf>,
    conns: Vec<usize>,
    seconds: f64,
    size: usize,
}

fn options() -> Options {
    let mut o = Options { skynet: None, conns: vec![1, 100, 1000], seconds: 5.0, size: 32 };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--skynet" => o.skynet = Some(PathBuf::from(value())),
            "--conns" => o.conns = value().split(',').map(|n| n.parse().expect("a number")).collect(),
            "--seconds" => o.seconds = value().parse().expect("seconds"),
            "--size" => o.size = value().parse().expect("bytes"),
            "--bench" => {}
            other => panic!("unknown argument {other}"),
        }
    }
    o
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A server process; killed on drop.
struct Server {
    name: &'static str,
    child: Child,
    port: u16,
    _dir: Option<tempdir::Dir>,
}

mod tempdir {
    use std::path::PathBuf;

    /// A scratch directory, removed on drop.
    pub(super) struct Dir(pub(super) PathBuf);

    impl Dir {
        pub(super) fn new(tag: &str) -> Dir {
            let path = std::env::temp_dir().join(format!("skybox-netload-{tag}-{}", std::process::id()));
            std::fs::create_dir_all(&path).unwrap();
            Dir(path)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn wait_ready(mut self) -> Server {
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("{} exited: {status}", self.name);
            }
            assert!(Instant::now() < deadline, "{} did not listen on {}", self.name, self.port);
            std::thread::sleep(Duration::from_millis(50));
        }
        // The probe connection above is one client of the gate; let it go.
        std::thread::sleep(Duration::from_millis(200));
        self
    }

    fn skybox() -> Server {
        let port = free_port();
        let bin = env!("CARGO_BIN_EXE_skybox");
        let path = repo().join("benches/net");
        let child = Command::new(bin)
            .args(["run", "--start", "bench_watchdog", "--thread", "2", "--path"])
            .arg(&path)
            .args(["--set", &format!("bench_port={port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start skybox");
        Server { name: "skybox", child, port, _dir: None }.wait_ready()
    }

    fn skynet(root: &Path) -> Server {
        let port = free_port();
        let dir = tempdir::Dir::new("skynet");
        let services = repo().join("benches/net");
        let config = format!(
            "thread = 2\nharbor = 0\nstart = \"bench_watchdog\"\nbootstrap = \"snlua bootstrap\"\n\
             luaservice = \"{s}/?.lua;{r}/service/?.lua\"\nlualoader = \"{r}/lualib/loader.lua\"\n\
             lua_path = \"{r}/lualib/?.lua;{r}/lualib/?/init.lua\"\nlua_cpath = \"{r}/luaclib/?.so\"\n\
             cpath = \"{r}/cservice/?.so\"\nbench_port = {port}\n",
            s = services.display(),
            r = root.display(),
        );
        std::fs::write(dir.0.join("config"), config).unwrap();
        let child = Command::new(root.join("skynet"))
            .arg(dir.0.join("config"))
            .current_dir(root)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start skynet");
        Server { name: "skynet", child, port, _dir: Some(dir) }.wait_ready()
    }

    /// Resident memory of the server process, in KiB.
    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }
}

/// Loopback's ceiling: echo on one thread with mio, framing ignored (bytes go straight back).
/// The thread serves until the process exits.
fn ceiling() -> (std::thread::JoinHandle<()>, u16) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let handle = std::thread::spawn(move || {
        let mut poll = Poll::new().unwrap();
        let mut listener = mio::net::TcpListener::from_std(listener);
        poll.registry().register(&mut listener, Token(0), Interest::READABLE).unwrap();
        let mut conns: HashMap<usize, TcpStream> = HashMap::new();
        let mut events = Events::with_capacity(1024);
        let mut buf = vec![0u8; 65536];
        let mut next = 1;
        loop {
            poll.poll(&mut events, None).unwrap();
            for ev in events.iter() {
                if ev.token() == Token(0) {
                    while let Ok((mut s, _)) = listener.accept() {
                        let _ = s.set_nodelay(true);
                        poll.registry().register(&mut s, Token(next), Interest::READABLE).unwrap();
                        conns.insert(next, s);
                        next += 1;
                    }
                    continue;
                }
                let Some(s) = conns.get_mut(&ev.token().0) else { continue };
                loop {
                    match s.read(&mut buf) {
                        Ok(0) => {
                            conns.remove(&ev.token().0);
                            break;
                        }
                        Ok(n) => {
                            let _ = s.write_all(&buf[..n]);
                        }
                        Err(_) => break,
                    }
                }
            }
        }
    });
    (handle, port)
}

/// One client connection of the load.
struct Conn {
    stream: TcpStream,
    sent: Instant,
    got: Vec<u8>,
    out: Vec<u8>,
    written: usize,
}

/// Runs `conns` closed-loop connections against `port` for `seconds`: (messages per second,
/// median and p99 round trip in microseconds).
fn load(port: u16, conns: usize, seconds: f64, size: usize) -> (f64, u64, u64) {
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut poll = Poll::new().unwrap();
    let mut frame = (size as u16).to_be_bytes().to_vec();
    frame.extend((0..size).map(|i| b'a' + (i % 26) as u8));
    let mut clients: Vec<Conn> = (0..conns)
        .map(|i| {
            let std = std::net::TcpStream::connect(addr).expect("connect");
            std.set_nodelay(true).unwrap();
            std.set_nonblocking(true).unwrap();
            let mut stream = TcpStream::from_std(std);
            poll.registry().register(&mut stream, Token(i), Interest::READABLE | Interest::WRITABLE).unwrap();
            Conn { stream, sent: Instant::now(), got: Vec::new(), out: frame.clone(), written: 0 }
        })
        .collect();
    // Let the servers set up an agent for each connection before the clock starts.
    std::thread::sleep(Duration::from_millis(300 + conns as u64));
    let mut events = Events::with_capacity(4096);
    let mut rtts: Vec<u32> = Vec::with_capacity(1 << 20);
    let start = Instant::now();
    for c in clients.iter_mut() {
        c.sent = Instant::now();
        flush(c);
    }
    let end = start + Duration::from_secs_f64(seconds);
    let mut buf = vec![0u8; 65536];
    while Instant::now() < end {
        poll.poll(&mut events, Some(Duration::from_millis(100))).unwrap();
        for ev in events.iter() {
            let c = &mut clients[ev.token().0];
            if ev.is_writable() {
                flush(c);
            }
            loop {
                match c.stream.read(&mut buf) {
                    Ok(0) => panic!("the server closed a connection"),
                    Ok(n) => c.got.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => panic!("read: {e}"),
                }
            }
            while c.got.len() >= frame.len() {
                assert_eq!(&c.got[..frame.len()], &frame[..], "the echo differs");
                c.got.drain(..frame.len());
                rtts.push(c.sent.elapsed().as_micros().min(u32::MAX as u128) as u32);
                c.sent = Instant::now();
                c.out.extend_from_slice(&frame);
                flush(c);
            }
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    rtts.sort_unstable();
    let at = |q: f64| rtts.get(((rtts.len() as f64 * q) as usize).min(rtts.len().saturating_sub(1))).copied();
    (rtts.len() as f64 / elapsed, at(0.5).unwrap_or(0) as u64, at(0.99).unwrap_or(0) as u64)
}

fn flush(c: &mut Conn) {
    while c.written < c.out.len() {
        match c.stream.write(&c.out[c.written..]) {
            Ok(n) => c.written += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) => panic!("write: {e}"),
        }
    }
    c.out.clear();
    c.written = 0;
}

/// Resident KiB per idle connection: `n` connections opened and held.
fn idle_memory(server: &Server, n: usize) -> f64 {
    let before = server.rss_kib();
    let held: Vec<_> =
        (0..n).map(|_| std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(1000 + n as u64 * 2));
    let after = server.rss_kib();
    drop(held);
    std::thread::sleep(Duration::from_millis(500));
    (after.saturating_sub(before)) as f64 / n as f64
}

fn main() {
    let o = options();
    let (_ceiling, ceiling_port) = ceiling();
    let mut servers = vec![Server::skybox()];
    if let Some(root) = &o.skynet {
        servers.push(Server::skynet(root));
    }
    // Memory first, on fresh servers: after a load, freed memory is kept for reuse.
    for server in &servers {
        println!(
            "{:<8} idle connection: {:.1} KiB resident each (1000 held)",
            server.name,
            idle_memory(server, 1000)
        );
    }
    println!("framed echo, {} byte payloads, {} s per row, 2 worker threads", o.size, o.seconds);
    println!("{:<8} {:>6} {:>12} {:>10} {:>10}", "server", "conns", "msgs/s", "p50 us", "p99 us");
    for &n in &o.conns {
        let (rate, p50, p99) = load(ceiling_port, n, o.seconds, o.size);
        println!("{:<8} {:>6} {:>12.0} {:>10} {:>10}", "loopback", n, rate, p50, p99);
        // Interleaved, so both see the same machine.
        for server in &servers {
            let (rate, p50, p99) = load(server.port, n, o.seconds, o.size);
            println!("{:<8} {:>6} {:>12.0} {:>10} {:>10}", server.name, n, rate, p50, p99);
        }
    }
}
