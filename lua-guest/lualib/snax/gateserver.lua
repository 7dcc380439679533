-- snax.gateserver: a TCP gate as a library, skynet's API. One listening socket; every client's
-- byte stream is cut into frames (2-byte big-endian length, then that many bytes: at most 65535)
-- by skynet.netpack, and each whole frame is handed to the handler.
--
--   local gateserver = require "snax.gateserver"
--   gateserver.start {
--       connect = function(fd, addr) ... gateserver.openclient(fd) end,   -- required
--       message = function(fd, msg, sz) ... end,   -- required; msg is a buffer the handler owns
--       open = function(source, conf) end,         -- after the "open" command listened
--       disconnect = function(fd) end, error = function(fd, text) end,
--       warning = function(fd, kib) end,
--       command = function(cmd, source, ...) end,  -- "lua" commands other than open/close
--       embed = false,                             -- true: no skynet.start, install at once
--   }
--
-- Commands ("lua", each answered with the function's returns):
--   open(conf)  conf = { address = "0.0.0.0", port = P, maxclient = 1024, nodelay = bool,
--               backlog = N }: listens, writes the bound address and port back into conf (so port
--               0 yields the real one), starts accepting, returns handler.open(source, conf).
--   close()     stops listening.
-- A client is not read from until gateserver.openclient(fd); gateserver.closeclient(fd) closes it
-- (the CLOSE that follows still reaches handler.disconnect). Frames of a connection that is
-- closed or being closed are dropped (logged), and a partial frame dies with its connection.

local skynet = require "skynet"
local netpack = require "skynet.netpack"
local driver = require "skynet.socketdriver"

local gateserver = {}

local listen_id			-- the listening socket
local queue			-- netpack's frame queue (filter may replace it: always keep the last one)
local maxclient			-- clients served at once
local client_number = 0		-- clients accepted and not yet CLOSEd
local nodelay
-- fd -> true (served), false (closed for reading: CLOSE seen or error), nil (unknown or kicked)
local connection = {}
-- fd -> true for every client counted in client_number, until its CLOSE
local counted = {}

local CMD = setmetatable({}, { __gc = function() netpack.clear(queue) end })

function gateserver.openclient(fd)
	if connection[fd] then
		driver.start(fd)
	end
end

function gateserver.closeclient(fd)
	if connection[fd] ~= nil then
		connection[fd] = nil
		driver.close(fd)
	end
end

function gateserver.start(handler)
	assert(handler.message, "gateserver needs handler.message")
	assert(handler.connect, "gateserver needs handler.connect")

	-- the "open" command waits here for the listen result (CONNECT, or ERROR)
	local listening

	function CMD.open(source, conf)
		assert(not listen_id, "gate already listening")
		local address = conf.address or "0.0.0.0"
		local port = assert(conf.port, "gate open: no port")
		maxclient = conf.maxclient or 1024
		nodelay = conf.nodelay
		local id = driver.listen(address, port, conf.backlog)
		listen_id = id
		listening = { co = coroutine.running(), id = id }
		skynet.wait(listening.co)
		local result = listening
		listening = nil
		if result.err then
			listen_id = nil
			driver.close(id)
			error(string.format("gate listen on %s:%d failed: %s", address, port, result.err))
		end
		conf.address, conf.port = result.addr, result.port
		skynet.error(string.format("gate listening on %s:%d (maxclient %d)", conf.address, conf.port,
			maxclient))
		driver.start(id)
		if handler.open then
			return handler.open(source, conf)
		end
	end

	function CMD.close()
		assert(listen_id, "gate not listening")
		driver.close(listen_id)
	end

	local MSG = {}

	local function dispatch_msg(fd, msg, sz)
		if connection[fd] then
			handler.message(fd, msg, sz)
		else
			-- tostring frees the frame
			skynet.error(string.format("Drop message from fd (%d) : %d bytes", fd,
				#netpack.tostring(msg, sz)))
		end
	end

	MSG.data = dispatch_msg

	-- several frames in one read: drain the queue; fork a second drainer first, so a handler
	-- that blocks does not hold back the frames behind it
	local function dispatch_queue()
		local fd, msg, sz = netpack.pop(queue)
		if fd then
			skynet.fork(dispatch_queue)
			dispatch_msg(fd, msg, sz)
			for fd, msg, sz in netpack.pop, queue do
				dispatch_msg(fd, msg, sz)
			end
		end
	end

	MSG.more = dispatch_queue

	function MSG.open(fd, addr)
		-- skynet counts the new client first and refuses it when the count reaches maxclient, so
		-- it serves maxclient - 1; here exactly maxclient are served, and a refused client is never
		-- counted (its CLOSE, if one comes, changes nothing).
		if client_number >= maxclient then
			driver.close(fd)
			return
		end
		client_number = client_number + 1
		counted[fd] = true
		if nodelay then
			driver.nodelay(fd)
		end
		connection[fd] = true
		handler.connect(fd, addr)
	end

	function MSG.close(fd)
		if fd == listen_id then
			listen_id = nil
			return
		end
		if not counted[fd] then
			return	-- a refused client
		end
		counted[fd] = nil
		client_number = client_number - 1
		if connection[fd] then
			connection[fd] = false
		end
		if handler.disconnect then
			handler.disconnect(fd)
		end
	end

	function MSG.error(fd, text)
		if fd == listen_id then
			if listening and listening.id == fd and listening.co then
				local co = listening.co
				listening.co, listening.err = nil, text
				skynet.wakeup(co)
			else
				skynet.error("gateserver accept error: " .. tostring(text))
			end
			return
		end
		if not counted[fd] then
			driver.close(fd)
			return
		end
		if connection[fd] then
			connection[fd] = false
		end
		driver.shutdown(fd)	-- CLOSE, then handler.disconnect, follow
		if handler.error then
			handler.error(fd, text)
		end
	end

	function MSG.warning(fd, kib)
		if handler.warning then
			handler.warning(fd, kib)
		end
	end

	function MSG.init(id, addr, port)
		if listening and listening.co and listening.id == id then
			local co = listening.co
			listening.co, listening.addr, listening.port = nil, addr, port
			skynet.wakeup(co)
		end
	end

	skynet.register_protocol {
		name = "socket",
		id = skynet.PTYPE_SOCKET,
		unpack = function(msg, sz)
			return netpack.filter(queue, msg, sz)
		end,
		dispatch = function(_, _, q, type, ...)
			queue = q
			if type then
				MSG[type](...)
			end
		end,
	}

	local function init()
		skynet.dispatch("lua", function(_, source, cmd, ...)
			local f = CMD[cmd]
			if f then
				skynet.ret(skynet.pack(f(source, ...)))
			else
				assert(handler.command, "gate: unknown command " .. tostring(cmd))
				skynet.ret(skynet.pack(handler.command(cmd, source, ...)))
			end
		end)
	end

	if handler.embed then
		init()
	else
		skynet.start(init)
	end
end

return gateserver
