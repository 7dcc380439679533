//! `skynet.netpack`: skynet's `lua-netpack.c` on Lua's C API, as gateserver uses it. A stream is
//! a sequence of frames, each a 2-byte big-endian length and that many bytes (0 to 65535).
//!
//! `filter(queue, msg, sz)` takes one `PTYPE_SOCKET` message out of the VM's buffers and answers
//! with what it means to a gate: `"data", fd, msg, size` for one whole frame, `"more"` when
//! several frames (or a frame and the start of the next) came in one block, and `"init"`,
//! `"open"`, `"close"`, `"error"`, `"warning"` for the other events. Frames are handed out as
//! tokens in the VM's `Buffers`, so `skynet.redirect`, `skynet.trash`, `skynet.tostring`,
//! `netpack.tostring` and `socketdriver.send` all take them. The queue is a full userdata
//! ([`Queue`]) created on first need; unlike skynet's, it frees what it holds when collected,
//! and UDP data given to `filter` is freed rather than leaked.

use std::collections::VecDeque;
use std::ffi::{CStr, c_int};

use mlua::ffi::{self, lua_State};
use rustc_hash::FxHashMap;
use skybox_sdk::socket as event;

use super::native::VmCtx;
use super::socketdriver::{
    Failure, Outcome, bad_argument, bytes_arg, decode_event, new_userdata, own_userdata, push_block,
    push_metatable, push_owned_bytes, set_functions, size_arg, state_mut, token_arg, with_vm,
};

/// The largest frame: its length must fit the 2-byte header.
const MAX_FRAME: usize = 0xffff;

/// `filter`'s upvalues after the queue metatable (1): the words it answers with, pushed from
/// there so that answering allocates nothing.
const TAGS: [&CStr; 7] = [c"data", c"more", c"error", c"open", c"close", c"warning", c"init"];
const DATA: c_int = 2;
const MORE: c_int = 3;
const ERROR: c_int = 4;
const OPEN: c_int = 5;
const CLOSE: c_int = 6;
const WARNING: c_int = 7;
const INIT: c_int = 8;

/// The loader of `skynet.netpack` (in `package.preload`, see `core_api`): the module table.
pub(crate) unsafe extern "C-unwind" fn open(state: *mut lua_State) -> c_int {
    const QUEUE: [(&CStr, ffi::lua_CFunction); 2] = [(c"pop", pop), (c"clear", clear)];
    const PLAIN: [(&CStr, ffi::lua_CFunction); 2] = [(c"pack", pack), (c"tostring", tostring)];
    // SAFETY: called by Lua as a C function (the package loader); this frame owns nothing, so an
    // allocation failure unwinds nothing. The queue functions close over the queues' metatable,
    // by which they recognise a queue.
    unsafe {
        ffi::lua_createtable(state, 0, 5);
        let table = ffi::lua_gettop(state);
        push_metatable::<Queue>(state, c"netpack_queue");
        ffi::lua_pushvalue(state, -1);
        set_functions(state, table, &QUEUE, 1);
        for tag in TAGS {
            ffi::lua_pushstring(state, tag.as_ptr());
        }
        set_functions(state, table, &[(c"filter", filter)], 1 + TAGS.len() as c_int);
        set_functions(state, table, &PLAIN, 0);
        1
    }
}

/// The frames of a gate's connections: the complete ones not yet popped, in arrival order, and
/// the one partial frame of each connection whose bytes are still coming.
///
/// Invariant: a connection has at most one partial frame, and it is incomplete (a complete frame
/// is returned or queued at once).
#[derive(Default)]
pub(crate) struct Queue {
    frames: VecDeque<(i32, Vec<u8>)>,
    partial: FxHashMap<i32, Partial>,
}

/// The start of a frame.
enum Partial {
    /// Only the first byte of the length has come.
    Header(u8),
    /// The length is known: `data` holds the first bytes of the `size`-byte frame
    /// (`data.len() < size`; its capacity is `size`).
    Body { size: usize, data: Vec<u8> },
}

/// What one DATA block gave.
#[derive(Debug, PartialEq, Eq)]
enum Filtered {
    /// No complete frame: the bytes were kept as the connection's partial frame.
    Nothing,
    /// Exactly one frame, and nothing left over.
    One(Vec<u8>),
    /// Frames are queued (and a partial frame may be kept).
    More,
}

