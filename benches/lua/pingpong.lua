-- ping-pong: one service calls an echo service `n` times with one integer; calls per second.
--   skybox run --start pingpong --path benches/lua --thread 2 --set n=1000000
local skynet = require "skynet"
require "skynet.manager"

skynet.start(function()
	local n = math.tointeger(tonumber(skynet.getenv "n" or "200000"))
	local echo = skynet.newservice("bench_echo")
	skynet.call(echo, "lua", 0) -- warm up
	local t0 = skynet.hpc()
	for i = 1, n do
		local r = skynet.call(echo, "lua", i)
		if r ~= i then error("wrong reply " .. tostring(r)) end
	end
	local secs = (skynet.hpc() - t0) / 1e9
	skynet.error(string.format("RESULT pingpong n=%d seconds=%.3f calls_per_sec=%.0f", n, secs, n / secs))
	skynet.sleep(10) -- skynet's logger loses a line still queued at abort
	skynet.abort()
end)
