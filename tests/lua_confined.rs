//! Untrusted Lua services (docs/SECURITY.md, "Untrusted Lua services"): a Lua service launched
//! under a profile that is not trusted runs in a confined VM, on the real `skybox` binary.
//!
//! Registered in host/Cargo.toml:
//!
//! ```toml
//! [[test]]
//! name = "lua_confined"
//! path = "../tests/lua_confined.rs"
//! ```
//!
//! Each test writes a node in a scratch directory: a config with a `jail` profile, a trusted
//! start service `main` that launches `jailed` (and others) with `--profile=NAME`, a library on
//! `lua_path` (`lib/`), and files off it (`secret/`, `clib/`). The services log
//! `RESULT <key> <value>` lines (one line each, newlines folded into ` | `); the tests read them.
//! Every property an untrusted service must lack is checked against a trusted control in the
//! same node, so a check that passes only because something is broken fails.

#[path = "support/mod.rs"]
mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use support::{Run, Spawned, TempDir, run_skybox_with};

/// The commands of the `jail` profile: skynet's basics (timers, names, exit, config).
const COMMANDS: &str = "TIMEOUT,REG,QUERY,NAME,EXIT,GETENV,STARTTIME,STAT,MQLEN";

/// The first lines of every test's `main`: skynet, its manager, and `result` (`testout`).
const MAIN_HEAD: &str =
    "local skynet = require \"skynet\"\nrequire \"skynet.manager\"\nlocal result = require \"testout\"";

/// The first lines of the untrusted services' scripts.
const JAILED_HEAD: &str = "local skynet = require \"skynet\"\nlocal result = require \"testout\"";

/// `RESULT key value...` from any service; on lua_path as `testout`.
const TESTOUT: &str = r#"
local skynet = require "skynet"
return function(key, ...)
	local parts = table.pack(...)
	for i = 1, parts.n do
		parts[i] = tostring(parts[i])
	end
	local text = table.concat(parts, " ", 1, parts.n)
	skynet.error("RESULT " .. key .. " " .. (text:gsub("\n", " | ")))
end
"#;

const OKMOD: &str = "return { hi = function() return 'okmod' end }\n";

/// A node in a scratch directory.
struct Node {
    dir: TempDir,
}

impl Node {
    /// `profiles`: extra config lines; the `jail` profile is `commands=COMMANDS send=any` plus
    /// `jail_extra`.
    fn new(tag: &str, jail_extra: &str, profiles: &str, main: &str, jailed: &str) -> Node {
        let dir = TempDir::new(tag);
        let root = dir.path().to_string_lossy().into_owned();
        dir.write(
            "main.cfg",
            &format!(
                "thread = 2\nharbor = 0\nstart = \"main\"\ntestdir = \"{root}\"\n\
                 luaservice = \"{root}/svc/?.lua\"\nlua_path = \"{root}/lib/?.lua\"\n\
                 profile_jail = \"commands={COMMANDS} send=any {jail_extra}\"\n{profiles}\n"
            ),
        );
        dir.write("lib/testout.lua", TESTOUT);
        dir.write("lib/okmod.lua", OKMOD);
        dir.write("secret/secret.lua", "return 'SECRET'\n");
        dir.write("clib/evil.so", "not a shared object\n");
        dir.write("svc/main.lua", main);
        dir.write("svc/jailed.lua", jailed);
        Node { dir }
    }

    fn cfg(&self) -> String {
        self.dir.path().join("main.cfg").to_string_lossy().into_owned()
    }

    /// Runs the node to its end (`main` aborts it).
    fn run(&self) -> Run {
        let run = run_skybox_with(&["run", &self.cfg()], self.dir.path(), &[], Duration::from_secs(30));
        assert!(!run.timed_out, "the node did not finish\n{}", run.report());
        assert_eq!(run.code(), Some(0), "unexpected exit code\n{}", run.report());
        assert!(
            !run.stdout.contains("panicked") && !run.stderr.contains("panicked"),
            "panic\n{}",
            run.report()
        );
        run
    }
}

