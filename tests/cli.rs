//! Command-line and config-file behaviour of the real `skybox` binary.
//!
//! Registered in host/Cargo.toml:
//!
//! ```toml
//! [[test]]
//! name = "cli"
//! path = "../tests/cli.rs"
//! ```
//!
//! Config files are skynet's: Lua assignments, `include "file"` (relative to the including
//! file's directory), `$VAR` replaced by the environment variable before parsing; every key ends
//! up in the environment read by `skynet.getenv` (as a string).

#[path = "support/mod.rs"]
mod support;

use std::time::Duration;
use support::{RUN_TIMEOUT, Run, TempDir, have_guests, repo_root, run_skybox, run_skybox_with};

fn assert_exit(run: &Run, code: i32) {
    assert!(!run.timed_out, "skybox did not exit\n{}", run.report());
    assert_eq!(run.code(), Some(code), "unexpected exit code\n{}", run.report());
    assert!(
        !run.stderr.contains("panicked") && !run.stdout.contains("panicked"),
        "skybox panicked\n{}",
        run.report()
    );
}

/// Exit code 1 and exactly one non-empty stderr line, which mentions every item of `mentions`.
fn assert_one_line_error(run: &Run, mentions: &[&str]) {
    assert_exit(run, 1);
    let lines = run.stderr_lines();
    assert_eq!(lines.len(), 1, "expected exactly one error line on stderr\n{}", run.report());
    for m in mentions {
        assert!(lines[0].contains(m), "the error line does not mention {m:?}\n{}", run.report());
    }
}

const CFGCHECK: &str = r#"
local skynet = require "skynet"
require "skynet.manager"
local mod = require "cfgmod"	-- found through lua_path

skynet.start(function()
	for _, k in ipairs { "thread", "start", "harbor", "greeting", "included_number", "answer",
			"flag", "expanded", "combined", "overridden" } do
		skynet.error("CFG " .. k .. "=" .. tostring(skynet.getenv(k)))
	end
	skynet.error("CFG module=" .. mod.hello())
	skynet.abort()
end)
"#;

#[test]
fn config_keys_include_and_env_expansion_reach_getenv() {
    let dir = TempDir::new("cli-cfg");
    dir.write("lib/cfgmod.lua", "return { hello = function() return 'cfgmod loaded' end }\n");
    dir.write("svc/cfgcheck.lua", CFGCHECK);
    dir.write(
        "conf/other.cfg",
        "greeting = \"hello from other.cfg\"\nincluded_number = 7\noverridden = \"from other\"\n",
    );
    dir.write(
        "conf/main.cfg",
        r#"-- a skynet-style config
include "other.cfg"
root = "./"
thread = 2
harbor = 0
start = "cfgcheck"
luaservice = "$SKYBOX_CLI_DIR/svc/?.lua"
lua_path = "$SKYBOX_CLI_DIR/lib/?.lua"
answer = 42
flag = true
expanded = "home=$SKYBOX_CLI_VALUE!"
combined = root .. "sub/?.lua"
overridden = "from main"
"#,
    );
    let dir_s = dir.path().to_string_lossy().into_owned();
    // a relative config path, run from the scratch directory's parent
    let parent = dir.path().parent().unwrap().to_path_buf();
    let rel = dir.path().file_name().unwrap().to_string_lossy().into_owned() + "/conf/main.cfg";
    let run = run_skybox_with(
        &["run", &rel],
        &parent,
        &[("SKYBOX_CLI_DIR", &dir_s), ("SKYBOX_CLI_VALUE", "xyz")],
        RUN_TIMEOUT,
    );
    assert_exit(&run, 0);
    for expected in [
        "CFG thread=2",
        "CFG start=cfgcheck",
        "CFG harbor=0",
        "CFG greeting=hello from other.cfg",
        "CFG included_number=7",
        "CFG answer=42",
        "CFG flag=true",
        "CFG expanded=home=xyz!",
        "CFG combined=./sub/?.lua",
        "CFG overridden=from main",
        "CFG module=cfgmod loaded",
    ] {
        assert!(
            run.lines().any(|l| l.ends_with(expected)),
            "missing log line ending with {expected:?}\n{}",
            run.report()
        );
    }
}

