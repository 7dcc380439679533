-- stc_reader_svc: clones a sharetable matrix in its own VM ("clone", pointer, path...), and
-- unpacks a block another service packed into its request ("unpack", msg, sz).
local skynet = require "skynet"
local core = require "skynet.sharetable.core"

skynet.start(function()
	skynet.dispatch("lua", function(_, _, cmd, a, ...)
		if cmd == "clone" then
			local v = core.clone(a)
			for _, k in ipairs { ... } do v = v[k] end
			skynet.ret(skynet.pack(v, core.is_sharedtable(core.clone(a))))
		elseif cmd == "unpack" then
			local sz = ...
			local values = table.pack(skynet.unpack(a, sz))
			skynet.trash(a, sz)
			skynet.ret(skynet.pack(table.unpack(values, 1, values.n)))
		end
	end)
end)
