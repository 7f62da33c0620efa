//! Topic names for topic ids, learnt as the capture goes. Produce v13+,
//! Fetch v13+ and other newer messages name topics by UUID (`topicId`);
//! Metadata, CreateTopics and DescribeTopicPartitions responses, and any
//! response with a struct carrying both a `topicId` and a name (`name`,
//! `topic` or `topicName`), tell which name an id stands for.
//!
//! The analysis ([`super::Analyzer`]) learns from each exchange's response
//! as the exchange is emitted, then attaches to each of its bodies the names
//! it knows for the ids the body carries without a name beside them
//! ([`super::Body::topic_names`]). Whatever renders a record (the listing's
//! summary, the NDJSON `topicName`, on any thread) reads the names from the
//! record itself, so the output says what was known at that point of the
//! capture, and is the same however the rendering is split across threads.
//!
//! Contract: no panic on any body (the walker reads, a visitor collects);
//! at most [`MAX_TOPIC_IDS`] ids remembered, with names of at most
//! [`MAX_TOPIC_NAME`] bytes; at most [`MAX_NAMED_PER_BODY`] attached to a
//! body.

use foldhash::{HashMap, HashMapExt};
use std::sync::Arc;

use crate::kafka::schema::walk::{self, Scalar, Visit};
use crate::kafka::schema::{FieldSpec, MessageSpec, Step, Ty};

use super::record::{Body, Exchange, TopicIdName, TopicIdNames};

/// Most topic ids remembered.
pub const MAX_TOPIC_IDS: usize = 100_000;

/// Longest topic name Kafka allows: a longer "name" is not one, and is
/// not worth remembering.
pub const MAX_TOPIC_NAME: usize = 249;

/// Most named ids attached to one body.
pub const MAX_NAMED_PER_BODY: usize = 10_000;

/// The fields that name the topic of the struct they are in.
const NAME_FIELDS: [&str; 3] = ["name", "topic", "topicName"];

const ZERO: [u8; 16] = [0; 16];

/// The capture-wide map of topic ids to names.
#[derive(Debug, Default)]
pub struct TopicIds {
    names: HashMap<[u8; 16], Arc<str>>,
}

impl TopicIds {
    pub fn new() -> Self {
        TopicIds {
            names: HashMap::new(),
        }
    }

