-- wasm spawn: create `n` minimal wasm guests (bench_idle); services per second and RSS per
-- service (as spawn.lua measures it).
--   skybox run --start wasm_spawn --path benches/lua --thread 2 --set n=10000
local skynet = require "skynet"
require "skynet.manager"

local function rss_kb()
	local f = io.open("/proc/self/status")
	if not f then return 0 end
	local text = f:read("a")
	f:close()
	return tonumber(text:match("VmRSS:%s*(%d+)")) or 0
end

skynet.start(function()
	local n = math.tointeger(tonumber(skynet.getenv "n" or "10000"))
	skynet.newservice("bench_idle") -- compile (or load from the cache) outside the measurement
	collectgarbage()
	local before = rss_kb()
	local t0 = skynet.hpc()
	for _ = 1, n do
		skynet.newservice("bench_idle")
	end
	local secs = (skynet.hpc() - t0) / 1e9
	local per = (rss_kb() - before) / n
	skynet.error(string.format("RESULT wasm_spawn n=%d seconds=%.3f services_per_sec=%.0f rss_kb_per_service=%.1f",
		n, secs, n / secs, per))
	skynet.abort()
end)
