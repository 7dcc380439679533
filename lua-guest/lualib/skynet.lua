-- skynet: the service API of skybox's Lua services.
--
-- skybox implements skynet's Lua API on top of the native module skynet.core (the functions of
-- skynet's lua-skynet.c), so that code written for skynet runs unchanged. What crosses the wire
-- is skynet's: requests carry a session, answers come back as PTYPE_RESPONSE with that session,
-- failures as PTYPE_ERROR with that session, and PTYPE_ERROR with session 0 announces that the
-- sender is gone.
--
-- Every message handler, fork and timer runs in a skynet thread (a coroutine, recycled through a
-- pool). A thread that must wait (call, sleep, wait) registers what it waits for and yields
-- "SUSPEND" to the dispatcher, which resumes it when the answer, the timer or a wakeup arrives.

local c = require "skynet.core"
local profile = require "skynet.profile"
local skynet_require = require "skynet.require"

local assert = assert
local error = error
local next = next
local pairs = pairs
local pcall = pcall
local select = select
local setmetatable = setmetatable
local tostring = tostring
local type = type
local xpcall = xpcall
local string_format = string.format
local tremove = table.remove
local tpack = table.pack
local tunpack = table.unpack
local traceback = debug.traceback
local co_create = coroutine.create
local co_yield = coroutine.yield
local co_running = coroutine.running
local co_close = coroutine.close
local co_isyieldable = coroutine.isyieldable
local presume = profile.resume

local csend = c.send
local cintcommand = c.intcommand
local cgenid = c.genid
local ctrace = c.trace
local cpack = c.pack
local ctostring = c.tostring
local ctrash = c.trash

local PTYPE_RESPONSE = 1
local PTYPE_ERROR = 7
local PTYPE_TRACE = 12
-- the value a session maps to once nobody waits for its answer any more (see `waiting`)
local BREAK = "BREAK"

local skynet = {
	-- message types, as in skynet.h
	PTYPE_TEXT = 0,
	PTYPE_RESPONSE = PTYPE_RESPONSE,
	PTYPE_MULTICAST = 2,
	PTYPE_CLIENT = 3,
	PTYPE_SYSTEM = 4,
	PTYPE_HARBOR = 5,
	PTYPE_SOCKET = 6,
	PTYPE_ERROR = PTYPE_ERROR,
	PTYPE_QUEUE = 8,	-- deprecated mqueue; use skynet.queue
	PTYPE_DEBUG = 9,
	PTYPE_LUA = 10,
	PTYPE_SNAX = 11,
	PTYPE_TRACE = PTYPE_TRACE,
}

skynet.cache = require "skynet.codecache"

-- Protocol classes by name and by id. (Keep this upvalue named `proto`: skynet.inject finds the
-- dispatch functions through it.)
local proto = {}
skynet._proto = proto

function skynet.register_protocol(class)
	local name, id = class.name, class.id
	assert(type(name) == "string" and type(id) == "number" and id >= 0 and id <= 255,
		"a protocol needs a string name and an id in 0..255")
	assert(proto[name] == nil and proto[id] == nil, "protocol already registered")
	proto[name] = class
	proto[id] = class
end

------------------------------------------------------------------------------------------------
-- Bookkeeping

-- session -> the thread waiting for it (a call, a sleep, a timer, a select), or BREAK when its
-- answer is still due but nobody wants it any more
local waiting = {}
-- session -> the address called, for every call still waiting (failures are matched by it)
local call_target = {}
-- thread -> session of the request it is serving (0 for a send); removed once answered
local request_session = {}
-- thread -> source address of the request it is serving
local request_source = {}
-- thread -> trace tag (string), false when tracing is forced off, nil when not traced
local request_tag = {}
-- response closure from skynet.response() not called yet -> address it will answer
local open_responses = {}
-- sleep/wait token -> session it sleeps on
local sleepers = {}
-- tokens to wake (in order) and the set of those queued
local wake_queue = {}
local wake_queued = {}
-- sessions of calls that failed, to resume with an error
local failed_sessions = {}
-- threads created by skynet.fork, run after the current message: forks[fork_head .. fork_tail]
local forks = {}
local fork_head, fork_tail = 1, 0
-- source -> trace tag announced by a PTYPE_TRACE message for its next request
local trace_source = {}

local running_thread = nil	-- the skynet thread resumed last
local init_thread = nil		-- the thread running the start function, until it is done
local exiting = false

-- Resumes a skynet thread (through the profiler, which keeps per-thread time).
local function resume_thread(co, ...)
	running_thread = co
	return presume(co, ...)
end

