//! `cargo xtask skynet-tests --skynet DIR [--lua55] [--seconds N] [NAME...]`: skynet's own test services
//! (`DIR/test/NAME.lua`) run on skynet and on skybox with the same config (skynet's `lualib`,
//! `service` and `test` directories), and their output compared.
//!
//! Each run lasts `--seconds` (default 4; most tests never stop by themselves), then the process
//! is killed. Output is normalized before comparing: log timestamps, service addresses
//! (`:0000000a`), pointers, decimal fractions (timings), `skynet.trace` clocks, colour codes and
//! traceback frames are masked or dropped. The table says `same` (or the same lines in another order: services that
//! run at once log in either order) or `differs` per test; each side's normalized output and their diff are
//! kept in `<target>/skynet-tests/`.
//!
//! skybox is built with Lua 5.4 (its default) or, with `--lua55`, with Lua 5.5 as skynet's
//! master is. skynet's prebuilt `luaclib` is compiled against skynet's own Lua: the modules
//! skynet bundles from third parties (lpeg, md5) and `sproto.core` are built here against
//! skybox's Lua headers into `<target>/skynet-tests/luaclib` for skybox's runs. skynet's own
//! native modules (`skynet.so`'s) are skybox's to provide.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};

/// The tests run by default: those that need no external server (the list).
const DEFAULT: &[&str] = &[
    "testecho",
    "testqueue",
    "testdeadcall",
    "testcoroutine",
    "testmemlimit",
    "testterm",
    "testtobeclosed",
    "testselect",
    "testmulticast",
    "testmulticast2",
    "testdatasheet",
    "teststm",
    "testsharetable",
    "testsm",
    "testbson",
    "testcrypt",
    "testtimer",
    "testresponse",
    "testsocket",
    "testudp",
    "testdatacenter",
    "testtimeout",
    "testhandle",
];

pub(crate) fn run(root: &Path, args: &[String]) -> anyhow::Result<()> {
    let mut skynet = None;
    let mut seconds = 4.0;
    let mut lua55 = false;
    let mut names = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--skynet" => skynet = Some(PathBuf::from(args.next().ok_or_else(|| anyhow!("--skynet DIR"))?)),
            "--lua55" => lua55 = true,
            "--seconds" => seconds = args.next().ok_or_else(|| anyhow!("--seconds N"))?.parse()?,
            name => names.push(name.to_string()),
        }
    }
    let skynet = std::fs::canonicalize(skynet.ok_or_else(|| {
        anyhow!("usage: cargo xtask skynet-tests --skynet DIR [--lua55] [--seconds N] [NAME...]")
    })?)?;
    if !skynet.join("skynet").is_file() {
        bail!("{}/skynet is not built (see benches/README)", skynet.display());
    }
    if names.is_empty() {
        names = DEFAULT.iter().map(|n| n.to_string()).collect();
    }
    let (features, lua): (&[&str], _) = match lua55 {
        true => (crate::LUA55, "lua-5.5.1"),
        false => (&[], "lua-5.4.9"),
    };
    crate::cargo(root, &[&["build", "--release", "-p", "skybox"], features].concat())?;
    let target = crate::guests::target_dir(root);
    let out = target.join("skynet-tests");
    std::fs::create_dir_all(&out)?;
    let luaclib = build_luaclib(&root.join("vendor/lua-src").join(lua), &skynet, &out.join("luaclib"))?;
    let skybox = target.join("release/skybox");
    println!("skynet's tests on skynet ({}) and skybox ({lua}), {seconds} s each", skynet.display());
    let mut same = 0;
    for name in &names {
        if !skynet.join("test").join(format!("{name}.lua")).is_file() {
            println!("{name:<18} (not in this checkout)");
            continue;
        }
        let theirs = run_one(
            &skynet.join("skynet"),
            &config(&skynet, name, &skynet.join("luaclib")),
            seconds,
            &out,
            name,
            "skynet",
        )?;
        let ours = run_one(&skybox, &config(&skynet, name, &luaclib), seconds, &out, name, "skybox")?;
        let sorted = |lines: &[String]| {
            let mut lines = lines.to_vec();
            lines.sort();
            lines
        };
        let verdict = if theirs == ours {
            same += 1;
            "same".to_string()
        } else if sorted(&theirs) == sorted(&ours) {
            // Services running at once log in either order.
            same += 1;
            "same lines, another order".to_string()
        } else {
            let diff = diff_lines(&theirs, &ours);
            std::fs::write(out.join(format!("{name}.diff")), diff.join("\n"))?;
            format!("differs ({} lines; {name}.diff)", diff.len())
        };
        println!("{name:<18} skynet {:>4} lines, skybox {:>4} lines: {verdict}", theirs.len(), ours.len());
    }
    println!("{same} of {} the same; outputs and diffs in {}", names.len(), out.display());
    Ok(())
}

/// A skynet config running test `name` from the checkout, C modules from `luaclib`.
fn config(skynet: &Path, name: &str, luaclib: &Path) -> String {
    let s = skynet.display();
    format!(
        "thread = 4\nharbor = 0\nstart = \"{name}\"\nbootstrap = \"snlua bootstrap\"\n\
         luaservice = \"{s}/service/?.lua;{s}/test/?.lua;{s}/test/?/main.lua\"\n\
         lualoader = \"{s}/lualib/loader.lua\"\nlua_path = \"{s}/lualib/?.lua;{s}/lualib/?/init.lua;{s}/test/?.lua\"\n\
         lua_cpath = \"{}/?.so\"\ncpath = \"{s}/cservice/?.so\"\nsnax = \"{s}/test/?.lua\"\n",
        luaclib.display()
    )
}

