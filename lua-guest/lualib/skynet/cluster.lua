-- skynet.cluster: calls between nodes, speaking skynet's cluster protocol (so skybox nodes and
-- skynet nodes call each other).
--
--   local cluster = require "skynet.cluster"
--   cluster.reload { db = "127.0.0.1:2528", game = "127.0.0.1:2529" }
--   cluster.open "db"                        -- listen at this node's own address
--   cluster.register("sdb", addr)            -- callable from other nodes as "@sdb"
--   cluster.call("db", "@sdb", "GET", "a")   -- a call to a service of node db
--   cluster.send("db", "@sdb", "PING")       -- a push, no answer
--   local p = cluster.proxy "db@sdb"         -- a local address for it
--
-- Node names map to "host:port" in the file the `cluster` config key names, or in
-- cluster.reload; `false` marks a node down (calls to it fail). A call to a node not named yet
-- waits until a reload names it, unless the table says `__nowaiting = true`.
-- The work is done by services: clusterd (one per node), a clustersender per remote node, a
-- clusteragent per accepted connection, a clusterproxy per proxied service.

local skynet = require "skynet"

local clusterd
local cluster = {}
local senders = {}	-- node -> its clustersender
-- node -> the queue of a node whose sender is being asked for: pushes ({ address, bytes }, in
-- order) and coroutines of calls waiting for it; `confirm` is the coroutine flushing it.
local queues = {}

-- Messages reach the sender as bytes: a message buffer (skynet.pack's) is the packing
-- service's own and cannot be handed to another service inside a message.
local packstring = skynet.packstring

-- Asks clusterd for the sender, then lets the queued work out in order: each waiting call
-- sends its request before the next queued push goes.
local function flush(node, q)
	local ok, sender = pcall(skynet.call, clusterd, "lua", "sender", node)
	if not ok then
		skynet.error(sender)
		sender = nil
	end
	q.sender, q.err = sender, not ok and sender or nil
	q.confirm = coroutine.running()
	for _, item in ipairs(q) do
		if type(item) == "table" then
			if sender then
				skynet.send(sender, "lua", "push", item[1], item[2])
			end
		else
			skynet.wakeup(item)
			skynet.wait(q.confirm)
		end
	end
	queues[node] = nil
	senders[node] = sender
end

local function queue_of(node)
	local q = queues[node]
	if not q then
		q = {}
		queues[node] = q
		skynet.fork(flush, node, q)
	end
	return q
end

-- The sender of `node` (waits while it is being asked for); errors if the node is down.
function cluster.get_sender(node)
	local s = senders[node]
	if s then
		return s
	end
	local q = queue_of(node)
	local co = coroutine.running()
	q[#q + 1] = co
	skynet.wait(co)
	-- the flusher waits for this call to send its request
	skynet.fork(skynet.wakeup, q.confirm)
	return q.sender or error(q.err or string.format("cluster node [%s] has no sender", node), 2)
end

local get_sender = cluster.get_sender

function cluster.call(node, address, ...)
	local s = senders[node] or get_sender(node)
	return skynet.call(s, "lua", "req", address, packstring(...))
end

function cluster.send(node, address, ...)
	local s = senders[node]
	if s then
		skynet.send(s, "lua", "push", address, packstring(...))
	else
		local q = queue_of(node)
		q[#q + 1] = { address, packstring(...) }
	end
end

-- cluster.open(node_name) listens at the node's address in the table; cluster.open(port)
-- on every interface. Returns the bound address and port.
function cluster.open(port, maxclient)
	if type(port) == "string" then
		return skynet.call(clusterd, "lua", "listen", port, nil, maxclient)
	end
	return skynet.call(clusterd, "lua", "listen", "0.0.0.0", port, maxclient)
end

function cluster.reload(config)
	skynet.call(clusterd, "lua", "reload", config)
end

-- cluster.proxy("node@name") / cluster.proxy("node", address_or_name): a local address.
function cluster.proxy(node, name)
	return skynet.call(clusterd, "lua", "proxy", node, name)
end

function cluster.snax(node, name, address)
	local snax = require "skynet.snax"
	if not address then
		address = cluster.call(node, ".service", "QUERY", "snaxd", name)
	end
	return snax.bind(skynet.call(clusterd, "lua", "proxy", node, address), name)
end

function cluster.register(name, addr)
	assert(type(name) == "string", "cluster.register: the name is a string")
	assert(addr == nil or type(addr) == "number", "cluster.register: the address is a number")
	return skynet.call(clusterd, "lua", "register", name, addr)
end

function cluster.unregister(name)
	assert(type(name) == "string", "cluster.unregister: the name is a string")
	return skynet.call(clusterd, "lua", "unregister", name)
end

-- The address of the service registered as `name` on `node`.
function cluster.query(node, name)
	return skynet.call(get_sender(node), "lua", "req", 0, packstring(name))
end

skynet.init(function()
	clusterd = skynet.uniqueservice("clusterd")
end)

return cluster
