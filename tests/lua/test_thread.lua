-- Coroutine management: fork, wait, wakeup, killthread, task.
local skynet = require "skynet"
local t = require "testlib"

t.test("fork runs later, in FIFO order, and returns the coroutine", function()
	local order = {}
	local co = skynet.fork(function() order[#order + 1] = "a" end)
	t.eq(type(co), "thread")
	skynet.fork(function() order[#order + 1] = "b" end)
	skynet.fork(function() order[#order + 1] = "c" end)
	t.eq(order, {}, "fork ran synchronously")
	skynet.yield()
	t.eq(order, { "a", "b", "c" })
end)

t.test("fork passes arguments, nils included", function()
	local got
	skynet.fork(function(...) got = table.pack(...) end, 1, nil, "x", nil)
	skynet.yield()
	t.eq(got, { n = 4, 1, nil, "x" })
end)

t.test("an error in a forked coroutine does not stop the others", function()
	local after = false
	skynet.fork(function() error("intentional error in a forked coroutine") end)
	skynet.fork(function() after = true end)
	skynet.yield()
	t.eq(after, true)
end)

t.test("wait suspends until wakeup", function()
	local log = {}
	local co = skynet.fork(function()
		log[#log + 1] = "waiting"
		skynet.wait()
		log[#log + 1] = "woken"
	end)
	skynet.yield()
	skynet.sleep(5)
	t.eq(log, { "waiting" })
	t.eq(skynet.wakeup(co), true)
	skynet.yield()
	t.eq(log, { "waiting", "woken" })
	t.ok(not skynet.wakeup(co), "wakeup of a coroutine that is not waiting must return a false value")
end)

t.test("wait and wakeup with a token", function()
	local done = false
	local token = {}
	skynet.fork(function()
		skynet.wait(token)
		done = true
	end)
	skynet.yield()
	t.eq(done, false)
	t.eq(skynet.wakeup(token), true)
	skynet.yield()
	t.eq(done, true)
end)

t.test("waiters wake in wakeup order", function()
	local order, cos = {}, {}
	for i = 1, 4 do
		cos[i] = skynet.fork(function()
			skynet.wait()
			order[#order + 1] = i
		end)
	end
	skynet.yield()
	for _, i in ipairs { 3, 1, 4, 2 } do
		skynet.wakeup(cos[i])
	end
	skynet.yield()
	t.eq(order, { 3, 1, 4, 2 })
end)

t.test("wakeup interrupts sleep, which returns BREAK", function()
	local r, woke_at
	local co = skynet.fork(function()
		r = skynet.sleep(500)
		woke_at = skynet.now()
	end)
	skynet.yield()
	local t0 = skynet.now()
	t.eq(skynet.wakeup(co), true)
	t.eventually(function() return woke_at end, 200, "sleep was not interrupted")
	t.eq(r, "BREAK")
	t.ok(woke_at - t0 < 100, "woke after " .. (woke_at - t0) .. " cs")
end)

t.test("sleep with a token is interrupted by wakeup(token)", function()
	local r
	skynet.fork(function() r = skynet.sleep(500, "test_thread_token") end)
	skynet.yield()
	t.eq(skynet.wakeup("test_thread_token"), true)
	t.eventually(function() return r end, 200)
	t.eq(r, "BREAK")
end)

t.test("killthread of a fork that has not started", function()
	local ran = false
	local co = skynet.fork(function() ran = true end)
	t.ok(rawequal(skynet.killthread(co), co))
	skynet.yield()
	skynet.sleep(2)
	t.eq(ran, false)
end)

t.test("killthread of a sleeping coroutine", function()
	local woke = false
	local co = skynet.fork(function()
		skynet.sleep(10)
		woke = true
	end)
	skynet.yield()
	t.ok(rawequal(skynet.killthread(co), co))
	skynet.sleep(30)
	t.eq(woke, false)
end)

t.test("killthread of a coroutine blocked in a call", function()
	local e = skynet.newservice("echo_svc")
	local returned = false
	local co = skynet.fork(function()
		skynet.call(e, "lua", "sleep", 10, "late")
		returned = true
	end)
	skynet.yield()
	t.ok(rawequal(skynet.killthread(co), co))
	skynet.sleep(30)
	t.eq(returned, false)
	-- the late answer was dropped quietly; both services still work
	t.eq(skynet.call(e, "lua", "echo", 1), 1)
end)

t.test("killthread by the coroutine's name string", function()
	local woke = false
	local co = skynet.fork(function()
		skynet.sleep(10)
		woke = true
	end)
	skynet.yield()
	local name = tostring(co):match("0x%x+") or tostring(co)
	t.ok(rawequal(skynet.killthread(name), co))
	skynet.sleep(30)
	t.eq(woke, false)
end)

t.test("skynet.task counts suspended sessions", function()
	local base = skynet.task()
	t.eq(math.type(base), "integer")
	local cos = {}
	for i = 1, 3 do
		cos[i] = skynet.fork(function() skynet.sleep(20) end)
	end
	skynet.yield()
	t.eq(skynet.task(), base + 3)
	local list = {}
	skynet.task(list)
	local n = 0
	for k, v in pairs(list) do
		n = n + 1
		t.eq(type(v), "string", "task traceback")
	end
	t.ok(n >= 3)
	skynet.sleep(30)
	t.eq(skynet.task(), base)
end)

skynet.start(function()
	t.run()
end)
