//! Record and replay of one service (docs/RECORD.md).
//!
//! A recorded service carries a [`Tape`]: every runtime asks it for what a service cannot
//! compute from its own state — the messages it is handed, what its sends and skynet commands
//! answered, clocks, random seeds, the results of host calls and guest imports — and a
//! recording tape writes each answer down as it is given. A replay runs the same code against a
//! replaying tape, which gives the recorded answers back in the same order, performs nothing
//! (no send leaves, no command runs, no socket opens) and stops with `replay diverged at entry
//! N` the moment the service asks for something other than what comes next.
//!
//! The core asks at three places (the worker's dispatch, the send path, the commands); the
//! runtimes for their clocks, seeds, host calls and code (`lua/recorded.rs`,
//! `wasm/recorded.rs`). `format` is the file, `writer` writes it, `replay` is
//! `skybox replay`.

pub(crate) mod format;
pub mod replay;
mod writer;

use std::path::PathBuf;

use parking_lot::Mutex;
use sha2::{Digest, Sha256};

use crate::core::logger::capture;
use crate::core::message::{Handle, Message};
use crate::core::node::{Dest, Node, SendError};
use crate::core::service::Service;
use format::{Answer, ClockKind, Ending, Entry, outcome, send_result};
use writer::Writer;

pub(crate) use format::ClockKind as Clock;

/// `recordpath` when the config has none.
const DEFAULT_RECORDPATH: &str = "./records";
/// `recordlimit` when the config has none: 100 MiB.
const DEFAULT_RECORDLIMIT: usize = 100 * 1024 * 1024;

/// A service's recording or replay. Used by the thread running the service (the lock is never
/// contended; it is there because the service, which holds the tape, is shared).
pub(crate) struct Tape {
    replaying: bool,
    mode: Mutex<Mode>,
}

enum Mode {
    Record(Writer),
    Replay(Replayer),
}

impl Tape {
    /// Whether this tape replays (the service must perform nothing).
    #[inline]
    pub(crate) fn replaying(&self) -> bool {
        self.replaying
    }

    fn write(&self, entry: &Entry<'_>, hint: usize) {
        if let Mode::Record(writer) = &mut *self.mode.lock() {
            writer.append(entry, hint);
        }
    }

    /// Runs `f` with the replay (only called when `replaying`).
    fn replayer<R>(&self, f: impl FnOnce(&mut Replayer) -> R) -> R {
        match &mut *self.mode.lock() {
            Mode::Replay(replayer) => f(replayer),
            Mode::Record(_) => unreachable!("a recording tape has no replay"),
        }
    }

    /// The lines the host logged while performing a command or send.
    fn write_lines(&self, lines: &[(Handle, String)]) {
        for (source, text) in lines {
            self.write(&Entry::Log { source: *source, text }, text.len());
        }
    }

    /// A message the worker is about to hand to the service.
    #[inline]
    pub(crate) fn message(&self, msg: &Message) {
        let entry = Entry::Message {
            ptype: msg.ptype,
            session: msg.session,
            source: msg.source,
            data: format::Bytes(&msg.data),
        };
        self.write(&entry, msg.data.len());
    }

