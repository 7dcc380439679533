-- skynet.socket: TCP and UDP for a service, on the host's socket thread.
--
--   local socket = require "skynet.socket"
--   local id = socket.listen("127.0.0.1", 8888)
--   socket.start(id, function(client, addr)
--       socket.start(client)
--       local line = socket.readline(client)
--       socket.write(client, line .. "\n")
--       socket.close(client)
--   end)
--
-- Every socket event reaches the socket's owner as a PTYPE_SOCKET message (the service that
-- opened it, or that started it last). Reading functions suspend the calling coroutine until
-- their data is there, or return false (and what was left) once the socket is closed. Writes
-- never block: they are queued on the socket thread; a writer that outruns its peer is warned
-- (socket.warning) at 1 MiB waiting and each doubling, and told 0 once it drained.
--
-- The API is skynet's socket.lua: open, listen, start, pause, read, readall, readline, block,
-- write, lwrite, header, close, close_fd, shutdown, abandon, invalid, disconnected, limit,
-- warning, onclose, lock, unlock, udp, udp_connect, udp_listen, udp_dial, sendto, udp_address,
-- netstat, resolve, bind, stdin.

local skynet = require "skynet"
local driver = require "skynet.socketdriver"

local socket = {}

-- Past this many buffered bytes with nobody reading, a socket is paused (not read) until a
-- reader comes back: a slow service does not buffer a fast peer without bound.
local BUFFER_LIMIT = 128 * 1024

-- id -> the socket's state:
--   buffer, pool   received bytes (driver.buffer), nil for listeners and UDP
--   connected      true between CONNECT and CLOSE
--   connecting     true until CONNECT, ERROR or CLOSE answers an open/start/listen
--   waiting        the coroutine suspended on this socket (one at a time)
--   want           what it waits for: a byte count, 0 for "any bytes", a separator string
--   callback       a listener's accept function, or a UDP socket's receive function
--   closer         a coroutine in socket.close waiting for the reader to leave
--   paused         reading is paused (BUFFER_LIMIT)
--   limit          socket.limit: close when more than this is buffered
--   on_warning, on_close, error, addr, port
local sockets = {}

local function wakeup(s)
	local co = s.waiting
	if co then
		s.waiting = nil
		skynet.wakeup(co)
	end
end

local function suspend(s)
	assert(not s.waiting, "another coroutine is waiting on this socket")
	s.waiting = coroutine.running()
	skynet.wait(s.waiting)
	s.want = nil
	-- socket.close may be waiting for this reader to leave
	local closer = s.closer
	if closer then
		s.closer = nil
		skynet.wakeup(closer)
	end
end

-- Whether the bytes buffered satisfy what the reader waits for.
local function satisfied(s, size)
	local want = s.want
	if type(want) == "number" then
		return size >= want
	end
	return driver.readline(s.buffer, nil, want)
end

------------------------------------------------------------------------------------------------
-- Events

local event = {}

-- 1: data on a stream
event[1] = function(id, size, data)
	local s = sockets[id]
	if not s or not s.buffer then
		driver.drop(data, size)
		return
	end
	local buffered = driver.push(s.buffer, s.pool, data, size)
	if s.limit and buffered > s.limit then
		skynet.error(string.format("socket: %d bytes buffered on %d, over its limit %d: closing",
			buffered, id, s.limit))
		driver.clear(s.buffer, s.pool)
		driver.close(id)
		return
	end
	if s.want ~= nil and satisfied(s, buffered) then
		s.want = nil
		wakeup(s)
	elseif buffered > BUFFER_LIMIT and s.want == nil and not s.paused then
		s.paused = true
		driver.pause(id)
	end
end

-- 2: an open, listen or start completed ("start", "transfer" or an address)
event[2] = function(id, port, addr)
	local s = sockets[id]
	if not s or not s.connecting then
		return	-- a resumed socket ("transfer"), or one abandoned meanwhile
	end
	s.connecting = nil
	s.connected = true
	s.addr, s.port = addr, port
	wakeup(s)
end

