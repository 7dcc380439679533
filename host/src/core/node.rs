//! The node: every process-wide part of the host, wired together.
//!
//! The rest of the node's operations live beside it, one concern a file: `send` (the send path
//! and what confines it), `worker` (the worker loop), `timer` and `monitor` (their threads), `names` (names and messages waiting for one),
//! `lifetime` (launch, kill, reap), `command` (skynet's commands), `requests` (who answers a
//! request).
//!
//! Threads: `threads` workers run services; one timer thread delivers timeouts and nudges idle
//! workers; a monitor thread (when `endless` is set) watches for endless loops; the main thread
//! waits in [`Node::wait`] until an abort or until no service is left.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context as _;
use parking_lot::{Condvar, Mutex, RwLock};

use super::blocking::BlockingPool;
use super::handle::HandleTable;
use super::logger::Logger;
use super::message::{Handle, Message, ptype};
use super::monitor::WorkerSlot;
use super::names::Names;
use super::scheduler::{GlobalQueue, RunNext};
use super::service::{Actor, Service};
use super::tenant::Tenants;
use super::timer::{Clock, Timeouts};

/// Builds the runtime of a newly registered service from its launch arguments.
pub(crate) type RuntimeFactory =
    Box<dyn Fn(&Arc<Node>, &Arc<Service>, &str) -> anyhow::Result<Box<dyn Actor>> + Send + Sync>;

/// Told of every service that exits (e.g. the socket thread closing what it owned).
pub(crate) type ExitHook = Box<dyn Fn(Handle) + Send + Sync>;

/// How a node is set up; everything else comes from the environment (config keys).
pub struct NodeConfig {
    /// Worker threads.
    pub threads: usize,
    /// This node's harbor id (the high 8 bits of its addresses).
    pub harbor: u8,
    /// `logger`: a file for log lines; stdout when `None`.
    pub logger: Option<PathBuf>,
    /// Every config key, readable with `skynet.getenv`.
    pub env: HashMap<String, String>,
    /// `endless`: a message running longer than this is reported and interrupted; `None` (or 0)
    /// turns the monitor off.
    pub endless: Option<Duration>,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            threads: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
            harbor: 0,
            logger: None,
            env: HashMap::new(),
            endless: Some(Duration::from_secs(5)),
        }
    }
}

/// Why a message was not delivered.
#[derive(Debug, PartialEq, Eq)]
pub enum SendError {
    /// No live service at that address or name.
    NoDestination,
    /// The sender's profile does not allow it (logged).
    Denied,
    /// A limit is reached: the receiver's mailbox cap or the sender's tenant's messages in
    /// flight (logged, one line per burst).
    Full,
}

/// Where a service sends: an address, or a name as skynet takes them (`:0000000a`, `.name`, a
/// global `NAME`).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Dest<'a> {
    /// An address, live or not.
    Handle(Handle),
    /// A name, resolved once by the send.
    Name(&'a str),
}

/// One host process. Shared by every thread as `Arc<Node>`.
pub struct Node {
    /// Addresses and local names.
    pub handles: HandleTable,
    pub(super) global: GlobalQueue,
    /// The host clock (`skynet.now`, `skynet.hpc`).
    pub(crate) clock: Clock,
    pub(super) timeouts: Timeouts,
    logger: Logger,
    pub(super) env: RwLock<HashMap<String, String>>,
    pub(super) runtimes: RwLock<HashMap<String, RuntimeFactory>>,
    pub(super) names: Names,
    threads: usize,
    quit: AtomicBool,
    pub(super) exit_code: AtomicI32,
    /// The service told about every exit (`MONITOR`), 0 for none.
    pub(super) monitor_exit: AtomicU32,
    stopped: (Mutex<bool>, Condvar),
    joins: Mutex<Vec<JoinHandle<()>>>,
    /// What each worker runs, for the monitor.
    pub(super) workers: Box<[WorkerSlot]>,
    /// Each worker's run-next slot (see `scheduler`), by worker index.
    pub(super) run_next: Box<[RunNext]>,
    /// Blocking work off the workers; started on first use.
    blocking: OnceLock<BlockingPool>,
    endless: Option<Duration>,
    /// Subsystems beside the core (the socket thread), one of each type, built on first use.
    subsystems: Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
    pub(super) exit_hooks: RwLock<Vec<ExitHook>>,
    /// The tenants of its services (see `tenant`).
    pub(super) tenants: Tenants,
    /// Sends refused by a full mailbox, for logging one line per burst.
    pub(super) full_refusals: std::sync::atomic::AtomicU64,
}

