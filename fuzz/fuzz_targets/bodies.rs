//! Checks shared by the body-decoding fuzz targets (`body_decode`,
//! `request_decode`, `response_decode`, `record_batches`).
#![allow(dead_code)]

use std::io;

use kwire::kafka::records::{self, RecordLimits, RecordsMode, decode_records};
use kwire::kafka::schema::{self, DecodeErrorKind, MessageKind, Value, value};

const API_VERSIONS: i16 = 18;

pub fn limits() -> RecordLimits {
    RecordLimits {
        max_decompressed_bytes: 1 << 20,
        max_total_decompressed_bytes: 4 << 20,
        max_records: 1000,
        max_headers: 1000,
        max_payload_bytes: 64,
        max_issues: 16,
        max_nesting: 2,
        // Fields kwire adds later keep their defaults (so `verify_crc` is
        // on: the CRC-32C pass runs over every batch, as with `--records
        // full`), and this keeps compiling.
        ..RecordLimits::default()
    }
}

pub fn check_records(bytes: &[u8], mode: RecordsMode, limits: &RecordLimits) {
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

/// Records mode from two bits of a selector byte.
pub fn mode(bits: u8) -> RecordsMode {
    match bits & 3 {
        0 => RecordsMode::Meta,
        2 => RecordsMode::None,
        _ => RecordsMode::Full,
    }
}

/// Decode `body` as `api_key` v`version` of `kind` and check the tree, its
/// records, its JSON, and that every prefix of a complete body is truncated.
pub fn check_body(api_key: i16, version: i16, kind: MessageKind, body: &[u8], mode: RecordsMode) {
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
}
