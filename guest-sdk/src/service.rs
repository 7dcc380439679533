//! The [`Service`] trait a guest implements, and what its handlers receive ([`Request`]) and
//! return ([`Reply`]); [`Responder`] answers a request later, from another task.

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::rc::Rc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::abi::{self, Address, ptype};
use crate::call::CallError;
use crate::codec::{self, Value};
use crate::error::{Error, Result};
use crate::message::{Payload, PayloadError};
use crate::runtime;

/// A wasm guest's service: built by [`start`](Service::start), then one handler call per
/// incoming message, by protocol.
///
/// Register the type with [`service!`](crate::service!) (once per guest). Every handler call
/// runs as its own task, so a handler that awaits a call lets the service handle other messages
/// meanwhile, exactly as a skynet service's coroutines do; state shared by handlers therefore
/// lives behind `Cell` / `RefCell`, and may change across an `.await`.
///
/// The service value lives as long as the guest (handlers borrow it for `'static`); its `Drop`
/// never runs, as the guest's memory goes away with it.
///
/// A handler that returns `Err` fails its request: the caller gets ERROR with the message, and
/// the service goes on. A handler that **panics** aborts the guest: on
/// `wasm32-unknown-unknown` a panic is a trap, which kills this guest (the host then fails the
/// requests it held and those queued for it; every other service goes on). Return errors
/// instead of panicking.
///
/// ```no_run
/// use skybox_sdk::{Reply, Request, Result, Service};
///
/// struct Echo;
///
/// impl Service for Echo {
///     async fn start(_args: String) -> Result<Self> {
///         Ok(Echo)
///     }
///
///     async fn lua(&'static self, request: Request) -> Result<Reply> {
///         Ok(Reply::values(&request.values()?)?)
///     }
/// }
///
/// skybox_sdk::service!(Echo);
/// ```
pub trait Service: Sized + 'static {
    /// Builds the service from its launch arguments (words separated by spaces, as skynet passes
    /// them), like the function given to `skynet.start`. It may call other services. Messages
    /// that arrive meanwhile wait until it has finished.
    ///
    /// On `Ok` the SDK tells `.launcher` the service started (as snlua's
    /// `skynet.init_service` does, in the launcher's text words every profile may send: `""`);
    /// on `Err` it logs the error, tells `.launcher` the launch failed (`"ERROR"`) and exits. (Today's host already reports "started" to `.launcher` when
    /// `skybox_start` returns, i.e. before an asynchronous start has finished; the SDK's report
    /// is then a no-op for the launcher. Requests that arrive early wait, as said above.)
    fn start(args: String) -> impl Future<Output = Result<Self>> + 'static;

    /// Called once the service exists, before any handler: the place to spawn background tasks
    /// that need `&'static self`.
    fn started(&'static self) {}

    /// A message of the `lua` protocol (type 10): the payload is in the [`codec`] format.
    fn lua(&'static self, request: Request) -> impl Future<Output = Result<Reply>> + 'static {
        async move { Err(unknown(&request)) }
    }

    /// A message of the `text` protocol (type 0).
    fn text(&'static self, request: Request) -> impl Future<Output = Result<Reply>> + 'static {
        async move { Err(unknown(&request)) }
    }

    /// A message of any other protocol but RESPONSE, ERROR, DEBUG and TRACE, which the SDK
    /// handles itself (answers, the debug protocol, trace tags).
    fn other(&'static self, request: Request) -> impl Future<Output = Result<Reply>> + 'static {
        async move { Err(unknown(&request)) }
    }
}

fn unknown(request: &Request) -> Error {
    let proto = ptype::name(request.ptype()).map_or_else(|| request.ptype().to_string(), str::to_owned);
    Error::new(format!("Unknown request ({proto}) from {}", request.source()))
}

/// The obligation to answer one request: shared by the [`Request`], the task running its
/// handler and at most one [`Responder`].
///
/// Invariant: a request with a session is answered exactly once. Whoever answers marks it done;
/// if the last holder goes away with the request unanswered (a responder dropped), dropping this
/// answers it with ERROR; when the guest exits, the runtime fails every answer still open
/// (wherever it is kept). So no caller waits forever.
pub(crate) struct Answer {
    source: Address,
    session: i32,
    state: Cell<AnswerState>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum AnswerState {
    /// The handler's return value will answer.
    Open,
    /// A [`Responder`] was taken: it will answer.
    Taken,
    Done,
}

impl Answer {
    fn send(&self, ptype: u8, payload: Payload) {
        if self.state.replace(AnswerState::Done) == AnswerState::Done {
            return;
        }
        // A failed send means the caller is gone: nobody is left to tell.
        let _ = match payload {
            Payload::Bytes(bytes) => abi::send(self.source, ptype, self.session, &bytes),
            Payload::Held(held) => held.forward(self.source, None, ptype, self.session),
        };
    }

    pub(crate) fn fail(&self, message: &str) {
        self.send(ptype::ERROR, Payload::Bytes(message.as_bytes().to_vec()));
    }

    /// Has it been answered?
    pub(crate) fn is_done(&self) -> bool {
        self.state.get() == AnswerState::Done
    }
}

impl Drop for Answer {
    fn drop(&mut self) {
        if self.state.get() != AnswerState::Done {
            self.fail("the request was dropped without an answer");
        }
    }
}

/// One incoming message, as a handler receives it.
///
/// If it is a request (it has a session), the SDK answers it with the handler's [`Reply`]
/// unless the handler takes a [`Responder`] to answer later.
pub struct Request {
    ptype: u8,
    session: i32,
    source: Address,
    payload: Payload,
    answer: Option<Rc<Answer>>,
}

impl Request {
    pub(crate) fn new(ptype: u8, session: i32, source: Address, payload: Payload) -> Request {
        let answer = (session != 0).then(|| {
            let answer = Rc::new(Answer { source, session, state: Cell::new(AnswerState::Open) });
            // Known to the runtime, so that exiting fails it even if it is kept where nothing
            // drops it (in the service's own state).
            runtime::track_answer(&answer);
            answer
        });
        Request { ptype, session, source, payload, answer }
    }

    pub(crate) fn answer(&self) -> Option<Rc<Answer>> {
        self.answer.clone()
    }

    /// The message type (see [`ptype`]).
    pub fn ptype(&self) -> u8 {
        self.ptype
    }

    /// The session: 0 for a one-way message.
    pub fn session(&self) -> i32 {
        self.session
    }

    /// The sender.
    pub fn source(&self) -> Address {
        self.source
    }

    /// Does the sender wait for an answer?
    pub fn is_request(&self) -> bool {
        self.session != 0
    }

    /// The payload.
    pub fn payload(&self) -> &Payload {
        &self.payload
    }

    /// Takes the payload out (leaving an empty one), e.g. to forward a held message.
    pub fn take_payload(&mut self) -> Payload {
        std::mem::replace(&mut self.payload, Payload::empty())
    }

    /// Decodes a lua-protocol payload into `T` (see [`codec::from_bytes`]): a tuple for the
    /// arguments in order, an enum for a command and its arguments.
    pub fn args<T: DeserializeOwned>(&self) -> Result<T, PayloadError> {
        self.payload.args()
    }

    /// Decodes a lua-protocol payload into its values.
    pub fn values(&self) -> Result<Vec<Value>, PayloadError> {
        self.payload.values()
    }

    /// The first value when it is a string: the command of skynet's `cmd, ...` convention.
    pub fn command(&self) -> Result<String, PayloadError> {
        let (command,): (String,) = self.args()?;
        Ok(command)
    }

    /// The payload as text (the `text` protocol).
    pub fn text(&self) -> Result<String, PayloadError> {
        Ok(self.payload.text()?)
    }

    /// Takes over answering the request (skynet's `skynet.response()`): the handler's return
    /// value is then ignored, and the [`Responder`] must answer, from any task, at any time.
    /// `None` for a one-way message, or when a responder was already taken.
    pub fn responder(&self) -> Option<Responder> {
        let answer = self.answer.as_ref()?;
        if answer.state.get() != AnswerState::Open {
            return None;
        }
        answer.state.set(AnswerState::Taken);
        Some(Responder { answer: answer.clone() })
    }
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("ptype", &self.ptype)
            .field("session", &self.session)
            .field("source", &self.source)
            .field("payload", &self.payload)
            .finish()
    }
}

/// What a handler answers.
#[derive(Debug)]
pub enum Reply {
    /// Answer with RESPONSE and this payload.
    Response(Payload),
    /// Answer with ERROR and this payload (e.g. relaying a failure by handle).
    Error(Payload),
    /// No answer from the handler: it took a [`Responder`] (or the message was one-way).
    /// Returned for a request whose responder was not taken, the request fails.
    Later,
}

impl Reply {
    /// An answer with no values (`skynet.ret()`).
    pub fn empty() -> Reply {
        Reply::Response(Payload::empty())
    }

    /// An answer packed in the lua format (see [`codec::to_bytes`]): `Reply::pack(&(a, b))` is
    /// `skynet.retpack(a, b)`.
    pub fn pack<T: Serialize + ?Sized>(value: &T) -> Result<Reply, codec::Error> {
        Ok(Reply::Response(Payload::Bytes(codec::to_bytes(value)?)))
    }

    /// An answer with these values.
    pub fn values(values: &[Value]) -> Result<Reply, codec::EncodeError> {
        Ok(Reply::Response(Payload::Bytes(codec::encode(values)?)))
    }

    /// An answer with these bytes.
    pub fn bytes(bytes: impl Into<Vec<u8>>) -> Reply {
        Reply::Response(Payload::Bytes(bytes.into()))
    }

    /// Relays the outcome of a call: its RESPONSE as RESPONSE, its ERROR as ERROR (payload
    /// included, held or not); other failures (the callee is gone, nothing was sent) come back
    /// as `Err`.
    pub fn relay(outcome: Result<Payload, CallError>) -> Result<Reply, CallError> {
        match outcome {
            Ok(payload) => Ok(Reply::Response(payload)),
            Err(CallError::Failed(payload)) => Ok(Reply::Error(payload)),
            Err(e) => Err(e),
        }
    }
}

impl From<Payload> for Reply {
    fn from(payload: Payload) -> Reply {
        Reply::Response(payload)
    }
}

/// The right to answer one request later (skynet's `skynet.response()`), from any task.
///
/// Every method consumes it. Dropping it unanswered answers the request with ERROR, so its
/// caller never waits forever.
pub struct Responder {
    answer: Rc<Answer>,
}

impl Responder {
    /// Who waits for the answer.
    pub fn source(&self) -> Address {
        self.answer.source
    }

    /// The session of the request.
    pub fn session(&self) -> i32 {
        self.answer.session
    }

    /// Answers with RESPONSE and `payload` (bytes, or a held message sent on without a copy).
    pub fn respond(self, payload: impl Into<Payload>) {
        self.answer.send(ptype::RESPONSE, payload.into());
    }

    /// Answers with `value` packed in the lua format (`skynet.retpack`). If it cannot be
    /// encoded, the request fails with the encoding error, which is also returned.
    pub fn pack<T: Serialize + ?Sized>(self, value: &T) -> Result<(), codec::Error> {
        match codec::to_bytes(value) {
            Ok(bytes) => {
                self.respond(bytes);
                Ok(())
            }
            Err(e) => {
                self.fail(&e.to_string());
                Err(e)
            }
        }
    }

    /// Answers with ERROR carrying `message`.
    pub fn fail(self, message: &str) {
        self.answer.fail(message);
    }

    /// Answers with a [`Reply`]; [`Reply::Later`] fails the request.
    pub fn reply(self, reply: Reply) {
        match reply {
            Reply::Response(payload) => self.answer.send(ptype::RESPONSE, payload),
            Reply::Error(payload) => self.answer.send(ptype::ERROR, payload),
            Reply::Later => self.fail("no answer"),
        }
    }
}

impl fmt::Debug for Responder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Responder({} session {})", self.answer.source, self.answer.session)
    }
}

/// Answers a request with its handler's result, unless a responder took it over.
pub(crate) fn finish(proto: u8, source: Address, answer: Option<Rc<Answer>>, result: Result<Reply>) {
    let describe = || ptype::name(proto).map_or_else(|| proto.to_string(), str::to_owned);
    let open = answer.as_ref().filter(|a| a.state.get() == AnswerState::Open);
    match (open, result) {
        (Some(answer), Ok(Reply::Response(payload))) => answer.send(ptype::RESPONSE, payload),
        (Some(answer), Ok(Reply::Error(payload))) => answer.send(ptype::ERROR, payload),
        (Some(answer), Ok(Reply::Later)) => {
            abi::log(&format!(
                "{} request from {source} got no answer (Reply::Later without a responder)",
                describe()
            ));
            answer.fail("no answer");
        }
        (Some(answer), Err(e)) => {
            abi::log(&format!("{} request from {source} failed: {e}", describe()));
            answer.fail(e.message());
        }
        (None, Err(e)) => abi::log(&format!("{} message from {source} failed: {e}", describe())),
        (None, Ok(_)) => {}
    }
}