    /// The name of topic `id`, when learnt.
    pub fn name(&self, id: &[u8; 16]) -> Option<&Arc<str>> {
        self.names.get(id)
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Learn the names `e`'s response gives, then attach to both bodies
    /// the names of the ids they carry without one (what the decode's walk
    /// found: `Body::topic_ids`, taken here).
    pub fn observe(&mut self, e: &mut Exchange) {
        let resp = e
            .response_body
            .as_deref_mut()
            .and_then(|b| b.topic_ids.take());
        if let (Some(found), Some(b)) = (&resp, e.response_body.as_deref()) {
            for (id, (start, end)) in &found.named {
                if let Some(name) = b
                    .bytes
                    .get(*start as usize..*end as usize)
                    .and_then(|n| std::str::from_utf8(n).ok())
                {
                    self.learn(id, name);
                }
            }
        }
        let req = e
            .request_body
            .as_deref_mut()
            .and_then(|b| b.topic_ids.take());
        if let (Some(b), Some(found)) = (e.request_body.as_deref_mut(), req) {
            b.topic_names = self.attach(&found.unnamed);
        }
        if let (Some(b), Some(found)) = (e.response_body.as_deref_mut(), resp) {
            b.topic_names = self.attach(&found.unnamed);
        }
    }

    fn learn(&mut self, id: &[u8; 16], name: &str) {
        if *id == ZERO || name.is_empty() || name.len() > MAX_TOPIC_NAME {
            return;
        }
        if self.names.len() >= MAX_TOPIC_IDS && !self.names.contains_key(id) {
            return;
        }
        if self.names.get(id).is_none_or(|n| &**n != name) {
            self.names.insert(*id, Arc::from(name));
        }
    }

    fn attach(&self, unnamed: &[(u32, [u8; 16])]) -> TopicIdNames {
        let v: Vec<TopicIdName> = unnamed
            .iter()
            .filter_map(|(at, id)| {
                let name = self.names.get(id)?;
                Some(TopicIdName {
                    at: *at,
                    id: *id,
                    name: Arc::clone(name),
                })
            })
            .take(MAX_NAMED_PER_BODY)
            .collect();
        TopicIdNames::new(v)
    }
}

/// Attach to `e`'s bodies the names `name_of` gives for the ids they carry
/// without one: for a view that knows more than the analysis did when the
/// exchange went by (the TUI, once the capture named a topic a Fetch
/// before it used by id).
pub fn attach_known(e: &mut Exchange, name_of: impl Fn(&[u8; 16]) -> Option<Arc<str>>) {
    for b in [&mut e.request_body, &mut e.response_body]
        .into_iter()
        .flatten()
    {
        attach_known_body(b, &name_of);
    }
}

/// [`attach_known`] for one body (the TUI's detail decodes its own).
pub fn attach_known_body(b: &mut Body, name_of: impl Fn(&[u8; 16]) -> Option<Arc<str>>) {
    let Some(found) = walk_body(b) else {
        return;
    };
    let v: Vec<TopicIdName> = found
        .unnamed
        .iter()
        .filter_map(|(at, id)| {
            Some(TopicIdName {
                at: *at,
                id: *id,
                name: name_of(id)?,
            })
        })
        .take(MAX_NAMED_PER_BODY)
        .collect();
    b.topic_names = TopicIdNames::new(v);
}

/// The topic ids of a body, named or not.
fn walk_body(b: &Body) -> Option<Found> {
    let spec = b.message?;
    if b.error_code_only {
        return None;
    }
    let mut v = Collect::new(&b.bytes);
    let walked = walk::walk_message(spec, b.version, &b.bytes, 0, &mut v);
    Some(v.finish(walked.error.is_none()))
}

/// Whether `spec` at `version` holds a `topicId` at any depth (what a
/// body's walk collects topic ids for); cached per message and version.
pub(super) fn carries(spec: &'static MessageSpec, version: i16) -> bool {
    thread_local! {
        static CARRIES: std::cell::RefCell<HashMap<(&'static str, i16), bool>> =
            std::cell::RefCell::new(HashMap::new());
    }
    CARRIES.with(|c| {
        *c.borrow_mut()
            .entry((spec.name, version))
            .or_insert_with(|| {
                let v = version.min(spec.versions.hi);
                spec.segment(v)
                    .is_some_and(|s| has_topic_id(s.fields(), v, 0))
            })
    })
}

/// Whether `fields` (in `version`) hold a `topicId`, at any depth.
fn has_topic_id(fields: &'static [FieldSpec], version: i16, depth: u32) -> bool {
    if depth > crate::kafka::schema::MAX_DEPTH {
        return false;
    }
    fields.iter().any(|f| {
        f.versions.contains(version)
            && (is_topic_id(f)
                || (f.ty == Ty::Struct && has_topic_id(f.fields(), version, depth + 1)))
    })
}

fn is_topic_id(f: &FieldSpec) -> bool {
    f.ty == Ty::Uuid && !f.array && f.name == "topicId"
}

fn is_name(f: &FieldSpec) -> bool {
    f.ty == Ty::Str && !f.array && NAME_FIELDS.contains(&f.name)
}

/// The ids of a body.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Found {
    /// Ids with a name beside them.
    /// (Where the name lies in the body: its bytes' range.)
    named: Vec<([u8; 16], (u32, u32))>,
    /// Ids without one, with where their field starts.
    unnamed: Vec<(u32, [u8; 16])>,
}

impl Found {
    /// A struct is complete (`paired`: its name, if any, goes with its ids).
    fn close(&mut self, f: Frame, paired: bool) {
        match (&f.name, paired) {
            (Some(n), true) => {
                for (_, id) in f.ids {
                    self.named.push((id, *n));
                }
            }
            // A `topicName` field, even null, leaves no room for another.
            _ if f.topic_name_field => {}
            _ => self.unnamed.extend(f.ids),
        }
    }
}

/// A struct being read.
#[derive(Default)]
struct Frame {
    ids: Vec<(u32, [u8; 16])>,
    /// Where the name's bytes lie in the body.
    name: Option<(u32, u32)>,
    topic_name_field: bool,
}

/// Collects a body's topic ids during a walk (alone, or beside the
/// session's own collection: [`walk::Both`]).
pub(super) struct Collect {
    /// The address of the body's first byte (names are kept as ranges).
    base: usize,
    /// The fields open, with where they start.
    opened: Vec<(&'static FieldSpec, u32)>,
    frames: Vec<Frame>,
    found: Found,
}

impl Collect {
    /// For a walk of `body`.
    pub(super) fn new(body: &[u8]) -> Self {
        Collect {
            base: body.as_ptr() as usize,
            opened: Vec::new(),
            frames: vec![Frame::default()],
            found: Found::default(),
        }
    }

