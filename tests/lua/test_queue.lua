-- skynet.queue: critical sections serialize coroutines of one service.
local skynet = require "skynet"
local queue = require "skynet.queue"
local t = require "testlib"

local function run_concurrently(e, cmd, n)
	local done = 0
	for i = 1, n do
		skynet.fork(function()
			-- later requests sleep less, so without the queue they would finish first
			skynet.call(e, "lua", cmd, i, (n - i + 1) * 2)
			done = done + 1
		end)
	end
	t.eventually(function() return done == n end, 500)
	return skynet.call(e, "lua", "log")
end

t.test("without a queue, handlers interleave", function()
	local e = skynet.newservice("queue_svc")
	local log = run_concurrently(e, "free", 4)
	t.eq(#log, 8)
	t.neq(log, { "enter 1", "leave 1", "enter 2", "leave 2", "enter 3", "leave 3", "enter 4", "leave 4" })
end)

t.test("requests through a queue run one at a time in arrival order", function()
	local e = skynet.newservice("queue_svc")
	local log = run_concurrently(e, "locked", 4)
	t.eq(log, { "enter 1", "leave 1", "enter 2", "leave 2", "enter 3", "leave 3", "enter 4", "leave 4" })
end)

t.test("an error inside the queue reaches the caller and releases the queue", function()
	local e = skynet.newservice("queue_svc")
	t.raises(function() skynet.call(e, "lua", "fail") end)
	t.eq(skynet.call(e, "lua", "locked", "after", 1), "after")
end)

t.test("the queue is reentrant for the running coroutine", function()
	local cs = queue()
	local r = cs(function()
		return cs(function() return "inner" end)
	end)
	t.eq(r, "inner")
end)

t.test("the queue passes arguments and returns results", function()
	local cs = queue()
	t.eq(table.pack(cs(function(a, b) return b, a, nil end, 1, 2)), { n = 3, 2, 1 })
end)

t.test("local critical sections keep FIFO order across sleeps", function()
	local cs = queue()
	local log, done = {}, 0
	for i = 1, 5 do
		skynet.fork(function()
			cs(function()
				log[#log + 1] = i
				skynet.sleep(6 - i)
				log[#log + 1] = i
			end)
			done = done + 1
		end)
	end
	t.eventually(function() return done == 5 end, 300)
	t.eq(log, { 1, 1, 2, 2, 3, 3, 4, 4, 5, 5 })
end)

t.test("an error releases a local queue for the waiters", function()
	local cs = queue()
	local got = {}
	skynet.fork(function()
		got[1] = table.pack(pcall(cs, function()
			skynet.sleep(2)
			error("first fails")
		end))
	end)
	skynet.fork(function()
		got[2] = table.pack(pcall(cs, function() return "second runs" end))
	end)
	t.eventually(function() return got[1] and got[2] end, 300)
	t.eq(got[1][1], false)
	t.ok(tostring(got[1][2]):find("first fails", 1, true))
	t.eq(got[2][1], true)
	t.eq(got[2][2], "second runs")
end)

skynet.start(function()
	t.run()
end)
