//! Profiles: what a service may do. Every service runs under one profile, set at launch before
//! any of its code runs and never changed.
//!
//! A profile names the skynet commands the service may issue, to whom it may send (`send`:
//! its tenant, public names, named services, anyone), whether it may send under another
//! service's address (`redirect`) or launch services, its sockets (`listen`, `connect`), its
//! tenant and its own limits (fuel, memory, mailbox caps). The config defines profiles as
//! `profile_NAME = "key=value ..."` lines (docs/SECURITY.md); `trusted` (everything) and `guest`
//! (the default of wasm guests: its own timers, names and exit, reading the config and its own
//! statistics) are built in. Lua services run `lua_profile`, `trusted` unless the config says
//! otherwise. A service that is not trusted launches only under a profile within its own (see
//! [`Profile::within`] and [`attenuate`]).

use std::sync::{Arc, LazyLock};

use anyhow::{anyhow, bail};

use super::node::Node;
use super::service::Service;

/// The commands a confined guest may use by default: none reaches another service.
const GUEST_COMMANDS: &[&str] =
    &["TIMEOUT", "REG", "QUERY", "EXIT", "GETENV", "STARTTIME", "STAT", "MQLEN", "PROFILE"];

/// Every command a profile may name (skynet's and skybox's `PROFILE`, as `command.rs` runs
/// them).
const ALL_COMMANDS: &[&str] = &[
    "TIMEOUT",
    "REG",
    "QUERY",
    "NAME",
    "EXIT",
    "KILL",
    "LAUNCH",
    "GETENV",
    "SETENV",
    "STARTTIME",
    "ABORT",
    "MONITOR",
    "STAT",
    "MQLEN",
    "LOGON",
    "LOGOFF",
    "SIGNAL",
    "PROFILE",
];

/// A set of commands, one bit per entry of [`ALL_COMMANDS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Commands(u32);

impl Commands {
    fn of(names: &[&str]) -> anyhow::Result<Commands> {
        let mut bits = 0;
        for name in names {
            let i = ALL_COMMANDS
                .iter()
                .position(|c| c.eq_ignore_ascii_case(name))
                .ok_or_else(|| anyhow!("unknown command '{name}'"))?;
            bits |= 1 << i;
        }
        Ok(Commands(bits))
    }

    fn all() -> Commands {
        Commands((1 << ALL_COMMANDS.len()) - 1)
    }

    fn has(self, cmd: &str) -> bool {
        ALL_COMMANDS.iter().position(|c| *c == cmd).is_some_and(|i| self.0 & (1 << i) != 0)
    }

    fn within(self, other: Commands) -> bool {
        self.0 & !other.0 == 0
    }
}

/// Where a confined service may send (requests and one-way messages; answers to the requests
/// it holds always go).
#[derive(Debug, Clone, PartialEq, Eq)]
struct SendRule {
    /// To any service.
    any: bool,
    /// To the services of its own tenant.
    tenant: bool,
    /// To services bound to a name the config lists in `public`.
    public: bool,
    /// To the services bound to these names.
    names: Vec<Box<str>>,
}

impl SendRule {
    fn everywhere() -> SendRule {
        SendRule { any: true, tenant: true, public: true, names: Vec::new() }
    }

    fn confined() -> SendRule {
        SendRule { any: false, tenant: true, public: true, names: Vec::new() }
    }

    fn parse(value: &str) -> SendRule {
        let mut rule = SendRule { any: false, tenant: false, public: false, names: Vec::new() };
        for word in value.split(',').filter(|w| !w.is_empty()) {
            match word {
                "any" => rule.any = true,
                "tenant" => rule.tenant = true,
                "public" => rule.public = true,
                name => rule.names.push(name.into()),
            }
        }
        rule
    }

    fn within(&self, other: &SendRule) -> bool {
        other.any
            || (!self.any
                && (!self.tenant || other.tenant)
                && (!self.public || other.public)
                && self.names.iter().all(|n| other.names.contains(n)))
    }
}

/// The sockets a confined service may open: `listen` ports and `connect` destinations, each
/// `*` for any. Empty lists: no network from the profile (the config's `wasm_net` may still
/// grant a guest module the network without rules).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NetRules {
    /// Port ranges it may listen on (TCP) or bind (UDP).
    listen: Vec<(u16, u16)>,
    /// `(host, port)` it may connect to; `None` is `*`.
    connect: Vec<(Option<Box<str>>, Option<u16>)>,
}