    /// A send: `deliver` sends it when recording; a replay checks it against the record and
    /// answers what the send answered then.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn send(
        &self,
        source: Handle,
        dest: Dest<'_>,
        ptype: u8,
        session: i32,
        data: Vec<u8>,
        deliver: impl FnOnce(Vec<u8>) -> Result<(), SendError>,
    ) -> Result<(), SendError> {
        let dest = match dest {
            Dest::Handle(handle) => format::Dest::Handle(handle),
            Dest::Name(name) => format::Dest::Name(name),
        };
        let (size, crc) = (data.len() as u32, crc32fast::hash(&data));
        let mut entry = Entry::Send { source, dest, ptype, session, size, crc, result: send_result::OK };
        if !self.replaying {
            let (sent, lines) = capture(|| deliver(data));
            if let Entry::Send { result, .. } = &mut entry {
                *result = match &sent {
                    Ok(()) => send_result::OK,
                    Err(SendError::NoDestination) => send_result::NO_DESTINATION,
                    Err(SendError::Denied) => send_result::DENIED,
                    Err(SendError::Full) => send_result::FULL,
                };
            }
            self.write(&entry, 0);
            self.write_lines(&lines);
            return sent;
        }
        match self.replayer(|r| {
            let result = r.sent(&entry);
            r.log_lines();
            result
        }) {
            send_result::OK => Ok(()),
            send_result::NO_DESTINATION => Err(SendError::NoDestination),
            send_result::DENIED => Err(SendError::Denied),
            _ => Err(SendError::Full),
        }
    }

    /// A skynet command: `run` runs it when recording; a replay answers what it answered then
    /// and sets the service's session counter as it was after it (TIMEOUT takes a session).
    pub(crate) fn command(
        &self,
        service: &Service,
        cmd: &str,
        param: Option<&str>,
        run: impl FnOnce() -> anyhow::Result<Option<String>>,
    ) -> anyhow::Result<Option<String>> {
        if !self.replaying {
            let (result, lines) = capture(run);
            let error;
            let answer = match &result {
                Ok(None) => Answer::Null,
                Ok(Some(text)) => Answer::Text(text),
                Err(err) => {
                    error = format!("{err:#}");
                    Answer::Error(&error)
                }
            };
            self.write(&Entry::Command { cmd, param, answer, session: service.session() }, 0);
            self.write_lines(&lines);
            return result;
        }
        let (answer, session) = self.replayer(|r| {
            let what = format!("ran command {cmd} {}", param.unwrap_or(""));
            let taken = r.take(
                &what,
                |e| matches!(e, Entry::Command { cmd: c, param: p, .. } if *c == cmd && *p == param),
            );
            r.log_lines();
            match taken {
                Entry::Command { answer, session, .. } => (answer, session),
                _ => unreachable!("taken by kind"),
            }
        });
        service.restore_session(session);
        match answer {
            Answer::Null => Ok(None),
            Answer::Text(text) => Ok(Some(text.to_string())),
            Answer::Error(text) => Err(anyhow::anyhow!("{text}")),
        }
    }

    /// A clock read.
    #[inline]
    pub(crate) fn clock(&self, clock: ClockKind, read: impl FnOnce() -> u64) -> u64 {
        if !self.replaying {
            let value = read();
            self.write(&Entry::Clock { clock, value }, 0);
            return value;
        }
        self.replayer(|r| {
            match r.take(
                &format!("read the clock {clock:?}"),
                |e| matches!(e, Entry::Clock { clock: c, .. } if *c == clock),
            ) {
                Entry::Clock { value, .. } => value,
                _ => unreachable!("taken by kind"),
            }
        })
    }

    /// Writes down what a host call (a Lua function of the host, a guest import) named `name`
    /// came to; `args`: a CRC-32 of its arguments (0: not checked). Recording only.
    pub(crate) fn keep(&self, service: &Service, name: &str, args: u32, called: Called<'_>) {
        let (outcome, data) = match called {
            Called::Returned(bytes) => (outcome::RETURNED, bytes),
            Called::Raised(text) => (outcome::RAISED, text.as_bytes()),
            Called::Unrecordable(why) => (outcome::UNRECORDABLE, why.as_bytes()),
        };
        let entry =
            Entry::Call { name, args, outcome, data: format::Bytes(data), session: service.session() };
        self.write(&entry, data.len());
    }

    /// What the host call `name` came to when recorded (replaying only; it is not called), with
    /// the session counter set as it was after it. A call with other arguments diverges (unless
    /// changed code is allowed); one whose results a record could not hold ends the replay.
    pub(crate) fn give(&self, service: &Service, name: &str, args: u32) -> Called<'static> {
        let (outcome, data, session) = self.replayer(|r| {
            let what = format!("called {name}");
            let taken = r.take(&what, |e| matches!(e, Entry::Call { name: n, .. } if *n == name));
            let Entry::Call { args: recorded, outcome, data, session, .. } = taken else {
                unreachable!("taken by kind")
            };
            if recorded != args && recorded != 0 && args != 0 && !r.changed_code_allowed {
                replay::stop(
                    1,
                    &format!(
                        "replay diverged at entry {}: the service called {name} with other arguments",
                        r.next
                    ),
                );
            }
            (outcome, data.0, session)
        });
        service.restore_session(session);
        let text = std::str::from_utf8(data).unwrap_or("(not UTF-8)");
        match outcome {
            outcome::RETURNED => Called::Returned(data),
            outcome::RAISED => Called::Raised(text),
            _ => replay::stop(
                1,
                &format!("replay cannot go on: {name} returned values a record cannot hold ({text})"),
            ),
        }
    }

    /// Code the service loads (`name`, its bytes): recorded by hash; a replay notes code that
    /// changed since, and stops on it unless changed code is allowed.
    pub(crate) fn code(&self, name: &str, bytes: &[u8]) {
        self.code_hash(name, Sha256::digest(bytes).into());
    }

    /// As [`Tape::code`], with the SHA-256 of the code's bytes.
    pub(crate) fn code_hash(&self, name: &str, hash: [u8; 32]) {
        if !self.replaying {
            return self.write(&Entry::Code { name, hash }, name.len());
        }
        self.replayer(|r| {
            if r.changed_code_allowed {
                // A fix may load other files, or the same from elsewhere (`--set lua_path=`):
                // the code's place in the record is taken, whatever it names.
                if let Some(Entry::Code { .. }) = r.entries.get(r.next) {
                    r.next += 1;
                }
                return;
            }
            let Entry::Code { hash: recorded, .. } =
                r.take(&format!("loaded {name}"), |e| matches!(e, Entry::Code { name: n, .. } if *n == name))
            else {
                unreachable!("taken by kind")
            };
            if recorded != hash {
                r.changed(name);
            }
        })
    }

    /// At the end of a replay, once the runtime is dropped (its finalizers ran): what the
    /// record holds beyond is a divergence.
    pub(crate) fn replayed_all(&self) {
        self.replayer(|r| {
            r.skip_changed();
            if let Some(entry) = r.entries.get(r.next) {
                replay::stop(
                    1,
                    &format!(
                        "replay diverged at entry {}: the service ended; the record has {entry}",
                        r.next + 1
                    ),
                );
            }
        })
    }

    /// Notes why the service is going (it exited or was killed, or the node stops): its last
    /// message may still be running, so the end mark waits for [`Tape::finish`].
    pub(crate) fn retired(&self, node_stopping: bool) {
        if let Mode::Record(writer) = &mut *self.mode.lock() {
            writer.reason = if node_stopping { "the node stopped" } else { "the service exited" };
        }
    }

    /// Ends a recording once the runtime is gone: writes the end mark.
    pub(crate) fn finish(&self) {
        if let Mode::Record(writer) = &mut *self.mode.lock() {
            writer.finish();
        }
    }
}

