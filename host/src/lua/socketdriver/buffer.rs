//! The pure functions of `skynet.socketdriver`: a socket's receive buffer (`buffer`, `push`,
//! `pop`, `readall`, `readline`, `clear`), the event `unpack`, and `drop`, `str2p`, `header`.
//!
//! socket.lua gives every stream socket a `buffer()` and a `pool` table and passes both to every
//! call. skynet keeps the buffer's list nodes in the pool; here the buffer is a full userdata
//! owning its blocks ([`SocketBuffer`]), freed by its `__gc` (or `__close`, or when the VM
//! closes), and the pool is only type-checked as skynet checks it.
//!
//! These run for every packet. Nothing allocates but the returned string, except when a read
//! spans blocks: the bytes are gathered in the buffer's scratch space first, which is kept for
//! the next read when small. `readline` remembers how far it has searched for its separator, so
//! socket.lua's check after every arrival looks only at the new bytes.

use std::collections::VecDeque;
use std::ffi::{CStr, c_int, c_void};

use mlua::ffi::{self, lua_State};
use skybox_sdk::socket::{self as event, Event, TRAILER, udp_address};

use super::{
    Failure, Outcome, bytes_arg, finish, integer_arg, new_userdata, own_userdata, push_block, push_metatable,
    push_owned_bytes, set_functions, size_arg, state_mut, table_arg, token_arg, with_vm,
};

/// Scratch space a buffer keeps between reads; a larger one is freed after the read.
const SCRATCH_KEEP: usize = 4096;

/// Adds the functions of this file to the table on top of `state`'s stack.
///
/// # Safety
/// `state` is live with the module table on top; allocation may raise (the caller's frames own
/// nothing with a destructor).
pub(super) unsafe fn register(state: *mut lua_State) {
    const BUFFER: [(&CStr, ffi::lua_CFunction); 7] = [
        (c"buffer", buffer),
        (c"push", push),
        (c"pop", pop),
        (c"readall", readall),
        (c"clear", clear),
        (c"readline", readline),
        (c"header", header),
    ];
    const PLAIN: [(&CStr, ffi::lua_CFunction); 3] =
        [(c"drop", drop_block), (c"str2p", str2p), (c"unpack", unpack)];
    // SAFETY: per the contract. The buffer functions close over the buffers' metatable, by which
    // they recognise a buffer.
    unsafe {
        let table = ffi::lua_gettop(state);
        push_metatable::<SocketBuffer>(state, c"socket_buffer");
        set_functions(state, table, &BUFFER, 1);
        set_functions(state, table, &PLAIN, 0);
    }
}

/// The bytes received on one socket and not read yet: a queue of the DATA blocks as they came
/// (moved in, never copied) and how far the first one has been read.
///
/// Invariants: no block is empty; `offset < blocks[0].len()` when there is a block, else
/// `offset == 0`; `size` is the blocks' total length minus `offset`; `scanned` is at most
/// `(size + 1).saturating_sub(scan_sep.len())`, and no position (counted from the first unread
/// byte) below `scanned` starts `scan_sep`.
#[derive(Default)]
pub(crate) struct SocketBuffer {
    blocks: VecDeque<Vec<u8>>,
    offset: usize,
    size: usize,
    /// The separator `scanned` is about (the last one `find` was given).
    scan_sep: Vec<u8>,
    /// Positions known not to start `scan_sep`: where the next search resumes.
    scanned: usize,
    /// Where a read spanning blocks is made contiguous (kept when at most [`SCRATCH_KEEP`]).
    scratch: Vec<u8>,
}

impl SocketBuffer {
    /// Appends a block (an empty one is dropped); returns the new size.
    pub(crate) fn push(&mut self, block: Vec<u8>) -> usize {
        if !block.is_empty() {
            self.size += block.len();
            self.blocks.push_back(block);
        }
        self.size
    }

    /// The unread byte count.
    pub(crate) fn len(&self) -> usize {
        self.size
    }

