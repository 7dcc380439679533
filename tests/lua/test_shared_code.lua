-- The library's compiled code is shared between service VMs (one code state per process):
-- strings, collections and debug information must behave as in a VM of its own.
local skynet = require "skynet"
local t = require "testlib"
require "skynet.manager"

t.test("strings made at run time are the library's own strings", function()
	local s = skynet.newservice("shared_svc")
	t.eq(skynet.call(s, "lua", "strings"), {})
end)

t.test("a minimal service's heap holds no copy of the library", function()
	-- skynet.lua's prototypes alone take about 45 KB; a VM loading its own copy of the library
	-- holds well over 100 KB.
	local kb = skynet.call(skynet.newservice("shared_svc"), "lua", "kb")
	t.ok(kb < 90, "heap of a minimal service: " .. kb .. " KB")
end)

t.test("many VMs collect garbage over shared code at once, in both modes", function()
	local services, pending, results = {}, 0, {}
	for i = 1, 24 do
		services[i] = skynet.newservice("shared_svc")
	end
	for i, s in ipairs(services) do
		pending = pending + 1
		skynet.fork(function()
			results[i] = table.pack(skynet.call(s, "lua", "churn", 200))
			pending = pending - 1
		end)
	end
	t.eventually(function() return pending == 0 end, 3000, "churning services did not all answer")
	for i = 1, #services do
		local source, line, dumped, traced = table.unpack(results[i])
		t.eq(source, "@lua-guest/lualib/skynet.lua")
		t.ok(line > 0)
		t.eq(dumped, "function")
		t.eq(traced, true)
		skynet.kill(services[i])
	end
end)

skynet.start(function()
	t.run()
end)
