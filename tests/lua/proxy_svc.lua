-- proxy_svc: forwards "lua" requests to a target without unpacking them, like skynet's
-- clusterproxy: skynet.forward_type maps PTYPE_LUA to PTYPE_SYSTEM and keeps responses, the
-- message buffers are handed on with rawsend/rawcall and skynet.ret.
-- Launched as skynet.newservice("proxy_svc", skynet.address(target)).
local skynet = require "skynet"
require "skynet.manager"

local target = ...

skynet.register_protocol {
	name = "system",
	id = skynet.PTYPE_SYSTEM,
	unpack = function(...) return ... end,
}

local forward_map = {
	[skynet.PTYPE_LUA] = skynet.PTYPE_SYSTEM,
	[skynet.PTYPE_RESPONSE] = skynet.PTYPE_RESPONSE,	-- don't free response messages
}

skynet.forward_type(forward_map, function()
	skynet.dispatch("system", function(session, source, msg, sz)
		if session == 0 then
			skynet.rawsend(target, "lua", msg, sz)
		else
			skynet.ret(skynet.rawcall(target, "lua", msg, sz))
		end
	end)
end)
