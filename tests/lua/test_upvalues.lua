-- Closures find the locals they capture: skybox's Lua looks a closure's upvalues up in one walk
-- of the open upvalues, from either end (vendor/lua-src/SKYBOX.md). Captures in every order, more
-- upvalues than are sorted at once, shared and closed upvalues, coroutines.
local skynet = require "skynet"
local t = require "testlib"

-- Forty locals captured in a scrambled order by closures made while all are open.
local l01, l02, l03, l04, l05, l06, l07, l08, l09, l10 = 1, 2, 3, 4, 5, 6, 7, 8, 9, 10
local l11, l12, l13, l14, l15, l16, l17, l18, l19, l20 = 11, 12, 13, 14, 15, 16, 17, 18, 19, 20
local l21, l22, l23, l24, l25, l26, l27, l28, l29, l30 = 21, 22, 23, 24, 25, 26, 27, 28, 29, 30
local l31, l32, l33, l34, l35, l36, l37, l38, l39, l40 = 31, 32, 33, 34, 35, 36, 37, 38, 39, 40

local function scrambled() return l40, l01, l23, l07, l31, l02, l39, l15 end
local function descending() return l30, l20, l10, l01 end
local function ascending() return l01, l10, l20, l30 end
local function setters()
	return function(v) l01 = v end, function(v) l40 = v end, function(v) l20 = v end
end
-- More upvalues than one closure sorts (32): each looked up on its own.
local function wide()
	return l01 + l02 + l03 + l04 + l05 + l06 + l07 + l08 + l09 + l10 + l11 + l12 + l13 + l14 + l15
		+ l16 + l17 + l18 + l19 + l20 + l21 + l22 + l23 + l24 + l25 + l26 + l27 + l28 + l29 + l30
		+ l31 + l32 + l33 + l34 + l35 + l36 + l37 + l38 + l39 + l40
end

t.test("captures in any order see their own locals", function()
	t.eq({ scrambled() }, { 40, 1, 23, 7, 31, 2, 39, 15 })
	t.eq({ descending() }, { 30, 20, 10, 1 })
	t.eq({ ascending() }, { 1, 10, 20, 30 })
	t.eq(wide(), 820)
end)

t.test("closures share an open upvalue, first, last or in between", function()
	local set01, set40, set20 = setters()
	set01(100)
	set40(400)
	set20(200)
	t.eq({ scrambled() }, { 400, 100, 23, 7, 31, 2, 39, 15 })
	t.eq({ descending() }, { 30, 200, 10, 100 })
	t.eq(wide(), 820 - 1 - 40 - 20 + 100 + 400 + 200)
	set01(1)
	set40(40)
	set20(20)
	t.eq(wide(), 820)
end)

t.test("new locals below, above and between open ones", function()
	-- Each block opens locals at new levels while the chunk's forty stay open.
	local made = {}
	for i = 1, 50 do
		local a, b, c = i, i * 2, i * 3
		local function f() return c, l01, a, l40, b end
		local function g(v) a = v end
		made[i] = { f, g }
	end
	for i = 1, 50 do
		local f, g = made[i][1], made[i][2]
		g(-i)
		t.eq({ f() }, { i * 3, 1, -i, 40, i * 2 })
	end
end)

t.test("a closed upvalue keeps its value; the local goes on", function()
	local function counter()
		local n = 0
		local function inc() n = n + 1 return n end
		local function get() return n end
		return inc, get
	end
	local inc1, get1 = counter()
	local inc2, get2 = counter()
	inc1()
	inc1()
	inc2()
	t.eq({ get1(), get2() }, { 2, 1 })
end)

t.test("coroutines capture their own stack's locals", function()
	local cos = {}
	for i = 1, 20 do
		cos[i] = coroutine.wrap(function()
			local x, y, z = i, i + 1, i + 2
			local function read() return z, x, y end
			local function bump() x, y, z = x * 10, y * 10, z * 10 end
			coroutine.yield(read)
			bump()
			coroutine.yield(read)
		end)
	end
	local readers = {}
	for i = 1, 20 do
		readers[i] = cos[i]()
	end
	for i = 1, 20 do
		t.eq({ readers[i]() }, { i + 2, i, i + 1 })
		cos[i]()
		t.eq({ readers[i]() }, { (i + 2) * 10, i * 10, (i + 1) * 10 })
	end
end)

t.test("a collection between closures leaves upvalues in place", function()
	local fs = {}
	for i = 1, 200 do
		local a, b = i, -i
		fs[i] = function() return b, l20, a end
		if i % 50 == 0 then
			collectgarbage()
		end
	end
	collectgarbage()
	for i = 1, 200 do
		t.eq({ fs[i]() }, { -i, 20, i })
	end
end)

skynet.start(function() t.run() end)
