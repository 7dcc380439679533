//! Shared helpers for the integration tests in this directory (std only): run the real
//! `skybox` binary with a timeout and capture its output, and make scratch directories.

#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A run is killed (and reported as a failure) after this long.
pub(crate) const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// The built binary under test; the `SKYBOX_BIN` environment variable overrides it (to run
/// these tests against another build).
pub(crate) fn skybox_bin() -> PathBuf {
    match std::env::var_os("SKYBOX_BIN") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(env!("CARGO_BIN_EXE_skybox")),
    }
}

/// The repository root (the parent of the `host/` crate).
pub(crate) fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("host crate has a parent directory").to_path_buf()
}

/// The Lua sources (and headers) the host under test was built with: the `lua55` feature picks
/// Lua 5.5, else Lua 5.4. C modules built by the tests compile against these headers.
pub(crate) fn lua_src() -> PathBuf {
    repo_root().join(if cfg!(feature = "lua55") {
        "vendor/lua-src/lua-5.5.1"
    } else {
        "vendor/lua-src/lua-5.4.9"
    })
}

/// Builds a Lua C module from `sources` into `dir/NAME.so`, as a module's makefile does:
/// position-independent, shared, the headers of [`lua_src`] only, no Lua library linked in.
/// `flags` are further compiler arguments (defines, include directories).
pub(crate) fn build_lua_module(dir: &Path, name: &str, sources: &[PathBuf], flags: &[&str]) -> PathBuf {
    let out = dir.join(format!("{name}.so"));
    let status = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
        .args(["-O2", "-shared", "-fPIC", "-Wall"])
        .args(flags)
        .arg("-I")
        .arg(lua_src())
        .args(sources)
        .arg("-o")
        .arg(&out)
        .status()
        .expect("a C compiler (cc): the Lua VM of the host is built with it too");
    assert!(status.success(), "building {name}.so failed");
    out
}

/// `LUA_VERSION_NUM` of that Lua.
pub(crate) const LUA_VERSION_NUM: u32 = if cfg!(feature = "lua55") { 505 } else { 504 };

/// Where `cargo xtask guests` puts them: `$SKYBOX_GUESTS` if set, else the first of
/// `$CARGO_TARGET_DIR/guests` and `target/guests` that has `echo.wasm`.
pub(crate) fn guests_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("SKYBOX_GUESTS").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let default = repo_root().join("target").join("guests");
    std::env::var_os("CARGO_TARGET_DIR")
        .filter(|d| !d.is_empty())
        .map(|d| repo_root().join(d).join("guests"))
        .into_iter()
        .chain([default.clone()])
        .find(|d| d.join("echo.wasm").is_file())
        .unwrap_or(default)
}

/// Whether every guest in `names` was built; prints the reason to skip otherwise.
pub(crate) fn have_guests(test: &str, names: &[&str]) -> bool {
    let missing: Vec<String> = names
        .iter()
        .map(|n| guests_dir().join(format!("{n}.wasm")))
        .filter(|p| !p.is_file())
        .map(|p| p.display().to_string())
        .collect();
    if missing.is_empty() {
        return true;
    }
    eprintln!("SKIPPED {test}: {} not built (run `cargo xtask guests`)", missing.join(", "));
    false
}

