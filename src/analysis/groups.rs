//! Consumer-group flows: for each group, the ladder of what its members and
//! its coordinator said to each other (FindCoordinator, JoinGroup,
//! SyncGroup, Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch,
//! TxnOffsetCommit, and KIP-848's ConsumerGroupHeartbeat), the generations
//! it went through (leader, chosen assignor, members, each member's
//! partitions after SyncGroup), and its members. Read by the TUI's
//! "Consumer groups" view and the findings.
//!
//! Built incrementally by [`Groups::observe`], one exchange at a time, in
//! the order the analyzer emits them: response-completion order, which is
//! roughly time order but lets exchanges of different connections (and a
//! JoinGroup the coordinator held for seconds) arrive after later ones.
//! Steps are kept sorted by their request's timestamp (inserted in place,
//! usually at the end); member and generation state is updated so that an
//! older exchange arriving late does not undo a newer one (generations
//! only rise, a member's assignment is that of its highest generation, a
//! leave is undone only by a join requested after it).
//!
//! What a member is comes from its own requests (the `memberId` it
//! carries, or the one a JoinGroup response gave it); steps without a
//! member id (OffsetFetch before v9) are attributed to the member last
//! seen on the same connection. Generations of the classic protocol come
//! from answered JoinGroup, SyncGroup and Heartbeat exchanges; for KIP-848
//! groups a generation stands for the group epoch, as the member epochs
//! in ConsumerGroupHeartbeat responses reveal it.
//!
//! Bodies are read through their typed views ([`crate::kafka::schema::views`]),
//! built once per exchange, and the consumer protocol's subscriptions and
//! assignments through theirs: nothing here builds a tree of a body or
//! names a field by a string.
//!
//! Contract: nothing here panics on any exchange, however its bodies are
//! shaped (missing fields, partial decodes, damaged bytes); exchanges
//! without decoded bodies are ignored (there is no group to file them
//! under). Memory is bounded by [`GroupLimits`] and the named constants
//! below; whatever a limit refuses is counted in [`Groups::dropped`].
//! Consecutive repeats (heartbeats of one member in one generation,
//! steady ConsumerGroupHeartbeats, identical FindCoordinator answers)
//! collapse into one step with a count, so a session heartbeating for
//! hours stays one step.

use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::capture::Timestamp;
use crate::kafka::ApiKey;
use crate::kafka::embedded::{Embedded, GroupProtocol};
use crate::kafka::errors::ErrorCode;
use crate::kafka::schema::MessageKind;
use crate::kafka::schema::views::{
    AddOffsetsToTxnRequest, AlterShareGroupOffsetsRequest, Array, ConsumerGroupHeartbeatRequest,
    ConsumerGroupHeartbeatResponse, ConsumerProtocolAssignment, ConsumerProtocolSubscription,
    DeleteShareGroupOffsetsRequest, DeleteShareGroupStateRequest, DescribeGroupsRequest, Element,
    FindCoordinatorRequest, FindCoordinatorResponse, HeartbeatRequest,
    InitializeShareGroupStateRequest, JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest,
    LeaveGroupResponse, OffsetCommitRequest, OffsetDeleteRequest, OffsetFetchRequest,
    OffsetFetchResponse, ReadShareGroupStateRequest, ReadShareGroupStateSummaryRequest,
    ShareAcknowledgeRequest, ShareFetchRequest, ShareGroupHeartbeatRequest,
    StreamsGroupHeartbeatRequest, StructView, SyncGroupRequest, SyncGroupResponse,
    TxnOffsetCommitRequest, WriteShareGroupStateRequest,
};
use crate::session::{Body, Exchange, Status};

use super::topics::TopicNames;

/// Most coordinators remembered per group.
pub const MAX_COORDINATORS: usize = 64;
/// Most protocol (assignor) names kept per JoinGroup step.
pub const MAX_PROTOCOLS: usize = 32;
/// Most partitions kept per assignment (over all its topics).
pub const MAX_ASSIGNED_PARTITIONS: usize = 65_536;
/// Most topics kept per subscription.
pub const MAX_SUBSCRIBED_TOPICS: usize = 4096;
/// Most topic ids waiting for a name (from a later Metadata response) at
/// once; ids beyond stay shown as `id:…`.
pub const MAX_PENDING_TOPIC_IDS: usize = 1024;
/// Longest [`Step::label`]; longer ones end with `…`.
pub const MAX_LABEL: usize = 200;

/// Bounds on what [`Groups`] keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GroupLimits {
    /// Groups tracked; exchanges of further groups are dropped.
    pub max_groups: usize,
    /// Members per group (also bounds a generation's member list and
    /// assignments, and a LeaveGroup step's list).
    pub max_members: usize,
    /// Steps per group; later steps are dropped (state still updates).
    pub max_steps: usize,
    /// Generations per group.
    pub max_generations: usize,
}

impl Default for GroupLimits {
    fn default() -> Self {
        GroupLimits {
            max_groups: 10_000,
            max_members: 1_000,
            max_steps: 100_000,
            max_generations: 10_000,
        }
    }
}

/// Which group membership protocol a group speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupProtocolKind {
    /// JoinGroup / SyncGroup / Heartbeat / LeaveGroup.
    Classic,
    /// KIP-848's ConsumerGroupHeartbeat.
    Consumer,
    /// Only offsets or coordinator lookups seen (a consumer assigning its
    /// partitions itself, an admin tool, a capture that began mid-way).
    Unknown,
}

impl GroupProtocolKind {
    /// `classic`, `consumer` or `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupProtocolKind::Classic => "classic",
            GroupProtocolKind::Consumer => "consumer",
            GroupProtocolKind::Unknown => "unknown",
        }
    }
}

/// Partitions of one topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicPartitions {
    /// The topic's name; for a topic given by id whose name is not (yet)
    /// known, `id:1a2b3c4d…` (replaced once a Metadata response names it).
    pub topic: String,
    /// The topic id, when the wire gave one (KIP-848 assignments).
    pub topic_id: Option<[u8; 16]>,
    /// Sorted, without duplicates.
    pub partitions: Vec<i32>,
}

/// One generation of a classic group, or one group epoch of a KIP-848
/// group.
#[derive(Clone, Debug, PartialEq)]
pub struct Generation {
    /// `generationId` (KIP-848: the member epoch standing for the group
    /// epoch).
    pub id: i32,
    /// Where it was first seen: the JoinGroup (or ConsumerGroupHeartbeat)
    /// response that announced it, or the request that carried it.
    pub frame: u64,
    pub ts: Timestamp,
    /// The chosen assignor (`range`, `cooperative-sticky`, …; KIP-848: the
    /// `serverAssignor` a member asked for, when one did).
    pub protocol: Option<String>,
    /// The leader's member id (classic only).
    pub leader: Option<String>,
    /// Members in this generation: from the leader's JoinGroup response,
    /// each member that joined with it, heartbeated in it (classic) or
    /// reached this epoch (KIP-848). In order first seen.
    pub members: Vec<String>,
    /// Member id → its partitions in this generation: from the leader's
    /// SyncGroup request and each member's SyncGroup response (classic),
    /// or what the member held at this epoch (KIP-848: the assignment
    /// given with the epoch, or carried into it; a shrink given at the
    /// same epoch is the revocation leading to the next one and is not
    /// recorded here, a growth is). Members whose assignment was not seen
    /// are absent.
    pub assignments: Vec<(String, Vec<TopicPartitions>)>,
}

impl Generation {
    /// The assignment of `member` in this generation, when seen.
    pub fn assignment(&self, member: &str) -> Option<&[TopicPartitions]> {
        self.assignments
            .iter()
            .find(|(m, _)| m == member)
            .map(|(_, a)| a.as_slice())
    }
}

/// A group member, as its own requests show it.
#[derive(Clone, Debug, PartialEq)]
pub struct Member {
    /// `memberId`.
    pub member_id: String,
    /// `groupInstanceId` (static membership) / KIP-848 `instanceId`.
    pub instance_id: Option<String>,
    /// The client id of its latest exchange.
    pub client_id: Option<String>,
    /// The connection's client address of its latest exchange.
    pub client: SocketAddr,
    /// Request frame of its first exchange.
    pub first_frame: u64,
    /// Last frame (response, or request when unanswered) of its latest
    /// exchange, and its timestamp.
    pub last_frame: u64,
    pub last_ts: Timestamp,
    /// The first generation (KIP-848: member epoch above 0) it joined.
    pub joined_generation: Option<i32>,
    /// The highest generation (KIP-848: member epoch) it is known to have
    /// been in.
    pub generation: Option<i32>,
    /// It left: LeaveGroup, or a ConsumerGroupHeartbeat with member epoch
    /// -1 (leave) or -2 (static member leaving temporarily); undone by a
    /// join requested later.
    pub left: bool,
    /// KIP-848: the latest member epoch (from responses, or -1/-2 sent to
    /// leave).
    pub member_epoch: Option<i32>,
    /// Its current partitions: from its highest generation's SyncGroup
    /// (classic) or the latest ConsumerGroupHeartbeat assignment.
    pub assignment: Vec<TopicPartitions>,
    /// The generation (epoch) `assignment` is from; `None` when no
    /// assignment was seen (then `assignment` is unknown, not empty).
    pub assignment_generation: Option<i32>,
    /// Topics subscribed: the consumer protocol's subscription in its
    /// JoinGroup, or KIP-848 `subscribedTopicNames`.
    pub subscription: Vec<String>,
    /// When it left (request time), to tell a later join from a late one.
    left_at: Option<Timestamp>,
    /// Its latest step: (request ts, exchange index), to collapse repeats.
    last_step: Option<(Timestamp, usize)>,
}

/// The coordinator a FindCoordinator response named.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Coordinator {
    /// `nodeId`.
    pub node_id: i32,
    /// `host` and `port` as the broker advertises them.
    pub host: String,
    pub port: i32,
}

/// What a JoinGroup response gave a member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Joined {
    pub generation: i32,
    /// This member is the leader.
    pub leader: bool,
    /// The chosen protocol (assignor).
    pub protocol: Option<String>,
    /// Members listed (the leader's response lists them all; others get 0).
    pub members: usize,
}

/// What a step was.
#[derive(Clone, Debug, PartialEq)]
pub enum StepKind {
    /// The coordinator named, when answered without error.
    FindCoordinator { coordinator: Option<Coordinator> },
    /// One JoinGroup exchange: the request's protocols, and what the
    /// response gave when it gave a generation.
    Join {
        protocols: Vec<String>,
        /// The request carried a member id (a rejoin); false for a new
        /// member.
        rejoin: bool,
        joined: Option<Joined>,
    },
    /// SyncGroup: `assignments` > 0 only from the leader; `assigned` the
    /// partitions the response gave this member.
    Sync {
        assignments: usize,
        assigned: Option<Vec<TopicPartitions>>,
    },
    /// Heartbeat (repeats collapse: [`Step::count`]).
    Heartbeat,
    /// LeaveGroup of these members (one, unless a batch leave, v3+).
    Leave { members: Vec<String> },
    /// OffsetCommit, or TxnOffsetCommit when `transactional`.
    OffsetCommit {
        partitions: usize,
        transactional: bool,
    },
    /// OffsetFetch of this many partitions (the response's count when the
    /// request asked for all).
    OffsetFetch { partitions: usize },
    /// KIP-848 ConsumerGroupHeartbeat: the epoch sent (0 join, -1 leave,
    /// -2 static leave), the epoch answered, and the assignment when the
    /// response carried one. Steady ones (same epoch, nothing assigned)
    /// collapse.
    ConsumerHeartbeat {
        request_epoch: i32,
        member_epoch: Option<i32>,
        assigned: Option<Vec<TopicPartitions>>,
    },
    /// Another group API (DescribeGroups, …), by name.
    Other(&'static str),
}

/// One rung of a group's ladder: an exchange, or a run of repeats.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// The exchange's index in the caller's list (the first of a run).
    pub index: usize,
    /// Request frame and time (of the first of a run).
    pub frame: u64,
    pub ts: Timestamp,
    /// The response's frame (of the first of a run), when answered.
    pub response_frame: Option<u64>,
    /// Exchanges collapsed into this step (1 unless repeats).
    pub count: u32,
    /// The last exchange of a run: index, request frame and time (the
    /// same as the first when `count` is 1).
    pub last_index: usize,
    pub last_frame: u64,
    pub last_ts: Timestamp,
    /// The member id the request carried (or the response gave a new
    /// member), else the member last seen on the same connection.
    pub member: Option<Arc<str>>,
    /// The connection's client and broker (of the first of a run).
    pub client: SocketAddr,
    pub broker: SocketAddr,
    /// The generation (KIP-848: member epoch) the request carried or the
    /// response assigned; `None` when neither did (or they said -1). A
    /// leave (LeaveGroup, ConsumerGroupHeartbeat epoch -1/-2) carries
    /// none: it gets the member's generation as known when observed.
    pub generation: Option<i32>,
    /// What the exchange was, with what it carried.
    pub kind: StepKind,
    /// The first non-zero error code of the response (top level
    /// preferred), with its name.
    pub error: Option<(i16, &'static str)>,
    /// The request got no response (connection closed, capture ended…).
    pub no_response: bool,
}

/// One consumer group.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupFlow {
    /// `groupId`.
    pub group_id: String,
    /// The protocol of the latest membership exchange (JoinGroup…, or
    /// ConsumerGroupHeartbeat; a group migrating shows the newer).
    pub kind: GroupProtocolKind,
    /// `protocolType` of JoinGroup: `consumer`, `connect`, …
    pub protocol_type: Option<String>,
    /// Brokers that answered the group's requests (FindCoordinator aside,
    /// and answers NOT_COORDINATOR / COORDINATOR_NOT_AVAILABLE aside), in
    /// order first seen: two or more is a coordinator move.
    pub coordinators: Vec<SocketAddr>,
    /// Sorted by id, rising.
    pub generations: Vec<Generation>,
    /// In order first seen.
    pub members: Vec<Member>,
    /// The ladder, sorted by request time.
    pub steps: Vec<Step>,
    /// Exchanges whose response carried an error (a collapsed step counts
    /// each).
    pub errors: u64,
    member_ix: HashMap<String, usize>,
}