/// Runs `program config` for `seconds` from the checkout's directory; its normalized output,
/// also written to `out/NAME.HOST.log`.
fn run_one(
    program: &Path,
    config: &str,
    seconds: f64,
    out: &Path,
    name: &str,
    host: &str,
) -> anyhow::Result<Vec<String>> {
    let path = out.join(format!("{name}.{host}.config"));
    std::fs::write(&path, config)?;
    let log = out.join(format!("{name}.{host}.log"));
    let file = std::fs::File::create(&log)?;
    let mut args = vec![path.display().to_string()];
    if host == "skybox" {
        args.insert(0, "run".into());
    }
    let mut child = Command::new(program)
        .args(&args)
        .current_dir(out)
        .stdout(Stdio::from(file.try_clone()?))
        .stderr(Stdio::from(file))
        .spawn()
        .with_context(|| format!("cannot start {}", program.display()))?;
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    while Instant::now() < deadline && child.try_wait()?.is_none() {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    Ok(normalize(&text))
}

/// The lines that should agree between hosts: timestamps and addresses masked, timings masked,
/// traceback frames dropped.
fn normalize(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    for line in text.lines() {
        if line.starts_with('\t') || line.starts_with("stack traceback:") {
            continue;
        }
        let mut line = line.to_string();
        // skynet's logger: "03/12/26 12:25:18.87 [:00000008] text"
        if line.len() > 21 && line.as_bytes()[2] == b'/' && line.as_bytes()[8] == b' ' {
            line = line[21..].to_string();
        }
        let mut line = mask(&line);
        // skynet.trace lines carry `skynet.hpc()`, nanoseconds from an origin each host picks.
        if let Some(at) = line.find("> ").filter(|_| line.contains("<TRACE "))
            && let Some(end) = line[at + 2..].find(' ')
            && line[at + 2..at + 2 + end].bytes().all(|b| b.is_ascii_digit())
        {
            line.replace_range(at + 2..at + 2 + end, "HPC");
        }
        lines.push(line);
    }
    lines
}

/// `:` and 8 hex digits become `:ADDR`, `0x` pointers `0xPTR`, digits around a decimal point
/// `N.N`; terminal colour codes go.
fn mask(line: &str) -> String {
    let b = line.as_bytes();
    let mut out = String::with_capacity(line.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == 0x1b && b.get(i + 1) == Some(&b'[') {
            i += 2;
            while i < b.len() && !b[i].is_ascii_alphabetic() {
                i += 1;
            }
            i += 1;
        } else if b[i] == b':' && i + 9 <= b.len() && b[i + 1..i + 9].iter().all(u8::is_ascii_hexdigit) {
            out.push_str(":ADDR");
            i += 9;
        } else if b[i] == b'0' && b.get(i + 1) == Some(&b'x') {
            i += 2;
            while i < b.len() && b[i].is_ascii_hexdigit() {
                i += 1;
            }
            out.push_str("0xPTR");
        } else if b[i].is_ascii_digit() {
            let start = i;
            while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
                i += 1;
            }
            let number = &line[start..i];
            out.push_str(if number.contains('.') { "N.N" } else { number });
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

/// A line diff: `-` skynet's lines that skybox lacks, `+` skybox's that skynet lacks, in order
/// (longest common subsequence).
fn diff_lines(a: &[String], b: &[String]) -> Vec<String> {
    let (n, m) = (a.len(), b.len());
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if a[i] == b[j] { lcs[i + 1][j + 1] + 1 } else { lcs[i + 1][j].max(lcs[i][j + 1]) };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            i += 1;
            j += 1;
        } else if j < m && (i == n || lcs[i][j + 1] >= lcs[i + 1][j]) {
            out.push(format!("+ {}", b[j]));
            j += 1;
        } else {
            out.push(format!("- {}", a[i]));
            i += 1;
        }
    }
    out
}

/// skynet's bundled third-party modules and sproto, built against skybox's Lua headers.
fn build_luaclib(lua: &Path, skynet: &Path, dir: &Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let third = skynet.join("3rd");
    let src = skynet.join("lualib-src");
    let modules: [(&str, Vec<PathBuf>); 3] = [
        (
            "lpeg.so",
            ["lpcap.c", "lpcode.c", "lpcset.c", "lpprint.c", "lptree.c", "lpvm.c"]
                .iter()
                .map(|f| third.join("lpeg").join(f))
                .collect(),
        ),
        (
            "md5.so",
            ["md5.c", "md5lib.c", "compat-5.2.c"].iter().map(|f| third.join("lua-md5").join(f)).collect(),
        ),
        ("sproto.so", ["sproto.c", "lsproto.c"].iter().map(|f| src.join("sproto").join(f)).collect()),
    ];
    for (name, sources) in modules {
        let sources: Vec<PathBuf> = sources.into_iter().filter(|p| p.is_file()).collect();
        let status = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
            .args(["-O2", "-shared", "-fPIC", "-w", "-I"])
            .arg(lua)
            .args(&sources)
            .arg("-o")
            .arg(dir.join(name))
            .status()
            .context("cannot run cc")?;
        if !status.success() {
            bail!("building {name} failed");
        }
    }
    Ok(dir.to_path_buf())
}
