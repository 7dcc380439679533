-- The network benchmark's server (benches/netload.rs), the same file on skybox and on skynet:
-- `gate` on `bench_port`, one bench_agent per connection.
local skynet = require "skynet"

local gate
local agents = {}
local SOCKET = {}

function SOCKET.open(fd)
	local agent = skynet.newservice("bench_agent")
	agents[fd] = agent
	skynet.call(agent, "lua", "start", gate, fd)
end

local function gone(fd)
	local agent = agents[fd]
	agents[fd] = nil
	if agent then
		skynet.send(agent, "lua", "stop")
	end
end

SOCKET.close = gone
SOCKET.error = gone
function SOCKET.warning() end
function SOCKET.data() end

skynet.start(function()
	skynet.dispatch("lua", function(_, _, cmd, sub, ...)
		if cmd == "socket" then
			SOCKET[sub](...)
		end
	end)
	gate = skynet.newservice("gate")
	local port = assert(tonumber(skynet.getenv("bench_port")), "bench_port")
	skynet.call(gate, "lua", "open", { address = "127.0.0.1", port = port, maxclient = 8192, nodelay = true, backlog = 1024 })
	skynet.error("bench gate on " .. port)
end)
