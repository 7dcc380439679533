-- debug_console: skynet's text console for a running node, over TCP.
--
--   skynet.newservice("debug_console", 8000)                -- 127.0.0.1:8000
--   skynet.newservice("debug_console", "0.0.0.0", 8000)
--   skynet.newservice("debug_console", 0)                   -- any free port (logged)
--
-- It logs "Start debug console at ip:port" with the port really bound. Each connection gets
-- "Welcome to skynet console", then runs one command a line: words split on whitespace, the
-- first is the command. A reply is the command's output then "<CMD OK>", or the error then
-- "<CMD Error>". A table result is one "key\tvalue" line per key, sorted by tostring(key); a
-- value that is a table is its "k:v" pairs, sorted, joined by tabs. `help` lists the commands.
--
-- Addresses: ":0000000b" (hex handle), ".name" (a local name), or bare hex ("b").
-- Timeouts (stat, mem, gc): centiseconds, 300 by default; 0 or less waits without limit.
--
-- HTTP: a connection whose first line is "GET /cmd/arg1/arg2 HTTP/1.x" runs "cmd arg1 arg2"
-- (each path segment percent-decoded; "GET /" runs help); "POST" runs the body as the command
-- line. Unlike skynet, which writes the bare console output, skybox answers with a real HTTP/1.1
-- response (200 for <CMD OK>, 404 for an unknown command, 500 for <CMD Error>; text/plain with
-- Content-Length; the output, <CMD ...> line included, is the body) and then closes, so curl and
-- browsers work. To tell the two apart the welcome line waits for the first line at most
-- WELCOME_DELAY centiseconds (an HTTP client sends its request at once).
--
-- `debug address` attaches skynet's remote debugger (debug_agent and skynet.remotedebug): the
-- connection's lines go to the debugged service until `cont` (see skynet.remotedebug for what
-- is typed there); then <CMD OK>. It needs the line console: over HTTP it is an error. `snax`
-- needs skynet.snax, which skybox does not have (it is used when skynet's is on the path).
-- skynet's `shrtbl` is not here: skynet removed it in 2019 with the process-wide short string
-- table it reported on (memory.ssinfo); skybox has no such table to report on either.

local skynet = require "skynet"
local core = require "skynet.core"
local socket = require "skynet.socket"
require "skynet.manager"

local WELCOME = "Welcome to skynet console"
local WELCOME_DELAY = 10	-- centiseconds
local TIMEOUT = 300	-- centiseconds, for stat / mem / gc
local MAX_HEADER = 8192	-- bytes of HTTP request head

local args = table.pack(...)
local ip, port
if args.n >= 2 then
	ip, port = args[1], tonumber(args[2])
else
	ip, port = "127.0.0.1", tonumber(args[1])
end
assert(port, "debug_console needs a port")

local COMMAND = {}	-- name -> function(words 2..n)
local COMMANDX = {}	-- name -> function({ [1] = whole line, words 2..n, fd = socket id })

------------------------------------------------------------------------------------------------
-- Output

local function format_table(t)
	local keys = {}
	for k in pairs(t) do
		keys[#keys + 1] = k
	end
	table.sort(keys, function(a, b)
		return tostring(a) < tostring(b)
	end)
	local out = {}
	for i, k in ipairs(keys) do
		out[i] = string.format("%s:%s", tostring(k), tostring(t[k]))
	end
	return table.concat(out, "\t")
end

local function dump_list(print, list)
	local keys = {}
	for k in pairs(list) do
		keys[#keys + 1] = k
	end
	table.sort(keys, function(a, b)
		return tostring(a) < tostring(b)
	end)
	for _, k in ipairs(keys) do
		local v = list[k]
		if type(v) == "table" then
			print(k, format_table(v))
		else
			print(k, tostring(v))
		end
	end
end

local function split_cmdline(cmdline)
	local words = {}
	for w in cmdline:gmatch "%S+" do
		words[#words + 1] = w
	end
	return words
end

-- What a command returns when it has written its own outcome (debug, whose session ended while
-- it waited for a line): docmd adds nothing.
local SAID = setmetatable({}, { __name = "said" })

-- Runs one command line; output through print. `unread` (nil over HTTP) gives a line back to the
-- connection, read next. Returns "ok", "error" or "unknown".
local function docmd(cmdline, print, fd, unread)
	local words = split_cmdline(cmdline)
	local name = words[1]
	local f = COMMAND[name]
	local ok, result
	if f then
		ok, result = pcall(f, table.unpack(words, 2))
	else
		f = COMMANDX[name]
		if f then
			words.fd = fd
			words.unread = unread
			words[1] = cmdline
			ok, result = pcall(f, words)
		else
			print "Invalid command, type help for command list"
			print "nil"
			print "<CMD Error>"
			return "unknown"
		end
	end
	if ok and result == SAID then
		return "error"
	elseif ok then
		if result ~= nil then
			if type(result) == "table" then
				dump_list(print, result)
			else
				print(tostring(result))
			end
		end
		print "<CMD OK>"
		return "ok"
	end
	print(tostring(result))
	print "<CMD Error>"
	return "error"
end

------------------------------------------------------------------------------------------------
-- Arguments

-- ":hex" / ".name" / bare hex -> handle (number) of a service that exists now
local function adjust_address(text)
	assert(type(text) == "string", "Need an address")
	local handle
	local prefix = text:sub(1, 1)
	if prefix == "." then
		handle = skynet.localname(text)
		if not handle then
			error("Not a valid name: " .. text, 0)
		end
	else
		local hex = prefix == ":" and text:sub(2) or text
		handle = hex:match "^%x+$" and tonumber(hex, 16)
		if not handle or handle >= (1 << 32) then
			error("Need an address: " .. text, 0)
		end
		if prefix ~= ":" then
			handle = handle | (skynet.harbor(skynet.self()) << 24)
		end
		if not skynet.localname(skynet.address(handle)) then
			error("No service at " .. skynet.address(handle), 0)
		end
	end
	return handle
end

local function timeout(ti)
	if ti then
		ti = tonumber(ti)
		if not ti then
			error("Need a timeout in centiseconds", 0)
		end
		if ti <= 0 then
			return nil
		end
		return ti
	end
	return TIMEOUT
end

local function toboolean(x)
	return x and (x == "true" or x == "on")
end

------------------------------------------------------------------------------------------------
-- Commands

local HELP = {
	help = "this list",
	quit = "quit : close this connection",
	list = "list : every service the launcher started",
	stat = "stat [ti] : debug STAT of every service (ti centiseconds, default 300)",
	mem = "mem [ti] : Lua memory of every service",
	gc = "gc [ti] : every Lua service collects garbage, then mem",
	info = "info address ... : the service's skynet.info_func result",
	exit = "exit address : the Lua service exits (debug EXIT)",
	kill = "kill address : kill a service",
	start = "start name ... : launch a new Lua service",
	log = "log name ... : launch a new Lua service with its message log on",
	service = "service : the unique services (service_mgr)",
	task = "task address : tracebacks of the service's waiting threads",
	uniqtask = "uniqtask address : the same, grouped by traceback",
	inject = "inject address file.lua ... : run a Lua file inside the service",
	dbgcmd = "dbgcmd address cmd ... : send any debug command",
	logon = "logon address : log the service's messages to logpath/<handle>.log",
	logoff = "logoff address : stop that log",
	signal = "signal address [sig] : 0 interrupts the running handler, 1 logs its memory",
	ping = "ping address : round trip of a debug PING, in centiseconds",
	call = "call address args... : skynet.call(address, \"lua\", args...), args as Lua expressions",
	trace = "trace address [proto] [on|off] : request tracing for a protocol (default lua)",
	netstat = "netstat : every socket of the node",
	getenv = "getenv name : skynet.getenv(name)",
	setenv = "setenv name value : skynet.setenv(name, value)",
	mqlen = "mqlen address : the service's message queue length",
	killtask = "killtask address threadname : kill a waiting thread, threadname as task lists it",
	snax = "snax name ... : launch a snax service (skynet.snax is not in skybox)",
	debug = "debug address : debug a lua service (watch(\"lua\"), s, n, c, cont)",
	cmem = "cmem : memory of each service's runtime, total and blocks",
	jmem = "jmem : jemalloc statistics (none: skybox does not link jemalloc)",
	dumpheap = "dumpheap : jemalloc heap dump (none: skybox does not link jemalloc)",
	profactive = "profactive [on|off] : jemalloc heap profiling (never active here)",
	clearcache = "clearcache : empty the code cache of files loaded from disk",
	profile = "profile [address] : the profile (and tenant) each service (or one) runs under",
}

function COMMAND.help()
	return HELP
end

function COMMAND.list()
	return skynet.call(".launcher", "lua", "LIST")
end

function COMMAND.profile(address)
	if address then
		return core.command("PROFILE", skynet.address(adjust_address(address))) or "no such service"
	end
	local list = {}
	for addr in pairs(skynet.call(".launcher", "lua", "LIST")) do
		list[addr] = core.command("PROFILE", addr)
	end
	return list
end

function COMMAND.stat(ti)
	return skynet.call(".launcher", "lua", "STAT", timeout(ti))
end

function COMMAND.mem(ti)
	return skynet.call(".launcher", "lua", "MEM", timeout(ti))
end

function COMMAND.gc(ti)
	return skynet.call(".launcher", "lua", "GC", timeout(ti))
end

function COMMAND.kill(address)
	return skynet.call(".launcher", "lua", "KILL", adjust_address(address))
end

local function started(name, ok, addr)
	if not ok then
		return "Failed"
	elseif addr then
		return { [skynet.address(addr)] = name }
	end
	return "Exit"
end

function COMMAND.start(name, ...)
	assert(name, "Need a service name")
	return started(name, pcall(skynet.newservice, name, ...))
end

function COMMAND.log(name, ...)
	assert(name, "Need a service name")
	return started(name, pcall(skynet.call, ".launcher", "lua", "LOGLAUNCH", "snlua", name, ...))
end

function COMMAND.service()
	return skynet.call(".service", "lua", "LIST")
end

function COMMAND.exit(address)
	skynet.send(adjust_address(address), "debug", "EXIT")
end

function COMMAND.inject(address, filename, ...)
	address = adjust_address(address)
	assert(filename, "Need a file name")
	local blocking = require "skynet.blocking"
	local source = blocking.readfile(filename)
	if not source then
		return "Can't open " .. filename
	end
	local ok, output = skynet.call(address, "debug", "RUN", source, filename, ...)
	if ok == false then
		error(output, 0)
	end
	return output
end

function COMMAND.task(address)
	return skynet.call(adjust_address(address), "debug", "TASK")
end

function COMMAND.uniqtask(address)
	return skynet.call(adjust_address(address), "debug", "UNIQTASK")
end

function COMMAND.info(address, ...)
	return skynet.call(adjust_address(address), "debug", "INFO", ...)
end

function COMMAND.dbgcmd(address, cmd, ...)
	assert(cmd, "Need a debug command")
	return skynet.call(adjust_address(address), "debug", cmd, ...)
end

function COMMAND.logon(address)
	core.command("LOGON", skynet.address(adjust_address(address)))
end

function COMMAND.logoff(address)
	core.command("LOGOFF", skynet.address(adjust_address(address)))
end

function COMMAND.signal(address, sig)
	local param = skynet.address(adjust_address(address))
	if sig then
		assert(tonumber(sig), "Need a signal number")
		param = param .. " " .. sig
	end
	core.command("SIGNAL", param)
end

function COMMAND.ping(address)
	address = adjust_address(address)
	local ti = skynet.now()
	skynet.call(address, "debug", "PING")
	return tostring(skynet.now() - ti)
end

function COMMAND.trace(address, proto, flag)
	address = adjust_address(address)
	if flag == nil then
		if proto == "on" or proto == "off" then
			proto = toboolean(proto)
		end
	else
		flag = toboolean(flag)
	end
	skynet.call(address, "debug", "TRACELOG", proto, flag)
end

function COMMAND.mqlen(address)
	return core.command("MQLEN", skynet.address(adjust_address(address)))
end

function COMMAND.getenv(name)
	assert(name, "Need a name")
	return skynet.getenv(name)
end

function COMMAND.setenv(name, value)
	assert(name and value, "Need a name and a value")
	skynet.setenv(name, value)
end

function COMMANDX.call(cmd)
	local address = adjust_address(cmd[2])
	local rest = assert(cmd[1]:match "%S+%s+%S+%s(.+)", "Need arguments")
	local args_func = load("return " .. rest, "debug console", "t", {})
	if not args_func then
		error("Invalid arguments: " .. rest, 0)
	end
	local a = table.pack(pcall(args_func))
	if not a[1] then
		error(a[2], 0)
	end
	return table.pack(skynet.call(address, "lua", table.unpack(a, 2, a.n)))
end

local function bytes(n)
	if n == nil or n == 0 then
		return nil
	elseif n < 1024 then
		return tostring(n)
	elseif n < 1024 * 1024 then
		return string.format("%.1fK", n / 1024)
	end
	return string.format("%.1fM", n / (1024 * 1024))
end

local function age(now, t)
	if t == nil or t == 0 then
		return nil
	end
	t = now - t
	if t < 6000 then
		return tostring(t / 100) .. "s"
	end
	local hour = t // (100 * 60 * 60)
	t = t - hour * 100 * 60 * 60
	local min = t // (100 * 60)
	t = t - min * 100 * 60
	return string.format("%s%d:%02d", hour == 0 and "" or (hour .. ":"), min, t // 100)
end

function COMMAND.netstat()
	local now = skynet.now()
	local list = socket.netstat()
	for _, info in ipairs(list) do
		info.address = skynet.address(info.address)
		info.read = bytes(info.read)
		info.write = bytes(info.write)
		info.wbuffer = bytes(info.wbuffer)
		info.rtime = age(now, info.rtime)
		info.wtime = age(now, info.wtime)
	end
	return list
end

function COMMAND.killtask(address, threadname)
	assert(threadname, "Need a thread name (as task lists it)")
	return skynet.call(adjust_address(address), "debug", "KILLTASK", threadname)
end

-- snax is not part of skybox; should a skynet.snax module be on the path, it is used.
function COMMAND.snax(name, ...)
	local ok, snax = pcall(require, "skynet.snax")
	if not ok then
		error("snax: skybox has no snax", 0)
	end
	assert(name, "Need a service name")
	local s = snax.newservice(name, ...)
	return { [skynet.address(s.handle)] = name }
end
-- As skynet's: a debug_agent attaches to the service, and the connection's lines go to it until
-- `cont` (or until the connection closes, which sends `cont`). skynet reads those lines in a fork
-- while this command waits for the session to end, and waits for that reader, which is stuck
-- in its read until the operator's next line when the attach fails. Here the agent first tells
-- whether the attach worked, so a failed one is an error at once, and this command reads the
-- lines itself; a session that ends on its own (the service exits) is said on the connection at
-- once, as this command's error, and the next line the operator types is given back to the
-- console as a command.
function COMMANDX.debug(cmd)
	local fd, unread = cmd.fd, cmd.unread
	if not unread then
		error("debug: needs the line console (telnet, nc), not HTTP", 0)
	end
	local address = adjust_address(cmd[2])
	local agent = skynet.newservice "debug_agent"
	local token = {}	-- this command waits on it for the session's end
	local ended	-- { ok, err } once the agent's start call returns
	local reading = false
	local said = false	-- the session's end was written while this command read
	skynet.fork(function()
		local ok, done, err = pcall(skynet.call, agent, "lua", "start", address, fd)
		if not ok then
			done, err = false, "Debugger attach failed"
		end
		ended = { done, err }
		if reading then
			if not done then
				socket.write(fd, "\n" .. tostring(err) .. "\n<CMD Error>\n")
				said = true
			end
		else
			skynet.wakeup(token)
		end
	end)
	local ok, attached, why = pcall(skynet.call, agent, "lua", "attached")
	if ok and not attached then
		error(why or "Debugger attach failed", 0)
	end
	-- not ok: an agent without `attached` (skynet's own, on the service path); as on skynet, the
	-- session's end is what tells, said at once if it comes while a line is awaited
	while not ended do
		reading = true
		local line = socket.readline(fd, "\n")
		reading = false
		if ended then
			if line then
				unread(line)
			end
			break
		end
		if not line then
			pcall(skynet.send, agent, "lua", "cmd", "cont")	-- the operator went away
			break
		end
		line = line:gsub("\r$", "")
		pcall(skynet.send, agent, "lua", "cmd", line)
		if line == "cont" then
			break
		end
	end
	if not ended then
		skynet.wait(token)
	end
	if said then
		return SAID
	elseif not ended[1] then
		error(ended[2], 0)
	end
end
-- skynet.memory: what each service's runtime holds; jemalloc's own figures are not there (skybox
-- does not link jemalloc), as in a skynet built without it.
function COMMAND.cmem()
	local memory = require "skynet.memory"
	local out = {}
	for handle, bytes in pairs(memory.info()) do
		out[skynet.address(handle)] = bytes
	end
	out.total = memory.total()
	out.block = memory.block()
	return out
end

function COMMAND.jmem()
	local out = {}
	for name, bytes in pairs(require("skynet.memory").jestat()) do
		out[name] = string.format("%11d  %8.2f Mb", bytes, bytes / 1048576)
	end
	return out
end

function COMMAND.dumpheap()
	require("skynet.memory").dumpheap()
end

function COMMAND.profactive(flag)
	local memory = require "skynet.memory"
	if flag ~= nil then
		memory.profactive(flag == "on" or flag == "true")
	end
	return memory.profactive() and "heap profiling is active" or "heap profiling is not active"
end
function COMMAND.clearcache()
	require("skynet.codecache").clear()
end

------------------------------------------------------------------------------------------------
-- Connections

local function percent_decode(s)
	return (s:gsub("%%(%x%x)", function(h)
		return string.char(tonumber(h, 16))
	end))
end

local STATUS = {
	ok = "200 OK",
	unknown = "404 Not Found",
	error = "500 Internal Server Error",
	bad = "400 Bad Request",
}

local function http_reply(id, outcome, body)
	socket.write(id, string.format(
		"HTTP/1.1 %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\nConnection: close\r\n\r\n",
		STATUS[outcome], #body))
	socket.write(id, body)
end

-- The rest of an HTTP request whose first line is `line`: runs its command, answers, and the
-- caller closes the connection.
local function http(id, line)
	local method, target = line:match "^(%u+)%s+(%S+)"
	local length = 0
	local head = #line
	while true do
		local h = socket.readline(id, "\n")
		if not h then
			return
		end
		h = h:gsub("\r$", "")
		if h == "" then
			break
		end
		head = head + #h
		if head > MAX_HEADER then
			return http_reply(id, "bad", "Request header too large\n")
		end
		local v = h:match "^[Cc][Oo][Nn][Tt][Ee][Nn][Tt]%-[Ll][Ee][Nn][Gg][Tt][Hh]%s*:%s*(%d+)"
		if v then
			length = tonumber(v)
		end
	end
	local cmdline
	if method == "GET" and target then
		local path = target:gsub("[?#].*", "")
		local words = {}
		for seg in path:gmatch "[^/]+" do
			words[#words + 1] = percent_decode(seg)
		end
		cmdline = #words == 0 and "help" or table.concat(words, " ")
	elseif method == "POST" then
		if length > 0 then
			cmdline = socket.read(id, length)
			if not cmdline then
				return
			end
		else
			cmdline = ""
		end
	else
		return http_reply(id, "bad", "Bad request\n")
	end
	local out = {}
	local function print(...)
		local t = table.pack(...)
		for i = 1, t.n do
			t[i] = tostring(t[i])
		end
		out[#out + 1] = table.concat(t, "\t", 1, t.n)
		out[#out + 1] = "\n"
	end
	local outcome = docmd(cmdline, print, id)
	http_reply(id, outcome, table.concat(out))
end

local function console_main_loop(id, print)
	-- The welcome line waits for the first line (an HTTP request gets none) or WELCOME_DELAY.
	local greeted = false
	local first = true
	local function welcome()
		if not greeted then
			greeted = true
			print(WELCOME)
		end
	end
	skynet.timeout(WELCOME_DELAY, function()
		if first then
			welcome()
		end
	end)
	local function is_http(line)
		return line:find "^GET " or line:find "^POST "
	end
	local unread_line	-- a line a command gave back (debug), read before the socket
	local function unread(line)
		unread_line = line
	end
	local ok, err = pcall(function()
		while true do
			local line = unread_line or socket.readline(id, "\n")
			unread_line = nil
			if not line then
				break
			end
			if first then
				first = false
				if is_http(line) and not greeted then
					greeted = true	-- an HTTP client: no welcome line before the response
					http(id, line)
					break
				end
				welcome()
			end
			if is_http(line) then
				-- a request that came after the welcome line: answered all the same
				http(id, line)
				break
			end
			local cmd = line:match "^%s*(%S+)"
			if cmd == "quit" then
				print "<CMD OK>"
				break
			elseif cmd then
				docmd(line, print, id, unread)
			end
		end
	end)
	first = false
	if not ok then
		skynet.error(string.format("debug console %d: %s", id, tostring(err)))
	end
	socket.close(id)
end

skynet.start(function()
	local listen_id, addr, real_port = socket.listen(ip, port)
	skynet.error(string.format("Start debug console at %s:%s", addr or ip, real_port or port))
	socket.start(listen_id, function(id, peer)
		local function print(...)
			local t = table.pack(...)
			for i = 1, t.n do
				t[i] = tostring(t[i])
			end
			socket.write(id, table.concat(t, "\t", 1, t.n))
			socket.write(id, "\n")
		end
		skynet.fork(function()
			if socket.start(id) then
				skynet.error(string.format("debug console: %s connected (fd = %d)", peer, id))
				console_main_loop(id, print)
				skynet.error(string.format("debug console: %s disconnected (fd = %d)", peer, id))
			end
		end)
	end)
end)
