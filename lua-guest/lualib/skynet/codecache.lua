-- skynet.codecache: every service VM shares the compiled code of the Lua files it loads (skynet
-- patches its Lua for that; skybox keeps each file's bytecode, see host/src/lua/codecache.rs, and
-- shares its embedded library's code outright). clear() empties the cache; mode() turns it ON
-- (the default), OFF (parse every time) or EXIST (use what is cached, add nothing).
-- skynet.lua loads this module in every service: the native part is required only when used.

local codecache = {}

function codecache.clear()
	require("skybox.codecache").clear()
end

-- mode() -> current mode ; mode(m) sets it (m is "ON", "OFF" or "EXIST")
function codecache.mode(m)
	return require("skybox.codecache").mode(m)
end

return codecache
