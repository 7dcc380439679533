-- skynet.datacenter on skybox's own datacenterd: a key tree shared by services, set/get/wait,
-- and waiters released, failed or kept as the tree changes (skynet's test/testdatacenter.lua's
-- cases included).
local skynet = require "skynet"
local datacenter = require "skynet.datacenter"
local t = require "testlib"

t.test("set returns what it replaced, get reads leaves and branches", function()
	t.eq(datacenter.set("hello", "world"), nil)
	t.eq(datacenter.get("hello"), "world")
	t.eq(datacenter.set("hello", "again"), "world")
	datacenter.set("player", 7, "name", "ann")
	datacenter.set("player", 7, "level", 3)
	t.eq(datacenter.get("player", 7, "name"), "ann")
	t.eq(datacenter.get("player", 7), { name = "ann", level = 3 })
	t.eq(datacenter.get("player", 8, "name"), nil)
	t.eq(datacenter.set("player", 7, "level", nil), 3)
	t.eq(datacenter.get("player", 7), { name = "ann" })
end)

t.test("wait returns at once for a leaf, waits for one that is not there yet", function()
	t.eq(datacenter.wait("hello"), "again")
	local got
	skynet.fork(function()
		got = datacenter.wait("later", "value")
	end)
	skynet.sleep(5)
	t.eq(got, nil)
	datacenter.set("later", "value", 42)
	t.ok(t.wait_until(function() return got ~= nil end))
	t.eq(got, 42)
end)

t.test("a waiter on what becomes a branch fails; one below a table set at once is answered", function()
	local branch_ok, below
	skynet.fork(function()
		branch_ok = pcall(datacenter.wait, "key")
	end)
	skynet.fork(function()
		below = datacenter.wait("tree", "leaf")
	end)
	skynet.sleep(5)
	datacenter.set("key", "foobar", "bingo")
	datacenter.set("tree", { leaf = "found" })
	t.ok(t.wait_until(function() return branch_ok ~= nil and below ~= nil end))
	t.eq(branch_ok, false)
	t.eq(below, "found")
	t.eq(datacenter.wait("key", "foobar"), "bingo")
	t.eq(pcall(datacenter.wait, "key"), false, "a branch")
end)

t.test("every service sees the same tree", function()
	datacenter.set("shared", "from", skynet.self())
	local other = skynet.newservice("dc_reader_svc")
	t.eq(skynet.call(other, "lua", "shared", "from"), skynet.self())
end)

skynet.start(function()
	t.run()
end)
