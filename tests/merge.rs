//! Several captures read as one, on every corpus capture: the capture is
//! taken as the broker's side (its clock moved ahead by a known offset), and
//! a client's side is made from it by moving every packet the client sent
//! earlier, and every packet it received later, by a known one-way delay,
//! as a capture on the client's host behind that path would have them.
//! Merged, the two must give the original exchanges once each, the clock
//! offset exactly, and each answered exchange's latency split into the
//! broker's (the original latency) and the network's (twice the delay).
//!
//! The live test with two namespaces and real delay is `tests/merge_live.rs`.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use kwire::capture::file::FileSource;
use kwire::capture::link::{Decoded, decode};
use kwire::capture::{LinkType, PacketSource, Timestamp};
use kwire::export::pcapng::PcapngWriter;
use serde_json::Value;

use common::*;

/// The broker's clock ahead of the client's.
const OFFSET_NS: i128 = 3_700_000_123;
/// One way between the client's host and the broker's.
const DELAY_NS: i128 = 50_000;

fn kwire(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kwire"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn lines(s: &str) -> Vec<Value> {
    s.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn ports(name: &str) -> Vec<u16> {
    std::fs::read_to_string(corpus_dir().join(format!("{name}.ports")))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

fn shifted(ts: Timestamp, ns: i128) -> Timestamp {
    let t = ts.as_nanos() + ns;
    Timestamp::new(
        t.div_euclid(1_000_000_000) as i64,
        t.rem_euclid(1_000_000_000) as u32,
    )
}

/// Write `packets` (time, link type, bytes, original length) in time order.
fn write(path: &Path, mut packets: Vec<(Timestamp, LinkType, Vec<u8>, u32)>) {
    packets.sort_by_key(|p| p.0);
    let mut w = PcapngWriter::new(std::fs::File::create(path).unwrap()).unwrap();
    let mut ifaces: BTreeMap<u16, u32> = BTreeMap::new();
    for (ts, lt, data, orig) in packets {
        let id = match ifaces.get(&lt.0) {
            Some(&i) => i,
            None => {
                let i = w.add_interface(lt, 262_144, "lab", "test").unwrap();
                ifaces.insert(lt.0, i);
                i
            }
        };
        w.packet(id, ts, &data, orig, None).unwrap();
    }
    w.finish().unwrap();
}

/// The client's and the broker's captures of corpus capture `name`.
fn two_ends(name: &str, dir: &Path) -> (PathBuf, PathBuf) {
    two_ends_drifting(name, dir, 0)
}

/// [`two_ends`] with the broker's clock running `ppb` ns per s fast.
fn two_ends_drifting(name: &str, dir: &Path, ppb: i128) -> (PathBuf, PathBuf) {
    let kafka = ports(name);
    let mut src =
        FileSource::open(corpus_dir().join(format!("{name}.pcap")).to_str().unwrap()).unwrap();
    let (mut client, mut broker) = (Vec::new(), Vec::new());
    let mut start = None;
    while let Ok(Some(p)) = src.next_packet() {
        let t0 = *start.get_or_insert(p.ts.as_nanos());
        let skew = OFFSET_NS + (p.ts.as_nanos() - t0) * ppb / 1_000_000_000;
        // To a broker port: the client sent it (earlier at the client);
        // otherwise the client received it (later).
        let toward = match decode(p.link_type, p.data) {
            Decoded::Tcp(s) => Some(kafka.contains(&s.dst.port())),
            _ => None,
        };
        let at_client = match toward {
            Some(true) => shifted(p.ts, -DELAY_NS),
            Some(false) => shifted(p.ts, DELAY_NS),
            None => p.ts,
        };
        client.push((at_client, p.link_type, p.data.to_vec(), p.orig_len));
        broker.push((
            shifted(p.ts, skew),
            p.link_type,
            p.data.to_vec(),
            p.orig_len,
        ));
    }
    let c = dir.join(format!("{name}-client-{ppb}.pcapng"));
    let b = dir.join(format!("{name}-broker-{ppb}.pcapng"));
    write(&c, client);
    write(&b, broker);
    (c, b)
}

/// (stream-free) identity of an exchange: client, broker, correlation id,
/// API, and its latency.
fn exchanges(v: &[Value]) -> Vec<&Value> {
    v.iter().filter(|l| l["type"] == "exchange").collect()
}

fn key(e: &Value) -> (String, String, i64, i64) {
    (
        e["client"].as_str().unwrap().to_string(),
        e["broker"].as_str().unwrap().to_string(),
        e["correlation_id"].as_i64().unwrap(),
        e["api_key"].as_i64().unwrap(),
    )
}

#[test]
fn client_and_broker_captures_merge_into_one_set_of_exchanges() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("merge");
    std::fs::create_dir_all(&dir).unwrap();
    let keys_dir = corpus_dir();
    let mut paired_total = 0;
    for name in corpus_captures() {
        let (c, b) = two_ends(&name, &dir);
        let keylog = keys_dir.join(format!("{name}.keys"));
        let mut args: Vec<String> = vec!["export".into()];
        if keylog.exists() {
            args.push("--keylog".into());
            args.push(keylog.display().to_string());
        }
        let mut one = args.clone();
        one.push(
            corpus_dir()
                .join(format!("{name}.pcap"))
                .display()
                .to_string(),
        );
        args.push(c.display().to_string());
        args.push(b.display().to_string());
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let (ok, out, err) = kwire(&argv);
        assert!(ok, "{name}: {err}");
        let merged = lines(&out);
        let argv1: Vec<&str> = one.iter().map(String::as_str).collect();
        let (ok, out1, err) = kwire(&argv1);
        assert!(ok, "{name}: {err}");
        let original = lines(&out1);

        // The clocks: the broker's capture is OFFSET_NS ahead, found to
        // within the path's delay (exactly, the paths being symmetric).
        let caps = merged[0]["captures"].as_array().unwrap();
        assert_eq!(caps.len(), 2, "{name}");
        assert_eq!(caps[0]["offset_from"], "reference");
        assert_eq!(caps[1]["offset_from"], "segments", "{name}: {:?}", caps[1]);
        let off = caps[1]["clock_offset_ns"].as_i64().unwrap() as i128;
        assert!(
            (off - OFFSET_NS).abs() <= 1,
            "{name}: offset {off}, want {OFFSET_NS}"
        );
        assert_eq!(
            caps[1]["offset_error_ns"].as_i64().unwrap() as i128,
            DELAY_NS
        );

        // One set of exchanges: the original ones, each once.
        let m = exchanges(&merged);
        let o = exchanges(&original);
        let mut mk: Vec<_> = m.iter().map(|e| key(e)).collect();
        let mut ok_: Vec<_> = o.iter().map(|e| key(e)).collect();
        mk.sort();
        ok_.sort();
        assert_eq!(
            mk, ok_,
            "{name}: merged exchanges differ from the capture's"
        );

        // Each answered exchange: the client's latency is the broker's plus
        // the network's, the broker's is the original's, the network's is
        // twice the delay.
        let by_key: BTreeMap<_, _> = o.iter().map(|e| (key(e), *e)).collect();
        let mut paired = 0;
        let mut unfolded = 0u64;
        for e in &m {
            let side = &e["broker_side"];
            if side.is_null() {
                // A view whose analysis completed it only when its
                // connection ended (behind a request never answered), after
                // the other view went on: kept once, not folded.
                unfolded += 1;
                continue;
            }
            assert_eq!(e["capture"], 0, "{name}: the client's side leads: {e}");
            assert_eq!(side["capture"], 1, "{name}: {e}");
            let orig = by_key[&key(e)];
            if orig["latency_us"].is_null() || e["latency_us"].is_null() {
                continue;
            }
            // A response complete before its request's last segment (a
            // retransmitted one) is paired when the request completes: no
            // time between them at either end.
            if orig["request"]["frame"] == orig["response"]["frame"] {
                continue;
            }
            // The made-up client's side acknowledges data before it arrives
            // (the client answered within twice the delay in the lab): its
            // reassembly gives the bytes up as lost, at the wrong time.
            let lost = |x: &Value| {
                x["request"]["lost_bytes"].is_number() || x["response"]["lost_bytes"].is_number()
            };
            if lost(orig) || lost(e) {
                continue;
            }
            assert_eq!(e["status"], orig["status"], "{name}: {e}");
            paired += 1;
            let lat = e["latency_us"].as_i64().unwrap();
            let broker = e["broker_us"].as_i64().unwrap();
            let net = e["network_us"].as_i64().unwrap();
            assert_eq!(lat, broker + net, "{name}: {e}");
            assert!(
                (broker - orig["latency_us"].as_i64().unwrap()).abs() <= 1,
                "{name}: broker time {broker} vs the capture's latency {}",
                orig["latency_us"]
            );
            assert!(
                (net - (2 * DELAY_NS / 1000) as i64).abs() <= 1,
                "{name}: network time {net}"
            );
            // Frames are the merged capture's: the two sides' differ.
            assert_ne!(e["request"]["frame"], side["request"]["frame"]);
        }
        let summary = merged.last().unwrap();
        assert_eq!(summary["type"], "summary");
        assert_eq!(
            summary["merge"]["late"].as_u64().unwrap(),
            unfolded,
            "{name}"
        );
        assert!(
            unfolded * 20 <= m.len() as u64,
            "{name}: {unfolded} of {} not folded",
            m.len()
        );
        assert_eq!(
            summary["merge"]["paired"].as_u64().unwrap() + unfolded,
            m.len() as u64
        );
        assert_eq!(summary["exchanges"].as_u64().unwrap(), m.len() as u64);
        assert_eq!(summary["merge"]["released_early"], 0);
        paired_total += paired;
    }
    assert!(paired_total > 500, "only {paired_total} answered pairs");
}

/// Order does not matter: given broker first, the client's side still
/// leads each exchange, and the first capture's clock is the reference.
#[test]
fn order_of_captures_does_not_change_the_exchanges() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("merge-order");
    std::fs::create_dir_all(&dir).unwrap();
    let (c, b) = two_ends("errors_mtu1500", &dir);
    let (ok, out, err) = kwire(&["export", b.to_str().unwrap(), c.to_str().unwrap()]);
    assert!(ok, "{err}");
    let v = lines(&out);
    let off = v[0]["captures"][1]["clock_offset_ns"].as_i64().unwrap() as i128;
    assert!((off + OFFSET_NS).abs() <= 1, "{off}");
    let ex = exchanges(&v);
    assert_eq!(ex.len(), 77);
    for e in ex {
        assert_eq!(e["capture"], 1, "{e}");
        assert_eq!(e["broker_side"]["capture"], 0);
        if !e["latency_us"].is_null() {
            assert_eq!(e["network_us"].as_i64().unwrap(), 100);
        }
    }
}

