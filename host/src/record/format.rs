//! The record file (docs/RECORD.md): a preamble, then frames. A frame is `len: u32 LE`,
//! `crc: u32 LE` (CRC-32 of the body) and `len` bytes of postcard; the first frame is the
//! [`Header`], each later one an [`Entry`]. Every integer is little-endian or a postcard varint,
//! so a file replays on any machine. A frame of zero length ends the entries: the zeroed tail of
//! a file whose writer never closed it, or a frame it was writing when it died (the length is
//! written last).

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The file's first eight bytes.
pub(crate) const MAGIC: &[u8; 8] = b"SKYBOXRC";
/// The format this build writes and reads.
pub(crate) const VERSION: u16 = 1;
/// `MAGIC`, `VERSION` (u16 LE), two zero bytes.
pub(crate) const PREAMBLE: usize = 12;
/// A frame's `len` and `crc`.
pub(crate) const FRAME_HEADER: usize = 8;

/// Who was recorded, from what, and the process-wide state a replay must set up again.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub(crate) struct Header {
    /// The skybox build that wrote the file: its version and its Lua (`0.1.0 (Lua 5.4)`; a
    /// record written before builds had a choice of Lua names the version alone, and Lua 5.4).
    pub(crate) skybox: String,
    /// `snlua` or `wasm`.
    pub(crate) runtime: String,
    /// The launch arguments after the runtime, options (`--profile=`...) included.
    pub(crate) args: String,
    /// The service's address.
    pub(crate) handle: u32,
    /// Worker threads of the recording node (for the reader: replay runs on one).
    pub(crate) threads: u32,
    /// When recording started, Unix milliseconds.
    pub(crate) started_ms: u64,
    /// The Lua string-hash seed of the process (the order of `pairs` over string keys).
    pub(crate) hash_seed: u32,
    /// SHA-256 of the Lua library built into the binary (`lua-guest`).
    pub(crate) library: [u8; 32],
    /// The node's config, as `skynet.getenv` saw it at the launch.
    pub(crate) config: Vec<(String, String)>,
}

/// One thing the service observed or did, in the order it happened.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub(crate) enum Entry<'a> {
    /// A message handed to the service (dispatch order).
    Message {
        ptype: u8,
        session: i32,
        source: u32,
        #[serde(borrow)]
        data: Bytes<'a>,
    },
    /// A message the service sent: checked on replay, which sends nothing; `result` is what the
    /// send returned (see [`send_result`]).
    Send { source: u32, dest: Dest<'a>, ptype: u8, session: i32, size: u32, crc: u32, result: u8 },
    /// A skynet command and its answer; `session`: the service's session counter after it.
    Command { cmd: &'a str, param: Option<&'a str>, answer: Answer<'a>, session: i32 },
    /// A clock read.
    Clock { clock: ClockKind, value: u64 },
    /// A host call: `args`, a CRC-32 of its arguments (0: not checked); what came of it
    /// ([`outcome`]): its results (Lua values packed as `skynet.pack` does, or what a guest
    /// import answered and wrote), or the text of its error; `session` as for `Command`.
    Call {
        name: &'a str,
        args: u32,
        outcome: u8,
        #[serde(borrow)]
        data: Bytes<'a>,
        session: i32,
    },
    /// A line the host logged while it performed the command or send just before (a replay,
    /// which performs neither, logs it from here).
    Log { source: u32, text: &'a str },
    /// Code the service loaded, with the SHA-256 of its bytes.
    Code { name: &'a str, hash: [u8; 32] },
    /// `recordlimit` was reached: nothing the service did after this is in the file.
    Limit { limit: u64 },
    /// Recording stopped (the service exited, the node stopped).
    End { reason: &'a str },
}

/// Where a message went, as the service named it.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq)]
pub(crate) enum Dest<'a> {
    Handle(u32),
    Name(&'a str),
}

/// A command's answer: skynet's NULL, a text, or an error.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq)]
pub(crate) enum Answer<'a> {
    Null,
    Text(&'a str),
    Error(&'a str),
}

/// The clocks a service reads.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq)]
pub(crate) enum ClockKind {
    /// `skynet.now`: centiseconds since the node started.
    Now,
    /// `skynet.hpc`: nanoseconds, monotonic.
    Hpc,
}

/// What came of a host call.
pub(crate) mod outcome {
    /// It returned; `data` holds its results.
    pub(crate) const RETURNED: u8 = 0;
    /// It raised; `data` holds the error's text.
    pub(crate) const RAISED: u8 = 1;
    /// It returned values a record cannot hold (a Lua function, a userdata): `data` says which;
    /// a replay cannot go past it.
    pub(crate) const UNRECORDABLE: u8 = 2;
}

/// Send outcomes: 0 delivered, then `SendError`'s variants.
pub(crate) mod send_result {
    pub(crate) const OK: u8 = 0;
    pub(crate) const NO_DESTINATION: u8 = 1;
    pub(crate) const DENIED: u8 = 2;
    pub(crate) const FULL: u8 = 3;
}

/// A byte string, encoded as postcard bytes (a length, then the bytes) and read without a copy.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bytes<'a>(pub(crate) &'a [u8]);

impl fmt::Debug for Bytes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} bytes", self.0.len())
    }
}

impl Serialize for Bytes<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.0)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Bytes<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Borrowed;
        impl<'de> Visitor<'de> for Borrowed {
            type Value = Bytes<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("bytes")
            }
            fn visit_borrowed_bytes<E: de::Error>(self, v: &'de [u8]) -> Result<Bytes<'de>, E> {
                Ok(Bytes(v))
            }
        }
        d.deserialize_bytes(Borrowed)
    }
}

