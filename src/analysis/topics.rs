//! Topic names: Produce v13+ and Fetch v13+ name topics by id; Metadata
//! (v10+), CreateTopics (v7+) and DescribeTopicPartitions responses tell
//! which name an id stands for. Also which topics and which group an
//! exchange is about, for filters and tables.
//!
//! Bodies are read through their typed views ([`crate::kafka::schema::views`]),
//! one view per body per call: no tree is built, and reading stops once
//! [`MAX_TOPICS_PER_EXCHANGE`] topics are found.

use foldhash::HashMap;
use std::sync::Arc;

use crate::kafka::ApiKey;
use crate::kafka::schema::views::{self, Array, Element, StructView};
use crate::session::{Body, Exchange};

/// Most topic ids remembered.
pub const MAX_TOPIC_IDS: usize = 100_000;

/// Topic ids seen in responses that name them.
#[derive(Clone, Debug, Default)]
pub struct TopicNames {
    names: HashMap<[u8; 16], Arc<str>>,
}

const ZERO: [u8; 16] = [0; 16];

/// The elements of an array field, none when it is absent or null.
fn each<'a, T: Element<'a>>(a: Option<Array<'a, T>>) -> impl Iterator<Item = T> {
    a.into_iter().flatten()
}

impl TopicNames {
    pub fn new() -> Self {
        TopicNames::default()
    }

    /// Learn the ids named in `e`'s response (Metadata, CreateTopics,
    /// DescribeTopicPartitions), and the names the analysis attached to
    /// its bodies ([`Body::topic_names`]: what any response naming an id
    /// told it). Returns the ids whose name is new or changed.
    pub fn observe(&mut self, e: &Exchange) -> Vec<[u8; 16]> {
        let mut new = Vec::new();
        for b in [&e.request_body, &e.response_body].into_iter().flatten() {
            for t in b.topic_names.iter() {
                self.learn(Some(&t.id), Some(&t.name), &mut new);
            }
        }
        if !matches!(
            e.api_key,
            ApiKey::METADATA | ApiKey::CREATE_TOPICS | ApiKey::DESCRIBE_TOPIC_PARTITIONS
        ) {
            return new;
        }
        let Some(v) = e.response_body.as_deref().and_then(Body::view) else {
            return new;
        };
        match e.api_key {
            ApiKey::METADATA => {
                for t in each(views::MetadataResponse(v).topics()) {
                    self.learn(t.topic_id(), t.name(), &mut new);
                }
            }
            ApiKey::CREATE_TOPICS => {
                for t in each(views::CreateTopicsResponse(v).topics()) {
                    self.learn(t.topic_id(), t.name(), &mut new);
                }
            }
            _ => {
                for t in each(views::DescribeTopicPartitionsResponse(v).topics()) {
                    self.learn(t.topic_id(), t.name(), &mut new);
                }
            }
        }
        new
    }

    /// Remember that `id` is `name` (not the zero id; no new id once
    /// [`MAX_TOPIC_IDS`] are known), noting it in `new` when it is news.
    fn learn(&mut self, id: Option<&[u8; 16]>, name: Option<&str>, new: &mut Vec<[u8; 16]>) {
        let (Some(id), Some(name)) = (id, name) else {
            return;
        };
        if *id == ZERO || (self.names.len() >= MAX_TOPIC_IDS && !self.names.contains_key(id)) {
            return;
        }
        if self.names.get(id).is_none_or(|n| &**n != name) {
            self.names.insert(*id, Arc::from(name));
            new.push(*id);
        }
    }

    /// The name of topic `id`, when seen.
    pub fn name(&self, id: &[u8; 16]) -> Option<&Arc<str>> {
        self.names.get(id)
    }

    /// A name for a topic given by its `name` field (`name`, `topic` or
    /// `topicName`, as the message calls it) and its `topicId` field: the
    /// name, else the name of the id, else the id shortened as
    /// `id:1a2b3c4d…`; none when both are absent.
    pub fn label(&self, name: Option<&str>, id: Option<&[u8; 16]>) -> Option<String> {
        match (name, id) {
            (Some(n), _) => Some(n.to_string()),
            (None, Some(id)) => Some(self.id_label(id)),
            (None, None) => None,
        }
    }