/// The value of `RESULT key`, which must be logged exactly once.
fn result<'a>(run: &'a Run, key: &str) -> &'a str {
    let needle = format!("RESULT {key} ");
    let found: Vec<&str> =
        run.lines().filter_map(|l| l.split_once(&needle).map(|(_, value)| value.trim_end())).collect();
    match found.as_slice() {
        [value] => value,
        _ => panic!("expected one `RESULT {key}` line, found {}\n{}", found.len(), run.report()),
    }
}

fn expect(run: &Run, key: &str, ok: impl FnOnce(&str) -> bool, what: &str) {
    let value = result(run, key);
    assert!(ok(value), "RESULT {key} is {value:?}, expected {what}\n{}", run.report());
}

/// The expressions an untrusted VM must lack (nil there, set in a trusted VM).
const GONE: &[&str] = &[
    "io",
    "os.execute",
    "os.exit",
    "os.remove",
    "os.rename",
    "os.tmpname",
    "os.getenv",
    "os.setlocale",
    "package.loadlib",
    "package.searchpath",
    "dofile",
    "string.dump",
    "(\"\").dump",
    "debug.getregistry",
    "debug.getupvalue",
    "debug.setupvalue",
    "debug.upvaluejoin",
    "debug.upvalueid",
    "debug.sethook",
    "debug.gethook",
    "debug.getlocal",
    "debug.setlocal",
    "debug.getmetatable",
    "debug.setmetatable",
    "debug.getuservalue",
    "debug.setuservalue",
    "debug.getinfo",
    "debug.debug",
    "package.loaded.io",
    "package.loaded.os.execute",
    "package.loaded.debug.getregistry",
    "package.loaded.string.dump",
];

/// What it keeps (functions in both).
const KEPT: &[&str] = &[
    "os.time",
    "os.clock",
    "os.date",
    "os.difftime",
    "debug.traceback",
    "load",
    "loadfile",
    "require",
    "string.rep",
    "coroutine.resume",
    "collectgarbage",
    "print",
];

/// A Lua list of `exprs`.
fn lua_list(exprs: &[&str]) -> String {
    exprs.iter().map(|e| format!("{e:?}")).collect::<Vec<_>>().join(", ")
}

#[test]
fn an_untrusted_vm_lacks_io_os_loadlib_debug_and_dump_and_a_trusted_one_keeps_them() {
    let report = format!(
        r#"
local result = require "testout"
return function(tag)
	for _, expr in ipairs {{ {gone}, {kept} }} do
		local ok, value = pcall(load("return " .. expr))
		result(tag .. " " .. expr, ok and type(value) or "error")
	end
end
"#,
        gone = lua_list(GONE),
        kept = lua_list(KEPT)
    );
    let main = r#"
local skynet = require "skynet"
require "skynet.manager"
skynet.start(function()
	require "report" ("T")
	local jailed = skynet.newservice("--profile=jail", "jailed")
	skynet.call(jailed, "lua", "report")
	skynet.abort()
end)
"#;
    let jailed = r#"
local skynet = require "skynet"
skynet.start(function()
	skynet.dispatch("lua", function()
		require "report" ("J")
		skynet.retpack(true)
	end)
end)
"#;
    let node = Node::new("confined-libs", "", "", main, jailed);
    node.dir.write("lib/report.lua", &report);
    let run = node.run();
    for expr in GONE {
        expect(&run, &format!("J {expr}"), |v| v == "nil", "nil in the untrusted service");
        expect(&run, &format!("T {expr}"), |v| v != "nil" && v != "error", "set in the trusted service");
    }
    for expr in KEPT {
        expect(&run, &format!("J {expr}"), |v| v == "function", "kept by the untrusted service");
        expect(&run, &format!("T {expr}"), |v| v == "function", "a function in the trusted service");
    }
}