    /// The first `n` unread bytes (`n <= len()`), in one slice: the first block's own bytes when
    /// they suffice, else a copy in the scratch space. Nothing is consumed.
    pub(crate) fn contiguous(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.size);
        let Some(head) = self.blocks.front() else { return &[] };
        if head.len() - self.offset >= n {
            return &head[self.offset..self.offset + n];
        }
        self.scratch.clear();
        self.scratch.reserve(n);
        let (mut from, mut need) = (self.offset, n);
        for block in &self.blocks {
            let take = (block.len() - from).min(need);
            self.scratch.extend_from_slice(&block[from..from + take]);
            need -= take;
            from = 0;
            if need == 0 {
                break;
            }
        }
        &self.scratch
    }

    /// Consumes the first `n` unread bytes (all of them if there are fewer), freeing the blocks
    /// read to their end.
    pub(crate) fn consume(&mut self, n: usize) {
        let n = n.min(self.size);
        self.size -= n;
        self.scanned = self.scanned.saturating_sub(n);
        let mut left = n;
        while left > 0 {
            let Some(head) = self.blocks.front() else { break };
            let available = head.len() - self.offset;
            if left < available {
                self.offset += left;
                break;
            }
            left -= available;
            self.offset = 0;
            self.blocks.pop_front();
        }
        if self.scratch.capacity() > SCRATCH_KEEP {
            self.scratch = Vec::new();
        }
    }

    /// Frees everything.
    pub(crate) fn clear(&mut self) {
        self.blocks.clear();
        self.offset = 0;
        self.size = 0;
        self.scanned = 0;
        self.scratch = Vec::new();
    }

    /// Where the first `sep` starts among the unread bytes, as skynet's `readline` finds it (an
    /// empty buffer has none; an empty `sep` is at 0). The search resumes where the last one for
    /// the same separator stopped.
    pub(crate) fn find(&mut self, sep: &[u8]) -> Option<usize> {
        if self.size == 0 {
            return None;
        }
        let Some((&first, rest)) = sep.split_first() else { return Some(0) };
        if self.scan_sep != sep {
            self.scan_sep.clear();
            self.scan_sep.extend_from_slice(sep);
            self.scanned = 0;
        }
        let last = self.size.checked_sub(sep.len())?;
        let mut pos = self.scanned;
        if pos > last {
            return None;
        }
        // The block holding `pos`, and `pos`'s index in it.
        let (mut block, mut local) = (0, pos + self.offset);
        while local >= self.blocks[block].len() {
            local -= self.blocks[block].len();
            block += 1;
        }
        while pos <= last {
            let bytes = &self.blocks[block];
            let limit = (last - pos + 1).min(bytes.len() - local);
            match find_byte(&bytes[local..local + limit], first) {
                Some(i) => {
                    if self.matches_at(block, local + i + 1, rest) {
                        self.scanned = pos + i;
                        return Some(pos + i);
                    }
                    pos += i + 1;
                    local += i + 1;
                }
                None => {
                    pos += limit;
                    local += limit;
                }
            }
            if local == bytes.len() {
                block += 1;
                local = 0;
            }
        }
        self.scanned = last + 1;
        None
    }

    /// Whether the bytes from index `local` of block `block` on (possibly none in that block)
    /// start with `sep`, across blocks.
    fn matches_at(&self, mut block: usize, mut local: usize, mut sep: &[u8]) -> bool {
        while !sep.is_empty() {
            let Some(bytes) = self.blocks.get(block) else { return false };
            let available = &bytes[local..];
            let n = available.len().min(sep.len());
            if available[..n] != sep[..n] {
                return false;
            }
            sep = &sep[n..];
            block += 1;
            local = 0;
        }
        true
    }
}

/// The index of the first `byte` in `hay` (libc's `memchr`, vectorized).
fn find_byte(hay: &[u8], byte: u8) -> Option<usize> {
    // SAFETY: memchr reads at most `hay.len()` bytes from `hay`, and returns null or a pointer
    // into it.
    let found = unsafe { libc::memchr(hay.as_ptr().cast::<c_void>(), c_int::from(byte), hay.len()) };
    (!found.is_null()).then(|| found as usize - hay.as_ptr() as usize)
}