    /// Rewrite, in `text`, every `id:1a2b3c4d…` label (what
    /// [`id_label`](Self::id_label) writes for an id not named yet) of an id
    /// named since, when its first four bytes name one topic only: what
    /// was said before the capture named the topic, said with the name.
    pub fn rename_ids(&self, text: &str) -> Option<String> {
        const MARK: &str = "id:";
        if !text.contains(MARK) || self.names.is_empty() {
            return None;
        }
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        let mut changed = false;
        while let Some(i) = rest.find(MARK) {
            let (before, from) = rest.split_at(i);
            out.push_str(before);
            let hex = from.get(MARK.len()..MARK.len() + 8);
            let ell = from
                .get(MARK.len() + 8..)
                .is_some_and(|r| r.starts_with('…'));
            let prefix = hex.filter(|_| ell).and_then(|h| {
                let mut p = [0u8; 4];
                for (k, b) in p.iter_mut().enumerate() {
                    *b = u8::from_str_radix(h.get(2 * k..2 * k + 2)?, 16).ok()?;
                }
                Some(p)
            });
            let named = prefix.and_then(|p| {
                let mut found = self.names.iter().filter(|(id, _)| id.starts_with(&p));
                let first = found.next()?;
                // Two named ids with these first bytes: ambiguous.
                found.next().is_none().then(|| Arc::clone(first.1))
            });
            match named {
                Some(n) => {
                    out.push_str(&n);
                    rest = from
                        .get(MARK.len() + 8 + '…'.len_utf8()..)
                        .unwrap_or_default();
                    changed = true;
                }
                None => {
                    out.push_str(MARK);
                    rest = from.get(MARK.len()..).unwrap_or_default();
                }
            }
        }
        out.push_str(rest);
        changed.then_some(out)
    }

    /// The name of `id`, or `id:1a2b3c4d…` when unknown.
    pub fn id_label(&self, id: &[u8; 16]) -> String {
        match self.names.get(id) {
            Some(n) => n.to_string(),
            None => {
                let hex: String = id[..4].iter().map(|b| format!("{b:02x}")).collect();
                format!("id:{hex}…")
            }
        }
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// Most topics listed per exchange.
pub const MAX_TOPICS_PER_EXCHANGE: usize = 64;

/// The topics of one exchange as they are found.
struct Found<'n> {
    names: &'n TopicNames,
    out: Vec<String>,
}

impl Found<'_> {
    /// Add the topic named `name` (else `id`) unless listed; `None` once
    /// [`MAX_TOPICS_PER_EXCHANGE`] are listed: reading stops.
    fn add(&mut self, name: Option<&str>, id: Option<&[u8; 16]>) -> Option<()> {
        if self.out.len() >= MAX_TOPICS_PER_EXCHANGE {
            return None;
        }
        if let Some(t) = self.names.label(name, id)
            && !self.out.contains(&t)
        {
            self.out.push(t);
        }
        Some(())
    }
}

/// The topics an exchange is about: names (or ids resolved through `names`)
/// in its request, and in its response when the request names none
/// (Metadata for all topics). Deduplicated, in wire order, at most
/// [`MAX_TOPICS_PER_EXCHANGE`].
///
/// The topics are the elements of the messages' arrays of topics (at any
/// depth: `groups[].topics[]` of OffsetFetch v8+ too), named by their name
/// or id field. AddPartitionsToTxn v0-3 (`v3AndBelowTopics`, and its
/// response's `resultsByTopicV3AndBelow`) are not among them: the
/// name-matching walk this replaced did not see them either.
pub fn topics_of(e: &Exchange, names: &TopicNames) -> Vec<String> {
    let mut found = Found {
        names,
        out: Vec::new(),
    };
    if let Some(v) = e.request_body.as_deref().and_then(Body::view) {
        let _ = request_topics(e.api_key, v, &mut found);
    }
    if found.out.is_empty()
        && let Some(v) = e.response_body.as_deref().and_then(Body::view)
    {
        let _ = response_topics(e.api_key, v, &mut found);
    }
    found.out
}

/// `for t in array { f.add(name, id)? }`, the topic's name and id read
/// from `t` by the expressions given.
macro_rules! topics {
    ($f:ident, $array:expr, |$t:ident| $name:expr, $id:expr) => {
        for $t in each($array) {
            $f.add($name, $id)?;
        }
    };
}