/// A library module on `lua_path` wins over the embedded copy, in every service (the lookup on
/// disk is remembered per path, so later services must get the same answer).
#[test]
fn a_module_on_lua_path_overrides_the_embedded_library() {
    let dir = TempDir::new("cli-override");
    dir.write("lib/skynet/queue.lua", "return function() return 'queue from lua_path' end\n");
    dir.write(
        "svc/overrider.lua",
        r#"
local skynet = require "skynet"
require "skynet.manager"
local mode = ...
skynet.start(function()
	skynet.error("QUEUE " .. require("skynet.queue")())
	if mode ~= "child" then
		skynet.newservice("overrider", "child")
		skynet.newservice("overrider", "child")
		skynet.abort()
	end
end)
"#,
    );
    let path = dir.path().to_string_lossy().into_owned();
    let lua_path = format!("lua_path={path}/lib/?.lua");
    let run = run_skybox(
        &["run", "--start", "overrider", "--path", &format!("{path}/svc"), "--set", &lua_path],
        dir.path(),
    );
    assert_exit(&run, 0);
    let overridden = run.lines().filter(|l| l.ends_with("QUEUE queue from lua_path")).count();
    assert_eq!(overridden, 3, "every service loads the module from lua_path\n{}", run.report());
}

#[test]
fn bad_config_syntax_exits_1_with_one_line() {
    let dir = TempDir::new("cli-syntax");
    let cfg = dir.write("broken.cfg", "thread = = 2\nstart = \"main\"\n");
    let run = run_skybox(&["run", &cfg.to_string_lossy()], dir.path());
    assert_one_line_error(&run, &["broken.cfg"]);
}

#[test]
fn runtime_error_in_config_exits_1_with_one_line() {
    let dir = TempDir::new("cli-cfgerror");
    let cfg = dir.write("raises.cfg", "thread = 2\nstart = nil .. \"x\"\n");
    let run = run_skybox(&["run", &cfg.to_string_lossy()], dir.path());
    assert_one_line_error(&run, &["raises.cfg"]);
}

#[test]
fn undefined_variable_in_config_exits_1_with_one_line() {
    let dir = TempDir::new("cli-novar");
    let cfg = dir.write(
        "novar.cfg",
        "thread = 2\nstart = \"main\"\nluaservice = \"$SKYBOX_SURELY_UNDEFINED_VAR/?.lua\"\n",
    );
    let run = run_skybox(&["run", &cfg.to_string_lossy()], dir.path());
    assert_one_line_error(&run, &["SKYBOX_SURELY_UNDEFINED_VAR"]);
}

#[test]
fn missing_include_exits_1_with_one_line() {
    let dir = TempDir::new("cli-noinclude");
    let cfg = dir.write("main.cfg", "include \"not_there.cfg\"\nthread = 2\n");
    let run = run_skybox(&["run", &cfg.to_string_lossy()], dir.path());
    assert_one_line_error(&run, &["not_there.cfg"]);
}

#[test]
fn missing_start_service_in_config_exits_1_with_one_line() {
    let dir = TempDir::new("cli-nostart");
    let cfg = dir.write(
        "main.cfg",
        "thread = 2\nstart = \"no_such_start_service\"\nluaservice = \"$SKYBOX_CLI_DIR/?.lua\"\n",
    );
    let dir_s = dir.path().to_string_lossy().into_owned();
    let run = run_skybox_with(
        &["run", &cfg.to_string_lossy()],
        dir.path(),
        &[("SKYBOX_CLI_DIR", &dir_s)],
        RUN_TIMEOUT,
    );
    assert_one_line_error(&run, &["no_such_start_service"]);
}

#[test]
fn missing_start_service_on_command_line_exits_1_with_one_line() {
    let dir = TempDir::new("cli-nostart2");
    let dir_s = dir.path().to_string_lossy().into_owned();
    let run = run_skybox(&["run", "--start", "no_such_start_service", "--path", &dir_s], dir.path());
    assert_one_line_error(&run, &["no_such_start_service"]);
}

