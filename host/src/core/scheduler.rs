//! The global queue of services with pending messages, each worker's run-next slot, and how idle
//! workers wait for work.
//!
//! A service is in the queue (or in a slot) at most once (see `mailbox`). Workers pop a service,
//! run a bounded batch of its messages and push it back if more remain. Waking a sleeping worker
//! costs a system call, so a worker that schedules a service does not wake another one unless the
//! queue holds more than the worker itself will take next; the timer thread, the socket thread and
//! the main thread always wake one. An idle worker spins briefly before it sleeps.
//!
//! A service woken by a message sent from a worker goes to that worker's run-next slot rather
//! than the global queue: the worker runs it as soon as the current message is done, on the same
//! core, with the message still in cache. A conversation (call, reply, call...) then stays on one
//! core instead of bouncing its Lua VMs between cores, which costs more than the work itself.
//! Three things keep the slot from starving anyone: a worker takes its slot at most
//! [`RUN_NEXT_STREAK`] times in a row while the global queue waits; an idle worker about to sleep
//! steals from other slots; and the timer moves a service that has waited in a slot for a whole
//! tick (a worker stuck in a long message, or a long batch) to the global queue.

use std::cell::Cell;
use std::marker::PhantomData;
use std::ptr;
use std::sync::Arc;
use std::time::Duration;

use crossbeam::queue::SegQueue;

use super::service::Service;
use super::tenant::Tenant;
// loom's atomics and locks in the model tests (see `crate::sync`).
use crate::sync::{AtomicPtr, AtomicU64, AtomicUsize, Condvar, Mutex, Ordering};

thread_local! {
    static ON_WORKER: Cell<bool> = const { Cell::new(false) };
    /// The run-next slot of the worker on this thread (null on other threads).
    static RUN_NEXT: Cell<*const RunNext> = const { Cell::new(ptr::null()) };
    /// The tenant whose service the worker on this thread runs now (null otherwise): see
    /// [`TenantTurn`].
    static TENANT_NOW: Cell<*const Tenant> = const { Cell::new(ptr::null()) };
    /// A service of `TENANT_NOW` that a message woke during its turn, to run next here.
    static TENANT_NEXT: Cell<Option<Arc<Service>>> = const { Cell::new(None) };
}

/// A worker's turn at one tenant: while it lasts, a service of that tenant woken on this worker
/// is kept to run next here (a conversation inside a tenant stays on one core, as the run-next
/// slot keeps the operator's), under the worker the tenant already counts as its own. Only
/// this thread sees it, so no other worker can run it behind the tenant's back.
pub(crate) struct TenantTurn(());

impl TenantTurn {
    pub(crate) fn begin(tenant: &'static Tenant) -> TenantTurn {
        TENANT_NOW.with(|t| t.set(tenant));
        TenantTurn(())
    }

    /// The service woken to run next in this turn, if any.
    pub(crate) fn take_next(&self) -> Option<Arc<Service>> {
        TENANT_NEXT.with(Cell::take)
    }
}

impl Drop for TenantTurn {
    fn drop(&mut self) {
        TENANT_NOW.with(|t| t.set(ptr::null()));
        debug_assert!(TENANT_NEXT.with(Cell::take).is_none(), "the turn's next service was taken");
    }
}

/// Marks the current thread as a worker with slot `run_next` (changes where its pushes go and
/// its wake-up policy).
///
/// `run_next` must outlive the thread's use of it: the worker holds the node that owns it.
pub(crate) fn enter_worker(run_next: &RunNext) {
    ON_WORKER.with(|w| w.set(true));
    RUN_NEXT.with(|r| r.set(run_next));
}

/// How many times in a row a worker takes its run-next slot while the global queue has work.
pub(crate) const RUN_NEXT_STREAK: u32 = 32;

