-- skynet.coroutine: coroutines that may use blocking skynet calls.
--
-- A plain coroutine that calls skynet.call would hand skynet's "SUSPEND" yield to whoever
-- resumed it. Coroutines made here tell the two apart: their own yields (skynet.coroutine.yield)
-- go to their resumer as usual, while a yield coming from the framework is passed on up to the
-- skynet thread that (ultimately) resumed them; when the framework resumes that thread, the
-- values go back down to the blocked coroutine. While blocked, status() reports "blocked" and
-- resume() refuses.

local profile = require "skynet.profile"

local co_create = coroutine.create
local co_yield = coroutine.yield
local co_running = coroutine.running
local co_status = coroutine.status
local co_close = coroutine.close
local co_resume = profile.resume
local select = select

local skynetco = {}

skynetco.isyieldable = coroutine.isyieldable
skynetco.running = coroutine.running

-- coroutine made here -> true when it may be resumed, false while blocked in the framework
local managed = setmetatable({}, { __mode = "kv" })
-- coroutine -> the skynet thread at the root of its chain of resumers
local root_of = setmetatable({}, { __mode = "kv" })

function skynetco.create(f)
	local co = co_create(f)
	managed[co] = true
	return co
end

local function unblock(co, ...)
	managed[co] = true
	return ...
end

-- Looks at what co gave back from a resume and decides who gets it.
local function settle(co, ok, ...)
	if not ok then
		return false, ...
	end
	if co_status(co) == "dead" then
		managed[co] = nil
		return true, ...
	end
	if (...) == "USER" then
		return true, select(2, ...)	-- its own yield: to the resumer
	end
	-- a framework yield: pass it up, then hand the framework's answer back down
	managed[co] = false
	return settle(co, unblock(co, co_resume(co, co_yield(...))))
end

function skynetco.resume(co, ...)
	local state = managed[co]
	if not state then
		if state == false then
			return false, "cannot resume a skynet coroutine suspend by skynet framework"
		end
		if co_status(co) == "dead" then
			return co_resume(co, ...)	-- false, "cannot resume dead coroutine"
		end
		return false, "cannot resume none skynet coroutine"
	end
	local from = co_running()
	root_of[co] = root_of[from] or from
	return settle(co, co_resume(co, ...))
end

-- thread(co) -> the skynet thread co runs for and false; for a plain coroutine: co, true
function skynetco.thread(co)
	co = co or co_running()
	if managed[co] ~= nil then
		return root_of[co], false
	end
	return co, true
end

function skynetco.status(co)
	local status = co_status(co)
	if status == "suspended" and managed[co] == false then
		return "blocked"
	end
	return status
end

function skynetco.yield(...)
	return co_yield("USER", ...)
end

local function unwrap(ok, ...)
	if ok then
		return ...
	end
	error((...), 0)
end

-- Closes a suspended or dead coroutine made here (its to-be-closed variables run).
function skynetco.close(co)
	managed[co] = nil
	root_of[co] = nil
	return co_close(co)
end

function skynetco.wrap(f)
	local co = skynetco.create(f)
	return function(...)
		return unwrap(skynetco.resume(co, ...))
	end
end

return skynetco
