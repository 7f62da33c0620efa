//! Efficiency: clients that work correctly but cost the brokers, the network
//! or themselves more than their settings need to, with the numbers and the
//! client setting to change. Every finding here is advice (Info): nothing
//! failed, and what a setting is worth depends on the application's latency
//! budget, which the capture cannot see. The rules, each over one client
//! (client id, or address when it sent none):
//!
//! * `produce_small_batches`: at least [`MIN_BATCHES`] small record batches
//!   (under [`SMALL_BATCH_BYTES`]) whose sends, replayed with a linger of
//!   [`LINGER_SIM_WINDOW_US`] per connection and partition (a batch joins the
//!   one before when it left that soon after the first of a run), would
//!   have gone in at most 1/[`MIN_BATCHING_GAIN`] as many batches. The window
//!   is a millisecond under Kafka's default `linger.ms` of
//!   [`DEFAULT_LINGER_MS`], so that a producer already lingering that long
//!   (whose batches leave at least that far apart, give or take the
//!   capture's timestamp jitter) never looks improvable.
//! * `produce_batch_size_cap`: at least [`MIN_CAPPED_BATCHES`] batches,
//!   [`CAPPED_SHARE_PCT`] % or more of them within a tenth of the client's
//!   largest batch (its cap), which is between [`SMALL_BATCH_BYTES`] and
//!   [`MAX_CAP_ADVISED`], with at least two records per capped batch on
//!   average: the producer fills batches to `batch.size` (16384 bytes in
//!   the Java producer) and sends them back to back (most of the capped
//!   batches leave within [`DEFAULT_LINGER_MS`] of the partition's previous
//!   batch), so each request could carry more. A producer whose records
//!   alone are that size (one record per batch), or whose same-sized
//!   batches leave at leisure, is left out.
//! * `produce_uncompressed`: batches sent with no compression while an lz4
//!   sample of their records (the first [`SAMPLE_BYTES`], whole batches or
//!   a part of the last) compresses by at least [`MIN_RATIO_AS_SENT`] batch
//!   by batch as they were sent, or by at least [`MIN_RATIO_BATCHED`] in
//!   batches of [`SAMPLE_CHUNK`] (the Java producer's default `batch.size`)
//!   when the same client also gets `produce_small_batches` (compression
//!   works per batch: tiny batches gain little until they are larger).
//!   Needs [`SAMPLE_BYTES`] of uncompressed records.
//! * `fetch_short_wait`: consumer Fetch requests with `maxWaitMs` under
//!   [`SHORT_WAIT_MS`] (a fifth of the default [`DEFAULT_FETCH_WAIT_MS`]),
//!   at least [`MIN_EMPTY_FETCHES`] of which came back with no records: with
//!   `minBytes` 1 (`fetch.min.bytes`, the default) the broker answers as soon
//!   as a record arrives, so a longer wait costs no latency while records
//!   flow and saves the empty round trips when they do not.
//! * `fetch_sessions_unused` (KIP-227): a consumer whose Fetch v7+ requests
//!   ([`MIN_SESSION_FETCHES`] or more) asked for a fetch session (epoch 0)
//!   and the broker never granted one (session id 0: its session cache,
//!   `max.incremental.fetch.session.cache.slots`, is full); or that never
//!   asks (epoch -1) while listing at least [`SESSION_MIN_PARTITIONS`]
//!   partitions per fetch on average, each of them sent again in every
//!   request (with few partitions a full fetch costs next to nothing).
//! * `metadata_refresh_frequent`: one connection of the client carrying at
//!   least [`MIN_METADATA_REPEATS`] Metadata requests for the same topics as
//!   the one before, each within [`METADATA_FAST_GAP_US`] of it (a tenth of
//!   the default `metadata.max.age.ms` / `topic.metadata.refresh.interval.ms`
//!   of five minutes), over at least [`MIN_METADATA_SPAN_US`], and making
//!   most of the connection's Metadata requests. A refresh answered with an
//!   error or sent within [`METADATA_ERROR_GRACE_US`] of an error on the
//!   client is the client recovering (the metadata family's subject), not
//!   counted. Per connection, because one client instance refreshes on one
//!   connection at a time, while instances sharing a client id (librdkafka's
//!   default `rdkafka`) would add up.
//! * `connection_per_request`: at least [`MIN_SHORT_CONNECTIONS`] of the
//!   client's connections closed in the capture after carrying at most
//!   [`MAX_WORK_PER_CONNECTION`] requests besides the connection's setup
//!   (ApiVersions, SASL, Metadata, FindCoordinator, telemetry), and they are
//!   at least [`SHORT_CONNECTION_SHARE_PCT`] % of its closed connections
//!   that did any work: a client created per message or per call.
//! * `offset_commits_frequent`: a group member (group and member id)
//!   sending at least [`MIN_COMMITS`] OffsetCommit requests at
//!   [`COMMIT_RATE_FACTOR`] times the rate of the default
//!   `auto.commit.interval.ms` ([`DEFAULT_AUTO_COMMIT_INTERVAL_MS`]) or more.
//!
//! The setting is named for the client's family when its ApiVersions v3+
//! request said which (`clientSoftwareName`: Java or librdkafka and its
//! wrappers), for both families otherwise.
//!
//! Contract: no panic whatever the exchanges and events hold; every table
//! has a named limit ([`MAX_CLIENTS`], [`MAX_PARTITION_RUNS`],
//! [`MAX_STREAMS`], [`MAX_MEMBERS`], [`MAX_SAMPLED_CLIENTS`]); what exceeds
//! one is not followed. Work is linear: at most [`SAMPLE_BYTES`] of records
//! per client are compressed, once each.

use foldhash::HashMap;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::capture::Timestamp;
use crate::kafka::ApiKey;
use crate::kafka::records::{Batch, Compression};
use crate::kafka::schema::views::{
    ApiVersionsRequest, FetchRequest, FetchResponse, MetadataRequest, OffsetCommitRequest,
    ProduceRequest,
};
use crate::session::{Body, Event, EventKind, Exchange, Status};
use crate::tcp::CloseReason;

use super::producer::record_set;
use super::requests::client_key;
use super::{Context, Detector, Finding, Severity};
use crate::present::duration;

/// This family's detectors.
pub fn detectors() -> Vec<Box<dyn Detector>> {
    vec![Box::new(Efficiency::default())]
}

// ------------------------------------------------------------ Kafka defaults

/// `linger.ms`: librdkafka's default, and the Java producer's since Kafka
/// 4.0 (0 before).
pub const DEFAULT_LINGER_MS: i64 = 5;
/// `batch.size` of the Java producer (librdkafka's is 1,000,000).
pub const JAVA_BATCH_SIZE: usize = 16_384;
/// librdkafka's `batch.size`.
pub const RDKAFKA_BATCH_SIZE: u64 = 1_000_000;
/// See the module doc (`produce_batch_size_cap`).
pub const MIN_CAPPED_BATCHES: u64 = 20;
/// See the module doc (`produce_batch_size_cap`).
pub const CAPPED_SHARE_PCT: u64 = 50;
/// A cap above this is not advised against (a producer batching that much
/// is not held back by it).
pub const MAX_CAP_ADVISED: u64 = 4 * JAVA_BATCH_SIZE as u64;
/// Batch sizes are counted in buckets of this many bytes, up to
/// [`MAX_CAP_ADVISED`].
const SIZE_BUCKET: u64 = 256;
const SIZE_BUCKETS: usize = (MAX_CAP_ADVISED / SIZE_BUCKET) as usize + 1;

/// `fetch.wait.max.ms` (librdkafka) / `fetch.max.wait.ms` (Java).
pub const DEFAULT_FETCH_WAIT_MS: i32 = 500;
/// `metadata.max.age.ms` (Java) / `topic.metadata.refresh.interval.ms`
/// (librdkafka): five minutes.
pub const DEFAULT_METADATA_REFRESH_MS: i64 = 300_000;
/// `auto.commit.interval.ms` (both families).
pub const DEFAULT_AUTO_COMMIT_INTERVAL_MS: i64 = 5_000;

// ------------------------------------------------------------ thresholds

