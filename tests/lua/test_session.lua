-- Sessions: genid, and matching of many interleaved requests and timers.
local skynet = require "skynet"
local t = require "testlib"

t.test("genid returns distinct positive integers", function()
	local seen = {}
	for i = 1, 1000 do
		local s = skynet.genid()
		t.eq(math.type(s), "integer")
		t.ok(s > 0, "session must be positive")
		t.ok(not seen[s], "duplicate session " .. s)
		seen[s] = true
	end
end)

t.test("genid sessions never collide with call and timer sessions", function()
	local e = skynet.newservice("echo_svc")
	local seen = {}
	for i = 1, 50 do
		local s = skynet.genid()
		t.ok(not seen[s], "duplicate session")
		seen[s] = true
		-- a call and a sleep in between consume sessions of their own
		t.eq(skynet.call(e, "lua", "echo", i), i)
		skynet.sleep(0)
	end
end)

t.test("interleaved calls to several services get their own answers", function()
	local services = {}
	for i = 1, 4 do
		services[i] = skynet.newservice("echo_svc", "s" .. i)
	end
	local results, total = {}, 0
	for i = 1, 200 do
		total = total + 1
		skynet.fork(function()
			local e = services[i % 4 + 1]
			local label, v = skynet.call(e, "lua", "label"), skynet.call(e, "lua", "sleep", i % 5, i)
			results[i] = { label, v }
		end)
	end
	t.eventually(function()
		for i = 1, total do
			if not results[i] then return false end
		end
		return true
	end, 600)
	for i = 1, total do
		t.eq(results[i], { "s" .. (i % 4 + 1), i })
	end
end)

t.test("calls, sleeps and timeouts mixed in one coroutine pool", function()
	local e = skynet.newservice("echo_svc")
	local log = {}
	for i = 1, 30 do
		skynet.fork(function()
			skynet.sleep(i % 3)
			local v = skynet.call(e, "lua", "echo", i)	-- (not log[#log + 1] = call(): the index would be taken before the call yields)
			log[#log + 1] = v
		end)
		skynet.timeout(i % 4, function()
			log[#log + 1] = -i
		end)
	end
	t.eventually(function() return #log == 60 end, 500)
	local seen = {}
	for _, v in ipairs(log) do
		t.ok(not seen[v], "value delivered twice: " .. v)
		seen[v] = true
	end
	for i = 1, 30 do
		t.ok(seen[i] and seen[-i], "missing " .. i)
	end
end)

skynet.start(function()
	t.run()
end)