/// The preamble this build writes.
pub(crate) fn preamble() -> [u8; PREAMBLE] {
    let mut p = [0; PREAMBLE];
    p[..8].copy_from_slice(MAGIC);
    p[8..10].copy_from_slice(&VERSION.to_le_bytes());
    p
}

/// Writes `value` as one frame at the start of `buf`; the bytes it took, or `None` (nothing
/// meaningful written) when it does not fit.
pub(crate) fn put_frame<T: Encode>(value: &T, buf: &mut [u8]) -> Option<usize> {
    if buf.len() <= FRAME_HEADER {
        return None;
    }
    let (head, body) = buf.split_at_mut(FRAME_HEADER);
    let len = value.encode(body)?;
    let crc = crc32fast::hash(&body[..len]);
    // The length last: until it is written the frame reads as the end of the entries, so a
    // process killed in the middle of a frame leaves a record that ends before it.
    head[4..].copy_from_slice(&crc.to_le_bytes());
    head[..4].copy_from_slice(&(len as u32).to_le_bytes());
    Some(FRAME_HEADER + len)
}

/// What a frame holds: postcard's encoding into a slice, its length (`None` if it does not fit).
pub(crate) trait Encode {
    fn encode(&self, out: &mut [u8]) -> Option<usize>;
}

impl Encode for Header {
    fn encode(&self, out: &mut [u8]) -> Option<usize> {
        Some(postcard::to_slice(self, out).ok()?.len())
    }
}

impl Encode for Entry<'_> {
    /// The two entries every message of a recorded service writes are encoded here, byte for
    /// byte as postcard does (a test holds them to it) in a fifth of serde's instructions; the
    /// rest by postcard.
    fn encode(&self, out: &mut [u8]) -> Option<usize> {
        let mut w = Out { buf: out, at: 0 };
        match *self {
            Entry::Message { ptype, session, source, data } => {
                w.varint(0)?;
                w.byte(ptype)?;
                w.varint(zigzag(session))?;
                w.varint(source)?;
                w.varint(u32::try_from(data.0.len()).ok()?)?;
                w.bytes(data.0)?;
            }
            Entry::Send { source, dest, ptype, session, size, crc, result } => {
                w.varint(1)?;
                w.varint(source)?;
                match dest {
                    Dest::Handle(handle) => {
                        w.varint(0)?;
                        w.varint(handle)?;
                    }
                    Dest::Name(name) => {
                        w.varint(1)?;
                        w.varint(u32::try_from(name.len()).ok()?)?;
                        w.bytes(name.as_bytes())?;
                    }
                }
                w.byte(ptype)?;
                w.varint(zigzag(session))?;
                w.varint(size)?;
                w.varint(crc)?;
                w.byte(result)?;
            }
            _ => return Some(postcard::to_slice(self, out).ok()?.len()),
        }
        Some(w.at)
    }
}

