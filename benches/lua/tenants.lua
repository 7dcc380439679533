-- Fair scheduling across tenants: the call latency of a quiet tenant's guest, idle and while a
-- noisy tenant runs its guests flat out (endless loops cut by fuel, relaunched at once, and a
-- flood of one-way messages).
--
--   target/release/skybox run --start tenants --path benches/lua --thread 2 --set n=5000
--   ... --set tenant_noisy=workers=2    (the noisy tenant may take every worker: no fairness)
--
-- Prints `RESULT tenants idle_p50_us=... idle_p99_us=... noisy_p50_us=... noisy_p99_us=...`.
local skynet = require "skynet"
require "skynet.manager" -- skynet.launch, skynet.abort

local n = tonumber(skynet.getenv("n")) or 5000
local loops = tonumber(skynet.getenv("loops")) or 4

local function percentiles(samples)
	table.sort(samples)
	local function at(p)
		return samples[math.max(1, math.ceil(#samples * p))]
	end
	return at(0.5), at(0.99)
end

-- `n` sequential calls to `echo`, one every 0.1 ms at most, each timed in microseconds.
local function sample(echo)
	local samples = {}
	for i = 1, n do
		local t0 = skynet.hpc()
		assert(skynet.call(echo, "lua", i) == i)
		samples[i] = (skynet.hpc() - t0) / 1000
		if i % 10 == 0 then
			skynet.yield()
		end
	end
	return percentiles(samples)
end

skynet.start(function()
	local echo = skynet.launch("wasm", "--tenant=quiet", "echo")
	sample(echo) -- warm up
	local idle50, idle99 = sample(echo)

	local running = true
	-- The noisy tenant: guests that loop until their fuel runs out, relaunched at once...
	for _ = 1, loops do
		skynet.fork(function()
			while running do
				local spin = skynet.launch("wasm", "--tenant=noisy", "--fuel=200000000", "spin")
				pcall(skynet.call, spin, "lua", "spin")
			end
		end)
	end
	-- ...and a flood of one-way messages between two of its guests (the sender meets its
	-- tenant's limit of messages in flight, and floods again).
	local counter = skynet.launch("wasm", "--tenant=noisy", "bench_counter")
	local sender = skynet.launch("wasm", "--tenant=noisy", "bench_sender")
	skynet.fork(function()
		while running do
			pcall(skynet.call, sender, "lua", counter, 20000)
		end
	end)
	skynet.sleep(50)
	local noisy50, noisy99 = sample(echo)
	running = false
	skynet.error(string.format(
		"RESULT tenants n=%d idle_p50_us=%.1f idle_p99_us=%.1f noisy_p50_us=%.1f noisy_p99_us=%.1f p99_ratio=%.2f",
		n, idle50, idle99, noisy50, noisy99, noisy99 / idle99))
	skynet.sleep(100)
	skynet.abort()
end)
