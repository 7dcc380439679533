-- The bank: accounts and transfers (a refused transfer answers false, reason). Transfers go through a skynet.queue, so a transfer that
-- waits (the teller is slow) never interleaves with another one.
local skynet = require "skynet"
local queue = require "skynet.queue"

local accounts = {}
local teller = queue()
local CMD = {}

function CMD.open(name, amount)
	assert(accounts[name] == nil, "account exists: " .. name)
	accounts[name] = amount
	return amount
end

function CMD.balance(name)
	return accounts[name]
end

function CMD.transfer(from, to, amount)
	return teller(function()
		local have = assert(accounts[from], "no account " .. from)
		assert(accounts[to], "no account " .. to)
		skynet.sleep(1)	-- the teller counts the coins
		if have < amount then
			return false, string.format("%s cannot pay %d to %s (has %d)", from, amount, to, have)
		end
		accounts[from] = have - amount
		accounts[to] = accounts[to] + amount
		return true, accounts[from]
	end)
end

function CMD.report()
	local total = 0
	for _, v in pairs(accounts) do
		total = total + v
	end
	return accounts, total
end

skynet.start(function()
	skynet.dispatch("lua", function(session, source, cmd, ...)
		local f = assert(CMD[cmd], cmd)
		skynet.retpack(f(...))
	end)
end)
