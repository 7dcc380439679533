//! Native unit tests for services: a mock host behind the [`abi`](crate::abi) wrappers, and a
//! [`Harness`] that plays the host's side of ABI.md (start, dispatch, timers, held messages).
//!
//! Only on non-wasm targets. A guest crate tests its service with plain `cargo test`:
//!
//! ```
//! use skybox_sdk::testing::Harness;
//! use skybox_sdk::{Address, Reply, Request, Result, Service, ptype};
//!
//! struct Echo;
//!
//! impl Service for Echo {
//!     async fn start(_args: String) -> Result<Self> {
//!         Ok(Echo)
//!     }
//!
//!     async fn lua(&'static self, request: Request) -> Result<Reply> {
//!         Ok(Reply::values(&request.values()?)?)
//!     }
//! }
//!
//! let harness = Harness::start::<Echo>("");
//! let client = Address(0x42);
//! let session = harness.request_lua(client, &("hello", 42));
//! let answer = harness.answer_to(client, session).expect("answered");
//! assert_eq!(answer.ptype, ptype::RESPONSE);
//! assert_eq!(answer.args::<(String, i64)>().unwrap(), ("hello".to_string(), 42));
//! ```
//!
//! The harness and the mock host are per thread (as a guest is single-threaded); one harness
//! per thread at a time.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::abi::{AbiError, Address, ptype};
use crate::codec::{self, Value};
use crate::message::{Held, Payload};
use crate::{Service, runtime};

mod net;
pub use net::{MockNet, SocketCall};

thread_local! {
    static HOST: RefCell<Option<MockHost>> = const { RefCell::new(None) };
}

/// Runs an import against this thread's mock host.
///
/// # Panics
///
/// When no [`Harness`] is running on this thread: the SDK's host calls only work inside a wasm
/// guest, or natively under a harness.
pub(crate) fn with_host<R>(f: impl FnOnce(&mut MockHost) -> R) -> R {
    HOST.with(|host| {
        let mut host = host.borrow_mut();
        let host = host.as_mut().expect(
            "skybox-sdk: a host import was called outside a wasm guest; \
             natively, run the service under skybox_sdk::testing::Harness",
        );
        f(host)
    })
}

/// Where a message went: an address, or a name the guest sent to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// An address.
    Address(Address),
    /// A name (`.launcher`) or printed address, as passed to `send_name`.
    Name(String),
}

/// A message the guest sent, as the mock host recorded it.
#[derive(Clone, Debug, PartialEq)]
pub struct Sent {
    /// Where it went.
    pub dest: Target,
    /// The source it carried (the guest, unless redirected).
    pub source: Address,
    /// The message type.
    pub ptype: u8,
    /// The session it carried (allocated by the mock for a new request).
    pub session: i32,
    /// The bytes.
    pub payload: Vec<u8>,
    /// Sent by `forward` (a held message), not copied from guest memory.
    pub forwarded: bool,
}

impl Sent {
    /// The payload's values (lua protocol).
    pub fn values(&self) -> Result<Vec<Value>, codec::DecodeError> {
        codec::decode(&self.payload)
    }

    /// The payload decoded as a message into `T` (see [`codec::from_bytes`]).
    pub fn args<T: DeserializeOwned>(&self) -> Result<T, codec::Error> {
        codec::from_bytes(&self.payload)
    }

    /// The payload as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.payload).into_owned()
    }

    /// Did it go to this name?
    pub fn is_to_name(&self, name: &str) -> bool {
        self.dest == Target::Name(name.to_owned())
    }
}

/// A custom command handler, given the command and its parameter (`None`: no parameter):
/// `Some(result)` when it handles the command (`Some(None)` is `ERR_NONE`), `None` to fall back
/// to the mock's built-in commands.
pub type CommandHook = Box<dyn FnMut(&str, Option<&str>) -> Option<Option<String>>>;

