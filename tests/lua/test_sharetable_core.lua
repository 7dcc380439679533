-- skynet.sharetable.core, the native half of skynet's own sharetable: a matrix loaded once and
-- cloned in other services, skynet's rules on what can be shared, and a message block packed
-- into a request (skynet.call(addr, "lua", cmd, skynet.pack(t))) unpacked by the receiver.
local skynet = require "skynet"
local core = require "skynet.sharetable.core"
local t = require "testlib"

t.test("a matrix cloned in another service, cycles and shared subtables kept", function()
	local m = core.matrix([[
		local n = ...
		local sub = { 1, 2, 3 }
		local t = { x = n, a = sub, b = sub, f = function(x) return x * 2 end }
		t.self = t
		return t
	]], 21)
	local reader = skynet.newservice("stc_reader_svc")
	local ptr = m:getptr()
	t.eq(skynet.call(reader, "lua", "clone", ptr, "x"), 21)
	t.eq(skynet.call(reader, "lua", "clone", ptr, "a", 3), 3)
	t.eq(select(2, skynet.call(reader, "lua", "clone", ptr, "x")), true)
	local here = core.clone(ptr)
	t.eq(here.a, here.b)
	t.eq(here.self, here)
	t.eq(here.f(4), 8)
	t.eq(core.is_sharedtable(here), true)
	t.eq(core.is_sharedtable({}), false)
	t.ok(m:size() > 0)
	t.eq(core.clone(ptr), here, "one table per matrix in a VM")
	m:close()
	local closed = core.matrix("return {}")
	local cptr = closed:getptr()
	closed:close()
	t.raises(function() core.clone(cptr) end, "Invalid sharetable pointer")
end)

t.test("what skynet cannot share is refused", function()
	t.raises(function() core.matrix("return setmetatable({}, {})") end, "Can't share metatable")
	t.raises(function() core.matrix("local up = 1 return { f = function() return up end }") end, "upvalue")
	t.raises(function() core.matrix("return { co = coroutine.create(print) }") end, "Invalid type")
	t.raises(function() core.matrix("return 1") end, "Not a table")
	t.raises(function() core.matrix("syntax error here") end, "")
end)

t.test("stackvalues copies the values on another coroutine's stack", function()
	local f = function() end
	local co = coroutine.create(f)
	local values = {}
	t.eq(core.stackvalues(co, values), 1)	-- a coroutine not started holds its function
	t.eq(values[1], f)
	t.eq(core.stackvalues(coroutine.running(), values), 0)
	t.raises(function() core.stackvalues("not a thread", values) end, "thread expected")
end)

t.test("a block packed into a request travels with it, once", function()
	local reader = skynet.newservice("stc_reader_svc")
	local msg, sz = skynet.pack({ k = "v" }, 42)
	local a, b = skynet.call(reader, "lua", "unpack", msg, sz)
	t.eq(a.k, "v")
	t.eq(b, 42)
	-- it left this service with the request, and the receiver trashed it
	t.raises(function() skynet.unpack(msg, sz) end, "invalid message pointer")
	t.raises(function() skynet.call(reader, "lua", "unpack", msg, sz) end, "")
end)

skynet.start(function() t.run() end)
