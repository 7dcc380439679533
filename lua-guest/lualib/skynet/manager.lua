-- skynet.manager: service management additions to the skynet table
-- (launch, kill, abort, register, name, forward_type, filter, monitor).

local skynet = require "skynet"
local c = require "skynet.core"

-- Starts a service directly (no launcher): skynet.launch("snlua", "name args...").
-- Returns its handle, or nil when it could not be created.
function skynet.launch(...)
	local addr = c.command("LAUNCH", table.concat({ ... }, " "))
	if addr then
		return tonumber(addr:sub(2), 16)
	end
end

function skynet.kill(name)
	if type(name) == "number" then
		-- let the launcher forget it (and fail a newservice still waiting for it)
		skynet.send(".launcher", "lua", "REMOVE", name, true)
		name = skynet.address(name)
	end
	c.command("KILL", name)
end

function skynet.abort()
	c.command "ABORT"
end

-- skynet routes names without a leading '.' (global names) through its harbor service.
-- skybox is a single node: a global name goes to the host's name table like a local one.
local function check_global(name)
	assert(name:sub(1, 1) ~= ":", "a name cannot start with ':'")
	if name:sub(1, 1) ~= "." then
		assert(#name <= 32, "global name too long")	-- skynet's GLOBALNAME_LENGTH
		assert(tonumber(name) == nil, "a global name cannot be a number")
	end
end

function skynet.register(name)
	check_global(name)
	c.command("REG", name)
end

function skynet.name(name, handle)
	check_global(name)
	c.command("NAME", name .. " " .. skynet.address(handle))
end

local dispatch_message = skynet.dispatch_message

-- Dispatch message type t as map[t] (e.g. treat PTYPE_CLIENT as "lua" ...). Messages are
-- forwarded: a mapped message belongs to its handler (which must redirect or trash it), others
-- are freed after dispatch.
function skynet.forward_type(map, start_func)
	c.callback(function(ptype, msg, sz, ...)
		local mapped = map[ptype]
		if mapped then
			dispatch_message(mapped, msg, sz, ...)
		else
			local ok, err = pcall(dispatch_message, ptype, msg, sz, ...)
			c.trash(msg, sz)
			if not ok then
				error(err, 0)
			end
		end
	end, true)
	skynet.timeout(0, function()
		skynet.init_service(start_func)
	end)
end

-- Every message goes through f(ptype, msg, sz, session, source), which returns the (possibly
-- rewritten) five values to dispatch.
-- A filter that raises fails the request it was given (its caller gets an error, as it would
-- from a failing handler) before the error is logged.
local function filter_and_dispatch(f, ptype, msg, sz, session, source)
	local ok, p, m, s, sess, src = pcall(f, ptype, msg, sz, session, source)
	if not ok then
		if session ~= 0 and ptype ~= skynet.PTYPE_RESPONSE and ptype ~= skynet.PTYPE_ERROR then
			c.send(source, skynet.PTYPE_ERROR, session, "")
		end
		error(p, 0)
	end
	dispatch_message(p, m, s, sess, src)
end

function skynet.filter(f, start_func)
	c.callback(function(...)
		filter_and_dispatch(f, ...)
	end)
	skynet.timeout(0, function()
		skynet.init_service(start_func)
	end)
end

-- Start (or find, when query is true) the global unique service `service` and make it the
-- monitor the host tells about exiting services.
function skynet.monitor(service, query)
	local monitor
	if query then
		monitor = skynet.queryservice(true, service)
	else
		monitor = skynet.uniqueservice(true, service)
	end
	assert(monitor, "Monitor launch failed")
	c.command("MONITOR", string.format(":%08x", monitor))
	return monitor
end

return skynet
