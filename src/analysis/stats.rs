//! What the exchanges add up to: counts, bytes and latencies per API key,
//! errors by API and code, records produced and fetched per topic and
//! partition, per client id, throttling. Fed one exchange at a time
//! ([`Stats::observe`]) and one event at a time ([`Stats::observe_event`]),
//! so a live view and a file share it; read by the TUI's Stats view,
//! `kwire stats` and the findings.
//!
//! Contract:
//! * **No panic**, whatever the exchange holds: bodies may be missing,
//!   partial or wrong (negative counts, absurd partition numbers, huge names).
//! * **Bounded**: every table has a named limit ([`MAX_APIS`],
//!   [`MAX_ERROR_KINDS`], [`MAX_TOPICS`], [`MAX_PARTITIONS`],
//!   [`MAX_CLIENTS`], [`MAX_VERSIONS_PER_API`]); what a full table cannot
//!   take is counted in [`Dropped`], never silently lost. Names are cut at
//!   [`MAX_NAME_LEN`] bytes. Latencies go to fixed-size [`Histogram`]s.
//! * **Incremental**: `observe` reads the response's view for its
//!   throttle time and, for Produce and Fetch, the topics and partitions of
//!   both bodies through their typed views (other exchanges: a few map
//!   updates); nothing is recomputed when reading. No tree is built.
//!
//! Definitions:
//! * *bytes* of a message: its size prefix's value plus the 4-byte prefix.
//! * *answered*: a response was captured; *errors*: answered with a non-zero
//!   error code somewhere ([`Status::Error`]); *no_response*: given up on
//!   ([`Status::NoResponse`]); *no_response_expected*: Produce with `acks=0`.
//! * *produced*: record batches in Produce requests, whether acknowledged or
//!   not; *fetched*: record batches in Fetch responses. `batches` counts every
//!   complete batch (control batches included, a partial batch at the end of
//!   a Fetch response not; in a legacy message set, each top-level message),
//!   `records` the data records (v2 `recordCount`; legacy messages, a
//!   compressed wrapper counting its inner messages; control records not
//!   counted), `bytes` the size of the `records` fields. Records come from
//!   the bodies as decoded (`--records none` leaves only `bytes`).
//! * A topic is named by its name; one sent by id only (Produce v13+,
//!   Fetch v13+) by the name [`TopicNames`] knows for it, or `id:1a2b3c4d…`
//!   until it knows (the entry is renamed, merging, once the name is known).
//! * *throttled*: a response with `throttleTimeMs > 0`.

use foldhash::HashMap;
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, btree_map};
use std::ops::Range;
use std::sync::Arc;

use serde_json::{Value as Json, json};

use super::histogram::Histogram;
use super::topics::TopicNames;
use crate::kafka::ApiKey;
use crate::kafka::errors::ErrorCode;
use crate::kafka::records::{Batch, RecordSet};
use crate::kafka::schema::StructView;
use crate::kafka::schema::views::{
    self, FetchRequest, FetchResponse, ProduceRequest, ProduceResponse,
};
use crate::session::{Body, Event, EventKind, Exchange, Status};

/// Most API keys tracked (Kafka defines about 90).
pub const MAX_APIS: usize = 256;
/// Most distinct versions listed per API key.
pub const MAX_VERSIONS_PER_API: usize = 64;
/// Most (API key, error code) pairs tracked.
pub const MAX_ERROR_KINDS: usize = 1024;
/// Request frames kept per (API key, error code), the first ones.
pub const MAX_ERROR_FRAMES: usize = 8;
/// Most topics tracked.
pub const MAX_TOPICS: usize = 10_000;
/// Most partitions tracked, over all topics.
pub const MAX_PARTITIONS: usize = 100_000;
/// Most client ids tracked (each has a latency histogram of ~7 KiB).
pub const MAX_CLIENTS: usize = 512;
/// Longest topic name or client id kept, in bytes; longer ones are cut.
pub const MAX_NAME_LEN: usize = 256;

/// Exchange counts shared by the API, client and total tables.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub requests: u64,
    pub answered: u64,
    /// Answered with a non-zero error code ([`Status::Error`]), a
    /// negotiation's expected answer aside.
    pub errors: u64,
    /// Answered with a negotiation's expected answer only
    /// ([`crate::session::Outcome::Negotiation`]: ApiVersions
    /// UNSUPPORTED_VERSION, JoinGroup v4+ MEMBER_ID_REQUIRED).
    pub negotiations: u64,
    /// Answered with a body that does not decode ([`Status::Malformed`]).
    pub malformed: u64,
    /// Given up on ([`Status::NoResponse`], any reason).
    pub no_response: u64,
    /// Produce with `acks=0`.
    pub no_response_expected: u64,
    /// Size prefix + 4, summed over requests.
    pub request_bytes: u64,
    /// Size prefix + 4, summed over responses.
    pub response_bytes: u64,
}

impl Counts {
    fn add(&mut self, e: &Exchange) {
        self.requests += 1;
        self.request_bytes += u64::from(e.request.size) + 4;
        if let Some(r) = &e.response {
            self.answered += 1;
            self.response_bytes += u64::from(r.size) + 4;
        }
        match e.status {
            Status::Ok => {}
            Status::Error if e.negotiation() => self.negotiations += 1,
            Status::Error => self.errors += 1,
            Status::Malformed => self.malformed += 1,
            Status::NoResponse(_) => self.no_response += 1,
            Status::NoResponseExpected => self.no_response_expected += 1,
        }
    }

    fn to_json(self) -> Json {
        json!({
            "requests": self.requests,
            "answered": self.answered,
            "errors": self.errors,
            "negotiations": self.negotiations,
            "malformed": self.malformed,
            "no_response": self.no_response,
            "no_response_expected": self.no_response_expected,
            "request_bytes": self.request_bytes,
            "response_bytes": self.response_bytes,
        })
    }
}

/// One API key.
#[derive(Clone, Debug)]
pub struct ApiStats {
    pub api_key: ApiKey,
    pub counts: Counts,
    /// Versions seen, ascending (at most [`MAX_VERSIONS_PER_API`]).
    pub versions: Vec<i16>,
    /// Latencies of answered exchanges.
    pub latency: Histogram,
    /// Responses with `throttleTimeMs > 0`.
    pub throttled: u64,
    /// Their `throttleTimeMs`, summed.
    pub throttle_time_ms: u64,
    pub max_throttle_time_ms: u64,
}

/// One API's exchanges seen at both ends (several captures read as one):
/// the client's latency, and its two parts.
#[derive(Clone, Debug)]
pub struct EndsStats {
    pub api_key: ApiKey,
    pub latency: crate::analysis::histogram::SplitLatency,
}

/// One (API key, error code) pair.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorStats {
    pub api_key: ApiKey,
    pub code: ErrorCode,
    /// Occurrences: every error-code field holding it, several per
    /// exchange when several partitions fail.
    pub count: u64,
    /// Exchanges with at least one.
    pub exchanges: u64,
    /// Of those, exchanges where it was a negotiation's expected answer
    /// ([`crate::session::Outcome::Negotiation`]).
    pub negotiations: u64,
    /// Request frames of the first [`MAX_ERROR_FRAMES`] such exchanges.
    pub frames: Vec<u64>,
    /// Internal: the exchange that last counted here.
    seen: u64,
}

/// Record batches moving one way.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecordFlow {
    pub batches: u64,
    /// Data records (control records not counted).
    pub records: u64,
    /// Bytes of the `records` fields.
    pub bytes: u64,
}

