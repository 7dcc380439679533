-- The monitor and SIGNAL: a handler in an endless loop is reported and interrupted; its caller
-- gets an error, the service serves its next message, and other services keep answering.
-- Runs with `endless = 1` (tests/lua/test_endless.args).
local skynet = require "skynet"
require "skynet.manager"
local t = require "testlib"
local c = require "skynet.core"

t.test("an endless handler is interrupted and its caller gets an error", function()
	local svc = skynet.newservice("endless_svc")
	t.raises(function() skynet.call(svc, "lua", "spin") end, "call failed")
	t.eq(skynet.call(svc, "lua", "ping"), "pong", "serves the next message")
	t.eq(skynet.call(svc, "lua", "endless"), true, "skynet.endless() reports it")
	t.eq(skynet.call(svc, "lua", "endless"), false, "and the flag is cleared once read")
end)

t.test("other services keep answering while one spins", function()
	local spinner = skynet.newservice("endless_svc")
	local echo = skynet.newservice("echo_svc")
	local spin_done = false
	skynet.fork(function()
		pcall(skynet.call, spinner, "lua", "spin")
		spin_done = true
	end)
	skynet.yield()
	for i = 1, 20 do
		t.eq(skynet.call(echo, "lua", "echo", i), i)
	end
	while not spin_done do skynet.sleep(1) end
	t.eq(skynet.call(spinner, "lua", "ping"), "pong")
end)

t.test("SIGNAL interrupts a running handler on demand", function()
	local svc = skynet.newservice("endless_svc")
	local ok
	skynet.fork(function()
		ok = pcall(skynet.call, svc, "lua", "spin")
	end)
	skynet.yield()
	c.command("SIGNAL", skynet.address(svc) .. " 1")
	while ok == nil do skynet.sleep(1) end
	t.eq(ok, false)
	t.eq(skynet.call(svc, "lua", "ping"), "pong")
end)

skynet.start(function() t.run() end)
