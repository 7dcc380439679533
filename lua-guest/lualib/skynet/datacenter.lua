-- skynet.datacenter: a tree of values shared by every service of the node, kept by the
-- datacenterd service (named DATACENTER). Keys are paths: set("player", 42, "name", v).
--   datacenter.get(k1, k2, ...)        the value there (a branch comes back as a table), or nil
--   datacenter.set(k1, k2, ..., value) sets it (nil removes it); returns the value it replaced
--   datacenter.wait(k1, k2, ...)       the value there, waiting until one is set; an error if the
--                                      path is (or becomes) a branch

local skynet = require "skynet"

local datacenter = {}

local address
local function center()
	if not address then
		address = skynet.uniqueservice("datacenterd")
	end
	return address
end

function datacenter.get(...)
	return skynet.call(center(), "lua", "QUERY", ...)
end

function datacenter.set(...)
	return skynet.call(center(), "lua", "UPDATE", ...)
end

function datacenter.wait(...)
	return skynet.call(center(), "lua", "WAIT", ...)
end

return datacenter
