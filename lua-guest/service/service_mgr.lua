-- service_mgr (".service"): one instance per name, for skynet.uniqueservice / queryservice.
--
--   LAUNCH name args...   the service started under `name` (started now with newservice if it is
--                         not yet); concurrent requests for one name start it once
--   QUERY name            the service started under `name`, waiting until someone launches it
--   GLAUNCH / GQUERY      the same for "global" services; skybox is a single node, so they are
--                         kept here too, under "@name"
--   LIST                  name -> address, "Error: ...", or for a pending name who is
--                         starting it and who waits for it
-- Answers are (handle) or (nil, error message); skynet.uniqueservice asserts on them. A failed
-- launch is reported to every waiter, and to later requests for that name (as in skynet).

local skynet = require "skynet"
require "skynet.manager"

-- name -> handle (started), error message (failed), or a table while pending:
-- { launch = { co, session, source } of the request starting it (nil while only queried),
--   [1..n] = { co, session, source } of the requests waiting for it }
local services = {}
local cmd = {}

local function outcome(name)
	local entry = services[name]
	if type(entry) == "number" then
		return entry
	end
	error(tostring(entry), 0)
end

local function request_info()
	local session, source = skynet.context()
	return { co = coroutine.running(), session = session, source = source }
end

-- The handle for `name`; when `start` is given and nobody is starting it yet, start(...) it.
local function resolve(name, start, ...)
	local entry = services[name]
	local kind = type(entry)
	if kind == "number" then
		return entry
	elseif kind == "string" then
		error(entry, 0)
	elseif entry == nil then
		entry = {}
		services[name] = entry
	end

	if start and not entry.launch then
		entry.launch = request_info()
		local ok, result = pcall(start, ...)
		if ok and type(result) == "number" then
			services[name] = result
		elseif ok then
			services[name] = "the service " .. name .. " exited while starting"
		else
			services[name] = tostring(result)
		end
		for i = 1, #entry do
			skynet.wakeup(entry[i].co)
		end
		return outcome(name)
	end

	entry[#entry + 1] = request_info()
	skynet.wait()
	return outcome(name)
end

-- "@name" names a global service; the script's name is without '@'
local function script_name(name)
	if name:byte(1) == 64 then	-- '@'
		return name:sub(2)
	end
	return name
end

local function start_snax(name, ...)
	local snax = require "skynet.snax"
	return snax.rawnewservice(name, ...)
end

function cmd.LAUNCH(name, subname, ...)
	local script = script_name(name)
	if script == "snaxd" then
		return resolve(name .. "." .. subname, start_snax, subname, ...)
	end
	return resolve(name, skynet.newservice, script, subname, ...)
end

function cmd.QUERY(name, subname)
	if script_name(name) == "snaxd" then
		return resolve(name .. "." .. subname)
	end
	return resolve(name)
end

function cmd.GLAUNCH(name, ...)
	return cmd.LAUNCH("@" .. name, ...)
end

function cmd.GQUERY(name, ...)
	return cmd.QUERY("@" .. name, ...)
end

-- Why is `entry` still pending? Who starts it, where it is in its start, who waits for it.
local function describe_pending(entry)
	local lines = {}
	local function add(line)
		lines[#lines + 1] = tostring(line)
	end
	local launch = entry.launch
	if launch then
		local session = skynet.task(launch.co)	-- the newservice call the starter waits on
		local ok, starting = pcall(skynet.call, ".launcher", "lua", "QUERY", session)
		if ok and starting then
			add("Init as " .. skynet.address(starting))
			local tok, trace = pcall(skynet.call, starting, "debug", "TASK", "init")
			add(tok and trace or "(no init trace)")
		end
		add("Launching from " .. skynet.address(launch.source))
	end
	if #entry > 0 then
		add "Querying:"
		for _, waiter in ipairs(entry) do
			add(skynet.address(waiter.source) .. " session " .. tostring(waiter.session))
		end
	end
	return table.concat(lines, "\n")
end

function cmd.LIST()
	local list = {}
	for name, entry in pairs(services) do
		local kind = type(entry)
		if kind == "number" then
			list[name] = skynet.address(entry)
		elseif kind == "string" then
			list[name] = "Error: " .. entry
		else
			list[name] = describe_pending(entry)
		end
	end
	return list
end

skynet.start(function()
	skynet.dispatch("lua", function(_, _, command, ...)
		local f = cmd[command]
		if f == nil then
			return skynet.retpack(nil, "Invalid command " .. tostring(command))
		end
		local ok, result = pcall(f, ...)
		if ok then
			skynet.retpack(result)
		else
			skynet.retpack(nil, result)
		end
	end)
	local existing = skynet.localname ".service"
	if existing then
		skynet.error(".service is already registered by " .. skynet.address(existing))
		skynet.exit()
	end
	skynet.register ".service"
end)