/// The topics of a request: see [`topics_of`].
fn request_topics(api: ApiKey, v: StructView<'_>, f: &mut Found<'_>) -> Option<()> {
    use views::*;
    match api {
        ApiKey::PRODUCE => topics!(
            f,
            ProduceRequest(v).topic_data(),
            |t| t.name(),
            t.topic_id()
        ),
        ApiKey::FETCH => topics!(f, FetchRequest(v).topics(), |t| t.topic(), t.topic_id()),
        ApiKey::LIST_OFFSETS => topics!(f, ListOffsetsRequest(v).topics(), |t| t.name(), None),
        ApiKey::METADATA => topics!(f, MetadataRequest(v).topics(), |t| t.name(), t.topic_id()),
        ApiKey::LEADER_AND_ISR => {
            let q = LeaderAndIsrRequest(v);
            topics!(f, q.topic_states(), |t| t.topic_name(), t.topic_id());
        }
        ApiKey::STOP_REPLICA => {
            let q = StopReplicaRequest(v);
            topics!(f, q.topics(), |t| t.name(), None);
            topics!(f, q.topic_states(), |t| t.topic_name(), None);
        }
        ApiKey::UPDATE_METADATA => {
            let q = UpdateMetadataRequest(v);
            topics!(f, q.topic_states(), |t| t.topic_name(), t.topic_id());
        }
        ApiKey::OFFSET_COMMIT => {
            topics!(
                f,
                OffsetCommitRequest(v).topics(),
                |t| t.name(),
                t.topic_id()
            );
        }
        ApiKey::OFFSET_FETCH => {
            let q = OffsetFetchRequest(v);
            topics!(f, q.topics(), |t| t.name(), None);
            for g in each(q.groups()) {
                topics!(f, g.topics(), |t| t.name(), t.topic_id());
            }
        }
        ApiKey::CREATE_TOPICS => topics!(f, CreateTopicsRequest(v).topics(), |t| t.name(), None),
        ApiKey::DELETE_TOPICS => {
            topics!(
                f,
                DeleteTopicsRequest(v).topics(),
                |t| t.name(),
                t.topic_id()
            );
        }
        ApiKey::DELETE_RECORDS => {
            topics!(f, DeleteRecordsRequest(v).topics(), |t| t.name(), None);
        }
        ApiKey::OFFSET_FOR_LEADER_EPOCH => {
            topics!(
                f,
                OffsetForLeaderEpochRequest(v).topics(),
                |t| t.topic(),
                None
            );
        }
        ApiKey::ADD_PARTITIONS_TO_TXN => {
            for x in each(AddPartitionsToTxnRequest(v).transactions()) {
                topics!(f, x.topics(), |t| t.name(), None);
            }
        }
        ApiKey::WRITE_TXN_MARKERS => {
            for m in each(WriteTxnMarkersRequest(v).markers()) {
                topics!(f, m.topics(), |t| t.name(), None);
            }
        }
        ApiKey::TXN_OFFSET_COMMIT => {
            topics!(f, TxnOffsetCommitRequest(v).topics(), |t| t.name(), None);
        }
        ApiKey::ALTER_REPLICA_LOG_DIRS => {
            for d in each(AlterReplicaLogDirsRequest(v).dirs()) {
                topics!(f, d.topics(), |t| t.name(), None);
            }
        }
        ApiKey::DESCRIBE_LOG_DIRS => {
            topics!(f, DescribeLogDirsRequest(v).topics(), |t| t.topic(), None);
        }
        ApiKey::CREATE_PARTITIONS => {
            topics!(f, CreatePartitionsRequest(v).topics(), |t| t.name(), None);
        }
        ApiKey::ELECT_LEADERS => {
            topics!(
                f,
                ElectLeadersRequest(v).topic_partitions(),
                |t| t.topic(),
                None
            );
        }
        ApiKey::ALTER_PARTITION_REASSIGNMENTS => {
            topics!(
                f,
                AlterPartitionReassignmentsRequest(v).topics(),
                |t| t.name(),
                None
            );
        }
        ApiKey::LIST_PARTITION_REASSIGNMENTS => {
            topics!(
                f,
                ListPartitionReassignmentsRequest(v).topics(),
                |t| t.name(),
                None
            );
        }
        ApiKey::OFFSET_DELETE => topics!(f, OffsetDeleteRequest(v).topics(), |t| t.name(), None),
        ApiKey::VOTE => topics!(f, VoteRequest(v).topics(), |t| t.topic_name(), None),
        ApiKey::BEGIN_QUORUM_EPOCH => {
            topics!(
                f,
                BeginQuorumEpochRequest(v).topics(),
                |t| t.topic_name(),
                None
            );
        }
        ApiKey::END_QUORUM_EPOCH => {
            topics!(
                f,
                EndQuorumEpochRequest(v).topics(),
                |t| t.topic_name(),
                None
            );
        }
        ApiKey::DESCRIBE_QUORUM => {
            topics!(
                f,
                DescribeQuorumRequest(v).topics(),
                |t| t.topic_name(),
                None
            );
        }
        ApiKey::ALTER_PARTITION => {
            let q = AlterPartitionRequest(v);
            topics!(f, q.topics(), |t| t.topic_name(), t.topic_id());
        }
        ApiKey::FETCH_SNAPSHOT => topics!(f, FetchSnapshotRequest(v).topics(), |t| t.name(), None),
        ApiKey::DESCRIBE_PRODUCERS => {
            topics!(f, DescribeProducersRequest(v).topics(), |t| t.name(), None);
        }
        ApiKey::CONSUMER_GROUP_HEARTBEAT => {
            let q = ConsumerGroupHeartbeatRequest(v);
            topics!(f, q.topic_partitions(), |t| None, t.topic_id());
        }
        ApiKey::ASSIGN_REPLICAS_TO_DIRS => {
            for d in each(AssignReplicasToDirsRequest(v).directories()) {
                topics!(f, d.topics(), |t| None, t.topic_id());
            }
        }
        ApiKey::DESCRIBE_TOPIC_PARTITIONS => {
            topics!(
                f,
                DescribeTopicPartitionsRequest(v).topics(),
                |t| t.name(),
                None
            );
        }
        ApiKey::SHARE_FETCH => topics!(f, ShareFetchRequest(v).topics(), |t| None, t.topic_id()),
        ApiKey::SHARE_ACKNOWLEDGE => {
            topics!(
                f,
                ShareAcknowledgeRequest(v).topics(),
                |t| None,
                t.topic_id()
            );
        }
        ApiKey::INITIALIZE_SHARE_GROUP_STATE => {
            let q = InitializeShareGroupStateRequest(v);
            topics!(f, q.topics(), |t| None, t.topic_id());
        }
        ApiKey::READ_SHARE_GROUP_STATE => {
            topics!(
                f,
                ReadShareGroupStateRequest(v).topics(),
                |t| None,
                t.topic_id()
            );
        }
        ApiKey::WRITE_SHARE_GROUP_STATE => {
            topics!(
                f,
                WriteShareGroupStateRequest(v).topics(),
                |t| None,
                t.topic_id()
            );
        }
        ApiKey::DELETE_SHARE_GROUP_STATE => {
            topics!(
                f,
                DeleteShareGroupStateRequest(v).topics(),
                |t| None,
                t.topic_id()
            );
        }
        ApiKey::READ_SHARE_GROUP_STATE_SUMMARY => {
            let q = ReadShareGroupStateSummaryRequest(v);
            topics!(f, q.topics(), |t| None, t.topic_id());
        }
        ApiKey::DESCRIBE_SHARE_GROUP_OFFSETS => {
            for g in each(DescribeShareGroupOffsetsRequest(v).groups()) {
                topics!(f, g.topics(), |t| t.topic_name(), None);
            }
        }
        ApiKey::ALTER_SHARE_GROUP_OFFSETS => {
            topics!(
                f,
                AlterShareGroupOffsetsRequest(v).topics(),
                |t| t.topic_name(),
                None
            );
        }
        ApiKey::DELETE_SHARE_GROUP_OFFSETS => {
            topics!(
                f,
                DeleteShareGroupOffsetsRequest(v).topics(),
                |t| t.topic_name(),
                None
            );
        }
        _ => {}
    }
    Some(())
}

