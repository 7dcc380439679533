-- skynet.codecache: every service VM shares the compiled code of the Lua files it loads (skynet
-- patches its Lua for that; skybox keeps each file's bytecode, see host/src/lua/codecache.rs, and
-- shares its embedded library's code outright). clear() empties the cache; mode() turns it ON
-- (the default), OFF (parse every time) or EXIST (use what is cached, add nothing).

local native = require "skybox.codecache"

local codecache = {}

function codecache.clear()
	native.clear()
end

-- mode() -> current mode ; mode(m) sets it (m is "ON", "OFF" or "EXIST")
function codecache.mode(m)
	return native.mode(m)
end

return codecache
