-- datacenterd: the key tree behind skynet.datacenter (see there). Waiters are kept in a second
-- tree of the same shape, each node's list under the WAITERS key; a set answers the waiters of
-- its path, fails those on the path above it (now a branch), and settles those below it.

local skynet = require "skynet"
require "skynet.manager"

local tree = {}
local waiting = {}
local WAITERS = setmetatable({}, { __tostring = function() return "WAITERS" end })

local function lookup(keys, n)
	local node = tree
	for i = 1, n do
		if type(node) ~= "table" then
			return nil
		end
		node = node[keys[i]]
	end
	return node
end

local function fail(list)
	for _, respond in ipairs(list) do
		respond(false)
	end
end

-- Settles every waiter in the waiting subtree `node`, whose value is now `value`.
local function settle(node, value)
	local list = node[WAITERS]
	if list then
		if type(value) == "table" then
			node[WAITERS] = nil
			fail(list)
		elseif value ~= nil then
			node[WAITERS] = nil
			for _, respond in ipairs(list) do
				respond(true, value)
			end
		end
	end
	for key, child in pairs(node) do
		if key ~= WAITERS then
			settle(child, type(value) == "table" and value[key] or nil)
		end
	end
end

local CMD = {}
local NORET = {}	-- a command's result when it answers later

function CMD.QUERY(...)
	return lookup(table.pack(...), select("#", ...))
end

function CMD.UPDATE(...)
	local n = select("#", ...)
	assert(n >= 2, "datacenter.set needs a key and a value")
	local keys = table.pack(...)
	local value, m = keys[n], n - 1
	local node = tree
	for i = 1, m - 1 do
		local key = keys[i]
		if type(node[key]) ~= "table" then
			if value == nil then
				return nil	-- removing what is not there
			end
			node[key] = {}
		end
		node = node[key]
	end
	local old = node[keys[m]]
	node[keys[m]] = value
	-- waiters above the path now wait on a branch; those at it and below are settled
	local w = waiting
	for i = 1, m do
		w = w[keys[i]]
		if not w then
			return old
		end
		if i < m and w[WAITERS] then
			local list = w[WAITERS]
			w[WAITERS] = nil
			fail(list)
		end
	end
	settle(w, value)
	return old
end

function CMD.WAIT(...)
	local n = select("#", ...)
	local keys = table.pack(...)
	local value = lookup(keys, n)
	if type(value) == "table" then
		error("datacenter.wait on a branch")
	elseif value ~= nil then
		return value
	end
	local w = waiting
	for i = 1, n do
		local key = keys[i]
		w[key] = w[key] or {}
		w = w[key]
	end
	local list = w[WAITERS] or {}
	w[WAITERS] = list
	list[#list + 1] = skynet.response()
	return NORET
end

skynet.start(function()
	skynet.dispatch("lua", function(_, _, cmd, ...)
		local f = assert(CMD[cmd], "datacenterd: unknown command")
		local results = table.pack(f(...))
		if results[1] ~= NORET then
			skynet.ret(skynet.pack(table.unpack(results, 1, results.n)))
		end
	end)
	skynet.register("DATACENTER")
end)
