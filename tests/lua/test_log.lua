-- skynet.error formatting: tests/lua_suites.rs checks these exact log lines.
local skynet = require "skynet"
local t = require "testlib"

t.test("skynet.error joins its arguments with spaces", function()
	skynet.error("log-check self=" .. skynet.address(skynet.self()))
	skynet.error("log-check:", "a", "b", "c")
	skynet.error("log-check:", 1, 2.5, nil, true, false)
	skynet.error("log-check: unicode ✓ and tabs\tkept")
	skynet.error("log-check: done")
end)

t.test("a service's lines carry its own address", function()
	local e = skynet.newservice("echo_svc")
	skynet.call(e, "lua", "echo")
	skynet.error("log-check echo=" .. skynet.address(e))
	-- echo_svc logs the error below through the host's error report for a failing send
	skynet.send(e, "lua", "error", "log-check: from echo")
	skynet.call(e, "lua", "echo")
end)

skynet.start(function()
	t.run()
end)
