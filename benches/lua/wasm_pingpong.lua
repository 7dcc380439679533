-- wasm ping-pong: a wasm guest (bench_pinger) calls the wasm echo guest `n` times with one
-- integer; calls per second. Guest to guest: no Lua on the measured path.
--   skybox run --start wasm_pingpong --path benches/lua --thread 2 --set n=1000000
local skynet = require "skynet"
require "skynet.manager"

skynet.start(function()
	local n = math.tointeger(tonumber(skynet.getenv "n" or "200000"))
	local echo = skynet.newservice("echo")
	local pinger = skynet.newservice("bench_pinger")
	skynet.call(pinger, "lua", 1, echo) -- warm up
	local t0 = skynet.hpc()
	local done = skynet.call(pinger, "lua", n, echo)
	local secs = (skynet.hpc() - t0) / 1e9
	skynet.error(string.format("RESULT wasm_pingpong n=%d seconds=%.3f calls_per_sec=%.0f", done, secs, done / secs))
	skynet.abort()
end)