impl GroupFlow {
    fn new(group_id: String) -> Self {
        GroupFlow {
            group_id,
            kind: GroupProtocolKind::Unknown,
            protocol_type: None,
            coordinators: Vec::new(),
            generations: Vec::new(),
            members: Vec::new(),
            steps: Vec::new(),
            errors: 0,
            member_ix: HashMap::new(),
        }
    }

    /// The member called `member_id`.
    pub fn member(&self, member_id: &str) -> Option<&Member> {
        self.members.get(*self.member_ix.get(member_id)?)
    }

    /// Generation (or epoch) `id`.
    pub fn generation(&self, id: i32) -> Option<&Generation> {
        let i = self.generations.binary_search_by_key(&id, |g| g.id).ok()?;
        self.generations.get(i)
    }

    /// The latest generation.
    pub fn current_generation(&self) -> Option<&Generation> {
        self.generations.last()
    }
}

/// Consumer groups seen, by group id.
#[derive(Clone, Debug)]
pub struct Groups {
    limits: GroupLimits,
    groups: BTreeMap<String, GroupFlow>,
    dropped: u64,
    /// `names.len()` when pending ids were last looked up.
    names_len: usize,
    /// Topic ids shown as `id:…`, and the groups that hold them.
    pending: HashMap<[u8; 16], BTreeSet<String>>,
}

impl Default for Groups {
    fn default() -> Self {
        Groups::new(GroupLimits::default())
    }
}

/// Which part of a multi-group request a group is, with what the
/// response answered for it: read in one pass over each body, so that a
/// request about many groups is not scanned again for each.
#[derive(Clone, Copy, Debug)]
enum Part<'a> {
    Whole,
    /// One of `groups` of OffsetFetch v8+.
    FetchGroup {
        member: Option<&'a str>,
        member_epoch: Option<i32>,
        /// Partitions it asks for (0: all of the group's).
        asked: usize,
        answer: Option<FetchAnswer>,
    },
    /// One of `coordinatorKeys` of FindCoordinator v4+.
    CoordinatorKey {
        answer: Option<CoordinatorAnswer<'a>>,
    },
}

/// A group's entry in a multi-group OffsetFetch response.
#[derive(Clone, Copy, Debug)]
struct FetchAnswer {
    /// The first non-zero error code, the group's own preferred to its
    /// partitions'.
    error: Option<(i16, &'static str)>,
    partitions: usize,
}

/// A key's entry in a FindCoordinator v4+ response.
#[derive(Clone, Copy, Debug)]
struct CoordinatorAnswer<'a> {
    node_id: Option<i32>,
    host: Option<&'a str>,
    port: Option<i32>,
    error: Option<(i16, &'static str)>,
}

/// What observing one exchange needs besides the group.
struct Ctx<'a> {
    limits: &'a GroupLimits,
    names: &'a TopicNames,
    dropped: &'a mut u64,
    /// Topic ids met without a name.
    unresolved: Vec<[u8; 16]>,
}

/// One exchange, seen for one group.
struct Obs<'a> {
    index: usize,
    e: &'a Exchange,
    req: &'a Body,
    resp: Option<&'a Body>,
    part: Part<'a>,
    error: Option<(i16, &'static str)>,
}

impl Obs<'_> {
    /// Answered (a decoded response) without error.
    fn ok(&self) -> bool {
        self.resp.is_some() && self.error.is_none()
    }

    fn end(&self) -> (u64, Timestamp) {
        match self.e.response {
            Some(r) => (r.frame, r.ts),
            None => (self.e.request.frame, self.e.request.ts),
        }
    }
}

impl Groups {
    /// No groups yet; at most what `limits` allow.
    pub fn new(limits: GroupLimits) -> Self {
        Groups {
            limits,
            groups: BTreeMap::new(),
            dropped: 0,
            names_len: 0,
            pending: HashMap::new(),
        }
    }

    /// File exchange `e` under the group(s) it is about (its `groupId`;
    /// every group of a multi-group OffsetFetch or FindCoordinator; the
    /// key of a FindCoordinator for a group; the first group of
    /// DescribeGroups: as [`group_of`](super::topics::group_of) tells).
    /// `index`: the exchange's position in the caller's list (the UI
    /// jumps to it from a step). `names` resolves topic ids; ids it learns
    /// later are resolved on a later call. The bodies are read through
    /// their typed views, built once here.
    pub fn observe(&mut self, index: usize, e: &Exchange, names: &TopicNames) {
        self.resolve_pending(names);
        let Some(req) = e.request_body.as_deref() else {
            return;
        };
        let resp = e.response_body.as_deref();
        let Some(views) = Views::of(e, req, resp) else {
            return;
        };
        for (group, part) in views.targets() {
            if !self.groups.contains_key(&group) {
                if self.groups.len() >= self.limits.max_groups {
                    self.dropped += 1;
                    continue;
                }
                self.groups
                    .insert(group.clone(), GroupFlow::new(group.clone()));
            }
            let Some(flow) = self.groups.get_mut(&group) else {
                continue;
            };
            let o = Obs {
                index,
                e,
                req,
                resp,
                part,
                error: part_error(e, part),
            };
            let mut ctx = Ctx {
                limits: &self.limits,
                names,
                dropped: &mut self.dropped,
                unresolved: Vec::new(),
            };
            flow.observe(&o, views, &mut ctx);
            for id in ctx.unresolved {
                let n = self.pending.len();
                match self.pending.get_mut(&id) {
                    Some(set) => {
                        set.insert(group.clone());
                    }
                    None if n < MAX_PENDING_TOPIC_IDS => {
                        self.pending.insert(id, BTreeSet::from([group.clone()]));
                    }
                    None => {}
                }
            }
        }
    }

    /// Groups by group id.
    pub fn iter(&self) -> impl Iterator<Item = &GroupFlow> {
        self.groups.values()
    }

    /// The group called `group_id`.
    pub fn get(&self, group_id: &str) -> Option<&GroupFlow> {
        self.groups.get(group_id)
    }

    /// Groups tracked.
    pub fn len(&self) -> usize {
        self.groups.len()
    }

    /// No group seen.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Groups, members, generations, steps and assigned partitions not
    /// kept because a limit was reached: each refusal counts once (a
    /// member over the limit counts at each of its exchanges).
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Name topic ids shown as `id:…` that `names` now knows.
    fn resolve_pending(&mut self, names: &TopicNames) {
        if names.len() == self.names_len {
            return;
        }
        self.names_len = names.len();
        if self.pending.is_empty() {
            return;
        }
        let mut touched = BTreeSet::new();
        self.pending.retain(|id, groups| {
            if names.name(id).is_some() {
                touched.append(groups);
                false
            } else {
                true
            }
        });
        for g in touched {
            if let Some(flow) = self.groups.get_mut(&g) {
                flow.resolve(names);
            }
        }
    }
}

/// The typed views of one exchange's bodies, built once per exchange
/// (building a view scans its body): the request's, and the response's
/// where the model reads it.
#[derive(Clone, Copy)]
enum Views<'a> {
    FindCoordinator(
        FindCoordinatorRequest<'a>,
        Option<FindCoordinatorResponse<'a>>,
    ),
    JoinGroup(JoinGroupRequest<'a>, Option<JoinGroupResponse<'a>>),
    SyncGroup(SyncGroupRequest<'a>, Option<SyncGroupResponse<'a>>),
    Heartbeat(HeartbeatRequest<'a>),
    LeaveGroup(LeaveGroupRequest<'a>, Option<LeaveGroupResponse<'a>>),
    OffsetCommit(OffsetCommitRequest<'a>),
    TxnOffsetCommit(TxnOffsetCommitRequest<'a>),
    OffsetFetch(OffsetFetchRequest<'a>, Option<OffsetFetchResponse<'a>>),
    ConsumerGroupHeartbeat(
        ConsumerGroupHeartbeatRequest<'a>,
        Option<ConsumerGroupHeartbeatResponse<'a>>,
    ),
    /// Another API: the group and the member its request names.
    Other {
        group: Option<&'a str>,
        member: Option<&'a str>,
    },
}

/// The view of `body` when it is a `kind` message of `api` (what a typed
/// view of that message may wrap).
pub(super) fn view_of(body: &Body, api: ApiKey, kind: MessageKind) -> Option<StructView<'_>> {
    body.message
        .filter(|m| m.api_key == api.0 && m.kind == kind)
        .and_then(|_| body.view())
}

impl<'a> Views<'a> {
    /// The views of `e`'s bodies; `None` when the request has no fields to
    /// read (an unknown api key).
    fn of(e: &Exchange, req: &'a Body, resp: Option<&'a Body>) -> Option<Views<'a>> {
        let api = e.api_key;
        let q = view_of(req, api, MessageKind::Request)?;
        let r = resp.and_then(|b| view_of(b, api, MessageKind::Response));
        Some(match api {
            ApiKey::FIND_COORDINATOR => {
                Views::FindCoordinator(FindCoordinatorRequest(q), r.map(FindCoordinatorResponse))
            }
            ApiKey::JOIN_GROUP => Views::JoinGroup(JoinGroupRequest(q), r.map(JoinGroupResponse)),
            ApiKey::SYNC_GROUP => Views::SyncGroup(SyncGroupRequest(q), r.map(SyncGroupResponse)),
            ApiKey::HEARTBEAT => Views::Heartbeat(HeartbeatRequest(q)),
            ApiKey::LEAVE_GROUP => {
                Views::LeaveGroup(LeaveGroupRequest(q), r.map(LeaveGroupResponse))
            }
            ApiKey::OFFSET_COMMIT => Views::OffsetCommit(OffsetCommitRequest(q)),
            ApiKey::TXN_OFFSET_COMMIT => Views::TxnOffsetCommit(TxnOffsetCommitRequest(q)),
            ApiKey::OFFSET_FETCH => {
                Views::OffsetFetch(OffsetFetchRequest(q), r.map(OffsetFetchResponse))
            }
            ApiKey::CONSUMER_GROUP_HEARTBEAT => Views::ConsumerGroupHeartbeat(
                ConsumerGroupHeartbeatRequest(q),
                r.map(ConsumerGroupHeartbeatResponse),
            ),
            _ => Views::Other {
                group: other_group(api, q),
                member: other_member(api, q),
            },
        })
    }

    /// The groups the exchange is about, with the part of the request each
    /// is: `groupId`; every group of a multi-group OffsetFetch (v8+) or
    /// FindCoordinator (v4+); the key of a FindCoordinator for a group (not
    /// a transactional id); the first group of DescribeGroups.
    fn targets(&self) -> Vec<(String, Part<'a>)> {
        let one = |g: Option<&str>| g.map(|g| vec![(g.to_string(), Part::Whole)]);
        let whole = match *self {
            Views::OffsetFetch(q, r) => {
                if let Some(groups) = q.groups() {
                    let answers = r.map(FetchAnswers::of);
                    let mut out = Vec::new();
                    let mut listed = false;
                    for (i, g) in groups.iter().enumerate() {
                        listed = true;
                        let Some(id) = g.group_id() else {
                            continue;
                        };
                        let topics = g.topics().into_iter().flatten();
                        let part = Part::FetchGroup {
                            member: set(g.member_id()),
                            member_epoch: g.member_epoch(),
                            asked: topics.map(|t| count(t.partition_indexes())).sum(),
                            answer: answers.as_ref().and_then(|a| a.get(id, i)),
                        };
                        out.push((id.to_string(), part));
                    }
                    if listed {
                        return out;
                    }
                }
                one(q.group_id())
            }
            Views::FindCoordinator(q, r) => {
                // keyType 1 is a transactional id.
                if q.key_type().unwrap_or(0) != 0 {
                    return Vec::new();
                }
                if let Some(keys) = q.coordinator_keys() {
                    // The first answer for each key.
                    let mut answers: HashMap<&str, CoordinatorAnswer<'_>> = HashMap::new();
                    for c in r.and_then(|r| r.coordinators()).into_iter().flatten() {
                        if let Some(key) = c.key() {
                            answers.entry(key).or_insert(CoordinatorAnswer {
                                node_id: c.node_id(),
                                host: c.host(),
                                port: c.port(),
                                error: first_error(c.error_code(), None),
                            });
                        }
                    }
                    let mut seen = HashSet::new();
                    let mut out = Vec::new();
                    let mut listed = false;
                    for k in keys.iter() {
                        listed = true;
                        if let Some(k) = k
                            && seen.insert(k)
                        {
                            let answer = answers.get(k).copied();
                            out.push((k.to_string(), Part::CoordinatorKey { answer }));
                        }
                    }
                    if listed {
                        return out;
                    }
                }
                one(q.key())
            }
            Views::JoinGroup(q, _) => one(q.group_id()),
            Views::SyncGroup(q, _) => one(q.group_id()),
            Views::Heartbeat(q) => one(q.group_id()),
            Views::LeaveGroup(q, _) => one(q.group_id()),
            Views::OffsetCommit(q) => one(q.group_id()),
            Views::TxnOffsetCommit(q) => one(q.group_id()),
            Views::ConsumerGroupHeartbeat(q, _) => one(q.group_id()),
            Views::Other { group, .. } => one(group),
        };
        whole.unwrap_or_default()
    }
}

