-- A small redis client over skynet.socket: one connection, one command at a time (a queue keeps
-- each reply with its command), replies decoded from RESP. Errors raise.
--
--   local redis = require "redis"
--   local db = redis.connect("127.0.0.1", 6379)
--   db:call("SET", "k", "v")
local socket = require "skynet.socket"
local queue = require "skynet.queue"

local redis = {}

local function encode(args)
	local out = { "*" .. #args .. "\r\n" }
	for i = 1, #args do
		local a = tostring(args[i])
		out[#out + 1] = "$" .. #a .. "\r\n" .. a .. "\r\n"
	end
	return table.concat(out)
end

local function closed()
	error("redis: connection closed", 0)
end

local function reply(fd)
	local line = socket.readline(fd, "\r\n") or closed()
	local kind, rest = line:sub(1, 1), line:sub(2)
	if kind == "+" then
		return rest
	elseif kind == "-" then
		error("redis: " .. rest, 0)
	elseif kind == ":" then
		return math.tointeger(tonumber(rest))
	elseif kind == "$" then
		local n = tonumber(rest)
		if n < 0 then
			return nil
		end
		local data = socket.read(fd, n + 2) or closed()
		return data:sub(1, n)
	elseif kind == "*" then
		local n = tonumber(rest)
		if n < 0 then
			return nil
		end
		local t = {}
		for i = 1, n do
			t[i] = reply(fd)
		end
		return t
	end
	error("redis: bad reply " .. line, 0)
end

local connection = {}
connection.__index = connection

function connection:call(...)
	local args = { ... }
	return self.lock(function()
		socket.write(self.fd, encode(args))
		return reply(self.fd)
	end)
end

function redis.connect(host, port)
	local fd = socket.open(host, port)
	if not fd then
		error(string.format("redis: cannot connect to %s:%d", host, port), 0)
	end
	return setmetatable({ fd = fd, lock = queue() }, connection)
end

return redis
