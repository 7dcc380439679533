//! `skybox replay FILE`: runs one recorded service again from its record, on this thread, in a
//! node that starts no worker, timer, socket or service but it. Its log lines go to stdout as
//! they did to the log; everything else it does is checked against the record and performed
//! nowhere (see [`super::Tape`]).

use std::collections::HashMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use anyhow::Context as _;
use sha2::{Digest, Sha256};

use super::format::{self, Ending, Entry, Record};
use crate::core::node::{Node, NodeConfig};
use crate::core::service::Service;

/// What `skybox replay` was given.
#[derive(Debug, Default)]
pub struct ReplayOptions {
    /// The record file.
    pub file: PathBuf,
    /// `--set KEY=VALUE`: config keys over the recorded ones (e.g. a `lua_path` to a fix).
    pub sets: Vec<String>,
    /// `--dump`: list the entries instead of replaying.
    pub dump: bool,
    /// `--allow-changed-code`: replay against code that differs from the recorded code.
    pub allow_changed_code: bool,
}

/// The replay's node, for [`stop`] to flush its log.
static NODE: OnceLock<Arc<Node>> = OnceLock::new();

/// Ends the replay now: the log lines so far, then `line` on stderr, then exit with `code`.
pub(crate) fn stop(code: i32, line: &str) -> ! {
    if let Some(node) = NODE.get() {
        node.flush_log();
    }
    let _ = std::io::stdout().flush();
    eprintln!("{line}");
    std::process::exit(code)
}

/// Logs a line the recording host logged (see `Entry::Log`).
pub(crate) fn log(source: u32, text: &str) {
    if let Some(node) = NODE.get() {
        node.log(source, text.to_string());
    }
}

/// Runs `skybox replay`; returns the exit code (a replay that diverges exits from inside).
pub fn run(options: ReplayOptions) -> i32 {
    let file = options.file.display().to_string();
    let bytes = match std::fs::read(&options.file) {
        Ok(bytes) => bytes,
        Err(err) => {
            eprintln!("skybox replay: cannot read {file}: {err}");
            return 1;
        }
    };
    // Leaked: the replay's entries borrow it until the process exits.
    let record = match format::read(Vec::leak(bytes)) {
        Ok(record) => record,
        Err(line) => {
            eprintln!("skybox replay: {file}: {line}");
            return 1;
        }
    };
    if options.dump {
        dump(&record);
        return 0;
    }
    match replay(record, &options) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("skybox replay: {file}: {err:#}");
            1
        }
    }
}

fn replay(record: Record<'static>, options: &ReplayOptions) -> anyhow::Result<i32> {
    let header = record.header.clone();
    let mut env: HashMap<String, String> = header.config.iter().cloned().collect();
    // A replay records nothing.
    env.remove("record");
    for set in &options.sets {
        match set.split_once('=') {
            Some((key, value)) if !key.trim().is_empty() => {
                env.insert(key.trim().to_string(), value.to_string());
            }
            _ => anyhow::bail!("--set expects KEY=VALUE, got '{set}'"),
        }
    }
    let changed = changed_code(&record);
    if !changed.is_empty() {
        let list = changed.join(", ");
        if !options.allow_changed_code {
            eprintln!(
                "skybox replay: the code changed since the record: {list}; --allow-changed-code replays anyway"
            );
            return Ok(1);
        }
        eprintln!("skybox replay: the code changed since the record: {list} (replaying anyway)");
    }
    if !matches!(header.runtime.as_str(), "snlua" | "wasm") {
        anyhow::bail!(
            "the record names runtime '{}'; only snlua and wasm services are recorded",
            header.runtime
        );
    }
    // Before any Lua VM exists: the order of `pairs` over string keys depends on it.
    if !crate::lua::replay_hash_seed(header.hash_seed) {
        anyhow::bail!("the Lua hash seed was chosen before the replay could set it");
    }
    // The monitor interrupts an endless loop as it did when recorded (where exactly is the
    // clock's: a replay of an interrupted handler may diverge after it).
    let endless = env.get("endless").map_or("5", String::as_str);
    let endless = crate::core::monitor::parse_limit(endless).ok_or_else(|| {
        anyhow::anyhow!("config key 'endless' must be a number of seconds, got '{endless}'")
    })?;
    let node = Node::new(NodeConfig {
        threads: 1,
        harbor: (header.handle >> 24) as u8,
        logger: None,
        env,
        endless: Some(endless),
    })?;
    let _ = NODE.set(node.clone());
    node.start_monitor()?;
    crate::launch::register_runtimes(&node)?;
    let ending = record.ending.clone();
    let entries = record.entries.len();
    let service = Arc::new(Service::new(header.handle));
    service.set_tape(super::replaying(record, options.allow_changed_code));
    node.handles.register_at(service.clone());
    let tape = service.tape().expect("set above");
    let mut actor = node
        .build(&service, &header.runtime, &header.args)
        .with_context(|| format!("cannot start {} {}", header.runtime, header.args))?;
    node.log(header.handle, crate::core::lifetime::launch_line(&header.runtime, &header.args));
    while let Some(msg) = tape.replayer(|r| r.next_message()) {
        crate::core::worker::handle_alone(&node, &service, actor.as_mut(), msg);
    }
    drop(actor);
    if matches!(ending, Ending::Closed(_)) {
        tape.replayed_all();
    }
    node.flush_log();
    let _ = std::io::stdout().flush();
    match ending {
        Ending::Closed(_) => {}
        Ending::Limited(limit) => {
            eprintln!(
                "replay: the record stops at entry {entries} (recordlimit {limit} reached); replayed up to there"
            )
        }
        Ending::Unfinished => eprintln!(
            "replay: the record stops at entry {entries} with no end mark (the recording process stopped); replayed up to there"
        ),
    }
    Ok(0)
}

