-- A player's logic: on login, and whenever the mailbox says there is news, it pulls the
-- messages it has not consumed and applies each exactly once, in order (the store's `apply`
-- moves the consumed version and the player's coins together). A mailbox that is down or being
-- relaunched only delays it.
local skynet = require "skynet"

local player = ...
local store = ".mqstore"

local running = true
local applied = 0

local function mailbox()
	return skynet.localname ".mailbox"
end

local function catch_up()
	local consumed = skynet.call(store, "lua", "player", player)
	local box = mailbox()
	if not box then
		return consumed, false
	end
	local ok, rows = pcall(skynet.call, box, "lua", "pull", player, consumed)
	if not ok then
		return consumed, false
	end
	for _, row in ipairs(rows) do
		local version, payload = row[1], row[3]
		local coins = assert(tonumber(payload:match "^coins:(%-?%d+)$"), payload)
		local done, now = skynet.call(store, "lua", "apply", player, version, coins)
		if done then
			applied = applied + 1
		end
		consumed = now
	end
	return consumed, true
end

local function run()
	while running do
		local consumed, reached = catch_up()
		local box = reached and mailbox()
		if box then
			-- Wait for news (or the mailbox's deadline); an error means it went away.
			if not pcall(skynet.call, box, "lua", "wait", player, consumed) then
				skynet.sleep(5)
			end
		else
			skynet.sleep(5)
		end
	end
end

skynet.start(function()
	skynet.dispatch("lua", function(_, _, cmd)
		if cmd == "stop" then
			running = false
			skynet.retpack(applied)
		elseif cmd == "sync" then
			-- Catches up now and answers the consumed version.
			skynet.retpack((catch_up()))
		end
	end)
	skynet.fork(run)
end)
