//! `skybox.sharedata`: the native half of `skynet.sharedata` (lua-guest): read-only trees of
//! configuration shared by every service of a node, without a copy per service.
//!
//! `new(name, table)` turns a Lua table (keys: integers, numbers, strings, booleans; values:
//! those and tables, no cycles) into an immutable tree and publishes it under `name`;
//! `update(name, table)` publishes a new version, `delete(name)` forgets the name (readers keep
//! what they have). `query(name)` returns a proxy: a userdata read like the table (`p.x.y`,
//! `#p`, `pairs(p)`, `ipairs(p)`), any write an error. A proxy checks the name's version (one
//! atomic load) on each access and follows an update by walking its path from the new root, so
//! updates reach readers without a message; a subtable proxy whose path is gone reads as empty.
//! Subtable proxies are cached in their parent (one userdata per subtable and version).
//! `copy(proxy)` makes a plain Lua copy of the proxy's (sub)tree; `names()` lists the names.
//!
//! Names are per node. The trees live in Rust memory shared by every VM; a string is copied into
//! a VM when it is read. A service that is not trusted only reads: `new`, `update` and `delete`
//! raise (the names are every tenant's, and a tree's memory is outside its VM's cap).

use std::ffi::c_int;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};

use mlua::ffi::{self, lua_State};
use mlua::{Lua, Table as LuaTable};
use rustc_hash::FxHashMap;

use super::native::VmCtx;
use super::raw;
use super::socketdriver::{Failure, bad_argument, own_userdata, set_functions, with_vm};
use crate::core::node::Node;

/// How deep a tree may nest (a cycle is refused by this).
const MAX_DEPTH: usize = 64;
/// How many entries one published tree may hold.
const MAX_ENTRIES: usize = 1 << 22;

/// What building one tree keeps: the entries it may still add, and the tables converted so far
/// (a table reached twice in the Lua value is one shared subtree, converted once).
struct Build {
    budget: usize,
    done: FxHashMap<*const std::ffi::c_void, Arc<Tree>>,
}

#[derive(Clone, PartialEq, Eq, Hash, Debug)]
enum Key {
    Int(i64),
    /// A float that is not an integer, by its bits.
    Float(u64),
    Str(Box<[u8]>),
    Bool(bool),
}

#[derive(Debug)]
enum Value {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Box<[u8]>),
    Table(Arc<Tree>),
}

/// One immutable table. Invariant: `index[k]` is the position of `k` in `entries`; `border` is
/// the largest `n` with keys `1..=n` all present (its `#`).
#[derive(Debug, Default)]
struct Tree {
    entries: Vec<(Key, Value)>,
    index: FxHashMap<Key, usize>,
    border: i64,
}

impl Tree {
    fn get(&self, key: &Key) -> Option<&Value> {
        self.index.get(key).map(|&i| &self.entries[i].1)
    }

    fn walk(self: &Arc<Tree>, path: &[Key]) -> Option<Arc<Tree>> {
        let mut t = Arc::clone(self);
        for key in path {
            match t.get(key) {
                Some(Value::Table(child)) => t = Arc::clone(child),
                _ => return None,
            }
        }
        Some(t)
    }
}

/// A published name: its current tree (none once deleted) and a version bumped by each change.
struct Slot {
    version: AtomicU64,
    current: RwLock<Option<Arc<Tree>>>,
}

