-- The code cache behind loadfile and require: a file is parsed once, a changed file is read
-- again, Lua's loadfile contract holds, and skynet.codecache sets the mode.
local skynet = require "skynet"
local codecache = require "skynet.codecache"
local t = require "testlib"

local path = string.format("%s/skybox_codecache_%d_%d.lua", os.getenv("TMPDIR") or "/tmp", skynet.self(), os.time())

local function write(text)
	local f = assert(io.open(path, "w"))
	f:write(text)
	f:close()
end

t.test("a file loads through the cache, and a changed file is read again", function()
	write("return 'one'")
	t.eq(assert(loadfile(path))(), "one")
	t.eq(assert(loadfile(path))(), "one")
	write("return 'second'")
	t.eq(assert(loadfile(path))(), "second")
end)

t.test("loadfile keeps Lua's contract", function()
	local f, err = loadfile(path .. ".missing")
	t.eq(f, nil)
	t.ok(err:find("cannot open", 1, true), err)
	write("return x")
	t.eq(assert(loadfile(path, "bt", { x = 42 }))(), 42)
	write("this is not lua")
	local g, err2 = loadfile(path)
	t.eq(g, nil)
	t.ok(err2:find(path, 1, true), err2)
	write("#!/usr/bin/env lua\nreturn 7")
	t.eq(assert(loadfile(path))(), 7)
	write("return 'text, refused in binary mode'")
	t.eq(loadfile(path, "b"), nil)
	-- the chunk name is the file's, for tracebacks
	write("return debug.getinfo(1, 'S').source")
	t.eq(assert(loadfile(path))(), "@" .. path)
	t.eq(assert(loadfile(path))(), "@" .. path)
end)

t.test("modes", function()
	t.eq(codecache.mode(), "ON")
	codecache.mode("OFF")
	t.eq(codecache.mode(), "OFF")
	write("return 'off'")
	t.eq(assert(loadfile(path))(), "off")
	t.raises(function() codecache.mode("SOMETIMES") end)
	codecache.mode("ON")
	codecache.clear()
	os.remove(path)
end)

skynet.start(function()
	t.run()
end)
