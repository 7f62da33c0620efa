//! Unit tests of the schema decoder on hand-built byte constants, and of the
//! generated tables' consistency.

use super::generated::{FIELDS, MESSAGES, REQUEST_BY_KEY, RESPONSE_BY_KEY};
use super::*;

const REQ: MessageKind = MessageKind::Request;
const RESP: MessageKind = MessageKind::Response;

/// ApiVersions v0 response (non-flexible): error code 0, two api keys.
const API_VERSIONS_V0_RESPONSE: &[u8] = &[
    0x00, 0x00, // errorCode 0
    0x00, 0x00, 0x00, 0x02, // apiKeys: int32 count 2
    0x00, 0x00, 0x00, 0x00, 0x00, 0x0a, // Produce 0..10
    0x00, 0x12, 0x00, 0x00, 0x00, 0x02, // ApiVersions 0..2
];

/// ApiVersions v3 request (flexible): compact strings, no tagged fields.
const API_VERSIONS_V3_REQUEST: &[u8] = &[
    0x0b, b'l', b'i', b'b', b'r', b'd', b'k', b'a', b'f', b'k', b'a', // "librdkafka"
    0x05, b'2', b'.', b'1', b'6', // "2.16"
    0x00, // no tagged fields
];

/// ApiVersions v3 response with tagged fields: one known (tag 3,
/// zkMigrationReady) and one unknown (tag 9).
const API_VERSIONS_V3_RESPONSE: &[u8] = &[
    0x00, 0x00, // errorCode 0
    0x02, // apiKeys: compact count 1
    0x00, 0x03, 0x00, 0x00, 0x00, 0x0d, // Metadata 0..13
    0x00, // element's tagged fields: none
    0x00, 0x00, 0x00, 0x00, // throttleTimeMs 0
    0x02, // two tagged fields
    0x03, 0x01, 0x01, // tag 3, size 1: zkMigrationReady = true
    0x09, 0x02, 0xbe, 0xef, // tag 9, size 2: unknown
];

/// Produce v3 request: null transactional id, one topic, one partition
/// with 4 bytes of records.
const PRODUCE_V3_REQUEST: &[u8] = &[
    0xff, 0xff, // transactionalId: null
    0xff, 0xff, // acks -1
    0x00, 0x00, 0x75, 0x30, // timeoutMs 30000
    0x00, 0x00, 0x00, 0x01, // topicData: 1
    0x00, 0x01, b't', // name "t"
    0x00, 0x00, 0x00, 0x01, // partitionData: 1
    0x00, 0x00, 0x00, 0x02, // index 2
    0x00, 0x00, 0x00, 0x04, 0xde, 0xad, 0xbe, 0xef, // records: 4 bytes
];

/// Metadata v1 request with a null topic array (all topics).
const METADATA_V1_ALL_TOPICS: &[u8] = &[0xff, 0xff, 0xff, 0xff];

fn json(d: &Decoded) -> serde_json::Value {
    to_json(&d.tree)
}

#[test]
fn decodes_a_non_flexible_response() {
    let d = decode_body(18, 0, RESP, API_VERSIONS_V0_RESPONSE);
    assert!(d.is_complete(), "{:?}", d.error);
    assert_eq!(d.consumed, API_VERSIONS_V0_RESPONSE.len());
    assert_eq!(d.tree.name, "ApiVersionsResponse");
    let j = json(&d);
    assert_eq!(j["errorCode"], 0);
    assert_eq!(j["apiKeys"][1]["apiKey"], 18);
    assert_eq!(j["apiKeys"][1]["maxVersion"], 2);
    // Byte ranges: the array from its count to its end, each element 6 bytes.
    let keys = d.tree.get("apiKeys").unwrap();
    assert_eq!(keys.range, 2..18);
    assert_eq!(keys.children()[1].range, 12..18);
    assert_eq!(keys.at("1.maxVersion").unwrap().range, 16..18);
}