/// A worker's run-next slot: at most one service, owned through the pointer. Its owner worker
/// puts and takes; idle workers (thieves) and the timer take. Generic only for the model tests,
/// which put stand-in services.
///
/// Invariant: a non-null `service` came from `Arc::into_raw` and is owned by the slot; every
/// access that changes it is a swap, so exactly one party takes each service back (a put's
/// displaced service, a take, or the drop), whatever the interleaving. The swaps are AcqRel: the
/// taker sees everything done to the service before it was put.
pub(crate) struct RunNext<T = Service> {
    service: AtomicPtr<T>,
    /// The queue's tick when the service was put (see [`GlobalQueue::advance_tick`]). A hint
    /// only: read apart from `service`, it may belong to the previous service, which at worst
    /// makes the timer move a service one tick early or late.
    since: AtomicU64,
    /// The slot owns an `Arc<T>` and hands it to other threads: Send and Sync as that is.
    _owns: PhantomData<Arc<T>>,
}

impl<T> Default for RunNext<T> {
    fn default() -> Self {
        RunNext { service: AtomicPtr::default(), since: AtomicU64::default(), _owns: PhantomData }
    }
}

impl<T> RunNext<T> {
    /// Puts `service` in the slot at `tick` and returns the service it displaces.
    pub(crate) fn put(&self, service: Arc<T>, tick: u64) -> Option<Arc<T>> {
        self.since.store(tick, Ordering::Relaxed);
        let old = self.service.swap(Arc::into_raw(service).cast_mut(), Ordering::AcqRel);
        // SAFETY: per the invariant, a non-null pointer is an owned Arc, now ours.
        (!old.is_null()).then(|| unsafe { Arc::from_raw(old) })
    }

    fn is_occupied(&self) -> bool {
        !self.service.load(Ordering::Relaxed).is_null()
    }

    /// Takes the service if it has waited since before tick `before` (the timer, for a worker
    /// busy with a long message or a long batch).
    pub(crate) fn take_older(&self, before: u64) -> Option<Arc<T>> {
        if self.since.load(Ordering::Relaxed) < before { self.take() } else { None }
    }

    /// Takes the service out of the slot (the owner, a thief or the timer).
    pub(crate) fn take(&self) -> Option<Arc<T>> {
        if self.service.load(Ordering::Relaxed).is_null() {
            return None;
        }
        let old = self.service.swap(ptr::null_mut(), Ordering::AcqRel);
        // SAFETY: as in `put`.
        (!old.is_null()).then(|| unsafe { Arc::from_raw(old) })
    }
}

impl<T> Drop for RunNext<T> {
    fn drop(&mut self) {
        drop(self.take());
    }
}

/// How many messages of one service a worker handles before it requeues the service, from the
/// queue length and the worker's weight (skynet's scheme: weight -1 takes one message, weight w
/// takes `len >> w`). The cap keeps a flooded service from starving the rest.
pub(crate) fn batch_size(weight: i8, queued: usize) -> usize {
    const CAP: usize = 256;
    if weight < 0 { 1 } else { (queued >> weight).clamp(1, CAP) }
}

/// skynet's worker weights: the first four workers take one message at a time, the next four a
/// whole queue, then half, a quarter...
pub(crate) fn worker_weight(index: usize) -> i8 {
    const WEIGHTS: [i8; 32] =
        [-1, -1, -1, -1, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3];
    WEIGHTS.get(index).copied().unwrap_or(0)
}

/// The count of sleeping workers, and the lock and condition variable they sleep on.
///
/// The protocol against lost wake-ups: a thread that makes work visible (with a SeqCst write,
/// like `SegQueue::push`'s) then calls [`Sleepers::any`], a SeqCst load; a worker going to sleep
/// counts itself in with a SeqCst increment, then checks for work (a SeqCst read) before it waits.
/// Of the two SeqCst writes, one comes first: either the worker sees the work, or the waker sees
/// the worker counted in; it then takes the lock, which the worker holds from counting in until
/// it waits, so its notification finds the worker waiting. On the waker's hot path this costs one
/// load when nobody sleeps. The model tests check the protocol (`mod loom_tests`).
#[derive(Default)]
pub(crate) struct Sleepers {
    count: AtomicUsize,
    lock: Mutex<()>,
    wake: Condvar,
}

impl Sleepers {
    /// Whether a worker may be asleep (or about to sleep): call after making work visible.
    #[inline]
    pub(crate) fn any(&self) -> bool {
        self.count.load(Ordering::SeqCst) > 0
    }

    pub(crate) fn wake_one(&self) {
        let _guard = self.lock.lock();
        self.wake.notify_one();
    }