#[test]
fn an_untrusted_service_loads_text_only() {
    let main = &[
        MAIN_HEAD,
        r#"
skynet.start(function()
	local bin = string.dump(function() return 42 end)
	result("T load_bin", load(bin)())
	-- a binary chunk on lua_path, which the trusted service requires (and the code cache keeps)
	local f = assert(io.open(skynet.getenv "testdir" .. "/lib/binmod.lua", "wb"))
	f:write(bin)
	f:close()
	result("T require_bin", (require "binmod"))
	local jailed = skynet.newservice("--profile=jail", "jailed")
	skynet.call(jailed, "lua", "load", bin)
	skynet.abort()
end)
"#,
    ]
    .concat();
    let jailed = &[
        JAILED_HEAD,
        r#"
local dir = skynet.getenv "testdir"
skynet.start(function()
	skynet.dispatch("lua", function(_, _, _, bin)
		result("J load", select(2, load(bin)))
		result("J load_b", select(2, load(bin, "=x", "b")))
		result("J load_bt_env", select(2, load(bin, "=x", "bt", {})))
		local pieces, i = { bin:sub(1, 3), bin:sub(4) }, 0
		result("J load_reader", select(2, load(function() i = i + 1 return pieces[i] end)))
		result("J loadstring", loadstring and select(2, loadstring(bin)) or "absent")
		result("J require_bin", select(2, pcall(require, "binmod")))
		result("J loadfile_bin", select(2, loadfile(dir .. "/lib/binmod.lua")))
		result("J load_text", load("return 40 + 2")())
		result("J load_env", load("return x", "=e", "t", { x = 7 })())
		result("J load_nil_env", (pcall(load("return print", "=e", "t", nil))))
		skynet.retpack(true)
	end)
end)
"#,
    ]
    .concat();
    let run = Node::new("confined-load", "", "", main, jailed).run();
    expect(&run, "T load_bin", |v| v == "42", "a trusted service to load bytecode");
    expect(&run, "T require_bin", |v| v == "42", "a trusted service to require a binary module");
    let binary = |v: &str| v.contains("attempt to load a binary chunk");
    for key in ["J load", "J load_b", "J load_bt_env", "J load_reader", "J require_bin", "J loadfile_bin"] {
        expect(&run, key, binary, "a refused binary chunk");
    }
    expect(&run, "J loadstring", |v| v == "absent" || binary(v), "no loadstring, or a text-only one");
    expect(&run, "J load_text", |v| v == "42", "text chunks to load");
    expect(&run, "J load_env", |v| v == "7", "load's env argument to work");
    expect(&run, "J load_nil_env", |v| v == "false", "an explicit nil env to stay nil");
}

