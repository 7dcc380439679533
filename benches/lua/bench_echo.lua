-- Answers every lua request with its arguments.
local skynet = require "skynet"

skynet.start(function()
	skynet.dispatch("lua", function(_, _, ...)
		skynet.ret(skynet.pack(...))
	end)
end)