impl NetRules {
    fn any() -> NetRules {
        NetRules { listen: vec![(0, u16::MAX)], connect: vec![(None, None)] }
    }

    fn parse_listen(name: &str, value: &str) -> anyhow::Result<Vec<(u16, u16)>> {
        let port = |p: &str| p.parse::<u16>().map_err(|_| anyhow!("profile {name}: listen: bad port '{p}'"));
        value
            .split(',')
            .filter(|w| !w.is_empty())
            .map(|w| match w {
                "*" => Ok((0, u16::MAX)),
                _ => match w.split_once('-') {
                    Some((lo, hi)) => Ok((port(lo)?, port(hi)?)),
                    None => port(w).map(|p| (p, p)),
                },
            })
            .collect()
    }

    #[allow(clippy::type_complexity)]
    fn parse_connect(name: &str, value: &str) -> anyhow::Result<Vec<(Option<Box<str>>, Option<u16>)>> {
        value
            .split(',')
            .filter(|w| !w.is_empty())
            .map(|w| {
                if w == "*" {
                    return Ok((None, None));
                }
                let (host, port) = w
                    .rsplit_once(':')
                    .ok_or_else(|| anyhow!("profile {name}: connect: '{w}' is not HOST:PORT"))?;
                let host = (host != "*").then(|| host.trim_matches(['[', ']']).into());
                let port = match port {
                    "*" => None,
                    p => Some(
                        p.parse::<u16>().map_err(|_| anyhow!("profile {name}: connect: bad port '{p}'"))?,
                    ),
                };
                Ok((host, port))
            })
            .collect()
    }

    /// Whether the rules grant anything (the service gets the socket imports).
    pub fn grants_any(&self) -> bool {
        !self.listen.is_empty() || !self.connect.is_empty()
    }

    /// Whether it may listen on (or bind) `port`.
    pub fn may_listen(&self, port: u16) -> bool {
        self.listen.iter().any(|&(lo, hi)| (lo..=hi).contains(&port))
    }

    /// Whether it may connect to `host:port` (`host` as the guest wrote it).
    pub fn may_connect(&self, host: &str, port: u16) -> bool {
        self.connect.iter().any(|(h, p)| {
            h.as_deref().is_none_or(|h| h.eq_ignore_ascii_case(host)) && p.is_none_or(|p| p == port)
        })
    }

    fn within(&self, other: &NetRules) -> bool {
        self.listen.iter().all(|&(lo, hi)| other.listen.iter().any(|&(olo, ohi)| olo <= lo && hi <= ohi))
            && self.connect.iter().all(|(h, p)| {
                other.connect.iter().any(|(oh, op)| (oh.is_none() || oh == h) && (op.is_none() || op == p))
            })
    }
}

/// A directory a confined service may use, under a name of its own: `files=NAME:PATH:ro|rw`.
/// The guest names files as `NAME/relative/path`; the host opens `PATH` once at launch and
/// resolves every path beneath it (with `cap-std`: no `..` out, no absolute paths, no symlink
/// that leads outside).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileGrant {
    /// What the guest calls it (the first component of its paths).
    pub name: Box<str>,
    /// The directory on the host.
    pub path: Box<str>,
    /// Read-write (`rw`) or read-only (`ro`).
    pub writable: bool,
}

impl FileGrant {
    fn parse_list(profile: &str, value: &str) -> anyhow::Result<Vec<FileGrant>> {
        value
            .split(',')
            .filter(|w| !w.is_empty())
            .map(|w| {
                let bad = || anyhow!("profile {profile}: files: '{w}' is not NAME:PATH:ro|rw");
                let (name, rest) = w.split_once(':').ok_or_else(bad)?;
                let (path, mode) = rest.rsplit_once(':').ok_or_else(bad)?;
                let writable = match mode {
                    "rw" => true,
                    "ro" => false,
                    _ => return Err(bad()),
                };
                if name.is_empty() || name.contains('/') || path.is_empty() {
                    return Err(bad());
                }
                Ok(FileGrant { name: name.into(), path: path.into(), writable })
            })
            .collect()
    }