#[test]
fn an_untrusted_service_requires_only_from_its_launch_lua_path() {
    let main = &[
        MAIN_HEAD,
        r#"
local dir = skynet.getenv "testdir"
skynet.start(function()
	-- the trusted control (it also puts secret.lua in the process's code cache)
	package.cpath = dir .. "/clib/?.so"
	result("T cpath", select(2, pcall(require, "evil")))
	package.path = dir .. "/secret/?.lua;" .. package.path
	result("T secret_path", (require "secret"))
	local jailed = skynet.newservice("--profile=jail", "jailed")
	skynet.call(jailed, "lua", "done")
	skynet.abort()
end)
"#,
    ]
    .concat();
    let jailed = &[
        JAILED_HEAD,
        r#"
local dir = skynet.getenv "testdir"
result("J okmod", require("okmod").hi())
result("J embedded", type(require "skynet.queue"))
result("J searchpath", type(package.searchpath))
package.path = dir .. "/secret/?.lua;" .. package.path
result("J secret_path", select(2, pcall(require, "secret")))
table.insert(package.searchers, 1, function(name)
	local f, err = loadfile(dir .. "/secret/" .. name .. ".lua")
	return f or ("\n\t" .. err)
end)
result("J secret_searcher", select(2, pcall(require, "secret")))
package.cpath = dir .. "/clib/?.so"
result("J cpath", select(2, pcall(require, "evil")))
result("J codecache", select(2, pcall(require, "skybox.codecache")))
-- last: no other searcher is left after this
package.searchers = { function(name) return loadfile(dir .. "/secret/" .. name .. ".lua") end }
result("J secret_searchers", select(2, pcall(require, "secret")))
skynet.start(function()
	skynet.dispatch("lua", function() skynet.retpack(true) end)
end)
"#,
    ]
    .concat();
    let run = Node::new("confined-require", "", "", main, jailed).run();
    expect(&run, "T cpath", |v| v.contains("evil.so"), "a trusted service to try the C module");
    expect(&run, "T secret_path", |v| v == "SECRET", "a trusted service to follow package.path");
    expect(&run, "J okmod", |v| v == "okmod", "a module on lua_path");
    expect(&run, "J embedded", |v| v == "function", "the embedded library");
    expect(&run, "J searchpath", |v| v == "nil", "no package.searchpath");
    for key in ["J secret_path", "J secret_searcher", "J secret_searchers"] {
        expect(&run, key, |v| !v.contains("SECRET") && v.contains("not found"), "the module not found");
    }
    expect(&run, "J secret_searcher", |v| v.contains("not on this service's lua_path"), "loadfile refused");
    expect(&run, "J cpath", |v| v.contains("not found") && !v.contains("evil.so"), "no C searcher");
    expect(
        &run,
        "J codecache",
        |v| v.contains("not available to an untrusted service"),
        "no code cache control",
    );
}

#[test]
fn an_untrusted_service_reads_no_file_with_loadfile_dofile_or_blocking() {
    let main = &[
        MAIN_HEAD,
        r#"
local dir = skynet.getenv "testdir"
skynet.start(function()
	result("T loadfile_secret", loadfile(dir .. "/secret/secret.lua")())
	result("T readfile", require("skynet.blocking").readfile(dir .. "/secret/secret.lua"))
	local jailed = skynet.newservice("--profile=jail", "jailed")
	skynet.call(jailed, "lua", "blocking")
	skynet.abort()
end)
"#,
    ]
    .concat();
    let jailed = &[
        JAILED_HEAD,
        r#"
local dir = skynet.getenv "testdir"
result("J dofile", type(dofile))
result("J loadfile_secret", select(2, loadfile(dir .. "/secret/secret.lua")))
result("J loadfile_climb", select(2, loadfile(dir .. "/lib/../secret/secret.lua")))
result("J loadfile_etc", select(2, loadfile("/etc/passwd")))
result("J loadfile_ok", loadfile(dir .. "/lib/okmod.lua")().hi())
skynet.start(function()
	skynet.dispatch("lua", function()
		local blocking = require "skynet.blocking"
		result("J readfile", select(2, pcall(blocking.readfile, dir .. "/secret/secret.lua")))
		result("J sleep", blocking.sleep(1))
		skynet.retpack(true)
	end)
end)
"#,
    ]
    .concat();
    let run = Node::new("confined-files", "", "", main, jailed).run();
    expect(&run, "T loadfile_secret", |v| v == "SECRET", "a trusted service to load any file");
    expect(&run, "T readfile", |v| v.contains("SECRET"), "a trusted service to read any file");
    expect(&run, "J dofile", |v| v == "nil", "no dofile");
    for key in ["J loadfile_secret", "J loadfile_climb", "J loadfile_etc"] {
        expect(&run, key, |v| v.contains("not on this service's lua_path"), "loadfile refused");
    }
    expect(&run, "J loadfile_ok", |v| v == "okmod", "loadfile of a file on lua_path");
    expect(&run, "J readfile", |v| v.contains("no files for an untrusted service"), "readfile refused");
    expect(&run, "J sleep", |v| v == "true", "the rest of skybox.blocking");
}

#[test]
fn an_untrusted_service_is_capped_by_its_profile_memory_and_may_only_lower_it() {
    let main = &[
        MAIN_HEAD,
        r#"
skynet.start(function()
	result("T alloc_8m", (pcall(string.rep, "x", 8 * 1024 * 1024)))
	local jailed = skynet.newservice("--profile=jail", "jailed")
	skynet.call(jailed, "lua", "alloc", "J alloc_8m", 8 * 1024 * 1024)
	skynet.call(jailed, "lua", "alloc", "J alloc_1m", 1024 * 1024)
	skynet.call(jailed, "lua", "kb")
	local lower = skynet.newservice("--profile=jail", "jailed", "lower")
	skynet.call(lower, "lua", "alloc", "L alloc_1m", 1024 * 1024)
	skynet.abort()
end)
"#,
    ]
    .concat();
    let jailed = &[
        JAILED_HEAD,
        r#"
local mode = ...
if mode == "lower" then
	skynet.memlimit(512 * 1024)
else
	result("J raise", select(2, pcall(skynet.memlimit, 64 * 1024 * 1024)))
end
skynet.start(function()
	skynet.dispatch("lua", function(_, _, cmd, key, n)
		if cmd == "alloc" then
			local ok, err = pcall(string.rep, "x", n)
			result(key, ok or err)
		else
			collectgarbage()
			result("J kb", collectgarbage "count")
		end
		skynet.retpack(true)
	end)
end)
"#,
    ]
    .concat();
    let run = Node::new("confined-memory", "memory=4M", "", main, jailed).run();
    expect(&run, "T alloc_8m", |v| v == "true", "a trusted service to allocate 8 MiB");
    expect(&run, "J raise", |v| v.contains("caps this service at 4194304 bytes"), "skynet.memlimit refused");
    expect(&run, "J alloc_8m", |v| v.contains("not enough memory"), "the 4 MiB cap to stop 8 MiB");
    expect(&run, "J alloc_1m", |v| v == "true", "room under the cap");
    expect(&run, "J kb", |v| v.parse::<f64>().is_ok_and(|kb| kb < 4096.0), "a heap under the cap");
    expect(&run, "L alloc_1m", |v| v.contains("not enough memory"), "a lowered limit to hold");
}

#[test]
fn an_untrusted_service_still_sends_calls_sleeps_and_requires() {
    let main = &[
        MAIN_HEAD,
        r#"
skynet.start(function()
	skynet.dispatch("lua", function(_, _, cmd, arg)
		if cmd == "ping" then
			skynet.retpack "pong"
		elseif cmd == "note" then
			result("T note", arg)
		end
	end)
	local jailed = skynet.newservice("--profile=jail", "jailed", skynet.self())
	result("J run", skynet.call(jailed, "lua", "run"))
	-- a built-in (embedded) service, confined too
	local dc = skynet.newservice("--profile=jail", "datacenterd")
	skynet.call(dc, "lua", "UPDATE", "k", 5)
	result("J datacenter", skynet.call(dc, "lua", "QUERY", "k"))
	skynet.abort()
end)
"#,
    ]
    .concat();
    let jailed = r#"
local skynet = require "skynet"
local queue = require "skynet.queue"
local okmod = require "okmod"
local main = tonumber((...))
skynet.start(function()
	skynet.dispatch("lua", function()
		skynet.sleep(1)
		local fired, forked = false, false
		skynet.timeout(1, function() fired = true end)
		skynet.fork(function() forked = true end)
		skynet.sleep(5)
		local pong = skynet.call(main, "lua", "ping")
		skynet.send(main, "lua", "note", "from-jail")
		local cs, ran = queue(), false
		cs(function() ran = true end)
		print("hello", "from", 42)
		skynet.retpack(fired, forked, pong, ran, okmod.hi())
	end)
end)
"#;
    let run = Node::new("confined-skynet", "", "", main, jailed).run();
    expect(&run, "J run", |v| v == "true true pong true okmod", "timers, forks, calls, queue, require");
    expect(&run, "T note", |v| v == "from-jail", "a one-way message from the untrusted service");
    assert!(
        run.lines().any(|l| l.starts_with("[:") && l.ends_with("] hello\tfrom\t42")),
        "print of an untrusted service is a log line of the service\n{}",
        run.report()
    );
    expect(&run, "J datacenter", |v| v == "5", "a built-in service under the untrusted profile");
}

/// A port nothing listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port()
}

