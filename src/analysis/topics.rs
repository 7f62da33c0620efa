//! Topic names: Produce v13+ and Fetch v13+ name topics by id; Metadata
//! (v10+), CreateTopics (v7+) and DescribeTopicPartitions responses tell
//! which name an id stands for. Also which topics and which group an
//! exchange is about, for filters and tables.

use std::collections::HashMap;
use std::sync::Arc;

use crate::kafka::ApiKey;
use crate::kafka::schema::{self, Node, Step, Value};
use crate::session::Exchange;

/// Most topic ids remembered.
pub const MAX_TOPIC_IDS: usize = 100_000;

/// Topic ids seen in responses that name them.
#[derive(Clone, Debug, Default)]
pub struct TopicNames {
    names: HashMap<[u8; 16], Arc<str>>,
}

const ZERO: [u8; 16] = [0; 16];

impl TopicNames {
    pub fn new() -> Self {
        TopicNames::default()
    }

    /// Learn the ids named in `e`'s response (Metadata, CreateTopics,
    /// DescribeTopicPartitions).
    pub fn observe(&mut self, e: &Exchange) {
        if !matches!(e.api_key.0, 3 | 19 | 75) {
            return;
        }
        let Some(b) = e.response_body.as_deref() else {
            return;
        };
        for t in b.tree().get("topics").map_or(&[][..], Node::children) {
            let (Some(Value::Uuid(id)), Some(name)) = (
                t.get("topicId").map(|n| &n.value),
                t.get("name").and_then(Node::as_str),
            ) else {
                continue;
            };
            if *id == ZERO || (self.names.len() >= MAX_TOPIC_IDS && !self.names.contains_key(id)) {
                continue;
            }
            if self.names.get(id).is_none_or(|n| &**n != name) {
                self.names.insert(*id, Arc::from(name));
            }
        }
    }

    /// The name of topic `id`, when seen.
    pub fn name(&self, id: &[u8; 16]) -> Option<&Arc<str>> {
        self.names.get(id)
    }

    /// A name for the topic node `t` (a struct with `name`, `topic` or
    /// `topicId`): its name, the name of its id, or the id shortened as
    /// `id:1a2b3c4d…`.
    pub fn topic_of(&self, t: &Node) -> Option<String> {
        for f in ["name", "topic", "topicName"] {
            if let Some(n) = t.get(f).and_then(Node::as_str) {
                return Some(n.to_string());
            }
        }
        if let Some(Node {
            value: Value::Uuid(u),
            ..
        }) = t.get("topicId")
        {
            return Some(self.id_label(u));
        }
        None
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

/// Whether an array field holds topics (`topics`, `topicData`,
/// `topicPartitions`, `responses` of Produce/Fetch…).
fn topic_array(name: &str) -> bool {
    name.starts_with("topic") || name.starts_with("Topic")
}

/// Most topics listed per exchange.
pub const MAX_TOPICS_PER_EXCHANGE: usize = 64;

/// The topics an exchange is about: names (or ids resolved through `names`)
/// in its request, and in its response when the request names none
/// (Metadata for all topics). Deduplicated, in wire order, at most
/// [`MAX_TOPICS_PER_EXCHANGE`].
pub fn topics_of(e: &Exchange, names: &TopicNames) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let add = |tree: &Node, out: &mut Vec<String>| {
        schema::walk(tree, &mut |path, n| {
            if out.len() >= MAX_TOPICS_PER_EXCHANGE {
                return;
            }
            // A struct element of an array field whose name says topics.
            let [.., Step::Field(arr), Step::Index(_)] = path else {
                return;
            };
            let produce_fetch_response =
                matches!(*arr, "responses") && matches!(e.api_key.0, 0 | 1);
            if !(topic_array(arr) || produce_fetch_response) || !matches!(n.value, Value::Struct(_))
            {
                return;
            }
            if let Some(t) = names.topic_of(n)
                && !out.contains(&t)
            {
                out.push(t);
            }
        });
    };
    if let Some(b) = e.request_body.as_deref() {
        add(b.tree(), &mut out);
    }
    if out.is_empty()
        && let Some(b) = e.response_body.as_deref()
    {
        add(b.tree(), &mut out);
    }
    out
}

/// The consumer group (or transactional id's group) an exchange is about:
/// `groupId` of group requests, the key of FindCoordinator for groups, the
/// first group of OffsetFetch v8+ and DescribeGroups.
pub fn group_of(e: &Exchange) -> Option<String> {
    let q = &e.request_body.as_deref()?.tree();
    if let Some(g) = q.get("groupId").and_then(Node::as_str) {
        return Some(g.to_string());
    }
    match e.api_key {
        ApiKey(10) => {
            // FindCoordinator: keyType 0 is a group, 1 a transactional id.
            if q.get("keyType").and_then(Node::as_int).unwrap_or(0) != 0 {
                return None;
            }
            if let Some(k) = q.get("key").and_then(Node::as_str) {
                return Some(k.to_string());
            }
            q.at("coordinatorKeys.0")
                .and_then(Node::as_str)
                .map(str::to_string)
        }
        // OffsetFetch v8+
        ApiKey(9) => q
            .at("groups.0.groupId")
            .and_then(Node::as_str)
            .map(str::to_string),
        // DescribeGroups
        ApiKey(15) => q.at("groups.0").and_then(Node::as_str).map(str::to_string),
        _ => None,
    }
}
