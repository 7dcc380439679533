-- clustersender: the connection from this node to one remote node (skynet's
-- service/clustersender.lua contract), launched by clusterd: clustersender(node, nodename,
-- host, port).
--
-- It connects on first need and again after the connection is lost; the socket thread cuts the
-- answers into frames (socketdriver.forward) and sends each here as a PTYPE_CLIENT message.
-- Calls waiting for answers fail when the connection is lost or the node is retargeted.
--
-- Commands ("lua"): req(address, msg, sz) answers with the remote answer's bytes (or an error);
-- push(address, msg, sz) sends without an answer; changenode(host, port) / changenode(false)
-- points the connection at a new address / turns it off. `msg` may also be a string.

local skynet = require "skynet"
local socket = require "skynet.socket"
local driver = require "skynet.socketdriver"
local core = require "skynet.cluster.core"

local node, nodename, host, port = ...
port = tonumber(port)

-- Writes this far behind (the peer reads too slowly) make new requests fail instead of
-- queueing more.
local BACKLOG_LIMIT = (tonumber(skynet.getenv "cluster_backlog") or 64 * 1024) -- KiB

local fd	-- the connection, nil while there is none
local opening	-- coroutines waiting for the connect in progress, nil when none is
local generation = 0	-- bumped by changenode: a connect begun before is stale
local down = false
local backlog = 0	-- KiB not yet written (socket warnings)
local session = 1
local waiting = {}	-- session -> the coroutine waiting for its answer
local answers_ok, answers = {}, {}	-- session -> the outcome and data of its answer
local large = {}	-- session -> { size, part, ... }: a multi-part answer being put together

local function fail_all(why)
	large = {}
	for s, co in pairs(waiting) do
		waiting[s] = nil
		answers_ok[s], answers[s] = false, why
		skynet.wakeup(co)
	end
end

local function lost(id)
	if fd == id then
		fd = nil
		backlog = 0
		fail_all(string.format("cluster node [%s] disconnected", node))
	end
	socket.close(id)
end

local function connect()
	if fd then
		return fd
	end
	if down then
		error(string.format("cluster node [%s] is down", node), 0)
	end
	if opening then
		local co = coroutine.running()
		opening[#opening + 1] = co
		skynet.wait(co)
		return fd or error(string.format("cluster node [%s] (%s:%s) is unreachable", node, host, port), 0)
	end
	opening = {}
	local gen = generation
	local id, err = socket.open(host, port)
	if id and gen ~= generation then
		socket.close(id)
		id, err = nil, "retargeted"
	end
	if id then
		driver.nodelay(id)
		socket.onclose(id, lost)
		socket.warning(id, function(_, kib) backlog = kib end)
		driver.forward(id, skynet.self(), 0)
		fd = id
	else
		skynet.error(string.format("cluster node [%s] (%s:%s) connect failed: %s", node, host, port, tostring(err)))
	end
	local q = opening
	opening = nil
	for _, co in ipairs(q) do
		skynet.wakeup(co)
	end
	return fd or error(string.format("cluster node [%s] (%s:%s) is unreachable", node, host, port), 0)
end

local function writable()
	local id = connect()
	if backlog > BACKLOG_LIMIT then
		error(string.format("cluster node [%s] is too slow: %d KiB not sent", node, backlog), 0)
	end
	return id
end

local function write(id, first, parts)
	driver.send(id, first)
	if parts then
		for i = 1, #parts do
			driver.send(id, parts[i])
		end
	end
end

local function request(addr, msg, sz)
	local s = session
	local first, next_session, parts = core.packrequest(addr, s, msg, sz)
	session = next_session
	local id = writable()
	local tag = skynet.tracetag()
	if tag then
		if tag:sub(1, 1) ~= "(" then
			local remote = string.format("(%s-%s-%d)%s", nodename, node, s, tag)
			skynet.tracelog(tag, "session " .. remote)
			tag = remote
		end
		skynet.tracelog(tag, "cluster " .. node)
		driver.send(id, core.packtrace(tag))
	end
	local co = coroutine.running()
	waiting[s] = co
	write(id, first, parts)
	skynet.wait(co)
	local ok, data = answers_ok[s], answers[s]
	answers_ok[s], answers[s] = nil, nil
	if not ok then
		error(data, 0)
	end
	return data
end

local command = {}

function command.req(addr, msg, sz)
	local ok, data = pcall(request, addr, msg, sz)
	if ok then
		skynet.ret(data)
	else
		skynet.error(data)
		skynet.response()(false)
	end
end

function command.push(addr, msg, sz)
	local first, next_session, parts = core.packpush(addr, session, msg, sz)
	if parts then
		session = next_session	-- the parts of a push carry a session too
	end
	local ok, id = pcall(writable)
	if ok then
		write(id, first, parts)
	else
		skynet.error(id)
	end
end

function command.changenode(h, p)
	generation = generation + 1
	if h then
		host, port, down = h, tonumber(p), false
	else
		skynet.error(string.format("Close cluster sender %s %s:%s", node, host, port))
		down = true
	end
	local id = fd
	if id then
		fd = nil
		backlog = 0
		fail_all(string.format("cluster node [%s] changed", node))
		socket.close(id)
	end
	skynet.ret(skynet.pack(nil))
end

-- An answer's frame, cut by the socket thread.
local function answer(_, _, s, ok, data, more)
	skynet.ignoreret()	-- the session of a forwarded frame is the connection's id
	if s == nil then
		skynet.error(string.format("cluster node [%s] sent a malformed answer: connection closed", node))
		local id = fd
		if id then
			lost(id)
		end
		return
	end
	if more then
		local big = large[s]
		if big then
			big[#big + 1] = data
		else
			large[s] = { data }	-- the head: the size
		end
		return
	end
	local big = large[s]
	if big then
		large[s] = nil
		big[#big + 1] = data
		data = table.concat(big, "", 2)
		if #data ~= big[1] then
			ok, data = false, "cluster: a multi-part answer does not add up"
		end
	end
	local co = waiting[s]
	if co then
		waiting[s] = nil
		answers_ok[s], answers[s] = ok, data
		skynet.wakeup(co)
	end
end

skynet.register_protocol {
	name = "client",
	id = skynet.PTYPE_CLIENT,
	unpack = core.unpackresponse,
	dispatch = answer,
}

skynet.start(function()
	skynet.dispatch("lua", function(_, _, cmd, ...)
		local f = assert(command[cmd], "clustersender: unknown command")
		f(...)
	end)
end)