/// The entries of a multi-group OffsetFetch response.
struct FetchAnswers<'a> {
    list: Vec<FetchAnswer>,
    /// Group id → its first entry.
    first: HashMap<&'a str, usize>,
}

impl<'a> FetchAnswers<'a> {
    fn of(r: OffsetFetchResponse<'a>) -> Self {
        let mut list = Vec::new();
        let mut first = HashMap::new();
        for (i, g) in r.groups().into_iter().flatten().enumerate() {
            if let Some(id) = g.group_id() {
                first.entry(id).or_insert(i);
            }
            let mut partitions = 0;
            let mut nested = None;
            for t in g.topics().into_iter().flatten() {
                for p in t.partitions().into_iter().flatten() {
                    partitions += 1;
                    if nested.is_none() {
                        nested = p.error_code().filter(|c| *c != 0);
                    }
                }
            }
            list.push(FetchAnswer {
                error: first_error(g.error_code(), nested),
                partitions,
            });
        }
        FetchAnswers { list, first }
    }

    /// The entry for group `id`, `groups[i]` of the request: the first
    /// with its id, else the `i`th.
    fn get(&self, id: &str, i: usize) -> Option<FetchAnswer> {
        let k = self.first.get(id).copied().unwrap_or(i);
        self.list.get(k).copied()
    }
}

/// The error of the part of the response about this group: that of its
/// entry in a multi-group response, else the exchange's (a top-level one
/// preferred).
fn part_error(e: &Exchange, part: Part<'_>) -> Option<(i16, &'static str)> {
    match part {
        Part::FetchGroup {
            answer: Some(a), ..
        } => a.error,
        Part::CoordinatorKey { answer: Some(c) } => c.error,
        _ => e
            .errors
            .iter()
            .find(|x| x.code != 0 && !x.path.contains(['.', '[']))
            .or_else(|| e.errors.iter().find(|x| x.code != 0))
            .map(|x| (x.code, ErrorCode(x.code).name())),
    }
}

/// The group a request of another API names: its `groupId` (share groups,
/// streams groups, transactions' offsets, OffsetDelete), or the first of
/// DescribeGroups.
fn other_group(api: ApiKey, q: StructView<'_>) -> Option<&str> {
    match api {
        ApiKey::DESCRIBE_GROUPS => DescribeGroupsRequest(q).groups()?.iter().next()?,
        ApiKey::ADD_OFFSETS_TO_TXN => AddOffsetsToTxnRequest(q).group_id(),
        ApiKey::OFFSET_DELETE => OffsetDeleteRequest(q).group_id(),
        ApiKey::SHARE_GROUP_HEARTBEAT => ShareGroupHeartbeatRequest(q).group_id(),
        ApiKey::SHARE_FETCH => ShareFetchRequest(q).group_id(),
        ApiKey::SHARE_ACKNOWLEDGE => ShareAcknowledgeRequest(q).group_id(),
        ApiKey::INITIALIZE_SHARE_GROUP_STATE => InitializeShareGroupStateRequest(q).group_id(),
        ApiKey::READ_SHARE_GROUP_STATE => ReadShareGroupStateRequest(q).group_id(),
        ApiKey::WRITE_SHARE_GROUP_STATE => WriteShareGroupStateRequest(q).group_id(),
        ApiKey::DELETE_SHARE_GROUP_STATE => DeleteShareGroupStateRequest(q).group_id(),
        ApiKey::READ_SHARE_GROUP_STATE_SUMMARY => ReadShareGroupStateSummaryRequest(q).group_id(),
        ApiKey::STREAMS_GROUP_HEARTBEAT => StreamsGroupHeartbeatRequest(q).group_id(),
        ApiKey::ALTER_SHARE_GROUP_OFFSETS => AlterShareGroupOffsetsRequest(q).group_id(),
        ApiKey::DELETE_SHARE_GROUP_OFFSETS => DeleteShareGroupOffsetsRequest(q).group_id(),
        _ => None,
    }
}

/// The member a request of another API names (`memberId`), when set.
fn other_member(api: ApiKey, q: StructView<'_>) -> Option<&str> {
    let id = match api {
        ApiKey::SHARE_GROUP_HEARTBEAT => ShareGroupHeartbeatRequest(q).member_id(),
        ApiKey::SHARE_FETCH => ShareFetchRequest(q).member_id(),
        ApiKey::SHARE_ACKNOWLEDGE => ShareAcknowledgeRequest(q).member_id(),
        ApiKey::STREAMS_GROUP_HEARTBEAT => StreamsGroupHeartbeatRequest(q).member_id(),
        _ => None,
    };
    set(id)
}

/// The first non-zero error code: `top`, the struct's own, else `nested`
/// (the first of its parts').
fn first_error(top: Option<i16>, nested: Option<i16>) -> Option<(i16, &'static str)> {
    top.filter(|c| *c != 0)
        .or(nested.filter(|c| *c != 0))
        .map(|c| (c, ErrorCode(c).name()))
}

/// A string field that is set and not empty.
fn set(s: Option<&str>) -> Option<&str> {
    s.filter(|s| !s.is_empty())
}

/// Elements of an array field (those read: a body cut inside the array
/// has fewer than its count says).
fn count<'a, T: Element<'a>>(a: Option<Array<'a, T>>) -> usize {
    a.map_or(0, |a| a.iter().count())
}

/// The consumer protocol message decoded from the bytes field at `at`
/// (`bytes` its value), when the body's decode found one there (a group
/// whose `protocolType` is `consumer`, or bytes that read as one).
fn consumer_protocol<'a, T>(
    body: &Body,
    at: Option<u32>,
    bytes: Option<&'a [u8]>,
    view: impl FnOnce(&'a [u8]) -> Option<T>,
) -> Option<T> {
    let at = at?;
    body.embedded
        .iter()
        .any(|(k, e)| {
            *k == at
                && matches!(
                    e,
                    Embedded::Group {
                        protocol: GroupProtocol::Consumer,
                        ..
                    }
                )
        })
        .then_some(())?;
    view(bytes?)
}

/// The topics of a consumer protocol subscription.
fn subscribed_topics(body: &Body, at: Option<u32>, bytes: Option<&[u8]>) -> Option<Vec<String>> {
    consumer_protocol(body, at, bytes, ConsumerProtocolSubscription::versioned)?
        .topics()
        .map(topic_names)
}

/// The partitions of a consumer protocol assignment.
fn consumer_assignment(
    body: &Body,
    at: Option<u32>,
    bytes: Option<&[u8]>,
    ctx: &mut Ctx<'_>,
) -> Option<Vec<TopicPartitions>> {
    let a = consumer_protocol(body, at, bytes, ConsumerProtocolAssignment::versioned)?;
    let list = a.assigned_partitions()?;
    Some(topic_partitions(
        list.iter().map(|t| TopicView {
            name: t.topic(),
            id: None,
            partitions: t.partitions(),
        }),
        ctx,
    ))
}

/// One topic of an assignment, as its message gives it: by name or by id.
struct TopicView<'a> {
    name: Option<&'a str>,
    id: Option<&'a [u8; 16]>,
    partitions: Option<Array<'a, i32>>,
}

/// Topics with partitions (a topic without a name or id is skipped),
/// topics sorted, partitions sorted and deduplicated, at most
/// [`MAX_ASSIGNED_PARTITIONS`] in all.
fn topic_partitions<'a>(
    list: impl Iterator<Item = TopicView<'a>>,
    ctx: &mut Ctx<'_>,
) -> Vec<TopicPartitions> {
    let mut out: Vec<TopicPartitions> = Vec::new();
    let mut total = 0usize;
    for t in list {
        let topic = match (t.name, t.id) {
            (Some(name), _) => name.to_string(),
            (None, Some(id)) => ctx.names.id_label(id),
            (None, None) => continue,
        };
        let topic_id = t.id.copied();
        if let Some(id) = topic_id
            && ctx.names.name(&id).is_none()
            && !ctx.unresolved.contains(&id)
        {
            ctx.unresolved.push(id);
        }
        let room = MAX_ASSIGNED_PARTITIONS - total;
        let mut partitions: Vec<i32> = Vec::new();
        let mut listed = 0usize;
        for p in t.partitions.into_iter().flatten() {
            listed += 1;
            if partitions.len() < room {
                partitions.push(p);
            }
        }
        if listed > room {
            *ctx.dropped += (listed - room) as u64;
        }
        total += partitions.len();
        out.push(TopicPartitions {
            topic,
            topic_id,
            partitions,
        });
    }
    out.sort_by(|a, b| a.topic.cmp(&b.topic));
    // The same topic listed twice: one entry.
    out.dedup_by(|b, a| {
        if a.topic == b.topic {
            a.partitions.append(&mut b.partitions);
            true
        } else {
            false
        }
    });
    for t in &mut out {
        t.partitions.sort_unstable();
        t.partitions.dedup();
    }
    out
}

/// Topic names of a string array (those that are UTF-8).
fn topic_names(a: Array<'_, Option<&str>>) -> Vec<String> {
    a.iter()
        .flatten()
        .take(MAX_SUBSCRIBED_TOPICS)
        .map(str::to_string)
        .collect()
}

fn set_assignment(g: &mut Generation, member: &str, tps: Vec<TopicPartitions>, max: usize) -> bool {
    match g.assignments.iter().position(|(m, _)| m == member) {
        Some(i) => {
            g.assignments[i].1 = tps;
            true
        }
        None if g.assignments.len() < max => {
            g.assignments.push((member.to_string(), tps));
            true
        }
        None => false,
    }
}

fn add_member(g: &mut Generation, member: &str, max: usize) -> bool {
    if g.members.iter().any(|m| m == member) {
        return true;
    }
    if g.members.len() >= max {
        return false;
    }
    g.members.push(member.to_string());
    true
}

fn resolve_list(tps: &mut [TopicPartitions], names: &TopicNames) {
    for t in tps {
        if let Some(id) = t.topic_id
            && t.topic.starts_with("id:")
            && let Some(n) = names.name(&id)
        {
            t.topic = n.to_string();
        }
    }
}

impl GroupFlow {
    fn observe(&mut self, o: &Obs<'_>, views: Views<'_>, ctx: &mut Ctx<'_>) {
        let e = o.e;
        if o.error.is_some() {
            self.errors += 1;
        }
        // The broker says it is not (or not yet known as) the coordinator:
        // its answer does not make it one.
        let not_coordinator = o.error.is_some_and(|(c, _)| {
            matches!(
                ErrorCode(c),
                ErrorCode::COORDINATOR_NOT_AVAILABLE | ErrorCode::NOT_COORDINATOR
            )
        });
        if e.api_key != ApiKey::FIND_COORDINATOR
            && e.response.is_some()
            && !not_coordinator
            && !self.coordinators.contains(&e.broker)
        {
            if self.coordinators.len() < MAX_COORDINATORS {
                self.coordinators.push(e.broker);
            } else {
                *ctx.dropped += 1;
            }
        }
        let step = match views {
            Views::FindCoordinator(_, r) => self.find_coordinator(o, r),
            Views::JoinGroup(q, r) => self.join(o, q, r, ctx),
            Views::SyncGroup(q, r) => self.sync(o, q, r, ctx),
            Views::Heartbeat(q) => self.heartbeat(o, q, ctx),
            Views::LeaveGroup(q, r) => self.leave(o, q, r, ctx),
            Views::OffsetCommit(q) => {
                let topics = q.topics().into_iter().flatten();
                let partitions = topics.map(|t| count(t.partitions())).sum();
                let generation = q.generation_id_or_member_epoch();
                self.commit(o, set(q.member_id()), generation, partitions, false, ctx)
            }
            Views::TxnOffsetCommit(q) => {
                let topics = q.topics().into_iter().flatten();
                let partitions = topics.map(|t| count(t.partitions())).sum();
                let generation = q.generation_id();
                self.commit(o, set(q.member_id()), generation, partitions, true, ctx)
            }
            Views::OffsetFetch(q, r) => self.fetch(o, q, r, ctx),
            Views::ConsumerGroupHeartbeat(q, r) => self.consumer_heartbeat(o, q, r, ctx),
            Views::Other { member, .. } => {
                if let Some(m) = member {
                    self.touch_member(m, o, ctx);
                }
                self.step(o, member, None, StepKind::Other(e.api_key.name()))
            }
        };
        self.push_step(step, ctx);
    }