/// The topics of a response: see [`topics_of`].
fn response_topics(api: ApiKey, v: StructView<'_>, f: &mut Found<'_>) -> Option<()> {
    use views::*;
    match api {
        ApiKey::PRODUCE => topics!(
            f,
            ProduceResponse(v).responses(),
            |t| t.name(),
            t.topic_id()
        ),
        ApiKey::FETCH => topics!(f, FetchResponse(v).responses(), |t| t.topic(), t.topic_id()),
        ApiKey::LIST_OFFSETS => topics!(f, ListOffsetsResponse(v).topics(), |t| t.name(), None),
        ApiKey::METADATA => topics!(f, MetadataResponse(v).topics(), |t| t.name(), t.topic_id()),
        ApiKey::LEADER_AND_ISR => {
            topics!(f, LeaderAndIsrResponse(v).topics(), |t| None, t.topic_id());
        }
        ApiKey::OFFSET_COMMIT => {
            topics!(
                f,
                OffsetCommitResponse(v).topics(),
                |t| t.name(),
                t.topic_id()
            );
        }
        ApiKey::OFFSET_FETCH => {
            let r = OffsetFetchResponse(v);
            topics!(f, r.topics(), |t| t.name(), None);
            for g in each(r.groups()) {
                topics!(f, g.topics(), |t| t.name(), t.topic_id());
            }
        }
        ApiKey::CREATE_TOPICS => {
            topics!(
                f,
                CreateTopicsResponse(v).topics(),
                |t| t.name(),
                t.topic_id()
            );
        }
        ApiKey::DELETE_RECORDS => {
            topics!(f, DeleteRecordsResponse(v).topics(), |t| t.name(), None);
        }
        ApiKey::OFFSET_FOR_LEADER_EPOCH => {
            topics!(
                f,
                OffsetForLeaderEpochResponse(v).topics(),
                |t| t.topic(),
                None
            );
        }
        ApiKey::ADD_PARTITIONS_TO_TXN => {
            for x in each(AddPartitionsToTxnResponse(v).results_by_transaction()) {
                topics!(f, x.topic_results(), |t| t.name(), None);
            }
        }
        ApiKey::WRITE_TXN_MARKERS => {
            for m in each(WriteTxnMarkersResponse(v).markers()) {
                topics!(f, m.topics(), |t| t.name(), None);
            }
        }
        ApiKey::TXN_OFFSET_COMMIT => {
            topics!(f, TxnOffsetCommitResponse(v).topics(), |t| t.name(), None);
        }
        ApiKey::DESCRIBE_LOG_DIRS => {
            for d in each(DescribeLogDirsResponse(v).results()) {
                topics!(f, d.topics(), |t| t.name(), None);
            }
        }
        ApiKey::LIST_PARTITION_REASSIGNMENTS => {
            topics!(
                f,
                ListPartitionReassignmentsResponse(v).topics(),
                |t| t.name(),
                None
            );
        }
        ApiKey::OFFSET_DELETE => topics!(f, OffsetDeleteResponse(v).topics(), |t| t.name(), None),
        ApiKey::VOTE => topics!(f, VoteResponse(v).topics(), |t| t.topic_name(), None),
        ApiKey::BEGIN_QUORUM_EPOCH => {
            topics!(
                f,
                BeginQuorumEpochResponse(v).topics(),
                |t| t.topic_name(),
                None
            );
        }
        ApiKey::END_QUORUM_EPOCH => {
            topics!(
                f,
                EndQuorumEpochResponse(v).topics(),
                |t| t.topic_name(),
                None
            );
        }
        ApiKey::DESCRIBE_QUORUM => {
            topics!(
                f,
                DescribeQuorumResponse(v).topics(),
                |t| t.topic_name(),
                None
            );
        }
        ApiKey::ALTER_PARTITION => {
            let r = AlterPartitionResponse(v);
            topics!(f, r.topics(), |t| t.topic_name(), t.topic_id());
        }
        ApiKey::FETCH_SNAPSHOT => {
            topics!(f, FetchSnapshotResponse(v).topics(), |t| t.name(), None);
        }
        ApiKey::DESCRIBE_PRODUCERS => {
            topics!(f, DescribeProducersResponse(v).topics(), |t| t.name(), None);
        }
        ApiKey::DESCRIBE_TRANSACTIONS => {
            for s in each(DescribeTransactionsResponse(v).transaction_states()) {
                topics!(f, s.topics(), |t| t.topic(), None);
            }
        }
        ApiKey::CONSUMER_GROUP_HEARTBEAT => {
            if let Some(a) = ConsumerGroupHeartbeatResponse(v).assignment() {
                topics!(f, a.topic_partitions(), |t| None, t.topic_id());
            }
        }
        ApiKey::CONSUMER_GROUP_DESCRIBE => {
            for g in each(ConsumerGroupDescribeResponse(v).groups()) {
                for m in each(g.members()) {
                    if let Some(a) = m.assignment() {
                        topics!(f, a.topic_partitions(), |t| t.topic_name(), t.topic_id());
                    }
                    if let Some(a) = m.target_assignment() {
                        topics!(f, a.topic_partitions(), |t| t.topic_name(), t.topic_id());
                    }
                }
            }
        }
        ApiKey::ASSIGN_REPLICAS_TO_DIRS => {
            for d in each(AssignReplicasToDirsResponse(v).directories()) {
                topics!(f, d.topics(), |t| None, t.topic_id());
            }
        }
        ApiKey::DESCRIBE_TOPIC_PARTITIONS => {
            let r = DescribeTopicPartitionsResponse(v);
            topics!(f, r.topics(), |t| t.name(), t.topic_id());
        }
        ApiKey::SHARE_GROUP_HEARTBEAT => {
            if let Some(a) = ShareGroupHeartbeatResponse(v).assignment() {
                topics!(f, a.topic_partitions(), |t| None, t.topic_id());
            }
        }
        ApiKey::SHARE_GROUP_DESCRIBE => {
            for g in each(ShareGroupDescribeResponse(v).groups()) {
                for m in each(g.members()) {
                    if let Some(a) = m.assignment() {
                        topics!(f, a.topic_partitions(), |t| t.topic_name(), t.topic_id());
                    }
                }
            }
        }
        ApiKey::DESCRIBE_SHARE_GROUP_OFFSETS => {
            for g in each(DescribeShareGroupOffsetsResponse(v).groups()) {
                topics!(f, g.topics(), |t| t.topic_name(), t.topic_id());
            }
        }
        _ => {}
    }
    Some(())
}

