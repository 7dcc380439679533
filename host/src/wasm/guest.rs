//! A wasm guest as a service: one instance in its own `Store`, driven one message at a time by
//! the worker that runs the service, exactly like a Lua VM.
//!
//! Life of a guest:
//! 1. launch (on the launching thread): the module is instantiated (its start section, if any,
//!    runs with the fuel budget) and a boot message is queued;
//! 2. the boot message runs `skybox_start(args)`, then tells the launcher how it went (see
//!    `boot`), so that a pending `skynet.newservice` returns;
//! 3. each message: a fresh fuel budget, the payload copied into a block from `skybox_alloc` (or
//!    held by handle for forward-mode types), then `skybox_dispatch`;
//! 4. a trap (out of fuel, stopped by an epoch interrupt, memory exhausted, a bug) kills the
//!    guest through `Node::kill`, with one log line; the requests it held fail for their
//!    callers when the node reaps it (see `core::requests`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use wasmtime::{Engine, Instance, Memory, Store, Trap, TypedFunc, UpdateDeadline};

use super::WasmRuntime;
use super::engine::pool_exhausted;
use super::memory;
use super::modules::{Compiled, Ready};
use super::report::{Death, Fuel, Phase, error_line};
use super::settings::{DEFAULT_FUEL, LaunchSpec};
use super::state::{GuestState, Network};
use crate::boot::Boot;
use crate::core::message::{Handle, Message};
use crate::core::node::Node;
use crate::core::requests::HeldRequests;
use crate::core::service::{Actor, Handled, Interrupter, Service};

/// Interrupts a running guest from another thread (SIGNAL, the endless-loop monitor, the node's
/// stop): sets the flag and advances the engine's epoch, so the guest's epoch check sees the flag
/// and traps.
///
/// Invariant: `flag` is cleared at the start of every message, so an interrupt aimed at one
/// message never kills a later one.
pub(crate) struct Interrupt {
    flag: AtomicBool,
    engine: Engine,
}

impl Interrupter for Interrupt {
    fn interrupt(&self) {
        self.flag.store(true, Ordering::Release);
        self.engine.increment_epoch();
    }
}

type AllocFn = TypedFunc<i32, i32>;
type StartFn = TypedFunc<(i32, i32), ()>;
type DispatchFn = TypedFunc<(i32, i32, i32, i32, i32, i32), ()>;

/// One running guest.
///
/// Invariants: `store` holds exactly one instance, whose exports are `alloc`, `start`,
/// `dispatch` and `memory`; once `dead` is set no export is called again (the store may be in
/// the middle of whatever trapped).
pub(crate) struct WasmGuest {
    store: Store<GuestState>,
    memory: Memory,
    alloc: AllocFn,
    start: StartFn,
    dispatch: DispatchFn,
    /// The module name, for logs.
    name: String,
    /// Fuel per message; `u64::MAX` for unlimited; unused when the engine does not meter.
    fuel: u64,
    metering: bool,
    interrupt: Arc<Interrupt>,
    /// The start: `skybox_start` runs with the launch arguments on the first message.
    boot: Boot,
    dead: bool,
}

/// One try at instantiating a module: a new store (limits, fuel, interrupt hook) and the outcome.
///
/// Invariant: `interrupt` is the hook installed in `store`; `refused` is the limiter's note from
/// this instantiation only.
struct Attempt {
    store: Store<GuestState>,
    interrupt: Arc<Interrupt>,
    instance: wasmtime::Result<Instance>,
    /// A memory growth the limiter refused during instantiation (initial memory over the cap).
    refused: Option<usize>,
}

