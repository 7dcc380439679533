-- clusteragent: serves one connection from a remote node (skynet's service/clusteragent.lua
-- contract), launched by clusterd for each connection its gate accepts:
-- clusteragent(clusterd, gate, fd).
--
-- The gate forwards the connection here, so the socket thread cuts its frames and sends each
-- as a PTYPE_CLIENT message. A request goes to a local service by address, by a name registered
-- with cluster.register ("@name"), or by a local service name; pushes get no answer; address 0
-- asks for a registered name's address. A malformed frame, or multi-part requests past
-- `cluster_maxrequest` bytes (default 64 MiB) in progress, close the connection.

local skynet = require "skynet"
local driver = require "skynet.socketdriver"
local core = require "skynet.cluster.core"

local clusterd, gate, fd = ...
clusterd, gate, fd = tonumber(clusterd), tonumber(gate), tonumber(fd)

local MAX_REQUEST = tonumber(skynet.getenv "cluster_maxrequest") or 64 * 1024 * 1024

local large = {}	-- session -> { size, part, ..., target =, push =, tag = }: a multi-part request
local large_bytes = 0	-- the sizes announced by the multi-part requests in `large`
local tag	-- the trace tag announced for the next request
local names = {}	-- "@name" -> address, until clusterd says the names changed
local resolving = {}	-- "@name" -> coroutines waiting for the query in progress

local function resolve(name)
	local addr = names[name]
	if addr then
		return addr
	end
	local q = resolving[name]
	if q then
		local co = coroutine.running()
		q[#q + 1] = co
		skynet.wait(co)
		return names[name]
	end
	q = {}
	resolving[name] = q
	addr = skynet.call(clusterd, "lua", "queryname", name:sub(2))
	names[name] = addr
	resolving[name] = nil
	for _, co in ipairs(q) do
		skynet.wakeup(co)
	end
	return addr
end

local function answer(session, ok, msg, sz)
	local frames = core.packresponse(session, ok, msg, sz)
	if type(frames) == "table" then
		for i = 1, #frames do
			driver.lsend(fd, frames[i])
		end
	else
		driver.send(fd, frames)
	end
end

local function drop_connection(why)
	skynet.error(string.format("cluster connection %d closed: %s", fd, why))
	driver.close(fd)
end

local function serve(addr, session, msg, sz, more, push)
	if session == nil then
		tag = addr	-- a trace frame
		return
	end
	if more then
		local req = large[session]
		if not req then
			if type(sz) ~= "number" or addr == false then
				return drop_connection("a part of a request that was not announced")
			end
			large_bytes = large_bytes + sz
			if large_bytes > MAX_REQUEST then
				return drop_connection(string.format("%d bytes of multi-part requests in progress", large_bytes))
			end
			req = { target = addr, push = push, tag = tag }
			tag = nil
			large[session] = req
		end
		core.append(req, msg, sz)
		return
	end
	local req = large[session]
	if req then
		large[session] = nil
		large_bytes = large_bytes - req[1]
		core.append(req, msg, sz)
		msg, sz = core.concat(req)
		addr, push, tag = req.target, req.push, req.tag
		if not msg then
			if not push then
				answer(session, false, "Invalid large req")
			end
			return
		end
	elseif addr == false then
		return drop_connection("the last part of a request that was not announced")
	end
	local trace = tag
	tag = nil
	if addr == 0 then
		local name = skynet.unpack(msg, sz)
		skynet.trash(msg, sz)
		local found = type(name) == "string" and resolve("@" .. name)
		if found then
			answer(session, true, skynet.packstring(found))
		else
			answer(session, false, "name not found")
		end
		return
	end
	if core.isname(addr) then
		addr = resolve(addr)
	end
	if not addr then
		skynet.trash(msg, sz)
		if not push then
			answer(session, false, "Invalid name")
		end
		return
	end
	if push then
		skynet.rawsend(addr, "lua", msg, sz)
		return
	end
	local ok, rmsg, rsz
	if trace then
		ok, rmsg, rsz = pcall(skynet.tracecall, trace, addr, "lua", msg, sz)
	else
		ok, rmsg, rsz = pcall(skynet.rawcall, addr, "lua", msg, sz)
	end
	if ok then
		answer(session, true, rmsg, rsz)
	else
		answer(session, false, tostring(rmsg))
	end
end

skynet.register_protocol {
	name = "client",
	id = skynet.PTYPE_CLIENT,
	unpack = function(msg, sz)
		return pcall(core.unpackrequest, msg, sz)
	end,
	dispatch = function(_, _, ok, ...)
		skynet.ignoreret()	-- the session of a forwarded frame is the connection's id
		if ok then
			return serve(...)
		end
		drop_connection(...)
	end,
}

skynet.start(function()
	skynet.dispatch("lua", function(_, source, cmd)
		if cmd == "exit" then
			driver.close(fd)
			skynet.exit()
		elseif cmd == "namechange" then
			names = {}
		else
			skynet.error(string.format("clusteragent: unknown command %s from %s", tostring(cmd), skynet.address(source)))
		end
	end)
	-- From here the gate's socket thread sends the frames straight here.
	pcall(skynet.call, gate, "lua", "forward", fd)
end)
