-- skynet.forward_type and skynet.filter: proxies that handle raw messages.
local skynet = require "skynet"
require "skynet.manager"
local t = require "testlib"

local P = table.pack

skynet.register_protocol {
	name = "client",
	id = skynet.PTYPE_CLIENT,
	pack = skynet.pack,
	unpack = skynet.unpack,
}

t.test("a forward_type proxy passes calls through", function()
	local e = skynet.newservice("echo_svc", "behind_proxy")
	local p = skynet.newservice("proxy_svc", skynet.address(e))
	t.eq(P(skynet.call(p, "lua", "echo", 1, nil, { x = "y" })), P(1, nil, { x = "y" }))
	t.eq(skynet.call(p, "lua", "label"), "behind_proxy")
	-- the target sees the proxy as the source
	local _, source = skynet.call(p, "lua", "whoami")
	t.eq(source, p)
end)

t.test("a forward_type proxy passes sends through, in order", function()
	local e = skynet.newservice("echo_svc")
	local p = skynet.newservice("proxy_svc", skynet.address(e))
	for i = 1, 50 do
		skynet.send(p, "lua", "push", i)
	end
	local got = skynet.call(p, "lua", "take")
	t.eq(#got, 50)
	for i = 1, 50 do
		t.eq(got[i], i)
	end
end)

t.test("errors travel back through the proxy", function()
	local e = skynet.newservice("echo_svc")
	local p = skynet.newservice("proxy_svc", skynet.address(e))
	t.raises(function() skynet.call(p, "lua", "error", "behind the proxy") end)
	t.eq(skynet.call(p, "lua", "echo", "still working"), "still working")
end)

t.test("a forward_type proxy still answers unmapped protocols", function()
	local e = skynet.newservice("echo_svc")
	local p = skynet.newservice("proxy_svc", skynet.address(e))
	t.eq(select("#", skynet.call(p, "debug", "PING")), 0)
	t.eq(type(skynet.call(p, "debug", "MEM")), "number")
end)

t.test("many concurrent calls and big payloads through a proxy", function()
	local e = skynet.newservice("echo_svc")
	local p = skynet.newservice("proxy_svc", skynet.address(e))
	local done, bad = 0, 0
	for i = 1, 200 do
		skynet.fork(function()
			local v = skynet.call(p, "lua", "sleep", i % 3, i)
			if v ~= i then bad = bad + 1 end
			done = done + 1
		end)
	end
	t.eventually(function() return done == 200 end, 500)
	t.eq(bad, 0)
	local big = string.rep("p", 2 * 1024 * 1024)
	t.ok(skynet.call(p, "lua", "echo", big) == big)
end)

t.test("a redirecting proxy keeps the caller as the source", function()
	local e = skynet.newservice("echo_svc")
	local r = skynet.newservice("redirect_svc", skynet.address(e))
	local session, source, answered_by = skynet.call(r, "lua", "whoami")
	t.eq(source, skynet.self(), "the target saw the proxy, not the caller")
	t.eq(answered_by, e)
	t.eq(skynet.call(r, "lua", "echo", "x", 2), "x")
	skynet.send(r, "lua", "push", "sent")
	t.eq(skynet.call(r, "lua", "take"), { "sent" })
	t.eq(skynet.call(r, "debug", "FORWARDED"), 4)
end)

t.test("a filter sees every message and may rewrite its type", function()
	local f = skynet.newservice("filter_svc")
	t.eq(skynet.call(f, "lua", "echo", 1, 2), 1)
	-- a PTYPE_CLIENT request is turned into a "lua" one by the filter
	t.eq(P(skynet.call(f, "client", "echo", "via client")), P("via client"))
	local counts = skynet.call(f, "lua", "counts")
	t.eq(counts[skynet.PTYPE_CLIENT], 1)
	t.ok((counts[skynet.PTYPE_LUA] or 0) >= 2, t.repr(counts))
end)

skynet.start(function()
	t.run()
end)
