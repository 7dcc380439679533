//! Debian packages the test command needs, installed with apt-get when they are missing (the
//! machines reach Debian's package registry; a fresh one has none of them).

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

/// Installs `packages` when `missing()` names something (a path or a program) they provide. If
/// apt or dpkg is already running (an install may be under way), waits for it first.
pub(crate) fn ensure(
    what: &str,
    packages: &[&str],
    missing: impl Fn() -> Vec<&'static str>,
) -> anyhow::Result<()> {
    if missing().is_empty() {
        return Ok(());
    }
    wait_for_package_manager(what)?;
    let absent = missing();
    if absent.is_empty() {
        return Ok(());
    }
    eprintln!("{what}: missing {}; installing {}", absent.join(", "), packages.join(" "));
    let apt = |args: &[&str]| -> anyhow::Result<()> {
        let status = Command::new("apt-get")
            .args(["-o", "DPkg::Lock::Timeout=900"])
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .context("cannot run apt-get")?;
        if !status.success() {
            bail!("apt-get {} failed ({status}); install {} by hand", args.join(" "), packages.join(" "));
        }
        Ok(())
    };
    apt(&["update"])?;
    apt(&[&["install", "-y"][..], packages].concat())?;
    let absent = missing();
    if !absent.is_empty() {
        bail!("still missing after the install: {}", absent.join(", "));
    }
    Ok(())
}

/// The programs of `names` that are not on `PATH`.
pub(crate) fn programs_missing(names: &[&'static str]) -> Vec<&'static str> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    names
        .iter()
        .copied()
        .filter(|name| !std::env::split_paths(&path).any(|dir| dir.join(name).is_file()))
        .collect()
}

/// Waits (up to 30 minutes) while an apt-get, apt or dpkg process runs.
fn wait_for_package_manager(what: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30 * 60);
    let mut told = false;
    while package_manager_running() {
        if Instant::now() > deadline {
            bail!("apt/dpkg has been running for 30 minutes; try again when it is done");
        }
        if !told {
            eprintln!("{what}: waiting for a running apt/dpkg to finish");
            told = true;
        }
        std::thread::sleep(Duration::from_secs(2));
    }
    Ok(())
}

fn package_manager_running() -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else { return false };
    entries.flatten().any(|entry| {
        std::fs::read_to_string(entry.path().join("comm"))
            .is_ok_and(|comm| matches!(comm.trim(), "apt-get" | "apt" | "dpkg" | "unattended-upgr"))
    })
}