/// The consumer group (or transactional id's group) an exchange is about:
/// `groupId` of group requests, the key of FindCoordinator for groups, the
/// first group of OffsetFetch v8+ and DescribeGroups.
pub fn group_of(e: &Exchange) -> Option<String> {
    use views::*;
    let v = e.request_body.as_deref()?.view()?;
    let group = match e.api_key {
        ApiKey::OFFSET_COMMIT => OffsetCommitRequest(v).group_id(),
        ApiKey::OFFSET_FETCH => {
            // v0-7 one group, v8+ a list of them.
            let q = OffsetFetchRequest(v);
            q.group_id()
                .or_else(|| q.groups()?.iter().next()?.group_id())
        }
        ApiKey::FIND_COORDINATOR => {
            // keyType 0 is a group, 1 a transactional id.
            let q = FindCoordinatorRequest(v);
            if q.key_type().unwrap_or(0) != 0 {
                return None;
            }
            q.key()
                .or_else(|| q.coordinator_keys()?.iter().next().flatten())
        }
        ApiKey::JOIN_GROUP => JoinGroupRequest(v).group_id(),
        ApiKey::HEARTBEAT => HeartbeatRequest(v).group_id(),
        ApiKey::LEAVE_GROUP => LeaveGroupRequest(v).group_id(),
        ApiKey::SYNC_GROUP => SyncGroupRequest(v).group_id(),
        ApiKey::DESCRIBE_GROUPS => DescribeGroupsRequest(v).groups()?.iter().next().flatten(),
        ApiKey::ADD_OFFSETS_TO_TXN => AddOffsetsToTxnRequest(v).group_id(),
        ApiKey::TXN_OFFSET_COMMIT => TxnOffsetCommitRequest(v).group_id(),
        ApiKey::OFFSET_DELETE => OffsetDeleteRequest(v).group_id(),
        ApiKey::CONSUMER_GROUP_HEARTBEAT => ConsumerGroupHeartbeatRequest(v).group_id(),
        ApiKey::SHARE_GROUP_HEARTBEAT => ShareGroupHeartbeatRequest(v).group_id(),
        ApiKey::SHARE_FETCH => ShareFetchRequest(v).group_id(),
        ApiKey::SHARE_ACKNOWLEDGE => ShareAcknowledgeRequest(v).group_id(),
        ApiKey::INITIALIZE_SHARE_GROUP_STATE => InitializeShareGroupStateRequest(v).group_id(),
        ApiKey::READ_SHARE_GROUP_STATE => ReadShareGroupStateRequest(v).group_id(),
        ApiKey::WRITE_SHARE_GROUP_STATE => WriteShareGroupStateRequest(v).group_id(),
        ApiKey::DELETE_SHARE_GROUP_STATE => DeleteShareGroupStateRequest(v).group_id(),
        ApiKey::READ_SHARE_GROUP_STATE_SUMMARY => ReadShareGroupStateSummaryRequest(v).group_id(),
        ApiKey::STREAMS_GROUP_HEARTBEAT => StreamsGroupHeartbeatRequest(v).group_id(),
        ApiKey::ALTER_SHARE_GROUP_OFFSETS => AlterShareGroupOffsetsRequest(v).group_id(),
        ApiKey::DELETE_SHARE_GROUP_OFFSETS => DeleteShareGroupOffsetsRequest(v).group_id(),
        _ => None,
    };
    group.map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::stats::tests::exchange;
    use kafka_protocol::messages as kp;
    use kafka_protocol::protocol::StrBytes;

    /// `m` encoded at version `v` by the `kafka-protocol` crate.
    fn encode<T: kafka_protocol::protocol::Encodable>(m: &T, v: i16) -> Vec<u8> {
        let mut out = bytes::BytesMut::new();
        m.encode(&mut out, v).unwrap();
        out.to_vec()
    }

    fn s(x: &str) -> StrBytes {
        StrBytes::from_string(x.to_string())
    }

    fn topic(x: &str) -> kp::TopicName {
        kp::TopicName(s(x))
    }

    const ID: [u8; 16] = [7; 16];
    const ID_STR: &str = "07070707-0707-0707-0707-070707070707";
    const ZERO_STR: &str = "00000000-0000-0000-0000-000000000000";

    fn request(api: ApiKey, v: i16, q: &[u8]) -> Exchange {
        exchange(api.0, v, 1, None, Some(q), None, None)
    }

    #[test]
    fn ids_are_named_by_metadata() {
        let mut names = TopicNames::new();
        let q = encode(
            &kp::ProduceRequest::default().with_topic_data(vec![
                kp::produce_request::TopicProduceData::default()
                    .with_topic_id(ID_STR.parse().unwrap()),
            ]),
            13,
        );
        let produce = request(ApiKey::PRODUCE, 13, &q);
        assert_eq!(topics_of(&produce, &names), ["id:07070707…"]);
        // A Metadata v12 response names the id (the zero id is not learnt).
        let t = |name: &str, id: &str| {
            kp::metadata_response::MetadataResponseTopic::default()
                .with_name(Some(topic(name)))
                .with_topic_id(id.parse().unwrap())
        };
        let r = encode(
            &kp::MetadataResponse::default()
                .with_topics(vec![t("orders", ID_STR), t("zero", ZERO_STR)]),
            12,
        );
        let q = encode(&kp::MetadataRequest::default().with_topics(None), 12);
        let metadata = exchange(ApiKey::METADATA.0, 12, 2, None, Some(&q), Some(&r), Some(5));
        names.observe(&metadata);
        assert_eq!(names.len(), 1);
        assert_eq!(names.name(&ID).map(|n| &**n), Some("orders"));
        assert_eq!(topics_of(&produce, &names), ["orders"]);
        // Metadata for all topics: the topics are the response's.
        assert_eq!(topics_of(&metadata, &names), ["orders", "zero"]);
        assert_eq!(names.label(None, None), None);
        assert_eq!(names.label(Some("x"), Some(&ID)).as_deref(), Some("x"));
    }

    #[test]
    fn at_most_max_topics_deduplicated() {
        let names = TopicNames::new();
        let t = |i: usize| {
            kp::create_topics_request::CreatableTopic::default()
                .with_name(topic(&format!("t{}", i % 100)))
        };
        let q = encode(
            &kp::CreateTopicsRequest::default().with_topics((0..300).map(t).collect()),
            7,
        );
        let got = topics_of(&request(ApiKey::CREATE_TOPICS, 7, &q), &names);
        let want: Vec<String> = (0..MAX_TOPICS_PER_EXCHANGE)
            .map(|i| format!("t{i}"))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn nested_topic_arrays() {
        let names = TopicNames::new();
        // OffsetFetch v8+: the topics of every group; the first group.
        let group = |g: &str, ts: &[&str]| {
            kp::offset_fetch_request::OffsetFetchRequestGroup::default()
                .with_group_id(kp::GroupId(s(g)))
                .with_topics(Some(
                    ts.iter()
                        .map(|t| {
                            kp::offset_fetch_request::OffsetFetchRequestTopics::default()
                                .with_name(topic(t))
                        })
                        .collect(),
                ))
        };
        let q = encode(
            &kp::OffsetFetchRequest::default()
                .with_groups(vec![group("g1", &["a", "b"]), group("g2", &["b", "c"])]),
            8,
        );
        let e = request(ApiKey::OFFSET_FETCH, 8, &q);
        assert_eq!(topics_of(&e, &names), ["a", "b", "c"]);
        assert_eq!(group_of(&e).as_deref(), Some("g1"));
        // ConsumerGroupDescribe: each member's assignment, then its target.
        use kp::consumer_group_describe_response as cgd;
        let assignment = |t: &str| {
            cgd::Assignment::default().with_topic_partitions(vec![
                cgd::TopicPartitions::default().with_topic_name(topic(t)),
            ])
        };
        let member = |a, b| {
            cgd::Member::default()
                .with_assignment(assignment(a))
                .with_target_assignment(assignment(b))
        };
        let r = encode(
            &kp::ConsumerGroupDescribeResponse::default().with_groups(vec![
                cgd::DescribedGroup::default()
                    .with_members(vec![member("x", "y"), member("z", "x")]),
            ]),
            0,
        );
        let q = encode(
            &kp::ConsumerGroupDescribeRequest::default().with_group_ids(vec![kp::GroupId(s("g"))]),
            0,
        );
        let e = exchange(
            ApiKey::CONSUMER_GROUP_DESCRIBE.0,
            0,
            1,
            None,
            Some(&q),
            Some(&r),
            Some(1),
        );
        assert_eq!(topics_of(&e, &names), ["x", "y", "z"]);
        // AddPartitionsToTxn v0-3 names its topics in `v3AndBelowTopics`,
        // which were never listed (see topics_of).
        let q = encode(
            &kp::AddPartitionsToTxnRequest::default().with_v3_and_below_topics(vec![
                kp::add_partitions_to_txn_request::AddPartitionsToTxnTopic::default()
                    .with_name(topic("t")),
            ]),
            3,
        );
        assert!(topics_of(&request(ApiKey::ADD_PARTITIONS_TO_TXN, 3, &q), &names).is_empty());
    }

    #[test]
    fn groups_of_requests() {
        let find = |key_type: i8, v: i16| {
            let m = kp::FindCoordinatorRequest::default().with_key_type(key_type);
            let m = if v < 4 {
                m.with_key(s("k"))
            } else {
                m.with_coordinator_keys(vec![s("k1"), s("k2")])
            };
            group_of(&request(ApiKey::FIND_COORDINATOR, v, &encode(&m, v)))
        };
        assert_eq!(find(0, 3).as_deref(), Some("k"));
        assert_eq!(find(0, 4).as_deref(), Some("k1"));
        assert_eq!(find(1, 4), None);
        let q = encode(
            &kp::DescribeGroupsRequest::default()
                .with_groups(vec![kp::GroupId(s("d1")), kp::GroupId(s("d2"))]),
            5,
        );
        assert_eq!(
            group_of(&request(ApiKey::DESCRIBE_GROUPS, 5, &q)).as_deref(),
            Some("d1")
        );
        let q = encode(
            &kp::HeartbeatRequest::default().with_group_id(kp::GroupId(s("h"))),
            4,
        );
        assert_eq!(
            group_of(&request(ApiKey::HEARTBEAT, 4, &q)).as_deref(),
            Some("h")
        );
        let q = encode(&kp::MetadataRequest::default(), 12);
        assert_eq!(group_of(&request(ApiKey::METADATA, 12, &q)), None);
    }
}

#[cfg(test)]
mod rename_tests {
    use super::*;

    fn names(ids: &[([u8; 16], &str)]) -> TopicNames {
        let mut n = TopicNames::new();
        let mut new = Vec::new();
        for (id, name) in ids {
            n.learn(Some(id), Some(name), &mut new);
        }
        n
    }

    const ORDERS: [u8; 16] = [
        0xf2, 0x09, 0xb0, 0xe9, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
    ];

    #[test]
    fn id_labels_said_before_the_name_take_it() {
        let n = names(&[(ORDERS, "orders")]);
        let label = n.id_label(&ORDERS);
        assert_eq!(label, "orders");
        let old = "consumer lag of id:f209b0e9…-0 grows; id:f209b0e9… stalls";
        assert_eq!(
            n.rename_ids(old).as_deref(),
            Some("consumer lag of orders-0 grows; orders stalls")
        );
        // Unknown ids, other "id:" text, nothing named: left as they are.
        assert_eq!(n.rename_ids("id:00000000… member id:x"), None);
        assert_eq!(names(&[]).rename_ids(old), None);
        // Two named ids sharing their first four bytes: ambiguous.
        let mut other = ORDERS;
        other[15] = 0xff;
        assert_eq!(
            names(&[(ORDERS, "orders"), (other, "events")]).rename_ids(old),
            None
        );
    }
}
