//! Decoding a message body for an exchange: the schema's tree, the records
//! inside it, the error codes, and what is worth an event.
//!
//! Not every incomplete decode is news. Three cases are kept as notes on the
//! body rather than reported as `decode_error` events, each because Kafka's
//! own clients read past them: bytes after the last field (Java's readers
//! ignore them; librdkafka's mock cluster appends one to Metadata v13
//! responses), an ApiVersions error response whose layout goes beyond the
//! error code (clients read only the code and retry with a lower version),
//! and a body the capture lost part of (the loss is reported as a gap).
//!
//! Protocols embedded in bytes fields (the consumer and Connect group
//! protocols in JoinGroup and SyncGroup, SASL in SaslAuthenticate) are
//! decoded too ([`crate::kafka::embedded`]). Unless secrets are to be shown,
//! SASL secrets are masked in the body itself, not only in the decoded
//! message: the bytes field's copy in the tree and the raw bytes kept for a
//! body that failed to decode have them overwritten with `*`, so that no
//! rendering of the body can leak them; raw bytes of a SaslAuthenticate body
//! whose `authBytes` could not be read are not kept at all.

use crate::kafka::ApiKey;
use crate::kafka::embedded;
use crate::kafka::errors::ErrorCode;
use crate::kafka::records::{RecordLimits, RecordsMode, decode_records};
use crate::kafka::schema::{self, DecodeErrorKind, MessageKind, Node, Value};

use super::record::{Body, ErrorRef, MAX_RAW_BYTES};

/// Why a body deserves a `decode_error` event.
pub(super) struct Problem {
    pub reason: String,
    pub offset: usize,
    pub path: String,
}

/// How to decode a body.
#[derive(Clone, Debug)]
pub struct DecodeOptions {
    /// How much of the records in Produce/Fetch to decode.
    pub records: RecordsMode,
    pub limits: RecordLimits,
    /// Leave SASL secrets readable.
    pub show_secrets: bool,
    /// Keep up to this many of the body's bytes in [`Body::bytes`] (for a
    /// hex view), secrets masked like the tree's; 0 keeps none.
    pub keep_bytes: usize,
}

/// Decode `body` (the bytes after the header) of `api_key` at `version`,
/// records and embedded protocols included, as the session does: for a view
/// that decodes again what it kept the bytes of (the TUI's detail).
pub fn decode_body(
    api_key: ApiKey,
    version: i16,
    kind: MessageKind,
    body: &[u8],
    complete: bool,
    opts: &DecodeOptions,
) -> Body {
    decode(api_key, version, kind, body, complete, opts).0
}

