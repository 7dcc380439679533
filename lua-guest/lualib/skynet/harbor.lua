-- skynet.harbor for a standalone node (harbor 0), with skynet's API: global names live in the
-- node's name table, and there are no other harbors to link to.
--
--   harbor.globalname("DB", addr)   -- addr (default: this service) answers to "DB"
--   harbor.queryname "DB"           -- its address; waits until the name is registered
--   harbor.link(id)                 -- returns: nothing to watch on a standalone node
--   harbor.connect(id)              -- an error: there is no other harbor
--   harbor.linkmaster()             -- never returns (there is no master to lose)

local skynet = require "skynet"
local c = require "skynet.core"

local harbor = {}

function harbor.globalname(name, handle)
	assert(type(name) == "string" and name:sub(1, 1) ~= "." and name:sub(1, 1) ~= ":",
		"harbor.globalname: a global name has no '.' or ':' prefix")
	c.command("NAME", name .. " " .. skynet.address(handle or skynet.self()))
end

function harbor.queryname(name)
	while true do
		local addr = c.command("QUERY", name)
		if addr then
			return tonumber(addr:sub(2), 16)
		end
		skynet.sleep(1)	-- skynet's standalone harbor answers once the name is registered too
	end
end

function harbor.link(_)
end

function harbor.connect(id)
	error(string.format("harbor.connect(%s): a standalone node has no other harbor", tostring(id)), 2)
end

function harbor.linkmaster()
	skynet.wait()
end

return harbor
