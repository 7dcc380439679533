//! skybox's `skynet.mongo.driver` (in Lua, `lua-guest/lualib/skynet/mongo/driver.lua`) against a
//! MongoDB-like responder on a real TCP socket in this process, as a MongoDB 5+ server answers
//! OP_MSG: `hello`/`isMaster`, `insert` (duplicate `_id`s as write errors), `find` (filter by
//! equal fields, sort, skip, limit, projection, `batchSize`), `getMore`, `killCursors`,
//! `count`, `delete`, and any other command as MongoDB's "no such command". No real MongoDB
//! server can be installed where the tests run (Debian carries none; the test servers on PyPI
//! and npm download theirs from mongodb.org), so this one stands in: only its wire format and
//! answers matter to a driver.
//!
//! - Always: a skybox service speaks OP_MSG through the driver and skybox's own `skynet.socket`
//!   (a handshake, a write nobody answers, writes, a cursor drawn with `getMore`, a delete).
//! - With `SKYNET_DIR` naming a skynet checkout: skynet's own `mongo.lua` (with its
//!   `socketchannel.lua`, and its `md5` built from the checkout's sources as `md5.core`) runs on
//!   skybox's driver and `bson` against the responder; skybox does not carry skynet's db
//!   libraries (nor `socketchannel`), as for redis (`tests/skynet_redis.rs`). And skybox's
//!   driver is compared with skynet's C `lua-mongo.c` (built here, with its C `bson`): the same
//!   `op_msg` bytes for the same documents, the same `reply` results and errors.
//!
//! Registered in host/Cargo.toml as the `mongo` test target.

#[path = "support/mod.rs"]
mod support;

use std::collections::{HashMap, VecDeque};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::{Run, TempDir, build_lua_module, run_skybox, run_skybox_with};

// ---------------------------------------------------------------------------------------------
// BSON, as much as the responder reads and writes

#[derive(Clone, Debug, PartialEq)]
enum Value {
    Double(f64),
    Str(String),
    Doc(Doc),
    Array(Vec<Value>),
    Binary(u8, Vec<u8>),
    ObjectId([u8; 12]),
    Bool(bool),
    Date(i64),
    Null,
    Int32(i32),
    Int64(i64),
}

type Doc = Vec<(String, Value)>;

fn get<'a>(doc: &'a Doc, key: &str) -> Option<&'a Value> {
    doc.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

impl Value {
    fn number(&self) -> Option<f64> {
        match *self {
            Value::Double(d) => Some(d),
            Value::Int32(i) => Some(f64::from(i)),
            Value::Int64(i) => Some(i as f64),
            _ => None,
        }
    }

    fn integer(&self) -> Option<i64> {
        match *self {
            Value::Int32(i) => Some(i64::from(i)),
            Value::Int64(i) => Some(i),
            Value::Double(d) if d.fract() == 0.0 => Some(d as i64),
            _ => None,
        }
    }

    /// Equal as a query compares: numbers by value whatever their type.
    fn matches(&self, other: &Value) -> bool {
        match (self.number(), other.number()) {
            (Some(a), Some(b)) => a == b,
            _ => self == other,
        }
    }

    fn truthy(&self) -> bool {
        match self {
            Value::Bool(b) => *b,
            Value::Null => false,
            v => v.number().is_none_or(|n| n != 0.0),
        }
    }
}