#[test]
fn an_untrusted_service_uses_sockets_only_as_its_profile_allows() {
    let (listen_ok, listen_no, connect_no) = (free_port(), free_port(), free_port());
    // The peer the profile lets it connect to: says hi.
    let peer = TcpListener::bind("127.0.0.1:0").expect("bind the peer");
    let connect_ok = peer.local_addr().expect("peer address").port();
    let peer_thread = std::thread::spawn(move || {
        let (mut stream, _) = peer.accept().expect("accept the untrusted service");
        stream.write_all(b"hi\n").expect("greet");
    });
    let main = format!(
        r#"
local skynet = require "skynet"
require "skynet.manager"
local socket = require "skynet.socket"
local result = require "testout"
skynet.start(function()
	-- the trusted control: the port the untrusted service may not use is usable
	local id = socket.listen("127.0.0.1", {listen_no})
	socket.close(id)
	result("T listen_no", "ok")
	skynet.dispatch("lua", function() skynet.abort() end)
	skynet.newservice("--profile=nonet", "nonet")
	skynet.newservice("--profile=jail", "jailed", skynet.self())
end)
"#
    );
    let jailed = format!(
        r#"
local skynet = require "skynet"
local socket = require "skynet.socket"
local driver = require "skynet.socketdriver"
local result = require "testout"
local main = tonumber((...))
skynet.start(function()
	result("J listen_no", pcall(socket.listen, "127.0.0.1", {listen_no}))
	result("J connect_no", pcall(socket.open, "127.0.0.1", {connect_no}))
	result("J udp_no", pcall(socket.udp, function() end, "127.0.0.1", {listen_no}))
	result("J bind", pcall(driver.bind, 0))
	local peer = assert(socket.open("127.0.0.1", {connect_ok}))
	result("J connect_ok", socket.readline(peer))
	socket.close(peer)
	local id = socket.listen("127.0.0.1", {listen_ok})
	socket.start(id, function(fd)
		socket.start(fd)
		local line = socket.readline(fd)
		socket.write(fd, "echo:" .. line .. "\n")
		result("J served", line)
		skynet.send(main, "lua", "done")
	end)
	result("J listening", "yes")
end)
"#
    );
    let nonet = format!(
        r#"
local skynet = require "skynet"
local socket = require "skynet.socket"
local result = require "testout"
skynet.start(function()
	result("N listen", pcall(socket.listen, "127.0.0.1", {listen_ok}))
	result("N udp", pcall(socket.udp, function() end))
end)
"#
    );
    let node = Node::new(
        "confined-net",
        &format!("listen={listen_ok} connect=127.0.0.1:{connect_ok}"),
        &format!("profile_nonet = \"commands={COMMANDS} send=any\""),
        &main,
        &jailed,
    );
    node.dir.write("svc/nonet.lua", &nonet);
    let mut skybox = Spawned::start(&["run", &node.cfg()], node.dir.path());
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut lines = Vec::new();
    while !lines.iter().any(|l: &String| l.contains("RESULT J listening")) {
        match skybox.next_line(deadline) {
            Some(line) => lines.push(line),
            None => panic!("the untrusted service did not listen:\n{}", lines.join("\n")),
        }
    }
    // An outside client of the port the profile allows.
    let client = TcpStream::connect(("127.0.0.1", listen_ok)).expect("connect to the untrusted service");
    client.set_read_timeout(Some(Duration::from_secs(10))).expect("a read timeout");
    (&client).write_all(b"hello\n").expect("send a line");
    let mut answer = String::new();
    BufReader::new(&client).read_line(&mut answer).expect("read the answer");
    assert_eq!(answer, "echo:hello\n", "log so far:\n{}", lines.join("\n"));
    // The node aborts once the service has served; the rest of its log.
    while let Some(line) = skybox.next_line(deadline) {
        lines.push(line);
    }
    peer_thread.join().expect("the peer thread");
    assert!(Instant::now() < deadline, "the node did not finish:\n{}", lines.join("\n"));
    let run = Run {
        command: format!("skybox run {}", node.cfg()),
        status: skybox.child.wait().ok(),
        timed_out: Instant::now() >= deadline,
        elapsed: Duration::ZERO,
        stdout: lines.join("\n"),
        stderr: String::new(),
    };
    expect(&run, "T listen_no", |v| v == "ok", "a trusted service to listen on that port");
    let refused = |v: &str| v.starts_with("false ") && v.contains("refused: profile jail does not allow it");
    expect(&run, "J listen_no", refused, "listen on a port the profile does not allow refused");
    expect(&run, "J connect_no", refused, "connect to a peer the profile does not allow refused");
    expect(&run, "J udp_no", refused, "binding UDP on a port the profile does not allow refused");
    expect(&run, "J bind", |v| v.contains("may not use the process's descriptors"), "bind(fd) refused");
    expect(&run, "J connect_ok", |v| v == "hi", "connect to the allowed peer");
    expect(&run, "J served", |v| v == "hello", "the outside client served");
    let no_network =
        |v: &str| v.starts_with("false ") && v.contains("refused: profile nonet grants no network");
    expect(&run, "N listen", no_network, "no socket without listen/connect rules");
    expect(&run, "N udp", no_network, "no UDP socket without rules");
    // One log line per refusal, besides the service's own report of the error.
    let logged = |needle: &str| run.lines().filter(|l| l.contains(needle) && !l.contains("RESULT")).count();
    for needle in [
        format!("socket listen 127.0.0.1:{listen_no} refused"),
        format!("socket connect 127.0.0.1:{connect_no} refused"),
        format!("socket listen 127.0.0.1:{listen_ok} refused: profile nonet"),
    ] {
        assert_eq!(logged(&needle), 1, "log lines with {needle:?}\n{}", run.report());
    }
}

