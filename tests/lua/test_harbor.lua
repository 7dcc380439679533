-- The harbor of a standalone node (what skynet's own bootstrap launches through cdummy): names
-- registered with "N name", and messages to a global name that is not bound yet wait for it.
local skynet = require "skynet"
require "skynet.manager"
local t = require "testlib"

-- As skynet's cdummy registers it.
skynet.register_protocol {
	name = "harbor",
	id = skynet.PTYPE_HARBOR,
	pack = function(...) return ... end,
	unpack = skynet.tostring,
}

t.test("without a harbor, a call to an unbound global name fails at once", function()
	t.raises(function() skynet.call("NOBODY_HOME", "lua", "label") end, "invalid address")
end)

t.test("the harbor binds names sent to it as N name", function()
	local harbor = skynet.launch("harbor", 0, skynet.self())
	t.ok(harbor, "harbor launched")
	local e = skynet.newservice("echo_svc", "via_harbor")
	skynet.redirect(harbor, e, "harbor", 0, "N HARBOR_NAMED")
	skynet.sleep(1)
	t.eq(skynet.call("HARBOR_NAMED", "lua", "label"), "via_harbor")
end)

t.test("with a harbor, a call to an unbound global name waits for the binding", function()
	local answer
	skynet.fork(function()
		answer = skynet.call("LATE_NAME", "lua", "label")
	end)
	skynet.sleep(5)
	t.eq(answer, nil, "still waiting")
	local e = skynet.newservice("echo_svc", "late")
	skynet.name("LATE_NAME", e)
	skynet.sleep(5)
	t.eq(answer, "late")
end)

t.test("skynet.harbor: global names, queryname waits for one, no other harbor", function()
	local harbor = require "skynet.harbor"
	harbor.globalname("HARBOR_SELF")
	t.eq(harbor.queryname "HARBOR_SELF", skynet.self())
	local got
	skynet.fork(function()
		got = harbor.queryname "HARBOR_LATER"
	end)
	skynet.sleep(3)
	t.eq(got, nil, "not registered yet")
	local other = skynet.newservice("echo_svc")
	harbor.globalname("HARBOR_LATER", other)
	t.ok(t.wait_until(function() return got ~= nil end))
	t.eq(got, other)
	t.eq(skynet.call("HARBOR_LATER", "lua", "echo", "hi"), "hi")
	harbor.link(1)
	t.raises(function() harbor.connect(2) end, "no other harbor")
	t.raises(function() harbor.globalname(".local") end, "global name")
end)

skynet.start(function() t.run() end)
