-- redirect_svc: passes "lua" messages on to a target with skynet.redirect, keeping the
-- original source and session, so the target answers the original caller directly.
-- Launched as skynet.newservice("redirect_svc", skynet.address(target)).
local skynet = require "skynet"
require "skynet.manager"

local target = ...
local forwarded = 0

skynet.register_protocol {
	name = "system",
	id = skynet.PTYPE_SYSTEM,
	unpack = function(...) return ... end,
}

skynet.forward_type({ [skynet.PTYPE_LUA] = skynet.PTYPE_SYSTEM }, function()
	skynet.dispatch("system", function(session, source, msg, sz)
		forwarded = forwarded + 1
		skynet.ignoreret()	-- the target answers
		skynet.redirect(target, source, "lua", session, msg, sz)
	end)
	-- the debug protocol is not in the map: dispatched as usual (then freed by forward_type)
	local debug_dispatch = skynet.dispatch("debug")
	skynet.dispatch("debug", function(session, source, cmd, ...)
		if cmd == "FORWARDED" then
			skynet.retpack(forwarded)
		else
			debug_dispatch(session, source, cmd, ...)
		end
	end)
end)
