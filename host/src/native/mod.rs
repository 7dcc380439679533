//! Services written in Rust that skynet provides in C.

pub(crate) mod harbor;
pub(crate) mod logger;
