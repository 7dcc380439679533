-- skynet.debug: the debug protocol (PTYPE_DEBUG, lua-packed) every skynet service answers.
-- skynet.lua calls init() when it loads; debug consoles and the launcher send the commands:
--
--   PING                 empty answer (is the service alive and dispatching?)
--   LINK                 never answered while the service lives; fails when it exits
--   MEM                  Lua memory in kilobytes
--   GC                   full collection (no answer: sent, not called)
--   STAT                 { task, mqlen, cpu, message, messages_out, mqpeak, mem }
--   TASK [session]       tracebacks of waiting threads (or of one session)
--   UNIQTASK             the same, grouped by identical traceback
--   KILLTASK name        kill the waiting thread whose name (as TASK lists it) contains name:
--                        empty answer, or "Not found"
--   INFO ...             whatever the service's skynet.info_func returns
--   EXIT                 the service exits
--   TERM addr            treat addr as gone (its pending calls fail)
--   RUN source [name]    run Lua code in the service, returns ok, output
--   SUPPORT protoname    does the service dispatch that protocol?
--   TRACELOG [proto] flag  turn request tracing on/off for a protocol
--   REMOTEDEBUG fd handle  the debug console's remote debugger (skynet.remotedebug): answered
--                        when the operator leaves debug mode
--   SNAPSHOT             needs the native module "snapshot"
-- More commands can be added with reg_debugcmd(name, fn).

local extra_commands = {}

local function init(skynet, export)
	local info_func

	function skynet.info_func(f)
		info_func = f
	end

	local function reply(...)
		return skynet.ret(skynet.pack(...))
	end

	local commands	-- built on the first debug message

	local function build_commands()
		local cmd = {}

		function cmd.PING()
			return skynet.ret()
		end

		function cmd.LINK()
			-- take the response and never use it: the caller's call fails when we exit
			skynet.response()
		end

		function cmd.MEM()
			return reply(collectgarbage "count")
		end

		function cmd.GC()
			collectgarbage "collect"
		end

		function cmd.STAT()
			return reply {
				task = skynet.task(),
				mqlen = skynet.stat "mqlen",
				cpu = skynet.stat "cpu",
				message = skynet.stat "message",
				-- skybox counters: messages sent, longest queue seen, heap in KB
				messages_out = skynet.stat "messages_out",
				mqpeak = skynet.stat "mqpeak",
				mem = collectgarbage "count",
			}
		end

		function cmd.TASK(session)
			if session then
				return reply(skynet.task(session))
			end
			local tasks = {}
			skynet.task(tasks)
			return reply(tasks)
		end

		function cmd.UNIQTASK()
			return reply(skynet.uniqtask())
		end

		function cmd.KILLTASK(threadname)
			local co = skynet.killthread(threadname)
			if co then
				skynet.error(string.format("Kill %s", co))
				return skynet.ret()
			end
			skynet.error(string.format("Kill %s : Not found", threadname))
			return reply "Not found"
		end

		function cmd.INFO(...)
			if info_func then
				return reply(info_func(...))
			end
			return reply(nil)
		end

		function cmd.EXIT()
			skynet.exit()
		end

		function cmd.TERM(service)
			skynet.term(service)
		end

		function cmd.RUN(source, filename, ...)
			local inject = require "skynet.inject"
			local args = table.pack(...)
			local ok, output = inject(skynet, source, filename, args, export.dispatch, skynet.register_protocol)
			collectgarbage "collect"
			return reply(ok, table.concat(output, "\n"))
		end

		function cmd.SUPPORT(pname)
			return reply(skynet.dispatch(pname) ~= nil)
		end

		function cmd.TRACELOG(protoname, flag)
			if type(protoname) ~= "string" then
				protoname, flag = "lua", protoname
			end
			skynet.error(string.format("Turn trace log %s for %s", flag, protoname))
			skynet.traceproto(protoname, flag)
			return skynet.ret()
		end

		function cmd.REMOTEDEBUG(...)
			local remotedebug = require "skynet.remotedebug"
			remotedebug.start(export, ...)
		end

		local last_snapshot
		function cmd.SNAPSHOT()
			local snapshot = require "snapshot"
			local utils = require "skynet.snapshot_utils"
			collectgarbage "collect"
			local current = snapshot()
			local previous = last_snapshot
			last_snapshot = current
			if not previous then
				return reply {}
			end
			local added = {}
			for k, v in pairs(current) do
				if not previous[k] then
					added[k] = v
				end
			end
			return reply(utils.construct_indentation(added))
		end

		return cmd
	end

	local function debug_dispatch(_, _, name, ...)
		commands = commands or build_commands()
		local f = commands[name] or extra_commands[name]
		if f == nil then
			error("Unknown debug command " .. tostring(name))
		end
		return f(...)
	end

	skynet.register_protocol {
		name = "debug",
		id = assert(skynet.PTYPE_DEBUG),
		pack = assert(skynet.pack),
		unpack = assert(skynet.unpack),
		dispatch = debug_dispatch,
	}
end

local function reg_debugcmd(name, fn)
	extra_commands[name] = fn
end

return {
	init = init,
	reg_debugcmd = reg_debugcmd,
}