------------------------------------------------------------------------------------------------
-- Sessions. The host hands out sessions from a counter that wraps from 0x7fffffff to 1, so
-- after a wrap a new session could equal one still waited for (a call that never returns, a
-- long sleep). Near the end of the range and after a wrap, every allocation makes sure the next
-- session the host will hand out is free, skipping taken ones. Elsewhere it costs one compare.

local SESSION_MAX = 0x7fffffff
local GUARD_START = 0x7fff0000	-- sessions from here up are checked before the host hands them out
local GUARD_FROM = GUARD_START - 1	-- so checking starts one allocation earlier
local guard_floor = GUARD_FROM	-- allocations at or above this go through session_guard (0: all)
local guard_last = 0			-- last session seen while checking
local guard_until = 0			-- after a wrap: the highest old session still waited for

local function after_wrap()
	guard_until = 0
	for session in pairs(waiting) do
		if session < GUARD_FROM and session > guard_until then
			guard_until = session
		end
	end
end

-- `session` was just allocated (nil/false: a send failed, possibly after taking a session).
local function session_guard(session)
	if not session then
		session = cgenid()	-- resynchronise with the host's counter
	end
	if guard_floor ~= 0 then
		guard_floor = 0
		guard_until = math.maxinteger
	elseif session < guard_last then
		after_wrap()
	end
	guard_last = session
	local following = session < SESSION_MAX and session + 1 or 1
	while waiting[following] ~= nil do
		session = cgenid()	-- takes `following` so that nobody else gets it
		if session < guard_last then
			after_wrap()
		end
		guard_last = session
		following = session < SESSION_MAX and session + 1 or 1
	end
	if session > guard_until and session < GUARD_FROM then
		guard_floor = GUARD_FROM	-- past every old session: back to the cheap path
	end
end

-- send with a new session; returns it (nil: no such destination, false: package too large)
local function auxsend(addr, id, msg, sz)
	local session = csend(addr, id, nil, msg, sz)
	if (session or 0) >= guard_floor then
		session_guard(session)
	end
	return session
end

local function auxtimeout(ti)
	local session = cintcommand("TIMEOUT", ti)
	if session >= guard_floor then
		session_guard(session)
	end
	return session
end

local function auxwait()
	local session = cgenid()
	if session >= guard_floor then
		session_guard(session)
	end
	return session
end

------------------------------------------------------------------------------------------------
-- Thread pool. An idle thread sits in idle_threads, yielded "SUSPEND" and ready to take a job:
-- resume(co, f, args...) runs f(args...) at once; resume(co, f, DEFERRED) only binds f and parks
-- again, and the next resume supplies f's arguments (forks and timers are created before their
-- arguments are known).

local DEFERRED = {}
local idle_threads = setmetatable({}, { __mode = "kv" })

local function run_job(co, f, first, ...)
	if first == DEFERRED then
		f(co_yield())
	else
		f(first, ...)
	end
	-- job done: a request left without an answer keeps its caller waiting; say so
	local session = request_session[co]
	if session ~= nil then
		if session ~= 0 then
			local getinfo = debug.getinfo	-- an untrusted service's debug library has none
			local info = getinfo and getinfo(f, "S") or { source = "?", linedefined = 0 }
			skynet.error(string_format("Maybe forgot response session %s from %s : %s:%d",
				session, skynet.address(request_source[co]), info.source, info.linedefined))
		end
		request_session[co] = nil
	end
	request_source[co] = nil
	local tag = request_tag[co]
	if tag ~= nil then
		if tag then
			ctrace(tag, "end")
		end
		request_tag[co] = nil
	end
end

