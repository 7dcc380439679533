-- A tiny key-value store: SET key value (returns the old value), GET key, COUNT.
local skynet = require "skynet"

local store, count = {}, 0
local command = {}

function command.SET(key, value)
	local old = store[key]
	store[key] = value
	count = count + 1
	return old
end

function command.GET(key)
	return store[key]
end

function command.COUNT()
	return count
end

skynet.start(function()
	skynet.dispatch("lua", function(session, _, cmd, ...)
		local f = assert(command[cmd], "sdb: unknown command")
		if session == 0 then
			f(...)
		else
			skynet.retpack(f(...))
		end
	end)
end)