    /// A step of `o` for `member` (or the member last seen on the
    /// connection).
    fn step(
        &self,
        o: &Obs<'_>,
        member: Option<&str>,
        generation: Option<i32>,
        kind: StepKind,
    ) -> Step {
        let e = o.e;
        let member = match member {
            Some(m) => Some(Arc::from(m)),
            None if e.api_key != ApiKey::FIND_COORDINATOR => self
                .members
                .iter()
                .rev()
                .find(|m| m.client == e.client)
                .map(|m| Arc::from(m.member_id.as_str())),
            None => None,
        };
        Step {
            index: o.index,
            frame: e.request.frame,
            ts: e.request.ts,
            response_frame: e.response.map(|r| r.frame),
            count: 1,
            last_index: o.index,
            last_frame: e.request.frame,
            last_ts: e.request.ts,
            member,
            client: e.client,
            broker: e.broker,
            generation: generation.filter(|g| *g >= 0),
            kind,
            error: o.error,
            no_response: matches!(e.status, Status::NoResponse(_)),
        }
    }

    fn set_kind(&mut self, kind: GroupProtocolKind) {
        self.kind = kind;
    }

    /// The member `id`, created if new (within the limit), with this
    /// exchange's activity recorded.
    fn touch_member(&mut self, id: &str, o: &Obs<'_>, ctx: &mut Ctx<'_>) -> Option<usize> {
        let e = o.e;
        let (end_frame, end_ts) = o.end();
        let ix = match self.member_ix.get(id) {
            Some(&ix) => ix,
            None => {
                if self.members.len() >= ctx.limits.max_members {
                    *ctx.dropped += 1;
                    return None;
                }
                self.members.push(Member {
                    member_id: id.to_string(),
                    instance_id: None,
                    client_id: None,
                    client: e.client,
                    first_frame: e.request.frame,
                    last_frame: end_frame,
                    last_ts: end_ts,
                    joined_generation: None,
                    generation: None,
                    left: false,
                    member_epoch: None,
                    assignment: Vec::new(),
                    assignment_generation: None,
                    subscription: Vec::new(),
                    left_at: None,
                    last_step: None,
                });
                let ix = self.members.len() - 1;
                self.member_ix.insert(id.to_string(), ix);
                ix
            }
        };
        let m = self.members.get_mut(ix)?;
        m.first_frame = m.first_frame.min(e.request.frame);
        if end_ts >= m.last_ts {
            m.last_ts = end_ts;
            m.last_frame = end_frame;
            m.client = e.client;
            if let Some(c) = &e.client_id
                && m.client_id.as_deref() != Some(&**c)
            {
                m.client_id = Some(c.to_string());
            }
        }
        Some(ix)
    }

    /// A member joins (or rejoins) at `ts`: undo an earlier leave.
    fn rejoin(&mut self, ix: usize, ts: Timestamp) {
        if let Some(m) = self.members.get_mut(ix)
            && m.left_at.is_none_or(|at| at < ts)
        {
            m.left = false;
            m.left_at = None;
        }
    }

    /// A member is in generation `g`.
    fn in_generation(&mut self, ix: usize, g: i32) {
        if let Some(m) = self.members.get_mut(ix) {
            if g > 0 && m.joined_generation.is_none_or(|j| g < j) {
                m.joined_generation = Some(g);
            }
            if m.generation.is_none_or(|x| g > x) {
                m.generation = Some(g);
            }
        }
    }

    /// The member's assignment as of generation `g`, unless it already
    /// has one from a later generation.
    fn assign(&mut self, ix: usize, g: i32, tps: &[TopicPartitions]) {
        if let Some(m) = self.members.get_mut(ix)
            && m.assignment_generation.is_none_or(|x| g >= x)
        {
            m.assignment = tps.to_vec();
            m.assignment_generation = Some(g);
        }
    }

    /// Generation `id`'s index, created if new (within the limit); its
    /// first sighting moves earlier when an earlier one arrives late.
    fn generation_at(
        &mut self,
        id: i32,
        frame: u64,
        ts: Timestamp,
        ctx: &mut Ctx<'_>,
    ) -> Option<usize> {
        match self.generations.binary_search_by_key(&id, |g| g.id) {
            Ok(i) => {
                let g = &mut self.generations[i];
                if ts < g.ts {
                    g.ts = ts;
                    g.frame = frame;
                }
                Some(i)
            }
            Err(i) => {
                if self.generations.len() >= ctx.limits.max_generations {
                    *ctx.dropped += 1;
                    return None;
                }
                self.generations.insert(
                    i,
                    Generation {
                        id,
                        frame,
                        ts,
                        protocol: None,
                        leader: None,
                        members: Vec::new(),
                        assignments: Vec::new(),
                    },
                );
                Some(i)
            }
        }
    }

    fn gen_add_member(&mut self, gi: usize, member: &str, ctx: &mut Ctx<'_>) {
        if let Some(g) = self.generations.get_mut(gi)
            && !add_member(g, member, ctx.limits.max_members)
        {
            *ctx.dropped += 1;
        }
    }

    fn gen_assign(
        &mut self,
        gi: usize,
        member: &str,
        tps: Vec<TopicPartitions>,
        ctx: &mut Ctx<'_>,
    ) {
        if let Some(g) = self.generations.get_mut(gi)
            && !set_assignment(g, member, tps, ctx.limits.max_members)
        {
            *ctx.dropped += 1;
        }
    }

    fn find_coordinator(&mut self, o: &Obs<'_>, r: Option<FindCoordinatorResponse<'_>>) -> Step {
        // v0-3 at the top level, v4+ per key.
        let node = match (o.part, r) {
            (Part::CoordinatorKey { answer }, Some(_)) => answer,
            (_, Some(r)) if r.host().is_some() => Some(CoordinatorAnswer {
                node_id: r.node_id(),
                host: r.host(),
                port: r.port(),
                error: None,
            }),
            (_, Some(r)) => {
                r.coordinators()
                    .and_then(|c| c.iter().next())
                    .map(|c| CoordinatorAnswer {
                        node_id: c.node_id(),
                        host: c.host(),
                        port: c.port(),
                        error: None,
                    })
            }
            (_, None) => None,
        };
        let coordinator = node.filter(|_| o.error.is_none()).and_then(|n| {
            Some(Coordinator {
                node_id: n.node_id.filter(|id| *id >= 0)?,
                host: n.host?.to_string(),
                port: n.port?,
            })
        });
        self.step(o, None, None, StepKind::FindCoordinator { coordinator })
    }

    fn join(
        &mut self,
        o: &Obs<'_>,
        q: JoinGroupRequest<'_>,
        r: Option<JoinGroupResponse<'_>>,
        ctx: &mut Ctx<'_>,
    ) -> Step {
        self.set_kind(GroupProtocolKind::Classic);
        if let Some(t) = q.protocol_type()
            && self.protocol_type.as_deref() != Some(t)
        {
            self.protocol_type = Some(t.to_string());
        }
        let req_member = set(q.member_id());
        let member = req_member.or_else(|| r.and_then(|r| set(r.member_id())));
        let protocols: Vec<String> = q
            .protocols()
            .into_iter()
            .flatten()
            .filter_map(|p| p.name())
            .take(MAX_PROTOCOLS)
            .map(str::to_string)
            .collect();
        let subscription = q
            .protocols()
            .into_iter()
            .flatten()
            .find_map(|p| subscribed_topics(o.req, p.metadata_offset(), p.metadata()));
        let mut leader_id = None;
        let joined = match r {
            Some(r) if o.ok() => r.generation_id().filter(|g| *g >= 0).map(|g| {
                leader_id = set(r.leader());
                Joined {
                    generation: g,
                    leader: leader_id.is_some() && leader_id == member,
                    protocol: r.protocol_name().map(str::to_string),
                    members: count(r.members()),
                }
            }),
            _ => None,
        };
        let ix = member.and_then(|m| self.touch_member(m, o, ctx));
        if let Some(ix) = ix {
            self.rejoin(ix, o.e.request.ts);
            let m = &mut self.members[ix];
            if let Some(i) = set(q.group_instance_id())
                && m.instance_id.as_deref() != Some(i)
            {
                m.instance_id = Some(i.to_string());
            }
            if let Some(s) = subscription {
                m.subscription = s;
            }
        }
        if let (Some(j), Some(r)) = (&joined, r) {
            let (frame, ts) = o.end();
            if let Some(gi) = self.generation_at(j.generation, frame, ts, ctx) {
                let g = &mut self.generations[gi];
                if let Some(p) = &j.protocol
                    && g.protocol.as_ref() != Some(p)
                {
                    g.protocol = Some(p.clone());
                }
                if let Some(l) = leader_id
                    && g.leader.as_deref() != Some(l)
                {
                    g.leader = Some(l.to_string());
                }
                for m in r.members().into_iter().flatten() {
                    let Some(id) = set(m.member_id()) else {
                        continue;
                    };
                    self.gen_add_member(gi, id, ctx);
                    // Fill in the subscription of members known without one.
                    if let Some(&mi) = self.member_ix.get(id)
                        && self.members[mi].subscription.is_empty()
                        && let Some(resp) = o.resp
                        && let Some(topics) =
                            subscribed_topics(resp, m.metadata_offset(), m.metadata())
                    {
                        self.members[mi].subscription = topics;
                    }
                }
                if let Some(m) = member {
                    self.gen_add_member(gi, m, ctx);
                }
            }
            if let Some(ix) = ix {
                self.in_generation(ix, j.generation);
            }
        }
        let generation = joined.as_ref().map(|j| j.generation);
        self.step(
            o,
            member,
            generation,
            StepKind::Join {
                protocols,
                rejoin: req_member.is_some(),
                joined,
            },
        )
    }

    fn sync(
        &mut self,
        o: &Obs<'_>,
        q: SyncGroupRequest<'_>,
        r: Option<SyncGroupResponse<'_>>,
        ctx: &mut Ctx<'_>,
    ) -> Step {
        self.set_kind(GroupProtocolKind::Classic);
        let member = set(q.member_id());
        let generation = q.generation_id();
        let mut assignments = 0;
        let mut leader_list = Vec::new();
        for a in q.assignments().into_iter().flatten() {
            assignments += 1;
            if assignments > ctx.limits.max_members {
                continue;
            }
            let Some(id) = set(a.member_id()) else {
                continue;
            };
            if let Some(tps) =
                consumer_assignment(o.req, a.assignment_offset(), a.assignment(), ctx)
            {
                leader_list.push((id, tps));
            }
        }
        let assigned = match (r, o.resp) {
            (Some(r), Some(resp)) if o.error.is_none() => {
                consumer_assignment(resp, r.assignment_offset(), r.assignment(), ctx)
            }
            _ => None,
        };
        let ix = member.and_then(|m| self.touch_member(m, o, ctx));
        if o.ok()
            && let Some(g) = generation.filter(|g| *g >= 0)
            && let Some(gi) = self.generation_at(g, o.e.request.frame, o.e.request.ts, ctx)
        {
            if let Some(p) = set(q.protocol_name())
                && self.generations[gi].protocol.is_none()
            {
                self.generations[gi].protocol = Some(p.to_string());
            }
            for (id, tps) in &leader_list {
                self.gen_add_member(gi, id, ctx);
                if let Some(&mi) = self.member_ix.get(*id) {
                    self.assign(mi, g, tps);
                }
                self.gen_assign(gi, id, tps.clone(), ctx);
            }
            if let Some(m) = member {
                self.gen_add_member(gi, m, ctx);
                if let Some(tps) = &assigned {
                    self.gen_assign(gi, m, tps.clone(), ctx);
                    if let Some(ix) = ix {
                        self.assign(ix, g, tps);
                    }
                }
            }
            if let Some(ix) = ix {
                self.in_generation(ix, g);
            }
        }
        self.step(
            o,
            member,
            generation,
            StepKind::Sync {
                assignments,
                assigned,
            },
        )
    }

    fn heartbeat(&mut self, o: &Obs<'_>, q: HeartbeatRequest<'_>, ctx: &mut Ctx<'_>) -> Step {
        self.set_kind(GroupProtocolKind::Classic);
        let member = set(q.member_id());
        let generation = q.generation_id();
        let ix = member.and_then(|m| self.touch_member(m, o, ctx));
        if o.ok()
            && let Some(g) = generation.filter(|g| *g >= 0)
            && let Some(gi) = self.generation_at(g, o.e.request.frame, o.e.request.ts, ctx)
        {
            if let Some(m) = member {
                self.gen_add_member(gi, m, ctx);
            }
            if let Some(ix) = ix {
                self.in_generation(ix, g);
            }
        }
        self.step(o, member, generation, StepKind::Heartbeat)
    }