impl RecordFlow {
    pub(crate) fn add(&mut self, o: RecordFlow) {
        self.batches += o.batches;
        self.records += o.records;
        self.bytes += o.bytes;
    }

    fn to_json(self) -> Json {
        json!({"batches": self.batches, "records": self.records, "bytes": self.bytes})
    }
}

/// Produce and fetch traffic of a topic or partition.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Produce exchanges naming it.
    pub produce_requests: u64,
    pub produced: RecordFlow,
    /// Non-zero error codes of it in Produce responses.
    pub produce_errors: u64,
    /// Fetch exchanges naming it in the request or the response.
    pub fetch_requests: u64,
    pub fetched: RecordFlow,
    /// Non-zero error codes of it in Fetch responses.
    pub fetch_errors: u64,
}

impl Traffic {
    fn merge(&mut self, o: &Traffic) {
        self.produce_requests += o.produce_requests;
        self.produced.add(o.produced);
        self.produce_errors += o.produce_errors;
        self.fetch_requests += o.fetch_requests;
        self.fetched.add(o.fetched);
        self.fetch_errors += o.fetch_errors;
    }

    fn to_json(self) -> Json {
        json!({
            "produce_requests": self.produce_requests,
            "produced": self.produced.to_json(),
            "produce_errors": self.produce_errors,
            "fetch_requests": self.fetch_requests,
            "fetched": self.fetched.to_json(),
            "fetch_errors": self.fetch_errors,
        })
    }
}

/// One partition of a topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionStats {
    pub partition: i32,
    pub traffic: Traffic,
    seen: u64,
}

/// One topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicStats {
    /// The name, or `id:1a2b3c4d…` while only its id is known.
    pub topic: String,
    /// Its topic id, when seen.
    pub topic_id: Option<[u8; 16]>,
    /// The topic's totals (partitions dropped by [`MAX_PARTITIONS`]
    /// included).
    pub traffic: Traffic,
    /// By partition number, ascending.
    pub partitions: Vec<PartitionStats>,
    seen: u64,
}

/// One client id (`None`: requests without one).
#[derive(Clone, Debug)]
pub struct ClientStats {
    pub client_id: Option<Arc<str>>,
    pub counts: Counts,
    pub latency: Histogram,
}

/// What the limits kept out: observations not counted in a table (the
/// totals count everything).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Dropped {
    /// Exchanges of API keys beyond [`MAX_APIS`].
    pub apis: u64,
    /// Versions beyond [`MAX_VERSIONS_PER_API`] (each time seen).
    pub versions: u64,
    /// Error occurrences of pairs beyond [`MAX_ERROR_KINDS`].
    pub error_kinds: u64,
    /// Topic entries of exchanges, for topics beyond [`MAX_TOPICS`].
    pub topics: u64,
    /// Partition entries of exchanges, beyond [`MAX_PARTITIONS`].
    pub partitions: u64,
    /// Exchanges of client ids beyond [`MAX_CLIENTS`].
    pub clients: u64,
}

/// A topic as an exchange names it.
enum TopicRef<'a> {
    Name(&'a str, Option<[u8; 16]>),
    Id([u8; 16]),
}

/// Statistics over exchanges and events. See the module doc.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    total: Counts,
    latency: Histogram,
    apis: BTreeMap<i16, ApiStats>,
    /// Per API, exchanges seen at both ends (bounded by [`MAX_APIS`] too).
    ends: BTreeMap<i16, EndsStats>,
    errors: HashMap<(i16, i16), ErrorStats>,
    topics: BTreeMap<Box<str>, TopicStats>,
    /// Topics known by id only.
    topic_ids: HashMap<[u8; 16], TopicStats>,
    /// `TopicNames::len()` when `topic_ids` was last resolved.
    names_len: usize,
    partitions: usize,
    clients: BTreeMap<Option<Arc<str>>, ClientStats>,
    events: BTreeMap<&'static str, u64>,
    dropped: Dropped,
    /// Per connection, the negotiation answers (API key, code, client id)
    /// not yet followed by a successful request of that API there: counted
    /// as negotiations meanwhile, as errors if the connection closes first.
    pending: HashMap<u64, Vec<PendingNegotiation>>,
}

/// A negotiation's answer awaiting its completion: API key, error code,
/// client id.
type PendingNegotiation = (i16, i16, Option<Arc<str>>);

/// Connections whose unconfirmed negotiations are followed (past it, a
/// negotiation answer stays counted as one).
pub const MAX_PENDING_NEGOTIATIONS: usize = 65_536;

fn cut(s: &str) -> &str {
    if s.len() <= MAX_NAME_LEN {
        return s;
    }
    let mut end = MAX_NAME_LEN;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// How a topic struct names its topic: by `name` (with its id, when it
/// carries one too), or by id alone (resolved through `names` if known). A
/// zero id is no id.
fn topic_ref<'a>(
    name: Option<&'a str>,
    id: Option<&[u8; 16]>,
    names: &'a TopicNames,
) -> Option<TopicRef<'a>> {
    let id = id.copied().filter(|u| *u != [0; 16]);
    if let Some(n) = name {
        return Some(TopicRef::Name(n, id));
    }
    let id = id?;
    Some(match names.name(&id) {
        Some(n) => TopicRef::Name(n, Some(id)),
        None => TopicRef::Id(id),
    })
}

/// The decoded records of `body` whose `records` field's data starts at
/// `start`.
fn record_set(body: &Body, start: u32) -> Option<&RecordSet> {
    // `body.records` is in wire order; fall back to a scan should it not be.
    match body.records.binary_search_by_key(&start, |s| s.0) {
        Ok(i) => Some(&body.records[i].1),
        Err(_) => body.records.iter().find(|s| s.0 == start).map(|s| &s.1),
    }
}

/// The records of a `records` field (`None`: null, absent or unread).
pub(crate) fn flow(records: Option<Range<u32>>, body: &Body) -> RecordFlow {
    let Some(r) = records else {
        return RecordFlow::default();
    };
    let mut f = RecordFlow {
        bytes: u64::from(r.end.saturating_sub(r.start)),
        ..RecordFlow::default()
    };
    for b in record_set(body, r.start).map_or(&[][..], |s| &s.batches[..]) {
        f.batches += 1;
        f.records += match b {
            Batch::V2(rb) if rb.attributes.is_control() => 0,
            Batch::V2(rb) => u64::try_from(rb.record_count).unwrap_or(0),
            Batch::Legacy(m) => m.messages.len().max(1) as u64,
        };
    }
    f
}