#[test]
fn compact_strings_and_empty_tagged_fields() {
    let d = decode_body(18, 3, REQ, API_VERSIONS_V3_REQUEST);
    assert!(d.is_complete(), "{:?}", d.error);
    let j = json(&d);
    assert_eq!(j["clientSoftwareName"], "librdkafka");
    assert_eq!(j["clientSoftwareVersion"], "2.16");
    assert_eq!(d.tree.get("clientSoftwareName").unwrap().range, 0..11);
    // The same bytes are not a v2 request (v2 has no fields).
    let d = decode_body(18, 2, REQ, API_VERSIONS_V3_REQUEST);
    assert_eq!(d.error.unwrap().kind, DecodeErrorKind::TrailingBytes);
    assert_eq!(d.consumed, 0);
}

#[test]
fn known_and_unknown_tagged_fields() {
    let d = decode_body(18, 3, RESP, API_VERSIONS_V3_RESPONSE);
    assert!(d.is_complete(), "{:?}", d.error);
    let j = json(&d);
    assert_eq!(j["apiKeys"][0]["maxVersion"], 13);
    assert_eq!(j["zkMigrationReady"], true);
    assert_eq!(j["_unknownTaggedFields"][0]["tag"], 9);
    assert_eq!(j["_unknownTaggedFields"][0]["data"], "vu8=");
    // A tagged field's range covers its tag and size.
    assert_eq!(d.tree.get("zkMigrationReady").unwrap().range, 15..18);
    let unknown = d.tree.children().last().unwrap();
    assert_eq!(unknown.range, 18..22);
    assert_eq!(
        unknown.value,
        Value::UnknownTagged {
            tag: 9,
            data: vec![0xbe, 0xef]
        }
    );
}

#[test]
fn tagged_field_size_must_match_its_value() {
    // zkMigrationReady (a bool) claimed to take 2 bytes.
    let mut b = API_VERSIONS_V3_RESPONSE[..14].to_vec();
    b.extend([0x01, 0x03, 0x02, 0x01, 0x00]);
    let d = decode_body(18, 3, RESP, &b);
    let e = d.error.unwrap();
    assert!(matches!(e.kind, DecodeErrorKind::Invalid(_)), "{e:?}");
    assert_eq!(e.path, "zkMigrationReady");
}

#[test]
fn nullable_strings_arrays_and_records() {
    let d = decode_body(0, 3, REQ, PRODUCE_V3_REQUEST);
    assert!(d.is_complete(), "{:?}", d.error);
    assert!(d.warnings.is_empty());
    let j = json(&d);
    assert_eq!(j["transactionalId"], serde_json::Value::Null);
    assert_eq!(j["acks"], -1);
    assert_eq!(j["topicData"][0]["name"], "t");
    assert_eq!(j["topicData"][0]["partitionData"][0]["records"]["bytes"], 4);
    let records = d.tree.at("topicData.0.partitionData.0.records").unwrap();
    assert_eq!(records.value, Value::Records(27..31));
    assert_eq!(records.range, 23..31);

    let d = decode_body(3, 1, REQ, METADATA_V1_ALL_TOPICS);
    assert!(d.is_complete(), "{:?}", d.error);
    assert_eq!(json(&d)["topics"], serde_json::Value::Null);
}

#[test]
fn null_in_a_non_nullable_field_is_a_warning() {
    // Metadata v0 does not allow a null topic array; decoded as null.
    let d = decode_body(3, 0, REQ, METADATA_V1_ALL_TOPICS);
    assert!(d.is_complete(), "{:?}", d.error);
    assert_eq!(json(&d)["topics"], serde_json::Value::Null);
    assert_eq!(d.warnings.len(), 1);
    assert_eq!(d.warnings[0].path, "topics");
    assert_eq!(d.warnings[0].offset, 0);
}

