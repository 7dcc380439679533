-- Addresses and names: skynet.self, skynet.address, localname, register/name, harbor,
-- newservice, uniqueservice/queryservice.
local skynet = require "skynet"
require "skynet.manager"
local t = require "testlib"

local function launcher_list_count(pattern)
	local list = skynet.call(".launcher", "lua", "LIST")
	local n = 0
	for addr, desc in pairs(list) do
		if desc:find(pattern, 1, true) then
			n = n + 1
		end
	end
	return n
end

t.test("skynet.self is a stable integer handle", function()
	local me = skynet.self()
	t.eq(math.type(me), "integer")
	t.ok(me > 0, "handle must be positive")
	t.eq(me >> 24, 0, "harbor bits of a standalone node")
	t.eq(skynet.self(), me)
end)

t.test("skynet.address formats :%08x", function()
	t.eq(skynet.address(10), ":0000000a")
	t.eq(skynet.address(0xabcdef), ":00abcdef")
	t.eq(skynet.address(skynet.self()), string.format(":%08x", skynet.self()))
	t.eq(skynet.address(".named"), ".named")
	t.eq(#skynet.address(skynet.self()), 9)
end)

t.test("skynet.harbor reports a local address", function()
	local id, remote = skynet.harbor(skynet.self())
	t.eq(id, 0)
	t.eq(remote, false)
end)

t.test("localname finds the system services", function()
	local launcher = skynet.localname(".launcher")
	t.eq(math.type(launcher), "integer")
	t.neq(launcher, skynet.self())
	t.eq(math.type(skynet.localname(".service")), "integer", ".service (service_mgr)")
	t.eq(skynet.localname(".no_such_name_here"), nil)
end)

t.test("register names the running service", function()
	skynet.register(".test_address_main")
	t.eq(skynet.localname(".test_address_main"), skynet.self())
end)

t.test("a service registers its own name", function()
	local e = skynet.newservice("echo_svc")
	t.eq(skynet.call(e, "lua", "register", ".echo_self_named"), e)
	t.eq(skynet.localname(".echo_self_named"), e)
	t.eq(skynet.call(".echo_self_named", "lua", "echo", "by name"), "by name")
end)

t.test("skynet.name names another service", function()
	local e = skynet.newservice("echo_svc")
	skynet.name(".echo_named", e)
	t.eq(skynet.localname(".echo_named"), e)
	t.eq(skynet.call(".echo_named", "lua", "echo", 1, 2), 1)
	t.eq(select("#", skynet.call(".echo_named", "lua", "echo", 1, 2)), 2)
end)

t.test("send and call accept a ':%08x' string address", function()
	local e = skynet.newservice("echo_svc")
	local s = skynet.address(e)
	t.eq(skynet.call(s, "lua", "echo", "hex"), "hex")
	skynet.send(s, "lua", "push", "sent by string")
	t.eq(skynet.call(e, "lua", "take"), { "sent by string" })
end)

t.test("newservice returns distinct integer addresses", function()
	local seen = {}
	for i = 1, 5 do
		local e = skynet.newservice("echo_svc", "n" .. i)
		t.eq(math.type(e), "integer")
		t.ok(not seen[e], "address reused: " .. skynet.address(e))
		seen[e] = true
		t.eq(skynet.call(e, "lua", "label"), "n" .. i)
	end
end)

t.test("the request source is the caller's address", function()
	local e = skynet.newservice("echo_svc")
	local session, source, self = skynet.call(e, "lua", "whoami")
	t.eq(source, skynet.self())
	t.eq(self, e)
	t.ok(session > 0, "a call carries a positive session")
end)

t.test("uniqueservice launches once and queryservice finds it", function()
	local a = skynet.uniqueservice("echo_svc")
	local b = skynet.uniqueservice("echo_svc")
	t.eq(math.type(a), "integer")
	t.eq(a, b)
	t.eq(skynet.queryservice("echo_svc"), a)
	t.eq(skynet.call(a, "lua", "echo", "unique"), "unique")
end)

t.test("concurrent uniqueservice calls launch the service once", function()
	local results, n = {}, 6
	for i = 1, n do
		skynet.fork(function()
			local ok, addr = pcall(skynet.uniqueservice, "unique_svc", 30)
			results[i] = ok and addr or ("error: " .. tostring(addr))
		end)
	end
	t.eventually(function()
		for i = 1, n do
			if results[i] == nil then return false end
		end
		return true
	end, 500, "uniqueservice calls did not all return")
	for i = 2, n do
		t.eq(results[i], results[1], "caller " .. i)
	end
	t.eq(math.type(results[1]), "integer")
	t.eq(launcher_list_count("unique_svc"), 1, "instances of unique_svc in the launcher list")
	local name, addr = skynet.call(results[1], "lua", "who")
	t.eq(name, "unique_svc")
	t.eq(addr, results[1])
end)

t.test("queryservice waits until the service is launched", function()
	local found
	skynet.fork(function()
		found = skynet.queryservice("late_svc")
	end)
	skynet.sleep(10)
	t.eq(found, nil, "queryservice returned before anybody launched late_svc")
	local addr = skynet.uniqueservice("late_svc")
	t.eventually(function() return found end, 200, "queryservice never returned")
	t.eq(found, addr)
end)

t.test("global uniqueservice and queryservice on a standalone node", function()
	local a = skynet.uniqueservice(true, "echo_svc")
	t.eq(math.type(a), "integer")
	t.eq(skynet.uniqueservice(true, "echo_svc"), a)
	t.eq(skynet.queryservice(true, "echo_svc"), a)
	t.eq(skynet.call(a, "lua", "echo", "global"), "global")
end)

t.test("global names (no leading dot) work on a standalone node", function()
	local e = skynet.newservice("echo_svc", "global_named")
	skynet.name("TESTGLOBAL", e)
	t.eq(skynet.call("TESTGLOBAL", "lua", "label"), "global_named")
	skynet.send("TESTGLOBAL", "lua", "push", "by global name")
	t.eq(skynet.call(e, "lua", "take"), { "by global name" })
	skynet.register("TESTGLOBALSELF")
	t.eq(table.pack(skynet.call(e, "lua", "call", "TESTGLOBALSELF", "ping")), table.pack("pong", skynet.self(), e))
end)

t.test("uniqueservice of a missing service raises", function()
	t.raises(function() skynet.uniqueservice("no_such_service_for_unique") end)
	-- the failure is remembered: a later query raises too instead of blocking
	t.raises(function() skynet.queryservice("no_such_service_for_unique") end)
end)

skynet.start(function()
	skynet.dispatch("lua", function(session, source, cmd)
		if cmd == "ping" then
			skynet.retpack("pong", skynet.self(), source)
		else
			error("test_address: unknown command " .. tostring(cmd))
		end
	end)
	t.run()
end)
