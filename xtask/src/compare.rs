//! `cargo xtask compare --skynet DIR [--skynet DIR2] [--lua55] [--rounds N] [--scale F] [--net]
//! [--callgrind]`: skybox and skynet side by side, in one run on this machine.
//!
//! The workloads are the Lua services of `benches/lua` (the same files on both hosts, 2 worker
//! threads): `pingpong`, `fanin`, `spawn` (with RSS per service) and `floor` (the Lua work of a
//! request/response in one VM, no scheduler: what both hosts are measured against), and
//! skybox's `wasm_pingpong` (guests, against Lua's ping-pong). Each round runs every workload
//! on every host, the hosts' order turning round by round; the table shows medians and ratios.
//! `--net` adds `benches/netload.rs` (the network echo through `gate`) against the first skynet;
//! `--callgrind` counts instructions per message for ping-pong and spawn under valgrind (two
//! runs of different sizes, so start-up cancels out), stable where times are not.
//!
//! skybox runs as built by default (Lua 5.4); `--lua55` adds skybox built with Lua 5.5, as
//! skynet's master is (`skybox-lua55`), to the same rounds. Each build's binary is copied to
//! `<target>/compare/` before the next build replaces `release/skybox`.
//!
//! Each `--skynet DIR` is a skynet checkout built on this machine (`DIR/skynet`); it is named
//! `skynet-jemalloc` when built with its jemalloc (`DIR/3rd/jemalloc/lib` exists), else
//! `skynet-malloc`. How to build both is in benches/README.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};

/// One workload: the start service, its size, and the RESULT field compared.
struct Workload {
    start: &'static str,
    n: u64,
    /// Extra `KEY=VALUE` settings.
    sets: &'static [&'static str],
    field: &'static str,
    /// Runs on skynet too (the wasm workloads are skybox's alone).
    both: bool,
    /// A second node of the same host this workload calls (cluster), started first.
    server: Option<&'static str>,
}

const fn local(start: &'static str, n: u64, field: &'static str, both: bool) -> Workload {
    Workload { start, n, sets: &[], field, both, server: None }
}

const fn cluster(n: u64, sets: &'static [&'static str]) -> Workload {
    Workload {
        start: "cluster_client",
        n,
        sets,
        field: "per_sec",
        both: true,
        server: Some("cluster_server"),
    }
}

const WORKLOADS: &[Workload] = &[
    local("pingpong", 1_000_000, "calls_per_sec", true),
    local("fanin", 2_000_000, "msgs_per_sec", true),
    local("spawn", 10_000, "services_per_sec", true),
    local("floor", 2_000_000, "round_trips_per_sec", true),
    local("wasm_pingpong", 1_000_000, "calls_per_sec", false),
    cluster(100_000, &["mode=call"]),
    cluster(300_000, &["mode=call100"]),
    cluster(1_000_000, &["mode=push"]),
];

impl Workload {
    /// The name in the table: the start service and its mode.
    fn label(&self) -> String {
        match self.sets.iter().find_map(|s| s.strip_prefix("mode=")) {
            Some(mode) => format!("cluster {mode}"),
            None => self.start.to_string(),
        }
    }
}

/// A host to run workloads on.
enum Host {
    Skybox { name: String, bin: PathBuf, guests: PathBuf },
    Skynet { name: String, root: PathBuf },
}

impl Host {
    fn name(&self) -> &str {
        match self {
            Host::Skybox { name, .. } | Host::Skynet { name, .. } => name,
        }
    }

    /// Runs workload `start` with `n` (and `sets`); the fields of its RESULT line.
    fn run(
        &self,
        root: &Path,
        start: &str,
        n: u64,
        sets: &[&str],
    ) -> anyhow::Result<BTreeMap<String, String>> {
        self.run_with(root, start, n, sets, &[])
    }