#[test]
fn every_truncation_is_an_error_with_a_partial_tree() {
    for (key, version, kind, body) in [
        (18, 0, RESP, API_VERSIONS_V0_RESPONSE),
        (18, 3, REQ, API_VERSIONS_V3_REQUEST),
        (18, 3, RESP, API_VERSIONS_V3_RESPONSE),
        (0, 3, REQ, PRODUCE_V3_REQUEST),
    ] {
        let whole = decode_body(key, version, kind, body);
        for cut in 0..body.len() {
            let d = decode_body(key, version, kind, &body[..cut]);
            let e = d
                .error
                .as_ref()
                .unwrap_or_else(|| panic!("{key} cut at {cut}"));
            assert!(e.offset <= cut, "{key} cut at {cut}: {e:?}");
            assert!(d.consumed <= cut);
            // What was decoded is a prefix of the whole: the first field
            // of the partial tree, if complete, equals the whole's.
            if let (Some(a), Some(b)) = (d.tree.children().first(), whole.tree.children().first())
                && a.range.end <= cut as u32
                && a.range == b.range
            {
                assert_eq!(a, b);
            }
        }
    }
    // The path of a field cut in the middle, inside arrays.
    let d = decode_body(0, 3, REQ, &PRODUCE_V3_REQUEST[..29]);
    let e = d.error.clone().unwrap();
    assert_eq!(e.kind, DecodeErrorKind::Truncated);
    assert_eq!(e.path, "topicData[0].partitionData[0].records");
    assert_eq!(e.offset, 23);
    let j = json(&d);
    assert_eq!(j["acks"], -1);
    assert_eq!(j["topicData"][0]["partitionData"][0]["index"], 2);
}

#[test]
fn huge_counts_and_sizes_fail_without_allocating() {
    // Arrays of 2^31 - 1 elements, compact and not, in a few bytes: an
    // error before any element, and no allocation for them.
    let d = decode_body(18, 0, RESP, &[0, 0, 0x7f, 0xff, 0xff, 0xff, 0, 0]);
    assert_eq!(d.error.unwrap().kind, DecodeErrorKind::Truncated);
    let d = decode_body(18, 3, RESP, &[0, 0, 0x80, 0x80, 0x80, 0x80, 0x08, 0]);
    assert_eq!(d.error.unwrap().kind, DecodeErrorKind::Truncated);
    // A 2 GiB string, bytes and records.
    let d = decode_body(3, 9, REQ, &[0x02, 0x80, 0x80, 0x80, 0x80, 0x08, 0]);
    assert_eq!(d.error.unwrap().path, "topics[0].name");
    let d = decode_body(36, 0, REQ, &[0x7f, 0xff, 0xff, 0xff, 1, 2]);
    assert_eq!(d.error.unwrap().kind, DecodeErrorKind::Truncated);
    let mut b = PRODUCE_V3_REQUEST[..23].to_vec();
    b.extend([0x7f, 0xff, 0xff, 0xff, 0]);
    let d = decode_body(0, 3, REQ, &b);
    assert_eq!(
        d.error.unwrap().path,
        "topicData[0].partitionData[0].records"
    );
    // Negative lengths other than -1, and varints over 32 bits.
    let d = decode_body(18, 0, RESP, &[0, 0, 0xff, 0xff, 0xff, 0xfe]);
    assert!(matches!(d.error.unwrap().kind, DecodeErrorKind::Invalid(_)));
    let d = decode_body(18, 3, RESP, &[0, 0, 0xff, 0xff, 0xff, 0xff, 0x7f]);
    assert!(matches!(d.error.unwrap().kind, DecodeErrorKind::Invalid(_)));
    // Many tagged fields claimed, none there.
    let d = decode_body(18, 3, REQ, &[1, 1, 0xff, 0xff, 0xff, 0xff, 0x07]);
    assert_eq!(d.error.unwrap().kind, DecodeErrorKind::Truncated);
}

#[test]
fn newer_versions_are_assumed_and_unknown_keys_kept() {
    let d = decode_body(18, 40, REQ, API_VERSIONS_V3_REQUEST);
    assert!(d.is_complete(), "{:?}", d.error);
    assert!(d.assumed_version);
    assert_eq!(d.version, 4);
    let d = decode_body(900, 0, REQ, &[1, 2, 3]);
    assert_eq!(d.error.unwrap().kind, DecodeErrorKind::UnknownMessage);
    assert!(d.message.is_none());
    let d = decode_body(-1, 0, REQ, &[]);
    assert_eq!(d.error.unwrap().kind, DecodeErrorKind::UnknownMessage);
    let d = decode_body(18, -1, REQ, &[]);
    assert_eq!(d.error.unwrap().kind, DecodeErrorKind::UnknownVersion);
    let d = decode_body(18, 0, MessageKind::Data, &[]);
    assert_eq!(d.error.unwrap().kind, DecodeErrorKind::UnknownMessage);
}

