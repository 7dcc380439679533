-- mcore_sub_svc: a subscriber of skynet's multicast protocol on `skynet.multicast.core`: each
-- package is read, closed, and what it held is sent to the service given at launch.
local skynet = require "skynet"
local mc = require "skynet.multicast.core"
local report = tonumber((...))

skynet.register_protocol {
	name = "multicast",
	id = skynet.PTYPE_MULTICAST,
	unpack = mc.unpack,
	dispatch = function(channel, source, pack, msg, sz)
		skynet.ignoreret()
		local values = table.pack(channel, skynet.unpack(msg, sz))
		mc.close(pack)
		skynet.send(report, "lua", "got", skynet.self(), table.unpack(values, 1, values.n))
	end,
}

skynet.start(function() end)
