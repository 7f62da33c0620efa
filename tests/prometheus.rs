//! Prometheus metrics (docs/metrics.md), read by Prometheus' own parser
//! (the Python client's `text_string_to_metric_families`, which
//! `scripts/setup --test` installs):
//!
//! - `kwire stats --format prometheus` on every corpus capture parses, and
//!   its numbers are `kwire stats --json`'s: requests, errors, negotiations,
//!   malformed responses, unanswered requests, bytes and answered latencies
//!   per API, requests per client id, responses per API and error code.
//! - `--metrics` is refused for a capture file, in one line.
//! - Live: librdkafka's mock cluster and a real client (confluent-kafka),
//!   `kwire export -i lo --metrics 127.0.0.1:0`, scraped during the run: the
//!   requests per API the scrape counts are the exchanges exported. Skips
//!   with a printed reason where the machine cannot capture, unless
//!   `KWIRE_REQUIRE_LIVE=1` (as tests/live.rs).

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// Prints every sample of the exposition on stdin as a JSON line
/// `[family, type, sample name, labels, value]`, through Prometheus'
/// parser (which raises on anything it does not accept).
const PARSE: &str = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
for f in text_string_to_metric_families(sys.stdin.read()):
    for s in f.samples:
        print(json.dumps([f.name, f.type, s.name, s.labels, s.value]))
"#;

/// One parsed sample.
#[derive(Debug)]
struct Sample {
    family: String,
    kind: String,
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

fn parse(text: &str) -> Vec<Sample> {
    let mut child = Command::new("python3")
        .args(["-c", PARSE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let mut stdin = child.stdin.take().unwrap();
    let text_copy = text.to_string();
    let text = text.to_string();
    let feeder = std::thread::spawn(move || stdin.write_all(text.as_bytes()));
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains("No module named 'prometheus_client'"),
        "python3 has no prometheus_client: run scripts/setup --test"
    );
    if !out.status.success() {
        let path = std::env::temp_dir().join("kwire-refused.prom");
        let _ = std::fs::write(&path, text_copy);
        panic!("Prometheus' parser refused it ({}): {err}", path.display());
    }
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            Sample {
                family: v[0].as_str().unwrap().into(),
                kind: v[1].as_str().unwrap().into(),
                name: v[2].as_str().unwrap().into(),
                labels: v[3]
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                    .collect(),
                value: v[4].as_f64().unwrap(),
            }
        })
        .collect()
}

/// Sum of sample `name`'s values by the values of label `by`.
fn sum_by(samples: &[Sample], name: &str, by: &[&str]) -> BTreeMap<Vec<String>, u64> {
    let mut m = BTreeMap::new();
    for s in samples.iter().filter(|s| s.name == name) {
        let key = by
            .iter()
            .map(|l| s.labels.get(*l).cloned().unwrap_or_default())
            .collect();
        *m.entry(key).or_default() += s.value as u64;
    }
    m
}