fn order(a: Option<&Value>, b: Option<&Value>) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(a), Some(b)) => match (a.number(), b.number(), a, b) {
            (Some(x), Some(y), _, _) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
            (_, _, Value::Str(x), Value::Str(y)) => x.cmp(y),
            _ => Ordering::Equal,
        },
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len()).ok_or("truncated bson")?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn i32(&mut self) -> Result<i32, String> {
        Ok(i32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }

    fn i64(&mut self) -> Result<i64, String> {
        Ok(i64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }

    fn cstring(&mut self) -> Result<String, String> {
        let rest = &self.bytes[self.at..];
        let zero = rest.iter().position(|&b| b == 0).ok_or("unterminated key")?;
        let s = String::from_utf8(rest[..zero].to_vec()).map_err(|e| e.to_string())?;
        self.at += zero + 1;
        Ok(s)
    }

    fn doc(&mut self) -> Result<Doc, String> {
        let start = self.at;
        let len = usize::try_from(self.i32()?).ok().filter(|&n| n >= 5).ok_or("bad document length")?;
        let end = start + len;
        let mut doc = Doc::new();
        while self.at < end - 1 {
            let kind = self.take(1)?[0];
            let key = self.cstring()?;
            let value = match kind {
                1 => Value::Double(f64::from_le_bytes(self.take(8)?.try_into().unwrap())),
                2 => {
                    let n =
                        usize::try_from(self.i32()?).ok().filter(|&n| n >= 1).ok_or("bad string length")?;
                    let s = self.take(n)?;
                    Value::Str(String::from_utf8(s[..n - 1].to_vec()).map_err(|e| e.to_string())?)
                }
                3 => Value::Doc(self.doc()?),
                4 => Value::Array(self.doc()?.into_iter().map(|(_, v)| v).collect()),
                5 => {
                    let n = usize::try_from(self.i32()?).map_err(|_| "negative length")?;
                    let sub = self.take(1)?[0];
                    Value::Binary(sub, self.take(n)?.to_vec())
                }
                7 => Value::ObjectId(self.take(12)?.try_into().unwrap()),
                8 => Value::Bool(self.take(1)?[0] != 0),
                9 => Value::Date(self.i64()?),
                10 => Value::Null,
                16 => Value::Int32(self.i32()?),
                18 => Value::Int64(self.i64()?),
                k => return Err(format!("bson type {k} is not read here")),
            };
            doc.push((key, value));
        }
        if self.take(1)? != [0] || self.at != end {
            return Err("bad document end".into());
        }
        Ok(doc)
    }
}

fn decode(bytes: &[u8]) -> Result<Doc, String> {
    let mut r = Reader { bytes, at: 0 };
    let doc = r.doc()?;
    if r.at != bytes.len() {
        return Err("bytes after the document".into());
    }
    Ok(doc)
}

fn encode(doc: &Doc) -> Vec<u8> {
    fn element(out: &mut Vec<u8>, key: &str, v: &Value) {
        let kind: u8 = match v {
            Value::Double(_) => 1,
            Value::Str(_) => 2,
            Value::Doc(_) => 3,
            Value::Array(_) => 4,
            Value::Binary(..) => 5,
            Value::ObjectId(_) => 7,
            Value::Bool(_) => 8,
            Value::Date(_) => 9,
            Value::Null => 10,
            Value::Int32(_) => 16,
            Value::Int64(_) => 18,
        };
        out.push(kind);
        out.extend_from_slice(key.as_bytes());
        out.push(0);
        match v {
            Value::Double(d) => out.extend_from_slice(&d.to_le_bytes()),
            Value::Str(s) => {
                out.extend_from_slice(&(s.len() as i32 + 1).to_le_bytes());
                out.extend_from_slice(s.as_bytes());
                out.push(0);
            }
            Value::Doc(d) => out.extend(encode(d)),
            Value::Array(a) => {
                let d: Doc = a.iter().enumerate().map(|(i, v)| (i.to_string(), v.clone())).collect();
                out.extend(encode(&d));
            }
            Value::Binary(sub, b) => {
                out.extend_from_slice(&(b.len() as i32).to_le_bytes());
                out.push(*sub);
                out.extend_from_slice(b);
            }
            Value::ObjectId(id) => out.extend_from_slice(id),
            Value::Bool(b) => out.push(u8::from(*b)),
            Value::Date(t) | Value::Int64(t) => out.extend_from_slice(&t.to_le_bytes()),
            Value::Null => {}
            Value::Int32(i) => out.extend_from_slice(&i.to_le_bytes()),
        }
    }
    let mut out = vec![0; 4];
    for (k, v) in doc {
        element(&mut out, k, v);
    }
    out.push(0);
    let len = out.len() as i32;
    out[..4].copy_from_slice(&len.to_le_bytes());
    out
}

fn s(v: &str) -> Value {
    Value::Str(v.to_string())
}

fn doc(fields: &[(&str, Value)]) -> Doc {
    fields.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

// ---------------------------------------------------------------------------------------------
// The responder

const OP_MSG: i32 = 2013;
const MORE_TO_COME: u32 = 1 << 1;

/// What the responder holds: collections by namespace (`db.coll`), open cursors, and each
/// command it was sent (`name` or `name (moreToCome)`), in order.
#[derive(Default)]
struct State {
    collections: HashMap<String, Vec<Doc>>,
    cursors: HashMap<i64, (String, VecDeque<Doc>)>,
    next_cursor: i64,
    next_oid: u32,
    log: Vec<String>,
}

fn ok(mut fields: Doc) -> Doc {
    fields.push(("ok".into(), Value::Double(1.0)));
    fields
}

/// A find's or getMore's answer: `batch` (`firstBatch` or `nextBatch`) and the cursor to go on
/// with (0: none left).
fn cursor_reply(batch: &str, docs: Vec<Value>, id: i64, ns: String) -> Doc {
    let cursor = doc(&[(batch, Value::Array(docs)), ("id", Value::Int64(id)), ("ns", Value::Str(ns))]);
    ok(doc(&[("cursor", Value::Doc(cursor))]))
}

fn failed(errmsg: String, code: i32, name: &str) -> Doc {
    doc(&[
        ("ok", Value::Double(0.0)),
        ("errmsg", Value::Str(errmsg)),
        ("code", Value::Int32(code)),
        ("codeName", s(name)),
    ])
}

fn matches(d: &Doc, filter: &Doc) -> bool {
    filter.iter().all(|(k, want)| get(d, k).is_some_and(|v| v.matches(want)))
}

fn sub_doc(body: &Doc, key: &str) -> Doc {
    match get(body, key) {
        Some(Value::Doc(d)) => d.clone(),
        _ => Doc::new(),
    }
}

fn docs(body: &Doc, key: &str) -> Vec<Doc> {
    match get(body, key) {
        Some(Value::Array(a)) => {
            a.iter().filter_map(|v| if let Value::Doc(d) = v { Some(d.clone()) } else { None }).collect()
        }
        _ => Vec::new(),
    }
}

impl State {
    fn command(&mut self, body: &Doc, more_to_come: bool) -> Doc {
        let Some((name, first)) = body.first() else {
            return failed("empty command".into(), 2, "BadValue");
        };
        self.log.push(if more_to_come { format!("{name} (moreToCome)") } else { name.clone() });
        let Some(Value::Str(db)) = get(body, "$db") else {
            return failed("OP_MSG requests require a $db argument".into(), 40571, "Location40571");
        };
        let ns = |coll: &Value| match coll {
            Value::Str(c) => format!("{db}.{c}"),
            _ => format!("{db}.?"),
        };
        match name.as_str() {
            "hello" | "isMaster" | "ismaster" => ok(doc(&[
                ("helloOk", Value::Bool(true)),
                ("ismaster", Value::Bool(true)),
                ("isWritablePrimary", Value::Bool(true)),
                ("maxBsonObjectSize", Value::Int32(16 * 1024 * 1024)),
                ("maxMessageSizeBytes", Value::Int32(48_000_000)),
                ("maxWriteBatchSize", Value::Int32(100_000)),
                ("localTime", Value::Date(1_764_806_400_000)),
                ("logicalSessionTimeoutMinutes", Value::Int32(30)),
                ("connectionId", Value::Int32(1)),
                ("minWireVersion", Value::Int32(0)),
                ("maxWireVersion", Value::Int32(17)),
                ("readOnly", Value::Bool(false)),
            ])),
            "ping" => ok(Doc::new()),
            "insert" => {
                let ns = ns(first);
                let mut n = 0;
                let mut errors = Vec::new();
                for (i, mut d) in docs(body, "documents").into_iter().enumerate() {
                    let coll = self.collections.entry(ns.clone()).or_default();
                    match get(&d, "_id").cloned() {
                        Some(id) if coll.iter().any(|x| get(x, "_id").is_some_and(|v| v.matches(&id))) => {
                            errors.push(Value::Doc(doc(&[
                                ("index", Value::Int32(i as i32)),
                                ("code", Value::Int32(11000)),
                                (
                                    "errmsg",
                                    Value::Str(format!(
                                        "E11000 duplicate key error collection: {ns} index: _id_"
                                    )),
                                ),
                            ])));
                            break; // ordered
                        }
                        Some(_) => {}
                        None => {
                            self.next_oid += 1;
                            let mut oid = [0u8; 12];
                            oid[8..].copy_from_slice(&self.next_oid.to_be_bytes());
                            d.insert(0, ("_id".into(), Value::ObjectId(oid)));
                        }
                    }
                    coll.push(d);
                    n += 1;
                }
                let mut reply = doc(&[("n", Value::Int32(n))]);
                if !errors.is_empty() {
                    reply.push(("writeErrors".into(), Value::Array(errors)));
                }
                ok(reply)
            }
            "find" => {
                let ns = ns(first);
                let filter = sub_doc(body, "filter");
                let mut found: Vec<Doc> = self
                    .collections
                    .get(&ns)
                    .map(|c| c.iter().filter(|d| matches(d, &filter)).cloned().collect())
                    .unwrap_or_default();
                let sort = sub_doc(body, "sort");
                found.sort_by(|a, b| {
                    sort.iter()
                        .map(|(k, dir)| {
                            let o = order(get(a, k), get(b, k));
                            if dir.number().is_some_and(|d| d < 0.0) { o.reverse() } else { o }
                        })
                        .find(|o| o.is_ne())
                        .unwrap_or(std::cmp::Ordering::Equal)
                });
                let int = |key: &str| get(body, key).and_then(Value::integer).unwrap_or(0);
                let skip = int("skip").max(0) as usize;
                let limit = int("limit").unsigned_abs() as usize;
                let mut found: VecDeque<Doc> = found.into_iter().skip(skip).collect();
                if limit > 0 {
                    found.truncate(limit);
                }
                let projection = sub_doc(body, "projection");
                if !projection.is_empty() {
                    for d in &mut found {
                        d.retain(|(k, _)| get(&projection, k).map_or(k == "_id", Value::truthy));
                    }
                }
                let batch = get(body, "batchSize").and_then(Value::integer).unwrap_or(101) as usize;
                let first: Vec<Value> = found.drain(..batch.min(found.len())).map(Value::Doc).collect();
                let id = self.open_cursor(&ns, found);
                cursor_reply("firstBatch", first, id, ns)
            }
            "getMore" => {
                let Some(id) = first.integer().filter(|_| matches!(first, Value::Int64(_))) else {
                    return failed("cursor id must be a long".into(), 14, "TypeMismatch");
                };
                let Some((ns, mut rest)) = self.cursors.remove(&id) else {
                    return failed(format!("cursor id {id} not found"), 43, "CursorNotFound");
                };
                let batch =
                    get(body, "batchSize").and_then(Value::integer).map_or(rest.len(), |b| b as usize);
                let next: Vec<Value> = rest.drain(..batch.min(rest.len())).map(Value::Doc).collect();
                let id = if rest.is_empty() {
                    0
                } else {
                    self.cursors.insert(id, (ns.clone(), rest));
                    id
                };
                cursor_reply("nextBatch", next, id, ns)
            }
            "killCursors" => {
                let mut killed = Vec::new();
                if let Some(Value::Array(ids)) = get(body, "cursors") {
                    for id in ids.iter().filter_map(Value::integer) {
                        if self.cursors.remove(&id).is_some() {
                            killed.push(Value::Int64(id));
                        }
                    }
                }
                ok(doc(&[("cursorsKilled", Value::Array(killed))]))
            }
            "count" => {
                let ns = ns(first);
                let query = sub_doc(body, "query");
                let n =
                    self.collections.get(&ns).map_or(0, |c| c.iter().filter(|d| matches(d, &query)).count());
                ok(doc(&[("n", Value::Int32(n as i32))]))
            }
            "delete" => {
                let ns = ns(first);
                let mut n = 0;
                let coll = self.collections.entry(ns).or_default();
                for del in docs(body, "deletes") {
                    let q = sub_doc(&del, "q");
                    let one = get(&del, "limit").and_then(Value::integer) == Some(1);
                    let mut removed = 0;
                    coll.retain(|d| {
                        let hit = (!one || removed == 0) && matches(d, &q);
                        removed += i32::from(hit);
                        !hit
                    });
                    n += removed;
                }
                ok(doc(&[("n", Value::Int32(n))]))
            }
            other => failed(format!("no such command: '{other}'"), 59, "CommandNotFound"),
        }
    }

    fn open_cursor(&mut self, ns: &str, rest: VecDeque<Doc>) -> i64 {
        if rest.is_empty() {
            return 0;
        }
        self.next_cursor += 1;
        let id = 0x1234_5678_0000 + self.next_cursor;
        self.cursors.insert(id, (ns.to_string(), rest));
        id
    }
}

/// A responder on a free loopback port: one thread per connection, every connection on the
/// same store.
struct Responder {
    port: u16,
    state: Arc<Mutex<State>>,
}

impl Responder {
    fn start() -> Responder {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State::default()));
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { return };
                let state = Arc::clone(&shared);
                std::thread::spawn(move || serve(conn, &state));
            }
        });
        Responder { port, state }
    }

    fn log(&self) -> Vec<String> {
        self.state.lock().unwrap().log.clone()
    }
}

