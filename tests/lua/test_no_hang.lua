-- Nobody waits forever: paths where a request could be lost between services.
local skynet = require "skynet"
require "skynet.manager"
local t = require "testlib"

t.test("a service woken from a busy worker is served by another worker meanwhile", function()
	local busy = skynet.newservice("echo_svc")
	local woken = skynet.newservice("echo_svc")
	-- `woken` goes to the run-next slot of busy's worker, which then runs for a second.
	local until_cs = skynet.now() + 100
	skynet.send(busy, "lua", "send_then_block", woken, 1000)
	skynet.sleep(2)
	t.eq(skynet.call(woken, "lua", "echo", 7), 7)
	t.ok(skynet.now() < until_cs, "answered only after the busy worker was done")
	t.eq(skynet.call(busy, "lua", "echo", 8), 8)
end)

t.test("a request redirected to a dead address fails for its caller", function()
	local target = skynet.newservice("echo_svc")
	local proxy = skynet.newservice("redirect_svc", skynet.address(target))
	t.eq(skynet.call(proxy, "lua", "echo", 1), 1)
	skynet.kill(target)
	t.raises(function() skynet.call(proxy, "lua", "echo", 2) end, "call failed")
end)

t.test("newservice fails when the starting service is killed by name", function()
	local result
	skynet.fork(function()
		result = table.pack(pcall(skynet.newservice, "slow_start_svc"))
	end)
	skynet.sleep(10)
	local list = skynet.call(".launcher", "lua", "LIST")
	local starting
	for addr, desc in pairs(list) do
		if desc:find("slow_start_svc", 1, true) then starting = addr end
	end
	t.ok(starting, "the service is starting")
	skynet.name(".to_kill_while_starting", skynet.localname(starting) or tonumber(starting:sub(2), 16))
	skynet.kill(".to_kill_while_starting")
	for _ = 1, 100 do
		if result then break end
		skynet.sleep(1)
	end
	t.ok(result, "newservice returned")
	t.ok(not result[1] or result[2] == nil, "newservice did not return a live address")
end)

t.test("a name is not bound to a dead service", function()
	local e = skynet.newservice("echo_svc")
	skynet.kill(e)
	skynet.name(".named_after_death", e)
	t.eq(skynet.localname(".named_after_death"), nil)
end)

t.test("a filter that raises fails the request", function()
	local f = skynet.newservice("filter_svc")
	t.eq(skynet.call(f, "lua", "echo", "fine"), "fine")
	t.raises(function() skynet.call(f, "lua", "echo", "filter_boom") end, "call failed")
	t.eq(skynet.call(f, "lua", "echo", "still fine"), "still fine")
end)

skynet.start(function() t.run() end)