/// The recorded code that differs now: the Lua a Lua service ran on, the built-in Lua library,
/// and each file the record loaded that reads differently (or not at all) at the same path.
fn changed_code(record: &Record) -> Vec<String> {
    let mut changed = Vec::new();
    let recorded_lua = recorded_lua(&record.header.skybox);
    if record.header.runtime == "snlua" && recorded_lua != crate::lua::LUA_RELEASE {
        changed.push(format!(
            "the Lua VM (recorded on {recorded_lua}, this skybox runs {})",
            crate::lua::LUA_RELEASE
        ));
    }
    if record.header.library != crate::lua::library_hash() {
        changed.push(format!("the built-in Lua library (recorded by skybox {})", record.header.skybox));
    }
    let mut seen = std::collections::HashSet::new();
    for entry in &record.entries {
        if let Entry::Code { name, hash } = entry
            && seen.insert(*name)
        {
            let now = std::fs::read(name).map(|bytes| <[u8; 32]>::from(Sha256::digest(&bytes)));
            if now.as_ref().ok() != Some(hash) {
                changed.push(name.to_string());
            }
        }
    }
    changed
}

/// The Lua named by a record's build (`0.1.0 (Lua 5.5)`); Lua 5.4 when it names none.
fn recorded_lua(build: &str) -> &str {
    build.split_once(" (").and_then(|(_, lua)| lua.strip_suffix(')')).unwrap_or("Lua 5.4")
}

/// `--dump`: the header, then one line per entry.
fn dump(record: &Record) {
    let h = &record.header;
    println!("record of {} {} at :{:08x}", h.runtime, h.args, h.handle);
    println!(
        "format {}, skybox {}, started {} ms after the epoch, {} worker threads",
        format::VERSION,
        h.skybox,
        h.started_ms,
        h.threads
    );
    println!("lua hash seed {:#010x}, lua library sha256 {}", h.hash_seed, format::hex(&h.library));
    for (key, value) in &h.config {
        println!("config {key} = {value:?}");
    }
    for (i, entry) in record.entries.iter().enumerate() {
        println!("{:>6} {entry}", i + 1);
    }
    match &record.ending {
        Ending::Closed(reason) => println!("end: {reason}"),
        Ending::Limited(limit) => println!("end: recordlimit {limit} reached, the rest was not recorded"),
        Ending::Unfinished => println!("end: no end mark (the recording process stopped)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(skybox: &str, runtime: &str) -> Record<'static> {
        let header = format::Header {
            skybox: skybox.into(),
            runtime: runtime.into(),
            args: "main".into(),
            handle: 9,
            threads: 1,
            started_ms: 1,
            hash_seed: 7,
            library: crate::lua::library_hash(),
            config: Vec::new(),
        };
        Record { header, entries: Vec::new(), ending: Ending::Closed("exit".into()) }
    }

    #[test]
    fn a_lua_service_recorded_on_another_lua_is_changed_code() {
        let this = format!("0.1.0 ({})", crate::lua::LUA_RELEASE);
        assert!(changed_code(&record(&this, "snlua")).is_empty());
        let other = changed_code(&record("0.1.0 (Lua 9.9)", "snlua"));
        assert_eq!(
            other,
            [format!("the Lua VM (recorded on Lua 9.9, this skybox runs {})", crate::lua::LUA_RELEASE)]
        );
        // a guest does not run on Lua
        assert!(changed_code(&record("0.1.0 (Lua 9.9)", "wasm")).is_empty());
        // records written before the choice of Lua were 5.4's
        assert_eq!(recorded_lua("0.1.0"), "Lua 5.4");
        assert_eq!(recorded_lua("0.2.0 (Lua 5.5)"), "Lua 5.5");
    }
}
