-- The agent of the gate example: one per client. The gate forwards it each frame of its client as
-- a PTYPE_CLIENT message (session = the client's fd, payload = the frame's bytes); it answers
-- each with one frame, written straight to the socket:
--   "quit" or "bye"  ->  "BYE", then the watchdog closes the connection
--   anything else    ->  the same text in upper case

local skynet = require "skynet"
local socket = require "skynet.socket"

local client_fd, gate, watchdog

skynet.register_protocol {
	name = "client",
	id = skynet.PTYPE_CLIENT,
	unpack = skynet.tostring,
}

local function reply(text)
	socket.write(client_fd, string.pack(">s2", text))
end

local function request(text)
	if text == "quit" or text == "bye" then
		reply("BYE")
		skynet.send(watchdog, "lua", "close", client_fd)	-- the gate kicks the client
	else
		reply(string.upper(text))
	end
end

local CMD = {}

function CMD.start(conf)
	client_fd, gate, watchdog = conf.client, conf.gate, conf.watchdog
	skynet.call(gate, "lua", "forward", client_fd)
end

function CMD.disconnect()
	skynet.exit()
end

skynet.start(function()
	skynet.dispatch("client", function(session, _, text)
		assert(session == client_fd, "a frame of another client")
		skynet.ignoreret()	-- the session is the fd, not a request to answer
		request(text)
	end)
	skynet.dispatch("lua", function(session, _, cmd, ...)
		local f = assert(CMD[cmd], cmd)
		if session == 0 then
			f(...)
		else
			skynet.ret(skynet.pack(f(...)))
		end
	end)
end)
