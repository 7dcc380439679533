-- Messaging: send/call/ret/retpack/response, rawcall/rawsend/redirect, custom protocols.
local skynet = require "skynet"
require "skynet.manager"
local t = require "testlib"

local P = table.pack

skynet.register_protocol {
	name = "client",
	id = skynet.PTYPE_CLIENT,
	pack = function(...) return table.concat({ ... }, " ") end,
	unpack = skynet.tostring,
}

skynet.register_protocol {
	name = "text",
	id = skynet.PTYPE_TEXT,
	pack = function(s) return s end,
	unpack = skynet.tostring,
}

local function held_count(e)
	return #skynet.call(e, "lua", "held")
end

t.test("PTYPE constants match skynet.h", function()
	t.eq({ skynet.PTYPE_TEXT, skynet.PTYPE_RESPONSE, skynet.PTYPE_MULTICAST, skynet.PTYPE_CLIENT,
		skynet.PTYPE_SYSTEM, skynet.PTYPE_HARBOR, skynet.PTYPE_SOCKET, skynet.PTYPE_ERROR,
		skynet.PTYPE_QUEUE, skynet.PTYPE_DEBUG, skynet.PTYPE_LUA, skynet.PTYPE_SNAX },
		{ 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 })
end)

t.test("call returns what the handler retpacks", function()
	local e = skynet.newservice("echo_svc")
	t.eq(P(skynet.call(e, "lua", "echo", 1, "two", { 3 })), P(1, "two", { 3 }))
end)

t.test("nil in the middle and at the end of args and results is kept", function()
	local e = skynet.newservice("echo_svc")
	t.eq(P(skynet.call(e, "lua", "echo", nil, 2, nil)), { n = 3, [2] = 2 })
	t.eq(P(skynet.call(e, "lua", "echo", 1, nil, nil)), { n = 3, 1 })
	t.eq(select("#", skynet.call(e, "lua", "echo")), 0)
end)

t.test("skynet.ret() with no message answers with no values", function()
	local e = skynet.newservice("echo_svc")
	t.eq(select("#", skynet.call(e, "lua", "rawret")), 0)
end)