impl Queue {
    /// Frames one DATA block of connection `fd`, as skynet's `filter_data` does.
    fn filter(&mut self, fd: i32, data: Vec<u8>) -> Filtered {
        match self.partial.remove(&fd) {
            Some(Partial::Header(high)) => match data.split_first() {
                None => {
                    self.partial.insert(fd, Partial::Header(high));
                    Filtered::Nothing
                }
                Some((&low, rest)) => {
                    let size = usize::from(u16::from_be_bytes([high, low]));
                    self.complete(fd, size, Vec::with_capacity(size), rest)
                }
            },
            Some(Partial::Body { size, data: frame }) => self.complete(fd, size, frame, &data),
            None if single_frame(&data) => Filtered::One(strip_header(data)),
            None if self.split(fd, &data) == 0 => Filtered::Nothing,
            None => Filtered::More,
        }
    }

    /// Adds `bytes` to `fd`'s frame of `size` bytes begun with `frame`.
    fn complete(&mut self, fd: i32, size: usize, mut frame: Vec<u8>, bytes: &[u8]) -> Filtered {
        let need = size - frame.len();
        if bytes.len() < need {
            frame.extend_from_slice(bytes);
            self.partial.insert(fd, Partial::Body { size, data: frame });
            return Filtered::Nothing;
        }
        frame.extend_from_slice(&bytes[..need]);
        let rest = &bytes[need..];
        if rest.is_empty() {
            return Filtered::One(frame);
        }
        self.frames.push_back((fd, frame));
        self.split(fd, rest);
        Filtered::More
    }

    /// Queues the whole frames at the start of `bytes` (`fd` has no partial frame) and keeps
    /// what is left as its partial frame. Returns how many frames were queued.
    fn split(&mut self, fd: i32, mut bytes: &[u8]) -> usize {
        let mut queued = 0;
        loop {
            match bytes {
                [] => break,
                &[high] => {
                    self.partial.insert(fd, Partial::Header(high));
                    break;
                }
                &[high, low, ref body @ ..] => {
                    let size = usize::from(u16::from_be_bytes([high, low]));
                    if body.len() < size {
                        let mut data = Vec::with_capacity(size);
                        data.extend_from_slice(body);
                        self.partial.insert(fd, Partial::Body { size, data });
                        break;
                    }
                    self.frames.push_back((fd, body[..size].to_vec()));
                    queued += 1;
                    bytes = &body[size..];
                }
            }
        }
        queued
    }

    /// Drops `fd`'s partial frame (its connection closed or failed); its queued frames stay.
    fn forget(&mut self, fd: i32) {
        self.partial.remove(&fd);
    }
}

/// Whether `bytes` are exactly one whole frame.
fn single_frame(bytes: &[u8]) -> bool {
    match bytes {
        [high, low, body @ ..] => body.len() == usize::from(u16::from_be_bytes([*high, *low])),
        _ => false,
    }
}

/// The frame in `data` (a single whole frame), in the same allocation.
fn strip_header(mut data: Vec<u8>) -> Vec<u8> {
    data.drain(..2);
    data
}

/// A frame of `bytes`: the length header, then a copy of them.
fn frame_of(bytes: &[u8]) -> Result<Vec<u8>, Failure> {
    if bytes.len() > MAX_FRAME {
        return Err(Failure::Text(format!("Invalid size (too long) of data : {}", bytes.len())));
    }
    let mut frame = Vec::with_capacity(bytes.len() + 2);
    frame.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
    frame.extend_from_slice(bytes);
    Ok(frame)
}

/// The queue at argument 1: `None` for nil, else one of this VM's queues.
unsafe fn queue_arg(state: *mut lua_State, function: &str) -> Result<Option<*mut Queue>, Failure> {
    // SAFETY: called from the queue functions, C closures over the queues' metatable.
    unsafe {
        if ffi::lua_isnoneornil(state, 1) != 0 {
            return Ok(None);
        }
        own_userdata::<Queue>(state, 1)
            .map(Some)
            .ok_or_else(|| bad_argument(state, 1, function, "netpack queue"))
    }
}

/// `filter(queue, msg, sz)`: `queue` (the one given, or a new one when needed) followed by what
/// the event means (see the module docs). The message is consumed.
unsafe extern "C-unwind" fn filter(state: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as a C closure over the queues' metatable and the tags.
    unsafe { with_vm(state, |ctx| filter_body(state, ctx)) }
}

