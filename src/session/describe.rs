//! A one-line summary of what an exchange carried, per API: what a Kafka
//! engineer looks at first (Produce: topics, partitions, records, acks;
//! Fetch: partitions, offsets, high watermarks; JoinGroup: group, member,
//! generation, protocols; ...). Used by `kwire list` and meant for the TUI's
//! timeline. Built from the decoded bodies; empty when there are none.
//!
//! Bodies are read through their typed views ([`crate::kafka::schema::views`]),
//! one view per body: no tree is built, and a count of a large array
//! (Metadata's topics) is the count on the wire, not a walk of its elements.

use crate::kafka::ApiKey;
use crate::kafka::records::{Batch, RecordSet};
use crate::kafka::schema::views::{self, Array, Element};
use crate::present::noun;

use super::record::{Body, Exchange, TopicIdNames};

/// Longest summary returned; longer ones end with `…`.
pub const MAX_SUMMARY: usize = 160;

/// The elements of an array field, none when it is absent or null.
fn each<'a, T: Element<'a>>(a: Option<Array<'a, T>>) -> impl Iterator<Item = T> {
    a.into_iter().flatten()
}

/// The count on the wire of an array field, 0 when absent or null.
fn count<T>(a: Option<Array<'_, T>>) -> usize {
    a.map_or(0, |a| a.len())
}

/// The topic names the analysis attached to an exchange's bodies
/// ([`Body::topic_names`]): what the capture had told of the ids they carry
/// when the exchange was analysed.
#[derive(Clone, Copy)]
struct Known<'a> {
    req: &'a TopicIdNames,
    resp: Option<&'a TopicIdNames>,
}

impl<'a> Known<'a> {
    /// A topic's name, else the name its id (v13+ Produce/Fetch use topic
    /// ids) was given, else its id shortened.
    fn topic(self, name: Option<&'a str>, id: Option<&'a [u8; 16]>) -> TopicName<'a> {
        let name = name.or_else(|| {
            let id = id?;
            self.req
                .by_id(id)
                .or_else(|| self.resp.and_then(|r| r.by_id(id)))
        });
        TopicName { name, id }
    }
}

/// A topic as summaries name it: its name, else `id:` and the first bytes
/// of its id, else `?`.
#[derive(Clone, Copy)]
struct TopicName<'a> {
    name: Option<&'a str>,
    id: Option<&'a [u8; 16]>,
}

impl std::fmt::Display for TopicName<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.name, self.id) {
            (Some(n), _) => f.write_str(n),
            (None, Some(u)) => write!(f, "id:{:02x}{:02x}{:02x}{:02x}…", u[0], u[1], u[2], u[3]),
            (None, None) => f.write_str("?"),
        }
    }
}

/// What a summary's list items are: written in place, numbers without the
/// formatter.
trait Put {
    fn put(self, s: &mut String);
}

impl Put for &str {
    fn put(self, s: &mut String) {
        s.push_str(self);
    }
}

impl Put for String {
    fn put(self, s: &mut String) {
        s.push_str(&self);
    }
}

macro_rules! put_int {
    ($($t:ty),*) => {$(
        impl Put for $t {
            fn put(self, s: &mut String) {
                s.push_str(itoa::Buffer::new().format(self));
            }
        }
    )*};
}
put_int!(i8, i16, i32, i64, u16, u32, u64, usize);

impl Put for TopicName<'_> {
    fn put(self, s: &mut String) {
        match (self.name, self.id) {
            (Some(n), _) => s.push_str(n),
            (None, Some(u)) => {
                // As `id:{:02x}{:02x}{:02x}{:02x}…` would write it.
                const HEX: &[u8; 16] = b"0123456789abcdef";
                s.push_str("id:");
                for b in u.iter().take(4) {
                    s.push(char::from(HEX[usize::from(b >> 4)]));
                    s.push(char::from(HEX[usize::from(b & 0xf)]));
                }
                s.push('…');
            }
            (None, None) => s.push('?'),
        }
    }
}

