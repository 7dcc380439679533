-- Blocking work off the workers. Runs with one worker thread (tests/lua/test_blocking.args): a
-- service waiting on blocking work must not hold it.
local skynet = require "skynet"
require "skynet.manager"
local t = require "testlib"
local blocking = require "skynet.blocking"

t.test("files are written and read on the pool", function()
	local path = os.tmpname()
	t.eq(blocking.writefile(path, "hello\0world"), true)
	t.eq(blocking.readfile(path), "hello\0world")
	os.remove(path)
end)

t.test("failures come back as nil, message", function()
	local data, err = blocking.readfile("/nonexistent/skybox/file")
	t.eq(data, nil)
	t.ok(type(err) == "string" and #err > 0, "an error message")
end)

t.test("resolve finds localhost", function()
	local ips = blocking.resolve("localhost")
	local found = false
	for _, ip in ipairs(ips) do
		if ip == "127.0.0.1" or ip == "::1" then found = true end
	end
	t.ok(found, "localhost resolves to a loopback address")
end)

t.test("the only worker serves others while a service waits on blocking work", function()
	local echo = skynet.newservice("echo_svc")
	local slept = false
	skynet.fork(function()
		blocking.sleep(300)
		slept = true
	end)
	skynet.yield()
	-- With one worker, these calls could not be answered if the sleep held it.
	for i = 1, 10 do
		t.eq(skynet.call(echo, "lua", "echo", i), i)
	end
	t.eq(slept, false, "answered while the blocking sleep was still running")
	while not slept do skynet.sleep(5) end
end)

skynet.start(function() t.run() end)
