//! `skynet.memory`: memory by service, with the names of skynet's `lualib-src/lua-memory.c`.
//!
//! skynet counts what every service allocates through its malloc hook (with jemalloc); skybox
//! counts what each service's runtime holds after its last batch of messages (a Lua VM's heap, a
//! guest's linear memory), and the calling service's own heap live. What only jemalloc can tell
//! (`block`, `jestat`, `mallctl`, heap profiles) answers as skynet built without jemalloc does:
//! 0, an empty table, `false`, and one log line where skynet prints one.

use std::sync::atomic::Ordering;

use mlua::{Lua, Table, Value};

use super::core_api::{guarded, owner, wrap_raising};

/// The module, as `require "skynet.memory"` returns it.
pub(crate) fn module(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set(
        "total",
        guarded(lua, |lua, ()| {
            let owner = owner(lua)?;
            Ok(owner
                .node
                .handles
                .all()
                .iter()
                .map(|s| s.counters.memory.load(Ordering::Relaxed))
                .sum::<u64>())
        })?,
    )?;
    t.set(
        "info",
        guarded(lua, |lua, ()| {
            let services = owner(lua)?.node.handles.all();
            let info = lua.create_table()?;
            for service in services {
                let bytes = service.counters.memory.load(Ordering::Relaxed);
                if bytes > 0 {
                    info.set(service.handle(), bytes)?;
                }
            }
            Ok(info)
        })?,
    )?;
    t.set("current", guarded(lua, |lua, ()| Ok(lua.used_memory()))?)?;
    t.set(
        "dump",
        guarded(lua, |lua, ()| {
            let owner = owner(lua)?;
            let (node, me) = (&owner.node, owner.service.handle());
            node.log(me, "dump all service mem:".into());
            let mut total = 0;
            for service in node.handles.all() {
                let bytes = service.counters.memory.load(Ordering::Relaxed);
                if bytes > 0 {
                    total += bytes;
                    node.log(me, format!(":{:08x}: {}kb", service.handle(), bytes / 1024));
                }
            }
            node.log(me, format!("+total: {}kb", total / 1024));
            Ok(())
        })?,
    )?;
    t.set("block", guarded(lua, |_, ()| Ok(0))?)?;
    t.set("jestat", guarded(lua, |lua, ()| lua.create_table())?)?;
    t.set("mallctl", guarded(lua, |_, _name: mlua::LuaString| Ok(0))?)?;
    t.set("profactive", guarded(lua, |_, _flag: Option<Value>| Ok(false))?)?;
    let no_jemalloc = |lua: &Lua, _: mlua::MultiValue| {
        let owner = owner(lua)?;
        owner.node.log(owner.service.handle(), "No jemalloc".into());
        Ok(())
    };
    t.set("dumpinfo", guarded(lua, no_jemalloc)?)?;
    t.set("dumpheap", guarded(lua, no_jemalloc)?)?;
    wrap_raising(lua, t)
}
