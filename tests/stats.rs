//! The statistics and connections models over the real captures of
//! `../shared/corpus`, checked against tshark's reading (`.tshark.tsv`),
//! kwire's own NDJSON export (a separate path over the same exchanges), the
//! raw capture bytes, and what the recording scenarios
//! (`../shared/corpus-tools/record.py`) sent.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::process::Command;

use common::*;
use kwire::analysis::TopicNames;
use kwire::analysis::connections::{ConnState, Connections};
use kwire::analysis::stats::Stats;
use kwire::kafka::ApiKey;
use kwire::kafka::errors::ErrorCode;
use kwire::session::{Exchange, Record, Summary};
use serde_json::Value as Json;

struct Run {
    records: Vec<Record>,
    summary: Summary,
    stats: Stats,
    conns: Connections,
}

/// Feed every record of a corpus capture to the models, as the TUI does.
fn run(name: &str) -> Run {
    let (records, summary) = analyze(&corpus_dir().join(format!("{name}.pcap")), &[]);
    let mut names = TopicNames::new();
    let mut stats = Stats::new();
    let mut conns = Connections::new();
    for r in &records {
        match r {
            Record::Exchange(e) => {
                names.observe(e);
                stats.observe(e, &names);
                conns.observe_exchange(e);
            }
            Record::Event(ev) => {
                stats.observe_event(ev);
                conns.observe_event(ev);
            }
            _ => {}
        }
    }
    Run {
        records,
        summary,
        stats,
        conns,
    }
}

/// One Kafka PDU as tshark read it.
#[derive(Debug)]
struct Pdu {
    stream: u64,
    src_port: u16,
    dst_port: u16,
    len: u64,
    request_key: Option<i16>,
    response_key: Option<i16>,
    version: Option<i16>,
    correlation_id: i32,
    client_id: String,
    /// Every error code tshark read in the PDU (only when the frame holds
    /// one PDU: with several, the cell does not say which is whose).
    errors: Option<Vec<i16>>,
}

fn tshark(name: &str) -> Vec<Pdu> {
    let text = std::fs::read_to_string(corpus_dir().join(format!("{name}.tshark.tsv"))).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let col = |n: &str| header.iter().position(|h| *h == n).unwrap();
    let (st, sp, dp, ln, rk, pk, v, c, ci, er) = (
        col("tcp.stream"),
        col("tcp.srcport"),
        col("tcp.dstport"),
        col("kafka.len"),
        col("kafka.request_key"),
        col("kafka.response_key"),
        col("kafka.api_version"),
        col("kafka.correlation_id"),
        col("kafka.client_id"),
        col("kafka.error"),
    );
    let mut out = Vec::new();
    for line in lines {
        let cells: Vec<&str> = line.split('\t').collect();
        let get = |i: usize| cells.get(i).copied().unwrap_or("");
        let nth = |i: usize, k: usize| get(i).split(',').nth(k).filter(|s| !s.is_empty());
        let n = get(c).split(',').filter(|s| !s.is_empty()).count();
        for k in 0..n {
            out.push(Pdu {
                stream: get(st).parse().unwrap(),
                src_port: get(sp).parse().unwrap(),
                dst_port: get(dp).parse().unwrap(),
                len: nth(ln, k).unwrap().parse().unwrap(),
                request_key: nth(rk, k).map(|s| s.parse().unwrap()),
                response_key: nth(pk, k).map(|s| s.parse().unwrap()),
                version: nth(v, k).map(|s| s.parse().unwrap()),
                correlation_id: nth(c, k).unwrap().parse().unwrap(),
                client_id: nth(ci, k).unwrap_or("").to_string(),
                errors: (n == 1 && !get(er).is_empty())
                    .then(|| get(er).split(',').map(|s| s.parse().unwrap()).collect()),
            });
        }
    }
    out
}

/// Per API key as tshark sees it: requests, answered (a response with the
/// request's correlation id on the same connection), versions, bytes.
#[derive(Debug, Default, PartialEq, Eq)]
struct ApiRow {
    requests: u64,
    answered: u64,
    versions: BTreeSet<i16>,
    request_bytes: u64,
    response_bytes: u64,
}

