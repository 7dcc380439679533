//! Target `record`: the record-file reader (`skybox replay` before it runs anything) on
//! arbitrary bytes: a preamble, frames with lengths and checksums, postcard entries.
//!
//! Checks: one error or a record, never a panic, never an allocation beyond the input's size
//! order (entries borrow the input); every entry formats as `--dump` prints it; a record holds
//! no more entries than its frames could.

#![no_main]

use libfuzzer_sys::fuzz_target;
use skybox::fuzzing;

fuzz_target!(|data: &[u8]| {
    if let Ok(entries) = fuzzing::read_record(data) {
        // A preamble and a header frame, then at least 9 bytes per entry.
        assert!(entries <= data.len() / 9, "{entries} entries in {} bytes", data.len());
    }
});
