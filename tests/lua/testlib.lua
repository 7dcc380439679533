-- testlib: a tiny test harness for skybox Lua suites.
--
--   local skynet = require "skynet"
--   local t = require "testlib"
--
--   t.test("name", function() t.eq(actual, expected) end)
--   skynet.start(function() t.run() end)
--
-- Each case runs in its own skynet coroutine (so it may call, sleep, fork...), wrapped in xpcall.
-- The runner logs `ok - NAME` or `not ok - NAME: ERR` for every case, then exactly one summary
-- line `N passed, M failed`, then aborts the node (exit code 0 either way: the Rust runner in
-- tests/lua_suites.rs judges the output). A case that has not finished after its timeout
-- (default 10 s) is reported as failed and the runner moves on.

local skynet = require "skynet"

local M = {}

local cases = {}

M.default_timeout = 1000	-- centiseconds

--- Registers a case. opts.timeout (centiseconds) overrides the default per-case timeout.
function M.test(name, fn, opts)
	assert(type(name) == "string", "test name must be a string")
	assert(type(fn) == "function", "test body must be a function")
	cases[#cases + 1] = { name = name, fn = fn, timeout = opts and opts.timeout }
end

---------------------------------------------------------------------------------------------
-- value rendering

local function is_identifier(s)
	return type(s) == "string" and s:match("^[%a_][%w_]*$") ~= nil
end

local function render_key(k)
	if is_identifier(k) then
		return "." .. k
	end
	return "[" .. M.repr(k, 1) .. "]"
end

local function describe_number(n)
	local s
	if n ~= n then
		s = "nan"
	elseif math.type(n) == "float" and n == math.floor(n) and math.abs(n) < 1e16 then
		s = string.format("%.1f", n)
	else
		s = tostring(n)
	end
	return s
end

local function sorted_keys(tbl)
	local keys = {}
	for k in pairs(tbl) do
		keys[#keys + 1] = k
	end
	table.sort(keys, function(a, b)
		local ta, tb = type(a), type(b)
		if ta ~= tb then
			return ta < tb
		end
		if ta == "number" or ta == "string" then
			if a ~= a then return false end
			if b ~= b then return true end
			return a < b
		end
		return tostring(a) < tostring(b)
	end)
	return keys
end

--- A short readable rendering of any value (tables to a limited depth).
function M.repr(v, depth)
	depth = depth or 3
	local tv = type(v)
	if tv == "string" then
		if #v > 60 then
			return string.format("%q...(%d bytes)", v:sub(1, 40), #v)
		end
		return string.format("%q", v)
	elseif tv == "number" then
		return describe_number(v)
	elseif tv == "table" then
		if depth <= 0 then
			return "{...}"
		end
		local parts = {}
		local keys = sorted_keys(v)
		local n = 0
		for _, k in ipairs(keys) do
			n = n + 1
			if n > 12 then
				parts[#parts + 1] = string.format("...(%d keys)", #keys)
				break
			end
			local ks
			if is_identifier(k) then
				ks = k
			else
				ks = "[" .. M.repr(k, 1) .. "]"
			end
			parts[#parts + 1] = ks .. "=" .. M.repr(v[k], depth - 1)
		end
		return "{" .. table.concat(parts, ", ") .. "}"
	else
		return tostring(v)
	end
end

local function typed(v)
	if type(v) == "number" then
		return string.format("%s (%s)", describe_number(v), math.type(v))
	end
	return string.format("%s (%s)", M.repr(v), type(v))
end

---------------------------------------------------------------------------------------------
-- deep comparison

-- Returns nil when equal, else path, explanation. Numbers must agree on math.type
-- (3 and 3.0 differ); NaN equals NaN.
local function diff(actual, expected, path, seen)
	local ta, te = type(actual), type(expected)
	if ta ~= te then
		return path, string.format("expected %s, got %s", typed(expected), typed(actual))
	end
	if ta == "number" then
		if math.type(actual) ~= math.type(expected) then
			return path, string.format("expected %s, got %s", typed(expected), typed(actual))
		end
		if actual ~= actual and expected ~= expected then
			return nil
		end
		if actual ~= expected then
			return path, string.format("expected %s, got %s", typed(expected), typed(actual))
		end
		-- distinguish 0.0 and -0.0
		if actual == 0 and math.type(actual) == "float" and (1 / actual) ~= (1 / expected) then
			return path, string.format("expected %s, got %s (sign of zero)",
				tostring(1 / expected > 0 and "0.0" or "-0.0"), tostring(1 / actual > 0 and "0.0" or "-0.0"))
		end
		return nil
	elseif ta == "string" then
		if actual == expected then
			return nil
		end
		if #actual > 60 or #expected > 60 then
			local i = 1
			while i <= #actual and i <= #expected and actual:byte(i) == expected:byte(i) do
				i = i + 1
			end
			return path, string.format("strings differ at byte %d (length %d expected, %d got): expected %s, got %s",
				i, #expected, #actual, M.repr(expected:sub(i, i + 20)), M.repr(actual:sub(i, i + 20)))
		end
		return path, string.format("expected %s, got %s", M.repr(expected), M.repr(actual))
	elseif ta == "table" then
		if rawequal(actual, expected) then
			return nil
		end
		seen = seen or {}
		if seen[actual] == expected then
			return nil
		end
		seen[actual] = expected
		for _, k in ipairs(sorted_keys(expected)) do
			local av = rawget(actual, k)
			local p = path .. render_key(k)
			if av == nil then
				return p, string.format("missing key, expected %s", typed(expected[k]))
			end
			local dp, why = diff(av, rawget(expected, k), p, seen)
			if dp then
				return dp, why
			end
		end
		for _, k in ipairs(sorted_keys(actual)) do
			if rawget(expected, k) == nil then
				return path .. render_key(k), string.format("unexpected key with value %s", typed(actual[k]))
			end
		end
		return nil
	else
		if rawequal(actual, expected) then
			return nil
		end
		return path, string.format("expected %s, got %s", typed(expected), typed(actual))
	end
end

--- Deep equality. `expected` is the second argument.
function M.eq(actual, expected, msg)
	local p, why = diff(actual, expected, "value")
	if p then
		local text = string.format("%s: %s", p, why)
		if msg then
			text = msg .. ": " .. text
		end
		error(text, 2)
	end
end

--- True if deep-equal (same rules as eq).
function M.equal(a, b)
	return diff(a, b, "value") == nil
end

function M.neq(actual, unexpected, msg)
	if diff(actual, unexpected, "value") == nil then
		error(string.format("%sdid not expect %s", msg and (msg .. ": ") or "", typed(actual)), 2)
	end
end

function M.ok(v, msg)
	if not v then
		error(msg or ("expected a true value, got " .. typed(v)), 2)
	end
	return v
end

--- |a - b| <= tol
function M.near(a, b, tol, msg)
	if type(a) ~= "number" or type(b) ~= "number" or math.abs(a - b) > tol then
		error(string.format("%sexpected %s within %s of %s", msg and (msg .. ": ") or "",
			M.repr(a), M.repr(tol), M.repr(b)), 2)
	end
end

local function matches(s, pattern)
	if s:find(pattern, 1, true) then
		return true
	end
	local ok, found = pcall(string.find, s, pattern)
	return ok and found ~= nil
end

--- Calls fn(...) and expects it to raise; `pattern` (plain text or Lua pattern) must occur in
--- the error message when given. Returns the error message.
function M.raises(fn, pattern, ...)
	local ok, err = pcall(fn, ...)
	if ok then
		error("expected an error" .. (pattern and (" matching " .. M.repr(pattern)) or "")
			.. ", but the call succeeded", 2)
	end
	local s = tostring(err)
	if pattern and not matches(s, pattern) then
		error(string.format("error %s does not match %s", M.repr(s), M.repr(pattern)), 2)
	end
	return s
end

--- Polls pred() every 10 ms until it returns a true value or `timeout` centiseconds
--- (default 300) pass. Returns pred's value, or false on timeout.
function M.wait_until(pred, timeout)
	local deadline = skynet.now() + (timeout or 300)
	while true do
		local v = pred()
		if v then
			return v
		end
		if skynet.now() >= deadline then
			return false
		end
		skynet.sleep(1)
	end
end

--- Like wait_until, but raises `msg` on timeout.
function M.eventually(pred, timeout, msg)
	local v = M.wait_until(pred, timeout)
	if not v then
		error(msg or "condition not reached in time", 2)
	end
	return v
end

--- Calls f(...) and returns elapsed centiseconds followed by f's results.
function M.timed(f, ...)
	local t0 = skynet.now()
	local r = table.pack(f(...))
	return skynet.now() - t0, table.unpack(r, 1, r.n)
end

---------------------------------------------------------------------------------------------
-- runner

local function one_line(s)
	s = tostring(s)
	local msg = s:match("^(.-)\nstack traceback:") or s
	return (msg:gsub("\r?\n%s*", " | "))
end

function M.run()
	local passed, failed = 0, 0
	for _, c in ipairs(cases) do
		local state = {}
		skynet.fork(function()
			local ok, err = xpcall(c.fn, debug.traceback)
			state.ok, state.err, state.done = ok, err, true
		end)
		local limit = c.timeout or M.default_timeout
		local deadline = skynet.now() + limit
		while not state.done and skynet.now() < deadline do
			skynet.sleep(1)
		end
		if state.done and state.ok then
			passed = passed + 1
			skynet.error("ok - " .. c.name)
		else
			failed = failed + 1
			if state.done then
				skynet.error(string.format("not ok - %s: %s", c.name, one_line(state.err)))
				local tb = tostring(state.err):match("\n(stack traceback:.*)$")
				if tb then
					for line in tb:gmatch("[^\n]+") do
						skynet.error("#   " .. line)
					end
				end
			else
				skynet.error(string.format("not ok - %s: timed out after %.2f s", c.name, limit / 100))
			end
		end
	end
	skynet.error(string.format("%d passed, %d failed", passed, failed))
	require "skynet.manager"
	skynet.abort()
end

return M
