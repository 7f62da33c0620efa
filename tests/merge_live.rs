//! Two captures of the same traffic, one at each end of a network link,
//! merged end to end: `scripts/record-two-ends` records a real client
//! (confluent-kafka: produce, then a consumer group) against librdkafka's
//! mock cluster across a link with 5 ms of delay each way, with tcpdump on
//! the client's side and on the broker's side, and shifts the broker
//! capture's clock 2.5 s ahead (editcap). kwire given both files must find
//! the clock offset from the segments both saw, count each exchange once,
//! and split each answered exchange's latency into the broker's time and the
//! network's, whichever order the files come in.
//!
//! The captures stay in `target/merge-live/` (the test prints the path).
//!
//! Needs root (network namespaces, capture), iproute2, tcpdump, editcap
//! (wireshark-common), python3 with confluent_kafka and the mock broker
//! built by `scripts/setup --test` (`KWIRE_MOCKBROKER`). Where the machine
//! cannot do this the test prints why and passes, unless
//! `KWIRE_REQUIRE_LIVE=1` (as in `scripts/test` and CI), where it fails.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kwire::capture::PacketSource;
use kwire::capture::file::FileSource;
use kwire::capture::link::{Decoded, decode};
use serde_json::Value;

/// What the recording is asked for, and checked against.
const DELAY_MS: f64 = 5.0;
const SHIFT_NS: i64 = 2_500_000_000;
const DELAY_NS: i64 = (DELAY_MS * 1e6) as i64;
const MESSAGES: u64 = 20;

/// The script's exit code for "this machine cannot record" (automake's).
const SKIP: i32 = 77;

fn skip_or_fail(reason: &str) {
    if std::env::var("KWIRE_REQUIRE_LIVE").as_deref() == Ok("1") {
        panic!("two-ends live test cannot run: {reason}");
    }
    eprintln!("SKIPPED two-ends live test: {reason}");
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The running recording script: however the test ends, it is stopped
/// (SIGTERM: it removes its namespaces and processes itself), and whatever
/// namespaces of its tag are left are removed.
struct Recorder {
    child: Child,
    tag: String,
}

impl Recorder {
    fn wait(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let t0 = Instant::now();
        while t0.elapsed() < limit {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(self.child.id().to_string())
                .status();
            if self.wait(Duration::from_secs(15)).is_none() {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
        for role in ["client", "wire", "broker"] {
            let ns = format!("{}-{role}", self.tag);
            let listed = Command::new("ip")
                .args(["netns", "list"])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            if listed
                .lines()
                .any(|l| l.split_whitespace().next() == Some(&ns))
            {
                let _ = Command::new("ip").args(["netns", "del", &ns]).status();
            }
        }
    }
}

/// The recording's directory, moved to `target/merge-live` when the test
/// ends (passed or not), so that the last run's captures are there to open.
struct Keep {
    tmp: PathBuf,
    out: PathBuf,
}

impl Drop for Keep {
    fn drop(&mut self) {
        if !self.tmp.exists() {
            return;
        }
        let _ = std::fs::remove_dir_all(&self.out);
        match std::fs::rename(&self.tmp, &self.out) {
            Ok(()) => eprintln!("two-ends captures kept in {}", self.out.display()),
            Err(e) => eprintln!("two-ends captures left in {} ({e})", self.tmp.display()),
        }
    }
}

struct Recording {
    client: PathBuf,
    broker: PathBuf,
    shifted: PathBuf,
    port: u16,
}

/// Record with `scripts/record-two-ends`; `Err` says why this machine
/// cannot.
fn record(dir: &Path) -> Result<Recording, String> {
    let mock = common::mockbroker()
        .ok_or("no mock broker (run scripts/setup --test or set KWIRE_MOCKBROKER)")?;
    let mut cmd = Command::new(root().join("scripts/record-two-ends"));
    cmd.arg(dir)
        .args(["--tag", &format!("kwt{}", std::process::id())])
        .args(["--delay-ms", &DELAY_MS.to_string()])
        .args(["--shift", &(SHIFT_NS as f64 / 1e9).to_string()])
        .args(["--messages", &MESSAGES.to_string()]);
    cmd.env("KWIRE_MOCKBROKER", mock);
    std::fs::create_dir_all(dir).unwrap();
    let out = std::fs::File::create(dir.join("record.out")).unwrap();
    let err = std::fs::File::create(dir.join("record.err")).unwrap();
    let child = cmd
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("cannot run scripts/record-two-ends: {e}"))?;
    let mut rec = Recorder {
        child,
        tag: format!("kwt{}", std::process::id()),
    };
    let status = rec
        .wait(Duration::from_secs(40))
        .expect("scripts/record-two-ends finishes within 40 s");
    let stderr = std::fs::read_to_string(dir.join("record.err")).unwrap_or_default();
    if status.code() == Some(SKIP) {
        let why = stderr
            .lines()
            .find_map(|l| l.strip_prefix("skip: "))
            .unwrap_or("scripts/record-two-ends cannot record here");
        return Err(why.to_string());
    }
    assert!(
        status.success(),
        "scripts/record-two-ends failed ({status}):\n{stderr}"
    );
    let result: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("record.json")).unwrap()).unwrap();
    assert_eq!(result["produced"], MESSAGES, "{result}");
    assert_eq!(result["consumed"], MESSAGES, "{result}");
    Ok(Recording {
        client: dir.join("client.pcap"),
        broker: dir.join("broker.pcap"),
        shifted: dir.join("broker-shifted.pcap"),
        port: result["port"].as_u64().unwrap() as u16,
    })
}

