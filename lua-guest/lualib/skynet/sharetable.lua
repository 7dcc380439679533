-- skynet.sharetable: named read-only tables loaded once and read by every service, with
-- skynet's API, on the same shared trees as skynet.sharedata (skybox.sharedata).
--
--   sharetable.loadfile("items.lua", ...)        -- runs the file (with ...): its table
--   sharetable.loadstring("items", "return { ... }", ...)
--   sharetable.loadtable("items", { sword = 10 })
--   local items = sharetable.query "items"        -- a read-only proxy (nil if not loaded)
--   sharetable.queryall { "items", "skills" }     -- name -> proxy (all names without a list)
--
-- Loading a name again publishes a new version, and every proxy of it reads the new one at
-- once; `update(...)` (which in skynet makes this service's old tables follow) has nothing left
-- to do. A proxy reads like the table (indexing, #, pairs, ipairs); it is not a Lua table
-- (`type` says userdata, `next` and `rawget` do not apply), and writing to it is an error.

local core = require "skybox.sharedata"

local PREFIX = "sharetable:"
local sharetable = {}

local function publish(name, t)
	assert(type(name) == "string", "sharetable: the name is a string")
	assert(type(t) == "table", "sharetable: the source must give a table")
	local key = PREFIX .. name
	if core.query(key) then
		core.update(key, t)
	else
		core.new(key, t)
	end
end

function sharetable.loadfile(filename, ...)
	local chunk = assert(loadfile(filename, "t", {}))
	publish(filename, chunk(...))
end

function sharetable.loadstring(name, source, ...)
	local chunk = assert(load(source, "=" .. name, "t", {}))
	publish(name, chunk(...))
end

function sharetable.loadtable(name, t)
	publish(name, t)
end

function sharetable.query(name)
	return core.query(PREFIX .. name)
end

function sharetable.queryall(names)
	local list = {}
	if names == nil then
		names = {}
		for _, key in ipairs(core.names()) do
			if key:sub(1, #PREFIX) == PREFIX then
				names[#names + 1] = key:sub(#PREFIX + 1)
			end
		end
	end
	for _, name in ipairs(names) do
		list[name] = sharetable.query(name)
	end
	return list
end

function sharetable.update(...)
	-- proxies already read the latest version
end

return sharetable
