//! Sending messages and calling services: [`send`], [`call`] and their raw and dynamic forms.
//!
//! A call sends its request at once and returns a future for the answer: awaiting it suspends
//! the calling task (like `skynet.call` suspends a coroutine) while the service goes on handling
//! other messages. Several calls awaited together run in parallel (see
//! [`join_all`](crate::join_all)).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::abi::{AbiError, Address, NEW_SESSION};
use crate::codec::{self, Value};
use crate::message::{Dest, Payload, PayloadError, Protocol};
use crate::runtime::{self, Pending};

/// Why a call (or a send) failed.
#[non_exhaustive]
pub enum CallError {
    /// The message could not be sent: [`AbiError::Dest`] for no such service,
    /// [`AbiError::Arg`] for an unknown protocol name.
    Send(AbiError),
    /// The callee answered ERROR: its handler failed, or it exited (or was killed) holding the
    /// request. The payload is the ERROR message's: empty from Lua services, the error text
    /// from SDK guests (see [`message`](CallError::message)).
    Failed(Payload),
    /// The callee announced that it is gone (ERROR with session 0) while the call was pending.
    ServiceDown,
    /// The request could not be encoded, or the answer could not be decoded.
    Codec(codec::Error),
    /// A held answer could not be read.
    Read(AbiError),
}

impl CallError {
    /// The text an ERROR answer carried, if any.
    pub fn message(&self) -> Option<String> {
        match self {
            CallError::Failed(Payload::Bytes(b)) if !b.is_empty() => {
                Some(String::from_utf8_lossy(b).into_owned())
            }
            _ => None,
        }
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Send(e) => write!(f, "cannot send: {e}"),
            CallError::Failed(_) => match self.message() {
                Some(m) => write!(f, "call failed: {m}"),
                None => f.write_str("call failed"),
            },
            CallError::ServiceDown => f.write_str("call failed: the service is gone"),
            CallError::Codec(e) => e.fmt(f),
            CallError::Read(e) => write!(f, "cannot read the answer: {e}"),
        }
    }
}

impl fmt::Debug for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Send(e) => f.debug_tuple("Send").field(e).finish(),
            CallError::Failed(p) => f.debug_tuple("Failed").field(p).finish(),
            CallError::ServiceDown => f.write_str("ServiceDown"),
            CallError::Codec(e) => f.debug_tuple("Codec").field(e).finish(),
            CallError::Read(e) => f.debug_tuple("Read").field(e).finish(),
        }
    }
}

impl std::error::Error for CallError {}

impl From<codec::Error> for CallError {
    fn from(e: codec::Error) -> Self {
        CallError::Codec(e)
    }
}

impl From<PayloadError> for CallError {
    fn from(e: PayloadError) -> Self {
        match e {
            PayloadError::Abi(e) => CallError::Read(e),
            PayloadError::Codec(e) => CallError::Codec(e),
        }
    }
}

fn protocol(proto: impl Protocol) -> Result<u8, CallError> {
    proto.ptype().ok_or(CallError::Send(AbiError::Arg))
}

/// Sends `data` as a one-way message of type `ptype` (`skynet.rawsend`).
pub fn rawsend<'a>(dest: impl Into<Dest<'a>>, ptype: u8, data: &[u8]) -> Result<(), AbiError> {
    dest.into().send(ptype, 0, data).map(drop)
}

/// Sends `args` packed in the lua format (see [`codec::to_bytes`]: a tuple is several values)
/// as a one-way message (`skynet.send(dest, "lua", ...)`).
pub fn send<'a, A: Serialize + ?Sized>(
    dest: impl Into<Dest<'a>>,
    proto: impl Protocol,
    args: &A,
) -> Result<(), CallError> {
    let ptype = protocol(proto)?;
    let data = codec::to_bytes(args)?;
    rawsend(dest, ptype, &data).map_err(CallError::Send)
}

/// [`send`] with dynamic values.
pub fn send_values<'a>(
    dest: impl Into<Dest<'a>>,
    proto: impl Protocol,
    values: &[Value],
) -> Result<(), CallError> {
    let ptype = protocol(proto)?;
    let data = codec::encode(values).map_err(codec::Error::from)?;
    rawsend(dest, ptype, &data).map_err(CallError::Send)
}

