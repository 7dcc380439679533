-- Many services talking at once on real worker threads.
local skynet = require "skynet"
require "skynet.manager"
local t = require "testlib"

local function launch(n, prefix)
	local list = {}
	for i = 1, n do
		list[i] = skynet.newservice("echo_svc", prefix .. i)
	end
	return list
end

t.test("every worker calls every worker concurrently", function()
	local N, M = 10, 40
	local workers = launch(N, "w")
	local results, done = {}, 0
	for i, w in ipairs(workers) do
		skynet.fork(function()
			results[i] = skynet.call(w, "lua", "hammer", workers, M)
			done = done + 1
		end)
	end
	t.eventually(function() return done == N end, 1500, "hammer calls did not finish")
	for i = 1, N do
		t.eq(results[i], N * M, "worker " .. i .. " good answers")
	end
end, { timeout = 2000 })

t.test("nested calls along a long path of services", function()
	local workers = launch(8, "r")
	local path = {}
	for i = 1, 60 do
		path[i] = workers[(i * 5) % 8 + 1]	-- revisits services while they wait
	end
	t.eq(skynet.call(path[1], "lua", "relay", path, 2, 0), 59)
end)

t.test("per-pair FIFO order under concurrent senders", function()
	local sink = skynet.newservice("echo_svc", "sink")
	local senders = launch(6, "s")
	for i, s in ipairs(senders) do
		for k = 1, 100 do
			skynet.send(s, "lua", "send", sink, "push", i * 1000 + k)
		end
	end
	for _, s in ipairs(senders) do
		-- a call is answered after the sends queued before it
		skynet.call(s, "lua", "echo")
	end
	local got = skynet.call(sink, "lua", "take")
	t.eq(#got, 600)
	local last = {}
	for _, v in ipairs(got) do
		local i, k = v // 1000, v % 1000
		t.ok((last[i] or 0) < k, "out of order from sender " .. i)
		last[i] = k
	end
end)

t.test("killing a service under fire", function()
	local target = skynet.newservice("echo_svc", "target")
	local shooters = launch(4, "shooter")
	local results, done = {}, 0
	for i, s in ipairs(shooters) do
		skynet.fork(function()
			results[i] = skynet.call(s, "lua", "hammer", { target }, 2000)
			done = done + 1
		end)
	end
	skynet.sleep(3)
	skynet.kill(target)
	t.eventually(function() return done == 4 end, 1000, "callers hang after the target was killed")
	for i = 1, 4 do
		t.ok(results[i] < 2000, "shooter " .. i .. " got every answer from a killed service")
		t.eq(skynet.call(shooters[i], "lua", "echo", "alive"), "alive")
	end
end, { timeout = 1500 })

t.test("launch and exit many services", function()
	local list = launch(30, "tmp")
	for _, s in ipairs(list) do
		skynet.send(s, "lua", "exit")
	end
	skynet.sleep(10)
	for _, s in ipairs(list) do
		t.raises(function() skynet.call(s, "lua", "echo") end)
	end
	local e = skynet.newservice("echo_svc")
	t.eq(skynet.call(e, "lua", "echo", 1), 1)
end)

skynet.start(function()
	t.run()
end)
