-- Calls node "db" (at the config's `db_address`) every way skynet.cluster offers and reports
-- each check as "CHECK name ok" or "CHECK name FAIL detail", then "CHECKS DONE failures"; then
-- keeps calling and reports when calls start failing ("CALLS FAILING") and work again
-- ("CALLS OK AGAIN"), and what became of a slow call in progress ("SLOW ...").
-- Written against skynet's API only: it runs on skybox and on skynet.
local skynet = require "skynet"
local cluster = require "skynet.cluster"
require "skynet.manager"	-- skynet.launch

local failures = 0
local function check(name, ok, detail)
	if ok then
		skynet.error("CHECK " .. name .. " ok")
	else
		failures = failures + 1
		skynet.error("CHECK " .. name .. " FAIL " .. tostring(detail))
	end
end

skynet.start(function()
	local db = skynet.getenv "db_address"
	cluster.reload { db = db }

	check("call", cluster.call("db", "@sdb", "SET", "a", "foobar") == nil)
	local v = cluster.call("db", "@sdb", "GET", "a")
	check("get", v == "foobar", v)
	local a, b, c = cluster.call("db", "@sdb", "ECHO", 1, 2.5, { x = "y" })
	check("values", a == 1 and b == 2.5 and type(c) == "table" and c.x == "y")

	-- larger than a part (32 KiB) both ways: multi-part request and answer
	local bigkey, bigvalue = string.rep("K", 128 * 1024), string.rep("V", 100 * 1024 + 7)
	local proxy = cluster.proxy "db@sdb"
	skynet.call(proxy, "lua", "SET", bigkey, bigvalue)
	v = skynet.call(proxy, "lua", "GET", bigkey)
	check("large", v == bigvalue, v and #v)

	-- pushes arrive, a large one in parts (skynet writes parts at low priority: a later small
	-- message may overtake them, so only the count and the bytes are checked)
	cluster.send("db", "@sdb", "PING", "one")
	cluster.send("db", "@sdb", "PING", string.rep("p", 70000))
	cluster.send("db", "@sdb", "PING", "three")
	for _ = 1, 100 do
		if cluster.call("db", "@sdb", "PINGS") == 3 then
			break
		end
		skynet.sleep(1)
	end
	v = cluster.call("db", "@sdb", "GET", "ping_bytes")
	check("push", v == 3 + 70000 + 5, v)
	-- through the proxy (another route: no order with the pushes above)
	skynet.send(proxy, "lua", "PING", "four")
	for _ = 1, 100 do
		if cluster.call("db", "@sdb", "PINGS") == 4 then
			break
		end
		skynet.sleep(1)
	end
	check("proxy_push", cluster.call("db", "@sdb", "GET", "last_ping") == "four")

	-- by address, through a name query
	local addr = cluster.query("db", "sdb")
	check("query", type(addr) == "number", addr)
	v = cluster.call("db", addr, "GET", "a")
	check("by_address", v == "foobar", v)
	local ok, err = pcall(cluster.query, "db", "nosuch")
	check("query_unknown", not ok, err)

	-- errors: an unknown name, a failing service
	ok, err = pcall(cluster.call, "db", "@nosuch", "GET", "a")
	check("unknown_name", not ok, err)
	ok, err = pcall(cluster.call, "db", "@sdb", "FAIL", "x")
	check("remote_error", not ok, err)
	check("after_errors", cluster.call("db", "@sdb", "GET", "a") == "foobar")

	-- many calls at once on one connection
	local answered, n = 0, 200
	local co = coroutine.running()
	for i = 1, n do
		skynet.fork(function()
			if cluster.call("db", "@sdb", "ECHO", i) == i then
				answered = answered + 1
			end
			if answered == n then
				skynet.wakeup(co)
			end
		end)
	end
	skynet.wait(co)
	check("concurrent", answered == n, answered)

	-- a node marked down, a node that does not exist
	cluster.reload { dbdown = false, __nowaiting = true }
	ok, err = pcall(cluster.call, "dbdown", "@sdb", "GET", "a")
	check("down_node", not ok, err)
	ok, err = pcall(cluster.call, "nowhere", "@sdb", "GET", "a")
	check("absent_node", not ok, err)

	-- an address change: a node renamed to a dead port fails, and works once pointed back
	cluster.reload { db2 = db }
	check("db2", cluster.call("db2", "@sdb", "GET", "a") == "foobar")
	cluster.reload { db2 = "127.0.0.1:1" }
	ok, err = pcall(cluster.call, "db2", "@sdb", "GET", "a")
	check("db2_moved", not ok, err)
	cluster.reload { db2 = db }
	check("db2_back", cluster.call("db2", "@sdb", "GET", "a") == "foobar")

	-- a traced call: the trace tag travels with the request
	local traced
	skynet.fork(function()
		skynet.trace("cluster")
		traced = cluster.call("db", "@sdb", "GET", "a")
		skynet.wakeup(co)
	end)
	skynet.wait(co)
	check("traced", traced == "foobar", traced)

	-- the `cluster` file, read again by a reload with no table
	local file = skynet.getenv "cluster"
	if file then
		check("file", cluster.call("db3", "@sdb", "GET", "a") == "foobar")
		local f = assert(io.open(file, "w"))
		f:write("db3 = false\n")
		f:close()
		cluster.reload()
		ok, err = pcall(cluster.call, "db3", "@sdb", "GET", "a")
		check("file_reload", not ok, err)
	end

	if skynet.getenv "guests" then
		-- a guest serves remote calls; a guest calls a remote service through a proxy
		local x, y = cluster.call("db", "@echo", "hello", 42)
		check("guest_serves", x == "hello" and y == 42, x)
		-- (the cluster proxy is the operator's service: the guest's profile must name it, or any)
		local relay = skynet.launch("wasm", "--profile=relay", "proxy", skynet.address(proxy))
		v = skynet.call(relay, "lua", "GET", "a")
		check("guest_calls", v == "foobar", v)
	end

	skynet.error("CHECKS DONE " .. failures)

	skynet.fork(function()
		skynet.error("SLOW STARTED")
		local ok, r = pcall(cluster.call, "db", "@sdb", "SLOW", 3000)
		skynet.error("SLOW " .. (ok and "ANSWERED " or "FAILED ") .. tostring(r))
	end)
	local failing = false
	while true do
		local ok = pcall(cluster.call, "db", "@sdb", "GET", "a")
		if not ok and not failing then
			failing = true
			skynet.error("CALLS FAILING")
		elseif ok and failing then
			failing = false
			skynet.error("CALLS OK AGAIN")
		end
		skynet.sleep(10)
	end
end)
