//! Conformance: what the protocol allows, checked on every exchange, and who
//! deviates from it (the broker or the client), with the rule, its source
//! and what the deviation did on the wire.
//!
//! Kafka-compatible brokers (Redpanda, WarpStream, tansu, test brokers such
//! as librdkafka's mock cluster) and young clients deviate from the
//! protocol more often than Kafka itself, and their users cannot see it:
//! the client reports an unknown error, a decode failure or nothing at all.
//! The checks:
//!
//! * `protocol_error_code`: a response carrying an error code its API does
//!   not define at the request's version ([`crate::kafka::rules`]: e.g.
//!   MEMBER_ID_REQUIRED before JoinGroup v4, KIP-394), a code of another
//!   API's family, or a code Kafka does not define at all. The client asked
//!   at a version written before the code existed, so it cannot know it.
//! * `protocol_malformed`: a body that ends before a field its version
//!   requires, or cannot be that message at that version; when the bytes
//!   read completely as another version of the message, the finding says
//!   which (a broker answering with another version's layout).
//! * `protocol_trailing_bytes`: bytes after a body's last field. Kafka's
//!   readers ignore them: harmless, but a deviation.
//! * `protocol_null`: a null in a field the schema says is not nullable
//!   (librdkafka reads it as null; Kafka's Java client fails on it).
//! * `protocol_records`: record batches that break their own invariants:
//!   a CRC that does not verify, an unusable header, records that do not
//!   match the count, `maxTimestamp` below `baseTimestamp` (create time),
//!   `lastOffsetDelta` other than the record count − 1 in a Produce
//!   request (compaction may leave gaps in fetched batches, not in produced
//!   ones).
//! * `protocol_response_order`: responses on a connection in another order
//!   than their requests (Kafka answers each connection's requests in
//!   order; clients match responses to the oldest request in flight).
//! * `protocol_correlation_reuse`: a client reusing a correlation id still
//!   waiting for its response.
//!
//! Versions a client uses outside what the broker advertised in ApiVersions
//! are the bootstrap family's (`version_unsupported`).
//!
//! Severity is by effect. A code the client cannot know that leaves it in
//! a retry loop ([`super::retries`]) is an error, and the loop is told in
//! the same finding (it is the deviation's consequence, not a finding of
//! its own); a deviation the client coped with (the same API succeeded
//! afterwards) is information; trailing bytes and nulls are information;
//! the rest are warnings.
//!
//! Bodies the capture lost part of, versions newer than kwire knows and
//! messages kwire has no definition for are not deviations and are left
//! out. Contract: every table holds at most [`MAX_KEYS`] keys and
//! [`MAX_STREAMS`] connections; no panic whatever the bodies hold.

use foldhash::{HashMap, HashSet};
use std::collections::BTreeMap;
use std::net::SocketAddr;

use crate::kafka::ApiKey;
use crate::kafka::errors::ErrorCode;
use crate::kafka::records::v2::TimestampType;
use crate::kafka::records::{Batch, IssueKind};
use crate::kafka::rules::{self, Disallowed};
use crate::kafka::schema::views::{ApiVersionsRequest, FetchResponse};
use crate::kafka::schema::walk::{Skip, walk_message};
use crate::kafka::schema::{self, DecodeErrorKind, MessageKind};
use crate::session::{Body, Event, EventKind, Exchange, MessageInfo};

use super::efficiency::{Family, family_of};
use super::producer::record_set;
use super::requests::client_key;
use super::retries::{self, Loop, Outcome, Retries};
use super::{Context, Detector, Finding, MAX_NAMES, Severity};
use crate::present::{duration, plural_suffix};

/// This family's detectors (retry loops included: they are told with the
/// deviations that cause them).
pub fn detectors() -> Vec<Box<dyn Detector>> {
    vec![Box::new(Conformance::default())]
}

/// Keys kept per kind of deviation.
pub const MAX_KEYS: usize = 256;
/// Connections whose response order is followed.
pub const MAX_STREAMS: usize = 65_536;
/// Malformed bodies tried at other versions of their message (each try is
/// a walk of the body).
pub const MAX_VERSION_PROBES: usize = 64;

/// A timestamp field's "none" value.
const NO_TIMESTAMP: i64 = -1;
/// Record batch rules checked here (besides the decoder's issues).
const RULE_MAX_TS: &str = "maxTimestamp ≥ baseTimestamp";
const RULE_MAX_TS_SET: &str = "maxTimestamp set";
const RULE_CRC: &str = "CRC verifies";
const RULE_BELOW_HW: &str = "a consumer's batches end below the high watermark";
const RULE_DELTA: &str = "lastOffsetDelta = records − 1";