#[test]
fn start_service_failing_in_start_exits_1() {
    let dir = TempDir::new("cli-badstart");
    dir.write(
        "badstart.lua",
        "local skynet = require 'skynet'\nskynet.start(function() error('badstart fails') end)\n",
    );
    let dir_s = dir.path().to_string_lossy().into_owned();
    let run = run_skybox(&["run", "--start", "badstart", "--path", &dir_s], dir.path());
    assert_exit(&run, 1);
}

#[test]
fn unreadable_config_exits_1() {
    let dir = TempDir::new("cli-noconfig");
    let missing = dir.path().join("does_not_exist.cfg");
    let run = run_skybox(&["run", &missing.to_string_lossy()], dir.path());
    assert_one_line_error(&run, &["does_not_exist.cfg"]);

    // a directory is not a readable config file either
    let sub = dir.path().join("a_directory.cfg");
    std::fs::create_dir_all(&sub).unwrap();
    let run = run_skybox(&["run", &sub.to_string_lossy()], dir.path());
    assert_exit(&run, 1);
    assert!(!run.stderr_lines().is_empty(), "no error message\n{}", run.report());
}

#[test]
fn run_without_config_or_start_is_a_usage_error() {
    let run = run_skybox(&["run"], &repo_root());
    assert!(!run.timed_out, "{}", run.report());
    assert_ne!(run.code(), Some(0), "`skybox run` with nothing to run succeeded\n{}", run.report());
    assert!(!run.stderr_lines().is_empty(), "no usage message\n{}", run.report());
}

const LOGMANY: &str = r#"
local skynet = require "skynet"
require "skynet.manager"

skynet.start(function()
	skynet.error("logmany self=" .. skynet.address(skynet.self()))
	for i = 1, 500 do
		skynet.error("logmany line " .. i)
	end
	skynet.error("logmany last line before abort")
	skynet.abort()
end)
"#;

#[test]
fn logger_file_gets_every_line_logged_before_abort() {
    let dir = TempDir::new("cli-logger");
    dir.write("logmany.lua", LOGMANY);
    let cfg = dir.write(
        "main.cfg",
        "thread = 2\nstart = \"logmany\"\nluaservice = \"$SKYBOX_CLI_DIR/?.lua\"\nlogger = \"$SKYBOX_CLI_DIR/out.log\"\n",
    );
    let dir_s = dir.path().to_string_lossy().into_owned();
    let run = run_skybox_with(
        &["run", &cfg.to_string_lossy()],
        &repo_root(),
        &[("SKYBOX_CLI_DIR", &dir_s)],
        RUN_TIMEOUT,
    );
    assert_exit(&run, 0);
    let log_path = dir.path().join("out.log");
    let log = std::fs::read_to_string(&log_path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}\n{}", log_path.display(), run.report()));
    let lines: Vec<&str> = log.lines().collect();

    let me = lines
        .iter()
        .find_map(|l| l.split_once("logmany self=").map(|(_, a)| a.trim().to_string()))
        .unwrap_or_else(|| panic!("no `logmany self=` line in {}:\n{log}", log_path.display()));
    assert!(
        me.len() == 9 && me.starts_with(':') && me[1..].chars().all(|c| c.is_ascii_hexdigit()),
        "bad address {me:?}"
    );
    // every line of the file has the `[:%08x] text` shape
    for l in &lines {
        let at = l.find("[:").unwrap_or_else(|| panic!("log line without `[:%08x] `: {l:?}"));
        let rest = &l[at..];
        assert!(
            rest.len() >= 12
                && rest.as_bytes()[10] == b']'
                && rest.as_bytes()[11] == b' '
                && rest[2..10].chars().all(|c| c.is_ascii_hexdigit()),
            "log line without `[:%08x] ` prefix: {l:?}"
        );
    }
    // all 500 lines plus the last one, in order
    let marker = format!("[{me}] logmany line ");
    let last = format!("[{me}] logmany last line before abort");
    let mut next = 1;
    let mut saw_last = false;
    for l in &lines {
        if let Some((_, n)) = l.split_once(marker.as_str()) {
            assert_eq!(n.trim_end().parse::<u32>().ok(), Some(next), "out of order or malformed: {l:?}");
            next += 1;
        }
        if l.ends_with(last.as_str()) {
            saw_last = true;
        }
    }
    assert_eq!(next, 501, "only {} of 500 lines reached {}", next - 1, log_path.display());
    assert!(saw_last, "the line logged right before skynet.abort() is missing from the log file");
    assert!(
        !run.stdout.contains("logmany line 250"),
        "with logger = file, lines should go to the file, not stdout\n{}",
        run.report()
    );
}

