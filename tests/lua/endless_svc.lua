-- A service with a handler that never returns ("spin") and one that does ("ping").
local skynet = require "skynet"

skynet.start(function()
	skynet.dispatch("lua", function(_, _, cmd)
		if cmd == "spin" then
			local n = 0
			while true do n = n + 1 end
		elseif cmd == "ping" then
			skynet.ret(skynet.pack("pong"))
		elseif cmd == "endless" then
			skynet.ret(skynet.pack(skynet.endless()))
		end
	end)
end)
