-- Node "game": calls node db every second, by name, through a proxy and with a push; stop and
-- restart the db node to see calls fail (no hang) and recover.
local skynet = require "skynet"
local cluster = require "skynet.cluster"

skynet.start(function()
	cluster.open "game"
	local sdb = cluster.proxy "db@sdb"	-- a local address for db's @sdb
	local n = 0
	while true do
		n = n + 1
		local ok, err = pcall(function()
			local old = cluster.call("db", "@sdb", "SET", "visits", n)
			cluster.send("db", "@sdb", "SET", "last_push", os.date())
			local count = skynet.call(sdb, "lua", "COUNT")
			skynet.error(string.format("game: visits %s -> %d, db has served %d SETs", tostring(old), n, count))
		end)
		if not ok then
			skynet.error("game: db unreachable: " .. tostring(err))
		end
		skynet.sleep(100)
	end
end)