    fn leave(
        &mut self,
        o: &Obs<'_>,
        q: LeaveGroupRequest<'_>,
        r: Option<LeaveGroupResponse<'_>>,
        ctx: &mut Ctx<'_>,
    ) -> Step {
        let mut members: Vec<String> = Vec::new();
        if let Some(m) = set(q.member_id()) {
            members.push(m.to_string());
        }
        for m in q.members().into_iter().flatten() {
            if members.len() >= ctx.limits.max_members {
                *ctx.dropped += 1;
                break;
            }
            if let Some(id) = set(m.member_id()) {
                members.push(id.to_string());
            }
        }
        // A batch leave (v3+) may come from an admin on behalf of others:
        // only a lone member's activity is its own.
        if let [one] = members.as_slice() {
            self.touch_member(one, o, ctx);
        }
        let top_error = r.and_then(|r| r.error_code()).unwrap_or(0) != 0;
        let answers = r.and_then(|r| r.members());
        for id in &members {
            let refused = answers
                .into_iter()
                .flatten()
                .any(|a| a.member_id() == Some(id.as_str()) && a.error_code().unwrap_or(0) != 0);
            if top_error || refused {
                continue;
            }
            if let Some(&ix) = self.member_ix.get(id.as_str()) {
                let m = &mut self.members[ix];
                let ts = o.e.request.ts;
                if m.left_at.is_none_or(|at| ts > at) {
                    m.left = true;
                    m.left_at = Some(ts);
                }
            }
        }
        let member = match members.as_slice() {
            [one] => Some(one.clone()),
            _ => None,
        };
        let generation = member
            .as_deref()
            .and_then(|m| self.member(m))
            .and_then(|m| m.generation);
        let mut s = self.step(
            o,
            member.as_deref(),
            generation,
            StepKind::Leave { members },
        );
        if member.is_none() {
            // Not the connection's member: a batch leave names its own.
            s.member = None;
        }
        s
    }

    fn commit(
        &mut self,
        o: &Obs<'_>,
        member: Option<&str>,
        generation: Option<i32>,
        partitions: usize,
        transactional: bool,
        ctx: &mut Ctx<'_>,
    ) -> Step {
        if let Some(m) = member {
            self.touch_member(m, o, ctx);
        }
        self.step(
            o,
            member,
            generation,
            StepKind::OffsetCommit {
                partitions,
                transactional,
            },
        )
    }

    fn fetch(
        &mut self,
        o: &Obs<'_>,
        q: OffsetFetchRequest<'_>,
        r: Option<OffsetFetchResponse<'_>>,
        ctx: &mut Ctx<'_>,
    ) -> Step {
        // The partitions asked for; when none (all of the group's), those
        // answered.
        let (member, generation, partitions) = match o.part {
            Part::FetchGroup {
                member,
                member_epoch,
                asked,
                answer,
            } => {
                let partitions = match answer {
                    Some(a) if asked == 0 => a.partitions,
                    _ => asked,
                };
                (member, member_epoch, partitions)
            }
            _ => {
                let topics = q.topics().into_iter().flatten();
                let asked = topics.map(|t| count(t.partition_indexes())).sum();
                let partitions = match r {
                    Some(r) if asked == 0 => {
                        let topics = r.topics().into_iter().flatten();
                        topics.map(|t| count(t.partitions())).sum()
                    }
                    _ => asked,
                };
                (None, None, partitions)
            }
        };
        if let Some(m) = member {
            self.touch_member(m, o, ctx);
        }
        self.step(o, member, generation, StepKind::OffsetFetch { partitions })
    }

    fn consumer_heartbeat(
        &mut self,
        o: &Obs<'_>,
        q: ConsumerGroupHeartbeatRequest<'_>,
        r: Option<ConsumerGroupHeartbeatResponse<'_>>,
        ctx: &mut Ctx<'_>,
    ) -> Step {
        self.set_kind(GroupProtocolKind::Consumer);
        let member = set(q.member_id()).or_else(|| r.and_then(|r| set(r.member_id())));
        let request_epoch = q.member_epoch().unwrap_or(0);
        let answer = r.filter(|_| o.ok());
        let member_epoch = answer.and_then(|r| r.member_epoch());
        let assigned = answer.and_then(|r| r.assignment()).map(|a| {
            let list = a.topic_partitions().into_iter().flatten();
            topic_partitions(
                list.map(|t| TopicView {
                    name: None,
                    id: t.topic_id(),
                    partitions: t.partitions(),
                }),
                ctx,
            )
        });
        let ix = member.and_then(|m| self.touch_member(m, o, ctx));
        let ts = o.e.request.ts;
        if let Some(ix) = ix {
            let m = &mut self.members[ix];
            if let Some(topics) = q.subscribed_topic_names() {
                m.subscription = topic_names(topics);
            }
            if let Some(i) = set(q.instance_id())
                && m.instance_id.as_deref() != Some(i)
            {
                m.instance_id = Some(i.to_string());
            }
            if request_epoch < 0 {
                if o.error.is_none() && m.left_at.is_none_or(|at| ts > at) {
                    m.left = true;
                    m.left_at = Some(ts);
                    m.member_epoch = Some(request_epoch);
                }
            } else if request_epoch == 0 {
                self.rejoin(ix, ts);
            }
        }
        if let (Some(ix), Some(ep)) = (ix, member_epoch.filter(|_| request_epoch >= 0)) {
            let newer = self.members[ix].generation.is_none_or(|g| ep >= g);
            if newer {
                self.members[ix].member_epoch = Some(ep);
            }
            if let Some(tps) = &assigned {
                self.assign(ix, ep, tps);
            }
            if ep > 0 {
                self.in_generation(ix, ep);
                let (frame, rts) = o.end();
                if let Some(gi) = self.generation_at(ep, frame, rts, ctx) {
                    let id = self.members[ix].member_id.clone();
                    self.gen_add_member(gi, &id, ctx);
                    if let Some(a) = set(q.server_assignor())
                        && self.generations[gi].protocol.is_none()
                    {
                        self.generations[gi].protocol = Some(a.to_string());
                    }
                    // The member's partitions at this epoch: what it was
                    // just given, or what it held (when known) on reaching it.
                    // A shrink at the same epoch is the revocation that
                    // leads to the next epoch: the epoch keeps what the
                    // member held in it.
                    let m = &self.members[ix];
                    let recorded = self.generations[gi].assignment(&id);
                    let held = match (&assigned, recorded) {
                        (Some(tps), Some(old)) if tps != old && within(tps, old) => None,
                        (Some(tps), _) => Some(tps.clone()),
                        (None, None) if m.assignment_generation.is_some() => {
                            Some(m.assignment.clone())
                        }
                        (None, _) => None,
                    };
                    if let Some(tps) = held {
                        self.gen_assign(gi, &id, tps, ctx);
                    }
                }
            }
        }
        // A leave is tied to the epoch the member leaves.
        let generation = member_epoch
            .filter(|e| *e > 0)
            .or(Some(request_epoch).filter(|e| *e > 0))
            .or_else(|| {
                let m = self.members.get(ix?)?;
                (request_epoch < 0).then_some(m.generation?)
            });
        self.step(
            o,
            member,
            generation,
            StepKind::ConsumerHeartbeat {
                request_epoch,
                member_epoch,
                assigned,
            },
        )
    }

    /// Where the step that `s` may repeat is: the latest step of its
    /// member, or a recent one of its client when it has none.
    fn previous_of(&self, s: &Step) -> Option<usize> {
        match &s.member {
            // A member over the limit: only right after its own step.
            Some(m) if !self.member_ix.contains_key(&**m) => {
                let last = self.steps.len().checked_sub(1)?;
                (self.steps[last].member.as_ref() == Some(m)).then_some(last)
            }
            Some(m) => {
                let (ts, index) = self.member(m)?.last_step?;
                let start = self.steps.partition_point(|x| x.ts < ts);
                let i = self.steps[start..]
                    .iter()
                    .take_while(|x| x.ts == ts)
                    .position(|x| x.index == index)?;
                Some(start + i)
            }
            // Without a member: only right after the same client's step.
            None => {
                let last = self.steps.len().checked_sub(1)?;
                let prev = &self.steps[last];
                (prev.member.is_none() && prev.client == s.client).then_some(last)
            }
        }
    }

    fn push_step(&mut self, s: Step, ctx: &mut Ctx<'_>) {
        if let Some(i) = self.previous_of(&s)
            && let Some(prev) = self.steps.get_mut(i)
            && prev.ts <= s.ts
            && repeats(prev, &s)
        {
            prev.count = prev.count.saturating_add(1);
            if s.ts >= prev.last_ts {
                prev.last_ts = s.ts;
                prev.last_frame = s.frame;
                prev.last_index = s.index;
            }
            return;
        }
        if self.steps.len() >= ctx.limits.max_steps {
            *ctx.dropped += 1;
            return;
        }
        if let Some(m) = &s.member
            && let Some(&ix) = self.member_ix.get(&**m)
        {
            let m = &mut self.members[ix];
            if m.last_step.is_none_or(|(ts, _)| s.ts >= ts) {
                m.last_step = Some((s.ts, s.index));
            }
        }
        let pos = self
            .steps
            .partition_point(|x| (x.ts, x.frame) <= (s.ts, s.frame));
        self.steps.insert(pos, s);
    }

    /// Give names to topic ids `names` now knows.
    fn resolve(&mut self, names: &TopicNames) {
        for m in &mut self.members {
            resolve_list(&mut m.assignment, names);
        }
        for g in &mut self.generations {
            for (_, a) in &mut g.assignments {
                resolve_list(a, names);
            }
        }
        for s in &mut self.steps {
            if let StepKind::Sync {
                assigned: Some(a), ..
            }
            | StepKind::ConsumerHeartbeat {
                assigned: Some(a), ..
            } = &mut s.kind
            {
                resolve_list(a, names);
            }
        }
    }
}

/// Every partition of `a` is in `b` (both sorted, as built).
fn within(a: &[TopicPartitions], b: &[TopicPartitions]) -> bool {
    a.iter().all(|t| {
        b.binary_search_by(|u| u.topic.cmp(&t.topic))
            .is_ok_and(|i| {
                t.partitions
                    .iter()
                    .all(|p| b[i].partitions.binary_search(p).is_ok())
            })
    })
}

/// `next` repeats `prev`: same member (or client), generation, outcome,
/// and a kind that collapses.
fn repeats(prev: &Step, next: &Step) -> bool {
    if prev.member != next.member
        || prev.generation != next.generation
        || prev.error != next.error
        || prev.no_response
        || next.no_response
    {
        return false;
    }
    match (&prev.kind, &next.kind) {
        (StepKind::Heartbeat, StepKind::Heartbeat) => true,
        (
            StepKind::FindCoordinator { coordinator: a },
            StepKind::FindCoordinator { coordinator: b },
        ) => a == b && prev.client == next.client,
        (a @ StepKind::ConsumerHeartbeat { .. }, b @ StepKind::ConsumerHeartbeat { .. }) => {
            steady(a) && steady(b)
        }
        _ => false,
    }
}

/// A ConsumerGroupHeartbeat that changed nothing.
fn steady(k: &StepKind) -> bool {
    matches!(
        k,
        StepKind::ConsumerHeartbeat {
            request_epoch,
            member_epoch: Some(m),
            assigned: None,
        } if *request_epoch > 0 && request_epoch == m
    )
}