fn kwire(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_kwire"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn stats_prometheus_parses_and_agrees_with_stats_json_on_every_corpus_capture() {
    let mut captures: Vec<_> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "pcap"))
        .collect();
    captures.sort();
    assert!(captures.len() >= 10);
    let mut checked = 0;
    for path in &captures {
        let p = path.to_str().unwrap();
        let out = kwire(&["stats", "--format", "prometheus", p]);
        assert!(out.status.success(), "{p}: {out:?}");
        let text = String::from_utf8(out.stdout).unwrap();
        let samples = parse(&text);
        // Conventions: counters end in _total, histograms in seconds.
        for s in &samples {
            assert!(s.name.starts_with("kwire_"), "{p}: {}", s.name);
            match s.kind.as_str() {
                "counter" => assert!(s.name.ends_with("_total"), "{p}: {}", s.name),
                "histogram" => assert!(s.family.ends_with("_seconds"), "{p}: {}", s.family),
                "gauge" => {}
                k => panic!("{p}: {} is a {k}", s.name),
            }
        }

        let json = kwire(&["stats", "--json", p]);
        assert!(json.status.success());
        let top: Value = serde_json::from_slice(&json.stdout).unwrap();
        let j = &top["stats"];
        // Per API.
        let by_api = |name| sum_by(&samples, name, &["api"]);
        let fields = [
            ("kwire_requests_total", "requests"),
            ("kwire_errors_total", "errors"),
            ("kwire_malformed_responses_total", "malformed"),
            ("kwire_unanswered_requests_total", "no_response"),
            ("kwire_request_bytes_total", "request_bytes"),
            ("kwire_response_bytes_total", "response_bytes"),
        ];
        for (metric, field) in fields {
            let want: BTreeMap<Vec<String>, u64> = j["apis"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| {
                    let n = a[field].as_u64().unwrap();
                    (vec![a["api_name"].as_str().unwrap().to_string()], n)
                })
                .collect();
            assert_eq!(by_api(metric), want, "{p}: {metric} vs apis[].{field}");
        }
        // A negotiation never completed moves to `errors` in stats; the
        // counter keeps it (counters only grow): at most that many more.
        for a in j["apis"].as_array().unwrap() {
            let key = vec![a["api_name"].as_str().unwrap().to_string()];
            let ours = by_api("kwire_negotiations_total")
                .get(&key)
                .copied()
                .unwrap_or(0);
            let (negs, errs) = (
                a["negotiations"].as_u64().unwrap(),
                a["errors"].as_u64().unwrap(),
            );
            assert!(
                ours >= negs && ours - negs <= errs,
                "{p}: negotiations of {key:?}"
            );
        }
        let latencies: BTreeMap<Vec<String>, u64> = j["apis"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["latency_us"]["count"].as_u64() > Some(0))
            .map(|a| {
                let n = a["latency_us"]["count"].as_u64().unwrap();
                (vec![a["api_name"].as_str().unwrap().to_string()], n)
            })
            .collect();
        assert_eq!(
            by_api("kwire_request_latency_seconds_count"),
            latencies,
            "{p}"
        );
        // Per client id.
        let mut clients: BTreeMap<Vec<String>, u64> = BTreeMap::new();
        for c in j["clients"].as_array().unwrap() {
            let id = c["client_id"].as_str().unwrap_or("").to_string();
            *clients.entry(vec![id]).or_default() += c["requests"].as_u64().unwrap();
        }
        assert_eq!(
            sum_by(&samples, "kwire_requests_total", &["client_id"]),
            clients,
            "{p}: requests per client id"
        );
        // Responses per API and error code.
        let mut codes: BTreeMap<Vec<String>, u64> = BTreeMap::new();
        for e in j["errors"].as_array().unwrap() {
            let key = vec![
                e["api_name"].as_str().unwrap().to_string(),
                e["name"].as_str().unwrap().to_string(),
            ];
            *codes.entry(key).or_default() += e["exchanges"].as_u64().unwrap();
        }
        assert_eq!(
            sum_by(&samples, "kwire_error_responses_total", &["api", "error"]),
            codes,
            "{p}: error codes"
        );
        // Histograms: cumulative, ending at +Inf = count.
        let mut last: BTreeMap<Vec<String>, f64> = BTreeMap::new();
        for s in samples
            .iter()
            .filter(|s| s.name == "kwire_request_latency_seconds_bucket")
        {
            let key = vec![s.labels["api"].clone(), s.labels["broker"].clone()];
            let prev = last.insert(key, s.value).unwrap_or(0.0);
            assert!(s.value >= prev, "{p}: buckets not cumulative");
        }
        let counts = sum_by(
            &samples,
            "kwire_request_latency_seconds_count",
            &["api", "broker"],
        );
        for (k, top) in &last {
            assert_eq!(*top as u64, counts[k], "{p}: +Inf is not the count");
        }
        // The capture's health: every packet, no drop counters for a file.
        let packets = samples.iter().find(|s| s.name == "kwire_packets_total");
        assert!(packets.is_some_and(|s| s.value > 0.0), "{p}");
        assert!(!samples.iter().any(|s| s.family == "kwire_packets_dropped"));
        // The findings are diagnose's.
        let diag = kwire(&["diagnose", "--json", p]);
        let mut found: BTreeMap<Vec<String>, u64> = BTreeMap::new();
        for l in String::from_utf8(diag.stdout).unwrap().lines() {
            let f: Value = serde_json::from_str(l).unwrap();
            let key = vec![
                f["code"].as_str().unwrap().to_string(),
                f["severity"].as_str().unwrap().to_string(),
            ];
            *found.entry(key).or_default() += 1;
        }
        assert_eq!(
            sum_by(&samples, "kwire_findings", &["code", "severity"]),
            found,
            "{p}: findings"
        );
        checked += 1;
    }
    eprintln!("{checked} captures: the exposition parses and agrees with stats --json");
}