/// The host's side of the imports, in memory: it records what the guest sends and logs, keeps
/// held messages, timers, names and an environment.
///
/// Built-in commands: `REG` (without a parameter: the address; with one: a name), `NAME`,
/// `QUERY`, `GETENV`, `SETENV`, `STARTTIME`, `STAT` (always 0), `PROFILE` (`trusted`), `LAUNCH`
/// (records the request,
/// answers a fresh address), `KILL` (the address becomes dead), `EXIT`, `ABORT`; others fail with
/// `ERR_COMMAND` unless a [`CommandHook`] handles them.
pub struct MockHost {
    address: Address,
    next_session: i32,
    now: i64,
    timer_seq: u64,
    timers: BTreeMap<(i64, u64), i32>,
    sent: Vec<Sent>,
    logs: Vec<String>,
    held: BTreeMap<i32, Vec<u8>>,
    next_held: i32,
    forward_types: BTreeSet<u8>,
    names: HashMap<String, Address>,
    env: HashMap<String, String>,
    dead: BTreeSet<Address>,
    next_address: u32,
    launched: Vec<(String, Address)>,
    commands: Vec<(String, Option<String>)>,
    on_command: Option<CommandHook>,
    exited: bool,
    aborted: bool,
    net: MockNet,
}

impl MockHost {
    fn new(address: Address) -> MockHost {
        MockHost {
            address,
            next_session: 0,
            now: 0,
            timer_seq: 0,
            timers: BTreeMap::new(),
            sent: Vec::new(),
            logs: Vec::new(),
            held: BTreeMap::new(),
            next_held: 0,
            forward_types: BTreeSet::new(),
            names: HashMap::new(),
            env: HashMap::new(),
            dead: BTreeSet::new(),
            next_address: 0x100,
            launched: Vec::new(),
            commands: Vec::new(),
            on_command: None,
            exited: false,
            aborted: false,
            net: MockNet::default(),
        }
    }

    /// The mock's sockets.
    pub fn net(&mut self) -> &mut MockNet {
        &mut self.net
    }

    fn session(&mut self, session: i32) -> i32 {
        if session == crate::abi::NEW_SESSION { self.genid() } else { session }
    }

    fn record(
        &mut self,
        dest: Target,
        source: Address,
        ptype: u8,
        session: i32,
        payload: Vec<u8>,
        forwarded: bool,
    ) -> i32 {
        if ptype > ptype::TRACE {
            return AbiError::Arg.code();
        }
        if let Target::Address(a) = dest
            && (a.0 == 0 || self.dead.contains(&a))
        {
            return AbiError::Dest.code();
        }
        let session = self.session(session);
        self.sent.push(Sent { dest, source, ptype, session, payload, forwarded });
        session
    }

    pub(crate) fn send(&mut self, dest: Address, ptype: u8, session: i32, data: &[u8]) -> i32 {
        self.record(Target::Address(dest), self.address, ptype, session, data.to_vec(), false)
    }

    pub(crate) fn send_name(&mut self, name: &str, ptype: u8, session: i32, data: &[u8]) -> i32 {
        let dest = match self.names.get(name) {
            Some(a) => Target::Address(*a),
            None => Target::Name(name.to_owned()),
        };
        self.record(dest, self.address, ptype, session, data.to_vec(), false)
    }

    pub(crate) fn redirect(
        &mut self,
        dest: Address,
        source: Address,
        ptype: u8,
        session: i32,
        data: &[u8],
    ) -> i32 {
        self.record(Target::Address(dest), source, ptype, session, data.to_vec(), false)
    }

    pub(crate) fn forward(&mut self, dest: Address, source: u32, ptype: u8, session: i32, msg: i32) -> i32 {
        let Some(payload) = self.held.remove(&msg) else { return AbiError::Handle.code() };
        let source = if source == 0 { self.address } else { Address(source) };
        self.record(Target::Address(dest), source, ptype, session, payload, true)
    }

    pub(crate) fn msg_read(&mut self, msg: i32, offset: usize, buf: &mut [u8]) -> i32 {
        let Some(data) = self.held.get(&msg) else { return AbiError::Handle.code() };
        let rest = data.get(offset..).unwrap_or_default();
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        n as i32
    }

    pub(crate) fn msg_size(&mut self, msg: i32) -> i32 {
        self.held.get(&msg).map_or(AbiError::Handle.code(), |d| d.len() as i32)
    }

    pub(crate) fn msg_free(&mut self, msg: i32) -> i32 {
        if self.held.remove(&msg).is_some() { 0 } else { AbiError::Handle.code() }
    }

    pub(crate) fn forward_type(&mut self, ptype: u8, on: bool) -> i32 {
        if on {
            self.forward_types.insert(ptype);
        } else {
            self.forward_types.remove(&ptype);
        }
        0
    }

