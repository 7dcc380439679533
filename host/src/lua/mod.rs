//! Lua services: one Lua VM (5.4, or 5.5 with the feature `lua55`) per service, booted like
//! skynet's `snlua`.
//!
//! The VM gets the native modules (`skynet.core`, `skybox.embed`), a package searcher for the
//! embedded `lua-guest` library, and the globals skynet's loader expects (`LUA_PATH`,
//! `LUA_CPATH`, `LUA_SERVICE`, `LUA_PRELOAD`). The loader itself runs in the service's first
//! message, on a worker, so a launch returns as soon as the VM exists.
//!
//! A service whose profile is not trusted runs in a confined VM (see `confine`): the same blank
//! VM, stripped of what reaches past the service before any of its code runs.

mod blank;
mod blocking;
mod buffers;
mod cluster;
mod codecache;
mod confine;
mod core_api;
mod crypt;
mod datasheet;
mod debugchannel;
mod embed;
mod interrupt;
mod memory;
mod multicast;
mod native;
mod netpack;
mod raw;
mod recorded;
pub mod seri;
mod sharedata;
mod sharetable;
mod socketdriver;
mod sqlite;
mod stm;

use std::mem::ManuallyDrop;
use std::sync::Arc;

use anyhow::Context as _;
use mlua::{Function, Lua, Value};

use crate::boot::Boot;
use crate::core::message::{Handle, Message};
use crate::core::node::Node;
use crate::core::requests::HeldRequests;
use crate::core::service::{Actor, Handled, Interrupter, Service};
use crate::core::tenant::MemoryCharge;
use interrupt::Interrupt;
use native::VmCtx;

pub(crate) use embed::{LUA_RELEASE, hash_seed, library_hash, replay_hash_seed};

/// Where Lua services and modules are searched by default (skynet's defaults).
pub(crate) const DEFAULT_LUASERVICE: &str = "./service/?.lua";
pub(crate) const DEFAULT_LUA_PATH: &str = "./lualib/?.lua;./lualib/?/init.lua";
pub(crate) const DEFAULT_LUA_CPATH: &str = "./luaclib/?.so";

/// Whether `snlua NAME` finds a service: a file on the `luaservice` patterns, or a built-in.
pub(crate) fn service_exists(luaservice: &str, name: &str) -> bool {
    crate::config::find_on_patterns(luaservice, name).is_some() || embed::service(name).is_some()
}

/// A service running in a Lua VM.
pub(crate) struct LuaService {
    /// Dropped by hand, before `interrupt` is closed for good (see `Drop`).
    lua: ManuallyDrop<Lua>,
    interrupt: Arc<Interrupt>,
    /// What the native functions share with the dispatcher; outlives `lua` (see `Drop`).
    ctx: Box<VmCtx>,
    node: Arc<Node>,
    handle: Handle,
    /// The start: the loader runs with the launch arguments on the first message.
    boot: Boot,
    /// The next heap size to warn about (32 MiB, then each doubling), as skynet's snlua does.
    memory_warning: usize,
    /// The VM's memory limit in bytes (`lua_memlimit`, `skynet.memlimit`), 0 for none.
    memory_limit: usize,
    /// The highest limit `skynet.memlimit` may set: the cap of an untrusted service's VM (see
    /// `confine`), `usize::MAX` when there is none.
    memory_ceiling: usize,
    /// For a service of a tenant: its heap as counted in the tenant's `memory` (see
    /// [`LuaService::settle_tenant_memory`]).
    tenant_heap: Option<MemoryCharge>,
}

/// As snlua: every resume goes through the profiler, whichever loader runs.
static PROFILE_RESUME: embed::HostChunk = embed::HostChunk {
    chunkname: "=[skybox profile]",
    code: "local p = require 'skynet.profile' coroutine.resume = p.resume coroutine.wrap = p.wrap",
};

const FIRST_MEMORY_WARNING: usize = 32 * 1024 * 1024;

