//! Tenants: the parties whose services share one node, each held to its own totals and given
//! its fair share of the workers.
//!
//! A service belongs to at most one tenant, fixed at launch (see `Node::confine`); the
//! operator's own services belong to none and are scheduled one by one as always. A tenant's
//! services wait in the tenant's run queue, and the tenant, not each service, takes one place
//! in the global queue: with a thousand busy services it still waits its turn once, behind the
//! other tenants. A tenant holds at most `workers` workers at a time (by default one less than
//! the node has), so a tenant whose handlers loop until their fuel runs out still leaves a worker
//! to the rest, and it is held back for the rest of a second once it burnt its `fuel` per
//! second.
//!
//! Totals are counted with atomics and enforced where the thing is asked for: services at
//! launch, messages and bytes in flight at send, memory where a runtime grows it. Services and
//! memory are released by a guard's `Drop` ([`Member`], [`MemoryCharge`]); a message's charge
//! by the mailbox that holds it, when the message leaves it (see `mailbox`). So nothing is
//! released twice or forgotten on an error path.
//!
//! A tenant lives as long as the process: it is made once per name and never freed (a node has
//! a handful), so services, queued messages and the global queue refer to it as a plain
//! `&'static Tenant`, with no reference count to touch on the message path.
//!
//! The config names a tenant's limits: `tenant_NAME = "services=N memory=BYTES messages=N
//! inflight=BYTES fuel=N workers=N"`.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use anyhow::{anyhow, bail};
use parking_lot::Mutex;

use super::service::Service;

/// A tenant's limits. `0` for `fuel` means unmetered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Services alive at once.
    pub(crate) services: usize,
    /// Bytes of memory its runtimes may grow to, together (guests' linear memories).
    pub(crate) memory: usize,
    /// Messages its services sent that no receiver has taken yet.
    pub(crate) messages: usize,
    /// Bytes of those messages.
    pub(crate) inflight: usize,
    /// Fuel its guests may burn per second, together; past it the tenant waits for the next
    /// second.
    pub(crate) fuel: u64,
    /// Workers running its services at once.
    pub(crate) workers: usize,
}

impl Limits {
    /// What a tenant gets without a `tenant_NAME` line: enough for real work, not enough to
    /// take the node down.
    fn default_for(threads: usize) -> Limits {
        Limits {
            services: 1000,
            memory: 1 << 30,
            messages: 100_000,
            inflight: 64 << 20,
            fuel: 0,
            workers: threads.saturating_sub(1).max(1),
        }
    }

    /// Parses `key=value` words over the defaults.
    pub(crate) fn parse(name: &str, spec: &str, threads: usize) -> anyhow::Result<Limits> {
        let mut limits = Limits::default_for(threads);
        for word in spec.split_whitespace() {
            let (key, value) =
                word.split_once('=').ok_or_else(|| anyhow!("tenant {name}: '{word}' is not key=value"))?;
            let bad = |e: anyhow::Error| anyhow!("tenant {name}: {key}: bad value '{value}' ({e})");
            let count = || crate::config::parse_count(value).map_err(bad);
            let bytes = || crate::config::parse_bytes(value).map_err(bad);
            match key {
                "services" => limits.services = count()? as usize,
                "memory" => limits.memory = bytes()? as usize,
                "messages" => limits.messages = count()? as usize,
                "inflight" => limits.inflight = bytes()? as usize,
                "fuel" => limits.fuel = count()?,
                "workers" => limits.workers = (count()? as usize).max(1),
                _ => bail!(
                    "tenant {name}: unknown key '{key}' (services, memory, messages, inflight, fuel, workers)"
                ),
            }
        }
        Ok(limits)
    }
}

/// Where a tenant's services wait for a worker.
///
/// Invariant: `queued` is true exactly while the tenant sits in the global queue; it is put
/// there only when it is [`RunQueue::runnable`], so it is there at most once, and whoever pops
/// it finds a service in `ready`.
#[derive(Default)]
struct RunQueue {
    ready: VecDeque<Arc<Service>>,
    /// Workers running one of its services now.
    running: usize,
    queued: bool,
    /// Out of fuel for this second.
    throttled: bool,
}

/// One tenant: its limits, what it holds now, its run queue.
pub struct Tenant {
    name: Box<str>,
    limits: Limits,
    services: AtomicUsize,
    memory: AtomicUsize,
    /// Messages in flight (high [`COUNT_BITS`] bits) and their bytes (the rest), in one word so
    /// that a charge is one compare-and-swap and a release one subtraction.
    flight: AtomicU64,
    /// Fuel burnt in the current second.
    fuel: AtomicU64,
    /// Refusals since the last one logged (a flood logs one line per [`LOG_EVERY`]).
    refusals: AtomicU64,
    run: Mutex<RunQueue>,
}

