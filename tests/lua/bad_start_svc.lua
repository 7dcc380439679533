-- bad_start_svc: its start function raises, so skynet.newservice must raise in the launcher.
local skynet = require "skynet"

skynet.start(function()
	error("bad_start_svc: failing on purpose in start")
end)
