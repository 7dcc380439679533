-- The delivery platform: sends `count` compensations, each under its own ticket
-- ("c<id>-<n>"), to players chosen by the ticket. A delivery whose answer does not come within
-- a second (lost, or the mailbox killed) is sent again with the same ticket, until one answer
-- comes; now and then a delivery is sent twice on purpose. Tickets, players and amounts come
-- from the ticket alone, so a courier started again after a crash sends the same ones.
local skynet = require "skynet"

local id, count, players = ...
count, players = tonumber(count), tonumber(players)

local function plan(n)
	local h = (tonumber(id) * 7919 + n * 104729) % 1000003
	return string.format("c%s-%d", id, n), string.format("p%d", h % players), h % 50 + 1
end

-- skynet.call with a deadline: the values, or nil after `ticks`.
local function call_within(ticks, addr, ...)
	local token, result = {}, nil
	local args = table.pack(...)
	skynet.fork(function()
		result = table.pack(pcall(skynet.call, addr, "lua", table.unpack(args, 1, args.n)))
		skynet.wakeup(token)
	end)
	skynet.timeout(ticks, function()
		skynet.wakeup(token)
	end)
	skynet.wait(token)
	if result and result[1] then
		return table.unpack(result, 2, result.n)
	end
end

local function deliver(ticket, player, payload)
	local tries = 0
	while true do
		tries = tries + 1
		local box = skynet.localname ".mailbox"
		local version, fresh
		if box then
			version, fresh = call_within(100, box, "deliver", player, ticket, payload)
		end
		if version then
			return version, fresh, tries
		end
		skynet.sleep(5)
	end
end

skynet.start(function()
	skynet.dispatch("lua", function(_, _, cmd)
		assert(cmd == "run")
		local sent, retries, twice = {}, 0, 0
		for n = 1, count do
			local ticket, player, coins = plan(n)
			local payload = "coins:" .. coins
			local version, _, tries = deliver(ticket, player, payload)
			retries = retries + tries - 1
			if n % 7 == 0 then
				-- The platform's own duplicate: the first answer again, nothing new stored.
				local again, fresh = deliver(ticket, player, payload)
				assert(again == version and not fresh, "a duplicate delivery changed the ledger")
				twice = twice + 1
			end
			sent[ticket] = { player = player, coins = coins }
			if n % 50 == 0 then
				skynet.error(string.format("courier %s: %d delivered", id, n))
			end
		end
		skynet.retpack(sent, retries, twice)
	end)
end)
