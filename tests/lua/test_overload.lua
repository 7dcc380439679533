-- Overload: flooding a busy service. The host logs `May overload, message queue length = N`
-- for it (tests/lua_suites.rs checks the log line); the service must still process everything.
local skynet = require "skynet"
local t = require "testlib"

t.test("a flooded service processes every message", function()
	local s = skynet.newservice("echo_svc", "slow")
	-- keep its worker busy while the queue grows
	skynet.send(s, "lua", "block", 300)
	for i = 1, 3000 do
		skynet.send(s, "lua", "noop")
	end
	local count, maxq = skynet.call(s, "lua", "noop_stats")
	t.eq(count, 3000)
	t.ok(maxq > 1024, "the queue never grew past 1024 (max seen " .. maxq .. ")")
end, { timeout = 3000 })

t.test("mqlen of an idle service is 0", function()
	local s = skynet.newservice("echo_svc")
	t.eq(skynet.call(s, "lua", "mqlen"), 0)
end)

t.test("the flooded service is responsive afterwards", function()
	local s = skynet.newservice("echo_svc")
	skynet.send(s, "lua", "block", 100)
	for i = 1, 2000 do
		skynet.send(s, "lua", "push", i)
	end
	local got = skynet.call(s, "lua", "take")
	t.eq(#got, 2000)
	t.eq(got[2000], 2000)
	t.eq(skynet.call(s, "lua", "echo", "responsive"), "responsive")
end, { timeout = 3000 })

skynet.start(function()
	t.run()
end)
