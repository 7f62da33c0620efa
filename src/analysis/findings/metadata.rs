//! Metadata churn: partitions whose leader moved or was missing
//! (NOT_LEADER_OR_FOLLOWER, LEADER_NOT_AVAILABLE, FENCED_LEADER_EPOCH,
//! UNKNOWN_LEADER_EPOCH), topics the broker does not know
//! (UNKNOWN_TOPIC_OR_PARTITION), and authorization failures
//! (`*_AUTHORIZATION_FAILED`), in any API's response: per topic (or group,
//! transactional id, cluster) and code, how often, for which clients, and
//! whether each client recovered.
//!
//! Recovery is followed per *episode*: a client (client id and address)
//! failing an API for one topic-partition (or topic, for topic-level
//! codes) opens an episode; the next request of the same API for the same
//! topic-partition answered without error closes it, at that request's
//! frame. A Metadata request from the client after the failure counts as a
//! metadata refresh. An episode still open when findings are asked for
//! never recovered.
//!
//! Severity: authorization failures are errors (retrying never helps; an
//! ACL must change). Leadership and unknown-topic codes that every client
//! recovered from are warnings (a leader election, a topic being created:
//! the client retried and got through, at the cost of latency); any
//! episode that never recovered makes the finding an error.
//!
//! Responses are read by a walk over their bytes with one generic rule for
//! every API (see [`OutcomeWalk`]), not by a typed view per API: the family
//! covers the error codes of any response.
//!
//! Contract: no panic on any exchange; state is bounded by the named
//! limits below (what they refuse is simply not followed).

use foldhash::{HashMap, HashMapExt};
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::Arc;

use crate::capture::Timestamp;
use crate::kafka::ApiKey;
use crate::kafka::errors::ErrorCode;
use crate::kafka::schema::views::{
    AddOffsetsToTxnRequest, EndTxnRequest, InitProducerIdRequest, MetadataRequest, ProduceRequest,
    TxnOffsetCommitRequest,
};
use crate::kafka::schema::walk::{Scalar, Visit, walk_message};
use crate::kafka::schema::{FieldSpec, Step};
use crate::present::{duration, times};
use crate::session::{Body, Exchange};

use super::super::topics::{TopicNames, group_of};
use super::{Context, Detector, Finding, Severity};

/// Most (subject, code) pairs reported; further ones are not followed.
pub const MAX_TROUBLES: usize = 1024;
/// Most episodes (client × API × topic-partition × code) open at once.
pub const MAX_OPEN_EPISODES: usize = 16_384;
/// Most partitions named per finding.
pub const MAX_PARTITIONS: usize = 64;
/// Shortest span between the first and last failure a title mentions
/// ("over 5.0 s"): below a second it says nothing a reader needs.
pub const MIN_SPAN_SHOWN_US: i64 = 1_000_000;
/// Most outcomes read from one response (topic-partitions with an error code).
pub const MAX_OUTCOMES: usize = 65_536;

/// This family's detectors.
pub fn detectors() -> Vec<Box<dyn Detector>> {
    vec![Box::new(MetadataChurn::default())]
}

/// Who a client is: its client id and address (connections come and go).
type ClientKey = (Option<Arc<str>>, IpAddr);

/// What an episode is about: client, API, topic, partition.
type EpisodeKey = (ClientKey, ApiKey, Arc<str>, Option<i32>);

/// Whether a code is this family's, and its finding code.
fn family(code: i16) -> Option<&'static str> {
    match ErrorCode(code) {
        ErrorCode::NOT_LEADER_OR_FOLLOWER => Some("not_leader"),
        ErrorCode::LEADER_NOT_AVAILABLE => Some("leader_not_available"),
        ErrorCode::UNKNOWN_TOPIC_OR_PARTITION => Some("unknown_topic"),
        ErrorCode::FENCED_LEADER_EPOCH | ErrorCode::UNKNOWN_LEADER_EPOCH => {
            Some("stale_leader_epoch")
        }
        _ if is_authorization(code) => Some("authorization_failed"),
        _ => None,
    }
}

