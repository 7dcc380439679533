-- skynet.sharedata (and skynet.sharetable, skynet.datasheet on the same trees): read-only trees
-- shared by services; updates reach every reader at once; bad values, writes and missing names
-- are errors.
local skynet = require "skynet"
local sharedata = require "skynet.sharedata"
require "skynet.manager"	-- skynet.kill
local t = require "testlib"

t.test("values, subtables, #, pairs and ipairs read as the table", function()
	sharedata.new("basic", {
		n = 1, f = 2.5, one_f = 1.0, s = "str", yes = true, no = false,
		list = { "a", "b", "c" }, [10] = "ten", [2.5] = "float key", [true] = "bool key",
		nested = { deeper = { deepest = "here" } },
	})
	local p = sharedata.query "basic"
	t.eq(p.n, 1)
	t.eq(p.f, 2.5)
	t.eq(math.type(p.one_f), "float", "1.0 stays a float")
	t.eq(p.s, "str")
	t.eq(p.yes, true)
	t.eq(p.no, false)
	t.eq(p.missing, nil)
	t.eq(p[10], "ten")
	t.eq(p[2.5], "float key")
	t.eq(p[true], "bool key")
	t.eq(p.nested.deeper.deepest, "here")
	t.ok(rawequal(p.nested, p.nested), "one proxy per subtable")
	t.eq(#p.list, 3)
	local items = {}
	for i, v in ipairs(p.list) do
		items[i] = v
	end
	t.eq(items, { "a", "b", "c" })
	local keys = 0
	for k, v in pairs(p) do
		keys = keys + 1
		t.ok(v ~= nil, tostring(k))
	end
	t.eq(keys, 11)
	t.eq(sharedata.deepcopy("basic", "nested"), { deeper = { deepest = "here" } })
	t.eq(sharedata.deepcopy("basic", "s"), "str")
	t.raises(function() p.n = 2 end, "read%-only")
	t.raises(function() p.nested.x = 1 end, "read%-only")
	sharedata.delete "basic"
end)

t.test("an update reaches readers in other services, through the proxies they keep", function()
	sharedata.new("cfg", { version = 1, list = { 1, 2 }, sub = { x = "old" } })
	local readers = {}
	for i = 1, 5 do
		readers[i] = skynet.newservice("sd_reader_svc")
		t.eq(skynet.call(readers[i], "lua", "get", "sub", "x"), "old")
		t.eq(skynet.call(readers[i], "lua", "len"), 2)
	end
	local mine = sharedata.query "cfg"
	local sub = mine.sub
	sharedata.update("cfg", { version = 2, list = { 1, 2, 3, 4 }, sub = { x = "new" } })
	t.eq(mine.version, 2)
	t.eq(sub.x, "new", "a subtable proxy follows the update")
	for i = 1, 5 do
		t.eq(skynet.call(readers[i], "lua", "get", "version"), 2)
		t.eq(skynet.call(readers[i], "lua", "get", "sub", "x"), "new")
		t.eq(skynet.call(readers[i], "lua", "len"), 4)
	end
	sharedata.update("cfg", "return { version = ..., list = {} }", 3)
	t.eq(mine.version, 3)
	t.eq(sub.x, nil, "its path is gone: empty")
	t.eq(skynet.call(readers[1], "lua", "get", "version"), 3)
	sharedata.delete "cfg"
	t.eq(mine.version, nil, "deleted: empty")
	for i = 1, 5 do
		skynet.kill(readers[i])
	end
end)

t.test("bad values and names are errors, and change nothing", function()
	t.raises(function() sharedata.new("bad", { f = print }) end, "function cannot be shared")
	t.raises(function() sharedata.new("bad", { [{}] = 1 }) end, "a key of type table")
	local cyclic = {}
	cyclic.self = cyclic
	t.raises(function() sharedata.new("bad", cyclic) end, "too deep")
	-- one small table shared at every level (2^40 paths): one shared subtree per table
	local wide = { leaf = 1 }
	for _ = 1, 40 do
		wide = { a = wide, b = wide }
	end
	sharedata.new("wide", wide)
	local w = sharedata.query "wide"
	for _ = 1, 40 do
		w = w.b
	end
	t.eq(w.leaf, 1)
	sharedata.delete "wide"
	t.raises(function() sharedata.query "bad" end, "does not exist")
	t.raises(function() sharedata.update("nothing", {}) end, "does not exist")
	t.raises(function() sharedata.delete "nothing" end, "does not exist")
	sharedata.new("once", {})
	t.raises(function() sharedata.new("once", {}) end, "exists")
	t.raises(function() sharedata.new("code", "return 1") end, "a table")
	sharedata.delete "once"
end)

t.test("a big table is shared, not copied per reader", function()
	local big = {}
	for i = 1, 20000 do
		big[i] = { id = i, name = "item" .. i }
	end
	sharedata.new("big", big)
	big = nil
	collectgarbage()
	local before = collectgarbage "count"
	local p = sharedata.query "big"
	t.eq(p[12345].name, "item12345")
	t.eq(#p, 20000)
	t.ok(collectgarbage "count" - before < 64, "the proxy holds the tree in host memory")
	sharedata.delete "big"
end)

t.test("sharetable: load, query, queryall, reload (skynet's testsharetable cases)", function()
	local sharetable = require "skynet.sharetable"
	sharetable.loadtable("test", { x = 1, y = { "hello world" }, ["hello world"] = true })
	local tt = sharetable.query "test"
	t.eq(tt.x, 1)
	t.eq(tt.y[1], "hello world")
	t.eq(tt["hello world"], true)
	sharetable.loadstring("test", "return { ... }", 1, 2, 3)
	t.eq({ tt[1], tt[2], tt[3], #tt, tt.x }, { 1, 2, 3, 3, nil }, "reloaded: the proxy reads the new one")
	sharetable.loadtable("test_one", { message = "hello one", x = 1, 1 })
	sharetable.loadtable("test_two", { message = "hello two", x = 2, 2 })
	local list = sharetable.queryall { "test_one", "test_two" }
	t.eq(list.test_one.message, "hello one")
	t.eq(list.test_two[1], 2)
	local all = sharetable.queryall()
	t.ok(all.test and all.test_one and all.test_two, "every loaded name")
	t.eq(sharetable.query "nothing", nil)
	sharetable.update("test")
end)

t.test("datasheet: query waits for the builder; updates reach kept proxies", function()
	local builder = require "skynet.datasheet.builder"
	local datasheet = require "skynet.datasheet"
	local got
	skynet.fork(function()
		got = datasheet.query "foobar"
	end)
	skynet.sleep(3)
	t.eq(got, nil, "not built yet")
	builder.new("foobar", { a = 1, b = 2, c = { 3 } })
	t.ok(t.wait_until(function() return got ~= nil end))
	local c = got.c
	t.eq({ got.a, got.b, c[1] }, { 1, 2, 3 })
	builder.update("foobar", { b = 4, c = { 5 } })
	t.eq({ got.a, got.b, c[1] }, { nil, 4, 5 })
	builder.update("foobar", { a = 6, c = 7, d = 8 })
	t.eq({ got.a, got.c, got.d, c[1] }, { 6, 7, 8, nil })
	t.raises(function() builder.update("nothing", {}) end, "does not exist")
end)

skynet.start(function()
	t.run()
end)
