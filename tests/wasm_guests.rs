//! Lua <-> guest interop with the SDK-built example guests (`target/guests/*.wasm`, built by
//! `cargo xtask guests`): every value type both ways through `echo`, 100 000 forwards through
//! `proxy` with memory flat, `spin` killed by fuel while `echo` keeps answering, `hog` stopped
//! by the memory cap.
//!
//! A test whose guest file is absent prints why and returns (CI builds the guests first).

#[path = "support/mod.rs"]
mod support;
#[path = "support/wasm.rs"]
mod wasm_support;

use std::time::{Duration, Instant};

use skybox::core::message::ptype;
use wasm_support::*;

fn harness(tag: &str) -> Harness {
    let patterns = format!("{}/?.wasm", support::guests_dir().display());
    Harness::new(tag, &[("wasmservice", patterns.as_str())])
}

/// Runs Lua service `tester` (the probe's address as its argument) after starting the launcher;
/// returns the lines it reports (TEXT to the probe) until "done". `on_line` sees each line as it
/// arrives.
fn run_tester(h: &Harness, code: &str, timeout: Duration, mut on_line: impl FnMut(&str)) -> Vec<String> {
    let launcher = h.launch("snlua launcher").unwrap();
    assert!(h.node.bind_name(".launcher", launcher));
    h.file("tester.lua", &format!("{PRELUDE}\n{code}"));
    h.launch(&format!("snlua tester {}", h.probe)).unwrap();
    let mut lines = Vec::new();
    loop {
        let m = h
            .wait_for(timeout, |m| m.ptype == ptype::TEXT)
            .unwrap_or_else(|| panic!("the tester stopped after {lines:?}\n{}", h.log_text()));
        let line = String::from_utf8_lossy(&m.data).into_owned();
        if line == "done" {
            return lines;
        }
        on_line(&line);
        lines.push(line);
    }
}

const PRELUDE: &str = r#"
local skynet = require "skynet"
require "skynet.manager"
local core = require "skynet.core"
local probe = tonumber((...))
local function report(line) core.send(probe, skynet.PTYPE_TEXT, 0, line) end
"#;

#[test]
fn every_value_type_goes_both_ways_through_echo() {
    if !support::have_guests("every_value_type_goes_both_ways_through_echo", &["echo"]) {
        return;
    }
    let h = harness("guest-values");
    let lines = run_tester(
        &h,
        r#"
local function same(a, b)
    if type(a) ~= type(b) then return false end
    if type(a) == "number" then
        if a ~= a then return b ~= b end
        return math.type(a) == math.type(b) and a == b and (a ~= 0 or 1/a == 1/b)
    end
    if type(a) ~= "table" then return a == b end
    for k, v in pairs(a) do if not same(v, b[k]) then return false end end
    for k in pairs(b) do if a[k] == nil then return false end end
    return true
end
local function deep(n) local t = { leaf = true } for i = 1, n do t = { t, i } end return t end
local cases = {
    { "nothing", table.pack() },
    { "nil", table.pack(nil) },
    { "booleans", table.pack(true, false) },
    { "integers", table.pack(0, 1, -1, 127, 128, 255, 256, 65535, 65536, -65536, 2147483647,
        -2147483648, 4294967296, math.maxinteger, math.mininteger) },
    { "floats", table.pack(0.5, -1.25, 2.0, 1e300, -0.0, math.huge, -math.huge, 0/0, math.pi) },
    { "strings", table.pack("", "a", string.rep("x", 31), string.rep("y", 32), string.rep("z", 65535),
        string.rep("w", 100000), "\0\1\2\255", "utf8: \u{1F600}") },
    { "arrays", table.pack({}, { 1, 2, 3 }, { "a", { "b", { "c" } } }) },
    { "maps", table.pack({ a = 1, b = "x", c = { d = false } }, { [10] = "ten", [-1] = "neg" }) },
    { "mixed tables", table.pack({ 1, 2, x = "y", [100] = true }) },
    { "nils between values", table.pack(1, nil, "x", nil) },
    { "deep nesting", table.pack(deep(20)) },
    { "many values", table.pack(table.unpack((function() local t = {} for i = 1, 200 do t[i] = i * 3 end return t end)())) },
}
skynet.start(function()
    local echo = skynet.newservice("echo")
    for _, case in ipairs(cases) do
        local name, values = case[1], case[2]
        local ok, got = pcall(function() return table.pack(skynet.call(echo, "lua", table.unpack(values, 1, values.n))) end)
        if not ok then
            report("FAIL " .. name .. ": " .. tostring(got))
        elseif got.n ~= values.n then
            report(string.format("FAIL %s: %d values back, %d sent", name, got.n, values.n))
        else
            local good = true
            for i = 1, values.n do good = good and same(values[i], got[i]) end
            report((good and "ok " or "FAIL ") .. name)
        end
    end
    report("done")
end)
"#,
        WAIT,
        |_| {},
    );
    let failed: Vec<&String> = lines.iter().filter(|l| !l.starts_with("ok ")).collect();
    assert!(failed.is_empty(), "{failed:#?}\n{}", h.log_text());
    assert_eq!(lines.len(), 12);
}

