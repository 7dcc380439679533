//! Runs every Lua suite in `tests/lua/` on the real `skybox` binary, one `#[test]` per suite.
//!
//! Registered in host/Cargo.toml:
//!
//! ```toml
//! [[test]]
//! name = "lua_suites"
//! path = "../tests/lua_suites.rs"
//! ```
//!
//! Each suite is a start service using `tests/lua/testlib.lua`: it logs `ok - NAME` /
//! `not ok - NAME: ERR` per case, then exactly one `N passed, M failed` line, then aborts the
//! node. A suite passes when the process exits with code 0 within 60 s, the summary line is
//! there once with M == 0 and N > 0, and no case failed. Some suites have extra checks on the
//! log (see the `suites!` list at the bottom).

#[path = "support/mod.rs"]
mod support;

use std::collections::BTreeSet;
use support::{Run, repo_root, run_skybox};

struct Suite {
    name: &'static str,
    run: Run,
    passed: u32,
}

fn fail(suite: &Suite, why: &str) -> ! {
    let mut failing = String::new();
    let mut in_case = false;
    for line in suite.run.lines() {
        if line.contains("not ok - ") {
            in_case = true;
            failing.push_str(line);
            failing.push('\n');
        } else if in_case && line.contains("] #") {
            failing.push_str(line);
            failing.push('\n');
        } else {
            in_case = false;
        }
    }
    if failing.is_empty() {
        failing.push_str("(no `not ok` lines)\n");
    }
    panic!(
        "Lua suite {} failed: {why}\n=== failing cases ===\n{failing}=== run ===\n{}",
        suite.name,
        suite.run.report()
    );
}

/// Parses `... N passed, M failed` (the line may carry a `[:0000000a] ` prefix).
fn parse_summary(line: &str) -> Option<(u32, u32)> {
    let rest = line.trim_end().strip_suffix(" failed")?;
    let (before, failed) = rest.rsplit_once(", ")?;
    let failed = failed.trim().parse().ok()?;
    let before = before.strip_suffix(" passed")?;
    let passed = before.rsplit(' ').next()?.parse().ok()?;
    Some((passed, failed))
}

fn run_suite(name: &'static str) -> Suite {
    let root = repo_root();
    let lua_dir = root.join("tests").join("lua");
    let lua_dir_s = lua_dir.to_string_lossy().into_owned();
    // Extra command-line arguments for a suite, one per line, in tests/lua/NAME.args.
    let extra = std::fs::read_to_string(lua_dir.join(format!("{name}.args"))).unwrap_or_default();
    let mut args = vec!["run", "--start", name, "--path", &lua_dir_s];
    args.extend(extra.lines().map(str::trim).filter(|l| !l.is_empty()));
    let run = run_skybox(&args, &root);
    let mut suite = Suite { name, run, passed: 0 };

    if suite.run.timed_out {
        fail(&suite, "timed out (killed after 60 s)");
    }
    let summaries: Vec<(u32, u32)> = suite.run.lines().filter_map(parse_summary).collect();
    let not_ok = suite.run.lines().filter(|l| l.contains("not ok - ")).count();
    let ok_lines = suite.run.lines().filter(|l| l.contains("] ok - ") || l.starts_with("ok - ")).count();
    if suite.run.code() != Some(0) {
        fail(&suite, &format!("exit code {:?}, expected 0", suite.run.code()));
    }
    match summaries.as_slice() {
        [] => fail(&suite, "no `N passed, M failed` summary line"),
        [(passed, failed)] => {
            if *failed != 0 {
                fail(&suite, &format!("{failed} case(s) failed"));
            }
            if *passed == 0 {
                fail(&suite, "no case ran (0 passed)");
            }
            if not_ok != 0 {
                fail(&suite, "`not ok` lines despite a clean summary");
            }
            if ok_lines != *passed as usize {
                fail(&suite, &format!("{ok_lines} `ok -` lines but the summary says {passed} passed"));
            }
            suite.passed = *passed;
        }
        many => fail(&suite, &format!("{} summary lines, expected exactly one", many.len())),
    }
    suite
}

/// test_overload: the host warned about the flooded service's queue.
fn check_overload(suite: &Suite) {
    let warned = suite.run.lines().any(|l| {
        l.split_once("May overload, message queue length = ")
            .and_then(|(_, n)| n.trim().parse::<u64>().ok())
            .is_some_and(|n| n > 1024)
    });
    if !warned {
        fail(suite, "no `May overload, message queue length = N` (N > 1024) log line");
    }
}