    pub(crate) fn genid(&mut self) -> i32 {
        self.next_session += 1;
        self.next_session
    }

    pub(crate) fn timeout(&mut self, ticks: i32) -> i32 {
        let session = self.genid();
        self.timer_seq += 1;
        self.timers.insert((self.now + i64::from(ticks.max(0)), self.timer_seq), session);
        session
    }

    pub(crate) fn now(&mut self) -> i64 {
        self.now
    }

    pub(crate) fn hpc(&mut self) -> i64 {
        self.now * 10_000_000
    }

    pub(crate) fn self_address(&mut self) -> Address {
        self.address
    }

    /// The file imports: the mock grants no directory, so every call is refused (as a node
    /// does for a guest whose profile grants none).
    pub(crate) fn file_call(&mut self, _path: &str) -> i32 {
        AbiError::Denied.code()
    }

    pub(crate) fn log(&mut self, text: &[u8]) {
        self.logs.push(String::from_utf8_lossy(text).into_owned());
    }

    pub(crate) fn command(&mut self, cmd: &str, param: Option<&str>, out: &mut [u8]) -> i32 {
        self.commands.push((cmd.to_owned(), param.map(str::to_owned)));
        let hooked = self.on_command.as_mut().and_then(|hook| hook(cmd, param));
        let result = match hooked {
            Some(result) => Ok(result),
            None => self.builtin_command(cmd, param),
        };
        match result {
            Ok(Some(text)) => {
                let n = text.len().min(out.len());
                out[..n].copy_from_slice(&text.as_bytes()[..n]);
                text.len() as i32
            }
            Ok(None) => AbiError::None.code(),
            Err(e) => e.code(),
        }
    }

    fn builtin_command(&mut self, cmd: &str, param: Option<&str>) -> Result<Option<String>, AbiError> {
        let Some(param) = param else {
            return Ok(match cmd {
                "REG" => Some(self.address.to_string()),
                "STARTTIME" => Some("1700000000".to_owned()),
                // The mock runs the guest as the operator's own.
                "PROFILE" => Some("trusted".to_owned()),
                "EXIT" => {
                    self.exited = true;
                    None
                }
                "ABORT" => {
                    self.aborted = true;
                    None
                }
                _ => return Err(AbiError::Arg),
            });
        };
        Ok(match cmd {
            "REG" => {
                self.names.insert(param.to_owned(), self.address);
                None
            }
            "NAME" => {
                let (name, address) = param.split_once(' ').ok_or(AbiError::Arg)?;
                self.names.insert(name.to_owned(), address.parse()?);
                None
            }
            "QUERY" => self.names.get(param).map(Address::to_string),
            "GETENV" => self.env.get(param).cloned(),
            "SETENV" => {
                let (key, value) = param.split_once(' ').ok_or(AbiError::Arg)?;
                self.env.insert(key.to_owned(), value.to_owned());
                None
            }
            "STAT" => Some("0".to_owned()),
            "LAUNCH" => {
                let address = Address(self.next_address);
                self.next_address += 1;
                self.launched.push((param.to_owned(), address));
                Some(address.to_string())
            }
            "KILL" => {
                let address = self.names.get(param).copied().map_or_else(|| param.parse(), Ok)?;
                self.dead.insert(address);
                None
            }
            _ => return Err(AbiError::Command),
        })
    }

    pub(crate) fn exit(&mut self) {
        self.exited = true;
    }

    /// Keeps `bytes` as a held message; returns its handle.
    fn hold(&mut self, bytes: &[u8]) -> i32 {
        self.next_held += 1;
        self.held.insert(self.next_held, bytes.to_vec());
        self.next_held
    }

    /// Gives `address` a local name (as another service's `skynet.register` would).
    pub fn set_name(&mut self, name: &str, address: Address) {
        self.names.insert(name.to_owned(), address);
    }