    pub(crate) fn wake_all(&self) {
        let _guard = self.lock.lock();
        self.wake.notify_all();
    }

    /// Sleeps until woken or for `limit`, unless `ready` (checked once counted in) says there is
    /// work (or a reason to stop). A wake-up may be for another sleeper, and the limit ends the
    /// wait anyway: the caller checks for work again.
    pub(crate) fn sleep(&self, ready: impl FnOnce() -> bool, limit: Duration) {
        let mut guard = self.lock.lock();
        self.count.fetch_add(1, Ordering::SeqCst);
        if !ready() {
            self.wake.wait_for(&mut guard, limit);
        }
        self.count.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What waits in the global queue: one of the operator's services, or a tenant whose services
/// wait in its own run queue (see `tenant`), so that a tenant takes one place however many of
/// its services have work.
pub(crate) enum Runnable {
    Service(Arc<Service>),
    Tenant(&'static Tenant),
}

#[derive(Default)]
pub(crate) struct GlobalQueue {
    queue: SegQueue<Runnable>,
    sleepers: Sleepers,
    /// Advanced by the timer thread: the clock of run-next slots.
    tick: AtomicU64,
}

const SPINS: u32 = 64;
const PARK_LIMIT: Duration = Duration::from_millis(100);

impl GlobalQueue {
    /// Schedules a service a message just woke: into the run-next slot of the worker running on
    /// this thread (the service it displaces goes to the queue), else into the queue.
    #[inline]
    pub(crate) fn schedule(&self, service: Arc<Service>) {
        if let Some(tenant) = service.tenant() {
            // A tenant's service waits its tenant's turn, unless this worker is taking it.
            if ptr::eq(tenant, TENANT_NOW.with(Cell::get)) {
                if let Some(displaced) = TENANT_NEXT.with(|n| n.replace(Some(service))) {
                    self.push(displaced);
                }
                return;
            }
            return self.push(service);
        }
        let slot = RUN_NEXT.with(|r| r.get());
        if slot.is_null() {
            return self.push(service);
        }
        // SAFETY: set by `enter_worker` to a slot its node owns for as long as the worker runs.
        if let Some(displaced) = unsafe { &*slot }.put(service, self.tick.load(Ordering::Relaxed)) {
            self.push(displaced);
        }
    }

    /// Advances the slots' clock (the timer thread, every tick) and returns the new tick.
    pub(crate) fn advance_tick(&self) -> u64 {
        self.tick.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Queues a service with work: the operator's into the global queue, a tenant's into its
    /// tenant's run queue (and the tenant into the global queue when it may run now).
    pub(crate) fn push(&self, service: Arc<Service>) {
        match service.tenant() {
            None => self.push_runnable(Runnable::Service(service)),
            Some(tenant) => {
                if tenant.ready(service) {
                    self.push_runnable(Runnable::Tenant(tenant));
                }
            }
        }
    }

    pub(crate) fn push_runnable(&self, runnable: Runnable) {
        // The push is a SeqCst write (SegQueue's tail index), as the sleepers' protocol wants.
        self.queue.push(runnable);
        if !self.sleepers.any() {
            return;
        }
        // A worker takes its own slot before the queue: with the slot occupied, nobody else will
        // take this service soon unless woken.
        let own_slot_busy = || {
            let slot = RUN_NEXT.with(|r| r.get());
            // SAFETY: as in `schedule`.
            !slot.is_null() && unsafe { &*slot }.is_occupied()
        };
        if !ON_WORKER.with(|w| w.get()) || self.queue.len() > 1 || own_slot_busy() {
            self.sleepers.wake_one();
        }
    }

    #[inline]
    pub(crate) fn pop(&self) -> Option<Runnable> {
        self.queue.pop()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    pub(crate) fn has_sleepers(&self) -> bool {
        self.sleepers.any()
    }

    pub(crate) fn wake_one(&self) {
        self.sleepers.wake_one();
    }

    pub(crate) fn wake_all(&self) {
        self.sleepers.wake_all();
    }

    /// Waits until the queue may hold work, or `stop` says to quit. Before sleeping, tries
    /// `steal` (another worker's run-next slot) and returns what it gets.
    pub(crate) fn idle(
        &self,
        stop: impl Fn() -> bool,
        steal: impl Fn() -> Option<Arc<Service>>,
    ) -> Option<Runnable> {
        for i in 0..SPINS {
            if !self.queue.is_empty() || stop() {
                return None;
            }
            if i < SPINS / 2 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        if let Some(stolen) = steal() {
            return Some(Runnable::Service(stolen));
        }
        // `is_empty` reads the queue's indices with SeqCst loads, as the protocol wants.
        self.sleepers.sleep(|| !self.queue.is_empty() || stop(), PARK_LIMIT);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_follow_weights() {
        assert_eq!(batch_size(-1, 1000), 1);
        assert_eq!(batch_size(0, 10), 10);
        assert_eq!(batch_size(1, 10), 5);
        assert_eq!(batch_size(3, 2), 1);
        assert_eq!(batch_size(0, 100_000), 256);
        assert_eq!(worker_weight(0), -1);
        assert_eq!(worker_weight(4), 0);
        assert_eq!(worker_weight(100), 0);
    }

    #[test]
    fn a_push_from_outside_wakes_a_sleeper() {
        let q = Arc::new(GlobalQueue::default());
        let q2 = q.clone();
        let sleeper = std::thread::spawn(move || {
            loop {
                if let Some(Runnable::Service(s)) = q2.pop() {
                    return s.handle();
                }
                q2.idle(|| false, || None);
            }
        });
        while !q.has_sleepers() {
            std::thread::yield_now();
        }
        q.push(Service::bare(7));
        assert_eq!(sleeper.join().unwrap(), 7);
    }

    #[test]
    fn a_worker_schedules_into_its_slot_and_displaces_into_the_queue() {
        let q = GlobalQueue::default();
        let slot = Box::leak(Box::new(RunNext::default()));
        std::thread::scope(|s| {
            s.spawn(|| {
                enter_worker(slot);
                q.schedule(Service::bare(1));
                assert!(q.is_empty());
                q.schedule(Service::bare(2));
                assert_eq!(handle_of(q.pop()), Some(1));
            });
        });
        assert_eq!(slot.take().map(|s| s.handle()), Some(2));
        assert!(slot.take().is_none());
        // Off a worker thread: the queue.
        q.schedule(Service::bare(3));
        assert_eq!(handle_of(q.pop()), Some(3));
    }

    #[test]
    fn a_tenants_turn_keeps_its_woken_service_and_queues_the_others() {
        use super::super::tenant::Limits;
        use super::super::tenant::tests::leak;
        let tenant = |name: &str| leak(Tenant::new(name, Limits::parse(name, "workers=1", 2).unwrap()));
        let (mine, other) = (tenant("mine"), tenant("other"));
        let member = |handle, t: &'static Tenant| {
            let s = Service::bare(handle);
            s.set_member(t.join().unwrap());
            s
        };
        let q = GlobalQueue::default();
        let turn = TenantTurn::begin(mine);
        q.schedule(member(1, mine));
        q.schedule(member(2, other));
        assert!(
            matches!(q.pop(), Some(Runnable::Tenant(t)) if t.name() == "other"),
            "another tenant's: queued"
        );
        assert!(q.pop().is_none(), "its own: kept for this worker");
        q.schedule(member(3, mine));
        assert_eq!(turn.take_next().map(|s| s.handle()), Some(3), "the latest woken runs next");
        assert!(
            matches!(q.pop(), Some(Runnable::Tenant(t)) if t.name() == "mine"),
            "the one displaced waits its turn"
        );
        drop(turn);
        q.schedule(member(4, mine));
        assert!(q.pop().is_none(), "after the turn: the tenant is already queued, 4 waits behind 1");
    }

    fn handle_of(r: Option<Runnable>) -> Option<u32> {
        match r? {
            Runnable::Service(s) => Some(s.handle()),
            Runnable::Tenant(_) => None,
        }
    }
}

/// Model tests (`cargo test -p skybox --release --features loom --lib loom`): the run-next slot
/// and the sleepers' protocol under every interleaving loom explores (see `crate::sync`).
#[cfg(all(test, feature = "loom"))]
#[path = "scheduler_loom.rs"]
mod loom_tests;
