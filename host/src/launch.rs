//! Starting a node from a config: defaults, checks that fail early with one clear line, the
//! runtimes, the bootstrap service.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

use crate::config::Config;
use crate::core::node::{Node, NodeConfig};
use crate::lua;

/// Config keys and their defaults.
const DEFAULTS: &[(&str, &str)] = &[
    ("thread", "8"),
    ("harbor", "0"),
    ("start", "main"),
    ("bootstrap", "snlua bootstrap"),
    ("luaservice", lua::DEFAULT_LUASERVICE),
    ("lua_path", lua::DEFAULT_LUA_PATH),
    ("lua_cpath", lua::DEFAULT_LUA_CPATH),
    ("logpath", "."),
];

/// What `skybox run` was given on the command line.
#[derive(Debug, Default)]
pub struct RunOptions {
    /// The config file, if any.
    pub config: Option<PathBuf>,
    /// `--start`: the start service, over the config's `start`.
    pub start: Option<String>,
    /// `--path`: directories searched for services and Lua modules before the configured paths.
    pub paths: Vec<PathBuf>,
    /// `--thread`: worker threads, over the config's `thread`.
    pub thread: Option<usize>,
    /// `KEY=VALUE` overrides.
    pub sets: Vec<String>,
}

/// Builds the effective config: the file (if any), then the command-line overrides.
pub(crate) fn effective_config(options: &RunOptions) -> anyhow::Result<Config> {
    let mut config = match &options.config {
        Some(path) => Config::load(path)?,
        None if options.start.is_none() => bail!("nothing to run: give a config file or --start NAME"),
        None => Config::default(),
    };
    if let Some(start) = &options.start {
        config.set("start", start.clone());
    }
    if let Some(thread) = options.thread {
        config.set("thread", thread.to_string());
    }
    for set in &options.sets {
        match set.split_once('=') {
            Some((key, value)) if !key.trim().is_empty() => config.set(key.trim(), value),
            _ => bail!("--set expects KEY=VALUE, got '{set}'"),
        }
    }
    for dir in options.paths.iter().rev() {
        let dir = dir.display();
        let prepend = |config: &mut Config, key: &str, patterns: String, default: &str| {
            let rest = config.get(key).unwrap_or(default).to_string();
            config.set(key, format!("{patterns};{rest}"));
        };
        prepend(&mut config, "luaservice", format!("{dir}/?.lua;{dir}/?/main.lua"), lua::DEFAULT_LUASERVICE);
        prepend(&mut config, "lua_path", format!("{dir}/?.lua;{dir}/?/init.lua"), lua::DEFAULT_LUA_PATH);
        // wasm guests in DIR too
        prepend(
            &mut config,
            "wasmservice",
            format!("{dir}/?.wasm"),
            crate::wasm::settings::DEFAULT_WASMSERVICE,
        );
    }
    Ok(config)
}

/// Runs a node until it stops; returns the process exit code.
///
/// With the `daemon` key set this forks the process (daemon(3)): call it only from a
/// single-threaded process, as the `skybox` binary does.
pub fn run(options: RunOptions) -> anyhow::Result<i32> {
    let mut config = effective_config(&options)?;
    let threads = config.int("thread", 8)?;
    if !(1..=256).contains(&threads) {
        bail!("config key 'thread' must be between 1 and 256, got {threads}");
    }
    let harbor = config.int("harbor", 0)?;
    if !(0..=255).contains(&harbor) {
        bail!("config key 'harbor' must be between 0 and 255, got {harbor}");
    }
    // Defaults are written into the environment, as skynet does, so getenv sees what is in force.
    for (key, default) in DEFAULTS.iter().chain(crate::wasm::settings::DEFAULTS) {
        if config.get(key).is_none() {
            config.set(key, *default);
        }
    }
    let endless_text = config.get("endless").unwrap_or("5");
    let endless = crate::core::monitor::parse_limit(endless_text).ok_or_else(|| {
        anyhow::anyhow!("config key 'endless' must be a number of seconds, got '{endless_text}'")
    })?;
    let bootstrap = config.get("bootstrap").unwrap_or("snlua bootstrap").to_string();
    let start = config.get("start").unwrap_or("main").to_string();
    // wasm settings fail here, with one line, rather than at the first guest's launch.
    crate::wasm::settings::Settings::from_env(|key| config.get(key).map(str::to_string))?;
    if bootstrap == "snlua bootstrap"
        && !lua::service_exists(config.get("luaservice").unwrap_or(lua::DEFAULT_LUASERVICE), &start)
        && !crate::wasm::module_exists(&config, &start)
    {
        bail!(
            "start service '{start}' not found (searched luaservice = \"{}\" and wasmservice = \"{}\")",
            config.get("luaservice").unwrap_or(lua::DEFAULT_LUASERVICE),
            config.get("wasmservice").unwrap_or(crate::wasm::settings::DEFAULT_WASMSERVICE)
        );
    }
    if let Some(loader) = config.get("lualoader")
        && !Path::new(loader).is_file()
    {
        bail!("lualoader '{loader}' is not a readable file");
    }
    if let Some(pidfile) = config.get("daemon") {
        daemonize(Path::new(pidfile))?;
    }
    let node = Node::new(NodeConfig {
        threads: threads as usize,
        harbor: harbor as u8,
        logger: config.get("logger").map(PathBuf::from),
        endless: Some(endless),
        env: config.values.clone(),
    })?;
    register_runtimes(&node)?;
    node.start()?;
    // skynet's log service first, at :00000001, so every address after it is skynet's.
    let logger = node.launch_quietly("logger")?;
    node.bind_name(".logger", logger);
    if let Err(err) = node.launch(&bootstrap) {
        node.abort(1);
        node.wait();
        return Err(err).context(format!("bootstrap '{bootstrap}' failed"));
    }
    Ok(node.wait())
}

/// Registers every runtime a node launches services with.
pub(crate) fn register_runtimes(node: &std::sync::Arc<Node>) -> anyhow::Result<()> {
    // wasm guests, and Lua services that fall back to a wasm guest of the same name.
    let wasm = crate::wasm::WasmRuntime::new(node)?;
    node.register_runtime("snlua", wasm.lua_fallback(crate::lua::factory()));
    node.register_runtime("wasm", wasm.factory());
    node.register_runtime("harbor", crate::native::harbor::factory());
    node.register_runtime("logger", crate::native::logger::factory());
    Ok(())
}

/// Detaches from the terminal (skynet's `daemon` key) and writes the pid file. Must run before
/// any thread starts.
fn daemonize(pidfile: &Path) -> anyhow::Result<()> {
    if let Ok(old) = std::fs::read_to_string(pidfile)
        && let Ok(pid) = old.trim().parse::<i32>()
        // SAFETY: kill with signal 0 only checks that the process exists.
        && unsafe { libc::kill(pid, 0) } == 0
    {
        bail!("daemon: pid file {} names a running process {pid}", pidfile.display());
    }
    // SAFETY: called from the main thread before any other thread exists, as daemon(3) requires.
    if unsafe { libc::daemon(1, 0) } != 0 {
        bail!("daemon: {}", std::io::Error::last_os_error());
    }
    std::fs::write(pidfile, format!("{}\n", std::process::id()))
        .with_context(|| format!("daemon: cannot write pid file {}", pidfile.display()))?;
    Ok(())
}