fn tshark_apis(pdus: &[Pdu]) -> BTreeMap<i16, ApiRow> {
    // (stream, client port, correlation id) → response size
    let responses: HashMap<(u64, u16, i32), u64> = pdus
        .iter()
        .filter(|p| p.request_key.is_none())
        .map(|p| ((p.stream, p.dst_port, p.correlation_id), p.len))
        .collect();
    let mut out: BTreeMap<i16, ApiRow> = BTreeMap::new();
    for p in pdus {
        let Some(k) = p.request_key else { continue };
        let a = out.entry(k).or_default();
        a.requests += 1;
        a.request_bytes += p.len + 4;
        a.versions.extend(p.version);
        if let Some(len) = responses.get(&(p.stream, p.src_port, p.correlation_id)) {
            a.answered += 1;
            a.response_bytes += len + 4;
        }
    }
    out
}

fn exchanges_of(records: &[Record]) -> Vec<&Exchange> {
    exchanges(records)
}

#[test]
fn per_api_counts_match_tshark() {
    let mut checked = 0;
    for name in corpus_captures() {
        let r = run(&name);
        let want = tshark_apis(&tshark(&name));
        // tshark drops a request whose bytes the capture partly lost; kwire
        // keeps it (tests/corpus.rs checks each sits on a reported gap).
        // Take those out of kwire's counts before comparing.
        let mut damaged: BTreeMap<i16, (u64, u64, u64, u64)> = BTreeMap::new();
        for e in exchanges_of(&r.records) {
            if e.request.lost_bytes > 0 {
                let d = damaged.entry(e.api_key.0).or_default();
                d.0 += 1;
                d.1 += u64::from(e.response.is_some());
                d.2 += u64::from(e.request.size) + 4;
                d.3 += e.response.map_or(0, |m| u64::from(m.size) + 4);
            }
        }
        let got: BTreeMap<i16, ApiRow> = r
            .stats
            .apis()
            .map(|a| {
                let d = damaged.get(&a.api_key.0).copied().unwrap_or_default();
                let row = ApiRow {
                    requests: a.counts.requests - d.0,
                    answered: a.counts.answered - d.1,
                    versions: a.versions.iter().copied().collect(),
                    request_bytes: a.counts.request_bytes - d.2,
                    response_bytes: a.counts.response_bytes - d.3,
                };
                (a.api_key.0, row)
            })
            .collect();
        assert_eq!(got, want, "{name}");
        // The totals add up, and match the analyzer's summary.
        let t = r.stats.totals();
        assert_eq!(t.requests, r.summary.exchanges, "{name}");
        assert_eq!(t.answered, r.summary.answered, "{name}");
        assert_eq!(
            r.stats.apis().map(|a| a.counts.requests).sum::<u64>(),
            t.requests
        );
        assert_eq!(
            r.stats.clients().map(|c| c.counts.requests).sum::<u64>(),
            t.requests
        );
        assert_eq!(r.stats.latency().count(), t.answered, "{name}");
        assert_eq!(r.stats.dropped(), Default::default());
        checked += want.len();
        if name == "bulk_mtu1500" {
            // Three Produce requests lost bytes in the capture.
            assert_eq!(damaged.get(&0).map(|d| d.0), Some(3));
        }
    }
    assert!(checked >= 100, "{checked} (capture, api) pairs");

    // A few of the values compared, as seen.
    let r = run("confluent_basic");
    let av = r.stats.api(ApiKey::API_VERSIONS).unwrap();
    // ApiVersions v3 answered UNSUPPORTED_VERSION is negotiation (KIP-511),
    // not an error.
    assert_eq!(
        (
            av.counts.requests,
            av.counts.answered,
            av.counts.errors,
            av.counts.negotiations
        ),
        (60, 60, 0, 30)
    );
    assert_eq!(av.versions, [0, 3]);
    let fetch = r.stats.api(ApiKey::FETCH).unwrap();
    assert_eq!(
        (
            fetch.counts.requests,
            fetch.counts.answered,
            fetch.counts.no_response
        ),
        (79, 77, 2)
    );
    assert_eq!(fetch.versions, [16]);
    // JoinGroup waits for the rebalance: its p50 is seconds, not µs.
    let jg = r.stats.api(ApiKey(11)).unwrap();
    assert!(jg.latency.percentile(0.5).unwrap() > 1_000_000);
    assert!(av.latency.percentile(0.99).unwrap() < 10_000);
}

