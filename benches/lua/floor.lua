-- floor: the Lua work of one request/response, `n` times, in one VM and without the scheduler:
-- the caller's thread packs a request and suspends; a pooled handler thread unpacks it, runs
-- the handler and packs the answer; the caller resumes and unpacks it. What a ping-pong round
-- trip costs in Lua alone: the ceiling the hosts are measured against.
--   skybox run --start floor --path benches/lua --thread 2 --set n=1000000
local skynet = require "skynet"
require "skynet.manager"

local pack, unpack, trash = skynet.pack, skynet.unpack, skynet.trash
local resume, yield, create = coroutine.resume, coroutine.yield, coroutine.create

skynet.start(function()
	local n = math.tointeger(tonumber(skynet.getenv "n" or "1000000"))
	local function echo(v)
		return v
	end
	-- the handler thread, reused for every request as a pooled coroutine is
	local handler = create(function(msg, sz)
		while true do
			local v = unpack(msg, sz)
			trash(msg, sz)
			msg, sz = yield(pack(echo(v)))
		end
	end)
	-- the caller: each call yields its request and is resumed with the answer
	local caller = create(function()
		for i = 1, n do
			local msg, sz = yield(pack(i))
			local r = unpack(msg, sz)
			trash(msg, sz)
			if r ~= i then error("wrong answer " .. tostring(r)) end
		end
	end)
	local t0 = skynet.hpc()
	local _, msg, sz = resume(caller)
	for _ = 1, n do
		local _, rmsg, rsz = resume(handler, msg, sz)
		_, msg, sz = resume(caller, rmsg, rsz)
	end
	local secs = (skynet.hpc() - t0) / 1e9
	skynet.error(string.format("RESULT floor n=%d seconds=%.3f round_trips_per_sec=%.0f", n, secs, n / secs))
	skynet.sleep(10) -- skynet's logger loses a line still queued at abort
	skynet.abort()
end)
