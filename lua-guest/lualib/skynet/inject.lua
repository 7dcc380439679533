-- skynet.inject: runs code sent by the debug RUN command inside the service.
--
-- inject(skynet, source, filename, args, f1, f2, ...) -> ok, output_lines
-- The code runs with its own environment on top of _ENV, where:
--   print(...)  appends a line to the output sent back to the debugger
--   _U          tables reachable as upvalues of f1, f2, ... (the dispatcher and
--               register_protocol), by upvalue name, e.g. _U.proto
--   _P          for each protocol with a dispatch function, the tables among that function's
--               upvalues, e.g. _P.lua.command
-- `args` (a table.pack) are passed to the chunk. In an untrusted service (no debug library
-- but traceback, text-only load) _U and _P are empty and the code must be source text.

local function collect_upvalue_tables(into, func, seen)
	local getupvalue = debug.getupvalue
	if not getupvalue then
		return	-- an untrusted service's debug library has none: _U and _P stay empty
	end
	local i = 1
	while true do
		local name, value = getupvalue(func, i)
		if name == nil then
			return
		end
		local kind = type(value)
		if kind == "table" then
			into[name] = value
		elseif kind == "function" and not seen[value] then
			seen[value] = true
			collect_upvalue_tables(into, value, seen)
		end
		i = i + 1
	end
end

return function(skynet, source, filename, args, ...)
	local chunkname = filename and ("@" .. filename) or "=(load)"
	local output = {}

	local function print(...)
		local n = select("#", ...)
		local parts = { ... }
		for i = 1, n do
			parts[i] = tostring(parts[i])
		end
		output[#output + 1] = table.concat(parts, "\t", 1, n)
	end

	local upvalues, seen = {}, {}
	for _, f in ipairs { ... } do
		collect_upvalue_tables(upvalues, f, seen)
	end

	local by_protocol = {}
	local protocols = upvalues.proto
	if protocols then
		for _, class in pairs(protocols) do
			local name, dispatch = class.name, class.dispatch
			if name and dispatch and not by_protocol[name] then
				local tables = {}
				by_protocol[name] = tables
				collect_upvalue_tables(tables, dispatch, seen)
			end
		end
	end

	local env = setmetatable({ print = print, _U = upvalues, _P = by_protocol }, { __index = _ENV })
	local chunk, err = load(source, chunkname, "bt", env)
	if not chunk then
		return false, { err }
	end
	args = args or { n = 0 }
	local ok, run_err = xpcall(chunk, debug.traceback, table.unpack(args, 1, args.n))
	if not ok then
		output[#output + 1] = tostring(run_err)
		return false, output
	end
	return true, output
end
