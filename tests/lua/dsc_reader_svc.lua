-- dsc_reader_svc: reads a datasheet document through skynet.datasheet.core in its own VM:
-- "open", pointer; "get", path... ; "update", pointer.
local skynet = require "skynet"
local core = require "skynet.datasheet.core"
local sheet

skynet.start(function()
	skynet.dispatch("lua", function(_, _, cmd, arg, ...)
		if cmd == "open" then
			sheet = core.new(arg)
			skynet.ret(skynet.pack(true))
		elseif cmd == "update" then
			core.update(sheet, arg)
			skynet.ret(skynet.pack(true))
		else
			local v = sheet
			for _, k in ipairs { arg, ... } do v = v[k] end
			skynet.ret(skynet.pack(v))
		end
	end)
end)
