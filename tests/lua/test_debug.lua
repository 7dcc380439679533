-- The "debug" protocol every Lua service speaks, and the launcher's admin commands.
local skynet = require "skynet"
require "skynet.manager"
local t = require "testlib"

local P = table.pack

t.test("PING answers with no values", function()
	local e = skynet.newservice("echo_svc")
	t.eq(select("#", skynet.call(e, "debug", "PING")), 0)
	-- the running service answers too (call to itself)
	t.eq(select("#", skynet.call(skynet.self(), "debug", "PING")), 0)
end)

t.test("LINK blocks until the target exits, then raises", function()
	local e = skynet.newservice("echo_svc")
	local r = {}
	skynet.fork(function()
		r.result = P(pcall(skynet.call, e, "debug", "LINK"))
	end)
	skynet.sleep(10)
	t.eq(r.result, nil, "LINK returned while the target was alive")
	skynet.send(e, "lua", "exit")
	t.eventually(function() return r.result end, 200, "LINK still blocked after the target exited")
	t.eq(r.result[1], false)
end)

t.test("LINK raises when the target is killed", function()
	local e = skynet.newservice("echo_svc")
	local r = {}
	skynet.fork(function()
		r.result = P(pcall(skynet.call, e, "debug", "LINK"))
	end)
	skynet.sleep(5)
	t.eq(r.result, nil)
	skynet.kill(e)
	t.eventually(function() return r.result end, 200, "LINK still blocked after the target was killed")
	t.eq(r.result[1], false)
end)

t.test("MEM reports kilobytes in use", function()
	local e = skynet.newservice("echo_svc")
	local kb = skynet.call(e, "debug", "MEM")
	t.eq(type(kb), "number")
	t.ok(kb > 1 and kb < 1024 * 1024, "implausible MEM " .. tostring(kb))
end)

t.test("GC runs a collection", function()
	local e = skynet.newservice("echo_svc")
	skynet.send(e, "debug", "GC")
	t.eq(select("#", skynet.call(e, "debug", "PING")), 0)
	t.eq(type(skynet.call(e, "debug", "MEM")), "number")
end)

t.test("STAT reports task, mqlen, cpu and message counts", function()
	local e = skynet.newservice("echo_svc")
	local before = skynet.call(e, "debug", "STAT")
	t.eq(type(before), "table")
	t.eq(math.type(before.task), "integer")
	t.eq(math.type(before.mqlen), "integer")
	t.eq(type(before.cpu), "number")
	t.eq(type(before.message), "number")
	for i = 1, 10 do
		skynet.send(e, "lua", "push", i)
	end
	local after = skynet.call(e, "debug", "STAT")
	t.ok(after.message >= before.message + 10,
		string.format("message count %s -> %s after 10 sends", before.message, after.message))
	-- skybox counters: replies sent, the longest queue, the heap
	t.ok(after.messages_out >= before.messages_out + 1, "the STAT reply itself was counted")
	t.ok(after.mqpeak >= 1, "mqpeak " .. tostring(after.mqpeak))
	t.ok(after.mem > 0, "heap in KB")
end)

t.test("STAT task counts a sleeping request", function()
	local e = skynet.newservice("echo_svc")
	skynet.fork(function() pcall(skynet.call, e, "lua", "sleep", 30) end)
	skynet.sleep(5)
	t.ok(skynet.call(e, "debug", "STAT").task >= 1)
end)

t.test("INFO calls skynet.info_func with the arguments", function()
	local e = skynet.newservice("echo_svc", "info")
	local info = skynet.call(e, "debug", "INFO", "a", 1)
	t.eq(info, { name = "echo_svc", label = "info", args = { n = 2, "a", 1 } })
end)

t.test("INFO without info_func answers nil", function()
	local a = skynet.newservice("args_svc")
	t.eq(P(skynet.call(a, "debug", "INFO")), { n = 1 })
end)