/// What breaking a record batch rule does, by who broke it.
fn record_effect(rule: &str, who: Who) -> (Severity, &'static str) {
    match (rule, who) {
        (RULE_MAX_TS_SET, Who::Client) => (
            Severity::Info,
            "a Kafka broker sets maxTimestamp itself when it appends the batch; a broker that stores batches as sent (librdkafka's mock) hands it on to consumers",
        ),
        (RULE_MAX_TS_SET, Who::Broker) => (
            Severity::Warning,
            "Kafka brokers set maxTimestamp on append: consumers and time-based lookups (ListOffsets by timestamp, time retention) see a batch with no time",
        ),
        (RULE_MAX_TS, Who::Client) => (
            Severity::Warning,
            "a Kafka broker recomputes maxTimestamp of an uncompressed batch, but keeps a compressed batch's as sent",
        ),
        (RULE_BELOW_HW, _) => (
            Severity::Warning,
            "a consumer that trusts lastOffsetDelta fetches next from past the high watermark and skips whatever records come between",
        ),
        (RULE_MAX_TS, Who::Broker) => (
            Severity::Warning,
            "time-based lookups (ListOffsets by timestamp) and time retention read maxTimestamp",
        ),
        (_, Who::Client) => (
            Severity::Warning,
            "a Kafka broker rejects such a batch (CORRUPT_MESSAGE or INVALID_RECORD)",
        ),
        (_, Who::Broker) => (
            Severity::Warning,
            "Kafka's Java client rejects such a batch (CorruptRecordException) and cannot move past it",
        ),
    }
}

/// Who broke the rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Who {
    Broker,
    Client,
}

impl Who {
    fn of(kind: MessageKind) -> Who {
        if kind == MessageKind::Response {
            Who::Broker
        } else {
            Who::Client
        }
    }
}

/// One deviation seen some times: the finding it grows into, and what its
/// title needs.
#[derive(Clone)]
struct Seen {
    f: Finding,
    /// Smallest and largest amounts (bytes after the last field).
    min: u64,
    max: u64,
    /// What was found, in words (the first time).
    what: String,
    /// Another version of the message the body reads completely as.
    reads_as: Option<i16>,
}

impl Seen {
    fn new(what: String) -> Seen {
        Seen {
            f: Finding::new(Severity::Info, "", String::new()),
            min: u64::MAX,
            max: 0,
            what,
            reads_as: None,
        }
    }

    fn note(&mut self, e: &Exchange, frame: u64) {
        self.f.count += 1;
        self.f.frame(frame);
        self.f.stream(e.stream);
        self.f.broker(e.broker);
        self.f.client(&client_key(e));
        self.f.at(e.request.ts);
    }
}

fn entry<K: Ord>(
    m: &mut BTreeMap<K, Seen>,
    k: K,
    what: impl FnOnce() -> String,
) -> Option<&mut Seen> {
    if !m.contains_key(&k) && m.len() >= MAX_KEYS {
        return None;
    }
    Some(m.entry(k).or_insert_with(|| Seen::new(what())))
}