/// Captures of unrelated traffic: nothing shared, clocks taken as they are,
/// every exchange kept (none folded), said in the capture record.
#[test]
fn unrelated_captures_are_read_side_by_side() {
    let a = corpus_dir().join("kcat.pcap");
    let b = corpus_dir().join("kafka_python.pcap");
    let (ok, out, err) = kwire(&["export", a.to_str().unwrap(), b.to_str().unwrap()]);
    assert!(ok, "{err}");
    let v = lines(&out);
    assert_eq!(v[0]["captures"][1]["offset_from"], "unknown");
    let (_, oa, _) = kwire(&["export", a.to_str().unwrap()]);
    let (_, ob, _) = kwire(&["export", b.to_str().unwrap()]);
    let n = exchanges(&lines(&oa)).len() + exchanges(&lines(&ob)).len();
    assert_eq!(exchanges(&v).len(), n);
    let s = v.last().unwrap();
    assert_eq!(s["merge"]["paired"], 0);
    // Connection indexes stay unique.
    let mut streams: Vec<(i64, String)> = exchanges(&v)
        .iter()
        .map(|e| {
            (
                e["stream"].as_i64().unwrap(),
                e["client"].as_str().unwrap().into(),
            )
        })
        .collect();
    streams.sort();
    streams.dedup();
    let mut ids: Vec<i64> = streams.iter().map(|s| s.0).collect();
    ids.dedup();
    assert_eq!(
        ids.len(),
        streams.len(),
        "a stream index names two connections"
    );
}

