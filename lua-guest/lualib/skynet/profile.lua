-- skynet.profile: per-coroutine run time, written in Lua for skybox.
--
-- Interface of skynet's native profile module:
--   start([co])            begin timing co (default: the running coroutine)
--   stop([co]) -> seconds  time co spent running since start, time spent yielded excluded
--   resume(co, ...)        coroutine.resume that keeps the books for timed coroutines
--   yield(...)             coroutine.yield
--   resume_co(co, from, ...), yield_co(from, ...)
--                          variants that name the skynet thread `from` on whose behalf a nested
--                          coroutine runs (used by older skynet.coroutine)
--   wrap(f)                coroutine.wrap built on resume
--
-- Time is measured around each resume: a timed coroutine accrues the wall-clock time between its
-- resume and the moment control comes back (it yields, returns or fails). Time spent in coroutines
-- it resumes itself is part of its own run, as in skynet. The clock is skynet.core.hpc
-- (monotonic nanoseconds), so unlike skynet's per-thread CPU clock it also counts time the OS
-- thread was descheduled.
--
-- The loader installs resume/wrap as coroutine.resume/coroutine.wrap (skynet's snlua does the
-- same), so every resume in the service keeps the books.

local hpc = require("skynet.core").hpc

local co_resume = coroutine.resume
local co_yield = coroutine.yield
local co_running = coroutine.running
local co_create = coroutine.create
local co_status = coroutine.status
local co_close = coroutine.close
local error = error
local type = type

local weak = { __mode = "k" }
-- co -> nanoseconds accumulated over finished runs; present only while co is timed
local accumulated = setmetatable({}, weak)
-- co -> hpc() when its current run began, or false while it is not running
local run_began = setmetatable({}, weak)

local profile = {}

local function target(co)
	if co == nil then
		return (co_running())
	end
	if type(co) ~= "thread" then
		error("bad argument #1 (coroutine expected, got " .. type(co) .. ")", 3)
	end
	return co
end

function profile.start(co)
	co = target(co)
	if accumulated[co] ~= nil then
		error(string.format("Thread %s start profile more than once", tostring(co)), 2)
	end
	accumulated[co] = 0
	-- start() is normally called by co itself, so it is running now
	run_began[co] = co == co_running() and hpc() or false
end

function profile.stop(co)
	co = target(co)
	local total = accumulated[co]
	if total == nil then
		error("Call profile.start() before profile.stop()", 2)
	end
	local began = run_began[co]
	if began then
		total = total + (hpc() - began)
	end
	accumulated[co] = nil
	run_began[co] = nil
	return total / 1e9
end

-- Closes the books of a run of co that just ended; passes resume's results through.
local function settle(co, ...)
	local total = accumulated[co]
	if total ~= nil then
		local began = run_began[co]
		if began then
			accumulated[co] = total + (hpc() - began)
		end
		run_began[co] = false
	end
	return ...
end

local function resume(co, ...)
	if accumulated[co] == nil then
		return co_resume(co, ...)
	end
	run_began[co] = hpc()
	return settle(co, co_resume(co, ...))
end
profile.resume = resume

function profile.yield(...)
	return co_yield(...)
end

-- The time of `from` needs no separate handling: it is running while it resumes co.
function profile.resume_co(co, from, ...)
	if type(from) ~= "thread" then
		error("bad argument #2 to 'resume_co' (coroutine expected)", 2)
	end
	return resume(co, ...)
end

function profile.yield_co(from, ...)
	if type(from) ~= "thread" then
		error("bad argument #1 to 'yield_co' (coroutine expected)", 2)
	end
	return co_yield(...)
end

local function unwrap(co, ok, ...)
	if ok then
		return ...
	end
	local err = ...
	if co_status(co) == "dead" then
		co_close(co)
	end
	error(err, 0)	-- propagate unchanged, as coroutine.wrap does
end

function profile.wrap(f)
	local co = co_create(f)
	return function(...)
		return unwrap(co, resume(co, ...))
	end
end

return profile