    fn within(&self, others: &[FileGrant]) -> bool {
        others.iter().any(|o| o.name == self.name && o.path == self.path && (o.writable || !self.writable))
    }
}

/// The rights and limits of a service. Invariant: `trusted` holds every right.
#[derive(Debug)]
pub struct Profile {
    name: Box<str>,
    commands: Commands,
    redirect: bool,
    launch: bool,
    send: SendRule,
    net: NetRules,
    /// Directories it may read (and write).
    files: Vec<FileGrant>,
    /// The tenant of services launched under it (none named: a confined profile's own name).
    tenant: Option<Box<str>>,
    /// Messages and bytes its services' mailboxes hold at most.
    mailbox: Option<usize>,
    mailbox_bytes: Option<usize>,
    /// Fuel per message and linear-memory cap of its guests (over the config's).
    fuel: Option<u64>,
    memory: Option<usize>,
    trusted: bool,
}

static TRUSTED: LazyLock<Arc<Profile>> = LazyLock::new(|| Arc::new(Profile::everything("trusted")));

impl Profile {
    fn everything(name: &str) -> Profile {
        Profile {
            commands: Commands::all(),
            redirect: true,
            launch: true,
            send: SendRule::everywhere(),
            net: NetRules::any(),
            trusted: true,
            ..Profile::nothing(name)
        }
    }

    fn nothing(name: &str) -> Profile {
        Profile {
            name: name.into(),
            commands: Commands(0),
            redirect: false,
            launch: false,
            send: SendRule::confined(),
            net: NetRules::default(),
            files: Vec::new(),
            tenant: None,
            mailbox: None,
            mailbox_bytes: None,
            fuel: None,
            memory: None,
            trusted: false,
        }
    }

    /// Every right: Lua services and whatever the operator trusts.
    pub fn trusted() -> Arc<Profile> {
        Arc::clone(&TRUSTED)
    }