unsafe fn filter_body(state: *mut lua_State, ctx: &VmCtx) -> Outcome {
    // SAFETY: called by `filter`. Lua allocates where nothing is owned (the queue is made before
    // the payload is taken), in `push_owned_bytes`'s protected call, or after a frame is in
    // `Buffers`; pushing upvalues and integers does not allocate.
    unsafe {
        let mut queue = queue_arg(state, "filter")?;
        let token = token_arg(state, 2, "need socket message at param 2")?;
        let size = size_arg(state, 3, "filter")?;
        let (ev, len, create) = {
            let st = state_mut(ctx)?;
            let payload = st.buffers.get(token, None)?;
            let (ev, len) = decode_event(&payload, size)?;
            let bytes = &payload[..len];
            let create =
                queue.is_none() && ev.kind == event::DATA && !bytes.is_empty() && !single_frame(bytes);
            (ev, len, create)
        };
        ffi::lua_settop(state, 1);
        if create {
            queue = Some(new_userdata::<Queue>(state));
            ffi::lua_replace(state, 1);
        }
        let mut data = state_mut(ctx)?.buffers.take(token, None)?;
        data.truncate(len);
        let tag = |i| ffi::lua_pushvalue(state, ffi::lua_upvalueindex(i));
        let integer = |n: i32| ffi::lua_pushinteger(state, ffi::lua_Integer::from(n));
        match ev.kind {
            event::DATA => {
                let filtered = match queue {
                    Some(queue) => (*queue).filter(ev.id, data),
                    None if single_frame(&data) => Filtered::One(strip_header(data)),
                    None => Filtered::Nothing,
                };
                match filtered {
                    Filtered::Nothing => Ok(1),
                    Filtered::More => {
                        tag(MORE);
                        Ok(2)
                    }
                    Filtered::One(frame) => {
                        tag(DATA);
                        integer(ev.id);
                        push_block(state, ctx, frame)?;
                        Ok(5)
                    }
                }
            }
            event::CONNECT => {
                tag(INIT);
                integer(ev.id);
                push_owned_bytes(state, data);
                integer(ev.ud);
                Ok(5)
            }
            event::ACCEPT => {
                tag(OPEN);
                integer(ev.ud);
                push_owned_bytes(state, data);
                Ok(4)
            }
            event::CLOSE | event::ERROR => {
                if let Some(queue) = queue {
                    (*queue).forget(ev.id);
                }
                if ev.kind == event::CLOSE {
                    tag(CLOSE);
                    integer(ev.id);
                    return Ok(3);
                }
                tag(ERROR);
                integer(ev.id);
                push_owned_bytes(state, data);
                Ok(4)
            }
            event::WARNING => {
                tag(WARNING);
                integer(ev.id);
                integer(ev.ud);
                Ok(4)
            }
            // UDP: nothing for a gate; the datagram is freed here.
            _ => Ok(1),
        }
    }
}

/// `pop(queue)`: `fd, msg, size` of the oldest queued frame, or nothing (also for a nil queue).
/// Works as a generic-for iterator.
unsafe extern "C-unwind" fn pop(state: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as a C closure over the queues' metatable; the frame is owned only
    // between the queue and `Buffers`, where nothing raises.
    unsafe {
        with_vm(state, |ctx| {
            let Some(queue) = queue_arg(state, "pop")? else { return Ok(0) };
            // Checked before the frame leaves the queue: a busy state must not lose it.
            drop(state_mut(ctx)?);
            let Some((fd, frame)) = (*queue).frames.pop_front() else { return Ok(0) };
            ffi::lua_pushinteger(state, ffi::lua_Integer::from(fd));
            push_block(state, ctx, frame)?;
            Ok(3)
        })
    }
}

/// `clear(queue)`: frees every queued and partial frame; a nil queue is a no-op.
unsafe extern "C-unwind" fn clear(state: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as a C closure over the queues' metatable; dropping frames runs no
    // Lua code.
    unsafe {
        with_vm(state, |_| {
            if let Some(queue) = queue_arg(state, "clear")? {
                *queue = Queue::default();
            }
            Ok(0)
        })
    }
}

/// `pack(data[, size])`: a new block holding `data` (a string, or a message block and its size,
/// which is copied and stays the caller's) behind its 2-byte length, `msg, size + 2`.
unsafe extern "C-unwind" fn pack(state: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as a C function; the frame is owned only until `Buffers` takes it,
    // and nothing raises meanwhile.
    unsafe {
        with_vm(state, |ctx| {
            let frame = if ffi::lua_type(state, 1) == ffi::LUA_TLIGHTUSERDATA {
                let size = size_arg(state, 2, "pack")?;
                let st = state_mut(ctx)?;
                frame_of(&st.buffers.get(token_arg(state, 1, "need message block at param 1")?, Some(size))?)?
            } else {
                frame_of(bytes_arg(state, 1, "pack")?)?
            };
            push_block(state, ctx, frame)?;
            Ok(2)
        })
    }
}

