//! Producers: retries (the same batch sent again), idempotence and
//! transaction outcomes (committed, aborted, fenced), oversize messages, the
//! acks setting, and Produce errors with whether the producer's retry
//! succeeded.
//!
//! A batch sent again is recognised by its identity: for an idempotent
//! producer, (producer id, epoch, topic, partition, base sequence), which
//! Kafka itself uses to drop duplicates; otherwise (client, topic, partition)
//! and a fingerprint of the batches' CRCs, sizes, record counts and first
//! timestamps (a producer re-sends the bytes it built; a new batch differs in
//! its timestamps or records). Attempts are ordered by request time, not by
//! the order exchanges arrive in, so an unanswered attempt reported when its
//! connection closes still counts as the first one.
//!
//! State is bounded: [`MAX_BATCHES_TRACKED`] batches (the oldest are folded
//! into per-topic totals), [`MAX_ATTEMPTS`] attempts each, [`MAX_CLIENTS`]
//! producers, [`MAX_TRANSACTIONAL_IDS`] transactional ids and
//! [`MAX_PROBLEMS`] error aggregates; what exceeds a limit is counted, never
//! kept.

use foldhash::HashMap;
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::ops::Range;
use std::sync::Arc;

use crate::capture::Timestamp;
use crate::kafka::ApiKey;
use crate::kafka::errors::ErrorCode;
use crate::kafka::records::{Batch, RecordSet};
use crate::kafka::schema::views::{
    AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, EndTxnRequest, InitProducerIdRequest,
    InitProducerIdResponse, ProduceRequest, ProduceResponse, TxnOffsetCommitRequest,
};
use crate::present::count;
use crate::session::{Body, Exchange, NoResponseReason, Status};

use super::{Context, Detector, Finding, Severity};

/// Batches whose attempts are remembered; the oldest are folded into totals
/// beyond this. A producer gives up on a batch after `delivery.timeout.ms`
/// (two minutes by default), so a retry comes long before this many newer
/// batches have gone by on any but the busiest capture.
pub const MAX_BATCHES_TRACKED: usize = 50_000;
/// Attempts kept per batch (librdkafka and the Java producer retry until
/// `delivery.timeout.ms`; more attempts than this are only counted).
pub const MAX_ATTEMPTS: usize = 16;
/// Producers (client ids) described.
pub const MAX_CLIENTS: usize = 10_000;
/// Transactional ids followed.
pub const MAX_TRANSACTIONAL_IDS: usize = 10_000;
/// Error aggregates (kind × client/topic/transactional id) kept.
pub const MAX_PROBLEMS: usize = 1_000;
/// Detail lines per finding.
pub const MAX_DETAILS: usize = 20;

/// This family's detectors.
pub fn detectors() -> Vec<Box<dyn Detector>> {
    vec![Box::new(Producers::default())]
}

// ---------------------------------------------------------------- wire helpers

/// The decoded records of a `records` field of `body` (its data range in
/// the body, as a view gives it).
pub(super) fn record_set(body: &Body, records: Option<Range<u32>>) -> Option<&RecordSet> {
    let start = records?.start;
    match body.records.binary_search_by_key(&start, |s| s.0) {
        Ok(i) => Some(&body.records[i].1),
        Err(_) => body.records.iter().find(|s| s.0 == start).map(|s| &s.1),
    }
}

/// The client id, or the client's address when it sent none.
pub(super) fn client_label(e: &Exchange) -> Arc<str> {
    match &e.client_id {
        Some(c) if !c.is_empty() => c.clone(),
        _ => Arc::from(crate::present::client_label(None, e.client)),
    }
}

/// `NAME ×N, NAME ×M` from counts.
pub(super) fn tally(counts: &BTreeMap<String, u64>) -> String {
    let mut v: Vec<(&String, &u64)> = counts.iter().collect();
    v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    v.iter()
        .map(|(k, n)| format!("{k} ×{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn partitions_list(ps: &[i64]) -> String {
    let mut v = ps.to_vec();
    v.sort_unstable();
    v.dedup();
    let s: Vec<String> = v.iter().map(i64::to_string).collect();
    s.join(", ")
}

fn push_detail(f: &mut Finding, line: String) {
    if f.details.len() < MAX_DETAILS {
        f.details.push(line);
    }
}

// ---------------------------------------------------------------- error families

/// Broker error codes this family explains, by what they mean for a producer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    /// MESSAGE_TOO_LARGE, RECORD_LIST_TOO_LARGE.
    TooLarge,
    /// OUT_OF_ORDER_SEQUENCE_NUMBER, UNKNOWN_PRODUCER_ID,
    /// INVALID_PRODUCER_ID_MAPPING.
    Sequence,
    /// DUPLICATE_SEQUENCE_NUMBER: the batch was written already; the client
    /// treats it as success.
    Duplicate,
    /// INVALID_PRODUCER_EPOCH, PRODUCER_FENCED, TRANSACTION_COORDINATOR_FENCED.
    Fenced,
    /// INVALID_TXN_STATE, TRANSACTIONAL_ID_NOT_FOUND, TRANSACTION_ABORTABLE,
    /// and any other non-retriable error on a transaction request.
    Transaction,
}

fn kind_of(code: i16) -> Option<Kind> {
    Some(match ErrorCode(code) {
        ErrorCode::MESSAGE_TOO_LARGE | ErrorCode::RECORD_LIST_TOO_LARGE => Kind::TooLarge,
        ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER
        | ErrorCode::INVALID_PRODUCER_ID_MAPPING
        | ErrorCode::UNKNOWN_PRODUCER_ID => Kind::Sequence,
        ErrorCode::DUPLICATE_SEQUENCE_NUMBER => Kind::Duplicate,
        ErrorCode::INVALID_PRODUCER_EPOCH
        | ErrorCode::TRANSACTION_COORDINATOR_FENCED
        | ErrorCode::PRODUCER_FENCED => Kind::Fenced,
        ErrorCode::INVALID_TXN_STATE
        | ErrorCode::TRANSACTIONAL_ID_NOT_FOUND
        | ErrorCode::TRANSACTION_ABORTABLE => Kind::Transaction,
        _ => return None,
    })
}

impl Kind {
    fn code(self) -> &'static str {
        match self {
            Kind::TooLarge => "message_too_large",
            Kind::Sequence => "producer_sequence_error",
            Kind::Duplicate => "producer_duplicate_sequence",
            Kind::Fenced => "producer_fenced",
            Kind::Transaction => "transaction_error",
        }
    }
    fn severity(self) -> Severity {
        match self {
            Kind::Duplicate => Severity::Warning,
            _ => Severity::Error,
        }
    }
}