/// See the module doc (`produce_small_batches`).
pub const LINGER_SIM_WINDOW_US: i64 = (DEFAULT_LINGER_MS - 1) * 1000;
/// Batches at least this large are not small: a quarter of the Java
/// producer's `batch.size`; lingering for larger ones is `batch.size`'s
/// business, not `linger.ms`'s.
pub const SMALL_BATCH_BYTES: u64 = JAVA_BATCH_SIZE as u64 / 4;
/// Small batches a client must send before its batching is judged.
pub const MIN_BATCHES: u64 = 100;
/// Lingering must cut the batches by this factor at least (records per
/// batch at least doubled).
pub const MIN_BATCHING_GAIN: u64 = 2;
/// Uncompressed records sampled (and needed) per client.
pub const SAMPLE_BYTES: usize = 4 * SAMPLE_CHUNK;
/// The batch size the "batched" ratio is measured at.
pub const SAMPLE_CHUNK: usize = JAVA_BATCH_SIZE;
/// lz4 must shrink the batches as sent by this factor (a third of the
/// bytes saved) for `compression.type` to be worth its CPU on its own.
pub const MIN_RATIO_AS_SENT: f64 = 1.5;
/// lz4 must shrink [`SAMPLE_CHUNK`]-byte batches by this factor when the
/// client's batches are small (then the advice goes with `linger.ms`).
pub const MIN_RATIO_BATCHED: f64 = 2.0;
/// `maxWaitMs` below this is short: a fifth of [`DEFAULT_FETCH_WAIT_MS`].
/// (librdkafka 1.x defaulted to 100 ms: not flagged.)
pub const SHORT_WAIT_MS: i32 = DEFAULT_FETCH_WAIT_MS / 5;
/// Empty short-wait fetches a client must have for `fetch_short_wait`.
pub const MIN_EMPTY_FETCHES: u64 = 50;
/// Fetch v7+ requests a client must send for `fetch_sessions_unused`.
pub const MIN_SESSION_FETCHES: u64 = 50;
/// Partitions per full fetch (on average) from which not asking for a
/// session is worth saying: KIP-227 was written for consumers and
/// followers fetching hundreds to thousands of partitions.
pub const SESSION_MIN_PARTITIONS: u64 = 100;
/// See the module doc (`metadata_refresh_frequent`).
pub const METADATA_FAST_GAP_US: i64 = DEFAULT_METADATA_REFRESH_MS * 1000 / 10;
/// See the module doc.
pub const MIN_METADATA_REPEATS: u64 = 10;
/// See the module doc.
pub const MIN_METADATA_SPAN_US: i64 = 60_000_000;
/// See the module doc: librdkafka retries a refresh for a missing leader
/// with a backoff up to `retry.backoff.max.ms` (1 s) and the Java client
/// within `retry.backoff.max.ms`; 30 s covers both with room.
pub const METADATA_ERROR_GRACE_US: i64 = 30_000_000;
/// See the module doc (`connection_per_request`).
pub const MIN_SHORT_CONNECTIONS: u64 = 10;
/// See the module doc.
pub const MAX_WORK_PER_CONNECTION: u64 = 2;
/// See the module doc.
pub const SHORT_CONNECTION_SHARE_PCT: u64 = 80;
/// OffsetCommit requests a member must send for `offset_commits_frequent`.
pub const MIN_COMMITS: u64 = 50;
/// See the module doc: committing ten times as often as auto-commit does
/// (every 500 ms or less).
pub const COMMIT_RATE_FACTOR: i64 = 10;

// ------------------------------------------------------------ bounds

/// Clients followed.
pub const MAX_CLIENTS: usize = 4096;
/// (connection, topic, partition) linger replays followed.
pub const MAX_PARTITION_RUNS: usize = 16_384;
/// Connections followed (fetch, metadata and per-connection work).
pub const MAX_STREAMS: usize = 65_536;
/// Group members followed for commits.
pub const MAX_MEMBERS: usize = 16_384;
/// Clients whose records are sampled for compression (a chunk of
/// [`SAMPLE_CHUNK`] bytes each at most).
pub const MAX_SAMPLED_CLIENTS: usize = 256;
/// Findings of one kind stated (the clients with the most first).
pub const MAX_FINDINGS_PER_KIND: usize = 100;
/// Longest software name kept.
const MAX_SOFTWARE_LEN: usize = 64;

/// Size of a RecordBatch header before its records (baseOffset … count).
const BATCH_HEADER: usize = 61;
/// baseOffset and batchLength: bytes before what `batchLength` counts.
const BATCH_LENGTH_OFFSET: usize = 12;
/// Metadata's "all topics" request (null topics) fingerprint.
const ALL_TOPICS: u64 = u64::MAX;

// ------------------------------------------------------------ client families

/// The two client families whose settings this family names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Family {
    Java,
    Librdkafka,
}

/// The family of an ApiVersions v3+ `clientSoftwareName` and version:
/// `apache-kafka-java`; `librdkafka` and its wrappers
/// (`confluent-kafka-python` with version `2.16.1-rdkafka-2.16.0`, Go,
/// .NET).
pub(super) fn family_of(name: &str, version: &str) -> Option<Family> {
    let n = name.to_ascii_lowercase();
    if n.contains("java") {
        Some(Family::Java)
    } else if n.contains("rdkafka")
        || n.starts_with("confluent-kafka")
        || version.contains("rdkafka")
    {
        Some(Family::Librdkafka)
    } else {
        None
    }
}

