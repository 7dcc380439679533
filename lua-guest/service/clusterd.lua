-- clusterd: this node's cluster registry (skynet's service/clusterd.lua contract), one per node,
-- launched by skynet.cluster as a unique service.
--
-- It knows the nodes (name -> "host:port", or false for a node that is down) from the file the
-- `cluster` config key names (a Lua chunk assigning names, run once at start) and from
-- cluster.reload; keys starting with "__" are options (`__nowaiting = true`: asking for a node
-- not in the table fails at once instead of waiting for a reload that names it). It keeps one
-- clustersender per remote node, the names registered for remote callers, the proxies, and one
-- clusteragent per connection accepted by the gate that cluster.open starts.
--
-- Commands ("lua" calls, each given the caller first): sender(node), senders(), reload(table|nil), listen(addr, port,
-- maxclient), proxy(node, name), register(name, addr), unregister(name), queryname(name);
-- and "socket" messages from the gate.

local skynet = require "skynet"
require "skynet.manager"
local driver = require "skynet.socketdriver"
local core = require "skynet.cluster.core"

-- A remote node whose answers pile up this far unread (KiB) is cut off: a peer that sends
-- requests and does not read must not make this node hold its answers without bound.
local BACKLOG_LIMIT = tonumber(skynet.getenv "cluster_backlog") or 64 * 1024

local nodename = core.nodename()
local options = {}
local node_address = {}	-- node -> "host:port" | false
local node_sender = {}	-- node -> clustersender address
local waiting = {}	-- node -> coroutines waiting for a reload to name it
local command = {}

local function wake_all(q)
	for _, co in ipairs(q) do
		skynet.wakeup(co)
	end
end

local function split(address)
	local host, port = address:match "^(.+):(%d+)$"
	return host, tonumber(port)
end

-- Points an existing sender at the node's (new) address, or turns it off.
local function retarget(node)
	local sender = node_sender[node]
	if sender then
		local address = node_address[node]
		if address then
			skynet.send(sender, "lua", "changenode", split(address))
		else
			skynet.send(sender, "lua", "changenode", false)
		end
	end
end

local function load_config(t)
	if t == nil then
		t = {}
		local file = skynet.getenv "cluster"
		if file then
			local f = assert(io.open(file), "cluster: cannot open " .. file)
			local source = f:read "a"
			f:close()
			assert(load(source, "@" .. file, "t", t))()
		end
	end
	for name, address in pairs(t) do
		if name:sub(1, 2) == "__" then
			local opt = name:sub(3)
			options[opt] = address
			skynet.error(string.format("Config %s = %s", opt, tostring(address)))
		else
			assert(address == false or type(address) == "string",
				"cluster: the address of a node is \"host:port\" or false")
			if address and not split(address) then
				error(string.format("cluster: bad address %q for node %s", address, name))
			end
			if node_address[name] ~= address then
				node_address[name] = address
				retarget(name)
			end
			local q = waiting[name]
			if q then
				waiting[name] = nil
				skynet.error(string.format("Cluster node [%s] resolved : %s", name, tostring(address)))
				wake_all(q)
			end
		end
	end
	if options.nowaiting then
		for name, q in pairs(waiting) do
			waiting[name] = nil
			wake_all(q)
		end
	end
end

function command.reload(_, t)
	load_config(t)
	skynet.ret(skynet.pack(nil))
end

