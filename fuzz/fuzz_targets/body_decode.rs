//! Request/response bodies and the record data inside them: the schema
//! interpreter (`kafka::schema::decode_body`) and `kafka::records`
//! (RecordBatch v2, legacy message sets, decompression).
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
//!
//! Checks: no panic, hang or runaway allocation (small record limits:
//! 1 MiB decompressed per entry, 4 MiB per call); `consumed`, the error
//! offset and every node's byte range lie within the body; a complete decode
//! consumed every byte, and every shorter prefix of it stops with
//! `Truncated` (three outcomes: a cut body is incomplete, never invalid,
//! never complete); every `records` field decodes with its issues and
//! partial tail within its bytes and at most `max_issues` issues kept; the
//! JSON of the tree and of the records serializes.
#![no_main]

mod common;

use std::io;

use common::Script;
use kwire::kafka::records::{self, RecordLimits, RecordsMode, decode_records};
use kwire::kafka::schema::{self, DecodeErrorKind, MessageKind, Value, value};
use libfuzzer_sys::fuzz_target;

const API_VERSIONS: i16 = 18;

fn limits() -> RecordLimits {
    RecordLimits {
        max_decompressed_bytes: 1 << 20,
        max_total_decompressed_bytes: 4 << 20,
        max_records: 1000,
        max_headers: 1000,
        max_payload_bytes: 64,
        max_issues: 16,
        max_nesting: 2,
    }
}

fn check_records(bytes: &[u8], mode: RecordsMode, limits: &RecordLimits) {
    let set = decode_records(bytes, mode, limits);
    assert!(set.partial_tail_bytes <= bytes.len());
    assert!(
        set.issues.len() <= limits.max_issues,
        "{} issues kept",
        set.issues.len()
    );
    for i in &set.issues {
        assert!(
            i.position <= bytes.len(),
            "issue at {} of {}",
            i.position,
            bytes.len()
        );
    }
    let v = records::to_json(&set, mode);
    serde_json::to_writer(io::sink(), &v).expect("serializable");
}

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
    let mode = match (sel >> 1) & 3 {
        0 => RecordsMode::Meta,
        2 => RecordsMode::None,
        _ => RecordsMode::Full,
    };
    let limits = limits();

    let d = schema::decode_body(api_key, version, kind, body);
    assert!(
        d.consumed <= body.len(),
        "consumed {} of {}",
        d.consumed,
        body.len()
    );
    if let Some(e) = &d.error {
        assert!(
            e.offset <= body.len(),
            "error at {} of {}",
            e.offset,
            body.len()
        );
    }
    let mut records_fields = Vec::new();
    value::walk(&d.tree, &mut |_, n| {
        assert!(
            n.range.start <= n.range.end && n.range.end as usize <= body.len(),
            "node {} at {:?} of {} bytes",
            n.name,
            n.range,
            body.len()
        );
        if let Value::Records(r) = &n.value {
            assert!(
                r.start <= r.end && r.end as usize <= body.len(),
                "records at {r:?}"
            );
            records_fields.push(r.start as usize..r.end as usize);
        }
    });
    for r in records_fields {
        check_records(&body[r], mode, &limits);
    }
    for f in value::field_ranges(&d.tree) {
        assert!(f.range.end as usize <= body.len());
    }
    for e in value::error_codes(&d.tree) {
        assert!(e.range.end as usize <= body.len());
    }
    serde_json::to_writer(io::sink(), &value::to_json(&d.tree)).expect("serializable");

    if d.is_complete() && !d.assumed_version {
        assert_eq!(d.consumed, body.len(), "complete but bytes left");
        // An ApiVersions response falls back to v0, which may fit a prefix.
        if !(api_key == API_VERSIONS && kind == MessageKind::Response) {
            let step = (body.len() / 64).max(1);
            for cut in (0..body.len()).step_by(step) {
                let p = schema::decode_body(api_key, version, kind, &body[..cut]);
                let k = p.error.as_ref().map(|e| e.kind);
                assert_eq!(
                    k,
                    Some(DecodeErrorKind::Truncated),
                    "api {api_key} v{version} {kind:?}: complete on {} bytes, {k:?} on {cut}",
                    body.len()
                );
            }
        }
    }

    if sel & 8 != 0 {
        check_records(body, mode, &limits);
    }
});
