-- skynet.mongo.driver: the wire format of MongoDB's OP_MSG for skynet's `mongo.lua`, written in
-- Lua over skybox's `bson`. The interface is skynet's lua-mongo.c's:
--
--   driver.length(s)               -> the little-endian int32 in s's first 4 bytes, minus 4
--                                     (a message's length field gives the bytes after it)
--   driver.reply(s)                -> true, response_to, document: an OP_MSG reply without its
--                                     length field; false when s is shorter than the header
--   driver.op_msg(id, flags, doc)  -> the bytes of an OP_MSG request with one body section
--
-- skynet's `reply` returns a light userdata pointing into s, which `bson.decode` reads; here it
-- is a bson document over a copy of those bytes (the same kind `bson.encode` returns), so
-- `bson.decode(document)` reads it the same way and it need not be kept beside s. `op_msg` takes
-- a document of this VM's `bson` (skynet: any userdata) and raises for anything else. The errors
-- are the C module's, without a position as there; only the cases where the C module reads past
-- the end of its string (a reply of 16 to 20 bytes, a length of fewer than 4) raise instead.

require "bson" -- which puts its seam in package.loaded (the end of bson.lua)
local seam = package.loaded["bson.driver_seam"]
if type(seam) ~= "table" then
	error("skynet.mongo.driver needs skybox's own bson (another bson module is on lua_path)", 0)
end
local bytes_of, wrap = seam.bytes, seam.wrap

local string_pack, string_unpack = string.pack, string.unpack
local byte, sub, format = string.byte, string.sub, string.format
local error, type, tostring, tonumber, select = error, type, tostring, tonumber, select
local tointeger = math.tointeger

local OP_MSG = 2013
local CHECKSUM_PRESENT = 1 << 0
local MORE_TO_COME = 1 << 1
-- request_id, response_to, opcode, flags: the header after the length field
local HEADER = 16

local driver = {}

local function typename(n, ...)
	if select("#", ...) < n then
		return "no value"
	end
	return type((select(n, ...)))
end

-- luaL_checklstring: a string, or a number as a string.
local function checkstring(fname, ...)
	local s = ...
	local t = type(s)
	if t == "string" then
		return s
	elseif t == "number" then
		return tostring(s)
	end
	error(format("bad argument #1 to '%s' (string expected, got %s)", fname, typename(1, ...)), 3)
end

-- luaL_checkinteger: an integer, or a float or string that is one.
local function checkinteger(n, fname, ...)
	local v = select(n, ...)
	local i = tointeger(v)
	if i then
		return i
	end
	if tonumber(v) then
		error(format("bad argument #%d to '%s' (number has no integer representation)", n, fname), 3)
	end
	error(format("bad argument #%d to '%s' (number expected, got %s)", n, fname, typename(n, ...)), 3)
end

function driver.length(...)
	local s = checkstring("length", ...)
	if #s < 4 then
		error("bad argument #1 to 'length' (4 bytes expected)", 2)
	end
	return string_unpack("<i4", s) - 4
end

function driver.reply(...)
	local s = checkstring("reply", ...)
	local size = #s
	if size < HEADER then
		return false
	end
	local response_to, opcode, flags = string_unpack("<i4i4i4", s, 5)
	if opcode ~= OP_MSG then
		error("Unsupported opcode:" .. opcode, 0)
	end
	if flags ~= 0 then
		if flags & CHECKSUM_PRESENT ~= 0 then
			error("Unsupported OP_MSG flag checksumPresent", 0)
		end
		if flags ~ MORE_TO_COME ~= 0 then
			error("Unsupported OP_MSG flag:" .. flags, 0)
		end
	end
	-- one section: its kind byte (0, a body) and a document filling the rest
	local kind = byte(s, HEADER + 1)
	if kind and kind ~= 0 then
		error("Unsupported OP_MSG payload type: " .. kind, 0)
	end
	if size < HEADER + 5 then
		error("Unsupported OP_MSG reply: truncated section", 0)
	end
	if string_unpack("<i4", s, HEADER + 2) ~= size - HEADER - 1 then
		error("Unsupported OP_MSG reply: >1 section", 0)
	end
	return true, response_to, wrap(sub(s, HEADER + 2))
end

function driver.op_msg(...)
	local id = checkinteger(1, "op_msg", ...)
	local flags = checkinteger(2, "op_msg", ...)
	local doc = bytes_of((select(3, ...)))
	if not doc then
		error("opmsg require cmd document", 0)
	end
	-- the length, the header (int32 fields as C's int: their low 32 bits), a body section
	return string_pack("<I4I4I4I4I4B", 21 + #doc, id & 0xffffffff, 0, OP_MSG, flags & 0xffffffff, 0) .. doc
end

return driver