/// The event a `PTYPE_SOCKET` payload carries and the length of the event's own bytes (the
/// payload without its trailer), checked against the layout of `skybox_sdk::socket`: DATA's
/// `ud` is its byte count; UDP's payload is followed by an address of the length its family
/// byte says; CLOSE and WARNING have no bytes. `size` is the size Lua gave with the message: it
/// must be the payload's.
pub(crate) fn decode_event(payload: &[u8], size: usize) -> Result<(Event, usize), Failure> {
    if payload.len() != size {
        return Err(Failure::Text(format!(
            "invalid socket message size {size} (the message has {} bytes)",
            payload.len()
        )));
    }
    let Some(len) = payload.len().checked_sub(TRAILER) else {
        return Err(Failure::Static("malformed socket message (shorter than its trailer)"));
    };
    let t = &payload[len..];
    let field = |i: usize| i32::from_le_bytes([t[4 * i], t[4 * i + 1], t[4 * i + 2], t[4 * i + 3]]);
    let ev = Event { kind: field(0), id: field(1), ud: field(2) };
    let well_formed = match ev.kind {
        event::DATA => usize::try_from(ev.ud) == Ok(len),
        event::UDP => usize::try_from(ev.ud).ok().filter(|&n| n <= len).is_some_and(|n| {
            let address = &payload[n..len];
            address.first().and_then(|&family| udp_address::len(family)) == Some(address.len())
        }),
        event::CLOSE | event::WARNING => len == 0,
        event::CONNECT | event::ACCEPT | event::ERROR => true,
        _ => false,
    };
    if !well_formed {
        return Err(Failure::Text(format!(
            "malformed socket message (type {}, ud {}, {len} bytes)",
            ev.kind, ev.ud
        )));
    }
    Ok((ev, len))
}

/// `buffer()`: a new, empty receive buffer.
unsafe extern "C-unwind" fn buffer(state: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as a C closure over the buffers' metatable; nothing owned here.
    unsafe {
        new_userdata::<SocketBuffer>(state);
        1
    }
}

/// The buffer at argument 1, or the failure skynet raises.
unsafe fn buffer_arg(state: *mut lua_State, missing: &'static str) -> Result<*mut SocketBuffer, Failure> {
    // SAFETY: called from the buffer functions, C closures over the buffers' metatable.
    unsafe { own_userdata::<SocketBuffer>(state, 1).ok_or(Failure::Static(missing)) }
}

/// `push(buffer, pool, msg, size)`: appends a DATA block, taking its token out of the VM's
/// buffers (the block moves, no copy). Returns the new buffered size.
unsafe extern "C-unwind" fn push(state: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as a C closure over the buffers' metatable. The block is owned only
    // between its removal from `Buffers` and the push, where nothing raises.
    unsafe {
        with_vm(state, |ctx| {
            let sb = buffer_arg(state, "need buffer object at param 1")?;
            let token = token_arg(state, 3, "need message block at param 3")?;
            table_arg(state, 2, "push")?;
            let size = size_arg(state, 4, "push")?;
            let block = state_mut(ctx)?.buffers.take(token, Some(size))?;
            let size = (*sb).push(block);
            ffi::lua_pushinteger(state, size as ffi::lua_Integer);
            Ok(1)
        })
    }
}

/// Pushes the first `n` unread bytes of `sb` as a string, then consumes `n + skip` bytes.
///
/// The string is made from the buffer's memory directly; no reference to the buffer lives across
/// the call, and the bytes are consumed only once the string exists (an allocation failure
/// loses nothing). Lua copies the bytes before it can run any finalizer; one that reads this
/// buffer meanwhile only makes the consumption stop at what is left.
///
/// # Safety
/// `sb` is the value of a buffer on the stack; runs where Lua may raise (nothing owned).
unsafe fn push_read(state: *mut lua_State, sb: *mut SocketBuffer, n: usize, skip: usize) {
    // SAFETY: per the contract.
    unsafe {
        let (ptr, len) = {
            let bytes = (*sb).contiguous(n);
            (bytes.as_ptr(), bytes.len())
        };
        ffi::lua_pushlstring(state, ptr.cast(), len);
        (*sb).consume(n + skip);
    }
}

/// `pop(buffer, pool, n)`: `string, remaining` with the next `n` bytes, or `nil, size` when
/// fewer are buffered or `n` is 0.
unsafe extern "C-unwind" fn pop(state: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as a C closure over the buffers' metatable.
    unsafe { finish(state, pop_body(state)) }
}

unsafe fn pop_body(state: *mut lua_State) -> Outcome {
    // SAFETY: called by `pop`; nothing owned where Lua may raise.
    unsafe {
        let sb = buffer_arg(state, "Need buffer object at param 1")?;
        table_arg(state, 2, "pop")?;
        let n = size_arg(state, 3, "pop")?;
        if n == 0 || n > (*sb).len() {
            ffi::lua_pushnil(state);
        } else {
            push_read(state, sb, n, 0);
        }
        ffi::lua_pushinteger(state, (*sb).len() as ffi::lua_Integer);
        Ok(2)
    }
}

/// `readall(buffer, pool)`: every buffered byte as one string (`""` when empty).
unsafe extern "C-unwind" fn readall(state: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as a C closure over the buffers' metatable.
    unsafe { finish(state, readall_body(state)) }
}

