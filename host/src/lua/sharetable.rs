//! `skynet.sharetable.core`: the native half of skynet's own `skynet.sharetable` (the contract
//! is skynet's `lualib-src/lua-sharetable.c`), so that a project running skynet's library keeps
//! its shared tables. (skybox's own `skynet.sharetable` is built on `sharedata` and does not use
//! this.)
//!
//! skynet loads a table into a Lua state of its own, marks it shared with its patched Lua, and
//! every `clone` points a VM at the same table. skybox's VMs cannot point at one another's
//! objects: `matrix` runs the source in the calling VM (its own environment, as a fresh state
//! would give), freezes the result into a process-wide tree of plain values (shared subtables
//! and cycles kept; a function without upvalues kept as its bytecode), and `clone` builds the
//! tree in the caller, once per VM and matrix. skynet's rules on what may be shared stand: no
//! metatables, no functions with upvalues, only strings, numbers, booleans, light userdata and
//! tables. A matrix lives until its box is closed; its pointer is a checked token.

use std::collections::HashMap;
use std::ffi::{c_int, c_void};
use std::sync::{Arc, Mutex, MutexGuard};

use mlua::ffi::{self, lua_State};
use mlua::{Function, LightUserData, Lua, Table, UserData, UserDataMethods, Value};

use super::buffers::Tokens;
use super::core_api::{guarded, wrap_raising};
use super::raw;

/// A frozen value.
#[derive(Clone)]
enum Frozen {
    Bool(bool),
    Integer(i64),
    Number(f64),
    String(Arc<[u8]>),
    Light(usize),
    /// An index into [`Tree::tables`].
    Table(usize),
    /// A function's bytecode.
    Function(Arc<[u8]>),
}

/// A frozen table and every table it reaches; `tables[0]` is the root.
struct Tree {
    tables: Vec<Vec<(Frozen, Frozen)>>,
    size: usize,
}

static MATRICES: Mutex<Tokens<Arc<Tree>>> = Mutex::new(Tokens::new());

fn matrices() -> MutexGuard<'static, Tokens<Arc<Tree>>> {
    MATRICES.lock().unwrap_or_else(|e| e.into_inner())
}

/// Freezes `root` (see the module docs).
fn freeze(root: Table) -> mlua::Result<Tree> {
    let mut tree = Tree { tables: Vec::new(), size: 0 };
    let mut seen: HashMap<*const c_void, usize> = HashMap::new();
    let mut pending = Vec::new();
    let index_of =
        |t: &Table, tree: &mut Tree, seen: &mut HashMap<*const c_void, usize>, pending: &mut Vec<Table>| {
            *seen.entry(t.to_pointer()).or_insert_with(|| {
                tree.tables.push(Vec::new());
                pending.push(t.clone());
                tree.tables.len() - 1
            })
        };
    // `pending` holds each table once, after its index was given.
    index_of(&root, &mut tree, &mut seen, &mut pending);
    let mut done = 0;
    while let Some(table) = pending.pop() {
        let index = seen[&table.to_pointer()];
        if table.metatable().is_some() {
            return Err(mlua::Error::runtime("Can't share metatable"));
        }
        let mut fields = Vec::new();
        for pair in table.pairs::<Value, Value>() {
            let (k, v) = pair?;
            let mut frozen = [None, None];
            for (slot, value) in frozen.iter_mut().zip([k, v]) {
                *slot = Some(match value {
                    Value::Boolean(b) => Frozen::Bool(b),
                    Value::Integer(i) => Frozen::Integer(i),
                    Value::Number(n) => Frozen::Number(n),
                    Value::String(s) => {
                        tree.size += s.as_bytes().len();
                        Frozen::String(Arc::from(&*s.as_bytes()))
                    }
                    Value::LightUserData(p) => Frozen::Light(p.0 as usize),
                    Value::Table(t) => Frozen::Table(index_of(&t, &mut tree, &mut seen, &mut pending)),
                    Value::Function(f) => {
                        if f.info().what == "C" {
                            return Err(mlua::Error::runtime(
                                "Invalid function: a C function (skybox shares Lua functions only)",
                            ));
                        }
                        // Lua's own dump and count, not what the service's globals say they are.
                        if f.info().num_upvalues > 0 {
                            return Err(mlua::Error::runtime("Invalid function with upvalue"));
                        }
                        let code = f.dump(false);
                        tree.size += code.len();
                        Frozen::Function(Arc::from(code))
                    }
                    other => {
                        return Err(mlua::Error::runtime(format!("Invalid type [{}]", other.type_name())));
                    }
                });
            }
            let [Some(k), Some(v)] = frozen else { unreachable!("both set") };
            fields.push((k, v));
        }
        tree.size += fields.len() * 32;
        tree.tables[index] = fields;
        done += 1;
    }
    debug_assert_eq!(done, tree.tables.len());
    Ok(tree)
}