#[derive(Default)]
pub struct Conformance {
    retries: Retries,
    /// (broker, API, version, code).
    codes: BTreeMap<(SocketAddr, ApiKey, i16, i16), Seen>,
    /// (client, API) pairs that met a deviating code, and those of them
    /// that later got a response without error to that API.
    met: HashSet<(String, ApiKey)>,
    coped: HashSet<(String, ApiKey)>,
    malformed: BTreeMap<(Who, ApiKey, i16, String), Seen>,
    trailing: BTreeMap<(Who, ApiKey, i16), Seen>,
    /// Fields sent null, per message: `what` lists them.
    nulls: BTreeMap<(Who, ApiKey, i16), Seen>,
    records: BTreeMap<(Who, ApiKey, &'static str), Seen>,
    /// Per connection, the newest request frame answered so far.
    answered: HashMap<u64, u64>,
    order: BTreeMap<SocketAddr, Seen>,
    reuse: BTreeMap<u8, Seen>,
    probes: usize,
    /// Clients of librdkafka's family (from ApiVersions v3+), which do not
    /// check CRCs unless `check.crcs=true`.
    rdkafka: HashSet<String>,
}

impl Conformance {
    fn body(&mut self, e: &Exchange, b: &Body, kind: MessageKind, msg: &MessageInfo) {
        // What the capture lost is not the sender's doing; versions newer
        // than kwire knows are read as the newest known (no verdict).
        if msg.lost_bytes > 0 || b.assumed_version || b.error_code_only {
            return;
        }
        let who = Who::of(kind);
        let frame = msg.frame;
        if let Some(err) = &b.error {
            match err.kind {
                DecodeErrorKind::TrailingBytes => {
                    let extra = (b.bytes.len() as u64).saturating_sub(err.offset as u64);
                    if let Some(s) =
                        entry(&mut self.trailing, (who, e.api_key, b.version), String::new)
                    {
                        s.note(e, frame);
                        s.min = s.min.min(extra);
                        s.max = s.max.max(extra);
                    }
                }
                DecodeErrorKind::Truncated | DecodeErrorKind::Invalid(_) => {
                    let what = match err.kind {
                        DecodeErrorKind::Invalid(why) => why.to_string(),
                        _ => "ends early".to_string(),
                    };
                    let probe = self.probes < MAX_VERSION_PROBES;
                    let path = if err.path.is_empty() {
                        "(top level)".to_string()
                    } else {
                        err.path.clone()
                    };
                    if let Some(s) = entry(
                        &mut self.malformed,
                        (who, e.api_key, b.version, path),
                        || what,
                    ) {
                        s.note(e, frame);
                        if s.reads_as.is_none() && probe {
                            self.probes += 1;
                            s.reads_as = reads_as(e.api_key, kind, b.version, &b.bytes);
                        }
                    }
                }
                DecodeErrorKind::UnknownMessage | DecodeErrorKind::UnknownVersion => {}
            }
        }
        let broken = who == Who::Broker
            && (!b.warnings.is_empty()
                || b.error.as_ref().is_some_and(|x| {
                    matches!(
                        x.kind,
                        DecodeErrorKind::Truncated | DecodeErrorKind::Invalid(_)
                    )
                }));
        if broken {
            self.meet(&client_key(e), e.api_key);
        }
        if !b.warnings.is_empty()
            && let Some(s) = entry(&mut self.nulls, (who, e.api_key, b.version), String::new)
        {
            s.note(e, frame);
            for w in &b.warnings {
                let field = w.path.rsplit('.').next().unwrap_or(&w.path);
                let field = field.split('[').next().unwrap_or(field);
                // `name (nullable only from v12)`, `host (never nullable)`.
                let label = match w.nullable_from {
                    Some(v) => format!("{field} (nullable only from v{v})"),
                    None => format!("{field} (never nullable)"),
                };
                let listed = s.what.split(", ").filter(|x| !x.is_empty()).count();
                if listed < MAX_NAMES && !s.what.split(", ").any(|x| x == label) {
                    if !s.what.is_empty() {
                        s.what.push_str(", ");
                    }
                    s.what.push_str(&label);
                }
            }
        }
        let produce = e.api_key == ApiKey::PRODUCE && kind == MessageKind::Request;
        let fetch = e.api_key == ApiKey::FETCH && kind == MessageKind::Response;
        if !(produce || fetch) {
            return;
        }
        let before = self.records.values().map(|s| s.f.count).sum::<u64>();
        for (_, set) in &b.records {
            for issue in &set.issues {
                let Some(rule) = record_rule(issue.kind) else {
                    continue;
                };
                if let Some(s) = entry(&mut self.records, (who, e.api_key, rule), || {
                    issue.detail.clone()
                }) {
                    s.note(e, frame);
                }
            }
            for batch in &set.batches {
                let Batch::V2(v) = batch else { continue };
                let create = v.attributes.timestamp_type() == TimestampType::CreateTime;
                if create && v.base_timestamp >= 0 && v.max_timestamp < v.base_timestamp {
                    // -1 is "no timestamp": a writer that left it unset.
                    let (rule, what) = if v.max_timestamp == NO_TIMESTAMP {
                        (
                            RULE_MAX_TS_SET,
                            format!(
                                "maxTimestamp -1 (unset) with baseTimestamp {}",
                                v.base_timestamp
                            ),
                        )
                    } else {
                        (
                            RULE_MAX_TS,
                            format!(
                                "maxTimestamp {} is below baseTimestamp {}",
                                v.max_timestamp, v.base_timestamp
                            ),
                        )
                    };
                    if let Some(s) = entry(&mut self.records, (who, e.api_key, rule), || what) {
                        s.note(e, frame);
                    }
                }
                let delta_ok = if produce {
                    i64::from(v.last_offset_delta) == i64::from(v.record_count) - 1
                } else {
                    i64::from(v.last_offset_delta) >= i64::from(v.record_count) - 1
                };
                if v.record_count > 0 && !delta_ok && !v.attributes.is_control() {
                    let what = format!(
                        "lastOffsetDelta {} for {} record{}",
                        v.last_offset_delta,
                        v.record_count,
                        plural_suffix(v.record_count.max(0) as u64)
                    );
                    if let Some(s) = entry(&mut self.records, (who, e.api_key, RULE_DELTA), || what)
                    {
                        s.note(e, frame);
                    }
                }
            }
        }
        // Batches whose offsets leave gaps (compaction) may also run past
        // the partition's high watermark, which a consumer's Fetch never
        // returns: read the partitions' watermarks for those only.
        let gapped = fetch
            && b.records.iter().any(|(_, set)| {
                set.batches.iter().any(|x| {
                    matches!(x, Batch::V2(v) if i64::from(v.last_offset_delta) > i64::from(v.record_count) - 1)
                })
            });
        if gapped && !follower_fetch(e) {
            self.past_high_watermark(e, b, frame);
        }
        let after = self.records.values().map(|s| s.f.count).sum::<u64>();
        if fetch && after > before {
            self.meet(&client_key(e), e.api_key);
        }
    }

