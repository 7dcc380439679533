-- The SQLite backend of `mqstore`: one file, each operation one transaction on the blocking
-- pool (no worker waits for the disk).
local blocking = require "skynet.blocking"

return function(path)
	local function sql(statements)
		local results, err = blocking.sql(path, statements)
		if not results then
			error(err)
		end
		return results
	end

	local CMD = {}

	function CMD.init()
		sql {
			{ "CREATE TABLE IF NOT EXISTS inbox (player TEXT NOT NULL, version INTEGER NOT NULL, "
				.. "ticket TEXT NOT NULL UNIQUE, payload BLOB, PRIMARY KEY (player, version))" },
			{ "CREATE TABLE IF NOT EXISTS players (player TEXT PRIMARY KEY, consumed INTEGER NOT NULL DEFAULT 0, "
				.. "coins INTEGER NOT NULL DEFAULT 0, applied INTEGER NOT NULL DEFAULT 0)" },
		}
	end

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

	return CMD
end
