//! The Lua side of a recorded or replayed service (see `record`): what a Lua VM observes
//! beyond its messages, sends and commands (which the core records) goes through the tape.
//!
//! - Clocks: `skynet.now` and `skynet.hpc` (in `native`), `os.time`, `os.date`, `os.clock`.
//! - Random numbers: `math.randomseed()` records the seeds it drew and a replay seeds with them;
//!   the VM starts from such a seed (Lua's own first seed is drawn from the clock and an
//!   address). The string-hash seed (the order of `pairs`) is the process's, in the header.
//! - Host calls: the functions of `skynet.socketdriver` that act on sockets, `skybox.blocking`,
//!   `skybox.sqlite`, `skynet.memory`, `crypt.randomkey`, and `os.getenv` and the `os`
//!   functions that act on files: a record keeps each call's results (packed as `skynet.pack`
//!   does) or its error; a replay returns them without calling the function.
//! - Code: each file `loadfile` and `require` load (in `codecache`).

use std::sync::Arc;

use mlua::{Function, Lua, MultiValue, Table, Value};

use super::{error_text, seri};
use crate::core::service::Service;

/// `os` functions that read the clock, the environment, or act on files.
const OS: &[&str] = &["time", "date", "clock", "getenv", "remove", "rename", "tmpname", "execute"];

/// `skynet.socketdriver` functions that act on sockets (the rest parse buffers and payloads).
const SOCKETS: &[&str] = &[
    "connect",
    "close",
    "shutdown",
    "listen",
    "send",
    "lsend",
    "bind",
    "start",
    "pause",
    "nodelay",
    "forward",
    "udp",
    "udp_connect",
    "udp_dial",
    "udp_listen",
    "udp_send",
    "resolve",
    "info",
    "netstat",
];

/// Modules whose functions (`None`: all of them) reach outside the VM.
const MODULES: &[(&str, Option<&[&str]>)] = &[
    ("skynet.socketdriver", Some(SOCKETS)),
    ("skybox.blocking", None),
    ("skybox.sqlite", None),
    ("skynet.memory", None),
    ("skynet.crypt", Some(&["randomkey"])),
];

/// Prefix of a recorded call's error that is not the function's: its results could not be
/// packed (a record holds values `skynet.pack` can encode).
const UNRECORDABLE: &str = "\u{0}unrecordable: ";

/// Puts the tape between the VM and what it observes, before any of the service's code runs.
/// Nothing for a service without a tape.
pub(crate) fn install(lua: &Lua, service: &Arc<Service>) -> mlua::Result<()> {
    if service.tape().is_none() {
        return Ok(());
    }
    let globals = lua.globals();
    if let Ok(os) = globals.get::<Table>("os") {
        wrap_table(lua, service, &os, "os", Some(OS))?;
    }
    let math: Table = globals.get("math")?;
    let randomseed: Function = math.get("randomseed")?;
    let seeded = seeded(lua, service.clone(), randomseed)?;
    math.set("randomseed", seeded.clone())?;
    // The VM's first seed, drawn and recorded (or replayed) like any other.
    seeded.call::<()>(())?;
    // Required now and wrapped in place: `require` returns the same table later. A module the
    // service may not load (a confined one) stays unloaded.
    let require: Function = globals.get("require")?;
    for &(module, names) in MODULES {
        if let Ok(table) = require.call::<Table>(module) {
            wrap_table(lua, service, &table, module, names)?;
        }
    }
    Ok(())
}

fn wrap_table(
    lua: &Lua,
    service: &Arc<Service>,
    table: &Table,
    module: &str,
    names: Option<&[&str]>,
) -> mlua::Result<()> {
    let names: Vec<String> = match names {
        Some(names) => names.iter().map(|n| n.to_string()).collect(),
        None => {
            let mut all = Vec::new();
            for pair in table.pairs::<Value, Value>() {
                if let (Value::String(key), Value::Function(_)) = pair? {
                    all.push(key.to_str()?.to_string());
                }
            }
            all.sort();
            all
        }
    };
    for name in names {
        if let Ok(Value::Function(f)) = table.raw_get::<Value>(name.as_str()) {
            table.raw_set(name.as_str(), recorded(lua, service.clone(), format!("{module}.{name}"), f)?)?;
        }
    }
    Ok(())
}

/// `f` through the tape: recording, it runs and its results are kept; replaying, the kept
/// results are returned and `f` does not run.
fn recorded(lua: &Lua, service: Arc<Service>, name: String, f: Function) -> mlua::Result<Function> {
    lua.create_function(move |lua, args: MultiValue| {
        let tape = service.tape().expect("wrapped for a service with a tape");
        let mut real = None;
        let result = tape.call(&service, &name, || match f.call::<MultiValue>(args) {
            Ok(values) => {
                let list: Vec<Value> = values.iter().cloned().collect();
                let packed = seri::pack(lua, &list).map_err(|e| format!("{UNRECORDABLE}{e}"));
                real = Some(values);
                packed
            }
            Err(err) => Err(error_text(&err)),
        });
        match (real, result) {
            // Recording: the service gets what the function returned, recordable or not.
            (Some(values), _) => Ok(values),
            (None, Ok(bytes)) => seri::unpack(lua, &bytes),
            (None, Err(text)) => match text.strip_prefix(UNRECORDABLE) {
                Some(why) => crate::record::replay::stop(
                    1,
                    &format!("replay cannot go on: {name} returned values a record cannot hold ({why})"),
                ),
                None => Err(mlua::Error::runtime(text)),
            },
        }
    })
}

/// `math.randomseed` through the tape: called with no seed it draws one, which a record keeps
/// and a replay seeds with; a seed given is used as is.
fn seeded(lua: &Lua, service: Arc<Service>, randomseed: Function) -> mlua::Result<Function> {
    lua.create_function(move |lua, args: MultiValue| {
        if !args.is_empty() {
            return randomseed.call::<MultiValue>(args);
        }
        let tape = service.tape().expect("wrapped for a service with a tape");
        let drawn = tape.call(&service, "math.randomseed", || {
            let seeds = randomseed.call::<MultiValue>(()).map_err(|e| error_text(&e))?;
            let list: Vec<Value> = seeds.into_iter().collect();
            seri::pack(lua, &list).map_err(|e| e.to_string())
        });
        let seeds = drawn.map_err(mlua::Error::runtime)?;
        let seeds = seri::unpack(lua, &seeds)?;
        if tape.replaying() {
            randomseed.call::<()>(seeds.clone())?;
        }
        Ok(seeds)
    })
}
