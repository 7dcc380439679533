-- skynet.socketdriver's pure functions (buffer, push, pop, readall, readline, clear, drop, str2p,
-- header, unpack) and skynet.netpack, on crafted PTYPE_SOCKET messages: the event's bytes, then
-- the 12-byte trailer kind, id, ud (little-endian i32s), made a message block with str2p.
local skynet = require "skynet"
local driver = require "skynet.socketdriver"
local netpack = require "skynet.netpack"
local t = require "testlib"

local DATA, CONNECT, CLOSE, ACCEPT, ERROR, UDP, WARNING = 1, 2, 3, 4, 5, 6, 7

-- A PTYPE_SOCKET message: token, size.
local function event(kind, id, ud, bytes)
	return driver.str2p((bytes or "") .. string.pack("<i4i4i4", kind, id, ud))
end

local function data_event(id, bytes)
	return event(DATA, id, #bytes, bytes)
end

-- A DATA block as socket.lua gets it from unpack: token, size.
local function block(bytes)
	local kind, _, size, msg = driver.unpack(data_event(1, bytes))
	assert(kind == DATA)
	return msg, size
end

local function push(buf, pool, bytes)
	local msg, size = block(bytes)
	return driver.push(buf, pool, msg, size)
end

-- A buffer holding `blocks`, pushed one by one.
local function buffer_of(...)
	local buf, pool = driver.buffer(), {}
	for _, bytes in ipairs { ... } do
		push(buf, pool, bytes)
	end
	return buf, pool
end

-- A lightuserdata that no function produced.
local function forged_pointer()
	local up = 1
	local function f() return up end
	return debug.upvalueid(f, 1)
end

local function count(...)
	return select("#", ...)
end

-- The frames a gate would see for `blocks` of connection `fd`: filter's "data", then pops after
-- "more". Checks every block was consumed. Returns the frames and the queue.
local function gate_frames(blocks, fd, queue)
	local frames = {}
	for _, bytes in ipairs(blocks) do
		local msg, sz = data_event(fd, bytes)
		local q, what, id, frame, size = netpack.filter(queue, msg, sz)
		queue = q
		t.raises(function() skynet.trash(msg, sz) end, "invalid message pointer")
		if what == "data" then
			t.eq(id, fd)
			frames[#frames + 1] = netpack.tostring(frame, size)
		elseif what == "more" then
			for id, frame, size in netpack.pop, queue do
				t.eq(id, fd)
				frames[#frames + 1] = netpack.tostring(frame, size)
			end
		else
			t.eq(what, nil, "DATA answers data, more or nothing")
		end
	end
	return frames, queue
end

-- VmRSS in KiB, or nil where /proc is missing.
local function rss_kib()
	local f = io and io.open("/proc/self/status")
	if not f then return nil end
	local text = f:read("a")
	f:close()
	return tonumber(text:match("VmRSS:%s*(%d+)"))
end

---------------------------------------------------------------------------------------------
-- unpack

t.test("unpack: every event, as skynet returns it", function()
	local kind, id, size, msg = driver.unpack(data_event(9, "hello"))
	t.eq({ kind, id, size, type(msg) }, { DATA, 9, 5, "userdata" })
	t.eq(skynet.tostring(msg, size), "hello")
	skynet.trash(msg, size)

	t.eq({ driver.unpack(event(CONNECT, 3, 8000, "127.0.0.1")) }, { CONNECT, 3, 8000, "127.0.0.1" })
	t.eq({ driver.unpack(event(CONNECT, 3, 0, "start")) }, { CONNECT, 3, 0, "start" })
	t.eq({ driver.unpack(event(CLOSE, 3, 0)) }, { CLOSE, 3, 0, "" })
	t.eq({ driver.unpack(event(ACCEPT, 2, 65537, "::1:8000")) }, { ACCEPT, 2, 65537, "::1:8000" })
	t.eq({ driver.unpack(event(ERROR, 3, 0, "Connection refused")) }, { ERROR, 3, 0, "Connection refused" })
	t.eq({ driver.unpack(event(WARNING, 3, 1024)) }, { WARNING, 3, 1024, "" })
	t.eq(count(driver.unpack(event(CLOSE, 3, 0))), 4)

	for _, address in ipairs {
		string.pack(">BI2", 1, 53) .. "\10\0\0\1",
		string.pack(">BI2", 2, 8000) .. string.rep("\0", 15) .. "\1",
	} do
		local r = table.pack(driver.unpack(event(UDP, 4, 5, "dgram" .. address)))
		t.eq(r.n, 5)
		t.eq({ r[1], r[2], r[3], r[5] }, { UDP, 4, 5, address })
		t.eq(skynet.tostring(r[4], r[3]), "dgram")
		skynet.trash(r[4], r[3])
	end
end)

t.test("unpack: an empty DATA block and a large one", function()
	local kind, _, size, msg = driver.unpack(data_event(1, ""))
	t.eq({ kind, size }, { DATA, 0 })
	t.eq(skynet.tostring(msg, size), "")
	skynet.trash(msg, size)
	local big = string.rep("0123456789abcdef", 65536)
	kind, _, size, msg = driver.unpack(data_event(1, big))
	t.eq(size, #big)
	t.ok(skynet.tostring(msg, size) == big)
	skynet.trash(msg, size)
end)

t.test("unpack: a message is unpacked once", function()
	local msg, sz = data_event(1, "once")
	local _, _, size, data = driver.unpack(msg, sz)
	t.raises(function() driver.unpack(msg, sz) end, "invalid message pointer")
	t.raises(function() skynet.tostring(msg, sz) end, "invalid message pointer")
	t.eq(skynet.tostring(data, size), "once", "the data token is unaffected")
	skynet.trash(data, size)
	t.raises(function() skynet.trash(data, size) end, "invalid message pointer")
	-- text events too
	msg, sz = event(ERROR, 1, 0, "boom")
	driver.unpack(msg, sz)
	t.raises(function() driver.unpack(msg, sz) end, "invalid message pointer")
end)

t.test("unpack: forged, stale and mis-sized messages are refused", function()
	t.raises(function() driver.unpack(forged_pointer(), 17) end, "invalid message pointer")
	t.raises(function() driver.unpack(nil, 12) end, "need socket message")
	t.raises(function() driver.unpack("abc", 3) end, "need socket message")
	local msg, sz = data_event(1, "hello")
	t.raises(function() driver.unpack(msg, sz - 1) end, "invalid socket message size")
	t.raises(function() driver.unpack(msg, sz + 1) end, "invalid socket message size")
	t.raises(function() driver.unpack(msg) end, "number expected")
	t.raises(function() driver.unpack(msg, -1) end, "invalid size")
	-- a refused message is still its owner's
	t.eq(({ driver.unpack(msg, sz) })[3], 5)
	t.raises(function() driver.unpack(msg, sz) end, "invalid message pointer")
end)

t.test("unpack: malformed payloads are errors and stay unconsumed", function()
	local bad = {
		{ driver.str2p("") },
		{ driver.str2p("short") },
		{ event(DATA, 1, 4, "hello") }, -- ud is not the size
		{ event(DATA, 1, -1, "") },
		{ event(0, 1, 0) },
		{ event(8, 1, 0) },
		{ event(CLOSE, 1, 0, "x") },
		{ event(WARNING, 1, 0, "x") },
		{ event(UDP, 1, 5, "dgram") }, -- no address
		{ event(UDP, 1, 5, "dgram" .. string.pack(">BI2", 1, 53) .. "\1\2\3") }, -- short address
		{ event(UDP, 1, 5, "dgram" .. string.pack(">BI2", 3, 53) .. "\1\2\3\4") }, -- family 3
		{ event(UDP, 1, 9, "dgram" .. string.pack(">BI2", 1, 53) .. "\1\2\3\4") }, -- ud too large
	}
	for i, m in ipairs(bad) do
		t.raises(function() driver.unpack(m[1], m[2]) end, "malformed socket message")
		t.raises(function() netpack.filter(nil, m[1], m[2]) end, "malformed socket message")
		skynet.trash(m[1], m[2]) -- still there: trashing it does not raise
	end
end)

---------------------------------------------------------------------------------------------
-- buffer, push, pop, readall, clear

t.test("push and pop across block boundaries", function()
	local buf, pool = driver.buffer(), {}
	t.eq(type(buf), "userdata")
	t.eq({ driver.pop(buf, pool, 1) }, { nil, 0 }, "empty")
	t.eq(push(buf, pool, "hel"), 3)
	t.eq(push(buf, pool, "lo wo"), 8)
	t.eq(push(buf, pool, "rld"), 11)
	t.eq({ driver.pop(buf, pool, 0) }, { nil, 11 }, "n == 0")
	t.eq({ driver.pop(buf, pool, 12) }, { nil, 11 }, "more than buffered")
	t.eq({ driver.pop(buf, pool, 2) }, { "he", 9 }, "inside the first block")
	t.eq({ driver.pop(buf, pool, 1) }, { "l", 8 }, "the end of a block")
	t.eq({ driver.pop(buf, pool, 7) }, { "lo worl", 1 }, "across a boundary")
	t.eq({ driver.pop(buf, pool, 1) }, { "d", 0 })
	t.eq({ driver.pop(buf, pool, 1) }, { nil, 0 })
	t.eq(driver.readall(buf, pool), "")
	-- every read size over the same blocks
	local text = "0123456789abcdefghij"
	for n = 1, #text do
		local b, p = buffer_of("0123", "4", "56789abcd", "efghij")
		local got = {}
		while true do
			local s, left = driver.pop(b, p, n)
			if not s then
				t.eq(left, #text % n)
				got[#got + 1] = driver.readall(b, p)
				break
			end
			got[#got + 1] = s
		end
		t.eq(table.concat(got), text, "reads of " .. n)
	end
	t.raises(function() driver.pop(buf, pool, -1) end, "invalid size")
end)

t.test("readall: everything, across blocks, then empty", function()
	local buf, pool = buffer_of("a", "bc", string.rep("d", 10000), "e")
	t.eq(driver.pop(buf, pool, 2), "ab")
	t.eq(driver.readall(buf, pool), "c" .. string.rep("d", 10000) .. "e")
	t.eq(driver.readall(buf, pool), "")
	t.eq({ driver.pop(buf, pool, 1) }, { nil, 0 })
	t.eq(push(buf, pool, "again"), 5, "usable after readall")
	t.eq(driver.readall(buf, pool), "again")
	buf, pool = buffer_of("one block")
	t.eq(driver.readall(buf, pool), "one block")
end)

t.test("push takes the block: it is consumed once, and its size is checked", function()
	local buf, pool = driver.buffer(), {}
	local msg, size = block("hello")
	t.eq(driver.push(buf, pool, msg, size), 5)
	t.raises(function() skynet.tostring(msg, size) end, "invalid message pointer")
	t.raises(function() driver.push(buf, pool, msg, size) end, "invalid message pointer")
	msg, size = block("world")
	t.raises(function() driver.push(buf, pool, msg, size + 1) end, "invalid message size")
	t.eq(driver.push(buf, pool, msg, 3), 8, "a smaller size keeps the first bytes")
	t.eq(driver.readall(buf, pool), "hellowor")
	t.raises(function() driver.push(buf, pool, forged_pointer(), 1) end, "invalid message pointer")
	-- any message block will do: str2p, skynet.pack
	local p, psz = driver.str2p("xyz")
	t.eq(driver.push(buf, pool, p, psz), 3)
	local packed, packed_size = skynet.pack("v")
	t.eq(driver.push(buf, pool, packed, packed_size), packed_size + 3)
	t.eq(skynet.unpack(driver.pop(buf, pool, 3 + packed_size):sub(4)), "v")
	t.eq(push(buf, pool, ""), 0, "an empty block adds nothing")
end)

t.test("argument checks as skynet's", function()
	local buf, pool = driver.buffer(), {}
	local msg, size = block("abc")
	t.raises(function() driver.push(nil, pool, msg, size) end, "need buffer object at param 1")
	t.raises(function() driver.push({}, pool, msg, size) end, "need buffer object at param 1")
	t.raises(function() driver.push(buf, pool, "abc", 3) end, "need message block at param 3")
	t.raises(function() driver.push(buf, nil, msg, size) end, "table expected")
	t.raises(function() driver.push(buf, pool, msg, "x") end, "number expected")
	t.raises(function() driver.push(buf, pool, msg, 1.5) end, "no integer representation")
	t.eq(driver.push(buf, pool, msg, size), 3, "nothing consumed by the failed calls")
	t.raises(function() driver.pop(buf, nil, 1) end, "table expected")
	t.raises(function() driver.pop({}, pool, 1) end, "Need buffer object at param 1")
	t.raises(function() driver.pop(buf, pool) end, "number expected")
	t.raises(function() driver.readall(buf) end, "table expected")
	t.raises(function() driver.readall({}, pool) end, "Need buffer object at param 1")
	t.raises(function() driver.clear(buf, nil) end, "table expected")
	t.raises(function() driver.clear(42, pool) end, "Need buffer object at param 1")
	t.raises(function() driver.readline(nil, nil, "\n") end, "Need buffer object at param 1")
	t.raises(function() driver.readline(buf, nil) end, "string expected")
	-- a netpack queue is no buffer, and a buffer no queue
	local q = netpack.filter(nil, data_event(1, "\0\9partial"))
	t.eq(type(q), "userdata")
	t.raises(function() driver.pop(q, pool, 1) end, "Need buffer object at param 1")
	t.raises(function() netpack.pop(buf) end, "netpack queue expected")
	t.eq(driver.readall(buf, pool), "abc")
	driver.clear(nil) -- a no-op
	driver.clear(nil, pool)
	netpack.clear(q)
end)

t.test("clear frees everything; the buffer stays usable", function()
	local buf, pool = buffer_of("abc", "def")
	t.eq(driver.pop(buf, pool, 1), "a")
	driver.clear(buf, pool)
	t.eq({ driver.pop(buf, pool, 1) }, { nil, 0 })
	t.eq(count(driver.readline(buf, nil, "e")), 0)
	t.eq(push(buf, pool, "ghi"), 3)
	t.eq(driver.readall(buf, pool), "ghi")
end)

t.test("a buffer is freed by __close and by the collector", function()
	do
		local buf <close> = driver.buffer()
		push(buf, {}, "held")
	end
	local weak = setmetatable({}, { __mode = "k" })
	do
		local buf = buffer_of("x", "y")
		weak[buf] = true
	end
	collectgarbage()
	collectgarbage()
	t.eq(next(weak), nil, "collected")
	t.ok(tostring(driver.buffer()):find("socket_buffer", 1, true), "named socket_buffer")
end)

t.test("no leak: buffers and queues dropped with their bytes, many times over", function()
	local before = rss_kib()
	if not before then return end
	local chunk = string.rep("x", 65536)
	local frames = string.rep(string.pack(">s2", string.rep("f", 1000)), 60) .. "\1"
	for _ = 1, 12 do
		local bufs = {}
		for i = 1, 8 do
			local buf, pool = driver.buffer(), {}
			for _ = 1, 64 do
				local msg, size = driver.str2p(chunk)
				driver.push(buf, pool, msg, size)
			end
			bufs[i] = buf
		end
		bufs = nil
		local q
		for fd = 1, 500 do
			q = netpack.filter(q, data_event(fd, frames)) -- 60 queued frames and a partial one
			netpack.filter(q, event(UDP, fd, 65536, chunk .. string.pack(">BI2", 1, 53) .. "\1\2\3\4"))
		end
		q = nil
		collectgarbage()
		collectgarbage()
	end
	local growth = rss_kib() - before
	-- Each round holds 32 MiB in buffers and 30 MiB in queued frames; leaking them would grow
	-- the heap by 700 MiB.
	t.ok(growth < 200 * 1024, string.format("the resident size grew by %d KiB", growth))
end, { timeout = 3000 })

---------------------------------------------------------------------------------------------
-- readline

t.test("readline: check mode and read mode", function()
	local buf, pool = buffer_of("GET / HTTP/1.1\r", "\nHost: x\r\n", "\r\n")
	t.eq({ driver.readline(buf, nil, "\r\n") }, { true }, "check mode with nil")
	t.eq({ driver.readline(buf, false, "\r\n") }, { true }, "check mode with anything but a table")
	t.eq(driver.readline(buf, pool, "\r\n"), "GET / HTTP/1.1", "separator across blocks")
	t.eq(driver.readline(buf, pool, "\r\n"), "Host: x")
	t.eq(driver.readline(buf, pool, "\r\n"), "")
	t.eq(count(driver.readline(buf, pool, "\r\n")), 0, "empty: nothing")
	t.eq(count(driver.readline(buf, nil, "\r\n")), 0)
	push(buf, pool, "no separator")
	t.eq(count(driver.readline(buf, pool, "\r\n")), 0, "no separator: nothing")
	t.eq(count(driver.readline(buf, nil, "\r\n")), 0)
	t.eq(driver.readall(buf, pool), "no separator", "nothing consumed")
end)

t.test("readline: a separator cut at every position, over every pair of cuts", function()
	local sep = "<-->"
	local text = "abc" .. sep .. "def" .. sep
	for a = 0, #text do
		for b = a, #text do
			local buf, pool = buffer_of(text:sub(1, a), text:sub(a + 1, b), text:sub(b + 1))
			local where = string.format("cuts %d %d", a, b)
			t.eq(driver.readline(buf, nil, sep), true, where)
			t.eq(driver.readline(buf, pool, sep), "abc", where)
			t.eq(driver.readline(buf, pool, sep), "def", where)
			t.eq(count(driver.readline(buf, pool, sep)), 0, where)
			t.eq(driver.readall(buf, pool), "", where)
		end
	end
end)

t.test("readline: bytes arriving one at a time, checked after each (socket.lua's way)", function()
	local buf, pool = driver.buffer(), {}
	local text = "first line\r\r\nsecond\r\n"
	local lines = {}
	for i = 1, #text do
		push(buf, pool, text:sub(i, i))
		if driver.readline(buf, nil, "\r\n") then
			lines[#lines + 1] = driver.readline(buf, pool, "\r\n")
		end
	end
	t.eq(lines, { "first line\r", "second" })
	-- the same separator searched again after more bytes, and other separators meanwhile
	push(buf, pool, "a;b")
	t.eq(count(driver.readline(buf, nil, "\n")), 0)
	t.eq(driver.readline(buf, pool, ";"), "a")
	push(buf, pool, "c\n")
	t.eq(driver.readline(buf, pool, "\n"), "bc")
end)

t.test("readline: odd separators", function()
	local buf, pool = buffer_of("abab", "ac")
	t.eq(driver.readline(buf, pool, "abac"), "ab", "a partial match before the real one")
	buf, pool = buffer_of("xyz")
	t.eq(driver.readline(buf, pool, ""), "", "an empty separator matches at once")
	t.eq(driver.readline(buf, pool, "xyz"), "", "the separator is the whole buffer")
	t.eq(count(driver.readline(buf, pool, "")), 0, "empty buffer")
	buf, pool = buffer_of("a\0b\0")
	t.eq(driver.readline(buf, pool, "\0"), "a", "binary separator")
	t.eq(count(driver.readline(buf, pool, 0)), 0, "a number separator is its text")
	push(buf, pool, "0")
	t.eq(driver.readline(buf, pool, 0), "b\0")
	buf, pool = buffer_of("ab")
	t.eq(count(driver.readline(buf, pool, "abc")), 0, "a separator longer than the buffer")
	t.eq(driver.readall(buf, pool), "ab")
end)

---------------------------------------------------------------------------------------------
-- drop, str2p, header

t.test("drop frees a block once", function()
	local msg, size = block("bytes")
	t.raises(function() driver.drop(msg) end, "number expected")
	driver.drop(msg, size)
	t.raises(function() skynet.tostring(msg, size) end, "invalid message pointer")
	t.raises(function() driver.drop(msg, size) end, "invalid message pointer")
	t.raises(function() driver.drop(forged_pointer(), 1) end, "invalid message pointer")
	t.raises(function() driver.drop("str", 3) end, "need message block")
	driver.drop(nil, 0) -- nothing to free
	local _, _, usize, umsg = driver.unpack(event(UDP, 1, 2, "hi" .. string.pack(">BI2", 1, 53) .. "\1\2\3\4"))
	driver.drop(umsg, usize)
	t.raises(function() skynet.trash(umsg, usize) end, "invalid message pointer")
end)

t.test("str2p copies a string into a block", function()
	local msg, size = driver.str2p("with\0zero")
	t.eq({ type(msg), size }, { "userdata", 9 })
	t.eq(skynet.tostring(msg, size), "with\0zero")
	skynet.trash(msg, size)
	msg, size = driver.str2p(123)
	t.eq(skynet.tostring(msg, size), "123")
	skynet.trash(msg, size)
	msg, size = driver.str2p("")
	t.eq(size, 0)
	skynet.trash(msg, size)
	t.raises(function() driver.str2p({}) end, "string expected")
	t.raises(function() driver.str2p() end, "string expected")
end)

t.test("header reads 1 to 4 bytes big-endian", function()
	t.eq(driver.header("\1"), 1)
	t.eq(driver.header("\1\2"), 0x0102)
	t.eq(driver.header("\1\2\3"), 0x010203)
	t.eq(driver.header("\1\2\3\4"), 0x01020304)
	t.eq(driver.header("\255\255\255\255"), 0xffffffff)
	t.eq(driver.header("\0\0"), 0)
	t.raises(function() driver.header("") end, "Invalid read")
	t.raises(function() driver.header("12345") end, "Invalid read 12345")
	t.raises(function() driver.header() end, "string expected")
end)

---------------------------------------------------------------------------------------------
-- netpack

t.test("filter: one whole frame is data; no queue is made for it", function()
	local q, what, fd, msg, size = netpack.filter(nil, data_event(5, string.pack(">s2", "hello")))
	t.eq({ q, what, fd, type(msg), size }, { nil, "data", 5, "userdata", 5 })
	t.eq(netpack.tostring(msg, size), "hello")
	t.raises(function() netpack.tostring(msg, size) end, "invalid message pointer")
	-- a frame of 0 bytes
	q, what, fd, msg, size = netpack.filter(nil, data_event(5, "\0\0"))
	t.eq({ q, what, fd, size }, { nil, "data", 5, 0 })
	t.eq(skynet.tostring(msg, size), "")
	skynet.trash(msg, size)
	-- a frame of 65535 bytes, whole and in two halves
	local big = string.rep("z", 65535)
	q, what, fd, msg, size = netpack.filter(nil, data_event(5, string.pack(">s2", big)))
	t.eq({ what, size }, { "data", 65535 })
	t.ok(netpack.tostring(msg, size) == big)
	local frames = gate_frames({ "\255\255" .. big:sub(1, 40000), big:sub(40001) }, 6)
	t.eq(#frames, 1)
	t.ok(frames[1] == big)
end)

t.test("filter: several frames in one block are more, popped in order", function()
	local stream = string.pack(">s2>s2>s2", "one", "", "three")
	local q, what = netpack.filter(nil, data_event(8, stream))
	t.eq({ type(q), what }, { "userdata", "more" })
	local got = {}
	for fd, msg, size in netpack.pop, q do
		got[#got + 1] = { fd, skynet.tostring(msg, size) }
		skynet.trash(msg, size)
	end
	t.eq(got, { { 8, "one" }, { 8, "" }, { 8, "three" } })
	t.eq(count(netpack.pop(q)), 0, "empty")
	t.eq(count(netpack.pop(nil)), 0, "nil queue")
	-- a frame and a partial one: more; the partial one completes later as data
	local q2, what2 = netpack.filter(q, data_event(8, string.pack(">s2", "a") .. "\0\3b"))
	t.ok(rawequal(q2, q), "the same queue comes back")
	t.eq(what2, "more")
	local fd, msg, size = netpack.pop(q)
	t.eq({ fd, netpack.tostring(msg, size) }, { 8, "a" })
	local _, w, f, m, s = netpack.filter(q, data_event(8, "cd"))
	t.eq({ w, f, netpack.tostring(m, s) }, { "data", 8, "bcd" })
end)

t.test("filter: frames cut at every byte position come out whole", function()
	local frames = { "hello", "", string.rep("x", 300), "end" }
	local stream = ""
	for _, f in ipairs(frames) do
		stream = stream .. string.pack(">s2", f)
	end
	local q
	for a = 0, #stream do
		local got
		got, q = gate_frames({ stream:sub(1, a), stream:sub(a + 1) }, 3, q)
		t.eq(got, frames, "cut at " .. a)
	end
	-- every pair of cuts over a short stream, two connections interleaved
	local short = string.pack(">s2>s2>s2", "ab", "", "cde")
	for a = 0, #short do
		for b = a, #short do
			local blocks = { short:sub(1, a), short:sub(a + 1, b), short:sub(b + 1) }
			local got1, got2 = {}, {}
			for i = 1, 3 do
				local g1, g2
				g1, q = gate_frames({ blocks[i] }, 1, q)
				g2, q = gate_frames({ blocks[i] }, 2, q)
				table.move(g1, 1, #g1, #got1 + 1, got1)
				table.move(g2, 1, #g2, #got2 + 1, got2)
			end
			t.eq(got1, { "ab", "", "cde" }, string.format("fd 1, cuts %d %d", a, b))
			t.eq(got2, { "ab", "", "cde" }, string.format("fd 2, cuts %d %d", a, b))
		end
	end
	t.eq(count(netpack.pop(q)), 0)
end)

t.test("filter: partial frames are dropped on CLOSE and ERROR, queued ones stay", function()
	local q = netpack.filter(nil, data_event(3, "\0\5he"))
	t.eq(type(q), "userdata", "a partial frame makes the queue")
	t.eq({ netpack.filter(q, event(CLOSE, 3, 0)) }, { q, "close", 3 })
	local _, what, fd, msg, size = netpack.filter(q, data_event(3, string.pack(">s2", "hi")))
	t.eq({ what, fd, netpack.tostring(msg, size) }, { "data", 3, "hi" }, "a new frame, not the old one")

	netpack.filter(q, data_event(4, "\0"))
	t.eq({ netpack.filter(q, event(ERROR, 4, 0, "Connection reset")) }, { q, "error", 4, "Connection reset" })
	_, what, fd, msg, size = netpack.filter(q, data_event(4, string.pack(">s2", "ok")))
	t.eq({ what, fd, netpack.tostring(msg, size) }, { "data", 4, "ok" })

	-- queued frames survive their connection's CLOSE; other connections' partial frames too
	netpack.filter(q, data_event(6, "\0\4ab"))
	t.eq(select(2, netpack.filter(q, data_event(5, string.pack(">s2", "q") .. "\0"))), "more")
	netpack.filter(q, event(CLOSE, 5, 0))
	fd, msg, size = netpack.pop(q)
	t.eq({ fd, netpack.tostring(msg, size) }, { 5, "q" })
	_, what, fd, msg, size = netpack.filter(q, data_event(6, "cd"))
	t.eq({ what, fd, netpack.tostring(msg, size) }, { "data", 6, "abcd" })
	-- a CLOSE with no queue yet
	t.eq({ netpack.filter(nil, event(CLOSE, 9, 0)) }, { nil, "close", 9 })
end)

t.test("filter: the other events", function()
	t.eq({ netpack.filter(nil, event(CONNECT, 2, 8888, "0.0.0.0")) }, { nil, "init", 2, "0.0.0.0", 8888 })
	t.eq({ netpack.filter(nil, event(ACCEPT, 2, 77, "10.0.0.1:4000")) }, { nil, "open", 77, "10.0.0.1:4000" })
	t.eq({ netpack.filter(nil, event(WARNING, 77, 2048)) }, { nil, "warning", 77, 2048 })
	t.eq({ netpack.filter(nil, event(ERROR, 77, 0, "")) }, { nil, "error", 77, "" })
	local msg, sz = event(UDP, 4, 3, "udp" .. string.pack(">BI2", 1, 53) .. "\1\2\3\4")
	t.eq(count(netpack.filter(nil, msg, sz)), 1, "UDP: only the queue")
	t.raises(function() skynet.trash(msg, sz) end, "invalid message pointer", "the datagram is freed")
end)

t.test("filter: a message is filtered once; forged tokens and bad queues are refused", function()
	local msg, sz = data_event(1, string.pack(">s2", "x"))
	local _, _, _, frame, size = netpack.filter(nil, msg, sz)
	skynet.trash(frame, size)
	t.raises(function() netpack.filter(nil, msg, sz) end, "invalid message pointer")
	t.raises(function() driver.unpack(msg, sz) end, "invalid message pointer")
	t.raises(function() netpack.filter(nil, forged_pointer(), 13) end, "invalid message pointer")
	msg, sz = data_event(1, "\0\1y")
	t.raises(function() netpack.filter(nil, msg, sz + 1) end, "invalid socket message size")
	t.raises(function() netpack.filter({}, msg, sz) end, "netpack queue expected")
	t.raises(function() netpack.filter(driver.buffer(), msg, sz) end, "netpack queue expected")
	t.raises(function() netpack.filter(nil, "str", 3) end, "need socket message")
	local _, what = netpack.filter(nil, msg, sz)
	t.eq(what, "data", "the refused calls consumed nothing")
end)

t.test("clear drops partial and queued frames; clear(nil) is a no-op", function()
	netpack.clear(nil)
	local q = netpack.filter(nil, data_event(1, string.pack(">s2>s2", "a", "b") .. "\0\9c"))
	netpack.filter(q, data_event(2, "\0"))
	netpack.clear(q)
	t.eq(count(netpack.pop(q)), 0, "queued frames gone")
	local _, what, fd, msg, size = netpack.filter(q, data_event(1, string.pack(">s2", "new")))
	t.eq({ what, fd, netpack.tostring(msg, size) }, { "data", 1, "new" }, "partial frame gone")
	_, what, fd, msg, size = netpack.filter(q, data_event(2, "\0\2hi"))
	t.eq({ what, fd, netpack.tostring(msg, size) }, { "data", 2, "hi" })
	t.raises(function() netpack.clear({}) end, "netpack queue expected")
end)

t.test("pack and tostring", function()
	local msg, size = netpack.pack("hello")
	t.eq(size, 7)
	t.eq(skynet.tostring(msg, size), "\0\5hello")
	t.eq(netpack.tostring(msg, size), "\0\5hello")
	t.raises(function() netpack.tostring(msg, size) end, "invalid message pointer", "tostring frees")
	msg, size = netpack.pack("")
	t.eq(netpack.tostring(msg, size), "\0\0")
	msg, size = netpack.pack(string.rep("a", 65535))
	t.eq(size, 65537)
	t.eq(netpack.tostring(msg, size):sub(1, 3), "\255\255a")
	t.raises(function() netpack.pack(string.rep("a", 65536)) end, "Invalid size (too long) of data : 65536")
	-- a block is copied and stays the caller's
	local src, src_size = driver.str2p("block")
	msg, size = netpack.pack(src, src_size)
	t.eq(netpack.tostring(msg, size), "\0\5block")
	t.eq(skynet.tostring(src, src_size), "block")
	msg, size = netpack.pack(src, 2)
	t.eq(netpack.tostring(msg, size), "\0\2bl")
	t.raises(function() netpack.pack(src) end, "number expected")
	t.raises(function() netpack.pack(src, 6) end, "invalid message size")
	skynet.trash(src, src_size)
	t.raises(function() netpack.pack(src, src_size) end, "invalid message pointer")
	t.raises(function() netpack.pack({}) end, "string expected")
	local big, big_size = driver.str2p(string.rep("b", 65536))
	t.raises(function() netpack.pack(big, big_size) end, "Invalid size (too long) of data : 65536")
	skynet.trash(big, big_size)
	-- tostring
	t.eq(netpack.tostring(nil, 0), "")
	t.raises(function() netpack.tostring(nil) end, "number expected")
	msg, size = driver.str2p("abcdef")
	t.eq(netpack.tostring(msg, 3), "abc")
	t.raises(function() skynet.trash(msg, size) end, "invalid message pointer")
	t.raises(function() netpack.tostring(forged_pointer(), 1) end, "invalid message pointer")
end)

t.test("frames work with skynet.redirect, trash and tostring", function()
	local received
	skynet.register_protocol {
		name = "client",
		id = skynet.PTYPE_CLIENT,
		unpack = skynet.tostring,
		dispatch = function(session, source, text)
			skynet.ignoreret()
			received = { session, source, text }
		end,
	}
	local _, _, _, frame, size = netpack.filter(nil, data_event(42, string.pack(">s2", "to the agent")))
	skynet.redirect(skynet.self(), 0, "client", 42, frame, size)
	t.raises(function() skynet.trash(frame, size) end, "invalid message pointer", "the frame moved")
	t.eq(t.eventually(function() return received end), { 42, 0, "to the agent" })
	local q = netpack.filter(nil, data_event(1, string.pack(">s2>s2", "x", "y")))
	local _, f1, s1 = netpack.pop(q)
	local _, f2, s2 = netpack.pop(q)
	t.eq(skynet.tostring(f1, s1), "x")
	skynet.trash(f1, s1)
	skynet.trash(f2, s2)
	t.raises(function() skynet.trash(f2, s2) end, "invalid message pointer")
end)

t.test("the modules load as skynet's", function()
	t.ok(package.loaded["skynet.socketdriver"] == driver)
	for _, name in ipairs { "buffer", "push", "pop", "drop", "readall", "clear", "readline", "str2p", "header", "unpack" } do
		t.eq(type(driver[name]), "function", name)
	end
	for _, name in ipairs { "filter", "pop", "pack", "tostring", "clear" } do
		t.eq(type(netpack[name]), "function", name)
	end
end)

skynet.start(function()
	t.run()
end)
