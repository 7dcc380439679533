-- cluster: node "db" (benches/lua/cluster_server.lua, another process) at `db_address`, with
-- `mode`:
--   call     one coroutine calls "@echo" `n` times with one integer: round trips per second;
--   call100  100 coroutines share the `n` calls;
--   push     `n` pushes of one integer to "@sink", then a call that returns once all arrived.
--   skybox run --start cluster_client --path benches/lua --set n=100000 --set mode=call \
--       --set db_address=127.0.0.1:2528
local skynet = require "skynet"
local cluster = require "skynet.cluster"
require "skynet.manager"	-- skynet.abort

skynet.start(function()
	local n = math.tointeger(tonumber(skynet.getenv "n" or "100000"))
	local mode = skynet.getenv "mode" or "call"
	cluster.reload { db = skynet.getenv "db_address" }
	cluster.call("db", "@echo", 0) -- connects
	local t0 = skynet.hpc()
	if mode == "call" then
		for i = 1, n do
			if cluster.call("db", "@echo", i) ~= i then error("wrong reply") end
		end
	elseif mode == "call100" then
		local left, co = 100, coroutine.running()
		for c = 1, 100 do
			skynet.fork(function()
				for i = c, n, 100 do
					if cluster.call("db", "@echo", i) ~= i then error("wrong reply") end
				end
				left = left - 1
				if left == 0 then skynet.wakeup(co) end
			end)
		end
		skynet.wait(co)
	elseif mode == "push" then
		cluster.call("db", "@sink", "expect", n)
		for i = 1, n do
			cluster.send("db", "@sink", i)
		end
		assert(cluster.call("db", "@sink", "wait") == n)
	else
		error("unknown mode " .. mode)
	end
	local secs = (skynet.hpc() - t0) / 1e9
	skynet.error(string.format("RESULT cluster_%s n=%d seconds=%.3f per_sec=%.0f", mode, n, secs, n / secs))
	skynet.sleep(10) -- skynet's logger loses a line still queued at abort
	skynet.abort()
end)