    /// Batches of a consumer's Fetch response that end at or past their
    /// partition's high watermark.
    fn past_high_watermark(&mut self, e: &Exchange, b: &Body, frame: u64) {
        let Some(r) = b.view().map(FetchResponse) else {
            return;
        };
        for t in r.responses().into_iter().flatten() {
            for p in t.partitions().into_iter().flatten() {
                let (Some(hw), Some(set)) = (
                    p.high_watermark().filter(|&h| h >= 0),
                    record_set(b, p.records()),
                ) else {
                    continue;
                };
                for x in &set.batches {
                    let Batch::V2(v) = x else { continue };
                    let last = v.base_offset.saturating_add(i64::from(v.last_offset_delta));
                    if last >= hw {
                        let what = format!(
                            "a batch at offset {} with lastOffsetDelta {} for {} records ends at offset {last}, the partition's high watermark being {hw}",
                            v.base_offset, v.last_offset_delta, v.record_count
                        );
                        if let Some(s) = entry(
                            &mut self.records,
                            (Who::Broker, e.api_key, RULE_BELOW_HW),
                            || what,
                        ) {
                            s.note(e, frame);
                        }
                    }
                }
            }
        }
    }

    /// A broker's response the client cannot use, answered over and over:
    /// the client asking again is the deviation's consequence, a loop
    /// without an error code. An error when the client never got a usable
    /// answer of that API afterwards, a warning when it did.
    fn repeated(&self, who: Who, api: ApiKey, f: &mut Finding) {
        if who != Who::Broker || f.count < retries::LOOP_MIN_ATTEMPTS {
            return;
        }
        let (Some(first), Some(last)) = (f.first, f.last) else {
            return;
        };
        let span = last.micros_since(first).max(0);
        let every = span / (f.count - 1).max(1) as i64;
        let coped = f
            .clients
            .iter()
            .all(|c| self.coped.contains(&(c.clone(), api)));
        f.severity = f.severity.max(if coped {
            Severity::Warning
        } else {
            Severity::Error
        });
        f.details.insert(
            0,
            format!(
                "consequence: the client asked again and again, {} {} requests over {} (about every {}), {}: the deviation keeps it from getting what it needs",
                f.count,
                api.name(),
                duration(span),
                duration(every),
                if coped {
                    "before it got a usable answer"
                } else {
                    "and never got a usable answer"
                }
            ),
        );
    }

    fn meet(&mut self, client: &str, api: ApiKey) {
        if self.met.len() < MAX_KEYS * MAX_NAMES {
            self.met.insert((client.to_string(), api));
        }
    }
}

/// A Fetch from a follower (a broker replicating), whose answer may run to
/// the log end, past the high watermark.
fn follower_fetch(e: &Exchange) -> bool {
    let q = e
        .request_body
        .as_deref()
        .and_then(Body::view)
        .map(crate::kafka::schema::views::FetchRequest);
    q.and_then(|q| {
        q.replica_state()
            .and_then(|s| s.replica_id())
            .or(q.replica_id())
    })
    .is_some_and(|r| r >= 0)
}

/// The rule a record issue breaks, for the issues that are the sender's
/// doing (limits kwire hit and codec remarks are not).
fn record_rule(kind: IssueKind) -> Option<&'static str> {
    Some(match kind {
        IssueKind::CrcMismatch => RULE_CRC,
        IssueKind::InvalidBatch => "batch header",
        IssueKind::UnknownMagic => "magic 0, 1 or 2",
        IssueKind::Decompression => "compressed data decodes",
        IssueKind::InvalidRecord => "record fields",
        IssueKind::RecordCountMismatch => "recordCount matches the records",
        IssueKind::InvalidControlRecord => "control record layout",
        IssueKind::CodecWarning
        | IssueKind::DecompressedLimit
        | IssueKind::RecordLimit
        | IssueKind::NestingTooDeep => return None,
    })
}

