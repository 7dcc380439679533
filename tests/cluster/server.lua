-- A cluster node serving sdb as "@sdb" (and, on skybox with guests, the echo guest as "@echo")
-- at the address the config's `db_address` gives, under the node name "db".
local skynet = require "skynet"
local cluster = require "skynet.cluster"
require "skynet.manager"	-- skynet.launch

skynet.start(function()
	cluster.reload { db = skynet.getenv "db_address" }
	local sdb = skynet.newservice("sdb")
	cluster.register("sdb", sdb)
	if skynet.getenv "guests" then
		cluster.register("echo", skynet.launch("wasm", "echo"))
	end
	cluster.open "db"
	skynet.error("SERVER READY")
end)
