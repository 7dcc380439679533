-- spawn: create `n` minimal services; services per second and RSS per service.
-- kind=lua (default): bench_minimal services; kind=wasm: bench_idle guests.
--   skybox run --start spawn --path benches/lua --thread 2 --set n=10000 [--set kind=wasm]
local skynet = require "skynet"
require "skynet.manager"

local function rss_kb()
	local f = io.open("/proc/self/status")
	if not f then return 0 end
	local text = f:read("a")
	f:close()
	return tonumber(text:match("VmRSS:%s*(%d+)")) or 0
end

local KINDS = {
	lua = { name = "spawn", service = "bench_minimal" },
	wasm = { name = "wasm_spawn", service = "bench_idle" },
}

skynet.start(function()
	local n = math.tointeger(tonumber(skynet.getenv "n" or "10000"))
	local kind = assert(KINDS[skynet.getenv "kind" or "lua"], "kind must be lua or wasm")
	-- One first, outside the measurement (a guest's module is compiled or loaded then).
	skynet.newservice(kind.service)
	collectgarbage()
	local before = rss_kb()
	local t0 = skynet.hpc()
	for _ = 1, n do
		skynet.newservice(kind.service)
	end
	local secs = (skynet.hpc() - t0) / 1e9
	local per = (rss_kb() - before) / n
	skynet.error(string.format("RESULT %s n=%d seconds=%.3f services_per_sec=%.0f rss_kb_per_service=%.1f",
		kind.name, n, secs, n / secs, per))
	skynet.sleep(10) -- skynet's logger loses a line still queued at abort
	skynet.abort()
end)