/// A TCP segment as both ends see it: (source, destination, seq, ack,
/// flags, payload length).
type SegmentKey = (String, String, u32, u32, u8, u32);

/// Each TCP segment of a capture with its timestamp in nanoseconds.
fn segments(path: &Path) -> HashMap<SegmentKey, i128> {
    let mut src = FileSource::open(path.to_str().unwrap()).unwrap();
    let mut out = HashMap::new();
    while let Some(p) = src.next_packet().unwrap() {
        if let Decoded::Tcp(s) = decode(p.link_type, p.data) {
            let key = (
                s.src.to_string(),
                s.dst.to_string(),
                s.seq,
                s.ack,
                s.flags.0,
                s.payload_len,
            );
            let dup = out.insert(key, p.ts.as_nanos());
            assert!(dup.is_none(), "{}: a segment twice", path.display());
        }
    }
    out
}

/// The recording itself: both captures hold the same segments, each
/// crossing the link in DELAY_MS (plus the delay line's jitter), and the
/// shifted copy is the broker capture 2.5 s later.
fn check_captures(rec: &Recording) {
    let client = segments(&rec.client);
    let broker = segments(&rec.broker);
    let shifted = segments(&rec.shifted);
    assert!(client.len() >= 80, "only {} segments", client.len());
    let keys = |m: &HashMap<SegmentKey, i128>| m.keys().cloned().collect::<BTreeSet<_>>();
    assert_eq!(
        keys(&client),
        keys(&broker),
        "the two ends saw different segments"
    );
    for (k, t) in &broker {
        assert_eq!(shifted[k] - t, SHIFT_NS as i128, "editcap shifted {k:?}");
    }
    let port = format!(":{}", rec.port);
    let (mut up, mut down) = (Vec::new(), Vec::new());
    for (k, &tc) in &client {
        let tb = broker[k];
        if k.1.ends_with(&port) {
            up.push(tb - tc); // client → broker: broker sees it later
        } else {
            down.push(tc - tb);
        }
    }
    up.sort();
    down.sort();
    let ms = |ns: i128| ns as f64 / 1e6;
    let delay_ns = DELAY_NS as i128;
    for (name, v) in [("client → broker", &up), ("broker → client", &down)] {
        let (min, median, max) = (v[0], v[v.len() / 2], v[v.len() - 1]);
        eprintln!(
            "{name}: {} segments, one way min {:.3} ms, median {:.3} ms, max {:.3} ms",
            v.len(),
            ms(min),
            ms(median),
            ms(max)
        );
        assert!(
            min >= delay_ns && median < delay_ns + 2_000_000,
            "{name}: one way min {:.3} ms median {:.3} ms, not {DELAY_MS} ms",
            ms(min),
            ms(median)
        );
    }
}

fn kwire(args: &[&Path], cmd: &str, extra: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kwire"))
        .arg(cmd)
        .args(extra)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `kwire export` of the files, which must succeed: its lines.
fn export(files: &[&Path]) -> Vec<Value> {
    let (ok, stdout, stderr) = kwire(files, "export", &["--no-bodies", "-q"]);
    assert!(ok, "kwire export {files:?} failed: {stderr}");
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("valid JSON line"))
        .collect()
}