    /// Sets an environment value.
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.env.insert(key.to_owned(), value.to_owned());
    }

    /// Makes `address` dead: sends to it fail with `ERR_DEST`.
    pub fn kill(&mut self, address: Address) {
        self.dead.insert(address);
    }

    /// Handles commands before the built-ins.
    pub fn on_command(&mut self, hook: CommandHook) {
        self.on_command = Some(hook);
    }

    /// Every command the guest ran, in order, as `(cmd, param)`.
    pub fn commands(&self) -> &[(String, Option<String>)] {
        &self.commands
    }

    /// Every `LAUNCH` command, with the address it answered.
    pub fn launched(&self) -> &[(String, Address)] {
        &self.launched
    }

    /// Types currently in forward mode.
    pub fn forward_types(&self) -> &BTreeSet<u8> {
        &self.forward_types
    }

    /// How many held messages the guest still owns (a leak check).
    pub fn held_count(&self) -> usize {
        self.held.len()
    }

    /// The clock, in ticks.
    pub fn now_ticks(&self) -> i64 {
        self.now
    }

    /// How many timers are pending.
    pub fn pending_timers(&self) -> usize {
        self.timers.len()
    }

    /// Did the guest ask to exit?
    pub fn exited(&self) -> bool {
        self.exited
    }

    /// Did the guest abort the node?
    pub fn aborted(&self) -> bool {
        self.aborted
    }
}

/// Runs one [`Service`] natively on the current thread, as the host would run the guest:
/// install it with [`start`](Harness::start), feed it messages, inspect what it sent.
///
/// Messages are dispatched synchronously: when a `deliver`/`request` returns, every task it
/// made ready has run. The harness is tied to its thread; dropping it drops the service's tasks
/// (unanswered requests fail, as when a guest exits) and uninstalls the mock host.
pub struct Harness {
    next_session: std::cell::Cell<i32>,
    _not_send: PhantomData<*const ()>,
}

/// Configures a [`Harness`] before the service starts.
pub struct HarnessBuilder {
    host: MockHost,
}

impl HarnessBuilder {
    /// The guest's address (default `:00000010`).
    pub fn address(mut self, address: Address) -> Self {
        self.host.address = address;
        self
    }

    /// A name known to the host before the start.
    pub fn name(mut self, name: &str, address: Address) -> Self {
        self.host.set_name(name, address);
        self
    }

    /// An environment value.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.host.set_env(key, value);
        self
    }

    /// Whether the guest is granted the network (default: yes); without it every socket import
    /// is refused, as on a node whose `wasm_net` does not name the guest.
    pub fn network(mut self, granted: bool) -> Self {
        self.host.net.granted = granted;
        self
    }

    /// Handles commands before the built-ins.
    pub fn on_command(
        mut self,
        hook: impl FnMut(&str, Option<&str>) -> Option<Option<String>> + 'static,
    ) -> Self {
        self.host.on_command(Box::new(hook));
        self
    }

    /// Installs the mock host and starts `S` with `args` (`skybox_start`).
    ///
    /// # Panics
    ///
    /// If a harness is already running on this thread.
    pub fn start<S: Service>(self, args: &str) -> Harness {
        HOST.with(|host| {
            let mut host = host.borrow_mut();
            assert!(host.is_none(), "skybox-sdk: one Harness per thread at a time");
            *host = Some(self.host);
        });
        let harness = Harness { next_session: std::cell::Cell::new(1_000_000), _not_send: PhantomData };
        runtime::start::<S>(args.to_owned());
        harness
    }
}

impl Harness {
    /// Starts `S` with default settings; see [`HarnessBuilder`].
    pub fn start<S: Service>(args: &str) -> Harness {
        Harness::builder().start::<S>(args)
    }

    /// A builder for a harness with names, environment or command hooks.
    pub fn builder() -> HarnessBuilder {
        HarnessBuilder { host: MockHost::new(Address(0x10)) }
    }

    /// Runs `f` on the mock host.
    pub fn host<R>(&self, f: impl FnOnce(&mut MockHost) -> R) -> R {
        with_host(f)
    }

    /// The guest's address.
    pub fn address(&self) -> Address {
        with_host(|h| h.address)
    }

    /// Delivers one message (`skybox_dispatch`); held if its type is in forward mode.
    pub fn deliver(&self, ptype: u8, session: i32, source: Address, payload: &[u8]) {
        let payload = with_host(|h| {
            if h.forward_types.contains(&ptype) {
                Payload::Held(Held::from_raw(h.hold(payload)))
            } else {
                Payload::Bytes(payload.to_vec())
            }
        });
        runtime::dispatch(ptype, session, source, payload);
    }

