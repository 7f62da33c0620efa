//! The generated typed views (`schema::views`) over real-shaped bodies:
//! messages built and encoded by the independent `kafka-protocol` crate (and
//! a few written by hand where it lacks the versions), read back field by
//! field through the typed accessors. A field the version lacks is `None`;
//! arrays are iterated lazily; a body cut at any offset yields the fields
//! before the cut and `None` after, never a panic.
//!
//! That the views read what the tree decoder reads, on every message and
//! version, is `tests/schema_props.rs`'s business; this file checks the
//! typed layer: names, types, versions, nesting.

use bytes::BytesMut;
use kafka_protocol::messages::{self as kp};
use kafka_protocol::protocol::{Encodable, StrBytes};
use kwire::kafka::api::ApiKey;
use kwire::kafka::errors::ErrorCode;
use kwire::kafka::schema::views::{
    self, ApiVersionsResponse, Array, ConsumerGroupHeartbeatRequest, ConsumerProtocolAssignment,
    ConsumerProtocolSubscription, FetchResponse, JoinGroupRequest, MetadataResponse,
    OffsetCommitRequest, ProduceRequest, RequestHeader, join_group_request, metadata_response,
};

fn s(x: &str) -> StrBytes {
    StrBytes::from_string(x.into())
}

fn encode<T: Encodable>(m: &T, v: i16) -> Vec<u8> {
    let mut out = BytesMut::new();
    m.encode(&mut out, v).unwrap();
    out.to_vec()
}

/// `bytes` preceded by the int16 `version`, as JoinGroup and SyncGroup carry
/// the consumer protocol's subscription and assignment.
fn versioned(version: i16, bytes: &[u8]) -> Vec<u8> {
    let mut out = version.to_be_bytes().to_vec();
    out.extend_from_slice(bytes);
    out
}

const TOPIC_ID: &str = "01020304-0506-0708-090a-0b0c0d0e0f10";
const TOPIC_ID_BYTES: [u8; 16] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];

#[test]
fn join_group_request_over_its_versions() {
    let sub = kp::ConsumerProtocolSubscription::default()
        .with_topics(vec![s("orders"), s("payments")])
        .with_owned_partitions(vec![
            kp::consumer_protocol_subscription::TopicPartition::default()
                .with_topic(kp::TopicName(s("orders")))
                .with_partitions(vec![0, 2]),
        ])
        .with_user_data(None);
    let metadata = versioned(1, &encode(&sub, 1));
    // kafka-protocol refuses to encode a field the version lacks.
    let req = |v: i16| {
        kp::JoinGroupRequest::default()
            .with_group_id(kp::GroupId(s("g1")))
            .with_session_timeout_ms(45_000)
            .with_rebalance_timeout_ms(if v >= 1 { 300_000 } else { -1 })
            .with_member_id(s("m-1"))
            .with_group_instance_id((v >= 5).then(|| s("i-1")))
            .with_protocol_type(s("consumer"))
            .with_protocols(vec![
                kp::join_group_request::JoinGroupRequestProtocol::default()
                    .with_name(s("range"))
                    .with_metadata(metadata.clone().into()),
                kp::join_group_request::JoinGroupRequestProtocol::default()
                    .with_name(s("cooperative-sticky"))
                    .with_metadata(Vec::new().into()),
            ])
            .with_reason((v >= 8).then(|| s("rejoin")))
    };

    assert_eq!(JoinGroupRequest::API_KEY, ApiKey::JOIN_GROUP);
    assert_eq!(ApiKey::JOIN_GROUP, ApiKey(11));
    for v in 0..=9 {
        let body = encode(&req(v), v);
        let j = JoinGroupRequest::new(&body, v).unwrap();
        assert!(j.view().is_complete(), "v{v}");
        assert_eq!(j.group_id(), Some("g1"), "v{v}");
        assert_eq!(j.session_timeout_ms(), Some(45_000), "v{v}");
        assert_eq!(j.member_id(), Some("m-1"), "v{v}");
        assert_eq!(j.protocol_type(), Some("consumer"), "v{v}");
        // Fields by version: rebalanceTimeoutMs v1+, groupInstanceId v5+,
        // reason v8+.
        assert_eq!(
            j.rebalance_timeout_ms(),
            (v >= 1).then_some(300_000),
            "v{v}"
        );
        assert_eq!(j.group_instance_id(), (v >= 5).then_some("i-1"), "v{v}");
        assert_eq!(j.reason(), (v >= 8).then_some("rejoin"), "v{v}");

        let protocols = j.protocols().unwrap();
        assert_eq!(protocols.len(), 2);
        assert!(!protocols.is_empty());
        let names: Vec<_> = protocols.iter().map(|p| p.name()).collect();
        assert_eq!(names, [Some("range"), Some("cooperative-sticky")], "v{v}");
        let first: join_group_request::JoinGroupRequestProtocol = protocols.iter().next().unwrap();
        assert_eq!(first.metadata(), Some(&metadata[..]), "v{v}");
        // The offset is where the metadata's length starts: 4 bytes of
        // int32 length, or a one-byte compact varint from v6.
        let at = first.metadata_offset().unwrap() as usize;
        let len_size = if v >= 6 { 1 } else { 4 };
        assert_eq!(
            &body[at + len_size..at + len_size + metadata.len()],
            &metadata[..]
        );

        // The embedded subscription, through its own typed view.
        let sub = ConsumerProtocolSubscription::versioned(first.metadata().unwrap()).unwrap();
        assert_eq!(sub.view().version(), 1);
        let topics: Vec<_> = sub.topics().unwrap().into_iter().collect();
        assert_eq!(topics, [Some("orders"), Some("payments")]);
        assert_eq!(sub.user_data(), None);
        assert!(sub.user_data_offset().is_some(), "a null is still a field");
        let owned: Vec<_> = sub
            .owned_partitions()
            .unwrap()
            .iter()
            .map(|tp| {
                (
                    tp.topic(),
                    tp.partitions().unwrap().iter().collect::<Vec<i32>>(),
                )
            })
            .collect();
        assert_eq!(owned, [(Some("orders"), vec![0, 2])]);
        assert_eq!(sub.generation_id(), None, "generationId is v2+");
        assert_eq!(sub.rack_id(), None, "rackId is v3+");
    }
}

