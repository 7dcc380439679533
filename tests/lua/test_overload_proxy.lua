-- The overload-protection proxy: fair forwarding across sources, backpressure on the target,
-- requests of exited sources dropped, replies relayed unchanged.
-- Runs with overload_inflight = 4 (tests/lua/test_overload_proxy.args).
local skynet = require "skynet"
require "skynet.manager"
local t = require "testlib"

local FLOOD = 1000

t.test("requests and replies pass through unchanged, errors included", function()
	local echo = skynet.newservice("echo_svc")
	local proxy = skynet.newservice("overload_proxy", skynet.address(echo))
	t.eq({ skynet.call(proxy, "lua", "echo", 1, "two", { 3 }) }, { 1, "two", { 3 } })
	t.raises(function() skynet.call(proxy, "lua", "no_such_command") end, "call failed")
end)

t.test("a polite client goes first while another floods", function()
	local slow = skynet.newservice("slow_svc")
	local proxy = skynet.newservice("overload_proxy", skynet.address(slow))
	local flooder = skynet.newservice("flood_client")
	skynet.call(flooder, "lua", "flood", proxy, FLOOD)
	for i = 1, 10 do
		t.eq(skynet.call(proxy, "lua", "work", i), i)
	end
	-- Ten polite calls, each behind at most a few flood requests (round-robin, 4 in flight),
	-- not behind the thousand the flooder queued first.
	local flood_done = skynet.call(flooder, "lua", "done")
	t.ok(flood_done < FLOOD // 4, "polite calls finished after " .. flood_done .. " flood calls")
	while skynet.call(flooder, "lua", "done") < FLOOD do skynet.sleep(5) end
	t.eq(skynet.call(slow, "lua", "served"), FLOOD + 10, "nothing lost")
end)

t.test("the target's queue stays short behind the proxy", function()
	local slow = skynet.newservice("slow_svc")
	local proxy = skynet.newservice("overload_proxy", skynet.address(slow))
	local flooder = skynet.newservice("flood_client")
	skynet.call(flooder, "lua", "flood", proxy, FLOOD)
	local longest = 0
	while skynet.call(flooder, "lua", "done") < FLOOD do
		-- a debug request straight to the target waits only behind the few forwarded requests
		local stat = skynet.call(slow, "debug", "STAT")
		if stat.mqlen > longest then longest = stat.mqlen end
		skynet.sleep(1)
	end
	t.ok(longest <= 8, "target mailbox peaked at " .. longest)
end)

t.test("queued requests of an exited source are dropped", function()
	local slow = skynet.newservice("slow_svc")
	local proxy = skynet.newservice("overload_proxy", skynet.address(slow))
	local quitter = skynet.newservice("flood_client")
	skynet.call(quitter, "lua", "flood_and_exit", proxy, FLOOD)
	skynet.sleep(50)
	local served = skynet.call(slow, "lua", "served")
	t.ok(served < FLOOD // 4, "the target served " .. served .. " requests of an exited source")
end)

skynet.start(function() t.run() end)
