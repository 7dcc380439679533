//! Helpers shared by the fuzz targets in `fuzz_targets/` (one binary each; `cargo xtask fuzz`
//! builds and runs them).

pub mod canon;
pub mod guest;
pub mod node;

use std::path::PathBuf;

/// A fresh directory `fuzz/target/scratch/NAME-PID` for a target's files (git-ignored; `cargo
/// xtask fuzz` empties `fuzz/target/scratch` before each run).
pub fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target/scratch")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}