/// Errors by (API key, code) as the NDJSON export lists them: occurrences,
/// exchanges, the first request frames.
fn export_errors(name: &str) -> BTreeMap<(i16, i16), (u64, u64, Vec<u64>)> {
    let path = corpus_dir().join(format!("{name}.pcap"));
    // Decrypted as the library run is (the key log beside the capture).
    let keylog: Vec<String> = keys_of(&path)
        .map(|k| vec!["--keylog".to_string(), k.display().to_string()])
        .unwrap_or_default();
    let out = Command::new(env!("CARGO_BIN_EXE_kwire"))
        .arg("export")
        .args(&keylog)
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success());
    let mut m: BTreeMap<(i16, i16), (u64, u64, Vec<u64>)> = BTreeMap::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let j: Json = serde_json::from_str(line).unwrap();
        if j["type"] != "exchange" {
            continue;
        }
        let api = j["api_key"].as_i64().unwrap() as i16;
        let mut codes: Vec<i16> = Vec::new();
        for e in j["errors"].as_array().into_iter().flatten() {
            let code = e["code"].as_i64().unwrap() as i16;
            m.entry((api, code)).or_default().0 += 1;
            if !codes.contains(&code) {
                codes.push(code);
            }
        }
        for code in codes {
            let s = m.get_mut(&(api, code)).unwrap();
            s.1 += 1;
            if s.2.len() < 8 {
                s.2.push(j["request"]["frame"].as_u64().unwrap());
            }
        }
    }
    m
}