/// Decode `body` (the bytes after the header) of `api_key` at `version`.
/// `complete` is false when the capture lost part of the message.
pub(super) fn decode(
    api_key: ApiKey,
    version: i16,
    kind: MessageKind,
    body: &[u8],
    complete: bool,
    opts: &DecodeOptions,
) -> (Body, Option<Problem>) {
    let (records, limits, show_secrets) = (opts.records, &opts.limits, opts.show_secrets);
    let mut decoded = schema::decode_body(api_key.0, version, kind, body);
    let mut notes = Vec::new();
    let mut problem = None;
    for w in &decoded.warnings {
        notes.push(format!("{} at {} ({})", w.what, w.path, w.offset));
    }
    if let Some(e) = decoded.error.clone() {
        let error_code = decoded
            .tree
            .get("errorCode")
            .filter(|n| n.range.start == 0)
            .cloned();
        let error_response = api_key == ApiKey::API_VERSIONS
            && kind == MessageKind::Response
            && error_code
                .as_ref()
                .and_then(|n| n.as_int())
                .is_some_and(|c| c != 0);
        if !complete {
            notes.push(format!(
                "part of the message was lost in the capture; decoded up to byte {}",
                e.offset
            ));
        } else if error_response {
            // Only the error code is meaningful: what follows is in a layout
            // of the broker's choosing (clients read the code and retry).
            if let (Some(code), Value::Struct(fields)) = (error_code, &mut decoded.tree.value) {
                *fields = vec![code];
            }
            notes.push(format!(
                "an error response: {} bytes after the error code in a layout clients do not read",
                body.len().saturating_sub(2)
            ));
        } else if e.kind == DecodeErrorKind::TrailingBytes {
            notes.push(format!(
                "{} bytes after the last field, ignored as Kafka's readers ignore them",
                body.len().saturating_sub(e.offset)
            ));
        } else if e.kind != DecodeErrorKind::UnknownMessage {
            problem = Some(Problem {
                reason: match e.kind {
                    DecodeErrorKind::Truncated => "truncated".to_string(),
                    DecodeErrorKind::Invalid(why) => why.to_string(),
                    DecodeErrorKind::TrailingBytes => "trailing bytes".to_string(),
                    DecodeErrorKind::UnknownMessage => "unknown message".to_string(),
                    DecodeErrorKind::UnknownVersion => "unknown version".to_string(),
                },
                offset: e.offset,
                path: e.path.clone(),
            });
        }
    }
    let mut sets = Vec::new();
    // Full mode shows the records: their batches' CRCs are checked too.
    let full;
    let limits = if records == RecordsMode::Full && !limits.verify_crc {
        full = RecordLimits {
            verify_crc: true,
            ..limits.clone()
        };
        &full
    } else {
        limits
    };
    if records != RecordsMode::None {
        schema::walk(&decoded.tree, &mut |_, n| {
            if let Value::Records(r) = &n.value
                && let Some(bytes) = body.get(r.start as usize..r.end as usize)
            {
                sets.push((r.start, decode_records(bytes, records, limits)));
            }
        });
    }
    let mut raw = problem
        .as_ref()
        .map(|_| body[..body.len().min(MAX_RAW_BYTES)].to_vec());
    let mut kept: Option<Vec<u8>> =
        (opts.keep_bytes > 0).then(|| body[..body.len().min(opts.keep_bytes)].to_vec());
    let mut found_embedded = Vec::new();
    if embedded::carries_embedded(api_key) {
        let found = embedded::decode(api_key, kind, &decoded.tree, show_secrets);
        if api_key == ApiKey::SASL_AUTHENTICATE
            && !show_secrets
            && raw.is_some()
            && !found.iter().any(|f| f.embedded.is_some())
        {
            raw = None;
            kept = None;
            notes.push(
                "the body's bytes are not kept: they may hold a SASL credential (--show-secrets keeps them)"
                    .to_string(),
            );
        }
        for f in found {
            notes.extend(f.notes);
            let Some(e) = f.embedded else { continue };
            if !show_secrets && !e.secrets().is_empty() {
                if let Some(b) = bytes_at_mut(&mut decoded.tree, f.at) {
                    embedded::mask(b, e.secrets());
                }
                if let Some(r) = raw
                    .as_mut()
                    .and_then(|r| r.get_mut(f.data_start as usize..))
                {
                    embedded::mask(r, e.secrets());
                }
                if let Some(r) = kept
                    .as_mut()
                    .and_then(|r| r.get_mut(f.data_start as usize..))
                {
                    embedded::mask(r, e.secrets());
                }
            }
            found_embedded.push((f.at, e));
        }
    }
    (
        Body {
            decoded,
            records: sets,
            embedded: found_embedded,
            notes,
            raw,
            bytes: kept.map(Vec::into_boxed_slice),
        },
        problem,
    )
}

/// The bytes of the bytes field whose node starts at `at`.
fn bytes_at_mut(node: &mut Node, at: u32) -> Option<&mut Vec<u8>> {
    if !node.range.contains(&at) && node.range.start != at {
        return None;
    }
    match &mut node.value {
        Value::Bytes(b) if node.range.start == at => Some(b),
        Value::Struct(c) | Value::Array(c) => c.iter_mut().find_map(|n| bytes_at_mut(n, at)),
        _ => None,
    }
}

/// Every non-zero error code in a response body, with its path.
pub(super) fn errors(body: &Body) -> Vec<ErrorRef> {
    schema::error_codes(&body.decoded.tree)
        .into_iter()
        .filter(|e| e.code != 0)
        .map(|e| ErrorRef {
            code: e.code,
            name: ErrorCode(e.code).name(),
            path: e.path,
        })
        .collect()
}
