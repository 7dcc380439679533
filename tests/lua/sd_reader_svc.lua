-- sd_reader_svc: answers "get", key... with the value at that path of sharedata "cfg" (read
-- through one proxy kept across calls), and "len" with #cfg.list.
local skynet = require "skynet"
local sharedata = require "skynet.sharedata"

local cfg

skynet.start(function()
	cfg = sharedata.query "cfg"
	skynet.dispatch("lua", function(_, _, cmd, ...)
		if cmd == "get" then
			local v = cfg
			for i = 1, select("#", ...) do
				v = v[(select(i, ...))]
			end
			skynet.ret(skynet.pack(v))
		elseif cmd == "len" then
			skynet.ret(skynet.pack(#cfg.list))
		end
	end)
end)
