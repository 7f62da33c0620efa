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
//! whose `authBytes` could not be read are not kept at all. Secret fields
//! outside SASL ([`crate::kafka::secrets`]: SCRAM salted passwords,
//! delegation-token HMACs) are overwritten the same way, and in a body that
//! did not decode, everything from where the decode stopped.

use crate::kafka::ApiKey;
use crate::kafka::embedded;
use crate::kafka::errors::ErrorCode;
use crate::kafka::records::{RecordBudget, RecordLimits, RecordsMode, decode_records_within};
use crate::kafka::schema::view;
use crate::kafka::schema::walk::{self, Scalar, Visit};
use crate::kafka::schema::{
    self, DecodeError, DecodeErrorKind, DecodeWarning, FieldSpec, MessageKind, Step, StructView,
    Ty, path_string,
};
use crate::kafka::secrets;

use super::record::{Body, ErrorRef};

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
    /// Leave secrets readable (SASL ones, and the fields of
    /// [`crate::kafka::secrets`]).
    pub show_secrets: bool,
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

/// What decoding a body's records took: records kept and bytes
/// decompressed (what a capture-wide budget is spent by).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Spent {
    pub records: usize,
    pub decompressed_bytes: usize,
}

/// Decode `body` (the bytes after the header) of `api_key` at `version`.
/// `complete` is false when the capture lost part of the message.
///
/// One walk over the bytes (no tree): the error and where it stopped, the
/// error codes, the `records` fields (decoded as asked), nulls where the
/// schema allows none; then the embedded protocols through the body's view.
pub(super) fn decode(
    api_key: ApiKey,
    version: i16,
    kind: MessageKind,
    body: &[u8],
    complete: bool,
    opts: &DecodeOptions,
) -> (Body, Option<Problem>, Spent) {
    let (records, limits, show_secrets) = (opts.records, &opts.limits, opts.show_secrets);
    let spec = schema::message(api_key.0, kind);
    let used = spec.map_or(version, |s| walk::body_version(s, version, body));
    let mut c = Collect {
        path: Vec::new(),
        at: Vec::new(),
        records: Vec::new(),
        errors: Vec::new(),
        top_error_code: None,
        nulls: Vec::new(),
        specs: Vec::new(),
        want_errors: kind == MessageKind::Response,
    };
    // Topic ids (and the names beside them) are collected in the same walk,
    // for the messages that carry any.
    let mut ids = spec
        .filter(|s| super::names::carries(s, used))
        .map(|_| super::names::Collect::new(body));
    let (walked, root) = match (spec, ids.as_mut()) {
        (Some(s), Some(n)) => {
            let (w, r) = view::walk_with_root(s, used, body, &mut walk::Both(&mut c, n));
            (Some(w), Some(r))
        }
        (Some(s), None) => {
            let (w, r) = view::walk_with_root(s, used, body, &mut c);
            (Some(w), Some(r))
        }
        (None, _) => (None, None),
    };
    let whole = walked.as_ref().is_some_and(|w| w.error.is_none());
    let topic_ids = ids.map(|n| Box::new(n.finish(whole)));
    let error = match &walked {
        Some(w) => w.error.clone(),
        None => Some(DecodeError {
            kind: DecodeErrorKind::UnknownMessage,
            offset: 0,
            path: String::new(),
        }),
    };
    let mut notes = Vec::new();
    let warnings: Vec<DecodeWarning> = c
        .nulls
        .iter()
        .map(|(offset, path, nullable_from)| DecodeWarning {
            what: "null in a non-nullable field",
            offset: *offset,
            path: path.clone(),
            nullable_from: *nullable_from,
        })
        .collect();
    for w in &warnings {
        notes.push(format!("{} at {} ({})", w.what, w.path, w.offset));
    }
    let mut problem = None;
    let mut error_code_only = false;
    if let Some(e) = &error {
        let error_response = api_key == ApiKey::API_VERSIONS
            && kind == MessageKind::Response
            && c.top_error_code
                .is_some_and(|(code, at)| at == 0 && code != 0);
        if !complete {
            notes.push(format!(
                "part of the message was lost in the capture; decoded up to byte {}",
                e.offset
            ));
        } else if error_response {
            // Only the error code is meaningful: what follows is in a layout
            // of the broker's choosing (clients read the code and retry).
            error_code_only = true;
            c.errors.retain(|er| er.path == TOP_ERROR_CODE);
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
    let mut spent = Spent::default();
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
        // One budget for all the message's records fields.
        let full_budget = RecordBudget::new(limits);
        let mut budget = full_budget;
        for &(start, end) in &c.records {
            if let Some(bytes) = body.get(start as usize..end as usize) {
                sets.push((
                    start,
                    decode_records_within(bytes, records, limits, &mut budget),
                ));
            }
        }
        spent = Spent {
            records: full_budget.records.saturating_sub(budget.records),
            decompressed_bytes: full_budget
                .decompressed_bytes
                .saturating_sub(budget.decompressed_bytes),
        };
    }
    let mut bytes: Box<[u8]> = body.into();
    let mut raw = problem.is_some();
    let mut found_embedded = Vec::new();
    if embedded::carries_embedded(api_key)
        && let Some(view) = spec.and_then(|s| StructView::message(s, used, body))
    {
        let found = embedded::decode(api_key, kind, &view, show_secrets);
        if api_key == ApiKey::SASL_AUTHENTICATE
            && !show_secrets
            && raw
            && !found.iter().any(|f| f.embedded.is_some())
        {
            raw = false;
            notes.push(
                "the body's bytes are not kept: they may hold a SASL credential (--show-secrets keeps them)"
                    .to_string(),
            );
        }
        for f in found {
            notes.extend(f.notes);
            let Some(e) = f.embedded else { continue };
            if !show_secrets
                && !e.secrets().is_empty()
                && let Some(b) = bytes.get_mut(f.data_start as usize..)
            {
                embedded::mask(b, e.secrets());
            }
            found_embedded.push((f.at, e));
        }
    }
    if !show_secrets && secrets::has_secrets(api_key, kind) {
        mask_secret_fields(api_key, kind, spec, used, &mut bytes, error.as_ref());
    }
    let decoded_version = walked.as_ref().map_or(version, |w| w.version);
    let assumed_version = walked.as_ref().is_some_and(|w| w.assumed_version);
    (
        Body {
            message: spec,
            version: decoded_version,
            assumed_version,
            error,
            warnings,
            records: sets,
            embedded: found_embedded,
            notes,
            raw,
            error_code_only,
            bytes,
            errors: c.errors,
            root,
            tree: Default::default(),
            topic_names: Default::default(),
            topic_ids,
        },
        problem,
        spent,
    )
}

/// Overwrite the secret fields ([`secrets::SECRET_FIELDS`]) of a body with
/// `*`. A field the decode stopped before or inside cannot be found, so in
/// a body that did not decode (trailing bytes aside) everything from where
/// it stopped is overwritten too: the raw bytes kept for it hide nothing
/// else of interest that a secret-bearing message would carry.
fn mask_secret_fields(
    api_key: ApiKey,
    kind: MessageKind,
    spec: Option<&'static schema::MessageSpec>,
    version: i16,
    bytes: &mut [u8],
    error: Option<&DecodeError>,
) {
    let mut ranges = match spec.and_then(|s| StructView::message(s, version, bytes)) {
        Some(view) => secrets::ranges(api_key, kind, &view),
        None => Vec::new(),
    };
    if let Some(e) = error.filter(|e| e.kind != DecodeErrorKind::TrailingBytes) {
        ranges.push(u32::try_from(e.offset).unwrap_or(u32::MAX)..u32::MAX);
    }
    embedded::mask(bytes, &ranges);
}

/// Path of a response's top-level error code.
const TOP_ERROR_CODE: &str = "errorCode";

/// What the session's walk of a body collects.
struct Collect {
    /// The path to the value being read, with where each node starts.
    path: Vec<Step>,
    at: Vec<usize>,
    /// `records` fields: data ranges.
    records: Vec<(u32, u32)>,
    /// Non-zero error codes (responses only).
    errors: Vec<ErrorRef>,
    /// The top-level `errorCode` and where it starts.
    top_error_code: Option<(i16, usize)>,
    /// Nulls in non-nullable fields: offset, path, and the first version
    /// in which the field may be null.
    nulls: Vec<(usize, String, Option<i16>)>,
    /// The fields opened, with `path`.
    specs: Vec<&'static FieldSpec>,
    want_errors: bool,
}

/// Nulls reported per body; more are not worth a note each.
const MAX_NULL_NOTES: usize = 16;

impl Visit<'_> for Collect {
    // Told only of error codes and records (and of nulls the schema does
    // not allow): the rest is read over.
    const EVERY_FIELD: bool = false;

    fn interesting(f: &FieldSpec) -> bool {
        f.error_code || f.ty == Ty::Records
    }

    fn open(&mut self, step: Step, f: &'static FieldSpec, at: usize) {
        self.path.push(step);
        self.at.push(at);
        self.specs.push(f);
    }

    fn close(&mut self, _: usize) {
        self.path.pop();
        self.at.pop();
        self.specs.pop();
    }

    fn abort(&mut self) {
        self.path.pop();
        self.at.pop();
        self.specs.pop();
    }

    fn scalar(&mut self, v: Scalar<'_>) {
        match v {
            Scalar::Int(code) => {
                let Some(&Step::Field(name)) = self.path.last() else {
                    return;
                };
                // Told of error codes and of known tagged fields' values.
                if !schema::is_error_code_name(name) {
                    return;
                }
                let code = code as i16;
                if self.path.len() == 1 && name == TOP_ERROR_CODE {
                    self.top_error_code = Some((code, self.at.last().copied().unwrap_or(0)));
                }
                if self.want_errors && code != 0 {
                    self.errors.push(ErrorRef {
                        code,
                        name: ErrorCode(code).name(),
                        path: path_string(&self.path),
                    });
                }
            }
            Scalar::Records(start, end) => self.records.push((start, end)),
            Scalar::Null { allowed: false } if self.nulls.len() < MAX_NULL_NOTES => {
                let at = self.at.last().copied().unwrap_or(0);
                let from = self
                    .specs
                    .last()
                    .map(|f| f.nullable)
                    .filter(|v| !v.is_empty())
                    .map(|v| v.lo);
                self.nulls.push((at, path_string(&self.path), from));
            }
            _ => {}
        }
    }
}

/// Every non-zero error code in a response body, with its path (collected
/// by the decode's walk).
pub(super) fn errors(body: &Body) -> Vec<ErrorRef> {
    body.errors.clone()
}
