-- skynet.crypt, natively: skynet's own vectors (test/testcrypt.lua), the standards' vectors for
-- SHA-1 and HMAC-SHA1, round trips, and errors raised as strings, as skynet raises them.
local skynet = require "skynet"
local crypt = require "skynet.crypt"
local t = require "testlib"

local function hex(s)
	return crypt.hexencode(s)
end

t.test("DES with both paddings, as skynet's test expects", function()
	local key = "12345678"
	local e = crypt.base64encode(crypt.desencode(key, "hello world", crypt.padding.iso7816_4))
	t.eq(e, "KNugLrX23UcGtcVlk9y+LA==")
	t.eq(crypt.desdecode(key, crypt.base64decode(e)), "hello world")
	t.eq(crypt.base64encode(crypt.desencode(key, "1234567", crypt.padding.pkcs7)), "mYo+BYIT41M=")
	t.eq(crypt.desdecode(key, crypt.desencode(key, "", crypt.padding.pkcs7), crypt.padding.pkcs7), "")
end)

t.test("digests match the standards", function()
	t.eq(hex(crypt.sha1("abc")), "a9993e364706816aba3e25717850c26c9cd0d89d")
	t.eq(hex(crypt.hmac_sha1("Jefe", "what do ya want for nothing?")), "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79")
end)

t.test("the 64-bit constructions take and give 8 bytes", function()
	local a, b = crypt.randomkey(), crypt.randomkey()
	t.eq(#a, 8)
	t.eq(#crypt.hashkey("any text"), 8)
	t.eq(#crypt.hmac64(a, b), 8)
	t.eq(#crypt.hmac_hash(a, "text"), 8)
	-- hmac64_md5(a, b) is MD5((a..b) x 3) with its halves xored (skynet's comment says so)
	local h = crypt.hmac64_md5(a, b)
	t.eq(#h, 8)
	-- Diffie-Hellman: both sides reach the same secret
	local sa, sb = crypt.dhexchange(a), crypt.dhexchange(b)
	t.eq(crypt.dhsecret(sb, a), crypt.dhsecret(sa, b))
end)

t.test("encodings round trip", function()
	local s = "\0\1\2binary\255"
	t.eq(crypt.base64decode(crypt.base64encode(s)), s)
	t.eq(crypt.hexdecode(crypt.hexencode(s)), s)
	t.eq(crypt.xor_str(crypt.xor_str(s, "key"), "key"), s)
end)

t.test("bad input raises string errors", function()
	local function message(f, ...)
		local ok, err = pcall(f, ...)
		t.eq(ok, false)
		t.eq(type(err), "string")
		return err
	end
	t.ok(message(crypt.desencode, "short", "x"):find("Invalid key size 5, need 8 bytes", 1, true))
	t.ok(message(crypt.desdecode, "12345678", "1234567"):find("Invalid des crypt text length 7", 1, true))
	t.ok(message(crypt.hexdecode, "abc"):find("Invalid hex text size 3", 1, true))
	t.ok(message(crypt.base64decode, "Z==="):find("Invalid base64 text", 1, true))
	t.ok(message(crypt.xor_str, "abc", ""):find("Can't xor empty string", 1, true))
	t.ok(message(crypt.dhexchange, string.rep("\0", 8)):find("Can't be 0", 1, true))
	t.ok(message(crypt.hmac64, "1", "2"):find("Invalid uint64 x", 1, true))
end)

t.test("client.crypt is the same module", function()
	local client = require "client.crypt"
	t.eq(client.sha1("x"), crypt.sha1("x"))
end)

skynet.start(function()
	t.run()
end)
