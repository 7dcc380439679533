//! The native core: what every service stands on, whatever runs inside it. It names no runtime
//! and no service: runtimes plug in through `Node::register_runtime` and the `Actor` trait.

pub mod blocking;
mod command;
pub mod handle;
mod lifetime;
pub mod logger;
pub mod mailbox;
pub mod message;
pub mod monitor;
mod names;
pub mod node;
pub mod requests;
pub mod scheduler;
pub mod service;
pub mod timer;
mod worker;
