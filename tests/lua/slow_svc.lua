-- A hot service that does its work serially: "work" burns some CPU and answers; "served" tells
-- how many "work" requests it answered.
local skynet = require "skynet"

local served = 0

skynet.start(function()
	skynet.dispatch("lua", function(_, _, cmd, arg)
		if cmd == "work" then
			local x = 0
			for i = 1, 20000 do x = x + i end
			served = served + 1
			skynet.ret(skynet.pack(arg))
		elseif cmd == "served" then
			skynet.ret(skynet.pack(served))
		end
	end)
end)