/// `throttleTimeMs` of a response of `api` (`view`: the response body's
/// view), for every response that has one: the typed view of each, keyed by
/// the view's own API key so that a key and a view cannot disagree. A
/// response without the field (in its version, or at all) is `None`, and
/// so is one that did not decode whole: a body that cannot be this message
/// at this version (another version's layout, a field missing) gives no
/// facts, even where its first bytes happen to read.
pub(crate) fn throttle_time_ms(api: ApiKey, view: StructView<'_>) -> Option<i32> {
    if !view.is_complete() {
        return None;
    }
    macro_rules! throttle {
        ($($m:ident::$t:ident),* $(,)?) => {
            match api {
                $(views::$m::$t::API_KEY => views::$m::$t(view).throttle_time_ms(),)*
                _ => None,
            }
        };
    }
    throttle!(
        produce_response::ProduceResponse,
        fetch_response::FetchResponse,
        list_offsets_response::ListOffsetsResponse,
        metadata_response::MetadataResponse,
        offset_commit_response::OffsetCommitResponse,
        offset_fetch_response::OffsetFetchResponse,
        find_coordinator_response::FindCoordinatorResponse,
        join_group_response::JoinGroupResponse,
        heartbeat_response::HeartbeatResponse,
        leave_group_response::LeaveGroupResponse,
        sync_group_response::SyncGroupResponse,
        describe_groups_response::DescribeGroupsResponse,
        list_groups_response::ListGroupsResponse,
        api_versions_response::ApiVersionsResponse,
        create_topics_response::CreateTopicsResponse,
        delete_topics_response::DeleteTopicsResponse,
        delete_records_response::DeleteRecordsResponse,
        init_producer_id_response::InitProducerIdResponse,
        offset_for_leader_epoch_response::OffsetForLeaderEpochResponse,
        add_partitions_to_txn_response::AddPartitionsToTxnResponse,
        add_offsets_to_txn_response::AddOffsetsToTxnResponse,
        end_txn_response::EndTxnResponse,
        txn_offset_commit_response::TxnOffsetCommitResponse,
        describe_acls_response::DescribeAclsResponse,
        create_acls_response::CreateAclsResponse,
        delete_acls_response::DeleteAclsResponse,
        describe_configs_response::DescribeConfigsResponse,
        alter_configs_response::AlterConfigsResponse,
        alter_replica_log_dirs_response::AlterReplicaLogDirsResponse,
        describe_log_dirs_response::DescribeLogDirsResponse,
        create_partitions_response::CreatePartitionsResponse,
        create_delegation_token_response::CreateDelegationTokenResponse,
        renew_delegation_token_response::RenewDelegationTokenResponse,
        expire_delegation_token_response::ExpireDelegationTokenResponse,
        describe_delegation_token_response::DescribeDelegationTokenResponse,
        delete_groups_response::DeleteGroupsResponse,
        elect_leaders_response::ElectLeadersResponse,
        incremental_alter_configs_response::IncrementalAlterConfigsResponse,
        alter_partition_reassignments_response::AlterPartitionReassignmentsResponse,
        list_partition_reassignments_response::ListPartitionReassignmentsResponse,
        offset_delete_response::OffsetDeleteResponse,
        describe_client_quotas_response::DescribeClientQuotasResponse,
        alter_client_quotas_response::AlterClientQuotasResponse,
        describe_user_scram_credentials_response::DescribeUserScramCredentialsResponse,
        alter_user_scram_credentials_response::AlterUserScramCredentialsResponse,
        alter_partition_response::AlterPartitionResponse,
        update_features_response::UpdateFeaturesResponse,
        fetch_snapshot_response::FetchSnapshotResponse,
        describe_cluster_response::DescribeClusterResponse,
        describe_producers_response::DescribeProducersResponse,
        broker_registration_response::BrokerRegistrationResponse,
        broker_heartbeat_response::BrokerHeartbeatResponse,
        unregister_broker_response::UnregisterBrokerResponse,
        describe_transactions_response::DescribeTransactionsResponse,
        list_transactions_response::ListTransactionsResponse,
        allocate_producer_ids_response::AllocateProducerIdsResponse,
        consumer_group_heartbeat_response::ConsumerGroupHeartbeatResponse,
        consumer_group_describe_response::ConsumerGroupDescribeResponse,
        controller_registration_response::ControllerRegistrationResponse,
        get_telemetry_subscriptions_response::GetTelemetrySubscriptionsResponse,
        push_telemetry_response::PushTelemetryResponse,
        assign_replicas_to_dirs_response::AssignReplicasToDirsResponse,
        list_config_resources_response::ListConfigResourcesResponse,
        describe_topic_partitions_response::DescribeTopicPartitionsResponse,
        share_group_heartbeat_response::ShareGroupHeartbeatResponse,
        share_group_describe_response::ShareGroupDescribeResponse,
        share_fetch_response::ShareFetchResponse,
        share_acknowledge_response::ShareAcknowledgeResponse,
        add_raft_voter_response::AddRaftVoterResponse,
        remove_raft_voter_response::RemoveRaftVoterResponse,
        update_raft_voter_response::UpdateRaftVoterResponse,
        streams_group_heartbeat_response::StreamsGroupHeartbeatResponse,
        streams_group_describe_response::StreamsGroupDescribeResponse,
        describe_share_group_offsets_response::DescribeShareGroupOffsetsResponse,
        alter_share_group_offsets_response::AlterShareGroupOffsetsResponse,
        delete_share_group_offsets_response::DeleteShareGroupOffsetsResponse,
    )
}

/// The entry of topic `r`, made if there is room. A free function over the
/// tables so that partitions can be counted beside it.
fn topic_entry<'a>(
    topics: &'a mut BTreeMap<Box<str>, TopicStats>,
    topic_ids: &'a mut HashMap<[u8; 16], TopicStats>,
    dropped: &mut u64,
    r: TopicRef<'_>,
) -> Option<&'a mut TopicStats> {
    let room = topics.len() + topic_ids.len() < MAX_TOPICS;
    let t = match r {
        TopicRef::Name(name, id) => {
            let name = cut(name);
            if !topics.contains_key(name) {
                if !room {
                    *dropped += 1;
                    return None;
                }
                topics.insert(name.into(), TopicStats::new(name.to_string()));
            }
            let t = topics.get_mut(name)?;
            if t.topic_id.is_none() {
                t.topic_id = id;
            }
            t
        }
        TopicRef::Id(id) => match topic_ids.entry(id) {
            Entry::Occupied(o) => o.into_mut(),
            Entry::Vacant(v) if room => {
                let mut t = TopicStats::new(TopicNames::new().id_label(&id));
                t.topic_id = Some(id);
                v.insert(t)
            }
            Entry::Vacant(_) => {
                *dropped += 1;
                return None;
            }
        },
    };
    Some(t)
}

impl TopicStats {
    fn new(topic: String) -> Self {
        TopicStats {
            topic,
            topic_id: None,
            traffic: Traffic::default(),
            partitions: Vec::new(),
            seen: 0,
        }
    }

    /// Partition `p`, made if the global count allows.
    fn partition(
        &mut self,
        p: Option<i32>,
        count: &mut usize,
        dropped: &mut u64,
    ) -> Option<&mut PartitionStats> {
        let p = p?;
        let i = match self.partitions.binary_search_by_key(&p, |s| s.partition) {
            Ok(i) => i,
            Err(i) => {
                if *count >= MAX_PARTITIONS {
                    *dropped += 1;
                    return None;
                }
                *count += 1;
                self.partitions.insert(
                    i,
                    PartitionStats {
                        partition: p,
                        traffic: Traffic::default(),
                        seen: 0,
                    },
                );
                i
            }
        };
        self.partitions.get_mut(i)
    }

    /// Add `o` (the same topic, known by id until now) into this one.
    fn absorb(&mut self, o: TopicStats, count: &mut usize) {
        self.traffic.merge(&o.traffic);
        if self.topic_id.is_none() {
            self.topic_id = o.topic_id;
        }
        for p in o.partitions {
            match self
                .partitions
                .binary_search_by_key(&p.partition, |s| s.partition)
            {
                Ok(i) => {
                    self.partitions[i].traffic.merge(&p.traffic);
                    // The partition was counted twice.
                    *count = count.saturating_sub(1);
                }
                Err(i) => self.partitions.insert(i, p),
            }
        }
    }