#[test]
fn consumer_protocol_messages_over_their_versions() {
    let sub = kp::ConsumerProtocolSubscription::default()
        .with_topics(vec![s("t")])
        .with_user_data(Some(vec![9, 9].into()))
        .with_owned_partitions(vec![
            kp::consumer_protocol_subscription::TopicPartition::default()
                .with_topic(kp::TopicName(s("t")))
                .with_partitions(vec![3]),
        ])
        .with_generation_id(7)
        .with_rack_id(Some(s("r1")));
    let asg = kp::ConsumerProtocolAssignment::default()
        .with_assigned_partitions(vec![
            kp::consumer_protocol_assignment::TopicPartition::default()
                .with_topic(kp::TopicName(s("t")))
                .with_partitions(vec![1, 4, 5]),
        ])
        .with_user_data(Some(vec![1, 2, 3].into()));
    for v in 0..=3 {
        let plain = encode(&sub, v);
        let with_version = versioned(v, &plain);
        let a = ConsumerProtocolSubscription::new(&plain, v).unwrap();
        let b = ConsumerProtocolSubscription::versioned(&with_version).unwrap();
        for x in [a, b] {
            assert_eq!(x.topics().unwrap().iter().collect::<Vec<_>>(), [Some("t")]);
            assert_eq!(x.user_data(), Some(&[9u8, 9][..]));
            assert_eq!(x.owned_partitions().is_some(), v >= 1, "v{v}");
            assert_eq!(x.generation_id(), (v >= 2).then_some(7), "v{v}");
            assert_eq!(x.rack_id(), (v >= 3).then_some("r1"), "v{v}");
        }
        // The versioned view's offsets count the version's two bytes.
        assert_eq!(
            b.user_data_offset().unwrap(),
            a.user_data_offset().unwrap() + 2
        );

        let bytes = versioned(v, &encode(&asg, v));
        let x = ConsumerProtocolAssignment::versioned(&bytes).unwrap();
        let tps: Vec<_> = x
            .assigned_partitions()
            .unwrap()
            .iter()
            .map(|tp| {
                (
                    tp.topic().unwrap(),
                    tp.partitions().unwrap().iter().collect::<Vec<i32>>(),
                )
            })
            .collect();
        assert_eq!(tps, [("t", vec![1, 4, 5])]);
        assert_eq!(x.user_data(), Some(&[1u8, 2, 3][..]));
    }
    // Too short for a version, or a version below any known.
    assert!(ConsumerProtocolAssignment::versioned(&[0]).is_none());
    assert!(ConsumerProtocolAssignment::versioned(&[0xff, 0xff]).is_none());
}

