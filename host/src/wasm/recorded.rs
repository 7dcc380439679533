//! The wasm side of a recorded or replayed guest (see `record`): every import whose answer
//! does not follow from the guest's own state and messages goes through the tape — clocks,
//! `timeout`, sockets and files. A record keeps the answer and the bytes the import wrote into
//! guest memory; a replay writes those bytes back and answers the same, without acting. The
//! message imports (`send`, `command`...) are recorded by the core; `msg_*`, `genid`, `self`
//! and `log` follow from the guest's state.

use super::imports::{Ctx, guest_memory};
use super::memory;
use super::state::GuestState;
use crate::record::{Called, Clock};

/// A clock read.
pub(super) fn clock(st: &GuestState, clock: Clock, read: impl FnOnce() -> u64) -> u64 {
    match st.service.tape() {
        Some(tape) => tape.clock(clock, read),
        None => read(),
    }
}

/// An import answering an `i32` code; `args`: its arguments, which a replay checks.
pub(super) fn import(c: &mut Ctx, name: &str, args: &[i32], run: impl FnOnce(&mut Ctx) -> i32) -> i32 {
    import_writing(c, name, args, None, run)
}

/// An import answering an `i32` code that, when the code is a length within `cap`, wrote that
/// many bytes at `ptr` (`output`: `(ptr, cap)`).
pub(super) fn import_writing(
    c: &mut Ctx,
    name: &str,
    args: &[i32],
    output: Option<(i32, i32)>,
    run: impl FnOnce(&mut Ctx) -> i32,
) -> i32 {
    if c.data().service.tape().is_none() {
        return run(c);
    }
    let service = c.data().service.clone();
    let tape = service.tape().expect("checked above");
    let written =
        |code: i32| output.filter(|&(_, cap)| (0..=cap).contains(&code)).map(|(ptr, _)| (ptr, code));
    let crc = {
        let mut hasher = crc32fast::Hasher::new();
        for arg in args {
            hasher.update(&arg.to_le_bytes());
        }
        hasher.finalize().max(1)
    };
    if !tape.replaying() {
        let code = run(c);
        let mut answer = code.to_le_bytes().to_vec();
        if let Some((ptr, len)) = written(code)
            && let Ok(m) = guest_memory(c)
            && let Ok(bytes) = memory::read(m.data(&*c), ptr, len)
        {
            answer.extend_from_slice(bytes);
        }
        tape.keep(&service, name, crc, Called::Returned(&answer));
        return code;
    }
    let answer = match tape.give(&service, name, crc) {
        Called::Returned(answer) => answer,
        Called::Raised(text) | Called::Unrecordable(text) => stop(name, &format!("failed: {text}")),
    };
    let Some(code) = answer.get(..4).map(|b| i32::from_le_bytes(b.try_into().expect("4 bytes"))) else {
        stop(name, "has a malformed answer in the record")
    };
    if answer.len() > 4 {
        let bytes = &answer[4..];
        let Some((ptr, len)) = written(code).filter(|&(_, len)| len as usize == bytes.len()) else {
            stop(name, "wrote more than its buffer in the record")
        };
        let Ok(m) = guest_memory(c) else { stop(name, "has no guest memory to write to") };
        match memory::slice_mut(m.data_mut(&mut *c), ptr, len) {
            Ok(out) => out.copy_from_slice(bytes),
            Err(_) => stop(name, "writes outside the guest's memory"),
        }
    }
    code
}

/// Ends a replay that cannot give an import its recorded answer.
fn stop(name: &str, why: &str) -> ! {
    crate::record::replay::stop(1, &format!("replay cannot go on: import {name} {why}"))
}