/// Under the default send rules (its tenant and public names only) an untrusted service still
/// starts through `.launcher` (its start report is the launcher's text words, which every
/// profile may send), answers its caller, and cannot send to the operator's services.
#[test]
fn an_untrusted_service_with_default_send_rules_starts_answers_and_stays_in_its_tenant() {
    let main = &[
        MAIN_HEAD,
        r#"
skynet.start(function()
	local strict = skynet.newservice("--profile=strict", "jailed", skynet.self())
	result("started", strict ~= nil)
	result("answers", skynet.call(strict, "lua", "ping"))
	result("reaches main", skynet.call(strict, "lua", "poke"))
	skynet.abort()
end)
"#,
    ]
    .concat();
    let jailed = r#"
local skynet = require "skynet"
local core = require "skynet.core"
local main = tonumber((...))
skynet.start(function()
	skynet.dispatch("lua", function(_, _, cmd)
		if cmd == "ping" then
			skynet.retpack("pong")
		else
			skynet.retpack(core.send(main, skynet.PTYPE_LUA, 0, skynet.pack("poke")) ~= nil)
		end
	end)
end)
"#;
    let node = Node::new("confined-strict", "", "profile_strict = \"commands=TIMEOUT,EXIT\"", main, jailed);
    let run = node.run();
    expect(&run, "started", |v| v == "true", "newservice returns");
    expect(&run, "answers", |v| v == "pong", "its answer to a trusted caller");
    expect(&run, "reaches main", |v| v == "false", "no send to the operator's service");
    assert!(
        run.lines().any(|l| l.contains("send refused: profile strict may not send to")),
        "{}",
        run.report()
    );
}