fn is_authorization(code: i16) -> bool {
    code != 0 && ErrorCode(code).name().ends_with("_AUTHORIZATION_FAILED")
}

// ------------------------------------------------------------ outcomes

// The generic rule every response is read by, whatever its API: Kafka's
// definitions name these fields alike across APIs, and this family follows
// the error codes of all of them (a typed view per API would be a list of
// every response kept up to date by hand).

/// A struct's outcome: its `errorCode`.
const ERROR_CODE: &str = "errorCode";
/// A struct's partition number: the first of these it has.
const PARTITION_FIELDS: [&str; 4] = ["partitionIndex", "index", "partition", "partitionId"];
/// A topic struct's name: the first of these it has, else its [`TOPIC_ID`].
const TOPIC_NAME_FIELDS: [&str; 3] = ["name", "topic", "topicName"];
const TOPIC_ID: &str = "topicId";

/// Whether an array field holds topics (`topics`, `topicData`, `Topics`…,
/// Produce's and Fetch's `responses`): its elements name the topic their
/// own arrays (partitions) are about.
fn topicish(field: &str) -> bool {
    field.starts_with("topic") || field.starts_with("Topic") || field == "responses"
}

/// One error of one response: about a topic (and partition), or the whole
/// request.
#[derive(Debug, PartialEq)]
struct Outcome {
    topic: Option<String>,
    partition: Option<i32>,
    code: i16,
}

/// A struct the rule reads: the message itself, and the elements of its
/// arrays of structs, recursively (not structs held in a plain field, nor
/// anything inside them).
#[derive(Default)]
struct Read<'a> {
    /// The struct whose array holds this one (the message: itself).
    parent: usize,
    /// That array's name (`""` for the message).
    array: &'static str,
    code: Option<i64>,
    /// By rank in [`PARTITION_FIELDS`].
    partitions: [Option<i64>; 4],
    /// By rank in [`TOPIC_NAME_FIELDS`].
    names: [Option<&'a [u8]>; 3],
    id: Option<&'a [u8; 16]>,
}

impl Read<'_> {
    fn partition(&self) -> Option<i32> {
        self.partitions
            .iter()
            .find_map(|p| *p)
            .and_then(|v| i32::try_from(v).ok())
    }

    /// Its topic, by name (lossy: a name that is not UTF-8 is still named),
    /// or by id.
    fn topic(&self, names: &TopicNames) -> Option<String> {
        if let Some(n) = self.names.iter().find_map(|n| *n) {
            return Some(String::from_utf8_lossy(n).into_owned());
        }
        self.id.map(|id| names.id_label(id))
    }
}

/// The walk's visitor: the structs the rule reads, in wire order (a struct
/// before what it holds), those that can matter only: a struct with no
/// error code, inside or out, is dropped once read.
struct OutcomeWalk<'a> {
    read: Vec<Read<'a>>,
    /// The structs being read, innermost last: their index in `read`, or
    /// `None` for one the rule does not read.
    open: Vec<Option<usize>>,
    /// The fields and elements being read, innermost last.
    steps: Vec<(Step, &'static str)>,
    /// The last struct in `read` with an error code.
    last_code: Option<usize>,
}

impl OutcomeWalk<'_> {
    fn new() -> Self {
        OutcomeWalk {
            read: vec![Read::default()],
            open: vec![Some(0)],
            steps: Vec::new(),
            last_code: None,
        }
    }
}

