//! The `abi` target's harness: a real node with the wasm runtime, a probe service that passes
//! the harness every message sent to it, and a fresh [`guest`](crate::guest) per input.
//!
//! The guest runs under a profile that grants what the imports can do without harming the
//! machine or the harness: every command that touches no other service's life, `redirect`,
//! `send=any`, listening on port 0 only, connecting only to the harness's own TCP listener on
//! 127.0.0.1, and a scratch directory as `box`.
//!
//! With `SKYBOX_FUZZ_TRACE` set (to replay one input: `fuzz/target/release/abi FILE`), the
//! node logs to stdout and the harness prints every message the probe got and each outcome.

use std::collections::HashMap;
use std::io::Read as _;
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam::channel::{Receiver, Sender, unbounded};
use skybox::core::message::{Handle, Message, ptype};
use skybox::core::node::{Node, NodeConfig};
use skybox::core::requests::HeldRequests;
use skybox::core::service::{Actor, Handled};

/// How long a request may wait before the guest is killed, and how long after that its ERROR
/// may take: past both, a caller was left waiting, which the host promises never happens.
const ANSWER: Duration = Duration::from_secs(5);
const AFTER_KILL: Duration = Duration::from_secs(10);

/// What became of one input.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The guest answered: this many canaries were overwritten (0 unless the host wrote
    /// outside a range it was given).
    Answered { violations: u32 },
    /// The guest died (a trap, `exit`, a bad block): the request failed with ERROR.
    Failed,
    /// The program answered the request itself (with whatever it chose).
    Forged,
    /// The program passed the request on to the probe itself (sent as the probe, with the
    /// request's session: the core's rule makes the receiver its holder), so nobody else owes
    /// an answer.
    PassedBack,
}

/// A node, its probe, the directory of the guest's module and files.
pub struct Harness {
    node: Arc<Node>,
    probe: Handle,
    rx: Receiver<Message>,
    port: u16,
    dir: PathBuf,
    session: i32,
    nonce: u64,
    runs: u64,
    trace: bool,
}

impl Harness {
    /// A node whose guests get a pooled memory (`pool`), or a dense one (`!pool`: the host's
    /// own allocator, `host/src/wasm/dense.rs`).
    pub fn new(pool: bool) -> Harness {
        let kind = if pool { "pool" } else { "dense" };
        let dir = crate::scratch(&format!("abi-{kind}"));
        let files = dir.join("box");
        std::fs::create_dir_all(&files).expect("cannot create the guest's directory");
        let wasm = wat::parse_str(crate::guest::wat()).expect("the guest's WAT");
        std::fs::write(dir.join("fuzz.wasm"), wasm).expect("cannot write the guest");
        let port = sink();
        let profile = format!(
            "commands=TIMEOUT,REG,QUERY,NAME,EXIT,GETENV,STARTTIME,STAT,MQLEN,PROFILE redirect=yes send=any \
             listen=0 connect=127.0.0.1:{port} files=box:{}:rw",
            files.display()
        );
        let env: HashMap<String, String> = [
            ("wasmservice", format!("{}/?.wasm", dir.display())),
            ("wasm_pool", if pool { "8" } else { "0" }.to_string()),
            ("wasm_memlimit", "1048576".into()),
            ("fuel", "10000000".into()),
            ("wasm_cache", "off".into()),
            ("profile_fuzz", profile),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let trace = std::env::var_os("SKYBOX_FUZZ_TRACE").is_some();
        let config = NodeConfig {
            threads: 2,
            logger: (!trace).then(|| PathBuf::from("/dev/null")),
            env,
            endless: Some(Duration::from_secs(3)),
            ..NodeConfig::default()
        };
        let node = Node::new(config).expect("a node");
        skybox::wasm::register(&node).expect("the wasm runtime");
        let (tx, rx) = unbounded();
        node.register_runtime("probe", Box::new(move |_, _, _| Ok(Box::new(Probe::new(tx.clone())))));
        node.start().expect("the node starts");
        let probe = node.launch("probe").expect("the probe");
        let nonce = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64);
        Harness { node, probe, rx, port, dir, session: 1, nonce, runs: 0, trace }
    }

