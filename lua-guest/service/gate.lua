-- gate: the built-in framed TCP gate (skynet's service/gate.lua contract), on snax.gateserver.
--
-- A watchdog launches it and opens it:
--   local gate = skynet.newservice("gate")
--   local addr, port = skynet.call(gate, "lua", "open",
--       { address = "0.0.0.0", port = 8888, maxclient = 1024, nodelay = true, watchdog = w })
-- Socket events go to the watchdog (conf.watchdog, else the service that sent "open") as "lua"
-- messages, never calls:
--   "socket", "open", fd, "ip:port"   a client connected (not read from yet)
--   "socket", "data", fd, frame       a frame of a client in accept mode (a string)
--   "socket", "close", fd             a client is gone (also after kick)
--   "socket", "error", fd, text
--   "socket", "warning", fd, kib      writes to fd are piling up (0: drained)
-- Commands ("lua" calls):
--   forward(fd, client, address)  each frame of fd goes to `address` (default: the caller) as a
--                                 PTYPE_CLIENT message, source `client` (default 0), session fd,
--                                 payload the frame without its header; then fd is read from.
--                                 A connection forwarded before it is first read has its frames
--                                 cut on the socket thread and sent straight to the agent
--                                 (socketdriver.forward), never through this service.
--   accept(fd)                    frames of fd go to the watchdog ("socket", "data")
--   kick(fd)                      close fd
--   open(conf), close()           listen (returns the bound address and port), stop listening

local skynet = require "skynet"
local gateserver = require "snax.gateserver"
local driver = require "skynet.socketdriver"

local watchdog
-- fd -> { fd, ip, agent, client } (four fields: the table's smallest hash part)
local connection = {}
-- fd -> "native" (framed by the socket thread) or "read" (read here); nil: not read yet
local reading = {}

skynet.register_protocol {
	name = "client",
	id = skynet.PTYPE_CLIENT,
}

local handler = {}

function handler.open(source, conf)
	watchdog = conf.watchdog or source
	return conf.address, conf.port
end

function handler.message(fd, msg, sz)
	local c = connection[fd]
	local agent = c and c.agent
	if agent then
		-- the frame's buffer becomes the message's payload
		skynet.redirect(agent, c.client, "client", fd, msg, sz)
	elseif c then
		skynet.send(watchdog, "lua", "socket", "data", fd, skynet.tostring(msg, sz))
		skynet.trash(msg, sz)
	else
		skynet.trash(msg, sz)	-- an fd that errored, its CLOSE not yet here
	end
end

function handler.connect(fd, addr)
	connection[fd] = { fd = fd, ip = addr }
	skynet.send(watchdog, "lua", "socket", "open", fd, addr)
end

local function unforward(c)
	c.agent = nil
	c.client = nil
end

local function close_fd(fd)
	local c = connection[fd]
	if c then
		unforward(c)
		connection[fd] = nil
		reading[fd] = nil
	end
end

function handler.disconnect(fd)
	close_fd(fd)
	skynet.send(watchdog, "lua", "socket", "close", fd)
end

function handler.error(fd, text)
	close_fd(fd)
	skynet.send(watchdog, "lua", "socket", "error", fd, text)
end

function handler.warning(fd, kib)
	skynet.send(watchdog, "lua", "socket", "warning", fd, kib)
end

local CMD = {}

function CMD.forward(source, fd, client, address)
	local c = assert(connection[fd], "gate forward: unknown fd")
	unforward(c)
	c.client = client or 0
	c.agent = address or source
	-- Not read yet (nothing of it is queued here): the socket thread can frame it from the
	-- first byte. A stream read here before keeps this path, so its frames stay in order.
	local mode = reading[fd]
	if mode == nil or mode == "native" then
		reading[fd] = driver.forward(fd, c.agent, c.client) and "native" or "read"
	end
	gateserver.openclient(fd)
end

function CMD.accept(_, fd)
	local c = assert(connection[fd], "gate accept: unknown fd")
	unforward(c)
	if reading[fd] == "native" then
		driver.forward(fd)	-- an incomplete frame comes back here as data
	end
	reading[fd] = "read"
	gateserver.openclient(fd)
end

function CMD.kick(_, fd)
	gateserver.closeclient(fd)
end

function handler.command(cmd, source, ...)
	local f = assert(CMD[cmd], "gate: unknown command")
	return f(source, ...)
end

gateserver.start(handler)
