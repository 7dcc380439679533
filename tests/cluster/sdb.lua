-- A tiny key-value service, written against skynet's API only: the same file runs on skybox
-- and on skynet (the cluster tests serve it from either).
local skynet = require "skynet"

local db = {}
local pings = 0
local command = {}

function command.GET(key) return db[key] end
function command.SET(key, value)
	local last = db[key]
	db[key] = value
	return last
end
function command.PING(text)
	pings = pings + 1
	db.last_ping = text
	db.ping_bytes = (db.ping_bytes or 0) + #text
end
function command.PINGS() return pings end
function command.FAIL(text) error("sdb refuses: " .. tostring(text)) end
function command.ECHO(...) return ... end
function command.SLOW(ticks)
	skynet.sleep(ticks)
	return "slow done"
end

skynet.start(function()
	skynet.dispatch("lua", function(session, _, cmd, ...)
		local f = assert(command[cmd], cmd)
		if session == 0 then
			f(...)
		else
			skynet.retpack(f(...))
		end
	end)
end)
