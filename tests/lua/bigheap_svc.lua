-- Grows its heap past 32 MB and then 64 MB on request ("grow" MB), keeping what it allocated.
local skynet = require "skynet"

local kept = {}

skynet.start(function()
	skynet.dispatch("lua", function(_, _, cmd, mb)
		if cmd == "grow" then
			for i = 1, mb do
				kept[#kept + 1] = string.rep(string.char(65 + i % 26), 1024 * 1024)
			end
			skynet.ret(skynet.pack(skynet.self()))
		end
	end)
end)
