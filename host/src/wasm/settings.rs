//! What the wasm runtime reads from the config, the per-launch options, and where modules are
//! found.
//!
//! | key | default | meaning |
//! | --- | --- | --- |
//! | `wasmservice` | `./guests/?.wasm;./target/guests/?.wasm` | where guest modules are found |
//! | `fuel` | 1000000000 | fuel per message; 0 turns metering off (no limit) |
//! | `wasm_memlimit` | 64M | linear memory cap per guest (bytes; K/M/G suffixes) |
//! | `wasm_pool` | 4096 | guests in the pooling allocator; more fall back to on-demand (dense memories); 0 = no pool |
//! | `wasm_cache` | `$XDG_CACHE_HOME/skybox/wasm` | compiled-module cache directory; `off` for none |
//! | `wasm_net` | (none) | guest modules granted the network, by name (`,` or space separated; `*`: all) |
//! | `wasm_profile` | `guest` | the profile of a guest launched without `--profile` (see `core::profile`) |

use std::path::{Path, PathBuf};

use crate::config::{parse_bytes, parse_count};
use anyhow::{Context as _, bail};

pub(crate) const DEFAULT_WASMSERVICE: &str = "./guests/?.wasm;./target/guests/?.wasm";
pub(crate) const DEFAULT_FUEL: u64 = 1_000_000_000;
pub(crate) const DEFAULT_MEMLIMIT: usize = 64 << 20;
pub(crate) const DEFAULT_POOL: u32 = 4096;

/// Each pool slot reserves 4 GiB + 32 MiB of address space (no memory); this many slots stay
/// well inside the 128 TiB of a 64-bit process. A slot in use also costs about four memory
/// mappings, so a full pool this large would take the default `vm.max_map_count` (65530); the
/// engine warns when a pool could take half of the limit.
pub(crate) const MAX_POOL: u32 = 16384;
/// wasm32 memory cannot exceed 4 GiB.
pub(crate) const MAX_MEMLIMIT: u64 = 1 << 32;
/// One wasm page: the smallest useful cap.
pub(crate) const MIN_MEMLIMIT: u64 = 64 << 10;

/// The keys above with static defaults, as `launch` writes them into the environment so that
/// `skynet.getenv` sees what is in force.
pub(crate) const DEFAULTS: &[(&str, &str)] = &[
    ("wasmservice", DEFAULT_WASMSERVICE),
    ("fuel", "1000000000"),
    ("wasm_memlimit", "67108864"),
    ("wasm_pool", "4096"),
];

/// The runtime-wide settings, read once when the runtime is created.
///
/// Invariant (when built by `Settings::from_env`): `memlimit` is within
/// `MIN_MEMLIMIT..=MAX_MEMLIMIT` and `pool <= MAX_POOL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `wasmservice`: `;`-separated patterns, `?` replaced by the module name.
    pub patterns: String,
    /// Fuel per message; 0 = metering off (the engine is built without fuel).
    pub fuel: u64,
    /// Linear memory cap per guest, bytes.
    pub memlimit: usize,
    /// Pool slots; 0 = on-demand allocation only.
    pub pool: u32,
    /// Where compiled modules are kept between runs; `None` = no disk cache.
    pub cache_dir: Option<PathBuf>,
    /// `wasm_net`: the guest modules that may use sockets.
    pub network: NetGrant,
}

/// Which guest modules may use sockets. Nothing by default: an untrusted guest does not reach
/// the network unless the operator names it. A launch option cannot grant it (a guest could
/// give it to what it launches).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum NetGrant {
    /// No guest.
    #[default]
    None,
    /// Every guest (`*`).
    All,
    /// The modules named.
    Modules(Vec<String>),
}

impl NetGrant {
    fn parse(text: &str) -> NetGrant {
        let names: Vec<String> =
            text.split([',', ' ', '\t']).filter(|n| !n.is_empty()).map(str::to_owned).collect();
        if names.iter().any(|n| n == "*") {
            NetGrant::All
        } else if names.is_empty() {
            NetGrant::None
        } else {
            NetGrant::Modules(names)
        }
    }