#[test]
fn errors_match_tshark_and_export() {
    let mut compared_with_tshark = BTreeSet::new();
    for name in corpus_captures() {
        let r = run(&name);
        let got: BTreeMap<(i16, i16), (u64, u64, Vec<u64>)> = r
            .stats
            .errors()
            .iter()
            .map(|e| {
                (
                    (e.api_key.0, e.code.0),
                    (e.count, e.exchanges, e.frames.clone()),
                )
            })
            .collect();
        assert_eq!(got, export_errors(&name), "{name}: stats vs export");
        // Status `error` is an exchange with at least one error code: an
        // error, or a negotiation's expected answer.
        let with_errors = exchanges_of(&r.records)
            .iter()
            .filter(|e| !e.errors.is_empty())
            .count() as u64;
        let t = r.stats.totals();
        assert_eq!(t.errors + t.negotiations, with_errors, "{name}");

        // tshark, for the API keys whose every response it read the error
        // codes of, none of them outside Kafka's table (tshark misreads some
        // versions: Metadata v13 gives made-up codes).
        let pdus = tshark(&name);
        let by_req: HashMap<(u64, u16, i32), i16> = pdus
            .iter()
            .filter_map(|p| Some(((p.stream, p.src_port, p.correlation_id), p.request_key?)))
            .collect();
        let mut read: BTreeMap<i16, (u64, bool, BTreeMap<i16, u64>)> = BTreeMap::new();
        for p in pdus.iter().filter(|p| p.request_key.is_none()) {
            let Some(&api) = by_req.get(&(p.stream, p.dst_port, p.correlation_id)) else {
                continue;
            };
            let a = read.entry(api).or_default();
            match (&p.errors, p.response_key) {
                (Some(codes), Some(_)) => {
                    a.0 += 1;
                    for &c in codes {
                        a.1 |= ErrorCode(c).info().is_none();
                        if c != 0 {
                            *a.2.entry(c).or_default() += 1;
                        }
                    }
                }
                _ => a.1 = true,
            }
        }
        for (api, (n, misread, codes)) in read {
            let answered = r.stats.api(ApiKey(api)).map_or(0, |a| a.counts.answered);
            if misread || n != answered {
                continue;
            }
            let mine: BTreeMap<i16, u64> = got
                .iter()
                .filter(|(k, _)| k.0 == api)
                .map(|(k, v)| (k.1, v.0))
                .collect();
            assert_eq!(mine, codes, "{name}: api {api} error codes vs tshark");
            compared_with_tshark.insert((name.clone(), api));
        }
    }
    // ApiVersions, Heartbeat, OffsetCommit, FindCoordinator, JoinGroup,
    // SyncGroup… in most captures.
    assert!(compared_with_tshark.len() >= 50, "{compared_with_tshark:?}");
    assert!(compared_with_tshark.contains(&("errors_mtu1500".into(), 8)));
    assert!(compared_with_tshark.contains(&("kafka_python_legacy".into(), 14)));

    // The errors the scenario injected (corpus README), by name.
    let r = run("errors_mtu1500");
    let e = |api: i16, name: &str| {
        let s = r
            .stats
            .error(ApiKey(api), ErrorCode::from_name(name).unwrap().0)
            .unwrap_or_else(|| panic!("{api} {name}"));
        (s.count, s.exchanges, s.frames.clone())
    };
    let (n1, x1, f1) = e(0, "NOT_LEADER_OR_FOLLOWER");
    let (n2, x2, f2) = e(0, "REQUEST_TIMED_OUT");
    assert_eq!((n1, x1, n2, x2), (2, 2, 1, 1));
    assert!(f1.iter().all(|f| *f < f2[0]), "timed out after two retries");
    assert_eq!(e(3, "LEADER_NOT_AVAILABLE").1, 2);
    assert_eq!(e(10, "COORDINATOR_NOT_AVAILABLE").1, 2);
    assert_eq!(e(11, "NOT_COORDINATOR").1, 1);
    assert_eq!(e(12, "REBALANCE_IN_PROGRESS").1, 2);
    // One OffsetCommit, failing for its three partitions.
    assert_eq!(e(8, "ILLEGAL_GENERATION").0, 3);
    assert_eq!(e(8, "ILLEGAL_GENERATION").1, 1);
    // The Produce errors are per partition of topic payments too.
    assert_eq!(r.stats.topic("payments").unwrap().traffic.produce_errors, 3);
    // The stuck client: every ApiVersions answered UNSUPPORTED_VERSION.
    let r = run("kafka_python_apiversions_loop");
    let s = r.stats.error(ApiKey::API_VERSIONS, 35).unwrap();
    assert_eq!((s.count, s.exchanges, s.frames.len()), (27, 27, 8));
    let j = r.stats.to_json();
    assert_eq!(j["errors"][0]["name"], "UNSUPPORTED_VERSION");
    assert_eq!(j["errors"][0]["api_name"], "ApiVersions");
    // Never followed by a successful ApiVersions on its connection, each
    // negotiation failed: errors.
    assert_eq!(j["apis"][0]["errors"], 27);
    assert_eq!(j["apis"][0]["negotiations"], 0);
}

/// From the NDJSON export: topic id → name (Metadata), and per (topic,
/// partition) the highest high watermark, the data records of Fetch
/// responses, and the offsets they cover.
#[derive(Default, Debug)]
struct Fetched {
    high_watermark: i64,
    records: u64,
    offsets: BTreeSet<i64>,
}