impl Node {
    /// A node with its logger running and no thread started yet (see [`Node::start`]).
    pub fn new(config: NodeConfig) -> anyhow::Result<Arc<Node>> {
        let logger = Logger::start(config.logger.as_deref()).with_context(|| {
            format!("cannot open log file {}", config.logger.as_deref().unwrap_or("".as_ref()).display())
        })?;
        let threads = config.threads.max(1);
        Ok(Arc::new(Node {
            handles: HandleTable::new(config.harbor),
            global: GlobalQueue::default(),
            clock: Clock::new(),
            timeouts: Timeouts::default(),
            logger,
            env: RwLock::new(config.env),
            runtimes: RwLock::new(HashMap::new()),
            names: Names::default(),
            threads,
            quit: AtomicBool::new(false),
            exit_code: AtomicI32::new(0),
            monitor_exit: AtomicU32::new(0),
            stopped: (Mutex::new(false), Condvar::new()),
            joins: Mutex::new(Vec::new()),
            workers: (0..threads).map(|_| WorkerSlot::default()).collect(),
            run_next: (0..threads).map(|_| RunNext::default()).collect(),
            blocking: OnceLock::new(),
            endless: config.endless.filter(|d| !d.is_zero()),
            subsystems: Mutex::new(HashMap::new()),
            exit_hooks: RwLock::new(Vec::new()),
            tenants: Tenants::default(),
            full_refusals: std::sync::atomic::AtomicU64::new(0),
        }))
    }

    /// Makes `LAUNCH "name ..."` build services with `factory` (e.g. "snlua").
    pub fn register_runtime(&self, name: &str, factory: RuntimeFactory) {
        self.runtimes.write().insert(name.to_string(), factory);
    }

    /// The node's subsystem of type `T` (one per node), built by `make` on first use. A
    /// subsystem lives beside the core and reaches it through the node's public operations.
    pub(crate) fn subsystem<T: Any + Send + Sync>(
        self: &Arc<Self>,
        make: impl FnOnce(&Arc<Node>) -> anyhow::Result<Arc<T>>,
    ) -> anyhow::Result<Arc<T>> {
        let mut subsystems = self.subsystems.lock();
        if let Some(existing) = subsystems.get(&TypeId::of::<T>()) {
            return Ok(existing.clone().downcast::<T>().expect("keyed by its type"));
        }
        let made = make(self)?;
        subsystems.insert(TypeId::of::<T>(), made.clone());
        Ok(made)
    }

    /// Worker threads.
    pub(crate) fn threads(&self) -> usize {
        self.threads
    }

    /// Whether the config lists `name` in `public` (exactly, or by a pattern ending in `*`: a
    /// prefix): a service bound to it takes messages from every tenant.
    pub(crate) fn is_public_name(&self, name: &str) -> bool {
        self.env.read().get("public").is_some_and(|list| {
            list.split(',').map(str::trim).any(|p| match p.strip_suffix('*') {
                Some(prefix) => name.starts_with(prefix),
                None => p == name,
            })
        })
    }

    /// Calls `hook` with the address of every service that exits from now on.
    pub(crate) fn on_exit(&self, hook: ExitHook) {
        self.exit_hooks.write().push(hook);
    }

    /// Starts the workers, the timer and (with an `endless` limit) the monitor.
    pub fn start(self: &Arc<Self>) -> anyhow::Result<()> {
        let mut joins = self.joins.lock();
        let mut spawn = |name: String, run: Box<dyn FnOnce() + Send>| -> anyhow::Result<()> {
            joins.push(std::thread::Builder::new().name(name).spawn(run)?);
            Ok(())
        };
        for index in 0..self.threads {
            let node = self.clone();
            spawn(format!("skybox-worker-{index}"), Box::new(move || super::worker::run(&node, index)))?;
        }
        let node = self.clone();
        spawn("skybox-timer".into(), Box::new(move || super::timer::run(&node)))?;
        drop(joins);
        self.start_monitor()
    }

    /// Starts the monitor thread alone (when `endless` is set): [`Node::start`], and a replay,
    /// whose one service an endless loop must not hang either.
    pub(crate) fn start_monitor(self: &Arc<Self>) -> anyhow::Result<()> {
        if let Some(limit) = self.endless {
            let node = self.clone();
            let monitor = std::thread::Builder::new()
                .name("skybox-monitor".into())
                .spawn(move || super::monitor::run(&node, limit))?;
            self.joins.lock().push(monitor);
        }
        Ok(())
    }