/// Builds `tree` in `lua`; every table it makes is added to `shared`.
fn thaw(lua: &Lua, tree: &Tree, shared: &Table) -> mlua::Result<Table> {
    let tables: Vec<Table> = tree
        .tables
        .iter()
        .map(|fields| lua.create_table_with_capacity(0, fields.len()))
        .collect::<Result<_, _>>()?;
    let value = |frozen: &Frozen| -> mlua::Result<Value> {
        Ok(match frozen {
            Frozen::Bool(b) => Value::Boolean(*b),
            Frozen::Integer(i) => Value::Integer(*i),
            Frozen::Number(n) => Value::Number(*n),
            Frozen::String(s) => Value::String(lua.create_string(&**s)?),
            Frozen::Light(p) => Value::LightUserData(LightUserData(std::ptr::without_provenance_mut(*p))),
            Frozen::Table(i) => Value::Table(tables[*i].clone()),
            Frozen::Function(code) => {
                Value::Function(lua.load(&**code).set_mode(mlua::chunk::ChunkMode::Binary).into_function()?)
            }
        })
    };
    for (table, fields) in tables.iter().zip(&tree.tables) {
        for (k, v) in fields {
            table.raw_set(value(k)?, value(v)?)?;
        }
        shared.raw_set(table.clone(), true)?;
    }
    Ok(tables[0].clone())
}

/// A matrix, as `matrix` returns it: `getptr()`, `size()`, `close()`.
struct MatrixBox(Option<(usize, usize)>);

impl UserData for MatrixBox {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_method("getptr", |_, this, ()| {
            Ok(this.0.map(|(token, _)| LightUserData(std::ptr::without_provenance_mut::<c_void>(token))))
        });
        methods.add_method("size", |_, this, ()| Ok(this.0.map_or(0, |(_, size)| size as i64)));
        methods.add_method_mut("close", |_, this, ()| {
            if let Some((token, _)) = this.0.take() {
                matrices().take(token);
            }
            Ok(())
        });
    }
}

/// `matrix(source, ...)`, `clone(pointer)` and `is_sharedtable(t)` in Lua around the natives.
const CORE: &str = r#"
local freeze, thaw, stackvalues, shared = ...
local load, loadfile, setmetatable, error, type, _G = load, loadfile, setmetatable, error, type, _G
local core = { stackvalues = stackvalues }

-- The source runs with an environment of its own, as in a fresh state.
function core.matrix(source, ...)
	if type(source) ~= "string" then
		error("bad argument #1 to 'matrix' (string expected, got " .. type(source) .. ")", 2)
	end
	local env = setmetatable({}, { __index = _G })
	local chunk, err
	if source:sub(1, 1) == "@" then
		chunk, err = loadfile(source:sub(2), "t", env)
	else
		chunk, err = load(source, source, "t", env)
	end
	if not chunk then error(err, 2) end
	local t = chunk(...)
	if type(t) ~= "table" then
		error("Not a table, it's a " .. type(t) .. ".", 2)
	end
	return freeze(t)
end

-- One table per matrix in a VM, as skynet's clones are one shared table.
local clones = setmetatable({}, { __mode = "v" })
function core.clone(pointer)
	local t = clones[pointer]
	if t == nil then
		t = thaw(pointer, shared)
		clones[pointer] = t
	end
	return t
end

function core.is_sharedtable(t)
	return shared[t] == true
end

return core
"#;

/// The module, as `require "skynet.sharetable.core"` returns it.
pub(crate) fn module(lua: &Lua) -> mlua::Result<Table> {
    let raw = lua.create_table()?;
    raw.set(
        "freeze",
        guarded(lua, |lua, root: Table| {
            let tree = freeze(root)?;
            let size = tree.size;
            let token = matrices().insert(Arc::new(tree));
            lua.create_userdata(MatrixBox(Some((token, size))))
        })?,
    )?;
    raw.set(
        "thaw",
        guarded(lua, |lua, (pointer, shared): (LightUserData, Table)| {
            let tree = matrices()
                .get(pointer.0 as usize)
                .cloned()
                .ok_or_else(|| mlua::Error::runtime("Invalid sharetable pointer (unknown or closed)"))?;
            thaw(lua, &tree, &shared)
        })?,
    )?;
    let raw = wrap_raising(lua, raw)?;
    let shared = lua.create_table()?;
    shared.set_metatable(Some(lua.create_table_from([("__mode", "k")])?))?;
    // SAFETY: `stackvalues` is a C function following Lua's protocol.
    let stackvalues = unsafe { lua.create_c_function(stackvalues)? };
    lua.load(CORE).set_name("=[skynet.sharetable.core]").call((
        raw.get::<Function>("freeze")?,
        raw.get::<Function>("thaw")?,
        stackvalues,
        shared,
    ))
}

/// `stackvalues(co, t)`: the values on coroutine `co`'s stack, stored in `t` from 1; their
/// count (0 for the running coroutine). skynet's `update` looks there for old tables.
unsafe extern "C-unwind" fn stackvalues(state: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as a C function; the values move to this stack and back (both
    // threads of one VM, the other one suspended), and nothing here owns a destructor.
    unsafe {
        let co = ffi::lua_tothread(state, 1);
        if co.is_null() {
            ffi::luaL_argerror(state, 1, c"thread expected".as_ptr());
        }
        let mut n = 0;
        if co != state {
            ffi::luaL_checktype(state, 2, ffi::LUA_TTABLE);
            n = ffi::lua_gettop(co);
            // Each value copied across and stored raw: nothing runs between, so `co`'s stack
            // is never written to but for one slot it has room for.
            for i in 1..=n {
                if ffi::lua_checkstack(co, 1) == 0 {
                    raw::raise(state, "stackvalues: no room on the coroutine's stack");
                }
                ffi::lua_pushvalue(co, i);
                ffi::lua_xmove(co, state, 1);
                ffi::lua_rawseti(state, 2, ffi::lua_Integer::from(i));
            }
        }
        ffi::lua_pushinteger(state, ffi::lua_Integer::from(n));
        1
    }
}