/// Another version of the message `bytes` read completely as (the nearest
/// to `version`), if any.
fn reads_as(api: ApiKey, kind: MessageKind, version: i16, bytes: &[u8]) -> Option<i16> {
    let spec = schema::message(api.0, kind)?;
    let (lo, hi) = (spec.versions.lo.max(0), spec.versions.hi);
    let mut candidates: Vec<i16> = (lo..=hi).filter(|&v| v != version).collect();
    candidates.sort_by_key(|&v| (v - version).abs());
    candidates
        .into_iter()
        .find(|&v| walk_message(spec, v, bytes, 0, &mut Skip).error.is_none())
}

impl Detector for Conformance {
    fn exchange(&mut self, e: &Exchange, cx: &Context<'_>) {
        self.retries.exchange(e, cx);
        let client = client_key(e);
        if e.api_key == ApiKey::API_VERSIONS
            && self.rdkafka.len() < MAX_KEYS * MAX_NAMES
            && let Some(q) = e
                .request_body
                .as_deref()
                .and_then(Body::view)
                .map(ApiVersionsRequest)
            && let Some(name) = q.client_software_name()
            && family_of(name, q.client_software_version().unwrap_or(""))
                == Some(Family::Librdkafka)
        {
            self.rdkafka.insert(client.clone());
        }
        // A response without error after a deviation on the same API: the
        // client went on.
        // A response without error that itself deviates in nothing: the
        // client got what it asked for.
        let clean = e.response.is_some()
            && e.errors.iter().all(|r| r.code == 0)
            && e.response_body.as_deref().is_none_or(|b| {
                b.warnings.is_empty()
                    && b.error
                        .as_ref()
                        .is_none_or(|x| x.kind == DecodeErrorKind::TrailingBytes)
            });
        if clean && self.met.contains(&(client.clone(), e.api_key)) {
            self.coped.insert((client.clone(), e.api_key));
        }
        if let Some(b) = e.request_body.as_deref() {
            self.body(e, b, MessageKind::Request, &e.request);
        }
        let Some(resp) = e.response else { return };
        if let Some(b) = e.response_body.as_deref() {
            self.body(e, b, MessageKind::Response, &resp);
        }
        // Error codes the request's version cannot know.
        let mut seen: Vec<i16> = Vec::new();
        for r in &e.errors {
            if seen.contains(&r.code) {
                continue;
            }
            seen.push(r.code);
            if let Some(d) = rules::disallowed(e.api_key, e.api_version, ErrorCode(r.code)) {
                let key = (e.broker, e.api_key, e.api_version, r.code);
                let what = match d {
                    Disallowed::TooNew(s) => format!(
                        "a code Kafka defines for {} only from v{} ({})",
                        e.api_key.name(),
                        s.version,
                        s.source
                    ),
                    Disallowed::OtherApi(o) => {
                        let apis: Vec<&str> = o.apis.iter().map(|a| a.name()).collect();
                        format!(
                            "a code Kafka defines only for {} ({}), never for {}",
                            apis.join(", "),
                            o.source,
                            e.api_key.name()
                        )
                    }
                    Disallowed::Unknown => "a code Kafka does not define".to_string(),
                };
                if let Some(s) = entry(&mut self.codes, key, || what) {
                    s.note(e, resp.frame);
                    self.meet(&client, e.api_key);
                }
            }
        }
        // Responses in request order.
        let newest = self.answered.get(&e.stream).copied();
        match newest {
            Some(n) if e.request.frame < n => {
                if let Some(s) = entry(&mut self.order, e.broker, String::new) {
                    s.note(e, resp.frame);
                }
            }
            _ if newest.is_some() || self.answered.len() < MAX_STREAMS => {
                self.answered.insert(e.stream, e.request.frame);
            }
            _ => {}
        }
    }

