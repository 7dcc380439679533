-- args_svc: reports the arguments it was launched with, SERVICE_NAME and the order in which
-- skynet.init functions and the start function ran. With first argument "slow", its start
-- function sleeps (second argument) centiseconds. Has no skynet.info_func.
local skynet = require "skynet"

local args = table.pack(...)
local order = {}

skynet.init(function()
	order[#order + 1] = "init"
end)

skynet.start(function()
	order[#order + 1] = "start"
	if args[1] == "slow" then
		skynet.sleep(tonumber(args[2]) or 20)
	end
	order[#order + 1] = "started"
	skynet.dispatch("lua", function(session, source, cmd)
		if cmd == "args" then
			skynet.retpack(args)
		elseif cmd == "order" then
			skynet.retpack(order)
		elseif cmd == "name" then
			skynet.retpack(SERVICE_NAME)
		else
			error("args_svc: unknown command " .. tostring(cmd))
		end
	end)
end)
