-- unique_svc: launched through skynet.uniqueservice by test_address. Its start function
-- sleeps, so that concurrent uniqueservice calls overlap with the launch.
local skynet = require "skynet"

local delay = tonumber((...)) or 30
local started_at

skynet.start(function()
	skynet.sleep(delay)
	started_at = skynet.now()
	skynet.dispatch("lua", function(session, source, cmd)
		if cmd == "started_at" then
			skynet.retpack(started_at)
		else
			skynet.retpack(SERVICE_NAME, skynet.self())
		end
	end)
end)