/// The UI over two captures: the header names both, and an exchange's
/// detail shows its latency split.
#[test]
fn the_ui_shows_both_captures_and_the_split() {
    use kwire::tui::app::{App, AppOptions};
    use kwire::tui::theme::Theme;
    use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("merge-ui");
    std::fs::create_dir_all(&dir).unwrap();
    let (c, b) = two_ends("errors_mtu1500", &dir);
    let paths = vec![c.display().to_string(), b.display().to_string()];
    let mut app = App::new(AppOptions {
        theme: Theme::mono(),
        ..AppOptions::default()
    });
    let never = std::sync::atomic::AtomicBool::new(false);
    let (_sink, _summary) = kwire::merge::Captures::open(&paths)
        .unwrap()
        .drive(
            kwire::tcp::TcpConfig::default(),
            kwire::session::SessionConfig::default(),
            |r| {
                app.ingest(r);
                Ok(())
            },
            &never,
        )
        .unwrap();
    let screen = kwire::tui::view::render_to_string(&mut app, 160, 30);
    assert!(
        screen.contains("errors_mtu1500-client-0.pcapng + errors_mtu1500-broker-0.pcapng"),
        "{screen}"
    );
    // The first exchange (ApiVersions, answered): its detail.
    app.key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
    let screen = kwire::tui::view::render_to_string(&mut app, 160, 30);
    assert!(screen.contains("= broker 94µs + network 100µs"), "{screen}");
}

