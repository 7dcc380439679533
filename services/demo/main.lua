-- The demo's start service: opens a bank (a unique service), lets three clients (one service
-- each) trade concurrently, prints the final books; then runs Rust guests of two tenants, one of
-- which misbehaves and is contained; and stops the node.
local skynet = require "skynet"
require "skynet.manager"	-- skynet.abort

local names = { "alice", "bob", "carol" }

-- Two tenants of Rust guests beside the Lua bank: blue behaves, red tries to take the node down.
local function tenants()
	skynet.error("== two tenants of wasm guests: blue behaves, red does not ==")
	local blue = skynet.launch("wasm", "--tenant=blue", "echo")
	local red_loop = skynet.launch("wasm", "--tenant=red", "--fuel=10000000000", "spin")
	local red_hog = skynet.launch("wasm", "--tenant=red", "hog")
	local function blue_answers(when)
		local t0 = skynet.hpc()
		local answer = skynet.call(blue, "lua", "still here")
		skynet.error(string.format("   blue answers %q %s (%.2f ms)", answer, when, (skynet.hpc() - t0) / 1e6))
	end
	blue_answers("before")
	skynet.error("   red tries to ABORT the node: " .. skynet.call(red_loop, "lua", "abort"))
	local looping = true
	skynet.fork(function()
		local ok = pcall(skynet.call, red_loop, "lua", "spin")
		skynet.error("   red's endless loop ran out of fuel: " .. (ok and "?!" or "killed, its caller got an error"))
		looping = false
	end)
	skynet.sleep(20)
	blue_answers("while red loops")
	while looping do
		skynet.sleep(5)
	end
	local ok = pcall(skynet.call, red_hog, "lua", "hog")
	skynet.error("   red's memory bomb hit its tenant's 32 MiB: " .. (ok and "?!" or "killed, its caller got an error"))
	blue_answers("after")
end

skynet.start(function()
	skynet.error("== skybox demo: the little bank ==")
	local bank = skynet.uniqueservice("bank")

	local clients = {}
	for i, name in ipairs(names) do
		clients[i] = skynet.newservice("client", name)
	end

	-- every client does its business at the same time; we wait for all of them
	local done = 0
	for i, client in ipairs(clients) do
		skynet.fork(function()
			local summary = skynet.call(client, "lua", "run", names)
			skynet.error(summary)
			done = done + 1
		end)
	end
	while done < #clients do
		skynet.sleep(5)
	end

	local books, total = skynet.call(bank, "lua", "report")
	skynet.error("-- closing books --")
	for _, name in ipairs(names) do
		skynet.error(string.format("   %-6s %4d coins", name, books[name]))
	end
	skynet.error(string.format("   total  %4d coins (%s)", total,
		total == 100 * #names and "nothing lost, nothing created" or "THE BOOKS DO NOT BALANCE"))
	tenants()
	skynet.error("== the end: the bank, blue and the node carried on ==")
	skynet.abort()
end)
