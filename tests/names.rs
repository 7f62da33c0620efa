//! Topic names beside topic ids in the NDJSON export (`session::names`):
//! `topicName` follows a `topicId` whose struct has no name of its own,
//! when the capture had named the id before the exchange; never otherwise.

mod common;

use common::*;
use kwire::export::ndjson;
use kwire::session::{Record, TopicIdNames};
use serde_json::Value as Json;

/// Every object holding `topicName`, anywhere in `v`.
fn named<'a>(v: &'a Json, out: &mut Vec<&'a serde_json::Map<String, Json>>) {
    match v {
        Json::Object(m) => {
            if m.contains_key("topicName") && m.contains_key("topicId") {
                out.push(m);
            }
            m.values().for_each(|x| named(x, out));
        }
        Json::Array(a) => a.iter().for_each(|x| named(x, out)),
        _ => {}
    }
}

#[test]
fn topic_names_follow_ids_the_capture_named() {
    let (records, _) = analyze(&corpus_dir().join("confluent_basic.pcap"), &[]);
    let mut fetches_named = 0;
    for r in &records {
        let Record::Exchange(e) = r else { continue };
        let line = ndjson::to_json(r).to_string();
        // One key per object: `topicName` is written once, after the id.
        assert!(!line.contains("\"topicName\":\"orders\",\"topicName\""));
        let j: Json = serde_json::from_str(&line).unwrap();
        let mut objs = Vec::new();
        named(&j, &mut objs);
        for m in &objs {
            assert!(!m.contains_key("name") && !m.contains_key("topic"), "{m:?}");
            assert!(matches!(m["topicName"].as_str(), Some("orders" | "events")));
        }
        if e.api_key.0 == 1 && !objs.is_empty() {
            fetches_named += 1;
        }
        // Without the names the analysis attached, none is written.
        let mut bare = e.clone();
        for b in [&mut bare.request_body, &mut bare.response_body]
            .into_iter()
            .flatten()
        {
            b.topic_names = TopicIdNames::default();
        }
        let line = ndjson::to_json(&Record::Exchange(bare)).to_string();
        assert!(!line.contains("\"topicName\""), "{line}");
    }
    assert!(fetches_named > 50, "{fetches_named}");
}