impl<'a> Visit<'a> for OutcomeWalk<'a> {
    fn open(&mut self, step: Step, f: &'static FieldSpec, _at: usize) {
        self.steps.push((step, f.name));
    }

    fn close(&mut self, _end: usize) {
        self.steps.pop();
    }

    fn abort(&mut self) {
        self.steps.pop();
    }

    fn begin_struct(&mut self) {
        let parent = self.open.last().copied().flatten();
        let read = match (self.steps.last(), parent) {
            (Some(&(Step::Index(_), array)), Some(parent)) => {
                self.read.push(Read {
                    parent,
                    array,
                    ..Read::default()
                });
                Some(self.read.len() - 1)
            }
            _ => None,
        };
        self.open.push(read);
    }

    fn end_struct(&mut self) {
        if let Some(Some(i)) = self.open.pop()
            && self.last_code.is_none_or(|c| c < i)
        {
            self.read.truncate(i);
        }
    }

    fn scalar(&mut self, v: Scalar<'a>) {
        let (Some(&(Step::Field(name), _)), Some(&Some(i))) = (self.steps.last(), self.open.last())
        else {
            return;
        };
        let Some(r) = self.read.get_mut(i) else {
            return;
        };
        match v {
            Scalar::Int(x) if name == ERROR_CODE => {
                r.code.get_or_insert(x);
                self.last_code = Some(self.last_code.map_or(i, |c| c.max(i)));
            }
            Scalar::Int(x) => {
                if let Some(k) = PARTITION_FIELDS.iter().position(|f| *f == name) {
                    r.partitions[k].get_or_insert(x);
                }
            }
            Scalar::Str(b) => {
                if let Some(k) = TOPIC_NAME_FIELDS.iter().position(|f| *f == name) {
                    r.names[k].get_or_insert(b);
                }
            }
            Scalar::Uuid(u) if name == TOPIC_ID => {
                r.id.get_or_insert(u);
            }
            _ => {}
        }
    }
}

/// Every `errorCode` of a response (zeros included: they are successes),
/// with the topic and partition it is about when it is inside one: a
/// struct's topic is named by the first element of a topic array on its
/// way from the message (see [`topicish`]), its partition by its own
/// partition field. In wire order, a struct before the structs it holds;
/// at most [`MAX_OUTCOMES`].
fn outcomes(e: &Exchange, names: &TopicNames) -> Vec<Outcome> {
    match e.response_body.as_deref() {
        Some(b) => body_outcomes(b, names),
        None => Vec::new(),
    }
}

fn body_outcomes(b: &Body, names: &TopicNames) -> Vec<Outcome> {
    let Some(spec) = b.message else {
        return Vec::new();
    };
    let mut w = OutcomeWalk::new();
    walk_message(spec, b.version, &b.bytes, 0, &mut w);
    let mut read = w.read;
    if b.error_code_only {
        // Only the top-level code means anything (the rest is in a layout
        // of the broker's choosing).
        read.truncate(1);
        if let Some(root) = read.first_mut() {
            *root = Read {
                code: root.code,
                ..Read::default()
            };
        }
    }
    // Where each struct's topic comes from: the struct naming it.
    let mut from: Vec<Option<usize>> = Vec::with_capacity(read.len());
    let mut topics: Vec<Option<String>> = Vec::with_capacity(read.len());
    let mut out = Vec::new();
    for (i, r) in read.iter().enumerate() {
        let inherited = if i == 0 {
            None
        } else {
            from.get(r.parent).copied().flatten()
        };
        let named = match inherited {
            None if topicish(r.array) => r.topic(names),
            _ => None,
        };
        let source = if named.is_some() { Some(i) } else { inherited };
        from.push(source);
        topics.push(named);
        let Some(code) = r.code else {
            continue;
        };
        if out.len() >= MAX_OUTCOMES {
            break;
        }
        let topic = source.and_then(|s| topics.get(s).cloned().flatten());
        out.push(Outcome {
            partition: topic.as_ref().and_then(|_| r.partition()),
            topic,
            code: i16::try_from(code).unwrap_or(-1),
        });
    }
    out
}

/// The topics a Metadata request names, for codes its response gives at
/// the top level.
fn request_topics(e: &Exchange, names: &TopicNames) -> Vec<String> {
    let q = e
        .request_body
        .as_deref()
        .and_then(Body::view)
        .map(MetadataRequest);
    let mut v: Vec<String> = Vec::new();
    for t in q.and_then(|q| q.topics()).into_iter().flatten() {
        if let Some(name) = names.label(t.name(), t.topic_id())
            && !v.contains(&name)
            && v.len() < MAX_PARTITIONS
        {
            v.push(name);
        }
    }
    v
}

