-- skynet.memory: what each service holds, as skynet's names give it.
local skynet = require "skynet"
local memory = require "skynet.memory"
local t = require "testlib"

t.test("current is this service's heap, live", function()
	local before = memory.current()
	t.ok(before > 0, "current = " .. before)
	local keep = {}
	for i = 1, 10000 do keep[i] = { i } end
	t.ok(memory.current() > before + 100000, "grows with what the service holds")
	keep = nil
end)

t.test("info has every service that holds memory, total adds them up", function()
	local echo = skynet.newservice("echo_svc")
	skynet.call(echo, "lua", "echo", 1)
	local info = memory.info()
	t.ok((info[echo] or 0) > 0, "the echo service is listed")
	t.ok((info[skynet.self()] or 0) > 0, "so is this one")
	local sum = 0
	for _, bytes in pairs(info) do sum = sum + bytes end
	t.eq(memory.total(), sum)
end)

t.test("what only jemalloc knows answers as skynet without jemalloc", function()
	t.eq(memory.block(), 0)
	t.eq(next(memory.jestat()), nil)
	t.eq(memory.mallctl("stats.allocated"), 0)
	t.eq(memory.profactive(), false)
	memory.dump()
end)

skynet.start(function()
	t.run()
end)
