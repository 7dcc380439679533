//! skybox: an actor host in the tradition of skynet.
//!
//! - [`core`]: the native parts every service stands on: handles, mailboxes, the scheduler, the
//!   timer and the logger.
//! - [`lua`]: a service in a Lua VM (5.4, or 5.5 with the feature `lua55`) with skynet's
//!   `skynet.core` API.
//! - `native`: services skynet writes in C (the harbor of a standalone node).
//! - [`wasm`]: a service as a wasm guest (wasmtime), with fuel and memory limits, on the same
//!   message ABI (`guest-sdk/ABI.md`).
//! - `socket`: the socket thread and its seam to the core (skynet's socket server).
//! - `boot`: how a service of any runtime starts and tells the launcher.
//! - [`config`]: skynet-style config files.
//! - [`launch`]: starting a node from a config (what `skybox run` does).

mod boot;
pub mod config;
pub mod core;
/// Entry points for the fuzz targets in `fuzz/`; not part of the API.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod launch;
pub mod lua;
mod native;
pub mod record;
mod socket;
pub(crate) mod sync;
pub mod wasm;