/// Bits of [`Tenant::flight`] that count messages (the low bits count bytes).
const COUNT_BITS: u32 = 24;
const BYTE_BITS: u32 = 64 - COUNT_BITS;
const BYTE_MASK: u64 = (1 << BYTE_BITS) - 1;

/// A refusal of a flood is logged once, then once every this many.
const LOG_EVERY: u64 = 1000;

/// Why a tenant refused something.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Over {
    Services,
    Memory,
    Messages,
    Inflight,
}

impl std::fmt::Display for Over {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Over::Services => "services",
            Over::Memory => "memory",
            Over::Messages => "messages in flight",
            Over::Inflight => "bytes in flight",
        })
    }
}

/// Adds `n` to `counter` unless that passes `limit`.
fn try_add(counter: &AtomicUsize, n: usize, limit: usize) -> bool {
    counter
        .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |held| held.checked_add(n).filter(|&t| t <= limit))
        .is_ok()
}

impl Tenant {
    pub(crate) fn new(name: &str, mut limits: Limits) -> Tenant {
        limits.messages = limits.messages.min((1 << COUNT_BITS) - 1);
        limits.inflight = limits.inflight.min(BYTE_MASK as usize);
        Tenant {
            name: name.into(),
            limits,
            services: AtomicUsize::new(0),
            memory: AtomicUsize::new(0),
            flight: AtomicU64::new(0),
            fuel: AtomicU64::new(0),
            refusals: AtomicU64::new(0),
            run: Mutex::new(RunQueue::default()),
        }
    }

    /// The tenant's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn limits(&self) -> &Limits {
        &self.limits
    }

    /// What it holds now: services, memory, messages and bytes in flight, fuel this second.
    pub fn usage(&self) -> (usize, usize, usize, usize, u64) {
        let flight = self.flight.load(Ordering::Relaxed);
        (
            self.services.load(Ordering::Relaxed),
            self.memory.load(Ordering::Relaxed),
            (flight >> BYTE_BITS) as usize,
            (flight & BYTE_MASK) as usize,
            self.fuel.load(Ordering::Relaxed),
        )
    }

    /// Counts one more service, within `services`.
    pub(crate) fn join(&'static self) -> Result<Member, Over> {
        if !try_add(&self.services, 1, self.limits.services) {
            return Err(Over::Services);
        }
        Ok(Member { tenant: self })
    }

    /// Charges a message of `bytes` sent by one of its services, within `messages` and
    /// `inflight`. The mailbox that queues the message releases it (`release`) when the
    /// message is taken or dropped.
    pub(crate) fn charge(&self, bytes: usize) -> Result<(), Over> {
        let mut over = Over::Messages;
        self.flight
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |flight| {
                let (count, held) = ((flight >> BYTE_BITS) as usize, (flight & BYTE_MASK) as usize);
                if count >= self.limits.messages {
                    over = Over::Messages;
                    return None;
                }
                match held.checked_add(bytes).filter(|&b| b <= self.limits.inflight) {
                    Some(b) => Some((((count + 1) as u64) << BYTE_BITS) | b as u64),
                    None => {
                        over = Over::Inflight;
                        None
                    }
                }
            })
            .map(drop)
            .map_err(|_| over)
    }

    /// Releases a message [`Tenant::charge`] counted.
    pub(crate) fn release(&self, bytes: usize) {
        self.flight.fetch_sub((1 << BYTE_BITS) | bytes as u64, Ordering::AcqRel);
    }

    /// An account of memory a runtime grows, charged within `memory` as it grows.
    pub(crate) fn memory_account(&'static self) -> MemoryCharge {
        MemoryCharge { tenant: self, bytes: 0 }
    }

    /// Bytes of memory it may still grow by, together.
    pub(crate) fn memory_left(&self) -> usize {
        self.limits.memory.saturating_sub(self.memory.load(Ordering::Relaxed))
    }

    /// Counts a refusal; true when this one should be logged (the first of a burst, then one in
    /// [`LOG_EVERY`]).
    pub(crate) fn note_refusal(&self) -> bool {
        self.refusals.fetch_add(1, Ordering::Relaxed).is_multiple_of(LOG_EVERY)
    }

    /// Whether it counts its guests' fuel (has a `fuel` per second).
    #[inline]
    pub(crate) fn meters_fuel(&self) -> bool {
        self.limits.fuel != 0
    }

    /// Adds fuel its guests burnt.
    pub(crate) fn burn(&self, fuel: u64) {
        if self.limits.fuel != 0 {
            self.fuel.fetch_add(fuel, Ordering::Relaxed);
        }
    }

    // ---- the run queue (see `scheduler`) ---------------------------------------------------

    fn runnable(&self, q: &RunQueue) -> bool {
        !q.queued && !q.throttled && !q.ready.is_empty() && q.running < self.limits.workers
    }

    /// Marks the tenant queued if it is runnable: true when the caller must put it into the
    /// global queue.
    fn enqueue_if_runnable(&self, q: &mut RunQueue) -> bool {
        let go = self.runnable(q);
        q.queued |= go;
        go
    }

    /// `service`, of this tenant, has work. True when the caller must put the tenant into the
    /// global queue.
    pub(crate) fn ready(&self, service: Arc<Service>) -> bool {
        let mut q = self.run.lock();
        q.ready.push_back(service);
        self.enqueue_if_runnable(&mut q)
    }

    /// A worker popped the tenant from the global queue: the service it runs now, and whether
    /// the tenant goes back into the global queue for another worker.
    pub(crate) fn take(&self) -> (Option<Arc<Service>>, bool) {
        let mut q = self.run.lock();
        q.queued = false;
        let service = q.ready.pop_front();
        if service.is_some() {
            q.running += 1;
        }
        let again = self.enqueue_if_runnable(&mut q);
        (service, again)
    }

    /// A worker is done with one of its services (`requeue`: the service, when it has work
    /// left). True when the caller must put the tenant into the global queue.
    pub(crate) fn done(&self, requeue: Option<Arc<Service>>) -> bool {
        let mut q = self.run.lock();
        q.running -= 1;
        if let Some(service) = requeue {
            q.ready.push_back(service);
        }
        if self.limits.fuel != 0 && self.fuel.load(Ordering::Relaxed) >= self.limits.fuel {
            q.throttled = true;
        }
        self.enqueue_if_runnable(&mut q)
    }

    /// A new second: the fuel count starts again. True when the caller must put the tenant,
    /// held back until now, into the global queue.
    pub(crate) fn new_second(&self) -> bool {
        if self.limits.fuel == 0 {
            return false;
        }
        self.fuel.store(0, Ordering::Relaxed);
        let mut q = self.run.lock();
        q.throttled = false;
        self.enqueue_if_runnable(&mut q)
    }
}

