-- The store of the async message service: messages by player and ticket, and the players'
-- data with the version they consumed. Every operation is one transaction, so a crash leaves
-- either all of it or none. Backend: config `mq_store` = "sqlite:PATH" (default
-- "sqlite:mailbox.db").
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
local blocking = require "skynet.blocking"

local spec = skynet.getenv "mq_store" or "sqlite:mailbox.db"
local kind, where = spec:match "^(%w+):(.+)$"
assert(kind == "sqlite", "mq_store: only sqlite:PATH here, got " .. spec)

local function sql(statements)
	local results, err = blocking.sql(where, statements)
	if not results then
		error(err)
	end
	return results
end

local CMD = {}

function CMD.append(player, ticket, payload)
	local r = sql {
		{ "INSERT OR IGNORE INTO inbox (player, version, ticket, payload) "
			.. "SELECT ?1, COALESCE(MAX(version), 0) + 1, ?2, ?3 FROM inbox WHERE player = ?1", player, ticket, payload },
		{ "SELECT changes()" },
		{ "SELECT version, player FROM inbox WHERE ticket = ?1", ticket },
	}
	local row = r[3][1]
	assert(row[2] == player, "ticket " .. ticket .. " belongs to another player")
	return row[1], r[2][1][1] == 1
end

function CMD.pull(player, after)
	local rows = sql { { "SELECT version, ticket, payload FROM inbox WHERE player = ?1 AND version > ?2 "
		.. "ORDER BY version LIMIT 100", player, after } }
	return rows[1]
end

function CMD.latest(player)
	return sql { { "SELECT COALESCE(MAX(version), 0) FROM inbox WHERE player = ?1", player } }[1][1][1]
end

function CMD.apply(player, version, coins)
	local r = sql {
		{ "INSERT OR IGNORE INTO players (player) VALUES (?1)", player },
		{ "UPDATE players SET consumed = ?2, coins = coins + ?3, applied = applied + 1 "
			.. "WHERE player = ?1 AND consumed = ?2 - 1", player, version, coins },
		{ "SELECT changes()" },
		{ "SELECT consumed, coins FROM players WHERE player = ?1", player },
	}
	local row = r[4][1]
	return r[3][1][1] == 1, row[1], row[2]
end

function CMD.player(player)
	local row = sql { { "SELECT consumed, coins FROM players WHERE player = ?1", player } }[1][1]
	if row then
		return row[1], row[2]
	end
	return 0, 0
end

function CMD.ledger()
	local r = sql {
		{ "SELECT player, version, ticket, payload FROM inbox ORDER BY player, version" },
		{ "SELECT player, consumed, coins, applied FROM players" },
	}
	return r[1], r[2]
end

skynet.start(function()
	sql {
		{ "CREATE TABLE IF NOT EXISTS inbox (player TEXT NOT NULL, version INTEGER NOT NULL, "
			.. "ticket TEXT NOT NULL UNIQUE, payload BLOB, PRIMARY KEY (player, version))" },
		{ "CREATE TABLE IF NOT EXISTS players (player TEXT PRIMARY KEY, consumed INTEGER NOT NULL DEFAULT 0, "
			.. "coins INTEGER NOT NULL DEFAULT 0, applied INTEGER NOT NULL DEFAULT 0)" },
	}
	skynet.dispatch("lua", function(_, _, cmd, ...)
		local f = assert(CMD[cmd], cmd)
		skynet.retpack(f(...))
	end)
	skynet.register ".mqstore"
end)