/// One connection: OP_MSG requests in, an answer to each unless it says moreToCome. Anything
/// else a real server would refuse ends the connection with a panic in this thread (the test
/// then sees a driver fail).
fn serve(mut conn: TcpStream, state: &Mutex<State>) {
    let mut next_id = 0i32;
    loop {
        let mut len = [0u8; 4];
        if conn.read_exact(&mut len).is_err() {
            return;
        }
        let len = i32::from_le_bytes(len);
        assert!((21..48_000_000).contains(&len), "message length {len}");
        let mut msg = vec![0u8; len as usize - 4];
        conn.read_exact(&mut msg).expect("a whole message");
        let field = |at: usize| i32::from_le_bytes(msg[at..at + 4].try_into().unwrap());
        let (request_id, opcode, flags) = (field(0), field(8), field(12) as u32);
        assert_eq!(opcode, OP_MSG, "only OP_MSG is spoken here");
        assert_eq!(flags & !MORE_TO_COME, 0, "flags {flags:#x}");
        // sections: one body (kind 0) and any document sequences (kind 1), folded into it
        let mut body = None;
        let mut sequences = Vec::new();
        let mut at = 16;
        while at < msg.len() {
            let kind = msg[at];
            let size = i32::from_le_bytes(msg[at + 1..at + 5].try_into().unwrap()) as usize;
            match kind {
                0 => {
                    body = Some(decode(&msg[at + 1..at + 1 + size]).expect("a body document"));
                    at += 1 + size;
                }
                1 => {
                    let mut r = Reader { bytes: &msg[at + 5..at + 1 + size], at: 0 };
                    let id = r.cstring().unwrap();
                    let mut seq = Vec::new();
                    while r.at < r.bytes.len() {
                        seq.push(Value::Doc(r.doc().unwrap()));
                    }
                    sequences.push((id, Value::Array(seq)));
                    at += 1 + size;
                }
                k => panic!("section kind {k}"),
            }
        }
        let mut body = body.expect("a body section");
        body.extend(sequences);
        let more_to_come = flags & MORE_TO_COME != 0;
        let answer = state.lock().unwrap().command(&body, more_to_come);
        if more_to_come {
            continue;
        }
        next_id += 1;
        let payload = encode(&answer);
        let mut out = Vec::with_capacity(21 + payload.len());
        out.extend_from_slice(&(21 + payload.len() as i32).to_le_bytes());
        for v in [next_id, request_id, OP_MSG, 0] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.push(0);
        out.extend(payload);
        if conn.write_all(&out).is_err() {
            return;
        }
    }
}

