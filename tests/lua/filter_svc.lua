-- filter_svc: skynet.filter sees every message before dispatch. This one counts messages by
-- type and turns PTYPE_CLIENT messages into PTYPE_LUA ones (same payload).
local skynet = require "skynet"
require "skynet.manager"

local counts = {}

skynet.filter(function(ptype, msg, sz, session, source)
	counts[ptype] = (counts[ptype] or 0) + 1
	if ptype == skynet.PTYPE_CLIENT then
		ptype = skynet.PTYPE_LUA
	end
	-- a filter that fails on one request: the caller must get an error, not wait
	if ptype == skynet.PTYPE_LUA and skynet.tostring(msg, sz):find("filter_boom", 1, true) then
		error("filter_svc: boom")
	end
	return ptype, msg, sz, session, source
end, function()
	skynet.dispatch("lua", function(session, source, cmd, ...)
		if cmd == "counts" then
			skynet.retpack(counts)
		elseif cmd == "echo" then
			skynet.retpack(...)
		else
			error("filter_svc: unknown command " .. tostring(cmd))
		end
	end)
end)