#[test]
fn api_versions_response_falls_back_to_v0() {
    // A broker's answer to an ApiVersions v3 request it does not support:
    // UNSUPPORTED_VERSION in the v0 layout, listing ApiVersions 0..2.
    let b = [0x00, 0x23, 0, 0, 0, 1, 0x00, 0x12, 0, 0, 0, 2];
    let d = decode_body(18, 3, RESP, &b);
    assert!(d.is_complete(), "{:?}", d.error);
    assert_eq!(d.version, 0);
    assert_eq!(json(&d)["errorCode"], 35);
    assert_eq!(error_codes(&d.tree)[0].code, 35);
}

#[test]
fn embedded_consumer_protocol_data() {
    // JoinGroup v1 metadata from kafka-python: subscription v0 to
    // "legacy", empty user data.
    let meta = [
        0x00, 0x00, // version 0
        0x00, 0x00, 0x00, 0x01, 0x00, 0x06, b'l', b'e', b'g', b'a', b'c', b'y', // topics
        0x00, 0x00, 0x00, 0x00, // userData: empty
    ];
    let d = decode_versioned_data("ConsumerProtocolSubscription", &meta);
    assert!(d.is_complete(), "{:?}", d.error);
    assert_eq!(d.consumed, meta.len());
    let j = json(&d);
    assert_eq!(j["topics"][0], "legacy");
    assert_eq!(j["userData"], "");
    assert_eq!(d.tree.get("topics").unwrap().range.start, 2);
    let d = decode_data("ConsumerProtocolSubscription", 0, &meta[2..]);
    assert!(d.is_complete());
    // A newer version than any known: decoded as the newest, the fields it
    // appends skipped.
    let mut v9 = vec![0x00, 0x09];
    v9.extend(&meta[2..]);
    v9.extend([0, 0, 0, 0, 0, 0, 0, 5, 0xff, 0xff, 0x77, 0x77]);
    let d = decode_versioned_data("ConsumerProtocolSubscription", &v9);
    assert!(d.is_complete(), "{:?}", d.error);
    assert!(d.assumed_version);
    assert_eq!(d.version, 3);
    assert!(d.warnings.is_empty());
    assert_eq!(json(&d)["generationId"], 5);
    assert_eq!(d.consumed, v9.len() - 2);
    let d = decode_versioned_data("ConsumerProtocolSubscription", &[0]);
    assert_eq!(d.error.unwrap().kind, DecodeErrorKind::Truncated);
    let d = decode_versioned_data("NoSuchThing", &meta);
    assert_eq!(d.error.unwrap().kind, DecodeErrorKind::UnknownMessage);
    // The request header is in the tables too; its client id is never
    // compact, even in v2.
    let h = [0, 18, 0, 3, 0, 0, 0, 1, 0, 2, b'k', b'w', 0];
    let d = decode_data("RequestHeader", 2, &h);
    assert!(d.is_complete(), "{:?}", d.error);
    assert_eq!(json(&d)["clientId"], "kw");
}

#[test]
fn generated_api_table_agrees_with_the_hand_written_one() {
    let generated = api_table();
    let hand = crate::kafka::api::all();
    assert_eq!(generated.len(), hand.len());
    for (g, h) in generated.iter().zip(hand) {
        assert_eq!(g, h);
    }
}