/// An exchange's identity: (client, broker, correlation id, api key,
/// version, answered).
type ExchangeKey = (String, String, i64, i64, i64, bool);

fn key(v: &Value) -> ExchangeKey {
    (
        v["client"].as_str().unwrap().to_string(),
        v["broker"].as_str().unwrap().to_string(),
        v["correlation_id"].as_i64().unwrap(),
        v["api_key"].as_i64().unwrap(),
        v["api_version"].as_i64().unwrap(),
        !v["response"].is_null(),
    )
}

/// The exchange lines by identity; an identity seen twice fails.
fn exchanges(lines: &[Value]) -> BTreeMap<ExchangeKey, &Value> {
    let mut out = BTreeMap::new();
    for v in lines.iter().filter(|v| v["type"] == "exchange") {
        let k = key(v);
        assert!(out.insert(k.clone(), v).is_none(), "exchange twice: {k:?}");
    }
    out
}

/// A message's `ts` (RFC 3339, UTC, nanoseconds) in ns since the epoch.
fn ts_ns(message: &Value) -> i64 {
    let ts = message["ts"]
        .as_str()
        .unwrap_or_else(|| panic!("no ts in {message}"));
    let num = |r: std::ops::Range<usize>| -> i64 { ts[r].parse().unwrap() };
    let (y, m, d) = (num(0..4), num(5..7), num(8..10));
    // Days from the civil date (H. Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    let secs = days * 86_400 + num(11..13) * 3600 + num(14..16) * 60 + num(17..19);
    assert_eq!(&ts[19..20], ".", "{ts}");
    secs * 1_000_000_000 + num(20..29)
}

fn int(v: &Value, field: &str) -> i64 {
    v[field]
        .as_i64()
        .unwrap_or_else(|| panic!("no integer {field:?} in {v}"))
}

const FETCH: i64 = 1;
const JOIN_GROUP: i64 = 11;

