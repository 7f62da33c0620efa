//! The bytes of a `records` field: RecordBatch v2 and legacy message sets,
//! every codec, bounded decompression (checks in `bodies.rs`).
//!
//! Input: records-mode byte, then the records bytes.
#![no_main]

mod bodies;
mod common;

use common::Script;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut s = Script::new(data);
    let mode = bodies::mode(s.u8());
    let bytes = s.take(usize::MAX);
    bodies::check_records(bytes, mode, &bodies::limits());
});