/// What the finding is about besides a topic: the group, the request's
/// transactional id, or the cluster.
fn subject_of(e: &Exchange) -> String {
    if let Some(g) = group_of(e) {
        return format!("group {g}");
    }
    let q = e.request_body.as_deref().and_then(Body::view);
    let txn = match e.api_key {
        ApiKey::PRODUCE => q.map(ProduceRequest).and_then(|q| q.transactional_id()),
        ApiKey::INIT_PRODUCER_ID => q
            .map(InitProducerIdRequest)
            .and_then(|q| q.transactional_id()),
        ApiKey::ADD_OFFSETS_TO_TXN => q
            .map(AddOffsetsToTxnRequest)
            .and_then(|q| q.transactional_id()),
        ApiKey::END_TXN => q.map(EndTxnRequest).and_then(|q| q.transactional_id()),
        ApiKey::TXN_OFFSET_COMMIT => q
            .map(TxnOffsetCommitRequest)
            .and_then(|q| q.transactional_id()),
        _ => None,
    };
    match txn {
        Some(t) => format!("transactional id {t}"),
        None => "the cluster".to_string(),
    }
}

/// One subject and code: what happened, added up.
#[derive(Debug)]
struct Trouble {
    code: i16,
    /// `payments`, or `group billing`, `transactional id tx`, `the cluster`
    /// for codes outside any topic.
    subject: String,
    is_topic: bool,
    apis: Vec<&'static str>,
    partitions: BTreeSet<i32>,
    /// Frames, streams, clients, brokers, count and times, gathered.
    proto: Finding,
    episodes: u64,
    recovered: u64,
    /// Longest time from an episode's first failure to its recovery.
    slowest_recovery_us: i64,
    /// Frames where a client got through again.
    recovery_frames: Vec<u64>,
    /// Episodes (of APIs other than Metadata) after which the client sent
    /// a Metadata request.
    refreshed: u64,
    non_metadata_episodes: u64,
    /// The last exchange counted (stream, request frame): `count` counts
    /// exchanges, not partitions.
    last_counted: Option<(u64, u64)>,
}

#[derive(Debug)]
struct Episode {
    trouble: usize,
    first_ts: Timestamp,
    refreshed: bool,
}

/// The detector.
#[derive(Debug, Default)]
pub struct MetadataChurn {
    troubles: Vec<Trouble>,
    index: HashMap<(String, i16), usize>,
    open: HashMap<EpisodeKey, Vec<Episode>>,
    open_count: usize,
}

impl MetadataChurn {
    fn trouble(&mut self, subject: &str, is_topic: bool, code: i16) -> Option<usize> {
        if let Some(&i) = self.index.get(&(subject.to_string(), code)) {
            return Some(i);
        }
        if self.troubles.len() >= MAX_TROUBLES {
            return None;
        }
        let code_name = family(code)?;
        self.troubles.push(Trouble {
            code,
            subject: subject.to_string(),
            is_topic,
            apis: Vec::new(),
            partitions: BTreeSet::new(),
            proto: Finding::new(Severity::Warning, code_name, ""),
            episodes: 0,
            recovered: 0,
            slowest_recovery_us: 0,
            recovery_frames: Vec::new(),
            refreshed: 0,
            non_metadata_episodes: 0,
            last_counted: None,
        });
        let i = self.troubles.len() - 1;
        self.index.insert((subject.to_string(), code), i);
        Some(i)
    }

    fn fail(&mut self, e: &Exchange, client: &ClientKey, o: &Outcome, subject: &str) {
        let is_topic = o.topic.is_some();
        let Some(ti) = self.trouble(subject, is_topic, o.code) else {
            return;
        };
        let t = &mut self.troubles[ti];
        let api = e.api_key.name();
        if !t.apis.contains(&api) {
            t.apis.push(api);
        }
        if let Some(p) = o.partition
            && t.partitions.len() < MAX_PARTITIONS
        {
            t.partitions.insert(p);
        }
        let this = Some((e.stream, e.request.frame));
        let f = &mut t.proto;
        if t.last_counted != this {
            t.last_counted = this;
            f.count += 1;
        }
        f.frame(e.request.frame);
        f.stream(e.stream);
        f.broker(e.broker);
        f.at(e.request.ts);
        if let Some(c) = &e.client_id {
            f.client(c);
        }
        if let Some(topic) = &o.topic {
            f.topic(topic);
        } else if let Some(g) = subject.strip_prefix("group ") {
            f.group(g);
        }
        let key: EpisodeKey = (
            client.clone(),
            e.api_key,
            Arc::from(o.topic.as_deref().unwrap_or(subject)),
            o.partition,
        );
        let list = self.open.entry(key).or_default();
        if list.iter().any(|ep| ep.trouble == ti) {
            return;
        }
        if self.open_count >= MAX_OPEN_EPISODES {
            return;
        }
        self.open_count += 1;
        list.push(Episode {
            trouble: ti,
            first_ts: e.request.ts,
            refreshed: false,
        });
        let t = &mut self.troubles[ti];
        t.episodes += 1;
        if e.api_key != ApiKey::METADATA {
            t.non_metadata_episodes += 1;
        }
    }