local function idle_loop(co)
	while true do
		idle_threads[#idle_threads + 1] = co
		run_job(co, co_yield "SUSPEND")
	end
end

local function get_thread()
	local n = #idle_threads
	local co = idle_threads[n]	-- nil when n == 0
	if co then
		idle_threads[n] = nil
	else
		co = co_create(function(...)
			run_job(co, ...)
			return idle_loop(co)	-- tail call: the first job's arguments are not kept alive
		end)
	end
	return co
end

-- A thread that runs f when it is next resumed, with the arguments of that resume.
local function bind_thread(f)
	local co = get_thread()
	presume(co, f, DEFERRED)	-- not resume_thread: running_thread stays the caller
	return co
end

------------------------------------------------------------------------------------------------
-- The scheduler core

local drain_pending

local function failure_text(co, err)
	return traceback(co, tostring(err))
end

-- A skynet thread raised. A coroutine dead by an error keeps its stack (for a traceback), and
-- with it everything its code had in hand, until it is closed. So nothing that may allocate
-- comes before the close unprotected: a thread that failed for memory leaves the heap at the
-- limit with what it built, every allocation fails while the thread still holds it, and an
-- error here before the close would leave the dead thread reachable (from `running_thread`)
-- with all it built, for good: every later message of the service would fail for memory too.
-- (Once closed, what it built is garbage; the host collects it after a failed callback.)
local function thread_failed(co, err)
	-- its caller (if it waits for an answer) gets an error; only the trace line may allocate
	local session = request_session[co]
	if session then
		if session ~= 0 then
			local tag = request_tag[co]
			if tag then
				pcall(ctrace, tag, "error")
			end
			csend(request_source[co], PTYPE_ERROR, session, "")
		end
		request_session[co] = nil
	end
	request_source[co] = nil
	request_tag[co] = nil
	-- the traceback reads the dead stack, so it comes first, protected: it may run out of memory
	local traced, message = pcall(failure_text, co, err)
	co_close(co)
	if running_thread == co then
		running_thread = nil
	end
	if not traced then
		message = tostring(err)	-- what the thread held can be collected now
	end
	error(message, 0)
end

-- Called with the results of every resume of a skynet thread.
local function suspend(co, ok, command)
	if not ok then
		return thread_failed(co, command)
	end
	if command == "SUSPEND" then
		return drain_pending()
	elseif command == "QUIT" then
		co_close(co)	-- skynet.exit: this thread never runs again
		return
	elseif command == nil then
		return	-- a bare yield (debugger / trace hook)
	elseif command == "USER" then
		error("Call skynet.coroutine.yield out of skynet.coroutine.resume\n" .. traceback(co), 0)
	else
		error("Unknown command : " .. tostring(command) .. "\n" .. traceback(co), 0)
	end
end

-- Resumes woken sleepers first, then threads whose call failed. Each resumed thread comes back
-- through suspend, which calls this again (tail calls: the stack does not grow).
drain_pending = function()
	while wake_queue[1] ~= nil do
		local token = tremove(wake_queue, 1)
		wake_queued[token] = nil
		local session = sleepers[token]
		if session then
			local co = waiting[session]
			if type(co) == "thread" then
				local tag = request_tag[co]
				if tag then
					ctrace(tag, "resume")
				end
				waiting[session] = BREAK	-- the timer may still fire; drop it then
				return suspend(co, resume_thread(co, false, BREAK, nil, session))
			end
		end
	end
	while failed_sessions[1] ~= nil do
		local session = tremove(failed_sessions, 1)
		local co = waiting[session]
		waiting[session] = nil
		if type(co) == "thread" then
			return suspend(co, resume_thread(co, false, nil, nil, session))
		end
	end
end

------------------------------------------------------------------------------------------------
-- Timers, sleeping, waking

local create_timer_thread = bind_thread
local timer_origin = nil	-- thread -> where it was created, when skynet.trace_timeout(true)

function skynet.trace_timeout(on)
	if on then
		timer_origin = timer_origin or setmetatable({}, { __mode = "k" })
		create_timer_thread = function(func, ti)
			local co
			co = bind_thread(function(...)
				timer_origin[co] = nil
				return func(...)
			end)
			timer_origin[co] = traceback(string_format("TIMER %d+%d : ", c.now(), ti), 3)
			return co
		end
	else
		timer_origin = nil
		create_timer_thread = bind_thread
	end
end

function skynet.timeout(ti, func)
	local session = auxtimeout(ti)
	assert(session, "TIMEOUT failed")
	local co = create_timer_thread(func, ti)
	assert(waiting[session] == nil, "session conflict")
	waiting[session] = co
	return co
end

local function park(session, token)
	local co = running_thread
	local tag = request_tag[co]
	if tag then
		ctrace(tag, "sleep", 2)
	end
	waiting[session] = co
	assert(sleepers[token] == nil, "token duplicative")
	sleepers[token] = session
	return co_yield "SUSPEND"
end

function skynet.sleep(ti, token)
	local session = auxtimeout(ti)
	assert(session, "TIMEOUT failed")
	token = token or co_running()
	local ok, reason = park(session, token)
	sleepers[token] = nil
	if ok then
		return
	end
	if reason == BREAK then
		return BREAK
	end
	error(reason)
end

function skynet.yield()
	return skynet.sleep(0)
end

function skynet.wait(token)
	local session = auxwait()
	token = token or co_running()
	park(session, token)
	sleepers[token] = nil
	waiting[session] = nil	-- nothing ever answers a wait session
end

function skynet.wakeup(token)
	if sleepers[token] then
		if not wake_queued[token] then
			wake_queued[token] = true
			wake_queue[#wake_queue + 1] = token
		end
		return true
	end
end

function skynet.killthread(thread)
	local session
	if type(thread) == "string" then
		-- find by (part of) the thread's printed name
		for s, co in pairs(waiting) do
			if tostring(co):find(thread, 1, true) then
				session = s
				break
			end
		end
	else
		for i = fork_head, fork_tail do
			if forks[i] == thread then
				table.move(forks, i + 1, fork_tail, i)
				forks[fork_tail] = nil
				fork_tail = fork_tail - 1
				return thread
			end
		end
		for s, co in pairs(waiting) do
			if co == thread then
				session = s
				break
			end
		end
	end
	local co = session and waiting[session]
	if type(co) ~= "thread" then
		return
	end
	local source = request_source[co]
	if source then
		local rs = request_session[co]
		if rs and rs ~= 0 then
			csend(source, PTYPE_ERROR, rs, "")
		end
		request_session[co] = nil
		request_source[co] = nil
		request_tag[co] = nil
	end
	if call_target[session] then
		waiting[session] = BREAK	-- the answer will still come
		call_target[session] = nil
	else
		waiting[session] = nil
	end
	for token, s in pairs(sleepers) do
		if s == session then
			sleepers[token] = nil
			break
		end
	end
	co_close(co)
	return co
end

------------------------------------------------------------------------------------------------
-- Identity, time, environment

local self_handle
function skynet.self()
	local handle = self_handle
	if handle == nil then
		handle = c.addresscommand "REG"
		self_handle = handle
	end
	return handle
end

function skynet.localname(name)
	return c.addresscommand("QUERY", name)
end

skynet.now = c.now
skynet.hpc = c.hpc

local starttime
function skynet.starttime()
	if not starttime then
		starttime = c.intcommand "STARTTIME"
	end
	return starttime
end

function skynet.time()
	return c.now() / 100 + (starttime or skynet.starttime())
end

function skynet.getenv(key)
	return (c.command("GETENV", key))
end

function skynet.setenv(key, value)
	assert(c.command("GETENV", key) == nil, "Can't setenv exist key : " .. key)
	c.command("SETENV", key .. " " .. value)
end

function skynet.address(addr)
	if type(addr) == "number" then
		return string_format(":%08x", addr)
	end
	return tostring(addr)
end

function skynet.harbor(addr)
	return c.harbor(addr)
end

skynet.error = c.error
skynet.tracelog = c.trace
skynet.genid = assert(c.genid)
skynet.pack = assert(c.pack)
skynet.packstring = assert(c.packstring)
skynet.unpack = assert(c.unpack)
skynet.tostring = assert(c.tostring)
skynet.trash = assert(c.trash)

------------------------------------------------------------------------------------------------
-- Tracing

local traceid = 0
function skynet.trace(info)
	local co = running_thread
	if request_tag[co] == false then
		return	-- tracing forced off for this protocol
	end
	traceid = traceid + 1
	local tag = string_format(":%08x-%d", skynet.self(), traceid)
	request_tag[co] = tag
	ctrace(tag, info and ("trace " .. info) or "trace")
end

function skynet.tracetag()
	return request_tag[running_thread]
end

-- flag true: trace every request of this protocol; false: never; nil: only on skynet.trace()
function skynet.traceproto(prototype, flag)
	local p = assert(proto[prototype], "unknown protocol")
	p.trace = flag
end

------------------------------------------------------------------------------------------------
-- Sending and calling

function skynet.send(addr, typename, ...)
	local p = proto[typename]
	return csend(addr, p.id, 0, p.pack(...))
end

function skynet.rawsend(addr, typename, msg, sz)
	local p = proto[typename]
	return csend(addr, p.id, 0, msg, sz)
end

function skynet.redirect(dest, source, typename, ...)
	return c.redirect(dest, source, proto[typename].id, ...)
end

local function yield_call(addr, session)
	call_target[session] = addr
	waiting[session] = running_thread
	local ok, msg, sz = co_yield "SUSPEND"
	call_target[session] = nil
	if not ok then
		error("call failed", 3)
	end
	return msg, sz
end

-- skybox: waits for the reply to `session`, a session the host answers on this service's own
-- behalf (work run off the workers, see skynet.blocking); returns the raw reply (msg, sz).
function skynet.waitsession(session)
	return yield_call(skynet.self(), session)
end

local function check_session(session, addr)
	if not session then
		if session == false then
			error("call to " .. skynet.address(addr) .. " failed: package too large", 3)
		end
		error("call to invalid address " .. skynet.address(addr), 3)
	end
end

function skynet.call(addr, typename, ...)
	local tag = request_tag[running_thread]
	if tag then
		ctrace(tag, "call", 2)
		csend(addr, PTYPE_TRACE, 0, tag)
	end
	local p = proto[typename]
	local session = auxsend(addr, p.id, p.pack(...))
	if not session then
		check_session(session, addr)
	end
	return p.unpack(yield_call(addr, session))
end

function skynet.rawcall(addr, typename, msg, sz)
	local tag = request_tag[running_thread]
	if tag then
		ctrace(tag, "call", 2)
		csend(addr, PTYPE_TRACE, 0, tag)
	end
	local p = proto[typename]
	local session = auxsend(addr, p.id, msg, sz)
	if not session then
		check_session(session, addr)
	end
	return yield_call(addr, session)
end

function skynet.tracecall(tag, addr, typename, msg, sz)
	ctrace(tag, "tracecall begin")
	csend(addr, PTYPE_TRACE, 0, tag)
	local p = proto[typename]
	local session = auxsend(addr, p.id, msg, sz)
	if not session then
		check_session(session, addr)
	end
	msg, sz = yield_call(addr, session)
	ctrace(tag, "tracecall end")
	return msg, sz
end

------------------------------------------------------------------------------------------------
-- Answering requests

function skynet.ret(msg, sz)
	msg = msg or ""
	local co = running_thread
	local tag = request_tag[co]
	if tag then
		ctrace(tag, "response")
	end
	local session = request_session[co]
	if session == nil then
		error("No session", 2)
	end
	request_session[co] = nil
	if session == 0 then
		-- the request was a send: nobody to answer
		if sz ~= nil then
			ctrash(msg, sz)
		end
		return false
	end
	local source = request_source[co]
	local sent = csend(source, PTYPE_RESPONSE, session, msg, sz)
	if sent then
		return true
	elseif sent == false then
		-- too large to deliver: the caller must not wait forever
		csend(source, PTYPE_ERROR, session, "")
	end
	return false
end

function skynet.retpack(...)
	return skynet.ret(cpack(...))
end

-- (session, source) of the request the running thread serves
function skynet.context()
	local co = running_thread
	return request_session[co], request_source[co]
end

-- The running thread will not answer its request (it uses the session some other way).
function skynet.ignoreret()
	request_session[running_thread] = nil
end

local function no_response()
	return false
end

-- A closure that answers the current request later, from any thread:
-- response(true, ...) sends pack(...); response(false) sends an error;
-- response("TEST") tells whether the answer is still wanted.
function skynet.response(pack)
	pack = pack or cpack
	local co = running_thread
	local session = request_session[co]
	assert(session, "no session")
	request_session[co] = nil
	if session == 0 then
		return no_response	-- a send: nothing to answer
	end
	local source = request_source[co]
	local function response(ok, ...)
		if ok == "TEST" then
			return open_responses[response] ~= nil
		end
		if not pack then
			error("Can't response more than once", 2)
		end
		local delivered = false
		if open_responses[response] then
			local sent
			if ok then
				sent = csend(source, PTYPE_RESPONSE, session, pack(...))
				if sent == false then
					csend(source, PTYPE_ERROR, session, "")
				end
			else
				sent = csend(source, PTYPE_ERROR, session, "")
			end
			open_responses[response] = nil
			delivered = sent ~= nil
		end
		pack = nil
		return delivered
	end
	open_responses[response] = source
	return response
end

------------------------------------------------------------------------------------------------
-- Dispatching

function skynet.dispatch(typename, func)
	local p = proto[typename]
	if func then
		local previous = p.dispatch
		p.dispatch = func
		return previous
	end
	return p and p.dispatch
end

local function unknown_request(session, source, msg, sz, prototype)
	skynet.error(string_format("Unknown request (%s): %s", prototype, ctostring(msg, sz)))
	error(string_format("Unknown session : %d from %x", session, source))
end

function skynet.dispatch_unknown_request(handler)
	local previous = unknown_request
	unknown_request = handler
	return previous
end

local function unknown_response(session, source, msg, sz)
	skynet.error(string_format("Response message : %s", ctostring(msg, sz)))
	error(string_format("Unknown session : %d from %x", session, source))
end

function skynet.dispatch_unknown_response(handler)
	local previous = unknown_response
	unknown_response = handler
	return previous
end

function skynet.fork(func, ...)
	local co
	if select("#", ...) == 0 then
		co = bind_thread(func)
	else
		local args = tpack(...)
		co = bind_thread(function()
			return func(tunpack(args, 1, args.n))
		end)
	end
	local tail = fork_tail + 1
	fork_tail = tail
	forks[tail] = co
	return co
end

-- the thread taken for a request whose payload is being unpacked
local unpacking_thread = nil

local function start_request(co, f, session, source, ...)
	unpacking_thread = nil
	request_session[co] = session
	request_source[co] = source
	running_thread = co
	return presume(co, f, session, source, ...)
end

-- (The name raw_dispatch_message is kept: skynet's remotedebug hooks this upvalue by name.)
local function raw_dispatch_message(ptype, msg, sz, session, source)
	if ptype == PTYPE_RESPONSE then
		local co = waiting[session]
		if co == nil then
			return unknown_response(session, source, msg, sz)
		end
		waiting[session] = nil
		if co == BREAK then
			return	-- nobody wants this answer any more
		end
		local tag = request_tag[co]
		if tag then
			ctrace(tag, "resume")
		end
		return suspend(co, resume_thread(co, true, msg, sz, session))
	end

	local p = proto[ptype]
	local f = p and p.dispatch
	if f == nil then
		if p == nil and ptype == PTYPE_TRACE then
			trace_source[source] = ctostring(msg, sz)	-- tags the next request from source
			return
		end
		trace_source[source] = nil
		if session ~= 0 then
			csend(source, PTYPE_ERROR, session, "")
		else
			unknown_request(session, source, msg, sz, p and p.name or ptype)
		end
		return
	end

	local co = get_thread()
	local traceflag = p.trace
	if traceflag == false then
		trace_source[source] = nil
		request_tag[co] = false
	else
		local tag = trace_source[source]
		if tag then
			trace_source[source] = nil
			ctrace(tag, "request")
			request_tag[co] = tag
		elseif traceflag then
			running_thread = co
			skynet.trace()
		end
	end
	unpacking_thread = co	-- if unpack raises, dispatch_message answers the caller
	return suspend(co, start_request(co, f, session, source, p.unpack(msg, sz)))
end

local function join_errors(first, second)
	if first == nil then
		return tostring(second)
	end
	return tostring(first) .. "\n" .. tostring(second)
end

-- The callback for every message: dispatch it, then run the forks it made and whatever they
-- wake, until nothing is left. Errors are collected and raised at the end (the host logs them).
function skynet.dispatch_message(ptype, msg, sz, session, source)
	local ok, err = pcall(raw_dispatch_message, ptype, msg, sz, session, source)
	if ok then
		err = nil
	elseif unpacking_thread then
		-- the request could not be unpacked: its caller gets an error; the unused thread is
		-- still fit for a job (parked, or never started), so it goes back to the pool
		local co = unpacking_thread
		unpacking_thread = nil
		request_tag[co] = nil
		idle_threads[#idle_threads + 1] = co
		if session ~= 0 then
			csend(source, PTYPE_ERROR, session, "")
		end
	end
	while not exiting do
		local head = fork_head
		if head <= fork_tail then
			local co = forks[head]
			forks[head] = nil
			fork_head = head + 1
			local fork_ok, fork_err = pcall(suspend, co, resume_thread(co))
			if not fork_ok then
				ok, err = false, join_errors(err, fork_err)
			end
		elseif wake_queue[1] ~= nil or failed_sessions[1] ~= nil then
			-- left over when a thread's error cut the chain short
			local drain_ok, drain_err = pcall(drain_pending)
			if not drain_ok then
				ok, err = false, join_errors(err, drain_err)
			end
		else
			fork_head, fork_tail = 1, 0
			break
		end
	end
	if not ok then
		error(tostring(err), 0)
	end
end

------------------------------------------------------------------------------------------------
-- Failures and departures

-- `address` is gone: stop waiting for it, and drop the answers we still owed it.
local function service_down(address)
	for response, addr in pairs(open_responses) do
		if addr == address then
			open_responses[response] = nil
		end
	end
	for session, addr in pairs(call_target) do
		if addr == address then
			failed_sessions[#failed_sessions + 1] = session
		end
	end
end

local function error_dispatch(session, source)
	skynet.ignoreret()	-- an error report gets no answer
	if session == 0 then
		service_down(source)
	elseif call_target[session] then
		failed_sessions[#failed_sessions + 1] = session
	elseif waiting[session] == BREAK then
		waiting[session] = nil	-- an abandoned call failed: no answer will come for it
	end
end

-- Treat `service` as gone (debug TERM).
function skynet.term(service)
	return service_down(service)
end

function skynet.exit()
	exiting = true
	forks, fork_head, fork_tail = {}, 1, 0	-- no fork runs after exit
	skynet.send(".launcher", "lua", "REMOVE", skynet.self(), false)
	-- every request we still hold gets an error
	for co, session in pairs(request_session) do
		local source = request_source[co]
		if session ~= 0 and source then
			csend(source, PTYPE_ERROR, session, "")
		end
	end
	for response in pairs(open_responses) do
		response(false)
	end
	-- threads parked on a session never run again
	local me = running_thread
	for _, co in pairs(waiting) do
		if type(co) == "thread" and co ~= me then
			pcall(co_close, co)
		end
	end
	-- services we are calling learn that we are gone, so they drop our requests
	local told = {}
	for _, addr in pairs(call_target) do
		if not told[addr] then
			told[addr] = true
			csend(addr, PTYPE_ERROR, 0, "")
		end
	end
	-- requests that still reach us before the host removes us get an error
	c.callback(function(ptype, msg, sz, session, source)
		if session ~= 0 and source ~= 0 and ptype ~= PTYPE_RESPONSE and ptype ~= PTYPE_ERROR then
			csend(source, PTYPE_ERROR, session, "")
		end
	end)
	c.command "EXIT"
	if co_isyieldable() then
		co_yield "QUIT"
	end
end

------------------------------------------------------------------------------------------------
-- Services

function skynet.newservice(name, ...)
	return skynet.call(".launcher", "lua", "LAUNCH", "snlua", name, ...)
end

function skynet.uniqueservice(global, ...)
	if global == true then
		return assert(skynet.call(".service", "lua", "GLAUNCH", ...))
	end
	return assert(skynet.call(".service", "lua", "LAUNCH", global, ...))
end

function skynet.queryservice(global, ...)
	if global == true then
		return assert(skynet.call(".service", "lua", "GQUERY", ...))
	end
	return assert(skynet.call(".service", "lua", "QUERY", global, ...))
end

function skynet.endless()
	return c.intcommand("STAT", "endless") == 1
end

function skynet.mqlen()
	return c.intcommand("STAT", "mqlen")
end

function skynet.stat(what)
	return c.intcommand("STAT", what)
end

function skynet.memlimit(bytes)
	if c.memlimit then
		c.memlimit(bytes)	-- an untrusted service: never above its profile's cap (raises)
	else
		debug.getregistry().memlimit = bytes
	end
	skynet.memlimit = nil	-- only once, before the loader returns
end

------------------------------------------------------------------------------------------------
-- Introspection

local function thread_traceback(co)
	if co == BREAK then
		return co
	end
	local origin = timer_origin and timer_origin[co]
	return origin or traceback(co)
end

-- task() -> number of waiting threads; task(t) fills t with their tracebacks; task(session) ->
-- traceback of the thread waiting for it; task(thread) -> its session; task("init") -> the
-- start function's traceback while it runs.
function skynet.task(what)
	if what == nil then
		local n = 0
		for _, co in pairs(waiting) do
			if co ~= BREAK then
				n = n + 1
			end
		end
		return n
	end
	if what == "init" then
		if init_thread then
			return traceback(init_thread)
		end
		return
	end
	local kind = type(what)
	if kind == "table" then
		for session, co in pairs(waiting) do
			what[string_format("%s session: %d", tostring(co), session)] = thread_traceback(co)
		end
	elseif kind == "number" then
		local co = waiting[what]
		if co then
			return thread_traceback(co)
		end
		return "No session"
	elseif kind == "thread" then
		for session, co in pairs(waiting) do
			if co == what then
				return session
			end
		end
	end
end

-- Waiting threads grouped by identical traceback: { "count\tsessions:[...]\n" = traceback }
function skynet.uniqtask()
	local groups = {}
	for session, co in pairs(waiting) do
		local stack = thread_traceback(co)
		local group = groups[stack]
		if group == nil then
			group = { count = 0, sessions = {} }
			groups[stack] = group
		end
		group.count = group.count + 1
		if group.count < 10 then
			group.sessions[#group.sessions + 1] = session
		end
	end
	local result = {}
	for stack, group in pairs(groups) do
		local sessions = table.concat(group.sessions, ",")
		if group.count > 10 then
			sessions = sessions .. "..."
		end
		result[string_format("%d\tsessions:[%s]\n", group.count, sessions)] = stack
	end
	return result
end

------------------------------------------------------------------------------------------------
-- Parallel requests:
--   for req, resp in skynet.request { addr, "lua", ... } { addr2, "lua", ... } :select(timeout) do
-- resp is the table.pack of the answer, false when the call failed, nil when the address was
-- invalid. Answers come in arrival order; after `timeout` (centiseconds) the loop ends and the
-- request object's `timeout` field is true. Leaving the loop early drops the outstanding answers.

do
	local Request = {}
	Request.__index = Request

	function Request:add(req)
		assert(type(req) == "table" and self._thread == nil, "add a request table before select")
		self[#self + 1] = req
		return self
	end
	Request.__call = Request.add

	local function pack_answer(ok, ...)
		if ok then
			return tpack(...)
		end
		skynet.error("request: cannot unpack an answer: " .. tostring((...)))
		return false
	end

	-- Body of the thread that receives the answers of one select.
	local function collect(self)
		while true do
			local ok, msg, sz, session = co_yield "SUSPEND"
			if session == self._timeout then
				self._timeout = nil
				self.timeout = true
			else
				call_target[session] = nil
				local req = self._sessions[session]
				local answer = false
				if ok then
					answer = pack_answer(pcall(proto[req[2]].unpack, msg, sz))
				end
				self._resp[session] = answer
			end
			skynet.wakeup(self)
		end
	end

	local function send_requests(self, thread)
		local sessions = {}
		self._sessions = sessions
		local count, invalid = 0, nil
		local tag = request_tag[running_thread]
		for i = 1, #self do
			local req = self[i]
			local addr = req[1]
			local p = proto[req[2]]
			assert(p and p.unpack, "request: unknown protocol")
			if tag then
				ctrace(tag, "call", 4)
				csend(addr, PTYPE_TRACE, 0, tag)
			end
			local session = auxsend(addr, p.id, p.pack(tunpack(req, 3, req.n)))
			if session then
				sessions[session] = req
				call_target[session] = addr
				waiting[session] = thread
				count = count + 1
			else
				invalid = invalid or {}
				invalid[#invalid + 1] = req
			end
		end
		self._request = count
		return invalid
	end

	-- iterator: (request, answer) pairs until all are answered or the timeout fires
	local function next_answer(self)
		local invalid = self._error
		if invalid then
			local req = tremove(invalid)
			if req then
				return req
			end
			self._error = nil
		end
		while true do
			local resp = self._resp
			local session, answer = next(resp)
			if session ~= nil then
				self._request = self._request - 1
				local req = self._sessions[session]
				resp[session] = nil
				self._sessions[session] = nil
				return req, answer
			end
			if self._request == 0 or self.timeout then
				return
			end
			skynet.wait(self)
		end
	end

	function Request:close()
		if (self._request or 0) > 0 then
			local resp = self._resp
			for session in pairs(self._sessions) do
				if resp[session] == nil then
					waiting[session] = BREAK
					call_target[session] = nil
				end
			end
			self._request = 0
		end
		local timer = self._timeout
		if timer then
			waiting[timer] = BREAK
			self._timeout = nil
		end
	end
	Request.__close = Request.close

	function Request:select(timeout)
		assert(self._thread == nil, "select can run once")
		local thread = co_create(collect)
		self._thread = thread
		self._resp = {}
		self._error = send_requests(self, thread)
		if timeout then
			local session = auxtimeout(timeout)
			self._timeout = session
			waiting[session] = thread
		end
		presume(thread, self)	-- park it at its first yield
		return next_answer, self, nil, self
	end

	function skynet.request(req)
		local self = setmetatable({}, Request)
		if req then
			return self:add(req)
		end
		return self
	end
end

------------------------------------------------------------------------------------------------
-- Protocols every service speaks

do
	local REG = skynet.register_protocol

	REG {
		name = "lua",
		id = skynet.PTYPE_LUA,
		pack = skynet.pack,
		unpack = skynet.unpack,
	}

	REG {
		name = "response",
		id = PTYPE_RESPONSE,
	}

	REG {
		name = "error",
		id = PTYPE_ERROR,
		unpack = function(...) return ... end,
		dispatch = error_dispatch,
	}
end

------------------------------------------------------------------------------------------------
-- Start-up

skynet.init = skynet_require.init
skynet.pcall = pcall	-- deprecated in skynet: use pcall

local function run_start(start)
	skynet_require.init_all()
	start()
end

function skynet.init_service(start)
	local ok, err = xpcall(run_start, traceback, start)
	-- In the launcher's text words ("" started, "ERROR"), which a service under any profile may
	-- send (skynet's launcher takes them too).
	if ok then
		c.send(".launcher", skynet.PTYPE_TEXT, 0, "")
	else
		skynet.error("init service failed: " .. tostring(err))
		c.send(".launcher", skynet.PTYPE_TEXT, 0, "ERROR")
		skynet.exit()
	end
end

function skynet.start(start_func)
	c.callback(skynet.dispatch_message)
	init_thread = skynet.timeout(0, function()
		skynet.init_service(start_func)
		init_thread = nil
	end)
end

-- the debug protocol (PTYPE_DEBUG) on every service
require("skynet.debug").init(skynet, {
	dispatch = skynet.dispatch_message,
	suspend = suspend,
	resume = resume_thread,
})

return skynet
