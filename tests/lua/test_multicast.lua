-- skynet.multicast on skybox's own multicastd: one publication reaches every subscriber (1000 of
-- them), from its publisher, with its values; unsubscribed and gone subscribers get nothing.
local skynet = require "skynet"
local mc = require "skynet.multicast"
local t = require "testlib"

local subscribers = {}

t.test("a new channel prints as skynet's", function()
	local ch = mc.new()
	t.eq(tostring(ch), string.format("[Multicast:%x]", ch.channel))
	ch:delete()
end)

t.test("1000 subscribers each get a publication once, from the publisher", function()
	local ch = mc.new()
	for i = 1, 1000 do
		subscribers[i] = skynet.newservice("mc_sub_svc")
		skynet.call(subscribers[i], "lua", "sub", ch.channel)
	end
	ch:publish("hello", 42, { k = "v" })
	ch:publish("again")
	for i = 1, 1000, 37 do
		local got = skynet.call(subscribers[i], "lua", "received")
		t.eq(got, { { skynet.self(), "hello", 42, { k = "v" } }, { skynet.self(), "again" } })
	end
	-- one unsubscribes, one exits: the others still get the next publication
	skynet.call(subscribers[1], "lua", "unsub")
	skynet.send(subscribers[2], "lua", "exit")
	skynet.sleep(5)
	ch:publish("third")
	t.eq(#skynet.call(subscribers[1], "lua", "received"), 2)
	t.eq(#skynet.call(subscribers[3], "lua", "received"), 3)
	t.eq(#skynet.call(subscribers[1000], "lua", "received"), 3)
	ch:delete()
	for i = 3, 1000 do
		skynet.send(subscribers[i], "lua", "exit")
	end
	skynet.send(subscribers[1], "lua", "exit")
end, { timeout = 6000 })

skynet.start(function()
	t.run()
end)