unsafe fn readall_body(state: *mut lua_State) -> Outcome {
    // SAFETY: called by `readall`; nothing owned where Lua may raise.
    unsafe {
        let sb = buffer_arg(state, "Need buffer object at param 1")?;
        table_arg(state, 2, "readall")?;
        push_read(state, sb, (*sb).len(), 0);
        Ok(1)
    }
}

/// `clear(buffer, pool)`: frees everything buffered; a nil buffer is a no-op.
unsafe extern "C-unwind" fn clear(state: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as a C closure over the buffers' metatable.
    unsafe { finish(state, clear_body(state)) }
}

unsafe fn clear_body(state: *mut lua_State) -> Outcome {
    // SAFETY: called by `clear`; dropping blocks runs no Lua code.
    unsafe {
        if ffi::lua_isnoneornil(state, 1) != 0 {
            return Ok(0);
        }
        let sb = buffer_arg(state, "Need buffer object at param 1")?;
        table_arg(state, 2, "clear")?;
        (*sb).clear();
        Ok(0)
    }
}

/// `readline(buffer, pool, sep)`: with a table as argument 2, the bytes before the first `sep`,
/// consumed with it; otherwise (check mode) `true` if a `sep` is buffered. Nothing when there is
/// none.
unsafe extern "C-unwind" fn readline(state: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as a C closure over the buffers' metatable.
    unsafe { finish(state, readline_body(state)) }
}

unsafe fn readline_body(state: *mut lua_State) -> Outcome {
    // SAFETY: called by `readline`; `sep` borrows the string at argument 3, which stays on the
    // stack; nothing owned where Lua may raise.
    unsafe {
        let sb = buffer_arg(state, "Need buffer object at param 1")?;
        let read = ffi::lua_type(state, 2) == ffi::LUA_TTABLE;
        let sep = bytes_arg(state, 3, "readline")?;
        let Some(at) = (*sb).find(sep) else { return Ok(0) };
        if read {
            push_read(state, sb, at, sep.len());
        } else {
            ffi::lua_pushboolean(state, 1);
        }
        Ok(1)
    }
}

/// `header(str)`: 1 to 4 bytes read as a big-endian unsigned integer.
unsafe extern "C-unwind" fn header(state: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as a C function.
    unsafe { finish(state, header_body(state)) }
}

unsafe fn header_body(state: *mut lua_State) -> Outcome {
    // SAFETY: called by `header`; the bytes borrow the string at argument 1.
    unsafe {
        let bytes = bytes_arg(state, 1, "header")?;
        if bytes.is_empty() || bytes.len() > 4 {
            return Err(Failure::Text(format!("Invalid read {}", String::from_utf8_lossy(bytes))));
        }
        let n = bytes.iter().fold(0u32, |n, &b| (n << 8) | u32::from(b));
        ffi::lua_pushinteger(state, ffi::lua_Integer::from(n));
        Ok(1)
    }
}

/// `drop(msg, size)`: frees a DATA or UDP block (a nil one is nothing to free). `size` must be
/// an integer and is otherwise ignored, as in skynet.
unsafe extern "C-unwind" fn drop_block(state: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as a C function.
    unsafe {
        with_vm(state, |ctx| {
            let nil = ffi::lua_isnoneornil(state, 1) != 0;
            let token = if nil { None } else { Some(token_arg(state, 1, "need message block at param 1")?) };
            integer_arg(state, 2, "drop")?;
            if let Some(token) = token {
                state_mut(ctx)?.buffers.take(token, None)?;
            }
            Ok(0)
        })
    }
}

/// `str2p(str)`: a copy of the string as a message block, `token, size`.
unsafe extern "C-unwind" fn str2p(state: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as a C function; the copy is owned only until `Buffers` takes it.
    unsafe {
        with_vm(state, |ctx| {
            push_block(state, ctx, bytes_arg(state, 1, "str2p")?.to_vec())?;
            Ok(2)
        })
    }
}