#[test]
fn the_responder_reads_what_it_writes() {
    let d = doc(&[
        ("a", Value::Double(0.5)),
        ("b", s("text")),
        ("c", Value::Array(vec![Value::Int32(1), Value::Int64(-2), Value::Null])),
        ("d", Value::Doc(doc(&[("x", Value::Bool(true)), ("t", Value::Date(7))]))),
        ("e", Value::ObjectId([9; 12])),
        ("f", Value::Binary(0, vec![1, 2, 3])),
    ]);
    assert_eq!(decode(&encode(&d)), Ok(d));
    // bsonspec.org's first example
    assert_eq!(encode(&doc(&[("hello", s("world"))])), b"\x16\0\0\0\x02hello\0\x06\0\0\0world\0\0");
}

// ---------------------------------------------------------------------------------------------
// skybox's driver and skybox's socket

const DRIVER_MAIN: &str = r#"
local skynet = require "skynet"
require "skynet.manager"
local socket = require "skynet.socket"
local bson = require "bson"
local driver = require "skynet.mongo.driver"

skynet.start(function()
	local fd = assert(socket.open("127.0.0.1", tonumber(skynet.getenv("mongo_port"))))
	local last = 0
	local function send(flags, ...)
		last = last + 1
		socket.write(fd, driver.op_msg(last, flags, bson.encode_order(...)))
		return last
	end
	local function command(...)
		local id = send(0, ...)
		local len = driver.length(assert(socket.read(fd, 4)))
		local ok, to, doc = driver.reply(assert(socket.read(fd, len)))
		assert(ok == true and to == id, "an answer to another request")
		return bson.decode(doc)
	end
	local function names(batch)
		local t = {}
		for i, d in ipairs(batch) do t[i] = d.name end
		return table.concat(t, ",")
	end
	local r = command("hello", 1, "$db", "admin")
	skynet.error(string.format("DRIVER hello %s %s %d", r.ok, r.isWritablePrimary, r.maxWireVersion))
	-- a write nobody answers, then writes that are
	send(2, "insert", "users", "documents", { bson.encode { _id = 1, name = "ann", age = 30 } },
		"$db", "game", "writeConcern", { w = 0 })
	r = command("insert", "users", "documents", {
		bson.encode { _id = 2, name = "bob", age = 25 }, bson.encode { _id = 3, name = "cid", age = 41 },
		bson.encode { _id = 4, name = "dan", age = 25 }, bson.encode { _id = 5, name = "eve", age = 19 },
	}, "$db", "game")
	skynet.error(string.format("DRIVER insert %d %s", r.n, r.ok))
	r = command("insert", "users", "documents", { bson.encode { _id = 2, name = "again" } }, "$db", "game")
	skynet.error(string.format("DRIVER duplicate %d %d", r.n, r.writeErrors[1].code))
	-- a cursor: the first batch, then getMore until its id is 0
	r = command("find", "users", "filter", bson.encode {}, "sort", bson.encode { _id = 1 }, "batchSize", 2,
		"$db", "game")
	local cursor, batch, all, batches = r.cursor, r.cursor.firstBatch, {}, 0
	while true do
		batches = batches + 1
		all[#all + 1] = names(batch)
		if cursor.id == 0 then break end
		r = command("getMore", bson.int64(cursor.id), "collection", "users", "batchSize", 2, "$db", "game")
		cursor, batch = r.cursor, r.cursor.nextBatch
	end
	skynet.error(string.format("DRIVER find %d %s", batches, table.concat(all, "|")))
	r = command("find", "users", "filter", bson.encode { age = 25 }, "sort", bson.encode { _id = -1 }, "$db", "game")
	skynet.error(string.format("DRIVER find age=25 %s %d", names(r.cursor.firstBatch), r.cursor.id))
	r = command("delete", "users", "deletes", { bson.encode { q = { age = 25 }, limit = 0 } }, "$db", "game")
	skynet.error(string.format("DRIVER delete %d", r.n))
	r = command("find", "users", "filter", bson.encode {}, "sort", bson.encode { _id = 1 }, "$db", "game")
	skynet.error(string.format("DRIVER left %s", names(r.cursor.firstBatch)))
	r = command("nosuch", 1, "$db", "game")
	skynet.error(string.format("DRIVER unknown %s %s", r.ok, r.errmsg))
	socket.close(fd)
	skynet.abort()
end)
"#;

fn expect_lines(run: &Run, lines: &[&str]) {
    assert!(!run.timed_out && run.code() == Some(0), "{}", run.report());
    for expected in lines {
        assert!(run.lines().any(|l| l.ends_with(expected)), "missing {expected:?}\n{}", run.report());
    }
}

#[test]
fn skyboxs_driver_speaks_op_msg_to_a_mongodb_like_server() {
    let server = Responder::start();
    let dir = TempDir::new("mongo-driver");
    dir.write("main.lua", DRIVER_MAIN);
    let port = format!("mongo_port={}", server.port);
    let run =
        run_skybox(&["run", "--start", "main", "--path", ".", "--thread", "2", "--set", &port], dir.path());
    expect_lines(
        &run,
        &[
            "DRIVER hello 1.0 true 17",
            "DRIVER insert 4 1.0",
            "DRIVER duplicate 0 11000",
            "DRIVER find 3 ann,bob|cid,dan|eve",
            "DRIVER find age=25 dan,bob 0",
            "DRIVER delete 2",
            "DRIVER left ann,cid,eve",
            "DRIVER unknown 0.0 no such command: 'nosuch'",
        ],
    );
    let log = server.log();
    assert_eq!(
        log,
        [
            "hello",
            "insert (moreToCome)",
            "insert",
            "insert",
            "find",
            "getMore",
            "getMore",
            "find",
            "delete",
            "find",
            "nosuch"
        ],
        "{}",
        run.report()
    );
}

// ---------------------------------------------------------------------------------------------
// skynet's mongo.lua, and skynet's C driver, from a checkout

fn skynet_dir(test: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("SKYNET_DIR").filter(|d| !d.is_empty()).map(PathBuf::from);
    let dir = dir.filter(|d| d.join("lualib/skynet/db/mongo.lua").is_file());
    if dir.is_none() {
        println!("SKIPPED {test}: SKYNET_DIR does not name a skynet checkout (lualib/skynet/db/mongo.lua)");
    }
    dir
}

const MONGO_MAIN: &str = r#"
local skynet = require "skynet"
require "skynet.manager"
local mongo = require "skynet.db.mongo"
local bson = require "bson"

skynet.start(function()
	local client = mongo.client { host = "127.0.0.1", port = tonumber(skynet.getenv("mongo_port")) }
	local users = client.game.users
	local function all(cursor)
		local t = {}
		while cursor:hasNext() do t[#t + 1] = cursor:next().name end
		return table.concat(t, ",")
	end
	users:insert { _id = 1, name = "ann", age = 30 }
	local ok, err = users:safe_insert { _id = 2, name = "bob", age = 25 }
	skynet.error("MONGO safe_insert " .. tostring(ok) .. " " .. tostring(err))
	ok, err = users:safe_insert { _id = 2, name = "again" }
	skynet.error("MONGO duplicate " .. tostring(ok) .. " " .. tostring(err))
	ok = users:safe_batch_insert { { _id = 3, name = "cid", age = 41 }, { _id = 4, name = "dan", age = 25 },
		{ _id = 5, name = "eve", age = 19 } }
	skynet.error("MONGO batch " .. tostring(ok))
	users:batch_insert { { name = "fay", age = 60 } }
	local bob = users:findOne { name = "bob" }
	skynet.error("MONGO findOne " .. bob.name .. " " .. bob.age)
	local fay = users:findOne { name = "fay" }
	skynet.error("MONGO objectid " .. bson.type(fay._id))
	skynet.error("MONGO find " .. all(users:find():sort({ _id = 1 }):batchSize(2)))
	skynet.error("MONGO find limit " .. all(users:find():sort({ _id = 1 }):skip(1):limit(3):batchSize(2)))
	skynet.error("MONGO count " .. users:find({ age = 25 }):count())
	local p = users:findOne({ _id = 3 }, { name = 1 })
	skynet.error("MONGO projection " .. p.name .. " " .. tostring(p.age))
	local early = users:find():batchSize(1)
	assert(early:hasNext())
	skynet.error("MONGO early " .. early:next().name)
	early:close()
	local ok, err, r = users:safe_delete({ age = 25 })
	skynet.error("MONGO delete " .. tostring(ok) .. " " .. r.n)
	users:delete({ _id = 5 }, true)
	skynet.error("MONGO gone " .. tostring(users:findOne { name = "bob" }))
	skynet.error("MONGO left " .. all(users:find():sort({ _id = 1 })))
	local r = client.game:runCommand("nosuch")
	skynet.error("MONGO unknown " .. tostring(r.ok) .. " " .. r.errmsg)
	client:disconnect()
	skynet.abort()
end)
"#;

#[test]
fn skynets_mongo_lua_runs_on_skyboxs_driver() {
    let Some(skynet) = skynet_dir("skynets_mongo_lua_runs_on_skyboxs_driver") else { return };
    let server = Responder::start();
    let dir = TempDir::new("mongo-lua");
    // mongo.lua requires md5 (skynet's md5.lua over its C md5.core), for authentication only
    std::fs::create_dir_all(dir.path().join("md5")).unwrap();
    let md5 = skynet.join("3rd/lua-md5");
    build_lua_module(
        &dir.path().join("md5"),
        "core",
        &[md5.join("md5.c"), md5.join("md5lib.c"), md5.join("compat-5.2.c")],
        &[],
    );
    dir.write("svc/main.lua", MONGO_MAIN);
    let lib = skynet.join("lualib");
    dir.write(
        "config",
        &format!(
            "lua_path = \"{lib}/?.lua;{lib}/?/init.lua\"\nlua_cpath = \"{cpath}/?.so\"\n\
             luaservice = \"{svc}/?.lua;{sk}/service/?.lua\"\nlualoader = \"{lib}/loader.lua\"\n\
             start = \"main\"\nthread = 2\nmongo_port = {port}\n",
            lib = lib.display(),
            cpath = dir.path().display(),
            svc = dir.path().join("svc").display(),
            sk = skynet.display(),
            port = server.port,
        ),
    );
    let run = run_skybox_with(&["run", "config"], dir.path(), &[], Duration::from_secs(60));
    expect_lines(
        &run,
        &[
            "MONGO safe_insert true nil",
            "MONGO duplicate false E11000 duplicate key error collection: game.users index: _id_",
            "MONGO batch true",
            "MONGO findOne bob 25",
            "MONGO objectid objectid",
            "MONGO find ann,bob,cid,dan,eve,fay",
            "MONGO find limit bob,cid,dan",
            "MONGO count 2",
            "MONGO projection cid nil",
            "MONGO early ann",
            "MONGO delete true 2",
            "MONGO gone nil",
            "MONGO left ann,cid,fay",
            "MONGO unknown 0.0 no such command: 'nosuch'",
        ],
    );
    let log = server.log();
    for (what, n) in [
        ("ismaster", 1),
        ("insert (moreToCome)", 2),
        ("insert", 3),
        ("count", 1),
        ("getMore", 3),
        ("killCursors (moreToCome)", 1),
        ("delete (moreToCome)", 1),
    ] {
        let seen = log.iter().filter(|l| *l == what).count();
        assert_eq!(seen, n, "{what}: {log:?}\n{}", run.report());
    }
}

/// skybox's driver and skynet's C one (built here from the checkout's lualib-src, with its C
/// bson to make and read their documents), in one VM on the same inputs.
const COMPARE_MAIN: &str = r#"
local skynet = require "skynet"
require "skynet.manager"
local ours = require "skynet.mongo.driver"
local obson = require "bson"
local theirs = assert(package.loadlib(skynet.getenv("mongo_so"), "luaopen_skynet_mongo_driver"))()
local tbson = assert(package.loadlib(skynet.getenv("bson_so"), "luaopen_bson"))()
local pack = string.pack

skynet.start(function()
	local checked = 0
	local function same(a, b, what)
		if a ~= b then
			error(string.format("%s differs: %q / %q", what, tostring(a), tostring(b)))
		end
		checked = checked + 1
	end
	-- the same decoded fields (compared as skybox's bson writes them, in key order)
	local function same_doc(a, b, what)
		local function canon(t)
			local keys = {}
			for k in pairs(t) do keys[#keys + 1] = k end
			table.sort(keys)
			local args = {}
			for _, k in ipairs(keys) do
				args[#args + 1] = k
				args[#args + 1] = type(t[k]) == "table" and obson.encode_order(table.unpack(canon(t[k]))) or t[k]
			end
			return args
		end
		same(tostring(obson.encode_order(table.unpack(canon(a)))), tostring(obson.encode_order(table.unpack(canon(b)))), what)
	end
	local commands = {
		{ "ping", 1, "$db", "admin" },
		{ "hello", 1, "helloOk", true, "$db", "admin" },
		{ "find", "users", "filter", { age = 3 }, "sort", { _id = -1 }, "limit", 1, "batchSize", 2, "$db", "g" },
		{ "insert", "users", "documents", { { name = "ann", n = 1 << 40, x = 0.25 } }, "$db", "g",
			"writeConcern", { w = 0 } },
		{ "getMore", "\0\18" .. pack("<i8", 0x123456789), "collection", "users", "$db", "g" },
		{ "killCursors", "users", "cursors", { "\0\18" .. pack("<i8", 5), "\0\18" .. pack("<i8", -1) }, "$db", "g" },
	}
	for _, args in ipairs(commands) do
		-- documents inside: each side's own
		local function build(bson)
			local a = {}
			for i, v in ipairs(args) do
				if type(v) == "table" and type(v[1]) == "table" then
					local list = {}
					for j, d in ipairs(v) do list[j] = bson.encode(d) end
					v = list
				end
				a[i] = v
			end
			return bson.encode_order(table.unpack(a))
		end
		for _, id in ipairs { 0, 1, -1, 0x7fffffff, -0x80000000, (1 << 32) + 9, 7.0, "12" } do
			for _, flags in ipairs { 0, 2, 65536, -1 } do
				local a = ours.op_msg(id, flags, build(obson))
				local b = theirs.op_msg(id, flags, build(tbson))
				same(a, b, "op_msg")
				same(ours.length(a), theirs.length(b), "length")
				-- skynet's reply points into its string: keep it until its document is read
				local ra, rb = a:sub(5), b:sub(5)
				local r1 = table.pack(pcall(ours.reply, ra))
				local r2 = table.pack(pcall(theirs.reply, rb))
				same(r1.n, r2.n, "reply results")
				same(r1[1], r2[1], "reply raised")
				same(r1[2], r2[2], "reply ok / error")
				if r1[1] and r1[2] then
					same(r1[3], r2[3], "response_to")
					same_doc(obson.decode(r1[4]), tbson.decode(r2[4]), "reply document")
				end
			end
		end
	end
	-- replies: good ones and every malformed kind whose bytes the C module stays within
	local body = tostring(obson.encode_order("ok", 1.0, "cursor", { id = obson.int64(0), firstBatch = { { a = 1 } } }))
	local function header(to, opcode, flags) return pack("<i4i4i4i4", 5, to, opcode, flags) end
	for _, r in ipairs {
		"", "short", string.rep("\0", 15), 1234,
		header(7, 2013, 0) .. "\0" .. body,
		header(-7, 2013, 2) .. "\0" .. body,
		header(7, 1, 0) .. "\0" .. body,
		header(7, 2012, 0) .. "\0" .. body,
		header(7, 2013, 1) .. "\0" .. body,
		header(7, 2013, 3) .. "\0" .. body,
		header(7, 2013, 6) .. "\0" .. body,
		header(7, 2013, 65536) .. "\0" .. body,
		header(7, 2013, -0x80000000) .. "\0" .. body,
		header(7, 2013, 0) .. "\1" .. body,
		header(7, 2013, 0) .. "\2",
		header(7, 2013, 0) .. "\0" .. body .. "\0",
		header(7, 2013, 0) .. "\0" .. body .. "\1\5\0\0\0x\0",
		header(7, 2013, 0) .. "\0" .. body:sub(1, -2),
	} do
		local r1 = table.pack(pcall(ours.reply, r))
		local r2 = table.pack(pcall(theirs.reply, r))
		same(r1.n, r2.n, "results")
		same(r1[1], r2[1], "raised")
		same(r1[2], r2[2], "ok / error")
		same(r1[3], r2[3], "response_to")
		if r1[4] then
			same_doc(obson.decode(r1[4]), tbson.decode(r2[4]), "document")
		end
	end
	-- op_msg without a document
	for _, bad in ipairs { { 1, 0 }, { 1, 0, "x" }, { 1, 0, {} } } do
		local ok1, e1 = pcall(ours.op_msg, table.unpack(bad, 1, 3))
		local ok2, e2 = pcall(theirs.op_msg, table.unpack(bad, 1, 3))
		same(ok1, ok2, "op_msg raised")
		same(e1, e2, "op_msg error")
	end
	skynet.error("RESULT mongo same " .. checked)
	skynet.abort()
end)
"#;

#[test]
fn skyboxs_driver_agrees_with_skynets_c_driver() {
    let Some(skynet) = skynet_dir("skyboxs_driver_agrees_with_skynets_c_driver") else { return };
    let dir = TempDir::new("mongo-c");
    let src = skynet.join("lualib-src");
    let include = format!("-I{}", skynet.join("skynet-src").display());
    let mongo_so = build_lua_module(dir.path(), "mongo_c", &[src.join("lua-mongo.c")], &[&include]);
    let bson_so = build_lua_module(dir.path(), "bson_c", &[src.join("lua-bson.c")], &[&include]);
    dir.write("main.lua", COMPARE_MAIN);
    let mongo_so = format!("mongo_so={}", mongo_so.display());
    let bson_so = format!("bson_so={}", bson_so.display());
    let run = run_skybox(
        &["run", "--start", "main", "--path", ".", "--set", &mongo_so, "--set", &bson_so],
        dir.path(),
    );
    let line = run.lines().find(|l| l.contains("RESULT ")).unwrap_or_else(|| panic!("{}", run.report()));
    // 6 commands x 8 ids x 4 flags: 7 checks, 5 for the two flags a reply may not carry; 18
    // replies x 4 checks, 1 more for the 2 good ones; 3 op_msg errors x 2
    let expected = 6 * 8 * (2 * 7 + 2 * 5) + 18 * 4 + 2 + 3 * 2;
    assert!(line.ends_with(&format!("RESULT mongo same {expected}")), "{line}\n{}", run.report());
}
