//! The node: every process-wide part of the host (handles, the global queue, clock and timeouts,
//! logger, environment, runtimes) and the operations services use on it: send, launch, kill and
//! the skynet commands.
//!
//! Threads: `threads` workers run services; one timer thread delivers timeouts and nudges idle
//! workers; the main thread waits in [`Node::wait`] until an abort or until no service is left.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use parking_lot::{Condvar, Mutex, RwLock};

use super::handle::HandleTable;
use super::logger::Logger;
use super::mailbox::{Popped, Pushed};
use super::message::{Handle, Message, format_handle, parse_handle, ptype};
use super::monitor::{self, WorkerSlot};
use super::scheduler::{self, GlobalQueue, RunNext};
use super::service::{Actor, Service};
use super::timer::{Clock, Timeouts};

/// Builds the runtime of a newly registered service from its launch arguments.
pub type RuntimeFactory =
    Box<dyn Fn(&Arc<Node>, &Arc<Service>, &str) -> anyhow::Result<Box<dyn Actor>> + Send + Sync>;

/// How a node is set up; everything else comes from the environment (config keys).
pub struct NodeConfig {
    pub threads: usize,
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
}

pub struct Node {
    pub handles: HandleTable,
    global: GlobalQueue,
    pub clock: Clock,
    timeouts: Timeouts,
    logger: Logger,
    env: RwLock<HashMap<String, String>>,
    runtimes: RwLock<HashMap<String, RuntimeFactory>>,
    threads: usize,
    quit: AtomicBool,
    exit_code: AtomicI32,
    /// The service told about every exit (`MONITOR`), 0 for none.
    monitor_exit: AtomicU32,
    stopped: (Mutex<bool>, Condvar),
    joins: Mutex<Vec<JoinHandle<()>>>,
    /// The harbor service (skynet's `harbor` for node 0), 0 when none runs. While one runs,
    /// messages to a global name nobody has bound yet wait in `pending_names` (skynet's harbor
    /// queues them the same way); without one they fail at once.
    harbor_service: AtomicU32,
    pending_names: Mutex<HashMap<Box<str>, Vec<Message>>>,
    /// What each worker runs, for the monitor.
    workers: Box<[WorkerSlot]>,
    /// Each worker's run-next slot (see `scheduler`), by worker index.
    run_next: Box<[RunNext]>,
    /// Blocking work off the workers; started on first use.
    blocking: std::sync::OnceLock<super::blocking::BlockingPool>,
    endless: Option<Duration>,
}

impl Node {
    pub fn new(config: NodeConfig) -> anyhow::Result<Arc<Node>> {
        let logger = Logger::start(config.logger.as_deref()).with_context(|| {
            format!("cannot open log file {}", config.logger.as_deref().unwrap_or("".as_ref()).display())
        })?;
        Ok(Arc::new(Node {
            handles: HandleTable::new(config.harbor),
            global: GlobalQueue::default(),
            clock: Clock::new(),
            timeouts: Timeouts::default(),
            logger,
            env: RwLock::new(config.env),
            runtimes: RwLock::new(HashMap::new()),
            threads: config.threads.max(1),
            quit: AtomicBool::new(false),
            exit_code: AtomicI32::new(0),
            monitor_exit: AtomicU32::new(0),
            stopped: (Mutex::new(false), Condvar::new()),
            joins: Mutex::new(Vec::new()),
            harbor_service: AtomicU32::new(0),
            pending_names: Mutex::new(HashMap::new()),
            workers: (0..config.threads.max(1)).map(|_| WorkerSlot::default()).collect(),
            run_next: (0..config.threads.max(1)).map(|_| RunNext::default()).collect(),
            blocking: std::sync::OnceLock::new(),
            endless: config.endless.filter(|d| !d.is_zero()),
        }))
    }

    /// Makes `LAUNCH "name ..."` build services with `factory` (e.g. "snlua").
    pub fn register_runtime(&self, name: &str, factory: RuntimeFactory) {
        self.runtimes.write().insert(name.to_string(), factory);
    }