t.test("TASK lists suspended coroutines with tracebacks", function()
	local e = skynet.newservice("echo_svc")
	skynet.fork(function() pcall(skynet.call, e, "lua", "sleep", 30) end)
	skynet.sleep(5)
	local tasks = skynet.call(e, "debug", "TASK")
	t.eq(type(tasks), "table")
	local n, mentions = 0, false
	for k, v in pairs(tasks) do
		n = n + 1
		t.eq(type(v), "string")
		if v:find("echo_svc", 1, true) then
			mentions = true
		end
	end
	t.ok(n >= 1, "no task listed")
	t.ok(mentions, "no traceback points into echo_svc: " .. t.repr(tasks))
end)

t.test("RUN executes code in the service and returns its output", function()
	local e = skynet.newservice("echo_svc", "runme")
	local ok, out = skynet.call(e, "debug", "RUN", "print('hello', 1 + 1)\nprint(ECHO_GLOBAL.label)", "inject_test")
	t.eq(ok, true)
	t.eq(out, "hello\t2\nrunme")
end)

t.test("RUN passes extra arguments to the chunk", function()
	local e = skynet.newservice("echo_svc")
	local ok, out = skynet.call(e, "debug", "RUN", "print(select('#', ...), ...)", "args_test", 7, "x")
	t.eq(ok, true)
	t.eq(out, "2\t7\tx")
end)

t.test("RUN reports errors", function()
	local e = skynet.newservice("echo_svc")
	local ok, out = skynet.call(e, "debug", "RUN", "error('broken on purpose')", "err_test")
	t.eq(ok, false)
	t.ok(out:find("broken on purpose", 1, true), out)
	local ok2, out2 = skynet.call(e, "debug", "RUN", "this is not lua", "syntax_test")
	t.eq(ok2, false)
	t.eq(type(out2), "string")
	t.eq(skynet.call(e, "lua", "echo", "alive"), "alive")
end)

t.test("RUN exposes dispatch upvalues as _P for hot fixes", function()
	local e = skynet.newservice("echo_svc")
	local ok, out = skynet.call(e, "debug", "RUN", [[
		local CMD = _P.lua.CMD
		print(type(CMD.echo))
		CMD.patched = function() return "patched!" end
	]], "hotfix")
	t.eq(ok, true, out)
	t.eq(out, "function")
	t.eq(skynet.call(e, "lua", "patched"), "patched!")
end)

t.test("SUPPORT tells which protocols have a dispatcher", function()
	local e = skynet.newservice("echo_svc")
	t.eq(skynet.call(e, "debug", "SUPPORT", "lua"), true)
	t.eq(skynet.call(e, "debug", "SUPPORT", "client"), true)
	t.eq(skynet.call(e, "debug", "SUPPORT", "no_such_protocol"), false)
end)

t.test("launcher LIST, STAT and MEM cover live services", function()
	local e = skynet.newservice("echo_svc", "listed")
	local key = skynet.address(e)
	local list = skynet.call(".launcher", "lua", "LIST")
	t.eq(type(list[key]), "string")
	t.ok(list[key]:find("echo_svc listed", 1, true), list[key])
	local stat = skynet.call(".launcher", "lua", "STAT")
	t.eq(type(stat[key]), "table")
	t.eq(type(stat[key].message), "number")
	local mem = skynet.call(".launcher", "lua", "MEM")
	t.ok(type(mem[key]) == "string" and mem[key]:find("Kb", 1, true), t.repr(mem[key]))
	skynet.send(e, "lua", "exit")
	t.eventually(function()
		return skynet.call(".launcher", "lua", "LIST")[key] == nil
	end, 200, "an exited service is still in the launcher list")
end)

t.test("launcher KILL removes a service", function()
	local e = skynet.newservice("echo_svc", "victim")
	local key = skynet.address(e)
	local r = skynet.call(".launcher", "lua", "KILL", key)
	t.eq(type(r), "table")
	t.ok(r[key], "KILL result does not mention the service")
	skynet.sleep(2)
	t.raises(function() skynet.call(e, "lua", "echo", 1) end)
	t.eq(skynet.call(".launcher", "lua", "LIST")[key], nil)
end)

skynet.start(function()
	t.run()
end)
