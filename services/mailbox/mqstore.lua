-- The store of the async message service: messages by player and ticket, and the players'
-- data with the version they consumed. Every operation is one transaction, so a crash leaves
-- either all of it or none. Backend: config `mq_store` = "sqlite:PATH" (default
-- "sqlite:mailbox.db", `store_sqlite.lua`) or "redis:HOST:PORT" (`store_redis.lua`, a redis
-- server with `appendfsync always` for the same promise).
--
--   append(player, ticket, payload) -> version, fresh   the ticket's message, archived once
--   pull(player, after)             -> { {version, ticket, payload}, ... } (at most 100)
--   latest(player)                  -> the player's last version (0: none)
--   apply(player, version, coins)   -> applied, consumed, coins: applies message `version` if
--                                      it is the next one for the player (exactly once, in order)
--   player(player)                  -> consumed, coins
--   ledger()                        -> { {player, version, ticket, payload}, ... }, { {player, consumed, coins, applied}, ... }
local skynet = require "skynet"
require "skynet.manager"

local spec = skynet.getenv "mq_store" or "sqlite:mailbox.db"
local kind, where = spec:match "^(%w+):(.+)$"
local backends = { sqlite = "store_sqlite", redis = "store_redis" }
assert(backends[kind], "mq_store: sqlite:PATH or redis:HOST:PORT, not " .. spec)

skynet.start(function()
	local CMD = require(backends[kind])(where)
	CMD.init()
	skynet.dispatch("lua", function(_, _, cmd, ...)
		local f = assert(CMD[cmd], cmd)
		skynet.retpack(f(...))
	end)
	skynet.register ".mqstore"
end)
