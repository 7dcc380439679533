-- skynet.mongo.driver (lua-guest/lualib/skynet/mongo/driver.lua): OP_MSG bytes written out by
-- hand, every malformed reply and the error skynet's C module raises for it, and documents that
-- go from op_msg through reply into bson.decode and back.
-- (tests/mongo.rs runs it against a MongoDB-like responder on a real socket, and compares it
-- with skynet's C module byte for byte when SKYNET_DIR is set.)
local skynet = require "skynet"
local bson = require "bson"
local driver = require "skynet.mongo.driver"
local t = require "testlib"

local pack = string.pack

-- { ping = 1, $db = "admin" } in order: 30 bytes
local PING = "\x1e\0\0\0" .. "\x10ping\0\x01\0\0\0" .. "\x02$db\0\x06\0\0\0admin\0" .. "\0"

local function ping()
	return bson.encode_order("ping", 1, "$db", "admin")
end

-- An OP_MSG reply as the driver gets it: without the length field.
local function reply_bytes(response_to, flags, body, opcode)
	return pack("<i4i4i4i4", 99, response_to, opcode or 2013, flags) .. body
end

-- fn(...) raises exactly msg (the C module's errors carry no position).
local function raises_exactly(msg, fn, ...)
	local ok, err = pcall(fn, ...)
	t.ok(not ok, "expected an error: " .. msg)
	t.eq(err, msg)
end

t.test("op_msg: the bytes of a request, by hand", function()
	t.eq(tostring(ping()), PING)
	t.eq(driver.op_msg(1, 0, ping()),
		"\x33\0\0\0" .. "\x01\0\0\0" .. "\0\0\0\0" .. "\xdd\x07\0\0" .. "\0\0\0\0" .. "\0" .. PING)
	-- moreToCome (a request nobody answers), as mongo.lua's send_command sends it
	t.eq(driver.op_msg(0x7fffffff, 2, ping()),
		"\x33\0\0\0" .. "\xff\xff\xff\x7f" .. "\0\0\0\0" .. "\xdd\x07\0\0" .. "\x02\0\0\0" .. "\0" .. PING)
	-- the empty document: 21 + 5 bytes
	t.eq(driver.op_msg(5, 0, bson.encode {}),
		"\x1a\0\0\0\x05\0\0\0\0\0\0\0\xdd\x07\0\0\0\0\0\0\0\x05\0\0\0\0")
end)

t.test("op_msg: ids and flags as C's int32 (low 32 bits), integers as luaL_checkinteger takes them", function()
	local body = driver.op_msg(1, 0, ping()):sub(9)
	t.eq(driver.op_msg(-1, 0, ping()), "\x33\0\0\0\xff\xff\xff\xff" .. body)
	t.eq(driver.op_msg((1 << 32) + 7, 0, ping()), "\x33\0\0\0\x07\0\0\0" .. body)
	t.eq(driver.op_msg(7.0, 0.0, ping()), driver.op_msg(7, 0, ping()))
	t.eq(driver.op_msg("7", "2", ping()), driver.op_msg(7, 2, ping()))
	t.eq(driver.op_msg(1, -1, ping()):sub(17, 20), "\xff\xff\xff\xff")
end)

t.test("op_msg: a command document is required; bad ids and flags are bad arguments", function()
	raises_exactly("opmsg require cmd document", driver.op_msg, 1, 0)
	raises_exactly("opmsg require cmd document", driver.op_msg, 1, 0, nil)
	raises_exactly("opmsg require cmd document", driver.op_msg, 1, 0, PING)
	raises_exactly("opmsg require cmd document", driver.op_msg, 1, 0, { ping = 1 })
	-- a table that looks like a document is not one
	raises_exactly("opmsg require cmd document", driver.op_msg, 1, 0,
		setmetatable({}, getmetatable(ping())))
	t.raises(driver.op_msg, "bad argument #1 to 'op_msg' (number expected, got nil)", nil, 0, ping())
	t.raises(driver.op_msg, "bad argument #1 to 'op_msg' (number has no integer representation)",
		1.5, 0, ping())
	t.raises(driver.op_msg, "bad argument #2 to 'op_msg' (number expected, got no value)", 1)
	t.raises(driver.op_msg, "bad argument #2 to 'op_msg' (number expected, got string)", 1, "x", ping())
	t.raises(driver.op_msg, "bad argument #2 to 'op_msg' (number has no integer representation)",
		1, "0.5", ping())
end)

t.test("length: a message's length field, less its own 4 bytes", function()
	t.eq(driver.length("\x33\0\0\0"), 47)
	t.eq(driver.length("\x10\0\0\0rest ignored"), 12)
	t.eq(driver.length("\xff\xff\xff\x7f"), 0x7fffffff - 4)
	t.eq(driver.length("\xff\xff\xff\xff"), -5)
	local msg = driver.op_msg(3, 0, ping())
	t.eq(driver.length(msg:sub(1, 4)), #msg - 4)
	t.raises(driver.length, "bad argument #1 to 'length' (string expected, got no value)")
	t.raises(driver.length, "bad argument #1 to 'length' (string expected, got nil)", nil)
	t.raises(driver.length, "bad argument #1 to 'length' (string expected, got table)", {})
	t.raises(driver.length, "bad argument #1 to 'length' (4 bytes expected)", "abc")
	t.eq(driver.length(1234), 0x34333231 - 4) -- a number is its string, as luaL_checkstring does
end)

t.test("reply: ok, the request it answers, a document bson.decode reads", function()
	local body = bson.encode_order("ok", 1.0, "n", 2, "cursor", { id = bson.int64(0), firstBatch = { { x = 1 } } })
	local ok, id, doc = driver.reply(reply_bytes(7, 0, "\0" .. tostring(body)))
	t.eq(ok, true)
	t.eq(id, 7)
	t.eq(bson.type(doc), "table")
	t.eq(tostring(doc), tostring(body))
	t.eq(#doc, #body)
	t.eq(bson.decode(doc), bson.decode(body))
	t.eq(doc:decode().cursor.firstBatch[1].x, 1)
	t.eq(bson.decode(doc).ok, 1.0)
	-- moreToCome is the one flag a reply may carry; response_to is a signed int32
	local ok2, id2, doc2 = driver.reply(reply_bytes(-5, 2, "\0" .. PING))
	t.eq({ ok2, id2, bson.decode(doc2) }, { true, -5, { ping = 1, ["$db"] = "admin" } })
end)

t.test("reply: a round trip from op_msg (a request reads as a reply to nothing)", function()
	local cmd = bson.encode_order("insert", "users", "documents", { bson.encode { name = "ann", age = 30 } },
		"$db", "game")
	local msg = driver.op_msg(42, 0, cmd)
	t.eq(driver.length(msg), #msg - 4)
	local ok, id, doc = driver.reply(msg:sub(5))
	t.eq(ok, true)
	t.eq(id, 0)
	t.eq(tostring(doc), tostring(cmd))
	local d = bson.decode(doc)
	t.eq(d.insert, "users")
	t.eq(d.documents[1], { name = "ann", age = 30 })
	-- the document is bson's own: it embeds, is sent again, and replaces fields in place
	t.eq(driver.op_msg(42, 0, doc), msg)
	t.eq(bson.encode({ wrapped = doc }):decode().wrapped.insert, "users")
	local r = select(3, driver.reply(reply_bytes(1, 0, "\0" .. tostring(bson.encode_order("n", 1, "ok", 1.0)))))
	r:makeindex()
	r.n = 5
	t.eq(bson.decode(r), { n = 5, ok = 1.0 })
end)

t.test("reply: shorter than the header is false, and only false", function()
	t.eq(table.pack(driver.reply("")), { n = 1, false })
	t.eq(table.pack(driver.reply(string.rep("\0", 15))), { n = 1, false })
	t.eq(table.pack(driver.reply(12)), { n = 1, false }) -- a number is its string
	t.raises(driver.reply, "bad argument #1 to 'reply' (string expected, got no value)")
	t.raises(driver.reply, "bad argument #1 to 'reply' (string expected, got nil)", nil)
	t.raises(driver.reply, "bad argument #1 to 'reply' (string expected, got boolean)", true)
end)

t.test("reply: each malformed reply raises the C module's error", function()
	local body = "\0" .. PING
	raises_exactly("Unsupported opcode:1", driver.reply, reply_bytes(1, 0, body, 1)) -- OP_REPLY
	raises_exactly("Unsupported opcode:2012", driver.reply, reply_bytes(1, 0, body, 2012)) -- compressed
	raises_exactly("Unsupported opcode:-1", driver.reply, reply_bytes(1, 0, body, -1))
	raises_exactly("Unsupported OP_MSG flag checksumPresent", driver.reply, reply_bytes(1, 1, body))
	raises_exactly("Unsupported OP_MSG flag checksumPresent", driver.reply, reply_bytes(1, 3, body))
	raises_exactly("Unsupported OP_MSG flag:65536", driver.reply, reply_bytes(1, 1 << 16, body))
	raises_exactly("Unsupported OP_MSG flag:6", driver.reply, reply_bytes(1, 6, body))
	raises_exactly("Unsupported OP_MSG flag:-2147483648", driver.reply, reply_bytes(1, -0x80000000, body))
	raises_exactly("Unsupported OP_MSG payload type: 1", driver.reply, reply_bytes(1, 0, "\1" .. PING))
	raises_exactly("Unsupported OP_MSG payload type: 255", driver.reply, reply_bytes(1, 0, "\255" .. PING))
	-- a second section (a document sequence) after the body
	local seq = "\1" .. pack("<i4", 4 + 10 + #PING) .. "documents\0" .. PING
	raises_exactly("Unsupported OP_MSG reply: >1 section", driver.reply, reply_bytes(1, 0, body .. seq))
	raises_exactly("Unsupported OP_MSG reply: >1 section", driver.reply, reply_bytes(1, 0, body .. "\0"))
	raises_exactly("Unsupported OP_MSG reply: >1 section", driver.reply, reply_bytes(1, 0, body:sub(1, -2)))
	raises_exactly("Unsupported OP_MSG reply: >1 section", driver.reply,
		reply_bytes(1, 0, "\0" .. pack("<i4", -1) .. PING:sub(5)))
	-- where the C module reads past its string: a header with no section, or a cut length
	raises_exactly("Unsupported OP_MSG reply: truncated section", driver.reply, reply_bytes(1, 0, ""))
	raises_exactly("Unsupported OP_MSG reply: truncated section", driver.reply, reply_bytes(1, 0, "\0\5\0"))
	raises_exactly("Unsupported OP_MSG payload type: 2", driver.reply, reply_bytes(1, 0, "\2"))
end)

t.test("reply: the length is checked, the contents are bson.decode's to check", function()
	-- a section whose length is right but whose document is not: reply takes it (as C does),
	-- decoding it raises
	local bad = "\x0c\0\0\0" .. "\x10ab\0\x01\0\0" .. "\0" -- an int32 of 2 bytes
	local ok, _, doc = driver.reply(reply_bytes(1, 0, "\0" .. bad))
	t.eq(ok, true)
	t.raises(bson.decode, "Invalid bson block", doc)
	local _, _, tiny = driver.reply(reply_bytes(1, 0, "\0\4\0\0\0"))
	t.raises(bson.decode, "Invalid bson block", tiny)
end)

t.test("bson keeps its interface: the seam is not in it, no to_lightuserdata", function()
	for k in pairs(bson) do
		t.ok(not tostring(k):find("seam"), "bson." .. tostring(k))
	end
	t.eq(bson.to_lightuserdata, nil)
	t.eq(type(package.loaded["bson.driver_seam"]), "table")
end)

skynet.start(function() t.run() end)
