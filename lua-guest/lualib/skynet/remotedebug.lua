-- skynet.remotedebug: the debugged side of the debug console's `debug address` command.
--
-- The console starts a `debug_agent`, which sends this service the debug command REMOTEDEBUG
-- with the console's socket and a `skynet.debugchannel` handle; skynet.debug calls start(). From
-- then on, before each message the service receives (and every 0.1 s), the lines the operator
-- typed, which the agent writes to the channel, run here; their output goes straight to the
-- console's socket. The REMOTEDEBUG call is answered when the operator types `cont`, which ends
-- the console's `debug` command.
--
-- What the operator types (skynet's commands and prompts):
--   prompt ":0000000b>"          nothing is stopped; a line is Lua run in the service: an
--                                expression's values are printed, `print` writes to the console
--   watch(proto [, cond])        stop in the next message of protocol `proto` ("lua") for which
--                                cond(session, source, ...) is true, at the first line of its
--                                handler; once (type it again for the next message)
--   prompt "file.lua(12)>"       a handler is stopped before that line; a line is Lua run in its
--                                frame (its locals, upvalues and ... are visible), or:
--     s                          step to the next line, into functions it calls
--     n                          the next line, over calls
--     c                          run on; the handler finishes unwatched
--   cont                         leave debug mode
-- Calls into skynet's own library (skynet.call, skynet.ret, ...) are stepped over; a
-- skynet.call waits for its answer as usual and the handler stops again after it.
--
-- skybox's differences, none of which changes what is typed or printed: `cont` (or the console
-- going away) lets a stopped handler run on, and removes a watch that never fired (skynet leaves
-- the handler suspended forever, and the watch armed); `s`/`n`/`c` while the watched handler
-- waits for an answer say so (skynet resumes it out of turn); a line that is an expression is run
-- once (skynet runs it again as a statement when it raises); a tail call does not upset the
-- stepping over a call; lines where the handler cannot yield (a table.sort comparator, a
-- metamethod) are stepped through rather than raising in the handler.

local skynet = require "skynet"
local debugchannel = require "skynet.debugchannel"
local socketdriver = require "skynet.socketdriver"
local injectcode = require "skynet.injectcode"

local sethook = debugchannel.sethook
local getinfo = debug.getinfo
local string = string
local table = table

-- skynet.dispatch_message's upvalue that dispatches one message (the same name in skynet's
-- skynet.lua and skybox's)
local HOOKED = "raw_dispatch_message"
local IDLE = 10	-- centiseconds between two looks at the channel while no message comes

local SKYNET_SOURCE = getinfo(skynet.start, "S").source	-- stepped over
local THIS_SOURCE = getinfo(1, "S").source	-- a line here: the watched handler has returned

local M = {}
local session	-- the debugging session, while there is one

local function upvalue(f, name)
	local i = 1
	while true do
		local n, v = debug.getupvalue(f, i)
		if n == nil then
			return
		end
		if n == name then
			return i, v
		end
		i = i + 1
	end
end

local function set_prompt(s, text)
	s.prompt = text
	s.show_prompt = true
end

local function home_prompt()
	return string.format(":%08x>", skynet.self())
end

-- The watched handler `ctx.co` is done with (it returned, or `c`): unhooked, forgotten.
local function unwatch(s, ctx)
	if coroutine.status(ctx.co) ~= "dead" then
		sethook(ctx.co)
	end
	s.watched[ctx.co] = nil
	set_prompt(s, home_prompt())
end

-- The hook of a watched handler's thread. It stops (yields) at a line of the function being
-- stepped; `skip` counts the frames of a call being stepped over.
local function step_hook(s, ctx)
	return function(event, line, yieldable)
		if ctx.arming then
			-- from watch's wrapper to the call of the handler itself
			if event == "call" and getinfo(2, "f").func == ctx.arming then
				ctx.arming = nil
			end
			return
		end
		if event == "line" then
			-- (skybox's debugchannel says when the thread cannot stop here: inside a
			-- metamethod or a callback of a C function such as table.sort)
			if ctx.skip > 0 or yieldable == false then
				return
			end
			local info = getinfo(2, "S")
			if info.source == THIS_SOURCE then
				unwatch(s, ctx)
				return
			end
			set_prompt(s, string.format("%s(%d)>", info.short_src, line))
			ctx.stopped = true
			return true	-- yield: the thread waits here for s, n or c
		elseif event == "return" then
			if ctx.skip > 0 then
				ctx.skip = ctx.skip - 1
			end
		elseif ctx.skip > 0 then
			if event == "call" then	-- a tail call replaces a frame already counted
				ctx.skip = ctx.skip + 1
			end
		elseif ctx.mode == "n" or getinfo(2, "S").source == SKYNET_SOURCE then
			ctx.skip = 1
		end
	end
end

local function watch(s, protoname, cond)
	local _, proto = upvalue(skynet.register_protocol, "proto")
	if type(proto) ~= "table" then
		return "Can't find proto table"
	end
	local p = proto[protoname]
	if p == nil then
		return "No " .. tostring(protoname)
	end
	local dispatch = s.armed[p] or p.dispatch
	if dispatch == nil then
		return "No dispatch"
	end
	s.armed[p] = dispatch
	local wrapper
	wrapper = function(...)
		if s.armed[p] == dispatch and (not cond or cond(...)) then
			s.armed[p] = nil
			if p.dispatch == wrapper then
				p.dispatch = dispatch
			end
			local co = coroutine.running()
			local ctx = { co = co, mode = "s", skip = 0, arming = dispatch, stopped = false }
			s.watched[co] = ctx
			sethook(step_hook(s, ctx), "crl")
		end
		dispatch(...)
		-- (the line event of this end tells the hook that the handler returned)
	end
	p.dispatch = wrapper
	s.wrappers[p] = wrapper
