//! Protocol conformance and retry loops on real captures: brokers and
//! clients that deviate from the protocol, and what it did on the wire.
//! Every number here was read off the capture (`kwire list`, tshark).

mod common;

use common::*;
use kwire::analysis::findings::{Finding, Severity};

fn corpus(name: &str) -> Vec<Finding> {
    diagnose(&corpus_dir().join(format!("{name}.pcap")), &[])
}

fn with_code<'a>(all: &'a [Finding], code: &str) -> Vec<&'a Finding> {
    all.iter().filter(|f| f.code == code).collect()
}

/// Sarama 1.22 against tansu 0.6: tansu answers JoinGroup v1 with
/// MEMBER_ID_REQUIRED (79), which Kafka defines only from JoinGroup v4
/// (KIP-394). Sarama does not know the code and sends the same JoinGroup
/// again 300 ms later: 107 times from sarama-member-a (frames 55…, s5) and 44
/// from sarama-member-b (s7), never joining. One error finding tells the
/// deviation, whose it is, the loop, its count and its period; the loops are
/// not told again on their own.
#[test]
fn tansu_member_id_required_on_join_group_v1() {
    let all = corpus("sarama_tansu");
    let f = with_code(&all, "protocol_error_code");
    assert_eq!(f.len(), 1, "{all:#?}");
    let f = f[0];
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(f.count, 151);
    for part in [
        "broker 127.0.0.1:49791 deviates from the protocol",
        "JoinGroup v1 with MEMBER_ID_REQUIRED (79) 151 times",
        "only from v4 (KIP-394, Kafka 2.2)",
        "sarama-member-a and sarama-member-b retried in a loop: 151 requests every 301 ms",
        "never getting through",
    ] {
        assert!(f.title.contains(part), "{part:?} not in {:?}", f.title);
    }
    assert_eq!(f.clients, ["sarama-member-a", "sarama-member-b"]);
    assert_eq!(f.groups, ["sarama-group"]);
    assert_eq!(f.streams, [5, 7]);
    assert_eq!(&f.frames[..3], [57, 64, 70]);
    assert!(
        f.details
            .iter()
            .any(|d| d.starts_with("consequence: sarama-member-a sent JoinGroup v1 107 times")),
        "{:#?}",
        f.details
    );
    assert!(with_code(&all, "retry_loop").is_empty(), "told once");
}

/// librdkafka's mock cluster appends one byte to every Metadata v13
/// response (18 of them in confluent_basic, frames 11, 72, …): a harmless
/// deviation, said as information.
#[test]
fn mock_metadata_v13_trailing_byte() {
    let all = corpus("confluent_basic");
    let f = with_code(&all, "protocol_trailing_bytes");
    assert_eq!(f.len(), 1, "{all:#?}");
    let f = f[0];
    assert_eq!((f.severity, f.count), (Severity::Info, 18));
    assert!(
        f.title
            .contains("sent 18 Metadata v13 responses with 1 byte after the last field"),
        "{}",
        f.title
    );
    assert_eq!(&f.frames[..3], [11, 72, 90]);
}

/// The mock writes nulls where the schema allows none in error responses
/// (FindCoordinator v2's host, JoinGroup v5's leader, memberId and
/// protocolName): information, since librdkafka reads them as null.
#[test]
fn mock_nulls_in_error_responses() {
    let all = corpus("errors_mtu1500");
    let f = with_code(&all, "protocol_null");
    let titles: Vec<&str> = f.iter().map(|f| f.title.as_str()).collect();
    assert_eq!(f.len(), 2, "{titles:#?}");
    assert!(f.iter().all(|f| f.severity == Severity::Info));
    assert!(
        titles.iter().any(|t| t.ends_with(
            "sent 1 JoinGroup v5 response with null in fields that may not be null at v5: protocolName (nullable only from v7), leader (never nullable), memberId (never nullable)"
        )),
        "{titles:#?}"
    );
}

