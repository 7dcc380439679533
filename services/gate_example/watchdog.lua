-- The watchdog of the gate example: it launches the built-in `gate`, opens it, starts one
-- `agent` service per client and tears it down when the client goes.
--
--   skybox run --start watchdog --path services/gate_example --set gate_port=8888
--
-- Settings (--set KEY=VALUE): gate_port (8888; 0 picks a free port), gate_address (127.0.0.1),
-- gate_maxclient (1024).

local skynet = require "skynet"

local gate
local agent = {}	-- fd -> agent address, or "starting" while the agent is being launched
local CMD = {}
local SOCKET = {}

local function close_agent(fd)
	local a = agent[fd]
	agent[fd] = nil
	skynet.call(gate, "lua", "kick", fd)	-- no-op for a client already gone
	if type(a) == "number" then
		skynet.send(a, "lua", "disconnect")	-- the agent exits
	end
end

function SOCKET.open(fd, addr)
	agent[fd] = "starting"
	local a = skynet.newservice("agent")
	if agent[fd] ~= "starting" then
		skynet.send(a, "lua", "disconnect")	-- the client went while the agent started
		return
	end
	agent[fd] = a
	-- the agent asks the gate to forward fd's frames to it
	local ok, err = pcall(skynet.call, a, "lua", "start", { gate = gate, client = fd, watchdog = skynet.self() })
	if not ok then
		skynet.error(string.format("agent for fd %d did not start: %s", fd, tostring(err)))
		close_agent(fd)
	end
end

function SOCKET.close(fd)
	close_agent(fd)
end

function SOCKET.error(fd, text)
	skynet.error(string.format("socket error on fd %d: %s", fd, tostring(text)))
	close_agent(fd)
end

function SOCKET.warning(fd, kib)
	skynet.error(string.format("fd %d: %d KiB waiting to be sent", fd, kib))
end

function SOCKET.data(fd, msg)
	-- only for clients in accept mode; this example forwards every client to an agent
end

-- an agent asks for its client to be closed ("quit")
function CMD.close(fd)
	close_agent(fd)
end

skynet.start(function()
	skynet.dispatch("lua", function(session, source, cmd, sub, ...)
		if cmd == "socket" then
			SOCKET[sub](...)	-- gate events are sends: no answer
		else
			local f = assert(CMD[cmd], cmd)
			if session == 0 then
				f(sub, ...)
			else
				skynet.ret(skynet.pack(f(sub, ...)))
			end
		end
	end)

	gate = skynet.newservice("gate")
	local address, port = skynet.call(gate, "lua", "open", {
		address = skynet.getenv("gate_address") or "127.0.0.1",
		port = tonumber(skynet.getenv("gate_port") or 8888),
		maxclient = tonumber(skynet.getenv("gate_maxclient") or 1024),
		nodelay = true,
		-- room for a burst of connections in the kernel's queue (skynet's default is 32)
		backlog = 1024,
	})
	skynet.error(string.format("watchdog: gate on %s:%d", address, port))
end)
