//! A one-line summary of what an exchange carried, per API: what a Kafka
//! engineer looks at first (Produce: topics, partitions, records, acks;
//! Fetch: partitions, offsets, high watermarks; JoinGroup: group, member,
//! generation, protocols; ...). Used by `kwire list` and meant for the TUI's
//! timeline. Built from the decoded bodies; empty when there are none.

use std::fmt::Write as _;

use crate::kafka::records::{Batch, RecordSet};
use crate::kafka::schema::{Node, Value};

use super::record::{Body, Exchange};

/// Longest summary returned; longer ones end with `…`.
pub const MAX_SUMMARY: usize = 160;

fn s<'a>(n: &'a Node, path: &str) -> Option<&'a str> {
    n.at(path)?.as_str()
}

fn i(n: &Node, path: &str) -> Option<i64> {
    n.at(path)?.as_int()
}

fn items<'a>(n: &'a Node, path: &str) -> &'a [Node] {
    n.at(path).map_or(&[], Node::children)
}

/// A topic's name, or its id (v13+ Produce/Fetch use topic ids) shortened.
fn topic_name(t: &Node) -> String {
    for f in ["name", "topic"] {
        if let Some(n) = s(t, f) {
            return n.to_string();
        }
    }
    for f in ["topicId"] {
        if let Some(Node {
            value: Value::Uuid(u),
            ..
        }) = t.get(f)
        {
            let hex: String = u[..4].iter().map(|b| format!("{b:02x}")).collect();
            return format!("id:{hex}…");
        }
    }
    "?".to_string()
}

/// `orders[0,1,2] events[3]` from topics with partition arrays.
fn topics_partitions(topics: &[Node], parts: &str, index: &str) -> String {
    let mut out = Vec::new();
    for t in topics {
        let ps: Vec<String> = items(t, parts)
            .iter()
            .filter_map(|p| i(p, index))
            .map(|p| p.to_string())
            .collect();
        out.push(format!("{}[{}]", topic_name(t), ps.join(",")));
    }
    out.join(" ")
}

/// Batches and records in all records fields of a body.
fn record_counts(b: &Body) -> (usize, i64) {
    let mut batches = 0;
    let mut records = 0i64;
    for (_, set) in &b.records {
        count_set(set, &mut batches, &mut records);
    }
    (batches, records)
}

fn count_set(set: &RecordSet, batches: &mut usize, records: &mut i64) {
    for b in &set.batches {
        *batches += 1;
        match b {
            Batch::V2(rb) => *records += i64::from(rb.record_count.max(0)),
            Batch::Legacy(m) => *records += (m.messages.len().max(1)) as i64,
        }
    }
}

fn ms(v: i64) -> String {
    format!("{v}ms")
}

