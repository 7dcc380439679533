-- clusterproxy: a local address standing for a service of a remote node (skynet's
-- service/clusterproxy.lua contract), launched by clusterd: clusterproxy(node, address|"@name").
-- A "lua" call to the proxy is a cluster call, a "lua" send a cluster push; any service (a wasm
-- guest too) talks to it as to a local one.

local skynet = require "skynet"
require "skynet.manager"	-- skynet.forward_type

local node, address = ...
address = tonumber(address) or address

skynet.register_protocol {
	name = "system",
	id = skynet.PTYPE_SYSTEM,
	unpack = function(...) return ... end,
}

-- The request's buffer stays with the proxy (forward_type), so it can be handed to the sender.
local forward_map = {
	[skynet.PTYPE_LUA] = skynet.PTYPE_SYSTEM,
	[skynet.PTYPE_SNAX] = skynet.PTYPE_SYSTEM,
	[skynet.PTYPE_RESPONSE] = skynet.PTYPE_RESPONSE,
}

skynet.forward_type(forward_map, function()
	local clusterd = skynet.uniqueservice("clusterd")
	local sender = skynet.call(clusterd, "lua", "sender", node)
	skynet.dispatch("system", function(session, _, msg, sz)
		-- the buffer is this service's (tokens do not cross services): the sender gets the bytes
		local bytes = skynet.tostring(msg, sz)
		skynet.trash(msg, sz)
		if session == 0 then
			skynet.send(sender, "lua", "push", address, bytes)
		else
			skynet.ret(skynet.rawcall(sender, "lua", skynet.pack("req", address, bytes)))
		end
	end)
end)
