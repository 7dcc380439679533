-- A client that floods a service with `n` concurrent "work" calls ("flood"), optionally exiting
-- right after sending them ("flood_and_exit"); "done" tells how many calls were answered.
local skynet = require "skynet"

local done = 0

local function flood(target, n)
	for i = 1, n do
		skynet.fork(function()
			pcall(skynet.call, target, "lua", "work", i)
			done = done + 1
		end)
	end
end

skynet.start(function()
	skynet.dispatch("lua", function(_, _, cmd, target, n)
		if cmd == "flood" then
			flood(target, n)
			skynet.ret(skynet.pack(true))
		elseif cmd == "flood_and_exit" then
			flood(target, n)
			skynet.ret(skynet.pack(true))
			skynet.yield() -- let the requests go out
			skynet.exit()
		elseif cmd == "done" then
			skynet.ret(skynet.pack(done))
		end
	end)
end)