#[test]
fn abort_exits_0_quickly() {
    let dir = TempDir::new("cli-abort");
    dir.write(
        "quick.lua",
        "local skynet = require 'skynet'\nrequire 'skynet.manager'\nskynet.start(function() skynet.error('quick done') skynet.abort() end)\n",
    );
    let dir_s = dir.path().to_string_lossy().into_owned();
    let run = run_skybox_with(
        &["run", "--start", "quick", "--path", &dir_s],
        dir.path(),
        &[],
        Duration::from_secs(20),
    );
    assert_exit(&run, 0);
    assert!(run.lines().any(|l| l.ends_with("] quick done")), "{}", run.report());
    assert!(run.elapsed < Duration::from_secs(10), "took {:?}\n{}", run.elapsed, run.report());
}

const BUSY: &str = r#"
local skynet = require "skynet"
require "skynet.manager"

local mode = ...

if mode == "worker" then
	-- keeps itself and its peers busy: a flood of sends that never ends
	skynet.start(function()
		local peers = {}
		skynet.dispatch("lua", function(session, source, cmd, list)
			if cmd == "peers" then
				peers = list
				skynet.fork(function()
					while true do
						for _, p in ipairs(peers) do
							skynet.send(p, "lua", "noise", string.rep("n", 100))
						end
						skynet.yield()
					end
				end)
			end
		end)
	end)
else
	skynet.start(function()
		local workers = {}
		for i = 1, 8 do
			workers[i] = skynet.newservice(SERVICE_NAME, "worker")
		end
		for _, w in ipairs(workers) do
			skynet.send(w, "lua", "peers", workers)
		end
		skynet.sleep(30)
		skynet.error("busy: aborting now")
		skynet.abort()
	end)
end
"#;

#[test]
fn abort_while_services_are_busy_exits_0() {
    let dir = TempDir::new("cli-busy");
    dir.write("busy.lua", BUSY);
    let dir_s = dir.path().to_string_lossy().into_owned();
    let run = run_skybox_with(
        &["run", "--start", "busy", "--path", &dir_s],
        dir.path(),
        &[],
        Duration::from_secs(30),
    );
    assert_exit(&run, 0);
    assert!(run.lines().any(|l| l.ends_with("] busy: aborting now")), "{}", run.report());
    assert!(run.elapsed < Duration::from_secs(10), "abort took {:?}\n{}", run.elapsed, run.report());
}

#[test]
fn demo_config_runs_and_exits_0() {
    if !have_guests("demo_config_runs_and_exits_0", &["echo", "spin", "hog"]) {
        return;
    }
    let root = repo_root();
    let run = run_skybox(&["run", "services/demo/config"], &root);
    assert_exit(&run, 0);
    // The bank balances, and the misbehaving tenant is contained while the other answers.
    for line in [
        "total   300 coins (nothing lost, nothing created)",
        "red tries to ABORT the node: ABORT refused",
        "blue answers \"still here\" while red loops",
        "red's endless loop ran out of fuel: killed, its caller got an error",
        "tenant red is at its limit of 33554432 bytes of memory",
        "red's memory bomb hit its tenant's 32 MiB: killed, its caller got an error",
        "blue answers \"still here\" after",
        "== the end: the bank, blue and the node carried on ==",
    ] {
        assert!(run.lines().any(|l| l.contains(line)), "no '{line}'\n{}", run.report());
    }
}