    /// Delivers a request from `source` with a fresh session; returns the session.
    pub fn request(&self, source: Address, ptype: u8, payload: &[u8]) -> i32 {
        let session = self.next_session.get();
        self.next_session.set(session + 1);
        self.deliver(ptype, session, source, payload);
        session
    }

    /// Delivers a lua-protocol request (`args` packed as by [`codec::to_bytes`]); returns the
    /// session.
    pub fn request_lua<A: Serialize + ?Sized>(&self, source: Address, args: &A) -> i32 {
        let payload = codec::to_bytes(args).expect("request arguments encode");
        self.request(source, ptype::LUA, &payload)
    }

    /// Delivers a one-way lua-protocol message.
    pub fn send_lua<A: Serialize + ?Sized>(&self, source: Address, args: &A) {
        let payload = codec::to_bytes(args).expect("message arguments encode");
        self.deliver(ptype::LUA, 0, source, &payload);
    }

    /// Takes every message sent since the last call.
    pub fn take_sent(&self) -> Vec<Sent> {
        with_host(|h| std::mem::take(&mut h.sent))
    }

    /// Takes the answer (RESPONSE or ERROR) sent to `source` for `session`, if there is one.
    pub fn answer_to(&self, source: Address, session: i32) -> Option<Sent> {
        with_host(|h| {
            let at = h.sent.iter().position(|s| {
                s.dest == Target::Address(source)
                    && s.session == session
                    && (s.ptype == ptype::RESPONSE || s.ptype == ptype::ERROR)
            })?;
            Some(h.sent.remove(at))
        })
    }

    /// Takes the requests (messages with a session, not answers) the guest sent.
    pub fn take_requests(&self) -> Vec<Sent> {
        with_host(|h| {
            let (requests, rest) = std::mem::take(&mut h.sent)
                .into_iter()
                .partition(|s| s.session != 0 && s.ptype != ptype::RESPONSE && s.ptype != ptype::ERROR);
            h.sent = rest;
            requests
        })
    }

    /// Where a sent message came back from: its destination's address, resolving names the
    /// host knows (0 for unknown names).
    fn responder_of(&self, request: &Sent) -> Address {
        match &request.dest {
            Target::Address(a) => *a,
            Target::Name(name) => with_host(|h| h.names.get(name).copied()).unwrap_or_default(),
        }
    }

    /// Answers a request the guest sent, with RESPONSE and `payload`.
    pub fn respond(&self, request: &Sent, payload: &[u8]) {
        self.deliver(ptype::RESPONSE, request.session, self.responder_of(request), payload);
    }

    /// Answers a request the guest sent with RESPONSE, `values` packed as by
    /// [`codec::to_bytes`].
    pub fn respond_lua<A: Serialize + ?Sized>(&self, request: &Sent, values: &A) {
        self.respond(request, &codec::to_bytes(values).expect("answer encodes"));
    }

    /// Fails a request the guest sent (ERROR with `message`).
    pub fn fail(&self, request: &Sent, message: &str) {
        self.deliver(ptype::ERROR, request.session, self.responder_of(request), message.as_bytes());
    }

    /// Moves the clock by `ticks` and fires the timers now due, in order (each one a RESPONSE
    /// from address 0). `advance(0)` fires `sleep(0)`/`yield_now` timers.
    pub fn advance(&self, ticks: i64) {
        with_host(|h| h.now += ticks);
        loop {
            let due = with_host(|h| {
                let (&key, _) = h.timers.first_key_value()?;
                if key.0 > h.now {
                    return None;
                }
                h.timers.remove(&key)
            });
            match due {
                Some(session) => self.deliver(ptype::RESPONSE, session, Address(0), &[]),
                None => break,
            }
        }
    }

    /// Runs the tasks that are ready (e.g. spawned by the test itself, outside any message), as
    /// the end of a dispatch would.
    pub fn run_ready(&self) {
        runtime::settle();
    }

    /// Every log line so far.
    pub fn logs(&self) -> Vec<String> {
        with_host(|h| h.logs.clone())
    }

    /// Did the guest exit?
    pub fn exited(&self) -> bool {
        with_host(|h| h.exited)
    }

    /// How many tasks are alive in the guest.
    pub fn task_count(&self) -> usize {
        runtime::task_count()
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        runtime::reset();
        HOST.with(|host| host.borrow_mut().take());
    }
}
