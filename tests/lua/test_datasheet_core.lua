-- skynet.datasheet.core, the native half of skynet's own datasheet: documents in skynet's
-- binary format (built here with string.pack, as skynet's dump.lua writes them) read lazily
-- in another service, moved to a new version by update, and bad pointers refused.
local skynet = require "skynet"
local core = require "skynet.datasheet.core"
local t = require "testlib"

local NIL, INTEGER, REAL, BOOLEAN, TABLE, STRING = 0, 1, 2, 3, 4, 5

-- tables: a list of { array = { {type, u32}... }, dict = { {key, type, u32}... } }
local function document(tables)
	local strings, string_at = {}, {}
	local function str(s)
		if not string_at[s] then
			local offset = #table.concat(strings)
			strings[#strings + 1] = s .. "\0"
			string_at[s] = offset
		end
		return string_at[s]
	end
	local bodies, index, offset = {}, {}, 0
	for i, tb in ipairs(tables) do
		local types, values = {}, {}
		for _, v in ipairs(tb.array) do
			types[#types + 1] = string.char(v[1])
			values[#values + 1] = v[1] == STRING and string.pack("<I4", str(v[2])) or v[3] or string.pack("<i4", v[2])
		end
		for _, kv in ipairs(tb.dict) do
			types[#types + 1] = string.char(kv[2])
			values[#values + 1] = string.pack("<I4", str(kv[1]))
			values[#values + 1] = kv[2] == STRING and string.pack("<I4", str(kv[3])) or kv[4] or string.pack("<i4", kv[3])
		end
		local t = table.concat(types)
		t = t .. string.rep("\0", (4 - #t % 4) % 4)
		bodies[i] = string.pack("<I4I4", #tb.array, #tb.dict) .. t .. table.concat(values)
		index[i] = string.pack("<I4", offset)
		offset = offset + #bodies[i]
	end
	local n = #tables
	return string.pack("<I4I4", 8 + 4 * n + offset, n) .. table.concat(index) .. table.concat(bodies)
		.. table.concat(strings)
end

local v1 = document {
	{ array = {}, dict = { { "a", INTEGER, 1 }, { "b", STRING, "text" }, { "c", TABLE, 1 },
		{ "r", REAL, 0, string.pack("<f", 0.5) }, { "y", BOOLEAN, 1 } } },
	{ array = { { INTEGER, 10 }, { INTEGER, 20 }, { STRING, "thirty" } }, dict = {} },
}
local v2 = document {
	{ array = {}, dict = { { "a", INTEGER, 2 }, { "c", TABLE, 1 } } },
	{ array = { { INTEGER, 11 } }, dict = {} },
}

t.test("a document read in another service, then its next version", function()
	local reader = skynet.newservice("dsc_reader_svc")
	local p1 = core.stringpointer(v1)
	t.eq(skynet.call(reader, "lua", "open", p1), true)
	t.eq(skynet.call(reader, "lua", "get", "a"), 1)
	t.eq(skynet.call(reader, "lua", "get", "b"), "text")
	t.eq(skynet.call(reader, "lua", "get", "r"), 0.5)
	t.eq(skynet.call(reader, "lua", "get", "y"), true)
	t.eq(skynet.call(reader, "lua", "get", "c", 3), "thirty")
	t.eq(skynet.call(reader, "lua", "update", core.stringpointer(v2)), true)
	t.eq(skynet.call(reader, "lua", "get", "a"), 2)
	t.eq(skynet.call(reader, "lua", "get", "b"), nil)
	t.eq(skynet.call(reader, "lua", "get", "c", 1), 11)
end)

t.test("proxies fill on first read: pairs and # as skynet's", function()
	local sheet = core.new(core.stringpointer(v1))
	t.eq(getmetatable(sheet) ~= nil, true)
	t.eq(#sheet.c, 3)
	local keys = {}
	for k in pairs(sheet) do keys[#keys + 1] = k end
	table.sort(keys)
	t.eq(keys, { "a", "b", "c", "r", "y" })
	t.eq(getmetatable(sheet), nil)
end)

t.test("bad pointers and documents are errors", function()
	t.raises(function() core.new(skynet.pack(1)) end, "Invalid datasheet pointer")
	t.raises(function() core.new("x") end, "light userdata expected")
	t.raises(function() core.stringpointer({}) end, "")
	t.raises(function() core.new(core.stringpointer(string.pack("<I4I4", 0, 5))) end, "Invalid datasheet document")
	t.raises(function() core.new(core.stringpointer(string.pack("<I4I4I4", 12, 1, 0xffffffff))) end, "Invalid index 0")
	-- a table that claims more values than the document holds
	local broken = core.new(core.stringpointer(string.pack("<I4I4I4I4I4", 20, 1, 0, 9, 0)))
	t.raises(function() return broken.x end, "")
	t.raises(function() core.update({}, core.stringpointer(v1)) end, "Invalid proxy table")
end)

skynet.start(function() t.run() end)