    /// Runs `program` in a fresh guest; panics if the host left the request unanswered.
    pub fn run(&mut self, program: &[u8]) -> Outcome {
        self.runs += 1;
        // The files the guests leave behind, now and then.
        if self.runs.is_multiple_of(1000) {
            let files = self.dir.join("box");
            let _ = std::fs::remove_dir_all(&files);
            let _ = std::fs::create_dir_all(&files);
        }
        self.nonce = self.nonce.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let line = format!("wasm --profile=fuzz fuzz {:08x}{:016x}", self.port, self.nonce);
        let guest = self.node.launch(&line).expect("the guest launches");
        self.session = self.session % 1_000_000 + 1;
        let session = self.session;
        let msg = Message { source: self.probe, session, ptype: ptype::CLIENT, data: program.to_vec() };
        self.node.push(guest, msg).expect("the guest takes the request");
        let outcome = match self.answer(session, ANSWER) {
            Some(outcome) => outcome,
            None => {
                // Not answered yet: the request must fail once the guest is gone.
                self.node.kill(guest);
                self.answer(session, AFTER_KILL)
                    .unwrap_or_else(|| panic!("request {session} left waiting after the guest was killed"))
            }
        };
        self.node.kill(guest);
        if self.trace {
            eprintln!("guest :{guest:08x}: {outcome:?}");
        }
        outcome
    }

    /// The answer to `session` within `wait`, skipping every other message the probe got.
    fn answer(&self, session: i32, wait: Duration) -> Option<Outcome> {
        let deadline = Instant::now() + wait;
        loop {
            let msg = self.rx.recv_deadline(deadline).ok()?;
            if self.trace {
                eprintln!("probe got {} bytes: {msg:?}", msg.data.len());
            }
            if msg.session == session
                && msg.source == self.probe
                && !matches!(msg.ptype, ptype::RESPONSE | ptype::ERROR)
            {
                return Some(Outcome::PassedBack);
            }
            if msg.session != session || !matches!(msg.ptype, ptype::RESPONSE | ptype::ERROR) {
                continue;
            }
            if msg.ptype == ptype::ERROR {
                return Some(Outcome::Failed);
            }
            return Some(match msg.data.as_slice() {
                [nonce @ .., a, b, c, d] if nonce == self.nonce.to_le_bytes() => {
                    Outcome::Answered { violations: u32::from_le_bytes([*a, *b, *c, *d]) }
                }
                _ => Outcome::Forged,
            });
        }
    }
}

/// A TCP listener on 127.0.0.1 that accepts and reads whatever comes: the only place guests may
/// connect to. Returns its port.
fn sink() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback listener");
    let port = listener.local_addr().expect("its address").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut stream = stream;
                let mut buf = [0; 4096];
                while matches!(stream.read(&mut buf), Ok(n) if n > 0) {}
            });
        }
    });
    port
}

/// Passes every message to the harness. It never answers: requests from guests stay held
/// until the set is dropped (every 10 000 messages, to bound its memory).
struct Probe {
    tx: Sender<Message>,
    held: HeldRequests,
    count: u32,
}

impl Probe {
    fn new(tx: Sender<Message>) -> Probe {
        Probe { tx, held: HeldRequests::default(), count: 0 }
    }
}

impl Actor for Probe {
    fn dispatch(&mut self, msg: Message) -> Handled {
        self.count += 1;
        if self.count.is_multiple_of(10_000) {
            self.held = HeldRequests::default();
        }
        let _ = self.tx.send(msg);
        Handled::Done
    }

    fn held(&mut self) -> &mut HeldRequests {
        &mut self.held
    }
}
