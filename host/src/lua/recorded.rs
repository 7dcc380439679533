//! The Lua side of a recorded or replayed service (see `record`): what a Lua VM observes
//! beyond its messages, sends and commands (which the core records) goes through the tape.
//!
//! - Clocks: `skynet.now` and `skynet.hpc` (in `native`), `os.time`, `os.date`, `os.clock`.
//! - Random numbers: `math.randomseed()` records the seeds it drew and a replay seeds with them;
//!   the VM starts from such a seed (Lua's own first seed is drawn from the clock and an
//!   address). The string-hash seed (the order of `pairs`) is the process's, in the header.
//! - Host calls: the functions of `skynet.socketdriver` that act on sockets, `skybox.blocking`,
//!   `skybox.sqlite`, `skynet.memory`, `crypt.randomkey`, `os.getenv` and the `os` functions
//!   that act on files, `io.popen` and `io.open` for writing: a record keeps each call's
//!   results (packed as `skynet.pack` does) or its error; a replay returns them without
//!   calling the function. What returns a value a record cannot hold (a file, a shared tree:
//!   `skynet.stm`, `skybox.sharedata`) is recorded as such, and a replay stops there.
//! - Code: each file `loadfile`, `require` and `dofile` load (in `codecache`) and the
//!   `lualoader`.

use std::sync::Arc;

use mlua::{Function, Lua, MultiValue, Table, Value};

use super::{lua_tostring, seri};
use crate::core::service::Service;
use crate::record::Called;

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
    ("client.crypt", Some(&["randomkey"])),
    ("skynet.stm", None),
    ("skybox.sharedata", None),
];

/// `wrap(name, f)`: `f` through the tape. Recording, `f` runs in a protected call and its
/// results or error are kept, then returned or raised as they were (the same error value);
/// replaying, the kept ones come back (an error as its text) and `f` does not run.
const WRAP: &str = r#"
local keep, give, crc_of, replaying = ...
local error, pcall = error, pcall
local function settle(ok, ...)
    if ok then return ... end
    error((...), 0)
end
return function(name, f)
    if replaying then
        return function(...) return settle(give(name, crc_of(...))) end
    end
    return function(...)
        local crc = crc_of(...)
        return settle(keep(name, crc, pcall(f, ...)))
    end
end
"#;

/// After the wrapping: `dofile` through `loadfile` (so through the code cache, whose loads
/// are recorded), and `io.open` kept only for writing (a replay reads files as they are).
const AFTER: &str = r#"
local wrap = ...
local loadfile, assert = loadfile, assert
dofile = dofile and function(filename) return assert(loadfile(filename))() end
if io then
    if io.popen then io.popen = wrap("io.popen", io.popen) end
    local open = io.open
    local open_for_writing = wrap("io.open", open)
    io.open = function(path, mode, ...)
        if type(mode) == "string" and mode:find("[wa+]") then return open_for_writing(path, mode, ...) end
        return open(path, mode, ...)
    end
end
"#;

/// Puts the tape between the VM and what it observes, before any of the service's code runs.
/// Nothing for a service without a tape.
pub(crate) fn install(lua: &Lua, service: &Arc<Service>) -> mlua::Result<()> {
    let Some(tape) = service.tape() else { return Ok(()) };
    let wrap: Function = lua.load(WRAP).set_name("=[skybox record]").call((
        keep(lua, service.clone())?,
        give(lua, service.clone())?,
        crc_of(lua)?,
        tape.replaying(),
    ))?;
    let globals = lua.globals();
    if let Ok(os) = globals.get::<Table>("os") {
        wrap_table(&wrap, &os, "os", Some(OS))?;
    }
    let math: Table = globals.get("math")?;
    let seeded = seeded(lua, service.clone(), math.get("randomseed")?)?;
    math.set("randomseed", seeded.clone())?;
    // The VM's first seed, drawn and recorded (or replayed) like any other.
    seeded.call::<()>(())?;
    // Required now and wrapped in place: `require` returns the same table later. A module the
    // service may not load (a confined one) stays unloaded.
    let require: Function = globals.get("require")?;
    for &(module, names) in MODULES {
        if let Ok(table) = require.call::<Table>(module) {
            wrap_table(&wrap, &table, module, names)?;
        }
    }
    lua.load(AFTER).set_name("=[skybox record]").call::<()>(wrap)
}