fn metadata_response() -> kp::MetadataResponse {
    kp::MetadataResponse::default()
        .with_throttle_time_ms(7)
        .with_brokers(vec![
            kp::metadata_response::MetadataResponseBroker::default()
                .with_node_id(kp::BrokerId(1))
                .with_host(s("b1"))
                .with_port(9092)
                .with_rack(Some(s("az1"))),
            kp::metadata_response::MetadataResponseBroker::default()
                .with_node_id(kp::BrokerId(3))
                .with_host(s("b3"))
                .with_port(9093)
                .with_rack(None),
        ])
        .with_cluster_id(Some(s("c1")))
        .with_controller_id(kp::BrokerId(1))
        .with_topics(vec![
            kp::metadata_response::MetadataResponseTopic::default()
                .with_error_code(0)
                .with_name(Some(kp::TopicName(s("orders"))))
                .with_topic_id(TOPIC_ID.parse().unwrap())
                .with_partitions(vec![
                    kp::metadata_response::MetadataResponsePartition::default()
                        .with_partition_index(0)
                        .with_leader_id(kp::BrokerId(1))
                        .with_leader_epoch(4)
                        .with_replica_nodes(vec![kp::BrokerId(1), kp::BrokerId(3)])
                        .with_isr_nodes(vec![kp::BrokerId(1)]),
                    kp::metadata_response::MetadataResponsePartition::default()
                        .with_error_code(ErrorCode::LEADER_NOT_AVAILABLE.0)
                        .with_partition_index(1)
                        .with_leader_id(kp::BrokerId(-1)),
                ]),
            kp::metadata_response::MetadataResponseTopic::default()
                .with_error_code(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION.0)
                .with_name(Some(kp::TopicName(s("gone")))),
        ])
        .with_error_code(ErrorCode::NONE.0)
}

#[test]
fn metadata_response_v13() {
    let body = encode(&metadata_response(), 13);
    let m = MetadataResponse::new(&body, 13).unwrap();
    assert_eq!(MetadataResponse::API_KEY, ApiKey::METADATA);
    assert_eq!(m.throttle_time_ms(), Some(7));
    assert_eq!(m.cluster_id(), Some("c1"));
    assert_eq!(m.controller_id(), Some(1));
    assert_eq!(m.error_code(), Some(0), "top-level errorCode is v13+");
    assert_eq!(m.cluster_authorized_operations(), None, "v8-10 only");

    let brokers: Vec<_> = m
        .brokers()
        .unwrap()
        .iter()
        .map(|b| (b.node_id(), b.host(), b.port(), b.rack()))
        .collect();
    assert_eq!(
        brokers,
        [
            (Some(1), Some("b1"), Some(9092), Some("az1")),
            (Some(3), Some("b3"), Some(9093), None),
        ]
    );

    let topics: Array<metadata_response::MetadataResponseTopic> = m.topics().unwrap();
    assert_eq!(topics.len(), 2);
    let mut it = topics.iter();
    let orders = it.next().unwrap();
    assert_eq!(orders.name(), Some("orders"));
    assert_eq!(orders.topic_id(), Some(&TOPIC_ID_BYTES));
    assert_eq!(orders.is_internal(), Some(false));
    let parts: Vec<_> = orders.partitions().unwrap().iter().collect();
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0].partition_index(), Some(0));
    assert_eq!(parts[0].leader_epoch(), Some(4));
    assert_eq!(
        parts[0]
            .replica_nodes()
            .unwrap()
            .iter()
            .collect::<Vec<i32>>(),
        [1, 3]
    );
    assert_eq!(
        parts[0].isr_nodes().unwrap().iter().collect::<Vec<_>>(),
        [1]
    );
    assert_eq!(parts[0].offline_replicas().unwrap().len(), 0);
    assert_eq!(
        parts[1].error_code().map(ErrorCode),
        Some(ErrorCode::LEADER_NOT_AVAILABLE)
    );
    let gone = it.next().unwrap();
    assert_eq!(
        gone.error_code().map(ErrorCode),
        Some(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION)
    );
    assert_eq!(gone.topic_id(), Some(&[0u8; 16]));
    assert!(it.next().is_none());

    // v0: no rack, cluster id, controller, topic id or error code.
    let body = encode(&metadata_response(), 0);
    let m = MetadataResponse::new(&body, 0).unwrap();
    assert_eq!(m.throttle_time_ms(), None);
    assert_eq!(m.cluster_id(), None);
    assert_eq!(m.controller_id(), None);
    assert_eq!(m.error_code(), None);
    let b = m.brokers().unwrap().iter().next().unwrap();
    assert_eq!((b.host(), b.rack()), (Some("b1"), None));
    let t = m.topics().unwrap().iter().next().unwrap();
    assert_eq!(
        (t.name(), t.topic_id(), t.is_internal()),
        (Some("orders"), None, None)
    );
}

