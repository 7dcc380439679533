-- Serialization: skynet.pack/unpack/packstring/tostring/trash and message ownership.
local skynet = require "skynet"
local t = require "testlib"

local P = table.pack

-- pack then unpack in this VM, freeing the buffer
local function roundtrip(...)
	local msg, sz = skynet.pack(...)
	t.eq(type(msg), "userdata", "pack returns a lightuserdata")
	t.eq(math.type(sz), "integer", "pack returns an integer size")
	local r = P(skynet.unpack(msg, sz))
	skynet.trash(msg, sz)
	return r
end

-- a lightuserdata that no pack produced
local function forged_pointer()
	local up = 1
	local function f() return up end
	local p = debug.upvalueid(f, 1)
	assert(type(p) == "userdata")
	return p
end

local echo

local function get_echo()
	echo = echo or skynet.newservice("echo_svc")
	return echo
end

t.test("scalars of every kind survive, integers and floats distinct", function()
	local values = P(
		nil, true, false,
		0, 1, -1, 127, 128, 255, 256, 65535, 65536, -65536,
		0x7fffffff, -0x80000000, 0x100000000, math.maxinteger, math.mininteger,
		0.0, 0.5, -0.25, 3.0, 1e300, -1e-300, math.huge, -math.huge, 2^53, 2^63,
		"", "a", "with\0zero\255bytes", string.rep("x", 31), string.rep("y", 32),
		string.rep("z", 300), string.rep("w", 70000)
	)
	local r = roundtrip(table.unpack(values, 1, values.n))
	t.eq(r.n, values.n, "value count")
	for i = 1, values.n do
		t.eq(r[i], values[i], "value #" .. i)
	end
end)

t.test("math.type is preserved", function()
	local r = roundtrip(3, 3.0, 1 << 53, 2.0 ^ 53, -7, -7.0)
	t.eq({ math.type(r[1]), math.type(r[2]), math.type(r[3]), math.type(r[4]), math.type(r[5]), math.type(r[6]) },
		{ "integer", "float", "integer", "float", "integer", "float" })
end)

t.test("NaN and negative zero survive", function()
	local r = roundtrip(0 / 0, -0.0)
	t.ok(r[1] ~= r[1], "NaN")
	t.eq(math.type(r[2]), "float")
	t.eq(1 / r[2], -math.huge, "sign of -0.0")
end)

t.test("nil in the middle and at the end keeps the value count", function()
	t.eq(roundtrip(1, nil, 3, nil, nil), { n = 5, 1, nil, 3 })
	t.eq(roundtrip(nil), { n = 1 })
	t.eq(roundtrip(nil, nil), { n = 2 })
end)

t.test("packing no values unpacks to no values", function()
	t.eq(roundtrip().n, 0)
end)

t.test("nested tables survive", function()
	local v = {
		1, 2, 3,
		name = "skybox",
		nested = { a = { b = { c = { d = "deep" } } }, list = { "x", "y", { "z" } } },
		[1.5] = "float key",
		[-3] = "negative key",
		[true] = "boolean key",
		empty = {},
		holes = { [1] = 1, [2] = 2, [4] = 4, [100] = 100 },
		mixed = { 10, 20, 30, k = "v", [0] = "zero" },
		floats = { 1.0, 2.5, 3 },
	}
	local r = roundtrip(v, "after")
	t.eq(r[1], v)
	t.eq(r[2], "after")
	t.eq(math.type(r[1].floats[1]), "float")
	t.eq(math.type(r[1].floats[3]), "integer")
end)

t.test("20 levels of nesting", function()
	local v = { leaf = true }
	for i = 1, 20 do
		v = { level = i, child = v }
	end
	t.eq(roundtrip(v)[1], v)
end)

t.test("shared subtables are copied by value", function()
	local shared = { 1, 2 }
	local r = roundtrip({ a = shared, b = shared })[1]
	t.eq(r.a, { 1, 2 })
	t.eq(r.b, { 1, 2 })
end)

t.test("a cyclic table raises instead of looping", function()
	local c = {}
	c.self = c
	t.raises(function() skynet.pack(c) end)
	t.raises(function() skynet.packstring(c) end)
end)

t.test("metatables are not serialized; contents are", function()
	local v = setmetatable({ 1, 2, x = 3 }, { __index = function() return "meta" end })
	local r = roundtrip(v)[1]
	t.eq(getmetatable(r), nil)
	t.eq(r, { 1, 2, x = 3 })
end)

