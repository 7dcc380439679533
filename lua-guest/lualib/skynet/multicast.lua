-- skynet.multicast: channels that deliver one publication to every subscriber, through the
-- multicastd service (started on first use).
--
--   local mc = require "skynet.multicast"
--   local ch = mc.new()                                  -- a new channel (its id: ch.channel)
--   local ch = mc.new { channel = id, dispatch = function(ch, source, ...) end,
--                       pack = skynet.pack, unpack = skynet.unpack }   -- an existing one
--   ch:subscribe()  ch:unsubscribe()  ch:publish(...)  ch:delete()
--
-- A publication reaches each subscriber as a PTYPE_MULTICAST message from the publisher: the
-- channel id (4 bytes, little-endian), then the packed values. Like skynet's, `publish` returns
-- once multicastd has handed the message to every subscriber.

local skynet = require "skynet"

local multicast = {}
local multicastd
local subscribed = {}	-- channel id -> the channel object that subscribed it here

local chan = {}
local chan_meta = {
	__index = chan,
	__gc = function(self)
		self:unsubscribe()
	end,
	__tostring = function(self)
		return string.format("[Multicast:%x]", self.channel)
	end,
}

function multicast.new(conf)
	assert(multicastd, "Init first")
	local self = {}
	conf = conf or self
	self.channel = conf.channel
	if self.channel == nil then
		self.channel = skynet.call(multicastd, "lua", "NEW")
	end
	self.__pack = conf.pack or skynet.pack
	self.__unpack = conf.unpack or skynet.unpack
	self.__dispatch = conf.dispatch
	return setmetatable(self, chan_meta)
end

function chan:delete()
	local c = assert(self.channel)
	skynet.send(multicastd, "lua", "DEL", c)
	self.channel = nil
	self.__subscribe = nil
end

function chan:publish(...)
	local c = assert(self.channel)
	skynet.call(multicastd, "lua", "PUB", c, skynet.tostring(self.__pack(...)))
end

function chan:subscribe()
	local c = assert(self.channel)
	if self.__subscribe then
		return	-- already
	end
	skynet.call(multicastd, "lua", "SUB", c)
	self.__subscribe = true
	subscribed[c] = self
end

function chan:unsubscribe()
	if not self.__subscribe then
		return
	end
	local c = assert(self.channel)
	skynet.send(multicastd, "lua", "USUB", c)
	self.__subscribe = nil
	subscribed[c] = nil
end

local function deliver(_, source, channel, data)
	local self = subscribed[channel]
	if self and self.__subscribe and self.__dispatch then
		self.__dispatch(self, source, self.__unpack(data))
	end
	-- else: unsubscribed while the publication was on its way
end

skynet.init(function()
	multicastd = skynet.uniqueservice("multicastd")
	skynet.register_protocol {
		name = "multicast",
		id = skynet.PTYPE_MULTICAST,
		unpack = function(msg, sz)
			local bytes = skynet.tostring(msg, sz)
			return string.unpack("<I4", bytes), bytes:sub(5)
		end,
		dispatch = deliver,
	}
end)

return multicast
