-- skynet.require: require for skynet threads, with skynet's two-step module initialisation.
--
-- 1. The module's chunk runs like any Lua module.
-- 2. The functions it registered with skynet.init() run right after it, unless the module was
--    required from the main chunk of the service: those wait for skynet.start(), which runs them
--    (init_all) before the start function.
--
-- Unlike the builtin require, the module's chunk is called from Lua, so it may block in skynet
-- calls (the builtin require is a C function and nothing may yield across it). When two threads
-- require the same module at once, the second waits for the first to finish loading it.
--
-- The loader installs M.require as the global require.

local M = {}

local main_thread, is_main = coroutine.running()
assert(is_main, "skynet.require must be loaded from the main thread")

local co_running = coroutine.running
local plain_require = require
local loaded = package.loaded
local searchers = package.searchers
local traceback = debug.traceback

-- thread -> list of skynet.init functions collected while a module loads on that thread
local init_lists = { [main_thread] = {} }
-- module name -> threads waiting for the thread that is loading it
local loading = {}

-- The first loader the package searchers offer for name, as require would pick it.
local function find_loader(name)
	for i = 1, #searchers do
		local loader, extra = searchers[i](name)
		if type(loader) == "function" then
			return loader, extra
		end
	end
end

local function wake_all(waiters)
	if #waiters > 0 then
		local skynet = plain_require "skynet"
		for i = 1, #waiters do
			skynet.wakeup(waiters[i])
		end
	end
end

function M.require(name)
	local m = loaded[name]
	if m ~= nil then
		return m
	end
	local co, main = co_running()
	if main then
		return plain_require(name)
	end

	local waiters = loading[name]
	if waiters then
		waiters[#waiters + 1] = co
		plain_require("skynet").wait(co)
		m = loaded[name]
		if m == nil then
			error(string.format("require %s failed", name), 2)
		end
		return m
	end

	local loader, extra = find_loader(name)
	if loader == nil then
		-- let the builtin require raise its usual "module not found" error
		return plain_require(name)
	end

	waiters = {}
	loading[name] = waiters
	local outer_list = init_lists[co]
	local inits = {}
	init_lists[co] = inits

	local ok, err = xpcall(function()
		local value = loader(name, extra)
		for i = 1, #inits do
			inits[i]()
		end
		if value ~= nil then
			loaded[name] = value
		elseif loaded[name] == nil then
			loaded[name] = true
		end
	end, traceback)

	init_lists[co] = outer_list
	loading[name] = nil
	wake_all(waiters)
	if not ok then
		error(err, 0)
	end
	return loaded[name], extra
end

-- Runs the init functions collected while the main chunk was loading (called by skynet.start).
function M.init_all()
	local list = init_lists[main_thread]
	init_lists[main_thread] = nil
	if list then
		for i = 1, #list do
			list[i]()
		end
	end
end

-- skynet.init(f): run f once the module being loaded on this thread has finished loading.
-- Outside any module load (e.g. after start) there is nothing to wait for: f runs now.
function M.init(f)
	assert(type(f) == "function", "skynet.init needs a function")
	local list = init_lists[co_running()]
	if list then
		list[#list + 1] = f
	else
		f()
	end
end

return M
