-- A bank client: opens an account with 100 coins, then pays the others a few times.
local skynet = require "skynet"

local me = ...

local function run(names)
	local bank = skynet.queryservice("bank")
	skynet.call(bank, "lua", "open", me, 100)
	skynet.error(me .. " opens an account with 100 coins")
	-- wait until everybody has an account
	for _, other in ipairs(names) do
		while not skynet.call(bank, "lua", "balance", other) do
			skynet.sleep(1)
		end
	end

	local paid, refused = 0, 0
	local pending = 0
	for round = 1, 3 do
		for _, other in ipairs(names) do
			if other ~= me then
				local amount = (#me * round * 7) % 40 + 5
				pending = pending + 1
				skynet.fork(function()
					local ok = skynet.call(bank, "lua", "transfer", me, other, amount)
					if ok then paid = paid + amount else refused = refused + 1 end
					pending = pending - 1
				end)
			end
		end
		skynet.sleep(2)
	end
	-- one payment far too big: the bank refuses it
	local ok, why = skynet.call(bank, "lua", "transfer", me, names[1] == me and names[2] or names[1], 1000)
	if not ok then
		refused = refused + 1
		if me == names[1] then
			skynet.error("bank says: " .. why)
		end
	end
	while pending > 0 do
		skynet.sleep(1)
	end
	local left = skynet.call(bank, "lua", "balance", me)
	return string.format("%s paid %d coins in total, had %d payment(s) refused, and now holds %d",
		me, paid, refused, left)
end

skynet.start(function()
	skynet.dispatch("lua", function(session, source, cmd, ...)
		assert(cmd == "run")
		skynet.retpack(run(...))
	end)
end)