/// test_log: exact `skynet.error` formatting, `[:%08x] a b c`.
fn check_log(suite: &Suite) {
    let lines: Vec<&str> = suite.run.lines().collect();
    let find_addr = |marker: &str| -> Option<String> {
        lines.iter().find_map(|l| l.split_once(marker).map(|(_, a)| a.trim().to_string()))
    };
    let Some(me) = find_addr("log-check self=") else {
        fail(suite, "no `log-check self=` line");
    };
    if me.len() != 9 || !me.starts_with(':') || !me[1..].chars().all(|c| c.is_ascii_hexdigit()) {
        fail(suite, &format!("skynet.address gave {me:?}, expected :%08x"));
    }
    for expected in [
        format!("[{me}] log-check: a b c"),
        format!("[{me}] log-check: 1 2.5 nil true false"),
        format!("[{me}] log-check: unicode ✓ and tabs\tkept"),
        format!("[{me}] log-check: done"),
    ] {
        if !lines.iter().any(|l| l.ends_with(expected.as_str())) {
            fail(suite, &format!("missing log line {expected:?}"));
        }
    }
    if !lines.iter().any(|l| l.starts_with(&format!("[{me}] log-check: a b c"))) {
        fail(suite, "log lines do not start with the `[:%08x] ` prefix");
    }
    let Some(echo) = find_addr("log-check echo=") else {
        fail(suite, "no `log-check echo=` line");
    };
    let prefix = format!("[{echo}] ");
    if !lines.iter().any(|l| l.starts_with(&prefix) && l.contains("log-check: from echo")) {
        fail(suite, &format!("the error raised in echo_svc was not logged under {prefix:?}"));
    }
}

/// Heap warnings: one as the heap passes 32 MB, one past 64 MB, under the growing service.
fn check_memory_warnings(suite: &Suite) {
    let Some(addr) = suite.run.lines().find_map(|l| l.split("memory-warning-service=").nth(1)) else {
        fail(suite, "no `memory-warning-service=` line");
    };
    let prefix = format!("[{}] Memory warning ", addr.trim());
    let warnings = suite.run.lines().filter(|l| l.starts_with(&prefix)).count();
    if warnings != 2 {
        fail(suite, &format!("expected 2 `Memory warning` lines under {addr}, saw {warnings}"));
    }
}

/// The monitor's report: one line per endless message, under the looping service.
fn check_endless(suite: &Suite) {
    let reports = suite.run.lines().filter(|l| l.contains("maybe in an endless loop")).count();
    if reports < 2 {
        fail(
            suite,
            &format!("expected the monitor to report both endless handlers, saw {reports} report(s)"),
        );
    }
    let well_formed = suite.run.lines().any(|l| {
        l.contains("] A message from [ :")
            && l.contains(" ] to [ :")
            && l.ends_with(" ] maybe in an endless loop")
    });
    if !well_formed {
        fail(
            suite,
            "the endless-loop line is not `A message from [ :A ] to [ :B ] maybe in an endless loop`",
        );
    }
}

macro_rules! suites {
    ($($name:ident $(=> $check:ident)?),* $(,)?) => {
        const SUITES: &[&str] = &[$(stringify!($name)),*];
        $(
            #[test]
            fn $name() {
                let suite = run_suite(stringify!($name));
                $( $check(&suite); )?
                eprintln!("{}: {} cases passed in {:?}", suite.name, suite.passed, suite.run.elapsed);
            }
        )*
    };
}

suites! {
    test_testlib,
    test_address,
    test_harbor,
    test_endless => check_endless,
    test_overload_proxy,
    test_no_hang,
    test_blocking,
    test_million,
    test_call,
    test_pack,
    test_session,
    test_timer,
    test_thread,
    test_queue,
    test_coroutine,
    test_errors,
    test_debug,
    test_env,
    test_select,
    test_memlimit => check_memory_warnings,
    test_proxy,
    test_overload => check_overload,
    test_stress,
    test_launch,
    test_log => check_log,
    test_shared_code,
    test_upvalues,
    test_socketdriver,
    test_crypt,
    test_bson,
    test_mongo_driver,
    test_memory,
    test_codecache,
    test_datacenter,
    test_multicast,
    test_multicast_core,
    test_datasheet_core,
    test_sharetable_core,
    test_debugchannel,
    test_stm,
    test_sharedata,
}

/// Every `tests/lua/test_*.lua` file must be listed above (and nothing else).
#[test]
fn every_suite_file_is_listed() {
    let dir = repo_root().join("tests").join("lua");
    let on_disk: BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter_map(|n| n.strip_suffix(".lua").map(str::to_string))
        .filter(|n| n.starts_with("test_"))
        .collect();
    let listed: BTreeSet<String> = SUITES.iter().map(|s| s.to_string()).collect();
    let missing: Vec<_> = on_disk.difference(&listed).collect();
    let stale: Vec<_> = listed.difference(&on_disk).collect();
    assert!(missing.is_empty(), "suites without a #[test] in tests/lua_suites.rs: {missing:?}");
    assert!(stale.is_empty(), "#[test]s without a suite file in tests/lua: {stale:?}");
}

#[test]
fn summary_line_parsing() {
    assert_eq!(parse_summary("[:0000000b] 12 passed, 0 failed"), Some((12, 0)));
    assert_eq!(parse_summary("3 passed, 2 failed\r"), Some((3, 2)));
    assert_eq!(parse_summary("[:0000000b] ok - 3 passed, 2 failed things"), None);
    assert_eq!(parse_summary("[:0000000b] nothing here"), None);
}