/// A service's place in its tenant: counted in `services` until dropped with the service.
pub struct Member {
    tenant: &'static Tenant,
}

impl Member {
    /// The tenant it counts in.
    pub fn tenant(&self) -> &'static Tenant {
        self.tenant
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.tenant.services.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Memory a runtime grew, counted against its tenant until dropped (with the runtime).
pub(crate) struct MemoryCharge {
    tenant: &'static Tenant,
    bytes: usize,
}

impl MemoryCharge {
    /// Adds `bytes` more, within the tenant's `memory`.
    pub(crate) fn grow(&mut self, bytes: usize) -> Result<(), Over> {
        if !try_add(&self.tenant.memory, bytes, self.tenant.limits.memory) {
            return Err(Over::Memory);
        }
        self.bytes += bytes;
        Ok(())
    }

    /// Counts exactly `bytes`, whatever the limit (memory a runtime already holds, as a Lua
    /// VM's heap after a message; see [`Tenant::memory_left`] for what it may grow to).
    pub(crate) fn settle(&mut self, bytes: usize) {
        if bytes > self.bytes {
            self.tenant.memory.fetch_add(bytes - self.bytes, Ordering::AcqRel);
        } else {
            self.tenant.memory.fetch_sub(self.bytes - bytes, Ordering::AcqRel);
        }
        self.bytes = bytes;
    }

    /// Gives back `bytes` of what [`MemoryCharge::grow`] added (a growth that failed after).
    pub(crate) fn shrink(&mut self, bytes: usize) {
        let bytes = bytes.min(self.bytes);
        self.bytes -= bytes;
        self.tenant.memory.fetch_sub(bytes, Ordering::AcqRel);
    }