t.test("large strings and large tables", function()
	local big = string.rep("0123456789abcdef", 65536) -- 1 MiB
	t.eq(roundtrip(big)[1], big)
	local huge = string.rep("q", 8 * 1024 * 1024)
	local r = roundtrip(huge)[1]
	t.eq(#r, #huge)
	t.ok(r == huge)
	local arr = {}
	for i = 1, 100000 do
		arr[i] = i * 2
	end
	local ra = roundtrip(arr)[1]
	t.eq(#ra, 100000)
	t.eq(ra[99999], 199998)
end)

t.test("unsupported types raise", function()
	t.raises(function() skynet.pack(print) end)
	t.raises(function() skynet.pack({ f = function() end }) end)
	t.raises(function() skynet.pack(coroutine.create(function() end)) end)
	t.raises(function() skynet.packstring(print) end)
	if io and io.stdout then
		t.raises(function() skynet.pack(io.stdout) end)
	end
end)

t.test("lightuserdata round trip in the same VM", function()
	local p = forged_pointer()
	local r = roundtrip(p, { p = p })
	t.ok(rawequal(r[1], p))
	t.ok(rawequal(r[2].p, p))
end)

t.test("packstring equals tostring of pack, and sizes agree", function()
	local s = skynet.packstring(1, "a", { 2, x = 3.5 }, nil, true)
	t.eq(type(s), "string")
	local msg, sz = skynet.pack(1, "a", { 2, x = 3.5 }, nil, true)
	t.eq(sz, #s)
	t.eq(skynet.tostring(msg, sz), s)
	skynet.trash(msg, sz)
	t.eq(P(skynet.unpack(s)), P(1, "a", { 2, x = 3.5 }, nil, true))
	t.eq(P(skynet.unpack(s, #s)), P(1, "a", { 2, x = 3.5 }, nil, true))
end)

t.test("tostring of nil returns nothing", function()
	t.eq(select("#", skynet.tostring(nil)), 0)
end)

t.test("unpack of a corrupted stream raises", function()
	local s = skynet.packstring({ 1, 2, 3 }, "abc")
	t.raises(function() skynet.unpack(s:sub(1, #s - 2)) end)
	t.raises(function() skynet.unpack("\255\255\255\255\255") end)
end)

t.test("errors raised by pack, unpack and trash are strings", function()
	-- skynet's C functions raise with luaL_error: a string that Lua code can match and send on
	local _, e1 = pcall(skynet.pack, print)
	local _, e2 = pcall(skynet.unpack, "\255\255")
	local _, e3 = pcall(skynet.trash, forged_pointer(), 4)
	t.eq({ type(e1), type(e2), type(e3) }, { "string", "string", "string" })
	t.ok(e1:find("function", 1, true), e1)
end)

t.test("trash of a string is a no-op", function()
	skynet.trash("not a buffer", 12)
	skynet.trash(skynet.packstring(1))
end)

t.test("trash twice raises", function()
	local msg, sz = skynet.pack(1, 2, 3)
	skynet.trash(msg, sz)
	t.raises(function() skynet.trash(msg, sz) end)
end)

t.test("using a trashed buffer raises", function()
	local msg, sz = skynet.pack("gone")
	skynet.trash(msg, sz)
	t.raises(function() skynet.unpack(msg, sz) end)
	t.raises(function() skynet.tostring(msg, sz) end)
	t.raises(function() skynet.rawsend(get_echo(), "lua", msg, sz) end)
	t.raises(function() skynet.rawcall(get_echo(), "lua", msg, sz) end)
end)

t.test("a forged pointer raises everywhere", function()
	local p = forged_pointer()
	t.raises(function() skynet.unpack(p, 4) end)
	t.raises(function() skynet.tostring(p, 4) end)
	t.raises(function() skynet.trash(p, 4) end)
	t.raises(function() skynet.rawsend(get_echo(), "lua", p, 4) end)
	t.raises(function() skynet.redirect(get_echo(), skynet.self(), "lua", 0, p, 4) end)
end)

t.test("a sent buffer belongs to the message: sending it again raises", function()
	local e = skynet.newservice("echo_svc")
	local msg, sz = skynet.pack("push", "once")
	skynet.rawsend(e, "lua", msg, sz)
	t.raises(function() skynet.rawsend(e, "lua", msg, sz) end)
	t.raises(function() skynet.unpack(msg, sz) end)
	t.eq(skynet.call(e, "lua", "take"), { "once" })
end)

t.test("a buffer packed into a message travels with it (forged handles: buffers.rs's tests)", function()
	local e = get_echo()
	local msg, sz = skynet.pack("mine")
	-- as skynet's pointer does: the receiver reads (and owns) the block
	local ok, _, value = skynet.call(e, "lua", "unpack_ptr", msg, sz)
	t.eq(ok, true)
	t.eq(value, "mine")
	-- it left this VM with the request
	t.raises(function() skynet.unpack(msg, sz) end, "invalid message pointer")
end)

t.test("values cross services intact", function()
	local e = get_echo()
	local v = {
		ints = { 1, -2, math.maxinteger, math.mininteger },
		floats = { 0.5, 1.0, -1e-300, math.huge },
		s = "with\0nul",
		nested = { { { "deep" } } },
		[2.5] = true,
	}
	local r = P(skynet.call(e, "lua", "echo", v, nil, 7.0, "tail"))
	t.eq(r, P(v, nil, 7.0, "tail"))
	t.eq(math.type(r[3]), "float")
	local big = string.rep("B", 4 * 1024 * 1024)
	local rb = skynet.call(e, "lua", "echo", big)
	t.eq(#rb, #big)
	t.ok(rb == big)
end)

skynet.start(function()
	t.run()
end)
