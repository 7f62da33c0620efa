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
//! Contract: no panic on any exchange; state is bounded by the named
//! limits below (what they refuse is simply not followed).

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::Arc;

use crate::capture::Timestamp;
use crate::kafka::errors::ErrorCode;
use crate::kafka::schema::{Node, Value};
use crate::session::Exchange;

use super::super::topics::{TopicNames, group_of};
use super::{Context, Detector, Finding, Severity};

/// Codes of this family that say the client's view of leadership is stale
/// or leadership is in flux.
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const LEADER_NOT_AVAILABLE: i16 = 5;
const NOT_LEADER_OR_FOLLOWER: i16 = 6;
const FENCED_LEADER_EPOCH: i16 = 74;
const UNKNOWN_LEADER_EPOCH: i16 = 75;

const METADATA: i16 = 3;

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
type EpisodeKey = (ClientKey, i16, Arc<str>, Option<i32>);

/// Whether a code is this family's, and its finding code.
fn family(code: i16) -> Option<&'static str> {
    match code {
        NOT_LEADER_OR_FOLLOWER => Some("not_leader"),
        LEADER_NOT_AVAILABLE => Some("leader_not_available"),
        UNKNOWN_TOPIC_OR_PARTITION => Some("unknown_topic"),
        FENCED_LEADER_EPOCH | UNKNOWN_LEADER_EPOCH => Some("stale_leader_epoch"),
        c if is_authorization(c) => Some("authorization_failed"),
        _ => None,
    }
}

fn is_authorization(code: i16) -> bool {
    code != 0 && ErrorCode(code).name().ends_with("_AUTHORIZATION_FAILED")
}

/// One error of one response: about a topic (and partition), or the whole
/// request.
#[derive(Debug, PartialEq)]
struct Outcome {
    topic: Option<String>,
    partition: Option<i32>,
    code: i16,
}

/// Every `errorCode` of a response (zeros included: they are successes),
/// with the topic and partition it is about when it is inside one.
fn outcomes(e: &Exchange, names: &TopicNames) -> Vec<Outcome> {
    let mut out = Vec::new();
    if let Some(b) = e.response_body.as_deref() {
        visit(b.tree(), None, &mut out, names, "");
    }
    out
}

fn partition_of(n: &Node) -> Option<i32> {
    ["partitionIndex", "index", "partition", "partitionId"]
        .iter()
        .find_map(|f| n.get(f)?.as_int())
        .and_then(|v| i32::try_from(v).ok())
}

fn topicish(field: &str) -> bool {
    field.starts_with("topic") || field.starts_with("Topic") || field == "responses"
}

