-- One connection of the network benchmark: each frame from the gate goes back to the client as
-- it came (netpack.pack copies it once, with its 2-byte header; the write takes that block).
local skynet = require "skynet"
local socket = require "skynet.socket"
local netpack = require "skynet.netpack"

local fd

skynet.register_protocol {
	name = "client",
	id = skynet.PTYPE_CLIENT,
	unpack = function(msg, sz)
		return msg, sz
	end,
	dispatch = function(_, _, msg, sz)
		skynet.ignoreret()
		socket.write(fd, netpack.pack(msg, sz))
	end,
}

local CMD = {}

function CMD.start(gate, client)
	fd = client
	skynet.call(gate, "lua", "forward", fd)
end

function CMD.stop()
	skynet.exit()
end

skynet.start(function()
	skynet.dispatch("lua", function(session, _, cmd, ...)
		local f = CMD[cmd]
		if session == 0 then
			f(...)
		else
			skynet.ret(skynet.pack(f(...)))
		end
	end)
end)
