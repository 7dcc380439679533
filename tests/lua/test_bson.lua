-- bson (lua-guest/lualib/bson.lua): the bytes of bsonspec.org's examples, every special value
-- both ways, replacing fields in place, and the errors skynet's C module raises.
-- (tests/cmodules.rs compares it with skynet's C module byte for byte when SKYNET_DIR is set.)
local skynet = require "skynet"
local bson = require "bson"
local t = require "testlib"

t.test("bsonspec.org's examples, byte for byte", function()
	t.eq(tostring(bson.encode { hello = "world" }),
		"\x16\x00\x00\x00\x02hello\x00\x06\x00\x00\x00world\x00\x00")
	t.eq(tostring(bson.encode { BSON = { "awesome", 5.05, 1986 } }),
		"\x31\x00\x00\x00\x04BSON\x00\x26\x00\x00\x00\x020\x00\x08\x00\x00\x00awesome\x00"
		.. "\x011\x00\x33\x33\x33\x33\x33\x33\x14\x40\x102\x00\xc2\x07\x00\x00\x00\x00")
	t.eq(#bson.encode {}, 5)
end)

t.test("every kind of value comes back", function()
	local oid = bson.objectid("0123456789abcdefABCDEF01")
	local doc = bson.encode_order(
		"i32", 7, "i64", 2^40 // 1, "real", 0.5, "s", "text", "yes", true, "no", false,
		"null", bson.null, "min", bson.minkey, "max", bson.maxkey, "bin", bson.binary "\0\1\2",
		"oid", oid, "date", bson.date(1700000000), "ts", bson.timestamp(1700000000, 3),
		"re", bson.regex("^a.*", "i"), "big", bson.int64(-5), "arr", { 1, "two", { x = 3 } },
		"sub", bson.encode_order("k", "v"))
	local d = doc:decode()
	t.eq(d.i32, 7)
	t.eq(d.i64, 2^40 // 1)
	t.eq(d.real, 0.5)
	t.eq(d.s, "text")
	t.eq(d.yes, true)
	t.eq(d.no, false)
	t.eq(d.null, bson.null)
	t.eq(d.min, bson.minkey)
	t.eq(d.max, bson.maxkey)
	t.eq(d.bin, bson.binary "\0\1\2")
	t.eq(d.oid, oid)
	t.eq(select(2, bson.type(d.oid)), "0123456789abcdefabcdef01")
	t.eq(d.date, bson.date(1700000000))
	t.eq(d.ts, bson.timestamp(1700000000, 3))
	t.eq(d.re, bson.regex("^a.*", "i"))
	t.eq(d.big, -5)
	t.eq(d.arr[1], 1)
	t.eq(d.arr[2], "two")
	t.eq(d.arr[3].x, 3)
	t.eq(d.sub.k, "v")
	t.eq(bson.decode(doc).s, "text")
	t.eq(bson.decode "not a document", nil)
end)

t.test("bson.type names each value and its parts", function()
	local function ty(v) return table.pack(bson.type(v)) end
	t.eq(ty(1)[1], "number")
	t.eq(ty("s")[1], "string")
	t.eq(ty(nil)[1], "nil")
	t.eq(ty(bson.null)[1], "nil")
	local b = ty(bson.binary "xy")
	t.eq(b[1], "binary"); t.eq(b[2], "xy"); t.eq(b[3], 0)
	local ts = ty(bson.timestamp(100, 9))
	t.eq(ts[1], "timestamp"); t.eq(ts[2], 100); t.eq(ts[3], 9)
	local re = ty(bson.regex("p", "o"))
	t.eq(re[1], "regex"); t.eq(re[2], "p"); t.eq(re[3], "o")
	t.eq(ty(bson.date(42))[2], 42)
	t.eq(ty(bson.int64(-1))[2], -1)
	t.eq(ty(bson.minkey)[1], "minkey")
	t.eq(ty(bson.maxkey)[1], "maxkey")
	-- new object ids differ and sort by time then counter
	local a, c = bson.objectid(), bson.objectid()
	t.ok(a ~= c)
	t.eq(#a, 14)
end)

t.test("makeindex then replace fixed-size fields in place", function()
	local doc = bson.encode_order("a", 1, "r", 1.5, "b", true, "d", bson.date(1), "s", "text", "o", bson.objectid())
	local size = #doc
	local ok, err = pcall(function() doc.a = 2 end)
	t.ok(not ok and err:find "call makeindex first")
	doc:makeindex()
	doc.a = 2
	doc.r = -2.25
	doc.b = false
	doc.d = bson.date(99)
	local oid = bson.objectid()
	doc.o = oid
	t.eq(#doc, size)
	local d = doc:decode()
	t.eq(d.a, 2); t.eq(d.r, -2.25); t.eq(d.b, false); t.eq(d.d, bson.date(99)); t.eq(d.o, oid)
	t.eq(d.s, "text")
	ok, err = pcall(function() doc.s = "other" end)
	t.ok(not ok and err:find "Can't replace key : s")
	ok, err = pcall(function() doc.a = 1.5 end)
	t.ok(not ok and err:find "must be a 32bit integer")
	ok, err = pcall(function() doc.d = bson.int64(1) end)
	t.ok(not ok and err:find "Type mismatch")
end)

t.test("__len, __pairs and __index shape what is encoded", function()
	local arr = setmetatable({ n = 3 }, { __len = function(self) return self.n end,
		__index = function(_, i) return i * 10 end })
	t.eq(bson.encode({ a = arr }):decode().a[3], 30)
	local data = { x = 1 }
	local obj = setmetatable({}, { __pairs = function() return next, data, nil end })
	t.eq(bson.encode({ o = obj }):decode().o.x, 1)
	t.eq(bson.encode(obj):decode().x, 1)
end)

t.test("what cannot be encoded or decoded raises, as skynet's C does", function()
	local function fails(fn, text)
		local ok, err = pcall(fn)
		t.ok(not ok, "no error")
		t.ok(type(err) == "string" and err:find(text, 1, true), tostring(err))
	end
	-- A length through __len: a raw {1, nil, 3} has two borders, and Lua 5.4 and 5.5 pick apart.
	fails(function() bson.encode { a = setmetatable({ 1, nil, 3 }, { __len = function() return 3 end }) } end, "hole")
	fails(function() bson.encode { [1.5] = 1 } end, "key can't be number")
	fails(function() bson.encode { a = print } end, "Invalid value type : function")
	fails(function() bson.encode { ["\xff"] = 1 } end, "Invalid utf8 string")
	fails(function() bson.encode { a = "\0\99x" } end, "Invalid subtype 99")
	local deep = {}
	for _ = 1, 200 do deep = { d = deep } end
	fails(function() bson.encode(deep) end, "Too depth")
	fails(function() bson.encode_order("a") end, "Invalid ordered dict")
	fails(function() bson.encode_order({}, 1) end, "need a string")
	local cyclic = {}
	cyclic.self = cyclic
	fails(function() bson.encode(cyclic) end, "Too depth")
end)

skynet.start(function() t.run() end)