    fn event(&mut self, ev: &Event, _cx: &Context<'_>) {
        match &ev.kind {
            EventKind::DuplicateCorrelationId { first_frame, .. } => {
                if let Some(s) = entry(&mut self.reuse, 0, String::new) {
                    s.f.count += 1;
                    s.f.frame(*first_frame);
                    s.f.frame(ev.at.frame);
                    if let Some(st) = ev.stream {
                        s.f.stream(st);
                    }
                    s.f.at(ev.at.ts);
                }
            }
            EventKind::ConnectionClose { .. } => {
                if let Some(s) = ev.stream {
                    self.answered.remove(&s);
                }
            }
            _ => {}
        }
    }

    fn findings(&self, _cx: &Context<'_>, out: &mut Vec<Finding>) {
        let loops = self.retries.loops();
        let mut told = vec![false; loops.len()];
        for ((broker, api, version, code), s) in &self.codes {
            let mut f = s.f.clone();
            f.code = "protocol_error_code";
            let c = ErrorCode(*code);
            let named = if c.info().is_some() {
                format!("{} ({})", c.name(), code)
            } else {
                format!("error code {code}")
            };
            let mine: Vec<usize> = (0..loops.len())
                .filter(|&i| {
                    let l = &loops[i];
                    l.api == *api && l.code == *code && f.clients.contains(&l.client)
                })
                .collect();
            let coped = f
                .clients
                .iter()
                .all(|cl| self.coped.contains(&(cl.clone(), *api)));
            let mut title = format!(
                "broker {broker} deviates from the protocol: it answered {} v{version} with {named} {} time{}, {}",
                api.name(),
                f.count,
                plural_suffix(f.count),
                s.what
            );
            if mine.is_empty() {
                f.severity = if coped {
                    Severity::Info
                } else {
                    Severity::Warning
                };
                title.push_str(if coped {
                    "; the client coped (the same request succeeded afterwards)"
                } else {
                    "; a client at that version cannot know what it means"
                });
            } else {
                let ls: Vec<&Loop> = mine.iter().map(|&i| &loops[i]).collect();
                for &i in &mine {
                    told[i] = true;
                }
                let attempts: u64 = ls.iter().map(|l| l.attempts).sum();
                let open = ls.iter().any(|l| l.outcome != Outcome::Recovered);
                f.severity = if open {
                    Severity::Error
                } else {
                    Severity::Warning
                };
                let clients: Vec<&str> = ls.iter().map(|l| l.client.as_str()).collect();
                let paces: Vec<String> = ls.iter().map(|l| l.pace_text()).collect();
                let mut paces_uniq: Vec<&String> = Vec::new();
                for p in &paces {
                    if !paces_uniq.contains(&p) {
                        paces_uniq.push(p);
                    }
                }
                let pace = if paces_uniq.len() == 1 {
                    paces_uniq[0].clone()
                } else {
                    format!(
                        "{} (median of all: every {})",
                        paces.join("; "),
                        duration(median_period(&ls))
                    )
                };
                title.push_str(&format!(
                    "; not knowing it, {} retried in a loop: {} request{} {}, {}",
                    clients.join(" and "),
                    attempts,
                    plural_suffix(attempts),
                    pace,
                    if open {
                        "never getting through before the capture ended"
                    } else {
                        "getting through in the end"
                    }
                ));
                for l in &ls {
                    f.details
                        .push(format!("consequence: {}; {}", l.story(), l.outcome_text()));
                    retries::fill(&mut f, l);
                }
            }
            f.title = title;
            if let Some(info) = c.info() {
                f.details.push(format!(
                    "{}: {}",
                    info.name,
                    info.message.trim_end_matches('.')
                ));
            }
            if *code == ErrorCode::MEMBER_ID_REQUIRED.0 {
                f.details.push(
                    "Kafka answers a JoinGroup below v4 without a member id by assigning one and completing the join; only v4+ clients are asked to join again with the id".to_string(),
                );
            }
            out.push(f);
        }
        for (i, l) in loops.iter().enumerate() {
            if !told[i] {
                out.push(retries::finding(l));
            }
        }
        for ((who, api, version, path), s) in &self.malformed {
            let mut f = s.f.clone();
            f.code = "protocol_malformed";
            f.severity = Severity::Warning;
            let (whom, what) = side(*who, &f);
            f.title = format!(
                "{whom} sent {} {} v{version} {}{} that {} not decode: {} at {path}",
                f.count,
                api.name(),
                what,
                plural_suffix(f.count),
                if f.count == 1 { "does" } else { "do" },
                s.what,
            );
            if let Some(v) = s.reads_as {
                f.details.push(format!(
                    "the bytes read completely as {} v{v}: the {} seems to use another version's layout than the v{version} {}",
                    api.name(),
                    if *who == Who::Broker { "broker" } else { "client" },
                    if *who == Who::Broker { "the request asked for" } else { "its header states" },
                ));
            }
            f.details.push(format!(
                "Kafka's own {} would fail to read {}",
                if *who == Who::Broker {
                    "clients"
                } else {
                    "brokers"
                },
                if f.count == 1 { "it" } else { "them" }
            ));
            self.repeated(*who, *api, &mut f);
            out.push(f);
        }
        for ((who, api, version), s) in &self.trailing {
            let mut f = s.f.clone();
            f.code = "protocol_trailing_bytes";
            f.severity = Severity::Info;
            let (whom, what) = side(*who, &f);
            let bytes = if s.min == s.max {
                format!("{} byte{}", s.min, plural_suffix(s.min))
            } else {
                format!("{}–{} bytes", s.min, s.max)
            };
            f.title = format!(
                "{whom} sent {} {} v{version} {}{} with {bytes} after the last field; Kafka's readers ignore them: harmless",
                f.count,
                api.name(),
                what,
                plural_suffix(f.count),
            );
            out.push(f);
        }
        for ((who, api, version), s) in &self.nulls {
            let mut f = s.f.clone();
            f.code = "protocol_null";
            f.severity = Severity::Info;
            let (whom, what) = side(*who, &f);
            f.title = format!(
                "{whom} sent {} {} v{version} {}{} with null in fields that may not be null at v{version}: {}",
                f.count,
                api.name(),
                what,
                plural_suffix(f.count),
                s.what
            );
            f.details.push(
                "librdkafka reads such a field as null; Kafka's Java client fails to read the message"
                    .to_string(),
            );
            self.repeated(*who, *api, &mut f);
            out.push(f);
        }
        for ((who, api, rule), s) in &self.records {
            let mut f = s.f.clone();
            f.code = "protocol_records";
            let (mut sev, effect) = record_effect(rule, *who);
            // A client of librdkafka's family does not check CRCs (unless
            // told to): the batch was nothing to it. Otherwise the client
            // coped when it fetched again without error afterwards.
            let unchecked = *rule == RULE_CRC
                && *who == Who::Broker
                && f.clients.iter().all(|cl| self.rdkafka.contains(cl));
            // Going on past a batch that runs beyond the high watermark is
            // the harm itself (the records between are skipped).
            let coped = *who == Who::Broker
                && *rule != RULE_BELOW_HW
                && f.clients
                    .iter()
                    .all(|cl| self.coped.contains(&(cl.clone(), *api)));
            if coped || unchecked {
                sev = Severity::Info;
            }
            f.severity = sev;
            let (whom, what) = side(*who, &f);
            let one = f.count == 1;
            f.title = format!(
                "{whom} sent {} record batch{} in {} {} that break{} the rule \"{rule}\": {}",
                f.count,
                if one { "" } else { "es" },
                api.name(),
                plural_noun_of(what, f.count),
                if one { "s" } else { "" },
                s.what
            );
            let n = f.clients.len() as u64;
            if unchecked {
                f.details.push(format!(
                    "the client{} (librdkafka) {} not check CRCs unless check.crcs=true; Kafka's Java consumer and kafka-python check them and would stop there",
                    plural_suffix(n),
                    if n == 1 { "does" } else { "do" }
                ));
            } else if coped {
                f.details.push(format!(
                    "the client{} went on: later {} requests succeeded",
                    plural_suffix(n),
                    api.name()
                ));
            }
            f.details.push(effect.to_string());
            out.push(f);
        }
        for (broker, s) in &self.order {
            let mut f = s.f.clone();
            f.code = "protocol_response_order";
            f.severity = Severity::Warning;
            f.title = format!(
                "broker {broker} answered requests out of order {} time{} (Kafka answers each connection's requests in the order they came)",
                f.count,
                plural_suffix(f.count)
            );
            f.details.push(
                "Kafka's Java client matches a response to the oldest request in flight and closes the connection on a mismatch".to_string(),
            );
            out.push(f);
        }
        for s in self.reuse.values() {
            let mut f = s.f.clone();
            f.code = "protocol_correlation_reuse";
            f.severity = Severity::Warning;
            f.title = format!(
                "a client reused a correlation id still waiting for its response {} time{}: the responses cannot be told apart",
                f.count,
                plural_suffix(f.count)
            );
            out.push(f);
        }
    }
}

