-- skynet.memlimit: a per-service cap on Lua memory.
local skynet = require "skynet"
local t = require "testlib"

t.test("allocations under the limit succeed", function()
	local m = skynet.newservice("memlimit_svc", 4 * 1024 * 1024)
	t.eq(table.pack(skynet.call(m, "lua", "alloc", 64 * 1024)), { n = 2, true })
	t.ok(skynet.call(m, "lua", "kb") < 4096)
end)

t.test("an allocation over the limit raises 'not enough memory' and the service survives", function()
	local m = skynet.newservice("memlimit_svc", 4 * 1024 * 1024)
	local ok, err = skynet.call(m, "lua", "alloc", 16 * 1024 * 1024)
	t.eq(ok, false)
	t.ok(tostring(err):find("not enough memory", 1, true), t.repr(err))
	skynet.call(m, "lua", "free")
	t.eq(skynet.call(m, "lua", "alloc", 1024), true)
	t.ok(skynet.call(m, "lua", "kb") < 4096)
end)

t.test("many small allocations hit the limit too", function()
	local m = skynet.newservice("memlimit_svc", 2 * 1024 * 1024)
	local ok, err = skynet.call(m, "lua", "tables", 1000000)
	t.eq(ok, false)
	t.ok(tostring(err):find("not enough memory", 1, true), t.repr(err))
	skynet.call(m, "lua", "free")
	t.eq(table.pack(skynet.call(m, "lua", "tables", 100)), { n = 2, true })
end)

t.test("a request too big to unpack under the limit fails the call; the service survives", function()
	local m = skynet.newservice("memlimit_svc", 2 * 1024 * 1024)
	local big = string.rep("u", 8 * 1024 * 1024)
	local dt = t.timed(function()
		t.raises(function() skynet.call(m, "lua", "echo", big) end)
	end)
	t.ok(dt < 100, "the failing call took " .. dt .. " cs")
	t.eq(skynet.call(m, "lua", "echo", "small"), "small")
end)

-- A handler that runs out of memory while building data fails its own call; what it built is
-- reclaimable before the next message, so every later call is answered and a normal request
-- (which needs memory too) succeeds. Each call is made with pcall: a call that is never answered
-- fails the case by its timeout instead of passing.
local function call(m, ...)
	return pcall(skynet.call, m, "lua", ...)
end

local function check_recovered(m, what)
	for i = 1, 5 do
		local ok, n = call(m, "work", 5000)
		t.eq(ok, true, what .. ": call " .. i .. " after the failure: " .. tostring(n))
		t.eq(n, 5000, what)
	end
	t.eq(table.pack(call(m, "ping", "pong")), { n = 2, true, "pong" }, what)
	t.eq(table.pack(call(m, "alive")), { n = 2, true, 0 }, what .. ": failed handlers' data still reachable")
end

t.test("a handler failing at the limit while building a table: later calls are answered", function()
	local m = skynet.newservice("memfail_svc", 2 * 1024 * 1024)
	local ok, err = call(m, "fill")
	t.eq(ok, false, "the filling call must fail")
	check_recovered(m, "fill")
end)

t.test("failing at the limit again and again: every failure is reclaimed", function()
	local m = skynet.newservice("memfail_svc", 2 * 1024 * 1024)
	for round = 1, 4 do
		t.eq((call(m, round % 2 == 0 and "fill" or "fill_strings")), false, "round " .. round)
		local ok, n = call(m, "work", 5000)
		t.eq(ok, true, "round " .. round .. ": " .. tostring(n))
	end
	check_recovered(m, "rounds")
end)

t.test("concurrent calls to a service whose handler fails at the limit are all answered", function()
	local m = skynet.newservice("memfail_svc", 2 * 1024 * 1024)
	local results = {}
	local n = 0
	for _, cmd in ipairs { "fill", "work", "ping", "fill_strings", "work", "ping" } do
		skynet.fork(function()
			results[#results + 1] = { cmd, call(m, cmd, cmd == "work" and 5000 or cmd) }
			n = n + 1
		end)
	end
	t.eventually(function() return n == 6 end, 500, "not every call came back")
	for _, r in ipairs(results) do
		if r[1] == "fill" or r[1] == "fill_strings" then
			t.eq(r[2], false, r[1])
		end
	end
	check_recovered(m, "concurrent")
end)

t.test("a fork or a resumed handler failing at the limit: the service recovers", function()
	local m = skynet.newservice("memfail_svc", 2 * 1024 * 1024)
	t.eq(table.pack(call(m, "fill_fork")), { n = 2, true, "forked" })
	check_recovered(m, "fork")
	t.eq((call(m, "fill_after_sleep")), false)
	check_recovered(m, "after sleep")
end)

t.test("memlimit can be set only once", function()
	local m = skynet.newservice("memlimit_svc")
	t.eq(skynet.call(m, "lua", "memlimit_cleared"), true)
end)

t.test("the limit is per service", function()
	local m = skynet.newservice("memlimit_svc", 2 * 1024 * 1024)
	local e = skynet.newservice("echo_svc")
	local big = string.rep("e", 8 * 1024 * 1024)
	t.eq(#skynet.call(e, "lua", "echo", big), #big)
	local ok = skynet.call(m, "lua", "alloc", 8 * 1024 * 1024)
	t.eq(ok, false)
end)

t.test("a heap passing 32 MB and 64 MB is logged (checked from the log)", function()
	local big = skynet.newservice("bigheap_svc")
	skynet.call(big, "lua", "grow", 40)
	skynet.call(big, "lua", "grow", 30)
	skynet.error("memory-warning-service=" .. skynet.address(big))
end)

skynet.start(function()
	t.run()
end)
