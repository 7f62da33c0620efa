//! The command line's output on the bundled samples, as snapshots (insta):
//! `kwire list` on each, and the first records of `kwire export`. A change
//! in what users see shows up here for review (`cargo insta review`).

mod common;

use std::process::Command;

use common::*;

fn kwire(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kwire"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn list_samples() {
    for name in [
        "demo.pcap",
        "demo_any.pcapng",
        "demo_any_sll2.pcap",
        "errors.pcap",
        "segmented_mtu1500.pcap",
    ] {
        let path = format!("samples/{name}");
        let (code, out, err) = kwire(&["list", &path]);
        assert_eq!(code, 0, "{err}");
        assert!(err.is_empty(), "{err}");
        insta::assert_snapshot!(format!("list_{name}"), out);
    }
}

#[test]
fn export_is_valid_ndjson_with_header_and_summary() {
    let (code, out, _) = kwire(&["export", "samples/errors.pcap"]);
    assert_eq!(code, 0);
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["type"], "capture");
    assert_eq!(lines[0]["format_version"], 1);
    assert_eq!(lines.last().unwrap()["type"], "summary");
    // The first exchange and the summary, whole.
    let first = lines.iter().find(|l| l["type"] == "exchange").unwrap();
    insta::assert_json_snapshot!("export_first_exchange", first);
    let mut summary = lines.last().unwrap().clone();
    summary.as_object_mut().unwrap().remove("tcp");
    insta::assert_json_snapshot!("export_summary", summary);
}

#[test]
fn errors_are_one_line_and_exit_1() {
    let (code, out, err) = kwire(&["list", "/nonexistent/capture.pcap"]);
    assert_eq!(code, 1);
    assert!(out.is_empty());
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("kwire: "), "{err}");
    let (code, _, err) = kwire(&["list", "Cargo.toml"]);
    assert_eq!(code, 1);
    assert_eq!(err.lines().count(), 1, "{err}");
    let (code, _, err) = kwire(&["export", "-i", "no-such-interface0", "--duration", "0.1"]);
    assert_eq!(code, 1);
    assert_eq!(err.lines().count(), 1, "{err}");
    // A usage error is clap's, exit 2.
    let (code, _, _) = kwire(&["list"]);
    assert_eq!(code, 2);
}

#[test]
fn stdin_and_closed_pipe() {
    use std::io::Write;
    use std::process::Stdio;
    // A capture on stdin gives the same exchanges as the file.
    let bytes = std::fs::read(samples_dir().join("demo.pcap")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kwire"))
        .args(["export", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(&bytes));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(out.status.success());
    let (_, file_out, _) = kwire(&["export", "samples/demo.pcap"]);
    let strip = |s: &str| -> Vec<String> {
        s.lines()
            .filter(|l| l.contains("\"exchange\""))
            .map(String::from)
            .collect()
    };
    assert_eq!(
        strip(&String::from_utf8(out.stdout).unwrap()),
        strip(&file_out)
    );
    // A reader that stops early: kwire ends quietly with 0.
    let mut child = Command::new(env!("CARGO_BIN_EXE_kwire"))
        .args(["export", "samples/segmented_mtu1500.pcap"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{:?}", out.status);
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn truncated_file_is_read_to_the_damage_and_exits_0() {
    let bytes = std::fs::read(samples_dir().join("demo.pcap")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("cut.pcap");
    // Cut in the middle of a packet record.
    std::fs::write(&cut, &bytes[..bytes.len() / 2 + 7]).unwrap();
    let (code, out, err) = kwire(&["export", cut.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        lines.iter().any(|l| l["type"] == "capture_error"),
        "damage not reported"
    );
    assert!(lines.iter().filter(|l| l["type"] == "exchange").count() > 20);
    assert_eq!(lines.last().unwrap()["type"], "summary");
}

/// `kwire stats --json` per API: requests equal what tshark counts on the
/// same capture (request PDUs per api key), and `kwire stats` prints every
/// table.
#[test]
fn stats_command_agrees_with_tshark() {
    for name in ["kcat", "kafka_python", "confluent_basic", "errors_mtu1500"] {
        let path = corpus_dir().join(format!("{name}.pcap"));
        let (code, out, err) = kwire(&["stats", "--json", path.to_str().unwrap()]);
        assert_eq!(code, 0, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["type"], "stats");
        let mut got = std::collections::BTreeMap::new();
        for a in v["stats"]["apis"].as_array().unwrap() {
            got.insert(
                a["api_key"].as_i64().unwrap(),
                a["requests"].as_u64().unwrap(),
            );
        }
        let mut want = std::collections::BTreeMap::new();
        for r in read_tsv(&corpus_dir().join(format!("{name}.tshark.tsv"))) {
            if let Some(k) = r.request_key {
                *want.entry(i64::from(k)).or_insert(0u64) += 1;
            }
        }
        assert_eq!(got, want, "{name}: requests per api key, kwire vs tshark");
        let (code, text, _) = kwire(&["stats", path.to_str().unwrap()]);
        assert_eq!(code, 0);
        for title in [
            "# Requests by API",
            "# Errors by API and code",
            "# Records by topic and partition",
            "# By client id",
            "# By connection",
        ] {
            assert!(text.contains(title), "{name}: {title} missing");
        }
    }
}

/// Findings reach every output: `kwire export` writes them as `finding`
/// lines just before the summary, `kwire diagnose --json` writes the same
/// objects alone, and `kwire diagnose` says the first one in its first
/// finding line.
#[test]
fn findings_in_export_and_diagnose() {
    let path = corpus_dir().join("kafka_python_apiversions_loop.pcap");
    let path = path.to_str().unwrap();
    let (code, out, err) = kwire(&["export", path]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let types: Vec<&str> = lines.iter().map(|v| v["type"].as_str().unwrap()).collect();
    let first_finding = types
        .iter()
        .position(|t| *t == "finding")
        .expect("findings");
    assert!(
        types[first_finding..types.len() - 1]
            .iter()
            .all(|t| *t == "finding")
    );
    assert_eq!(*types.last().unwrap(), "summary");
    let exported: Vec<&serde_json::Value> =
        lines.iter().filter(|v| v["type"] == "finding").collect();
    assert_eq!(exported[0]["code"], "apiversions_loop");
    assert_eq!(exported[0]["severity"], "error");
    assert_eq!(exported[0]["count"], 27);

    let (code, json, _) = kwire(&["diagnose", "--json", path]);
    assert_eq!(code, 0);
    let alone: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(alone.len(), exported.len());
    assert_eq!(&alone[0], exported[0]);

    let (code, text, _) = kwire(&["diagnose", path]);
    assert_eq!(code, 0);
    let mut lines = text.lines();
    assert!(lines.next().unwrap().contains("1 errors"), "{text}");
    let first = lines.next().unwrap();
    assert!(
        first.starts_with("✗ ERROR")
            && first.contains("retried ApiVersions v4 27 times on 27 connections"),
        "{first}"
    );
}
