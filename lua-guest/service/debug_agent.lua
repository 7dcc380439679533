-- debug_agent: the debug console's go-between for one `debug address` session (skynet's service
-- of the same name and commands; see skynet.remotedebug for the debugged side).
--
--   start(address, fd)  creates a skynet.debugchannel and sends `address` the debug command
--                       REMOTEDEBUG fd handle; answers when the session ends: true, or false and
--                       "Debugger attach failed"; then the agent exits
--   cmd(line)           passes an operator's line to the debugged service, through the channel
--   ping()              answers while the agent lives
--   attached()          (skybox) answers as soon as the attach is known: true, or false and the
--                       reason; the console waits for it before it reads the operator's lines,
--                       so a service that cannot be debugged is an error at once
--
-- skynet's REMOTEDEBUG call is answered only when the session ends, so the agent learns that the
-- attach worked from a debug PING sent right after it: the service handles the two in order, and
-- their answers come back in order, so a failed attach is known before the PING's answer.

local skynet = require "skynet"
local debugchannel = require "skynet.debugchannel"

local ATTACH_FAILED = "Debugger attach failed"

local CMD = {}
local channel
local attached	-- nil until known; then true, or why not
local attach_waiters = {}

local function settle(state)
	if attached ~= nil then
		return
	end
	attached = state
	for _, respond in ipairs(attach_waiters) do
		if state == true then
			respond(true, true)
		else
			respond(true, false, state)
		end
	end
	attach_waiters = {}
end

function CMD.start(address, fd)
	assert(channel == nil, "start more than once")
	skynet.error(string.format("Attach to :%08x", address))
	local handle
	channel, handle = debugchannel.create()
	skynet.fork(function()
		-- runs once REMOTEDEBUG is sent: the PING follows it
		local ok = pcall(skynet.call, address, "debug", "PING")
		settle(ok or ATTACH_FAILED)
	end)
	local ok = pcall(skynet.call, address, "debug", "REMOTEDEBUG", fd, handle)
	if attached == nil then
		settle(ok or ATTACH_FAILED)
	end
	if ok then
		skynet.ret(skynet.pack(true))
	elseif attached == true then
		skynet.ret(skynet.pack(false, string.format("Debugger detached: :%08x is gone", address)))
	else
		skynet.ret(skynet.pack(false, ATTACH_FAILED))
	end
	skynet.exit()
end

function CMD.attached()
	if attached == nil then
		attach_waiters[#attach_waiters + 1] = skynet.response()
	elseif attached == true then
		skynet.ret(skynet.pack(true))
	else
		skynet.ret(skynet.pack(false, attached))
	end
end

function CMD.cmd(cmdline)
	channel:write(cmdline)
end

function CMD.ping()
	skynet.ret()
end

skynet.start(function()
	skynet.dispatch("lua", function(_, _, cmd, ...)
		local f = assert(CMD[cmd], cmd)
		f(...)
	end)
end)
