-- skynet.stm: a writer publishes versions, readers in other services read the latest without a
-- message per update; references work once and forged ones are refused (skynet's
-- test/teststm.lua's cases included).
local skynet = require "skynet"
local stm = require "skynet.stm"
require "skynet.manager"	-- skynet.kill
local t = require "testlib"

t.test("a reader in another service sees the first version, then only new ones", function()
	local obj = stm.new(skynet.pack(1, 2, 3, 4, 5))
	local reader = skynet.newservice("stm_reader_svc")
	t.eq(skynet.call(reader, "lua", "attach", stm.copy(obj)), true)
	t.eq({ skynet.call(reader, "lua", "read") }, { true, 1, 2, 3, 4, 5 })
	t.eq({ skynet.call(reader, "lua", "read") }, { false }, "nothing new")
	for i = 1, 3 do
		obj(skynet.pack("hello world", i))
		t.eq({ skynet.call(reader, "lua", "read") }, { true, "hello world", i })
	end
	skynet.kill(reader)
end)

t.test("readers in this service: extra argument, strings, the writer collected", function()
	local obj = stm.new("v1")
	local r = stm.newcopy(stm.copy(obj))
	t.eq({ r(function(s, n, extra) return s, n, extra end, "x") }, { true, "v1", 2, "x" })
	t.eq(r(tostring), false)
	obj(skynet.pack({ a = 1 }))
	local ok, v = r(skynet.unpack)
	t.eq(ok, true)
	t.eq(v, { a = 1 })
	obj = nil
	collectgarbage()
	collectgarbage()
	t.eq(r(skynet.unpack), false, "the writer is gone: no version")
end)

t.test("a reference works once; forged and wrong arguments are errors", function()
	local obj = stm.new("x")
	local ref = stm.copy(obj)
	stm.newcopy(ref)
	t.raises(function() stm.newcopy(ref) end, "not a live stm reference")
	local forged = skynet.unpack(skynet.pack(ref)) -- the same value, still used
	t.raises(function() stm.newcopy(forged) end, "not a live stm reference")
	t.raises(function() stm.newcopy(12) end, "stm reference")
	t.raises(function() stm.copy({}) end, "stm writer")
	t.raises(function() stm.new({}) end, "string or message")
	local r = stm.newcopy(stm.copy(obj))
	t.raises(function() r(42) end, "function")
end)

t.test("many readers and writes from a busy writer", function()
	local obj = stm.new(skynet.pack(0))
	local readers = {}
	for i = 1, 20 do
		readers[i] = skynet.newservice("stm_reader_svc")
		skynet.call(readers[i], "lua", "attach", stm.copy(obj))
	end
	for v = 1, 200 do
		obj(skynet.pack(v))
	end
	for i = 1, 20 do
		t.eq({ skynet.call(readers[i], "lua", "read") }, { true, 200 })
		skynet.call(readers[i], "lua", "drop")
		skynet.kill(readers[i])
	end
end)

skynet.start(function()
	t.run()
end)