/// The `snlua` runtime factory for [`Node::register_runtime`].
pub(crate) fn factory() -> crate::core::node::RuntimeFactory {
    Box::new(|node, service, args| Ok(Box::new(LuaService::new(node, service, args)?)))
}

impl LuaService {
    pub(crate) fn new(node: &Arc<Node>, service: &Arc<Service>, args: &str) -> anyhow::Result<LuaService> {
        // Profile and tenant before any Lua runs: `lua_profile` (default `trusted`) unless the
        // launch named one.
        node.confine(service, &node.getenv("lua_profile").unwrap_or_else(|| "trusted".into()))?;
        // Declared first so that, on an early return, it is dropped after the VM is closed.
        let ctx: Box<VmCtx>;
        let lua = blank::take()?;
        // SAFETY: the context is dropped after the VM is closed (field order and `Drop` below).
        ctx = unsafe { VmCtx::install(main_thread(&lua)?, node, service) };
        lua.set_app_data(core_api::Owner { node: node.clone(), service: service.clone() });
        let interrupt = Arc::new(Interrupt::default());
        interrupt.install(&lua).context("cannot install coroutine tracking")?;
        service.set_interrupter(interrupt.clone());
        let globals = lua.globals();
        for (global, key, default) in [
            ("LUA_PATH", "lua_path", DEFAULT_LUA_PATH),
            ("LUA_CPATH", "lua_cpath", DEFAULT_LUA_CPATH),
            ("LUA_SERVICE", "luaservice", DEFAULT_LUASERVICE),
        ] {
            globals.set(global, node.getenv(key).unwrap_or_else(|| default.to_string()))?;
        }
        if let Some(preload) = node.getenv("preload") {
            globals.set("LUA_PRELOAD", preload)?;
        }
        // The config default; skynet.memlimit in the service may still lower or raise it.
        let mut memory_limit = 0;
        if let Some(limit) = node.getenv("lua_memlimit") {
            memory_limit = limit
                .trim()
                .parse()
                .with_context(|| format!("lua_memlimit must be a byte count, got {limit}"))?;
        }
        let mut memory_ceiling = usize::MAX;
        if !service.profile().is_trusted() {
            // Before any of its code; its profile's memory caps it, which it may only lower.
            memory_limit = confine::confine(&lua, node, service, args, memory_limit)
                .context("cannot confine the VM of an untrusted service")?;
            if memory_limit > 0 {
                memory_ceiling = memory_limit;
            }
        }
        // A recorded or replayed service observes the world through its tape (see `record`).
        recorded::install(&lua, service).context("cannot put the VM on its record")?;
        if memory_limit > 0 {
            lua.set_memory_limit(memory_limit)?;
        }
        Ok(LuaService {
            lua: ManuallyDrop::new(lua),
            interrupt,
            ctx,
            node: node.clone(),
            handle: service.handle(),
            // The loader runs when the service first gets a worker.
            boot: Boot::queue(node, service, args),
            memory_warning: FIRST_MEMORY_WARNING,
            memory_limit,
            memory_ceiling,
            tenant_heap: service.tenant().map(|t| t.memory_account()),
        })
    }

    /// Before and after each message, a service of a tenant counts its heap in the tenant's
    /// `memory` and may grow, during the message, only by what the tenant has left (within its
    /// own limit): the allocator is mlua's, so the total is kept message by message, not
    /// allocation by allocation (services of one tenant growing at the same time on different
    /// workers may pass it by what they grow in one message each).
    fn settle_tenant_memory(&mut self) {
        let Some(heap) = &mut self.tenant_heap else { return };
        let used = self.lua.used_memory();
        heap.settle(used);
        let room = used.saturating_add(heap.tenant().memory_left());
        let limit = match self.memory_limit {
            0 => room,
            own => own.min(room),
        };
        let _ = self.lua.set_memory_limit(limit);
    }