/// The mock keeps a transaction marker's batch with CRC 0 (frame 144 of
/// transactions.pcap); librdkafka, which checks CRCs only when asked, went
/// on: information, with what a Java consumer would have done.
#[test]
fn mock_control_batch_crc() {
    let all = corpus("transactions");
    let f = with_code(&all, "protocol_records");
    assert_eq!(f.len(), 1, "{all:#?}");
    let f = f[0];
    assert_eq!(
        (f.severity, f.count, f.frames.as_slice()),
        (Severity::Info, 1, &[144][..])
    );
    assert!(f.title.contains("\"CRC verifies\""), "{}", f.title);
    assert!(f.details.iter().any(|d| d.contains("check.crcs")));
}

/// A retry loop another family explains is told in that family's finding:
/// lost-producer asks Metadata for a topic that does not exist 18 times,
/// backing off from about 200 ms to about 300 ms.
#[test]
fn loop_folded_into_its_cause() {
    let all = diagnose_recorded(&samples_dir().join("findings"), "metadata_unknown_topic");
    assert!(with_code(&all, "retry_loop").is_empty(), "{all:#?}");
    let f = with_code(&all, "unknown_topic");
    assert_eq!(f.len(), 1);
    assert!(
        f[0].details.iter().any(|d| d.starts_with(
            "as a consequence: lost-producer sent Metadata v13 18 times over 5.0 s, backing off"
        )),
        "{:#?}",
        f[0].details
    );
}

/// Healthy traffic from real clients: whatever deviations the brokers show
/// (the mock's trailing bytes and nulls), nothing above information from
/// any family.
#[test]
fn healthy_corpus_has_no_warning() {
    for name in [
        "confluent_basic",
        "confluent_basic_mtu1500",
        "kip848",
        "transactions",
        "kafka_python",
        "kafka_python_legacy",
        "kcat",
        "bulk_mtu1500",
    ] {
        let all = corpus(name);
        let loud: Vec<_> = all.iter().filter(|f| f.severity > Severity::Info).collect();
        assert!(loud.is_empty(), "{name}: {loud:#?}");
    }
}

/// bulk_mtu1500's capture lost 677 KiB in 7 holes on 3 connections
/// (segments acknowledged, never captured): context of its own.
#[test]
fn capture_gaps_are_context() {
    let all = corpus("bulk_mtu1500");
    let f = with_code(&all, "capture_gaps");
    assert_eq!(f.len(), 1);
    assert_eq!((f[0].severity, f[0].count), (Severity::Info, 7));
    assert_eq!(f[0].streams, [1, 2, 3]);
    assert!(
        f[0].title
            .starts_with("the capture is missing 677.0 KiB in 7 holes on 3 connections")
    );
}

/// librdkafka's mock cluster advertises LeaveGroup v3 but answers it in the
/// v0–v2 layout (no `members` array): kafkajs 2.2.4's two leaves (responses
/// at frames 279 and 348 of samples/findings/kafkajs_group.pcap). The
/// finding names the broker, the field the body ends before, and the
/// version the bytes do read as.
#[test]
fn mock_leave_group_v3_in_an_older_layout() {
    let all = diagnose_recorded(&samples_dir().join("findings"), "kafkajs_group");
    let f = with_code(&all, "protocol_malformed");
    assert_eq!(f.len(), 1, "{all:#?}");
    let f = f[0];
    assert_eq!((f.severity, f.count), (Severity::Warning, 2));
    assert_eq!(f.frames, [279, 348]);
    assert!(
        f.title
            .ends_with("sent 2 LeaveGroup v3 responses that do not decode: ends early at members"),
        "{}",
        f.title
    );
    assert!(
        f.details
            .iter()
            .any(|d| d.starts_with("the bytes read completely as LeaveGroup v2")),
        "{:#?}",
        f.details
    );
}

