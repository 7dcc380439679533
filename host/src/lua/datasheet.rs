//! `skynet.datasheet.core`: the native half of skynet's own `skynet.datasheet` (its `init.lua`,
//! `builder.lua`, `dump.lua`; the contract is skynet's `lualib-src/lua-datasheet.c`), so that a
//! project running skynet's library keeps its datasheets. (skybox's own `skynet.datasheet` is
//! built on `sharedata` and does not use this.)
//!
//! A builder dumps a table to a binary document (a Lua string) and hands readers a pointer to
//! it with `stringpointer`; readers' `new(pointer)` gives a table read lazily from the document,
//! `update(table, newpointer)` moves every table read from the old document to the new one.
//! skynet passes the string's address between services; here `stringpointer` copies the
//! document into a process-wide table and returns a token naming it (a forged or stale token is
//! an error), which lives as long as the VM that made it. The proxies (tables filled from the
//! document at their first read, as skynet's are) are Lua, below, on a copy of the document
//! per reading VM.

use std::ffi::c_void;
use std::sync::{Arc, Mutex, MutexGuard};

use mlua::{LightUserData, Lua, Table};

use super::buffers::Tokens;
use super::core_api::{guarded, wrap_raising};

/// The documents, by token.
static DOCUMENTS: Mutex<Tokens<Arc<[u8]>>> = Mutex::new(Tokens::new());

fn documents() -> MutexGuard<'static, Tokens<Arc<[u8]>>> {
    DOCUMENTS.lock().unwrap_or_else(|e| e.into_inner())
}

/// The documents a VM made: removed with it (its app data is dropped when it closes).
#[derive(Default)]
struct Made(Vec<usize>);

impl Drop for Made {
    fn drop(&mut self) {
        let mut documents = documents();
        for token in self.0.drain(..) {
            documents.take(token);
        }
    }
}

/// Lazy proxies over a document, as lua-datasheet.c builds them: `new`, `update`.
const PROXIES: &str = r#"
local fetch = ...
local string_unpack, rawget, rawset, rawlen, next, setmetatable, error =
	string.unpack, rawget, rawset, rawlen, next, setmetatable, error

local NIL, INTEGER, REAL, BOOLEAN, TABLE, STRING = 0, 1, 2, 3, 4, 5
local INVALID = 0xffffffff

