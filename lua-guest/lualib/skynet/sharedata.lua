-- skynet.sharedata: read-only configuration tables shared by every service of a node.
--
--   sharedata.new("items", { sword = { atk = 10 } })   -- or Lua code returning a table, or
--                                                      -- "@file.lua" (run with the extra args)
--   local items = sharedata.query "items"               -- a read-only proxy: items.sword.atk
--   sharedata.update("items", { sword = { atk = 12 } }) -- every proxy reads the new version
--   sharedata.delete "items"
--   sharedata.deepcopy("items", "sword")                -- a plain Lua copy of a subtree
--
-- The tables live once in host memory (skybox.sharedata) rather than once per service; a read
-- follows an update at once, with no message (skynet's proxies follow it when its sharedatad
-- tells them). Proxies support indexing, #, pairs and ipairs; writing to one is an error.

local core = require "skybox.sharedata"

local sharedata = {}
local cache = setmetatable({}, { __mode = "v" })

local function table_of(value, ...)
	if type(value) == "string" then
		local chunk
		if value:sub(1, 1) == "@" then
			chunk = assert(loadfile(value:sub(2), "t", {}))
		else
			chunk = assert(load(value, "=(sharedata)", "t", {}))
		end
		value = chunk(...)
	end
	assert(type(value) == "table", "sharedata: a table, or Lua code returning one, expected")
	return value
end

function sharedata.new(name, value, ...)
	core.new(name, table_of(value, ...))
end

function sharedata.update(name, value, ...)
	core.update(name, table_of(value, ...))
end

function sharedata.delete(name)
	cache[name] = nil
	core.delete(name)
end

function sharedata.query(name)
	local proxy = cache[name]
	if proxy then
		return proxy
	end
	proxy = core.query(name) or error("sharedata: " .. tostring(name) .. " does not exist")
	cache[name] = proxy
	return proxy
end

-- Proxies no longer referenced are collected (and the versions only they held freed).
function sharedata.flush()
	collectgarbage()
end

function sharedata.deepcopy(name, ...)
	local value = sharedata.query(name)
	for i = 1, select("#", ...) do
		if type(value) ~= "userdata" then
			return nil
		end
		value = value[(select(i, ...))]
	end
	if type(value) == "userdata" then
		return core.copy(value)
	end
	return value
end

return sharedata