    fn succeed(&mut self, e: &Exchange, client: &ClientKey, topic: &str, partition: Option<i32>) {
        if self.open.is_empty() {
            return;
        }
        let key: EpisodeKey = (client.clone(), e.api_key, Arc::from(topic), partition);
        let Some(list) = self.open.get_mut(&key) else {
            return;
        };
        // An answer to a request sent before the failure is no recovery.
        let (done, keep): (Vec<Episode>, Vec<Episode>) = std::mem::take(list)
            .into_iter()
            .partition(|ep| ep.first_ts < e.request.ts);
        *list = keep;
        if list.is_empty() {
            self.open.remove(&key);
        }
        for ep in done {
            self.open_count = self.open_count.saturating_sub(1);
            let Some(t) = self.troubles.get_mut(ep.trouble) else {
                continue;
            };
            t.recovered += 1;
            if ep.refreshed {
                t.refreshed += 1;
            }
            t.slowest_recovery_us = t
                .slowest_recovery_us
                .max(e.request.ts.micros_since(ep.first_ts));
            if t.recovery_frames.len() < super::MAX_FRAMES
                && !t.recovery_frames.contains(&e.request.frame)
            {
                t.recovery_frames.push(e.request.frame);
            }
        }
    }
}

impl Detector for MetadataChurn {
    fn exchange(&mut self, e: &Exchange, cx: &Context<'_>) {
        let client: ClientKey = (e.client_id.clone(), e.client.ip());
        // A Metadata request refreshes the client's view for every open
        // episode it failed before.
        if e.api_key == ApiKey::METADATA && !self.open.is_empty() {
            for (k, list) in self.open.iter_mut() {
                if k.0 == client && k.1 != ApiKey::METADATA {
                    for ep in list.iter_mut() {
                        if ep.first_ts < e.request.ts && !ep.refreshed {
                            ep.refreshed = true;
                        }
                    }
                }
            }
        }
        if e.response.is_none() || e.response_body.is_none() {
            return;
        }
        // Nothing to open (no error of a family the rule follows; the
        // decode's walk found every non-zero error code) and nothing open
        // to close: the walk below would change nothing.
        if self.open.is_empty() && !e.errors.iter().any(|r| family(r.code).is_some()) {
            return;
        }
        let outs = outcomes(e, cx.names);
        let mut top_topics: Option<Vec<String>> = None;
        for o in &outs {
            match (&o.topic, family(o.code)) {
                (Some(t), None) if o.code == 0 => self.succeed(e, &client, t, o.partition),
                (Some(t), Some(_)) => {
                    let t = t.clone();
                    self.fail(e, &client, o, &t);
                }
                (None, Some(_)) => {
                    // A top-level code: Metadata v13 answers for all the
                    // topics it was asked about.
                    let topics = top_topics.get_or_insert_with(|| {
                        if e.api_key == ApiKey::METADATA {
                            request_topics(e, cx.names)
                        } else {
                            Vec::new()
                        }
                    });
                    if topics.is_empty()
                        || is_authorization(o.code) && e.api_key != ApiKey::METADATA
                    {
                        let subject = subject_of(e);
                        self.fail(e, &client, o, &subject);
                    } else {
                        for t in topics.clone() {
                            let o = Outcome {
                                topic: Some(t.clone()),
                                partition: None,
                                code: o.code,
                            };
                            self.fail(e, &client, &o, &t);
                        }
                    }
                }
                _ => {}
            }
        }
        // A whole request answered without error closes its non-topic
        // episodes (group, transactional id, cluster).
        if outs.iter().all(|o| o.code == 0) && !self.open.is_empty() {
            let subject = subject_of(e);
            self.succeed(e, &client, &subject, None);
        }
    }

