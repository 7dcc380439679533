-- stm_reader_svc: "attach", ref makes a reader of the stm reference; "read" answers
-- changed, values... of the reader (skynet.unpack of the latest version).
local skynet = require "skynet"
local stm = require "skynet.stm"

local reader

skynet.start(function()
	skynet.dispatch("lua", function(_, _, cmd, ref)
		if cmd == "attach" then
			reader = stm.newcopy(ref)
			skynet.ret(skynet.pack(true))
		elseif cmd == "read" then
			skynet.ret(skynet.pack(reader(skynet.unpack)))
		elseif cmd == "drop" then
			reader = nil
			collectgarbage()
			skynet.ret(skynet.pack(true))
		end
	end)
end)
