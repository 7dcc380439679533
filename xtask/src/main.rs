//! Project tasks, run as `cargo xtask <task>`:
//!
//! - `test`: every test: unit tests, the Lua suites, the CLI tests.
//! - `demo`: builds the host in release mode and runs the demo in `services/demo`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};

fn main() -> anyhow::Result<()> {
    let task = std::env::args().nth(1).unwrap_or_default();
    let root = workspace_root();
    match task.as_str() {
        "test" => test(&root),
        "demo" => demo(&root),
        _ => {
            eprintln!("usage: cargo xtask <test|demo>");
            bail!("unknown task '{task}'")
        }
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_path_buf()
}

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
    cargo(root, &["test", "--workspace"])
}

fn demo(root: &Path) -> anyhow::Result<()> {
    cargo(root, &["run", "--release", "--package", "skybox", "--", "run", "services/demo/config"])
}
