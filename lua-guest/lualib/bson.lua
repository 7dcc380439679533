-- bson: skynet's `bson` module (BSON documents, as MongoDB stores them), written in Lua on
-- string.pack. The interface is skynet's lua-bson.c's:
--
--   bson.encode(t) / bson.encode_order(k1, v1, k2, v2, ...)  -> a document
--   doc:decode() / bson.decode(doc) -> a table;  #doc -> its size;  tostring(doc) -> its bytes
--   doc:makeindex(); doc.key = value      (replaces a fixed-size field in place)
--   bson.null, bson.minkey, bson.maxkey, bson.date(sec), bson.timestamp(t [, inc]),
--   bson.regex(pattern [, options]), bson.binary(bytes), bson.objectid([hex]), bson.int64(n)
--   bson.type(v) -> a type name and the value's parts
--
-- Special values are strings starting with "\0" and the BSON type byte, as in skynet. A
-- document is a table with a private metatable here (a userdata in skynet); everything else,
-- the bytes included, is skynet's.

local string_pack, string_unpack = string.pack, string.unpack
local char, byte, sub, find, format = string.char, string.byte, string.sub, string.find, string.format
local concat = table.concat
local utf8_len = utf8.len
local math_type, tointeger = math.type, math.tointeger
local error, type, tostring, tonumber = error, type, tostring, tonumber
local setmetatable, rawget, rawset, rawlen, next, select = setmetatable, rawget, rawset, rawlen, next, select
-- The metatable itself, as luaL_getmetafield reads it (past __metatable).
local getmetatable = debug and debug.getmetatable or getmetatable

local REAL, STRING, DOCUMENT, ARRAY, BINARY = 1, 2, 3, 4, 5
local OBJECTID, BOOLEAN, DATE, NULL, REGEX = 7, 8, 9, 10, 11
local DBPOINTER, JSCODE, SYMBOL, CODEWS = 12, 13, 14, 15
local INT32, TIMESTAMP, INT64 = 16, 17, 18
local MINKEY, MAXKEY = 255, 127
local MAX_DEPTH = 128
local TYPE_SHIFT = 5

local bson = {}

-- Documents: an empty table each, so that every read and write of a field goes through the
-- metatable; their bytes and `makeindex` tables are kept aside.
local doc_meta = {}
local bytes_of = setmetatable({}, { __mode = "k" })
local index_of = setmetatable({}, { __mode = "k" })

local function document(bytes)
	local doc = setmetatable({}, doc_meta)
	bytes_of[doc] = bytes
	return doc
end

local function is_document(v)
	return type(v) == "table" and getmetatable(v) == doc_meta and bytes_of[v] ~= nil
end

---------------------------------------------------------------------------------------------
-- Encoding

-- As skynet's check: sequences of up to 4 bytes, code points up to 0x10FFFF (surrogates pass).
local function utf8_string(s)
	if not utf8_len(s, 1, -1, true) then
		error("Invalid utf8 string", 0)
	end
	for _, c in utf8.codes(s, true) do
		if c > 0x10FFFF then
			error("Invalid utf8 string", 0)
		end
	end
	return s .. "\0"
end

local function int32(i)
	return string_pack("<I4", i & 0xffffffff)
end

local encode_table

