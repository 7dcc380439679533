-- The harness checks itself: eq/raises/near behave as documented.
local skynet = require "skynet"
local t = require "testlib"

local function failure(f)
	local ok, err = pcall(f)
	assert(not ok, "expected a failure")
	return tostring(err)
end

t.test("eq accepts deep-equal values", function()
	t.eq(1, 1)
	t.eq("a", "a")
	t.eq({ 1, { 2, { x = "y" } }, k = false }, { 1, { 2, { x = "y" } }, k = false })
	t.eq(0 / 0, 0 / 0)
	local cyc1, cyc2 = {}, {}
	cyc1.self, cyc2.self = cyc1, cyc2
	t.eq(cyc1, cyc2)
end)

t.test("eq reports the path of the first difference", function()
	local err = failure(function() t.eq({ a = { 1, 2 } }, { a = { 1, 3 } }) end)
	t.ok(err:find("value.a[2]", 1, true), err)
	t.ok(err:find("expected 3", 1, true), err)
	err = failure(function() t.eq({ 1 }, { 1, 2 }, "ctx") end)
	t.ok(err:find("ctx", 1, true) and err:find("missing key", 1, true), err)
	err = failure(function() t.eq({ 1, 2 }, { 1 }) end)
	t.ok(err:find("unexpected key", 1, true), err)
end)

t.test("eq tells integers and floats apart", function()
	local err = failure(function() t.eq(3.0, 3) end)
	t.ok(err:find("integer", 1, true) and err:find("float", 1, true), err)
	failure(function() t.eq(-0.0, 0.0) end)
end)

t.test("eq shows where long strings differ", function()
	local a = string.rep("a", 100) .. "X" .. string.rep("a", 10)
	local b = string.rep("a", 100) .. "Y" .. string.rep("a", 10)
	local err = failure(function() t.eq(a, b) end)
	t.ok(err:find("byte 101", 1, true), err)
end)

t.test("raises checks the error message", function()
	local msg = t.raises(function() error("the message") end, "the message")
	t.ok(msg:find("the message", 1, true))
	t.raises(function() error({}) end)
	failure(function() t.raises(function() end) end)
	failure(function() t.raises(function() error("other") end, "expected text") end)
	-- patterns work too
	t.raises(function() error("code 42") end, "code %d+")
end)

t.test("near, neq and ok", function()
	t.near(1.0, 1.05, 0.1)
	failure(function() t.near(1, 2, 0.5) end)
	t.neq({ 1 }, { 2 })
	failure(function() t.neq({ 1 }, { 1 }) end)
	t.ok(true)
	failure(function() t.ok(false, "nope") end)
end)

t.test("wait_until polls until true or timeout", function()
	local flag = false
	skynet.timeout(3, function() flag = true end)
	t.eq(t.wait_until(function() return flag end, 100), true)
	local dt, r = t.timed(t.wait_until, function() return false end, 5)
	t.eq(r, false)
	t.ok(dt >= 5)
end)

t.test("cases run in their own coroutine and may block", function()
	skynet.sleep(1)
	t.eq(type(coroutine.running()), "thread")
end)

skynet.start(function()
	t.run()
end)