/// `diagnose` over the two sides: the merge told (clocks), and where the
/// latency goes (here, 100 µs of network against loopback broker times of
/// about the same: the median split per API).
#[test]
fn diagnose_tells_the_clocks_and_where_the_latency_goes() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("merge-diag");
    std::fs::create_dir_all(&dir).unwrap();
    let (c, b) = two_ends("errors_mtu1500", &dir);
    let (ok, out, err) = kwire(&[
        "diagnose",
        "--json",
        c.to_str().unwrap(),
        b.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    // One finding per line.
    let found = lines(&out);
    let by = |code: &str| found.iter().find(|f| f["code"] == code);
    let merged = by("captures_merged").expect("captures_merged");
    assert!(
        merged["details"][1]
            .as_str()
            .unwrap()
            .contains("clock 3.700000 s ahead of capture 0's (±50µs"),
        "{merged}"
    );
    let split = ["latency_network", "latency_broker", "latency_split"]
        .iter()
        .find_map(|c| by(c))
        .expect("a latency split finding");
    assert!(
        split["title"]
            .as_str()
            .unwrap()
            .contains("+ 100µs on the network"),
        "{split}"
    );
    assert!(by("capture_clock_unknown").is_none());
    // Unrelated captures: said.
    let a = corpus_dir().join("kcat.pcap");
    let k = corpus_dir().join("kafka_python.pcap");
    let (_, out, _) = kwire(&[
        "diagnose",
        "--json",
        a.to_str().unwrap(),
        k.to_str().unwrap(),
    ]);
    assert!(
        lines(&out)
            .iter()
            .any(|f| f["code"] == "capture_clock_unknown" && f["severity"] == "warning")
    );
}

/// The broker's clock 40 ppm fast (a host without NTP): over the 23 s of
/// errors_mtu1500 its offset moves 0.9 ms, nine times the network's time.
/// The drift is found, and every split is still exact.
#[test]
fn a_drifting_clock_is_followed() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("merge-drift");
    std::fs::create_dir_all(&dir).unwrap();
    let (c, b) = two_ends_drifting("errors_mtu1500", &dir, 40_000);
    let (ok, out, err) = kwire(&["export", c.to_str().unwrap(), b.to_str().unwrap()]);
    assert!(ok, "{err}");
    let v = lines(&out);
    let cap = &v[0]["captures"][1];
    assert_eq!(cap["offset_from"], "segments", "{cap}");
    let ppb = cap["clock_drift_ppb"].as_i64().unwrap();
    assert!((ppb - 40_000).abs() <= 400, "{cap}");
    let mut answered = 0;
    for e in exchanges(&v) {
        if e["network_us"].is_null() {
            continue;
        }
        answered += 1;
        let n = e["network_us"].as_i64().unwrap();
        assert!((n - 100).abs() <= 3, "network {n}: {e}");
    }
    assert!(answered > 50, "{answered}");
    let (_, listing, _) = kwire(&["list", c.to_str().unwrap(), b.to_str().unwrap()]);
    assert!(listing.contains("ppm fast"), "{listing}");
}
