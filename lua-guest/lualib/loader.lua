-- The service loader: the host runs it in a new service's VM with one string argument,
-- "name arg1 arg2 ...". It finds the service's code, sets up the globals skynet services expect
-- (SERVICE_NAME, SERVICE_PATH, package.path/cpath), runs the preload file and then the service's
-- main chunk with the arguments.
--
-- Where the code comes from: each pattern of LUA_SERVICE ("dir/?.lua;dir/?/main.lua", '?'
-- replaced by the name) in order, then the services built into skybox (skybox.embed).

local args = {}
for word in string.gmatch((...), "%S+") do
	args[#args + 1] = word
end
local name = assert(args[1], "loader: no service name")
SERVICE_NAME = name

local main, pattern
local errors = {}

if LUA_SERVICE then
	local escaped = name:gsub("%%", "%%%%")
	for pat in string.gmatch(LUA_SERVICE, "[^;]+") do
		local filename = pat:gsub("%?", escaped)
		local f, err = loadfile(filename)
		if f then
			main, pattern = f, pat
			break
		end
		errors[#errors + 1] = err
	end
end

local own_dir	-- "dir/?/main.lua": the service has a directory of its own
if main then
	own_dir = pattern:match("^(.*/)[^/?]+$")
	if own_dir then
		own_dir = own_dir:gsub("%?", (name:gsub("%%", "%%%%")))
		SERVICE_PATH = own_dir
	else
		SERVICE_PATH = pattern:match("^(.*/)")
	end
else
	local embed = require "skybox.embed"
	local source, chunkname = embed.service(name)
	if type(source) == "function" then
		main = source	-- an untrusted service's VM: its load takes no bytecode, the host loaded it
	elseif source then
		local f, err = load(source, chunkname or ("=" .. name), "b") -- host-compiled bytecode
		if not f then
			error(err, 0)
		end
		main = f
	else
		errors[#errors + 1] = string.format("no built-in service '%s'", name)
		error(string.format("cannot find service '%s':\n%s", name, table.concat(errors, "\n")), 0)
	end
end

LUA_SERVICE = nil
if LUA_PATH then
	package.path = LUA_PATH
	LUA_PATH = nil
end
if LUA_CPATH then
	package.cpath = LUA_CPATH
	LUA_CPATH = nil
end
if own_dir then
	package.path = own_dir .. "?.lua;" .. package.path	-- its modules are found there first
end

if LUA_PRELOAD then
	local f = assert(loadfile(LUA_PRELOAD))
	LUA_PRELOAD = nil
	f(table.unpack(args))
end

-- skynet's require: yieldable module loading with skynet.init support
_G.require = (require "skynet.require").require

main(select(2, table.unpack(args)))
