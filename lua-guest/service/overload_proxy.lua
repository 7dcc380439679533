-- overload_proxy: a shield in front of a hot service.
--
--   local proxy = skynet.newservice("overload_proxy", skynet.address(target))
--   skynet.call(proxy, "lua", ...)      -- instead of skynet.call(target, "lua", ...)
--
-- Requests ("lua" protocol) are passed to the target without being unpacked and the replies are
-- relayed without being unpacked either (forward_type + rawcall). Between the two, the proxy
-- keeps one queue per source and forwards round-robin across sources, so a source that floods
-- waits behind its own backlog while polite sources go first. It forwards only while the target
-- keeps up: at most `overload_inflight` requests outstanding, and none while the target's own
-- mailbox is longer than `overload_mqlen` (read by the host, not by asking the busy target).
-- Queued requests of a source that has exited are dropped unforwarded. Debug requests sent to
-- the target directly never pass here, so they stay fast while the target is shielded.
--
-- Config: overload_inflight (default 16), overload_mqlen (default 32).

local skynet = require "skynet"
require "skynet.manager"
local c = require "skynet.core"

local target = assert(skynet.localname((...)) or tonumber(((...) or ""):match("^:(%x+)$") or "", 16),
	"overload_proxy: a target address is required")
local max_inflight = math.tointeger(tonumber(skynet.getenv "overload_inflight" or "16")) or 16
local max_mqlen = math.tointeger(tonumber(skynet.getenv "overload_mqlen" or "32")) or 32
local target_name = skynet.address(target)

-- Raw protocol numbers: requests arrive as "lua" and replies as "response"; both stay packed.
local RAW_REQUEST = 255

local queues = {}     -- source -> FIFO of { msg, sz, respond }
local ring = {}       -- sources with queued requests, in round-robin order
local ring_pos = 0
local queued = 0
local inflight = 0
local pump_waiting = nil -- the pump's thread while it sleeps for lack of work

local function alive(source)
	return c.command("QUERY", skynet.address(source)) ~= nil
end

local function target_busy()
	local len = tonumber(c.command("MQLEN", target_name))
	if len == nil then
		error("overload_proxy: target " .. target_name .. " is gone")
	end
	return len > max_mqlen
end

-- Takes the next request, one source at a time.
local function next_request()
	while #ring > 0 do
		ring_pos = ring_pos % #ring + 1
		local source = ring[ring_pos]
		local q = queues[source]
		local item = table.remove(q, 1)
		if #q == 0 then
			queues[source] = nil
			table.remove(ring, ring_pos)
			ring_pos = ring_pos - 1
		end
		queued = queued - 1
		if alive(source) then
			return item
		end
		-- the caller is gone: nobody waits for this answer
		skynet.trash(item.msg, item.sz)
		item.respond(false)
	end
end

-- Runs one request on the target; the pump counted it in `inflight` already.
local function forward(item)
	local ok, msg, sz = pcall(skynet.rawcall, target, "lua", item.msg, item.sz)
	inflight = inflight - 1
	if ok then
		if not item.respond(true, msg, sz) then
			skynet.trash(msg, sz)
		end
	else
		item.respond(false)
	end
	if pump_waiting then
		skynet.wakeup(pump_waiting)
	end
end

-- Moves requests from the queues to the target as fast as the target can take them.
local function pump()
	while true do
		if queued > 0 and inflight < max_inflight and not target_busy() then
			local item = next_request()
			if item then
				inflight = inflight + 1
				skynet.fork(forward, item)
			end
		elseif queued > 0 and inflight < max_inflight then
			skynet.sleep(1) -- the target's mailbox is long: let it drain
		else
			pump_waiting = coroutine.running()
			skynet.wait()
			pump_waiting = nil
		end
	end
end

skynet.register_protocol {
	name = "overload_raw",
	id = RAW_REQUEST,
	unpack = function(msg, sz) return msg, sz end,
}

skynet.forward_type({ [skynet.PTYPE_LUA] = RAW_REQUEST, [skynet.PTYPE_RESPONSE] = skynet.PTYPE_RESPONSE }, function()
	skynet.dispatch("overload_raw", function(session, source, msg, sz)
		if session == 0 then
			-- a one-way message: pass it on at once (ownership moves with it)
			skynet.rawsend(target, "lua", msg, sz)
			return
		end
		local respond = skynet.response(function(m, s) return m, s end)
		local q = queues[source]
		if not q then
			q = {}
			queues[source] = q
			ring[#ring + 1] = source
		end
		q[#q + 1] = { msg = msg, sz = sz, respond = respond }
		queued = queued + 1
		if pump_waiting then
			skynet.wakeup(pump_waiting)
		end
	end)
	skynet.fork(pump)
end)
