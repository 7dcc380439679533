-- A minimal service: registers one dispatch function.
local skynet = require "skynet"

skynet.start(function()
	skynet.dispatch("lua", function() end)
end)