impl Put for char {
    fn put(self, s: &mut String) {
        s.push(self);
    }
}

/// Write each of the pieces (anything [`Put`]) onto a [`Line`], in order:
/// what `write!` would write for `"{}{}…"`, without the formatter.
macro_rules! put {
    ($o:expr, $($x:expr),+ $(,)?) => {{
        let o: &mut Line = $o;
        $( Put::put($x, &mut o.s); )+
    }};
}

/// A list item written by a closure.
struct Show<F>(F);

impl<F: FnOnce(&mut String)> Put for Show<F> {
    fn put(self, s: &mut String) {
        (self.0)(s)
    }
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

/// The summary as it is written, front to back. Lists (topics, partitions,
/// members…) stop once the text, trimmed, is longer than [`MAX_SUMMARY`]:
/// what follows cannot change the summary (its first [`MAX_SUMMARY`] bytes
/// and its `…`), so a request of millions of topics costs a few of them,
/// not a string per topic.
struct Line {
    s: String,
    /// The trimmed text is longer than [`MAX_SUMMARY`].
    full: bool,
    /// The length at which to look again (the trimmed length only grows;
    /// looking at doubling lengths keeps a run of blanks linear).
    check_at: usize,
}

impl Line {
    fn new() -> Line {
        Line {
            s: String::new(),
            full: false,
            check_at: MAX_SUMMARY + 1,
        }
    }

    /// Whether more text can no longer change the summary.
    fn full(&mut self) -> bool {
        if !self.full && self.s.len() >= self.check_at {
            self.full = self.s.trim().len() > MAX_SUMMARY;
            self.check_at = self.s.len().saturating_mul(2);
        }
        self.full
    }

    /// `prefix`, then `items` separated by `sep`, as many as can still show
    /// (nothing, not even `prefix`, when there are none); whether there
    /// were any.
    fn list<T: Put>(
        &mut self,
        prefix: &str,
        sep: &str,
        items: impl IntoIterator<Item = T>,
    ) -> bool {
        let mut any = false;
        for x in items {
            if self.full() {
                return true;
            }
            self.s.push_str(if any { sep } else { prefix });
            x.put(&mut self.s);
            any = true;
        }
        any
    }