/// A body cut at every offset: each accessor gives the full body's value
/// or `None`; once a top-level field is `None` every later one is; arrays
/// yield at most the elements that were read, and the nested fields of a
/// cut element obey the same rule.
#[test]
fn truncated_metadata_response_gives_the_fields_before_the_cut() {
    type Row<'a> = (
        Option<i32>,
        Option<Vec<(Option<i32>, Option<&'a str>, Option<i32>)>>,
        Option<&'a str>,
        Option<i32>,
        Option<Vec<(Option<&'a str>, Option<Vec<Option<i32>>>)>>,
        Option<i16>,
    );
    fn read(m: MetadataResponse<'_>) -> Row<'_> {
        (
            m.throttle_time_ms(),
            m.brokers().map(|a| {
                a.iter()
                    .map(|b| (b.node_id(), b.host(), b.port()))
                    .collect()
            }),
            m.cluster_id(),
            m.controller_id(),
            m.topics().map(|a| {
                a.iter()
                    .map(|t| {
                        let parts = t
                            .partitions()
                            .map(|p| p.iter().map(|p| p.partition_index()).collect());
                        (t.name(), parts)
                    })
                    .collect()
            }),
            m.error_code(),
        )
    }
    let mut partial_topics = 0;
    for v in [1, 9, 13] {
        let full = encode(&metadata_response(), v);
        let whole = read(MetadataResponse::new(&full, v).unwrap());
        let in_version = [
            whole.0.is_some(),
            whole.1.is_some(),
            whole.2.is_some(),
            whole.3.is_some(),
            whole.4.is_some(),
            whole.5.is_some(),
        ];
        for cut in 0..=full.len() {
            let body = &full[..cut];
            let Some(m) = MetadataResponse::new(body, v) else {
                panic!("v{v}: a known version always has a view");
            };
            let got = read(m);
            if cut == full.len() {
                assert_eq!(got, whole);
                continue;
            }
            assert!(!m.view().is_complete(), "v{v} cut {cut}");
            // Top-level: a prefix of the full values.
            let present = [
                got.0.is_some(),
                got.1.is_some(),
                got.2.is_some(),
                got.3.is_some(),
                got.4.is_some(),
                got.5.is_some(),
            ];
            // Of the fields the version has, those read come first.
            let mut seen_missing = false;
            for (p, in_version) in present.iter().zip(in_version) {
                if in_version {
                    assert!(!(seen_missing && *p), "v{v} cut {cut}: {present:?}");
                    seen_missing |= !p;
                } else {
                    assert!(!p, "v{v} cut {cut}: a field v{v} lacks");
                }
            }
            if got.0.is_some() {
                assert_eq!(got.0, whole.0);
            }
            if got.2.is_some() {
                assert_eq!(got.2, whole.2);
                // A field after the brokers array was read: the array is whole.
                assert_eq!(got.1, whole.1);
            }
            if cut < 2 {
                assert_eq!(present, [false; 6], "v{v} cut {cut}");
            }
            // Arrays: elements read are a prefix of the full ones, each
            // either equal or cut (a cut one is last and its fields are a
            // prefix too).
            if let (Some(g), Some(w)) = (&got.4, &whole.4) {
                partial_topics += usize::from(g != w);
                assert!(g.len() <= w.len());
                for (i, (gt, wt)) in g.iter().zip(w).enumerate() {
                    if gt != wt {
                        assert_eq!(i, g.len() - 1, "v{v} cut {cut}: only the last is cut");
                        if gt.0.is_some() {
                            assert_eq!(gt.0, wt.0);
                        }
                        if let (Some(gp), Some(wp)) = (&gt.1, &wt.1) {
                            assert!(gp.len() <= wp.len());
                            for (x, y) in gp.iter().zip(wp) {
                                assert!(x.is_none() || x == y);
                            }
                        }
                    }
                }
            }
        }
    }
    assert!(
        partial_topics > 20,
        "{partial_topics} cuts inside the topics"
    );
}

#[test]
fn fetch_response_records_range_and_nested_structs() {
    let records = vec![0xAB; 61];
    let resp = |v: i16| {
        let topic = kp::fetch_response::FetchableTopicResponse::default();
        let topic = if v >= 13 {
            topic.with_topic_id(TOPIC_ID.parse().unwrap())
        } else {
            topic.with_topic(kp::TopicName(s("orders")))
        };
        let leader = if v >= 12 {
            kp::fetch_response::LeaderIdAndEpoch::default()
                .with_leader_id(kp::BrokerId(3))
                .with_leader_epoch(8)
        } else {
            Default::default()
        };
        kp::FetchResponse::default()
            .with_throttle_time_ms(1)
            .with_session_id(if v >= 7 { 99 } else { 0 })
            .with_responses(vec![topic.with_partitions(vec![
                    kp::fetch_response::PartitionData::default()
                        .with_partition_index(2)
                        .with_high_watermark(1000)
                        .with_last_stable_offset(990)
                        .with_log_start_offset(if v >= 5 { 5 } else { -1 })
                        .with_aborted_transactions(Some(vec![
                            kp::fetch_response::AbortedTransaction::default()
                                .with_producer_id(kp::ProducerId(42))
                                .with_first_offset(900),
                        ]))
                        .with_current_leader(leader)
                        .with_records(Some(records.clone().into())),
                ])])
    };
    for v in [4, 11, 12, 13, 16] {
        let body = encode(&resp(v), v);
        let f = FetchResponse::new(&body, v).unwrap();
        assert_eq!(f.throttle_time_ms(), Some(1));
        assert_eq!(f.session_id(), (v >= 7).then_some(99), "v{v}");
        let t = f.responses().unwrap().iter().next().unwrap();
        // topic is v0-12, topicId v13+.
        assert_eq!(t.topic(), (v <= 12).then_some("orders"), "v{v}");
        assert_eq!(t.topic_id(), (v >= 13).then_some(&TOPIC_ID_BYTES), "v{v}");
        let p = t.partitions().unwrap().iter().next().unwrap();
        assert_eq!(p.partition_index(), Some(2));
        assert_eq!(p.high_watermark(), Some(1000));
        assert_eq!(p.last_stable_offset(), Some(990));
        assert_eq!(p.log_start_offset(), (v >= 5).then_some(5), "v{v}");
        let aborted: Vec<_> = p
            .aborted_transactions()
            .unwrap()
            .iter()
            .map(|a| (a.producer_id(), a.first_offset()))
            .collect();
        assert_eq!(aborted, [(Some(42), Some(900))]);
        // currentLeader: a tagged struct from v12.
        let leader = p
            .current_leader()
            .map(|l| (l.leader_id(), l.leader_epoch()));
        assert_eq!(leader, (v >= 12).then_some((Some(3), Some(8))), "v{v}");
        let r = p.records().unwrap();
        assert_eq!(&body[r.start as usize..r.end as usize], &records[..]);
    }
}

#[test]
fn produce_request_topics_and_records() {
    let req = |v: i16| {
        let topic = kp::produce_request::TopicProduceData::default();
        let topic = if v >= 13 {
            topic.with_topic_id(TOPIC_ID.parse().unwrap())
        } else {
            topic.with_name(kp::TopicName(s("orders")))
        };
        kp::ProduceRequest::default()
            .with_transactional_id(Some(kp::TransactionalId(s("tx"))))
            .with_acks(-1)
            .with_timeout_ms(30_000)
            .with_topic_data(vec![topic.with_partition_data(vec![
                    kp::produce_request::PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(vec![1, 2, 3, 4].into())),
                    kp::produce_request::PartitionProduceData::default()
                        .with_index(1)
                        .with_records(None),
                ])])
    };
    for v in [3, 8, 9, 12, 13] {
        let body = encode(&req(v), v);
        let p = ProduceRequest::new(&body, v).unwrap();
        assert_eq!(ProduceRequest::API_KEY, ApiKey::PRODUCE);
        assert_eq!(p.transactional_id(), Some("tx"));
        assert_eq!(p.acks(), Some(-1));
        assert_eq!(p.timeout_ms(), Some(30_000));
        let t = p.topic_data().unwrap().iter().next().unwrap();
        assert_eq!(t.name(), (v <= 12).then_some("orders"), "v{v}");
        assert_eq!(t.topic_id(), (v >= 13).then_some(&TOPIC_ID_BYTES), "v{v}");
        let parts: Vec<_> = t.partition_data().unwrap().iter().collect();
        assert_eq!(parts.len(), 2);
        let r = parts[0].records().unwrap();
        assert_eq!(&body[r.start as usize..r.end as usize], &[1, 2, 3, 4]);
        assert_eq!(parts[1].index(), Some(1));
        assert_eq!(parts[1].records(), None, "null records");
    }
}

/// OffsetCommit v1 is decoded by Kafka 3.9's definition (Kafka 4 dropped
/// it): its `commitTimestamp` is in the typed view, the union of both
/// definitions, and `None` in other versions.
#[test]
fn offset_commit_request_union_of_definitions() {
    // v1 by hand: groupId, generationIdOrMemberEpoch, memberId, topics[name,
    // partitions[partitionIndex, committedOffset, commitTimestamp,
    // committedMetadata]].
    let mut v1 = Vec::new();
    let str16 = |out: &mut Vec<u8>, x: &str| {
        out.extend((x.len() as i16).to_be_bytes());
        out.extend(x.as_bytes());
    };
    str16(&mut v1, "g1");
    v1.extend(5i32.to_be_bytes());
    str16(&mut v1, "m-1");
    v1.extend(1i32.to_be_bytes());
    str16(&mut v1, "orders");
    v1.extend(1i32.to_be_bytes());
    v1.extend(3i32.to_be_bytes());
    v1.extend(1234i64.to_be_bytes());
    v1.extend(1_700_000_000_000i64.to_be_bytes());
    str16(&mut v1, "meta");
    let o = OffsetCommitRequest::new(&v1, 1).unwrap();
    assert!(o.view().is_complete());
    assert_eq!(o.group_id(), Some("g1"));
    assert_eq!(o.generation_id_or_member_epoch(), Some(5));
    assert_eq!(o.retention_time_ms(), None, "v2-4");
    let t = o.topics().unwrap().iter().next().unwrap();
    let p = t.partitions().unwrap().iter().next().unwrap();
    assert_eq!(p.committed_offset(), Some(1234));
    assert_eq!(p.commit_timestamp(), Some(1_700_000_000_000));
    assert_eq!(p.committed_metadata(), Some("meta"));
    assert_eq!(p.committed_leader_epoch(), None, "v6+");

    let req = |v: i16| {
        kp::OffsetCommitRequest::default()
            .with_group_id(kp::GroupId(s("g1")))
            .with_generation_id_or_member_epoch(5)
            .with_member_id(s("m-1"))
            .with_group_instance_id((v >= 7).then(|| s("i-1")))
            .with_retention_time_ms(if v <= 4 { 60_000 } else { -1 })
            .with_topics(vec![
                kp::offset_commit_request::OffsetCommitRequestTopic::default()
                    .with_name(kp::TopicName(s("orders")))
                    .with_partitions(vec![
                        kp::offset_commit_request::OffsetCommitRequestPartition::default()
                            .with_partition_index(3)
                            .with_committed_offset(1234)
                            .with_committed_leader_epoch(if v >= 6 { 2 } else { -1 })
                            .with_committed_metadata(None),
                    ]),
            ])
    };
    for v in [2, 4, 5, 7, 8, 9] {
        let body = encode(&req(v), v);
        let o = OffsetCommitRequest::new(&body, v).unwrap();
        assert!(o.view().is_complete(), "v{v}");
        assert_eq!(o.member_id(), Some("m-1"));
        assert_eq!(o.retention_time_ms(), (v <= 4).then_some(60_000), "v{v}");
        assert_eq!(o.group_instance_id(), (v >= 7).then_some("i-1"), "v{v}");
        let t = o.topics().unwrap().iter().next().unwrap();
        assert_eq!(t.name(), Some("orders"));
        let p = t.partitions().unwrap().iter().next().unwrap();
        assert_eq!(p.partition_index(), Some(3));
        assert_eq!(p.committed_offset(), Some(1234));
        assert_eq!(p.commit_timestamp(), None, "v1 only");
        assert_eq!(p.committed_leader_epoch(), (v >= 6).then_some(2), "v{v}");
        assert_eq!(p.committed_metadata(), None, "null");
    }
}

#[test]
fn consumer_group_heartbeat_request_nullable_arrays() {
    let req = kp::ConsumerGroupHeartbeatRequest::default()
        .with_group_id(kp::GroupId(s("g1")))
        .with_member_id(s("m-1"))
        .with_member_epoch(3)
        .with_instance_id(None)
        .with_rack_id(Some(s("az1")))
        .with_rebalance_timeout_ms(-1)
        .with_subscribed_topic_names(Some(vec![kp::TopicName(s("a")), kp::TopicName(s("b"))]))
        .with_server_assignor(None)
        .with_topic_partitions(Some(vec![
            kp::consumer_group_heartbeat_request::TopicPartitions::default()
                .with_topic_id(TOPIC_ID.parse().unwrap())
                .with_partitions(vec![0, 1, 2]),
        ]));
    let body = encode(&req, 0);
    let h = ConsumerGroupHeartbeatRequest::new(&body, 0).unwrap();
    assert_eq!(
        ConsumerGroupHeartbeatRequest::API_KEY,
        ApiKey::CONSUMER_GROUP_HEARTBEAT
    );
    assert_eq!(h.group_id(), Some("g1"));
    assert_eq!(h.member_epoch(), Some(3));
    assert_eq!(h.instance_id(), None);
    assert_eq!(h.rack_id(), Some("az1"));
    let names: Vec<_> = h.subscribed_topic_names().unwrap().iter().collect();
    assert_eq!(names, [Some("a"), Some("b")]);
    assert_eq!(h.subscribed_topic_regex(), None, "v1+");
    let tps: Vec<_> = h
        .topic_partitions()
        .unwrap()
        .iter()
        .map(|tp| {
            (
                *tp.topic_id().unwrap(),
                tp.partitions().unwrap().iter().collect::<Vec<_>>(),
            )
        })
        .collect();
    assert_eq!(tps, [(TOPIC_ID_BYTES, vec![0, 1, 2])]);

    // Null arrays are None.
    let req = req
        .with_subscribed_topic_names(None)
        .with_topic_partitions(None);
    let body = encode(&req, 0);
    let h = ConsumerGroupHeartbeatRequest::new(&body, 0).unwrap();
    assert!(h.subscribed_topic_names().is_none());
    assert!(h.topic_partitions().is_none());
    assert_eq!(
        h.rebalance_timeout_ms(),
        Some(-1),
        "fields after a null array"
    );
}

#[test]
fn api_versions_response_and_its_v0_fallback() {
    let resp = kp::ApiVersionsResponse::default()
        .with_error_code(0)
        .with_api_keys(vec![
            kp::api_versions_response::ApiVersion::default()
                .with_api_key(ApiKey::PRODUCE.0)
                .with_min_version(3)
                .with_max_version(13),
            kp::api_versions_response::ApiVersion::default()
                .with_api_key(ApiKey::CONSUMER_GROUP_HEARTBEAT.0)
                .with_min_version(0)
                .with_max_version(1),
        ])
        .with_throttle_time_ms(5)
        .with_supported_features(vec![
            kp::api_versions_response::SupportedFeatureKey::default()
                .with_name(s("metadata.version"))
                .with_min_version(1)
                .with_max_version(27),
        ])
        .with_finalized_features_epoch(12);
    let body = encode(&resp, 3);
    let a = ApiVersionsResponse::new(&body, 3).unwrap();
    assert_eq!(a.view().version(), 3);
    let keys: Vec<_> = a
        .api_keys()
        .unwrap()
        .iter()
        .map(|k| (k.api_key().map(ApiKey), k.min_version(), k.max_version()))
        .collect();
    assert_eq!(
        keys,
        [
            (Some(ApiKey::PRODUCE), Some(3), Some(13)),
            (Some(ApiKey::CONSUMER_GROUP_HEARTBEAT), Some(0), Some(1)),
        ]
    );
    assert_eq!(a.throttle_time_ms(), Some(5));
    // Tagged fields of v3+.
    let f = a.supported_features().unwrap().iter().next().unwrap();
    assert_eq!(
        (f.name(), f.max_version()),
        (Some("metadata.version"), Some(27))
    );
    assert_eq!(a.finalized_features_epoch(), Some(12));
    assert!(a.finalized_features().is_none(), "not sent");

    // A broker answers a v3 request it does not support in the v0 layout.
    let v0 = encode(
        &kp::ApiVersionsResponse::default()
            .with_error_code(ErrorCode::UNSUPPORTED_VERSION.0)
            .with_api_keys(vec![
                kp::api_versions_response::ApiVersion::default()
                    .with_api_key(ApiKey::API_VERSIONS.0)
                    .with_max_version(2),
            ]),
        0,
    );
    let a = ApiVersionsResponse::new(&v0, 3).unwrap();
    assert_eq!(a.view().version(), 0);
    assert_eq!(
        a.error_code().map(ErrorCode),
        Some(ErrorCode::UNSUPPORTED_VERSION)
    );
    assert_eq!(a.api_keys().unwrap().len(), 1);
    assert_eq!(a.throttle_time_ms(), None, "v1+");
}

#[test]
fn headers_and_unknown_versions() {
    let h = kp::RequestHeader::default()
        .with_request_api_key(ApiKey::JOIN_GROUP.0)
        .with_request_api_version(9)
        .with_correlation_id(77)
        .with_client_id(Some(s("cli")));
    let bytes = encode(&h, 2);
    let r = RequestHeader::new(&bytes, 2).unwrap();
    assert_eq!(r.request_api_key().map(ApiKey), Some(ApiKey::JOIN_GROUP));
    assert_eq!(r.request_api_version(), Some(9));
    assert_eq!(r.correlation_id(), Some(77));
    assert_eq!(r.client_id(), Some("cli"));
    // RequestHeader v0 has no client id.
    let r = RequestHeader::new(&bytes, 0).unwrap();
    assert_eq!(r.client_id(), None);

    // A version below any known has no view; one above the newest is read
    // with the newest definition.
    assert!(JoinGroupRequest::new(&[], -1).is_none());
    let j = JoinGroupRequest::new(&[], 100).unwrap();
    assert_eq!(j.view().version(), 9);
    assert_eq!(j.group_id(), None);
    assert!(j.protocols().is_none());
}

/// Every accessor of a few messages on random bytes: no panic.
#[test]
fn random_bytes_never_panic() {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..2000 {
        let len = (next() % 64) as usize;
        let body: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        let v = (next() % 14) as i16;
        if let Some(m) = MetadataResponse::new(&body, v) {
            let _ = (m.throttle_time_ms(), m.cluster_id(), m.error_code());
            for t in m.topics().into_iter().flatten() {
                let _ = (t.name(), t.topic_id());
                for p in t.partitions().into_iter().flatten() {
                    let _ = p.replica_nodes().map(|r| r.iter().count());
                }
            }
        }
        if let Some(j) = JoinGroupRequest::new(&body, v % 10) {
            for p in j.protocols().into_iter().flatten() {
                let _ = p
                    .metadata()
                    .and_then(ConsumerProtocolSubscription::versioned);
            }
        }
        let _ = ConsumerProtocolAssignment::versioned(&body)
            .and_then(|a| a.assigned_partitions())
            .map(|a| a.iter().flat_map(|tp| tp.partitions()).count());
    }
}

/// Names and types the generator must keep (the compiler checks them):
/// Kafka's struct type names per message module, keywords as raw
/// identifiers, the re-exports.
#[allow(dead_code)]
fn generated_names<'a>(
    j: JoinGroupRequest<'a>,
    d: views::describe_configs_response::DescribeConfigsResourceResult<'a>,
    s: views::sync_group_request::SyncGroupRequestAssignment<'a>,
    c: views::create_acls_request::AclCreation<'a>,
    q: views::describe_client_quotas_request::ComponentData<'a>,
    l: views::leader_change_message::Voter<'a>,
    f: views::fetch_request::FetchPartition<'a>,
) {
    let _: Option<&'a str> = j.member_id();
    let _: Option<Array<'a, join_group_request::JoinGroupRequestProtocol<'a>>> = j.protocols();
    let _: Option<i8> = d.config_type();
    let _: Option<&'a [u8]> = s.assignment();
    let _: Option<u32> = s.assignment_offset();
    let _: Option<i8> = c.resource_pattern_type();
    let _: Option<&'a str> = q.r#match();
    let _: Option<&'a [u8; 16]> = l.voter_directory_id();
    let _: Option<i64> = f.fetch_offset();
}

#[test]
fn api_key_constants() {
    for (k, name) in [
        (ApiKey::PRODUCE, "Produce"),
        (ApiKey::LIST_OFFSETS, "ListOffsets"),
        (ApiKey::OFFSET_COMMIT, "OffsetCommit"),
        (ApiKey::JOIN_GROUP, "JoinGroup"),
        (ApiKey::SYNC_GROUP, "SyncGroup"),
        (ApiKey::CONSUMER_GROUP_HEARTBEAT, "ConsumerGroupHeartbeat"),
        (ApiKey::SHARE_FETCH, "ShareFetch"),
        (ApiKey::LIST_CONFIG_RESOURCES, "ListConfigResources"),
    ] {
        assert_eq!(k.name(), name);
    }
    assert_eq!(views::ShareFetchRequest::API_KEY, ApiKey::SHARE_FETCH);
    assert_eq!(views::ShareFetchResponse::API_KEY, ApiKey::SHARE_FETCH);
}
