//! The guest side of skybox's wasm services.
//!
//! A skybox wasm guest is a `cdylib` compiled for `wasm32-unknown-unknown` that runs as a skynet
//! service: it has an address and a mailbox, and talks to other services (Lua or wasm) only by
//! messages `(type, session, source, payload)`. The contract with the host is `guest-sdk/ABI.md`;
//! this crate implements the guest side of it:
//!
//! - [`codec`]: the `lua` wire format of `skynet.pack`, as dynamic [`Value`]s or through serde;
//! - [`abi`]: the host imports, with safe wrappers;
//! - a runtime: the [`Service`] trait and the exports ([`service!`]), a single-threaded executor
//!   in which every request runs as a task, [`call`]s that suspend the task until the answer
//!   arrives, [`Responder`]s to answer later, [`spawn`], [`sleep`], [`timeout`], [`join_all`];
//! - the node's services and commands ([`newservice`], [`uniqueservice`], [`query`], [`log!`],
//!   [`exit`], ...);
//! - [`net`]: TCP and UDP sockets on the node's socket thread (when the node grants them);
//! - [`testing`] (native only): a mock host to unit-test a service without wasm.
//!
//! ```no_run
//! use serde::Deserialize;
//! use skybox_sdk::{Reply, Request, Result, Service};
//!
//! struct Adder;
//!
//! #[derive(Deserialize)]
//! #[serde(rename_all = "lowercase")]
//! enum Command {
//!     Add(i64, i64),
//!     Ping,
//! }
//!
//! impl Service for Adder {
//!     async fn start(_args: String) -> Result<Self> {
//!         Ok(Adder)
//!     }
//!
//!     // skynet.call(adder, "lua", "add", 1, 2) returns 3
//!     async fn lua(&'static self, request: Request) -> Result<Reply> {
//!         match request.args()? {
//!             Command::Add(a, b) => Ok(Reply::pack(&(a + b,))?),
//!             Command::Ping => Ok(Reply::pack(&("pong",))?),
//!         }
//!     }
//! }
//!
//! skybox_sdk::service!(Adder);
//! ```
//!
//! # Panics and traps
//!
//! Guests are built with `panic = "abort"`: on `wasm32-unknown-unknown` a panic (and an
//! allocation failure) is a trap, and a trap kills the guest. The SDK's panic hook first writes
//! the panic message to the node's log (`panic at src/lib.rs:12:5: ...`). The host then fails
//! every request the guest held or had queued, and everything else goes on. Handlers should
//! return [`Error`]s, which fail only their request.

pub mod abi;
mod call;
pub mod codec;
mod debug;
mod error;
mod export;
pub mod fs;
mod message;
pub mod net;
mod node;
mod runtime;
mod service;
pub mod socket;
mod task;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;

pub use abi::{AbiError, Address, ptype};
pub use call::{Call, CallError, call, call_values, rawcall, rawsend, send, send_values};
pub use codec::{Table, Value};
pub use error::{Error, Result};
pub use message::{Dest, Held, Payload, PayloadError, Protocol};
pub use node::{
    abort, exit, forward_type, genid, getenv, hpc, is_exiting, kill, launch, log, name, newservice,
    newservice_in, now, query, queryservice, register, self_address, setenv, starttime, stat, time,
    uniqueservice,
};
pub use service::{Reply, Request, Responder, Service};
pub use task::{
    Aborted, Elapsed, JoinHandle, Sleep, join, join_all, sleep, spawn, spawn_after, timeout, yield_now,
};

/// Re-exported for guests that want the exact serde the SDK uses.
pub use serde;

/// What [`service!`] expands to calls; not part of the API.
#[doc(hidden)]
pub mod __export {
    #[cfg(target_arch = "wasm32")]
    pub use crate::export::{alloc, dispatch, start};
}
