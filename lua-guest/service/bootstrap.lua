-- bootstrap: the first service. Starts the launcher (".launcher") and service_mgr (".service"),
-- then the service named by the "start" setting (default "main"), and exits.
-- If any of them cannot be started, the host is stopped with exit code 1: a node without its
-- start service has nothing to do.

local skynet = require "skynet"
local c = require "skynet.core"
require "skynet.manager"

local function fatal(message)
	skynet.error("bootstrap: " .. message)
	c.command("ABORT", "1")
	skynet.exit()
end

skynet.start(function()
	-- skynet runs a single node (harbor 0) in "standalone" mode; so does skybox
	local harbor = tonumber(skynet.getenv "harbor" or "0")
	if harbor == 0 and skynet.getenv "standalone" == nil then
		skynet.setenv("standalone", "true")
	end

	local launcher = skynet.launch("snlua", "launcher")
	if not launcher then
		fatal "cannot start the launcher"
	end
	skynet.name(".launcher", launcher)

	local ok, err = pcall(skynet.newservice, "service_mgr")
	if not ok then
		fatal("cannot start service_mgr: " .. tostring(err))
	end

	local start = skynet.getenv "start" or "main"
	ok, err = pcall(skynet.newservice, start)
	if not ok then
		err = tostring(err)
		if err:find("call failed", 1, true) then
			err = "see its error above"	-- the service logged why; "call failed" adds nothing
		end
		fatal(string.format("the start service '%s' failed to launch (%s)", start, err))
	end
	skynet.exit()
end)
