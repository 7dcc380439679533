//! Record and replay (docs/RECORD.md) through the real binary: a node records a service
//! (`record = "NAME"`), then `skybox replay FILE` must print exactly the lines that service
//! logged, with nothing of the outside world (no other service, no socket, the file read then
//! changed since). Lua services and wasm guests, on one and on several worker threads; a
//! divergence, changed code (refused, then allowed), `recordlimit`, and bad files.

#[path = "support/mod.rs"]
mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use support::{RUN_TIMEOUT, Run, Spawned, TempDir, have_guests, run_skybox};

/// A service whose run differs every time: random numbers, `pairs` order, clocks, three
/// senders racing, timeouts, calls to another service while others wait.
const SUBJECT: &str = r#"
local skynet = require "skynet"
local echo = tonumber((...))
local fired, count = 0, 0
skynet.start(function()
    skynet.error("random", math.random(1, 1000000), math.random())
    math.randomseed()
    skynet.error("reseeded", math.random(1000))
    local t = {}
    for i = 1, 30 do t["key" .. i] = i end
    local keys = {}
    for k in pairs(t) do keys[#keys + 1] = k end
    skynet.error("pairs", table.concat(keys, " "))
    skynet.error("clocks", skynet.now(), skynet.time(), skynet.hpc() % 1000000, os.time(), os.date("%H:%M:%S"), os.clock())
    -- A recorded call raises what it raised unrecorded (a string, not a wrapped error).
    local ok, err = pcall(os.time, {})
    skynet.error("os.time error", ok, type(err), err)
    for i = 1, 3 do
        skynet.timeout(math.random(1, 10), function()
            fired = fired + 1
            skynet.error("timeout", i, "at", skynet.now())
        end)
    end
    skynet.dispatch("lua", function(_, source, cmd, n)
        count = count + 1
        if cmd == "hit" then
            skynet.sleep(math.random(0, 2))
            local back = skynet.call(echo, "lua", n * 2)
            skynet.error("hit", n, "from", skynet.address(source), "count", count, "echo", back, "at", skynet.now())
            skynet.ret(skynet.pack(count))
        else
            skynet.error("finish after", count, "messages;", fired, "timeouts fired")
            skynet.ret(skynet.pack(count))
            skynet.exit()
        end
    end)
end)
"#;

const ECHO: &str = r#"
local skynet = require "skynet"
skynet.start(function()
    skynet.dispatch("lua", function(_, _, ...) skynet.ret(skynet.pack(...)) end)
end)
"#;

const SENDER: &str = r#"
local skynet = require "skynet"
local subject, base = ...
subject, base = tonumber(subject), tonumber(base)
skynet.start(function()
    skynet.dispatch("lua", function()
        for i = 1, 8 do
            skynet.sleep(math.random(0, 2))
            skynet.call(subject, "lua", "hit", base + i)
        end
        skynet.ret()
    end)
end)
"#;

/// Launches the subject (recorded) and three senders, waits for them, ends the node.
const MAIN: &str = r#"
local skynet = require "skynet"
require "skynet.manager"
skynet.start(function()
    local echo = skynet.newservice("echo")
    local subject = skynet.newservice("subject", echo)
    local senders = {}
    for s = 1, 3 do senders[s] = skynet.newservice("sender", subject, s * 100) end
    local done = 0
    for s = 1, 3 do
        skynet.fork(function() skynet.call(senders[s], "lua") done = done + 1 end)
    end
    while done < 3 do skynet.sleep(2) end
    skynet.sleep(12)
    skynet.call(subject, "lua", "finish")
    skynet.abort()
end)
"#;

fn config(threads: usize, record: &str, extra: &str) -> String {
    format!(
        "thread = {threads}\nstart = \"main\"\nluaservice = \"./?.lua\"\nrecord = \"{record}\"\n\
         recordpath = \"./rec\"\nlogger = \"./run.log\"\n{extra}"
    )
}

fn assert_ran(run: &Run) {
    assert!(!run.timed_out, "did not finish\n{}", run.report());
    assert!(
        !run.stderr.contains("panicked") && !run.stdout.contains("panicked"),
        "panicked\n{}",
        run.report()
    );
}

/// The only record file in `dir/rec`, and the address in its name.
fn the_record(dir: &Path) -> (PathBuf, String) {
    let files: Vec<PathBuf> =
        std::fs::read_dir(dir.join("rec")).expect("recordpath exists").map(|e| e.unwrap().path()).collect();
    assert_eq!(files.len(), 1, "one record expected: {files:?}");
    let stem = files[0].file_stem().unwrap().to_str().unwrap().to_string();
    let address = stem.rsplit('-').next().unwrap().to_string();
    (files[0].clone(), address)
}

/// The lines `address` logged during the run.
fn logged(dir: &Path, address: &str) -> Vec<String> {
    let log = std::fs::read_to_string(dir.join("run.log")).expect("run.log");
    let prefix = format!("[:{address}]");
    log.lines().filter(|l| l.starts_with(&prefix)).map(str::to_string).collect()
}

fn replay(dir: &Path, record: &Path, extra: &[&str]) -> Run {
    let mut args = vec!["replay", record.to_str().unwrap()];
    args.extend_from_slice(extra);
    let run = run_skybox(&args, dir);
    assert_ran(&run);
    run
}

/// Records the subject on `threads` workers; its lines, the record and the directory.
fn record_subject(threads: usize) -> (TempDir, PathBuf, Vec<String>) {
    let dir = TempDir::new("record-lua");
    for (name, code) in
        [("main.lua", MAIN), ("subject.lua", SUBJECT), ("echo.lua", ECHO), ("sender.lua", SENDER)]
    {
        dir.write(name, code);
    }
    dir.write("config", &config(threads, "subject", ""));
    let run = run_skybox(&["run", "config"], dir.path());
    assert_ran(&run);
    let (record, address) = the_record(dir.path());
    let lines = logged(dir.path(), &address);
    assert!(
        lines.iter().any(|l| l.contains("finish after 25 messages; 3 timeouts fired")),
        "{lines:#?}\n{}",
        run.report()
    );
    assert!(lines.iter().any(|l| l.contains("os.time error false string ")), "{lines:#?}");
    (dir, record, lines)
}

#[test]
fn a_lua_service_replays_line_for_line_on_one_and_on_four_threads() {
    let mut firsts = Vec::new();
    for threads in [1, 4] {
        let (dir, record, lines) = record_subject(threads);
        let run = replay(dir.path(), &record, &[]);
        assert_eq!(run.code(), Some(0), "{}", run.report());
        let replayed: Vec<&str> = run.stdout.lines().collect();
        assert_eq!(replayed, lines, "replay differs from the record ({threads} threads)\n{}", run.report());
        assert!(run.stderr.trim().is_empty(), "{}", run.report());
        firsts.push(lines.iter().find(|l| l.contains("random")).cloned());
    }
    // What was replayed did differ between runs (the check above is not of a fixed output).
    assert_ne!(firsts[0], firsts[1]);
}

#[test]
fn the_dump_lists_what_the_service_observed_and_did() {
    let (dir, record, _) = record_subject(2);
    let run = replay(dir.path(), &record, &["--dump"]);
    assert_eq!(run.code(), Some(0), "{}", run.report());
    for kind in [
        "message type=",
        "send type=",
        "command TIMEOUT",
        "clock Now",
        "call os.time",
        "call math.randomseed",
        "code ./subject.lua",
    ] {
        assert!(run.stdout.contains(kind), "no {kind:?} in the dump\n{}", run.report());
    }
    // The subject exits right after its last answer, and main aborts the node on that answer:
    // either may close the record first.
    assert!(
        run.stdout.contains("end: the service exited") || run.stdout.contains("end: the node stopped"),
        "no end mark in the dump\n{}",
        run.report()
    );
}

/// A fix that changes no input replays with the fix's lines; a change that asks for more
/// than the record holds diverges; either is refused without `--allow-changed-code`.
#[test]
fn changed_code_is_refused_then_replayed_and_a_divergence_is_caught() {
    let (dir, record, lines) = record_subject(2);
    let original = std::fs::read_to_string(dir.path().join("subject.lua")).unwrap();

    // The "fix": the same inputs, another line.
    dir.write(
        "subject.lua",
        &original.replace("skynet.error(\"finish after\"", "skynet.error(\"fixed: finish after\""),
    );
    let refused = replay(dir.path(), &record, &[]);
    assert_eq!(refused.code(), Some(1), "{}", refused.report());
    let stderr = refused.stderr_lines();
    assert_eq!(stderr.len(), 1, "{}", refused.report());
    assert!(
        stderr[0].contains("./subject.lua") && stderr[0].contains("--allow-changed-code"),
        "{}",
        refused.report()
    );
    assert!(refused.stdout.is_empty(), "{}", refused.report());

    let fixed = replay(dir.path(), &record, &["--allow-changed-code"]);
    assert_eq!(fixed.code(), Some(0), "{}", fixed.report());
    let expected: Vec<String> =
        lines.iter().map(|l| l.replace("] finish after", "] fixed: finish after")).collect();
    assert_eq!(fixed.stdout.lines().collect::<Vec<_>>(), expected, "{}", fixed.report());

    // A change that reads the clock once more: the record has something else next.
    dir.write("subject.lua", &original.replace("count = count + 1", "count = count + 1 skynet.now()"));
    let diverged = replay(dir.path(), &record, &["--allow-changed-code"]);
    assert_eq!(diverged.code(), Some(1), "{}", diverged.report());
    let last = diverged.stderr_lines().last().map(|l| l.to_string()).unwrap_or_default();
    assert!(
        last.starts_with("replay diverged at entry ") && last.contains("read the clock Now"),
        "{}",
        diverged.report()
    );
}

#[test]
fn a_guest_replays_line_for_line_reading_the_file_as_it_was() {
    if !have_guests("a_guest_replays_line_for_line_reading_the_file_as_it_was", &["journal"]) {
        return;
    }
    let mut ticks = Vec::new();
    for threads in [1, 3] {
        let dir = TempDir::new("record-wasm");
        dir.write("data/seed.txt", "the seed as recorded\nsecond line\n");
        dir.write(
            "main.lua",
            r#"
local skynet = require "skynet"
require "skynet.manager"
skynet.start(function()
    local journal = skynet.newservice("journal", "ticks=4", "seed=data/seed.txt")
    local done = 0
    for w = 1, 3 do
        skynet.fork(function()
            for i = 1, 5 do
                skynet.sleep(math.random(0, 3))
                skynet.call(journal, "lua", "add", "w" .. w, i)
            end
            done = done + 1
        end)
    end
    while done < 3 do skynet.sleep(2) end
    skynet.sleep(30)
    skynet.error("total", skynet.call(journal, "lua", "total"))
    skynet.call(journal, "lua", "exit")
    skynet.abort()
end)
"#,
        );
        let data = dir.path().join("data");
        let extra = format!(
            "wasmservice = \"{}/?.wasm\"\nwasm_profile = \"journal\"\n\
             profile_journal = \"commands=TIMEOUT,QUERY,EXIT,GETENV,STARTTIME,PROFILE send=any files=data:{}:ro\"\n",
            support::guests_dir().display(),
            data.display()
        );
        dir.write("config", &config(threads, "journal", &extra));
        let run = run_skybox(&["run", "config"], dir.path());
        assert_ran(&run);
        let (record, address) = the_record(dir.path());
        let lines = logged(dir.path(), &address);
        assert!(lines.iter().any(|l| l.contains("journal exits")), "{lines:#?}\n{}", run.report());
        assert!(lines.iter().any(|l| l.contains("the seed as recorded")), "{lines:#?}");
        // The file changes after the recording: the replay reads what was read then.
        dir.write("data/seed.txt", "another seed\n");
        let replayed = replay(dir.path(), &record, &[]);
        assert_eq!(replayed.code(), Some(0), "{}", replayed.report());
        assert_eq!(replayed.stdout.lines().collect::<Vec<_>>(), lines, "{}", replayed.report());
        ticks.push(lines.into_iter().filter(|l| l.contains("tick ")).collect::<Vec<_>>());
    }
    assert_ne!(ticks[0], ticks[1], "the ticker's lines should differ between runs");
}

/// A service on a real socket: the replay prints the same lines while another process holds
/// the port it listened on (it opens nothing).
#[test]
fn a_socket_service_replays_without_opening_a_socket() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dir = TempDir::new("record-socket");
    dir.write(
        "listener.lua",
        &format!(
            r#"
local skynet = require "skynet"
require "skynet.manager"
local socket = require "skynet.socket"
skynet.start(function()
    local id = socket.listen("127.0.0.1", {port})
    skynet.error("listening", id)
    socket.start(id, function(fd, addr)
        skynet.error("accepted", fd, addr)
        socket.start(fd)
        while true do
            local line = socket.readline(fd)
            if not line then skynet.error("closed", fd) break end
            skynet.error("line", fd, line, skynet.now())
            socket.write(fd, "echo " .. line .. "\n")
            if line == "quit" then skynet.abort() end
        end
    end)
end)
"#
        ),
    );
    dir.write("config", &config(2, "listener", "").replace("start = \"main\"", "start = \"listener\""));
    let mut node = Spawned::start(&["run", "config"], dir.path());
    let deadline = std::time::Instant::now() + RUN_TIMEOUT;
    let connect = || loop {
        if let Ok(s) = TcpStream::connect(("127.0.0.1", port)) {
            break s;
        }
        assert!(std::time::Instant::now() < deadline, "the listener never listened");
        std::thread::sleep(Duration::from_millis(20));
    };
    for (i, words) in [["alpha", "beta"], ["gamma", "quit"]].iter().enumerate() {
        let mut stream = connect();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        for word in words.iter() {
            writeln!(stream, "{word}").unwrap();
            let mut answer = String::new();
            reader.read_line(&mut answer).unwrap();
            assert_eq!(answer, format!("echo {word}\n"), "connection {i}");
        }
    }
    let status = node.child.wait().unwrap();
    assert!(status.success() || status.code().is_some(), "{status:?}");
    let (record, address) = the_record(dir.path());
    let lines = logged(dir.path(), &address);
    assert!(lines.iter().any(|l| l.contains("line") && l.contains("gamma")), "{lines:#?}");
    let _holder = TcpListener::bind(("127.0.0.1", port)).expect("the port is free again");
    let replayed = replay(dir.path(), &record, &[]);
    assert_eq!(replayed.code(), Some(0), "{}", replayed.report());
    assert_eq!(replayed.stdout.lines().collect::<Vec<_>>(), lines, "{}", replayed.report());
}

