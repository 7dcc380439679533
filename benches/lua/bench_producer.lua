-- Sends `count` one-integer messages to `sink`.
local skynet = require "skynet"

skynet.start(function()
	skynet.dispatch("lua", function(_, _, sink, count)
		local send = skynet.send
		for i = 1, count do
			send(sink, "lua", i)
		end
	end)
end)