fn export_fetches(name: &str) -> BTreeMap<(String, i64), Fetched> {
    let out = Command::new(env!("CARGO_BIN_EXE_kwire"))
        .arg("export")
        .arg(corpus_dir().join(format!("{name}.pcap")))
        .output()
        .unwrap();
    let lines: Vec<Json> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|j: &Json| j["type"] == "exchange")
        .collect();
    let mut ids: HashMap<String, String> = HashMap::new();
    for j in lines.iter().filter(|j| j["api_key"] == 3) {
        for t in j["response"]["body"]["topics"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if let (Some(id), Some(n)) = (t["topicId"].as_str(), t["name"].as_str()) {
                ids.insert(id.to_string(), n.to_string());
            }
        }
    }
    let mut m: BTreeMap<(String, i64), Fetched> = BTreeMap::new();
    for j in lines.iter().filter(|j| j["api_key"] == 1) {
        for t in j["response"]["body"]["responses"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let topic = match t["topic"].as_str() {
                Some(n) => n.to_string(),
                None => ids[t["topicId"].as_str().unwrap()].clone(),
            };
            for p in t["partitions"].as_array().unwrap() {
                let f = m
                    .entry((topic.clone(), p["partitionIndex"].as_i64().unwrap()))
                    .or_default();
                f.high_watermark = f.high_watermark.max(p["highWatermark"].as_i64().unwrap());
                for b in p["records"]["batches"].as_array().into_iter().flatten() {
                    if b["isControl"] == true {
                        continue;
                    }
                    let (base, n) = (
                        b["baseOffset"].as_i64().unwrap(),
                        b["recordCount"].as_i64().unwrap(),
                    );
                    f.records += n as u64;
                    f.offsets.extend(base..base + n);
                }
            }
        }
    }
    m
}

#[test]
fn produced_and_fetched_records() {
    // record.py sc_confluent_basic: per codec (5), 60 messages to `orders`
    // and one tombstone to `events`.
    for name in ["confluent_basic", "confluent_basic_mtu1500"] {
        let r = run(name);
        let orders = r.stats.topic("orders").unwrap();
        let events = r.stats.topic("events").unwrap();
        assert_eq!(orders.traffic.produced.records, 300, "{name}");
        assert_eq!(events.traffic.produced.records, 5, "{name}");
        assert_eq!(events.traffic.produced.batches, 5, "{name}");
        assert_eq!(orders.partitions.len(), 4, "created with 4 partitions");
        // Topics in Produce v10 are named; Fetch v16 names them by id,
        // resolved through Metadata: one entry per topic, with its id.
        assert_eq!(r.stats.topics().len(), 2, "{name}");
        assert!(orders.topic_id.is_some());
        // Every Produce was answered without error: each partition's log
        // holds what was produced, and the consumers fetched all of it.
        let fetched = export_fetches(name);
        let mut total = 0;
        for t in [orders, events] {
            for p in &t.partitions {
                let f = &fetched[&(t.topic.clone(), i64::from(p.partition))];
                let produced = p.traffic.produced.records;
                assert_eq!(
                    produced as i64, f.high_watermark,
                    "{name} {}-{}",
                    t.topic, p.partition
                );
                assert_eq!(
                    p.traffic.fetched.records, f.records,
                    "{name} {}-{}",
                    t.topic, p.partition
                );
                assert_eq!(
                    f.offsets,
                    (0..f.high_watermark).collect::<BTreeSet<i64>>(),
                    "{name} {}-{}: every offset fetched",
                    t.topic,
                    p.partition
                );
                total += p.traffic.fetched.records;
            }
        }
        assert_eq!(
            orders.traffic.fetched.records + events.traffic.fetched.records,
            total
        );
        // Two members each read everything: c1 alone, then c2 from the
        // start after the rebalance (seen: 600 and 10).
        assert_eq!(orders.traffic.fetched.records, 600, "{name}");
        assert_eq!(events.traffic.fetched.records, 10, "{name}");
        assert_eq!(
            orders.traffic.produce_errors + orders.traffic.fetch_errors,
            0
        );
    }

    // The other scenarios' message counts (record.py).
    for (name, topic, n) in [
        ("kafka_python", "clicks", 40),
        ("kcat", "logs", 50),
        ("kip848", "shipments", 40),
    ] {
        let r = run(name);
        let t = r.stats.topic(topic).unwrap();
        assert_eq!(t.traffic.produced.records, n, "{name}");
        assert_eq!(t.traffic.fetched.records, n, "{name}");
        let sum: u64 = t
            .partitions
            .iter()
            .map(|p| p.traffic.produced.records)
            .sum();
        assert_eq!(sum, n, "{name}");
    }
    // Transactions: 20 committed records in one batch; the fetch also
    // brings the COMMIT marker, a batch that holds no data record.
    let r = run("transactions");
    let t = r.stats.topic("ledger-out").unwrap();
    assert_eq!(t.traffic.produced.records, 20);
    assert_eq!(
        (t.traffic.fetched.batches, t.traffic.fetched.records),
        (2, 20)
    );
    // A v1 message set (Produce v2): one "batch" per message.
    let r = run("kafka_python_legacy");
    let t = r.stats.topic("legacy").unwrap();
    assert_eq!(
        (t.traffic.produced.batches, t.traffic.produced.records),
        (20, 20)
    );
    let j = r.stats.to_json();
    assert_eq!(j["topics"][0]["topic"], "legacy");
    assert_eq!(j["topics"][0]["produced"]["records"], 20);
}

