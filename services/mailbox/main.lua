-- The idempotent-delivery example (seed 002): a delivery platform sends compensation for
-- players to an async message service (the `mailbox` guest, confined to tenant `mail`); the
-- service archives each ticket with its message once, in the store (`mqstore`); each player's
-- logic (`agent`) pulls what it has not consumed and applies it exactly once. Meanwhile the
-- mailbox is killed and launched again every `mq_chaos` ticks, answers get lost, deliveries are
-- sent twice and race for the same players. At the end the ledger is checked: every ticket
-- archived once, for its player, versions without gaps, each applied exactly once, no coin lost
-- or made. Run it again on the same store (or after `kill -9`): nothing is delivered twice.
--
-- Config: mq_players (8), mq_couriers (4), mq_deliveries per courier (100), mq_chaos (0: none),
-- mq_lose (every Nth answer of the mailbox lost on the way, 0: none).
local skynet = require "skynet"
require "skynet.manager"

local players = tonumber(skynet.getenv "mq_players") or 8
local couriers = tonumber(skynet.getenv "mq_couriers") or 4
local deliveries = tonumber(skynet.getenv "mq_deliveries") or 100
local chaos = tonumber(skynet.getenv "mq_chaos") or 0
local lose = tonumber(skynet.getenv "mq_lose") or 0

local function launch_mailbox()
	return skynet.launch("wasm", "--profile=mail", "mailbox", "lose=" .. lose)
end

local function wait_for_mailbox()
	while not skynet.localname ".mailbox" do
		skynet.sleep(1)
	end
end

-- Checks the ledger against what the couriers sent; returns nil or what is wrong.
local function check(expected, inbox, accounts)
	local seen, by_player = {}, {}
	for _, row in ipairs(inbox) do
		local player, version, ticket, payload = row[1], row[2], row[3], row[4]
		local want = expected[ticket]
		if not want then
			return "ticket " .. ticket .. " was never sent"
		end
		if seen[ticket] then
			return "ticket " .. ticket .. " archived twice"
		end
		seen[ticket] = true
		if want.player ~= player or payload ~= "coins:" .. want.coins then
			return "ticket " .. ticket .. " archived for the wrong player or payload"
		end
		local p = by_player[player] or { n = 0, coins = 0 }
		by_player[player] = p
		p.n = p.n + 1
		if version ~= p.n then
			return string.format("player %s: version %d where %d was due (a gap or a double)", player, version, p.n)
		end
		p.coins = p.coins + want.coins
	end
	local count = 0
	for ticket in pairs(expected) do
		count = count + 1
		if not seen[ticket] then
			return "ticket " .. ticket .. " was lost"
		end
	end
	for _, row in ipairs(accounts) do
		local player, consumed, coins, applied = row[1], row[2], row[3], row[4]
		local p = by_player[player] or { n = 0, coins = 0 }
		if consumed ~= p.n or coins ~= p.coins or applied ~= p.n then
			return string.format("player %s: consumed %d applied %d coins %d, the ledger says %d and %d",
				player, consumed, applied, coins, p.n, p.coins)
		end
		p.checked = true
	end
	for player, p in pairs(by_player) do
		if not p.checked then
			return "player " .. player .. " never consumed its messages"
		end
	end
	return nil, count
end

skynet.start(function()
	skynet.error(string.format("== idempotent delivery: %d couriers x %d deliveries to %d players, mailbox killed every %s ==",
		couriers, deliveries, players, chaos > 0 and (chaos .. " ticks") or "never"))
	skynet.newservice "mqstore"
	launch_mailbox()
	wait_for_mailbox()
	local agents = {}
	for i = 0, players - 1 do
		agents[#agents + 1] = { name = "p" .. i, service = skynet.newservice("agent", "p" .. i) }
	end

	local done, kills = false, 0
	if chaos > 0 then
		skynet.fork(function()
			while not done do
				skynet.sleep(chaos)
				local box = skynet.localname ".mailbox"
				if box and not done then
					skynet.kill(box)
					kills = kills + 1
					skynet.sleep(math.random(1, 10))
					launch_mailbox()
				end
			end
		end)
	end

	local started = skynet.hpc()
	local expected, retries, twice, finished = {}, 0, 0, 0
	for c = 1, couriers do
		local courier = skynet.newservice("courier", c, deliveries, players)
		skynet.fork(function()
			local sent, r, t = skynet.call(courier, "lua", "run")
			for ticket, d in pairs(sent) do
				expected[ticket] = d
			end
			retries, twice, finished = retries + r, twice + t, finished + 1
		end)
	end
	while finished < couriers do
		skynet.sleep(1)
	end
	local seconds = (skynet.hpc() - started) / 1e9
	skynet.error(string.format("delivered: %d deliveries in %.2f s, %.0f per second", couriers * deliveries, seconds,
		couriers * deliveries / seconds))
	done = true
	wait_for_mailbox()
	-- Every agent catches up with what its player was sent.
	for _, agent in ipairs(agents) do
		local latest = skynet.call(".mqstore", "lua", "latest", agent.name)
		while skynet.call(agent.service, "lua", "sync") < latest do
			skynet.sleep(1)
		end
	end
	local inbox, accounts = skynet.call(".mqstore", "lua", "ledger")
	local wrong, count = check(expected, inbox, accounts)
	if wrong then
		skynet.error("LEDGER BROKEN: " .. wrong)
	else
		skynet.error(string.format("LEDGER OK: %d tickets archived and applied once each; %d retries after lost answers, %d deliberate duplicates, %d mailbox kills",
			count, retries, twice, kills))
	end
	skynet.sleep(10)
	skynet.abort()
end)