/// A node killed while recording leaves a record without its end mark, which replays up to
/// where it stops; the restarted node records beside it, not over it.
#[test]
fn a_killed_recording_replays_up_to_where_it_stops_and_a_restart_keeps_it() {
    let dir = TempDir::new("record-killed");
    dir.write(
        "main.lua",
        r#"
local skynet = require "skynet"
skynet.start(function()
    for i = 1, 1000000 do
        skynet.error("line", i, skynet.now(), math.random(1000))
        skynet.sleep(1)
    end
end)
"#,
    );
    dir.write("config", &config(2, "main", ""));
    let mut node = Spawned::start(&["run", "config"], dir.path());
    let log = dir.path().join("run.log");
    let deadline = std::time::Instant::now() + RUN_TIMEOUT;
    while std::fs::read_to_string(&log).map_or(0, |t| t.matches("] line").count()) < 30 {
        assert!(std::time::Instant::now() < deadline, "the service never logged");
        std::thread::sleep(Duration::from_millis(20));
    }
    node.child.kill().unwrap();
    node.child.wait().unwrap();
    let (record, address) = the_record(dir.path());
    let lines = logged(dir.path(), &address);
    let replayed = replay(dir.path(), &record, &[]);
    assert_eq!(replayed.code(), Some(0), "{}", replayed.report());
    assert!(replayed.stderr.contains("no end mark"), "{}", replayed.report());
    let out: Vec<&str> = replayed.stdout.lines().collect();
    // The log and the record were both cut by the kill, each at its own point.
    let common = out.len().min(lines.len());
    assert!(common >= 20, "{}", replayed.report());
    assert_eq!(out[..common], lines[..common], "{}", replayed.report());

    let mut again = Spawned::start(&["run", "config"], dir.path());
    let second = dir.path().join("rec").join(format!("main-{address}.1.record"));
    while !second.exists() {
        assert!(std::time::Instant::now() < deadline + RUN_TIMEOUT, "no second record");
        std::thread::sleep(Duration::from_millis(20));
    }
    again.child.kill().unwrap();
    again.child.wait().unwrap();
    let first = replay(dir.path(), &record, &[]);
    assert_eq!(first.stdout, replayed.stdout, "the first record was overwritten");
}