    pub fn to_json(&self) -> Json {
        let mut j = json!({
            "topic": self.topic,
            "topic_id": self.topic_id.map(|u| uuid_string(&u)),
            "partitions": self.partitions.iter().map(|p| {
                let mut j = p.traffic.to_json();
                j["partition"] = json!(p.partition);
                j
            }).collect::<Vec<_>>(),
        });
        if let (Json::Object(o), Json::Object(t)) = (&mut j, self.traffic.to_json()) {
            o.extend(t);
        }
        j
    }
}

pub(crate) fn uuid_string(u: &[u8; 16]) -> String {
    let h: String = u.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// Which side of the traffic a walk adds to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Produce,
    Fetch,
}

impl Traffic {
    fn side(&mut self, s: Side) -> (&mut u64, &mut RecordFlow, &mut u64) {
        match s {
            Side::Produce => (
                &mut self.produce_requests,
                &mut self.produced,
                &mut self.produce_errors,
            ),
            Side::Fetch => (
                &mut self.fetch_requests,
                &mut self.fetched,
                &mut self.fetch_errors,
            ),
        }
    }
}

/// One partition of a Produce or Fetch body, as the tables count it.
struct Part {
    index: Option<i32>,
    /// Its `records` field's data in the body.
    records: Option<Range<u32>>,
    /// Responses only.
    error_code: Option<i16>,
}

impl Stats {
    pub fn new() -> Self {
        Stats::default()
    }

    /// Add one exchange. `names` resolves topic ids (feed it the exchange
    /// first: `names.observe(e)`).
    pub fn observe(&mut self, e: &Exchange, names: &TopicNames) {
        self.total.add(e);
        // Exchanges are numbered from 1 for the per-exchange dedup stamps.
        let seq = self.total.requests;
        let latency = e.latency_us();
        if let Some(l) = latency {
            self.latency.record(l);
        }
        if let (Some(l), Some((b, n))) = (latency, e.split_us())
            && (self.ends.len() < MAX_APIS || self.ends.contains_key(&e.api_key.0))
        {
            let x = self.ends.entry(e.api_key.0).or_insert_with(|| EndsStats {
                api_key: e.api_key,
                latency: Default::default(),
            });
            x.latency.record(l, b, n);
        }
        let (q, r) = (e.request_body.as_deref(), e.response_body.as_deref());
        // The response is read once: for its throttle time, and for the
        // topics of a Produce or Fetch.
        let response = r.and_then(Body::view);

        // Per API key.
        let room = self.apis.len() < MAX_APIS;
        let api = match self.apis.entry(e.api_key.0) {
            btree_map::Entry::Occupied(o) => Some(o.into_mut()),
            btree_map::Entry::Vacant(v) if room => Some(v.insert(ApiStats {
                api_key: e.api_key,
                counts: Counts::default(),
                versions: Vec::new(),
                latency: Histogram::new(),
                throttled: 0,
                throttle_time_ms: 0,
                max_throttle_time_ms: 0,
            })),
            btree_map::Entry::Vacant(_) => None,
        };
        match api {
            None => self.dropped.apis += 1,
            Some(a) => {
                a.counts.add(e);
                if let Some(l) = latency {
                    a.latency.record(l);
                }
                if let Err(i) = a.versions.binary_search(&e.api_version) {
                    if a.versions.len() < MAX_VERSIONS_PER_API {
                        a.versions.insert(i, e.api_version);
                    } else {
                        self.dropped.versions += 1;
                    }
                }
                let throttle = response
                    .and_then(|v| throttle_time_ms(e.api_key, v))
                    .unwrap_or(0);
                if throttle > 0 {
                    a.throttled += 1;
                    a.throttle_time_ms += throttle as u64;
                    a.max_throttle_time_ms = a.max_throttle_time_ms.max(throttle as u64);
                }
            }
        }

        // Errors by (API key, code).
        let negotiation = e.negotiation();
        for r in &e.errors {
            let key = (e.api_key.0, r.code);
            let room = self.errors.len() < MAX_ERROR_KINDS;
            let s = match self.errors.entry(key) {
                Entry::Occupied(o) => o.into_mut(),
                Entry::Vacant(v) if room => v.insert(ErrorStats {
                    api_key: e.api_key,
                    code: ErrorCode(r.code),
                    count: 0,
                    exchanges: 0,
                    negotiations: 0,
                    frames: Vec::new(),
                    seen: 0,
                }),
                Entry::Vacant(_) => {
                    self.dropped.error_kinds += 1;
                    continue;
                }
            };
            s.count += 1;
            if s.seen != seq {
                s.seen = seq;
                s.exchanges += 1;
                if negotiation {
                    s.negotiations += 1;
                }
                if s.frames.len() < MAX_ERROR_FRAMES {
                    s.frames.push(e.request.frame);
                }
            }
        }

        // Per client id.
        let id = e.client_id.as_ref().map(|c| {
            if c.len() > MAX_NAME_LEN {
                Arc::from(cut(c))
            } else {
                c.clone()
            }
        });
        let room = self.clients.len() < MAX_CLIENTS;
        let client = match self.clients.entry(id) {
            btree_map::Entry::Occupied(o) => Some(o.into_mut()),
            btree_map::Entry::Vacant(v) if room => {
                let client_id = v.key().clone();
                Some(v.insert(ClientStats {
                    client_id,
                    counts: Counts::default(),
                    latency: Histogram::new(),
                }))
            }
            btree_map::Entry::Vacant(_) => None,
        };
        match client {
            None => self.dropped.clients += 1,
            Some(c) => {
                c.counts.add(e);
                if let Some(l) = latency {
                    c.latency.record(l);
                }
            }
        }

        self.negotiation(e);

        // Topics and partitions.
        self.resolve(names);
        match e.api_key {
            ApiKey::PRODUCE => {
                if let Some(q) = q
                    && let Some(v) = q.view().map(ProduceRequest)
                {
                    for t in v.topic_data().into_iter().flatten() {
                        let parts = t.partition_data().into_iter().flatten().map(|p| Part {
                            index: p.index(),
                            records: p.records(),
                            error_code: None,
                        });
                        let tr = topic_ref(t.name(), t.topic_id(), names);
                        self.count_topic(Side::Produce, tr, parts, Some(q), seq);
                    }
                }
                for t in response
                    .map(ProduceResponse)
                    .and_then(|v| v.responses())
                    .into_iter()
                    .flatten()
                {
                    let parts = t.partition_responses().into_iter().flatten().map(|p| Part {
                        index: p.index(),
                        records: None,
                        error_code: p.error_code(),
                    });
                    let tr = topic_ref(t.name(), t.topic_id(), names);
                    self.count_topic(Side::Produce, tr, parts, None, seq);
                }
            }
            ApiKey::FETCH => {
                for t in q
                    .and_then(Body::view)
                    .map(FetchRequest)
                    .and_then(|v| v.topics())
                    .into_iter()
                    .flatten()
                {
                    let parts = t.partitions().into_iter().flatten().map(|p| Part {
                        index: p.partition(),
                        records: None,
                        error_code: None,
                    });
                    let tr = topic_ref(t.topic(), t.topic_id(), names);
                    self.count_topic(Side::Fetch, tr, parts, None, seq);
                }
                for t in response
                    .map(FetchResponse)
                    .and_then(|v| v.responses())
                    .into_iter()
                    .flatten()
                {
                    let parts = t.partitions().into_iter().flatten().map(|p| Part {
                        index: p.partition_index(),
                        records: p.records(),
                        error_code: p.error_code(),
                    });
                    let tr = topic_ref(t.topic(), t.topic_id(), names);
                    self.count_topic(Side::Fetch, tr, parts, r, seq);
                }
            }
            _ => {}
        }
    }