-- One element: type byte, key, value. `key` is the key's text.
local function element(key, v, depth)
	local t = type(v)
	if t == "number" then
		if math_type(v) == "integer" then
			if v >= -0x80000000 and v <= 0x7fffffff then
				return char(INT32) .. utf8_string(key) .. string_pack("<i4", v)
			end
			return char(INT64) .. utf8_string(key) .. string_pack("<i8", v)
		end
		return char(REAL) .. utf8_string(key) .. string_pack("<d", v)
	elseif t == "string" then
		local len = #v
		if len > 1 and byte(v, 1) == 0 then
			local subtype = byte(v, 2)
			local head = char(subtype) .. utf8_string(key)
			if subtype == BINARY then
				-- the length does not count the binary subtype byte that follows it
				return head .. string_pack("<i4", len - 3) .. sub(v, 3)
			elseif subtype == OBJECTID then
				if len ~= 14 then
					error("Invalid object id " .. sub(v, 3), 0)
				end
				return head .. sub(v, 3)
			elseif subtype == JSCODE or subtype == DBPOINTER or subtype == SYMBOL or subtype == CODEWS then
				return head .. sub(v, 3)
			elseif subtype == DATE then
				if len ~= 6 then
					error("Invalid date", 0)
				end
				return head .. string_pack("<i8", string_unpack("<I4", v, 3) * 1000)
			elseif subtype == TIMESTAMP then
				if len ~= 10 then
					error("Invalid timestamp", 0)
				end
				return head .. sub(v, 3, 10)
			elseif subtype == REGEX then
				local body = sub(v, 3, -2)
				local last = 0
				for i = #body, 1, -1 do
					if byte(body, i) == 0 then
						last = i
						break
					end
				end
				return head .. utf8_string(sub(body, 1, last - 1)) .. utf8_string(sub(body, last + 1))
			elseif subtype == MINKEY or subtype == MAXKEY or subtype == NULL then
				return head
			elseif subtype == INT64 then
				if len ~= 10 then
					error("Invalid int64", 0)
				end
				return head .. sub(v, 3, 10)
			end
			error(format("Invalid subtype %d", subtype), 0)
		end
		return char(STRING) .. utf8_string(key) .. string_pack("<i4", len + 1) .. utf8_string(v)
	elseif t == "table" then
		if is_document(v) then
			return char(DOCUMENT) .. utf8_string(key) .. bytes_of[v]
		end
		return encode_table(key, v, depth + 1)
	elseif t == "boolean" then
		return char(BOOLEAN) .. utf8_string(key) .. (v and "\1" or "\0")
	elseif t == "nil" then
		error("Bson array has a hole (nil), Use bson.null instead", 0)
	end
	error("Invalid value type : " .. t, 0)
end

