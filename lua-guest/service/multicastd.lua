-- multicastd: the channels of skynet.multicast (see there). A channel is a set of subscriber
-- addresses; a publication is redirected to each of them from its publisher. A subscriber that
-- has gone is dropped from its channels when a publication cannot reach it.

local skynet = require "skynet"
require "skynet.manager"

local harbor = skynet.harbor(skynet.self())
local created = 0
local channels = {}	-- id -> { [address] = true }

local CMD = {}

-- Channel ids as skynet numbers them: the creating node's harbor id in the low byte.
function CMD.NEW()
	local id = created * 256 + harbor
	created = created + 1
	channels[id] = {}
	return id
end

function CMD.DEL(_, id)
	channels[id] = nil
end

function CMD.SUB(source, id)
	local subscribers = channels[id]
	if not subscribers then
		subscribers = {}
		channels[id] = subscribers
	end
	subscribers[source] = true
end

function CMD.USUB(source, id)
	local subscribers = channels[id]
	if subscribers then
		subscribers[source] = nil
	end
end

function CMD.PUB(source, id, bytes)
	local subscribers = channels[id]
	if not subscribers then
		return
	end
	local message = string.pack("<I4", id) .. bytes
	for address in pairs(subscribers) do
		if not pcall(skynet.redirect, address, source, "multicast", 0, message) then
			subscribers[address] = nil
		end
	end
end

skynet.start(function()
	skynet.register_protocol {
		name = "multicast",
		id = skynet.PTYPE_MULTICAST,
	}
	skynet.dispatch("lua", function(session, source, cmd, ...)
		local f = assert(CMD[cmd], "multicastd: unknown command")
		local result = f(source, ...)
		if session ~= 0 then
			skynet.ret(skynet.pack(result))
		end
	end)
end)
