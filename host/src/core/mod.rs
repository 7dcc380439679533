//! The native core: what every service stands on, whatever runs inside it.

pub mod blocking;
pub mod handle;
pub mod logger;
pub mod mailbox;
pub mod message;
pub mod monitor;
pub mod node;
pub mod scheduler;
pub mod service;
pub mod timer;