/// The outcome of one `skybox` run.
pub(crate) struct Run {
    pub(crate) command: String,
    pub(crate) status: Option<ExitStatus>,
    pub(crate) timed_out: bool,
    pub(crate) elapsed: Duration,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Run {
    pub(crate) fn code(&self) -> Option<i32> {
        self.status.and_then(|s| s.code())
    }

    /// Every line of stdout then stderr.
    pub(crate) fn lines(&self) -> impl Iterator<Item = &str> {
        self.stdout.lines().chain(self.stderr.lines()).map(|l| l.trim_end_matches('\r'))
    }

    /// Non-empty lines of stderr.
    pub(crate) fn stderr_lines(&self) -> Vec<&str> {
        self.stderr.lines().map(|l| l.trim_end()).filter(|l| !l.is_empty()).collect()
    }

    /// A readable account of the run, for failure messages.
    pub(crate) fn report(&self) -> String {
        let status = if self.timed_out {
            format!("KILLED after {:?} (timeout)", self.elapsed)
        } else {
            match self.status {
                Some(s) => format!("{s} after {:?}", self.elapsed),
                None => "no exit status".to_string(),
            }
        };
        format!(
            "command: {}\nstatus: {}\n--- stdout ({} lines, last 300 shown) ---\n{}\n--- stderr ({} lines, last 300 shown) ---\n{}\n--- end ---",
            self.command,
            status,
            self.stdout.lines().count(),
            tail(&self.stdout, 300),
            self.stderr.lines().count(),
            tail(&self.stderr, 300),
        )
    }
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(n);
    lines[start..].join("\n")
}

fn reader<R: Read + Send + 'static>(mut r: R) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

fn wait_with_timeout(child: &mut Child, timeout: Duration) -> (Option<ExitStatus>, bool) {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return (Some(status), false),
            Ok(None) => {}
            Err(_) => return (None, false),
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let status = child.wait().ok();
            return (status, true);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs the skybox binary with `args` in `cwd`, extra environment `envs`, killing it after
/// `timeout`. Never panics on a failing child: the caller judges the [`Run`].
pub(crate) fn run_skybox_with(args: &[&str], cwd: &Path, envs: &[(&str, &str)], timeout: Duration) -> Run {
    let bin = skybox_bin();
    let mut cmd = Command::new(&bin);
    cmd.args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("RUST_BACKTRACE", "1");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let command = format!(
        "(cd {} && {}{} {})",
        cwd.display(),
        envs.iter().map(|(k, v)| format!("{k}={v} ")).collect::<String>(),
        bin.display(),
        args.join(" ")
    );
    let start = Instant::now();
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => panic!("cannot start {}: {e}", bin.display()),
    };
    let out = reader(child.stdout.take().expect("piped stdout"));
    let err = reader(child.stderr.take().expect("piped stderr"));
    let (status, timed_out) = wait_with_timeout(&mut child, timeout);
    let elapsed = start.elapsed();
    Run {
        command,
        status,
        timed_out,
        elapsed,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}

pub(crate) fn run_skybox(args: &[&str], cwd: &Path) -> Run {
    run_skybox_with(args, cwd, &[], RUN_TIMEOUT)
}

/// A scratch directory under the system temp dir, removed on drop unless the test panicked
/// (kept for inspection then).
pub(crate) struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub(crate) fn new(tag: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let path = std::env::temp_dir().join(format!("skybox-{tag}-{}-{nanos}-{n}", std::process::id()));
        std::fs::create_dir_all(&path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        TempDir { path }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `contents` to `rel` (creating parent directories) and returns the full path.
    pub(crate) fn write(&self, rel: &str, contents: &str) -> PathBuf {
        let p = self.path.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("mkdir {}: {e}", parent.display()));
        }
        std::fs::write(&p, contents).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("(scratch directory kept: {})", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// A `skybox` running in the background (for tests that talk to it over the network): its
/// stdout lines arrive on a channel (and are echoed to stderr for a failing test's report);
/// killed on drop.
pub(crate) struct Spawned {
    pub(crate) child: Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Spawned {
    /// Starts `skybox ARGS` in `cwd`.
    pub(crate) fn start(args: &[&str], cwd: &Path) -> Spawned {
        Spawned::start_program(skybox_bin(), args, cwd)
    }

    /// Starts `program ARGS` in `cwd` (skybox under a wrapper such as `prlimit`).
    pub(crate) fn start_program(program: impl AsRef<std::ffi::OsStr>, args: &[&str], cwd: &Path) -> Spawned {
        let mut child = Command::new(program)
            .args(args)
            .current_dir(cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the node: {e}"));
        let (tx, lines) = std::sync::mpsc::channel();
        let out = child.stdout.take().expect("piped stdout");
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                eprintln!("skybox: {line}");
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Spawned { child, lines }
    }

    /// The next log line, or `None` at `deadline` (or once the process closed its output).
    pub(crate) fn next_line(&mut self, deadline: Instant) -> Option<String> {
        self.lines.recv_timeout(deadline.saturating_duration_since(Instant::now())).ok()
    }

    /// The first log line from now on that contains `needle`; panics after `timeout`.
    pub(crate) fn wait_line(&mut self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            match self.next_line(deadline) {
                Some(line) if line.contains(needle) => return line,
                Some(_) => {}
                None => panic!("no log line with {needle:?}"),
            }
        }
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `name` on the PATH, if installed.
pub(crate) fn program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|p| p.is_file())
}

/// A redis-server on a free loopback port, in `dir`; killed on drop. `durable`: every write
/// fsynced to its append-only file before the answer (else no persistence).
pub(crate) struct Redis(std::process::Child, pub(crate) u16);

impl Redis {
    pub(crate) fn start(bin: &Path, dir: &TempDir, durable: bool) -> Redis {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let aof: &[&str] = if durable {
            &["--appendonly", "yes", "--appendfsync", "always"]
        } else {
            &["--appendonly", "no"]
        };
        let child = std::process::Command::new(bin)
            .args(["--bind", "127.0.0.1", "--port", &port.to_string(), "--save", ""])
            .args(aof)
            .current_dir(dir.path())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("start redis-server");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not come up");
            std::thread::sleep(Duration::from_millis(20));
        }
        Redis(child, port)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
