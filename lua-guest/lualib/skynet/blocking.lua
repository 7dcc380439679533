-- skynet.blocking: slow or blocking native work without holding a worker thread.
--
--   local blocking = require "skynet.blocking"
--   local text, err = blocking.readfile("/etc/hostname")
--
-- Each function runs its work on the host's blocking pool (config blocking_threads, default 4)
-- while the calling coroutine waits, as for a skynet.call; the service goes on handling other
-- messages meanwhile. Failures return nil and a message.
--   readfile(path) -> contents            writefile(path, data) -> true
--   resolve(host)  -> { "ip", ... }       sleep(ms) -> true   (a stand-in for a slow call)
--   sql(path, { { sql, arg... }, ... }) -> { rows, ... }: the statements in one transaction on
--     the SQLite file `path` (trusted services only), each statement's rows as arrays

local skynet = require "skynet"
local native = require "skybox.blocking"

local blocking = {}

local function await(session)
	return skynet.unpack(skynet.waitsession(session))
end

function blocking.readfile(path)
	return await(native.readfile(path))
end

function blocking.writefile(path, data)
	return await(native.writefile(path, data))
end

function blocking.resolve(host)
	return await(native.resolve(host))
end

function blocking.sleep(ms)
	return await(native.sleep(ms))
end

local sqlite
function blocking.sql(path, statements)
	sqlite = sqlite or require "skybox.sqlite"
	return await(sqlite.batch(path, statements))
end

return blocking