fn pcap_contains(name: &str, needle: &str) -> bool {
    let bytes = std::fs::read(corpus_dir().join(format!("{name}.pcap"))).unwrap();
    bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
}

fn ports(name: &str) -> BTreeSet<u16> {
    std::fs::read_to_string(corpus_dir().join(format!("{name}.ports")))
        .unwrap()
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect()
}

/// (stream → (client port, broker port, client id)) of tshark's requests.
fn tshark_conns(pdus: &[Pdu]) -> BTreeMap<u64, (u16, u16, String)> {
    pdus.iter()
        .filter(|p| p.request_key.is_some())
        .map(|p| (p.stream, (p.src_port, p.dst_port, p.client_id.clone())))
        .collect()
}

#[test]
fn connections_of_the_stuck_client() {
    let name = "kafka_python_apiversions_loop";
    let r = run(name);
    let want = tshark_conns(&tshark(name));
    let brokers = ports(name);
    assert_eq!(r.conns.len(), 27);
    assert_eq!(want.len(), 27);
    let got: BTreeMap<u64, (u16, u16, String)> = r
        .conns
        .iter()
        .map(|c| {
            (
                c.stream,
                (
                    c.client.port(),
                    c.broker.port(),
                    c.client_id.as_deref().unwrap_or("").to_string(),
                ),
            )
        })
        .collect();
    assert_eq!(got, want);
    assert!(pcap_contains(name, "kafka-python") && pcap_contains(name, "3.0.12"));
    let mut seen_brokers = BTreeSet::new();
    let mut last = None;
    for c in r.conns.iter() {
        // Each connection: one ApiVersions, answered with an error, then
        // closed by FIN; the next one opens after.
        assert_eq!(c.state, ConnState::Closed, "stream {}", c.stream);
        assert!(c.handshake_seen);
        assert_eq!(
            (c.requests, c.answered, c.errors, c.no_response),
            (1, 1, 1, 0)
        );
        assert_eq!(c.top_apis(3), [(ApiKey::API_VERSIONS, 1)]);
        assert_eq!(
            c.software,
            Some(("kafka-python".to_string(), "3.0.12".to_string()))
        );
        assert_eq!((c.gaps, c.resyncs, c.lost_bytes), (0, 0, 0));
        assert!(c.first_ts <= c.last_ts);
        if let Some(prev) = last {
            assert!(c.first_ts >= prev, "stream {} overlaps", c.stream);
        }
        last = Some(c.last_ts);
        seen_brokers.insert(c.broker.port());
    }
    assert_eq!(seen_brokers, brokers);
    assert_eq!(r.conns.open(), 0);
    let a = r.stats.api(ApiKey::API_VERSIONS).unwrap();
    assert_eq!(a.versions, [4]);
    assert_eq!(r.stats.clients().count(), 1);
}

