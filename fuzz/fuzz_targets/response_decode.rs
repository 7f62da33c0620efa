//! Response bodies of every API key and version through the schema
//! interpreter, and the records inside them (checks in `bodies.rs`).
//!
//! Input: records-mode byte, api_key int16, version int16, then the body.
#![no_main]

mod bodies;
mod common;

use common::Script;
use kwire::kafka::schema::MessageKind;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut s = Script::new(data);
    let mode = bodies::mode(s.u8());
    let api_key = s.u16() as i16;
    let version = s.u16() as i16;
    let body = s.take(usize::MAX);
    bodies::check_body(api_key, version, MessageKind::Response, body, mode);
});