/// Retriable coordinator errors on transaction requests: the client finds
/// the coordinator again or waits; the request families report them.
fn coordinator_retriable(code: i16) -> bool {
    matches!(
        ErrorCode(code),
        ErrorCode::COORDINATOR_LOAD_IN_PROGRESS
            | ErrorCode::COORDINATOR_NOT_AVAILABLE
            | ErrorCode::NOT_COORDINATOR
            | ErrorCode::CONCURRENT_TRANSACTIONS
    )
}

// ---------------------------------------------------------------- batches

/// What identifies a batch across attempts.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Ident {
    /// An idempotent producer's batch: Kafka's own duplicate check.
    Sequence { pid: i64, epoch: i16, seq: i32 },
    /// Any other: the client and a fingerprint of the bytes.
    Print { client: Arc<str>, print: u64 },
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct BatchKey {
    topic: Arc<str>,
    partition: i64,
    ident: Ident,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Ok,
    Error(i16),
    NoResponse(NoResponseReason),
    /// acks=0: no answer by design.
    Unacknowledged,
}

impl Outcome {
    fn label(self) -> String {
        match self {
            Outcome::Ok => "ok".into(),
            Outcome::Error(c) => ErrorCode(c).to_string(),
            Outcome::NoResponse(r) => format!("no response ({})", r.as_str().replace('_', " ")),
            Outcome::Unacknowledged => "acks=0".into(),
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Attempt {
    ts: Timestamp,
    frame: u64,
    stream: u64,
    broker: SocketAddr,
    outcome: Outcome,
}

#[derive(Clone, Debug)]
struct BatchEntry {
    client: Arc<str>,
    idempotent: bool,
    records: i64,
    bytes: u64,
    attempts: Vec<Attempt>,
    /// Attempts beyond [`MAX_ATTEMPTS`].
    more_attempts: u64,
}

/// Retries and failures of one client's batches to one topic.
#[derive(Clone, Debug, Default)]
struct TopicSends {
    batches_retried: u64,
    retries: u64,
    retried_records: i64,
    causes: BTreeMap<String, u64>,
    /// Retried batches whose last attempt was acknowledged.
    retried_ok: u64,
    /// Batches whose last attempt failed with an error no other finding
    /// explains, by error.
    failed: BTreeMap<String, u64>,
    failed_batches: u64,
    failed_records: i64,
    non_idempotent_retries_after_doubt: u64,
    partitions: Vec<i64>,
    failed_partitions: Vec<i64>,
    retry_f: Option<Finding>,
    fail_f: Option<Finding>,
}

impl TopicSends {
    fn fold(&mut self, key: &BatchKey, b: &BatchEntry) {
        let mut att = b.attempts.clone();
        att.sort_by_key(|a| (a.ts, a.frame));
        let Some(last) = att.last().copied() else {
            return;
        };
        let topic = &*key.topic;
        let p = key.partition;
        if att.len() > 1 {
            self.batches_retried += 1;
            let n = att.len() as u64 - 1 + b.more_attempts;
            self.retries += n;
            self.retried_records += b.records;
            if !self.partitions.contains(&p) && self.partitions.len() < MAX_DETAILS {
                self.partitions.push(p);
            }
            let f = self.retry_f.get_or_insert_with(|| {
                Finding::new(Severity::Warning, "produce_retries", String::new())
            });
            let mut doubt = false;
            for a in &att[..att.len() - 1] {
                *self.causes.entry(a.outcome.label()).or_default() += 1;
                doubt |= matches!(
                    a.outcome,
                    Outcome::Error(7) | Outcome::NoResponse(_) | Outcome::Error(20)
                );
            }
            if doubt && !b.idempotent {
                self.non_idempotent_retries_after_doubt += 1;
            }
            if last.outcome == Outcome::Ok {
                self.retried_ok += 1;
            }
            for a in &att {
                f.frame(a.frame);
                f.stream(a.stream);
                f.broker(a.broker);
                f.at(a.ts);
            }
            f.client(&b.client);
            f.topic(topic);
            let steps: Vec<String> = att
                .iter()
                .map(|a| format!("frame {} {}", a.frame, a.outcome.label()))
                .collect();
            push_detail(
                f,
                format!(
                    "{topic}-{p}: batch of {} ({} bytes{}): {}",
                    count(b.records.max(0) as u64, "record", "records"),
                    b.bytes,
                    match &key.ident {
                        Ident::Sequence { pid, epoch, seq } =>
                            format!(", producer id {pid} epoch {epoch} sequence {seq}"),
                        Ident::Print { .. } => String::new(),
                    },
                    steps.join(" → ")
                ),
            );
        }
        if let Outcome::Error(c) = last.outcome
            && kind_of(c).is_none()
        {
            *self.failed.entry(ErrorCode(c).to_string()).or_default() += 1;
            self.failed_batches += 1;
            self.failed_records += b.records;
            if !self.failed_partitions.contains(&p) && self.failed_partitions.len() < MAX_DETAILS {
                self.failed_partitions.push(p);
            }
            let f = self
                .fail_f
                .get_or_insert_with(|| Finding::new(Severity::Error, "produce_failed", ""));
            f.frame(last.frame);
            f.stream(last.stream);
            f.broker(last.broker);
            f.at(last.ts);
            f.client(&b.client);
            f.topic(topic);
            push_detail(
                f,
                format!(
                    "{topic}-{p}: batch of {} at frame {} got {} after {}; no later attempt in the capture",
                    count(b.records.max(0) as u64, "record", "records"),
                    last.frame,
                    ErrorCode(c),
                    count(att.len() as u64, "attempt", "attempts"),
                ),
            );
        }
    }
}

/// A fingerprint of the batches of one partition's records.
fn fingerprint(set: &RecordSet) -> u64 {
    // FNV-1a over each batch's CRC, size, count and first timestamp.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut mix = |x: u64| {
        for b in x.to_le_bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    for b in &set.batches {
        match b {
            Batch::V2(rb) => {
                mix(u64::from(rb.crc));
                mix(rb.batch_length as u64);
                mix(rb.record_count as u64);
                mix(rb.base_timestamp as u64);
            }
            Batch::Legacy(m) => {
                mix(u64::from(m.crc));
                mix(m.message_size as u64);
                mix(m.timestamp.unwrap_or(-1) as u64);
            }
        }
    }
    h
}

fn set_records(set: &RecordSet) -> (i64, u64) {
    let mut records = 0i64;
    let mut bytes = 0u64;
    for b in &set.batches {
        match b {
            Batch::V2(rb) => {
                records += i64::from(rb.record_count.max(0));
                bytes += rb.batch_length.max(0) as u64 + 12;
            }
            Batch::Legacy(m) => {
                records += m.messages.len().max(1) as i64;
                bytes += m.message_size.max(0) as u64 + 12;
            }
        }
    }
    (records, bytes)
}

// ---------------------------------------------------------------- producers

#[derive(Clone, Debug, Default)]
struct ClientInfo {
    /// Produce requests by acks.
    acks: BTreeMap<i64, (u64, u64)>,
    /// Producer ids (and the epoch first seen), when idempotent.
    pids: Vec<(i64, i16)>,
    idempotent_batches: u64,
    plain_batches: u64,
    legacy_batches: u64,
    transactional_ids: Vec<String>,
    streams: Vec<u64>,
    first_frame: u64,
}

// ---------------------------------------------------------------- transactions

#[derive(Clone, Debug, Default)]
struct Txn {
    clients: Vec<Arc<str>>,
    /// (producer id, epoch) from InitProducerId answers, in order.
    inits: Vec<(i64, i16, u64)>,
    committed: u64,
    aborted: u64,
    /// Aborts that followed a non-retriable error in the transaction:
    /// (frame of the abort, the error, frame of the error).
    aborted_after_error: Vec<(u64, String, u64)>,
    /// Transactions under way, one per producer id (two producers may
    /// share the transactional id while one fences the other).
    open: Vec<OpenTxn>,
    /// Transactions under way when InitProducerId was answered again:
    /// (first frame of the transaction, frame of the InitProducerId). The
    /// coordinator aborts them.
    taken_over: Vec<(u64, u64)>,
    frames: Vec<u64>,
    streams: Vec<u64>,
    topics: Vec<String>,
    first: Option<Timestamp>,
    last: Option<Timestamp>,
    last_frame: u64,
}

/// A transaction under way.
#[derive(Clone, Debug)]
struct OpenTxn {
    pid: i64,
    first_frame: u64,
    records: i64,
    /// The first non-retriable error in it, and its frame.
    error: Option<(String, u64)>,
}

impl Txn {
    /// The transaction under way of producer `pid`, begun at `frame` if none is.
    fn open_of(&mut self, pid: i64, frame: u64) -> Option<&mut OpenTxn> {
        let i = match self.open.iter().position(|o| o.pid == pid) {
            Some(i) => i,
            None if self.open.len() < MAX_DETAILS => {
                self.open.push(OpenTxn {
                    pid,
                    first_frame: frame,
                    records: 0,
                    error: None,
                });
                self.open.len() - 1
            }
            None => return None,
        };
        self.open.get_mut(i)
    }

    fn touch(&mut self, e: &Exchange, client: &Arc<str>) {
        if !self.clients.contains(client) && self.clients.len() < MAX_DETAILS {
            self.clients.push(client.clone());
        }
        if self.frames.len() < super::MAX_FRAMES && !self.frames.contains(&e.request.frame) {
            self.frames.push(e.request.frame);
        }
        if !self.streams.contains(&e.stream) && self.streams.len() < MAX_DETAILS {
            self.streams.push(e.stream);
        }
        let ts = e.request.ts;
        if self.first.is_none_or(|f| ts < f) {
            self.first = Some(ts);
        }
        if self.last.is_none_or(|l| ts > l) {
            self.last = Some(ts);
            self.last_frame = e.request.frame;
        }
    }
}

// ---------------------------------------------------------------- the detector

/// Key of an error aggregate: its kind and whom it concerns.
type ProblemKey = (Kind, String);

#[derive(Clone, Debug)]
struct Problem {
    f: Finding,
    errors: BTreeMap<String, u64>,
    apis: BTreeMap<&'static str, u64>,
    records: i64,
}

/// Everything about producers.
#[derive(Default)]
pub struct Producers {
    batches: HashMap<BatchKey, BatchEntry>,
    order: VecDeque<BatchKey>,
    /// Totals of batches let go to stay within [`MAX_BATCHES_TRACKED`], by
    /// (client, topic).
    retired: BTreeMap<(Arc<str>, Arc<str>), TopicSends>,
    clients: HashMap<Arc<str>, ClientInfo>,
    txns: HashMap<String, Txn>,
    problems: BTreeMap<ProblemKey, Problem>,
    /// Things not kept because a limit was reached.
    dropped: u64,
}

/// The APIs this family reads, by name; `other` for any other.
fn api_name(key: ApiKey) -> &'static str {
    match key {
        ApiKey::PRODUCE
        | ApiKey::INIT_PRODUCER_ID
        | ApiKey::ADD_PARTITIONS_TO_TXN
        | ApiKey::ADD_OFFSETS_TO_TXN
        | ApiKey::END_TXN
        | ApiKey::TXN_OFFSET_COMMIT => key.name(),
        _ => "other",
    }
}

impl Producers {
    fn problem(
        &mut self,
        key: ProblemKey,
        code: i16,
        e: &Exchange,
        client: &Arc<str>,
        topic: Option<&str>,
        detail: String,
    ) {
        let kind = key.0;
        if !self.problems.contains_key(&key) && self.problems.len() >= MAX_PROBLEMS {
            self.dropped += 1;
            return;
        }
        let p = self.problems.entry(key).or_insert_with(|| Problem {
            f: Finding::new(kind.severity(), kind.code(), ""),
            errors: BTreeMap::new(),
            apis: BTreeMap::new(),
            records: 0,
        });
        p.f.count += 1;
        p.f.frame(e.request.frame);
        p.f.stream(e.stream);
        p.f.broker(e.broker);
        p.f.client(client);
        p.f.at(e.request.ts);
        if let Some(t) = topic {
            p.f.topic(t);
        }
        *p.errors.entry(ErrorCode(code).to_string()).or_default() += 1;
        *p.apis.entry(api_name(e.api_key)).or_default() += 1;
        push_detail(&mut p.f, detail);
    }

    fn txn(&mut self, id: &str) -> Option<&mut Txn> {
        if !self.txns.contains_key(id) {
            if self.txns.len() >= MAX_TRANSACTIONAL_IDS {
                self.dropped += 1;
                return None;
            }
            self.txns.insert(id.to_string(), Txn::default());
        }
        self.txns.get_mut(id)
    }

    fn client(&mut self, c: &Arc<str>, e: &Exchange) -> Option<&mut ClientInfo> {
        if !self.clients.contains_key(c) {
            if self.clients.len() >= MAX_CLIENTS {
                self.dropped += 1;
                return None;
            }
            self.clients.insert(
                c.clone(),
                ClientInfo {
                    first_frame: e.request.frame,
                    ..ClientInfo::default()
                },
            );
        }
        self.clients.get_mut(c)
    }

    fn track_batch(&mut self, key: BatchKey, entry: BatchEntry) {
        if let Some(b) = self.batches.get_mut(&key) {
            if b.attempts.len() < MAX_ATTEMPTS {
                b.attempts.extend(entry.attempts);
            } else {
                b.more_attempts += 1;
            }
            return;
        }
        while self.batches.len() >= MAX_BATCHES_TRACKED {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some(b) = self.batches.remove(&old) {
                self.retired
                    .entry((b.client.clone(), old.topic.clone()))
                    .or_default()
                    .fold(&old, &b);
            }
        }
        self.order.push_back(key.clone());
        self.batches.insert(key, entry);
    }

    fn produce(&mut self, e: &Exchange, cx: &Context<'_>, client: &Arc<str>) {
        let Some(req) = e.request_body.as_deref() else {
            return;
        };
        let q = req.view().map(ProduceRequest);
        let acks = q.and_then(|q| q.acks()).map_or(-1, i64::from);
        let txn_id = q.and_then(|q| q.transactional_id());
        // The answer for each (topic, partition).
        let mut answers: Vec<(String, i64, i16)> = Vec::new();
        let responses = e
            .response_body
            .as_deref()
            .and_then(Body::view)
            .map(ProduceResponse)
            .and_then(|r| r.responses());
        for t in responses.into_iter().flatten() {
            let Some(topic) = cx.names.label(t.name(), t.topic_id()) else {
                continue;
            };
            for p in t.partition_responses().into_iter().flatten() {
                let (Some(i), Some(c)) = (p.index(), p.error_code()) else {
                    continue;
                };
                answers.push((topic.clone(), i64::from(i), c));
            }
        }
        if let Some(ci) = self.client(client, e) {
            let a = ci.acks.entry(acks).or_insert((0, e.request.frame));
            a.0 += 1;
            if !ci.streams.contains(&e.stream) && ci.streams.len() < MAX_DETAILS {
                ci.streams.push(e.stream);
            }
            if let Some(t) = txn_id
                && !ci.transactional_ids.iter().any(|x| x == t)
                && ci.transactional_ids.len() < MAX_DETAILS
            {
                ci.transactional_ids.push(t.to_string());
            }
        }
        let mut txn_records = 0i64;
        let mut txn_pid = -1i64;
        let mut txn_error: Option<(String, u64)> = None;
        let mut txn_topics: Vec<String> = Vec::new();
        for t in q.and_then(|q| q.topic_data()).into_iter().flatten() {
            let Some(topic) = cx.names.label(t.name(), t.topic_id()) else {
                continue;
            };
            let topic: Arc<str> = Arc::from(topic);
            for p in t.partition_data().into_iter().flatten() {
                let Some(partition) = p.index().map(i64::from) else {
                    continue;
                };
                let Some(set) = record_set(req, p.records()) else {
                    continue;
                };
                if set.batches.is_empty() {
                    continue;
                }
                let (records, bytes) = set_records(set);
                let outcome = match e.status {
                    Status::NoResponse(r) => Outcome::NoResponse(r),
                    Status::NoResponseExpected => Outcome::Unacknowledged,
                    Status::Ok | Status::Error | Status::Malformed => answers
                        .iter()
                        .find(|(n, i, _)| **n == *topic && *i == partition)
                        .map_or(Outcome::Ok, |&(_, _, c)| {
                            if c == 0 {
                                Outcome::Ok
                            } else {
                                Outcome::Error(c)
                            }
                        }),
                };
                let first_v2 = set.batches.iter().find_map(|b| match b {
                    Batch::V2(rb) => Some(rb),
                    Batch::Legacy(_) => None,
                });
                let idempotent = first_v2.is_some_and(|rb| rb.producer_id >= 0);
                if let Some(rb) = first_v2 {
                    txn_pid = rb.producer_id;
                }
                if let Some(ci) = self.clients.get_mut(client) {
                    for b in &set.batches {
                        match b {
                            Batch::V2(rb) if rb.producer_id >= 0 => {
                                ci.idempotent_batches += 1;
                                if !ci.pids.iter().any(|x| x.0 == rb.producer_id)
                                    && ci.pids.len() < MAX_DETAILS
                                {
                                    ci.pids.push((rb.producer_id, rb.producer_epoch));
                                }
                            }
                            Batch::V2(_) => ci.plain_batches += 1,
                            Batch::Legacy(_) => ci.legacy_batches += 1,
                        }
                    }
                }
                if txn_id.is_some() {
                    txn_records += records;
                    if !txn_topics.iter().any(|x| **x == *topic) {
                        txn_topics.push(topic.to_string());
                    }
                }
                if let Outcome::Error(c) = outcome {
                    let label = match first_v2 {
                        Some(rb) if rb.producer_id >= 0 => format!(
                            " (producer id {} epoch {} sequence {})",
                            rb.producer_id, rb.producer_epoch, rb.base_sequence
                        ),
                        _ => String::new(),
                    };
                    if let Some(kind) = kind_of(c) {
                        let subject = match kind {
                            Kind::TooLarge => format!("{client}\0{topic}"),
                            _ => txn_id.map_or_else(|| client.to_string(), str::to_string),
                        };
                        let detail = format!(
                            "frame {}: Produce to {topic}-{partition}, {} in {bytes} bytes{label}: {}",
                            e.request.frame,
                            count(records.max(0) as u64, "record", "records"),
                            ErrorCode(c)
                        );
                        self.problem((kind, subject), c, e, client, Some(&topic), detail);
                        if kind == Kind::TooLarge
                            && let Some(pr) =
                                self.problems.get_mut(&(kind, format!("{client}\0{topic}")))
                        {
                            pr.records += records;
                        }
                    }
                    if txn_id.is_some() && !ErrorCode(c).is_retriable() && txn_error.is_none() {
                        txn_error = Some((ErrorCode(c).to_string(), e.request.frame));
                    }
                }
                let ident = match first_v2 {
                    Some(rb) if rb.producer_id >= 0 && rb.base_sequence >= 0 => Ident::Sequence {
                        pid: rb.producer_id,
                        epoch: rb.producer_epoch,
                        seq: rb.base_sequence,
                    },
                    _ => Ident::Print {
                        client: client.clone(),
                        print: fingerprint(set),
                    },
                };
                let key = BatchKey {
                    topic: topic.clone(),
                    partition,
                    ident,
                };
                self.track_batch(
                    key,
                    BatchEntry {
                        client: client.clone(),
                        idempotent,
                        records,
                        bytes,
                        attempts: vec![Attempt {
                            ts: e.request.ts,
                            frame: e.request.frame,
                            stream: e.stream,
                            broker: e.broker,
                            outcome,
                        }],
                        more_attempts: 0,
                    },
                );
            }
        }
        if let Some(id) = txn_id
            && let Some(tx) = self.txn(id)
        {
            tx.touch(e, client);
            for t in txn_topics {
                if !tx.topics.contains(&t) && tx.topics.len() < MAX_DETAILS {
                    tx.topics.push(t);
                }
            }
            if let Some(o) = tx.open_of(txn_pid, e.request.frame) {
                o.records += txn_records;
                if o.error.is_none() {
                    o.error = txn_error;
                }
            }
        }
    }

    /// InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn, EndTxn,
    /// TxnOffsetCommit.
    fn transactional(&mut self, e: &Exchange, client: &Arc<str>) {
        let Some(req) = e.request_body.as_deref() else {
            return;
        };
        let q = req.view();
        let r = e.response_body.as_deref().and_then(Body::view);
        // (transactional id, producer id, epoch) of each transaction the
        // request is about (AddPartitionsToTxn v4+ batches several).
        let mut subjects: Vec<(Option<String>, i64, i64)> = Vec::new();
        let subject = |id: Option<&str>, pid: Option<i64>, epoch: Option<i16>| {
            (
                id.map(str::to_string),
                pid.unwrap_or(-1),
                epoch.map_or(-1, i64::from),
            )
        };
        // The request's own transactional id, producer id and epoch.
        macro_rules! own {
            ($view:ident) => {{
                let q = q.map($view);
                subject(
                    q.and_then(|q| q.transactional_id()),
                    q.and_then(|q| q.producer_id()),
                    q.and_then(|q| q.producer_epoch()),
                )
            }};
        }
        match e.api_key {
            ApiKey::ADD_PARTITIONS_TO_TXN => {
                let q = q.map(AddPartitionsToTxnRequest);
                match q.and_then(|q| q.transactions()) {
                    Some(ts) => {
                        for t in ts {
                            subjects.push(subject(
                                t.transactional_id(),
                                t.producer_id(),
                                t.producer_epoch(),
                            ));
                        }
                    }
                    None => subjects.push(subject(
                        q.and_then(|q| q.v3_and_below_transactional_id()),
                        q.and_then(|q| q.v3_and_below_producer_id()),
                        q.and_then(|q| q.v3_and_below_producer_epoch()),
                    )),
                }
            }
            ApiKey::INIT_PRODUCER_ID => subjects.push(own!(InitProducerIdRequest)),
            ApiKey::ADD_OFFSETS_TO_TXN => subjects.push(own!(AddOffsetsToTxnRequest)),
            ApiKey::END_TXN => subjects.push(own!(EndTxnRequest)),
            ApiKey::TXN_OFFSET_COMMIT => subjects.push(own!(TxnOffsetCommitRequest)),
            _ => subjects.push((None, -1, -1)),
        }
        // Every error code in the response, once each.
        let mut codes: Vec<i16> = Vec::new();
        for er in &e.errors {
            if !codes.contains(&er.code) {
                codes.push(er.code);
            }
        }
        let answered = matches!(e.status, Status::Ok | Status::Error);
        let api = api_name(e.api_key);
        let (pid0, ep0) = subjects.first().map_or((-1, -1), |s| (s.1, s.2));
        let txn0 = subjects.first().and_then(|s| s.0.clone());
        // Errors: fencing, sequences, transaction state; any other
        // non-retriable one on a transactional request.
        for &c in &codes {
            let kind = match kind_of(c) {
                Some(k) => Some(k),
                None if txn0.is_some() && !ErrorCode(c).is_retriable() => Some(Kind::Transaction),
                None => None,
            };
            let Some(kind) = kind else {
                continue;
            };
            if coordinator_retriable(c) {
                continue;
            }
            let subject = txn0.clone().unwrap_or_else(|| client.to_string());
            let who = match &txn0 {
                Some(t) => format!("transactional id {t}, "),
                None => String::new(),
            };
            let detail = format!(
                "frame {}: {api} ({who}producer id {pid0} epoch {ep0}): {}",
                e.request.frame,
                ErrorCode(c)
            );
            self.problem((kind, subject), c, e, client, None, detail);
        }
        if let Some(ci) = self.client(client, e)
            && let Some(t) = &txn0
            && !ci.transactional_ids.iter().any(|x| x == t)
            && ci.transactional_ids.len() < MAX_DETAILS
        {
            ci.transactional_ids.push(t.clone());
        }
        for (id, pid, _) in subjects {
            let Some(id) = id else {
                continue;
            };
            let Some(tx) = self.txn(&id) else {
                continue;
            };
            tx.touch(e, client);
            let non_retriable = codes
                .iter()
                .copied()
                .find(|&c| c != 0 && !ErrorCode(c).is_retriable());
            match e.api_key {
                ApiKey::INIT_PRODUCER_ID => {
                    if let Some(r) = r.map(InitProducerIdResponse)
                        && answered
                        && r.error_code() == Some(ErrorCode::NONE.0)
                    {
                        let pid = r.producer_id().unwrap_or(-1);
                        let epoch = r.producer_epoch().unwrap_or(-1);
                        if tx.inits.len() < MAX_DETAILS {
                            tx.inits.push((pid, epoch, e.request.frame));
                        }
                        // A new session: the coordinator aborts whatever
                        // was under way for this transactional id.
                        for o in std::mem::take(&mut tx.open) {
                            if tx.taken_over.len() < MAX_DETAILS {
                                tx.taken_over.push((o.first_frame, e.request.frame));
                            }
                        }
                    }
                }
                ApiKey::ADD_PARTITIONS_TO_TXN
                | ApiKey::ADD_OFFSETS_TO_TXN
                | ApiKey::TXN_OFFSET_COMMIT => {
                    let frame = e.request.frame;
                    if answered
                        && (codes.is_empty() || non_retriable.is_some())
                        && let Some(o) = tx.open_of(pid, frame)
                        && o.error.is_none()
                    {
                        o.error = non_retriable.map(|c| (ErrorCode(c).to_string(), frame));
                    }
                }
                ApiKey::END_TXN if answered && codes.is_empty() => {
                    let committed = q.map(EndTxnRequest).and_then(|q| q.committed()) == Some(true);
                    if committed {
                        tx.committed += 1;
                    } else {
                        tx.aborted += 1;
                        if let Some((err, at)) = tx
                            .open
                            .iter()
                            .find(|o| o.pid == pid)
                            .and_then(|o| o.error.clone())
                            && tx.aborted_after_error.len() < MAX_DETAILS
                        {
                            tx.aborted_after_error.push((e.request.frame, err, at));
                        }
                    }
                    tx.open.retain(|o| o.pid != pid);
                }
                _ => {}
            }
        }
    }

    /// Retries and failures by (client, topic), live and retired.
    fn sends(&self) -> BTreeMap<(Arc<str>, Arc<str>), TopicSends> {
        let mut out = self.retired.clone();
        // In insertion order, so details come first-sent first.
        for key in &self.order {
            if let Some(b) = self.batches.get(key) {
                out.entry((b.client.clone(), key.topic.clone()))
                    .or_default()
                    .fold(key, b);
            }
        }
        out
    }
}

impl Detector for Producers {
    fn exchange(&mut self, e: &Exchange, cx: &Context<'_>) {
        let client = client_label(e);
        match e.api_key {
            ApiKey::PRODUCE => self.produce(e, cx, &client),
            ApiKey::INIT_PRODUCER_ID
            | ApiKey::ADD_PARTITIONS_TO_TXN
            | ApiKey::ADD_OFFSETS_TO_TXN
            | ApiKey::END_TXN
            | ApiKey::TXN_OFFSET_COMMIT => self.transactional(e, &client),
            _ => {}
        }
    }

    fn findings(&self, _cx: &Context<'_>, out: &mut Vec<Finding>) {
        // Retries and failed batches.
        for ((client, topic), s) in self.sends() {
            if let Some(mut f) = s.retry_f {
                f.count = s.retries;
                let outcome = if s.retried_ok == s.batches_retried {
                    if s.batches_retried == 1 {
                        "the retry succeeded".to_string()
                    } else {
                        "every retried batch was acknowledged in the end".to_string()
                    }
                } else {
                    format!(
                        "{} of {} acknowledged in the end",
                        s.retried_ok, s.batches_retried
                    )
                };
                f.title = format!(
                    "{client} re-sent {} ({}) to {topic} (partition {}): {} after {}; {outcome}",
                    count(s.batches_retried, "batch", "batches"),
                    count(s.retried_records.max(0) as u64, "record", "records"),
                    partitions_list(&s.partitions),
                    count(s.retries, "retry", "retries"),
                    tally(&s.causes),
                );
                if s.non_idempotent_retries_after_doubt > 0 {
                    f.details.insert(
                        0,
                        format!(
                            "the producer is not idempotent (producer id -1): {} re-sent after a timeout or no answer may have been written twice; enable.idempotence=true prevents duplicates",
                            count(s.non_idempotent_retries_after_doubt, "batch", "batches")
                        ),
                    );
                }
                out.push(f);
            }
            if let Some(mut f) = s.fail_f {
                f.count = s.failed_batches;
                f.title = format!(
                    "{client} lost {} ({}) to {topic} (partition {}): the broker answered {} and the batch was not sent again in the capture",
                    count(s.failed_batches, "batch", "batches"),
                    count(s.failed_records.max(0) as u64, "record", "records"),
                    partitions_list(&s.failed_partitions),
                    tally(&s.failed),
                );
                out.push(f);
            }
        }
        // Error families.
        for ((kind, subject), p) in &self.problems {
            let mut f = p.f.clone();
            let errs = tally(&p.errors);
            let apis: Vec<&str> = p.apis.keys().copied().collect();
            let apis = apis.join(", ");
            let who = subject.split('\0').next().unwrap_or_default();
            f.title = match kind {
                Kind::TooLarge => format!(
                    "{who}'s Produce to {} was rejected as too large ({errs}): {} not written; raise the topic's max.message.bytes or lower the producer's batch.size / message.max.bytes",
                    f.topics.join(", "),
                    count(p.records.max(0) as u64, "record", "records"),
                ),
                Kind::Sequence => format!(
                    "{who}: the broker rejected the idempotent producer's sequence numbers ({errs}) on {apis}: records may be lost or reordered"
                ),
                Kind::Duplicate => format!(
                    "{who}: the broker reported {errs} on {apis}: a batch re-sent after it was already written (the broker kept one copy)"
                ),
                Kind::Fenced => format!(
                    "producer {who} was fenced ({errs} on {apis}): another producer with the same transactional id or a newer epoch took over, and this one can no longer write"
                ),
                Kind::Transaction => format!("transactions of {who} failed: {errs} on {apis}"),
            };
            out.push(f);
        }
        // Transactions.
        let mut txns: Vec<(&String, &Txn)> = self.txns.iter().collect();
        txns.sort_by(|a, b| a.0.cmp(b.0));
        for (id, tx) in txns {
            let mut base = Finding::new(Severity::Info, "transactions", "");
            for c in &tx.clients {
                base.client(c);
            }
            for s in &tx.streams {
                base.stream(*s);
            }
            for t in &tx.topics {
                base.topic(t);
            }
            base.first = tx.first;
            base.last = tx.last;
            if !tx.aborted_after_error.is_empty() {
                let mut f = base.clone();
                f.severity = Severity::Error;
                f.code = "transaction_aborted_after_error";
                f.count = tx.aborted_after_error.len() as u64;
                for (abort, err, at) in &tx.aborted_after_error {
                    f.frame(*at);
                    f.frame(*abort);
                    push_detail(
                        &mut f,
                        format!("{err} at frame {at}, EndTxn ABORT at frame {abort}"),
                    );
                }
                f.title = format!(
                    "transactional id {id} aborted {} after an error: the records written in {} are discarded",
                    count(f.count, "transaction", "transactions"),
                    if f.count == 1 { "it" } else { "them" }
                );
                out.push(f);
            }
            let by_app = tx.aborted - tx.aborted_after_error.len() as u64;
            let mut f = base;
            for fr in &tx.frames {
                f.frame(*fr);
            }
            f.count = tx.committed + tx.aborted;
            let pid = match tx.inits.last() {
                Some((p, ep, _)) => format!(", producer id {p} epoch {ep}"),
                None => String::new(),
            };
            let mut parts = vec![
                format!(
                    "{} committed",
                    count(tx.committed, "transaction", "transactions")
                ),
                format!("{by_app} aborted by the application"),
            ];
            for o in &tx.open {
                parts.push(format!(
                    "one still open at capture end (producer id {}, since frame {}, {} produced{})",
                    o.pid,
                    o.first_frame,
                    count(o.records.max(0) as u64, "record", "records"),
                    match &o.error {
                        Some((err, at)) => format!(", after {err} at frame {at}"),
                        None => String::new(),
                    }
                ));
            }
            for (first, init) in &tx.taken_over {
                parts.push(format!(
                    "one under way since frame {first} aborted by the coordinator when InitProducerId was answered again at frame {init}"
                ));
            }
            f.title = format!(
                "transactional producer {id} ({}{pid}): {}",
                tx.clients
                    .iter()
                    .map(|c| c.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                parts.join(", ")
            );
            if tx.inits.len() > 1 {
                let s: Vec<String> = tx
                    .inits
                    .iter()
                    .map(|(p, ep, fr)| format!("producer id {p} epoch {ep} (frame {fr})"))
                    .collect();
                push_detail(
                    &mut f,
                    format!(
                        "InitProducerId answered {}: {}",
                        tx.inits.len(),
                        s.join(", ")
                    ),
                );
            }
            out.push(f);
        }
        // Idempotence and acks, one finding each over every producer.
        let mut clients: Vec<(&Arc<str>, &ClientInfo)> = self.clients.iter().collect();
        clients.sort_by(|a, b| a.1.first_frame.cmp(&b.1.first_frame).then(a.0.cmp(b.0)));
        let mut idem = Finding::new(Severity::Info, "producer_idempotence", "");
        let (mut yes, mut no, mut legacy) = (Vec::new(), Vec::new(), Vec::new());
        for (c, ci) in &clients {
            if ci.idempotent_batches > 0 {
                let p: Vec<String> = ci
                    .pids
                    .iter()
                    .map(|(p, ep)| format!("{p} epoch {ep}"))
                    .collect();
                yes.push(format!("{c} (producer id {})", p.join(", ")));
            } else if ci.plain_batches > 0 {
                no.push(c.to_string());
            } else if ci.legacy_batches > 0 {
                legacy.push(c.to_string());
            } else {
                continue;
            }
            idem.client(c);
            idem.frame(ci.first_frame);
            for s in &ci.streams {
                idem.stream(*s);
            }
            idem.count += 1;
        }
        if idem.count > 0 {
            let mut parts = Vec::new();
            if !yes.is_empty() {
                parts.push(format!("idempotent: {}", yes.join(", ")));
            }
            if !no.is_empty() {
                parts.push(format!(
                    "not idempotent (producer id -1; a retry may write duplicates): {}",
                    no.join(", ")
                ));
            }
            if !legacy.is_empty() {
                parts.push(format!(
                    "message format v0/v1, which cannot be idempotent: {}",
                    legacy.join(", ")
                ));
            }
            idem.title = format!("producers: {}", parts.join("; "));
            out.push(idem);
        }
        for (acks, meaning) in [
            (
                0,
                "the broker never answers, so the producer never learns of an error and retries nothing",
            ),
            (
                1,
                "only the leader has the records when they are acknowledged: a leader lost before its followers copy them loses them",
            ),
        ] {
            let mut f = Finding::new(Severity::Info, "producer_acks", "");
            let mut names = Vec::new();
            for (c, ci) in &clients {
                if let Some(&(n, frame)) = ci.acks.get(&acks) {
                    f.count += n;
                    f.client(c);
                    f.frame(frame);
                    names.push(c.to_string());
                }
            }
            if f.count > 0 {
                f.title = format!(
                    "acks={acks} on {} from {}: {meaning}",
                    count(f.count, "Produce request", "Produce requests"),
                    names.join(", ")
                );
                out.push(f);
            }
        }
        if self.dropped > 0
            && let Some(f) = out
                .iter_mut()
                .rev()
                .find(|f| f.code == "producer_idempotence")
        {
            f.details.push(format!(
                "{} producers, transactional ids or error groups not followed (limits reached)",
                self.dropped
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        assert_eq!(kind_of(10), Some(Kind::TooLarge));
        assert_eq!(kind_of(90), Some(Kind::Fenced));
        assert_eq!(kind_of(46), Some(Kind::Duplicate));
        assert_eq!(kind_of(6), None);
        assert_eq!(Kind::Duplicate.severity(), Severity::Warning);
    }

    #[test]
    fn tally_orders_by_count() {
        let mut m = BTreeMap::new();
        m.insert("REQUEST_TIMED_OUT".to_string(), 1);
        m.insert("NOT_LEADER_OR_FOLLOWER".to_string(), 2);
        assert_eq!(tally(&m), "NOT_LEADER_OR_FOLLOWER ×2, REQUEST_TIMED_OUT ×1");
    }
}
