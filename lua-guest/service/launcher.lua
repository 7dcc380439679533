-- launcher (".launcher"): starts services for skynet.newservice and keeps the list of them.
--
-- Speaks skynet's launcher protocol ("lua" messages), so skynet's own services work with it:
--   LAUNCH "snlua" name args...   starts a service; answers its address once the service's start
--                                 function has finished (it sends LAUNCHOK), or an error when it
--                                 fails (ERROR)
--   LOGLAUNCH ...                 the same, with the host's message log turned on for it
--   LAUNCHOK / ERROR              sent by a starting service (see skynet.init_service)
--   REMOVE handle kill            sent by an exiting (kill false) or killed service; no answer.
--                                 Exiting before the start function finished makes the LAUNCH
--                                 answer nil; being killed makes it fail.
--   LIST                          handle -> description of every service started here
--   STAT / MEM / GC [ti]          per service: debug STAT, memory, collect + memory ("ERROR" or
--                                 "TIMEOUT" for a service that fails or takes over ti cs)
--   KILL addr                     kill a service
--   QUERY session                 the service still starting for the sender's LAUNCH with that
--                                 session
-- C-level starts report through "text" messages: "" means started, "ERROR" failed
-- (the host sends "ERROR" when a Lua service's loader fails).

local skynet = require "skynet"
local core = require "skynet.core"
require "skynet.manager"

local services = {}	-- handle -> "snlua name args" of every service started here
local starting = {}	-- handle -> response closure of the LAUNCH waiting for that service
local launch_session = {}	-- handle -> session of that LAUNCH request (for QUERY)
local launch_source = {}	-- handle -> who sent that LAUNCH request
local command = {}
local NORET = {}	-- handler result: the handler answers by itself (or never)

local function to_handle(addr)
	if type(addr) == "string" then
		return tonumber(addr:sub(2), 16)
	end
	return addr
end

-- The launch of `handle` is over: answer whoever waits for it with response(...).
local function finish(handle, ...)
	local response = starting[handle]
	if response then
		starting[handle] = nil
		launch_session[handle] = nil
		launch_source[handle] = nil
		response(...)
	end
end

function command.LIST()
	local list = {}
	for handle, desc in pairs(services) do
		list[skynet.address(handle)] = desc
	end
	return list
end

-- Sends debug command `cmd` to every service at once and waits at most `ti` centiseconds
-- (no limit when nil). format(value, handle) makes each entry; a service that fails gives
-- "ERROR", one that does not answer in time "TIMEOUT".
local function ask_all(ti, format, cmd)
	local list = {}
	local unanswered = {}
	local req = skynet.request()
	for handle in pairs(services) do
		local r = { handle, "debug", cmd }
		req:add(r)
		unanswered[r] = handle
	end
	for r, resp in req:select(ti) do
		local handle = r[1]
		list[skynet.address(handle)] = format(resp and resp[1] or "ERROR", handle)
		unanswered[r] = nil
	end
	for _, handle in pairs(unanswered) do
		list[skynet.address(handle)] = format("TIMEOUT", handle)
	end
	return list
end

local function as_is(value)
	return value
end

local function format_mem(kb, handle)
	local desc = services[handle]
	if type(kb) == "string" then
		return string.format("%s (%s)", kb, desc)
	end
	return string.format("%.2f Kb (%s)", kb, desc)
end

function command.STAT(_, ti)
	return ask_all(ti, as_is, "STAT")
end

function command.MEM(_, ti)
	return ask_all(ti, format_mem, "MEM")
end

function command.GC(_, ti)
	for handle in pairs(services) do
		skynet.send(handle, "debug", "GC")
	end
	return command.MEM(nil, ti)
end

function command.KILL(_, addr)
	local handle = to_handle(addr)
	skynet.kill(handle)
	local result = { [skynet.address(handle)] = tostring(services[handle]) }
	services[handle] = nil
	return result
end

-- Sent by a service that exits (kill false) or is killed (kill true). One that exits by
-- itself before finishing its start makes newservice return nil; a killed one makes it fail.
function command.REMOVE(_, handle, kill)
	services[handle] = nil
	finish(handle, not kill)
	return NORET	-- the service is going away: nobody to answer
end

local function launch(service, ...)
	local param = table.concat({ ... }, " ")
	local handle = skynet.launch(service, param)
	local session, source = skynet.context()
	local response = skynet.response()
	if not handle then
		response(false)
		return
	end
	services[handle] = service .. " " .. param
	starting[handle] = response
	launch_session[handle] = session
	launch_source[handle] = source
	return handle
end

function command.LAUNCH(_, service, ...)
	launch(service, ...)
	return NORET
end

function command.LOGLAUNCH(_, service, ...)
	local handle = launch(service, ...)
	if handle then
		core.command("LOGON", skynet.address(handle))
	end
	return NORET
end

function command.ERROR(source)
	services[source] = nil
	finish(source, false)
	return NORET
end

function command.LAUNCHOK(source)
	finish(source, true, source)
	return NORET
end

-- Which service is still starting for the LAUNCH request with this session? (Sessions are
-- per requester, so only the requester's own LAUNCHes are matched.)
function command.QUERY(source, session)
	for handle, s in pairs(launch_session) do
		if s == session and launch_source[handle] == source then
			return handle
		end
	end
end

skynet.register_protocol {
	name = "text",
	id = skynet.PTYPE_TEXT,
	unpack = skynet.tostring,
	dispatch = function(_, source, cmd)
		if cmd == "" then
			command.LAUNCHOK(source)
		elseif cmd == "ERROR" then
			command.ERROR(source)
		else
			error("Invalid text command " .. tostring(cmd))
		end
	end,
}

skynet.dispatch("lua", function(_, source, cmd, ...)
	local f = command[string.upper(cmd)]
	if f == nil then
		return skynet.retpack { "Unknown command" }
	end
	local result = f(source, ...)
	if result ~= NORET then
		skynet.retpack(result)
	end
end)

skynet.start(function() end)
