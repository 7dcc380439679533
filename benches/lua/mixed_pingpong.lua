-- mixed ping-pong, both directions: a Lua service calls the wasm echo guest `n` times, then a
-- wasm guest (bench_pinger) calls a Lua echo service (bench_echo) `n` times; calls per second
-- each way.
--   skybox run --start mixed_pingpong --path benches/lua --thread 2 --set n=1000000
local skynet = require "skynet"
require "skynet.manager"

-- This service calls `echo` n times; seconds.
local function lua_to(echo, n)
	local t0 = skynet.hpc()
	for i = 1, n do
		local r = skynet.call(echo, "lua", i)
		if r ~= i then error("wrong reply " .. tostring(r)) end
	end
	return (skynet.hpc() - t0) / 1e9
end

skynet.start(function()
	local n = math.tointeger(tonumber(skynet.getenv "n" or "200000"))
	local wasm_echo = skynet.newservice("echo")
	local lua_echo = skynet.newservice("bench_echo")
	local pinger = skynet.newservice("bench_pinger")
	lua_to(wasm_echo, 1) -- warm up
	skynet.call(pinger, "lua", 1, lua_echo)
	local lua_wasm = lua_to(wasm_echo, n)
	local t0 = skynet.hpc()
	skynet.call(pinger, "lua", n, lua_echo)
	local wasm_lua = (skynet.hpc() - t0) / 1e9
	skynet.error(string.format(
		"RESULT mixed_pingpong n=%d lua_to_wasm_calls_per_sec=%.0f wasm_to_lua_calls_per_sec=%.0f", n,
		n / lua_wasm, n / wasm_lua))
	skynet.abort()
end)
