-- idle: launch `n` minimal services and keep them; the process's RSS, in total and per service.
-- `kind=wasm` (default) launches bench_idle guests, `kind=lua` bench_minimal Lua services.
--   skybox run --start idle --path benches/lua --thread 2 --set n=100000 --set kind=wasm
-- A launch that fails ends the run early; the line then says how many were launched and why.
local skynet = require "skynet"
require "skynet.manager"

local function status()
	local f = io.open("/proc/self/status")
	if not f then return 0, 0 end
	local text = f:read("a")
	f:close()
	return tonumber(text:match("VmRSS:%s*(%d+)")) or 0, tonumber(text:match("VmSize:%s*(%d+)")) or 0
end

-- Memory mappings of the process (Linux caps them at vm.max_map_count).
local function mappings()
	local f = io.open("/proc/self/maps")
	if not f then return 0 end
	local count = 0
	for _ in f:lines() do count = count + 1 end
	f:close()
	return count
end

skynet.start(function()
	local n = math.tointeger(tonumber(skynet.getenv "n" or "10000"))
	local kind = skynet.getenv "kind" or "wasm"
	local name = ({ wasm = "bench_idle", lua = "bench_minimal" })[kind]
	if not name then error("kind must be wasm or lua, got " .. kind) end
	skynet.newservice(name) -- compile (or load) outside the measurement
	collectgarbage()
	local rss0 = status()
	local t0 = skynet.hpc()
	local launched, failure = 0, nil
	for _ = 1, n do
		local ok, err = pcall(skynet.newservice, name)
		if not ok then
			failure = tostring(err)
			break
		end
		launched = launched + 1
	end
	local secs = (skynet.hpc() - t0) / 1e9
	collectgarbage()
	local rss, vsz = status()
	skynet.error(string.format(
		"RESULT idle kind=%s n=%d seconds=%.1f rss_mb=%.0f rss_kb_per_service=%.1f vsz_gb=%.0f maps=%d%s",
		kind, launched, secs, rss / 1024, (rss - rss0) / math.max(launched, 1), vsz / 1048576, mappings(),
		failure and (" failed=" .. string.format("%q", failure)) or ""))
	skynet.abort()
end)