    fn findings(&self, _cx: &Context<'_>, out: &mut Vec<Finding>) {
        let mut still_open: HashMap<usize, u64> = HashMap::new();
        for list in self.open.values() {
            for ep in list {
                *still_open.entry(ep.trouble).or_default() += 1;
            }
        }
        for (i, t) in self.troubles.iter().enumerate() {
            let open = still_open.get(&i).copied().unwrap_or(0);
            out.push(t.finding(open));
        }
    }
}

impl Trouble {
    fn finding(&self, open: u64) -> Finding {
        let mut f = self.proto.clone();
        let name = ErrorCode(self.code).name();
        let auth = is_authorization(self.code);
        let apis = self.apis.join(", ");
        let mut what = self.subject.clone();
        if self.is_topic && !self.partitions.is_empty() {
            what.push('[');
            for (i, p) in self.partitions.iter().enumerate() {
                if i > 0 {
                    what.push(',');
                }
                let _ = write!(what, "{p}");
            }
            what.push(']');
        }
        let prep = if self.is_topic { "for topic" } else { "for" };
        let clients = if f.clients.is_empty() {
            String::new()
        } else {
            format!(" ({})", f.clients.join(", "))
        };
        let over = match (f.first, f.last) {
            (Some(a), Some(b)) if f.count > 1 && b.micros_since(a) >= MIN_SPAN_SHOWN_US => {
                format!(" over {}", duration(b.micros_since(a)))
            }
            _ => String::new(),
        };
        let mut title = format!(
            "{apis} {prep} {what} answered {name} {}{over}{clients}",
            times(f.count)
        );
        let recovered_all = open == 0 && self.recovered > 0;
        if recovered_all && auth {
            let _ = write!(
                title,
                "; later succeeded, {} after the first refusal (an ACL was granted)",
                duration(self.slowest_recovery_us)
            );
        } else if recovered_all {
            let refresh = if self.non_metadata_episodes > 0 && self.refreshed > 0 {
                "the client refreshed metadata and "
            } else {
                ""
            };
            let _ = write!(
                title,
                "; {refresh}recovered within {}",
                duration(self.slowest_recovery_us)
            );
        } else if self.recovered > 0 {
            let _ = write!(
                title,
                "; recovered {} of {} times, still failing at the end",
                self.recovered,
                self.recovered + open
            );
        } else {
            title.push_str("; never succeeded");
        }
        f.severity = if auth || open > 0 {
            Severity::Error
        } else {
            Severity::Warning
        };
        f.title = title;
        let meaning = match ErrorCode(self.code) {
            ErrorCode::NOT_LEADER_OR_FOLLOWER => {
                "the broker is no longer the partition's leader: leadership moved (a broker restart, a preferred-leader election, a reassignment); clients refresh metadata and retry"
            }
            ErrorCode::LEADER_NOT_AVAILABLE => {
                "the partition has no leader at the moment: an election is in progress, or the topic is being created"
            }
            ErrorCode::UNKNOWN_TOPIC_OR_PARTITION => {
                "the broker does not know the topic or partition: it does not exist (auto-creation off), was deleted, or metadata has not propagated yet"
            }
            ErrorCode::FENCED_LEADER_EPOCH | ErrorCode::UNKNOWN_LEADER_EPOCH => {
                "the client's leader epoch and the broker's disagree: one of them has stale metadata"
            }
            _ => "the principal lacks an ACL: retrying does not help, an ACL must be granted",
        };
        f.details.push(format!("{name}: {meaning}"));
        if self.non_metadata_episodes > 0 && !auth {
            f.details.push(format!(
                "metadata refreshed after {} of {} failures",
                self.refreshed.min(self.non_metadata_episodes),
                self.non_metadata_episodes
            ));
        }
        if !self.recovery_frames.is_empty() {
            let frames: Vec<String> = self.recovery_frames.iter().map(u64::to_string).collect();
            f.details
                .push(format!("succeeded again in frames {}", frames.join(", ")));
        }
        if open > 0 {
            f.details.push(format!(
                "{open} client/partition pairs never got a successful answer afterwards"
            ));
        }
        f
    }
}

