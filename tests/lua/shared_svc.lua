-- shared_svc: exercises a VM that shares the library's compiled code with every other service
-- (strings made at run time against the library's constants, collections in both modes).
local skynet = require "skynet"

local CMD = {}

-- Each pair: a string built at run time, and the same text as a constant here or in skynet.lua.
-- Lua compares short strings by address, so each pair must be one object.
function CMD.strings()
	local failures = {}
	local function check(what, ok)
		if not ok then failures[#failures + 1] = what end
	end
	local t = {}
	t[("dis"):rep(1) .. "patch"] = 1
	check("concat key vs constant", t.dispatch == 1)
	local u = skynet.unpack(skynet.pack({ response = 2, [string.format("%s", "lua")] = 3 }))
	check("unpacked key vs constant", u.response == 2 and u.lua == 3)
	check("reserved word built at run time", ({ ["end"] = 4 })[("e") .. "nd"] == 4)
	local mt = { [("__ind") .. "ex"] = function() return 5 end }
	check("metamethod name built at run time", setmetatable({}, mt).anything == 5)
	check("library table read with a run-time key", type(skynet[("ca") .. "ll"]) == "function")
	check("string.rep result as key", ({ [("ab"):rep(2)] = 6 }).abab == 6)
	return failures
end

-- Garbage with library strings, collections in both modes, and the debug API over library
-- functions.
function CMD.churn(rounds)
	for i = 1, rounds do
		local junk = {}
		for j = 1, 50 do
			junk[j] = { dispatch = j, lua = tostring(j), [("k" .. j)] = { i, j } }
		end
		if i % 10 == 0 then
			collectgarbage(i % 20 == 0 and "incremental" or "generational")
		end
		collectgarbage("step")
	end
	collectgarbage("collect")
	local info = debug.getinfo(skynet.call, "S")
	local dumped = string.dump(skynet.call)
	local f = load(dumped, "=dumped", "b")
	return info.source, info.linedefined, type(f), #debug.traceback("x") > 0
end

function CMD.kb()
	collectgarbage("collect")
	return collectgarbage("count")
end

skynet.start(function()
	skynet.dispatch("lua", function(_, _, cmd, ...)
		skynet.ret(skynet.pack(CMD[cmd](...)))
	end)
end)