    /// Runs the loader with `"name arg1 arg2 ..."`, as snlua does.
    fn run_loader(&mut self, args: &str) -> anyhow::Result<()> {
        PROFILE_RESUME.source().load(&self.lua)?.call::<()>(())?;
        let loader = match self.node.getenv("lualoader") {
            Some(path) => {
                let code = std::fs::read_to_string(&path)
                    .with_context(|| format!("cannot read lualoader {path}"))?;
                if let Some(tape) = self.ctx.service.tape() {
                    tape.code(&path, code.as_bytes());
                }
                self.lua.load(code).set_name(format!("@{path}")).into_function()?
            }
            None => embed::loader().context("the embedded loader is missing")?.load(&self.lua)?,
        };
        loader.call::<()>(args)?;
        // skynet.memlimit(bytes) leaves the limit in the registry for the host to apply (never
        // above an untrusted service's cap: `skynet.core.memlimit` refused that already).
        if let Ok(Some(limit)) = self.lua.named_registry_value::<Option<i64>>("memlimit")
            && limit > 0
            && limit as u64 <= self.memory_ceiling as u64
            && self.lua.set_memory_limit(limit as usize).is_ok()
        {
            self.memory_limit = limit as usize;
            self.node
                .log(self.handle, format!("Set memory limit to {:.2} M", limit as f64 / (1024.0 * 1024.0)));
        }
        Ok(())
    }

    /// Runs the loader; a service whose loader fails dies (and the launcher hears of it).
    fn start(&mut self, args: String) {
        let loaded = self.run_loader(&args);
        self.restart_collector();
        if let Err(err) = loaded {
            let text = match err.downcast_ref::<mlua::Error>() {
                Some(lua_err) => error_text(lua_err),
                None => format!("{err:#}"),
            };
            self.node.log(self.handle, format!("lua loader error : {text}"));
            self.boot.report(false);
            self.node.kill(self.handle);
        }
    }

    /// Restarts the collector stopped while the VM was built, with a young collection. A plain
    /// restart would have the next allocation run a major one, marking the whole heap just built
    /// (a tenth of a spawn); the young one marks only what the boot made, and frees its garbage.
    /// A service that goes on allocating gets its major collection then.
    fn restart_collector(&self) {
        self.lua.gc_restart();
        // SAFETY: `exec_raw` runs the step protected; finalizers it calls report their errors
        // as warnings (Lua 5.4 and 5.5), and it leaves the stack as it found it.
        unsafe {
            let _ = self.lua.exec_raw::<()>((), |state| {
                // A step with no debt is a young collection in generational mode.
                mlua::ffi::lua_gc(state, mlua::ffi::LUA_GCSTEP, 0, 0);
            });
        }
    }

    /// After a failed callback near the memory limit, a full collection: what the failed
    /// handler built is garbage by now, but Lua does not collect when a failed call's stack has
    /// to grow back (`luaD_reallocstack` runs with emergency collections off), so without this
    /// every later message could fail for memory that is free to take back.
    fn collect_after_failure(&self) {
        if self.memory_limit > 0 && self.lua.used_memory() >= self.memory_limit / 2 {
            let _ = self.lua.gc_collect();
        }
    }
}

impl Interrupter for Interrupt {
    fn interrupt(&self) {
        self.signal();
    }
}

impl Drop for LuaService {
    fn drop(&mut self) {
        self.interrupt.close();
        // SAFETY: `lua` is not used after this point; finalizers run by lua_close may resume
        // coroutines and mark them active, hence the second close.
        unsafe { ManuallyDrop::drop(&mut self.lua) };
        self.interrupt.close();
    }
}