    /// Count one topic of a Produce or Fetch body and its partitions: the
    /// records of the partitions' `records` fields when `records` (the body
    /// holding them) is given, their non-zero error codes.
    fn count_topic(
        &mut self,
        side: Side,
        topic: Option<TopicRef<'_>>,
        parts: impl Iterator<Item = Part>,
        records: Option<&Body>,
        seq: u64,
    ) {
        let Stats {
            topics,
            topic_ids,
            partitions,
            dropped,
            ..
        } = self;
        let Some(r) = topic else {
            return;
        };
        let Some(ts) = topic_entry(topics, topic_ids, &mut dropped.topics, r) else {
            return;
        };
        if ts.seen != seq {
            ts.seen = seq;
            *ts.traffic.side(side).0 += 1;
        }
        for p in parts {
            let f = records.map(|b| flow(p.records, b));
            let failed = p.error_code.is_some_and(|c| c != 0);
            {
                let (_, fl, errs) = ts.traffic.side(side);
                if let Some(f) = f {
                    fl.add(f);
                }
                *errs += u64::from(failed);
            }
            let Some(ps) = ts.partition(p.index, partitions, &mut dropped.partitions) else {
                continue;
            };
            let seen = ps.seen == seq;
            ps.seen = seq;
            let (reqs, fl, errs) = ps.traffic.side(side);
            if !seen {
                *reqs += 1;
            }
            if let Some(f) = f {
                fl.add(f);
            }
            *errs += u64::from(failed);
        }
    }

    /// Rename topics known by id whose name `names` has learnt since.
    fn resolve(&mut self, names: &TopicNames) {
        if self.topic_ids.is_empty() || names.len() == self.names_len {
            return;
        }
        self.names_len = names.len();
        let known: Vec<[u8; 16]> = self
            .topic_ids
            .keys()
            .filter(|id| names.name(id).is_some())
            .copied()
            .collect();
        for id in known {
            let (Some(t), Some(name)) = (self.topic_ids.remove(&id), names.name(&id)) else {
                continue;
            };
            let name = cut(name);
            match self.topics.get_mut(name) {
                Some(named) => named.absorb(t, &mut self.partitions),
                None => {
                    let mut t = t;
                    t.topic = name.to_string();
                    self.topics.insert(name.into(), t);
                }
            }
        }
    }

    /// Add one event (counted by type).
    pub fn observe_event(&mut self, ev: &Event) {
        *self.events.entry(ev.kind.type_name()).or_default() += 1;
        if let (EventKind::ConnectionClose { .. }, Some(s)) = (&ev.kind, ev.stream) {
            // Negotiations the client never completed on the connection
            // failed: errors after all.
            for (api, code, client) in self.pending.remove(&s).unwrap_or_default() {
                let moved = |c: &mut Counts| {
                    if c.negotiations > 0 {
                        c.negotiations -= 1;
                        c.errors += 1;
                    }
                };
                moved(&mut self.total);
                if let Some(a) = self.apis.get_mut(&api) {
                    moved(&mut a.counts);
                }
                if let Some(c) = self.clients.get_mut(&client) {
                    moved(&mut c.counts);
                }
                if let Some(x) = self.errors.get_mut(&(api, code)) {
                    x.negotiations = x.negotiations.saturating_sub(1);
                }
            }
        }
    }

    /// Follow a negotiation's answer until the client completes it on the
    /// connection (a later request of the API answered without error).
    fn negotiation(&mut self, e: &Exchange) {
        let client = e.client_id.as_ref().map(|c| {
            if c.len() > MAX_NAME_LEN {
                Arc::from(cut(c))
            } else {
                c.clone()
            }
        });
        if e.negotiation() {
            if !self.pending.contains_key(&e.stream)
                && self.pending.len() >= MAX_PENDING_NEGOTIATIONS
            {
                return;
            }
            let code = e.errors.first().map_or(0, |r| r.code);
            self.pending
                .entry(e.stream)
                .or_default()
                .push((e.api_key.0, code, client));
        } else if e.status == Status::Ok
            && let Some(p) = self.pending.get_mut(&e.stream)
        {
            p.retain(|(api, _, _)| *api != e.api_key.0);
            if p.is_empty() {
                self.pending.remove(&e.stream);
            }
        }
    }

    /// All exchanges.
    pub fn totals(&self) -> &Counts {
        &self.total
    }

    /// Latencies of all answered exchanges.
    pub fn latency(&self) -> &Histogram {
        &self.latency
    }

    /// Per API key, by key.
    pub fn apis(&self) -> impl Iterator<Item = &ApiStats> {
        self.apis.values()
    }

    /// Per API, the exchanges seen at both ends, by API key.
    pub fn ends(&self) -> impl Iterator<Item = &EndsStats> {
        self.ends.values()
    }

    pub fn api(&self, key: ApiKey) -> Option<&ApiStats> {
        self.apis.get(&key.0)
    }