impl Attempt {
    fn run(
        ready: &Ready,
        engine: &Engine,
        state: GuestState,
        fuel: Option<u64>,
    ) -> wasmtime::Result<Attempt> {
        let interrupt = Arc::new(Interrupt { flag: AtomicBool::new(false), engine: engine.clone() });
        let mut store = Store::new(engine, state);
        store.limiter(|s| &mut s.limiter);
        if let Some(fuel) = fuel {
            store.set_fuel(fuel)?;
        }
        let hook = interrupt.clone();
        store.epoch_deadline_callback(move |_| {
            Ok(if hook.flag.load(Ordering::Acquire) {
                UpdateDeadline::Interrupt
            } else {
                UpdateDeadline::Continue(1)
            })
        });
        store.set_epoch_deadline(1);
        let instance = ready.pre.instantiate(&mut store);
        let refused = store.data_mut().limiter.take_refused();
        Ok(Attempt { store, interrupt, instance, refused })
    }
}

impl WasmGuest {
    /// Instantiates the guest for `service`. The module comes from `compiled`; the instance from
    /// the pool when there is room, else on demand.
    pub(crate) fn new(
        runtime: &WasmRuntime,
        node: &Arc<Node>,
        service: &Arc<Service>,
        spec: &LaunchSpec<'_>,
        compiled: &Compiled,
    ) -> anyhow::Result<WasmGuest> {
        let engines = runtime.engines()?;
        let settings = runtime.settings();
        // The launch's (only a trusted launcher passes options), else the profile's, else the
        // config's.
        let profile = service.profile();
        let memlimit = spec.memlimit.or(profile.memory()).unwrap_or(settings.memlimit);
        let fuel = match spec.fuel.or(profile.fuel()).unwrap_or(settings.fuel) {
            0 => u64::MAX,
            n => n,
        };
        if spec.fuel.or(profile.fuel()).is_some_and(|f| f != 0) && !engines.metering() {
            anyhow::bail!("wasm: --fuel needs fuel metering, which is off (config fuel = 0)");
        }
        let metering = engines.metering();
        // The module's start section runs inside `instantiate`, on the launching thread, where
        // no interrupt reaches it: it always gets a finite budget.
        let budget = metering.then_some(fuel.min(DEFAULT_FUEL));
        let network = Network::of(profile, settings.network.grants(spec.name));
        let files = super::files::open(profile)?;
        let fresh =
            || GuestState::new(node.clone(), service.clone(), memlimit, network.clone(), files.clone());
        let primary = engines.primary();
        let warn = |w: String| node.log(service.handle(), w);
        let use_pool = primary.pooled && !compiled.pool_refused.load(Ordering::Relaxed);
        let mut ready = if use_pool { &compiled.primary } else { runtime.on_demand(compiled, &warn)? };
        let engine = if use_pool { &primary.engine } else { &engines.on_demand()?.engine };
        let mut attempt = Attempt::run(ready, engine, fresh(), budget)?;
        if use_pool && let Err(err) = &attempt.instance {
            // Not the guest's fault: the pool is full (fall back this time) or cannot host this
            // module at all (fall back from now on).
            if err.downcast_ref::<Trap>().is_none() && attempt.refused.is_none() {
                let exhausted = pool_exhausted(err);
                ready = runtime.on_demand(compiled, &warn)?;
                attempt = Attempt::run(ready, &engines.on_demand()?.engine, fresh(), budget)?;
                if attempt.instance.is_ok() {
                    if exhausted {
                        runtime.note_pool_full(node);
                    } else {
                        compiled.pool_refused.store(true, Ordering::Relaxed);
                    }
                }
            }
        }
        let Attempt { mut store, interrupt, instance, refused } = attempt;
        let instance = instance.map_err(|err| {
            let tenant = store.data().limiter.refusing_tenant();
            let why = match refused {
                Some(bytes) if let Some(tenant) = tenant => {
                    format!(
                        "tenant {} is at its limit of {} bytes of memory (+{bytes})",
                        tenant.name(),
                        tenant.limits().memory
                    )
                }
                Some(bytes) => {
                    format!("its initial memory ({bytes} bytes) exceeds the cap of {memlimit} bytes")
                }
                None => error_line(&err),
            };
            anyhow::anyhow!("cannot instantiate wasm module '{}': {why}", spec.name)
        })?;
        let (memory, alloc, start, dispatch) = exports(&mut store, &instance, ready)?;
        store.data_mut().memory = Some(memory);
        store.data_mut().instantiated = true;
        service.set_interrupter(interrupt.clone());
        Ok(WasmGuest {
            store,
            memory,
            alloc,
            start,
            dispatch,
            name: spec.name.to_string(),
            fuel,
            metering,
            interrupt,
            // `skybox_start` runs when the service first gets a worker.
            boot: Boot::queue(node, service, spec.args),
            dead: false,
        })
    }