#[test]
fn connections_elsewhere() {
    // confluent_basic: librdkafka's ApiVersions v3 carries the software
    // name and version on every connection.
    let name = "confluent_basic";
    let r = run(name);
    let want = tshark_conns(&tshark(name));
    assert_eq!(r.conns.len(), want.len());
    assert_eq!(r.conns.len(), 30);
    let sw = (
        "confluent-kafka-python".to_string(),
        "2.16.1-rdkafka-2.16.0".to_string(),
    );
    assert!(pcap_contains(name, &sw.0) && pcap_contains(name, &sw.1));
    for c in r.conns.iter() {
        assert_eq!(c.software.as_ref(), Some(&sw), "stream {}", c.stream);
        assert_eq!(c.state, ConnState::Closed);
        let (cp, bp, id) = &want[&c.stream];
        assert_eq!(
            (c.client.port(), c.broker.port(), c.client_id.as_deref()),
            (*cp, *bp, Some(id.as_str()))
        );
    }
    let per_conn: u64 = r.conns.iter().map(|c| c.requests).sum();
    assert_eq!(per_conn, r.stats.totals().requests);
    let bytes: u64 = r.conns.iter().map(|c| c.response_bytes).sum();
    assert_eq!(bytes, r.stats.totals().response_bytes);

    // errors_mtu1500: the broker taken down refuses connections (RST).
    let name = "errors_mtu1500";
    let r = run(name);
    let reset: Vec<_> = r
        .conns
        .iter()
        .filter(|c| c.state == ConnState::Reset)
        .collect();
    assert_eq!(reset.len(), 7);
    assert!(
        reset
            .iter()
            .all(|c| c.requests == 0 && c.client_id.is_none())
    );
    let down: BTreeSet<u16> = reset.iter().map(|c| c.broker.port()).collect();
    assert_eq!(down.len(), 1);
    assert!(down.is_subset(&ports(name)));
    // It came back: a later connection to it with traffic.
    let back = r
        .conns
        .iter()
        .filter(|c| down.contains(&c.broker.port()) && c.requests > 0)
        .map(|c| c.first_frame)
        .max()
        .unwrap();
    assert!(reset.iter().all(|c| c.first_frame < back));

    // bulk_mtu1500: gaps and resyncs land on the connections they hit.
    let r = run("bulk_mtu1500");
    let gaps: u64 = r.conns.iter().map(|c| c.gaps).sum();
    let resyncs: u64 = r.conns.iter().map(|c| c.resyncs).sum();
    assert_eq!(Some(&gaps), r.summary.events.get("gap"));
    assert_eq!(Some(&resyncs), r.summary.events.get("resync"));
    assert_eq!(r.stats.events().get("gap"), r.summary.events.get("gap"));
    assert!(
        r.conns
            .iter()
            .any(|c| c.lost_bytes > 0 && c.no_response > 0)
    );
}

#[test]
fn models_accept_every_capture_in_any_mode() {
    // Damaged captures: mangled copies of a real one, through the models.
    let dir = tempfile::tempdir().unwrap();
    let src = corpus_dir().join("confluent_basic_mtu1500.pcap");
    for (i, (mode, seed)) in [
        ("drop=0.03", 1),
        ("swap=0.2", 2),
        ("dup=0.2", 3),
        ("from=40", 4),
        ("snap=200", 5),
    ]
    .into_iter()
    .enumerate()
    {
        let out = dir.path().join(format!("{i}.pcap"));
        mangle(&src, &out, mode, seed);
        let (records, summary) = analyze(Path::new(&out), &[]);
        let mut names = TopicNames::new();
        let mut stats = Stats::new();
        let mut conns = Connections::new();
        for r in &records {
            match r {
                Record::Exchange(e) => {
                    names.observe(e);
                    stats.observe(e, &names);
                    conns.observe_exchange(e);
                }
                Record::Event(ev) => {
                    stats.observe_event(ev);
                    conns.observe_event(ev);
                }
                _ => {}
            }
        }
        assert_eq!(stats.totals().requests, summary.exchanges, "{mode}");
        let per_conn: u64 = conns.iter().map(|c| c.requests).sum();
        assert_eq!(per_conn, summary.exchanges, "{mode}");
        assert_eq!(conns.len() as u64, summary.kafka_connections, "{mode}");
        let _ = (stats.to_json(), conns.to_json());
    }
}