-- A document or array from its elements: the length, the elements, a zero.
local function frame(parts)
	local body = concat(parts)
	return string_pack("<i4", #body + 5) .. body .. "\0"
end

local function array_body(t, len, depth)
	local parts = {}
	for i = 1, len do
		parts[i] = element(tostring(i - 1), t[i], depth)
	end
	return frame(parts)
end

local function dict_element(k, v, depth)
	local kt = type(k)
	if kt == "number" then
		error("Bson dictionary's key can't be number", 0)
	elseif kt ~= "string" then
		error("Invalid key type : " .. kt, 0)
	end
	return element(k, v, depth)
end

local function simple_dict_body(t, depth)
	local parts, n = {}, 0
	for k, v in next, t do
		n = n + 1
		parts[n] = dict_element(k, v, depth)
	end
	return frame(parts)
end

-- A table whose metatable has __pairs: its fields in the order __pairs gives them.
local function meta_dict_body(t, pairs_fn, depth)
	local f, s, k = pairs_fn(t)
	local parts, n = {}, 0
	while true do
		local v
		k, v = f(s, k)
		if k == nil then
			break
		end
		n = n + 1
		parts[n] = dict_element(k, v, depth)
	end
	return frame(parts)
end

local function is_rawarray(t)
	local first = next(t)
	if first == nil then
		return false
	end
	first = math_type(first) == "integer" and first or 0
	if first <= 1 then
		return first > 0
	end
	return first <= rawlen(t)
end

function encode_table(key, t, depth)
	if depth > MAX_DEPTH then
		error("Too depth while encoding bson", 0)
	end
	local mt = getmetatable(t)
	local len_fn = type(mt) == "table" and rawget(mt, "__len")
	if len_fn then
		local len = len_fn(t)
		if math_type(len) ~= "integer" then
			error("__len should return integer", 0)
		end
		return char(ARRAY) .. utf8_string(key) .. array_body(t, len, depth)
	end
	local pairs_fn = type(mt) == "table" and rawget(mt, "__pairs")
	if pairs_fn then
		return char(DOCUMENT) .. utf8_string(key) .. meta_dict_body(t, pairs_fn, depth)
	elseif is_rawarray(t) then
		return char(ARRAY) .. utf8_string(key) .. array_body(t, rawlen(t), depth)
	end
	return char(DOCUMENT) .. utf8_string(key) .. simple_dict_body(t, depth)
end

function bson.encode(t)
	if type(t) ~= "table" or is_document(t) then
		error(format("bad argument #1 to 'encode' (table expected, got %s)", is_document(t) and "userdata" or type(t)), 2)
	end
	local mt = getmetatable(t)
	local pairs_fn = type(mt) == "table" and rawget(mt, "__pairs")
	if pairs_fn then
		return document(meta_dict_body(t, pairs_fn, 0))
	end
	return document(simple_dict_body(t, 0))
end

-- encode_order(k1, v1, k2, v2, ...): the fields in argument order.
function bson.encode_order(...)
	local n = select("#", ...)
	if n % 2 ~= 0 then
		error("Invalid ordered dict", 2)
	end
	local parts = {}
	for i = 1, n, 2 do
		local k, v = select(i, ...)
		local kt = type(k)
		if kt == "number" then
			k = tostring(k)
		elseif kt ~= "string" then
			error(format("Argument %d need a string", i), 2)
		end
		parts[#parts + 1] = element(k, v, 0)
	end
	return document(frame(parts))
end

---------------------------------------------------------------------------------------------
-- Decoding

local function invalid()
	error("Invalid bson block", 0)
end

local function need(s, pos, n, limit)
	if pos + n - 1 > limit then
		invalid()
	end
end

local function cstring(s, pos, limit)
	local zero = find(s, "\0", pos, true)
	if not zero or zero > limit then
		invalid()
	end
	return sub(s, pos, zero - 1), zero + 1
end

local function object(kind, raw)
	return "\0" .. char(kind) .. raw
end

-- The document or array at `pos` (within `limit`); the table and the position after it.
local function decode_dict(s, pos, limit, array)
	need(s, pos, 4, limit)
	local size = string_unpack("<i4", s, pos)
	if size < 5 then
		invalid()
	end
	need(s, pos, size, limit)
	local stop = pos + size - 1 -- the document's final zero
	if byte(s, stop) ~= 0 then
		error("Invalid document end", 0)
	end
	local t = {}
	local at = pos + 4
	while at < stop do
		local bt = byte(s, at)
		local key
		key, at = cstring(s, at + 1, stop - 1)
		if array then
			key = (tointeger(tonumber(key)) or 0) + 1
		end
		local v
		if bt == REAL then
			need(s, at, 8, stop - 1)
			v, at = string_unpack("<d", s, at)
		elseif bt == BOOLEAN then
			need(s, at, 1, stop - 1)
			v, at = byte(s, at) ~= 0, at + 1
		elseif bt == STRING then
			need(s, at, 4, stop - 1)
			local len = string_unpack("<i4", s, at)
			if len <= 0 then
				error(format("Invalid bson string , length = %d", len), 0)
			end
			need(s, at + 4, len, stop - 1)
			v, at = sub(s, at + 4, at + 2 + len), at + 4 + len
		elseif bt == DOCUMENT or bt == ARRAY then
			v, at = decode_dict(s, at, stop - 1, bt == ARRAY)
		elseif bt == BINARY then
			need(s, at, 5, stop - 1)
			local len, subtype = string_unpack("<i4B", s, at)
			if len < 0 then
				invalid()
			end
			need(s, at + 5, len, stop - 1)
			v, at = "\0" .. char(BINARY, subtype) .. sub(s, at + 5, at + 4 + len), at + 5 + len
		elseif bt == OBJECTID then
			need(s, at, 12, stop - 1)
			v, at = object(OBJECTID, sub(s, at, at + 11)), at + 12
		elseif bt == DATE then
			need(s, at, 8, stop - 1)
			local ms
			ms, at = string_unpack("<i8", s, at)
			-- seconds, truncated toward zero, in 32 bits (as skynet's C does)
			local sec = ms >= 0 and ms // 1000 or -((-ms) // 1000)
			v = object(DATE, string_pack("<I4", sec & 0xffffffff))
		elseif bt == MINKEY or bt == MAXKEY or bt == NULL then
			v = "\0" .. char(bt)
		elseif bt == REGEX then
			local pattern, options
			pattern, at = cstring(s, at, stop - 1)
			options, at = cstring(s, at, stop - 1)
			v = "\0" .. char(REGEX) .. pattern .. "\0" .. options .. "\0"
		elseif bt == INT32 then
			need(s, at, 4, stop - 1)
			v, at = string_unpack("<i4", s, at)
		elseif bt == TIMESTAMP then
			need(s, at, 8, stop - 1)
			v, at = object(TIMESTAMP, sub(s, at, at + 7)), at + 8
		elseif bt == INT64 then
			need(s, at, 8, stop - 1)
			v, at = string_unpack("<i8", s, at)
		elseif bt == DBPOINTER then
			need(s, at, 4, stop - 1)
			local len = string_unpack("<i4", s, at)
			if len < 0 then invalid() end
			need(s, at, len + 16, stop - 1)
			v, at = object(DBPOINTER, sub(s, at, at + len + 15)), at + len + 16
		elseif bt == JSCODE or bt == SYMBOL then
			need(s, at, 4, stop - 1)
			local len = string_unpack("<i4", s, at)
			if len < 0 then invalid() end
			need(s, at, len + 4, stop - 1)
			v, at = object(bt, sub(s, at, at + len + 3)), at + len + 4
		elseif bt == CODEWS then
			need(s, at, 4, stop - 1)
			local len = string_unpack("<i4", s, at)
			if len < 4 then invalid() end
			need(s, at, len, stop - 1)
			v, at = object(bt, sub(s, at, at + len - 1)), at + len
		else
			error("Invalid bson type : " .. bt, 0)
		end
		rawset(t, key, v)
	end
	return t, stop + 1
end

-- decode(doc): its fields as a table; nothing for what is not a document.
function bson.decode(doc)
	if not is_document(doc) then
		return
	end
	local s = bytes_of[doc]
	return (decode_dict(s, 1, #s, false))
end

---------------------------------------------------------------------------------------------
-- Fields replaced in place: makeindex notes where each fixed-size top-level field is.

local FIXED = {
	[INT64] = 8, [TIMESTAMP] = 8, [DATE] = 8, [REAL] = 8,
	[BOOLEAN] = 1, [OBJECTID] = 12, [INT32] = 4,
}

-- A length field, which must not be negative (a document only its own service made, but a
-- negative one would walk backwards for ever).
local function length(s, at)
	local n = string_unpack("<i4", s, at)
	if n < 0 then
		invalid()
	end
	return n
end

local function makeindex(doc)
	if not is_document(doc) then
		error(format("bad argument #1 to 'makeindex' (bson expected, got %s)", type(doc)), 2)
	end
	local s = bytes_of[doc]
	local index = {}
	local stop = #s
	local at = 5
	while at < stop do
		local bt = byte(s, at)
		local key
		key, at = cstring(s, at + 1, stop - 1)
		local fixed = FIXED[bt]
		if fixed then
			index[key] = bt | ((at - 1) << TYPE_SHIFT)
			at = at + fixed
		elseif bt == STRING or bt == JSCODE or bt == SYMBOL then
			at = at + 4 + length(s, at)
		elseif bt == CODEWS or bt == ARRAY or bt == DOCUMENT then
			at = at + length(s, at)
		elseif bt == BINARY then
			at = at + 5 + length(s, at)
		elseif bt == MINKEY or bt == MAXKEY or bt == NULL then
			-- no value
		elseif bt == REGEX then
			local _
			_, at = cstring(s, at, stop - 1)
			_, at = cstring(s, at, stop - 1)
		elseif bt == DBPOINTER then
			at = at + 16 + length(s, at)
		else
			error("Invalid bson type : " .. bt, 0)
		end
	end
	index_of[doc] = index
	return doc
end

local function replacement(kind, value)
	if kind == REAL then
		if type(value) ~= "number" then
			error("bad argument #3 to 'replace' (number expected, got " .. type(value) .. ")", 3)
		end
		return string_pack("<d", value)
	elseif kind == BOOLEAN then
		return value and "\1" or "\0"
	elseif kind == OBJECTID or kind == DATE or kind == TIMESTAMP then
		if type(value) ~= "string" then
			error("bad argument #3 to 'replace' (string expected, got " .. type(value) .. ")", 3)
		end
		if #value < 6 or byte(value, 1) ~= 0 or byte(value, 2) ~= kind then
			error(format("Type mismatch, need bson type %d", kind), 3)
		end
		if kind == OBJECTID then
			if #value ~= 14 then
				error("Invalid object id", 3)
			end
			return sub(value, 3)
		elseif kind == DATE then
			if #value ~= 6 then
				error("Invalid date", 3)
			end
			return string_pack("<i8", string_unpack("<I4", value, 3) * 1000)
		end
		if #value ~= 10 then
			error("Invalid timestamp", 3)
		end
		return sub(value, 3)
	elseif kind == INT32 or kind == INT64 then
		if math_type(value) ~= "integer" then
			error(format("%f must be a %s integer ", tonumber(value) or 0, kind == INT32 and "32bit" or "64bit"), 3)
		end
		return kind == INT32 and int32(value) or string_pack("<i8", value)
	end
	error(format("Can't replace type %d", kind), 3)
end

doc_meta.__index = { decode = bson.decode, makeindex = makeindex }
doc_meta.__tostring = function(doc)
	return bytes_of[doc]
end
doc_meta.__len = function(doc)
	return #bytes_of[doc]
end
doc_meta.__newindex = function(doc, key, value)
	local index = index_of[doc]
	if type(index) ~= "table" then
		error("call makeindex first", 2)
	end
	local id = index[key]
	if math_type(id) ~= "integer" then
		error("Can't replace key : " .. tostring(key), 2)
	end
	local kind, offset = id & ((1 << TYPE_SHIFT) - 1), id >> TYPE_SHIFT
	local new = replacement(kind, value)
	local s = bytes_of[doc]
	bytes_of[doc] = sub(s, 1, offset) .. new .. sub(s, offset + #new + 1)
end

---------------------------------------------------------------------------------------------
-- Special values

bson.null = "\0" .. char(NULL)
bson.minkey = "\0" .. char(MINKEY)
bson.maxkey = "\0" .. char(MAXKEY)

local function checkinteger(v, n, name)
	local i = tointeger(v)
	if not i then
		error(format("bad argument #%d to '%s' (number has no integer representation)", n, name), 3)
	end
	return i
end

-- date(seconds)
function bson.date(sec)
	return "\0" .. char(DATE) .. int32(checkinteger(sec, 1, "date"))
end

function bson.int64(n)
	return "\0" .. char(INT64) .. string_pack("<i8", checkinteger(n, 1, "int64"))
end

local timestamp_inc = 0

-- timestamp(time [, increment]): without an increment, a counter of this module's.
function bson.timestamp(t, inc)
	t = checkinteger(t, 1, "timestamp")
	if inc == nil then
		inc = timestamp_inc
		timestamp_inc = (timestamp_inc + 1) & 0xffffffff
	else
		inc = tointeger(inc) or 0
	end
	return "\0" .. char(TIMESTAMP) .. int32(inc) .. int32(t)
end

function bson.regex(pattern, options)
	if type(pattern) ~= "string" and type(pattern) ~= "number" then
		error("bad argument #1 to 'regex' (string expected, got " .. type(pattern) .. ")", 2)
	end
	return "\0" .. char(REGEX) .. pattern .. "\0" .. (options or "") .. "\0"
end

function bson.binary(data)
	return "\0" .. char(BINARY, 0) .. data
end

-- objectid([hex]): from 24 hex digits, or a new one: seconds (big-endian), five bytes of this
-- VM's own, a counter.
local oid_header, oid_counter
local hex_value = {}
for i = 0, 255 do
	local c = char(i)
	if c:match("%d") then
		hex_value[i] = i - 48
	elseif c:match("%l") then
		hex_value[i] = i - 97 + 10
	elseif c:match("%u") then
		hex_value[i] = i - 65 + 10
	else
		hex_value[i] = 0
	end
end

function bson.objectid(hex)
	local th = type(hex)
	if th == "string" or th == "number" then
		hex = tostring(hex)
		if #hex ~= 24 then
			error("Invalid objectid " .. hex, 2)
		end
		local id = {}
		for i = 1, 12 do
			local hi, lo = byte(hex, i * 2 - 1, i * 2)
			id[i] = char(((hex_value[hi] << 4) | hex_value[lo]) & 0xff)
		end
		return "\0" .. char(OBJECTID) .. concat(id)
	end
	if not oid_header then
		-- An address of this VM's and the clock: no two VMs of a process (nor processes) alike.
		local seed = tonumber(tostring({}):match("0x(%x+)") or "0", 16) ~ os.time()
		oid_header = string_pack(">I4", seed & 0xffffffff) .. char((seed >> 32) & 0xff)
		oid_counter = (seed >> 8) & 0xffffff
	end
	oid_counter = (oid_counter + 1) & 0xffffff
	return "\0" .. char(OBJECTID) .. string_pack(">I4", os.time() & 0xffffffff) .. oid_header
		.. string_pack(">I3", oid_counter)
end

---------------------------------------------------------------------------------------------
-- bson.type(v): "number"|"boolean"|"table"|"string", v; "nil"; or a special value's name and
-- its parts (binary: bytes, subtype; objectid: 24 hex digits; timestamp: time, increment;
-- date: seconds; regex: pattern, options; int64: n; unsupported: its bytes).

local function subtype(kind, raw)
	local len = #raw
	if kind == BINARY then
		return "binary", sub(raw, 2), byte(raw, 1)
	elseif kind == OBJECTID then
		if len ~= 12 then
			error("Invalid object id", 3)
		end
		return "objectid", (raw:gsub(".", function(c) return format("%02x", byte(c)) end))
	elseif kind == DATE then
		if len ~= 4 then
			error("Invalid date", 3)
		end
		return "date", (string_unpack("<i4", raw))
	elseif kind == TIMESTAMP then
		if len ~= 8 then
			error("Invalid timestamp", 3)
		end
		local inc, t = string_unpack("<I4I4", raw)
		return "timestamp", t, inc
	elseif kind == REGEX then
		local body = sub(raw, 1, -2)
		for i = #body, 1, -1 do
			if byte(body, i) == 0 then
				return "regex", sub(body, 1, i - 1), sub(body, i + 1)
			end
		end
		error("Invalid regex", 3)
	elseif kind == MINKEY then
		return "minkey"
	elseif kind == MAXKEY then
		return "maxkey"
	elseif kind == NULL then
		return "nil"
	elseif kind == JSCODE or kind == DBPOINTER or kind == SYMBOL or kind == CODEWS then
		return "unsupported", raw
	elseif kind == INT64 then
		if len ~= 8 then
			error("Invalid int64", 3)
		end
		return "int64", (string_unpack("<i8", raw))
	end
	error(format("Invalid subtype %d", kind), 3)
end

function bson.type(v)
	local t = type(v)
	if t == "number" or t == "boolean" or t == "table" then
		return t, v
	elseif t == "nil" then
		return "nil"
	elseif t == "string" then
		if #v >= 2 and byte(v, 1) == 0 then
			return subtype(byte(v, 2), sub(v, 3))
		end
		return "string", v
	end
	error("Invalid type " .. t, 2)
end

---------------------------------------------------------------------------------------------
-- The driver's seam: not part of bson's interface.
--
-- skynet's `skynet.mongo.driver` (lualib/skynet/mongo/driver.lua here) reads a document's bytes
-- (`op_msg`) and hands back a document over the bytes of a reply (`reply`); in C both are
-- pointers. Here a document's bytes are private to this file, so the driver gets this one pair
-- of functions, and nothing else does by design: it is put in `package.loaded` under a name no
-- file provides, for the driver's `require` after it has required bson. (It gives nothing that
-- `driver.reply` does not: a document over given bytes, which `decode` checks as it reads.)
--   bytes(v)     -> the bytes of document v, or nil when v is not one of this VM's documents
--   wrap(bytes)  -> a new document over these bytes (the caller has checked their length field)
package.loaded["bson.driver_seam"] = {
	bytes = function(v)
		if is_document(v) then
			return bytes_of[v]
		end
	end,
	wrap = document,
}

return bson
