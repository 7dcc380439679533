-- wasm fan-in: 4 wasm producers (bench_sender) send `n` one-integer messages in total to one
-- wasm sink (bench_counter); messages per second.
--   skybox run --start wasm_fanin --path benches/lua --thread 2 --set n=2000000
local skynet = require "skynet"
require "skynet.manager"

local PRODUCERS = 4

skynet.start(function()
	local n = math.tointeger(tonumber(skynet.getenv "n" or "400000"))
	local per = n // PRODUCERS
	local sink = skynet.newservice("bench_counter")
	local producers = {}
	for i = 1, PRODUCERS do
		producers[i] = skynet.newservice("bench_sender")
	end
	skynet.call(sink, "lua", "expect", per * PRODUCERS)
	local t0 = skynet.hpc()
	for i = 1, PRODUCERS do
		skynet.send(producers[i], "lua", sink, per)
	end
	local got = skynet.call(sink, "lua", "wait")
	local secs = (skynet.hpc() - t0) / 1e9
	skynet.error(string.format("RESULT wasm_fanin n=%d seconds=%.3f msgs_per_sec=%.0f", got, secs, got / secs))
	skynet.abort()
end)
