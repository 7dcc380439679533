-- skynet.datasheet: read the sheets skynet.datasheet.builder publishes, with skynet's API, on
-- the shared trees of skybox.sharedata.
--
--   local datasheet = require "skynet.datasheet"
--   local items = datasheet.query "items"   -- waits until the sheet is built; a read-only proxy
--
-- A proxy reads like the table (indexing, #, pairs, ipairs) and always reads the latest
-- version: `builder.update` reaches every reader at once, subtables included (a subtable whose
-- path is gone reads as empty). It is a userdata, not a Lua table.

local skynet = require "skynet"
local core = require "skybox.sharedata"

local datasheet = {}

function datasheet.query(name)
	local key = "datasheet:" .. name
	while true do
		local sheet = core.query(key)
		if sheet then
			return sheet
		end
		skynet.sleep(1)	-- not built yet: skynet's query waits for it too
	end
end

return datasheet
