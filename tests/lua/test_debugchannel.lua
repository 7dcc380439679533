-- skynet.debugchannel: commands from the agent's end reach the debugged service's end in
-- order; one reader per channel; a handle dies with its creator's end; a hook that yields.
local skynet = require "skynet"
local debugchannel = require "skynet.debugchannel"
local t = require "testlib"

t.test("commands reach the other service in order", function()
	local channel, handle = debugchannel.create()
	local reader = skynet.newservice("dbc_reader_svc")
	t.eq(skynet.call(reader, "lua", "connect", handle), true)
	t.raises(function() debugchannel.connect(handle) end, "new channel failed")
	channel:write("step")
	channel:write("continue")
	t.eq(skynet.call(reader, "lua", "read"), "step")
	t.eq(skynet.call(reader, "lua", "read"), "continue")
	t.eq(skynet.call(reader, "lua", "read"), nil)
	debugchannel.release(channel)
	t.raises(function() debugchannel.connect(handle) end, "Invalid channel pointer")
	t.raises(function() debugchannel.connect(skynet.pack(1)) end, "Invalid channel pointer")
end)

t.test("a hook that returns true yields the coroutine", function()
	local lines = 0
	local co = coroutine.create(function()
		local x = 0
		for i = 1, 3 do
			x = x + i
		end
		return x
	end)
	debugchannel.sethook(co, function(event, line)
		if event == "line" then
			lines = lines + 1
			return true
		end
	end, "l")
	local yields = 0
	while true do
		local ok, v = coroutine.resume(co)
		t.ok(ok, v)
		if coroutine.status(co) == "dead" then
			t.eq(v, 6)
			break
		end
		yields = yields + 1
	end
	t.ok(yields > 3 and yields == lines, yields .. " yields, " .. lines .. " lines")
	debugchannel.sethook(co)
	t.raises(function() debugchannel.sethook(print) end, "")
end)

t.test("a hook is told when the coroutine cannot yield, and then it does not", function()
	local seen = {}
	local co = coroutine.create(function()
		local list = { 3, 1, 2 }
		table.sort(list, function(a, b)
			return a < b
		end)
		return table.concat(list, ",")
	end)
	debugchannel.sethook(co, function(event, _, yieldable)
		if event == "line" then
			seen[yieldable] = true
			return true
		end
	end, "l")
	local result
	repeat
		local ok, v = coroutine.resume(co)
		t.ok(ok, v)
		result = v
	until coroutine.status(co) == "dead"
	t.eq(result, "1,2,3")
	t.ok(seen[true] and seen[false], "lines of both kinds")
end)

skynet.start(function() t.run() end)