-- 3: closed (by us, or the peer's EOF: then it can still be written)
event[3] = function(id)
	local s = sockets[id]
	if not s then
		driver.close(id)	-- harmless for an id already gone
		return
	end
	s.connecting = nil
	s.connected = false
	wakeup(s)
	if s.on_close then
		s.on_close(id)
	end
end

-- 4: a listener accepted a connection
event[4] = function(id, newid, addr)
	local s = sockets[id]
	if not s or not s.callback then
		driver.close(newid)
		return
	end
	s.callback(newid, addr)
end

-- 5: an open failed, or a read or write error
event[5] = function(id, _, err)
	local s = sockets[id]
	if not s then
		driver.shutdown(id)
		return
	end
	if s.callback and not s.connecting then
		skynet.error(string.format("socket: error on %d: %s", id, err))
		return
	end
	if s.connected then
		skynet.error(string.format("socket: error on %d: %s", id, err))
		driver.shutdown(id)	-- CLOSE follows
	end
	s.connecting = nil
	s.connected = false
	s.error = err
	wakeup(s)
end

-- 6: a datagram
event[6] = function(id, size, data, address)
	local s = sockets[id]
	if not s or not s.callback then
		driver.drop(data, size)
		return
	end
	local text = skynet.tostring(data, size)
	skynet.trash(data, size)
	s.callback(text, address)
end

-- 7: writes waiting past 1 MiB and each doubling (in KiB), or 0 once drained
event[7] = function(id, kib)
	local s = sockets[id]
	if s and s.on_warning then
		s.on_warning(id, kib)
	elseif kib > 0 then
		skynet.error(string.format("WARNING: %d K bytes need to send out (fd = %d)", kib, id))
	end
end

skynet.register_protocol {
	name = "socket",
	id = skynet.PTYPE_SOCKET,
	unpack = driver.unpack,
	dispatch = function(_, _, kind, ...)
		local f = event[kind]
		if f then
			f(...)
		end
	end,
}

------------------------------------------------------------------------------------------------
-- Streams

local function new_socket(id, callback)
	assert(not sockets[id], "socket id already in use")
	local s = { connecting = true, callback = callback }
	if not callback then
		s.buffer = driver.buffer()
		s.pool = {}
	end
	sockets[id] = s
	return s
end

-- Waits for the CONNECT (or ERROR, CLOSE) that answers an open, listen or start.
local function connect(id, callback)
	local s = new_socket(id, callback)
	suspend(s)
	if s.connected then
		return id
	end
	sockets[id] = nil
	if s.buffer then
		driver.clear(s.buffer, s.pool)
	end
	return nil, s.error or "closed"
end

-- socket.open(host, port) or socket.open("host:port"): the id, or nil and the error.
function socket.open(addr, port)
	return connect(driver.connect(addr, port))
end

-- socket.listen(host, port[, backlog]): the id, the bound address and port (port 0 picks one).
-- Connections are accepted once the listener is started: socket.start(id, function(id, addr)).
function socket.listen(host, port, backlog)
	local id = driver.listen(host, port, backlog)
	local s = new_socket(id, function() end)
	suspend(s)
	if not s.connected then
		sockets[id] = nil
		error(string.format("socket.listen %s %s: %s", host, port, s.error or "closed"))
	end
	-- the listener waits for its start
	s.connected, s.connecting = false, nil
	return id, s.addr, s.port
end

-- socket.start(id[, accept]): starts an accepted socket (or takes one over from another service)
-- and returns the id; with `accept`, starts a listener that calls accept(id, "ip:port").
function socket.start(id, accept)
	local s = sockets[id]
	if s and s.callback and accept then
		-- a listener made by socket.listen
		s.callback = accept
		s.connecting = true
		driver.start(id)
		suspend(s)
		if s.connected then
			return id
		end
		sockets[id] = nil
		return nil, s.error or "closed"
	end
	driver.start(id)
	return connect(id, accept)
end

function socket.pause(id)
	local s = sockets[id]
	if s and not s.paused then
		s.paused = true
		driver.pause(id)
	end
end

-- A paused socket is read again when a reader needs more.
local function resume(s, id)
	if s.paused then
		s.paused = nil
		driver.start(id)
	end
end

-- Bytes buffered, when the socket is closed: false and what was left.
local function leftover(s)
	return false, driver.readall(s.buffer, s.pool)
end

-- What a reader wants from the buffer, if it is there: `n` bytes, or a line before a separator.
local function take(s, want)
	if type(want) == "number" then
		return (driver.pop(s.buffer, s.pool, want))
	end
	return driver.readline(s.buffer, s.pool, want)
end

-- Takes what the reader wants, waiting for it if the socket is still connected; false and what
-- was left once the socket is closed.
local function wait_for(s, id, want)
	local data = take(s, want)
	if data then
		return data
	end
	if s.connected then
		s.want = want
		resume(s, id)
		suspend(s)
		data = take(s, want)
		if data then
			return data
		end
	end
	return leftover(s)
end

-- socket.read(id[, n]): n bytes, or (without n) whatever is buffered or arrives next.
function socket.read(id, n)
	local s = assert(sockets[id], "socket.read: unknown socket")
	if n == nil or n == 0 then
		local data = driver.readall(s.buffer, s.pool)
		if data ~= "" then
			return data
		end
		if not s.connected then
			return false, data
		end
		s.want = 0
		resume(s, id)
		suspend(s)
		data = driver.readall(s.buffer, s.pool)
		if data ~= "" then
			return data
		end
		return false, data
	end
	return wait_for(s, id, n)
end

-- socket.readall(id): everything until the socket closes.
function socket.readall(id)
	local s = assert(sockets[id], "socket.readall: unknown socket")
	if s.connected then
		s.want = math.huge
		resume(s, id)
		suspend(s)
	end
	return driver.readall(s.buffer, s.pool)
end

-- socket.readline(id[, sep]): the bytes before `sep` (default "\n"); false and what was left when
-- the socket closes first.
function socket.readline(id, sep)
	sep = sep or "\n"
	local s = assert(sockets[id], "socket.readline: unknown socket")
	return wait_for(s, id, sep)
end

-- socket.block(id): waits for data (or the close); true while connected.
function socket.block(id)
	local s = sockets[id]
	if not s or not s.connected then
		return false
	end
	s.want = 0
	resume(s, id)
	suspend(s)
	return s.connected
end

socket.write = assert(driver.send)
socket.lwrite = assert(driver.lsend)
socket.header = assert(driver.header)

-- socket.close(id): closes (what was written is still sent) and waits for the CLOSE; a coroutine
-- reading the socket returns false.
function socket.close(id)
	local s = sockets[id]
	if not s then
		return
	end
	driver.close(id)
	if s.connected or s.connecting then
		if s.waiting then
			-- a reader is suspended: it wakes at the CLOSE; wait until it has left
			s.closer = coroutine.running()
			skynet.wait(s.closer)
		else
			suspend(s)
		end
	end
	if sockets[id] == s then
		sockets[id] = nil
	end
	if s.buffer then
		driver.clear(s.buffer, s.pool)
	end
end

-- socket.close_fd(id): closes an id this service does not track (never started here).
function socket.close_fd(id)
	assert(sockets[id] == nil, "socket.close_fd: use socket.close for a started socket")
	driver.close(id)
end

-- socket.shutdown(id): closes at once, dropping what was not sent yet.
function socket.shutdown(id)
	local s = sockets[id]
	if s and s.buffer then
		driver.clear(s.buffer, s.pool)
	end
	driver.shutdown(id)
end

-- socket.abandon(id): forgets a socket without closing it (another service will start it).
function socket.abandon(id)
	local s = sockets[id]
	if s then
		s.connected = false
		wakeup(s)
		sockets[id] = nil
	end
end

function socket.invalid(id)
	return sockets[id] == nil
end

function socket.disconnected(id)
	local s = sockets[id]
	if s then
		return not (s.connected or s.connecting)
	end
	return false
end

-- socket.limit(id, bytes): a socket buffering more than this is closed.
function socket.limit(id, limit)
	local s = assert(sockets[id], "socket.limit: unknown socket")
	s.limit = limit
end

function socket.warning(id, callback)
	local s = assert(sockets[id], "socket.warning: unknown socket")
	s.on_warning = callback
end

function socket.onclose(id, callback)
	local s = assert(sockets[id], "socket.onclose: unknown socket")
	s.on_close = callback
end

-- socket.lock(id) / socket.unlock(id): one writer at a time for a message written in parts.
function socket.lock(id)
	local s = assert(sockets[id], "socket.lock: unknown socket")
	local queue = s.lock_queue
	if not queue then
		s.lock_queue = {}
		return
	end
	local co = coroutine.running()
	queue[#queue + 1] = co
	skynet.wait(co)
end

function socket.unlock(id)
	local s = assert(sockets[id], "socket.unlock: unknown socket")
	local queue = assert(s.lock_queue, "socket.unlock: not locked")
	local co = table.remove(queue, 1)
	if co then
		skynet.wakeup(co)
	else
		s.lock_queue = nil
	end
end

-- socket.bind(fd): an OS descriptor as a socket (socket.stdin() is socket.bind(0)).
function socket.bind(fd)
	return connect(driver.bind(fd))
end

function socket.stdin()
	return socket.bind(0)
end

------------------------------------------------------------------------------------------------
-- UDP: no start; datagrams go to callback(data, address) as soon as the socket exists.

local function udp_socket(id, callback)
	assert(not sockets[id], "socket id already in use")
	sockets[id] = { connected = true, callback = callback or function() end }
	return id
end

-- socket.udp(callback[, host[, port]]): a UDP socket, bound when an address is given.
function socket.udp(callback, host, port)
	return udp_socket(driver.udp(host, port), callback)
end

function socket.udp_listen(host, port, callback)
	return udp_socket(driver.udp_listen(host, port), callback)
end

function socket.udp_dial(host, port, callback)
	return udp_socket(driver.udp_dial(host, port), callback)
end

-- socket.udp_connect(id, host, port[, callback]): the default destination of socket.write.
function socket.udp_connect(id, host, port, callback)
	local s = sockets[id]
	if s then
		s.callback = callback or s.callback
	else
		udp_socket(id, callback)
	end
	driver.udp_connect(id, host, port)
end

socket.sendto = assert(driver.udp_send)
socket.udp_address = assert(driver.udp_address)

------------------------------------------------------------------------------------------------

-- socket.netstat(): every open socket of the node, as skynet's.
function socket.netstat()
	return driver.info()
end

-- socket.resolve(host): the addresses of `host`, looked up on the host's blocking pool while
-- this coroutine waits (never on a worker thread).
function socket.resolve(host)
	local blocking = require "skynet.blocking"
	local addrs, err = blocking.resolve(host)
	if not addrs then
		error(err)
	end
	return addrs
end

return socket