    /// What was found, once the walk is over (`whole`: it read the whole
    /// body). Structs cut by an error are closed too (the walker ends
    /// them): a name and an id both read go together. The root's ids pair
    /// with its name only when the whole body was read.
    pub(super) fn finish(mut self, whole: bool) -> Found {
        while let Some(f) = self.frames.pop() {
            self.found.close(f, whole);
        }
        self.found
    }
}

impl Visit<'_> for Collect {
    const EVERY_FIELD: bool = false;

    fn interesting(f: &FieldSpec) -> bool {
        is_topic_id(f) || is_name(f)
    }

    fn open(&mut self, step: Step, f: &'static FieldSpec, at: usize) {
        if matches!(step, Step::Field("topicName"))
            && let Some(fr) = self.frames.last_mut()
        {
            fr.topic_name_field = true;
        }
        self.opened.push((f, u32::try_from(at).unwrap_or(u32::MAX)));
    }

    fn close(&mut self, _: usize) {
        self.opened.pop();
    }

    fn abort(&mut self) {
        self.opened.pop();
    }

    fn scalar(&mut self, v: Scalar<'_>) {
        let (Some(&(f, at)), Some(fr)) = (self.opened.last(), self.frames.last_mut()) else {
            return;
        };
        match v {
            Scalar::Uuid(u) if is_topic_id(f) => fr.ids.push((at, *u)),
            Scalar::Str(s) if is_name(f) => {
                // Where the name lies in the body (the walker lends slices
                // of it): kept as a range, read when the name is learnt.
                let start = (s.as_ptr() as usize).wrapping_sub(self.base);
                if let (Ok(a), Ok(z)) = (u32::try_from(start), u32::try_from(start + s.len())) {
                    fr.name = Some((a, z));
                }
            }
            _ => {}
        }
    }

    fn begin_struct(&mut self) {
        self.frames.push(Frame::default());
    }

