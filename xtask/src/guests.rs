//! `cargo xtask guests`: builds every wasm guest of `services/guests` into
//! `<target>/guests/NAME.wasm`.
//!
//! The rustup toolchain here has no `wasm32-unknown-unknown` target and cannot download one, so
//! the guests are built with Debian's Rust (`rustc-web`, `cargo-web`, `rust-web-src`: rustc and
//! cargo in /usr/bin, the std sources in /usr/lib/rustlib) and LLVM's `wasm-ld` (`lld-19`),
//! rebuilding std for the target (`-Zbuild-std`, allowed by `RUSTC_BOOTSTRAP=1`). Those packages
//! are installed with apt-get when missing. Only the guests use that toolchain; the host keeps
//! rustup's.
//!
//! The build goes to `<target>/guests-build` (a cargo target dir of its own: another compiler,
//! another target) and is incremental; a guest's `.wasm` is copied to `<target>/guests` only when
//! it changed, so an unchanged tree costs one no-op cargo run.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context as _, bail};

const RUSTC: &str = "/usr/bin/rustc";
const CARGO: &str = "/usr/bin/cargo";
const STD_SOURCES: &str = "/usr/lib/rustlib/src/rust/library/std/src/lib.rs";
const WASM_LD: &str = "/usr/lib/llvm-19/bin/wasm-ld";
const PACKAGES: [&str; 4] = ["rustc-web", "cargo-web", "rust-web-src", "lld-19"];
const TARGET: &str = "wasm32-unknown-unknown";

/// Builds every guest; returns the `.wasm` files, by guest name.
pub(crate) fn build(root: &Path) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let started = Instant::now();
    ensure_toolchain()?;

    let guests_dir = root.join("services/guests");
    let names = guest_names(&guests_dir)?;
    let target_dir = target_dir(root);
    let build_dir = target_dir.join("guests-build");
    let out_dir = target_dir.join("guests");

    let mut cargo = Command::new(CARGO);
    cargo
        .args(["build", "--release", "--workspace", "--target", TARGET, "-Zbuild-std=std,panic_abort"])
        .arg("--manifest-path")
        .arg(guests_dir.join("Cargo.toml"))
        .current_dir(&guests_dir)
        // Settings of the outer cargo (rustup's) must not leak into Debian's.
        .env_remove("CARGO")
        .env_remove("RUSTUP_TOOLCHAIN")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .env("RUSTC_BOOTSTRAP", "1")
        .env("RUSTC", RUSTC)
        .env("PATH", prepend_path("/usr/bin"))
        .env("CARGO_TARGET_DIR", &build_dir)
        .env("CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER", WASM_LD)
        .env_remove("CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS");
    let status = cargo.status().with_context(|| format!("cannot run {CARGO}"))?;
    if !status.success() {
        bail!("building the guests failed ({status})");
    }

    std::fs::create_dir_all(&out_dir).with_context(|| format!("cannot create {}", out_dir.display()))?;
    let mut built = Vec::new();
    for name in &names {
        let wasm = build_dir.join(TARGET).join("release").join(format!("{}.wasm", name.replace('-', "_")));
        let dest = out_dir.join(format!("{name}.wasm"));
        copy_if_changed(&wasm, &dest)?;
        built.push((name.clone(), dest));
    }
    remove_stale(&out_dir, &names)?;

    for (name, path) in &built {
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        eprintln!("  {name:<12} {:>7.1} KB  {}", size as f64 / 1024.0, path.display());
    }
    eprintln!("guests built in {:.1} s", started.elapsed().as_secs_f64());
    Ok(built)
}

/// The root workspace's target dir: `CARGO_TARGET_DIR` (relative to the current directory, as
/// cargo reads it), else `<root>/target`.
pub(crate) fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() { dir } else { std::env::current_dir().unwrap_or_default().join(dir) }
        }
        _ => root.join("target"),
    }
}

/// The package names of the guest workspace's members (each directory with a Cargo.toml).
fn guest_names(guests_dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut names = Vec::new();
    let entries =
        std::fs::read_dir(guests_dir).with_context(|| format!("cannot read {}", guests_dir.display()))?;
    for entry in entries {
        let manifest = entry?.path().join("Cargo.toml");
        if let Ok(text) = std::fs::read_to_string(&manifest) {
            let name =
                package_name(&text).with_context(|| format!("no package name in {}", manifest.display()))?;
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// `name = "..."` of the `[package]` table.
fn package_name(manifest: &str) -> Option<String> {
    let mut in_package = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if in_package && let Some(value) = line.strip_prefix("name") {
            let value = value.trim_start().strip_prefix('=')?.trim();
            return Some(value.trim_matches('"').to_owned());
        }
    }
    None
}

fn copy_if_changed(from: &Path, to: &Path) -> anyhow::Result<()> {
    let bytes =
        std::fs::read(from).with_context(|| format!("the build did not produce {}", from.display()))?;
    if std::fs::read(to).ok().as_deref() != Some(&bytes[..]) {
        std::fs::write(to, &bytes).with_context(|| format!("cannot write {}", to.display()))?;
    }
    Ok(())
}

/// Removes `.wasm` files of guests that no longer exist (the host's tests load every one).
fn remove_stale(out_dir: &Path, names: &[String]) -> anyhow::Result<()> {
    let keep: BTreeSet<String> = names.iter().map(|n| format!("{n}.wasm")).collect();
    for entry in std::fs::read_dir(out_dir)? {
        let path = entry?.path();
        let file = path.file_name().and_then(|f| f.to_str()).unwrap_or_default();
        if file.ends_with(".wasm") && !keep.contains(file) {
            std::fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
        }
    }
    Ok(())
}

fn prepend_path(dir: &str) -> std::ffi::OsString {
    let mut paths = vec![PathBuf::from(dir)];
    paths.extend(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()));
    std::env::join_paths(paths).unwrap_or_else(|_| dir.into())
}

fn toolchain_missing() -> Vec<&'static str> {
    [RUSTC, CARGO, STD_SOURCES, WASM_LD].into_iter().filter(|p| !Path::new(p).exists()).collect()
}

/// Installs the Debian toolchain when a piece of it is missing.
fn ensure_toolchain() -> anyhow::Result<()> {
    crate::apt::ensure("wasm toolchain", &PACKAGES, toolchain_missing)
}

#[cfg(test)]
mod tests {
    use super::package_name;

    #[test]
    fn reads_the_package_name() {
        let manifest = "[workspace]\nname = \"no\"\n[package]\nname = \"echo\"\nversion = \"1\"\n";
        assert_eq!(package_name(manifest).as_deref(), Some("echo"));
        assert_eq!(package_name("[package]\nname=\"x\"").as_deref(), Some("x"));
        assert_eq!(package_name("[lib]\nname = \"y\""), None);
    }
}