#[test]
fn recordlimit_stops_the_record_not_the_service() {
    let dir = TempDir::new("record-limit");
    dir.write(
        "main.lua",
        r#"
local skynet = require "skynet"
require "skynet.manager"
skynet.start(function()
    for i = 1, 200 do
        skynet.error("line", i, skynet.now())
        skynet.sleep(0)
    end
    skynet.error("still running")
    skynet.abort()
end)
"#,
    );
    dir.write("config", &config(2, "main", "recordlimit = 4096\n"));
    let run = run_skybox(&["run", "config"], dir.path());
    assert_ran(&run);
    let (record, address) = the_record(dir.path());
    let size = std::fs::metadata(&record).unwrap().len();
    assert!(size <= 4096, "the record has {size} bytes");
    let lines = logged(dir.path(), &address);
    assert!(lines.iter().any(|l| l.ends_with("still running")), "{lines:#?}");
    let dump = replay(dir.path(), &record, &["--dump"]);
    assert!(dump.stdout.contains("recordlimit 4096 reached"), "{}", dump.report());
    let replayed = replay(dir.path(), &record, &[]);
    assert_eq!(replayed.code(), Some(0), "{}", replayed.report());
    let out: Vec<&str> = replayed.stdout.lines().collect();
    assert!(out.len() > 5 && out.len() < lines.len(), "{}", replayed.report());
    assert_eq!(out[..], lines[..out.len()], "{}", replayed.report());
    assert!(replayed.stderr.contains("recordlimit 4096 reached"), "{}", replayed.report());
}