/// A cursor writing postcard's primitives.
struct Out<'a> {
    buf: &'a mut [u8],
    at: usize,
}

impl Out<'_> {
    #[inline]
    fn byte(&mut self, b: u8) -> Option<()> {
        *self.buf.get_mut(self.at)? = b;
        self.at += 1;
        Some(())
    }

    /// LEB128, as postcard writes every integer wider than a byte.
    #[inline]
    fn varint(&mut self, mut n: u32) -> Option<()> {
        while n >= 0x80 {
            self.byte(n as u8 | 0x80)?;
            n >>= 7;
        }
        self.byte(n as u8)
    }

    #[inline]
    fn bytes(&mut self, b: &[u8]) -> Option<()> {
        self.buf.get_mut(self.at..self.at + b.len())?.copy_from_slice(b);
        self.at += b.len();
        Some(())
    }
}

fn zigzag(n: i32) -> u32 {
    ((n << 1) ^ (n >> 31)) as u32
}

/// How a file's entries end.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Ending {
    /// An `End` entry: the recording was closed.
    Closed(String),
    /// A `Limit` entry: `recordlimit` cut the recording short.
    Limited(u64),
    /// No end mark: the recording process stopped without closing the file.
    Unfinished,
}

/// A whole record file, checked frame by frame.
#[derive(Debug)]
pub(crate) struct Record<'a> {
    pub(crate) header: Header,
    pub(crate) entries: Vec<Entry<'a>>,
    pub(crate) ending: Ending,
}

/// Reads and checks `bytes`: the preamble, then every frame's length, checksum and encoding.
/// The error is one line saying what is wrong and where. The entries borrow `bytes`.
pub(crate) fn read(bytes: &[u8]) -> Result<Record<'_>, String> {
    if bytes.len() < PREAMBLE || &bytes[..8] != MAGIC {
        return Err("not a skybox record (no SKYBOXRC preamble)".into());
    }
    let version = u16::from_le_bytes([bytes[8], bytes[9]]);
    if version != VERSION {
        return Err(format!("record format version {version}; this skybox reads version {VERSION}"));
    }
    let mut at = PREAMBLE;
    let header = match frame(bytes, at) {
        Frame::Body(body) => {
            postcard::from_bytes::<Header>(body).map_err(|e| format!("corrupt header at byte {at}: {e}"))?
        }
        Frame::Bad(why) => return Err(format!("{why} (the header, at byte {at})")),
        Frame::Blank => return Err(format!("the header at byte {at} is missing")),
    };
    at += FRAME_HEADER + body_len(bytes, at);
    let mut entries = Vec::new();
    loop {
        let n = entries.len() + 1;
        let body = match frame(bytes, at) {
            Frame::Body(body) => body,
            Frame::Blank => {
                return Ok(Record { header, entries, ending: Ending::Unfinished });
            }
            Frame::Bad(why) => return Err(format!("{why} (entry {n}, at byte {at})")),
        };
        let entry: Entry<'_> =
            postcard::from_bytes(body).map_err(|e| format!("corrupt entry {n} at byte {at}: {e}"))?;
        at += FRAME_HEADER + body.len();
        match entry {
            Entry::End { reason } => {
                if bytes[at..].iter().any(|&b| b != 0) {
                    return Err(format!("data after the end mark (entry {n}, at byte {at})"));
                }
                return Ok(Record { header, entries, ending: Ending::Closed(reason.to_string()) });
            }
            Entry::Limit { limit } => {
                // Only the end mark may follow.
                let ending = match frame(bytes, at) {
                    Frame::Body(body) if matches!(postcard::from_bytes(body), Ok(Entry::End { .. })) => {
                        Ending::Limited(limit)
                    }
                    Frame::Blank => Ending::Limited(limit),
                    _ => return Err(format!("data after the recordlimit mark (entry {n}, at byte {at})")),
                };
                return Ok(Record { header, entries, ending });
            }
            entry => entries.push(entry),
        }
    }
}

enum Frame<'a> {
    Body(&'a [u8]),
    /// End of file, or zeroes: nothing more was written.
    Blank,
    Bad(String),
}