/// The merged run of `files` (the client's side at `client_index`), checked
/// against each capture read alone. Returns the exchanges by identity with
/// (latency_us, broker_us, network_us) when answered.
fn check_merged(
    files: [&Path; 2],
    client_index: usize,
    alone_client: &BTreeMap<ExchangeKey, &Value>,
    alone_broker: &BTreeMap<ExchangeKey, &Value>,
) -> BTreeMap<ExchangeKey, Option<(i64, i64, i64)>> {
    let broker_index = 1 - client_index;
    let lines = export(&files);
    let header = &lines[0];
    assert_eq!(header["type"], "capture", "{header}");
    let captures = header["captures"]
        .as_array()
        .unwrap_or_else(|| panic!("no captures list: {header}"));
    assert_eq!(captures.len(), 2, "{header}");
    for (i, c) in captures.iter().enumerate() {
        assert_eq!(c["index"], i as u64, "{c}");
        let name = files[i].file_name().unwrap().to_str().unwrap();
        assert!(
            c["source"].as_str().is_some_and(|s| s.ends_with(name)),
            "capture {i} is not {name}: {c}"
        );
    }
    assert_eq!(int(&captures[0], "clock_offset_ns"), 0, "{header}");
    // Capture 1's clock runs ahead of capture 0's by the shift: +2.5 s when
    // capture 1 is the broker's (shifted), −2.5 s when it is the client's.
    let want = if client_index == 0 {
        SHIFT_NS
    } else {
        -SHIFT_NS
    };
    let offset = int(&captures[1], "clock_offset_ns");
    assert!(
        (offset - want).abs() <= 1_000_000,
        "clock offset {offset} ns, want {want} ± 1 ms: {header}"
    );
    assert_eq!(captures[0]["offset_from"], "reference", "{header}");
    assert_eq!(captures[1]["offset_from"], "segments", "{header}");
    assert!(int(&captures[1], "offset_error_ns") >= 0, "{header}");
    assert!(int(&captures[1], "shared_segments") > 0, "{header}");
    eprintln!(
        "merged {:?}: offset {offset} ns (error {} ns) from {} shared segments",
        files.map(|f| f.file_name().unwrap()),
        captures[1]["offset_error_ns"],
        captures[1]["shared_segments"]
    );

    let merged = exchanges(&lines);
    let count = lines.iter().filter(|v| v["type"] == "exchange").count();
    assert_eq!(
        count,
        alone_client.len(),
        "the merged run counts {count} exchanges, the client's capture alone {}",
        alone_client.len()
    );
    assert_eq!(
        merged.keys().collect::<Vec<_>>(),
        alone_client.keys().collect::<Vec<_>>(),
        "the merged run has other exchanges than the client's capture"
    );

    // The summary says how the captures' exchanges were folded: all of
    // them, each seen at both ends.
    let summary = lines.last().unwrap();
    assert_eq!(summary["type"], "summary", "{summary}");
    assert_eq!(int(summary, "exchanges"), count as i64, "{summary}");
    let merge = &summary["merge"];
    assert_eq!(int(merge, "paired"), count as i64, "{summary}");
    assert_eq!(
        merge["seen"],
        serde_json::json!([count, count]),
        "{summary}"
    );
    assert_eq!(int(merge, "released_early"), 0, "{summary}");

    let mut out = BTreeMap::new();
    let mut quick_broker_us = Vec::new();
    for (k, v) in &merged {
        assert_eq!(
            int(v, "capture"),
            client_index as i64,
            "the client's side is the primary view: {v}"
        );
        let alone = alone_client[k];
        // Every segment crossed the link, so both ends saw every request.
        let side = &v["broker_side"];
        assert!(side.is_object(), "{k:?}: no broker_side in {v}");
        assert_eq!(int(side, "capture"), broker_index as i64, "{v}");
        // Frames are numbered on the merged time line, times are on capture
        // 0's clock: the request reaches the broker's end one link delay
        // after it left the client's, and the answer leaves it one delay
        // before it reaches the client's.
        let arrives = ts_ns(&side["request"]) - ts_ns(&v["request"]);
        assert!(
            (0..=3 * DELAY_NS).contains(&arrives),
            "{k:?}: the request reached the broker {arrives} ns after it left the client: {v}"
        );
        if v["response"].is_null() {
            out.insert(k.clone(), None);
            continue;
        }
        let leaves = ts_ns(&v["response"]) - ts_ns(&side["response"]);
        assert!(
            (0..=3 * DELAY_NS).contains(&leaves),
            "{k:?}: the response left the broker {leaves} ns before it reached the client: {v}"
        );
        let b = alone_broker
            .get(k)
            .unwrap_or_else(|| panic!("{k:?} not in the broker's capture alone"));
        assert_eq!(int(side, "latency_us"), int(b, "latency_us"), "{v}");

        let latency = int(v, "latency_us");
        assert_eq!(latency, int(alone, "latency_us"), "{v}");
        let broker_us = int(v, "broker_us");
        let network_us = int(v, "network_us");
        assert!(
            (broker_us - int(side, "latency_us")).abs() <= 1,
            "broker_us is the broker side's latency: {v}"
        );
        assert!(
            (latency - broker_us - network_us).abs() <= 1,
            "latency_us {latency} ≠ broker_us {broker_us} + network_us {network_us}: {v}"
        );
        assert!(broker_us >= 0, "{v}");
        assert!(
            (9_000..=25_000).contains(&network_us),
            "network_us {network_us}, want 2 × {DELAY_MS} ms: {v}"
        );
        if k.3 != FETCH && k.3 != JOIN_GROUP {
            assert!(
                broker_us < network_us,
                "{k:?}: broker_us {broker_us} ≥ network_us {network_us}"
            );
            quick_broker_us.push(broker_us);
        }
        out.insert(k.clone(), Some((latency, broker_us, network_us)));
    }
    // Requests the broker answers at once spend most of their time on the
    // link: the typical one's broker time is a small part of 10 ms.
    quick_broker_us.sort();
    let median = quick_broker_us[quick_broker_us.len() / 2];
    assert!(
        median < 1_000,
        "median broker_us {median} of requests answered at once: {quick_broker_us:?}"
    );
    out
}

