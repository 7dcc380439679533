-- skynet.request / select: parallel requests, answered in completion order.
local skynet = require "skynet"
local t = require "testlib"

local echo

local function svc()
	echo = echo or skynet.newservice("echo_svc")
	return echo
end

t.test("select yields answers in completion order with their requests", function()
	local e = svc()
	local reqs = skynet.request()
	reqs:add { e, "lua", "sleep", 30, "slow" }
	reqs:add { e, "lua", "sleep", 10, "fast" }
	reqs { e, "lua", "sleep", 20, "middle" }	-- __call is add
	local order = {}
	local t0 = skynet.now()
	for req, resp in reqs:select() do
		t.eq(req[1], e)
		t.eq(req[2], "lua")
		t.eq(resp[1], req[5], "answer matches its request")
		t.eq(resp.n, 1)
		order[#order + 1] = resp[1]
	end
	t.eq(order, { "fast", "middle", "slow" })
	t.ok(skynet.now() - t0 < 60, "requests did not run in parallel")
end)

t.test("a failing request yields false; the others still answer", function()
	local e = svc()
	local reqs = skynet.request { e, "lua", "error", "fails" }
	reqs:add { e, "lua", "sleep", 5, "ok" }
	local got = {}
	for req, resp in reqs:select() do
		got[req[3]] = resp
	end
	t.eq(got.error, false)
	t.eq(got.sleep, { n = 1, "ok" })
end)

t.test("select with a timeout stops early; late answers are dropped", function()
	local e = svc()
	local reqs = skynet.request()
	reqs:add { e, "lua", "sleep", 2, "quick" }
	reqs:add { e, "lua", "sleep", 100, "late" }
	local got = {}
	local t0 = skynet.now()
	for req, resp in reqs:select(20) do
		got[#got + 1] = resp[1]
	end
	local dt = skynet.now() - t0
	t.eq(got, { "quick" })
	t.eq(reqs.timeout, true)
	t.ok(dt >= 15 and dt < 90, "select(20) returned after " .. dt .. " cs")
	-- the late answer arrives later and must not disturb this service
	skynet.sleep(100)
	t.eq(skynet.call(e, "lua", "echo", "after"), "after")
end)

t.test("a request to an invalid address is yielded without a response", function()
	local e = svc()
	local reqs = skynet.request { 0x00fffff0, "lua", "echo", "nobody" }
	reqs:add { e, "lua", "echo", "somebody" }
	local got = {}
	for req, resp in reqs:select() do
		got[#got + 1] = { addr = req[1], resp = resp }
	end
	t.eq(#got, 2)
	local bad, good
	for _, g in ipairs(got) do
		if g.addr == e then good = g else bad = g end
	end
	t.eq(bad.resp, nil)
	t.eq(good.resp, { n = 1, "somebody" })
end)

t.test("breaking out of select closes the remaining requests", function()
	local e = svc()
	local base = skynet.task()
	local reqs = skynet.request()
	reqs:add { e, "lua", "sleep", 1, "first" }
	reqs:add { e, "lua", "sleep", 30, "second" }
	reqs:add { e, "lua", "sleep", 30, "third" }
	local first
	for req, resp in reqs:select() do
		first = resp[1]
		break
	end
	t.eq(first, "first")
	skynet.sleep(50)
	t.eq(skynet.task(), base, "sessions left behind after closing the select")
	t.eq(skynet.call(e, "lua", "echo", "fine"), "fine")
end)

t.test("many parallel requests", function()
	local services = {}
	for i = 1, 4 do
		services[i] = skynet.newservice("echo_svc")
	end
	local reqs = skynet.request()
	for i = 1, 100 do
		reqs:add { services[i % 4 + 1], "lua", "sleep", i % 7, i }
	end
	local seen, n = {}, 0
	for req, resp in reqs:select() do
		t.eq(resp[1], req[5])
		t.ok(not seen[resp[1]])
		seen[resp[1]] = true
		n = n + 1
	end
	t.eq(n, 100)
end)

skynet.start(function()
	t.run()
end)
