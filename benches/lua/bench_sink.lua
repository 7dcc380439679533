-- Counts messages; answers "wait" once the expected number arrived.
local skynet = require "skynet"

local expected, got, waiter = 0, 0, nil

skynet.start(function()
	skynet.dispatch("lua", function(session, _, cmd, arg)
		if cmd == "expect" then
			expected = arg
			skynet.ret()
		elseif cmd == "wait" then
			waiter = skynet.response()
			if got >= expected then waiter(true, got) end
		else
			got = got + 1
			if got == expected and waiter then waiter(true, got) end
		end
	end)
end)