-- The sender of `node`, launched on first need. A node the table does not name is waited for
-- (until a reload names it) unless __nowaiting; a node marked down has no sender to give.
function command.sender(_, node)
	assert(type(node) == "string", "cluster: a node name is a string")
	if node_address[node] == nil and not options.nowaiting then
		local q = waiting[node]
		if not q then
			q = {}
			waiting[node] = q
			skynet.error(string.format("Waiting for cluster node [%s]", node))
		end
		local co = coroutine.running()
		q[#q + 1] = co
		skynet.wait(co)
	end
	local address = node_address[node]
	if address == nil then
		error(string.format("cluster node [%s] is absent.", node))
	end
	local sender = node_sender[node]
	if not sender then
		if address == false then
			error(string.format("cluster node [%s] is down.", node))
		end
		local host, port = split(address)
		sender = skynet.newservice("clustersender", node, nodename, host, port)
		if node_sender[node] then
			-- another caller launched one meanwhile
			skynet.kill(sender)
			sender = node_sender[node]
		else
			node_sender[node] = sender
			-- the address may have changed while the sender started
			if node_address[node] ~= address then
				retarget(node)
			end
		end
	end
	skynet.ret(skynet.pack(sender))
end

function command.senders()
	skynet.retpack(node_sender)
end

function command.listen(_, addr, port, maxclient)
	if port == nil then
		local address = assert(node_address[addr], addr .. " is down")
		addr, port = split(address)
	end
	local gate = skynet.newservice("gate")
	local realaddr, realport = skynet.call(gate, "lua", "open",
		{ address = addr, port = port, maxclient = maxclient, nodelay = true })
	skynet.ret(skynet.pack(realaddr, realport))
end

local proxies = {}

function command.proxy(_, node, name)
	if name == nil then
		node, name = node:match "^([^@.]+)([@.].+)"
		if name == nil then
			error("cluster: invalid proxy name " .. tostring(node))
		end
	end
	local key = node .. "." .. tostring(name)
	local p = proxies[key]
	if not p then
		p = skynet.newservice("clusterproxy", node, name)
		if proxies[key] then
			skynet.kill(p)
			p = proxies[key]
		else
			proxies[key] = p
		end
	end
	skynet.ret(skynet.pack(p))
end

local agents = {}	-- fd -> clusteragent address; false while launching, true if it closed meanwhile
local names = {}	-- name -> address and address -> name

local function names_changed()
	for _, agent in pairs(agents) do
		if type(agent) == "number" then
			skynet.send(agent, "lua", "namechange")
		end
	end
end

function command.register(source, name, addr)
	assert(type(name) == "string" and names[name] == nil, "cluster.register: name in use")
	addr = addr or source
	local old = names[addr]
	if old then
		names[old] = nil
		names_changed()
	end
	names[addr] = name
	names[name] = addr
	skynet.ret(nil)
	skynet.error(string.format("Register [%s] :%08x", name, addr))
end

function command.unregister(_, name)
	local addr = names[name]
	if addr then
		names[addr] = nil
		names[name] = nil
		names_changed()
		skynet.error(string.format("Unregister [%s] :%08x", name, addr))
	end
	skynet.ret(nil)
end

function command.queryname(_, name)
	skynet.ret(skynet.pack(names[name]))
end

-- From the gate (its watchdog is this service): a connection opened or gone.
function command.socket(source, subcmd, fd, text)
	if subcmd == "open" then
		skynet.error(string.format("socket accept from %s", text))
		agents[fd] = false
		local agent = skynet.newservice("clusteragent", skynet.self(), source, fd)
		if agents[fd] == true then
			skynet.send(agent, "lua", "exit")
			agents[fd] = nil
		else
			agents[fd] = agent
		end
	elseif subcmd == "close" or subcmd == "error" then
		local agent = agents[fd]
		if agent == false then
			agents[fd] = true
		elseif agent then
			skynet.send(agent, "lua", "exit")
			agents[fd] = nil
		end
		if subcmd == "error" then
			skynet.error(string.format("socket error %d %s", fd, text or ""))
		end
	elseif subcmd == "warning" then
		if text > BACKLOG_LIMIT then
			skynet.error(string.format("cluster connection %d reads too slowly (%d KiB unsent): closed", fd, text))
			driver.shutdown(fd)
		end
	else
		skynet.error(string.format("socket %s %d %s", subcmd, fd, text or ""))
	end
end

skynet.start(function()
	load_config()
	skynet.dispatch("lua", function(_, source, cmd, ...)
		local f = assert(command[cmd], "clusterd: unknown command")
		f(source, ...)
	end)
end)