/// Truncated, corrupt, foreign, future-version, empty and missing files: one line on stderr,
/// exit code 1, nothing replayed.
#[test]
fn bad_record_files_are_one_line_errors() {
    let (dir, record, _) = record_subject(1);
    let whole = std::fs::read(&record).unwrap();
    let mut corrupt = whole.clone();
    let middle = corrupt.len() / 2;
    corrupt[middle] ^= 0x20;
    let mut version = whole.clone();
    version[8] = 99;
    let cases: [(&str, Vec<u8>, &str); 5] = [
        ("truncated", whole[..whole.len() * 2 / 3].to_vec(), ""),
        ("corrupt", corrupt, ""),
        ("foreign", b"#!/bin/sh\necho not a record\n".to_vec(), "not a skybox record"),
        ("version", version, "version 99"),
        ("empty", Vec::new(), "not a skybox record"),
    ];
    for (name, bytes, mention) in cases {
        let path = dir.path().join(format!("{name}.record"));
        std::fs::write(&path, bytes).unwrap();
        let run = replay(dir.path(), &path, &[]);
        assert_eq!(run.code(), Some(1), "{name}\n{}", run.report());
        let stderr = run.stderr_lines();
        assert_eq!(stderr.len(), 1, "{name}\n{}", run.report());
        assert!(stderr[0].contains(mention), "{name}\n{}", run.report());
        // A truncated file may be cut at a frame boundary (then it replays as unfinished);
        // cut inside a frame it is refused before anything runs.
        assert!(run.stdout.is_empty(), "{name}\n{}", run.report());
    }
    let missing = replay(dir.path(), &dir.path().join("nowhere.record"), &[]);
    assert_eq!(missing.code(), Some(1), "{}", missing.report());
    assert_eq!(missing.stderr_lines().len(), 1, "{}", missing.report());
}