/// The summary of an exchange, or an empty string.
pub fn describe(e: &Exchange) -> String {
    let Some(req) = e.request_body.as_deref() else {
        return String::new();
    };
    let q = req.tree();
    let r = e.response_body.as_deref().map(|b| b.tree());
    let mut o = String::new();
    match e.api_key.0 {
        0 => {
            // Produce
            let (batches, records) = record_counts(req);
            let _ = write!(
                o,
                "acks={} {} {batches} batches {records} records",
                i(q, "acks").unwrap_or(0),
                topics_partitions(items(q, "topicData"), "partitionData", "index")
            );
            if let Some(t) = s(q, "transactionalId") {
                let _ = write!(o, " txn={t}");
            }
        }
        1 => {
            // Fetch
            let mut parts = Vec::new();
            for t in items(q, "topics") {
                for p in items(t, "partitions") {
                    parts.push(format!(
                        "{}-{}@{}",
                        topic_name(t),
                        i(p, "partition").unwrap_or(-1),
                        i(p, "fetchOffset").unwrap_or(-1)
                    ));
                }
            }
            let _ = write!(o, "{}", parts.join(" "));
            if let Some(w) = i(q, "maxWaitMs") {
                let _ = write!(o, " wait={}", ms(w));
            }
            if i(q, "isolationLevel") == Some(1) {
                o.push_str(" read_committed");
            }
            if let Some(resp) = e.response_body.as_deref() {
                let (_, records) = record_counts(resp);
                let mut hw = Vec::new();
                for t in items(resp.tree(), "responses") {
                    for p in items(t, "partitions") {
                        hw.push(format!(
                            "{}-{}={}",
                            topic_name(t),
                            i(p, "partitionIndex").unwrap_or(-1),
                            i(p, "highWatermark").unwrap_or(-1)
                        ));
                    }
                }
                let _ = write!(o, " → {records} records hw {}", hw.join(" "));
            }
        }
        2 => {
            // ListOffsets
            let mut parts = Vec::new();
            for t in items(q, "topics") {
                for p in items(t, "partitions") {
                    let ts = match i(p, "timestamp") {
                        Some(-1) => "latest".to_string(),
                        Some(-2) => "earliest".to_string(),
                        Some(-3) => "max-timestamp".to_string(),
                        Some(t) => t.to_string(),
                        None => "?".to_string(),
                    };
                    parts.push(format!(
                        "{}-{}@{ts}",
                        topic_name(t),
                        i(p, "partitionIndex").unwrap_or(-1)
                    ));
                }
            }
            let _ = write!(o, "{}", parts.join(" "));
            if let Some(r) = r {
                let offs: Vec<String> = items(r, "topics")
                    .iter()
                    .flat_map(|t| items(t, "partitions").iter())
                    .filter_map(|p| i(p, "offset"))
                    .map(|x| x.to_string())
                    .collect();
                if !offs.is_empty() {
                    let _ = write!(o, " → {}", offs.join(","));
                }
            }
        }
        3 => {
            // Metadata
            match q.at("topics").map(|t| &t.value) {
                Some(Value::Null) | None => o.push_str("all topics"),
                _ => {
                    let names: Vec<String> = items(q, "topics").iter().map(topic_name).collect();
                    o.push_str(&names.join(" "));
                }
            }
            if let Some(r) = r {
                let _ = write!(
                    o,
                    " → {} brokers, {} topics",
                    items(r, "brokers").len(),
                    items(r, "topics").len()
                );
            }
        }
        8 => {
            // OffsetCommit
            let generation = i(q, "generationIdOrMemberEpoch").or_else(|| i(q, "generationId"));
            let _ = write!(o, "group={}", s(q, "groupId").unwrap_or("?"));
            if let Some(g) = generation {
                let _ = write!(o, " gen={g}");
            }
            for t in items(q, "topics") {
                let ps: Vec<String> = items(t, "partitions")
                    .iter()
                    .map(|p| {
                        format!(
                            "{}@{}",
                            i(p, "partitionIndex").unwrap_or(-1),
                            i(p, "committedOffset").unwrap_or(-1)
                        )
                    })
                    .collect();
                let _ = write!(o, " {}[{}]", topic_name(t), ps.join(","));
            }
        }
        9 => {
            // OffsetFetch
            let group = s(q, "groupId")
                .map(str::to_string)
                .or_else(|| {
                    let gs: Vec<&str> = items(q, "groups")
                        .iter()
                        .filter_map(|g| s(g, "groupId"))
                        .collect();
                    (!gs.is_empty()).then(|| gs.join(","))
                })
                .unwrap_or_else(|| "?".into());
            let _ = write!(o, "group={group}");
        }
        10 => {
            // FindCoordinator
            let keys: Vec<String> = match s(q, "key") {
                Some(k) => vec![k.to_string()],
                None => items(q, "coordinatorKeys")
                    .iter()
                    .filter_map(|k| k.as_str().map(str::to_string))
                    .collect(),
            };
            let kind = if i(q, "keyType") == Some(1) {
                "txn"
            } else {
                "group"
            };
            let _ = write!(o, "{kind}={}", keys.join(","));
            if let Some(r) = r {
                if let (Some(h), Some(p)) = (s(r, "host"), i(r, "port")) {
                    let _ = write!(o, " → node {} {h}:{p}", i(r, "nodeId").unwrap_or(-1));
                } else {
                    for c in items(r, "coordinators") {
                        let _ = write!(
                            o,
                            " → node {} {}:{}",
                            i(c, "nodeId").unwrap_or(-1),
                            s(c, "host").unwrap_or("?"),
                            i(c, "port").unwrap_or(-1)
                        );
                    }
                }
            }
        }
        11 => {
            // JoinGroup
            let protos: Vec<&str> = items(q, "protocols")
                .iter()
                .filter_map(|p| s(p, "name"))
                .collect();
            let member = s(q, "memberId")
                .filter(|m| !m.is_empty())
                .unwrap_or("(new)");
            let _ = write!(
                o,
                "group={} member={member} {}[{}]",
                s(q, "groupId").unwrap_or("?"),
                s(q, "protocolType").unwrap_or("?"),
                protos.join(",")
            );
            if let Some(r) = r {
                let _ = write!(
                    o,
                    " → gen={} protocol={} leader={}",
                    i(r, "generationId").unwrap_or(-1),
                    s(r, "protocolName").unwrap_or("-"),
                    if s(r, "leader") == s(r, "memberId") && !items(r, "members").is_empty() {
                        "self".to_string()
                    } else {
                        s(r, "leader").unwrap_or("-").to_string()
                    }
                );
                let n = items(r, "members").len();
                if n > 0 {
                    let _ = write!(o, " members={n}");
                }
                if let Some(m) = s(r, "memberId") {
                    let _ = write!(o, " memberId={m}");
                }
            }
        }
        12..=14 => {
            // Heartbeat, LeaveGroup, SyncGroup
            let _ = write!(o, "group={}", s(q, "groupId").unwrap_or("?"));
            if let Some(g) = i(q, "generationId") {
                let _ = write!(o, " gen={g}");
            }
            match s(q, "memberId") {
                Some(m) => {
                    let _ = write!(o, " member={m}");
                }
                None => {
                    let ms: Vec<&str> = items(q, "members")
                        .iter()
                        .filter_map(|m| s(m, "memberId"))
                        .collect();
                    if !ms.is_empty() {
                        let _ = write!(o, " members={}", ms.join(","));
                    }
                }
            }
            if e.api_key.0 == 14 {
                let n = items(q, "assignments").len();
                if n > 0 {
                    let _ = write!(o, " assignments={n} (leader)");
                }
            }
        }
        18 => {
            // ApiVersions
            if let (Some(n), Some(v)) = (s(q, "clientSoftwareName"), s(q, "clientSoftwareVersion"))
            {
                let _ = write!(o, "{n} {v}");
            }
            if let Some(r) = r {
                let n = items(r, "apiKeys").len();
                if n > 0 {
                    let _ = write!(o, " → {n} APIs");
                }
            }
        }
        22 => {
            // InitProducerId
            let _ = write!(o, "txn={}", s(q, "transactionalId").unwrap_or("-"));
            if let Some(r) = r {
                let _ = write!(
                    o,
                    " → producerId={} epoch={}",
                    i(r, "producerId").unwrap_or(-1),
                    i(r, "producerEpoch").unwrap_or(-1)
                );
            }
        }
        24 => {
            // AddPartitionsToTxn: v0-3 one transaction (`v3AndBelow…`
            // fields), v4+ a batch of transactions.
            if let Some(t) = s(q, "v3AndBelowTransactionalId") {
                let _ = write!(
                    o,
                    "txn={t} {}",
                    topics_partitions(items(q, "v3AndBelowTopics"), "partitions", "")
                );
            } else {
                for t in items(q, "transactions") {
                    let _ = write!(
                        o,
                        "txn={} {} ",
                        s(t, "transactionalId").unwrap_or("?"),
                        topics_partitions(items(t, "topics"), "partitions", "")
                    );
                }
            }
        }
        25 | 28 => {
            let _ = write!(
                o,
                "txn={} group={}",
                s(q, "transactionalId").unwrap_or("?"),
                s(q, "groupId").unwrap_or("?")
            );
        }
        26 => {
            // EndTxn
            let commit = q
                .at("committed")
                .is_some_and(|n| n.value == Value::Bool(true));
            let _ = write!(
                o,
                "txn={} {}",
                s(q, "transactionalId").unwrap_or("?"),
                if commit { "COMMIT" } else { "ABORT" }
            );
        }
        68 => {
            // ConsumerGroupHeartbeat
            let _ = write!(
                o,
                "group={} member={} epoch={}",
                s(q, "groupId").unwrap_or("?"),
                s(q, "memberId")
                    .filter(|m| !m.is_empty())
                    .unwrap_or("(new)"),
                i(q, "memberEpoch").unwrap_or(0)
            );
            if let Some(r) = r {
                let _ = write!(o, " → epoch={}", i(r, "memberEpoch").unwrap_or(-1));
                if let Some(a) = r.at("assignment").filter(|a| a.value != Value::Null) {
                    let n: usize = items(a, "topicPartitions")
                        .iter()
                        .map(|t| items(t, "partitions").len())
                        .sum();
                    let _ = write!(o, " assigned={n} partitions");
                }
            }
        }
        _ => {}
    }
    let mut o = o.trim().to_string();
    if o.len() > MAX_SUMMARY {
        let mut cut = MAX_SUMMARY;
        while !o.is_char_boundary(cut) {
            cut -= 1;
        }
        o.truncate(cut);
        o.push('…');
    }
    o
}
