-- The redis backend of `mqstore`: each operation one server-side script (EVAL), so it is atomic
-- as a SQLite transaction is; durable when the server runs with `appendfsync always`.
--
-- Keys: mq:latest (player -> last version), mq:tickets (ticket -> player \t version),
-- mq:ticket:<player> and mq:payload:<player> (version -> ticket, payload), mq:consumed,
-- mq:coins, mq:applied (player -> value).
local redis = require "redis"

local APPEND = [[
local known = redis.call('HGET', 'mq:tickets', ARGV[2])
if known then
	local player, version = string.match(known, '^(.*)\t(%d+)$')
	return { player, tonumber(version), 0 }
end
local version = redis.call('HINCRBY', 'mq:latest', ARGV[1], 1)
redis.call('HSET', 'mq:tickets', ARGV[2], ARGV[1] .. '\t' .. version)
redis.call('HSET', 'mq:ticket:' .. ARGV[1], version, ARGV[2])
redis.call('HSET', 'mq:payload:' .. ARGV[1], version, ARGV[3])
return { ARGV[1], version, 1 }
]]

local PULL = [[
local latest = tonumber(redis.call('HGET', 'mq:latest', ARGV[1]) or '0')
local out = {}
for v = tonumber(ARGV[2]) + 1, math.min(latest, tonumber(ARGV[2]) + 100) do
	out[#out + 1] = { v, redis.call('HGET', 'mq:ticket:' .. ARGV[1], v), redis.call('HGET', 'mq:payload:' .. ARGV[1], v) }
end
return out
]]

local APPLY = [[
local consumed = tonumber(redis.call('HGET', 'mq:consumed', ARGV[1]) or '0')
local applied = 0
if consumed == tonumber(ARGV[2]) - 1 then
	consumed = tonumber(ARGV[2])
	redis.call('HSET', 'mq:consumed', ARGV[1], consumed)
	redis.call('HINCRBY', 'mq:coins', ARGV[1], ARGV[3])
	redis.call('HINCRBY', 'mq:applied', ARGV[1], 1)
	applied = 1
end
return { applied, consumed, tonumber(redis.call('HGET', 'mq:coins', ARGV[1]) or '0') }
]]

local LEDGER = [[
local inbox, accounts = {}, {}
local latest = redis.call('HGETALL', 'mq:latest')
for i = 1, #latest, 2 do
	local player = latest[i]
	for v = 1, tonumber(latest[i + 1]) do
		inbox[#inbox + 1] = { player, v, redis.call('HGET', 'mq:ticket:' .. player, v), redis.call('HGET', 'mq:payload:' .. player, v) }
	end
end
local consumed = redis.call('HGETALL', 'mq:consumed')
for i = 1, #consumed, 2 do
	local player = consumed[i]
	accounts[#accounts + 1] = { player, tonumber(consumed[i + 1]), tonumber(redis.call('HGET', 'mq:coins', player) or '0'),
		tonumber(redis.call('HGET', 'mq:applied', player) or '0') }
end
return { inbox, accounts }
]]

return function(where)
	local host, port = where:match "^(.+):(%d+)$"
	assert(host, "mq_store: redis:HOST:PORT, not redis:" .. where)
	-- A few connections, taken in turn: operations of different coroutines go in parallel, and
	-- the server can fsync several of them at once.
	local pool = {}
	for i = 1, 4 do
		pool[i] = redis.connect(host, tonumber(port))
	end
	local turn = 0
	local db = setmetatable({}, {
		__index = function(_, method)
			return function(_, ...)
				turn = turn % #pool + 1
				local c = pool[turn]
				return c[method](c, ...)
			end
		end,
	})
	local function eval(script, ...)
		return db:call("EVAL", script, 0, ...)
	end

	local CMD = {}

	function CMD.init()
		assert(db:call("PING") == "PONG")
	end

	function CMD.append(player, ticket, payload)
		local r = eval(APPEND, player, ticket, payload)
		assert(r[1] == player, "ticket " .. ticket .. " belongs to another player")
		return r[2], r[3] == 1
	end

	function CMD.pull(player, after)
		return eval(PULL, player, after)
	end

	function CMD.latest(player)
		return tonumber(db:call("HGET", "mq:latest", player) or "0")
	end

	function CMD.apply(player, version, coins)
		local r = eval(APPLY, player, version, coins)
		return r[1] == 1, r[2], r[3]
	end

	function CMD.player(player)
		return tonumber(db:call("HGET", "mq:consumed", player) or "0"), tonumber(db:call("HGET", "mq:coins", player) or "0")
	end

	function CMD.ledger()
		local r = eval(LEDGER)
		return r[1], r[2]
	end

	return CMD
end