#[test]
fn tables_are_consistent() {
    for f in FIELDS.iter() {
        let run = usize::from(f.first)..usize::from(f.first) + usize::from(f.len);
        assert!(run.end <= FIELDS.len(), "{}", f.name);
        if f.ty != Ty::Struct {
            assert_eq!((f.first, f.len), (0, 0), "{}", f.name);
        }
        assert!(!f.versions.is_empty(), "{}", f.name);
        if !f.tagged.is_empty() {
            assert!(f.tagged.lo >= f.versions.lo, "{}", f.name);
        }
    }
    for m in MESSAGES.iter() {
        let mut next = m.versions.lo;
        for s in m.segments {
            assert_eq!(s.versions.lo, next, "{}", m.name);
            assert!(s.versions.hi >= s.versions.lo, "{}", m.name);
            next = s.versions.hi + 1;
        }
        assert_eq!(next - 1, m.versions.hi, "{}", m.name);
        assert_eq!(m.versions.lo, 0, "{}", m.name);
    }
    for (key, &i) in REQUEST_BY_KEY.iter().enumerate() {
        let m = &MESSAGES[usize::from(i)];
        assert_eq!((m.api_key as usize, m.kind), (key, REQ));
    }
    for (key, &i) in RESPONSE_BY_KEY.iter().enumerate() {
        let m = &MESSAGES[usize::from(i)];
        assert_eq!((m.api_key as usize, m.kind), (key, RESP));
        // Responses cover the same versions as their requests.
        assert_eq!(
            m.versions,
            MESSAGES[usize::from(REQUEST_BY_KEY[key])].versions
        );
    }
    // The APIs the issue names, newest versions included.
    for (key, name, max) in [
        (0, "ProduceRequest", 13),
        (1, "FetchRequest", 18),
        (3, "MetadataRequest", 13),
        (68, "ConsumerGroupHeartbeatRequest", 1),
        (69, "ConsumerGroupDescribeRequest", 1),
        (71, "GetTelemetrySubscriptionsRequest", 0),
        (72, "PushTelemetryRequest", 0),
        (75, "DescribeTopicPartitionsRequest", 0),
        (78, "ShareFetchRequest", 2),
    ] {
        let m = message(key, REQ).unwrap();
        assert_eq!((m.name, m.versions.hi), (name, max));
    }
    for name in ["ConsumerProtocolSubscription", "ConsumerProtocolAssignment"] {
        assert_eq!(message_by_name(name).unwrap().kind, MessageKind::Data);
    }
}

#[test]
fn old_versions_come_from_kafka_3_9() {
    // Produce v0-2 are gone from Kafka 4's definitions; ListOffsets v0 has
    // a field (maxNumOffsets) Kafka 4 no longer describes.
    let p = message(0, REQ).unwrap();
    assert!(p.segment(0).is_some());
    let l = message(2, REQ).unwrap();
    assert_eq!(l.segment(0).unwrap().source, Source::Tansu);
    let topics = l
        .segment(0)
        .unwrap()
        .fields()
        .iter()
        .find(|f| f.name == "topics");
    let names: Vec<&str> = topics
        .unwrap()
        .fields()
        .iter()
        .flat_map(|t| t.fields())
        .map(|f| f.name)
        .collect();
    assert!(names.contains(&"maxNumOffsets"), "{names:?}");
}

#[test]
fn error_code_fields_are_flagged_by_their_names() {
    for (name, want) in [
        ("errorCode", true),
        ("ErrorCode", true),
        ("topicConfigErrorCode", true),
        ("acknowledgeErrorCode", true),
        ("errorCodes", false),
        ("errorcode", false),
        ("rrorCode", false),
        ("code", false),
        ("", false),
    ] {
        assert_eq!(is_error_code_name(name), want, "{name}");
    }
    // The flag of every table row says what the rule says of its name.
    for f in FIELDS.iter() {
        assert_eq!(
            f.error_code,
            f.name == "errorCode" || f.name.ends_with("ErrorCode"),
            "{}",
            f.name
        );
    }
}

#[test]
fn every_struct_fits_a_view() {
    // A view records where each field of a struct lies, up to MAX_FIELDS.
    let mut widest = 0;
    for f in FIELDS.iter().filter(|f| f.ty == Ty::Struct) {
        widest = widest.max(usize::from(f.len));
    }
    for m in MESSAGES.iter() {
        for s in m.segments {
            widest = widest.max(s.fields().len());
        }
    }
    assert!(widest <= view::MAX_FIELDS, "a struct of {widest} fields");
    assert!(widest >= 15, "the table is read: {widest}");
}