/// `events[0,1] orders[2]`; `no partitions` for an empty assignment.
pub fn format_assignment(tps: &[TopicPartitions]) -> String {
    if tps.is_empty() {
        return "no partitions".to_string();
    }
    let mut o = String::new();
    for (i, t) in tps.iter().enumerate() {
        if i > 0 {
            o.push(' ');
        }
        o.push_str(&t.topic);
        o.push('[');
        for (j, p) in t.partitions.iter().enumerate() {
            if j > 0 {
                o.push(',');
            }
            let _ = write!(o, "{p}");
        }
        o.push(']');
        if o.len() > MAX_LABEL {
            break;
        }
    }
    o
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

impl Step {
    /// One line for a ladder: `JoinGroup → gen 2, leader, range (2
    /// members)`, `Heartbeat gen 3 ×14`, `OffsetCommit gen 3, 3 partitions
    /// ✗ ILLEGAL_GENERATION`, `ConsumerGroupHeartbeat join → epoch 2,
    /// assigned shipments[0,1,2,3]`. At most [`MAX_LABEL`] bytes: what is
    /// cut is the middle ([`Step::what`]), never the outcome.
    pub fn label(&self) -> String {
        let mut o = self.what();
        let tail = self.outcome();
        let room = MAX_LABEL.saturating_sub(tail.len());
        if o.len() > room {
            let mut cut = room.saturating_sub('…'.len_utf8());
            while !o.is_char_boundary(cut) {
                cut -= 1;
            }
            o.truncate(cut);
            o.push('…');
        }
        o.push_str(&tail);
        o
    }

    /// What the step did: `JoinGroup → gen 2, leader, range (2 members)`,
    /// without its count and outcome ([`Step::outcome`]).
    pub fn what(&self) -> String {
        let mut o = String::new();
        let generation = |o: &mut String| {
            if let Some(g) = self.generation {
                let _ = write!(o, " gen {g}");
            }
        };
        match &self.kind {
            StepKind::FindCoordinator { coordinator } => {
                o.push_str("FindCoordinator");
                if let Some(c) = coordinator {
                    let _ = write!(o, " → node {} {}:{}", c.node_id, c.host, c.port);
                }
            }
            StepKind::Join {
                protocols,
                rejoin,
                joined,
            } => {
                o.push_str("JoinGroup");
                if !rejoin {
                    o.push_str(" (new member)");
                }
                match joined {
                    Some(j) => {
                        let _ = write!(
                            o,
                            " → gen {}, {}",
                            j.generation,
                            if j.leader { "leader" } else { "follower" }
                        );
                        if let Some(p) = &j.protocol {
                            let _ = write!(o, ", {p}");
                        }
                        if j.members > 0 {
                            let _ = write!(o, " ({})", plural(j.members, "member"));
                        }
                    }
                    None if !protocols.is_empty() => {
                        let _ = write!(o, " [{}]", protocols.join(","));
                    }
                    None => {}
                }
            }
            StepKind::Sync {
                assignments,
                assigned,
            } => {
                o.push_str("SyncGroup");
                generation(&mut o);
                if *assignments > 0 {
                    let _ = write!(o, " (leader, {})", plural(*assignments, "assignment"));
                }
                if let Some(a) = assigned {
                    let _ = write!(o, " → {}", format_assignment(a));
                }
            }
            StepKind::Heartbeat => {
                o.push_str("Heartbeat");
                generation(&mut o);
            }
            StepKind::Leave { members } => {
                o.push_str("LeaveGroup");
                generation(&mut o);
                if members.len() > 1 {
                    let _ = write!(o, " {}", plural(members.len(), "member"));
                }
            }
            StepKind::OffsetCommit {
                partitions,
                transactional,
            } => {
                o.push_str(if *transactional {
                    "TxnOffsetCommit"
                } else {
                    "OffsetCommit"
                });
                generation(&mut o);
                if self.generation.is_some() {
                    o.push(',');
                }
                let _ = write!(o, " {}", plural(*partitions, "partition"));
            }
            StepKind::OffsetFetch { partitions } => {
                o.push_str("OffsetFetch");
                if *partitions > 0 {
                    let _ = write!(o, " {}", plural(*partitions, "partition"));
                }
            }
            StepKind::ConsumerHeartbeat {
                request_epoch,
                member_epoch,
                assigned,
            } => {
                o.push_str("ConsumerGroupHeartbeat ");
                match request_epoch {
                    0 => o.push_str("join"),
                    -1 => o.push_str("leave"),
                    -2 => o.push_str("leave (static)"),
                    e => {
                        let _ = write!(o, "epoch {e}");
                    }
                }
                if let Some(m) = member_epoch
                    && (m != request_epoch || *request_epoch == 0)
                {
                    let _ = write!(o, " → epoch {m}");
                }
                if let Some(a) = assigned {
                    let _ = write!(o, ", assigned {}", format_assignment(a));
                }
            }
            StepKind::Other(name) => o.push_str(name),
        }
        o
    }

    /// How the step ended, as the end of its label: ` ×14`, ` ✗
    /// ILLEGAL_GENERATION`, ` (no response)`; empty for one plain success.
    pub fn outcome(&self) -> String {
        let mut tail = String::new();
        if self.count > 1 {
            let _ = write!(tail, " ×{}", self.count);
        }
        if let Some((_, name)) = self.error {
            let _ = write!(tail, " ✗ {name}");
        }
        if self.no_response {
            tail.push_str(" (no response)");
        }
        tail
    }
}

#[cfg(test)]
mod tests {
    //! The model on small exchanges whose bodies are encoded by the
    //! independent `kafka-protocol` crate and decoded as the session
    //! decodes them (so the model reads them through their views):
    //! collapsing, late arrivals, limits, damaged bodies, topic ids named
    //! later, the groups other APIs name, labels.

    use kafka_protocol::messages::{self as kp};
    use kafka_protocol::protocol::{Encodable, StrBytes};

    use super::*;
    use crate::analysis::topics::group_of;
    use crate::capture::Timestamp;
    use crate::kafka::records::{RecordLimits, RecordsMode};
    use crate::session::{DecodeOptions, MessageInfo, NoResponseReason, decode_body};

    fn s(x: &str) -> StrBytes {
        StrBytes::from_string(x.into())
    }

    fn gid(x: &str) -> kp::GroupId {
        kp::GroupId(s(x))
    }

    fn enc<T: Encodable>(m: &T, version: i16) -> Vec<u8> {
        let mut out = Vec::new();
        m.encode(&mut out, version).unwrap();
        out
    }

    /// `bytes` preceded by the int16 `version`, as JoinGroup and SyncGroup
    /// carry the consumer protocol.
    fn versioned(version: i16, bytes: &[u8]) -> Vec<u8> {
        let mut out = version.to_be_bytes().to_vec();
        out.extend_from_slice(bytes);
        out
    }

    /// Topic id `[b; 16]`, as kafka-protocol takes it.
    fn topic_id<T: std::str::FromStr>(b: u8) -> T
    where
        T::Err: std::fmt::Debug,
    {
        let h = format!("{b:02x}").repeat(16);
        format!(
            "{}-{}-{}-{}-{}",
            &h[..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..]
        )
        .parse()
        .unwrap()
    }

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    fn decode(api: ApiKey, version: i16, kind: MessageKind, bytes: &[u8]) -> Box<Body> {
        let opts = DecodeOptions {
            records: RecordsMode::None,
            limits: RecordLimits::default(),
            show_secrets: false,
        };
        Box::new(decode_body(api, version, kind, bytes, true, &opts))
    }

    /// An exchange of `api` at `version` requested at second `t` (frame
    /// `frame`), answered a millisecond later (frame + 1) unless `resp` is
    /// `None`; its bodies decoded from these bytes.
    fn ex(
        api: ApiKey,
        version: i16,
        t: u32,
        frame: u64,
        req: &[u8],
        resp: Option<&[u8]>,
    ) -> Exchange {
        let info = |frame, ts| MessageInfo {
            frame,
            first_frame: frame,
            ts,
            size: 0,
            lost_bytes: 0,
        };
        let ts = Timestamp::new(1_000 + i64::from(t), 0);
        let resp = resp.map(|b| decode(api, version, MessageKind::Response, b));
        let errors = resp.as_ref().map(|b| b.errors.clone()).unwrap_or_default();
        Exchange {
            stream: 0,
            client: addr(40_000),
            broker: addr(9092),
            api_key: api,
            api_version: version,
            correlation_id: frame as i32,
            client_id: Some(Arc::from("c1")),
            request: info(frame, ts),
            response: resp
                .as_ref()
                .map(|_| info(frame + 1, Timestamp::new(ts.secs, 1_000_000))),
            status: match (&resp, errors.is_empty()) {
                (None, _) => Status::NoResponse(NoResponseReason::CaptureEnded),
                (Some(_), true) => Status::Ok,
                (Some(_), false) => Status::Error,
            },
            errors,
            request_body: Some(decode(api, version, MessageKind::Request, req)),
            response_body: resp,
            capture: 0,
            broker_side: None,
        }
    }

    fn heartbeat_in(
        group: &str,
        t: u32,
        frame: u64,
        member: &str,
        generation: i32,
        error: ErrorCode,
    ) -> Exchange {
        let req = kp::HeartbeatRequest::default()
            .with_group_id(gid(group))
            .with_generation_id(generation)
            .with_member_id(s(member));
        let resp = kp::HeartbeatResponse::default().with_error_code(error.0);
        ex(
            ApiKey::HEARTBEAT,
            4,
            t,
            frame,
            &enc(&req, 4),
            Some(&enc(&resp, 4)),
        )
    }

    fn heartbeat(t: u32, frame: u64, member: &str, generation: i32, error: ErrorCode) -> Exchange {
        heartbeat_in("g", t, frame, member, generation, error)
    }

    fn run(exchanges: &[Exchange], limits: GroupLimits) -> Groups {
        let names = TopicNames::new();
        let mut g = Groups::new(limits);
        for (ix, e) in exchanges.iter().enumerate() {
            g.observe(ix, e, &names);
        }
        g
    }

    #[test]
    fn heartbeats_collapse_per_member_generation_and_outcome() {
        let mut v = Vec::new();
        for k in 0..5 {
            v.push(heartbeat(
                k,
                10 + 2 * u64::from(k),
                "m1",
                2,
                ErrorCode::NONE,
            ));
        }
        v.push(heartbeat(6, 30, "m1", 2, ErrorCode::REBALANCE_IN_PROGRESS));
        v.push(heartbeat(7, 32, "m1", 2, ErrorCode::REBALANCE_IN_PROGRESS));
        v.push(heartbeat(8, 34, "m1", 3, ErrorCode::NONE));
        let g = run(&v, GroupLimits::default());
        let f = g.get("g").unwrap();
        let got: Vec<(u32, u64, u64, Option<i32>)> = f
            .steps
            .iter()
            .map(|s| (s.count, s.frame, s.last_frame, s.generation))
            .collect();
        assert_eq!(
            got,
            [
                (5, 10, 18, Some(2)),
                (2, 30, 32, Some(2)),
                (1, 34, 34, Some(3))
            ]
        );
        assert_eq!(f.steps[0].label(), "Heartbeat gen 2 ×5");
        assert_eq!(
            f.steps[1].label(),
            "Heartbeat gen 2 ×2 ✗ REBALANCE_IN_PROGRESS"
        );
        assert_eq!(f.steps[1].last_index, 6);
        assert_eq!(f.errors, 2);
        // Generations only from answers without error.
        assert_eq!(
            f.generations.iter().map(|g| g.id).collect::<Vec<_>>(),
            [2, 3]
        );
        assert_eq!(f.kind, GroupProtocolKind::Classic);
        assert_eq!(f.member("m1").unwrap().generation, Some(3));
    }

    #[test]
    fn other_members_steps_in_between_do_not_break_a_run() {
        let v = [
            heartbeat(0, 10, "m1", 2, ErrorCode::NONE),
            heartbeat(1, 12, "m2", 2, ErrorCode::NONE),
            heartbeat(2, 14, "m1", 2, ErrorCode::NONE),
            heartbeat(3, 16, "m2", 2, ErrorCode::NONE),
        ];
        let g = run(&v, GroupLimits::default());
        let f = g.get("g").unwrap();
        assert_eq!(f.steps.len(), 2);
        assert!(f.steps.iter().all(|s| s.count == 2));
        assert_eq!(f.generations[0].members, ["m1", "m2"]);
    }

    /// JoinGroup v7 of `member` in group `g`, answered (when `resp`) with
    /// that response.
    fn join(t: u32, frame: u64, member: &str, resp: Option<kp::JoinGroupResponse>) -> Exchange {
        let req = kp::JoinGroupRequest::default()
            .with_group_id(gid("g"))
            .with_session_timeout_ms(45_000)
            .with_member_id(s(member))
            .with_protocol_type(s("consumer"));
        ex(
            ApiKey::JOIN_GROUP,
            7,
            t,
            frame,
            &enc(&req, 7),
            resp.map(|r| enc(&r, 7)).as_deref(),
        )
    }

    #[test]
    fn late_arrivals_are_inserted_in_time_order() {
        // A JoinGroup held 5 s by the coordinator completes after later
        // exchanges of another member.
        let member = |id: &str| {
            kp::join_group_response::JoinGroupResponseMember::default().with_member_id(s(id))
        };
        let resp = kp::JoinGroupResponse::default()
            .with_generation_id(3)
            .with_protocol_name(Some(s("range")))
            .with_leader(s("m1"))
            .with_member_id(s("m1"))
            .with_members(vec![member("m1"), member("m2")]);
        let v = [
            heartbeat(0, 5, "m2", 2, ErrorCode::NONE),
            heartbeat(2, 20, "m2", 2, ErrorCode::REBALANCE_IN_PROGRESS),
            join(1, 10, "m1", Some(resp)),
        ];
        let g = run(&v, GroupLimits::default());
        let f = g.get("g").unwrap();
        let frames: Vec<u64> = f.steps.iter().map(|s| s.frame).collect();
        assert_eq!(frames, [5, 10, 20]);
        assert_eq!(
            f.steps[1].label(),
            "JoinGroup → gen 3, leader, range (2 members)"
        );
        let g3 = f.generation(3).unwrap();
        assert_eq!(g3.leader.as_deref(), Some("m1"));
        assert_eq!(g3.members, ["m1", "m2"]);
        assert_eq!(f.current_generation().unwrap().id, 3);
        assert_eq!(f.protocol_type.as_deref(), Some("consumer"));
    }

    #[test]
    fn a_leave_is_undone_only_by_a_later_join() {
        let join = |t, frame| {
            let resp = kp::JoinGroupResponse::default().with_generation_id(4);
            join(t, frame, "m1", Some(resp))
        };
        let req = kp::LeaveGroupRequest::default()
            .with_group_id(gid("g"))
            .with_member_id(s("m1"));
        let resp = kp::LeaveGroupResponse::default();
        let leave = ex(
            ApiKey::LEAVE_GROUP,
            1,
            5,
            50,
            &enc(&req, 1),
            Some(&enc(&resp, 1)),
        );
        // The join was requested before the leave but answered after it.
        let g = run(&[leave.clone(), join(4, 40)], GroupLimits::default());
        let f = g.get("g").unwrap();
        assert!(f.member("m1").unwrap().left);
        // Its generation was not known yet when the leave was observed.
        assert_eq!(f.steps[1].label(), "LeaveGroup");
        let g = run(&[leave, join(6, 60)], GroupLimits::default());
        assert!(!g.get("g").unwrap().member("m1").unwrap().left);
    }

    #[test]
    fn a_batch_leave_names_its_members_and_keeps_the_refused() {
        // LeaveGroup v3+: an admin removes two members; m2 is refused.
        let identity =
            |id: &str| kp::leave_group_request::MemberIdentity::default().with_member_id(s(id));
        let req = kp::LeaveGroupRequest::default()
            .with_group_id(gid("g"))
            .with_members(vec![identity("m1"), identity("m2")]);
        let answer = |id: &str, code: ErrorCode| {
            kp::leave_group_response::MemberResponse::default()
                .with_member_id(s(id))
                .with_error_code(code.0)
        };
        let resp = kp::LeaveGroupResponse::default().with_members(vec![
            answer("m1", ErrorCode::NONE),
            answer("m2", ErrorCode::UNKNOWN_MEMBER_ID),
        ]);
        let v = [
            heartbeat(0, 10, "m1", 2, ErrorCode::NONE),
            heartbeat(1, 12, "m2", 2, ErrorCode::NONE),
            ex(
                ApiKey::LEAVE_GROUP,
                5,
                2,
                14,
                &enc(&req, 5),
                Some(&enc(&resp, 5)),
            ),
        ];
        let g = run(&v, GroupLimits::default());
        let f = g.get("g").unwrap();
        assert!(f.member("m1").unwrap().left);
        assert!(!f.member("m2").unwrap().left);
        let leave = f.steps.last().unwrap();
        assert_eq!(
            leave.kind,
            StepKind::Leave {
                members: vec!["m1".into(), "m2".into()]
            }
        );
        assert_eq!(leave.member, None);
        assert_eq!(leave.label(), "LeaveGroup 2 members ✗ UNKNOWN_MEMBER_ID");
    }

    #[test]
    fn limits_are_kept_and_counted() {
        let limits = GroupLimits {
            max_groups: 1,
            max_members: 2,
            max_steps: 3,
            max_generations: 2,
        };
        let mut v = Vec::new();
        for (k, m) in ["a", "b", "c"].iter().enumerate() {
            // Three members, three generations, three steps.
            v.push(heartbeat(
                k as u32,
                10 + k as u64 * 2,
                m,
                k as i32 + 1,
                ErrorCode::NONE,
            ));
        }
        v.push(heartbeat(9, 30, "a", 2, ErrorCode::NONE)); // a fourth step (another generation)
        v.push(heartbeat_in("other", 10, 40, "x", 1, ErrorCode::NONE));
        let g = run(&v, limits);
        assert_eq!(g.len(), 1);
        let f = g.get("g").unwrap();
        assert_eq!(f.members.len(), 2);
        assert_eq!(f.generations.len(), 2);
        assert_eq!(f.steps.len(), 3);
        // c refused as a member and a generation, the fourth step, the
        // other group.
        assert_eq!(g.dropped(), 4);
    }

    /// A consumer protocol assignment of `topic`'s `partitions`, as
    /// SyncGroup carries it (version 0).
    fn assignment(topic: &str, partitions: &[i32]) -> Vec<u8> {
        let a = kp::ConsumerProtocolAssignment::default().with_assigned_partitions(vec![
            kp::consumer_protocol_assignment::TopicPartition::default()
                .with_topic(kp::TopicName(s(topic)))
                .with_partitions(partitions.to_vec()),
        ]);
        versioned(0, &enc(&a, 0))
    }

    /// The leader m1's SyncGroup at `version` for generation 5: its own
    /// and m2's assignments, and m1's in the response.
    fn leader_sync(version: i16) -> Exchange {
        let consumer = (version >= 5).then(|| s("consumer"));
        let given = |id: &str, a: Vec<u8>| {
            kp::sync_group_request::SyncGroupRequestAssignment::default()
                .with_member_id(s(id))
                .with_assignment(a.into())
        };
        let req = kp::SyncGroupRequest::default()
            .with_group_id(gid("g"))
            .with_generation_id(5)
            .with_member_id(s("m1"))
            .with_protocol_type(consumer.clone())
            .with_protocol_name((version >= 5).then(|| s("range")))
            .with_assignments(vec![
                given("m1", assignment("orders", &[3, 2, 2])),
                given("m2", assignment("orders", &[0, 1])),
            ]);
        let resp = kp::SyncGroupResponse::default()
            .with_protocol_type(consumer)
            .with_assignment(assignment("orders", &[2, 3]).into());
        ex(
            ApiKey::SYNC_GROUP,
            version,
            0,
            10,
            &enc(&req, version),
            Some(&enc(&resp, version)),
        )
    }

    #[test]
    fn consumer_protocol_assignments_from_sync_group() {
        // The leader's SyncGroup: two members' assignments, embedded; the
        // consumer protocol named (v5+) or recognised (v0-4).
        for version in 0..=5 {
            let sync = leader_sync(version);
            assert_eq!(
                sync.request_body.as_ref().unwrap().embedded.len(),
                2,
                "v{version}"
            );
            let g = run(&[sync], GroupLimits::default());
            let f = g.get("g").unwrap();
            let g5 = f.generation(5).unwrap();
            assert_eq!(
                format_assignment(g5.assignment("m1").unwrap()),
                "orders[2,3]",
                "v{version}"
            );
            assert_eq!(
                format_assignment(g5.assignment("m2").unwrap()),
                "orders[0,1]"
            );
            assert_eq!(
                g5.protocol.as_deref(),
                (version >= 5).then_some("range"),
                "v{version}"
            );
            let m1 = f.member("m1").unwrap();
            assert_eq!(m1.assignment_generation, Some(5));
            assert_eq!(
                f.steps[0].label(),
                "SyncGroup gen 5 (leader, 2 assignments) → orders[2,3]"
            );
        }
    }

    #[test]
    fn subscriptions_from_join_group() {
        // A follower's JoinGroup carries its subscription; the leader's
        // response lists every member's, filling in members known without
        // one.
        let subscription = |topics: &[&str]| {
            let sub = kp::ConsumerProtocolSubscription::default()
                .with_topics(topics.iter().map(|t| s(t)).collect());
            versioned(1, &enc(&sub, 1)).into()
        };
        let req = kp::JoinGroupRequest::default()
            .with_group_id(gid("g"))
            .with_member_id(s("m2"))
            .with_protocol_type(s("consumer"))
            .with_protocols(vec![
                kp::join_group_request::JoinGroupRequestProtocol::default()
                    .with_name(s("range"))
                    .with_metadata(subscription(&["orders", "payments"])),
            ]);
        let follower = ex(ApiKey::JOIN_GROUP, 5, 0, 10, &enc(&req, 5), None);
        let member = |id: &str, topics: &[&str]| {
            kp::join_group_response::JoinGroupResponseMember::default()
                .with_member_id(s(id))
                .with_metadata(subscription(topics))
        };
        let resp = kp::JoinGroupResponse::default()
            .with_generation_id(1)
            .with_protocol_name(Some(s("range")))
            .with_leader(s("m1"))
            .with_member_id(s("m1"))
            .with_members(vec![member("m1", &["orders"]), member("m2", &["x"])]);
        let leader = join(1, 20, "m1", Some(resp));
        let g = run(&[follower, leader], GroupLimits::default());
        let f = g.get("g").unwrap();
        assert_eq!(f.member("m2").unwrap().subscription, ["orders", "payments"]);
        // The leader's own JoinGroup named no protocol: its subscription
        // comes from the response.
        assert_eq!(f.member("m1").unwrap().subscription, ["orders"]);
        assert_eq!(f.steps[0].label(), "JoinGroup [range] (no response)");
        assert_eq!(
            f.steps[1].label(),
            "JoinGroup → gen 1, leader, range (2 members)"
        );
    }

    #[test]
    fn topic_ids_are_named_when_metadata_arrives_later() {
        let req = kp::ConsumerGroupHeartbeatRequest::default()
            .with_group_id(gid("g"))
            .with_member_id(s("m"))
            .with_member_epoch(0)
            .with_subscribed_topic_names(Some(vec![kp::TopicName(s("orders"))]));
        let resp = kp::ConsumerGroupHeartbeatResponse::default()
            .with_member_id(Some(s("m")))
            .with_member_epoch(7)
            .with_assignment(Some(
                kp::consumer_group_heartbeat_response::Assignment::default().with_topic_partitions(
                    vec![
                        kp::consumer_group_heartbeat_response::TopicPartitions::default()
                            .with_topic_id(topic_id(0xab))
                            .with_partitions(vec![1, 0]),
                    ],
                ),
            ));
        let cghb = ex(
            ApiKey::CONSUMER_GROUP_HEARTBEAT,
            0,
            0,
            10,
            &enc(&req, 0),
            Some(&enc(&resp, 0)),
        );
        let metadata = ex(
            ApiKey::METADATA,
            12,
            1,
            20,
            &enc(&kp::MetadataRequest::default(), 12),
            Some(&enc(
                &kp::MetadataResponse::default().with_topics(vec![
                    kp::metadata_response::MetadataResponseTopic::default()
                        .with_topic_id(topic_id(0xab))
                        .with_name(Some(kp::TopicName(s("orders")))),
                ]),
                12,
            )),
        );
        let mut names = TopicNames::new();
        let mut g = Groups::default();
        g.observe(0, &cghb, &names);
        let label = |g: &Groups| g.get("g").unwrap().steps[0].label();
        assert_eq!(
            label(&g),
            "ConsumerGroupHeartbeat join → epoch 7, assigned id:abababab…[0,1]"
        );
        names.observe(&metadata);
        g.observe(1, &metadata, &names);
        assert_eq!(
            label(&g),
            "ConsumerGroupHeartbeat join → epoch 7, assigned orders[0,1]"
        );
        let f = g.get("g").unwrap();
        assert_eq!(f.kind, GroupProtocolKind::Consumer);
        assert_eq!(f.member("m").unwrap().assignment[0].topic, "orders");
        assert_eq!(
            f.member("m").unwrap().assignment[0].topic_id,
            Some([0xab; 16])
        );
        assert_eq!(f.generation(7).unwrap().assignments[0].1[0].topic, "orders");
        assert_eq!(f.member("m").unwrap().subscription, ["orders"]);
    }

    fn offset_fetch_v8() -> Exchange {
        let req = kp::OffsetFetchRequest::default().with_groups(vec![
            kp::offset_fetch_request::OffsetFetchRequestGroup::default()
                .with_group_id(gid("a"))
                .with_topics(Some(vec![
                    kp::offset_fetch_request::OffsetFetchRequestTopics::default()
                        .with_name(kp::TopicName(s("t")))
                        .with_partition_indexes(vec![0, 1]),
                ])),
            kp::offset_fetch_request::OffsetFetchRequestGroup::default()
                .with_group_id(gid("b"))
                .with_topics(None),
        ]);
        let answer = |id: &str, code: ErrorCode| {
            kp::offset_fetch_response::OffsetFetchResponseGroup::default()
                .with_group_id(gid(id))
                .with_error_code(code.0)
        };
        let resp = kp::OffsetFetchResponse::default().with_groups(vec![
            answer("b", ErrorCode::COORDINATOR_NOT_AVAILABLE),
            answer("a", ErrorCode::NONE),
        ]);
        ex(
            ApiKey::OFFSET_FETCH,
            8,
            0,
            10,
            &enc(&req, 8),
            Some(&enc(&resp, 8)),
        )
    }

    fn find_coordinator_v4() -> Exchange {
        let req = kp::FindCoordinatorRequest::default()
            .with_key_type(0)
            .with_coordinator_keys(vec![s("a"), s("b")]);
        let resp = kp::FindCoordinatorResponse::default().with_coordinators(vec![
            kp::find_coordinator_response::Coordinator::default()
                .with_key(s("a"))
                .with_node_id(kp::BrokerId(2))
                .with_host(s("h"))
                .with_port(9),
            kp::find_coordinator_response::Coordinator::default()
                .with_key(s("b"))
                .with_node_id(kp::BrokerId(-1))
                .with_error_code(ErrorCode::COORDINATOR_NOT_AVAILABLE.0),
        ]);
        ex(
            ApiKey::FIND_COORDINATOR,
            4,
            1,
            20,
            &enc(&req, 4),
            Some(&enc(&resp, 4)),
        )
    }

    #[test]
    fn multi_group_offset_fetch_and_find_coordinator() {
        let g = run(
            &[offset_fetch_v8(), find_coordinator_v4()],
            GroupLimits::default(),
        );
        let labels = |id: &str| -> Vec<String> {
            g.get(id).unwrap().steps.iter().map(Step::label).collect()
        };
        assert_eq!(
            labels("a"),
            ["OffsetFetch 2 partitions", "FindCoordinator → node 2 h:9"]
        );
        assert_eq!(
            labels("b"),
            [
                "OffsetFetch ✗ COORDINATOR_NOT_AVAILABLE",
                "FindCoordinator ✗ COORDINATOR_NOT_AVAILABLE"
            ]
        );
        // A coordinator that is not one does not count as one.
        assert_eq!(g.get("a").unwrap().coordinators, [addr(9092)]);
        assert!(g.get("b").unwrap().coordinators.is_empty());
        assert_eq!(g.get("b").unwrap().kind, GroupProtocolKind::Unknown);
    }

    #[test]
    fn multi_group_answers_by_group_id_else_by_position() {
        // OffsetFetch: x's entry has no id (the first, by position), y's is
        // found by id.
        let asked = |id: &str| {
            kp::offset_fetch_request::OffsetFetchRequestGroup::default().with_group_id(gid(id))
        };
        let req = kp::OffsetFetchRequest::default().with_groups(vec![asked("x"), asked("y")]);
        let partition = kp::offset_fetch_response::OffsetFetchResponsePartitions::default()
            .with_error_code(ErrorCode::UNSTABLE_OFFSET_COMMIT.0);
        let resp = kp::OffsetFetchResponse::default().with_groups(vec![
            kp::offset_fetch_response::OffsetFetchResponseGroup::default()
                .with_error_code(ErrorCode::NOT_COORDINATOR.0),
            kp::offset_fetch_response::OffsetFetchResponseGroup::default()
                .with_group_id(gid("y"))
                .with_topics(vec![
                    kp::offset_fetch_response::OffsetFetchResponseTopics::default()
                        .with_name(kp::TopicName(s("t")))
                        .with_partitions(vec![partition.clone(), partition]),
                ]),
        ]);
        let fetch = ex(
            ApiKey::OFFSET_FETCH,
            9,
            0,
            10,
            &enc(&req, 9),
            Some(&enc(&resp, 9)),
        );
        // FindCoordinator: a key twice is one group; a key without an entry
        // is answered by nobody.
        let req = kp::FindCoordinatorRequest::default().with_coordinator_keys(vec![
            s("x"),
            s("x"),
            s("y"),
        ]);
        let resp = kp::FindCoordinatorResponse::default().with_coordinators(vec![
            kp::find_coordinator_response::Coordinator::default()
                .with_key(s("y"))
                .with_node_id(kp::BrokerId(3))
                .with_host(s("h3"))
                .with_port(9092),
        ]);
        let find = ex(
            ApiKey::FIND_COORDINATOR,
            6,
            1,
            20,
            &enc(&req, 6),
            Some(&enc(&resp, 6)),
        );
        let g = run(&[fetch, find], GroupLimits::default());
        let labels = |id: &str| -> Vec<String> {
            g.get(id).unwrap().steps.iter().map(Step::label).collect()
        };
        assert_eq!(
            labels("x"),
            ["OffsetFetch ✗ NOT_COORDINATOR", "FindCoordinator"]
        );
        assert_eq!(
            labels("y"),
            [
                "OffsetFetch 2 partitions ✗ UNSTABLE_OFFSET_COMMIT",
                "FindCoordinator → node 3 h3:9092"
            ]
        );
    }

    #[test]
    fn single_group_find_coordinator_and_transactional_ids() {
        let find = |key_type: i8, frame: u64| {
            let req = kp::FindCoordinatorRequest::default()
                .with_key(s("g"))
                .with_key_type(key_type);
            let resp = kp::FindCoordinatorResponse::default()
                .with_node_id(kp::BrokerId(1))
                .with_host(s("b1"))
                .with_port(9092);
            ex(
                ApiKey::FIND_COORDINATOR,
                3,
                frame as u32,
                frame,
                &enc(&req, 3),
                Some(&enc(&resp, 3)),
            )
        };
        // Two identical answers collapse; a transactional id is no group.
        let g = run(
            &[find(0, 1), find(0, 3), find(1, 5)],
            GroupLimits::default(),
        );
        assert_eq!(g.len(), 1);
        let f = g.get("g").unwrap();
        assert_eq!(f.steps.len(), 1);
        assert_eq!(f.steps[0].label(), "FindCoordinator → node 1 b1:9092 ×2");
        assert!(f.coordinators.is_empty());
    }

    #[test]
    fn commits_and_fetches_of_a_member() {
        let partition = |p: i32| {
            kp::offset_commit_request::OffsetCommitRequestPartition::default()
                .with_partition_index(p)
        };
        let commit = kp::OffsetCommitRequest::default()
            .with_group_id(gid("g"))
            .with_generation_id_or_member_epoch(3)
            .with_member_id(s("m1"))
            .with_topics(vec![
                kp::offset_commit_request::OffsetCommitRequestTopic::default()
                    .with_name(kp::TopicName(s("t")))
                    .with_partitions(vec![partition(0), partition(1), partition(2)]),
            ]);
        let txn = kp::TxnOffsetCommitRequest::default()
            .with_transactional_id(kp::TransactionalId(s("tx")))
            .with_group_id(gid("g"))
            .with_generation_id(3)
            .with_member_id(s("m1"))
            .with_topics(vec![
                kp::txn_offset_commit_request::TxnOffsetCommitRequestTopic::default()
                    .with_name(kp::TopicName(s("t")))
                    .with_partitions(vec![
                        kp::txn_offset_commit_request::TxnOffsetCommitRequestPartition::default(),
                    ]),
            ]);
        // OffsetFetch v7 of every partition: the answer's are counted.
        let fetch = kp::OffsetFetchRequest::default()
            .with_group_id(gid("g"))
            .with_topics(None);
        let fetched = kp::OffsetFetchResponse::default().with_topics(vec![
            kp::offset_fetch_response::OffsetFetchResponseTopic::default()
                .with_name(kp::TopicName(s("t")))
                .with_partitions(vec![
                    kp::offset_fetch_response::OffsetFetchResponsePartition::default(),
                    kp::offset_fetch_response::OffsetFetchResponsePartition::default()
                        .with_partition_index(1),
                ]),
        ]);
        let v = [
            heartbeat(0, 10, "m1", 3, ErrorCode::NONE),
            ex(ApiKey::OFFSET_COMMIT, 8, 1, 12, &enc(&commit, 8), None),
            ex(ApiKey::TXN_OFFSET_COMMIT, 3, 2, 14, &enc(&txn, 3), None),
            ex(
                ApiKey::OFFSET_FETCH,
                7,
                3,
                16,
                &enc(&fetch, 7),
                Some(&enc(&fetched, 7)),
            ),
        ];
        let g = run(&v, GroupLimits::default());
        let f = g.get("g").unwrap();
        let labels: Vec<String> = f.steps.iter().map(Step::label).collect();
        assert_eq!(
            labels,
            [
                "Heartbeat gen 3",
                "OffsetCommit gen 3, 3 partitions (no response)",
                "TxnOffsetCommit gen 3, 1 partition (no response)",
                "OffsetFetch 2 partitions",
            ]
        );
        // OffsetFetch before v9 names no member: the connection's.
        assert!(f.steps.iter().all(|s| s.member.as_deref() == Some("m1")));
    }

    #[test]
    fn other_apis_are_filed_under_the_group_they_name() {
        let describe = kp::DescribeGroupsRequest::default().with_groups(vec![gid("d1"), gid("d2")]);
        let add = kp::AddOffsetsToTxnRequest::default()
            .with_transactional_id(kp::TransactionalId(s("tx")))
            .with_group_id(gid("t1"));
        let delete = kp::OffsetDeleteRequest::default().with_group_id(gid("o1"));
        let share = kp::ShareGroupHeartbeatRequest::default()
            .with_group_id(gid("s1"))
            .with_member_id(s("sm"));
        let v = [
            ex(ApiKey::DESCRIBE_GROUPS, 5, 0, 10, &enc(&describe, 5), None),
            ex(ApiKey::ADD_OFFSETS_TO_TXN, 3, 1, 12, &enc(&add, 3), None),
            ex(ApiKey::OFFSET_DELETE, 0, 2, 14, &enc(&delete, 0), None),
            ex(
                ApiKey::SHARE_GROUP_HEARTBEAT,
                1,
                3,
                16,
                &enc(&share, 1),
                None,
            ),
        ];
        let g = run(&v, GroupLimits::default());
        let ids: Vec<&str> = g.iter().map(|f| f.group_id.as_str()).collect();
        assert_eq!(ids, ["d1", "o1", "s1", "t1"]);
        // The group is the one `group_of` names for filters and tables.
        for e in &v {
            let id = group_of(e).unwrap();
            let f = g.get(&id).unwrap();
            assert_eq!(f.steps[0].kind, StepKind::Other(e.api_key.name()));
            assert_eq!(f.kind, GroupProtocolKind::Unknown);
        }
        let s1 = g.get("s1").unwrap();
        assert_eq!(s1.steps[0].member.as_deref(), Some("sm"));
        assert!(s1.member("sm").is_some());
        assert_eq!(
            g.get("d1").unwrap().steps[0].label(),
            "DescribeGroups (no response)"
        );
    }

    /// An exchange of every kind the model reads fields of, answered.
    fn every_kind() -> Vec<Exchange> {
        let commit = kp::OffsetCommitRequest::default()
            .with_group_id(gid("g"))
            .with_member_id(s("m1"))
            .with_topics(vec![
                kp::offset_commit_request::OffsetCommitRequestTopic::default()
                    .with_name(kp::TopicName(s("t")))
                    .with_partitions(vec![
                        kp::offset_commit_request::OffsetCommitRequestPartition::default(),
                    ]),
            ]);
        let cghb = kp::ConsumerGroupHeartbeatRequest::default()
            .with_group_id(gid("g"))
            .with_member_id(s("m"))
            .with_member_epoch(3)
            .with_server_assignor(Some(s("uniform")));
        let cghb_resp = kp::ConsumerGroupHeartbeatResponse::default()
            .with_member_epoch(3)
            .with_assignment(Some(
                kp::consumer_group_heartbeat_response::Assignment::default().with_topic_partitions(
                    vec![
                        kp::consumer_group_heartbeat_response::TopicPartitions::default()
                            .with_topic_id(topic_id(1))
                            .with_partitions(vec![0]),
                    ],
                ),
            ));
        let leave = kp::LeaveGroupRequest::default()
            .with_group_id(gid("g"))
            .with_members(vec![
                kp::leave_group_request::MemberIdentity::default().with_member_id(s("m1")),
            ]);
        let mut v = vec![
            heartbeat(0, 1, "m1", 2, ErrorCode::ILLEGAL_GENERATION),
            join(
                0,
                3,
                "",
                Some(kp::JoinGroupResponse::default().with_generation_id(1)),
            ),
            offset_fetch_v8(),
            find_coordinator_v4(),
            ex(
                ApiKey::OFFSET_COMMIT,
                9,
                0,
                5,
                &enc(&commit, 9),
                Some(&enc(&kp::OffsetCommitResponse::default(), 9)),
            ),
            ex(
                ApiKey::CONSUMER_GROUP_HEARTBEAT,
                1,
                0,
                7,
                &enc(&cghb, 1),
                Some(&enc(&cghb_resp, 1)),
            ),
            ex(
                ApiKey::LEAVE_GROUP,
                4,
                0,
                9,
                &enc(&leave, 4),
                Some(&enc(&kp::LeaveGroupResponse::default(), 4)),
            ),
        ];
        v.extend((0..=5).map(leader_sync));
        v
    }

    /// An exchange of `e`'s api and version with these bodies.
    fn with_bodies(e: &Exchange, req: &[u8], resp: Option<&[u8]>) -> Exchange {
        ex(e.api_key, e.api_version, 0, e.request.frame, req, resp)
    }

    #[test]
    fn damaged_bodies_do_not_panic() {
        // Every body of every kind cut at every byte, bytes flipped, and
        // random bytes: partial views and wrong values, never a panic.
        let mut v = Vec::new();
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for e in every_kind() {
            let req = e.request_body.as_ref().unwrap().bytes.to_vec();
            let resp = e.response_body.as_ref().map(|b| b.bytes.to_vec());
            for cut in 0..=req.len() {
                v.push(with_bodies(&e, &req[..cut], resp.as_deref()));
            }
            if let Some(resp) = &resp {
                for cut in 0..=resp.len() {
                    v.push(with_bodies(&e, &req, Some(&resp[..cut])));
                }
            }
            for _ in 0..32 {
                let mut q = req.clone();
                let mut r = resp.clone();
                if let Some(b) = q.get_mut(next() as usize % req.len().max(1)) {
                    *b = next() as u8;
                }
                if let Some(r) = r.as_mut()
                    && !r.is_empty()
                {
                    let at = next() as usize % r.len();
                    r[at] = next() as u8;
                }
                v.push(with_bodies(&e, &q, r.as_deref()));
                v.push(with_bodies(&e, &q, None));
                let noise: Vec<u8> = (0..next() % 48).map(|_| next() as u8).collect();
                v.push(with_bodies(&e, &noise, Some(&noise)));
            }
        }
        for limits in [
            GroupLimits::default(),
            GroupLimits {
                max_groups: 2,
                max_members: 1,
                max_steps: 4,
                max_generations: 1,
            },
        ] {
            let g = run(&v, limits);
            for f in g.iter() {
                for s in &f.steps {
                    let l = s.label();
                    assert!(!l.is_empty() && l.len() <= MAX_LABEL);
                }
            }
        }
    }

    #[test]
    fn labels_keep_the_outcome_when_cut() {
        let step = Step {
            index: 0,
            frame: 1,
            ts: Timestamp::default(),
            response_frame: None,
            count: 3,
            last_index: 2,
            last_frame: 3,
            last_ts: Timestamp::default(),
            member: None,
            client: addr(1),
            broker: addr(2),
            generation: Some(1),
            kind: StepKind::Sync {
                assignments: 0,
                assigned: Some(vec![TopicPartitions {
                    topic: "é".repeat(300),
                    topic_id: None,
                    partitions: vec![1],
                }]),
            },
            error: Some((ErrorCode::ILLEGAL_GENERATION.0, "ILLEGAL_GENERATION")),
            no_response: false,
        };
        let l = step.label();
        assert!(l.len() <= MAX_LABEL, "{}", l.len());
        assert!(l.ends_with("… ×3 ✗ ILLEGAL_GENERATION"), "{l}");
        let commit = Step {
            kind: StepKind::OffsetCommit {
                partitions: 1,
                transactional: true,
            },
            count: 1,
            error: None,
            no_response: true,
            ..step
        };
        assert_eq!(
            commit.label(),
            "TxnOffsetCommit gen 1, 1 partition (no response)"
        );
    }
}
