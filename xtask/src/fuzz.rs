//! `cargo xtask fuzz [--seconds N] [TARGET...]`: builds the fuzz targets of `fuzz/` and runs
//! each for N seconds (default [`DEFAULT_SECONDS`]); every target when none is named.
//!
//! The targets are libFuzzer binaries (`libfuzzer-sys`) built by the stable toolchain: the
//! `fuzz/instrument` wrapper adds `cargo fuzz`'s sanitizer-coverage flags to skybox and
//! skybox-sdk only (see it and `fuzz/Cargo.toml`). The build goes to `fuzz/target`.
//!
//! Each run reads the committed seeds in `fuzz/corpus/TARGET` and grows a working corpus in
//! `fuzz/target/corpus/TARGET` (kept between runs, never committed). Its output goes to
//! `fuzz/target/logs/TARGET.log` and one summary line is printed; the files the targets write
//! go to `fuzz/target/scratch`, emptied first. A crash, panic, timeout or out-of-memory stops
//! the target: libFuzzer writes the input to `fuzz/artifacts/TARGET/`, and the task fails
//! naming that file (replay it with `fuzz/target/release/TARGET FILE`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context as _, bail};

/// Seconds per target of `cargo xtask fuzz`.
const DEFAULT_SECONDS: u64 = 60;

/// Every target, in the order they run: (name, its libFuzzer options).
const TARGETS: &[(&str, &[&str])] = &[
    ("codec", &["-max_len=4096", "-timeout=10"]),
    ("seri", &["-max_len=4096", "-timeout=10"]),
    // A program of up to 24 records (see fuzz/src/guest.rs); the harness itself reports a
    // request left unanswered after 15 s.
    ("abi", &["-max_len=649", "-timeout=60"]),
    ("config", &["-max_len=2048", "-timeout=10"]),
    ("specs", &["-max_len=1024", "-timeout=10"]),
    ("record", &["-max_len=4096", "-timeout=10"]),
];

/// `cargo xtask fuzz ARGS`.
pub(crate) fn run(root: &Path, args: &[String]) -> anyhow::Result<()> {
    let mut seconds = DEFAULT_SECONDS;
    let mut names = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => {
                let n = args.next().context("--seconds needs a number")?;
                seconds = n.parse().with_context(|| format!("--seconds: not a number: {n}"))?;
            }
            name if TARGETS.iter().any(|(t, _)| *t == name) => names.push(name.to_string()),
            other => bail!(
                "usage: cargo xtask fuzz [--seconds N] [TARGET...]; unknown argument '{other}' (targets: {})",
                TARGETS.iter().map(|(t, _)| *t).collect::<Vec<_>>().join(" ")
            ),
        }
    }
    if names.is_empty() {
        names = TARGETS.iter().map(|(t, _)| t.to_string()).collect();
    }
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    build(root, &names)?;
    let _ = std::fs::remove_dir_all(root.join("fuzz/target/scratch"));
    for name in names {
        run_target(root, name, seconds, "corpus")?;
    }
    Ok(())
}