#[cfg(test)]
mod tests {
    use super::super::requests::tests::{body, encode, ex};
    use super::*;
    use crate::kafka::schema::MessageKind;
    use kafka_protocol::messages as kp;
    use kafka_protocol::protocol::StrBytes;

    fn s(x: &'static str) -> StrBytes {
        StrBytes::from_static_str(x)
    }

    /// The outcomes of a response body of `api` at `v`.
    fn read(api: ApiKey, v: i16, bytes: &[u8]) -> Vec<Outcome> {
        let mut e = ex(1, api.0, v, "c", 9092, 0, Some(1));
        e.response_body = body(api, v, MessageKind::Response, bytes);
        outcomes(&e, &TopicNames::new())
    }

    fn o(topic: Option<&str>, partition: Option<i32>, code: ErrorCode) -> Outcome {
        Outcome {
            topic: topic.map(str::to_string),
            partition,
            code: code.0,
        }
    }

    #[test]
    fn families() {
        let f = |c: ErrorCode| family(c.0);
        assert_eq!(f(ErrorCode::NOT_LEADER_OR_FOLLOWER), Some("not_leader"));
        assert_eq!(
            f(ErrorCode::TOPIC_AUTHORIZATION_FAILED),
            Some("authorization_failed")
        );
        assert_eq!(
            f(ErrorCode::TRANSACTIONAL_ID_AUTHORIZATION_FAILED),
            Some("authorization_failed")
        );
        assert_eq!(
            f(ErrorCode::DELEGATION_TOKEN_AUTHORIZATION_FAILED),
            Some("authorization_failed")
        );
        assert_eq!(f(ErrorCode::REQUEST_TIMED_OUT), None);
        assert_eq!(f(ErrorCode::NONE), None);
        assert_eq!(f(ErrorCode::UNKNOWN_SERVER_ERROR), None);
    }

    fn produce_response() -> kp::ProduceResponse {
        use kp::produce_response::{PartitionProduceResponse, TopicProduceResponse};
        let part = |i: i32, code: ErrorCode| {
            PartitionProduceResponse::default()
                .with_index(i)
                .with_error_code(code.0)
        };
        kp::ProduceResponse::default().with_responses(vec![
            TopicProduceResponse::default()
                .with_name(kp::TopicName(s("t")))
                .with_partition_responses(vec![
                    part(0, ErrorCode::NONE),
                    part(1, ErrorCode::NOT_LEADER_OR_FOLLOWER),
                ]),
        ])
    }

    #[test]
    fn outcomes_carry_topic_and_partition() {
        let out = read(ApiKey::PRODUCE, 9, &encode(&produce_response(), 9));
        assert_eq!(
            out,
            [
                o(Some("t"), Some(0), ErrorCode::NONE),
                o(Some("t"), Some(1), ErrorCode::NOT_LEADER_OR_FOLLOWER),
            ]
        );
    }