fn body_len(bytes: &[u8], at: usize) -> usize {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize
}

fn frame(bytes: &[u8], at: usize) -> Frame<'_> {
    let rest = &bytes[at..];
    if rest.len() < FRAME_HEADER && rest.iter().all(|&b| b == 0) {
        return Frame::Blank;
    }
    if rest.len() < FRAME_HEADER {
        return Frame::Bad(format!("truncated: {} bytes left, a frame needs {FRAME_HEADER}", rest.len()));
    }
    let len = body_len(bytes, at);
    let crc = u32::from_le_bytes(rest[4..8].try_into().expect("4 bytes"));
    if len == 0 {
        // Nothing more was committed (see `put_frame`).
        return Frame::Blank;
    }
    let Some(body) = rest.get(FRAME_HEADER..FRAME_HEADER + len) else {
        return Frame::Bad(format!(
            "truncated: a frame of {len} bytes, the file ends {} bytes after its start",
            rest.len() - FRAME_HEADER
        ));
    };
    if crc32fast::hash(body) != crc {
        return Frame::Bad("corrupt: checksum mismatch".into());
    }
    Frame::Body(body)
}

impl fmt::Display for Entry<'_> {
    /// One line, as `skybox replay --dump` prints it and divergence reports name it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Entry::Message { ptype, session, source, data } => write!(
                f,
                "message type={ptype} session={session} from :{source:08x} size={} {}",
                data.0.len(),
                preview(data.0)
            ),
            Entry::Send { source, dest, ptype, session, size, crc, result } => {
                write!(f, "send type={ptype} session={session} to ")?;
                match dest {
                    Dest::Handle(h) => write!(f, ":{h:08x}")?,
                    Dest::Name(n) => write!(f, "{n}")?,
                }
                write!(f, " as :{source:08x} size={size} crc={crc:08x} -> ")?;
                f.write_str(match *result {
                    send_result::OK => "sent",
                    send_result::NO_DESTINATION => "no destination",
                    send_result::DENIED => "denied",
                    _ => "full",
                })
            }
            Entry::Command { cmd, param, answer, .. } => {
                write!(f, "command {cmd}")?;
                if let Some(p) = param {
                    write!(f, " {p}")?;
                }
                match answer {
                    Answer::Null => write!(f, " -> (null)"),
                    Answer::Text(t) => write!(f, " -> {t}"),
                    Answer::Error(e) => write!(f, " -> error: {e}"),
                }
            }
            Entry::Clock { clock, value } => write!(f, "clock {clock:?} = {value}"),
            Entry::Call { name, outcome: outcome::RETURNED, data, .. } => {
                write!(f, "call {name} -> {} bytes {}", data.0.len(), preview(data.0))
            }
            Entry::Call { name, outcome: outcome::RAISED, data, .. } => {
                write!(f, "call {name} -> error: {}", String::from_utf8_lossy(data.0))
            }
            Entry::Call { name, data, .. } => {
                write!(f, "call {name} -> not recordable: {}", String::from_utf8_lossy(data.0))
            }
            Entry::Log { source, text } => write!(f, "log [:{source:08x}] {text}"),
            Entry::Code { name, hash } => write!(f, "code {name} sha256={}", hex(&hash[..8])),
            Entry::Limit { limit } => write!(f, "recordlimit {limit} reached"),
            Entry::End { reason } => write!(f, "end ({reason})"),
        }
    }
}