#[test]
fn captures_at_both_ends_of_a_link_merge() {
    let t0 = Instant::now();
    let out = root().join("target/merge-live");
    let tmp = root().join(format!("target/merge-live.tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let keep = Keep {
        tmp: tmp.clone(),
        out,
    };
    let rec = match record(&tmp) {
        Ok(r) => r,
        Err(why) => {
            let _ = std::fs::remove_dir_all(&keep.tmp);
            return skip_or_fail(&why);
        }
    };
    eprintln!(
        "recorded in {:.1} s (kept in {} when the test ends)",
        t0.elapsed().as_secs_f64(),
        keep.out.display()
    );
    check_captures(&rec);

    // Each capture alone.
    let client_lines = export(&[&rec.client]);
    let broker_lines = export(&[&rec.shifted]);
    let alone_client = exchanges(&client_lines);
    let alone_broker = exchanges(&broker_lines);
    assert!(
        alone_client.len() >= 25,
        "only {} exchanges: {:?}",
        alone_client.len(),
        alone_client.keys()
    );
    for api in [0, 1, 3, 8, 9, 10, 11, 12, 14] {
        assert!(
            alone_client.keys().any(|k| k.3 == api && k.5),
            "no answered exchange of api key {api}"
        );
    }
    assert_eq!(
        alone_client.keys().collect::<Vec<_>>(),
        alone_broker.keys().collect::<Vec<_>>(),
        "the two ends, each alone, see other exchanges"
    );

    // Merged, in both orders.
    let forward = check_merged([&rec.client, &rec.shifted], 0, &alone_client, &alone_broker);
    let reverse = check_merged([&rec.shifted, &rec.client], 1, &alone_client, &alone_broker);
    assert_eq!(forward.len(), reverse.len());
    for (k, f) in &forward {
        let r = reverse[k];
        match (f, r) {
            (None, None) => {}
            (Some(f), Some(r)) => {
                assert_eq!(f.0, r.0, "{k:?}: latency_us depends on the order");
                assert!(
                    (f.1 - r.1).abs() <= 1 && (f.2 - r.2).abs() <= 1,
                    "{k:?}: broker/network split depends on the order: {f:?} vs {r:?}"
                );
            }
            _ => panic!("{k:?}: answered in one order only"),
        }
    }
    let network: Vec<i64> = forward.values().flatten().map(|t| t.2).collect();
    eprintln!(
        "{} exchanges, {} answered at both ends; network_us min {} max {}",
        forward.len(),
        network.len(),
        network.iter().min().unwrap(),
        network.iter().max().unwrap()
    );

    // stats counts each exchange once.
    let files = [rec.client.as_path(), rec.shifted.as_path()];
    let (ok, text, err) = kwire(&files, "stats", &["-q"]);
    assert!(ok, "kwire stats failed: {err}");
    assert!(!text.is_empty());
    let requests = |files: &[&Path]| {
        let (ok, json, err) = kwire(files, "stats", &["--json", "-q"]);
        assert!(ok, "kwire stats --json {files:?} failed: {err}");
        serde_json::from_str::<Value>(&json).unwrap()["stats"]["totals"]["requests"].clone()
    };
    assert_eq!(requests(&files), requests(&[&rec.client]));

    // list shows the merged exchanges.
    let (ok, listing, err) = kwire(&files, "list", &["-q"]);
    assert!(ok, "kwire list failed: {err}");
    let client_listing = kwire(&[&rec.client], "list", &["-q"]).1;
    // Exchange rows carry the correlation id as `#N`; event rows do not.
    let rows = |s: &str| {
        s.lines()
            .filter(|l| {
                l.split_whitespace().any(|w| {
                    w.len() > 1 && w.starts_with('#') && w[1..].bytes().all(|b| b.is_ascii_digit())
                })
            })
            .count()
    };
    assert_eq!(
        rows(&listing),
        rows(&client_listing),
        "kwire list of both files has other exchange rows than of the client's:\n{listing}"
    );
    // Every answered exchange row shows the latency split into the
    // broker's time and the network's.
    let answered = listing
        .lines()
        .filter(|l| rows(l) == 1 && !l.contains("no response") && !l.contains(" - "))
        .count();
    let split = listing
        .lines()
        .filter(|l| l.contains("[broker ") && l.contains(" + network "))
        .count();
    assert!(answered > 0);
    assert_eq!(
        split, answered,
        "answered rows without the broker/network split:\n{listing}"
    );

    eprintln!("done in {:.1} s", t0.elapsed().as_secs_f64());
}

#[test]
fn timestamps_read_back() {
    let at = |ts: &str| ts_ns(&serde_json::json!({ "ts": ts }));
    assert_eq!(at("1970-01-01T00:00:00.000000001Z"), 1);
    assert_eq!(
        at("2026-11-23T22:30:32.883115000Z"),
        1_795_473_032_883_115_000
    );
    assert_eq!(
        at("2024-02-29T23:59:59.500000000Z"),
        1_709_251_199_500_000_000
    );
}