#[test]
fn metrics_are_refused_for_a_capture_file_in_one_line() {
    let file = corpus_dir().join("kcat.pcap");
    let out = kwire(&["list", "--metrics", "127.0.0.1:0", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.starts_with("kwire: error: --metrics serves a live capture: use it with -i IFACE\n"),
        "{err}"
    );
    assert!(err.lines().count() <= 2, "{err}");
    let out = kwire(&["monitor", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
}

// ---------------------------------------------------------------- live

fn skip_or_fail(reason: &str) {
    if std::env::var("KWIRE_REQUIRE_LIVE").as_deref() == Ok("1") {
        panic!("live metrics test cannot run: {reason}");
    }
    eprintln!("SKIPPED live metrics test: {reason}");
}

fn interrupt(child: &Child) {
    let _ = Command::new("kill")
        .arg("-INT")
        .arg(child.id().to_string())
        .status();
}

/// A child process interrupted, then killed, however the test ends.
struct Reap(Child);

impl Drop for Reap {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// `GET /metrics` at `addr`, the body.
fn scrape(addr: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).expect("the endpoint answers");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    out.split_once("\r\n\r\n").unwrap().1.to_string()
}

const CLIENT: &str = r#"
import sys, time
from confluent_kafka import Producer, Consumer
bs = sys.argv[1]
p = Producer({"bootstrap.servers": bs, "client.id": "prom-producer", "linger.ms": 5})
for i in range(40):
    p.produce("metered", key=str(i % 3).encode(), value=("m %d" % i).encode())
p.flush(10)
c = Consumer({"bootstrap.servers": bs, "group.id": "prom-group", "client.id": "prom-consumer",
              "auto.offset.reset": "earliest", "session.timeout.ms": 3000, "heartbeat.interval.ms": 500})
c.subscribe(["metered"])
got, t0 = 0, time.time()
while got < 40 and time.time() - t0 < 15:
    m = c.poll(0.2)
    if m is not None and not m.error():
        got += 1
c.close()
print("consumed", got)
"#;

#[test]
fn live_export_with_metrics_counts_the_exchanges_it_exports() {
    let mock = match live_ready() {
        Ok(m) => m,
        Err(why) => return skip_or_fail(&why),
    };
    if !Command::new("python3")
        .args(["-c", "import prometheus_client"])
        .status()
        .is_ok_and(|s| s.success())
    {
        return skip_or_fail("python3 cannot import prometheus_client");
    }
    let mut cluster = MockCluster::start(&mock);
    cluster.cmd("topic metered 2 1");
    let filter = cluster.bpf();
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("live.ndjson");
    let live = Command::new(env!("CARGO_BIN_EXE_kwire"))
        .args([
            "export",
            "-i",
            "lo",
            "--bpf",
            &filter,
            "--metrics",
            "127.0.0.1:0",
        ])
        .arg("-o")
        .arg(&out_path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut live = Reap(live);
    // The endpoint's address, said on stderr before the capture starts.
    let mut err = BufReader::new(live.0.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .strip_prefix("kwire: metrics at http://")
        .and_then(|a| a.strip_suffix("/metrics"))
        .unwrap_or_else(|| panic!("no endpoint line: {line:?}"))
        .to_string();
    std::thread::sleep(Duration::from_millis(1500));
    let before = parse(&scrape(&addr));
    assert!(
        sum_by(&before, "kwire_requests_total", &[])
            .values()
            .sum::<u64>()
            == 0,
        "requests before the client ran"
    );

    let client = Command::new("python3")
        .args(["-c", CLIENT, &cluster.bootstrap])
        .output()
        .unwrap();
    assert!(
        client.status.success(),
        "client failed: {}",
        String::from_utf8_lossy(&client.stderr)
    );
    // Scrape while kwire still captures, until two scrapes a second apart
    // agree (the client's last exchanges have completed).
    let t0 = Instant::now();
    let mut last = BTreeMap::new();
    let samples = loop {
        std::thread::sleep(Duration::from_millis(1000));
        let s = parse(&scrape(&addr));
        let now = sum_by(&s, "kwire_requests_total", &["api"]);
        if now == last || t0.elapsed() > Duration::from_secs(20) {
            break s;
        }
        last = now;
    };
    assert!(live.0.try_wait().unwrap().is_none(), "kwire stopped early");
    interrupt(&live.0);
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = live.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "kwire ignores SIGINT"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "kwire exit {status:?}");
    drop(cluster);

    let mut exported: BTreeMap<Vec<String>, u64> = BTreeMap::new();
    let text = std::fs::read_to_string(&out_path).unwrap();
    for l in text.lines() {
        let v: Value = serde_json::from_str(l).unwrap();
        if v["type"] == "exchange" {
            let api = v["api_name"].as_str().unwrap().to_string();
            *exported.entry(vec![api]).or_default() += 1;
        }
    }
    let scraped = sum_by(&samples, "kwire_requests_total", &["api"]);
    let n: u64 = exported.values().sum();
    assert!(n >= 20, "too few exchanges exported: {n}");
    assert_eq!(scraped, exported, "the scrape's requests per API");
    // Live health: packets counted, drop counters present, the clients named.
    let packets = samples.iter().find(|s| s.name == "kwire_packets_total");
    assert!(packets.is_some_and(|s| s.value > 0.0));
    assert!(
        samples
            .iter()
            .any(|s| s.name == "kwire_packets_dropped_total")
    );
    let clients = sum_by(&samples, "kwire_requests_total", &["client_id"]);
    assert!(clients.contains_key(&vec!["prom-consumer".to_string()]));
    eprintln!("live: {n} exchanges exported, the same per API in the scrape: {scraped:?}");
}
