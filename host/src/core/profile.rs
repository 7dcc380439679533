//! Profiles: what a service may do beyond computing, sending and answering. Every service runs
//! under one profile, set before its first message and never changed.
//!
//! A profile names the skynet commands the service may issue, whether it may send a message
//! under another service's address (`redirect`, a forward keeping the original sender) and
//! whether it may launch services. The config defines profiles as `profile_NAME = "commands=A,B
//! redirect=no launch=no"` lines; `trusted` (everything) and `guest` (the default of wasm guests:
//! its own timers, names and exit, reading the config and its own statistics) are built in.
//! Lua services run `trusted`. A service may launch only wasm guests, under a profile within its
//! own (see [`Profile::within`]), unless it is trusted.

use std::sync::{Arc, LazyLock};

use anyhow::{anyhow, bail};

use super::node::Node;

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

/// The rights of a service. Invariant: `trusted` holds every right.
#[derive(Debug)]
pub struct Profile {
    name: Box<str>,
    commands: Commands,
    redirect: bool,
    launch: bool,
    trusted: bool,
}

static TRUSTED: LazyLock<Arc<Profile>> = LazyLock::new(|| {
    Arc::new(Profile {
        name: "trusted".into(),
        commands: Commands::all(),
        redirect: true,
        launch: true,
        trusted: true,
    })
});

impl Profile {
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
            name: "guest".into(),
            commands: Commands::of(GUEST_COMMANDS).expect("known commands"),
            redirect: false,
            launch: false,
            trusted: false,
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

    /// Parses `commands=A,B redirect=yes|no launch=yes|no` (each optional; what is not given
    /// is not granted).
    pub fn parse(name: &str, spec: &str) -> anyhow::Result<Profile> {
        let mut p = Profile {
            name: name.into(),
            commands: Commands(0),
            redirect: false,
            launch: false,
            trusted: false,
        };
        let flag = |key: &str, v: &str| match v {
            "yes" | "true" => Ok(true),
            "no" | "false" => Ok(false),
            _ => Err(anyhow!("profile {name}: {key} is yes or no, not '{v}'")),
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
                _ => bail!("profile {name}: unknown key '{key}' (commands, redirect, launch)"),
            }
        }
        p.trusted = p.commands == Commands::all() && p.redirect && p.launch;
        Ok(p)
    }

    /// The profile's name, as the config or the built-ins give it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether it holds every right.
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

    /// Whether a service under `self` holds no right `other` lacks (what a launcher under
    /// `other` may give a child).
    pub fn within(&self, other: &Profile) -> bool {
        other.trusted
            || (self.commands.within(other.commands)
                && (!self.redirect || other.redirect)
                && (!self.launch || other.launch))
    }
}

/// Config keys only a trusted service may set (`SETENV`): they decide later launches' profiles.
pub(crate) fn guards_launches(key: &str) -> bool {
    key.starts_with("profile_") || key == "wasm_profile" || key == "start"
}

/// The launch line a service under `launcher` may use for `line`, with the child's profile made
/// explicit (`wasm --profile=NAME ...`): a trusted launcher's line is unchanged; anyone else may
/// launch only wasm guests, under its own profile or a named one within it.
pub(crate) fn attenuate(node: &Node, launcher: &Profile, line: &str) -> anyhow::Result<String> {
    if launcher.trusted {
        return Ok(line.to_string());
    }
    if !launcher.launch {
        bail!("profile {} may not launch services", launcher.name);
    }
    let line = line.trim();
    let (runtime, args) = line.split_once(' ').unwrap_or((line, ""));
    if runtime != "wasm" {
        bail!("profile {} may launch wasm guests only, not '{runtime}' services", launcher.name);
    }
    let args = args.trim_start();
    let (child, rest) = match args.strip_prefix("--profile=") {
        Some(named) => {
            let (name, rest) = named.split_once(char::is_whitespace).unwrap_or((named, ""));
            let child = Profile::named(node, name)?;
            if !child.within(launcher) {
                bail!("profile {} may not launch under the stronger profile {name}", launcher.name);
            }
            (child.name.to_string(), rest.trim_start())
        }
        None => (launcher.name.to_string(), args),
    };
    // Every other option (a second --profile, --fuel, --memlimit) is the operator's.
    if rest.starts_with("--") {
        bail!("profile {} may not pass launch options ({rest})", launcher.name);
    }
    Ok(format!("wasm --profile={child} {rest}"))
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
            Profile::parse("t", &format!("commands={all} redirect=yes launch=yes")).unwrap().is_trusted()
        );
        for bad in ["commands=FLY", "redirect=maybe", "color=red", "commands"] {
            assert!(Profile::parse("x", bad).is_err(), "{bad}");
        }
    }
}