    pub(crate) fn tenant(&self) -> &Tenant {
        self.tenant
    }
}

impl Drop for MemoryCharge {
    fn drop(&mut self) {
        self.tenant.memory.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

/// Every tenant of a node, made on first use from the config's `tenant_NAME` and kept.
#[derive(Default)]
pub(crate) struct Tenants {
    by_name: Mutex<HashMap<Box<str>, &'static Tenant>>,
}

impl Tenants {
    /// Tenant `name`, made with `spec` (its config line, if any) the first time.
    pub(crate) fn get(
        &self,
        name: &str,
        spec: Option<&str>,
        threads: usize,
    ) -> anyhow::Result<&'static Tenant> {
        let mut by_name = self.by_name.lock();
        if let Some(&tenant) = by_name.get(name) {
            return Ok(tenant);
        }
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            bail!("'{name}' is not a tenant name (letters, digits, '_' and '-')");
        }
        let limits = match spec {
            Some(spec) => Limits::parse(name, spec, threads)?,
            None => Limits::default_for(threads),
        };
        // Never freed: see the module's docs.
        let tenant: &'static Tenant = Box::leak(Box::new(Tenant::new(name, limits)));
        by_name.insert(name.into(), tenant);
        Ok(tenant)
    }

    /// Drops the services still waiting in every tenant's run queue (the node has stopped:
    /// the tenants outlive it, their queues must not keep its services).
    pub(crate) fn clear_queues(&self) {
        for tenant in self.by_name.lock().values() {
            let ready = std::mem::take(&mut tenant.run.lock().ready);
            drop(ready);
        }
    }

    /// Every tenant made so far.
    pub(crate) fn all(&self) -> Vec<&'static Tenant> {
        self.by_name.lock().values().copied().collect()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A tenant for the life of the test process, as a node's are.
    pub(crate) fn leak(tenant: Tenant) -> &'static Tenant {
        Box::leak(Box::new(tenant))
    }

    #[test]
    fn limits_parse_over_defaults() {
        let l =
            Limits::parse("t", "services=3 memory=1M messages=10 inflight=4K fuel=5 workers=0", 4).unwrap();
        assert_eq!(
            l,
            Limits { services: 3, memory: 1 << 20, messages: 10, inflight: 4096, fuel: 5, workers: 1 }
        );
        assert_eq!(Limits::parse("t", "", 4).unwrap().workers, 3);
        assert_eq!(Limits::parse("t", "", 1).unwrap().workers, 1);
        for bad in ["services", "services=x", "color=red"] {
            assert!(Limits::parse("t", bad, 2).is_err(), "{bad}");
        }
    }

    #[test]
    fn totals_are_enforced_and_released_by_their_guards() {
        let t = leak(Tenant::new(
            "t",
            Limits::parse("t", "services=1 messages=2 inflight=10 memory=100", 2).unwrap(),
        ));
        let member = t.join().unwrap();
        assert_eq!(t.join().err(), Some(Over::Services));
        drop(member);
        let _again = t.join().unwrap();
        t.charge(6).unwrap();
        assert_eq!(t.charge(6), Err(Over::Inflight));
        t.charge(4).unwrap();
        assert_eq!(t.charge(0), Err(Over::Messages));
        t.release(6);
        t.release(4);
        assert_eq!(t.usage().2, 0);
        assert_eq!(t.usage().3, 0);
        let mut m = t.memory_account();
        m.grow(60).unwrap();
        assert_eq!(m.grow(41), Err(Over::Memory));
        m.grow(45).unwrap_err();
        m.grow(40).unwrap();
        m.shrink(10);
        m.grow(10).unwrap();
        assert_eq!(t.usage().1, 100);
        drop(m);
        assert_eq!(t.usage().1, 0);
    }

    #[test]
    fn a_tenant_holds_at_most_its_workers_and_waits_out_its_fuel() {
        let t = leak(Tenant::new("t", Limits::parse("t", "workers=1 fuel=100", 2).unwrap()));
        assert!(t.ready(Service::bare(1)), "first work: into the global queue");
        assert!(!t.ready(Service::bare(2)), "already queued");
        let (s, again) = t.take();
        assert_eq!(s.unwrap().handle(), 1);
        assert!(!again, "its one worker is taken");
        assert!(!t.ready(Service::bare(3)));
        // Done with 1, which has work left: 2 is next, then 3, then 1.
        assert!(t.done(Some(Service::bare(1))));
        let order: Vec<_> = (0..3)
            .map(|_| {
                let (s, _) = t.take();
                let s = s.unwrap();
                t.done(None);
                s.handle()
            })
            .collect();
        assert_eq!(order, vec![2, 3, 1]);
        // Out of fuel: held back until the next second.
        t.burn(150);
        assert!(t.ready(Service::bare(4)));
        let (s, _) = t.take();
        assert!(!t.done(s), "throttled");
        assert!(t.new_second(), "back in the queue");
        assert_eq!(t.take().0.unwrap().handle(), 4);
    }
}