/// The first bytes of a payload, printable ones as text.
fn preview(data: &[u8]) -> String {
    let shown = &data[..data.len().min(24)];
    let text: String =
        shown.iter().map(|&b| if b.is_ascii_graphic() || b == b' ' { b as char } else { '.' }).collect();
    if data.len() > shown.len() { format!("[{text}...]") } else { format!("[{text}]") }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(entries: &[Entry<'_>]) -> Vec<u8> {
        let header = Header {
            skybox: "test".into(),
            runtime: "snlua".into(),
            args: "main".into(),
            handle: 9,
            threads: 2,
            started_ms: 1,
            hash_seed: 7,
            library: [1; 32],
            config: vec![("thread".into(), "2".into())],
        };
        let mut out = preamble().to_vec();
        let mut buf = vec![0; 4096];
        let n = put_frame(&header, &mut buf).unwrap();
        out.extend_from_slice(&buf[..n]);
        for e in entries {
            let n = put_frame(e, &mut buf).unwrap();
            out.extend_from_slice(&buf[..n]);
        }
        out
    }

    #[test]
    fn the_hand_encoded_entries_are_postcard_byte_for_byte() {
        let payload: Vec<u8> = (0..300).map(|i| i as u8).collect();
        for session in [0, 1, -1, 63, 64, -65, i32::MAX, i32::MIN] {
            for source in [0, 0x7f, 0x80, 0x0100_000a, u32::MAX] {
                for data in [&payload[..0], &payload[..1], &payload[..127], &payload[..128], &payload[..]] {
                    let entries = [
                        Entry::Message { ptype: 10, session, source, data: Bytes(data) },
                        Entry::Send {
                            source,
                            dest: Dest::Handle(source ^ 5),
                            ptype: 1,
                            session,
                            size: data.len() as u32,
                            crc: source.rotate_left(7),
                            result: send_result::FULL,
                        },
                        Entry::Send {
                            source,
                            dest: Dest::Name(".launcher"),
                            ptype: 0,
                            session,
                            size: 0,
                            crc: 0,
                            result: send_result::OK,
                        },
                    ];
                    for entry in entries {
                        let mut ours = vec![0; 512];
                        let n = entry.encode(&mut ours).unwrap();
                        assert_eq!(ours[..n], postcard::to_stdvec(&entry).unwrap()[..], "{entry:?}");
                        // Too small a buffer: no length, at every size.
                        for short in 0..n {
                            assert_eq!(entry.encode(&mut ours[..short]), None);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn entries_round_trip_and_the_end_is_found() {
        let entries = [
            Entry::Message { ptype: 1, session: 2, source: 3, data: Bytes(b"hi") },
            Entry::Command { cmd: "TIMEOUT", param: Some("10"), answer: Answer::Text("4"), session: 4 },
            Entry::End { reason: "exit" },
        ];
        let bytes = file(&entries);
        let record = read(&bytes).unwrap();
        assert_eq!(record.header.handle, 9);
        assert_eq!(record.entries, entries[..2]);
        assert_eq!(record.ending, Ending::Closed("exit".into()));
        // A zeroed tail with no end mark: unfinished, not corrupt.
        let mut unfinished = file(&entries[..2]);
        unfinished.extend_from_slice(&[0; 100]);
        assert_eq!(read(&unfinished).unwrap().ending, Ending::Unfinished);
    }

    #[test]
    fn every_cut_and_every_flipped_bit_is_an_error_or_a_shorter_record() {
        let whole = file(&[
            Entry::Message { ptype: 1, session: 2, source: 3, data: Bytes(b"hello") },
            Entry::Clock { clock: ClockKind::Now, value: 42 },
            Entry::End { reason: "exit" },
        ]);
        for cut in 0..whole.len() {
            if let Ok(record) = read(&whole[..cut]) {
                // Only cuts at a frame boundary read back, as an unfinished record.
                assert_eq!(record.ending, Ending::Unfinished, "cut at {cut}");
            }
        }
        for byte in PREAMBLE..whole.len() {
            let mut bad = whole.clone();
            bad[byte] ^= 0x10;
            // A length flipped to zero reads as the end of what was committed.
            if let Ok(record) = read(&bad) {
                assert!(record.ending == Ending::Unfinished && record.entries.len() < 2, "byte {byte}")
            }
        }
        // A frame whose length was never written (the writer died in it) ends the entries.
        let mut torn = whole.clone();
        let last =
            whole.len() - (FRAME_HEADER + postcard::to_stdvec(&Entry::End { reason: "exit" }).unwrap().len());
        torn[last..last + 4].fill(0);
        let record = read(&torn).unwrap();
        assert_eq!((record.entries.len(), record.ending), (2, Ending::Unfinished));
        assert!(read(b"SKYBOXRC\x02\x00\x00\x00").unwrap_err().contains("version 2"));
        assert!(read(b"#!/bin/sh\n").is_err());
    }
}