fn visit(n: &Node, topic: Option<&str>, out: &mut Vec<Outcome>, names: &TopicNames, field: &str) {
    if out.len() >= MAX_OUTCOMES {
        return;
    }
    match &n.value {
        Value::Struct(fields) => {
            // An element of a topic array names its topic.
            let named = if topic.is_none() && topicish(field) {
                names.topic_of(n)
            } else {
                None
            };
            let topic = named.as_deref().or(topic);
            if let Some(code) = n.get("errorCode").and_then(Node::as_int) {
                let partition = topic.and_then(|_| partition_of(n));
                out.push(Outcome {
                    topic: topic.map(str::to_string),
                    partition,
                    code: i16::try_from(code).unwrap_or(-1),
                });
            }
            for f in fields {
                if matches!(f.value, Value::Array(_)) {
                    for item in f.children() {
                        visit(item, topic, out, names, f.name);
                    }
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                visit(item, topic, out, names, field);
            }
        }
        _ => {}
    }
}

/// The topics a request names (Metadata's `topics[].name`), for codes its
/// response gives at the top level.
fn request_topics(e: &Exchange, names: &TopicNames) -> Vec<String> {
    let Some(b) = e.request_body.as_deref() else {
        return Vec::new();
    };
    let mut v: Vec<String> = Vec::new();
    for t in b.tree().get("topics").map_or(&[][..], Node::children) {
        let name = t.as_str().map(str::to_string).or_else(|| names.topic_of(t));
        if let Some(name) = name
            && !v.contains(&name)
            && v.len() < MAX_PARTITIONS
        {
            v.push(name);
        }
    }
    v
}

/// What the finding is about besides a topic.
fn subject_of(e: &Exchange) -> String {
    if let Some(g) = group_of(e) {
        return format!("group {g}");
    }
    if let Some(t) = e
        .request_body
        .as_deref()
        .and_then(|b| b.tree().get("transactionalId"))
        .and_then(Node::as_str)
    {
        return format!("transactional id {t}");
    }
    "the cluster".to_string()
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
            e.api_key.0,
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
        if e.api_key.0 != METADATA {
            t.non_metadata_episodes += 1;
        }
    }

    fn succeed(&mut self, e: &Exchange, client: &ClientKey, topic: &str, partition: Option<i32>) {
        if self.open.is_empty() {
            return;
        }
        let key: EpisodeKey = (client.clone(), e.api_key.0, Arc::from(topic), partition);
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
        if e.api_key.0 == METADATA && !self.open.is_empty() {
            for (k, list) in self.open.iter_mut() {
                if k.0 == client && k.1 != METADATA {
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
                        if e.api_key.0 == METADATA {
                            request_topics(e, cx.names)
                        } else {
                            Vec::new()
                        }
                    });
                    if topics.is_empty() || is_authorization(o.code) && e.api_key.0 != METADATA {
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

fn times(n: u64) -> String {
    match n {
        1 => "once".to_string(),
        2 => "twice".to_string(),
        n => format!("{n} times"),
    }
}

/// `850 µs`, `46 ms`, `2.3 s`.
pub(super) fn duration(us: i64) -> String {
    let us = us.max(0);
    if us < 1000 {
        format!("{us} µs")
    } else if us < 1_000_000 {
        format!("{} ms", us / 1000)
    } else {
        format!("{:.1} s", us as f64 / 1e6)
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
        let meaning = match self.code {
            NOT_LEADER_OR_FOLLOWER => {
                "the broker is no longer the partition's leader: leadership moved (a broker restart, a preferred-leader election, a reassignment); clients refresh metadata and retry"
            }
            LEADER_NOT_AVAILABLE => {
                "the partition has no leader at the moment: an election is in progress, or the topic is being created"
            }
            UNKNOWN_TOPIC_OR_PARTITION => {
                "the broker does not know the topic or partition: it does not exist (auto-creation off), was deleted, or metadata has not propagated yet"
            }
            FENCED_LEADER_EPOCH | UNKNOWN_LEADER_EPOCH => {
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
    use super::*;

    #[test]
    fn families() {
        assert_eq!(family(6), Some("not_leader"));
        assert_eq!(family(29), Some("authorization_failed"));
        assert_eq!(family(53), Some("authorization_failed"));
        assert_eq!(family(65), Some("authorization_failed"));
        assert_eq!(family(7), None);
        assert_eq!(family(0), None);
        assert_eq!(family(-1), None);
    }

    fn n(name: &'static str, value: Value) -> Node {
        Node {
            name,
            range: 0..1,
            value,
        }
    }

    fn walk(tree: &Node) -> Vec<Outcome> {
        let mut out = Vec::new();
        visit(tree, None, &mut out, &TopicNames::new(), "");
        out
    }

    #[test]
    fn outcomes_carry_topic_and_partition() {
        // Produce v9-shaped: responses[{name, partitionResponses[{index, errorCode}]}].
        let part = |i: i64, code: i64| {
            n(
                "",
                Value::Struct(vec![
                    n("index", Value::Int(i)),
                    n("errorCode", Value::Int(code)),
                ]),
            )
        };
        let tree = n(
            "ProduceResponse",
            Value::Struct(vec![n(
                "responses",
                Value::Array(vec![n(
                    "",
                    Value::Struct(vec![
                        n("name", Value::Str("t".into())),
                        n(
                            "partitionResponses",
                            Value::Array(vec![part(0, 0), part(1, 6)]),
                        ),
                    ]),
                )]),
            )]),
        );
        let out = walk(&tree);
        assert_eq!(
            out,
            [
                Outcome {
                    topic: Some("t".into()),
                    partition: Some(0),
                    code: 0
                },
                Outcome {
                    topic: Some("t".into()),
                    partition: Some(1),
                    code: 6
                },
            ]
        );
    }

    #[test]
    fn hostile_shapes_do_not_panic() {
        // Out-of-range codes and partitions, arrays of scalars, topics
        // without names, a code on the root.
        let tree = n(
            "X",
            Value::Struct(vec![
                n("errorCode", Value::Int(1 << 40)),
                n(
                    "topics",
                    Value::Array(vec![
                        n("", Value::Int(3)),
                        n(
                            "",
                            Value::Struct(vec![
                                n("partitionIndex", Value::Int(1 << 40)),
                                n("errorCode", Value::Str("x".into())),
                            ]),
                        ),
                        n(
                            "",
                            Value::Struct(vec![
                                n("name", Value::Null),
                                n("errorCode", Value::Int(-5)),
                            ]),
                        ),
                    ]),
                ),
            ]),
        );
        let out = walk(&tree);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].code, -1);
        assert_eq!(out[1].topic, None);
    }

    #[test]
    fn durations() {
        assert_eq!(duration(-5), "0 µs");
        assert_eq!(duration(46_100), "46 ms");
        assert_eq!(duration(2_340_000), "2.3 s");
    }
}