/// A setting's name for `family`, or for both when it is not known.
fn setting(family: Option<Family>, java: &str, rdkafka: &str) -> String {
    match family {
        Some(Family::Java) => format!("`{java}` (Java)"),
        Some(Family::Librdkafka) => format!("`{rdkafka}` (librdkafka)"),
        None if java == rdkafka => format!("`{java}` (librdkafka and Java)"),
        None => format!("`{rdkafka}` (librdkafka) / `{java}` (Java)"),
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

// ------------------------------------------------------------ state

/// A compression sample of one client's uncompressed records.
#[derive(Clone, Debug, Default)]
struct Sample {
    /// Bytes taken so far (at most [`SAMPLE_BYTES`]).
    taken: usize,
    /// Each batch's records compressed on their own: bytes in, out.
    sent_in: u64,
    sent_out: u64,
    /// The chunk being filled (dropped when the sample is complete).
    chunk: Vec<u8>,
    /// Whole chunks compressed: bytes in, out.
    chunked_in: u64,
    chunked_out: u64,
}

impl Sample {
    fn full(&self) -> bool {
        self.taken >= SAMPLE_BYTES
    }

    /// Take (part of) one batch's records.
    fn add(&mut self, records: &[u8]) {
        if self.full() || records.is_empty() {
            return;
        }
        let part = &records[..records.len().min(SAMPLE_BYTES - self.taken)];
        self.taken += part.len();
        self.sent_in += part.len() as u64;
        self.sent_out += lz4_flex::block::compress(part).len() as u64;
        let mut rest = part;
        while !rest.is_empty() {
            let n = (SAMPLE_CHUNK - self.chunk.len()).min(rest.len());
            self.chunk.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            if self.chunk.len() == SAMPLE_CHUNK {
                self.chunked_in += SAMPLE_CHUNK as u64;
                self.chunked_out += lz4_flex::block::compress(&self.chunk).len() as u64;
                self.chunk.clear();
            }
        }
        if self.full() {
            self.chunk = Vec::new();
        }
    }

    fn ratio_as_sent(&self) -> f64 {
        ratio(self.sent_in, self.sent_out)
    }

    fn ratio_batched(&self) -> f64 {
        ratio(self.chunked_in, self.chunked_out)
    }
}

/// What is known of one client.
#[derive(Clone, Debug, Default)]
struct Client {
    family: Option<Family>,
    software: Option<String>,
    // Produce.
    produce_requests: u64,
    batches: u64,
    records: u64,
    batch_bytes: u64,
    small_batches: u64,
    small_records: u64,
    small_bytes: u64,
    /// Batches the small ones would have been with the replayed linger.
    lingered: u64,
    /// The largest batch, and batches and records by size bucket (up to
    /// [`MAX_CAP_ADVISED`]; allocated with the first batch).
    max_batch: u64,
    /// (batches, records, batches sent right after the partition's
    /// previous one) by size bucket.
    sizes: Option<Box<[(u32, u32, u32); SIZE_BUCKETS]>>,
    plain_batches: u64,
    plain_bytes: u64,
    compressed_batches: u64,
    sample: Option<Box<Sample>>,
    produce: Option<Finding>,
    // Fetch.
    fetches: u64,
    short_fetches: u64,
    short_empty: u64,
    short_wait_ms: Option<i32>,
    min_bytes: Option<i32>,
    fetch: Option<Finding>,
    /// Fetch v7+ by session use: epoch -1 (no session), 0 (asked), >0.
    sessionless: u64,
    sessionless_partitions: u64,
    asked: u64,
    /// Asks answered with session id 0.
    refused: u64,
    incremental: u64,
    session: Option<Finding>,
    // Errors, for the metadata rule.
    last_error: Option<Timestamp>,
    // Connections.
    work_conns: u64,
    short_conns: u64,
    short_setup: u64,
    short_work: u64,
    conns: Option<Finding>,
}

impl Client {
    fn family(&self) -> Option<Family> {
        self.family
    }
}

/// Where a partition's replayed linger stands.
#[derive(Clone, Copy, Debug)]
struct Run {
    start: Timestamp,
}

/// One connection.
#[derive(Clone, Debug)]
struct Conn {
    client: Option<String>,
    broker: Option<SocketAddr>,
    setup: u64,
    work: u64,
    first_frame: u64,
    open: Option<Timestamp>,
    // Metadata.
    last_metadata: Option<(Timestamp, u64)>,
    metadata_gaps: u64,
    metadata_fast: u64,
    metadata_f: Option<Finding>,
}

impl Conn {
    fn new(frame: u64, open: Option<Timestamp>) -> Conn {
        Conn {
            client: None,
            broker: None,
            setup: 0,
            work: 0,
            first_frame: frame,
            open,
            last_metadata: None,
            metadata_gaps: 0,
            metadata_fast: 0,
            metadata_f: None,
        }
    }
}

/// One group member's commits.
#[derive(Clone, Debug)]
struct Member {
    client: String,
    group: String,
    commits: u64,
    partitions: u64,
    f: Finding,
}

/// The family's detector.
#[derive(Default)]
pub struct Efficiency {
    clients: HashMap<String, Client>,
    runs: HashMap<(u64, Arc<str>, i32), Run>,
    /// When each (connection, topic, partition) last had a batch sent (at
    /// most [`MAX_PARTITION_RUNS`]).
    last_batch: HashMap<(u64, Arc<str>, i32), Timestamp>,
    conns: HashMap<u64, Conn>,
    members: HashMap<String, Member>,
    sampled: usize,
}

/// Whether `api` belongs to a connection's or client's setup rather than
/// its work.
fn setup_api(api: ApiKey) -> bool {
    matches!(
        api,
        ApiKey::API_VERSIONS
            | ApiKey::SASL_HANDSHAKE
            | ApiKey::SASL_AUTHENTICATE
            | ApiKey::METADATA
            | ApiKey::FIND_COORDINATOR
            | ApiKey::GET_TELEMETRY_SUBSCRIPTIONS
            | ApiKey::PUSH_TELEMETRY
    )
}

/// An order-independent fingerprint of a Metadata request's topics.
fn topics_print(body: Option<&Body>) -> u64 {
    let Some(q) = body.and_then(Body::view).map(MetadataRequest) else {
        return ALL_TOPICS;
    };
    let Some(topics) = q.topics() else {
        return ALL_TOPICS;
    };
    let mut sum: u64 = 0;
    for t in topics {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let name = t.name().map(str::as_bytes);
        let id = t.topic_id().map(|i| &i[..]);
        for b in name.into_iter().chain(id).flatten() {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        sum = sum.wrapping_add(h);
    }
    sum
}

impl Efficiency {
    fn client(&mut self, key: &str) -> Option<&mut Client> {
        if !self.clients.contains_key(key) {
            if self.clients.len() >= MAX_CLIENTS {
                return None;
            }
            self.clients.insert(key.to_string(), Client::default());
        }
        self.clients.get_mut(key)
    }

    fn conn(&mut self, stream: u64, frame: u64) -> Option<&mut Conn> {
        if !self.conns.contains_key(&stream) {
            if self.conns.len() >= MAX_STREAMS {
                return None;
            }
            self.conns.insert(stream, Conn::new(frame, None));
        }
        self.conns.get_mut(&stream)
    }

    fn api_versions(&mut self, e: &Exchange, key: &str) {
        let q = e
            .request_body
            .as_deref()
            .and_then(Body::view)
            .map(ApiVersionsRequest);
        let (Some(name), version) = (
            q.and_then(|q| q.client_software_name()),
            q.and_then(|q| q.client_software_version()).unwrap_or(""),
        ) else {
            return;
        };
        if let Some(c) = self.client(key)
            && c.software.is_none()
        {
            c.family = family_of(name, version);
            let mut s = format!("{name} {version}");
            if s.len() > MAX_SOFTWARE_LEN {
                let mut cut = MAX_SOFTWARE_LEN;
                while !s.is_char_boundary(cut) {
                    cut -= 1;
                }
                s.truncate(cut);
            }
            c.software = Some(s.trim().to_string());
        }
    }

    /// One batch of a Produce request, as facts (the unit tests feed these).
    #[allow(clippy::too_many_arguments)]
    fn batch(
        &mut self,
        e: &Exchange,
        key: &str,
        topic: &Arc<str>,
        partition: i32,
        records: u64,
        bytes: u64,
        compression: Compression,
        plain: Option<&[u8]>,
    ) {
        let run_key = (e.stream, topic.clone(), partition);
        // Sent right after the partition's previous batch: the producer
        // had more waiting than one batch held.
        let back_to_back = match self.last_batch.get_mut(&run_key) {
            Some(t) => {
                let since = e.request.ts.micros_since(*t);
                *t = e.request.ts;
                (0..DEFAULT_LINGER_MS * 1000).contains(&since)
            }
            None => {
                if self.last_batch.len() < MAX_PARTITION_RUNS {
                    self.last_batch.insert(run_key.clone(), e.request.ts);
                }
                false
            }
        };
        let small = bytes < SMALL_BATCH_BYTES;
        // The replayed linger: a small batch joins the run it falls in.
        let mut new_run = true;
        if small {
            let full = self.runs.len() >= MAX_PARTITION_RUNS;
            match self.runs.get_mut(&run_key) {
                Some(r) => {
                    let since = e.request.ts.micros_since(r.start);
                    if (0..LINGER_SIM_WINDOW_US).contains(&since) {
                        new_run = false;
                    } else {
                        r.start = e.request.ts;
                    }
                }
                None if !full => {
                    self.runs.insert(
                        run_key,
                        Run {
                            start: e.request.ts,
                        },
                    );
                }
                None => {}
            }
        } else {
            // A large batch is sent on its own: the run ends.
            self.runs.remove(&run_key);
        }
        let sampled = self.sampled;
        let Some(c) = self.client(key) else {
            return;
        };
        c.batches += 1;
        c.records += records;
        c.batch_bytes += bytes;
        c.max_batch = c.max_batch.max(bytes);
        if bytes <= MAX_CAP_ADVISED {
            let sizes = c
                .sizes
                .get_or_insert_with(|| Box::new([(0, 0, 0); SIZE_BUCKETS]));
            if let Some(b) = sizes.get_mut((bytes / SIZE_BUCKET) as usize) {
                b.0 = b.0.saturating_add(1);
                b.1 =
                    b.1.saturating_add(u32::try_from(records).unwrap_or(u32::MAX));
                b.2 = b.2.saturating_add(u32::from(back_to_back));
            }
        }
        if small {
            c.small_batches += 1;
            c.small_records += records;
            c.small_bytes += bytes;
            if new_run {
                c.lingered += 1;
            }
        }
        let mut took_sample = false;
        if compression == Compression::NONE {
            c.plain_batches += 1;
            if let Some(b) = plain {
                c.plain_bytes += b.len() as u64;
                if c.sample.is_none() && sampled < MAX_SAMPLED_CLIENTS {
                    c.sample = Some(Box::default());
                    took_sample = true;
                }
                if let Some(s) = c.sample.as_deref_mut() {
                    s.add(b);
                }
            }
        } else {
            c.compressed_batches += 1;
        }
        let f = c
            .produce
            .get_or_insert_with(|| Finding::new(Severity::Info, "produce_small_batches", ""));
        f.frame(e.request.frame);
        f.stream(e.stream);
        f.broker(e.broker);
        f.topic(topic);
        f.at(e.request.ts);
        if took_sample {
            self.sampled += 1;
        }
    }

    fn produce(&mut self, e: &Exchange, key: &str, cx: &Context<'_>) {
        let Some(req) = e.request_body.as_deref() else {
            return;
        };
        if let Some(c) = self.client(key) {
            c.produce_requests += 1;
        }
        let q = req.view().map(ProduceRequest);
        for t in q.and_then(|q| q.topic_data()).into_iter().flatten() {
            let Some(topic) = cx.names.label(t.name(), t.topic_id()) else {
                continue;
            };
            let topic: Arc<str> = Arc::from(topic);
            for p in t.partition_data().into_iter().flatten() {
                let (Some(partition), Some(range)) = (p.index(), p.records()) else {
                    continue;
                };
                let Some(set) = record_set(req, Some(range.clone())) else {
                    continue;
                };
                for b in &set.batches {
                    let Batch::V2(rb) = b else { continue };
                    if rb.attributes.is_control() {
                        continue;
                    }
                    let len = rb.batch_length.max(0) as usize;
                    let bytes = (len + BATCH_LENGTH_OFFSET) as u64;
                    let compression = rb.attributes.compression();
                    // The records' bytes of an uncompressed batch.
                    let start = (range.start as usize)
                        .saturating_add(rb.position)
                        .saturating_add(BATCH_HEADER);
                    let end = (range.start as usize)
                        .saturating_add(rb.position)
                        .saturating_add(BATCH_LENGTH_OFFSET)
                        .saturating_add(len)
                        .min(range.end as usize)
                        .min(req.bytes.len());
                    let plain = (compression == Compression::NONE && start < end)
                        .then(|| &req.bytes[start..end]);
                    self.batch(
                        e,
                        key,
                        &topic,
                        partition,
                        rb.record_count.max(0) as u64,
                        bytes,
                        compression,
                        plain,
                    );
                }
            }
        }
    }

    fn fetch(&mut self, e: &Exchange, key: &str, cx: &Context<'_>) {
        let Some(q) = e
            .request_body
            .as_deref()
            .and_then(Body::view)
            .map(FetchRequest)
        else {
            return;
        };
        // Followers' fetches are the brokers' business.
        let replica = q
            .replica_state()
            .and_then(|s| s.replica_id())
            .or(q.replica_id())
            .unwrap_or(-1);
        if replica >= 0 {
            return;
        }
        let wait = q.max_wait_ms();
        let min_bytes = q.min_bytes();
        let epoch = q.session_epoch();
        let mut partitions = 0u64;
        for t in q.topics().into_iter().flatten() {
            partitions += t.partitions().map_or(0, |p| p.len() as u64);
        }
        let body = e.response_body.as_deref();
        let r = body.and_then(Body::view).map(FetchResponse);
        let answered = matches!(e.status, Status::Ok) && r.is_some();
        // Empty: no record in any partition. The decoded record sets say so
        // without a walk; a body whose records were not decoded is read.
        let empty = answered
            && e.errors.is_empty()
            && match body.filter(|b| !b.records.is_empty()) {
                Some(b) => b
                    .records
                    .iter()
                    .all(|(_, s)| s.batches.is_empty() && s.partial_tail_bytes == 0),
                None => r
                    .and_then(|r| r.responses())
                    .into_iter()
                    .flatten()
                    .all(|t| {
                        t.partitions()
                            .into_iter()
                            .flatten()
                            .all(|p| p.records().is_none_or(|r| r.is_empty()))
                    }),
            };
        let granted = r.and_then(|r| r.session_id()).unwrap_or(0) != 0;
        let Some(c) = self.client(key) else {
            return;
        };
        c.fetches += 1;
        if let Some(w) = wait
            && w < SHORT_WAIT_MS
        {
            c.short_fetches += 1;
            c.short_wait_ms = Some(c.short_wait_ms.map_or(w, |x| x.max(w)));
            c.min_bytes = c.min_bytes.or(min_bytes);
            if empty {
                c.short_empty += 1;
                let f = c
                    .fetch
                    .get_or_insert_with(|| Finding::new(Severity::Info, "fetch_short_wait", ""));
                f.frame(e.request.frame);
                f.stream(e.stream);
                f.broker(e.broker);
                f.at(e.request.ts);
                // Named only for the findings' topics (labels allocate).
                if f.topics.len() < 4 {
                    for t in q.topics().into_iter().flatten().take(4) {
                        if let Some(l) = cx.names.label(t.topic(), t.topic_id()) {
                            f.topic(&l);
                        }
                    }
                }
            }
        }
        if e.api_version >= 7
            && let Some(epoch) = epoch
        {
            match epoch {
                -1 => {
                    c.sessionless += 1;
                    c.sessionless_partitions += partitions;
                }
                0 => {
                    c.asked += 1;
                    if answered && !granted {
                        c.refused += 1;
                    }
                }
                _ => c.incremental += 1,
            }
            if epoch <= 0 {
                let f = c.session.get_or_insert_with(|| {
                    Finding::new(Severity::Info, "fetch_sessions_unused", "")
                });
                f.frame(e.request.frame);
                f.stream(e.stream);
                f.broker(e.broker);
                f.at(e.request.ts);
                // Named only for the findings' topics (labels allocate).
                if f.topics.len() < 4 {
                    for t in q.topics().into_iter().flatten().take(4) {
                        if let Some(l) = cx.names.label(t.topic(), t.topic_id()) {
                            f.topic(&l);
                        }
                    }
                }
            }
        }
    }

    fn metadata(&mut self, e: &Exchange, key: &str) {
        let print = topics_print(e.request_body.as_deref());
        let recovering = !e.errors.is_empty()
            || !matches!(e.status, Status::Ok)
            || self
                .clients
                .get(key)
                .and_then(|c| c.last_error)
                .is_some_and(|t| e.request.ts.micros_since(t) < METADATA_ERROR_GRACE_US);
        let Some(conn) = self.conn(e.stream, e.request.frame) else {
            return;
        };
        if recovering {
            // A refresh for a reason: the next one is judged on its own.
            conn.last_metadata = None;
            return;
        }
        if let Some((prev, prev_print)) = conn.last_metadata {
            conn.metadata_gaps += 1;
            let gap = e.request.ts.micros_since(prev);
            if prev_print == print && (0..METADATA_FAST_GAP_US).contains(&gap) {
                conn.metadata_fast += 1;
                let f = conn.metadata_f.get_or_insert_with(|| {
                    Finding::new(Severity::Info, "metadata_refresh_frequent", "")
                });
                f.frame(e.request.frame);
                f.stream(e.stream);
                f.broker(e.broker);
                // The span covers the fast gaps: from the request before.
                f.at(prev);
                f.at(e.request.ts);
            }
        }
        conn.last_metadata = Some((e.request.ts, print));
    }

    fn offset_commit(&mut self, e: &Exchange, key: &str, cx: &Context<'_>) {
        let Some(q) = e
            .request_body
            .as_deref()
            .and_then(Body::view)
            .map(OffsetCommitRequest)
        else {
            return;
        };
        let group = q.group_id().unwrap_or_default();
        let member = match q.member_id() {
            Some(m) if !m.is_empty() => format!("{group}\0{m}"),
            // v0, or a commit from outside the group (an admin tool): the
            // connection stands for the member.
            _ => format!("{group}\0{key}\0{}", e.stream),
        };
        if !self.members.contains_key(&member) && self.members.len() >= MAX_MEMBERS {
            return;
        }
        let m = self.members.entry(member).or_insert_with(|| Member {
            client: key.to_string(),
            group: group.to_string(),
            commits: 0,
            partitions: 0,
            f: Finding::new(Severity::Info, "offset_commits_frequent", ""),
        });
        m.commits += 1;
        let mut partitions = 0u64;
        for t in q.topics().into_iter().flatten() {
            partitions += t.partitions().map_or(0, |p| p.len() as u64);
            if let Some(l) = cx.names.label(t.name(), t.topic_id()) {
                m.f.topic(&l);
            }
        }
        m.partitions = m.partitions.max(partitions);
        m.f.frame(e.request.frame);
        m.f.stream(e.stream);
        m.f.broker(e.broker);
        m.f.at(e.request.ts);
    }

    /// A connection ended: judge the work it carried.
    fn closed(&mut self, stream: u64, reason: CloseReason) {
        let Some(conn) = self.conns.remove(&stream) else {
            return;
        };
        if matches!(
            reason,
            CloseReason::CaptureEnd | CloseReason::Evicted | CloseReason::Reused
        ) || conn.work == 0
        {
            return;
        }
        let Some(key) = conn.client else { return };
        let Some(c) = self.client(&key) else { return };
        c.work_conns += 1;
        if conn.work <= MAX_WORK_PER_CONNECTION {
            c.short_conns += 1;
            c.short_setup += conn.setup;
            c.short_work += conn.work;
            let f = c
                .conns
                .get_or_insert_with(|| Finding::new(Severity::Info, "connection_per_request", ""));
            f.frame(conn.first_frame);
            f.stream(stream);
            if let Some(b) = conn.broker {
                f.broker(b);
            }
            if let Some(t) = conn.open {
                f.at(t);
            }
        }
    }
}

impl Detector for Efficiency {
    fn exchange(&mut self, e: &Exchange, cx: &Context<'_>) {
        let key = client_key(e);
        if let Some(conn) = self.conn(e.stream, e.request.frame) {
            if conn.client.is_none() {
                conn.client = Some(key.clone());
                conn.broker = Some(e.broker);
            }
            if setup_api(e.api_key) {
                conn.setup += 1;
            } else {
                conn.work += 1;
            }
        }
        match e.api_key {
            ApiKey::API_VERSIONS => self.api_versions(e, &key),
            ApiKey::PRODUCE => self.produce(e, &key, cx),
            ApiKey::FETCH => self.fetch(e, &key, cx),
            ApiKey::METADATA => self.metadata(e, &key),
            ApiKey::OFFSET_COMMIT => self.offset_commit(e, &key, cx),
            _ => {}
        }
        // Errors after the Metadata rule looked (its own answer's errors
        // are handled there).
        if (!e.errors.is_empty() || matches!(e.status, Status::NoResponse(_)))
            && let Some(c) = self.client(&key)
        {
            c.last_error = Some(c.last_error.map_or(e.request.ts, |t| t.max(e.request.ts)));
        }
    }

    fn event(&mut self, ev: &Event, _cx: &Context<'_>) {
        let Some(stream) = ev.stream else { return };
        match &ev.kind {
            EventKind::ConnectionOpen { .. } => {
                if let Some(c) = self.conn(stream, ev.at.frame) {
                    c.open = Some(ev.at.ts);
                    c.first_frame = ev.at.frame;
                }
            }
            EventKind::ConnectionClose { reason, .. } => self.closed(stream, *reason),
            _ => {}
        }
    }

    fn findings(&self, _cx: &Context<'_>, out: &mut Vec<Finding>) {
        let mut clients: Vec<(&String, &Client)> = self.clients.iter().collect();
        clients.sort_by(|a, b| a.0.cmp(b.0));
        let mut found: BTreeMap<&'static str, Vec<Finding>> = BTreeMap::new();
        for (key, c) in &clients {
            for f in client_findings(key, c) {
                found.entry(f.code).or_default().push(f);
            }
        }
        // Metadata, per connection, said once per client (its busiest).
        let mut meta: BTreeMap<&str, Vec<(u64, &Conn)>> = BTreeMap::new();
        for (s, conn) in &self.conns {
            if let Some(k) = conn.client.as_deref()
                && metadata_frequent(conn)
            {
                meta.entry(k).or_default().push((*s, conn));
            }
        }
        for (key, mut conns) in meta {
            conns.sort_by(|a, b| {
                b.1.metadata_fast
                    .cmp(&a.1.metadata_fast)
                    .then(a.0.cmp(&b.0))
            });
            let family = self.clients.get(key).and_then(Client::family);
            if let Some(f) = metadata_finding(key, family, &conns) {
                found.entry(f.code).or_default().push(f);
            }
        }
        let mut members: Vec<&Member> = self.members.values().collect();
        members.sort_by(|a, b| (&a.group, &a.client).cmp(&(&b.group, &b.client)));
        for m in members {
            let family = self.clients.get(&m.client).and_then(Client::family);
            if let Some(f) = commit_finding(m, family) {
                found.entry(f.code).or_default().push(f);
            }
        }
        for (_, mut v) in found {
            v.sort_by(|a, b| b.count.cmp(&a.count).then(a.first.cmp(&b.first)));
            v.truncate(MAX_FINDINGS_PER_KIND);
            out.extend(v);
        }
    }
}

// ------------------------------------------------------------ the rules

fn client_findings(key: &str, c: &Client) -> Vec<Finding> {
    let mut out = Vec::new();
    let family = c.family;
    let small = small_batches(key, c);
    let small_fired = small.is_some();
    out.extend(small);
    out.extend(batch_size_cap(key, c));
    out.extend(uncompressed(key, c, small_fired));
    out.extend(short_wait(key, c));
    out.extend(sessions(key, c));
    out.extend(per_request(key, c));
    for f in &mut out {
        f.client(key);
        if let Some(s) = &c.software {
            f.details.push(format!("client software: {s}"));
        } else if family.is_none() {
            f.details
                .push("client software not seen (no ApiVersions v3+ in the capture)".into());
        }
    }
    out
}

fn small_batches(key: &str, c: &Client) -> Option<Finding> {
    if c.small_batches < MIN_BATCHES
        || c.lingered == 0
        || c.lingered.saturating_mul(MIN_BATCHING_GAIN) > c.small_batches
    {
        return None;
    }
    let mut f = c.produce.clone()?;
    f.code = "produce_small_batches";
    f.count = c.small_batches;
    let per = ratio(c.small_records, c.small_batches);
    let avg_bytes = c.small_bytes / c.small_batches;
    let linger = setting(c.family, "linger.ms", "linger.ms");
    f.title = format!(
        "{key} sends small batches: {} batches of {per:.1} records ({avg_bytes} bytes) on average in {} Produce requests; \
         with {linger} at {DEFAULT_LINGER_MS} ms they would have been about {} batches of {:.1} records",
        c.small_batches,
        c.produce_requests,
        c.lingered,
        ratio(c.small_records, c.lingered),
    );
    f.details.push(format!(
        "{} of {} small batches (under {SMALL_BATCH_BYTES} bytes) left less than {} ms after the first of a run to the same partition on the same connection: a producer lingering {DEFAULT_LINGER_MS} ms would have sent them together",
        c.small_batches - c.lingered,
        c.small_batches,
        LINGER_SIM_WINDOW_US / 1000,
    ));
    f.details.push(format!(
        "advice: set {linger} to {DEFAULT_LINGER_MS} (librdkafka's default, and the Java producer's since Kafka 4.0; it was 0 before) or more: fewer, larger batches are fewer requests for the broker, fewer log appends and better compression, for at most that much more latency per record"
    ));
    Some(f)
}

fn batch_size_cap(key: &str, c: &Client) -> Option<Finding> {
    let cap = c.max_batch;
    if c.batches < MIN_CAPPED_BATCHES || !(SMALL_BATCH_BYTES..=MAX_CAP_ADVISED).contains(&cap) {
        return None;
    }
    let sizes = c.sizes.as_deref()?;
    // Batches within a tenth of the cap (by bucket: their upper bound).
    let floor = cap - cap / 10;
    let (capped, records, pressed) = sizes
        .iter()
        .enumerate()
        .filter(|(i, _)| (*i as u64 + 1) * SIZE_BUCKET > floor)
        .fold((0u64, 0u64, 0u64), |(b, r, p), (_, &(nb, nr, np))| {
            (b + u64::from(nb), r + u64::from(nr), p + u64::from(np))
        });
    // Capped: most batches at the cap, several records each, and most of
    // those sent right after the one before (a backlog, not a producer that
    // happens to write same-sized batches now and then).
    if capped * 100 < c.batches * CAPPED_SHARE_PCT || records < capped * 2 || pressed * 2 < capped {
        return None;
    }
    let mut f = c.produce.clone()?;
    f.code = "produce_batch_size_cap";
    f.count = capped;
    let size = setting(c.family, "batch.size", "batch.size");
    let linger = setting(c.family, "linger.ms", "linger.ms");
    f.title = format!(
        "{key} fills its batches to about {cap} bytes: {capped} of its {} batches ({}%) are within a tenth of that, {:.1} records each; {size} caps them",
        c.batches,
        capped * 100 / c.batches.max(1),
        ratio(records, capped),
    );
    let default = match c.family {
        Some(Family::Librdkafka) => format!(
            "librdkafka's default is {RDKAFKA_BATCH_SIZE} bytes: this producer sets it lower"
        ),
        Some(Family::Java) => format!("{JAVA_BATCH_SIZE} bytes by default"),
        None => format!(
            "{JAVA_BATCH_SIZE} bytes by default in the Java producer, {RDKAFKA_BATCH_SIZE} in librdkafka"
        ),
    };
    f.details.push(format!(
        "a producer with more records waiting than a batch holds sends full batches back to back: {size} ({default}) is the limit it meets"
    ));
    f.details.push(format!(
        "advice: raise {size} (64–256 KiB is common for throughput) together with {linger}: fewer, larger requests for the broker and better compression; memory per partition grows with it (`buffer.memory` / `queue.buffering.max.kbytes`)"
    ));
    Some(f)
}

fn uncompressed(key: &str, c: &Client, small_fired: bool) -> Option<Finding> {
    let s = c.sample.as_deref()?;
    if !s.full() {
        return None;
    }
    let as_sent = s.ratio_as_sent();
    let batched = s.ratio_batched();
    let worth = as_sent >= MIN_RATIO_AS_SENT || (small_fired && batched >= MIN_RATIO_BATCHED);
    if !worth {
        return None;
    }
    let mut f = c.produce.clone()?;
    f.code = "produce_uncompressed";
    f.count = c.plain_batches;
    let comp = setting(c.family, "compression.type", "compression.type");
    f.title = format!(
        "{key} sends its records uncompressed ({} batches, {} bytes of records): lz4 shrinks a {} KiB sample of them {as_sent:.1}× batch by batch as sent, {batched:.1}× in {} KiB batches; set {comp} to lz4 (or zstd)",
        c.plain_batches,
        c.plain_bytes,
        SAMPLE_BYTES / 1024,
        SAMPLE_CHUNK / 1024,
    );
    if c.compressed_batches > 0 {
        f.details.push(format!(
            "{} of its batches were compressed: the uncompressed ones may come from another producer instance with the same client id",
            c.compressed_batches
        ));
    }
    if as_sent < MIN_RATIO_AS_SENT {
        let linger = setting(c.family, "linger.ms", "linger.ms");
        f.details.push(format!(
            "compression works per batch: its batches are too small to gain much on their own; with {linger} raised (see produce_small_batches) they grow and compress"
        ));
    }
    f.details.push(
        "advice: compressed batches cross the network, sit in the broker's log and page cache and reach every consumer compressed; the broker keeps the producer's compression unless the topic's compression.type says otherwise".into(),
    );
    Some(f)
}

fn short_wait(key: &str, c: &Client) -> Option<Finding> {
    if c.short_empty < MIN_EMPTY_FETCHES {
        return None;
    }
    let mut f = c.fetch.clone()?;
    let wait = c.short_wait_ms.unwrap_or(0);
    let span = match (f.first, f.last) {
        (Some(a), Some(z)) => z.micros_since(a),
        _ => 0,
    };
    let rate = if span > 0 {
        format!(
            " ({:.0} a second)",
            c.short_empty as f64 * 1e6 / span as f64
        )
    } else {
        String::new()
    };
    f.count = c.short_empty;
    let setting_wait = setting(c.family, "fetch.max.wait.ms", "fetch.wait.max.ms");
    f.title = format!(
        "{key} fetches with maxWaitMs {wait} ({DEFAULT_FETCH_WAIT_MS} by default): {} of its {} Fetch requests came back empty over {}{rate}; set {setting_wait} to {DEFAULT_FETCH_WAIT_MS}",
        c.short_empty,
        c.short_fetches,
        duration(span),
    );
    let min_bytes = c.min_bytes.unwrap_or(1);
    let mb = setting(c.family, "fetch.min.bytes", "fetch.min.bytes");
    f.details.push(if min_bytes <= 1 {
        format!(
            "minBytes {min_bytes}, the default of {mb}: the broker answers as soon as any record arrives, so a longer wait adds no latency while records flow; it only spares the empty round trips when they do not"
        )
    } else {
        format!(
            "minBytes {min_bytes}, set by {mb}: the broker answers when that much is ready or the wait expires"
        )
    });
    Some(f)
}

fn sessions(key: &str, c: &Client) -> Option<Finding> {
    let total = c.sessionless + c.asked + c.incremental;
    if total < MIN_SESSION_FETCHES || c.incremental > 0 {
        return None;
    }
    let mut f = c.session.clone()?;
    if c.asked >= MIN_SESSION_FETCHES && c.refused == c.asked {
        f.count = c.refused;
        f.title = format!(
            "{key} asked for a fetch session (KIP-227) in {} Fetch requests and the broker never granted one (session id 0): every fetch lists all its partitions again",
            c.asked
        );
        f.details.push(
            "advice: the broker's session cache is full or disabled: raise the brokers' max.incremental.fetch.session.cache.slots (1000 by default), or find the clients that fill it".into(),
        );
        return Some(f);
    }
    if c.sessionless >= MIN_SESSION_FETCHES
        && c.asked == 0
        && c.sessionless_partitions >= SESSION_MIN_PARTITIONS * c.sessionless
    {
        let per = c.sessionless_partitions / c.sessionless;
        f.count = c.sessionless;
        f.title = format!(
            "{key} never uses fetch sessions (KIP-227): its {} Fetch requests list all {per} partitions each time (session epoch -1)",
            c.sessionless
        );
        f.details.push(match c.family {
            Some(Family::Librdkafka) => "librdkafka does not implement fetch sessions: fewer partitions per consumer instance keep full fetches small".to_string(),
            _ => "advice: an incremental fetch session sends only the partitions that changed; clients that implement it (the Java consumer does by default) save the broker and the network the rest".to_string(),
        });
        return Some(f);
    }
    None
}

fn per_request(key: &str, c: &Client) -> Option<Finding> {
    if c.short_conns < MIN_SHORT_CONNECTIONS
        || c.short_conns * 100 < c.work_conns * SHORT_CONNECTION_SHARE_PCT
    {
        return None;
    }
    let mut f = c.conns.clone()?;
    f.count = c.short_conns;
    f.title = format!(
        "{key} opened a connection for almost every request: {} of its {} connections that did any work closed after at most {MAX_WORK_PER_CONNECTION} requests ({} requests in all, beside {} of setup: ApiVersions, SASL, Metadata)",
        c.short_conns, c.work_conns, c.short_work, c.short_setup
    );
    f.details.push(
        "advice: create the producer, consumer or admin client once and reuse it for the application's life: each new one pays a TCP (and TLS) handshake, ApiVersions, authentication and a Metadata round trip before its first request, and the broker pays them too".into(),
    );
    Some(f)
}

fn metadata_frequent(conn: &Conn) -> bool {
    let Some(f) = &conn.metadata_f else {
        return false;
    };
    let span = match (f.first, f.last) {
        (Some(a), Some(z)) => z.micros_since(a),
        _ => 0,
    };
    conn.metadata_fast >= MIN_METADATA_REPEATS
        && conn.metadata_fast * 2 > conn.metadata_gaps
        && span >= MIN_METADATA_SPAN_US
}

fn metadata_finding(key: &str, family: Option<Family>, conns: &[(u64, &Conn)]) -> Option<Finding> {
    let (_, top) = conns.first()?;
    let mut f = top.metadata_f.clone()?;
    for (_, c) in &conns[1..] {
        if let Some(g) = &c.metadata_f {
            for s in &g.streams {
                f.stream(*s);
            }
            for b in &g.brokers {
                f.broker(*b);
            }
        }
    }
    let span = match (f.first, f.last) {
        (Some(a), Some(z)) => z.micros_since(a),
        _ => 0,
    };
    let every = span / top.metadata_fast.max(1) as i64;
    f.count = top.metadata_fast;
    f.client(key);
    let s = setting(
        family,
        "metadata.max.age.ms",
        "topic.metadata.refresh.interval.ms",
    );
    f.title = format!(
        "{key} refreshes the same metadata every {} on one connection ({} Metadata requests over {}), where the default {s} of {} min would make it one every {} min",
        duration(every),
        top.metadata_fast + 1,
        duration(span),
        DEFAULT_METADATA_REFRESH_MS / 60_000,
        DEFAULT_METADATA_REFRESH_MS / 60_000,
    );
    if conns.len() > 1 {
        f.details
            .push(format!("{} connections of the client do so", conns.len()));
    }
    f.details.push(format!(
        "advice: leave {s} at its default; the client refreshes by itself when a leader moves or a topic is missing (refreshes within {} s of an error are not counted here)",
        METADATA_ERROR_GRACE_US / 1_000_000
    ));
    Some(f)
}

fn commit_finding(m: &Member, family: Option<Family>) -> Option<Finding> {
    if m.commits < MIN_COMMITS {
        return None;
    }
    let span = match (m.f.first, m.f.last) {
        (Some(a), Some(z)) => z.micros_since(a),
        _ => return None,
    };
    let every = span / (m.commits - 1) as i64;
    if every * COMMIT_RATE_FACTOR > DEFAULT_AUTO_COMMIT_INTERVAL_MS * 1000 {
        return None;
    }
    let mut f = m.f.clone();
    f.count = m.commits;
    f.client(&m.client);
    f.group(&m.group);
    let s = setting(family, "auto.commit.interval.ms", "auto.commit.interval.ms");
    f.title = format!(
        "{} commits offsets of group {} every {} ({} OffsetCommit requests over {}), {}× as often as auto-commit's default of every {} s",
        m.client,
        m.group,
        duration(every),
        m.commits,
        duration(span),
        (DEFAULT_AUTO_COMMIT_INTERVAL_MS * 1000) / every.max(1),
        DEFAULT_AUTO_COMMIT_INTERVAL_MS / 1000,
    );
    f.details.push(format!(
        "advice: each commit is a write to __consumer_offsets replicated like any record; with auto-commit leave {s} at {DEFAULT_AUTO_COMMIT_INTERVAL_MS}, and an application committing itself after every message or poll can commit every N records or seconds (asynchronously), keeping at-least-once"
    ));
    Some(f)
}

#[cfg(test)]
mod tests {
    use super::super::requests::tests::{close, ex, ts};
    use super::*;

    const PRODUCE: i16 = ApiKey::PRODUCE.0;
    const METADATA: i16 = ApiKey::METADATA.0;
    const API_VERSIONS: i16 = ApiKey::API_VERSIONS.0;

    /// Feed `n` one-record batches `gap_us` apart to (stream 1, t-0).
    fn produce_run(d: &mut Efficiency, n: u64, gap_us: i64, bytes: u64, plain: Option<&[u8]>) {
        let topic: Arc<str> = Arc::from("t");
        for i in 0..n {
            let mut e = ex(1, PRODUCE, 10, "p", 9092, 0, Some(1));
            let t = ts(0);
            let us = i as i64 * gap_us;
            e.request.ts = Timestamp::new(t.secs + us / 1_000_000, (us % 1_000_000) as u32 * 1000);
            e.request.frame = i + 1;
            d.batch(&e, "p", &topic, 0, 1, bytes, Compression::NONE, plain);
        }
    }

    fn findings(d: &Efficiency) -> Vec<Finding> {
        let names = crate::analysis::TopicNames::new();
        let cx = Context { names: &names };
        let mut out = Vec::new();
        d.findings(&cx, &mut out);
        out
    }

    fn codes(f: &[Finding]) -> Vec<&'static str> {
        f.iter().map(|f| f.code).collect()
    }

    #[test]
    fn batches_filled_to_a_cap_get_batch_size_advice() {
        let topic: Arc<str> = Arc::from("t");
        let mk = |records: u64, bytes: u64, n: u64| {
            let mut d = Efficiency::default();
            for i in 0..n {
                // One batch a millisecond: back to back.
                let mut e = ex(1, PRODUCE, 10, "p", 9092, i as i64, Some(i as i64 + 1));
                e.request.frame = i + 1;
                let b = bytes - (i % 3) * 50;
                d.batch(&e, "p", &topic, 0, records, b, Compression::LZ4, None);
            }
            findings(&d)
        };
        let f = mk(50, 16_300, 30);
        assert_eq!(codes(&f), ["produce_batch_size_cap"]);
        assert!(
            f[0].title.starts_with(
                "p fills its batches to about 16300 bytes: 30 of its 30 batches (100%)"
            ),
            "{}",
            f[0].title
        );
        // One record per batch: the records are that large, no cap is met.
        assert!(mk(1, 16_300, 30).is_empty());
        assert!(mk(50, 16_300, MIN_CAPPED_BATCHES - 1).is_empty());
        // Batches past what is worth raising, or small ones.
        assert!(mk(50, MAX_CAP_ADVISED + 1000, 30).is_empty());
        assert!(mk(50, SMALL_BATCH_BYTES - 200, 30).is_empty());
    }

    #[test]
    fn back_to_back_small_batches_get_linger_advice() {
        let mut d = Efficiency::default();
        produce_run(&mut d, MIN_BATCHES, 1_000, 100, None);
        let f = findings(&d);
        assert_eq!(codes(&f), ["produce_small_batches"]);
        // 1 ms apart, runs of 4 ms: 4 batches per run.
        assert_eq!(f[0].count, MIN_BATCHES);
        assert!(
            f[0].title.contains("about 25 batches of 4.0 records"),
            "{}",
            f[0].title
        );
        assert!(f[0].title.contains("`linger.ms` (librdkafka and Java)"));
    }

    #[test]
    fn a_producer_lingering_five_ms_or_sending_rarely_gets_none() {
        // Batches 5 ms apart: a producer with the default linger.
        let mut d = Efficiency::default();
        produce_run(&mut d, 1000, 5_000, 100, None);
        assert!(findings(&d).is_empty());
        // Jitter below the window does not make half of them merge.
        let mut d = Efficiency::default();
        produce_run(&mut d, 1000, 4_900, 100, None);
        assert!(findings(&d).is_empty());
        // Too few batches.
        let mut d = Efficiency::default();
        produce_run(&mut d, MIN_BATCHES - 1, 100, 100, None);
        assert!(findings(&d).is_empty());
        // Large batches sent back to back: batch.size, not linger.
        let mut d = Efficiency::default();
        produce_run(&mut d, 1000, 100, SMALL_BATCH_BYTES, None);
        assert!(findings(&d).is_empty());
        // Exactly the gain threshold: every other batch merges (2 ms
        // apart, 4 ms window → runs of 2).
        let mut d = Efficiency::default();
        produce_run(&mut d, MIN_BATCHES, 2_000, 100, None);
        assert_eq!(codes(&findings(&d)), ["produce_small_batches"]);
    }

    fn json_like(n: usize) -> Vec<u8> {
        let mut v = Vec::new();
        let mut i = 0u32;
        while v.len() < n {
            v.extend_from_slice(
                format!("{{\"order_id\":{i},\"status\":\"PENDING\",\"currency\":\"EUR\"}}")
                    .as_bytes(),
            );
            i = i.wrapping_mul(2_654_435_761).wrapping_add(12_345);
        }
        v.truncate(n);
        v
    }

    fn noise(n: usize) -> Vec<u8> {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    #[test]
    fn compressible_uncompressed_records_get_compression_advice() {
        // Large batches (4 KiB each) of JSON: compressible as sent.
        let mut d = Efficiency::default();
        let b = json_like(4096);
        produce_run(&mut d, 20, 1_000_000, 5000, Some(&b));
        let f = findings(&d);
        assert_eq!(codes(&f), ["produce_uncompressed"], "{f:?}");
        assert!(
            f[0].title
                .contains("set `compression.type` (librdkafka and Java) to lz4")
        );
        // Random bytes: nothing to gain.
        let mut d = Efficiency::default();
        let b = noise(4096);
        produce_run(&mut d, 20, 1_000_000, 5000, Some(&b));
        assert!(findings(&d).is_empty());
        // Not enough sampled to judge.
        let mut d = Efficiency::default();
        let b = json_like(4096);
        produce_run(&mut d, 15, 1_000_000, 5000, Some(&b));
        assert!(findings(&d).is_empty());
    }

    #[test]
    fn tiny_batches_get_compression_advice_only_with_batching_advice() {
        // 60-byte records one per batch, sent rarely: compression as sent
        // gains little and linger would not help: nothing.
        let b = json_like(60);
        let mut d = Efficiency::default();
        produce_run(&mut d, 1200, 1_000_000, 130, Some(&b));
        assert!(findings(&d).is_empty(), "{:?}", codes(&findings(&d)));
        // The same sent back to back: both pieces of advice.
        let mut d = Efficiency::default();
        let many = json_like(80_000);
        for i in 0..1200 {
            let topic: Arc<str> = Arc::from("t");
            let mut e = ex(1, PRODUCE, 10, "p", 9092, i, Some(i + 1));
            e.request.frame = i as u64 + 1;
            let part = &many[(i as usize * 60)..(i as usize * 60 + 60)];
            d.batch(&e, "p", &topic, 0, 1, 130, Compression::NONE, Some(part));
        }
        let f = findings(&d);
        assert_eq!(codes(&f), ["produce_small_batches", "produce_uncompressed"]);
    }

    #[test]
    fn compressed_batches_are_not_sampled() {
        let mut d = Efficiency::default();
        let topic: Arc<str> = Arc::from("t");
        let b = json_like(4096);
        for i in 0..40 {
            let e = ex(1, PRODUCE, 10, "p", 9092, i * 1000, Some(i * 1000 + 1));
            d.batch(&e, "p", &topic, 0, 10, 5000, Compression(3), Some(&b));
        }
        assert!(findings(&d).is_empty());
        assert!(d.clients["p"].sample.is_none());
    }

    /// A client `c` fetching with `wait` ms and, when `empty`, no records.
    fn fetch_facts(d: &mut Efficiency, n: u64, wait: i32, empty: bool) {
        let c = d.client("c").unwrap();
        for i in 0..n {
            c.fetches += 1;
            if wait < SHORT_WAIT_MS {
                c.short_fetches += 1;
                c.short_wait_ms = Some(wait);
                if empty {
                    c.short_empty += 1;
                    let f = c.fetch.get_or_insert_with(|| {
                        Finding::new(Severity::Info, "fetch_short_wait", "")
                    });
                    f.at(ts(i as i64 * 10));
                }
            }
        }
    }

    #[test]
    fn short_fetch_waits_with_empty_answers_get_advice() {
        let mut d = Efficiency::default();
        fetch_facts(&mut d, MIN_EMPTY_FETCHES, 10, true);
        let f = findings(&d);
        assert_eq!(codes(&f), ["fetch_short_wait"]);
        assert!(
            f[0].title.contains(
                "set `fetch.wait.max.ms` (librdkafka) / `fetch.max.wait.ms` (Java) to 500"
            ),
            "{}",
            f[0].title
        );
        let mut d = Efficiency::default();
        fetch_facts(&mut d, MIN_EMPTY_FETCHES - 1, 10, true);
        assert!(findings(&d).is_empty());
        // Short waits always answered with records: nothing wasted.
        let mut d = Efficiency::default();
        fetch_facts(&mut d, 1000, 10, false);
        assert!(findings(&d).is_empty());
        // librdkafka 1.x's default of 100 ms is not short.
        let mut d = Efficiency::default();
        fetch_facts(&mut d, 1000, SHORT_WAIT_MS, true);
        assert!(findings(&d).is_empty());
    }

    #[test]
    fn fetch_request_bodies_are_read() {
        use super::super::requests::tests::{body, encode};
        use crate::kafka::schema::MessageKind;
        use kafka_protocol::messages as kp;
        let mut d = Efficiency::default();
        let q = encode(
            &kp::FetchRequest::default()
                .with_replica_id(kp::BrokerId(-1))
                .with_max_wait_ms(10)
                .with_min_bytes(1)
                .with_session_id(0)
                .with_session_epoch(-1),
            12,
        );
        let r = encode(&kp::FetchResponse::default(), 12);
        let names = crate::analysis::TopicNames::new();
        let cx = Context { names: &names };
        for i in 0..MIN_EMPTY_FETCHES as i64 {
            let mut e = ex(1, ApiKey::FETCH.0, 12, "c", 9092, i * 10, Some(i * 10 + 10));
            e.request_body = body(ApiKey::FETCH, 12, MessageKind::Request, &q);
            e.response_body = body(ApiKey::FETCH, 12, MessageKind::Response, &r);
            d.exchange(&e, &cx);
        }
        let c = &d.clients["c"];
        assert_eq!((c.fetches, c.short_empty, c.sessionless), (50, 50, 50));
        // No partitions listed: not worth a word about sessions.
        assert_eq!(codes(&findings(&d)), ["fetch_short_wait"]);
        // A follower's fetch is ignored.
        let q = encode(
            &kp::FetchRequest::default()
                .with_replica_id(kp::BrokerId(2))
                .with_max_wait_ms(10),
            12,
        );
        let mut e = ex(2, ApiKey::FETCH.0, 12, "broker-2", 9092, 0, Some(10));
        e.request_body = body(ApiKey::FETCH, 12, MessageKind::Request, &q);
        d.exchange(&e, &cx);
        assert!(d.clients.get("broker-2").is_none_or(|c| c.fetches == 0));
    }

    #[test]
    fn refused_fetch_sessions_and_many_partitions_without_them() {
        let mut d = Efficiency::default();
        let c = d.client("c").unwrap();
        c.asked = MIN_SESSION_FETCHES;
        c.refused = MIN_SESSION_FETCHES;
        c.session = Some(Finding::new(Severity::Info, "fetch_sessions_unused", ""));
        assert!(findings(&d)[0].title.contains("never granted one"));
        // One granted: sessions work.
        d.clients.get_mut("c").unwrap().refused -= 1;
        assert!(findings(&d).is_empty());
        let mut d = Efficiency::default();
        let c = d.client("c").unwrap();
        c.sessionless = MIN_SESSION_FETCHES;
        c.sessionless_partitions = MIN_SESSION_FETCHES * SESSION_MIN_PARTITIONS;
        c.session = Some(Finding::new(Severity::Info, "fetch_sessions_unused", ""));
        assert!(findings(&d)[0].title.contains("list all 100 partitions"));
        d.clients.get_mut("c").unwrap().sessionless_partitions -= 1;
        assert!(findings(&d).is_empty());
    }

    fn metadata(d: &mut Efficiency, stream: u64, at_ms: i64) {
        let names = crate::analysis::TopicNames::new();
        let cx = Context { names: &names };
        let e = ex(stream, METADATA, 12, "m", 9092, at_ms, Some(at_ms + 1));
        d.exchange(&e, &cx);
    }

    #[test]
    fn frequent_identical_metadata_refreshes() {
        // Every 5 s for a minute and more: 13 repeats over 60 s.
        let mut d = Efficiency::default();
        for i in 0..=13 {
            metadata(&mut d, 1, i * 5_000);
        }
        let f = findings(&d);
        assert_eq!(codes(&f), ["metadata_refresh_frequent"]);
        assert!(f[0].title.contains("every 5.0 s"), "{}", f[0].title);
        // Every 30 s: a tenth of the default is not "frequent".
        let mut d = Efficiency::default();
        for i in 0..=20 {
            metadata(&mut d, 1, i * 30_000);
        }
        assert!(findings(&d).is_empty());
        // A burst at start-up (under a minute): nothing.
        let mut d = Efficiency::default();
        for i in 0..=30 {
            metadata(&mut d, 1, i * 100);
        }
        assert!(findings(&d).is_empty());
        // Spread over connections (instances sharing a client id): each
        // refreshes every 50 s, together every 5 s: nothing.
        let mut d = Efficiency::default();
        for i in 0..=120 {
            metadata(&mut d, 1 + (i % 10) as u64, i * 5_000);
        }
        assert!(findings(&d).is_empty());
    }

    #[test]
    fn metadata_refreshes_after_errors_are_recovery() {
        let names = crate::analysis::TopicNames::new();
        let cx = Context { names: &names };
        let mut d = Efficiency::default();
        for i in 0..=12 {
            // Each refresh follows a Produce that got an error.
            let mut p = ex(
                2,
                PRODUCE,
                10,
                "m",
                9092,
                i * 5_000 - 10,
                Some(i * 5_000 - 5),
            );
            p.errors.push(crate::session::ErrorRef {
                code: 6,
                name: "NOT_LEADER_OR_FOLLOWER",
                path: String::new(),
            });
            d.exchange(&p, &cx);
            metadata(&mut d, 1, i * 5_000);
        }
        assert!(findings(&d).is_empty());
    }

    #[test]
    fn frequent_commits() {
        let mk = |commits: u64, every_ms: i64| {
            let mut m = Member {
                client: "c".into(),
                group: "g".into(),
                commits,
                partitions: 1,
                f: Finding::new(Severity::Info, "offset_commits_frequent", ""),
            };
            m.f.at(ts(0));
            m.f.at(ts(every_ms * (commits as i64 - 1)));
            commit_finding(&m, Some(Family::Java))
        };
        let f = mk(MIN_COMMITS, 100).unwrap();
        assert!(f.title.contains("every 100 ms"), "{}", f.title);
        assert!(f.details[0].contains("`auto.commit.interval.ms` (Java)"));
        // Every 500 ms: ten times the default rate, the edge.
        assert!(mk(MIN_COMMITS, 500).is_some());
        assert!(mk(MIN_COMMITS, 501).is_none());
        assert!(mk(MIN_COMMITS - 1, 100).is_none());
    }

    #[test]
    fn a_connection_per_request() {
        let names = crate::analysis::TopicNames::new();
        let cx = Context { names: &names };
        let mut d = Efficiency::default();
        // Ten connections: ApiVersions, Produce, closed.
        for s in 0..MIN_SHORT_CONNECTIONS {
            let at = s as i64 * 1000;
            d.exchange(&ex(s, API_VERSIONS, 3, "p", 9092, at, Some(at + 1)), &cx);
            d.exchange(&ex(s, PRODUCE, 10, "p", 9092, at + 2, Some(at + 3)), &cx);
            d.event(&close(s, at + 4, CloseReason::Fin), &cx);
        }
        let f = findings(&d);
        assert_eq!(codes(&f), ["connection_per_request"]);
        assert_eq!(f[0].count, MIN_SHORT_CONNECTIONS);
        // Connections that did real work: 10 of 11 and 10 of 12 are still
        // at least 80 %, 10 of 13 is not.
        for s in 100..103 {
            for i in 0..5 {
                d.exchange(&ex(s, PRODUCE, 10, "p", 9092, i, Some(i + 1)), &cx);
            }
            d.event(&close(s, 10, CloseReason::Fin), &cx);
            let found = !findings(&d).is_empty();
            assert_eq!(found, s < 102, "{s}");
        }
        // Connections still open at capture end do not count.
        let mut d = Efficiency::default();
        for s in 0..MIN_SHORT_CONNECTIONS {
            d.exchange(&ex(s, PRODUCE, 10, "p", 9092, 0, Some(1)), &cx);
            d.event(&close(s, 4, CloseReason::CaptureEnd), &cx);
        }
        assert!(findings(&d).is_empty());
    }

    #[test]
    fn families_and_settings() {
        assert_eq!(family_of("apache-kafka-java", "3.7.0"), Some(Family::Java));
        assert_eq!(
            family_of("confluent-kafka-python", "2.16.1-rdkafka-2.16.0"),
            Some(Family::Librdkafka)
        );
        assert_eq!(family_of("librdkafka", "2.3.0"), Some(Family::Librdkafka));
        assert_eq!(family_of("sarama", "1.43"), None);
        assert_eq!(
            setting(None, "fetch.max.wait.ms", "fetch.wait.max.ms"),
            "`fetch.wait.max.ms` (librdkafka) / `fetch.max.wait.ms` (Java)"
        );
        assert_eq!(
            setting(Some(Family::Java), "fetch.max.wait.ms", "fetch.wait.max.ms"),
            "`fetch.max.wait.ms` (Java)"
        );
    }

    #[test]
    fn the_sample_is_bounded() {
        let mut s = Sample::default();
        let b = json_like(100_000);
        s.add(&b);
        s.add(&b);
        assert!(s.full());
        assert_eq!(s.taken, SAMPLE_BYTES);
        assert_eq!(s.chunked_in, SAMPLE_BYTES as u64);
        assert_eq!(s.chunk.capacity(), 0);
        assert!(s.ratio_batched() > 2.0);
    }
}
