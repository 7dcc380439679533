//! The built-in `debug_console` from outside the process: a real `skybox` starts it on a free
//! port beside an echo service, and this test drives it as an operator would, with `std::net`
//! TCP clients speaking its line protocol, and with raw HTTP requests.

#[path = "support/mod.rs"]
mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;

use support::{Spawned, TempDir};

const WAIT: Duration = Duration::from_secs(20);

/// The start service: the console on port 0, an echo service named `.echo`.
const MAIN: &str = r#"
local skynet = require "skynet"
require "skynet.manager"

skynet.start(function()
	skynet.newservice("debug_console", 0)
	local echo = skynet.newservice("echo")
	skynet.name(".echo", echo)
	skynet.error("ECHO " .. skynet.address(echo))
end)
"#;

/// `echo` answers its arguments; `slow` answers them after half a second.
const ECHO: &str = r#"
local skynet = require "skynet"

skynet.start(function()
	skynet.dispatch("lua", function(_, _, cmd, ...)
		if cmd == "echo" then
			skynet.retpack(...)
		elseif cmd == "slow" then
			skynet.sleep(50)
			skynet.retpack(...)
		else
			error("unknown command " .. tostring(cmd))
		end
	end)
	skynet.info_func(function()
		return "echo info"
	end)
end)
"#;

/// The node of the test: skybox on `main.lua` and `echo.lua` in a scratch directory.
struct Node {
    process: Spawned,
    dir: TempDir,
}

impl Node {
    /// Starts the node; returns it, the console's port and the echo service's address.
    fn start() -> (Node, u16, String) {
        let dir = TempDir::new("console");
        dir.write("main.lua", MAIN);
        dir.write("echo.lua", ECHO);
        let process = Spawned::start(&["run", "--start", "main", "--path", ".", "--thread", "2"], dir.path());
        let mut node = Node { process, dir };
        let start = node.wait_line("Start debug console at 127.0.0.1:");
        let port = start.rsplit(':').next().unwrap().trim().parse().unwrap();
        assert_ne!(port, 0, "the real port is logged: {start}");
        let echo = node.wait_line("ECHO :");
        let echo = echo.rsplit(' ').next().unwrap().to_string();
        (node, port, echo)
    }

    fn wait_line(&mut self, needle: &str) -> String {
        self.process.wait_line(needle, WAIT)
    }
}

/// One console connection, past its welcome line.
struct Console {
    stream: TcpStream,
    reader: BufReader<TcpStream>,
}

/// A command's output lines (without the `<CMD ...>` line) and whether it was `<CMD OK>`.
struct Reply {
    lines: Vec<String>,
    ok: bool,
}

impl Reply {
    fn text(&self) -> String {
        self.lines.join("\n")
    }

    fn has(&self, needle: &str) -> bool {
        self.lines.iter().any(|l| l.contains(needle))
    }
}

impl Console {
    fn open(port: u16) -> Console {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_read_timeout(Some(WAIT)).unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut welcome = String::new();
        reader.read_line(&mut welcome).unwrap();
        assert_eq!(welcome, "Welcome to skynet console\n");
        Console { stream, reader }
    }

    fn cmd(&mut self, line: &str) -> Reply {
        self.stream.write_all(line.as_bytes()).unwrap();
        self.stream.write_all(b"\n").unwrap();
        let mut lines = Vec::new();
        loop {
            let mut l = String::new();
            let n = self.reader.read_line(&mut l).unwrap();
            assert!(n > 0, "the console closed during {line:?} after {lines:?}");
            let l = l.strip_suffix('\n').expect("whole lines").to_string();
            match l.as_str() {
                "<CMD OK>" => return Reply { lines, ok: true },
                "<CMD Error>" => return Reply { lines, ok: false },
                _ => lines.push(l),
            }
        }
    }

    fn ok(&mut self, line: &str) -> Reply {
        let r = self.cmd(line);
        assert!(r.ok, "{line:?} failed:\n{}", r.text());
        r
    }

    fn error(&mut self, line: &str) -> Reply {
        let r = self.cmd(line);
        assert!(!r.ok, "{line:?} should fail:\n{}", r.text());
        r
    }

