-- The demo's start service: opens a bank (a unique service), lets three clients (one service
-- each) trade concurrently, prints the final books and stops the node.
local skynet = require "skynet"
require "skynet.manager"	-- skynet.abort

local names = { "alice", "bob", "carol" }

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
	skynet.error("== the end ==")
	skynet.abort()
end)