/// confluent_basic seen from one side: only the packets toward the brokers
/// (what a capture filter on the destination, or asymmetric routing,
/// leaves). The capture's blindness is a warning of its own, on all 30
/// connections, and every broker said never to have answered carries the
/// caution that the capture could not see it.
#[test]
fn one_sided_capture_says_so() {
    let ports = ports_of(&corpus_dir().join("confluent_basic.pcap"));
    let toward_brokers: Vec<(kwire::capture::Timestamp, Vec<u8>)> =
        read_packets(&corpus_dir().join("confluent_basic.pcap"))
            .into_iter()
            .filter_map(|(_, ts, data)| {
                // Ethernet (lo), IPv4, TCP: the destination port.
                let ip = data.get(14..)?;
                let ihl = usize::from(ip.first()? & 0x0f) * 4;
                let tcp = ip.get(ihl..)?;
                let dst = u16::from_be_bytes([*tcp.get(2)?, *tcp.get(3)?]);
                ports.contains(&dst).then(|| (ts, ip.to_vec()))
            })
            .collect();
    assert_eq!(toward_brokers.len(), 441, "tcpdump finds 441 such packets");
    let (records, _) = run_packets(&toward_brokers, kwire::session::SessionConfig::default());
    let all = findings_of(&records);
    let f = with_code(&all, "capture_one_sided");
    assert_eq!(f.len(), 1, "{all:#?}");
    assert_eq!((f[0].severity, f[0].count), (Severity::Warning, 30));
    assert!(
        f[0].title.contains("only the clients' packets"),
        "{}",
        f[0].title
    );
    let down = with_code(&all, "broker_down");
    assert!(!down.is_empty(), "{all:#?}");
    for d in down {
        assert!(
            d.details
                .iter()
                .any(|l| l.starts_with("caution: the capture has one side only of")),
            "{:#?}",
            d.details
        );
    }
}

/// A capture of samples/conformance (see its README: a real client against
/// a small broker made to break one rule, or librdkafka's mock).
fn deviant(name: &str) -> Vec<Finding> {
    diagnose_recorded(&samples_dir().join("conformance"), name)
}

fn the<'a>(all: &'a [Finding], code: &str) -> &'a Finding {
    let f = with_code(all, code);
    assert_eq!(f.len(), 1, "{code}: {all:#?}");
    f[0]
}

/// kafka-python's JoinGroup v3 answered MEMBER_ID_REQUIRED 30 times, 51 ms
/// apart (the broker's 50 ms and the client's 1–2): one error, the loop
/// inside.
#[test]
fn own_broker_code_too_new_loops() {
    let all = deviant("error_code_too_new");
    let f = the(&all, "protocol_error_code");
    assert_eq!((f.severity, f.count), (Severity::Error, 30));
    assert!(
        f.title
            .contains("JoinGroup v3 with MEMBER_ID_REQUIRED (79) 30 times"),
        "{}",
        f.title
    );
    assert!(
        f.title
            .contains("looping-consumer retried in a loop: 30 requests every 51 ms"),
        "{}",
        f.title
    );
    assert!(with_code(&all, "retry_loop").is_empty());
}

/// 4 bytes after each of 3 Produce v7 responses: harmless, said once.
#[test]
fn own_broker_trailing_bytes() {
    let all = deviant("trailing_bytes");
    let f = the(&all, "protocol_trailing_bytes");
    assert_eq!(
        (f.severity, f.count, f.frames.as_slice()),
        (Severity::Info, 3, &[11, 13, 15][..])
    );
    assert!(
        f.title
            .contains("3 Produce v7 responses with 4 bytes after the last field")
    );
}

/// A Produce v7 response ending after baseOffset: librdkafka fails the
/// record (underflow).
#[test]
fn own_broker_missing_field() {
    let all = deviant("missing_field");
    let f = the(&all, "protocol_malformed");
    assert_eq!(
        (f.severity, f.count, f.frames.as_slice()),
        (Severity::Warning, 1, &[11][..])
    );
    assert!(
        f.title.ends_with(
            "sent 1 Produce v7 response that does not decode: ends early at responses[0].partitionResponses[0].logAppendTimeMs"
        ),
        "{}",
        f.title
    );
}

/// Metadata v5 answered in v1's layout, 7 times, on 7 connections: the
/// finding says which version the bytes are, and tells the reconnects as
/// its consequence; the throttle time the misread bytes seemed to carry is
/// not believed.
#[test]
fn own_broker_answers_another_version() {
    let all = deviant("wrong_response_version");
    let f = the(&all, "protocol_malformed");
    assert_eq!((f.severity, f.count), (Severity::Warning, 7));
    assert!(
        f.details
            .iter()
            .any(|d| d.starts_with("the bytes read completely as Metadata v1"))
    );
    assert!(
        f.details.iter().any(|d| d.starts_with(
            "as a consequence: client metadata-v5-producer opened 7 short-lived connections"
        )),
        "{:#?}",
        f.details
    );
    assert!(with_code(&all, "reconnect_storm").is_empty());
    assert!(with_code(&all, "throttled").is_empty(), "{all:#?}");
}