    /// May module `name` use sockets?
    pub(crate) fn grants(&self, name: &str) -> bool {
        match self {
            NetGrant::None => false,
            NetGrant::All => true,
            NetGrant::Modules(names) => names.iter().any(|n| n == name),
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            patterns: DEFAULT_WASMSERVICE.to_string(),
            fuel: DEFAULT_FUEL,
            memlimit: DEFAULT_MEMLIMIT,
            pool: DEFAULT_POOL,
            cache_dir: default_cache_dir(),
            network: NetGrant::None,
        }
    }
}

impl Settings {
    /// Reads the settings through `get` (a config or the node's environment); a malformed value
    /// is an error naming its key.
    pub(crate) fn from_env(get: impl Fn(&str) -> Option<String>) -> anyhow::Result<Settings> {
        let mut s = Settings::default();
        if let Some(p) = get("wasmservice") {
            s.patterns = p;
        }
        if let Some(v) = get("fuel") {
            s.fuel = parse_count(&v).with_context(|| format!("config key 'fuel': bad value '{v}'"))?;
        }
        if let Some(v) = get("wasm_memlimit") {
            s.memlimit =
                parse_memlimit(&v).with_context(|| format!("config key 'wasm_memlimit': bad value '{v}'"))?;
        }
        if let Some(v) = get("wasm_pool") {
            let pool = parse_count(&v).with_context(|| format!("config key 'wasm_pool': bad value '{v}'"))?;
            if pool > u64::from(MAX_POOL) {
                bail!("config key 'wasm_pool' must be between 0 and {MAX_POOL}, got {pool}");
            }
            s.pool = pool as u32;
        }
        if let Some(v) = get("wasm_net") {
            s.network = NetGrant::parse(&v);
        }
        if let Some(v) = get("wasm_cache") {
            let v = v.trim();
            s.cache_dir = match v {
                "" | "off" | "false" | "no" => None,
                dir => Some(PathBuf::from(dir)),
            };
        }
        Ok(s)
    }

    /// The module file for guest `name`: the first pattern naming an existing file.
    pub(crate) fn find_module(&self, name: &str) -> Option<PathBuf> {
        find_on_patterns(&self.patterns, name)
    }
}

pub(crate) use crate::config::find_on_patterns;

/// `$XDG_CACHE_HOME/skybox/wasm`, else `$HOME/.cache/skybox/wasm`.
fn default_cache_dir() -> Option<PathBuf> {
    let base = match std::env::var_os("XDG_CACHE_HOME") {
        Some(dir) if !dir.is_empty() && Path::new(&dir).is_absolute() => PathBuf::from(dir),
        _ => PathBuf::from(std::env::var_os("HOME").filter(|h| !h.is_empty())?).join(".cache"),
    };
    Some(base.join("skybox").join("wasm"))
}

/// A memory cap: bytes, between one wasm page and 4 GiB.
pub(crate) fn parse_memlimit(text: &str) -> anyhow::Result<usize> {
    let n = parse_bytes(text)?;
    if !(MIN_MEMLIMIT..=MAX_MEMLIMIT).contains(&n) {
        bail!("must be between {MIN_MEMLIMIT} and {MAX_MEMLIMIT} bytes, got {n}");
    }
    Ok(n as usize)
}

/// One launch: `[--fuel=N] [--memlimit=BYTES] name args...` (the core took `--profile` and
/// `--tenant` out before).
///
/// Invariant: `name` is not empty and does not start with `--`; `memlimit`, when given, is
/// within `MIN_MEMLIMIT..=MAX_MEMLIMIT`. Borrows the launch line.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct LaunchSpec<'a> {
    /// Fuel per message for this guest (0 = unlimited); `None` = the config's.
    pub(crate) fuel: Option<u64>,
    /// Memory cap for this guest; `None` = the config's.
    pub(crate) memlimit: Option<usize>,
    pub(crate) name: &'a str,
    /// What follows the name, as given (passed to `skybox_start`).
    pub(crate) args: &'a str,
}

