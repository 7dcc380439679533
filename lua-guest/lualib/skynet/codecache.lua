-- skynet.codecache: skynet patches its Lua so that every service VM shares the compiled code of
-- the files it loads; clear() empties that cache and mode() turns it ON, OFF or EXIST.
-- skybox shares the compiled code of its embedded library (skynet.lua and its companions)
-- between all service VMs, fixed when the process starts; files loaded from disk are compiled by
-- each VM. The functions are kept so code written for skynet runs unchanged; clear() has
-- nothing to do and mode() only remembers the setting.

local codecache = {}

local modes = { ON = true, OFF = true, EXIST = true }
local current = "ON"

function codecache.clear()
end

-- mode() -> current mode ; mode(m) sets it (m is "ON", "OFF" or "EXIST")
function codecache.mode(m)
	if m == nil then
		return current
	end
	if not modes[m] then
		error(string.format("bad argument #1 to 'mode' (invalid option '%s')", tostring(m)), 2)
	end
	current = m
end

return codecache