    /// Per (API key, error code): most occurrences first, then by key and
    /// code.
    pub fn errors(&self) -> Vec<&ErrorStats> {
        let mut v: Vec<&ErrorStats> = self.errors.values().collect();
        v.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then(a.api_key.cmp(&b.api_key))
                .then(a.code.cmp(&b.code))
        });
        v
    }

    pub fn error(&self, key: ApiKey, code: i16) -> Option<&ErrorStats> {
        self.errors.get(&(key.0, code))
    }

    /// Per topic: named ones by name, then those known by id only.
    pub fn topics(&self) -> Vec<&TopicStats> {
        let mut ids: Vec<&TopicStats> = self.topic_ids.values().collect();
        ids.sort_by(|a, b| a.topic.cmp(&b.topic).then(a.topic_id.cmp(&b.topic_id)));
        self.topics.values().chain(ids).collect()
    }

    /// A topic by name.
    pub fn topic(&self, name: &str) -> Option<&TopicStats> {
        self.topics.get(name)
    }

    /// Per client id, by id (requests without one first).
    pub fn clients(&self) -> impl Iterator<Item = &ClientStats> {
        self.clients.values()
    }

    pub fn client(&self, id: Option<&str>) -> Option<&ClientStats> {
        self.clients.get(&id.map(Arc::from))
    }

    /// Events by their NDJSON `type`.
    pub fn events(&self) -> &BTreeMap<&'static str, u64> {
        &self.events
    }

    pub fn dropped(&self) -> Dropped {
        self.dropped
    }

    /// Everything as JSON, for `kwire stats --json`. Keys (stable):
    ///
    /// ```text
    /// { "totals":  COUNTS, "latency_us": LATENCY,
    ///   "apis":    [{"api_key", "api_name", "versions": [int], COUNTS..., "latency_us": LATENCY,
    ///                "throttled", "throttle_time_ms", "max_throttle_time_ms"}],   by api_key
    ///   "errors":  [{"api_key", "api_name", "code", "name", "retriable",
    ///                "count", "exchanges", "frames": [request frame]}],           most count first
    ///   "topics":  [{"topic", "topic_id" (uuid string or null), TRAFFIC...,
    ///                "partitions": [{"partition", TRAFFIC...}]}],                 by name
    ///   "clients": [{"client_id" (string or null), COUNTS..., "latency_us": LATENCY}],
    ///   "events":  {type: count},
    ///   "ends":    [{"api_key", "api_name", "client_us": LATENCY, "broker_us": LATENCY,
    ///                "network_us": LATENCY}]   only when captures at both ends were merged
    ///   "dropped": {"apis", "versions", "error_kinds", "topics", "partitions", "clients"} }
    /// COUNTS  = "requests", "answered", "errors", "negotiations", "malformed",
    ///           "no_response", "no_response_expected",
    ///           "request_bytes", "response_bytes"
    /// LATENCY = {"count", "min", "max", "mean", "p50", "p90", "p99"} (µs; null when empty)
    /// TRAFFIC = "produce_requests", "produced": FLOW, "produce_errors",
    ///           "fetch_requests", "fetched": FLOW, "fetch_errors"
    /// FLOW    = {"batches", "records", "bytes"}
    /// ```
    pub fn to_json(&self) -> Json {
        let with = |mut base: Json, extra: Json| {
            if let (Json::Object(o), Json::Object(x)) = (&mut base, extra) {
                o.extend(x);
            }
            base
        };
        let apis: Vec<Json> = self
            .apis()
            .map(|a| {
                with(
                    json!({
                        "api_key": a.api_key.0,
                        "api_name": a.api_key.name(),
                        "versions": a.versions,
                        "latency_us": a.latency.to_json(),
                        "throttled": a.throttled,
                        "throttle_time_ms": a.throttle_time_ms,
                        "max_throttle_time_ms": a.max_throttle_time_ms,
                    }),
                    a.counts.to_json(),
                )
            })
            .collect();
        let errors: Vec<Json> = self
            .errors()
            .into_iter()
            .map(|e| {
                json!({
                    "api_key": e.api_key.0,
                    "api_name": e.api_key.name(),
                    "code": e.code.0,
                    "name": e.code.name(),
                    "retriable": e.code.is_retriable(),
                    "count": e.count,
                    "exchanges": e.exchanges,
                    "negotiations": e.negotiations,
                    "frames": e.frames,
                })
            })
            .collect();
        let clients: Vec<Json> = self
            .clients()
            .map(|c| {
                with(
                    json!({
                        "client_id": c.client_id.as_deref(),
                        "latency_us": c.latency.to_json(),
                    }),
                    c.counts.to_json(),
                )
            })
            .collect();
        let d = self.dropped;
        let ends: Vec<Json> = self
            .ends()
            .map(|x| {
                json!({
                    "api_key": x.api_key.0,
                    "api_name": x.api_key.name(),
                    "client_us": x.latency.client.to_json(),
                    "broker_us": x.latency.broker.to_json(),
                    "network_us": x.latency.network.to_json(),
                })
            })
            .collect();
        let mut v = json!({
            "totals": self.total.to_json(),
            "latency_us": self.latency.to_json(),
            "apis": apis,
            "errors": errors,
            "topics": self.topics().iter().map(|t| t.to_json()).collect::<Vec<_>>(),
            "clients": clients,
            "events": self.events,
            "dropped": {
                "apis": d.apis,
                "versions": d.versions,
                "error_kinds": d.error_kinds,
                "topics": d.topics,
                "partitions": d.partitions,
                "clients": d.clients,
            },
        });
        // Several captures read as one: only then.
        if !ends.is_empty()
            && let Json::Object(o) = &mut v
        {
            o.insert("ends".into(), Json::Array(ends));
        }
        v
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::capture::Timestamp;
    use crate::kafka::records::{RecordLimits, RecordsMode};
    use crate::kafka::schema::MessageKind;
    use crate::session::{DecodeOptions, MessageInfo, NoResponseReason, decode_body};
    use bytes::BytesMut;
    use kafka_protocol::messages as kp;
    use kafka_protocol::protocol::{Encodable, StrBytes};

    const PRODUCE: i16 = ApiKey::PRODUCE.0;
    const FETCH: i16 = ApiKey::FETCH.0;
    const METADATA: i16 = ApiKey::METADATA.0;
    const API_VERSIONS: i16 = ApiKey::API_VERSIONS.0;
    const NOT_LEADER: i16 = ErrorCode::NOT_LEADER_OR_FOLLOWER.0;
    const TIMED_OUT: i16 = ErrorCode::REQUEST_TIMED_OUT.0;
    const OFFSET_OUT_OF_RANGE: i16 = ErrorCode::OFFSET_OUT_OF_RANGE.0;

    // Big-endian writers for hand-made bodies.
    pub(crate) fn i16b(v: &mut Vec<u8>, x: i16) {
        v.extend(x.to_be_bytes());
    }
    pub(crate) fn i32b(v: &mut Vec<u8>, x: i32) {
        v.extend(x.to_be_bytes());
    }
    pub(crate) fn i64b(v: &mut Vec<u8>, x: i64) {
        v.extend(x.to_be_bytes());
    }
    pub(crate) fn strb(v: &mut Vec<u8>, s: &str) {
        i16b(v, s.len() as i16);
        v.extend(s.as_bytes());
    }

    /// A RecordBatch: 61-byte header declaring `count` records, then 8
    /// filler bytes (meta mode reads the header only).
    pub(crate) fn batch(base_offset: i64, count: i32, control: bool) -> Vec<u8> {
        let mut b = Vec::new();
        i64b(&mut b, base_offset);
        i32b(&mut b, 49 + 8); // batchLength: after this field
        i32b(&mut b, 0); // partitionLeaderEpoch
        b.push(2); // magic
        i32b(&mut b, 0); // crc (not checked in meta mode)
        i16b(&mut b, if control { 0x20 } else { 0 });
        i32b(&mut b, count - 1); // lastOffsetDelta
        i64b(&mut b, 0);
        i64b(&mut b, 0);
        i64b(&mut b, -1); // producerId
        i16b(&mut b, -1);
        i32b(&mut b, -1);
        i32b(&mut b, count);
        b.extend([0; 8]);
        b
    }

    fn records(batches: &[Vec<u8>]) -> Vec<u8> {
        let all: Vec<u8> = batches.concat();
        let mut v = Vec::new();
        i32b(&mut v, all.len() as i32);
        v.extend(all);
        v
    }

    /// (partition, record batches)
    pub(crate) type ProduceParts<'a> = &'a [(i32, &'a [Vec<u8>])];
    /// (partition, errorCode, record batches)
    pub(crate) type FetchParts<'a> = &'a [(i32, i16, &'a [Vec<u8>])];

    /// Produce v3 request: `topics` of (name, [(partition, batches)]).
    pub(crate) fn produce_request(topics: &[(&str, ProduceParts)]) -> Vec<u8> {
        let mut v = Vec::new();
        i16b(&mut v, -1); // transactionalId null
        i16b(&mut v, 1); // acks
        i32b(&mut v, 30_000);
        i32b(&mut v, topics.len() as i32);
        for (name, parts) in topics {
            strb(&mut v, name);
            i32b(&mut v, parts.len() as i32);
            for (p, b) in *parts {
                i32b(&mut v, *p);
                v.extend(records(b));
            }
        }
        v
    }

    /// Produce v3 response: (name, [(partition, errorCode)]), throttle.
    pub(crate) fn produce_response(topics: &[(&str, &[(i32, i16)])], throttle: i32) -> Vec<u8> {
        let mut v = Vec::new();
        i32b(&mut v, topics.len() as i32);
        for (name, parts) in topics {
            strb(&mut v, name);
            i32b(&mut v, parts.len() as i32);
            for (p, e) in *parts {
                i32b(&mut v, *p);
                i16b(&mut v, *e);
                i64b(&mut v, 0);
                i64b(&mut v, -1);
            }
        }
        i32b(&mut v, throttle);
        v
    }

    /// Fetch v4 request for (topic, [partition]).
    pub(crate) fn fetch_request(topics: &[(&str, &[i32])]) -> Vec<u8> {
        let mut v = Vec::new();
        i32b(&mut v, -1);
        i32b(&mut v, 500);
        i32b(&mut v, 1);
        i32b(&mut v, 1 << 20);
        v.push(0);
        i32b(&mut v, topics.len() as i32);
        for (name, parts) in topics {
            strb(&mut v, name);
            i32b(&mut v, parts.len() as i32);
            for p in *parts {
                i32b(&mut v, *p);
                i64b(&mut v, 0);
                i32b(&mut v, 1 << 20);
            }
        }
        v
    }

    /// Fetch v4 response: (topic, [(partition, errorCode, batches)]).
    pub(crate) fn fetch_response(topics: &[(&str, FetchParts)], throttle: i32) -> Vec<u8> {
        let mut v = Vec::new();
        i32b(&mut v, throttle);
        i32b(&mut v, topics.len() as i32);
        for (name, parts) in topics {
            strb(&mut v, name);
            i32b(&mut v, parts.len() as i32);
            for (p, e, b) in *parts {
                i32b(&mut v, *p);
                i16b(&mut v, *e);
                i64b(&mut v, 100);
                i64b(&mut v, 100);
                i32b(&mut v, -1); // abortedTransactions null
                v.extend(records(b));
            }
        }
        v
    }

    fn decode(api: i16, version: i16, kind: MessageKind, bytes: &[u8]) -> Box<Body> {
        let opts = DecodeOptions {
            records: RecordsMode::Meta,
            limits: RecordLimits {
                verify_crc: false,
                ..RecordLimits::default()
            },
            show_secrets: false,
        };
        Box::new(decode_body(ApiKey(api), version, kind, bytes, true, &opts))
    }

    pub(crate) fn msg(frame: u64, micros: i64, size: u32) -> MessageInfo {
        MessageInfo {
            frame,
            first_frame: frame,
            ts: Timestamp::new(
                1_700_000_000 + micros / 1_000_000,
                (micros % 1_000_000) as u32 * 1000,
            ),
            size,
            lost_bytes: 0,
        }
    }

    /// An exchange as the session makes it: errors and status from the
    /// response body. `latency` None: no response.
    pub(crate) fn exchange(
        api: i16,
        version: i16,
        frame: u64,
        client_id: Option<&str>,
        request: Option<&[u8]>,
        response: Option<&[u8]>,
        latency: Option<i64>,
    ) -> Exchange {
        let request_body = request.map(|b| decode(api, version, MessageKind::Request, b));
        let response_body = response.map(|b| decode(api, version, MessageKind::Response, b));
        // As the session does: the error codes the decode's walk found.
        let errors = response_body
            .as_deref()
            .map(|b| b.errors.clone())
            .unwrap_or_default();
        let status = match (latency, errors.is_empty()) {
            (None, _) => Status::NoResponse(NoResponseReason::ConnectionClosed),
            (Some(_), true) => Status::Ok,
            (Some(_), false) => Status::Error,
        };
        Exchange {
            stream: 0,
            client: "127.0.0.1:5000".parse().unwrap(),
            broker: "127.0.0.1:9092".parse().unwrap(),
            api_key: ApiKey(api),
            api_version: version,
            correlation_id: frame as i32,
            client_id: client_id.map(Arc::from),
            request: msg(frame, frame as i64 * 1000, 96),
            response: latency.map(|l| msg(frame + 1, frame as i64 * 1000 + l, 46)),
            status,
            errors,
            request_body,
            response_body,
            capture: 0,
            broker_side: None,
        }
    }

    #[test]
    fn produce_and_fetch_by_topic_and_partition() {
        let names = TopicNames::new();
        let mut s = Stats::new();
        let q = produce_request(&[
            (
                "orders",
                &[
                    (0, &[batch(0, 3, false), batch(3, 2, false)][..]),
                    (1, &[batch(0, 4, false)][..]),
                ],
            ),
            ("events", &[(2, &[batch(0, 1, false)][..])]),
        ]);
        let r = produce_response(
            &[
                ("orders", &[(0, 0), (1, NOT_LEADER)]),
                ("events", &[(2, 0)]),
            ],
            0,
        );
        s.observe(
            &exchange(PRODUCE, 3, 10, Some("p"), Some(&q), Some(&r), Some(500)),
            &names,
        );
        let q = fetch_request(&[("orders", &[0, 1])]);
        let r = fetch_response(
            &[(
                "orders",
                &[
                    (
                        0,
                        0,
                        &[batch(0, 3, false), batch(3, 2, false), batch(5, 1, true)][..],
                    ),
                    (1, OFFSET_OUT_OF_RANGE, &[][..]),
                ],
            )],
            25,
        );
        s.observe(
            &exchange(FETCH, 4, 20, Some("c"), Some(&q), Some(&r), Some(800)),
            &names,
        );

        let orders = s.topic("orders").unwrap();
        assert_eq!(orders.traffic.produce_requests, 1);
        assert_eq!(
            orders.traffic.produced,
            RecordFlow {
                batches: 3,
                records: 9,
                bytes: 3 * 69
            }
        );
        assert_eq!(orders.traffic.produce_errors, 1);
        assert_eq!(orders.traffic.fetch_requests, 1);
        // The control batch counts as a batch, not as a record.
        assert_eq!(
            orders.traffic.fetched,
            RecordFlow {
                batches: 3,
                records: 5,
                bytes: 3 * 69
            }
        );
        assert_eq!(orders.traffic.fetch_errors, 1);
        let p: Vec<(i32, u64, u64, u64, u64)> = orders
            .partitions
            .iter()
            .map(|p| {
                let t = &p.traffic;
                (
                    p.partition,
                    t.produce_requests,
                    t.produced.records,
                    t.fetch_requests,
                    t.fetched.records,
                )
            })
            .collect();
        assert_eq!(p, [(0, 1, 5, 1, 5), (1, 1, 4, 1, 0)]);
        assert_eq!(orders.partitions[1].traffic.produce_errors, 1);
        assert_eq!(orders.partitions[1].traffic.fetch_errors, 1);
        let events = s.topic("events").unwrap();
        assert_eq!(events.traffic.produced.records, 1);
        assert_eq!(events.partitions[0].partition, 2);
        assert_eq!(
            s.topics().iter().map(|t| &t.topic[..]).collect::<Vec<_>>(),
            ["events", "orders"]
        );

        // Per API, errors, clients, throttling.
        let produce = s.api(ApiKey::PRODUCE).unwrap();
        assert_eq!(produce.counts.requests, 1);
        assert_eq!(produce.counts.errors, 1);
        assert_eq!(produce.counts.request_bytes, 100);
        assert_eq!(produce.counts.response_bytes, 50);
        assert_eq!(produce.versions, [3]);
        assert_eq!(produce.latency.max(), Some(500));
        let fetch = s.api(ApiKey::FETCH).unwrap();
        assert_eq!((fetch.throttled, fetch.throttle_time_ms), (1, 25));
        let e = s.error(ApiKey::PRODUCE, NOT_LEADER).unwrap();
        assert_eq!((e.count, e.exchanges, &e.frames[..]), (1, 1, &[10][..]));
        assert_eq!(s.errors().len(), 2);
        assert_eq!(s.client(Some("c")).unwrap().counts.requests, 1);
        assert_eq!(s.totals().requests, 2);
        assert_eq!(s.latency().count(), 2);
        assert_eq!(s.dropped(), Dropped::default());
    }

    #[test]
    fn error_counts_and_frames() {
        let names = TopicNames::new();
        let mut s = Stats::new();
        // Two partitions failing with the same code: two occurrences, one
        // exchange; then nine more exchanges: only the first frames kept.
        let r = produce_response(
            &[("t", &[(0, NOT_LEADER), (1, NOT_LEADER), (2, TIMED_OUT)])],
            0,
        );
        for i in 0..10 {
            s.observe(
                &exchange(PRODUCE, 3, 100 + i * 2, None, None, Some(&r), Some(10)),
                &names,
            );
        }
        let e = s.error(ApiKey::PRODUCE, NOT_LEADER).unwrap();
        assert_eq!((e.count, e.exchanges), (20, 10));
        assert_eq!(e.frames, (0..8).map(|i| 100 + i * 2).collect::<Vec<_>>());
        let order: Vec<i16> = s.errors().iter().map(|e| e.code.0).collect();
        assert_eq!(order, [NOT_LEADER, TIMED_OUT]);
        let j = s.to_json();
        assert_eq!(j["errors"][0]["name"], "NOT_LEADER_OR_FOLLOWER");
        assert_eq!(j["errors"][0]["retriable"], true);
        assert_eq!(j["errors"][0]["count"], 20);
        assert_eq!(j["apis"][0]["api_name"], "Produce");
        assert_eq!(j["apis"][0]["errors"], 10);
        assert_eq!(j["clients"][0]["client_id"], Json::Null);
        // Produce response topics without requests still count.
        assert_eq!(s.topic("t").unwrap().traffic.produce_requests, 10);
        assert_eq!(s.topic("t").unwrap().traffic.produce_errors, 30);
    }

    #[test]
    fn no_response_and_missing_bodies() {
        let names = TopicNames::new();
        let mut s = Stats::new();
        s.observe(
            &exchange(PRODUCE, 3, 1, Some("x"), None, None, None),
            &names,
        );
        s.observe(
            &exchange(FETCH, 4, 3, Some("x"), None, None, Some(5)),
            &names,
        );
        let c = s.client(Some("x")).unwrap();
        assert_eq!(
            (c.counts.requests, c.counts.answered, c.counts.no_response),
            (2, 1, 1)
        );
        assert_eq!(s.totals().response_bytes, 50);
        assert!(s.topics().is_empty());
        assert_eq!(s.api(ApiKey::PRODUCE).unwrap().latency.count(), 0);
    }

    fn encode<T: Encodable>(m: &T, v: i16) -> Vec<u8> {
        let mut out = BytesMut::new();
        m.encode(&mut out, v).unwrap();
        out.to_vec()
    }

    #[test]
    fn topic_ids_resolve_when_named() {
        let mut names = TopicNames::new();
        let mut s = Stats::new();
        let id = [7u8; 16];
        let uuid = "07070707-0707-0707-0707-070707070707".parse().unwrap();
        // A Produce v13 request naming the topic by id, before any Metadata.
        let q = encode(
            &kp::ProduceRequest::default()
                .with_acks(1)
                .with_topic_data(vec![
                    kp::produce_request::TopicProduceData::default()
                        .with_topic_id(uuid)
                        .with_partition_data(vec![
                            kp::produce_request::PartitionProduceData::default().with_index(4),
                        ]),
                ]),
            13,
        );
        let e = exchange(PRODUCE, 13, 1, None, Some(&q), None, None);
        s.observe(&e, &names);
        assert_eq!(s.topics()[0].topic, "id:07070707…");
        assert_eq!(s.topics()[0].topic_id, Some(id));
        // Metadata names it: the next exchange renames the entry.
        let r = encode(
            &kp::MetadataResponse::default().with_topics(vec![
                kp::metadata_response::MetadataResponseTopic::default()
                    .with_name(Some(kp::TopicName(StrBytes::from_static_str("orders"))))
                    .with_topic_id(uuid),
            ]),
            12,
        );
        let md = exchange(METADATA, 12, 5, None, None, Some(&r), Some(1));
        names.observe(&md);
        s.observe(&md, &names);
        s.observe(&e, &names);
        let t = s.topics();
        assert_eq!(t.len(), 1);
        assert_eq!(
            (t[0].topic.as_str(), t[0].traffic.produce_requests),
            ("orders", 2)
        );
        assert_eq!(t[0].partitions.len(), 1);
        assert_eq!(t[0].partitions[0].partition, 4);
        assert_eq!(t[0].partitions[0].traffic.produce_requests, 2);
        assert_eq!(
            s.to_json()["topics"][0]["topic_id"],
            "07070707-0707-0707-0707-070707070707"
        );
    }

    #[test]
    fn limits_count_what_they_drop() {
        let names = TopicNames::new();
        let mut s = Stats::new();
        for i in 0..MAX_CLIENTS + 5 {
            let id = format!("client-{i}");
            s.observe(
                &exchange(API_VERSIONS, 3, i as u64, Some(&id), None, None, Some(1)),
                &names,
            );
        }
        assert_eq!(s.clients().count(), MAX_CLIENTS);
        assert_eq!(s.dropped().clients, 5);
        assert_eq!(s.totals().requests, MAX_CLIENTS as u64 + 5);
        for k in 0..300i16 {
            s.observe(&exchange(1000 + k, 0, 1, None, None, None, None), &names);
        }
        assert_eq!(s.apis().count(), MAX_APIS);
        assert_eq!(s.dropped().apis, 300 + 1 - MAX_APIS as u64);
        for v in 0..100 {
            s.observe(
                &exchange(API_VERSIONS, v, 1, None, None, None, None),
                &names,
            );
        }
        assert_eq!(
            s.api(ApiKey::API_VERSIONS).unwrap().versions.len(),
            MAX_VERSIONS_PER_API
        );
        // Long names are cut.
        let long = "x".repeat(10_000);
        let q = produce_request(&[(&long, &[(0, &[batch(0, 1, false)][..])])]);
        s.observe(
            &exchange(PRODUCE, 3, 9, Some(&long), Some(&q), None, None),
            &names,
        );
        assert_eq!(s.topics()[0].topic.len(), MAX_NAME_LEN);
        // The table was full for every later exchange (no client id is one
        // more client).
        assert_eq!(s.dropped().clients, 5 + 300 + 100 + 1);
    }

    #[test]
    fn partial_and_lying_bodies_do_not_panic() {
        let names = TopicNames::new();
        let mut s = Stats::new();
        let q = produce_request(&[(
            "t",
            &[(0, &[batch(0, -5, false), batch(0, i32::MAX, false)][..])],
        )]);
        for cut in 0..q.len() {
            s.observe(
                &exchange(PRODUCE, 3, 1, None, Some(&q[..cut]), None, None),
                &names,
            );
        }
        s.observe(&exchange(PRODUCE, 3, 1, None, Some(&q), None, None), &names);
        let t = s.topic("t").unwrap();
        assert!(t.traffic.produced.records >= i32::MAX as u64);
        let r = fetch_response(&[("t", &[(-1, 0, &[batch(0, 2, false)][..])])], -5);
        for cut in 0..r.len() {
            s.observe(
                &exchange(FETCH, 4, 1, None, None, Some(&r[..cut]), Some(1)),
                &names,
            );
        }
        assert_eq!(s.api(ApiKey::FETCH).unwrap().throttled, 0);
        let _ = s.to_json();
    }
}
