-- skynet.injectcode: runs a piece of Lua inside a frame of a thread, as a debugger's expression
-- (skynet's module of the same name, same call; skybox's own implementation).
--
--   injectcode(source, co, level, names) -> true, results...  |  false, error
--
--   co     the thread whose frame the code sees (default: the running one)
--   level  which frame: 0 is the innermost function of `co`; for the running thread, 0 is the
--          function that called injectcode
--   names  optional table of extra names the code sees (e.g. a redirected `print`)
--
-- A name in the code is, in this order: a local of the frame (the innermost of equal names), an
-- upvalue of the frame's function, a key of `names`, a global. Assigning to a local or an
-- upvalue changes it in the frame; the frame's varargs are the code's `...`.
--
-- Unlike skynet's, which compiles the frame's names as upvalues of the code, the names are
-- looked up through the code's environment; what the code can read and change is the same.

local debug = debug
local table = table

-- The frame's locals: name -> slot, slot -> value (the last slot of a name wins: it is the
-- innermost), and its varargs. `level` is as the caller numbers frames.
local function frame_locals(co, level)
	if co == coroutine.running() then
		level = level + 1	-- this function is one frame more
	end
	local slot_of, values = {}, {}
	local i = 1
	while true do
		local name, value = debug.getlocal(co, level, i)
		if name == nil then
			break
		end
		if name:byte() ~= 40 then	-- '(': temporaries, (for state), ...
			slot_of[name] = i
			values[i] = value
		end
		i = i + 1
	end
	local varargs = { n = 0 }
	i = 1
	while true do
		local name, value = debug.getlocal(co, level, -i)
		if name == nil then
			break
		end
		varargs[i], varargs.n = value, i
		i = i + 1
	end
	return slot_of, values, varargs
end

local function upvalue_slots(f)
	local slot_of = {}
	local i = 1
	while true do
		local name = debug.getupvalue(f, i)
		if name == nil then
			return slot_of
		end
		slot_of[name] = i
		i = i + 1
	end
end

-- Runs `source` at frame `level` of `co`, the level as this function numbers frames.
local function run(source, co, level, names)
	local info = debug.getinfo(co, level, "f")
	if info == nil then
		return false, "Invalid level"
	end
	local f = info.func
	local local_slot, local_value, varargs = frame_locals(co, level)
	local up_slot = upvalue_slots(f)
	local globals = _G
	if up_slot._ENV then
		local _, env = debug.getupvalue(f, up_slot._ENV)
		if type(env) == "table" then
			globals = env
		end
	end
	local changed = {}
	local env = setmetatable({}, {
		__index = function(_, k)
			local slot = local_slot[k]
			if slot then
				return local_value[slot]
			end
			slot = up_slot[k]
			if slot then
				return select(2, debug.getupvalue(f, slot))
			end
			if names and names[k] ~= nil then
				return names[k]
			end
			return globals[k]
		end,
		__newindex = function(_, k, v)
			local slot = local_slot[k]
			if slot then
				local_value[slot] = v
				changed[slot] = true
				return
			end
			slot = up_slot[k]
			if slot then
				debug.setupvalue(f, slot, v)
			elseif names and names[k] ~= nil then
				names[k] = v
			else
				globals[k] = v
			end
		end,
	})
	local chunk, err = load(source, "=(debug)", "t", env)
	if chunk == nil then
		return false, err
	end
	local results = table.pack(pcall(chunk, table.unpack(varargs, 1, varargs.n)))
	for slot in pairs(changed) do
		debug.setlocal(co, level, slot, local_value[slot])
	end
	return table.unpack(results, 1, results.n)
end

return function(source, co, level, names)
	level = level or 0
	if co == nil or co == coroutine.running() then
		-- a tail call: as run numbers frames, run is 1 and our caller 2
		return run(source, coroutine.running(), level + 2, names)
	end
	return run(source, co, level, names)
end
