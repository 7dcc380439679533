-- Launching services: arguments, SERVICE_NAME, skynet.init, newservice/launch semantics.
local skynet = require "skynet"
require "skynet.manager"
local t = require "testlib"

t.test("SERVICE_NAME is the service's name", function()
	t.eq(SERVICE_NAME, "test_launch")
	local a = skynet.newservice("args_svc")
	t.eq(skynet.call(a, "lua", "name"), "args_svc")
end)

t.test("launch arguments arrive as strings", function()
	local a = skynet.newservice("args_svc", 1, "two", 3.5)
	t.eq(skynet.call(a, "lua", "args"), { n = 3, "1", "two", "3.5" })
	local none = skynet.newservice("args_svc")
	t.eq(skynet.call(none, "lua", "args"), { n = 0 })
end)

t.test("skynet.init functions run before the start function", function()
	local a = skynet.newservice("args_svc")
	t.eq(skynet.call(a, "lua", "order"), { "init", "start", "started" })
end)

t.test("newservice returns after the start function has finished", function()
	local dt, a = t.timed(skynet.newservice, "args_svc", "slow", 20)
	t.ok(dt >= 19, "newservice returned after " .. dt .. " cs")
	t.eq(skynet.call(a, "lua", "order"), { "init", "start", "started" })
end)

t.test("concurrent launches get distinct addresses", function()
	local got, done = {}, 0
	for i = 1, 20 do
		skynet.fork(function()
			got[i] = skynet.newservice("echo_svc", "c" .. i)
			done = done + 1
		end)
	end
	t.eventually(function() return done == 20 end, 500)
	local seen = {}
	for i = 1, 20 do
		t.ok(not seen[got[i]], "duplicate address")
		seen[got[i]] = true
		t.eq(skynet.call(got[i], "lua", "label"), "c" .. i)
	end
end)

t.test("a service launches another service", function()
	local e = skynet.newservice("echo_svc")
	local child = skynet.call(e, "lua", "launch", "echo_svc", "child")
	t.eq(math.type(child), "integer")
	t.eq(skynet.call(child, "lua", "label"), "child")
end)

t.test("skynet.launch returns at once, before start finishes", function()
	local dt, addr = t.timed(skynet.launch, "snlua", "args_svc", "slow", 50)
	t.eq(math.type(addr), "integer")
	t.ok(dt < 30, "skynet.launch waited " .. dt .. " cs")
	skynet.sleep(70)
	t.eq(skynet.call(addr, "lua", "order"), { "init", "start", "started" })
	skynet.kill(addr)
end)

t.test("skynet.launch of a missing service returns nil or a service that goes away", function()
	local addr = skynet.launch("snlua", "no_such_service_file")
	if addr then
		skynet.sleep(10)
		t.raises(function() skynet.call(addr, "lua", "echo") end)
	end
end)

t.test("skynet.exit removes the service from the launcher", function()
	local e = skynet.newservice("echo_svc", "leaving")
	local key = skynet.address(e)
	t.ok(skynet.call(".launcher", "lua", "LIST")[key])
	skynet.send(e, "lua", "exit")
	t.eventually(function() return skynet.call(".launcher", "lua", "LIST")[key] == nil end, 200)
end)

t.test("skynet.kill removes the service from the launcher", function()
	local e = skynet.newservice("echo_svc", "killed")
	local key = skynet.address(e)
	skynet.kill(e)
	t.eventually(function() return skynet.call(".launcher", "lua", "LIST")[key] == nil end, 200)
	t.raises(function() skynet.call(e, "lua", "echo") end)
end)

skynet.start(function()
	t.run()
end)
