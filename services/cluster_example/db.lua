-- Node "db": a key-value service other nodes call as "@sdb".
local skynet = require "skynet"
local cluster = require "skynet.cluster"

skynet.start(function()
	local sdb = skynet.newservice("sdb")
	cluster.register("sdb", sdb)
	cluster.open "db"	-- listens at db's address in clustername.lua
	skynet.error("db: serving @sdb; start the game node in another terminal")
end)
