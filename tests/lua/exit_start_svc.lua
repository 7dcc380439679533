-- exit_start_svc: exits from its start function, so skynet.newservice must raise.
local skynet = require "skynet"

skynet.start(function()
	skynet.exit()
end)
