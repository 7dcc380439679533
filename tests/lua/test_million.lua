-- At scale: a million messages flooding a slow service, a million calls through a forward_type
-- proxy. Nothing is lost, and memory comes back once the load is over. The flood runs in one
-- handler for seconds, so the endless-loop limit is raised (tests/lua/test_million.args).
local skynet = require "skynet"
require "skynet.manager"
local t = require "testlib"

local MILLION = 1000000

local function heap_kb(addr)
	return skynet.call(addr, "lua", "mem")
end

t.test("a flood of 1M messages at a slow service: every one handled, memory back after", function()
	local sink = skynet.newservice("count_svc")
	local heap_before = heap_kb(sink)
	local send = skynet.send
	for i = 1, MILLION do
		send(sink, "lua", "hit", i)
	end
	t.eq(skynet.call(sink, "lua", "count"), MILLION)
	local stat = skynet.call(sink, "debug", "STAT")
	t.ok(stat.mqpeak > 1024, "the flood queued up (peak " .. stat.mqpeak .. ")")
	local heap_after = heap_kb(sink)
	t.ok(heap_after < heap_before + 64, string.format("heap %.0f KB -> %.0f KB", heap_before, heap_after))
end, { timeout = 2500 })

t.test("1M calls through a forward_type proxy: every reply, memory flat", function()
	local target = skynet.newservice("count_svc")
	local proxy = skynet.newservice("proxy_svc", skynet.address(target))
	local workers, per = 10, MILLION // 10
	local heap_before
	local wrong, done = 0, 0
	local function run(n)
		for i = 1, n do
			if skynet.call(proxy, "lua", "echo", i) ~= i then wrong = wrong + 1 end
		end
		done = done + 1
	end
	run(1000) -- warm up: coroutine pools and buffers reach their working size
	done = 0
	heap_before = skynet.call(proxy, "debug", "MEM")
	for _ = 1, workers do skynet.fork(run, per) end
	while done < workers do skynet.sleep(10) end
	t.eq(wrong, 0, "every reply matched its call")
	skynet.send(proxy, "debug", "GC")
	local heap_after = skynet.call(proxy, "debug", "MEM")
	t.ok(heap_after < heap_before + 64, string.format("proxy heap %.0f KB -> %.0f KB", heap_before, heap_after))
end, { timeout = 2500 })

skynet.start(function() t.run() end)