    fn end_struct(&mut self) {
        // The root frame stays until the walk is over.
        if self.frames.len() > 1
            && let Some(f) = self.frames.pop()
        {
            self.found.close(f, true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kafka::ApiKey;
    use crate::kafka::schema::{self, MessageKind};

    const ID: [u8; 16] = [
        0xf2, 0x09, 0xb0, 0xe9, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
    ];

    fn body(key: ApiKey, kind: MessageKind, version: i16, bytes: &[u8]) -> Box<Body> {
        let spec = schema::message(key.0, kind).unwrap();
        let mut b = Body::of_bytes(bytes);
        b.message = Some(spec);
        b.version = version;
        // What the session's decode collects in its walk.
        b.topic_ids = walk_body(&b).map(Box::new);
        Box::new(b)
    }

    /// Metadata v12 response naming `ID` "orders" (no brokers, one topic
    /// without partitions).
    fn metadata_response() -> Vec<u8> {
        let mut b = vec![0, 0, 0, 0]; // throttleTimeMs
        b.push(1); // brokers: compact array of 0
        b.push(0); // clusterId: null
        b.extend(1i32.to_be_bytes()); // controllerId
        b.push(2); // topics: 1
        b.extend(0i16.to_be_bytes()); // errorCode
        b.push(7);
        b.extend(b"orders"); // name
        b.extend(ID); // topicId
        b.push(0); // isInternal
        b.push(1); // partitions: 0
        b.extend(0i32.to_be_bytes()); // topicAuthorizedOperations
        b.push(0); // tagged fields
        b.push(0); // tagged fields
        b
    }

    /// Fetch v13 request for topic `ID`, partition 0.
    fn fetch_request() -> Vec<u8> {
        let mut b = Vec::new();
        b.extend((-1i32).to_be_bytes()); // replicaId
        b.extend(500i32.to_be_bytes()); // maxWaitMs
        b.extend(1i32.to_be_bytes()); // minBytes
        b.extend(1024i32.to_be_bytes()); // maxBytes
        b.push(0); // isolationLevel
        b.extend(0i32.to_be_bytes()); // sessionId
        b.extend((-1i32).to_be_bytes()); // sessionEpoch
        b.push(2); // topics: 1
        b.extend(ID);
        b.push(2); // partitions: 1
        b.extend(0i32.to_be_bytes()); // partition
        b.extend((-1i32).to_be_bytes()); // currentLeaderEpoch
        b.extend(5i64.to_be_bytes()); // fetchOffset
        b.extend((-1i32).to_be_bytes()); // lastFetchedEpoch
        b.extend((-1i64).to_be_bytes()); // logStartOffset
        b.extend(1024i32.to_be_bytes()); // partitionMaxBytes
        b.push(0); // tagged fields
        b.push(0); // tagged fields
        b.push(1); // forgottenTopicsData: 0
        b.push(1); // rackId: ""
        b.push(0); // tagged fields
        b
    }

    fn exchange(key: ApiKey, version: i16, req: Box<Body>, resp: Option<Box<Body>>) -> Exchange {
        use crate::capture::Timestamp;
        use crate::session::{MessageInfo, Status};
        let info = MessageInfo {
            frame: 1,
            first_frame: 1,
            ts: Timestamp::new(0, 0),
            size: 0,
            lost_bytes: 0,
        };
        Exchange {
            stream: 0,
            client: "10.0.0.1:1".parse().unwrap(),
            broker: "10.0.0.2:9092".parse().unwrap(),
            api_key: key,
            api_version: version,
            correlation_id: 1,
            client_id: None,
            request: info,
            response: Some(info),
            status: Status::Ok,
            errors: Vec::new(),
            request_body: Some(req),
            response_body: resp,
            capture: 0,
            broker_side: None,
        }
    }

    #[test]
    fn a_fetch_is_named_once_metadata_told_the_name() {
        let mut ids = TopicIds::new();
        let fetch = || {
            exchange(
                ApiKey::FETCH,
                13,
                body(ApiKey::FETCH, MessageKind::Request, 13, &fetch_request()),
                None,
            )
        };
        let mut e = fetch();
        ids.observe(&mut e);
        assert!(e.request_body.as_ref().unwrap().topic_names.is_empty());

        let mut m = exchange(
            ApiKey::METADATA,
            12,
            Box::new(Body::of_bytes(b"")),
            Some(body(
                ApiKey::METADATA,
                MessageKind::Response,
                12,
                &metadata_response(),
            )),
        );
        ids.observe(&mut m);
        assert_eq!(ids.name(&ID).map(|n| &**n), Some("orders"));
        // The Metadata topic has its name beside its id: nothing attached.
        assert!(m.response_body.as_ref().unwrap().topic_names.is_empty());

        let mut e = fetch();
        ids.observe(&mut e);
        let names = &e.request_body.as_ref().unwrap().topic_names;
        assert_eq!(names.by_id(&ID), Some("orders"));
        // The topicId of topics[0]: after the 25 bytes of fixed fields and
        // the array's length.
        assert_eq!(names.at(26), Some("orders"));
    }

    #[test]
    fn cut_bodies_do_not_panic_or_mispair() {
        let mut ids = TopicIds::new();
        let full = metadata_response();
        for n in 0..full.len() {
            let mut m = exchange(
                ApiKey::METADATA,
                12,
                Box::new(Body::of_bytes(b"")),
                Some(body(
                    ApiKey::METADATA,
                    MessageKind::Response,
                    12,
                    &full[..n],
                )),
            );
            ids.observe(&mut m);
            // Learnt only once the name and the id were both read.
            assert!(ids.name(&ID).is_none_or(|n| &**n == "orders"));
            assert!(ids.len() <= 1);
        }
    }
}
