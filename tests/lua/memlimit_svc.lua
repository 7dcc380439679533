-- memlimit_svc: a service whose Lua VM is limited to (...) bytes (default 4 MiB) by
-- skynet.memlimit, which must be called while the service chunk loads.
local skynet = require "skynet"

local limit = tonumber((...)) or 4 * 1024 * 1024
skynet.memlimit(limit)

local keep = {}
local CMD = {}

-- try to build a string of n bytes and keep it; returns pcall's results
function CMD.alloc(n)
	local ok, err = pcall(function()
		keep[#keep + 1] = string.rep("m", n)
	end)
	return ok, (not ok) and tostring(err) or nil
end

-- try to build n small tables
function CMD.tables(n)
	local t = {}
	local ok, err = pcall(function()
		for i = 1, n do
			t[i] = { i }
		end
	end)
	return ok, (not ok) and tostring(err) or nil
end

function CMD.free()
	keep = {}
	collectgarbage "collect"
end

function CMD.echo(...)
	return ...
end

function CMD.kb()
	return collectgarbage "count"
end

function CMD.memlimit_cleared()
	return skynet.memlimit == nil
end

skynet.start(function()
	skynet.dispatch("lua", function(session, source, cmd, ...)
		skynet.retpack(assert(CMD[cmd], cmd)(...))
	end)
end)
