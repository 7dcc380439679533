//! Project tasks, run as `cargo xtask <task>`:
//!
//! - `test`: every test: builds the wasm guests, then unit tests, the Lua suites, the CLI tests,
//!   the guests' own (native) tests, and a short run of each fuzz target.
//! - `demo`: builds the host in release mode and runs the demo in `services/demo`.
//! - `guests`: builds the wasm guests of `services/guests` into `target/guests/NAME.wasm`.
//! - `compare --skynet DIR`: skybox and skynet side by side on this machine (see `compare`).
//! - `skynet-tests --skynet DIR`: skynet's own test services on both hosts, outputs compared.
//! - `fuzz [--seconds N] [TARGET...]`: builds the fuzz targets of `fuzz/` and runs each for N
//!   seconds (see `fuzz`).

mod apt;
mod compare;
mod fuzz;
mod guests;
mod skynet_tests;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};

fn main() -> anyhow::Result<()> {
    let task = std::env::args().nth(1).unwrap_or_default();
    let root = workspace_root();
    match task.as_str() {
        "test" => test(&root),
        "demo" => demo(&root),
        "guests" => guests::build(&root).map(drop),
        "compare" => compare::run(&root, &std::env::args().skip(2).collect::<Vec<_>>()),
        "skynet-tests" => skynet_tests::run(&root, &std::env::args().skip(2).collect::<Vec<_>>()),
        "fuzz" => fuzz::run(&root, &std::env::args().skip(2).collect::<Vec<_>>()),
        _ => {
            eprintln!("usage: cargo xtask <test|demo|guests|compare|skynet-tests|fuzz>");
            bail!("unknown task '{task}'")
        }
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_path_buf()
}

/// The cargo arguments that build the host with Lua 5.5 instead of its default 5.4.
const LUA55: &[&str] = &["--no-default-features", "--features", "lua55"];

fn cargo(root: &Path, args: &[&str]) -> anyhow::Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(&cargo)
        .args(args)
        .current_dir(root)
        .status()
        .with_context(|| format!("cannot run {cargo}"))?;
    if !status.success() {
        bail!("cargo {} failed ({status})", args.join(" "));
    }
    Ok(())
}

fn test(root: &Path) -> anyhow::Result<()> {
    // The host's tests load target/guests/*.wasm.
    guests::build(root)?;
    // tests/skynet_redis.rs talks to a real redis-server (it says why when it skips).
    if let Err(err) = apt::ensure("redis", &["redis-server"], || apt::programs_missing(&["redis-server"])) {
        eprintln!("redis: {err:#}; the redis test will be skipped");
    }
    // Lints (the workspace's `[workspace.lints]` included) and formatting: a warning fails the run.
    cargo(root, &["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"])?;
    cargo(root, &["fmt", "--all", "--", "--check"])?;
    cargo(root, &["test", "--workspace"])?;
    // The host again with Lua 5.5 (the build option that matches skynet's master): every suite
    // of the host package.
    cargo(root, &[&["test", "-p", "skybox"], LUA55].concat())?;
    // The model tests of the lock-free parts (host/src/sync.rs): loom explores their
    // interleavings, each model within a preemption bound that keeps this step near a minute.
    cargo(root, &["test", "-p", "skybox", "--features", "loom", "--lib", "loom"])?;
    // The guests' unit tests run natively, under the SDK's mock host, with the normal toolchain
    // (in a target dir of their own: the guests are another workspace).
    let native = guests::target_dir(root).join("guests-native");
    let manifest = root.join("services/guests/Cargo.toml");
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .arg("test")
        .arg("--manifest-path")
        .arg(&manifest)
        .env("CARGO_TARGET_DIR", native)
        .current_dir(root)
        .status()
        .context("cannot run cargo")?;
    if !status.success() {
        bail!("the guests' tests failed ({status})");
    }
    // A short run of each fuzz target (fuzz/, built into fuzz/target): it catches a target that
    // no longer builds or a decoder that crashes on its seeds; real fuzzing is `cargo xtask fuzz`.
    fuzz::test_slice(root)
}

fn demo(root: &Path) -> anyhow::Result<()> {
    // The demo runs Rust guests beside its Lua services.
    guests::build(root)?;
    cargo(root, &["run", "--release", "--package", "skybox", "--", "run", "services/demo/config"])
}
