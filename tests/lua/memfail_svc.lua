-- memfail_svc: a service limited by skynet.memlimit to (...) bytes (default 2 MiB) whose
-- handlers can fail by running out of memory, with no pcall of their own: the failure goes
-- through the library's and the host's error paths. `alive` counts the data of failed handlers
-- still reachable (a weak table of what each failing handler built).
local skynet = require "skynet"

local limit = tonumber((...)) or 2 * 1024 * 1024
skynet.memlimit(limit)

-- what each failing handler built, weakly: present while something still reaches it
local built = setmetatable({}, { __mode = "k" })

local CMD = {}

-- builds a table of small tables until memory runs out
function CMD.fill()
	local t = {}
	built[t] = true
	for i = 1, math.maxinteger do
		t[i] = { i }
	end
end

-- the same, in a function called by the handler, with strings
local function grow(t)
	for i = 1, math.maxinteger do
		t[i] = string.rep("s", 100) .. i
	end
end

function CMD.fill_strings()
	local t = {}
	built[t] = true
	grow(t)
end

-- a fork that fills memory; the request is answered first
function CMD.fill_fork()
	skynet.fork(CMD.fill)
	return "forked"
end

-- fills memory while its caller waits on a sleep: the handler was parked once before it fails
function CMD.fill_after_sleep()
	skynet.sleep(0)
	return CMD.fill()
end

-- a normal request that needs some memory: n small tables, kept until it returns
function CMD.work(n)
	local t = {}
	for i = 1, n do
		t[i] = { i }
	end
	return #t
end

function CMD.ping(x)
	return x
end

-- how many failed handlers' tables are still reachable after a full collection
function CMD.alive()
	collectgarbage "collect"
	local n = 0
	for _ in pairs(built) do
		n = n + 1
	end
	return n
end

skynet.start(function()
	skynet.dispatch("lua", function(session, source, cmd, ...)
		skynet.retpack(assert(CMD[cmd], cmd)(...))
	end)
end)