    /// Starts workload `start` (and `sets`) in the background and returns once its log says
    /// `ready`; the process is killed when the returned guard drops.
    fn start_server(&self, root: &Path, start: &str, sets: &[&str], ready: &str) -> anyhow::Result<Server> {
        let scratch = Scratch::new()?;
        let (mut command, log) = self.command(root, start, 0, sets, &[], &scratch)?;
        let child = command.stdout(Stdio::null()).stderr(Stdio::null()).spawn()?;
        let server = Server { child, _scratch: scratch };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !std::fs::read_to_string(&log).unwrap_or_default().contains(ready) {
            if Instant::now() > deadline {
                bail!("{} {start}: not ready in a minute", self.name());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(server)
    }

    /// The command that runs workload `start` (under `wrapper` when given), and its log file.
    fn command(
        &self,
        root: &Path,
        start: &str,
        n: u64,
        sets: &[&str],
        wrapper: &[&str],
        scratch: &Scratch,
    ) -> anyhow::Result<(Command, PathBuf)> {
        let program = match self {
            Host::Skybox { bin, .. } => bin.clone(),
            Host::Skynet { root, .. } => root.join("skynet"),
        };
        // Under a wrapper (valgrind), the host's program is the wrapper's first argument.
        let mut command = match wrapper.split_first() {
            Some((wrapper, args)) => {
                let mut c = Command::new(wrapper);
                c.args(args).arg(&program);
                c
            }
            None => Command::new(&program),
        };
        let log = scratch.0.join("log");
        match self {
            Host::Skybox { guests, .. } => {
                command.args(["run", "--start", start, "--path"]).arg(root.join("benches/lua"));
                command.args(["--thread", "2", "--set", &format!("n={n}")]);
                command.arg("--set").arg(format!("wasmservice={}/?.wasm", guests.display()));
                command.arg("--set").arg(format!("logger={}", log.display()));
                for set in sets {
                    command.args(["--set", set]);
                }
            }
            Host::Skynet { root: skynet, .. } => {
                let config = skynet_config(root, skynet, start, n, sets, &log);
                let path = scratch.0.join("config");
                std::fs::write(&path, config)?;
                command.arg(&path).current_dir(skynet);
            }
        }
        Ok((command, log))
    }

    /// As `run`, under the command `wrapper` (valgrind) when given.
    fn run_with(
        &self,
        root: &Path,
        start: &str,
        n: u64,
        sets: &[&str],
        wrapper: &[&str],
    ) -> anyhow::Result<BTreeMap<String, String>> {
        let scratch = Scratch::new()?;
        let (mut command, log) = self.command(root, start, n, sets, wrapper, &scratch)?;
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start {}", self.name()))?;
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            if child.try_wait()?.is_some() {
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                bail!("{} {start}: no result in 10 minutes", self.name());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let line = text
            .lines()
            .find_map(|l| l.split_once("RESULT ").map(|(_, r)| r.to_string()))
            .ok_or_else(|| anyhow!("{} {start}: no RESULT line; its log:\n{text}", self.name()))?;
        Ok(line
            .split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.into(), v.into()))
            .collect())
    }
}

/// A skynet config for a workload of `benches/lua`.
fn skynet_config(root: &Path, skynet: &Path, start: &str, n: u64, sets: &[&str], log: &Path) -> String {
    let (lua, s) = (root.join("benches/lua").display().to_string(), skynet.display().to_string());
    let mut config = format!(
        "thread = 2\nharbor = 0\nstart = \"{start}\"\nbootstrap = \"snlua bootstrap\"\n\
         luaservice = \"{lua}/?.lua;{s}/service/?.lua\"\nlualoader = \"{s}/lualib/loader.lua\"\n\
         lua_path = \"{s}/lualib/?.lua;{s}/lualib/?/init.lua;{lua}/?.lua\"\n\
         lua_cpath = \"{s}/luaclib/?.so\"\ncpath = \"{s}/cservice/?.so\"\nlogger = \"{}\"\nn = {n}\n",
        log.display()
    );
    for set in sets {
        if let Some((k, v)) = set.split_once('=') {
            config.push_str(&format!("{k} = \"{v}\"\n"));
        }
    }
    config
}

/// A node running in the background; killed on drop.
struct Server {
    child: std::process::Child,
    _scratch: Scratch,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A scratch directory, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> anyhow::Result<Scratch> {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("skybox-compare-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Options {
    skynets: Vec<PathBuf>,
    rounds: usize,
    scale: f64,
    net: bool,
    callgrind: bool,
    lua55: bool,
}

fn options(args: &[String]) -> anyhow::Result<Options> {
    let mut o =
        Options { skynets: Vec::new(), rounds: 5, scale: 1.0, net: false, callgrind: false, lua55: false };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = || args.next().cloned().ok_or_else(|| anyhow!("{arg} needs a value"));
        match arg.as_str() {
            "--skynet" => o.skynets.push(PathBuf::from(value()?)),
            "--rounds" => o.rounds = value()?.parse().context("--rounds")?,
            "--scale" => o.scale = value()?.parse().context("--scale")?,
            "--net" => o.net = true,
            "--callgrind" => o.callgrind = true,
            "--lua55" => o.lua55 = true,
            other => bail!("unknown option {other}"),
        }
    }
    if o.skynets.is_empty() {
        bail!(
            "usage: cargo xtask compare --skynet DIR [--skynet DIR2] [--lua55] [--rounds N] [--scale F] [--net] [--callgrind]"
        );
    }
    Ok(o)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

pub(crate) fn run(root: &Path, args: &[String]) -> anyhow::Result<()> {
    let o = options(args)?;
    crate::guests::build(root)?;
    let mut hosts = vec![skybox(root, "skybox", &[])?];
    if o.lua55 {
        hosts.push(skybox(root, "skybox-lua55", crate::LUA55)?);
    }
    for dir in &o.skynets {
        let root =
            std::fs::canonicalize(dir).with_context(|| format!("skynet checkout {}", dir.display()))?;
        if !root.join("skynet").is_file() {
            bail!("{}/skynet is not built (see benches/README)", root.display());
        }
        let flavor = if root.join("3rd/jemalloc/lib").is_dir() { "jemalloc" } else { "malloc" };
        hosts.push(Host::Skynet { name: format!("skynet-{flavor}"), root });
    }
    let date = Command::new("date").arg("-u").arg("+%Y-%m-%d %H:%M UTC").output()?;
    println!(
        "skybox compare, {}, {} rounds, 2 worker threads, scale {}",
        String::from_utf8_lossy(&date.stdout).trim(),
        o.rounds,
        o.scale
    );
    // results[workload][host] = per-round values; rss[host] = spawn's RSS per service.
    let mut results: Vec<Vec<Vec<f64>>> =
        WORKLOADS.iter().map(|_| hosts.iter().map(|_| Vec::new()).collect()).collect();
    let mut rss: Vec<Vec<f64>> = hosts.iter().map(|_| Vec::new()).collect();
    for round in 0..o.rounds {
        for (w, workload) in WORKLOADS.iter().enumerate() {
            let n = ((workload.n as f64 * o.scale) as u64).max(1);
            let mut order: Vec<usize> = (0..hosts.len()).collect();
            order.rotate_left(round % hosts.len());
            for h in order {
                let host = &hosts[h];
                if !workload.both && !matches!(host, Host::Skybox { .. }) {
                    continue;
                }
                let address;
                let mut sets = workload.sets.to_vec();
                let _server = match workload.server {
                    Some(server) => {
                        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
                        address = format!("db_address=127.0.0.1:{port}");
                        sets.push(&address);
                        Some(host.start_server(root, server, &sets, "SERVER READY")?)
                    }
                    None => None,
                };
                let fields = host.run(root, workload.start, n, &sets)?;
                let value: f64 = fields
                    .get(workload.field)
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| anyhow!("{} {}: no {}", host.name(), workload.start, workload.field))?;
                eprintln!("round {} {:<16} {:<16} {value:>12.0}", round + 1, workload.label(), host.name());
                results[w][h].push(value);
                if workload.start == "spawn"
                    && let Some(kb) = fields.get("rss_kb_per_service").and_then(|v| v.parse().ok())
                {
                    rss[h].push(kb);
                }
            }
        }
    }
    print_table(&hosts, &mut results, &mut rss);
    if o.callgrind {
        callgrind(root, &hosts)?;
    }
    if o.net {
        let skynet = o.skynets[0].display().to_string();
        crate::cargo(root, &["bench", "--bench", "netload", "--", "--skynet", &skynet])?;
    }
    Ok(())
}

/// Builds skybox in release mode with `features` and keeps its binary as `<target>/compare/NAME`.
fn skybox(root: &Path, name: &str, features: &[&str]) -> anyhow::Result<Host> {
    crate::cargo(root, &[&["build", "--release", "-p", "skybox"], features].concat())?;
    let target = crate::guests::target_dir(root);
    let bin = target.join("compare").join(name);
    std::fs::create_dir_all(target.join("compare"))?;
    std::fs::copy(target.join("release/skybox"), &bin)
        .with_context(|| format!("cannot copy to {}", bin.display()))?;
    Ok(Host::Skybox { name: name.into(), bin, guests: target.join("guests") })
}

fn print_table(hosts: &[Host], results: &mut [Vec<Vec<f64>>], rss: &mut [Vec<f64>]) {
    // A ratio column for each skybox build against each skynet.
    let is_skybox = |h: usize| matches!(hosts[h], Host::Skybox { .. });
    let pairs: Vec<(usize, usize)> = (0..hosts.len())
        .filter(|&a| is_skybox(a))
        .flat_map(|a| (0..hosts.len()).filter(|&b| !is_skybox(b)).map(move |b| (a, b)))
        .collect();
    let mut header = format!("{:<22}", "median per second");
    for host in hosts {
        header.push_str(&format!("{:>17}", host.name()));
    }
    for &(a, b) in &pairs {
        header.push_str(&format!("{:>32}", format!("{} / {}", hosts[a].name(), hosts[b].name())));
    }
    println!("{header}");
    let mut medians: Vec<Vec<f64>> = Vec::new();
    for (w, workload) in WORKLOADS.iter().enumerate() {
        let row: Vec<f64> = results[w].iter_mut().map(|v| median(v)).collect();
        let mut line = format!("{:<22}", workload.label());
        for value in &row {
            line.push_str(&if value.is_nan() { format!("{:>17}", "-") } else { format!("{value:>17.0}") });
        }
        for &(a, b) in &pairs {
            let ratio = row[a] / row[b];
            line.push_str(&if ratio.is_nan() {
                format!("{:>32}", "-")
            } else {
                format!("{:>31.2}×", ratio)
            });
        }
        println!("{line}");
        medians.push(row);
    }
    let mut line = format!("{:<22}", "spawn RSS KiB/service");
    let rss: Vec<f64> = rss.iter_mut().map(|v| median(v)).collect();
    for value in &rss {
        line.push_str(&format!("{value:>17.1}"));
    }
    println!("{line}");
    let index = |name: &str| WORKLOADS.iter().position(|w| w.start == name).expect("a workload");
    let (pingpong, floor, wasm) = (index("pingpong"), index("floor"), index("wasm_pingpong"));
    let mut line = format!("{:<22}", "ping-pong / own floor");
    for (ping, floor) in medians[pingpong].iter().zip(&medians[floor]) {
        line.push_str(&format!("{:>16.1}%", 100.0 * ping / floor));
    }
    println!("{line}");
    println!("wasm ping-pong / Lua ping-pong (skybox): {:.2}×", medians[wasm][0] / medians[pingpong][0]);
}

/// Instructions per message under callgrind: (Ir at `n2` - Ir at `n1`) / (n2 - n1).
fn callgrind(root: &Path, hosts: &[Host]) -> anyhow::Result<()> {
    if Command::new("valgrind").arg("--version").output().is_err() {
        bail!("--callgrind needs valgrind (apt-get install valgrind)");
    }
    println!("instructions per message (callgrind)");
    for (start, n1, n2) in [("pingpong", 10_000u64, 60_000u64), ("spawn", 200, 1_200)] {
        let mut line = format!("{start:<22}");
        for host in hosts {
            let ir = |n: u64| -> anyhow::Result<u64> {
                let scratch = Scratch::new()?;
                let out = scratch.0.join("callgrind.out");
                let out_arg = format!("--callgrind-out-file={}", out.display());
                let wrapper = ["valgrind", "--tool=callgrind", "--trace-children=no", &out_arg];
                host.run_with(root, start, n, &[], &wrapper)?;
                let text = std::fs::read_to_string(&out)?;
                text.lines()
                    .find_map(|l| l.strip_prefix("totals: ").or_else(|| l.strip_prefix("summary: ")))
                    .and_then(|v| v.split_whitespace().next()?.parse().ok())
                    .ok_or_else(|| anyhow!("no totals in {}", out.display()))
            };
            let per = (ir(n2)? as f64 - ir(n1)? as f64) / (n2 - n1) as f64;
            line.push_str(&format!("{:>17.0}", per));
        }
        println!("{line}");
    }
    Ok(())
}
