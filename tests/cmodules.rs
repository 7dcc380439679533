//! Lua C modules from `lua_cpath`, loaded by a real `skybox` into its Lua VMs: a module built
//! here from `tests/cmodule/skybox_cmod.c` with the system's C compiler against skybox's Lua
//! headers (as a project builds its own modules), used by two services at once; and, with a
//! skynet checkout in `SKYNET_DIR`, skynet's bundled `lpeg`, `md5` and `sproto` built from their
//! sources (sproto with skynet's `sproto.lua` and `sprotoparser.lua`), and skynet's C `crypt` and
//! `bson` against skybox's own on random inputs.

#[path = "support/mod.rs"]
mod support;

use std::path::PathBuf;
use std::process::Command;

use support::{LUA_VERSION_NUM, TempDir, build_lua_module, repo_root, run_skybox};

const MAIN: &str = r#"
local skynet = require "skynet"
require "skynet.manager"
skynet.start(function()
	local a = skynet.newservice("user", "A")
	local b = skynet.newservice("user", "B")
	skynet.error("RESULT " .. skynet.call(a, "lua") .. " | " .. skynet.call(b, "lua"))
	skynet.abort()
end)
"#;

const USER: &str = r#"
local skynet = require "skynet"
require "skynet.manager"
local cmod = require "skybox_cmod"
local name = ...
skynet.start(function()
	skynet.dispatch("lua", function()
		local out = {}
		out[#out + 1] = cmod.add(2, 40)
		out[#out + 1] = cmod.join("-", name, 1, true)
		out[#out + 1] = table.concat(cmod.map(function(v) return v * 2 end, { 1, 2, 3 }), ",")
		out[#out + 1] = cmod.remember("kept")
		local ok, err = pcall(cmod.fail, "boom")
		out[#out + 1] = tostring(ok) .. ":" .. err
		local c = cmod.counter(10)
		c:inc()
		out[#out + 1] = c:inc(5)
		for _ = 1, 100 do cmod.counter() end
		collectgarbage()
		collectgarbage()
		out[#out + 1] = tostring(cmod.collected() >= 100)
		out[#out + 1] = cmod.version()
		skynet.ret(skynet.pack(table.concat(out, " ")))
	end)
end)
"#;

#[test]
fn a_c_module_on_lua_cpath_runs_in_every_vm_that_requires_it() {
    let dir = TempDir::new("cmod");
    build_lua_module(dir.path(), "skybox_cmod", &[repo_root().join("tests/cmodule/skybox_cmod.c")], &[]);
    dir.write("main.lua", MAIN);
    dir.write("user.lua", USER);
    let cpath = format!("lua_cpath={}/?.so", dir.path().display());
    let run =
        run_skybox(&["run", "--start", "main", "--path", ".", "--thread", "2", "--set", &cpath], dir.path());
    let line = run.lines().find(|l| l.contains("RESULT ")).unwrap_or_else(|| panic!("{}", run.report()));
    let each = format!("42 {{N}}-1-true 2,4,6 kept false:cmod failure: boom 16 true {LUA_VERSION_NUM}");
    assert!(
        line.ends_with(&format!("RESULT {} | {}", each.replace("{N}", "A"), each.replace("{N}", "B"))),
        "{line}\n{}",
        run.report()
    );
}

const LPEG_MAIN: &str = r#"
local skynet = require "skynet"
require "skynet.manager"
skynet.start(function()
	local lpeg = require "lpeg"
	local md5 = require "md5.core"
	local number = lpeg.C(lpeg.R("09") ^ 1) / tonumber
	local list = lpeg.Ct(number * ("," * number) ^ 0)
	local got = list:match("12,7,2026")
	local hex = md5.sum("skybox"):gsub(".", function(c) return string.format("%02x", c:byte()) end)
	-- skynet's sproto: its C core built here, its parser (on lpeg) and sproto.lua from the checkout
	local sproto = require "sproto"
	local parser = require "sprotoparser"
	local sp = sproto.new(parser.parse [[
.Phone { number 0 : string  type 1 : integer }
.Person { name 0 : string  id 1 : integer  phone 2 : *Phone }
]])
	local wire = sp:pencode("Person", { name = "Alice", id = 10000, phone = { { number = "123", type = 1 } } })
	local p = sp:pdecode("Person", wire)
	skynet.error(string.format("RESULT %d %d %d %s %s %d %s", got[1], got[2], got[3], hex,
		p.name, p.id, p.phone[1].number))
	skynet.abort()
end)
"#;

#[test]
fn skynets_bundled_lpeg_md5_and_sproto_build_and_run() {
    let Some(skynet) = std::env::var_os("SKYNET_DIR").filter(|d| !d.is_empty()).map(PathBuf::from) else {
        eprintln!("SKIPPED skynets_bundled_lpeg_md5_and_sproto_build_and_run: SKYNET_DIR is not set");
        return;
    };
    let dir = TempDir::new("lpeg");
    let sources = |sub: &str, names: &[&str]| -> Vec<PathBuf> {
        names.iter().map(|n| skynet.join("3rd").join(sub).join(n)).filter(|p| p.is_file()).collect()
    };
    let lpeg = sources("lpeg", &["lpcap.c", "lpcode.c", "lpcset.c", "lpprint.c", "lptree.c", "lpvm.c"]);
    build_lua_module(dir.path(), "lpeg", &lpeg, &[]);
    // skynet's layout: `require "md5.core"` finds md5/core.so on `?.so`.
    std::fs::create_dir_all(dir.path().join("md5")).unwrap();
    build_lua_module(
        &dir.path().join("md5"),
        "core",
        &sources("lua-md5", &["md5.c", "md5lib.c", "compat-5.2.c"]),
        &[],
    );
    std::fs::create_dir_all(dir.path().join("sproto")).unwrap();
    let sproto = skynet.join("lualib-src/sproto");
    let include = format!("-I{}", sproto.display());
    build_lua_module(
        &dir.path().join("sproto"),
        "core",
        &[sproto.join("sproto.c"), sproto.join("lsproto.c")],
        &[&include],
    );
    for lib in ["sproto.lua", "sprotoparser.lua"] {
        std::fs::copy(skynet.join("lualib").join(lib), dir.path().join(lib)).unwrap();
    }
    dir.write("main.lua", LPEG_MAIN);
    let cpath = format!("lua_cpath={}/?.so", dir.path().display());
    let path = format!("lua_path={}/?.lua", dir.path().display());
    let run =
        run_skybox(&["run", "--start", "main", "--path", ".", "--set", &cpath, "--set", &path], dir.path());
    let line = run.lines().find(|l| l.contains("RESULT ")).unwrap_or_else(|| panic!("{}", run.report()));
    // md5("skybox"), as `printf skybox | md5sum` gives it.
    let digest = Command::new("sh").args(["-c", "printf skybox | md5sum"]).output().unwrap();
    let digest = String::from_utf8_lossy(&digest.stdout).split_whitespace().next().unwrap().to_string();
    assert!(
        line.ends_with(&format!("RESULT 12 7 2026 {digest} Alice 10000 123")),
        "{line}\n{}",
        run.report()
    );
}

/// skybox's native `skynet.crypt` against skynet's C one (built here from skynet's
/// `lualib-src`, loaded with `package.loadlib`) on the same random inputs, in one VM.
const CRYPT_MAIN: &str = r#"
local skynet = require "skynet"
require "skynet.manager"
local ours = require "skynet.crypt"
local theirs = assert(package.loadlib(skynet.getenv("crypt_so"), "luaopen_skynet_crypt"))()

skynet.start(function()
	math.randomseed(20261203)
	local function rnd(n)
		local t = {}
		for i = 1, n do t[i] = string.char(math.random(0, 255)) end
		return table.concat(t)
	end
	local checked = 0
	local function same(name, ...)
		local ok1, r1 = pcall(ours[name], ...)
		local ok2, r2 = pcall(theirs[name], ...)
		if ok1 ~= ok2 or (ok1 and r1 ~= r2) then
			error(string.format("%s differs: %s %q / %s %q", name, ok1, tostring(r1), ok2, tostring(r2)))
		end
		assert(ok1 or type(r1) == "string", "errors are strings")
		checked = checked + 1
	end
	for _ = 1, 400 do
		local s, k, k2 = rnd(math.random(0, 40)), rnd(8), rnd(8)
		same("hashkey", s)
		same("hexencode", s)
		same("hexdecode", theirs.hexencode(s))
		same("hexdecode", rnd(2))
		same("base64encode", s)
		same("base64decode", theirs.base64encode(s))
		same("base64decode", rnd(math.random(0, 12)))
		for mode = 0, 1 do
			same("desencode", k, s, mode)
			same("desdecode", k, theirs.desencode(k, s, mode), mode)
			same("desdecode", k, rnd(8 * math.random(1, 3)), mode)
		end
		same("desencode", rnd(7), s)
		same("hmac64", k, k2)
		same("hmac64_md5", k, k2)
		same("hmac_hash", k, s)
		same("dhexchange", k)
		same("dhsecret", k, k2)
		same("sha1", s)
		same("hmac_sha1", rnd(math.random(0, 100)), s)
		same("xor_str", s, rnd(math.random(1, 9)))
	end
	same("xor_str", "abc", "")
	same("dhexchange", string.rep("\0", 8))
	skynet.error("RESULT same " .. checked)
	skynet.abort()
end)
"#;

const TESTCRYPT_MAIN: &str = r#"
local skynet = require "skynet"
require "skynet.manager"
skynet.start(function()
	skynet.error("TESTCRYPT " .. tostring(pcall(skynet.newservice, "testcrypt")))
	skynet.abort()
end)
"#;

#[test]
fn skynet_crypt_agrees_with_skynets_c_on_random_inputs_and_passes_skynets_test() {
    let Some(skynet) = std::env::var_os("SKYNET_DIR").filter(|d| !d.is_empty()).map(PathBuf::from) else {
        eprintln!(
            "SKIPPED skynet_crypt_agrees_with_skynets_c_on_random_inputs_and_passes_skynets_test: SKYNET_DIR is not set"
        );
        return;
    };
    let dir = TempDir::new("crypt");
    let src = skynet.join("lualib-src");
    let so = build_lua_module(dir.path(), "crypt_c", &[src.join("lua-crypt.c"), src.join("lsha1.c")], &[]);
    dir.write("main.lua", CRYPT_MAIN);
    let crypt_so = format!("crypt_so={}", so.display());
    let run = run_skybox(&["run", "--start", "main", "--path", ".", "--set", &crypt_so], dir.path());
    let line = run.lines().find(|l| l.contains("RESULT ")).unwrap_or_else(|| panic!("{}", run.report()));
    assert!(line.ends_with(&format!("RESULT same {}", 400 * 22 + 2)), "{line}\n{}", run.report());

    // skynet's own test/testcrypt.lua, as a service: its asserts run when it loads.
    dir.write("testmain.lua", TESTCRYPT_MAIN);
    let luaservice = format!("luaservice=./?.lua;{}/test/?.lua", skynet.display());
    let run = run_skybox(&["run", "--start", "testmain", "--set", &luaservice], dir.path());
    assert!(run.lines().any(|l| l.ends_with("TESTCRYPT true")), "{}", run.report());
}

/// Random documents encoded by skybox's `bson` and by skynet's C `lua-bson.c` (built here):
/// the same bytes, the same decoded values, the same `bson.type`, the same errors.
const BSON_MAIN: &str = r#"
local skynet = require "skynet"
require "skynet.manager"
local ours = require "bson"
local theirs = assert(package.loadlib(skynet.getenv("bson_so"), "luaopen_bson"))()

local function deep_equal(a, b)
	if type(a) ~= "table" or type(b) ~= "table" then return a == b or (a ~= a and b ~= b) end
	for k, v in pairs(a) do if not deep_equal(v, b[k]) then return false end end
	for k in pairs(b) do if a[k] == nil then return false end end
	return true
end

skynet.start(function()
	math.randomseed(20261203)
	local function rnd_string()
		local t = {}
		for i = 1, math.random(0, 12) do t[i] = utf8.char(math.random(1, 0x3000)) end
		return table.concat(t)
	end
	local specials = {
		function() return ours.null end, function() return ours.minkey end,
		function() return ours.maxkey end,
		function() return ours.date(math.random(0, 0x7fffffff)) end,
		function() return ours.timestamp(math.random(0, 0x7fffffff), math.random(0, 0xffff)) end,
		function() return ours.regex(rnd_string(), "imx") end,
		function() return ours.binary(rnd_string()) end,
		function() return ours.objectid(string.format("%024x", math.random(0, 1 << 62))) end,
		function() return ours.int64(math.random(math.mininteger, math.maxinteger)) end,
	}
	local function value(depth)
		local kind = math.random(1, depth < 3 and 9 or 6)
		if kind == 1 then return math.random(-0x80000000 - 5, 0x7fffffff + 5)
		elseif kind == 2 then return math.random(math.mininteger, math.maxinteger)
		elseif kind == 3 then return (math.random() - 0.5) * 1e6
		elseif kind == 4 then return rnd_string()
		elseif kind == 5 then return math.random(2) == 1
		elseif kind == 6 then return specials[math.random(#specials)]()
		elseif kind == 7 then
			local a = {}
			for i = 1, math.random(1, 5) do a[i] = value(depth + 1) end
			return a
		else
			local d = {}
			for _ = 1, math.random(0, 5) do d["k" .. rnd_string()] = value(depth + 1) end
			return d
		end
	end
	local checked = 0
	for _ = 1, 500 do
		local t = {}
		for _ = 1, math.random(0, 8) do t[rnd_string()] = value(0) end
		local ok1, a = pcall(ours.encode, t)
		local ok2, b = pcall(theirs.encode, t)
		assert(ok1 == ok2, "one failed: " .. tostring(a) .. " / " .. tostring(b))
		if ok1 then
			assert(tostring(a) == tostring(b), "bytes differ")
			assert(#a == #b)
			assert(deep_equal(a:decode(), b:decode()), "decoded values differ")
			for k, v in pairs(a:decode()) do
				local x, y = table.pack(ours.type(v)), table.pack(theirs.type(v))
				assert(deep_equal(x, y), "bson.type differs for " .. k)
			end
		else
			assert(a == b, "errors differ: " .. a .. " / " .. b)
		end
		checked = checked + 1
	end
	-- ordered documents, replaced fields, and errors
	local a = ours.encode_order("x", 1, "y", 2.5, "z", ours.date(7), "w", true)
	local b = theirs.encode_order("x", 1, "y", 2.5, "z", theirs.date(7), "w", true)
	assert(tostring(a) == tostring(b))
	a:makeindex(); b:makeindex()
	a.x, b.x = -9, -9
	a.y, b.y = 0.125, 0.125
	a.z, b.z = ours.date(99), theirs.date(99)
	a.w, b.w = false, false
	assert(tostring(a) == tostring(b), "replaced bytes differ")
	-- (a hole under __len: the border of a raw {1, nil, 3} is 3 in Lua 5.4 and 1 in 5.5)
	local holed = setmetatable({ 1, nil, 3 }, { __len = function() return 3 end })
	for _, bad in ipairs { { a = holed }, { [2.5] = 1 }, { ["\xff"] = 1 }, { a = "\0\99" } } do
		local ok1, e1 = pcall(ours.encode, bad)
		local ok2, e2 = pcall(theirs.encode, bad)
		assert(not ok1 and not ok2 and e1 == e2, tostring(e1) .. " / " .. tostring(e2))
	end
	skynet.error("RESULT bson same " .. checked)
	skynet.abort()
end)
"#;

#[test]
fn bson_agrees_with_skynets_c_on_random_documents() {
    let Some(skynet) = std::env::var_os("SKYNET_DIR").filter(|d| !d.is_empty()).map(PathBuf::from) else {
        eprintln!("SKIPPED bson_agrees_with_skynets_c_on_random_documents: SKYNET_DIR is not set");
        return;
    };
    let dir = TempDir::new("bson");
    let include = format!("-I{}", skynet.join("skynet-src").display());
    let so =
        build_lua_module(dir.path(), "bson_c", &[skynet.join("lualib-src/lua-bson.c")], &[include.as_str()]);
    dir.write("main.lua", BSON_MAIN);
    let bson_so = format!("bson_so={}", so.display());
    let run = run_skybox(&["run", "--start", "main", "--path", ".", "--set", &bson_so], dir.path());
    assert!(run.lines().any(|l| l.ends_with("RESULT bson same 500")), "{}", run.report());
}
