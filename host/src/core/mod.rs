//! The native core: what every service stands on, whatever runs inside it. It names no runtime
//! and no service: runtimes plug in through `Node::register_runtime` and the `Actor` trait.

mod blocking;
mod command;
pub mod handle;
pub(crate) mod lifetime;
pub(crate) mod logger;
pub mod mailbox;
pub mod message;
pub(crate) mod monitor;
mod names;
pub mod node;
pub mod profile;
pub mod requests;
mod scheduler;
mod send;
pub mod service;
pub mod tenant;
mod timer;
pub(crate) mod worker;
