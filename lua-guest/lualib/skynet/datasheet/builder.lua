-- skynet.datasheet.builder: publish sheets for skynet.datasheet readers (skynet's API).
--
--   local builder = require "skynet.datasheet.builder"
--   builder.new("items", { sword = { atk = 10 } })
--   builder.update("items", { sword = { atk = 12 } })   -- every reader sees it at once

local core = require "skybox.sharedata"

local builder = {}

local function key(name)
	assert(type(name) == "string", "datasheet: the name is a string")
	return "datasheet:" .. name
end

function builder.new(name, t)
	assert(type(t) == "table", "datasheet: a table expected")
	core.new(key(name), t)
end

function builder.update(name, t)
	assert(type(t) == "table", "datasheet: a table expected")
	core.update(key(name), t)
end

-- skynet's builder compiles a table into its binary sheet format; here sheets are built by
-- `new` and `update` directly, so `compile` hands the table back for them.
function builder.compile(t)
	assert(type(t) == "table", "datasheet: a table expected")
	return t
end

return builder