/// Sends `data` as a request of type `ptype` and returns the pending answer (`skynet.rawcall`).
pub fn rawcall<'a>(dest: impl Into<Dest<'a>>, ptype: u8, data: &[u8]) -> Call {
    let dest = dest.into();
    match dest.send(ptype, NEW_SESSION, data) {
        Ok(session) => Call::pending(session, dest.address()),
        Err(e) => Call::failed(CallError::Send(e)),
    }
}

/// Calls `dest` with `args` packed in the lua format and decodes the answer as `R`
/// (`skynet.call(dest, "lua", ...)`). A tuple `args` is several values; `R` reads the answer's
/// values as [`codec::from_bytes`] does (a tuple for several, any other type for the first).
///
/// The request is sent before this returns; the future resolves when the answer arrives.
///
/// ```no_run
/// # async fn f() -> Result<(), skybox_sdk::CallError> {
/// let (sum,): (i64,) = skybox_sdk::call(".adder", "lua", &("add", 1, 2)).await?;
/// let sum: i64 = skybox_sdk::call(".adder", "lua", &("add", 1, 2)).await?; // the same
/// # Ok(()) }
/// ```
pub fn call<'a, A, R>(
    dest: impl Into<Dest<'a>>,
    proto: impl Protocol,
    args: &A,
) -> impl Future<Output = Result<R, CallError>> + 'static
where
    A: Serialize + ?Sized,
    R: DeserializeOwned + 'static,
{
    let call = protocol(proto)
        .and_then(|ptype| Ok((ptype, codec::to_bytes(args)?)))
        .map(|(ptype, data)| rawcall(dest, ptype, &data))
        .unwrap_or_else(Call::failed);
    async move { Ok(call.await?.args()?) }
}

/// [`call`] with dynamic values: every value of the answer.
pub fn call_values<'a>(
    dest: impl Into<Dest<'a>>,
    proto: impl Protocol,
    values: &[Value],
) -> impl Future<Output = Result<Vec<Value>, CallError>> + 'static {
    let call = protocol(proto)
        .and_then(|ptype| Ok((ptype, codec::encode(values).map_err(codec::Error::from)?)))
        .map(|(ptype, data)| rawcall(dest, ptype, &data))
        .unwrap_or_else(Call::failed);
    async move { Ok(call.await?.values()?) }
}

/// A pending answer: resolves to the RESPONSE payload, or to the reason the call failed.
///
/// Dropping it abandons the call: the answer, when it comes, is dropped.
#[must_use = "a call does nothing useful unless its answer is awaited"]
pub struct Call {
    state: CallState,
}

enum CallState {
    Waiting { session: i32, pending: Rc<Pending> },
    Failed(CallError),
    Finished,
}

impl Call {
    /// Waits for the answer to `session`; `target` (when known) lets a "service gone" notice
    /// fail the call.
    pub(crate) fn pending(session: i32, target: Option<Address>) -> Call {
        let pending = runtime::register(session, target);
        Call { state: CallState::Waiting { session, pending } }
    }

    /// A call that fails with `error` when awaited.
    pub(crate) fn failed(error: CallError) -> Call {
        Call { state: CallState::Failed(error) }
    }

    /// The session of the request (0 when it could not be sent).
    pub fn session(&self) -> i32 {
        match self.state {
            CallState::Waiting { session, .. } => session,
            _ => 0,
        }
    }
}

impl Future for Call {
    type Output = Result<Payload, CallError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let result = match &this.state {
            CallState::Waiting { pending, .. } => match pending.poll(cx) {
                Poll::Ready(result) => result,
                Poll::Pending => return Poll::Pending,
            },
            CallState::Failed(_) => match std::mem::replace(&mut this.state, CallState::Finished) {
                CallState::Failed(e) => Err(e),
                _ => unreachable!(),
            },
            CallState::Finished => panic!("skybox_sdk::Call polled after it finished"),
        };
        this.state = CallState::Finished;
        Poll::Ready(result)
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        if let CallState::Waiting { session, .. } = self.state {
            runtime::unregister(session);
        }
    }
}
