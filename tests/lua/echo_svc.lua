-- echo_svc: a general purpose helper service for the suites.
-- Launched as skynet.newservice("echo_svc", label?). Speaks "lua" (commands below) and
-- "client" (PTYPE_CLIENT: a text request answered with the upper-cased text).
local skynet = require "skynet"
require "skynet.manager"

local label = ...

local CMD = {}
local NORET = {}

local pushed = {}
local sources = {}
local held = {}
local state = {}
local noop = { count = 0, maxq = 0 }

-- session/source of the request being dispatched; read them before the handler yields.
local cur_session, cur_source

-- a global that debug RUN snippets can look at
ECHO_GLOBAL = { label = label }

function CMD.echo(...)
	return ...
end

function CMD.label()
	return label
end

function CMD.sleep(ti, ...)
	skynet.sleep(ti)
	return ...
end

function CMD.error(msg)
	error(msg or "echo_svc: requested error")
end

function CMD.exit()
	skynet.exit()
end

function CMD.push(v)
	pushed[#pushed + 1] = v
end

function CMD.take()
	local r = pushed
	pushed = {}
	return r
end

function CMD.whoami()
	return cur_session, cur_source, skynet.self()
end

function CMD.context()
	return skynet.context()
end

function CMD.record_source(tag)
	sources[#sources + 1] = { tag = tag, source = cur_source, session = cur_session }
	if cur_session ~= 0 then
		return cur_source
	end
end

function CMD.sources()
	local r = sources
	sources = {}
	return r
end

-- keep the response for later (release / reject)
function CMD.hold()
	held[#held + 1] = skynet.response()
	return NORET
end

-- response("TEST") of every held response: true while the requester can still be answered
function CMD.held()
	local r = {}
	for i, resp in ipairs(held) do
		r[i] = resp("TEST")
	end
	return r
end

function CMD.release(...)
	local r = {}
	for i, resp in ipairs(held) do
		r[i] = resp(true, ...)
	end
	held = {}
	return r
end

function CMD.reject()
	local r = {}
	for i, resp in ipairs(held) do
		r[i] = resp(false)
	end
	held = {}
	return r
end

-- answer from a timer coroutine, ti centiseconds later
function CMD.respond_later(ti, ...)
	local resp = skynet.response()
	local args = table.pack(...)
	skynet.timeout(ti, function()
		resp(true, table.unpack(args, 1, args.n))
	end)
	return NORET
end

-- answer from a forked coroutine
function CMD.fork_respond(...)
	local resp = skynet.response()
	skynet.fork(function(...)
		resp(true, ...)
	end, ...)
	return NORET
end

function CMD.respond_twice(v)
	local resp = skynet.response()
	local first = resp(true, v)
	local ok, err = pcall(resp, true, v)
	state.respond_twice = { first = first, second_ok = ok, err = tostring(err) }
	return NORET
end

function CMD.ret_twice(v)
	local first = skynet.ret(skynet.pack(v))
	local ok = pcall(skynet.ret, skynet.pack(v))
	state.ret_twice = { first = first, second_ok = ok }
	return NORET
end

-- answer with an empty message
function CMD.rawret()
	skynet.ret()
	return NORET
end

function CMD.state(key)
	return state[key]
end

function CMD.call(addr, ...)
	return skynet.call(addr, "lua", ...)
end

function CMD.send(addr, ...)
	skynet.send(addr, "lua", ...)
end

function CMD.launch(name, ...)
	return skynet.newservice(name, ...)
end

-- fork a call to addr (its result is discarded), then exit after ti centiseconds
function CMD.call_then_exit(addr, ti, ...)
	local args = table.pack(...)
	skynet.fork(function()
		pcall(skynet.call, addr, "lua", table.unpack(args, 1, args.n))
	end)
	skynet.fork(function()
		skynet.sleep(ti)
		skynet.exit()
	end)
end

function CMD.register(name)
	skynet.register(name)
	return skynet.localname(name)
end

function CMD.getenv(key)
	return skynet.getenv(key)
end

function CMD.setenv(key, value)
	skynet.setenv(key, value)
end

-- busy-wait ms milliseconds without yielding: keeps a worker thread busy
function CMD.block(ms)
	local hpc = skynet.hpc
	if hpc then
		local t0 = hpc()
		while hpc() - t0 < ms * 1000000 do end
	else
		local t0 = os.clock()
		while os.clock() - t0 < ms / 1000 do end
	end
end

-- wake addr with a message, then keep this worker busy for ms milliseconds
function CMD.send_then_block(addr, ms)
	skynet.send(addr, "lua", "noop")
	CMD.block(ms)
end

function CMD.noop()
	noop.count = noop.count + 1
	local q = skynet.mqlen()
	if q > noop.maxq then
		noop.maxq = q
	end
end

function CMD.noop_stats()
	return noop.count, noop.maxq
end

function CMD.unpack_ptr(msg, sz)
	local ok, err = pcall(skynet.unpack, msg, sz)
	return ok, type(err), tostring(err)
end

function CMD.mqlen()
	return skynet.mqlen()
end

-- n calls to every address in list (concurrently, one coroutine per address);
-- returns how many answers matched.
function CMD.hammer(list, n)
	local good, pending = 0, #list
	for _, addr in ipairs(list) do
		skynet.fork(function()
			for i = 1, n do
				local tag = string.format("%s-%d", skynet.address(skynet.self()), i)
				local ok, a, b = pcall(skynet.call, addr, "lua", "echo", tag, i)
				if ok and a == tag and b == i then
					good = good + 1
				end
			end
			pending = pending - 1
		end)
	end
	while pending > 0 do
		skynet.sleep(1)
	end
	return good
end

-- nested calls along a path of services: returns value + #path - idx + 1
function CMD.relay(path, idx, value)
	if idx > #path then
		return value
	end
	return skynet.call(path[idx], "lua", "relay", path, idx + 1, value + 1)
end

-- A fork that fails while this handler sleeps: the callback fails after the fork, but this
-- request still belongs to its live handler, which answers it.
function CMD.fork_fails_then(value)
	skynet.fork(function() error("echo_svc: the fork fails") end)
	skynet.sleep(5)
	return value
end

skynet.start(function()
	skynet.info_func(function(...)
		return { name = "echo_svc", label = label, args = table.pack(...) }
	end)
	skynet.register_protocol {
		name = "client",
		id = skynet.PTYPE_CLIENT,
		unpack = skynet.tostring,
		dispatch = function(session, source, msg)
			skynet.ret(string.upper(msg))
		end,
	}
	skynet.dispatch("lua", function(session, source, cmd, ...)
		local f = CMD[cmd]
		if not f then
			error("echo_svc: unknown command " .. tostring(cmd))
		end
		cur_session, cur_source = session, source
		if session == 0 then
			f(...)
		else
			local r = table.pack(f(...))
			if r[1] ~= NORET then
				skynet.ret(skynet.pack(table.unpack(r, 1, r.n)))
			end
		end
	end)
end)