    fn node(&self) -> &Arc<Node> {
        &self.store.data().node
    }

    fn handle(&self) -> Handle {
        self.store.data().handle
    }

    /// A fresh budget for one message (or `skybox_start`).
    fn begin_call(&mut self) {
        if self.metering {
            // Cannot fail: the engine meters fuel.
            let _ = self.store.set_fuel(self.fuel);
        }
        self.store.set_epoch_deadline(1);
        self.store.data_mut().limiter.take_refused();
    }

    /// Counts the fuel the last call burnt against the guest's tenant (its fuel per second).
    fn burn(&mut self) {
        let Some(tenant) = self.store.data().service.tenant().filter(|t| self.metering && t.meters_fuel())
        else {
            return;
        };
        let left = self.store.get_fuel().unwrap_or(0);
        tenant.burn(self.fuel.saturating_sub(left));
    }

    /// Runs `skybox_start(args)` and tells the launcher how it went.
    fn start(&mut self, args: String) {
        self.begin_call();
        let result = self.start_call(&args);
        self.burn();
        if let Err(err) = &result {
            self.die(Phase::Start, err);
        }
        self.boot.report(result.is_ok());
    }

    fn start_call(&mut self, args: &str) -> wasmtime::Result<()> {
        let len =
            i32::try_from(args.len()).map_err(|_| wasmtime::format_err!("launch arguments too long"))?;
        let ptr = if len == 0 { 0 } else { self.copy_in(args.as_bytes())? };
        self.start.call(&mut self.store, (ptr, len))
    }

    /// Copies `bytes` into a block from the guest's `skybox_alloc`; the block belongs to the
    /// guest from here on. `Ok(0)` when the guest has no room.
    fn copy_in(&mut self, bytes: &[u8]) -> wasmtime::Result<i32> {
        let size = bytes.len() as i32;
        let ptr = self.alloc.call(&mut self.store, size)?;
        if ptr == 0 {
            return Ok(0);
        }
        match memory::slice_mut(self.memory.data_mut(&mut self.store), ptr, size) {
            Ok(block) => {
                block.copy_from_slice(bytes);
                Ok(ptr)
            }
            Err(_) => {
                Err(wasmtime::format_err!("skybox_alloc({size}) returned {ptr:#x}, outside linear memory"))
            }
        }
    }

    /// Hands one message to `skybox_dispatch`.
    fn deliver(&mut self, msg: Message) -> Handled {
        let Message { source, session, ptype, data } = msg;
        let size = data.len();
        let Ok(size32) = i32::try_from(size) else {
            return self.refuse(source, ptype, size, "larger than 2 GiB");
        };
        self.begin_call();
        let (ptr, handle) = if self.store.data().is_forward(ptype) {
            let st = self.store.data();
            if st.held.bytes().saturating_add(size).saturating_add(super::held::ENTRY_OVERHEAD)
                > st.limiter.cap()
            {
                return self.refuse(source, ptype, size, "held messages would pass the memory cap");
            }
            (0, self.store.data_mut().held.insert(data))
        } else if size == 0 {
            (0, 0)
        } else {
            match self.copy_in(&data) {
                Ok(0) => return self.refuse(source, ptype, size, "skybox_alloc returned 0"),
                Ok(ptr) => (ptr, 0),
                Err(err) => return self.die(Phase::Alloc, &err),
            }
        };
        let args = (i32::from(ptype), session, source as i32, ptr, size32, handle);
        match self.dispatch.call(&mut self.store, args) {
            Ok(()) => Handled::Done,
            Err(err) => self.die(Phase::Dispatch, &err),
        }
    }

