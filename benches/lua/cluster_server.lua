-- cluster node "db" at `db_address` for benches/lua/cluster_client.lua: an echo service as
-- "@echo" and a counter as "@sink".
local skynet = require "skynet"
local cluster = require "skynet.cluster"

skynet.start(function()
	cluster.reload { db = skynet.getenv "db_address" }
	cluster.register("echo", skynet.newservice("bench_echo"))
	cluster.register("sink", skynet.newservice("bench_sink"))
	cluster.open "db"
	skynet.error("SERVER READY")
end)