/// What came of a host call (see [`Tape::keep`]).
pub(crate) enum Called<'a> {
    /// Its results, encoded (Lua values as `skynet.pack` does; a guest import's answer).
    Returned(&'a [u8]),
    /// The text of the error it raised.
    Raised(&'a str),
    /// It returned what a record cannot hold: why.
    Unrecordable(&'a str),
}

/// Gives back a record's entries in order (see [`Tape`]).
struct Replayer {
    entries: Vec<Entry<'static>>,
    next: usize,
    ending: Ending,
    /// `--allow-changed-code`: sends are not compared (a fix may send other things) and
    /// changed code is noted, not fatal.
    changed_code_allowed: bool,
    /// The index of the last `Message` entry.
    last_message: Option<usize>,
}

impl Replayer {
    /// The next entry, which `accept` must take; anything else is a divergence. With changed
    /// code allowed, recorded sends the replay did not make are passed over.
    fn take(&mut self, what: &str, accept: impl Fn(&Entry<'_>) -> bool) -> Entry<'static> {
        loop {
            let entry = match self.entries.get(self.next) {
                Some(entry) => entry.clone(),
                None => self.ran_out(what),
            };
            if accept(&entry) {
                self.next += 1;
                return entry;
            }
            if self.changed_code_allowed
                && matches!(entry, Entry::Send { .. } | Entry::Log { .. } | Entry::Code { .. })
            {
                self.next += 1;
                continue;
            }
            replay::stop(
                1,
                &format!(
                    "replay diverged at entry {}: the service {what}; the record has {entry}",
                    self.next + 1
                ),
            );
        }
    }

    /// Logs the host's lines recorded after the entry just taken.
    fn log_lines(&mut self) {
        while let Some(Entry::Log { source, text }) = self.entries.get(self.next) {
            replay::log(*source, text);
            self.next += 1;
        }
    }

    /// A send the replay made; the recorded result.
    fn sent(&mut self, made: &Entry<'_>) -> u8 {
        let recorded = self.entries.get(self.next).cloned();
        match recorded {
            Some(Entry::Send { result, .. }) if self.changed_code_allowed => {
                self.next += 1;
                result
            }
            // A fix may send more than the bug did.
            _ if self.changed_code_allowed => send_result::OK,
            Some(entry @ Entry::Send { result, .. }) => {
                let mut same = made.clone();
                if let Entry::Send { result: r, .. } = &mut same {
                    *r = result;
                }
                if same != entry {
                    replay::stop(
                        1,
                        &format!(
                            "replay diverged at entry {}: the service made a {made}; the record has {entry}",
                            self.next + 1
                        )
                        .replace(" -> sent;", ";"),
                    );
                }
                self.next += 1;
                result
            }
            _ => {
                let text = format!("{made}");
                let what = text.trim_end_matches(" -> sent");
                self.take(&format!("made a {what}"), |_| false);
                unreachable!("take stops the replay")
            }
        }
    }

    /// The next message, at the end of a handler; `None` when the record has no message left
    /// (what follows the last one is the service's end: its finalizers, when it is dropped).
    fn next_message(&mut self) -> Option<Message> {
        self.skip_changed();
        if self.last_message.is_none_or(|last| self.next > last) {
            return None;
        }
        let entry = self.take("finished handling its message", |e| matches!(e, Entry::Message { .. }));
        let Entry::Message { ptype, session, source, data } = entry else { unreachable!("taken by kind") };
        Some(Message { source, session, ptype, data: data.0.to_vec() })
    }

    /// With changed code allowed, passes over what the recorded code did that the replayed
    /// one may not do: sends, the host's lines about them, loads.
    fn skip_changed(&mut self) {
        while self.changed_code_allowed
            && matches!(
                self.entries.get(self.next),
                Some(Entry::Send { .. } | Entry::Log { .. } | Entry::Code { .. })
            )
        {
            self.next += 1;
        }
    }

    fn changed(&mut self, name: &str) {
        if self.changed_code_allowed {
            // The replay's first line named the files it could find (see `replay`).
        } else {
            replay::stop(
                1,
                &format!(
                    "replay: {name} changed since the record (entry {}); --allow-changed-code replays anyway",
                    self.next
                ),
            );
        }
    }

    fn ran_out(&self, what: &str) -> ! {
        let n = self.entries.len();
        match &self.ending {
            Ending::Closed(reason) => replay::stop(
                1,
                &format!(
                    "replay diverged after the last entry ({n}): the service {what}; the record ended ({reason})"
                ),
            ),
            Ending::Limited(limit) => replay::stop(
                0,
                &format!(
                    "replay: the record stops at entry {n} (recordlimit {limit} reached); replayed up to there"
                ),
            ),
            Ending::Unfinished => replay::stop(
                0,
                &format!(
                    "replay: the record stops at entry {n} with no end mark (the recording process stopped); replayed up to there"
                ),
            ),
        }
    }
}

/// Starts recording `service` if the config's `record` names it (`args`: its launch
/// arguments, the service's name first). Called at launch, before the runtime is built. A
/// record that cannot be opened is a log line; the service runs unrecorded.
pub(crate) fn attach(node: &Node, service: &Service, runtime: &str, args: &str, name: &str) {
    if service.tape().is_some() || !matches!(runtime, "snlua" | "wasm") {
        return;
    }
    let Some(names) = node.getenv("record") else { return };
    if name.is_empty() || !names.split(',').any(|n| n.trim() == name) {
        return;
    }
    match open(node, service, runtime, args, name) {
        Ok(tape) => {
            service.set_tape(tape);
        }
        Err(err) => node.log(service.handle(), format!("cannot record {name}: {err:#}")),
    }
}

fn open(node: &Node, service: &Service, runtime: &str, args: &str, name: &str) -> anyhow::Result<Tape> {
    use anyhow::Context as _;
    let dir = PathBuf::from(node.getenv("recordpath").unwrap_or_else(|| DEFAULT_RECORDPATH.into()));
    let limit = match node.getenv("recordlimit") {
        Some(text) => {
            text.trim().parse().with_context(|| format!("recordlimit must be a byte count, got {text}"))?
        }
        None => DEFAULT_RECORDLIMIT,
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create recordpath {}", dir.display()))?;
    let file: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || "_.-".contains(c) { c } else { '_' }).collect();
    let stem = format!("{file}-{:08x}", service.handle());
    let mut config = node.env_snapshot();
    config.sort();
    let header = format::Header {
        skybox: format!("{} ({})", env!("CARGO_PKG_VERSION"), crate::lua::LUA_RELEASE),
        runtime: runtime.into(),
        args: args.into(),
        handle: service.handle(),
        threads: node.threads() as u32,
        started_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
        hash_seed: crate::lua::hash_seed(),
        library: crate::lua::library_hash(),
        config,
    };
    // A restarted node reuses addresses: an earlier record of the same address (the crash being
    // investigated) is kept, and this one takes the next free `.N`.
    for n in 0..1000 {
        let path = match n {
            0 => dir.join(format!("{stem}.record")),
            n => dir.join(format!("{stem}.{n}.record")),
        };
        match Writer::create(&path, &header, limit) {
            Ok(writer) => return Ok(Tape { replaying: false, mode: Mutex::new(Mode::Record(writer)) }),
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(err) => return Err(err).with_context(|| format!("cannot create {}", path.display())),
        }
    }
    anyhow::bail!("{} holds a thousand records of {stem} already", dir.display())
}

/// A replaying tape over `record`'s entries.
fn replaying(record: format::Record<'static>, changed_code_allowed: bool) -> Tape {
    let last_message = record.entries.iter().rposition(|e| matches!(e, Entry::Message { .. }));
    let replayer = Replayer {
        entries: record.entries,
        next: 0,
        ending: record.ending,
        changed_code_allowed,
        last_message,
    };
    Tape { replaying: true, mode: Mutex::new(Mode::Replay(replayer)) }
}