/// Builds the targets `names` (release profile of `fuzz/Cargo.toml`, instrumented).
fn build(root: &Path, names: &[&str]) -> anyhow::Result<()> {
    let started = Instant::now();
    // libfuzzer-sys compiles libFuzzer, which is C++.
    crate::apt::ensure("fuzz", &["g++"], || crate::apt::programs_missing(&["c++"]))?;
    let fuzz = root.join("fuzz");
    let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cargo.args(["build", "--release", "--manifest-path"]).arg(fuzz.join("Cargo.toml"));
    for name in names {
        cargo.args(["--bin", name]);
    }
    let status = cargo
        .current_dir(&fuzz)
        .env("RUSTC_WRAPPER", fuzz.join("instrument"))
        .env("CARGO_TARGET_DIR", fuzz.join("target"))
        // The outer build's flags would change (and rebuild) everything; the wrapper adds ours.
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .status()
        .context("cannot run cargo")?;
    if !status.success() {
        bail!("building the fuzz targets failed ({status})");
    }
    eprintln!("fuzz targets built in {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// Runs target `name` for `seconds` with its working corpus in `fuzz/target/WORK/name`; fails
/// with the crashing input's path if libFuzzer stops it.
fn run_target(root: &Path, name: &str, seconds: u64, work: &str) -> anyhow::Result<()> {
    let fuzz = root.join("fuzz");
    let options = TARGETS.iter().find(|(t, _)| *t == name).map(|(_, o)| *o).unwrap_or_default();
    let corpus = fuzz.join("target").join(work).join(name);
    let artifacts = fuzz.join("artifacts").join(name);
    let logs = fuzz.join("target/logs");
    for dir in [&corpus, &artifacts, &logs] {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let log_path = logs.join(format!("{name}.log"));
    let log =
        std::fs::File::create(&log_path).with_context(|| format!("cannot create {}", log_path.display()))?;
    let before = listing(&artifacts);
    let status = Command::new(fuzz.join("target/release").join(name))
        // New inputs go to the first directory; the committed seeds are only read.
        .arg(&corpus)
        .arg(fuzz.join("corpus").join(name))
        .arg(format!("-max_total_time={seconds}"))
        .arg(format!("-artifact_prefix={}/", artifacts.display()))
        .arg("-print_final_stats=1")
        .args(options)
        .current_dir(&fuzz)
        .env("RUST_BACKTRACE", "1")
        .stdout(Stdio::from(log.try_clone()?))
        .stderr(Stdio::from(log))
        .status()
        .with_context(|| format!("cannot run fuzz target {name} (built?)"))?;
    let text = std::fs::read_to_string(&log_path).unwrap_or_default();
    if status.success() {
        eprintln!("fuzz {name:<7} {seconds} s: {}", summary(&text));
        return Ok(());
    }
    let found: Vec<PathBuf> = listing(&artifacts).into_iter().filter(|p| !before.contains(p)).collect();
    let tail: Vec<&str> = text.lines().rev().take(40).collect();
    eprintln!("{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
    match found.first() {
        Some(input) => bail!(
            "fuzz target {name} failed ({status}) on input {} (log: {}; replay: fuzz/target/release/{name} {})",
            input.display(),
            log_path.display(),
            input.display()
        ),
        None => bail!("fuzz target {name} failed ({status}); log: {}", log_path.display()),
    }
}

/// The files of `dir`, sorted.
fn listing(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    files
}

/// libFuzzer's last status line ("#N DONE cov: ... exec/s: ..."), without the counts nobody
/// reads.
fn summary(log: &str) -> String {
    let line = log.lines().rev().find(|l| l.contains(" DONE ") || l.contains(" cov: ")).unwrap_or("");
    let field = |key: &str| {
        let mut words = line.split_whitespace();
        words.find(|w| *w == key).and_then(|_| words.next()).unwrap_or("?").to_string()
    };
    let runs = line.split_whitespace().next().unwrap_or("#?").trim_start_matches('#').to_string();
    format!(
        "{runs} runs, {} exec/s, coverage {} edges ({} features), corpus {}",
        field("exec/s:"),
        field("cov:"),
        field("ft:"),
        field("corp:")
    )
}

/// Seconds per target in `cargo xtask test`.
const TEST_SECONDS: u64 = 10;

/// The slice of `cargo xtask test`: every target built, then run for [`TEST_SECONDS`] from its
/// committed seeds alone: libFuzzer replays its whole working corpus before it looks at the
/// clock, and the corpus a long run grew could take longer than the slice's run.
pub(crate) fn test_slice(root: &Path) -> anyhow::Result<()> {
    let started = Instant::now();
    let names: Vec<&str> = TARGETS.iter().map(|(t, _)| *t).collect();
    build(root, &names)?;
    let _ = std::fs::remove_dir_all(root.join("fuzz/target/test-corpus"));
    let _ = std::fs::remove_dir_all(root.join("fuzz/target/scratch"));
    for name in names {
        run_target(root, name, TEST_SECONDS, "test-corpus")?;
    }
    eprintln!("fuzz slice done in {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}