    /// `name[0,1,2]`: a topic and its partitions.
    fn topic(&mut self, name: impl Put, partitions: impl IntoIterator<Item = i32>) {
        name.put(&mut self.s);
        self.s.push('[');
        self.list("", ",", partitions);
        self.s.push(']');
    }
}

/// The summary of an exchange, or an empty string.
pub fn describe(e: &Exchange) -> String {
    let Some(req) = e.request_body.as_deref() else {
        return String::new();
    };
    let mut line = Line::new();
    if let Some(q) = req.view() {
        let resp = e.response_body.as_deref();
        summarise(
            &mut line,
            e.api_key,
            req,
            q,
            resp,
            resp.and_then(Body::view),
        );
    }
    let mut o = line.s.trim().to_string();
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

/// Write the summary of an exchange of `api` whose request body `req` has
/// the view `q`, and whose response body (if any) `resp` has the view `r`.
fn summarise(
    o: &mut Line,
    api: ApiKey,
    req: &Body,
    q: views::StructView<'_>,
    resp: Option<&Body>,
    r: Option<views::StructView<'_>>,
) {
    use views::*;
    let k = Known {
        req: &req.topic_names,
        resp: resp.map(|b| &b.topic_names),
    };
    match api {
        ApiKey::PRODUCE => {
            let q = ProduceRequest(q);
            let (batches, records) = record_counts(req);
            put!(o, "acks=", q.acks().unwrap_or(0), " ");
            for (i, t) in each(q.topic_data()).enumerate() {
                if o.full() {
                    break;
                }
                if i > 0 {
                    o.s.push(' ');
                }
                let ps = each(t.partition_data()).filter_map(|p| p.index());
                o.topic(k.topic(t.name(), t.topic_id()), ps);
            }
            put!(
                o,
                " ",
                batches,
                noun(batches, " batch ", " batches "),
                records,
                noun(records, " record", " records")
            );
            if let Some(t) = q.transactional_id() {
                put!(o, " txn=", t);
            }
        }
        ApiKey::FETCH => {
            let q = FetchRequest(q);
            let parts = each(q.topics()).flat_map(|t| {
                let name = k.topic(t.topic(), t.topic_id());
                each(t.partitions()).map(move |p| {
                    Show(move |s: &mut String| {
                        name.put(s);
                        s.push('-');
                        p.partition().unwrap_or(-1).put(s);
                        s.push('@');
                        p.fetch_offset().unwrap_or(-1).put(s);
                    })
                })
            });
            o.list("", " ", parts);
            if let Some(w) = q.max_wait_ms() {
                put!(o, " wait=", i64::from(w), "ms");
            }
            if q.isolation_level() == Some(1) {
                o.s.push_str(" read_committed");
            }
            if let Some(resp) = resp {
                let (_, records) = record_counts(resp);
                put!(
                    o,
                    " → ",
                    records,
                    noun(records, " record hw ", " records hw ")
                );
                let hw = each(r.and_then(|r| FetchResponse(r).responses())).flat_map(|t| {
                    let name = k.topic(t.topic(), t.topic_id());
                    each(t.partitions()).map(move |p| {
                        Show(move |s: &mut String| {
                            name.put(s);
                            s.push('-');
                            p.partition_index().unwrap_or(-1).put(s);
                            s.push('=');
                            p.high_watermark().unwrap_or(-1).put(s);
                        })
                    })
                });
                o.list("", " ", hw);
            }
        }
        ApiKey::LIST_OFFSETS => {
            let parts = each(ListOffsetsRequest(q).topics()).flat_map(|t| {
                let name = k.topic(t.name(), None);
                each(t.partitions()).map(move |p| {
                    Show(move |s: &mut String| {
                        name.put(s);
                        s.push('-');
                        p.partition_index().unwrap_or(-1).put(s);
                        s.push('@');
                        match p.timestamp() {
                            Some(-1) => s.push_str("latest"),
                            Some(-2) => s.push_str("earliest"),
                            Some(-3) => s.push_str("max-timestamp"),
                            Some(t) => t.put(s),
                            None => s.push('?'),
                        }
                    })
                })
            });
            o.list("", " ", parts);
            if let Some(r) = r {
                let offs = each(ListOffsetsResponse(r).topics())
                    .flat_map(|t| each(t.partitions()))
                    .filter_map(|p| p.offset());
                o.list(" → ", ",", offs);
            }
        }
        ApiKey::METADATA => {
            match MetadataRequest(q).topics() {
                None => o.s.push_str("all topics"),
                Some(topics) => {
                    let names = topics.iter().map(|t| k.topic(t.name(), t.topic_id()));
                    o.list("", " ", names);
                }
            }
            if let Some(r) = r {
                let r = MetadataResponse(r);
                let (brokers, topics) = (count(r.brokers()), count(r.topics()));
                put!(
                    o,
                    " → ",
                    brokers,
                    noun(brokers, " broker, ", " brokers, "),
                    topics,
                    noun(topics, " topic", " topics")
                );
            }
        }
        ApiKey::OFFSET_COMMIT => {
            let q = OffsetCommitRequest(q);
            put!(o, "group=", q.group_id().unwrap_or("?"));
            if let Some(g) = q.generation_id_or_member_epoch() {
                put!(o, " gen=", g);
            }
            for t in each(q.topics()) {
                if o.full() {
                    break;
                }
                put!(o, " ", k.topic(t.name(), t.topic_id()), "[");
                let ps = each(t.partitions()).map(|p| {
                    Show(move |s: &mut String| {
                        p.partition_index().unwrap_or(-1).put(s);
                        s.push('@');
                        p.committed_offset().unwrap_or(-1).put(s);
                    })
                });
                o.list("", ",", ps);
                o.s.push(']');
            }
        }
        ApiKey::OFFSET_FETCH => {
            // v0-7 one group, v8+ a list of them.
            let q = OffsetFetchRequest(q);
            o.s.push_str("group=");
            let named = match q.group_id() {
                Some(g) => o.list("", "", [g]),
                None => o.list("", ",", each(q.groups()).filter_map(|g| g.group_id())),
            };
            if !named {
                o.s.push('?');
            }
        }
        ApiKey::FIND_COORDINATOR => {
            let q = FindCoordinatorRequest(q);
            let kind = if q.key_type() == Some(1) {
                "txn"
            } else {
                "group"
            };
            put!(o, kind, "=");
            match q.key() {
                Some(k) => o.s.push_str(k),
                None => {
                    o.list("", ",", each(q.coordinator_keys()).flatten());
                }
            }
            if let Some(r) = r {
                let r = FindCoordinatorResponse(r);
                if let (Some(h), Some(p)) = (r.host(), r.port()) {
                    put!(o, " → node ", r.node_id().unwrap_or(-1), " ", h, ":", p);
                } else {
                    let nodes = each(r.coordinators()).map(|c| {
                        format!(
                            " → node {} {}:{}",
                            c.node_id().unwrap_or(-1),
                            c.host().unwrap_or("?"),
                            c.port().unwrap_or(-1)
                        )
                    });
                    o.list("", "", nodes);
                }
            }
        }
        ApiKey::JOIN_GROUP => {
            let q = JoinGroupRequest(q);
            let member = q.member_id().filter(|m| !m.is_empty()).unwrap_or("(new)");
            put!(
                o,
                "group=",
                q.group_id().unwrap_or("?"),
                " member=",
                member,
                " ",
                q.protocol_type().unwrap_or("?"),
                "["
            );
            o.list("", ",", each(q.protocols()).filter_map(|p| p.name()));
            o.s.push(']');
            if let Some(r) = r {
                let r = JoinGroupResponse(r);
                let (leader, member_id) = (r.leader(), r.member_id());
                let members = count(r.members());
                put!(
                    o,
                    " → gen=",
                    r.generation_id().unwrap_or(-1),
                    " protocol=",
                    r.protocol_name().unwrap_or("-"),
                    " leader=",
                    if leader == member_id && members > 0 {
                        "self"
                    } else {
                        leader.unwrap_or("-")
                    }
                );
                if members > 0 {
                    put!(o, " members=", members);
                }
                if let Some(m) = member_id {
                    put!(o, " memberId=", m);
                }
            }
        }
        ApiKey::HEARTBEAT | ApiKey::LEAVE_GROUP | ApiKey::SYNC_GROUP => {
            // The group, generation, member (or the members leaving, v3+
            // LeaveGroup) and the assignments a SyncGroup leader sends.
            let (group, generation, member, members, assignments) = match api {
                ApiKey::HEARTBEAT => {
                    let q = HeartbeatRequest(q);
                    (q.group_id(), q.generation_id(), q.member_id(), None, 0)
                }
                ApiKey::LEAVE_GROUP => {
                    let q = LeaveGroupRequest(q);
                    (q.group_id(), None, q.member_id(), q.members(), 0)
                }
                _ => {
                    let q = SyncGroupRequest(q);
                    let n = count(q.assignments());
                    (q.group_id(), q.generation_id(), q.member_id(), None, n)
                }
            };
            put!(o, "group=", group.unwrap_or("?"));
            if let Some(g) = generation {
                put!(o, " gen=", g);
            }
            match member {
                Some(m) => {
                    put!(o, " member=", m);
                }
                None => {
                    o.list(
                        " members=",
                        ",",
                        each(members).filter_map(|m| m.member_id()),
                    );
                }
            }
            if assignments > 0 {
                put!(o, " assignments=", assignments, " (leader)");
            }
        }
        ApiKey::API_VERSIONS => {
            let q = ApiVersionsRequest(q);
            if let (Some(n), Some(v)) = (q.client_software_name(), q.client_software_version()) {
                put!(o, n, " ", v);
            }
            if let Some(r) = r {
                let n = count(ApiVersionsResponse(r).api_keys());
                if n > 0 {
                    put!(o, " → ", n, noun(n, " API", " APIs"));
                }
            }
        }
        ApiKey::INIT_PRODUCER_ID => {
            let q = InitProducerIdRequest(q);
            put!(o, "txn=", q.transactional_id().unwrap_or("-"));
            if let Some(r) = r {
                let r = InitProducerIdResponse(r);
                put!(
                    o,
                    " → producerId=",
                    r.producer_id().unwrap_or(-1),
                    " epoch=",
                    r.producer_epoch().unwrap_or(-1)
                );
            }
        }
        ApiKey::ADD_PARTITIONS_TO_TXN => {
            // v0-3 one transaction (`v3AndBelow…` fields), v4+ a batch of
            // transactions.
            let q = AddPartitionsToTxnRequest(q);
            type Topics<'a> = Array<'a, add_partitions_to_txn_request::AddPartitionsToTxnTopic<'a>>;
            let topics = |o: &mut Line, ts: Option<Topics<'_>>| {
                for (i, t) in each(ts).enumerate() {
                    if o.full() {
                        break;
                    }
                    if i > 0 {
                        o.s.push(' ');
                    }
                    o.topic(k.topic(t.name(), None), each(t.partitions()));
                }
            };
            if let Some(t) = q.v3_and_below_transactional_id() {
                put!(o, "txn=", t, " ");
                topics(o, q.v3_and_below_topics());
            } else {
                for t in each(q.transactions()) {
                    if o.full() {
                        break;
                    }
                    put!(o, "txn=", t.transactional_id().unwrap_or("?"), " ");
                    topics(o, t.topics());
                    o.s.push(' ');
                }
            }
        }
        ApiKey::ADD_OFFSETS_TO_TXN | ApiKey::TXN_OFFSET_COMMIT => {
            let (txn, group) = if api == ApiKey::ADD_OFFSETS_TO_TXN {
                let q = AddOffsetsToTxnRequest(q);
                (q.transactional_id(), q.group_id())
            } else {
                let q = TxnOffsetCommitRequest(q);
                (q.transactional_id(), q.group_id())
            };
            put!(
                o,
                "txn=",
                txn.unwrap_or("?"),
                " group=",
                group.unwrap_or("?")
            );
        }
        ApiKey::END_TXN => {
            let q = EndTxnRequest(q);
            put!(
                o,
                "txn=",
                q.transactional_id().unwrap_or("?"),
                " ",
                if q.committed() == Some(true) {
                    "COMMIT"
                } else {
                    "ABORT"
                }
            );
        }
        ApiKey::CONSUMER_GROUP_HEARTBEAT => {
            let q = ConsumerGroupHeartbeatRequest(q);
            put!(
                o,
                "group=",
                q.group_id().unwrap_or("?"),
                " member=",
                q.member_id().filter(|m| !m.is_empty()).unwrap_or("(new)"),
                " epoch=",
                q.member_epoch().unwrap_or(0)
            );
            if let Some(r) = r {
                let r = ConsumerGroupHeartbeatResponse(r);
                put!(o, " → epoch=", r.member_epoch().unwrap_or(-1));
                if let Some(a) = r.assignment() {
                    let n: usize = each(a.topic_partitions())
                        .map(|t| count(t.partitions()))
                        .sum();
                    put!(o, " assigned=", n, " partitions");
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::stats::tests::exchange;
    use crate::kafka::schema::MessageKind;
    use crate::session::{DecodeOptions, decode_body};
    use kafka_protocol::messages as kp;
    use kafka_protocol::protocol::StrBytes;

    /// `m` encoded at version `v` by the `kafka-protocol` crate.
    fn encode<T: kafka_protocol::protocol::Encodable>(m: &T, v: i16) -> Vec<u8> {
        let mut out = bytes::BytesMut::new();
        m.encode(&mut out, v).unwrap();
        out.to_vec()
    }

    fn s(x: &'static str) -> StrBytes {
        StrBytes::from_static_str(x)
    }

    fn topic(x: &'static str) -> kp::TopicName {
        kp::TopicName(s(x))
    }

    const ID: &str = "07070707-0707-0707-0707-070707070707";

    /// The summary of `api` at `v`: a request and maybe a response.
    fn summary(api: ApiKey, v: i16, q: &[u8], r: Option<&[u8]>) -> String {
        describe(&exchange(api.0, v, 1, None, Some(q), r, r.map(|_| 10)))
    }

    #[test]
    fn metadata_all_topics_counts_brokers_and_topics() {
        let q = encode(&kp::MetadataRequest::default().with_topics(None), 13);
        let broker = |n: i32| {
            kp::metadata_response::MetadataResponseBroker::default()
                .with_node_id(kp::BrokerId(n))
                .with_host(s("localhost"))
        };
        let t = |name| {
            kp::metadata_response::MetadataResponseTopic::default().with_name(Some(topic(name)))
        };
        let r = encode(
            &kp::MetadataResponse::default()
                .with_brokers(vec![broker(1), broker(2), broker(3)])
                .with_topics(vec![t("orders"), t("events")]),
            13,
        );
        assert_eq!(
            summary(ApiKey::METADATA, 13, &q, Some(&r)),
            "all topics → 3 brokers, 2 topics"
        );
        // Unanswered.
        assert_eq!(summary(ApiKey::METADATA, 13, &q, None), "all topics");
        // The count of a response the capture cut is the count on the wire:
        // cut a few bytes into the first topic (v13: the body without
        // topics ends with their count, errorCode and the tagged fields).
        let no_topics = encode(
            &kp::MetadataResponse::default().with_brokers(vec![broker(1), broker(2), broker(3)]),
            13,
        );
        let cut = &r[..no_topics.len() + 2];
        let opts = DecodeOptions {
            records: Default::default(),
            limits: Default::default(),
            show_secrets: false,
        };
        let b = decode_body(
            ApiKey::METADATA,
            13,
            MessageKind::Response,
            cut,
            false,
            &opts,
        );
        let topics = b
            .view()
            .map(views::MetadataResponse)
            .and_then(|r| r.topics());
        assert_eq!(topics.map(|t| (t.len(), t.iter().count())), Some((2, 1)));
        let mut e = exchange(ApiKey::METADATA.0, 13, 1, None, Some(&q), None, Some(10));
        e.response_body = Some(Box::new(b));
        assert_eq!(describe(&e), "all topics → 3 brokers, 2 topics");
    }

    #[test]
    fn metadata_topics_by_name_and_by_id() {
        let q = encode(
            &kp::MetadataRequest::default().with_topics(Some(vec![
                kp::metadata_request::MetadataRequestTopic::default()
                    .with_name(Some(topic("orders"))),
                kp::metadata_request::MetadataRequestTopic::default()
                    .with_name(None)
                    .with_topic_id(ID.parse().unwrap()),
            ])),
            12,
        );
        assert_eq!(
            summary(ApiKey::METADATA, 12, &q, None),
            "orders id:07070707…"
        );
    }

    #[test]
    fn produce_by_topic_id() {
        let part = |i| kp::produce_request::PartitionProduceData::default().with_index(i);
        let q = encode(
            &kp::ProduceRequest::default()
                .with_acks(-1)
                .with_transactional_id(Some(kp::TransactionalId(s("tx-1"))))
                .with_topic_data(vec![
                    kp::produce_request::TopicProduceData::default()
                        .with_topic_id(ID.parse().unwrap())
                        .with_partition_data(vec![part(4), part(5)]),
                ]),
            13,
        );
        assert_eq!(
            summary(ApiKey::PRODUCE, 13, &q, None),
            "acks=-1 id:07070707…[4,5] 0 batches 0 records txn=tx-1"
        );
    }

    #[test]
    fn fetch_offsets_and_high_watermarks() {
        let q = encode(
            &kp::FetchRequest::default()
                .with_max_wait_ms(500)
                .with_isolation_level(1)
                .with_topics(vec![
                    kp::fetch_request::FetchTopic::default()
                        .with_topic(topic("orders"))
                        .with_partitions(vec![
                            kp::fetch_request::FetchPartition::default()
                                .with_partition(0)
                                .with_fetch_offset(42),
                        ]),
                ]),
            11,
        );
        let r = encode(
            &kp::FetchResponse::default().with_responses(vec![
                kp::fetch_response::FetchableTopicResponse::default()
                    .with_topic(topic("orders"))
                    .with_partitions(vec![
                        kp::fetch_response::PartitionData::default()
                            .with_partition_index(0)
                            .with_high_watermark(100),
                    ]),
            ]),
            11,
        );
        assert_eq!(
            summary(ApiKey::FETCH, 11, &q, Some(&r)),
            "orders-0@42 wait=500ms read_committed → 0 records hw orders-0=100"
        );
    }

    #[test]
    fn group_membership() {
        let q = encode(
            &kp::JoinGroupRequest::default()
                .with_group_id(kp::GroupId(s("g")))
                .with_protocol_type(s("consumer"))
                .with_protocols(vec![
                    kp::join_group_request::JoinGroupRequestProtocol::default()
                        .with_name(s("range")),
                    kp::join_group_request::JoinGroupRequestProtocol::default()
                        .with_name(s("roundrobin")),
                ]),
            5,
        );
        let member = kp::join_group_response::JoinGroupResponseMember::default;
        let r = encode(
            &kp::JoinGroupResponse::default()
                .with_generation_id(3)
                .with_protocol_name(Some(s("range")))
                .with_leader(s("m-1"))
                .with_member_id(s("m-1"))
                .with_members(vec![
                    member().with_member_id(s("m-1")),
                    member().with_member_id(s("m-2")),
                ]),
            5,
        );
        assert_eq!(
            summary(ApiKey::JOIN_GROUP, 5, &q, Some(&r)),
            "group=g member=(new) consumer[range,roundrobin] → gen=3 protocol=range leader=self members=2 memberId=m-1"
        );
        // LeaveGroup v3+: the members leaving.
        let identity = |m| kp::leave_group_request::MemberIdentity::default().with_member_id(s(m));
        let q = encode(
            &kp::LeaveGroupRequest::default()
                .with_group_id(kp::GroupId(s("g")))
                .with_members(vec![identity("m-1"), identity("m-2")]),
            3,
        );
        assert_eq!(
            summary(ApiKey::LEAVE_GROUP, 3, &q, None),
            "group=g members=m-1,m-2"
        );
        // SyncGroup from the leader.
        let assignment =
            |m| kp::sync_group_request::SyncGroupRequestAssignment::default().with_member_id(s(m));
        let q = encode(
            &kp::SyncGroupRequest::default()
                .with_group_id(kp::GroupId(s("g")))
                .with_generation_id(3)
                .with_member_id(s("m-1"))
                .with_assignments(vec![assignment("m-1"), assignment("m-2")]),
            3,
        );
        assert_eq!(
            summary(ApiKey::SYNC_GROUP, 3, &q, None),
            "group=g gen=3 member=m-1 assignments=2 (leader)"
        );
    }

    #[test]
    fn coordinators_and_transactions() {
        let q = encode(
            &kp::FindCoordinatorRequest::default()
                .with_key_type(1)
                .with_coordinator_keys(vec![s("tx-1"), s("tx-2")]),
            4,
        );
        assert_eq!(
            summary(ApiKey::FIND_COORDINATOR, 4, &q, None),
            "txn=tx-1,tx-2"
        );
        let q = encode(
            &kp::AddPartitionsToTxnRequest::default()
                .with_v3_and_below_transactional_id(kp::TransactionalId(s("tx-1")))
                .with_v3_and_below_topics(vec![
                    kp::add_partitions_to_txn_request::AddPartitionsToTxnTopic::default()
                        .with_name(topic("orders"))
                        .with_partitions(vec![0, 2]),
                ]),
            3,
        );
        assert_eq!(
            summary(ApiKey::ADD_PARTITIONS_TO_TXN, 3, &q, None),
            "txn=tx-1 orders[0,2]"
        );
        let q = encode(
            &kp::EndTxnRequest::default()
                .with_transactional_id(kp::TransactionalId(s("tx-1")))
                .with_committed(true),
            3,
        );
        assert_eq!(summary(ApiKey::END_TXN, 3, &q, None), "txn=tx-1 COMMIT");
    }

    #[test]
    fn consumer_group_heartbeat_assignment() {
        let q = encode(
            &kp::ConsumerGroupHeartbeatRequest::default()
                .with_group_id(kp::GroupId(s("g")))
                .with_member_epoch(0),
            0,
        );
        let tp = kp::consumer_group_heartbeat_response::TopicPartitions::default()
            .with_topic_id(ID.parse().unwrap())
            .with_partitions(vec![0, 1, 2]);
        let r = encode(
            &kp::ConsumerGroupHeartbeatResponse::default()
                .with_member_epoch(5)
                .with_assignment(Some(
                    kp::consumer_group_heartbeat_response::Assignment::default()
                        .with_topic_partitions(vec![tp]),
                )),
            0,
        );
        assert_eq!(
            summary(ApiKey::CONSUMER_GROUP_HEARTBEAT, 0, &q, Some(&r)),
            "group=g member=(new) epoch=0 → epoch=5 assigned=3 partitions"
        );
    }

    #[test]
    fn api_versions_error_response_and_unknown_api() {
        let q = encode(
            &kp::ApiVersionsRequest::default()
                .with_client_software_name(s("kcat"))
                .with_client_software_version(s("1.7")),
            3,
        );
        // UNSUPPORTED_VERSION in the v0 layout: no API count.
        let r = encode(&kp::ApiVersionsResponse::default().with_error_code(35), 0);
        assert_eq!(summary(ApiKey::API_VERSIONS, 3, &q, Some(&r)), "kcat 1.7");
        // An API kwire does not know: nothing to say.
        assert_eq!(summary(ApiKey(999), 0, &[1, 2, 3], None), "");
    }

    #[test]
    fn long_summaries_are_cut() {
        let names: Vec<String> = (0..40).map(|i| format!("topic-{i:02}")).collect();
        let q = encode(
            &kp::MetadataRequest::default().with_topics(Some(
                names
                    .iter()
                    .map(|n| {
                        kp::metadata_request::MetadataRequestTopic::default()
                            .with_name(Some(kp::TopicName(StrBytes::from_string(n.clone()))))
                    })
                    .collect(),
            )),
            9,
        );
        let d = summary(ApiKey::METADATA, 9, &q, None);
        assert!(d.starts_with("topic-00 topic-01"), "{d}");
        assert!(d.ends_with('…'));
        assert_eq!(d.len(), MAX_SUMMARY + '…'.len_utf8());
    }

    #[test]
    fn blank_names_do_not_hide_what_follows() {
        // 400 empty names are 399 blanks, trimmed away: the response's part
        // is the summary, as if every name had been written.
        let q = encode(
            &kp::MetadataRequest::default().with_topics(Some(
                (0..400)
                    .map(|_| {
                        kp::metadata_request::MetadataRequestTopic::default()
                            .with_name(Some(topic("")))
                    })
                    .collect(),
            )),
            9,
        );
        let r = encode(&kp::MetadataResponse::default(), 9);
        assert_eq!(
            summary(ApiKey::METADATA, 9, &q, Some(&r)),
            "→ 0 brokers, 0 topics"
        );
    }
}
