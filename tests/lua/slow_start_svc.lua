-- A service whose start function takes a while (sleeps), so it can be killed while starting.
local skynet = require "skynet"

skynet.start(function()
	skynet.sleep(100)
	skynet.dispatch("lua", function() skynet.ret() end)
end)
