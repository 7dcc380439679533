-- mc_sub_svc: subscribes to a multicast channel on "sub", counts what it receives and reports.
local skynet = require "skynet"
local mc = require "skynet.multicast"

local channel
local received = {}

skynet.start(function()
	skynet.dispatch("lua", function(_, _, cmd, id)
		if cmd == "sub" then
			channel = mc.new {
				channel = id,
				dispatch = function(_, source, ...)
					received[#received + 1] = { source, ... }
				end,
			}
			channel:subscribe()
			skynet.ret(skynet.pack(true))
		elseif cmd == "unsub" then
			channel:unsubscribe()
			skynet.ret(skynet.pack(true))
		elseif cmd == "received" then
			skynet.ret(skynet.pack(received))
		elseif cmd == "exit" then
			skynet.exit()
		end
	end)
end)
