//! `skybox.blocking`: slow or blocking native work run off the worker threads.
//!
//! Each function starts a job on the node's blocking pool and returns a session at once; the
//! result arrives as the reply to that session (values packed in the `lua` format), so
//! `skynet.blocking` (lua-guest) waits for it like for a call while the worker serves other
//! services. Failures come back as `nil, message`, as Lua's io functions report them. A service
//! that is not trusted gets no `readfile`/`writefile` (they raise): it reaches no file.

use std::net::ToSocketAddrs;
use std::sync::Arc;
use std::time::Duration;

use mlua::{Integer, Lua, Table};
use skybox_sdk::codec::{self, Table as WireTable, Value as Wire};

use super::core_api::guarded;
use crate::core::node::Node;
use crate::core::service::Service;

fn pack(values: &[Wire]) -> Vec<u8> {
    // Strings, booleans and flat tables always encode.
    codec::encode(values).unwrap_or_default()
}

fn failure(err: impl std::fmt::Display) -> Vec<u8> {
    pack(&[Wire::Nil, Wire::from(err.to_string())])
}

/// Builds the raw (non-raising) function table; `core_api::install` wraps it.
pub(crate) fn table(lua: &Lua, node: &Arc<Node>, service: &Arc<Service>) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    // Registers one job-starting function: `job` turns the Lua arguments into the work to do.
    let start = |name: &str, job: fn(Vec<String>) -> Vec<u8>| -> mlua::Result<()> {
        let (node, service) = (node.clone(), service.clone());
        t.set(
            name,
            guarded(lua, move |_, args: mlua::Variadic<String>| {
                let session = service.new_session();
                let args: Vec<String> = args.into_iter().collect();
                node.run_blocking(service.handle(), session, Box::new(move || job(args)))
                    .map_err(|e| mlua::Error::runtime(format!("{e:#}")))?;
                Ok(session as Integer)
            })?,
        )
    };
    if service.profile().is_trusted() {
        start("readfile", |args| {
            match std::fs::read(args.first().map(String::as_str).unwrap_or_default()) {
                Ok(bytes) => pack(&[Wire::String(bytes)]),
                Err(e) => failure(e),
            }
        })?;
        start("writefile", |args| {
            let (Some(path), Some(data)) = (args.first(), args.get(1)) else {
                return failure("writefile(path, data)");
            };
            match std::fs::write(path, data) {
                Ok(()) => pack(&[Wire::Boolean(true)]),
                Err(e) => failure(e),
            }
        })?;
    } else {
        // An untrusted service reaches no file (docs/SECURITY.md): the functions raise.
        let profile = service.profile().name().to_string();
        for name in ["readfile", "writefile"] {
            let why =
                format!("skybox.blocking.{name}: no files for an untrusted service (profile {profile})");
            t.set(
                name,
                guarded(lua, move |_, _: mlua::MultiValue| Err::<(), _>(mlua::Error::runtime(why.clone())))?,
            )?;
        }
    }
    start("resolve", |args| {
        let host = args.first().map(String::as_str).unwrap_or_default();
        match (host, 0).to_socket_addrs() {
            Ok(addrs) => {
                let ips = WireTable::from_array(addrs.map(|a| a.ip().to_string()));
                pack(&[Wire::Table(ips)])
            }
            Err(e) => failure(e),
        }
    })?;
    start("sleep", |args| {
        let ms: u64 = args.first().and_then(|a| a.trim().parse().ok()).unwrap_or(0);
        std::thread::sleep(Duration::from_millis(ms));
        pack(&[Wire::Boolean(true)])
    })?;
    Ok(t)
}
