-- skynet.getenv / skynet.setenv: one environment shared by every service of the node.
local skynet = require "skynet"
local t = require "testlib"

t.test("the start key from the command line is in the environment", function()
	t.eq(skynet.getenv("start"), "test_env")
end)

t.test("default config keys are in the environment as strings", function()
	local thread = skynet.getenv("thread")
	t.eq(type(thread), "string")
	t.ok(thread:match("^%d+$") and tonumber(thread) >= 1, "thread = " .. t.repr(thread))
end)

t.test("a missing key is nil", function()
	t.eq(skynet.getenv("no_such_key_in_env"), nil)
end)

t.test("setenv then getenv, from this and from another service", function()
	skynet.setenv("test_env_key", "some value")
	t.eq(skynet.getenv("test_env_key"), "some value")
	local e = skynet.newservice("echo_svc")
	t.eq(skynet.call(e, "lua", "getenv", "test_env_key"), "some value")
	skynet.call(e, "lua", "setenv", "test_env_from_other", "42")
	t.eq(skynet.getenv("test_env_from_other"), "42")
end)

t.test("values keep inner spaces", function()
	skynet.setenv("test_env_spaces", "a b  c")
	t.eq(skynet.getenv("test_env_spaces"), "a b  c")
end)

t.test("setenv of an existing key raises", function()
	skynet.setenv("test_env_once", "first")
	t.raises(function() skynet.setenv("test_env_once", "second") end)
	t.eq(skynet.getenv("test_env_once"), "first")
end)

t.test("getenv returns one value", function()
	t.eq(select("#", skynet.getenv("no_such_key_in_env")), 1)
	t.eq(select("#", skynet.getenv("start")), 1)
end)

skynet.start(function()
	t.run()
end)
