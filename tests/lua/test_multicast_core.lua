-- skynet.multicast.core, the native half of skynet's own multicast.lua: a package published
-- once reaches every subscriber (handles travelling in messages, as skynet's pointers do), the
-- last close frees it, and what is stale, forged or misused is an error.
local skynet = require "skynet"
local mc = require "skynet.multicast.core"
local t = require "testlib"

local got = {}
skynet.dispatch("lua", function(_, _, cmd, sub, ...)
	if cmd == "got" then got[#got + 1] = { sub = sub, ... } end
end)

t.test("one package reaches every subscriber", function()
	local d = skynet.newservice("mcore_d_svc")
	local subs = {}
	for i = 1, 3 do subs[i] = skynet.newservice("mcore_sub_svc", skynet.self()) end
	local holder, size = mc.pack(skynet.pack("hello", { n = 42 }))
	t.eq(size, 8)
	t.eq(skynet.call(d, "lua", "PUB", 256, holder, size, table.unpack(subs)), 8)
	t.ok(t.wait_until(function() return #got == 3 end), "three deliveries")
	for _, g in ipairs(got) do
		t.eq(g[1], 256)
		t.eq(g[2], "hello")
		t.eq(g[3].n, 42)
	end
	-- bound and closed three times: gone
	t.raises(function() skynet.tostring(holder, 8) end, "invalid message pointer")
	t.raises(function() mc.bind(holder, 1) end, "Invalid multicast package")
end)

t.test("misuse is an error, never a crash", function()
	local holder = mc.pack(skynet.pack(1))
	local package = mc.bind(holder, 1)
	t.raises(function() mc.bind(holder, 1) end, "more than once")
	t.eq(skynet.unpack(package), 1)
	mc.close(package)
	t.raises(function() mc.close(package) end, "Invalid multicast package")
	t.raises(function() skynet.unpack(package) end, "invalid message pointer")
	-- unbound and closed: freed, with skynet's error
	local p2 = mc.bind(mc.pack(skynet.pack(2)), 0)
	t.raises(function() mc.close(p2) end, "reference %-1")
	t.raises(function() mc.unpack(skynet.pack(1)) end, "Invalid multicast package size")
	t.raises(function() mc.pack("a string", 8) end, "message block expected")
	t.eq(mc.nextid(0), 256)
	t.eq(mc.nextid(0x7fffff00), 0)
	t.eq(mc.nextid(-1), 255)
	-- a remote node's copy: the message comes back out as a block
	local r, n = mc.remote(mc.pack(skynet.pack("far")))
	t.eq(skynet.unpack(r, n), "far")
	skynet.trash(r, n)
end)

skynet.start(function() t.run() end)
