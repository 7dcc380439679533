-- Counts "hit" messages, doing a little work for each (a slow consumer); "count" answers the
-- count, "mem" the heap in KB after a full collection.
local skynet = require "skynet"

local hits = 0

skynet.start(function()
	skynet.dispatch("lua", function(session, _, cmd, n)
		if cmd == "hit" then
			local x = 0
			for i = 1, 20 do x = x + i * n end
			hits = hits + 1
		elseif cmd == "count" then
			skynet.ret(skynet.pack(hits))
		elseif cmd == "mem" then
			collectgarbage "collect"
			skynet.ret(skynet.pack(collectgarbage "count"))
		elseif cmd == "echo" then
			skynet.ret(skynet.pack(n))
		end
	end)
end)
