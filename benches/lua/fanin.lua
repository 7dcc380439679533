-- fan-in: 4 producers send `n` one-integer messages in total to one sink; messages per second.
-- kind=lua (default): bench_producer / bench_sink services; kind=wasm: bench_sender /
-- bench_counter guests.
--   skybox run --start fanin --path benches/lua --thread 2 --set n=2000000 [--set kind=wasm]
local skynet = require "skynet"
require "skynet.manager"

local PRODUCERS = 4
local KINDS = {
	lua = { name = "fanin", sink = "bench_sink", producer = "bench_producer" },
	wasm = { name = "wasm_fanin", sink = "bench_counter", producer = "bench_sender" },
}

skynet.start(function()
	local n = math.tointeger(tonumber(skynet.getenv "n" or "400000"))
	local kind = assert(KINDS[skynet.getenv "kind" or "lua"], "kind must be lua or wasm")
	local per = n // PRODUCERS
	local sink = skynet.newservice(kind.sink)
	local producers = {}
	for i = 1, PRODUCERS do
		producers[i] = skynet.newservice(kind.producer)
	end
	skynet.call(sink, "lua", "expect", per * PRODUCERS)
	local t0 = skynet.hpc()
	for i = 1, PRODUCERS do
		skynet.send(producers[i], "lua", sink, per)
	end
	local got = skynet.call(sink, "lua", "wait")
	local secs = (skynet.hpc() - t0) / 1e9
	skynet.error(string.format("RESULT %s n=%d seconds=%.3f msgs_per_sec=%.0f", kind.name, got, secs, got / secs))
	skynet.sleep(10) -- skynet's logger loses a line still queued at abort
	skynet.abort()
end)