    /// The shared `trusted` profile, borrowed.
    pub(crate) fn trusted_ref() -> &'static Arc<Profile> {
        &TRUSTED
    }

    /// The built-in default of wasm guests.
    pub fn guest() -> Profile {
        Profile {
            commands: Commands::of(GUEST_COMMANDS).expect("known commands"),
            ..Profile::nothing("guest")
        }
    }

    /// Profile `name`: a built-in one, or the config's `profile_NAME`.
    pub fn named(node: &Node, name: &str) -> anyhow::Result<Arc<Profile>> {
        match (name, node.getenv(&format!("profile_{name}"))) {
            (_, Some(spec)) => Ok(Arc::new(Profile::parse(name, &spec)?)),
            ("trusted", None) => Ok(Profile::trusted()),
            ("guest", None) => Ok(Arc::new(Profile::guest())),
            (_, None) => bail!("no profile '{name}' (define profile_{name} in the config)"),
        }
    }

    /// Parses `key=value` words (see docs/SECURITY.md): `commands=A,B redirect=yes|no
    /// launch=yes|no send=tenant,public,any,NAME... listen=PORT,LO-HI,* connect=HOST:PORT,*
    /// files=NAME:PATH:ro|rw,... tenant=NAME mailbox=N mailbox_bytes=BYTES fuel=N memory=BYTES`. What is not given is not
    /// granted; `send` defaults to `tenant,public`.
    pub fn parse(name: &str, spec: &str) -> anyhow::Result<Profile> {
        let mut p = Profile::nothing(name);
        let flag = |key: &str, v: &str| match v {
            "yes" | "true" => Ok(true),
            "no" | "false" => Ok(false),
            _ => Err(anyhow!("profile {name}: {key} is yes or no, not '{v}'")),
        };
        let size = |key: &str, v: &str| {
            crate::config::parse_bytes(v).map_err(|e| anyhow!("profile {name}: {key}: bad value '{v}' ({e})"))
        };
        for word in spec.split_whitespace() {
            let (key, value) =
                word.split_once('=').ok_or_else(|| anyhow!("profile {name}: '{word}' is not key=value"))?;
            match key {
                "commands" => {
                    let names: Vec<&str> = value.split(',').filter(|c| !c.is_empty()).collect();
                    p.commands = Commands::of(&names).map_err(|e| anyhow!("profile {name}: {e}"))?;
                }
                "redirect" => p.redirect = flag(key, value)?,
                "launch" => p.launch = flag(key, value)?,
                "send" => p.send = SendRule::parse(value),
                "listen" => p.net.listen = NetRules::parse_listen(name, value)?,
                "connect" => p.net.connect = NetRules::parse_connect(name, value)?,
                "files" => p.files = FileGrant::parse_list(name, value)?,
                "tenant" => p.tenant = Some(value.into()),
                "mailbox" => p.mailbox = Some(size(key, value)? as usize),
                "mailbox_bytes" => p.mailbox_bytes = Some(size(key, value)? as usize),
                "fuel" => {
                    p.fuel = Some(
                        crate::config::parse_count(value)
                            .map_err(|e| anyhow!("profile {name}: fuel: bad value '{value}' ({e})"))?,
                    )
                }
                "memory" => p.memory = Some(size(key, value)? as usize),
                _ => bail!(
                    "profile {name}: unknown key '{key}' (commands, redirect, launch, send, listen, connect, \
                     files, tenant, mailbox, mailbox_bytes, fuel, memory)"
                ),
            }
        }
        p.trusted =
            p.commands == Commands::all() && p.redirect && p.launch && p.send.any && p.net == NetRules::any();
        Ok(p)
    }

    /// The profile's name, as the config or the built-ins give it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether it holds every right.
    #[inline]
    pub fn is_trusted(&self) -> bool {
        self.trusted
    }

    /// Whether the service may issue command `cmd` (`LAUNCH` also needs `launch`).
    pub fn allows(&self, cmd: &str) -> bool {
        self.commands.has(cmd) || (cmd == "LAUNCH" && self.launch)
    }

    /// Whether the service may send a message under another service's address.
    pub fn may_redirect(&self) -> bool {
        self.redirect
    }

    /// Whether it may send anywhere; else see [`Profile::sends_to_tenant`] and the rest.
    pub(crate) fn sends_anywhere(&self) -> bool {
        self.send.any
    }

    pub(crate) fn sends_to_tenant(&self) -> bool {
        self.send.tenant
    }

    pub(crate) fn sends_to_public(&self) -> bool {
        self.send.public
    }

    /// The names it may send to besides its tenant and the public ones.
    pub(crate) fn send_names(&self) -> &[Box<str>] {
        &self.send.names
    }

    /// Its socket rules.
    pub fn net(&self) -> &NetRules {
        &self.net
    }

    /// The directories it may use.
    pub fn files(&self) -> &[FileGrant] {
        &self.files
    }

    /// The tenant its services join unless the launch names one.
    pub(crate) fn tenant(&self) -> Option<&str> {
        self.tenant.as_deref()
    }

    /// Caps of its services' mailboxes: messages, bytes.
    pub(crate) fn mailbox_caps(&self) -> (Option<usize>, Option<usize>) {
        (self.mailbox, self.mailbox_bytes)
    }

    /// Fuel per message of its guests, if it sets one.
    pub fn fuel(&self) -> Option<u64> {
        self.fuel
    }

    /// Linear-memory cap of its guests, if it sets one.
    pub fn memory(&self) -> Option<usize> {
        self.memory
    }

    /// Whether a service under `self` holds no right `other` lacks and no limit above
    /// `other`'s (what a launcher under `other` may give a child).
    pub fn within(&self, other: &Profile) -> bool {
        let limit_within =
            |mine: Option<u64>, theirs: Option<u64>| theirs.is_none_or(|t| mine.is_some_and(|m| m <= t));
        let as_u64 = |v: Option<usize>| v.map(|v| v as u64);
        other.trusted
            || (self.commands.within(other.commands)
                && (!self.redirect || other.redirect)
                && (!self.launch || other.launch)
                && self.send.within(&other.send)
                && self.net.within(&other.net)
                && self.files.iter().all(|f| f.within(&other.files))
                && limit_within(self.fuel, other.fuel)
                && limit_within(as_u64(self.memory), as_u64(other.memory)))
    }
}