t.test("skynet.send returns 0 and delivers in order", function()
	local e = skynet.newservice("echo_svc")
	for i = 1, 200 do
		t.eq(skynet.send(e, "lua", "push", i), 0)
	end
	local got = skynet.call(e, "lua", "take")
	t.eq(#got, 200)
	for i = 1, 200 do
		t.eq(got[i], i, "message order")
	end
end)

t.test("send to a missing address returns nil and does not raise", function()
	t.eq(skynet.send(0x00fffff0, "lua", "push", 1), nil)
	t.eq(skynet.send(".no_such_service_name", "lua", "push", 1), nil)
end)

t.test("handler sees session and source; send has session 0", function()
	local e = skynet.newservice("echo_svc")
	local session, source = skynet.call(e, "lua", "whoami")
	t.eq(source, skynet.self())
	t.ok(session > 0)
	skynet.send(e, "lua", "record_source", "sent")
	local src = skynet.call(e, "lua", "sources")
	t.eq(src, { { tag = "sent", source = skynet.self(), session = 0 } })
end)

t.test("skynet.context returns the current session and source", function()
	local e = skynet.newservice("echo_svc")
	local session, source = skynet.call(e, "lua", "context")
	t.ok(session > 0)
	t.eq(source, skynet.self())
end)

t.test("call to the running service itself", function()
	t.eq(P(skynet.call(skynet.self(), "lua", "ping", "x")), P("pong", skynet.self(), "x"))
end)

t.test("a service may call back into its caller while serving it", function()
	local e = skynet.newservice("echo_svc")
	t.eq(table.pack(skynet.call(e, "lua", "call", skynet.self(), "ping", "re")), table.pack("pong", e, "re"))
end)

t.test("many concurrent calls are each answered with their own result", function()
	local e = skynet.newservice("echo_svc")
	local got, n = {}, 100
	for i = 1, n do
		skynet.fork(function()
			got[i] = skynet.call(e, "lua", "sleep", (i * 7) % 13, i)
		end)
	end
	t.eventually(function()
		for i = 1, n do
			if got[i] == nil then return false end
		end
		return true
	end, 500)
	for i = 1, n do
		t.eq(got[i], i)
	end
end)

t.test("skynet.ret returns true when the answer is sent", function()
	local e = skynet.newservice("echo_svc")
	t.eq(skynet.call(e, "lua", "ret_twice", "v"), "v")
	local st = skynet.call(e, "lua", "state", "ret_twice")
	t.eq(st.first, true, "first ret")
	t.eq(st.second_ok, false, "a second ret for the same request must raise")
end)

t.test("response called later from another coroutine", function()
	local e = skynet.newservice("echo_svc")
	local got
	skynet.fork(function()
		got = P(skynet.call(e, "lua", "hold"))
	end)
	t.eventually(function() return held_count(e) == 1 end, 200, "request never held")
	skynet.sleep(5)
	t.eq(got, nil, "answered before release")
	t.eq(skynet.call(e, "lua", "release", "late", nil, 3), { true })
	t.eventually(function() return got end, 200, "held call never returned")
	t.eq(got, { n = 3, "late", nil, 3 })
end)

t.test("response from a timer and from a fork", function()
	local e = skynet.newservice("echo_svc")
	local dt, v = t.timed(skynet.call, e, "lua", "respond_later", 10, "timer")
	t.eq(v, "timer")
	t.ok(dt >= 9, "answered too early: " .. dt)
	t.eq(P(skynet.call(e, "lua", "fork_respond", "f", 2)), P("f", 2))
end)

t.test("response(false) makes the caller's call raise", function()
	local e = skynet.newservice("echo_svc")
	local result
	skynet.fork(function()
		result = P(pcall(skynet.call, e, "lua", "hold"))
	end)
	t.eventually(function() return held_count(e) == 1 end, 200)
	t.eq(skynet.call(e, "lua", "reject"), { true })
	t.eventually(function() return result end, 200, "rejected call never returned")
	t.eq(result[1], false)
	-- the service keeps serving
	t.eq(skynet.call(e, "lua", "echo", "alive"), "alive")
end)

t.test("a response function answers once; the second use raises", function()
	local e = skynet.newservice("echo_svc")
	t.eq(skynet.call(e, "lua", "respond_twice", 42), 42)
	local st = skynet.call(e, "lua", "state", "respond_twice")
	t.eq(st.first, true)
	t.eq(st.second_ok, false)
	t.ok(st.err:find("more than once", 1, true), st.err)
end)

t.test("response to a requester that exited returns false", function()
	local holder = skynet.newservice("echo_svc", "holder")
	local client = skynet.newservice("echo_svc", "client")
	-- the client calls holder.hold, then exits while waiting for the answer
	skynet.send(client, "lua", "call_then_exit", holder, 10, "hold")
	t.eventually(function() return held_count(holder) == 1 end, 200, "never held")
	t.eventually(function()
		return skynet.call(holder, "lua", "held")[1] == false
	end, 300, "response('TEST') still true after the requester exited")
	t.eq(skynet.call(holder, "lua", "release", "too late"), { false })
end)

t.test("rawcall and rawsend with packed messages", function()
	local e = skynet.newservice("echo_svc")
	local msg, sz = skynet.rawcall(e, "lua", skynet.pack("echo", 1, "a", { b = 2 }))
	t.eq(P(skynet.unpack(msg, sz)), P(1, "a", { b = 2 }))
	skynet.rawsend(e, "lua", skynet.pack("push", "raw"))
	-- a string message works too
	skynet.rawsend(e, "lua", skynet.packstring("push", "rawstring"))
	local msg2, sz2 = skynet.rawcall(e, "lua", skynet.packstring("take"))
	t.eq(skynet.unpack(msg2, sz2), { "raw", "rawstring" })
end)

t.test("redirect delivers with a forged source", function()
	local e = skynet.newservice("echo_svc")
	local other = skynet.newservice("echo_svc")
	skynet.redirect(e, other, "lua", 0, skynet.pack("record_source", "redirected"))
	local src = skynet.call(e, "lua", "sources")
	t.eq(src, { { tag = "redirected", source = other, session = 0 } })
end)

t.test("custom protocol with string payloads", function()
	local e = skynet.newservice("echo_svc")
	t.eq(skynet.call(e, "client", "hello", "world"), "HELLO WORLD")
end)

t.test("a request of a protocol the service does not speak raises", function()
	local e = skynet.newservice("echo_svc")
	t.raises(function() skynet.call(e, "text", "nobody dispatches text here") end)
	t.eq(skynet.call(e, "lua", "echo", "still alive"), "still alive")
end)

t.test("register_protocol twice raises", function()
	t.raises(function()
		skynet.register_protocol { name = "client", id = skynet.PTYPE_CLIENT, unpack = skynet.tostring }
	end)
end)

t.test("skynet.dispatch returns the previous handler", function()
	local f = skynet.dispatch("lua")
	t.eq(type(f), "function")
	local prev = skynet.dispatch("lua", f)
	t.ok(rawequal(prev, f))
	t.eq(skynet.dispatch("no_such_protocol"), nil)
end)

skynet.start(function()
	skynet.dispatch("lua", function(session, source, cmd, ...)
		if cmd == "ping" then
			skynet.retpack("pong", source, ...)
		else
			error("test_call: unknown command " .. tostring(cmd))
		end
	end)
	t.run()
end)