    /// Drops a message the guest cannot take (a request then fails for its caller).
    fn refuse(&mut self, source: Handle, ptype: u8, size: usize, why: &str) -> Handled {
        self.node().log(
            self.handle(),
            format!(
                "wasm guest '{}' dropped a message from :{source:08x} (type {ptype}, {size} bytes): {why}",
                self.name
            ),
        );
        Handled::Failed
    }

    /// Kills the guest after a trap: one log line, then `Node::kill` (its queued requests bounce
    /// now; the requests it held fail when the worker reaps it after this message).
    fn die(&mut self, phase: Phase, err: &wasmtime::Error) -> Handled {
        self.dead = true;
        let refused = self.store.data_mut().limiter.take_refused();
        let left = self.store.get_fuel().unwrap_or(0);
        let fuel = match (self.metering, self.fuel) {
            (false, _) => Fuel::NotMetered,
            (true, u64::MAX) => Fuel::Unlimited { used: u64::MAX - left },
            (true, budget) => Fuel::Budget { used: budget - left.min(budget), budget },
        };
        let st = self.store.data();
        if let Some(tenant) = st.limiter.refusing_tenant() {
            let limit = tenant.limits().memory;
            st.node.log(
                st.handle,
                format!("tenant {} is at its limit of {limit} bytes of memory", tenant.name()),
            );
        }
        let line = Death {
            name: &self.name,
            phase,
            error: err,
            refused,
            fuel,
            memory: self.memory.data_size(&self.store),
            cap: st.limiter.cap(),
            held: st.held.bytes(),
        }
        .line();
        st.node.log(st.handle, line);
        st.node.kill(st.handle);
        Handled::Failed
    }
}

/// The exports the host calls, from `ready`'s precomputed indices.
fn exports(
    store: &mut Store<GuestState>,
    instance: &Instance,
    ready: &Ready,
) -> anyhow::Result<(Memory, AllocFn, StartFn, DispatchFn)> {
    let e = &ready.exports;
    let mut get = |export| instance.get_module_export(&mut *store, export);
    let memory = get(&e.memory).and_then(|x| x.into_memory());
    let alloc = get(&e.alloc).and_then(|x| x.into_func());
    let start = get(&e.start).and_then(|x| x.into_func());
    let dispatch = get(&e.dispatch).and_then(|x| x.into_func());
    let (Some(memory), Some(alloc), Some(start), Some(dispatch)) = (memory, alloc, start, dispatch) else {
        anyhow::bail!("the instance lacks an export its module declares");
    };
    Ok((memory, alloc.typed(&*store)?, start.typed(&*store)?, dispatch.typed(&*store)?))
}

impl Actor for WasmGuest {
    fn dispatch(&mut self, msg: Message) -> Handled {
        if self.dead {
            return Handled::Failed;
        }
        self.interrupt.flag.store(false, Ordering::Release);
        if let Some(args) = self.boot.take_args() {
            self.start(args);
            if self.dead {
                return Handled::Failed;
            }
            if Boot::is_boot_message(&msg) {
                if self.store.data().exit {
                    self.exit();
                }
                return Handled::Done;
            }
        }
        let handled = self.deliver(msg);
        self.burn();
        if !self.dead && self.store.data().exit {
            self.exit();
        }
        handled
    }

    fn held(&mut self) -> &mut HeldRequests {
        &mut self.store.data_mut().requests
    }

    fn memory(&self) -> usize {
        self.memory.data_size(&self.store) + self.store.data().held.bytes()
    }
}

impl WasmGuest {
    /// `exit` was called: the service goes away after this message (as skynet's EXIT).
    fn exit(&mut self) {
        self.dead = true;
        // Not through the EXIT command: a guest may always end itself, whatever its profile.
        let st = self.store.data();
        st.node.log(st.handle, "KILL self".into());
        st.node.kill(st.handle);
    }
}