fn wrap_table(wrap: &Function, table: &Table, module: &str, names: Option<&[&str]>) -> mlua::Result<()> {
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
            table.raw_set(name.as_str(), wrap.call::<Function>((format!("{module}.{name}"), f))?)?;
        }
    }
    Ok(())
}

/// `keep(name, crc, ok, ...)`: writes down what a call came to (`ok, ...` as `pcall` gave
/// it) and returns `ok, ...` unchanged.
fn keep(lua: &Lua, service: Arc<Service>) -> mlua::Result<Function> {
    lua.create_function(move |lua, mut args: MultiValue| {
        let name = lua_tostring(lua, &args.pop_front().unwrap_or(Value::Nil))?;
        let crc = args.pop_front().and_then(|v| v.as_integer()).unwrap_or(0) as u32;
        let tape = service.tape().expect("installed for a service with a tape");
        let values: Vec<Value> = args.iter().skip(1).cloned().collect();
        if args.front() == Some(&Value::Boolean(true)) {
            match seri::pack(lua, &values) {
                Ok(bytes) => tape.keep(&service, &name, crc, Called::Returned(&bytes)),
                Err(err) => tape.keep(&service, &name, crc, Called::Unrecordable(&err.to_string())),
            }
        } else {
            let text = lua_tostring(lua, values.first().unwrap_or(&Value::Nil))?;
            tape.keep(&service, &name, crc, Called::Raised(&text));
        }
        Ok(args)
    })
}

/// `give(name, crc)`: what the call came to when recorded, as `true, ...` or `false, text`.
fn give(lua: &Lua, service: Arc<Service>) -> mlua::Result<Function> {
    lua.create_function(move |lua, (name, crc): (String, u32)| {
        let tape = service.tape().expect("installed for a service with a tape");
        match tape.give(&service, &name, crc) {
            Called::Returned(bytes) => {
                let mut values = seri::unpack(lua, bytes)?;
                values.push_front(Value::Boolean(true));
                Ok(values)
            }
            Called::Raised(text) | Called::Unrecordable(text) => {
                Ok(MultiValue::from_iter([Value::Boolean(false), Value::String(lua.create_string(text)?)]))
            }
        }
    })
}

/// `crc_of(...)`: a CRC-32 of the arguments packed, for the replay to check; 0 (not checked)
/// when they hold a light userdata (an address, which differs between runs) or cannot be
/// packed.
fn crc_of(lua: &Lua) -> mlua::Result<Function> {
    lua.create_function(|lua, args: MultiValue| {
        if args.iter().any(|v| matches!(v, Value::LightUserData(_))) {
            return Ok(0);
        }
        let values: Vec<Value> = args.into_iter().collect();
        Ok(seri::pack(lua, &values).map_or(0, |bytes| crc32fast::hash(&bytes).max(1)))
    })
}

/// `math.randomseed` through the tape: called with no seed it draws one, which a record keeps
/// and a replay seeds with; a seed given is used as is.
fn seeded(lua: &Lua, service: Arc<Service>, randomseed: Function) -> mlua::Result<Function> {
    lua.create_function(move |lua, args: MultiValue| {
        if !args.is_empty() {
            return randomseed.call::<MultiValue>(args);
        }
        let tape = service.tape().expect("installed for a service with a tape");
        if !tape.replaying() {
            let seeds = randomseed.call::<MultiValue>(())?;
            let packed = seri::pack(lua, &seeds.iter().cloned().collect::<Vec<_>>())?;
            tape.keep(&service, "math.randomseed", 0, Called::Returned(&packed));
            return Ok(seeds);
        }
        let seeds = match tape.give(&service, "math.randomseed", 0) {
            Called::Returned(bytes) => seri::unpack(lua, bytes)?,
            Called::Raised(text) | Called::Unrecordable(text) => return Err(mlua::Error::runtime(text)),
        };
        randomseed.call::<()>(seeds.clone())?;
        Ok(seeds)
    })
}