impl Slot {
    fn current(&self) -> Option<Arc<Tree>> {
        self.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn set(&self, tree: Option<Arc<Tree>>) {
        let old = std::mem::replace(&mut *self.current.write().unwrap_or_else(|e| e.into_inner()), tree);
        self.version.fetch_add(1, Ordering::Release);
        drop(old);
    }
}

/// Every node's names: (node, name) -> slot. A node's entries go with it (checked by `Weak`).
type Names = Vec<(Weak<Node>, FxHashMap<Box<[u8]>, Arc<Slot>>)>;
static NAMES: Mutex<Names> = Mutex::new(Vec::new());

fn with_names<R>(node: &Arc<Node>, f: impl FnOnce(&mut FxHashMap<Box<[u8]>, Arc<Slot>>) -> R) -> R {
    let mut all = NAMES.lock().unwrap_or_else(|e| e.into_inner());
    all.retain(|(n, _)| n.strong_count() > 0);
    let at = match all.iter().position(|(n, _)| std::ptr::eq(n.as_ptr(), Arc::as_ptr(node))) {
        Some(i) => i,
        None => {
            all.push((Arc::downgrade(node), FxHashMap::default()));
            all.len() - 1
        }
    };
    f(&mut all[at].1)
}

/// A proxy's userdata: where it reads (the name's slot and the path from its root), and the
/// tree it read at version `seen`.
#[derive(Default)]
struct Proxy {
    slot: Option<Arc<Slot>>,
    path: Vec<Key>,
    seen: u64,
    tree: Option<Arc<Tree>>,
}

impl Proxy {
    /// Follows an update: true when the tree changed (the child cache is stale then).
    fn refresh(&mut self) -> bool {
        let Some(slot) = &self.slot else { return false };
        let version = slot.version.load(Ordering::Acquire);
        if version == self.seen {
            return false;
        }
        self.seen = version;
        self.tree = slot.current().and_then(|root| root.walk(&self.path));
        true
    }
}

/// The module, as `require "skybox.sharedata"` returns it.
pub(crate) fn module(lua: &Lua) -> mlua::Result<LuaTable> {
    // SAFETY: `open` is a C function following Lua's protocol.
    unsafe { lua.create_c_function(open)? }.call(())
}

unsafe extern "C-unwind" fn open(state: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as a C function; this frame owns nothing. Every function closes
    // over the proxies' metatable (upvalue 1), whose metamethods close over it too.
    unsafe {
        ffi::lua_createtable(state, 0, 6);
        let table = ffi::lua_gettop(state);
        ffi::lua_createtable(state, 0, 6);
        let meta = ffi::lua_gettop(state);
        ffi::lua_pushstring(state, c"sharedata".as_ptr());
        ffi::lua_setfield(state, meta, c"__name".as_ptr());
        let metamethods: [(&std::ffi::CStr, ffi::lua_CFunction); 6] = [
            (c"__index", index),
            (c"__newindex", read_only),
            (c"__len", len),
            (c"__pairs", pairs),
            (c"__gc", release),
            (c"__close", release),
        ];
        ffi::lua_pushvalue(state, meta);
        set_functions(state, meta, &metamethods, 1);
        let functions: [(&std::ffi::CStr, ffi::lua_CFunction); 7] = [
            (c"names", names),
            (c"new", new),
            (c"update", update),
            (c"delete", delete),
            (c"query", query),
            (c"copy", copy),
            (c"next", next),
        ];
        ffi::lua_pushvalue(state, meta);
        set_functions(state, table, &functions, 1);
        ffi::lua_settop(state, table);
        1
    }
}

/// The proxy at `arg` (its metatable is upvalue 1), or `None`.
unsafe fn proxy_at(state: *mut lua_State, arg: c_int) -> Option<*mut Proxy> {
    // SAFETY: per `own_userdata`: every caller is a C closure over the proxies' metatable.
    unsafe { own_userdata::<Proxy>(state, arg) }
}

unsafe extern "C-unwind" fn release(state: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as `__gc`/`__close`; dropping a proxy runs no Lua code.
    unsafe {
        if let Some(p) = proxy_at(state, 1) {
            drop(std::mem::take(&mut *p));
        }
        0
    }
}

unsafe extern "C-unwind" fn read_only(state: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as `__newindex`; raises with nothing owned.
    unsafe { raw::raise(state, "sharedata is read-only") }
}

/// The key at `arg`, or `None` for a value that cannot be a key of a tree.
unsafe fn key_at(state: *mut lua_State, arg: c_int) -> Option<Key> {
    // SAFETY: reads a stack slot; no conversion of the slot happens.
    unsafe {
        match ffi::lua_type(state, arg) {
            ffi::LUA_TNUMBER => {
                let mut isint = 0;
                let i = ffi::lua_tointegerx(state, arg, &mut isint);
                if isint != 0 {
                    Some(Key::Int(i))
                } else {
                    Some(Key::Float(ffi::lua_tonumberx(state, arg, std::ptr::null_mut()).to_bits()))
                }
            }
            ffi::LUA_TSTRING => raw::string_at(state, arg).map(|s| Key::Str(s.into())),
            ffi::LUA_TBOOLEAN => Some(Key::Bool(ffi::lua_toboolean(state, arg) != 0)),
            _ => None,
        }
    }
}

/// Converts the Lua table at `arg` into a tree (no Lua call here raises, so the Rust values
/// live across them safely).
unsafe fn tree_of(
    state: *mut lua_State,
    arg: c_int,
    depth: usize,
    build: &mut Build,
) -> Result<Tree, Failure> {
    // SAFETY: `lua_next` over a table with raw keys, type checks and reads of numbers, booleans
    // and strings do not raise; the stack grows by two per level (checked).
    unsafe {
        if depth > MAX_DEPTH {
            return Err(Failure::Static("sharedata: the table nests too deep (a cycle?)"));
        }
        if ffi::lua_checkstack(state, 3) == 0 {
            return Err(Failure::Static("sharedata: stack overflow"));
        }
        let arg = ffi::lua_absindex(state, arg);
        let mut tree = Tree::default();
        ffi::lua_pushnil(state);
        while ffi::lua_next(state, arg) != 0 {
            if build.budget == 0 {
                ffi::lua_pop(state, 2);
                return Err(Failure::Static("sharedata: the table has too many entries"));
            }
            build.budget -= 1;
            let Some(key) = key_at(state, -2) else {
                let kind = raw::type_name(state, -2);
                ffi::lua_pop(state, 2);
                return Err(Failure::Text(format!(
                    "sharedata: a key of type {kind} (keys are numbers, strings and booleans)"
                )));
            };
            let value = match ffi::lua_type(state, -1) {
                ffi::LUA_TBOOLEAN => Value::Bool(ffi::lua_toboolean(state, -1) != 0),
                ffi::LUA_TNUMBER if ffi::lua_isinteger(state, -1) != 0 => {
                    Value::Int(ffi::lua_tointegerx(state, -1, std::ptr::null_mut()))
                }
                ffi::LUA_TNUMBER => Value::Float(ffi::lua_tonumberx(state, -1, std::ptr::null_mut())),
                ffi::LUA_TSTRING => Value::Str(raw::string_at(state, -1).unwrap_or_default().into()),
                ffi::LUA_TTABLE => {
                    let id = ffi::lua_topointer(state, -1);
                    match build.done.get(&id) {
                        Some(t) => Value::Table(Arc::clone(t)),
                        None => match tree_of(state, -1, depth + 1, build) {
                            Ok(t) => {
                                let t = Arc::new(t);
                                build.done.insert(id, Arc::clone(&t));
                                Value::Table(t)
                            }
                            Err(e) => {
                                ffi::lua_pop(state, 2);
                                return Err(e);
                            }
                        },
                    }
                }
                _ => {
                    let kind = raw::type_name(state, -1);
                    ffi::lua_pop(state, 2);
                    return Err(Failure::Text(format!("sharedata: a value of type {kind} cannot be shared")));
                }
            };
            ffi::lua_pop(state, 1);
            tree.index.insert(key.clone(), tree.entries.len());
            tree.entries.push((key, value));
        }
        while tree.index.contains_key(&Key::Int(tree.border + 1)) {
            tree.border += 1;
        }
        Ok(tree)
    }
}

fn name_error(name: &[u8], what: &str) -> Failure {
    Failure::Text(format!("sharedata: {} {what}", String::from_utf8_lossy(name)))
}

/// Names are the node's, shared by every tenant: only a trusted service publishes or deletes.
fn may_write(ctx: &VmCtx, function: &str) -> Result<(), Failure> {
    let profile = ctx.service.profile();
    if profile.is_trusted() {
        return Ok(());
    }
    Err(Failure::Text(format!(
        "sharedata.{function}: an untrusted service may only read (profile {})",
        profile.name()
    )))
}

/// `new(name, table)` / `update(name, table)`.
unsafe fn publish(state: *mut lua_State, fresh: bool) -> c_int {
    let function = if fresh { "new" } else { "update" };
    // SAFETY: called by Lua as a C function; the tree is built without raising and published
    // under the registry's lock, which is released before anything is pushed.
    unsafe {
        with_vm(state, |ctx| {
            may_write(ctx, function)?;
            let Some(name) = raw::string_at(state, 1) else {
                return Err(bad_argument(state, 1, function, "string"));
            };
            if ffi::lua_type(state, 2) != ffi::LUA_TTABLE {
                return Err(bad_argument(state, 2, function, "table"));
            }
            let mut build = Build { budget: MAX_ENTRIES, done: FxHashMap::default() };
            let tree = Arc::new(tree_of(state, 2, 0, &mut build)?);
            drop(build);
            with_names(&ctx.node, |names| match (names.get(name), fresh) {
                (Some(_), true) => Err(name_error(name, "exists")),
                (None, false) => Err(name_error(name, "does not exist")),
                (Some(slot), false) => {
                    slot.set(Some(tree));
                    Ok(0)
                }
                (None, true) => {
                    let slot = Slot { version: AtomicU64::new(1), current: RwLock::new(Some(tree)) };
                    names.insert(name.into(), Arc::new(slot));
                    Ok(0)
                }
            })
        })
    }
}

unsafe extern "C-unwind" fn new(state: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as a C function.
    unsafe { publish(state, true) }
}

unsafe extern "C-unwind" fn update(state: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as a C function.
    unsafe { publish(state, false) }
}

/// `delete(name)`: forgets the name; its proxies read as empty from now on.
unsafe extern "C-unwind" fn delete(state: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as a C function; nothing raises while Rust values are live.
    unsafe {
        with_vm(state, |ctx| {
            may_write(ctx, "delete")?;
            let Some(name) = raw::string_at(state, 1) else {
                return Err(bad_argument(state, 1, "delete", "string"));
            };
            let slot = with_names(&ctx.node, |names| names.remove(name));
            match slot {
                Some(slot) => {
                    slot.set(None);
                    Ok(0)
                }
                None => Err(name_error(name, "does not exist")),
            }
        })
    }
}

/// `names()`: every published name, in no particular order.
unsafe extern "C-unwind" fn names(state: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as a C function; the names are copied out under the lock and pushed
    // in a protected call, then dropped.
    unsafe {
        with_vm(state, |ctx| {
            let list: Vec<Box<[u8]>> = with_names(&ctx.node, |names| names.keys().cloned().collect());
            let status = raw::protect(state, 0, 1, &mut |state| {
                ffi::lua_createtable(state, list.len() as c_int, 0);
                for (i, name) in list.iter().enumerate() {
                    ffi::lua_pushlstring(state, name.as_ptr().cast(), name.len());
                    ffi::lua_rawseti(state, -2, i as ffi::lua_Integer + 1);
                }
                1
            });
            drop(list);
            if status != ffi::LUA_OK {
                raw::raise_top(state);
            }
            Ok(1)
        })
    }
}

/// Pushes a new proxy (with the metatable at `meta` and an empty child cache as its user
/// value) and fills it with `proxy()` once every allocation is done.
///
/// # Safety
/// `meta` is the proxies' metatable (an absolute or pseudo index); the caller owns nothing with
/// a destructor (allocations may raise); `proxy` runs no Lua code.
unsafe fn push_proxy(state: *mut lua_State, meta: c_int, proxy: impl FnOnce() -> Proxy) {
    // SAFETY: per the contract: the userdata holds an empty value (and has its finalizer)
    // before anything else is allocated; the real value is made after the last allocation.
    unsafe {
        let slot = ffi::lua_newuserdatauv(state, size_of::<Proxy>(), 1) as *mut Proxy;
        slot.write(Proxy::default());
        ffi::lua_pushvalue(state, meta);
        ffi::lua_setmetatable(state, -2);
        ffi::lua_createtable(state, 0, 0);
        ffi::lua_setiuservalue(state, -2, 1);
        *slot = proxy();
    }
}

/// `query(name)`: a proxy of the name's tree, or nil.
unsafe extern "C-unwind" fn query(state: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as a C closure over the proxies' metatable; `push_proxy` fills the
    // proxy after its allocations.
    unsafe {
        with_vm(state, |ctx| {
            let Some(name) = raw::string_at(state, 1) else {
                return Err(bad_argument(state, 1, "query", "string"));
            };
            if !with_names(&ctx.node, |names| names.contains_key(name)) {
                ffi::lua_pushnil(state);
                return Ok(1);
            }
            // The slot is taken after the userdata exists (a raise owns nothing); deleted
            // meanwhile, the proxy reads as empty.
            push_proxy(state, ffi::lua_upvalueindex(1), || {
                let slot = with_names(&ctx.node, |names| names.get(name).cloned());
                let seen = slot.as_ref().map_or(0, |s| s.version.load(Ordering::Acquire));
                let tree = slot.as_ref().and_then(|s| s.current());
                Proxy { slot, path: Vec::new(), seen, tree }
            });
            Ok(1)
        })
    }
}

/// Pushes `value` of the proxy at `arg` under `key` (a child proxy for a table, made once per
/// version and kept in the proxy's cache).
///
/// # Safety
/// Runs protected (see [`push_entry`]) with the proxy at `arg` and the proxies' metatable at
/// `meta`; `key` and `value` are borrowed from a tree the caller holds.
unsafe fn push_value(state: *mut lua_State, arg: c_int, meta: c_int, key: &Key, value: &Value) {
    // SAFETY: per the contract.
    unsafe {
        match value {
            Value::Bool(b) => ffi::lua_pushboolean(state, c_int::from(*b)),
            Value::Int(i) => ffi::lua_pushinteger(state, *i),
            Value::Float(f) => ffi::lua_pushnumber(state, *f),
            Value::Str(s) => {
                ffi::lua_pushlstring(state, s.as_ptr().cast(), s.len());
            }
            Value::Table(child) => {
                ffi::lua_getiuservalue(state, arg, 1);
                let cache = ffi::lua_gettop(state);
                push_key(state, key);
                if ffi::lua_rawget(state, cache) != ffi::LUA_TNIL {
                    ffi::lua_replace(state, cache);
                    return;
                }
                ffi::lua_pop(state, 1);
                push_proxy(state, meta, || {
                    // Read after the allocations: a finalizer may have emptied the parent.
                    let p = &*(ffi::lua_touserdata(state, arg) as *const Proxy);
                    let mut path = p.path.clone();
                    path.push(key.clone());
                    Proxy { slot: p.slot.clone(), path, seen: p.seen, tree: Some(Arc::clone(child)) }
                });
                push_key(state, key);
                ffi::lua_pushvalue(state, -2);
                ffi::lua_rawset(state, cache);
                ffi::lua_replace(state, cache);
            }
        }
    }
}

/// Pushes entry `i` of `tree` (its key first when `with_key`) for the proxy at 1, in a
/// protected call: an allocation may run a finalizer that drops the proxy's own tree, so the
/// entry is read from `tree`, held here until the pushes are done. Returns how many it pushed.
///
/// # Safety
/// Runs in a C closure over the proxies' metatable with the proxy at 1.
unsafe fn push_entry(state: *mut lua_State, tree: Arc<Tree>, i: usize, with_key: bool) -> c_int {
    // SAFETY: per the contract; the proxy and the metatable are the protected call's arguments.
    unsafe {
        let n = if with_key { 2 } else { 1 };
        ffi::lua_pushvalue(state, 1);
        ffi::lua_pushvalue(state, ffi::lua_upvalueindex(1));
        let status = raw::protect(state, 2, n, &mut |state| {
            let (key, value) = &tree.entries[i];
            if with_key {
                push_key(state, key);
            }
            push_value(state, 1, 2, key, value);
            n
        });
        drop(tree);
        if status != ffi::LUA_OK {
            raw::raise_top(state);
        }
        n
    }
}

/// Pushes a key as a Lua value.
unsafe fn push_key(state: *mut lua_State, key: &Key) {
    // SAFETY: pushes onto a live state (a string push may raise; the caller owns no destructor).
    unsafe {
        match key {
            Key::Int(i) => ffi::lua_pushinteger(state, *i),
            Key::Float(bits) => ffi::lua_pushnumber(state, f64::from_bits(*bits)),
            Key::Str(s) => {
                ffi::lua_pushlstring(state, s.as_ptr().cast(), s.len());
            }
            Key::Bool(b) => ffi::lua_pushboolean(state, c_int::from(*b)),
        }
    }
}

/// The proxy at 1, refreshed (its child cache emptied when its tree changed).
unsafe fn refreshed(state: *mut lua_State, function: &str) -> Result<*mut Proxy, Failure> {
    // SAFETY: called from the proxies' C closures; the cache table is replaced (an allocation)
    // while the proxy owns everything.
    unsafe {
        let proxy = proxy_at(state, 1).ok_or_else(|| bad_argument(state, 1, function, "sharedata"))?;
        if (*proxy).refresh() {
            ffi::lua_createtable(state, 0, 0);
            ffi::lua_setiuservalue(state, 1, 1);
        }
        Ok(proxy)
    }
}

/// `__index(proxy, key)`.
unsafe extern "C-unwind" fn index(state: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as a C closure over the proxies' metatable; `key` is the one Rust
    // value with a destructor and is dropped before anything may raise.
    unsafe {
        with_vm(state, |_| {
            let proxy = refreshed(state, "index")?;
            let Some(key) = key_at(state, 2) else {
                ffi::lua_pushnil(state);
                return Ok(1);
            };
            let found = (*proxy).tree.as_ref().and_then(|t| Some((Arc::clone(t), *t.index.get(&key)?)));
            drop(key);
            let Some((tree, i)) = found else {
                ffi::lua_pushnil(state);
                return Ok(1);
            };
            Ok(push_entry(state, tree, i, false))
        })
    }
}

/// `__len(proxy)`.
unsafe extern "C-unwind" fn len(state: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as a C closure over the proxies' metatable.
    unsafe {
        with_vm(state, |_| {
            let proxy = refreshed(state, "len")?;
            ffi::lua_pushinteger(state, (*proxy).tree.as_ref().map_or(0, |t| t.border));
            Ok(1)
        })
    }
}

/// `next(proxy, key)`: the entry after `key` (the first for nil), as `next` does for a table.
unsafe extern "C-unwind" fn next(state: *mut lua_State) -> c_int {
    // SAFETY: as `index`.
    unsafe {
        with_vm(state, |_| {
            let proxy = refreshed(state, "next")?;
            let position = if ffi::lua_isnoneornil(state, 2) != 0 {
                Some(0)
            } else {
                key_at(state, 2).and_then(|k| (*proxy).tree.as_ref()?.index.get(&k).map(|i| i + 1))
            };
            let Some(position) = position else {
                return Err(Failure::Static("sharedata: invalid key to 'next'"));
            };
            let Some(tree) = (*proxy).tree.clone().filter(|t| position < t.entries.len()) else {
                ffi::lua_pushnil(state);
                return Ok(1);
            };
            Ok(push_entry(state, tree, position, true))
        })
    }
}

/// `__pairs(proxy)`: `next, proxy, nil`.
unsafe extern "C-unwind" fn pairs(state: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as a C closure over the proxies' metatable.
    unsafe {
        ffi::lua_pushvalue(state, ffi::lua_upvalueindex(1));
        ffi::lua_pushcclosure(state, next, 1);
        ffi::lua_pushvalue(state, 1);
        ffi::lua_pushnil(state);
        3
    }
}

/// Pushes a plain Lua copy of `tree`.
///
/// # Safety
/// Runs inside a protected call (allocations may raise); `tree` outlives it.
unsafe fn push_copy(state: *mut lua_State, tree: &Tree, depth: usize) {
    // SAFETY: per the contract; the stack grows by three per level (checked).
    unsafe {
        if ffi::lua_checkstack(state, 3) == 0 || depth > MAX_DEPTH {
            raw::raise(state, "sharedata: copy too deep");
        }
        ffi::lua_createtable(
            state,
            tree.border as c_int,
            tree.entries.len().saturating_sub(tree.border as usize) as c_int,
        );
        for (key, value) in &tree.entries {
            push_key(state, key);
            match value {
                Value::Table(child) => push_copy(state, child, depth + 1),
                Value::Bool(b) => ffi::lua_pushboolean(state, c_int::from(*b)),
                Value::Int(i) => ffi::lua_pushinteger(state, *i),
                Value::Float(f) => ffi::lua_pushnumber(state, *f),
                Value::Str(s) => {
                    ffi::lua_pushlstring(state, s.as_ptr().cast(), s.len());
                }
            }
            ffi::lua_rawset(state, -3);
        }
    }
}

/// `copy(proxy)`: a plain Lua copy of the proxy's (sub)tree.
unsafe extern "C-unwind" fn copy(state: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as a C closure over the proxies' metatable; the copy is pushed in a
    // protected call, from the tree the proxy (on the stack) keeps alive.
    unsafe {
        with_vm(state, |_| {
            let proxy = refreshed(state, "copy")?;
            let Some(tree) = (*proxy).tree.clone() else {
                ffi::lua_pushnil(state);
                return Ok(1);
            };
            // Held here: a finalizer run by the copy's allocations may drop the proxy's tree.
            let status = raw::protect(state, 0, 1, &mut |state| {
                push_copy(state, &tree, 0);
                1
            });
            drop(tree);
            if status != ffi::LUA_OK {
                raw::raise_top(state);
            }
            Ok(1)
        })
    }
}