fn median_period(ls: &[&Loop]) -> i64 {
    let mut v: Vec<i64> = ls.iter().map(|l| l.period_us()).collect();
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

/// `("broker 127.0.0.1:9092", "response")` or `("client c", "request")`.
fn side(who: Who, f: &Finding) -> (String, &'static str) {
    match who {
        Who::Broker => {
            let b: Vec<String> = f.brokers.iter().map(|b| b.to_string()).collect();
            (
                format!(
                    "broker{} {}",
                    if b.len() == 1 { "" } else { "s" },
                    b.join(", ")
                ),
                "response",
            )
        }
        Who::Client => (
            format!(
                "client{} {}",
                if f.clients.len() == 1 { "" } else { "s" },
                f.clients.join(", ")
            ),
            "request",
        ),
    }
}

fn plural_noun_of(noun: &str, n: u64) -> String {
    format!("{noun}{}", plural_suffix(n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::TopicNames;
    use crate::analysis::findings::requests::tests::ex;
    use crate::session::{ErrorRef, Status};

    fn failed(mut e: Exchange, code: i16) -> Exchange {
        e.status = Status::Error;
        e.errors = vec![ErrorRef {
            code,
            name: ErrorCode(code).name(),
            path: "errorCode".into(),
        }];
        e
    }

    fn run(es: &[Exchange]) -> Vec<Finding> {
        let names = TopicNames::new();
        let cx = Context { names: &names };
        let mut d = Conformance::default();
        for e in es {
            d.exchange(e, &cx);
        }
        let mut out = Vec::new();
        d.findings(&cx, &mut out);
        out
    }

    const JOIN: i16 = ApiKey::JOIN_GROUP.0;
    const MIR: i16 = ErrorCode::MEMBER_ID_REQUIRED.0;

    #[test]
    fn a_code_too_new_that_loops_is_one_error() {
        let es: Vec<Exchange> = (0..15)
            .map(|i| {
                failed(
                    ex(1, JOIN, 1, "sarama", 9092, i * 300, Some(i * 300 + 1)),
                    MIR,
                )
            })
            .collect();
        let f = run(&es);
        assert_eq!(f.len(), 1, "{f:#?}");
        let f = &f[0];
        assert_eq!(
            (f.code, f.severity, f.count),
            ("protocol_error_code", Severity::Error, 15)
        );
        assert!(
            f.title
                .contains("JoinGroup v1 with MEMBER_ID_REQUIRED (79) 15 times"),
            "{}",
            f.title
        );
        assert!(f.title.contains("only from v4 (KIP-394"), "{}", f.title);
        assert!(f.title.contains("15 requests every 300 ms"), "{}", f.title);
    }

    #[test]
    fn a_code_too_new_the_client_coped_with_is_info() {
        let es = vec![
            failed(ex(1, JOIN, 3, "c", 9092, 0, Some(1)), MIR),
            ex(1, JOIN, 3, "c", 9092, 5, Some(6)),
        ];
        let f = run(&es);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Info);
        // At v4 the code is the protocol's.
        let es = vec![failed(ex(1, JOIN, 4, "c", 9092, 0, Some(1)), MIR)];
        assert!(run(&es).is_empty());
    }

    #[test]
    fn responses_out_of_order_are_seen() {
        let mut a = ex(1, 3, 9, "c", 9092, 10, Some(30));
        let mut b = ex(1, 3, 9, "c", 9092, 20, Some(25));
        a.request.frame = 10;
        b.request.frame = 20;
        // The analyzer emits by response: b (answered first), then a.
        let f = run(&[b, a]);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].code, "protocol_response_order");
    }
}

#[cfg(test)]
mod probe_tests {
    use super::*;

    #[test]
    fn a_metadata_v1_body_answering_v5_reads_as_v1() {
        // What a small broker sent to kafka-python's Metadata v5
        // (samples/conformance/wrong_response_version.pcap, frame 11).
        let b: Vec<u8> = [
            "00000001",
            "00000001",
            "0009",
            "3132372e302e302e31",
            "000083ed",
            "ffff",
            "00000001",
            "00000001",
            "0000",
            "0001",
            "74",
            "00",
            "00000001",
            "0000",
            "00000000",
            "00000001",
            "00000001",
            "00000001",
            "00000001",
            "00000001",
        ]
        .concat()
        .as_bytes()
        .chunks(2)
        .map(|h| u8::from_str_radix(std::str::from_utf8(h).unwrap(), 16).unwrap())
        .collect();
        assert_eq!(
            reads_as(ApiKey::METADATA, MessageKind::Response, 5, &b),
            Some(1)
        );
    }
}
