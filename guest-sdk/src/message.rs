//! Message payloads ([`Payload`], [`Held`]) and how to name a destination ([`Dest`]) and a
//! protocol ([`Protocol`]).

use std::borrow::Cow;
use std::fmt;

use serde::de::DeserializeOwned;

use crate::abi::{self, AbiError, Address, ptype};
use crate::codec::{self, Value};

/// A message the host keeps on this guest's behalf (its type is in forward mode, see
/// [`forward_type`](crate::forward_type)): an opaque handle, never a pointer.
///
/// A `Held` owns its handle: [`forward`](Held::forward) and [`call`](Held::call) consume it
/// (ownership of the bytes moves into the new message, without copying them into guest memory),
/// and dropping it frees the message on the host.
pub struct Held {
    handle: i32,
}

impl Held {
    /// Takes ownership of a held-message handle the host delivered.
    ///
    /// The handle must be live and owned by nobody else; if it is not, the host answers
    /// [`AbiError::Handle`] to every use, nothing worse.
    pub fn from_raw(handle: i32) -> Held {
        Held { handle }
    }

    /// Gives up ownership of the handle without freeing the message.
    pub fn into_raw(self) -> i32 {
        let handle = self.handle;
        std::mem::forget(self);
        handle
    }

    /// The raw handle (still owned by this `Held`).
    pub fn handle(&self) -> i32 {
        self.handle
    }

    /// The size of the message.
    pub fn len(&self) -> Result<usize, AbiError> {
        abi::msg_size(self.handle)
    }

    /// Is the message empty?
    pub fn is_empty(&self) -> Result<bool, AbiError> {
        self.len().map(|n| n == 0)
    }

    /// Copies the whole message into guest memory. The message stays held.
    pub fn read(&self) -> Result<Vec<u8>, AbiError> {
        let size = self.len()?;
        let mut bytes = vec![0; size];
        let mut done = 0;
        while done < size {
            let n = abi::msg_read(self.handle, done, &mut bytes[done..])?;
            if n == 0 {
                // The host reported a size it then would not deliver.
                return Err(AbiError::Arg);
            }
            done += n;
        }
        Ok(bytes)
    }

    /// Sends the message on as the payload of a new message to `dest` (skynet's `redirect` of a
    /// forwarded message). `source` `None` is this guest; `session` as in [`abi::send`].
    /// Returns the session.
    pub fn forward(
        self,
        dest: Address,
        source: Option<Address>,
        ptype: u8,
        session: i32,
    ) -> Result<i32, AbiError> {
        // ABI.md: the handle is consumed whatever the outcome (unless it was not live), so
        // nothing is left to free on failure either.
        abi::forward(dest, source, ptype, session, self.into_raw())
    }

    /// Sends the message to `dest` as a request of type `ptype` and returns the pending answer,
    /// without copying the bytes through guest memory (a proxy's request path).
    pub fn call(self, dest: Address, ptype: u8) -> crate::Call {
        match self.forward(dest, None, ptype, abi::NEW_SESSION) {
            Ok(session) => crate::Call::pending(session, Some(dest)),
            Err(e) => crate::Call::failed(crate::CallError::Send(e)),
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        // An error here means the host already dropped it: nothing left to free.
        let _ = abi::msg_free(self.handle);
    }
}

impl fmt::Debug for Held {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Held({})", self.handle)
    }
}

/// The payload of a message: bytes in guest memory, or a message the host holds.
///
/// Which one depends on whether the message's type is in forward mode; the accessors read a
/// held message when they need its bytes.
#[derive(Debug)]
pub enum Payload {
    /// Bytes this guest owns.
    Bytes(Vec<u8>),
    /// A message the host holds (see [`Held`]).
    Held(Held),
}

impl Payload {
    /// No bytes.
    pub fn empty() -> Payload {
        Payload::Bytes(Vec::new())
    }