    /// The node still serves: the console answers and the echo service is alive.
    fn alive(&mut self) {
        let r = self.ok("ping .echo");
        assert_eq!(r.lines.len(), 1);
        r.lines[0].parse::<u64>().expect("ping gives centiseconds");
    }
}

/// A raw HTTP exchange: the whole response, read until the console closes.
fn http(port: u16, request: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// The body of an HTTP response, after checking the status line and Content-Length.
fn http_body<'a>(response: &'a str, status: &str) -> &'a str {
    let (head, body) = response.split_once("\r\n\r\n").expect("a head and a body");
    let mut head = head.lines();
    assert_eq!(head.next(), Some(status), "{response}");
    let length = head
        .find_map(|h| h.strip_prefix("Content-Length: "))
        .expect("Content-Length")
        .parse::<usize>()
        .unwrap();
    assert_eq!(length, body.len(), "{response}");
    body
}

#[test]
fn debug_console_from_outside_the_process() {
    let (mut node, port, echo) = Node::start();
    let mut c = Console::open(port);

    // help: one "name\tdescription" line per command, sorted
    let help = c.ok("help");
    for name in ["call", "gc", "getenv", "kill", "list", "mem", "netstat", "ping", "signal", "start", "stat"]
    {
        assert!(help.lines.iter().any(|l| l.starts_with(&format!("{name}\t"))), "{name}:\n{}", help.text());
    }
    let mut sorted = help.lines.clone();
    sorted.sort();
    assert_eq!(sorted, help.lines, "sorted by key");

    // list: every service the launcher started
    let list = c.ok("list");
    assert!(list.has(&format!("{echo}\tsnlua echo")), "{}", list.text());
    assert!(list.has("\tsnlua debug_console 0"), "{}", list.text());
    assert!(list.has("\tsnlua main"), "{}", list.text());

    // profile: the profile of every service (Lua services run trusted), or of one
    assert!(c.ok("profile").has(&format!("{echo}\ttrusted")));
    assert_eq!(c.ok(&format!("profile {echo}")).lines, ["trusted"]);

    // stat / mem / gc: one line per service
    let stat = c.ok("stat");
    let line = stat.lines.iter().find(|l| l.starts_with(&format!("{echo}\t"))).expect("echo's stat");
    for key in ["mqlen:", "task:", "cpu:", "message:"] {
        assert!(line.contains(key), "{line}");
    }
    let mem = c.ok("mem");
    assert!(mem.has(&format!("{echo}\t")) && mem.has("Kb (snlua echo)"), "{}", mem.text());
    assert!(c.ok("gc 0").has("Kb (snlua echo)"));

    // ping / call, by address and by name
    c.alive();
    let r = c.ok(&format!("ping {echo}"));
    r.lines[0].parse::<u64>().unwrap();
    let r = c.ok(&format!(r#"call {echo} "echo", 1, "two", {{x=3}}"#));
    assert_eq!(r.lines, ["1\t1", "2\ttwo", "3\tx:3", "n\t3"]);
    assert_eq!(c.ok(r#"call .echo "echo""#).lines, ["n\t0"]);
    assert!(c.error(r#"call .echo "nosuch""#).has("call failed"));
    assert!(c.error("call .echo (").has("Invalid arguments"));
    assert_eq!(c.ok("info .echo").lines, ["echo info"]);

    // getenv / setenv
    assert_eq!(c.ok("getenv thread").lines, ["2"]);
    assert_eq!(c.ok("getenv console_test_key").lines, Vec::<String>::new());
    c.ok("setenv console_test_key hello");
    assert_eq!(c.ok("getenv console_test_key").lines, ["hello"]);
    assert!(c.error("setenv console_test_key again").has("Can't setenv exist key"));

    // netstat: the console's listener and this very connection
    let local = c.stream.local_addr().unwrap().port();
    let net = c.ok("netstat");
    assert!(
        net.lines.iter().any(|l| l.contains("type:LISTEN") && l.contains(&format!("sock:127.0.0.1:{port}"))),
        "{}",
        net.text()
    );
    assert!(
        net.lines.iter().any(|l| l.contains("type:TCP") && l.contains(&format!("peer:127.0.0.1:{local}"))),
        "{}",
        net.text()
    );

    // signal: 1 logs the service's memory, 0 interrupts (nothing runs: nothing happens)
    c.ok(&format!("signal {echo} 1"));
    node.wait_line("Current Memory");
    c.ok("signal .echo");
    node.wait_line("Send signal 0 to");
    c.alive();

    // logon / logoff: the echo service's messages go to <handle>.log in logpath (the cwd)
    c.ok("logon .echo");
    node.wait_line("Open log file");
    c.ok(r#"call .echo "echo", "logged""#);
    c.ok("logoff .echo");
    let log = node.dir.path().join(format!("{:08x}.log", u32::from_str_radix(&echo[1..], 16).unwrap()));
    let logged = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
    assert!(logged > 0, "{} has the messages", log.display());
    c.ok(r#"call .echo "echo", "not logged""#);
    assert_eq!(std::fs::metadata(&log).unwrap().len(), logged, "logoff stops the log");

    // start a new service, then kill it
    let started = c.ok("start echo");
    assert_eq!(started.lines.len(), 1, "{}", started.text());
    let addr = started.lines[0].strip_suffix("\techo").expect("address\\tname").to_string();
    assert!(c.ok("list").has(&format!("{addr}\tsnlua echo")));
    assert_eq!(c.ok(&format!(r#"call {addr} "echo", 7"#)).lines, ["1\t7", "n\t1"]);
    assert_eq!(c.ok(&format!("kill {addr}")).lines, [format!("{addr}\tsnlua echo")]);
    assert!(!c.ok("list").has(&addr));
    assert!(c.error(&format!("ping {addr}")).has("No service at"));
    assert_eq!(c.ok("start no_such_service").lines, ["Failed"]);
    c.alive();

    // bad commands and bad addresses
    let bad = c.error("no_such_command 1 2");
    assert_eq!(bad.lines, ["Invalid command, type help for command list", "nil"]);
    assert!(c.error("ping :00ffffff").has("No service at :00ffffff"));
    assert!(c.error("ping .no_such_name").has("Not a valid name"));
    assert!(c.error("kill zz").has("Need an address"));
    assert!(c.error("ping").has("Need an address"));
    // skynet.memory's view: every service's runtime memory, the total, no jemalloc blocks
    let cmem = c.ok("cmem");
    assert!(cmem.has("total") && cmem.has("block\t0"), "{:?}", cmem.lines);
    assert!(cmem.lines.iter().any(|l| l.starts_with(':')), "{:?}", cmem.lines);
    c.ok("clearcache");
    assert!(c.error("snax foo").has("snax"));
    c.stream.write_all(b"\n  \n").unwrap(); // blank lines: no reply at all
    c.alive();

    // two consoles at once, each with its own stream of commands
    let clients: Vec<_> = (0..2)
        .map(|i| {
            std::thread::spawn(move || {
                let mut c = Console::open(port);
                for j in 0..20 {
                    let r = c.ok(&format!(r#"call .echo "echo", {i}, {j}"#));
                    assert_eq!(r.lines, [format!("1\t{i}"), format!("2\t{j}"), "n\t2".into()]);
                }
                c.ok("list");
            })
        })
        .collect();
    for t in clients {
        t.join().unwrap();
    }
    let mut a = Console::open(port);
    let mut b = Console::open(port);
    a.stream.write_all(b"call .echo \"slow\", \"a\"\n").unwrap();
    assert_eq!(b.ok(r#"call .echo "echo", "b""#).lines, ["1\tb", "n\t1"]);
    let mut rest = String::new();
    for _ in 0..3 {
        a.reader.read_line(&mut rest).unwrap();
    }
    assert_eq!(rest, "1\ta\nn\t1\n<CMD OK>\n", "a's slow call answered after b's");

    // clients that go away mid-command: a slow call, a half line
    let mut gone = Console::open(port);
    gone.stream.write_all(b"call .echo \"slow\", \"nobody\"\n").unwrap();
    drop(gone);
    let mut half = Console::open(port);
    half.stream.write_all(b"list").unwrap();
    drop(half);
    std::thread::sleep(Duration::from_millis(700));
    c.alive();
    assert!(c.ok("list").has("\tsnlua debug_console 0"));

    // HTTP: GET /list with a raw request; the console answers and closes
    let response = http(port, "GET /list HTTP/1.1\r\nHost: localhost\r\nUser-Agent: test\r\n\r\n");
    let body = http_body(&response, "HTTP/1.1 200 OK");
    assert!(body.contains(&format!("{echo}\tsnlua echo\n")), "{response}");
    assert!(body.ends_with("<CMD OK>\n"), "{response}");
    assert!(!body.contains("Welcome"), "{response}");
    // the path's segments are the words, percent-decoded
    let response = http(port, "GET /call/.echo/%22echo%22,%2042 HTTP/1.0\r\n\r\n");
    assert_eq!(http_body(&response, "HTTP/1.1 200 OK"), "1\t42\nn\t1\n<CMD OK>\n");
    let response = http(port, "GET /ping/:00ffffff HTTP/1.1\r\n\r\n");
    assert!(http_body(&response, "HTTP/1.1 500 Internal Server Error").ends_with("<CMD Error>\n"));
    let response = http(port, "GET /nosuch HTTP/1.1\r\n\r\n");
    http_body(&response, "HTTP/1.1 404 Not Found");
    let response = http(port, "POST / HTTP/1.1\r\nContent-Length: 13\r\n\r\ngetenv thread");
    assert_eq!(http_body(&response, "HTTP/1.1 200 OK"), "2\n<CMD OK>\n");

    // quit closes this connection; the node goes on
    c.stream.write_all(b"quit\n").unwrap();
    let mut last = String::new();
    c.reader.read_to_string(&mut last).unwrap();
    assert_eq!(last, "<CMD OK>\n");
    let mut c = Console::open(port);
    c.alive();
    assert!(c.ok("list").has(&format!("{echo}\tsnlua echo")));
    assert!(node.process.child.try_wait().unwrap().is_none(), "the node is still running");
}

/// The service the remote debugger attaches to: `add n` adds twice n to a total and answers
/// the command, the total before and after; `park` waits until its thread is killed.
const DBG_TARGET: &str = r#"
local skynet = require "skynet"
local total = 0
local function double(x)
	local twice = x * 2
	return twice
end
skynet.start(function()
	skynet.dispatch("lua", function(_, _, cmd, n)
		if cmd == "park" then
			skynet.wait()
			return skynet.retpack "woken"
		end
		local before = total
		total = total + double(n)
		skynet.retpack(cmd, before, total)
	end)
end)
"#;

/// The line of `DBG_TARGET` that holds `text`.
fn target_line(text: &str) -> usize {
    DBG_TARGET.lines().position(|l| l.contains(text)).expect("a line of the target") + 1
}

/// A console connection in a `debug` session: the debugger's output has prompts that end no
/// line (`:0000000c>`, `./dbg_target.lua(13)>`), so it is read as bytes.
struct Debugger {
    console: Console,
}

impl Debugger {
    fn attach(port: u16, addr: &str) -> Debugger {
        let mut console = Console::open(port);
        console.stream.write_all(format!("debug {addr}\n").as_bytes()).unwrap();
        let mut d = Debugger { console };
        d.expect(&format!("{addr}>"));
        d
    }

    /// Reads until the output ends with `tail`; returns what came before it.
    fn expect(&mut self, tail: &str) -> String {
        let mut got = Vec::new();
        let mut byte = [0u8];
        while !got.ends_with(tail.as_bytes()) {
            match self.console.reader.read(&mut byte) {
                Ok(1) => got.push(byte[0]),
                other => panic!("waiting for {tail:?}: {other:?} after {:?}", String::from_utf8_lossy(&got)),
            }
        }
        got.truncate(got.len() - tail.len());
        String::from_utf8(got).unwrap()
    }

    /// Types a line; returns its output up to the next prompt, which must be `prompt`.
    fn line(&mut self, line: &str, prompt: &str) -> String {
        self.console.stream.write_all(format!("{line}\n").as_bytes()).unwrap();
        self.expect(prompt)
    }
}

/// The prompt of a handler stopped before line `line` of the target.
fn stopped_at(line: usize) -> String {
    format!("./dbg_target.lua({line})>")
}

#[test]
fn remote_debugger_from_outside_the_process() {
    let (mut node, port, _echo) = Node::start();
    node.dir.write("dbg_target.lua", DBG_TARGET);
    let mut c = Console::open(port);
    let started = c.ok("start dbg_target");
    let target = started.lines[0].strip_suffix("\tdbg_target").expect("address\\tname").to_string();
    let home = format!("{target}>");

    // what cannot be debugged is an error at once: no service, a service that is not Lua
    let t0 = std::time::Instant::now();
    assert!(c.error("debug :00ffffff").has("No service at :00ffffff"));
    assert!(c.error("debug").has("Need an address"));
    assert_eq!(c.error("debug :00000001").lines, ["Debugger attach failed"]);
    assert!(t0.elapsed() < Duration::from_secs(5), "no hang: {:?}", t0.elapsed());
    assert!(http(port, &format!("GET /debug/{target} HTTP/1.0\r\n\r\n")).contains("not HTTP"));

    // attach: the prompt is the service's address; a line is Lua run in the service
    let mut d = Debugger::attach(port, &target);
    node.wait_line("Enter debug mode");
    assert_eq!(d.line("1 + 2", &home), "3\t\n");
    assert_eq!(d.line("print('hello', 42)", &home), "hello\t42\t\n\n");
    // a second debugger on the same service is refused at once
    assert_eq!(c.error(&format!("debug {target}")).lines, ["Debugger attach failed"]);

    // break in the next "lua" message's handler
    assert_eq!(d.line(r#"watch "lua""#, &home), "\n");
    let caller = std::thread::spawn(move || {
        let mut b = Console::open(port);
        b.ok(&format!(r#"call {target} "add", 5"#)).lines
    });
    let target = started.lines[0].strip_suffix("\tdbg_target").unwrap().to_string();
    d.expect(&stopped_at(target_line("if cmd == \"park\"")));
    // the stopped frame's locals
    assert_eq!(d.line("cmd", &stopped_at(target_line("if cmd == \"park\""))), "add\t\n");
    assert_eq!(d.line("n", &stopped_at(target_line("local before"))), "");
    assert_eq!(d.line("n", &stopped_at(target_line("total = total +"))), "");
    assert_eq!(d.line("before", &stopped_at(target_line("total = total +"))), "0\t\n");
    // s: into double; its own locals
    assert_eq!(d.line("s", &stopped_at(target_line("local twice"))), "");
    assert_eq!(d.line("x", &stopped_at(target_line("local twice"))), "5\t\n");
    assert_eq!(d.line("n", &stopped_at(target_line("return twice"))), "");
    assert_eq!(d.line("twice, x", &stopped_at(target_line("return twice"))), "10\t5\t\n");
    let after_double = stopped_at(target_line("skynet.retpack(cmd, before"));
    assert_eq!(d.line("n", &after_double), "");
    // a local set from the debugger is what the handler goes on with
    assert_eq!(d.line("before = 41", &after_double), "\n");
    assert_eq!(d.line("nosuch.field", &after_double).lines().count(), 1, "an error, one line");
    // c: the handler runs on; the caller gets its answer
    assert_eq!(d.line("c", &home), "");
    assert_eq!(caller.join().unwrap(), ["1\tadd", "2\t41", "3\t10", "n\t3"]);
    // not stopped: s, n and c are plain Lua (undefined names)
    assert_eq!(d.line("c", &home), "nil\t\n");

    // cont leaves debug mode: the console's debug command ends
    d.console.stream.write_all(b"cont\n").unwrap();
    assert_eq!(d.expect("<CMD OK>\n"), "");
    node.wait_line("Leave debug mode");
    assert_eq!(
        d.console.ok(&format!(r#"call {target} "add", 1"#)).lines,
        ["1\tadd", "2\t10", "3\t12", "n\t3"]
    );
    d.console.alive();

    // a debugger that goes away while a handler is stopped: the handler runs on, unwatched
    let mut d = Debugger::attach(port, &target);
    assert_eq!(d.line(r#"watch("lua", function(_, _, cmd) return cmd == "add" end)"#, &home), "\n");
    let caller = std::thread::spawn(move || {
        let mut b = Console::open(port);
        b.ok(&format!(r#"call {target} "add", 2"#)).lines
    });
    let target = started.lines[0].strip_suffix("\tdbg_target").unwrap().to_string();
    d.expect(&stopped_at(target_line("if cmd == \"park\"")));
    drop(d);
    node.wait_line("Leave debug mode");
    assert_eq!(caller.join().unwrap(), ["1\tadd", "2\t12", "3\t16", "n\t3"]);

    // killtask: a thread waiting in the service, by the name task lists
    let parked = std::thread::spawn(move || {
        let mut b = Console::open(port);
        b.cmd(&format!(r#"call {target} "park""#)).ok
    });
    let target = started.lines[0].strip_suffix("\tdbg_target").unwrap().to_string();
    let name = loop {
        let task = c.ok(&format!("task {target}"));
        if let Some(l) = task.lines.iter().find(|l| l.contains("session:")) {
            break l.split(" session:").next().unwrap().to_string();
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(c.ok(&format!("killtask {target} nosuch")).lines, ["Not found"]);
    assert_eq!(
        c.ok(&format!("killtask {target} {}", name.trim_start_matches("thread: "))).lines,
        Vec::<String>::new()
    );
    assert!(!parked.join().unwrap(), "the parked call fails");

    // the node and the target go on; shrtbl is gone, as from skynet
    assert_eq!(c.ok(&format!(r#"call {target} "add", 0"#)).lines, ["1\tadd", "2\t16", "3\t16", "n\t3"]);
    assert_eq!(c.error("shrtbl").lines, ["Invalid command, type help for command list", "nil"]);

    // the debugged service exits during a session: said at once, as the command's error, and
    // the operator's next line is a console command again
    let mut d = Debugger::attach(port, &target);
    c.ok(&format!("exit {target}"));
    assert_eq!(d.expect("<CMD Error>\n"), format!("\nDebugger detached: {target} is gone\n"));
    assert!(d.console.ok("list").has("debug_console"), "the next line is a command");
    d.console.alive();
    c.alive();
    assert!(node.process.child.try_wait().unwrap().is_none(), "the node is still running");
}

/// skybox's console with skynet's own `debug_agent` on the service path (it has no `attached`,
/// so the console learns of a failed attach only when the session ends): a session works, and
/// its end, a failed attach or the service exiting, is said at once.
#[test]
fn the_console_debugs_through_skynets_debug_agent() {
    let test = "the_console_debugs_through_skynets_debug_agent";
    let agent = std::env::var_os("SKYNET_DIR")
        .filter(|d| !d.is_empty())
        .map(|d| PathBuf::from(d).join("service/debug_agent.lua"))
        .filter(|f| f.is_file());
    let Some(agent) = agent else {
        println!("SKIPPED {test}: SKYNET_DIR does not name a skynet checkout (service/debug_agent.lua)");
        return;
    };
    let (mut node, port, _echo) = Node::start();
    node.dir.write("debug_agent.lua", &std::fs::read_to_string(agent).unwrap());
    node.dir.write("dbg_target.lua", DBG_TARGET);
    let mut c = Console::open(port);
    let started = c.ok("start dbg_target");
    let target = started.lines[0].strip_suffix("\tdbg_target").expect("address\\tname").to_string();
    let home = format!("{target}>");

    // a service that is not Lua: skynet's agent answers that the attach failed
    let mut d = Console::open(port);
    d.stream.write_all(b"debug :00000001\n").unwrap();
    let mut d = Debugger { console: d };
    assert_eq!(d.expect("<CMD Error>\n").trim_start_matches('\n'), "Debugger attach failed\n");
    node.wait_line("Attach to :00000001");
    d.console.alive();

    // a session, then cont
    let mut d = Debugger::attach(port, &target);
    assert_eq!(d.line("1 + 2", &home), "3\t\n");
    d.console.stream.write_all(b"cont\n").unwrap();
    assert_eq!(d.expect("<CMD OK>\n"), "");

    // the service exits during a session: skynet's agent calls it a failed attach
    let mut d = Debugger::attach(port, &target);
    c.ok(&format!("exit {target}"));
    assert_eq!(d.expect("<CMD Error>\n"), "\nDebugger attach failed\n");
    assert!(d.console.ok("list").has("debug_console"), "the next line is a command");
    c.alive();
}