/// `tostring(msg, size)`: the block's bytes as a string; the block is freed. A nil block gives
/// `""`.
unsafe extern "C-unwind" fn tostring(state: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as a C function; the block is made a string in a protected call.
    unsafe {
        with_vm(state, |ctx| {
            let size = size_arg(state, 2, "tostring")?;
            if ffi::lua_isnoneornil(state, 1) != 0 {
                ffi::lua_pushlstring(state, c"".as_ptr(), 0);
                return Ok(1);
            }
            let token = token_arg(state, 1, "need message block at param 1")?;
            let data = state_mut(ctx)?.buffers.take(token, Some(size))?;
            push_owned_bytes(state, data);
            Ok(1)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(frames: &[Vec<u8>]) -> Vec<u8> {
        frames.iter().flat_map(|f| frame_of(f).ok().unwrap()).collect()
    }

    /// Feeds `blocks` of connection `fd` and returns the frames in the order a gate sees them
    /// (the returned one, or the queued ones popped after `More`).
    fn feed(queue: &mut Queue, fd: i32, blocks: &[&[u8]]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for block in blocks {
            match queue.filter(fd, block.to_vec()) {
                Filtered::Nothing => {}
                Filtered::One(frame) => out.push(frame),
                Filtered::More => {
                    assert!(!queue.frames.is_empty(), "More with nothing queued");
                    out.extend(queue.frames.drain(..).map(|(f, frame)| {
                        assert_eq!(f, fd);
                        frame
                    }))
                }
            }
        }
        out
    }

    #[test]
    fn frames_come_out_whole_however_the_stream_is_cut() {
        let frames = vec![b"hello".to_vec(), Vec::new(), vec![0xab; 300], b"x".to_vec()];
        let stream = framed(&frames);
        for a in 0..=stream.len() {
            for b in a..=stream.len() {
                let mut queue = Queue::default();
                let got = feed(&mut queue, 7, &[&stream[..a], &stream[a..b], &stream[b..]]);
                assert_eq!(got, frames, "cut at {a} and {b}");
                assert!(queue.partial.is_empty() && queue.frames.is_empty());
            }
        }
    }

    #[test]
    fn what_filter_answers() {
        let mut queue = Queue::default();
        assert_eq!(queue.filter(1, framed(&[b"one".to_vec()])), Filtered::One(b"one".to_vec()));
        assert_eq!(queue.filter(1, vec![0]), Filtered::Nothing, "half a header");
        assert_eq!(queue.filter(1, vec![0]), Filtered::One(Vec::new()), "an empty frame");
        assert_eq!(queue.filter(1, vec![0, 3, b'a']), Filtered::Nothing);
        assert_eq!(queue.filter(1, b"bc".to_vec()), Filtered::One(b"abc".to_vec()));
        // A frame and a partial one: More, with one frame queued.
        assert_eq!(queue.filter(1, vec![0, 1, b'a', 0]), Filtered::More);
        assert_eq!(queue.frames.drain(..).collect::<Vec<_>>(), vec![(1, b"a".to_vec())]);
        // Connections are framed apart.
        assert_eq!(queue.filter(2, vec![0, 2, b'x']), Filtered::Nothing);
        assert_eq!(queue.filter(1, vec![2, b'h', b'i']), Filtered::One(b"hi".to_vec()));
        assert_eq!(queue.filter(2, vec![b'y']), Filtered::One(b"xy".to_vec()));
        // A close forgets the partial frame, not the queued ones.
        assert_eq!(queue.filter(3, vec![0, 1, b'q', 0, 5, b'p']), Filtered::More);
        queue.forget(3);
        assert!(queue.partial.is_empty());
        assert_eq!(queue.frames.len(), 1);
        assert_eq!(queue.filter(3, vec![0, 1, b'n']), Filtered::One(b"n".to_vec()));
    }

    #[test]
    fn frame_sizes_at_the_limit() {
        let mut queue = Queue::default();
        let big = vec![0x5a; MAX_FRAME];
        let stream = frame_of(&big).ok().unwrap();
        assert_eq!(&stream[..2], &[0xff, 0xff]);
        assert_eq!(feed(&mut queue, 1, &[&stream[..1000], &stream[1000..]]), vec![big.clone()]);
        assert!(frame_of(&vec![0; MAX_FRAME + 1]).is_err());
        assert!(single_frame(&stream) && !single_frame(&stream[1..]) && !single_frame(&[0]));
        assert!(single_frame(&[0, 0]));
    }
}