    /// The bytes, borrowed when they are in guest memory, copied out of the host otherwise.
    pub fn bytes(&self) -> Result<Cow<'_, [u8]>, AbiError> {
        match self {
            Payload::Bytes(b) => Ok(Cow::Borrowed(b)),
            Payload::Held(h) => h.read().map(Cow::Owned),
        }
    }

    /// The bytes, owned.
    pub fn into_bytes(self) -> Result<Vec<u8>, AbiError> {
        match self {
            Payload::Bytes(b) => Ok(b),
            Payload::Held(h) => h.read(),
        }
    }

    /// The size in bytes.
    pub fn len(&self) -> Result<usize, AbiError> {
        match self {
            Payload::Bytes(b) => Ok(b.len()),
            Payload::Held(h) => h.len(),
        }
    }

    /// Is the payload empty?
    pub fn is_empty(&self) -> Result<bool, AbiError> {
        self.len().map(|n| n == 0)
    }

    /// Decodes the payload as a lua-protocol message (the values of `skynet.unpack`).
    pub fn values(&self) -> Result<Vec<Value>, PayloadError> {
        Ok(codec::decode(&self.bytes()?).map_err(codec::Error::from)?)
    }

    /// Decodes the payload as a lua-protocol message into `T` (see [`codec::from_bytes`]).
    pub fn args<T: DeserializeOwned>(&self) -> Result<T, PayloadError> {
        Ok(codec::from_bytes(&self.bytes()?)?)
    }

    /// The payload as text (invalid UTF-8 replaced), as the `text` protocol carries it.
    pub fn text(&self) -> Result<String, AbiError> {
        Ok(String::from_utf8_lossy(&self.bytes()?).into_owned())
    }
}

impl From<Vec<u8>> for Payload {
    fn from(bytes: Vec<u8>) -> Payload {
        Payload::Bytes(bytes)
    }
}

impl From<Held> for Payload {
    fn from(held: Held) -> Payload {
        Payload::Held(held)
    }
}

/// Why a payload could not be read: the host would not hand over a held message, or the bytes
/// are not a valid message for the type asked for.
#[derive(Clone, Debug, PartialEq)]
pub enum PayloadError {
    /// Reading a held message failed.
    Abi(AbiError),
    /// The bytes did not decode.
    Codec(codec::Error),
}

impl fmt::Display for PayloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PayloadError::Abi(e) => write!(f, "cannot read the message: {e}"),
            PayloadError::Codec(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for PayloadError {}

impl From<AbiError> for PayloadError {
    fn from(e: AbiError) -> Self {
        PayloadError::Abi(e)
    }
}

impl From<codec::Error> for PayloadError {
    fn from(e: codec::Error) -> Self {
        PayloadError::Codec(e)
    }
}

/// Where a message goes: an address, or a name (`.launcher`, or a printed address
/// `:0000000a`), as `skynet.send` takes either.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dest<'a> {
    /// A service address.
    Address(Address),
    /// A local name or a printed address.
    Name(&'a str),
}

impl Dest<'_> {
    /// The address when it is known without asking the host (an address, or a printed one).
    pub fn address(&self) -> Option<Address> {
        match *self {
            Dest::Address(a) => Some(a),
            Dest::Name(name) if name.starts_with(':') => name.parse().ok(),
            Dest::Name(_) => None,
        }
    }

    /// Sends `data` there (see [`abi::send`]); returns the session.
    pub(crate) fn send(&self, ptype: u8, session: i32, data: &[u8]) -> Result<i32, AbiError> {
        match (*self, self.address()) {
            (_, Some(address)) => abi::send(address, ptype, session, data),
            (Dest::Name(name), None) => abi::send_name(name, ptype, session, data),
            (Dest::Address(address), None) => abi::send(address, ptype, session, data),
        }
    }
}

impl From<Address> for Dest<'_> {
    fn from(a: Address) -> Self {
        Dest::Address(a)
    }
}

impl<'a> From<&'a str> for Dest<'a> {
    fn from(name: &'a str) -> Self {
        Dest::Name(name)
    }
}

impl<'a> From<&'a String> for Dest<'a> {
    fn from(name: &'a String) -> Self {
        Dest::Name(name)
    }
}

impl fmt::Display for Dest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dest::Address(a) => a.fmt(f),
            Dest::Name(n) => f.write_str(n),
        }
    }
}

/// A protocol, by type number (`ptype::LUA`) or by skynet's name (`"lua"`).
pub trait Protocol: Copy {
    /// The type number; `None` for an unknown name.
    fn ptype(self) -> Option<u8>;
}

impl Protocol for u8 {
    fn ptype(self) -> Option<u8> {
        Some(self)
    }
}

impl Protocol for &str {
    fn ptype(self) -> Option<u8> {
        ptype::by_name(self)
    }
}