/// `unpack(msg, size)`: a `PTYPE_SOCKET` message as `type, id, ud, data` (skynet's numbering,
/// see `skybox_sdk::socket`). The payload is taken out of the VM's buffers, so a message is
/// unpacked once. DATA's data is a token for the same bytes (the trailer cut off, no copy); UDP's
/// is a token for the datagram, followed by the sender's address string; the other events'
/// is their text, `""` for CLOSE and WARNING.
unsafe extern "C-unwind" fn unpack(state: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as a C function. Lua allocates only where the payload is in
    // `Buffers` or already dropped (the address is copied to this frame first), or inside the
    // protected call of `push_owned_bytes`.
    unsafe {
        with_vm(state, |ctx| {
            let token = token_arg(state, 1, "need socket message at param 1")?;
            let size = size_arg(state, 2, "unpack")?;
            let mut st = state_mut(ctx)?;
            let payload = st.buffers.get(token, None)?;
            let (ev, len) = decode_event(&payload, size)?;
            let mut data = st.buffers.take(token, None)?;
            data.truncate(len);
            ffi::lua_pushinteger(state, ffi::lua_Integer::from(ev.kind));
            ffi::lua_pushinteger(state, ffi::lua_Integer::from(ev.id));
            ffi::lua_pushinteger(state, ffi::lua_Integer::from(ev.ud));
            match ev.kind {
                event::DATA => {
                    let token = st.buffers.insert(data);
                    ffi::lua_pushlightuserdata(state, token.0);
                    Ok(4)
                }
                event::UDP => {
                    let split = ev.ud as usize; // checked by `decode_event`
                    let mut address = [0u8; 19];
                    let address_len = data.len() - split;
                    address[..address_len].copy_from_slice(&data[split..]);
                    data.truncate(split);
                    let token = st.buffers.insert(data);
                    drop(st);
                    ffi::lua_pushlightuserdata(state, token.0);
                    ffi::lua_pushlstring(state, address.as_ptr().cast(), address_len);
                    Ok(5)
                }
                _ => {
                    drop(st);
                    push_owned_bytes(state, data);
                    Ok(4)
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A buffer holding `blocks` as pushed, `consumed` bytes already read.
    fn buffer_of(blocks: &[&[u8]], consumed: usize) -> SocketBuffer {
        let mut sb = SocketBuffer::default();
        for block in blocks {
            sb.push(block.to_vec());
        }
        sb.consume(consumed);
        sb
    }

    fn read(sb: &mut SocketBuffer, n: usize) -> Vec<u8> {
        let bytes = sb.contiguous(n).to_vec();
        sb.consume(n);
        bytes
    }

    #[test]
    fn reads_cross_blocks_and_free_what_they_finish() {
        let mut sb = buffer_of(&[b"hel", b"", b"lo w", b"orld"], 0);
        assert_eq!(sb.len(), 11);
        assert_eq!(sb.blocks.len(), 3, "the empty block is dropped");
        assert_eq!(read(&mut sb, 2), b"he");
        assert_eq!(read(&mut sb, 1), b"l", "the rest of a block, without the scratch");
        assert_eq!(sb.blocks.len(), 2);
        assert_eq!(read(&mut sb, 6), b"lo wor");
        assert_eq!((sb.blocks.len(), sb.offset, sb.len()), (1, 2, 2));
        assert_eq!(read(&mut sb, 5), b"ld", "a read stops at what is there");
        assert_eq!((sb.blocks.len(), sb.offset, sb.len()), (0, 0, 0));
        assert_eq!(read(&mut sb, 0), b"");
    }

    #[test]
    fn large_scratch_is_not_kept() {
        let big = vec![7u8; 3 * SCRATCH_KEEP];
        let mut sb = buffer_of(&[&big, &big], 0);
        assert_eq!(read(&mut sb, 4 * SCRATCH_KEEP).len(), 4 * SCRATCH_KEEP);
        assert_eq!(sb.scratch.capacity(), 0);
        sb.push(b"abc".to_vec());
        assert_eq!(read(&mut sb, 2 * SCRATCH_KEEP + 1).len(), 2 * SCRATCH_KEEP + 1);
        assert_eq!(sb.len(), 2);
    }

    /// Every way to cut `text` into four blocks (some empty), each also with a read prefix.
    fn splits(text: &[u8]) -> Vec<SocketBuffer> {
        let mut out = Vec::new();
        let n = text.len();
        for a in 0..=n {
            for b in a..=n {
                for c in b..=n {
                    let parts = [&text[..a], &text[a..b], &text[b..c], &text[c..]];
                    out.push(buffer_of(&parts, 0));
                    let mut first = b"#".to_vec();
                    first.extend_from_slice(parts[0]);
                    let mut sb = buffer_of(&parts[1..], 0);
                    sb.blocks.push_front(first);
                    sb.size += parts[0].len() + 1;
                    sb.consume(1);
                    out.push(sb);
                }
            }
        }
        out
    }

    fn naive_find(hay: &[u8], sep: &[u8]) -> Option<usize> {
        if hay.is_empty() {
            return None;
        }
        if sep.is_empty() {
            return Some(0);
        }
        hay.windows(sep.len()).position(|w| w == sep)
    }

    #[test]
    fn find_agrees_with_a_naive_search_however_the_bytes_are_cut() {
        let text = b"ab\r\r\nc\r\n";
        for sep in [&b"\r\n"[..], b"\n", b"\r\r\n", b"c\r\n", b"x", b"", b"ab\r\r\nc\r\n", b"ab\r\r\nc\r\nz"]
        {
            for mut sb in splits(text) {
                let whole = sb.contiguous(sb.len()).to_vec();
                assert_eq!(sb.find(sep), naive_find(&whole, sep), "{sep:?} in {:?}", sb.blocks);
            }
        }
    }

    #[test]
    fn find_resumes_where_it_stopped() {
        let mut sb = SocketBuffer::default();
        sb.push(b"line one".to_vec());
        assert_eq!(sb.find(b"\r\n"), None);
        assert_eq!(sb.scanned, 7, "the last byte may start a separator");
        sb.push(b"\r".to_vec());
        assert_eq!(sb.find(b"\r\n"), None);
        assert_eq!(sb.scanned, 8);
        sb.push(b"\nnext\r\n".to_vec());
        assert_eq!(sb.find(b"\r\n"), Some(8));
        assert_eq!(read(&mut sb, 10), b"line one\r\n");
        assert_eq!(sb.scanned, 0);
        assert_eq!(sb.find(b"\r\n"), Some(4));
        // Another separator starts over.
        assert_eq!(sb.find(b"q"), None);
        assert_eq!(sb.find(b"e"), Some(1));
        // A consumed prefix moves the memo with it.
        sb.push(b"tail".to_vec());
        assert_eq!(sb.find(b"\n"), Some(5));
        sb.consume(2);
        assert_eq!(sb.find(b"\n"), Some(3));
        assert_eq!(sb.find(b"zz"), None);
        sb.clear();
        assert_eq!(sb.find(b"zz"), None);
        assert_eq!(sb.scanned, 0);
    }

    fn payload(bytes: &[u8], kind: i32, id: i32, ud: i32) -> Vec<u8> {
        Event { kind, id, ud }.encode(bytes.to_vec())
    }

    #[test]
    fn events_are_checked() {
        let ok = |p: Vec<u8>| decode_event(&p, p.len()).map(|(e, len)| (e.kind, e.id, e.ud, len)).ok();
        assert_eq!(ok(payload(b"abc", event::DATA, 5, 3)), Some((1, 5, 3, 3)));
        assert_eq!(ok(payload(b"abc", event::DATA, 5, 2)), None, "DATA's ud is its size");
        assert_eq!(ok(payload(b"", event::CLOSE, 5, 0)), Some((3, 5, 0, 0)));
        assert_eq!(ok(payload(b"x", event::CLOSE, 5, 0)), None);
        assert_eq!(ok(payload(b"", event::WARNING, 5, 64)), Some((7, 5, 64, 0)));
        assert_eq!(ok(payload(b"1.2.3.4:80", event::ACCEPT, 5, 9)), Some((4, 5, 9, 10)));
        assert_eq!(ok(payload(b"", event::CONNECT, 5, 0)), Some((2, 5, 0, 0)));
        let v4 = udp_address::encode("10.0.0.1:53".parse().unwrap());
        let v6 = udp_address::encode("[::1]:53".parse().unwrap());
        for address in [&v4, &v6] {
            let mut bytes = b"dgram".to_vec();
            bytes.extend_from_slice(address);
            assert_eq!(ok(payload(&bytes, event::UDP, 5, 5)), Some((6, 5, 5, bytes.len())));
            assert_eq!(ok(payload(&bytes, event::UDP, 5, 4)), None, "address of the wrong length");
            assert_eq!(ok(payload(&bytes, event::UDP, 5, -1)), None);
            assert_eq!(ok(payload(&bytes, event::UDP, 5, 99)), None);
        }
        assert_eq!(ok(payload(b"dgram", event::UDP, 5, 5)), None, "no address");
        for kind in [0, 8, 9, -1] {
            assert_eq!(ok(payload(b"", kind, 5, 0)), None, "kind {kind}");
        }
        assert_eq!(ok(vec![0; TRAILER - 1]), None);
    }
}