/// Config keys only a trusted service may set (`SETENV`): they decide later launches'
/// profiles, tenants and what is public.
pub(crate) fn guards_launches(key: &str) -> bool {
    key.starts_with("profile_")
        || key.starts_with("tenant_")
        || matches!(key, "wasm_profile" | "lua_profile" | "start" | "public")
}

/// The options every launch line may carry after the runtime's name, before its own: the
/// profile and the tenant of the new service (see `Node::launch`).
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct LaunchOptions<'a> {
    pub(crate) profile: Option<&'a str>,
    pub(crate) tenant: Option<&'a str>,
    /// The arguments without those two options.
    pub(crate) rest: String,
}

impl<'a> LaunchOptions<'a> {
    /// Takes `--profile=NAME` and `--tenant=NAME` out of the leading `--` options of `args`,
    /// leaving the runtime's own options and the rest as they were.
    pub(crate) fn take(args: &'a str) -> anyhow::Result<LaunchOptions<'a>> {
        let mut options = LaunchOptions::default();
        let mut rest = args.trim_start();
        let mut kept = Vec::new();
        while rest.starts_with("--") {
            let (word, after) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
            let slot = match word.split_once('=') {
                Some(("--profile", v)) => Some((&mut options.profile, v)),
                Some(("--tenant", v)) => Some((&mut options.tenant, v)),
                _ => None,
            };
            match slot {
                Some((_, "")) => bail!("launch option '{word}' needs a value"),
                Some((Some(_), _)) => bail!("launch option '{word}' is given twice"),
                Some((slot, value)) => *slot = Some(value),
                None => kept.push(word),
            }
            rest = after.trim_start();
        }
        kept.push(rest);
        options.rest = kept.into_iter().filter(|w| !w.is_empty()).collect::<Vec<_>>().join(" ");
        Ok(options)
    }
}

/// The launch line a service `launcher` may use for `line`, with the child's profile and tenant
/// made explicit (`RUNTIME --profile=NAME --tenant=NAME ...`): a trusted launcher's line is
/// unchanged; anyone else may launch only Lua services and wasm guests, in its own tenant, under
/// its own profile or a named one within it, and pass no other option.
pub(crate) fn attenuate(node: &Node, launcher: &Service, line: &str) -> anyhow::Result<String> {
    let profile = launcher.profile();
    if profile.trusted {
        return Ok(line.to_string());
    }
    if !profile.launch {
        bail!("profile {} may not launch services", profile.name);
    }
    let line = line.trim();
    let (runtime, args) = line.split_once(' ').unwrap_or((line, ""));
    if runtime != "wasm" && runtime != "snlua" {
        bail!("profile {} may launch Lua services and wasm guests only, not '{runtime}'", profile.name);
    }
    let options = LaunchOptions::take(args)?;
    // Every other option (--fuel, --memlimit) is the operator's, and so is the tenant.
    if options.rest.starts_with("--") || options.tenant.is_some() {
        bail!("profile {} may not pass launch options ({args})", profile.name);
    }
    let child = match options.profile {
        Some(name) => {
            let child = Profile::named(node, name)?;
            if !child.within(profile) {
                bail!("profile {} may not launch under the stronger profile {name}", profile.name);
            }
            child.name.to_string()
        }
        None => profile.name.to_string(),
    };
    let tenant = launcher.tenant().map(|t| format!(" --tenant={}", t.name())).unwrap_or_default();
    Ok(format!("{runtime} --profile={child}{tenant} {}", options.rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_parse_and_compare() {
        let p = Profile::parse("p", "commands=TIMEOUT,kill redirect=yes").unwrap();
        assert!(p.allows("KILL") && p.allows("TIMEOUT") && !p.allows("ABORT") && !p.allows("LAUNCH"));
        assert!(p.may_redirect() && !p.is_trusted());
        let guest = Profile::guest();
        assert!(!guest.allows("KILL") && !guest.allows("LAUNCH") && guest.allows("EXIT"));
        assert!(guest.within(&Profile::trusted()) && !Profile::trusted().within(&guest));
        assert!(!p.within(&guest), "KILL and redirect are more");
        let launcher = Profile::parse("l", "commands=TIMEOUT,EXIT launch=yes").unwrap();
        assert!(Profile::parse("c", "commands=EXIT").unwrap().within(&launcher));
        assert!(!Profile::parse("c", "commands=EXIT launch=yes redirect=yes").unwrap().within(&launcher));
        let all = ALL_COMMANDS.join(",");
        assert!(
            Profile::parse(
                "t",
                &format!("commands={all} redirect=yes launch=yes send=any listen=* connect=*")
            )
            .unwrap()
            .is_trusted()
        );
        assert!(
            !Profile::parse("t", &format!("commands={all} redirect=yes launch=yes")).unwrap().is_trusted()
        );
        for bad in ["commands=FLY", "redirect=maybe", "color=red", "commands"] {
            assert!(Profile::parse("x", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn send_net_and_limits_parse_and_attenuate() {
        let p = Profile::parse("p", "send=tenant,.db listen=8000-8010,9000 connect=127.0.0.1:6379,*:80 fuel=1e6 memory=1M mailbox=10 mailbox_bytes=4K tenant=acme").unwrap();
        assert!(p.sends_to_tenant() && !p.sends_to_public() && !p.sends_anywhere());
        assert_eq!(p.send_names(), &[".db".into()]);
        assert!(p.net().may_listen(8005) && p.net().may_listen(9000) && !p.net().may_listen(8011));
        assert!(p.net().may_connect("127.0.0.1", 6379) && !p.net().may_connect("127.0.0.1", 6380));
        assert!(p.net().may_connect("example.com", 80));
        assert_eq!(
            (p.fuel(), p.memory(), p.mailbox_caps(), p.tenant()),
            (Some(1_000_000), Some(1 << 20), (Some(10), Some(4096)), Some("acme"))
        );
        assert!(Profile::guest().sends_to_tenant() && Profile::guest().sends_to_public());
        assert!(!Profile::guest().net().grants_any());
        let weaker = Profile::parse("w", "send=tenant listen=8001 fuel=10 memory=64K").unwrap();
        assert!(weaker.within(&p));
        let base = "send=tenant fuel=10 memory=64K";
        assert!(Profile::parse("s", base).unwrap().within(&p));
        for stronger in [
            "send=tenant,public",
            "send=any",
            "listen=7000",
            "connect=*",
            "fuel=2e6",
            "memory=2M",
            "redirect=yes",
        ] {
            let s = Profile::parse("s", &format!("{base} {stronger}")).unwrap();
            assert!(!s.within(&p), "{stronger}");
        }
        assert!(
            !Profile::parse("s", "send=tenant memory=64K").unwrap().within(&p),
            "no fuel limit is more than p's"
        );
        for bad in ["listen=x", "listen=70000", "connect=nohost", "connect=h:x", "fuel=lots"] {
            assert!(Profile::parse("x", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn file_grants_parse_and_attenuate() {
        let p = Profile::parse("p", "files=data:/srv/a:ro,out:./out:rw").unwrap();
        assert_eq!(p.files().len(), 2);
        assert!(!p.files()[0].writable && p.files()[1].writable && &*p.files()[1].path == "./out");
        let ro = Profile::parse("c", "files=out:./out:ro fuel=1").unwrap();
        assert!(ro.files()[0].within(p.files()));
        let rw = Profile::parse("c", "files=data:/srv/a:rw").unwrap();
        assert!(!rw.files()[0].within(p.files()), "read-write where the launcher reads only");
        let elsewhere = Profile::parse("c", "files=data:/etc:ro").unwrap();
        assert!(!elsewhere.files()[0].within(p.files()));
        for bad in ["files=data", "files=data:/x", "files=data:/x:rx", "files=:/x:ro", "files=a/b:/x:ro"] {
            assert!(Profile::parse("x", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn launch_options_are_taken_from_the_front() {
        let o = LaunchOptions::take(" --fuel=5 --profile=p --tenant=t echo  a b").unwrap();
        assert_eq!((o.profile, o.tenant, o.rest.as_str()), (Some("p"), Some("t"), "--fuel=5 echo  a b"));
        let o = LaunchOptions::take("main --profile=x").unwrap();
        assert_eq!((o.profile, o.rest.as_str()), (None, "main --profile=x"), "only leading options");
        assert!(LaunchOptions::take("--profile= x").is_err());
        assert!(LaunchOptions::take("--tenant=a --tenant=b x").is_err());
    }
}
