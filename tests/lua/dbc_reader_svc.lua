-- dbc_reader_svc: the debugged side of skynet.debugchannel: "connect", handle; "read" answers
-- the next command (or nothing after a short wait).
local skynet = require "skynet"
local debugchannel = require "skynet.debugchannel"
local channel

skynet.start(function()
	skynet.dispatch("lua", function(_, _, cmd, handle)
		if cmd == "connect" then
			channel = debugchannel.connect(handle)
			skynet.ret(skynet.pack(true))
		else
			skynet.ret(skynet.pack(channel:read(0.01)))
		end
	end)
end)
