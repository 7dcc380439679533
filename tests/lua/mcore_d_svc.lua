-- mcore_d_svc: multicastd's part of skynet's multicast protocol, on `skynet.multicast.core`:
-- "PUB", channel, holder, size, subscribers... names the package to each subscriber.
local skynet = require "skynet"
local mc = require "skynet.multicast.core"

skynet.register_protocol { name = "multicast", id = skynet.PTYPE_MULTICAST }

skynet.start(function()
	skynet.dispatch("lua", function(_, source, cmd, channel, holder, size, ...)
		assert(cmd == "PUB")
		local name = skynet.tostring(holder, size)
		local subscribers = { ... }
		mc.bind(holder, #subscribers)
		for _, sub in ipairs(subscribers) do
			skynet.redirect(sub, source, "multicast", channel, name)
		end
		skynet.ret(skynet.pack(#name))
	end)
end)