    /// Blocks until the node stops (abort, or no service left), joins its threads, flushes the
    /// log and returns the exit code.
    pub fn wait(&self) -> i32 {
        {
            let (lock, cv) = &self.stopped;
            let mut stopped = lock.lock();
            while !*stopped {
                cv.wait(&mut stopped);
            }
        }
        self.global.wake_all();
        self.join_threads();
        if let Some(pool) = self.blocking.get() {
            pool.stop();
        }
        // Services still registered (an abort) release their runtimes here, on this thread.
        for service in self.handles.all() {
            self.kill(service.handle());
        }
        self.tenants.clear_queues();
        self.logger.shutdown();
        self.exit_code.load(Ordering::SeqCst)
    }

    /// Joins the node's threads. A worker stuck in a handler (an endless loop) is first
    /// interrupted, then left behind: a stop must not hang.
    fn join_threads(&self) {
        const GRACE: Duration = Duration::from_secs(1);
        let started = std::time::Instant::now();
        let mut interrupted = false;
        let mut joins = std::mem::take(&mut *self.joins.lock());
        loop {
            let (done, busy): (Vec<_>, Vec<_>) = joins.into_iter().partition(|j| j.is_finished());
            for join in done {
                let _ = join.join();
            }
            joins = busy;
            if joins.is_empty() {
                return;
            }
            if started.elapsed() > GRACE && !interrupted {
                interrupted = true;
                for service in self.handles.all() {
                    service.interrupt(None);
                }
            } else if started.elapsed() > GRACE * 3 {
                self.log(0, format!("{} thread(s) still busy at exit; not waiting for them", joins.len()));
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// True once the node is stopping: the threads finish what they do and exit.
    pub(crate) fn is_stopping(&self) -> bool {
        self.quit.load(Ordering::Acquire)
    }

    /// Stops the node: workers finish their current message and exit; [`Node::wait`] returns `code`.
    pub fn abort(&self, code: i32) {
        self.exit_code.store(code, Ordering::SeqCst);
        self.quit.store(true, Ordering::Release);
        let (lock, cv) = &self.stopped;
        *lock.lock() = true;
        cv.notify_all();
        self.global.wake_all();
    }

    /// Writes one log line as `source`.
    pub(crate) fn log(&self, source: Handle, text: String) {
        self.logger.log(source, text);
    }

    /// Every config key and its value now.
    pub(crate) fn env_snapshot(&self) -> Vec<(String, String)> {
        self.env.read().iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    /// Writes every log line sent so far and stops the logger (a replay's last step).
    pub(crate) fn flush_log(&self) {
        self.logger.shutdown();
    }

    /// A config key (`skynet.getenv`).
    pub(crate) fn getenv(&self, key: &str) -> Option<String> {
        self.env.read().get(key).cloned()
    }

    /// Tells `to` that request `session` failed (an ERROR message from `from`).
    pub(crate) fn send_error(&self, from: Handle, to: Handle, session: i32) {
        if to != 0 {
            let _ = self.push(to, Message { source: from, session, ptype: ptype::ERROR, data: Vec::new() });
        }
    }

    /// Delivers RESPONSE(session) to `handle` after `ticks` centiseconds (at once if `ticks <= 0`).
    pub(crate) fn timeout(&self, handle: Handle, ticks: i64, session: i32) {
        if ticks <= 0 {
            let _ =
                self.push(handle, Message { source: 0, session, ptype: ptype::RESPONSE, data: Vec::new() });
        } else {
            self.timeouts.add(self.clock.now() + ticks as u64, handle, session);
        }
    }

    /// Runs `job` off the workers (see `blocking`); its result reaches `handle` as
    /// RESPONSE(`session`). The pool has `blocking_threads` threads (config, default 4).
    pub(crate) fn run_blocking(
        self: &Arc<Self>,
        handle: Handle,
        session: i32,
        job: super::blocking::Job,
    ) -> anyhow::Result<()> {
        let pool = match self.blocking.get() {
            Some(pool) => pool,
            None => {
                let threads =
                    self.getenv("blocking_threads").and_then(|t| t.trim().parse().ok()).unwrap_or(4);
                let pool = BlockingPool::start(self, threads)?;
                // A racing first use may have won; its pool is the one kept, this one stops.
                if let Err(pool) = self.blocking.set(pool) {
                    pool.stop();
                }
                self.blocking.get().expect("set above")
            }
        };
        pool.run(handle, session, job);
        Ok(())
    }
}