/// A null topic name in all 25 Metadata v5 responses: kafka-python asks
/// again every ~100 ms and never gets a usable answer: an error.
#[test]
fn own_broker_null_loops_the_client() {
    let all = deviant("null_not_nullable");
    let f = the(&all, "protocol_null");
    assert_eq!((f.severity, f.count), (Severity::Error, 25));
    assert!(
        f.title.ends_with(
            "with null in fields that may not be null at v5: name (nullable only from v12)"
        ),
        "{}",
        f.title
    );
    assert!(
        f.details[0].starts_with(
            "consequence: the client asked again and again, 25 Metadata requests over 2.4 s (about every 102 ms), and never got a usable answer"
        ),
        "{:#?}",
        f.details
    );
}

/// A batch whose CRC-32C does not verify, to kafka-python (which checks
/// CRCs and stopped there): a warning.
#[test]
fn own_broker_bad_crc() {
    let all = deviant("bad_crc");
    let f = the(&all, "protocol_records");
    assert_eq!(
        (f.severity, f.frames.as_slice()),
        (Severity::Warning, &[23][..])
    );
    assert!(
        f.title.ends_with(
            "breaks the rule \"CRC verifies\": batch crc 0xb2c01453, computed CRC-32C 0xb23f14ac"
        ),
        "{}",
        f.title
    );
}

/// maxTimestamp below baseTimestamp (frame 23), and a batch whose
/// lastOffsetDelta takes it past the high watermark (frame 25), which made
/// the client fetch from offset 8 and skip 4–7.
#[test]
fn own_broker_batch_invariants() {
    let all = deviant("batch_timestamps");
    let rec = with_code(&all, "protocol_records");
    assert_eq!(rec.len(), 2, "{all:#?}");
    let hw = rec
        .iter()
        .find(|f| f.title.contains("end below the high watermark"))
        .unwrap();
    assert_eq!(
        (hw.severity, hw.frames.as_slice()),
        (Severity::Warning, &[25][..])
    );
    assert!(hw.title.ends_with("a batch at offset 2 with lastOffsetDelta 5 for 2 records ends at offset 7, the partition's high watermark being 4"), "{}", hw.title);
    let ts = rec
        .iter()
        .find(|f| f.title.contains("maxTimestamp ≥ baseTimestamp"))
        .unwrap();
    assert_eq!(ts.frames, [23]);
}

/// Three pairs of pipelined Produce responses swapped.
#[test]
fn own_broker_answers_out_of_order() {
    let all = deviant("out_of_order");
    let f = the(&all, "protocol_response_order");
    assert_eq!((f.severity, f.count), (Severity::Warning, 3));
}

/// kafka-python pinned to Kafka 2.0 sends Produce v6 to a broker that
/// advertises v0–v5 (which answers anyway): the client's deviation, told by
/// the bootstrap family.
#[test]
fn client_ignores_the_advertised_versions() {
    let all = deviant("version_not_advertised");
    let f = the(&all, "version_unsupported");
    assert_eq!((f.severity, f.count), (Severity::Warning, 3));
    assert!(
        f.title.contains("pinned-producer sent Produce v6 3 times"),
        "{}",
        f.title
    );
}

/// The mock's LeaveGroup v3 without `members`, to KafkaJS (frame 33).
#[test]
fn mock_leave_group_v3_to_kafkajs() {
    let all = deviant("mock_leavegroup_v3");
    let f = the(&all, "protocol_malformed");
    assert_eq!((f.severity, f.count), (Severity::Warning, 1));
    assert!(
        f.title
            .ends_with("sent 1 LeaveGroup v3 response that does not decode: ends early at members")
    );
    assert!(
        f.details
            .iter()
            .any(|d| d.starts_with("the bytes read completely as LeaveGroup v2"))
    );
}
