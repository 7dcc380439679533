-- Timers: skynet.timeout, sleep, yield, now, time, starttime, hpc.
local skynet = require "skynet"
local t = require "testlib"

t.test("timeouts fire in deadline order", function()
	local order = {}
	for _, ti in ipairs { 30, 10, 20, 0 } do
		skynet.timeout(ti, function()
			order[#order + 1] = ti
		end)
	end
	t.eventually(function() return #order == 4 end, 300)
	t.eq(order, { 0, 10, 20, 30 })
end)

t.test("timeouts with the same deadline fire in registration order", function()
	local order = {}
	for i = 1, 10 do
		skynet.timeout(5, function()
			order[#order + 1] = i
		end)
	end
	t.eventually(function() return #order == 10 end, 300)
	t.eq(order, { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 })
end)

t.test("timeout(0) and negative timeouts run soon, never synchronously", function()
	local fired = {}
	skynet.timeout(0, function() fired[#fired + 1] = "zero" end)
	skynet.timeout(-5, function() fired[#fired + 1] = "negative" end)
	t.eq(#fired, 0, "timeout callback ran inside skynet.timeout")
	skynet.yield()
	t.eq(fired, { "zero", "negative" })
end)

t.test("sleep lasts at least the requested time and returns nothing", function()
	local t0 = skynet.now()
	local r = table.pack(skynet.sleep(10))
	local dt = skynet.now() - t0
	t.eq(r.n, 0, "sleep returned values")
	t.ok(dt >= 9, "slept only " .. dt .. " cs")
	t.ok(dt < 100, "slept " .. dt .. " cs for sleep(10)")
end)

t.test("sleeping coroutines wake in deadline order", function()
	local order = {}
	for _, ti in ipairs { 15, 5, 10, 1 } do
		skynet.fork(function()
			skynet.sleep(ti)
			order[#order + 1] = ti
		end)
	end
	t.eventually(function() return #order == 4 end, 300)
	t.eq(order, { 1, 5, 10, 15 })
end)

t.test("yield lets forked coroutines run", function()
	local ran = false
	skynet.fork(function() ran = true end)
	t.eq(ran, false)
	skynet.yield()
	t.eq(ran, true)
	local steps = {}
	skynet.fork(function()
		for i = 1, 3 do
			steps[#steps + 1] = "b" .. i
			skynet.sleep(0)
		end
	end)
	for i = 1, 3 do
		steps[#steps + 1] = "a" .. i
		skynet.sleep(0)
	end
	skynet.sleep(0)
	t.eq(steps, { "a1", "b1", "a2", "b2", "a3", "b3" })
end)

t.test("skynet.now is monotonic integer centiseconds", function()
	local prev = skynet.now()
	t.eq(math.type(prev), "integer")
	for i = 1, 30 do
		skynet.yield()
		local n = skynet.now()
		t.ok(n >= prev, "now went backwards")
		prev = n
	end
	local h0, n0 = skynet.hpc(), skynet.now()
	skynet.sleep(50)
	local h1, n1 = skynet.hpc(), skynet.now()
	local by_hpc = (h1 - h0) / 1e7
	t.near(n1 - n0, by_hpc, 3, "now vs hpc over a 50 cs sleep")
end)

t.test("skynet.hpc is monotonic nanoseconds", function()
	local a = skynet.hpc()
	t.eq(math.type(a), "integer")
	local b = skynet.hpc()
	t.ok(b >= a)
	skynet.sleep(5)
	local c = skynet.hpc()
	t.ok(c - b >= 40 * 1000 * 1000, "hpc advanced only " .. (c - b) .. " ns over sleep(5)")
end)

t.test("starttime, time and now agree with the wall clock", function()
	local st = skynet.starttime()
	t.eq(math.type(st), "integer")
	local wall = os.time()
	t.ok(st <= wall, "starttime in the future")
	t.ok(st > wall - 3600, "starttime more than an hour ago")
	local tm = skynet.time()
	t.near(tm, st + skynet.now() / 100, 0.02, "time() = starttime + now/100")
	t.near(tm, os.time(), 2, "time() vs os.time()")
end)

t.test("a timeout callback may call other services", function()
	local e = skynet.newservice("echo_svc")
	local got
	skynet.timeout(1, function()
		got = skynet.call(e, "lua", "echo", "from timer")
	end)
	t.eventually(function() return got end, 200)
	t.eq(got, "from timer")
end)

t.test("an error in a timeout callback does not stop the service timers", function()
	skynet.timeout(0, function() error("intentional error in a timeout callback") end)
	local later = false
	skynet.timeout(3, function() later = true end)
	t.eventually(function() return later end, 200, "later timer never fired")
end)

t.test("500 timers all fire exactly once", function()
	local count, seen = 0, {}
	for i = 1, 500 do
		skynet.timeout((i * 37) % 21, function()
			count = count + 1
			seen[i] = (seen[i] or 0) + 1
		end)
	end
	t.eventually(function() return count >= 500 end, 400)
	skynet.sleep(5)
	t.eq(count, 500)
	for i = 1, 500 do
		t.eq(seen[i], 1, "timer " .. i)
	end
end)

skynet.start(function()
	t.run()
end)
