//! The node: every process-wide part of the host, wired together, and the send path.
//!
//! The rest of the node's operations live beside it, one concern a file: `worker` (the worker
//! loop), `timer` and `monitor` (their threads), `names` (names and messages waiting for one),
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
use super::mailbox::Pushed;
use super::message::{Handle, Message, is_answer, ptype};
use super::monitor::WorkerSlot;
use super::names::Names;
use super::profile::Profile;
use super::requests::{HeldRequests, Passed};
use super::scheduler::{GlobalQueue, RunNext};
use super::service::{Actor, Service};
use super::tenant::{Tenant, Tenants};
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
    full_refusals: std::sync::atomic::AtomicU64,
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
        if let Some(limit) = self.endless {
            let node = self.clone();
            spawn("skybox-monitor".into(), Box::new(move || super::monitor::run(&node, limit)))?;
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

    /// A config key (`skynet.getenv`).
    pub(crate) fn getenv(&self, key: &str) -> Option<String> {
        self.env.read().get(key).cloned()
    }

    // ---- the message path ---------------------------------------------------------------

    /// Delivers `msg` to `dest`: the host's own messages and answers, which no cap holds back.
    /// On failure the message is dropped and its payload freed.
    #[inline]
    pub fn push(&self, dest: Handle, msg: Message) -> Result<(), SendError> {
        let service = self.handles.grab(dest).ok_or(SendError::NoDestination)?;
        let pushed = service.mailbox.push(msg);
        self.pushed(service, pushed)
    }

    /// Delivers a message a service sent to `service`, within its mailbox's caps unless it is
    /// an answer; `charged`: the sender's tenant, which counted it in flight.
    #[inline]
    fn deliver(
        &self,
        service: Arc<Service>,
        msg: Message,
        charged: Option<&'static Tenant>,
    ) -> Result<(), SendError> {
        let pushed = if is_answer(msg.ptype) {
            service.mailbox.push(msg)
        } else {
            service.mailbox.push_sent(msg, charged)
        };
        self.pushed(service, pushed)
    }

    #[inline]
    fn pushed(&self, service: Arc<Service>, pushed: Pushed) -> Result<(), SendError> {
        match pushed {
            Pushed::Queued => Ok(()),
            Pushed::Schedule => {
                self.global.schedule(service);
                Ok(())
            }
            Pushed::Closed(_) => Err(SendError::NoDestination),
            Pushed::Full(msg) => {
                let n = self.full_refusals.fetch_add(1, Ordering::Relaxed) + 1;
                // A flood logs its first refusal, then one in a thousand.
                if (n - 1).is_multiple_of(1000) {
                    self.log(
                        msg.source,
                        format!(
                            "send refused: :{:08x}'s mailbox is at its cap ({n} refused so far)",
                            service.handle()
                        ),
                    );
                }
                Err(SendError::Full)
            }
        }
    }

    /// The send path of a service: `from` (running now, holding `held`) sends as `source` to
    /// `dest`. The name is resolved once; a global name nobody has bound yet is waited for
    /// while a harbor runs (see `names`). A service that is not trusted sends as its profile
    /// and tenant allow (see [`Node::send_confined`]). The requests `from` holds follow the
    /// rules of `requests`: a request passed on for its caller that cannot be delivered is
    /// answered with ERROR here. On failure the payload is freed.
    #[inline]
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn send(
        &self,
        from: &Service,
        held: &mut HeldRequests,
        source: Handle,
        dest: Dest<'_>,
        ptype: u8,
        session: i32,
        data: Vec<u8>,
    ) -> Result<(), SendError> {
        from.counters.messages_out.fetch_add(1, Ordering::Relaxed);
        let msg = Message { source, session, ptype, data };
        let (sent, dest) = if from.profile().is_trusted() {
            let to = |handle: Handle, msg| match self.handles.grab(handle) {
                Some(service) => self.deliver(service, msg, None),
                None => Err(SendError::NoDestination),
            };
            match dest {
                Dest::Handle(handle) => (to(handle, msg), Some(handle)),
                Dest::Name(name) => match self.resolve(name) {
                    Some(handle) => (to(handle, msg), Some(handle)),
                    None => (self.push_unbound(name, msg), None),
                },
            }
        } else {
            self.send_confined(from, held, dest, msg)
        };
        let me = from.handle();
        if held.sent(me, source, dest, ptype, session, sent.is_ok()) == Passed::Undelivered {
            self.send_error(me, source, session);
        }
        sent
    }

    /// The send path of a service that is not trusted: as itself unless its profile has
    /// `redirect`; answers only to requests it holds; requests and one-way messages only to
    /// whom its profile's `send` names (its tenant, public names, names), each counted in
    /// flight against its tenant. Each refusal is a log line and an error to the sender.
    fn send_confined(
        &self,
        from: &Service,
        held: &mut HeldRequests,
        dest: Dest<'_>,
        msg: Message,
    ) -> (Result<(), SendError>, Option<Handle>) {
        let (me, profile) = (from.handle(), from.profile());
        let refuse = |why: String| {
            self.log(me, format!("send refused: profile {} {why}", profile.name()));
            Err(SendError::Denied)
        };
        if msg.source != me && !profile.may_redirect() {
            return (refuse(format!("may not send as :{:08x}", msg.source)), None);
        }
        let handle = match dest {
            Dest::Handle(handle) => handle,
            Dest::Name(name) => match self.resolve(name) {
                Some(handle) => handle,
                None => return (Err(SendError::NoDestination), None),
            },
        };
        let Some(target) = self.handles.grab(handle) else {
            return (Err(SendError::NoDestination), Some(handle));
        };
        if is_answer(msg.ptype) {
            // Taken here (rule 2 of `requests`), so the caller's `held.sent` finds nothing to do.
            if !held.take(handle, msg.session) {
                let why =
                    format!("may answer only requests it holds (session {} of :{handle:08x})", msg.session);
                return (refuse(why), None);
            }
            return (self.deliver(target, msg, None), None);
        }
        if !self.may_reach(from, profile, &target) && !self.is_launch_report(handle, &msg) {
            return (
                refuse(format!("may not send to :{handle:08x} (not its tenant's, not public)")),
                Some(handle),
            );
        }
        let charged = match from.tenant() {
            Some(tenant) => match tenant.charge(msg.data.len()) {
                Ok(()) => Some(tenant),
                Err(over) => {
                    if tenant.note_refusal() {
                        self.log(
                            me,
                            format!("send refused: tenant {} is at its limit of {over}", tenant.name()),
                        );
                    }
                    return (Err(SendError::Full), Some(handle));
                }
            },
            None => None,
        };
        (self.deliver(target, msg, charged), Some(handle))
    }

    /// A service's report of its own start to `.launcher` (TEXT "" started, "ERROR" failed: the
    /// only words the launcher's text protocol takes), which every service may send.
    fn is_launch_report(&self, dest: Handle, msg: &Message) -> bool {
        msg.ptype == ptype::TEXT
            && (msg.data.is_empty() || msg.data == b"ERROR")
            && self.handles.find_name(".launcher") == Some(dest)
    }

    /// Whether a service under `profile` may send requests and one-way messages to `target`.
    fn may_reach(&self, from: &Service, profile: &Profile, target: &Service) -> bool {
        let same_tenant =
            matches!((from.tenant(), target.tenant()), (Some(a), Some(b)) if std::ptr::eq(a, b));
        profile.sends_anywhere()
            || (profile.sends_to_tenant() && same_tenant)
            || (profile.sends_to_public() && target.is_public())
            || profile.send_names().iter().any(|name| self.resolve(name) == Some(target.handle()))
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
