//! The `skybox` binary: `skybox run CONFIG`, `skybox run --start NAME --path DIR`, or
//! `skybox replay FILE`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc: a Lua VM is often built on one thread (see `lua::blank`) and freed from by others,
/// and glibc's allocator takes the building thread's arena lock for every such free; mimalloc
/// returns them to their thread without a lock. skynet links jemalloc for the same reasons.
/// Built without transparent huge pages (`no_thp`): with them, every new service's first bytes
/// faulted in a zeroed 2 MB page, and spawns were a third slower and erratic.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "skybox", version, about = "An actor host in the tradition of skynet")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a node from a skynet-style config, or from --start/--path alone.
    Run {
        /// The config file (Lua syntax: key = value, include "file", $ENV).
        config: Option<PathBuf>,
        /// The start service (overrides the config's `start`).
        #[arg(long)]
        start: Option<String>,
        /// A directory searched for services and Lua modules, before the configured paths.
        #[arg(long = "path", value_name = "DIR")]
        paths: Vec<PathBuf>,
        /// Worker threads (overrides the config's `thread`).
        #[arg(long)]
        thread: Option<usize>,
        /// Sets any config key (repeatable), readable with skynet.getenv.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
    },
    /// Re-run one recorded service from its record file (config key `record`) and print the log
    /// lines it printed; exits 1 where the replay diverges from the record.
    Replay {
        /// The record file (`recordpath`/NAME-ADDRESS.record).
        file: PathBuf,
        /// Sets a config key over the recorded one (repeatable), e.g. a lua_path to a fix.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// List the record's entries instead of replaying it.
        #[arg(long)]
        dump: bool,
        /// Replay against code that differs from the recorded code (a fix of the recorded bug).
        #[arg(long)]
        allow_changed_code: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run { config, start, paths, thread, sets } => {
            let options = skybox::launch::RunOptions { config, start, paths, thread, sets };
            match skybox::launch::run(options) {
                Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
                Err(err) => {
                    eprintln!("skybox: {err:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Replay { file, sets, dump, allow_changed_code } => {
            let options = skybox::record::replay::ReplayOptions { file, sets, dump, allow_changed_code };
            ExitCode::from(skybox::record::replay::run(options).clamp(0, 255) as u8)
        }
    }
}