impl<'a> LaunchSpec<'a> {
    pub(crate) fn parse(line: &'a str) -> anyhow::Result<LaunchSpec<'a>> {
        let mut rest = line.trim_start();
        let mut spec = LaunchSpec { fuel: None, memlimit: None, name: "", args: "" };
        loop {
            let (word, after) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
            if word.is_empty() {
                bail!("wasm: no module name");
            }
            let Some(option) = word.strip_prefix("--") else {
                spec.name = word;
                spec.args = after.trim_start();
                return Ok(spec);
            };
            match option.split_once('=') {
                Some(("fuel", v)) => {
                    spec.fuel = Some(parse_count(v).with_context(|| format!("wasm: bad --fuel '{v}'"))?)
                }
                Some(("memlimit", v)) => {
                    spec.memlimit =
                        Some(parse_memlimit(v).with_context(|| format!("wasm: bad --memlimit '{v}'"))?)
                }
                _ => bail!(
                    "wasm: unknown option '{word}' (expected --profile=NAME, --tenant=NAME, --fuel=N or --memlimit=BYTES)"
                ),
            }
            rest = after.trim_start();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn launch_options_come_before_the_name() {
        let s = LaunchSpec::parse("--fuel=1e6 --memlimit=2M echo a  b").unwrap();
        assert_eq!(
            s,
            LaunchSpec { fuel: Some(1_000_000), memlimit: Some(2 << 20), name: "echo", args: "a  b" }
        );
        let s = LaunchSpec::parse("echo --fuel=5").unwrap();
        assert_eq!((s.fuel, s.name, s.args), (None, "echo", "--fuel=5"));
        assert!(LaunchSpec::parse("").is_err());
        assert!(LaunchSpec::parse("--fuel=5").is_err());
        assert!(LaunchSpec::parse("--fuel=x echo").is_err());
        assert!(LaunchSpec::parse("--memlimit=1 echo").is_err());
        assert!(LaunchSpec::parse("--stack=1 echo").is_err());
    }

    #[test]
    fn config_values_are_checked() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(key, _)| *key == k).map(|(_, v)| v.to_string())
        };
        let s = Settings::from_env(env(&[("fuel", "0"), ("wasm_memlimit", "1G"), ("wasm_cache", "off")]))
            .unwrap();
        assert_eq!((s.fuel, s.memlimit, s.cache_dir), (0, 1 << 30, None));
        assert_eq!(s.pool, DEFAULT_POOL);
        for bad in [&[("fuel", "-1")][..], &[("wasm_memlimit", "5G")], &[("wasm_pool", "100000")]] {
            let pairs: Vec<(String, String)> =
                bad.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            let get = |k: &str| pairs.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
            let e = format!("{:#}", Settings::from_env(get).unwrap_err());
            assert!(e.contains(bad[0].0), "{e}");
        }
    }

    #[test]
    fn the_network_is_granted_by_module_name_only() {
        let grant = |v: &str| NetGrant::parse(v);
        assert_eq!(Settings::default().network, NetGrant::None);
        assert!(!grant("").grants("echo"));
        assert!(grant("echo, relay").grants("relay"));
        assert!(!grant("echo,relay").grants("rel"));
        assert!(grant("echo *").grants("anything"));
    }

    #[test]
    fn sizes_take_suffixes() {
        assert_eq!(parse_bytes("64M").unwrap(), 64 << 20);
        assert_eq!(parse_bytes("64MiB").unwrap(), 64 << 20);
        assert_eq!(parse_bytes(" 512k ").unwrap(), 512 << 10);
        assert_eq!(parse_bytes("1048576").unwrap(), 1 << 20);
        assert!(parse_bytes("12X").is_err());
    }
}
