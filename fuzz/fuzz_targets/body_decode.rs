//! Request/response bodies and the record data inside them: the schema
//! interpreter (`kafka::schema::decode_body`) and `kafka::records`
//! (RecordBatch v2, legacy message sets, decompression). The checks are in
//! `bodies.rs`; `request_decode`, `response_decode` and `record_batches`
//! fuzz each part alone.
//!
//! Input layout:
//!
//! ```text
//! s:        bit 0 response (else request); bits 1-2 records mode
//!           (0 Meta, 1 Full, 2 None, 3 Full); bit 3 also decode the whole
//!           body as a `records` field
//! api_key:  int16, big-endian
//! version:  int16, big-endian
//! body:     the rest (the bytes after the message header)
//! ```
#![no_main]

mod bodies;
mod common;

use common::Script;
use kwire::kafka::schema::MessageKind;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut s = Script::new(data);
    let sel = s.u8();
    let api_key = s.u16() as i16;
    let version = s.u16() as i16;
    let body = s.take(usize::MAX);
    let kind = if sel & 1 == 0 {
        MessageKind::Request
    } else {
        MessageKind::Response
    };
    let mode = bodies::mode(sel >> 1);
    bodies::check_body(api_key, version, kind, body, mode);
    if sel & 8 != 0 {
        bodies::check_records(body, mode, &bodies::limits());
    }
});