end

-- Resumes a stopped handler; what it does next (stop again, wait, finish) comes back through
-- skynet's suspend, as after any resume.
local function resume(s, ctx)
	ctx.stopped = false
	local ok, err = pcall(s.suspend, ctx.co, s.resume(ctx.co))
	if not ok then
		s.print(err)
		skynet.error(err)
	end
	if coroutine.status(ctx.co) == "dead" and s.watched[ctx.co] then
		unwatch(s, ctx)
	end
end

local function stopped_handler(s)
	local waiting
	for _, ctx in pairs(s.watched) do
		if ctx.stopped then
			return ctx
		end
		waiting = ctx
	end
	return nil, waiting
end

-- Runs one line: an expression's values are printed, a statement's results too.
local function evaluate(s, line, co, names)
	local source = line
	if load("return " .. line, "=(debug)", "t", {}) then
		source = "return " .. line
	end
	local r
	if co then
		r = table.pack(injectcode(source, co, 0, names))
	else
		local env = setmetatable({}, {
			__index = function(_, k)
				local v = names[k]
				if v == nil then
					v = _G[k]
				end
				return v
			end,
			__newindex = _G,
		})
		local chunk, err = load(source, "=(debug)", "t", env)
		if chunk then
			r = table.pack(pcall(chunk))
		else
			r = table.pack(false, err)
		end
	end
	s.print(table.unpack(r, 2, r.n))
end

local function run_line(s, line)
	local ctx, waiting = stopped_handler(s)
	if ctx then
		if line == "s" or line == "n" then
			ctx.mode = line
			resume(s, ctx)
		elseif line == "c" then
			unwatch(s, ctx)
			resume(s, ctx)
		else
			evaluate(s, line, ctx.co, { print = s.print, _CO = ctx.co })
		end
	elseif waiting and (line == "s" or line == "n" or line == "c") then
		s.print "The watched handler is waiting (a call or a sleep); it stops again when it goes on"
	else
		evaluate(s, line, nil, s.env)
	end
end

-- Leaves debug mode: stopped handlers run on unwatched, watches not fired are removed, the
-- dispatcher is restored and the REMOTEDEBUG call answered.
local function leave(s)
	session = nil
	for p, wrapper in pairs(s.wrappers) do
		local dispatch = s.armed[p]
		if dispatch and p.dispatch == wrapper then
			p.dispatch = dispatch
		end
	end
	debug.setupvalue(s.dispatcher, s.slot, s.raw_dispatch)
	for co, ctx in pairs(s.watched) do
		s.watched[co] = nil
		if coroutine.status(co) ~= "dead" then
			sethook(co)
			if ctx.stopped then
				resume(s, ctx)
			end
		end
	end
	skynet.error "Leave debug mode"
	s.respond(true)
end

-- Before each message: the operator's lines waiting in the channel.
local function serve(s)
	for co, ctx in pairs(s.watched) do
		if coroutine.status(co) == "dead" then	-- the handler raised while watched
			unwatch(s, ctx)
		end
	end
	while session == s do
		if s.show_prompt then
			socketdriver.send(s.fd, s.prompt)
			s.show_prompt = false
		end
		local line = s.channel:read()
		if line == nil then
			return
		end
		if line == "cont" then
			return leave(s)
		end
		if line ~= "" then
			run_line(s, line)
		end
		s.show_prompt = true
	end
end

-- export: skynet.lua's { dispatch, suspend, resume }; fd: the console's socket; handle: the
-- agent's channel.
function M.start(export, fd, handle)
	assert(session == nil, "Already in debug mode")
	local dispatcher = export.dispatch
	local slot, raw_dispatch = upvalue(dispatcher, HOOKED)
	assert(slot, "Can't find the message dispatcher")
	local channel = debugchannel.connect(handle)
	skynet.error "Enter debug mode"
	local s = {
		fd = fd,
		channel = channel,
		suspend = export.suspend,
		resume = export.resume,
		dispatcher = dispatcher,
		slot = slot,
		raw_dispatch = raw_dispatch,
		respond = skynet.response(),
		watched = {},	-- thread -> its context
		armed = {},	-- protocol class -> its dispatch function, while a watch waits on it
		wrappers = {},	-- protocol class -> watch's wrapper put in its place
		prompt = home_prompt(),
		show_prompt = true,
	}
	function s.print(...)
		local n = select("#", ...)
		local t = { ... }
		for i = 1, n do
			t[i] = tostring(t[i])
		end
		t[n + 1] = "\n"	-- after a tab, as skynet's: "1\t2\t\n"
		socketdriver.send(fd, table.concat(t, "\t", 1, n + 1))
	end
	s.env = {
		print = s.print,
		watch = function(...)
			return watch(s, ...)
		end,
	}
	session = s
	debug.setupvalue(dispatcher, slot, function(...)
		if session == s then
			local ok, err = pcall(serve, s)
			if not ok then
				skynet.error("remotedebug: " .. tostring(err))
			end
		end
		return raw_dispatch(...)
	end)
	-- a message every IDLE while debugging: its dispatch serves the channel
	local function idle()
		if session == s then
			skynet.timeout(IDLE, idle)
		end
	end
	skynet.timeout(0, idle)
end

return M
