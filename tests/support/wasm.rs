//! Shared helpers for the wasm integration tests (`tests/wasm_*.rs`): a real node with the
//! `snlua` and `wasm` runtimes, a Rust probe service that hands every message it receives to the
//! test through a channel, and hand-written WAT guests.
//!
//! Included with `#[path = "support/wasm.rs"] mod wasm_support;`.

#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam::channel::{Receiver, Sender, unbounded};
use parking_lot::Mutex;
use skybox::core::message::{Handle, Message, ptype};
use skybox::core::node::{Node, NodeConfig, SendError};
use skybox::core::requests::HeldRequests;
use skybox::core::service::{Actor, Handled};
use skybox::wasm::WasmRuntime;

/// How long a test waits for an answer before calling it a hang.
pub(crate) const WAIT: Duration = Duration::from_secs(20);

/// A scratch directory, removed on drop unless the test failed.
pub(crate) struct Scratch {
    pub(crate) path: PathBuf,
}

impl Scratch {
    pub(crate) fn new(tag: &str) -> Scratch {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let path = std::env::temp_dir().join(format!("skybox-wasm-{tag}-{}-{nanos}-{n}", std::process::id()));
        std::fs::create_dir_all(&path).unwrap();
        Scratch { path }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("(scratch directory kept: {})", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// A Rust service that forwards every message it gets to the test. The test answers requests
/// itself, by `Node::push`, so what it was sent stays held here until the node stops.
struct Probe {
    tx: Sender<Message>,
    held: HeldRequests,
}

impl Actor for Probe {
    fn dispatch(&mut self, msg: Message) -> Handled {
        let _ = self.tx.send(msg);
        Handled::Done
    }
    fn held(&mut self) -> &mut HeldRequests {
        &mut self.held
    }
}

/// A running node for one test. Stopped (and its threads joined) on drop.
pub(crate) struct Harness {
    pub(crate) node: Arc<Node>,
    pub(crate) wasm: Arc<WasmRuntime>,
    pub(crate) probe: Handle,
    rx: Receiver<Message>,
    stash: Mutex<VecDeque<Message>>,
    session: AtomicI32,
    pub(crate) dir: Scratch,
    pub(crate) log: PathBuf,
}

impl Harness {
    /// A node with 2 workers; guests and Lua services are looked up in the scratch directory.
    /// `env` adds or overrides config keys (defaults here: a pool of 32, no disk cache).
    pub(crate) fn new(tag: &str, env: &[(&str, &str)]) -> Harness {
        Harness::with_endless(tag, env, Duration::from_secs(60))
    }

    /// As [`Harness::new`], with the node's endless-loop monitor at `endless`. (The default is
    /// long: a debug build of Cranelift can take seconds to compile a guest on a busy machine,
    /// and the monitor would interrupt the launcher waiting for it.)
    pub(crate) fn with_endless(tag: &str, env: &[(&str, &str)], endless: Duration) -> Harness {
        let dir = Scratch::new(tag);
        let log = dir.path.join("node.log");
        let mut vars: HashMap<String, String> = HashMap::new();
        vars.insert("wasmservice".into(), format!("{}/?.wasm", dir.path.display()));
        vars.insert("luaservice".into(), format!("{}/?.lua", dir.path.display()));
        vars.insert("wasm_pool".into(), "32".into());
        // Confined guests may send to the probe: it is public (bound below).
        vars.insert("public".into(), ".probe".into());
        // Compiled guests are shared by every test run (the disk cache is safe to share).
        vars.insert("wasm_cache".into(), test_cache_dir().display().to_string());
        for (k, v) in env {
            vars.insert(k.to_string(), v.to_string());
        }
        let config = NodeConfig {
            threads: 2,
            logger: Some(log.clone()),
            env: vars,
            endless: Some(endless),
            ..NodeConfig::default()
        };
        let node = Node::new(config).unwrap();
        let wasm = skybox::wasm::register(&node).unwrap();
        let (tx, rx) = unbounded();
        node.register_runtime(
            "probe",
            Box::new(move |_, _, _| Ok(Box::new(Probe { tx: tx.clone(), held: HeldRequests::default() }))),
        );
        node.start().unwrap();
        let probe = node.launch("probe").unwrap();
        assert!(node.bind_name(".probe", probe));
        Harness {
            node,
            wasm,
            probe,
            rx,
            stash: Mutex::new(VecDeque::new()),
            session: AtomicI32::new(1_000_000),
            dir,
            log,
        }
    }

    /// Writes the guest `name.wasm` from WAT text.
    pub(crate) fn guest(&self, name: &str, wat: &str) -> PathBuf {
        let bytes = wat::parse_str(wat).unwrap_or_else(|e| panic!("bad WAT for {name}: {e}"));
        let path = self.dir.path.join(format!("{name}.wasm"));
        std::fs::write(&path, bytes).unwrap();
        path
    }

    /// Writes a file into the scratch directory.
    pub(crate) fn file(&self, rel: &str, text: &str) -> PathBuf {
        let path = self.dir.path.join(rel);
        std::fs::write(&path, text).unwrap();
        path
    }

    pub(crate) fn launch(&self, line: &str) -> anyhow::Result<Handle> {
        self.node.launch(line)
    }

    /// Sends from the probe.
    pub(crate) fn send(&self, dest: Handle, ptype: u8, session: i32, data: Vec<u8>) -> Result<(), SendError> {
        self.node.push(dest, Message { source: self.probe, session, ptype, data })
    }

    pub(crate) fn new_session(&self) -> i32 {
        self.session.fetch_add(1, Ordering::Relaxed)
    }

    /// The next message to the probe that satisfies `pred` (others are kept for later);
    /// `None` after `timeout`.
    pub(crate) fn wait_for(
        &self,
        timeout: Duration,
        mut pred: impl FnMut(&Message) -> bool,
    ) -> Option<Message> {
        {
            let mut stash = self.stash.lock();
            if let Some(i) = stash.iter().position(&mut pred) {
                return stash.remove(i);
            }
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(msg) if pred(&msg) => return Some(msg),
                Ok(msg) => self.stash.lock().push_back(msg),
                Err(_) => return None,
            }
        }
    }

    /// A request from the probe; the reply (RESPONSE or ERROR). Panics after [`WAIT`]: a caller
    /// must never hang.
    pub(crate) fn call(&self, dest: Handle, ptype: u8, data: Vec<u8>) -> Message {
        self.try_call(dest, ptype, data, WAIT)
            .unwrap_or_else(|| panic!("call to :{dest:08x} got no answer in {WAIT:?}\n{}", self.log_text()))
    }

    pub(crate) fn try_call(
        &self,
        dest: Handle,
        ptype: u8,
        data: Vec<u8>,
        timeout: Duration,
    ) -> Option<Message> {
        let session = self.new_session();
        if self.send(dest, ptype, session, data).is_err() {
            return Some(Message { source: dest, session, ptype: ptype::ERROR, data: Vec::new() });
        }
        self.wait_for(timeout, |m| {
            m.session == session && (m.ptype == ptype::RESPONSE || m.ptype == ptype::ERROR)
        })
    }

    /// Everything logged so far.
    pub(crate) fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until a log line contains `needle`; returns that line.
    pub(crate) fn wait_log(&self, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(line) = self.log_text().lines().find(|l| l.contains(needle)) {
                return line.to_string();
            }
            if Instant::now() > deadline {
                panic!("no log line with {needle:?} in {WAIT:?}; log:\n{}", self.log_text());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Waits until at least `n` log lines contain `needle` (lines reach the log file a little
    /// after what they report); returns them.
    pub(crate) fn wait_log_lines(&self, needle: &str, n: usize) -> Vec<String> {
        let deadline = Instant::now() + WAIT;
        loop {
            let lines = self.log_lines(needle);
            if lines.len() >= n {
                return lines;
            }
            if Instant::now() > deadline {
                panic!("{} log lines with {needle:?}, not {n}; log:\n{}", lines.len(), self.log_text());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Log lines containing `needle`.
    pub(crate) fn log_lines(&self, needle: &str) -> Vec<String> {
        self.log_text().lines().filter(|l| l.contains(needle)).map(str::to_string).collect()
    }

    /// Whether `handle` is a live service.
    pub(crate) fn alive(&self, handle: Handle) -> bool {
        self.node.handles.grab(handle).is_some()
    }

    /// Waits until `handle` is gone.
    pub(crate) fn wait_dead(&self, handle: Handle) {
        let deadline = Instant::now() + WAIT;
        while self.alive(handle) {
            assert!(Instant::now() < deadline, ":{handle:08x} is still alive\n{}", self.log_text());
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    // ---- the ABI guest (see ABI_GUEST) ----------------------------------------------------

    /// Runs `op` in ABI guest `guest` with `args` (and `data` after them); its `i64` result.
    /// Panics if the guest fails the request.
    pub(crate) fn op(&self, guest: Handle, op: i32, args: &[i32], data: &[u8]) -> i64 {
        let reply = self.op_reply(guest, op, args, data);
        assert_eq!(reply.ptype, ptype::RESPONSE, "op {op} {args:?} failed\n{}", self.log_text());
        i64::from_le_bytes(reply.data[..8].try_into().unwrap())
    }

    pub(crate) fn op_reply(&self, guest: Handle, op: i32, args: &[i32], data: &[u8]) -> Message {
        self.call(guest, ptype::CLIENT, op_payload(op, args, data))
    }

    /// Writes `bytes` at `addr` in the guest's scratch area.
    pub(crate) fn poke(&self, guest: Handle, addr: i32, bytes: &[u8]) {
        assert_eq!(self.op(guest, OP_WRITE, &[addr], bytes), 0);
    }

    /// Reads `len` bytes at `addr` of the guest's memory.
    pub(crate) fn peek(&self, guest: Handle, addr: i32, len: i32) -> Vec<u8> {
        let reply = self.op_reply(guest, OP_READ, &[addr, len], &[]);
        assert_eq!(reply.ptype, ptype::RESPONSE);
        reply.data
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.node.abort(0);
        self.node.wait();
    }
}

pub(crate) fn op_payload(op: i32, args: &[i32], data: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(28 + data.len());
    p.extend_from_slice(&op.to_le_bytes());
    for i in 0..6 {
        p.extend_from_slice(&args.get(i).copied().unwrap_or(0).to_le_bytes());
    }
    p.extend_from_slice(data);
    p
}

// Operations of the ABI guest: a CLIENT request `[op, a, b, c, d, e, f: i32 LE] data...` runs
// one import (or action) and answers with its result as an i64 (LE).
pub(crate) const OP_SEND: i32 = 0;
pub(crate) const OP_SEND_NAME: i32 = 1;
pub(crate) const OP_REDIRECT: i32 = 2;
pub(crate) const OP_FORWARD: i32 = 3;
pub(crate) const OP_MSG_READ: i32 = 4;
pub(crate) const OP_MSG_SIZE: i32 = 5;
pub(crate) const OP_MSG_FREE: i32 = 6;
pub(crate) const OP_FORWARD_TYPE: i32 = 7;
pub(crate) const OP_GENID: i32 = 8;
pub(crate) const OP_TIMEOUT: i32 = 9;
pub(crate) const OP_NOW: i32 = 10;
pub(crate) const OP_HPC: i32 = 11;
pub(crate) const OP_SELF: i32 = 12;
pub(crate) const OP_LOG: i32 = 13;
pub(crate) const OP_COMMAND: i32 = 14;
pub(crate) const OP_EXIT: i32 = 15;
pub(crate) const OP_TRAP: i32 = 16;
pub(crate) const OP_SPIN: i32 = 17;
pub(crate) const OP_GROW: i32 = 18;
/// Copies `data` to address `a`.
pub(crate) const OP_WRITE: i32 = 19;
/// Answers with the `b` bytes at address `a` (the reply is those bytes, not an i64).
pub(crate) const OP_READ: i32 = 20;
/// Every message that is not an op is reported to address `a` (0: nobody).
pub(crate) const OP_OBSERVE: i32 = 21;
/// Grows memory page by page until refused, then traps (what a Rust guest's OOM does).
pub(crate) const OP_HOG: i32 = 22;
/// Returns without answering: the request stays held by the guest.
pub(crate) const OP_HOLD: i32 = 23;
/// Answers request `(a = source, b = session)` with an empty RESPONSE.
pub(crate) const OP_ANSWER: i32 = 24;
/// `socket_listen(a = host ptr, b = host len, c = port, d = backlog)`.
pub(crate) const OP_SOCKET_LISTEN: i32 = 25;
/// `socket_send(a = id, b = ptr, c = len, d = low)`.
pub(crate) const OP_SOCKET_SEND: i32 = 26;
/// `socket_close(a = id)`.
pub(crate) const OP_SOCKET_CLOSE: i32 = 27;
/// `socket_send_to(a = id, b = address ptr, c = address len, d = ptr, e = len)`.
pub(crate) const OP_SOCKET_SEND_TO: i32 = 28;
/// `file_read(a = path ptr, b = path len, c = out ptr, d = cap)`.
pub(crate) const OP_FILE_READ: i32 = 29;
/// `file_write(a = path ptr, b = path len, c = ptr, d = len, e = append)`.
pub(crate) const OP_FILE_WRITE: i32 = 30;
/// `file_remove(a = path ptr, b = path len)`.
pub(crate) const OP_FILE_REMOVE: i32 = 31;

/// The start of the guest's scratch area (up to 8 KiB), kept across messages.
pub(crate) const SCRATCH: i32 = 1024;

/// The imports every WAT guest declares (all of ABI.md's but a few socket ones).
pub(crate) const IMPORTS: &str = concat!(
    include_str!("imports.wat"),
    r#"
  (import "skybox" "socket_listen" (func $socket_listen (param i32 i32 i32 i32) (result i32)))
  (import "skybox" "socket_send" (func $socket_send (param i32 i32 i32 i32) (result i32)))
  (import "skybox" "socket_close" (func $socket_close (param i32) (result i32)))
  (import "skybox" "socket_send_to" (func $socket_send_to (param i32 i32 i32 i32 i32) (result i32)))
  (import "skybox" "file_read" (func $file_read (param i32 i32 i32 i32) (result i32)))
  (import "skybox" "file_write" (func $file_write (param i32 i32 i32 i32 i32) (result i32)))
  (import "skybox" "file_remove" (func $file_remove (param i32 i32) (result i32)))
"#
);

/// A bump allocator from 8 KiB up (memory grows as needed; 0 when it cannot), reset by
/// `$reset` after each message, and an empty `skybox_start`.
pub(crate) const ALLOCATOR: &str = r#"
  (global $bump (mut i32) (i32.const 8192))
  (func $reset (global.set $bump (i32.const 8192)))
  (func $alloc (export "skybox_alloc") (param $n i32) (result i32)
    (local $p i32) (local $end i32) (local $have i32)
    (local.set $p (global.get $bump))
    (local.set $end (i32.add (local.get $p) (local.get $n)))
    (local.set $have (i32.mul (memory.size) (i32.const 65536)))
    (if (i32.gt_u (local.get $end) (local.get $have))
      (then
        (if (i32.eq
              (memory.grow (i32.add (i32.div_u (i32.sub (local.get $end) (local.get $have)) (i32.const 65536)) (i32.const 1)))
              (i32.const -1))
          (then (return (i32.const 0))))))
    (global.set $bump (local.get $end))
    (local.get $p))
"#;

/// The ABI guest: runs one import per CLIENT request (see the `OP_*` constants), reports every
/// other message to an observer, and tells the sender the handle of each held message (a CLIENT
/// message with the 4-byte handle). Its start arguments: `trap` traps, `spin` loops forever,
/// `exit` exits, anything else starts normally.
pub(crate) fn abi_guest() -> String {
    format!(
        r#"(module {IMPORTS}
  (memory (export "memory") 1)
  {ALLOCATOR}
  (global $observer (mut i32) (i32.const 0))
  (func (export "skybox_start") (param $p i32) (param $n i32)
    (if (i32.ge_u (local.get $n) (i32.const 4))
      (then
        (if (i32.eq (i32.load (local.get $p)) (i32.const 0x70617274)) (then unreachable)) ;; "trap"
        (if (i32.eq (i32.load (local.get $p)) (i32.const 0x6e697073)) (then (loop $l (br $l)))) ;; "spin"
        (if (i32.eq (i32.load (local.get $p)) (i32.const 0x74697865)) (then (call $exit))))) ;; "exit"
    (call $reset))
  (func $op (param $p i32) (param $size i32) (param $source i32) (param $session i32) (result i64)
    (local $op i32) (local $a i32) (local $b i32) (local $c i32) (local $d i32) (local $e i32) (local $f i32)
    (local.set $op (i32.load (local.get $p)))
    (local.set $a (i32.load offset=4 (local.get $p)))
    (local.set $b (i32.load offset=8 (local.get $p)))
    (local.set $c (i32.load offset=12 (local.get $p)))
    (local.set $d (i32.load offset=16 (local.get $p)))
    (local.set $e (i32.load offset=20 (local.get $p)))
    (local.set $f (i32.load offset=24 (local.get $p)))
    (if (i32.eq (local.get $op) (i32.const 0)) (then (return (i64.extend_i32_s
      (call $send (local.get $a) (local.get $b) (local.get $c) (local.get $d) (local.get $e))))))
    (if (i32.eq (local.get $op) (i32.const 1)) (then (return (i64.extend_i32_s
      (call $send_name (local.get $a) (local.get $b) (local.get $c) (local.get $d) (local.get $e) (local.get $f))))))
    (if (i32.eq (local.get $op) (i32.const 2)) (then (return (i64.extend_i32_s
      (call $redirect (local.get $a) (local.get $b) (local.get $c) (local.get $d) (local.get $e) (local.get $f))))))
    (if (i32.eq (local.get $op) (i32.const 3)) (then (return (i64.extend_i32_s
      (call $forward (local.get $a) (local.get $b) (local.get $c) (local.get $d) (local.get $e))))))
    (if (i32.eq (local.get $op) (i32.const 4)) (then (return (i64.extend_i32_s
      (call $msg_read (local.get $a) (local.get $b) (local.get $c) (local.get $d))))))
    (if (i32.eq (local.get $op) (i32.const 5)) (then (return (i64.extend_i32_s (call $msg_size (local.get $a))))))
    (if (i32.eq (local.get $op) (i32.const 6)) (then (return (i64.extend_i32_s (call $msg_free (local.get $a))))))
    (if (i32.eq (local.get $op) (i32.const 7)) (then (return (i64.extend_i32_s
      (call $forward_type (local.get $a) (local.get $b))))))
    (if (i32.eq (local.get $op) (i32.const 8)) (then (return (i64.extend_i32_s (call $genid)))))
    (if (i32.eq (local.get $op) (i32.const 9)) (then (return (i64.extend_i32_s (call $timeout (local.get $a))))))
    (if (i32.eq (local.get $op) (i32.const 10)) (then (return (call $now))))
    (if (i32.eq (local.get $op) (i32.const 11)) (then (return (call $hpc))))
    (if (i32.eq (local.get $op) (i32.const 12)) (then (return (i64.extend_i32_s (call $self)))))
    (if (i32.eq (local.get $op) (i32.const 13)) (then (call $log (local.get $a) (local.get $b)) (return (i64.const 0))))
    (if (i32.eq (local.get $op) (i32.const 14)) (then (return (i64.extend_i32_s
      (call $command (local.get $a) (local.get $b) (local.get $c) (local.get $d) (local.get $e) (local.get $f))))))
    (if (i32.eq (local.get $op) (i32.const 15)) (then (call $exit) (return (i64.const 0))))
    (if (i32.eq (local.get $op) (i32.const 16)) (then unreachable))
    (if (i32.eq (local.get $op) (i32.const 17)) (then (loop $l (br $l))))
    (if (i32.eq (local.get $op) (i32.const 18)) (then (return (i64.extend_i32_s (memory.grow (local.get $a))))))
    (if (i32.eq (local.get $op) (i32.const 19)) (then
      (memory.copy (local.get $a) (i32.add (local.get $p) (i32.const 28)) (i32.sub (local.get $size) (i32.const 28)))
      (return (i64.const 0))))
    (if (i32.eq (local.get $op) (i32.const 20)) (then
      (drop (call $send (local.get $source) (i32.const 1) (local.get $session) (local.get $a) (local.get $b)))
      (return (i64.const 0x7fffffffffff))))
    (if (i32.eq (local.get $op) (i32.const 21)) (then (global.set $observer (local.get $a)) (return (i64.const 0))))
    (if (i32.eq (local.get $op) (i32.const 22)) (then
      (loop $l (br_if $l (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))
      unreachable))
    (if (i32.eq (local.get $op) (i32.const 23)) (then (return (i64.const 0x7fffffffffff))))
    (if (i32.eq (local.get $op) (i32.const 24)) (then (return (i64.extend_i32_s
      (call $send (local.get $a) (i32.const 1) (local.get $b) (i32.const 0) (i32.const 0))))))
    (if (i32.eq (local.get $op) (i32.const 25)) (then (return (i64.extend_i32_s
      (call $socket_listen (local.get $a) (local.get $b) (local.get $c) (local.get $d))))))
    (if (i32.eq (local.get $op) (i32.const 26)) (then (return (i64.extend_i32_s
      (call $socket_send (local.get $a) (local.get $b) (local.get $c) (local.get $d))))))
    (if (i32.eq (local.get $op) (i32.const 27)) (then (return (i64.extend_i32_s (call $socket_close (local.get $a))))))
    (if (i32.eq (local.get $op) (i32.const 28)) (then (return (i64.extend_i32_s
      (call $socket_send_to (local.get $a) (local.get $b) (local.get $c) (local.get $d) (local.get $e))))))
    (if (i32.eq (local.get $op) (i32.const 29)) (then (return (i64.extend_i32_s
      (call $file_read (local.get $a) (local.get $b) (local.get $c) (local.get $d))))))
    (if (i32.eq (local.get $op) (i32.const 30)) (then (return (i64.extend_i32_s
      (call $file_write (local.get $a) (local.get $b) (local.get $c) (local.get $d) (local.get $e))))))
    (if (i32.eq (local.get $op) (i32.const 31)) (then (return (i64.extend_i32_s
      (call $file_remove (local.get $a) (local.get $b))))))
    (i64.const -1000))
  (func (export "skybox_dispatch")
    (param $ptype i32) (param $session i32) (param $source i32) (param $ptr i32) (param $size i32) (param $msg i32)
    (local $r i64) (local $n i32)
    (if (local.get $msg)
      (then
        (i32.store (i32.const 0) (local.get $msg))
        (drop (call $send (local.get $source) (i32.const 3) (i32.const 0) (i32.const 0) (i32.const 4)))
        (return)))
    (if (i32.and (i32.eq (local.get $ptype) (i32.const 3)) (i32.ge_u (local.get $size) (i32.const 28)))
      (then
        (local.set $r (call $op (local.get $ptr) (local.get $size) (local.get $source) (local.get $session)))
        (if (i32.and (i32.ne (local.get $session) (i32.const 0)) (i64.ne (local.get $r) (i64.const 0x7fffffffffff)))
          (then
            (i64.store (i32.const 16) (local.get $r))
            (drop (call $send (local.get $source) (i32.const 1) (local.get $session) (i32.const 16) (i32.const 8)))))
        (call $reset)
        (return)))
    (if (global.get $observer)
      (then
        (local.set $n (select (local.get $size) (i32.const 512) (i32.lt_u (local.get $size) (i32.const 512))))
        (i32.store (i32.const 32) (local.get $ptype))
        (i32.store (i32.const 36) (local.get $session))
        (i32.store (i32.const 40) (local.get $source))
        (i32.store (i32.const 44) (local.get $size))
        (memory.copy (i32.const 48) (local.get $ptr) (local.get $n))
        (drop (call $send (global.get $observer) (i32.const 3) (i32.const 0) (i32.const 32) (i32.add (i32.const 16) (local.get $n))))))
    (call $reset))
)"#
    )
}

/// A report from the ABI guest's observer: `(ptype, session, source, size, payload)`.
pub(crate) fn report(msg: &Message) -> (i32, i32, u32, i32, Vec<u8>) {
    let d = &msg.data;
    let word = |i: usize| i32::from_le_bytes(d[i..i + 4].try_into().unwrap());
    (word(0), word(4), word(8) as u32, word(12), d[16..].to_vec())
}

/// An echo guest: answers every request with its own payload; the smallest useful guest.
pub(crate) fn echo_guest() -> String {
    format!(
        r#"(module {IMPORTS}
  (memory (export "memory") 1)
  {ALLOCATOR}
  (func (export "skybox_start") (param i32 i32) (call $reset))
  (func (export "skybox_dispatch")
    (param $ptype i32) (param $session i32) (param $source i32) (param $ptr i32) (param $size i32) (param $msg i32)
    (if (i32.and (i32.ne (local.get $session) (i32.const 0)) (i32.ne (local.get $ptype) (i32.const 1)))
      (then (drop (call $send (local.get $source) (i32.const 1) (local.get $session) (local.get $ptr) (local.get $size)))))
    (call $reset))
)"#
    )
}

/// The disk cache of compiled guests for the tests: `$CARGO_TARGET_TMPDIR/wasm-cache`.
pub(crate) fn test_cache_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("wasm-cache")
}

/// The repository root.
pub(crate) fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// Runs skynet command `cmd` in guest `g` (the `abi` guest), its result copied to `out` (at most
/// `cap` bytes); returns the import's result.
pub(crate) fn command(h: &Harness, g: Handle, cmd: &str, param: Option<&str>, out: i32, cap: i32) -> i64 {
    h.poke(g, SCRATCH + 2048, cmd.as_bytes());
    let (pp, pl) = match param {
        Some(p) => {
            h.poke(g, SCRATCH + 3072, p.as_bytes());
            (SCRATCH + 3072, p.len() as i32)
        }
        None => (0, 0),
    };
    h.op(g, OP_COMMAND, &[SCRATCH + 2048, cmd.len() as i32, pp, pl, out, cap], &[])
}