    /// Starts the workers and the timer thread.
    pub fn start(self: &Arc<Self>) -> anyhow::Result<()> {
        let mut joins = self.joins.lock();
        for index in 0..self.threads {
            let node = self.clone();
            joins.push(
                std::thread::Builder::new()
                    .name(format!("skybox-worker-{index}"))
                    .spawn(move || node.worker(index))?,
            );
        }
        let node = self.clone();
        joins.push(std::thread::Builder::new().name("skybox-timer".into()).spawn(move || node.timer())?);
        if let Some(limit) = self.endless {
            let node = self.clone();
            joins.push(
                std::thread::Builder::new()
                    .name("skybox-monitor".into())
                    .spawn(move || node.monitor(limit))?,
            );
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
        self.logger.shutdown();
        self.exit_code.load(Ordering::SeqCst)
    }

    /// Joins the workers and the timer. A worker stuck in a handler (an endless loop) is first
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

    pub fn is_stopping(&self) -> bool {
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

    pub fn log(&self, source: Handle, text: String) {
        self.logger.log(source, text);
    }

    // ---- message path -------------------------------------------------------------------

    /// Delivers `msg` to `dest`. On failure the message is dropped and its payload freed.
    #[inline]
    pub fn push(&self, dest: Handle, msg: Message) -> Result<(), SendError> {
        let service = self.handles.grab(dest).ok_or(SendError::NoDestination)?;
        match service.mailbox.push(msg) {
            Pushed::Queued => Ok(()),
            Pushed::Schedule => {
                self.global.schedule(service);
                Ok(())
            }
            Pushed::Closed(_) => Err(SendError::NoDestination),
        }
    }

    /// Sends from `from` to `dest` and counts it.
    #[inline]
    pub fn send(
        &self,
        from: &Service,
        source: Handle,
        dest: Handle,
        ptype: u8,
        session: i32,
        data: Vec<u8>,
    ) -> Result<(), SendError> {
        from.counters.messages_out.fetch_add(1, Ordering::Relaxed);
        self.push(dest, Message { source, session, ptype, data })
    }

    /// Resolves `:0000000a`, `.name` or a global `NAME` to a handle. A standalone node keeps
    /// global names in the same table as local ones (skynet's harbor 0 behaves the same).
    pub fn resolve(&self, name: &str) -> Option<Handle> {
        if name.starts_with(':') { parse_handle(name) } else { self.handles.find_name(name) }
    }

    /// Sends to a name (`:0000000a`, `.name` or a global `NAME`). A global name nobody bound yet
    /// is waited for while a harbor service runs.
    pub fn send_named(
        &self,
        from: &Service,
        source: Handle,
        name: &str,
        ptype: u8,
        session: i32,
        data: Vec<u8>,
    ) -> Result<(), SendError> {
        if let Some(dest) = self.resolve(name) {
            return self.send(from, source, dest, ptype, session, data);
        }
        let global = !name.starts_with(':') && !name.starts_with('.') && !name.is_empty();
        if !global || self.harbor_service.load(Ordering::Acquire) == 0 {
            return Err(SendError::NoDestination);
        }
        from.counters.messages_out.fetch_add(1, Ordering::Relaxed);
        let msg = Message { source, session, ptype, data };
        let mut pending = self.pending_names.lock();
        // Re-check under the lock: a binding flushes this map under the same lock.
        match self.resolve(name) {
            Some(dest) => {
                drop(pending);
                self.push(dest, msg)
            }
            None => {
                pending.entry(name.into()).or_default().push(msg);
                Ok(())
            }
        }
    }

    /// Binds `name` to `handle` (false if taken) and delivers what waited for the name.
    pub fn bind_name(&self, name: &str, handle: Handle) -> bool {
        let mut pending = self.pending_names.lock();
        // A dead service gets no name: it would keep the name, and what waits for it, forever.
        if self.handles.grab(handle).is_none() || !self.handles.bind_name(name, handle) {
            return false;
        }
        let waiting = pending.remove(name).unwrap_or_default();
        drop(pending);
        for msg in waiting {
            let (source, session, request) = (msg.source, msg.session, msg.is_request());
            if self.push(handle, msg).is_err() && request {
                // The service died in between: fail the request rather than drop it.
                self.send_error(handle, source, session);
            }
        }
        true
    }

    /// Marks `handle` as the harbor service (see `harbor_service`).
    pub fn set_harbor_service(&self, handle: Handle) {
        self.harbor_service.store(handle, Ordering::Release);
    }

    /// The harbor `handle` is gone: nothing waits for global names any more; waiting requests fail.
    pub fn clear_harbor_service(&self, handle: Handle) {
        if self.harbor_service.compare_exchange(handle, 0, Ordering::AcqRel, Ordering::Acquire).is_err() {
            return;
        }
        let waiting = std::mem::take(&mut *self.pending_names.lock());
        for msg in waiting.into_values().flatten() {
            self.bounce(handle, msg);
        }
    }

    /// Runs `job` off the workers (see `blocking`); its result reaches `handle` as
    /// RESPONSE(`session`). The pool has `blocking_threads` threads (config, default 4).
    pub fn run_blocking(
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
                let pool = super::blocking::BlockingPool::start(self, threads)?;
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

    /// Tells `to` that request `session` failed (an ERROR message from `from`).
    pub fn send_error(&self, from: Handle, to: Handle, session: i32) {
        if to != 0 {
            let _ = self.push(to, Message { source: from, session, ptype: ptype::ERROR, data: Vec::new() });
        }
    }

    // ---- lifetime -----------------------------------------------------------------------

    /// Registers and starts a service: `line` is `"runtime args..."`, e.g. `"snlua main 1 2"`.
    pub fn launch(self: &Arc<Self>, line: &str) -> anyhow::Result<Handle> {
        let line = line.trim();
        let (runtime, args) = line.split_once(' ').unwrap_or((line, ""));
        let service = self.handles.register(|handle| Arc::new(Service::new(handle, line)));
        let built = match self.runtimes.read().get(runtime) {
            Some(factory) => factory(self, &service, args.trim_start()),
            None => Err(anyhow!("unknown service type '{runtime}'")),
        };
        match built {
            Ok(actor) => {
                *service.actor.lock() = Some(actor);
                let handle = service.handle();
                // Born scheduled (see `mailbox`): hand it to the workers now that it is complete.
                self.global.push(service);
                Ok(handle)
            }
            Err(err) => {
                self.handles.retire(service.handle());
                service.mark_closed();
                Err(err.context(format!("launch {line} failed")))
            }
        }
    }

    /// Retires `handle`: it gets no further message, queued requests fail for their senders, and
    /// once it is not running its runtime is dropped and the requests it held fail too.
    pub fn kill(&self, handle: Handle) -> bool {
        let Some(service) = self.handles.retire(handle) else {
            return false;
        };
        service.mark_closed();
        for msg in service.mailbox.close() {
            self.bounce(handle, msg);
        }
        self.reap(&service);
        let monitor = self.monitor_exit.load(Ordering::Relaxed);
        if monitor != 0 && monitor != handle {
            let _ = self.push(
                monitor,
                Message { source: handle, session: 0, ptype: ptype::CLIENT, data: Vec::new() },
            );
        }
        if self.handles.live() == 0 && !self.is_stopping() {
            self.abort(self.exit_code.load(Ordering::SeqCst));
        }
        true
    }

    /// Drops the runtime of a closed service unless a worker is running it right now (that worker
    /// reaps it after the current message).
    fn reap(&self, service: &Arc<Service>) {
        let Some(mut slot) = service.actor.try_lock() else {
            return;
        };
        let Some(mut actor) = slot.take() else {
            return;
        };
        drop(slot);
        let held = actor.take_held_requests();
        drop(actor);
        for (source, session) in held {
            self.send_error(service.handle(), source, session);
        }
        // As skynet's snlua on a failed start: tell the launcher, so a newservice still waiting
        // for this service fails instead of hanging (it ignores services it is not waiting for).
        if let Some(launcher) = self.resolve(".launcher")
            && launcher != service.handle()
        {
            let msg =
                Message { source: service.handle(), session: 0, ptype: ptype::TEXT, data: b"ERROR".to_vec() };
            let _ = self.push(launcher, msg);
        }
        for msg in service.mailbox.close() {
            self.bounce(service.handle(), msg);
        }
    }

    /// A message that reached a dead service: a request gets an ERROR reply, anything else is dropped.
    fn bounce(&self, dead: Handle, msg: Message) {
        if msg.is_request() {
            self.send_error(dead, msg.source, msg.session);
        }
    }

    // ---- threads ------------------------------------------------------------------------

    fn worker(self: Arc<Self>, index: usize) {
        let run_next = &self.run_next[index];
        scheduler::enter_worker(run_next);
        let weight = scheduler::worker_weight(index);
        let worker = &self.workers[index];
        let mut streak = 0;
        while !self.is_stopping() {
            let next = match run_next.take() {
                Some(service) if streak < scheduler::RUN_NEXT_STREAK || self.global.is_empty() => {
                    streak += 1;
                    Some(service)
                }
                Some(service) => {
                    // Others have waited long enough: to the back of the queue.
                    self.global.push(service);
                    streak = 0;
                    self.global.pop()
                }
                None => {
                    streak = 0;
                    self.global.pop()
                }
            };
            let next = next.or_else(|| self.global.idle(|| self.is_stopping(), || self.steal(index)));
            if let Some(service) = next {
                self.run(service, weight, worker);
            }
        }
    }

    /// Another worker's run-next service, for a worker about to sleep.
    fn steal(&self, thief: usize) -> Option<Arc<Service>> {
        self.run_next.iter().enumerate().filter(|&(i, _)| i != thief).find_map(|(_, slot)| slot.take())
    }

    /// Runs a batch of `service`'s messages, then requeues it if it still has work.
    fn run(&self, service: Arc<Service>, weight: i8, worker: &WorkerSlot) {
        if service.is_closed() {
            self.reap(&service);
            return;
        }
        let mut slot = service.actor.lock();
        let Some(actor) = slot.as_mut() else {
            return;
        };
        let mut budget = 0;
        let mut first = true;
        let mut left;
        loop {
            let Some(Popped { msg, remaining, overload }) = service.mailbox.pop() else {
                // Drained: the mailbox is unscheduled; the next push schedules it again.
                drop(slot);
                if service.is_closed() {
                    self.reap(&service);
                }
                return;
            };
            if first {
                budget = scheduler::batch_size(weight, remaining + 1);
                first = false;
            }
            left = remaining;
            if let Some(len) = overload {
                self.log(service.handle(), format!("May overload, message queue length = {len}"));
            }
            let counters = &service.counters;
            counters.messages_in.fetch_add(1, Ordering::Relaxed);
            service.log_message(&msg, &self.clock);
            let started = self.clock.hpc();
            counters.running_since.store(started, Ordering::Relaxed);
            worker.begin(msg.source, service.handle(), started);
            actor.dispatch(msg);
            worker.end();
            counters.running_since.store(0, Ordering::Relaxed);
            counters.busy_ns.fetch_add(self.clock.hpc().saturating_sub(started), Ordering::Relaxed);
            budget -= 1;
            if budget == 0 || service.is_closed() || self.is_stopping() {
                break;
            }
        }
        drop(slot);
        if service.is_closed() {
            self.reap(&service);
        } else if left > 0 || !service.mailbox.unschedule_if_empty() {
            self.global.push(service);
        }
    }

    fn timer(self: Arc<Self>) {
        const TICK: Duration = Duration::from_micros(2500);
        let mut due = Vec::new();
        while !self.is_stopping() {
            std::thread::sleep(TICK);
            self.timeouts.expire(self.clock.now(), &mut due);
            for d in due.drain(..) {
                // A timeout for a service that is gone has nobody to tell.
                let _ = self.push(
                    d.handle,
                    Message { source: 0, session: d.session, ptype: ptype::RESPONSE, data: Vec::new() },
                );
            }
            // A worker stuck in a long message (or batch) would hold its run-next service back.
            let tick = self.global.advance_tick();
            for slot in self.run_next.iter() {
                if let Some(service) = slot.take_older(tick - 1) {
                    self.global.push(service);
                }
            }
            if self.global.has_sleepers() && !self.global.is_empty() {
                self.global.wake_one();
            }
        }
    }

    fn monitor(self: Arc<Self>, limit: Duration) {
        let limit_ns = limit.as_nanos() as u64;
        let mut reported = vec![0u64; self.workers.len()];
        while !self.is_stopping() {
            std::thread::sleep(monitor::poll_interval(limit));
            let now = self.clock.hpc();
            for (slot, reported) in self.workers.iter().zip(reported.iter_mut()) {
                let Some((source, dest, since)) = slot.current() else { continue };
                if now.saturating_sub(since) < limit_ns {
                    continue;
                }
                let Some(service) = self.handles.grab(dest) else { continue };
                if *reported != since {
                    *reported = since;
                    self.log(
                        dest,
                        format!(
                            "A message from [ :{source:08x} ] to [ :{dest:08x} ] maybe in an endless loop"
                        ),
                    );
                    service.endless.store(true, Ordering::Relaxed);
                }
                // Again at every poll while the same message runs: the handler may be between
                // coroutines, or in native code, when one interrupt lands.
                service.interrupt(Some(since));
            }
        }
    }

    // ---- commands -----------------------------------------------------------------------

    /// skynet's `skynet_command`: `Ok(None)` where skynet returns NULL, `Err` for a malformed
    /// parameter (raised as a Lua error by the caller).
    pub fn command(
        self: &Arc<Self>,
        from: &Arc<Service>,
        cmd: &str,
        param: Option<&str>,
    ) -> anyhow::Result<Option<String>> {
        let me = from.handle();
        let param_str = || param.ok_or_else(|| anyhow!("{cmd} needs a parameter"));
        match cmd {
            "TIMEOUT" => {
                let ticks: i64 =
                    param_str()?.trim().parse().with_context(|| format!("TIMEOUT: bad time {param:?}"))?;
                let session = from.new_session();
                self.timeout(me, ticks, session);
                Ok(Some(session.to_string()))
            }
            "REG" => match param {
                None | Some("") => Ok(Some(format_handle(me))),
                Some(name) => Ok(self.bind_name(name, me).then(|| name.to_string())),
            },
            "QUERY" => {
                let name = param_str()?;
                Ok(self.resolve(name).filter(|h| self.handles.grab(*h).is_some()).map(format_handle))
            }
            "NAME" => {
                // As skynet: a malformed parameter names nothing and returns nil.
                let p = param_str()?;
                let Some((name, addr)) = p.split_once(' ') else { return Ok(None) };
                let Some(handle) = parse_handle(addr.trim()) else { return Ok(None) };
                Ok(self.bind_name(name, handle).then(|| name.to_string()))
            }
            "EXIT" => {
                self.log(me, "KILL self".into());
                self.kill(me);
                Ok(None)
            }
            "KILL" => {
                let target = self.resolve(param_str()?);
                if let Some(handle) = target {
                    self.log(me, format!("KILL :{handle:x}"));
                    self.kill(handle);
                }
                Ok(None)
            }
            "LAUNCH" => match self.launch(param_str()?) {
                Ok(handle) => Ok(Some(format_handle(handle))),
                Err(err) => {
                    self.log(me, format!("{err:#}"));
                    Ok(None)
                }
            },
            "GETENV" => Ok(self.env.read().get(param_str()?).cloned()),
            "SETENV" => {
                let p = param_str()?;
                let (key, value) = p.split_once(' ').unwrap_or((p, ""));
                let mut env = self.env.write();
                if env.contains_key(key) {
                    bail!("SETENV {key}: the key is already set");
                }
                env.insert(key.to_string(), value.to_string());
                Ok(None)
            }
            "STARTTIME" => Ok(Some(self.clock.start_secs().to_string())),
            "ABORT" => {
                let code = param.and_then(|p| p.trim().parse().ok()).unwrap_or(0);
                self.abort(code);
                Ok(None)
            }
            "MONITOR" => match param {
                None | Some("") => {
                    let m = self.monitor_exit.load(Ordering::Relaxed);
                    Ok((m != 0).then(|| format_handle(m)))
                }
                Some(addr) => {
                    let handle = self.resolve(addr).ok_or_else(|| anyhow!("MONITOR: bad address {addr}"))?;
                    self.monitor_exit.store(handle, Ordering::Relaxed);
                    Ok(None)
                }
            },
            "STAT" => self.stat(from, param_str()?).map(Some),
            // skybox: the queue length of another service, read without a message (a proxy
            // watching an overloaded service must not queue behind its backlog).
            "MQLEN" => {
                let handle = self.resolve(param_str()?.trim());
                Ok(handle.and_then(|h| self.handles.grab(h)).map(|s| s.mqlen().to_string()))
            }
            "LOGON" | "LOGOFF" => {
                let handle =
                    self.resolve(param_str()?).ok_or_else(|| anyhow!("{cmd}: bad address {param:?}"))?;
                let Some(target) = self.handles.grab(handle) else { return Ok(None) };
                if cmd == "LOGOFF" {
                    target.set_message_log(None);
                    return Ok(None);
                }
                let dir = self.getenv("logpath").unwrap_or_else(|| ".".into());
                let path = PathBuf::from(dir).join(format!("{handle:08x}.log"));
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .with_context(|| format!("LOGON: cannot open {}", path.display()))?;
                self.log(handle, format!("Open log file {}", path.display()));
                target.set_message_log(Some(file));
                Ok(None)
            }
            "SIGNAL" => {
                let p = param_str()?;
                let (addr, signal) = p.split_once(' ').unwrap_or((p, "0"));
                let signal: i32 =
                    signal.trim().parse().with_context(|| format!("SIGNAL: bad signal {signal}"))?;
                let handle =
                    self.resolve(addr.trim()).ok_or_else(|| anyhow!("SIGNAL: bad address {addr}"))?;
                // As skynet's snlua: 0 interrupts the running handler, 1 logs the memory in use.
                if let Some(target) = self.handles.grab(handle) {
                    match signal {
                        0 => {
                            self.log(me, format!("Send signal 0 to :{handle:08x}"));
                            target.interrupt(None);
                        }
                        1 => {
                            let bytes = target.counters.memory.load(Ordering::Relaxed);
                            self.log(handle, format!("Current Memory {:.3}K", bytes as f64 / 1024.0));
                        }
                        _ => {}
                    }
                }
                Ok(None)
            }
            _ => bail!("unknown command {cmd}"),
        }
    }

    fn stat(&self, service: &Service, what: &str) -> anyhow::Result<String> {
        let c = &service.counters;
        Ok(match what {
            "mqlen" => service.mqlen().to_string(),
            "endless" => u8::from(service.take_endless()).to_string(),
            "cpu" => format!("{:.6}", c.busy_ns.load(Ordering::Relaxed) as f64 / 1e9),
            "time" => {
                let since = c.running_since.load(Ordering::Relaxed);
                let secs = if since == 0 { 0.0 } else { self.clock.hpc().saturating_sub(since) as f64 / 1e9 };
                format!("{secs:.6}")
            }
            "message" => c.messages_in.load(Ordering::Relaxed).to_string(),
            "messages_out" => c.messages_out.load(Ordering::Relaxed).to_string(),
            "mqpeak" => service.mailbox.peak().to_string(),
            _ => bail!("STAT: unknown item {what}"),
        })
    }

    /// Delivers RESPONSE(session) to `handle` after `ticks` centiseconds (at once if `ticks <= 0`).
    pub fn timeout(&self, handle: Handle, ticks: i64, session: i32) {
        if ticks <= 0 {
            let _ =
                self.push(handle, Message { source: 0, session, ptype: ptype::RESPONSE, data: Vec::new() });
        } else {
            self.timeouts.add(self.clock.now() + ticks as u64, handle, session);
        }
    }

    pub fn getenv(&self, key: &str) -> Option<String> {
        self.env.read().get(key).cloned()
    }
}