/// The process's resident memory, bytes.
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

#[test]
fn a_hundred_thousand_forwards_through_proxy_keep_memory_flat() {
    if !support::have_guests("a_hundred_thousand_forwards_through_proxy_keep_memory_flat", &["echo", "proxy"])
    {
        return;
    }
    let h = harness("guest-proxy");
    let mut rss_warm = 0;
    let started = Instant::now();
    let lines = run_tester(
        &h,
        r#"
local N = 100000
skynet.start(function()
    local echo = skynet.newservice("echo")
    local proxy = skynet.newservice("proxy", skynet.address(echo))
    local payload = string.rep("p", 1000)
    for i = 1, 2000 do assert(skynet.call(proxy, "lua", i, payload) == i) end
    local mem0 = skynet.call(proxy, "debug", "MEM")
    report("warm")
    skynet.sleep(20)
    for i = 1, N do
        local n, p = skynet.call(proxy, "lua", i, payload)
        if n ~= i or p ~= payload then report("FAIL answer " .. tostring(n)) break end
    end
    local mem1 = skynet.call(proxy, "debug", "MEM")
    report(string.format("mem %.0f %.0f", mem0, mem1))
    report("done")
end)
"#,
        Duration::from_secs(240),
        |line| {
            if line == "warm" {
                rss_warm = rss();
            }
        },
    );
    let rss_end = rss();
    eprintln!("100000 forwards in {:?}; {lines:?}; RSS {rss_warm} -> {rss_end}", started.elapsed());
    assert_eq!(lines.len(), 2, "{lines:?}\n{}", h.log_text());
    let mem: Vec<f64> = lines[1].split_whitespace().skip(1).map(|x| x.parse().unwrap()).collect();
    assert_eq!(mem[0], mem[1], "the proxy's linear memory (KB) did not grow");
    // 100 000 leaked KB-sized messages would be ~100 MB.
    assert!(rss_end < rss_warm + (16 << 20), "RSS grew from {rss_warm} to {rss_end}");
}

#[test]
fn spin_is_killed_by_fuel_while_echo_keeps_answering() {
    if !support::have_guests("spin_is_killed_by_fuel_while_echo_keeps_answering", &["echo", "spin"]) {
        return;
    }
    let h = harness("guest-spin");
    let lines = run_tester(
        &h,
        r#"
skynet.start(function()
    local echo = skynet.newservice("echo")
    local spin = skynet.newservice("spin")
    local done = false
    skynet.fork(function()
        local ok = pcall(skynet.call, spin, "lua", "spin")
        report("spin call " .. (ok and "returned" or "failed"))
        done = true
    end)
    local n = 0
    while not done do
        assert(skynet.call(echo, "lua", n) == n)
        n = n + 1
    end
    report(n > 0 and "echo answered meanwhile" or "echo did not answer")
    report("echo after " .. tostring(skynet.call(echo, "lua", "still")))
    report("done")
end)
"#,
        Duration::from_secs(60),
        |_| {},
    );
    assert_eq!(
        lines,
        ["spin call failed", "echo answered meanwhile", "echo after still"],
        "\n{}",
        h.log_text()
    );
    let line = h.wait_log("wasm guest 'spin' killed in skybox_dispatch: out of fuel");
    eprintln!("{line}");
    assert_eq!(h.log_lines("killed").len(), 1);
}

#[test]
fn hog_stops_at_the_memory_cap() {
    if !support::have_guests("hog_stops_at_the_memory_cap", &["echo", "hog"]) {
        return;
    }
    let h = harness("guest-hog");
    let lines = run_tester(
        &h,
        r#"
skynet.start(function()
    local echo = skynet.newservice("echo")
    local hog = skynet.launch("wasm", "--memlimit=8M", "hog")
    report("hog call " .. ((pcall(skynet.call, hog, "lua", "hog")) and "returned" or "failed"))
    report("echo " .. tostring(skynet.call(echo, "lua", "fine")))
    report("done")
end)
"#,
        Duration::from_secs(60),
        |_| {},
    );
    assert_eq!(lines, ["hog call failed", "echo fine"], "\n{}", h.log_text());
    let line = h.wait_log("wasm guest 'hog' killed in skybox_dispatch: memory limit");
    eprintln!("{line}");
    assert!(line.contains("of 8388608 bytes of memory"), "{line}");
}
