//! [`Error`]: what a handler returns when it fails.

use std::fmt;

/// An error a handler (or [`Service::start`](crate::Service::start)) returns: a message.
///
/// When a request's handler returns it, the SDK logs it and answers the caller with ERROR
/// carrying the message as its payload (a Lua caller's `skynet.call` raises; a wasm caller gets
/// [`CallError::Failed`](crate::CallError::Failed)).
///
/// Any `std::error::Error` converts into it, so `?` works on the SDK's errors and most others.
/// (That is also why `Error` itself does not implement `std::error::Error`, like `anyhow`.)
pub struct Error {
    message: String,
}

impl Error {
    /// An error with this message.
    pub fn new(message: impl fmt::Display) -> Error {
        Error { message: message.to_string() }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl<E: std::error::Error> From<E> for Error {
    fn from(error: E) -> Error {
        Error::new(error)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.message, f)
    }
}

/// `Result` with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