impl Actor for LuaService {
    fn dispatch(&mut self, msg: Message) -> Handled {
        self.interrupt.reset();
        if let Some(args) = self.boot.take_args() {
            self.start(args);
            self.settle_tenant_memory();
            if Boot::is_boot_message(&msg) {
                return Handled::Done;
            }
        }
        let Message { source, session, ptype, data } = msg;
        let size = data.len();
        // What its tenant has left now, not when its last message ended.
        self.settle_tenant_memory();
        let (callback, forward, token) = {
            let mut state = self.ctx.state.borrow_mut();
            let Some(callback) = state.callback else {
                drop(state);
                self.node.log(
                    self.handle,
                    format!("Drop message from :{source:08x} (type={ptype}, size={size}): no callback"),
                );
                return Handled::Failed;
            };
            let token = state.buffers.insert(data);
            (callback, state.forward, token)
        };
        // SAFETY: on the VM's thread (the actor is locked by this worker), between Lua calls.
        let failure = unsafe { self.ctx.call_callback(callback, (ptype, token, size, session, source)) };
        if !forward {
            // Already gone if Lua sent it on or trashed it.
            let _ = self.ctx.state.borrow_mut().buffers.take(token, None);
        }
        if failure.is_some() {
            self.collect_after_failure();
        }
        self.settle_tenant_memory();
        let used = self.lua.used_memory();
        if used > self.memory_warning {
            self.node.log(self.handle, format!("Memory warning {:.2} M", used as f64 / (1024.0 * 1024.0)));
            while self.memory_warning <= used {
                self.memory_warning *= 2;
            }
        }
        let Some((error, memory)) = failure else {
            return Handled::Done;
        };
        let text = if memory {
            format!("lua memory error : [{source:x} to :{:x} : {session}]", self.handle)
        } else {
            format!("lua call [{source:x} to :{:x} : {session} msgsz = {size}] error : {error}", self.handle)
        };
        self.node.log(self.handle, text);
        // An error the library let escape is its own to answer (it may come from another thread
        // than this message's, whose handler can still be running); out of memory, the library
        // may have failed before it could answer or even start a handler.
        if memory { Handled::Failed } else { Handled::Done }
    }

    fn held(&mut self) -> &mut HeldRequests {
        &mut self.ctx.state.get_mut().held
    }

    fn memory(&self) -> usize {
        self.lua.used_memory()
    }
}

/// The text of a Lua error as skynet logs it: the error value (with the traceback Lua code put in
/// it), without mlua's "runtime error:" framing.
pub(crate) fn error_text(err: &mlua::Error) -> String {
    match err {
        mlua::Error::RuntimeError(msg) | mlua::Error::SyntaxError { message: msg, .. } => msg.clone(),
        mlua::Error::CallbackError { traceback, cause } => format!("{}\n{traceback}", error_text(cause)),
        mlua::Error::MemoryError(_) => "not enough memory".into(),
        other => other.to_string(),
    }
}

/// Converts a Lua value to the text `tostring` would give it.
pub(crate) fn lua_tostring(lua: &Lua, value: &Value) -> mlua::Result<String> {
    match value {
        Value::String(s) => Ok(s.to_string_lossy()),
        Value::Integer(i) => Ok(i.to_string()),
        Value::Nil => Ok("nil".into()),
        Value::Boolean(b) => Ok(b.to_string()),
        other => {
            let tostring: Function = lua.globals().get("tostring")?;
            tostring.call::<mlua::LuaString>(other.clone()).map(|s| s.to_string_lossy())
        }
    }
}

/// The main thread of `lua`.
fn main_thread(lua: &Lua) -> mlua::Result<*mut mlua::ffi::lua_State> {
    let mut main = std::ptr::null_mut();
    // SAFETY: reads the registry's main-thread slot and pops it again.
    unsafe {
        lua.exec_raw::<()>((), |state| {
            mlua::ffi::lua_rawgeti(state, mlua::ffi::LUA_REGISTRYINDEX, mlua::ffi::LUA_RIDX_MAINTHREAD);
            main = mlua::ffi::lua_tothread(state, -1);
            mlua::ffi::lua_pop(state, 1);
        })?;
    }
    Ok(main)
}
