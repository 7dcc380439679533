-- dc_reader_svc: answers a "lua" request with skynet.datacenter.get of its arguments.
local skynet = require "skynet"
local datacenter = require "skynet.datacenter"

skynet.start(function()
	skynet.dispatch("lua", function(_, _, ...)
		skynet.ret(skynet.pack(datacenter.get(...)))
	end)
end)
