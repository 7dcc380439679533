-- queue_svc: serializes "locked" requests through one skynet.queue; "free" requests are not.
local skynet = require "skynet"
local queue = require "skynet.queue"

local cs = queue()
local log = {}

local CMD = {}

local function work(id, ti)
	log[#log + 1] = "enter " .. id
	skynet.sleep(ti)
	log[#log + 1] = "leave " .. id
	return id
end

function CMD.locked(id, ti)
	return cs(work, id, ti)
end

function CMD.free(id, ti)
	return work(id, ti)
end

function CMD.fail()
	return cs(function() error("queue_svc: failing inside the critical section") end)
end

function CMD.log()
	local r = log
	log = {}
	return r
end

skynet.start(function()
	skynet.dispatch("lua", function(session, source, cmd, ...)
		local f = assert(CMD[cmd], cmd)
		skynet.retpack(f(...))
	end)
end)