-- document: { bytes, strtbl, n, tables = offset of the table area, pointer }
local documents = {}		-- pointer -> document (this VM's copy)
local nodes = setmetatable({}, { __mode = "kv" })	-- "pointer:index" -> proxy
local proxies = setmetatable({}, { __mode = "k" })	-- proxy -> { doc, index }
local meta = {}

local function document(pointer)
	local doc = documents[pointer]
	if doc then return doc end
	local bytes, err = fetch(pointer)
	if not bytes then error(err, 3) end
	if #bytes < 8 then error("Invalid datasheet document", 3) end
	local strtbl, n = string_unpack("<I4I4", bytes)
	if #bytes < 8 + 4 * n then error("Invalid datasheet document", 3) end
	doc = { bytes = bytes, strtbl = strtbl, n = n, tables = 8 + 4 * n, pointer = pointer }
	documents[pointer] = doc
	return doc
end

-- The offset (1-based) of table `index` in `doc`, or nil.
local function table_at(doc, index)
	if index < 0 or index >= doc.n then return nil end
	local offset = string_unpack("<I4", doc.bytes, 9 + 4 * index)
	if offset == INVALID then return nil end
	return doc.tables + offset + 1
end

local function create_proxy(doc, index)
	local at = table_at(doc, index)
	if not at then error("Invalid index " .. index, 0) end
	local key = tostring(doc.pointer) .. ":" .. index
	local proxy = nodes[key]
	if proxy then return proxy end
	proxy = setmetatable({}, meta)
	nodes[key] = proxy
	proxies[proxy] = { doc = doc, index = index }
	return proxy
end

local function value(doc, at, kind)
	if kind == NIL then
		return nil
	elseif kind == INTEGER then
		return (string_unpack("<i4", doc.bytes, at))
	elseif kind == REAL then
		return (string_unpack("<f", doc.bytes, at))
	elseif kind == BOOLEAN then
		return string_unpack("<I4", doc.bytes, at) ~= 0
	elseif kind == TABLE then
		return create_proxy(doc, (string_unpack("<I4", doc.bytes, at)))
	elseif kind == STRING then
		return (string_unpack("z", doc.bytes, doc.strtbl + string_unpack("<I4", doc.bytes, at) + 1))
	end
	error("Invalid type " .. tostring(kind), 0)
end

-- Fills `proxy` from its document and makes it a plain table.
local function fill(proxy)
	local p = proxies[proxy]
	if not p then error("Invalid proxy table " .. tostring(proxy), 0) end
	local doc, index = p.doc, p.index
	local at = table_at(doc, index)
	if not at then
		error(string.format("Invalid proxy (index = %d, total = %d)", index, doc.n), 0)
	end
	local array, dict = string_unpack("<I4I4", doc.bytes, at)
	local types = at + 8
	local v = types + ((array + dict + 3) & ~3)
	for i = 1, array do
		rawset(proxy, i, value(doc, v, doc.bytes:byte(types + i - 1)))
		v = v + 4
	end
	for i = 1, dict do
		local k = value(doc, v, STRING)
		rawset(proxy, k, value(doc, v + 4, doc.bytes:byte(types + array + i - 1)))
		v = v + 8
	end
	setmetatable(proxy, nil)
end

meta.__index = function(proxy, k)
	fill(proxy)
	return rawget(proxy, k)
end
meta.__pairs = function(proxy)
	fill(proxy)
	return next, proxy, nil
end
meta.__len = function(proxy)
	fill(proxy)
	return rawlen(proxy)
end

local core = {}

function core.new(pointer)
	if type(pointer) ~= "userdata" then
		error("bad argument #1 to 'new' (light userdata expected, got " .. type(pointer) .. ")", 2)
	end
	return create_proxy(document(pointer), 0)
end

-- Every table read from the proxy's document is emptied and reads the new one from now on
-- (dropped if the new document has no such table).
function core.update(proxy, pointer)
	local p = proxies[proxy]
	if not p then error("Invalid proxy table " .. tostring(proxy), 2) end
	local old = p.doc
	local new = document(pointer)
	local moved = {}
	for key, t in next, nodes do
		local q = proxies[t]
		if q and q.doc == old then
			q.doc = new
			for k in next, t do rawset(t, k, nil) end
			setmetatable(t, meta)
			nodes[key] = nil
			if table_at(new, q.index) then
				moved[tostring(new.pointer) .. ":" .. q.index] = t
			end
		end
	end
	for key, t in next, moved do nodes[key] = t end
end

return core
"#;

/// The module, as `require "skynet.datasheet.core"` returns it.
pub(crate) fn module(lua: &Lua) -> mlua::Result<Table> {
    let fetch = lua.create_function(|lua, pointer: LightUserData| {
        let bytes = documents().get(pointer.0 as usize).cloned();
        match bytes {
            Some(bytes) => Ok((Some(lua.create_string(&*bytes)?), None)),
            None => Ok((None, Some("Invalid datasheet pointer (unknown or freed)"))),
        }
    })?;
    let core: Table = lua.load(PROXIES).set_name("=[skynet.datasheet.core]").call(fetch)?;
    let raw = lua.create_table()?;
    raw.set(
        "stringpointer",
        guarded(lua, |lua, document: mlua::LuaString| {
            let token = documents().insert(Arc::from(&*document.as_bytes()));
            if lua.app_data_ref::<Made>().is_none() {
                lua.set_app_data(Made::default());
            }
            lua.app_data_mut::<Made>().expect("set above").0.push(token);
            Ok(LightUserData(std::ptr::without_provenance_mut::<c_void>(token)))
        })?,
    )?;
    let raising = wrap_raising(lua, raw)?;
    core.set("stringpointer", raising.get::<mlua::Function>("stringpointer")?)?;
    Ok(core)
}
