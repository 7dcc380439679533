-- late_svc: test_address queries it with skynet.queryservice before anyone launches it.
local skynet = require "skynet"

skynet.start(function()
	skynet.dispatch("lua", function(session, source, cmd)
		skynet.retpack(SERVICE_NAME, skynet.self())
	end)
end)