    #[test]
    fn a_struct_comes_before_what_it_holds() {
        use kp::metadata_response::{MetadataResponsePartition, MetadataResponseTopic};
        // Metadata v13: a top-level code; topics whose code comes before
        // their name, partitions whose code comes before their index.
        let m = kp::MetadataResponse::default()
            .with_topics(vec![
                MetadataResponseTopic::default()
                    .with_name(Some(kp::TopicName(s("orders"))))
                    .with_partitions(vec![
                        MetadataResponsePartition::default().with_partition_index(0),
                        MetadataResponsePartition::default()
                            .with_error_code(ErrorCode::LEADER_NOT_AVAILABLE.0)
                            .with_partition_index(1),
                    ]),
                MetadataResponseTopic::default()
                    .with_error_code(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION.0)
                    .with_name(Some(kp::TopicName(s("gone")))),
            ])
            .with_error_code(ErrorCode::NONE.0);
        let out = read(ApiKey::METADATA, 13, &encode(&m, 13));
        assert_eq!(
            out,
            [
                o(None, None, ErrorCode::NONE),
                o(Some("orders"), None, ErrorCode::NONE),
                o(Some("orders"), Some(0), ErrorCode::NONE),
                o(Some("orders"), Some(1), ErrorCode::LEADER_NOT_AVAILABLE),
                o(Some("gone"), None, ErrorCode::UNKNOWN_TOPIC_OR_PARTITION),
            ]
        );
        // OffsetFetch v7: the top-level code follows the topics on the
        // wire, and still comes first.
        use kp::offset_fetch_response::{OffsetFetchResponsePartition, OffsetFetchResponseTopic};
        let f = kp::OffsetFetchResponse::default()
            .with_topics(vec![
                OffsetFetchResponseTopic::default()
                    .with_name(kp::TopicName(s("t")))
                    .with_partitions(vec![
                        OffsetFetchResponsePartition::default()
                            .with_partition_index(3)
                            .with_error_code(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION.0),
                    ]),
            ])
            .with_error_code(ErrorCode::GROUP_AUTHORIZATION_FAILED.0);
        let out = read(ApiKey::OFFSET_FETCH, 7, &encode(&f, 7));
        assert_eq!(
            out,
            [
                o(None, None, ErrorCode::GROUP_AUTHORIZATION_FAILED),
                o(Some("t"), Some(3), ErrorCode::UNKNOWN_TOPIC_OR_PARTITION),
            ]
        );
    }

    #[test]
    fn topics_by_id_and_structs_not_read() {
        use kp::fetch_response::{FetchableTopicResponse, LeaderIdAndEpoch, PartitionData};
        // Fetch v13 names its topics by id; the partitions' currentLeader
        // (a struct in a plain field) is not read, aborted transactions
        // hold no code.
        let id = "07070707-0707-0707-0707-070707070707".parse().unwrap();
        let f = kp::FetchResponse::default().with_responses(vec![
            FetchableTopicResponse::default()
                .with_topic_id(id)
                .with_partitions(vec![
                    PartitionData::default()
                        .with_partition_index(2)
                        .with_error_code(ErrorCode::NOT_LEADER_OR_FOLLOWER.0)
                        .with_current_leader(
                            LeaderIdAndEpoch::default().with_leader_id(kp::BrokerId(4)),
                        )
                        .with_aborted_transactions(Some(vec![Default::default(); 3])),
                ]),
        ]);
        let out = read(ApiKey::FETCH, 13, &encode(&f, 13));
        assert_eq!(
            out,
            [
                o(None, None, ErrorCode::NONE),
                o(
                    Some("id:07070707…"),
                    Some(2),
                    ErrorCode::NOT_LEADER_OR_FOLLOWER
                ),
            ]
        );
    }

    #[test]
    fn error_response_and_damaged_bodies() {
        // An ApiVersions error response in a layout that decodes at no
        // version: its top-level code only.
        let out = read(ApiKey::API_VERSIONS, 3, &[0, 35, 0xff, 0xff, 0xff]);
        assert_eq!(out, [o(None, None, ErrorCode::UNSUPPORTED_VERSION)]);
        // Every cut of a body: the outcomes read before the cut, no panic.
        let full = encode(&produce_response(), 9);
        for cut in 0..full.len() {
            let out = read(ApiKey::PRODUCE, 9, &full[..cut]);
            assert!(out.len() <= 2, "cut {cut}: {out:?}");
        }
        // Random bytes as any response.
        let mut x: u32 = 1;
        for api in 0..80 {
            let bytes: Vec<u8> = (0..64)
                .map(|_| {
                    x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                    (x >> 16) as u8
                })
                .collect();
            let _ = read(ApiKey(api), 4, &bytes);
        }
    }

    #[test]
    fn durations() {
        assert_eq!(duration(-5), "0 µs");
        assert_eq!(duration(46_100), "46 ms");
        assert_eq!(duration(2_340_000), "2.3 s");
    }
}
