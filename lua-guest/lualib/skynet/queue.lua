-- skynet.queue: a critical section for skynet threads.
--
--   local cs = skynet.queue()
--   cs(f, ...)   -- runs f(...) when no other thread is inside cs; returns f's results
--
-- Threads entering while another one is inside wait in arrival order. The thread inside may
-- enter again (re-entrant). An error in f leaves the section and is re-raised with its traceback.

local skynet = require "skynet"

local co_running = coroutine.running
local traceback = debug.traceback
local tremove = table.remove
local xpcall = xpcall
local error = error

function skynet.queue()
	local owner = nil	-- thread inside the section
	local depth = 0		-- how many times the owner entered
	local waiters = {}

	local function leave(ok, ...)
		depth = depth - 1
		if depth == 0 then
			owner = tremove(waiters, 1)
			if owner then
				skynet.wakeup(owner)
			end
		end
		if not ok then
			error((...), 0)
		end
		return ...
	end

	return function(f, ...)
		local thread = co_running()
		if owner and owner ~= thread then
			waiters[#waiters + 1] = thread
			skynet.wait()
			assert(owner == thread and depth == 0, "skynet.queue: woken out of turn")
		end
		owner = thread
		depth = depth + 1
		return leave(xpcall(f, traceback, ...))
	end
end

return skynet.queue
