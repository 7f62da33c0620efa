//! `kwire export --format parquet` against `kwire stats --json`: for every
//! corpus capture, the Parquet file read back by parquet's own reader has a
//! row per exchange, and read by DuckDB (tests/data/parquet_stats.py) gives
//! the totals, the counts per API (errors as stats counts them), the errors
//! per API and code, the records produced and fetched and the latencies that
//! stats gives. A live capture stopped by `--duration` or by Ctrl-C leaves a
//! complete file.
//!
//! DuckDB comes from PyPI (`scripts/setup --test` installs it). Without
//! python3 and duckdb, or without capture permission on `lo`, a test prints
//! why and passes, unless `KWIRE_REQUIRE_LIVE=1` (as in `scripts/test` and
//! CI), where it fails.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;
use parquet::file::reader::{FileReader, SerializedFileReader};
use serde_json::Value;

fn skip_or_fail(reason: &str) {
    if std::env::var("KWIRE_REQUIRE_LIVE").as_deref() == Ok("1") {
        panic!("parquet test cannot run: {reason}");
    }
    eprintln!("SKIPPED parquet test: {reason}");
}

fn kwire(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kwire"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run kwire")
}

/// `kwire ARGS CAPTURE`, with the capture's key log when it has one.
fn kwire_on(args: &[&str], pcap: &Path) -> Output {
    let mut a: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    if let Some(k) = keys_of(pcap) {
        a.push("--keylog".into());
        a.push(k.display().to_string());
    }
    a.push(pcap.display().to_string());
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let out = kwire(&a);
    assert!(
        out.status.success(),
        "kwire {a:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Why DuckDB cannot be asked, if it cannot.
fn duckdb_missing() -> Option<String> {
    match Command::new("python3")
        .args(["-c", "import duckdb"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Err(e) => Some(format!("no python3: {e}")),
        Ok(s) if !s.success() => {
            Some("python3 cannot import duckdb (scripts/setup --test installs it)".into())
        }
        Ok(_) => None,
    }
}

/// Rows of a Parquet file, and its footer's `kwire.summary`.
fn read_back(path: &Path) -> (i64, Value) {
    let r = SerializedFileReader::new(std::fs::File::open(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: not a Parquet file: {e}", path.display()));
    let meta = r.metadata().file_metadata();
    let summary = meta
        .key_value_metadata()
        .and_then(|kv| kv.iter().find(|k| k.key == "kwire.summary"))
        .and_then(|k| k.value.as_deref())
        .map(|v| serde_json::from_str(v).unwrap())
        .unwrap_or(Value::Null);
    // Every row decodes.
    assert_eq!(
        r.get_row_iter(None).unwrap().count() as i64,
        meta.num_rows()
    );
    (meta.num_rows(), summary)
}

/// The COUNTS of `kwire stats --json` (see `Stats::to_json`).
const COUNTS: [&str; 9] = [
    "requests",
    "answered",
    "errors",
    "negotiations",
    "malformed",
    "no_response",
    "no_response_expected",
    "request_bytes",
    "response_bytes",
];

fn counts(v: &Value) -> Vec<(&'static str, Value)> {
    COUNTS.iter().map(|&k| (k, v[k].clone())).collect()
}

/// What DuckDB found in `db` (the script's object for one file) against
/// what `kwire stats --json` says (`stats`: its `stats` object).
fn compare(name: &str, db: &Value, stats: &Value) {
    assert_eq!(db["rows"], stats["totals"]["requests"], "{name}: rows");
    assert_eq!(
        counts(&db["totals"]),
        counts(&stats["totals"]),
        "{name}: totals"
    );

    let by_api = |v: &Value| -> Vec<(i64, Vec<(&'static str, Value)>)> {
        let mut a: Vec<_> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|a| (a["api_key"].as_i64().unwrap(), counts(a)))
            .collect();
        a.sort_by_key(|x| x.0);
        a
    };
    assert_eq!(
        by_api(&db["apis"]),
        by_api(&stats["apis"]),
        "{name}: per API"
    );

    let errors = |v: &Value| -> Vec<(i64, i64, u64, u64)> {
        let mut e: Vec<_> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["api_key"].as_i64().unwrap(),
                    e["code"].as_i64().unwrap(),
                    e["count"].as_u64().unwrap(),
                    e["exchanges"].as_u64().unwrap(),
                )
            })
            .collect();
        e.sort();
        e
    };
    assert_eq!(
        errors(&db["errors"]),
        errors(&stats["errors"]),
        "{name}: errors per API and code"
    );

    // Stats' topics add up to the capture's records while its tables had
    // room for every topic.
    assert_eq!(
        stats["dropped"]["topics"], 0,
        "{name}: stats dropped topics"
    );
    let sum = |flow: &str, k: &str| -> u64 {
        stats["topics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t[flow][k].as_u64().unwrap())
            .sum()
    };
    let r = &db["records"];
    for (ours, flow, k) in [
        ("batches_produced", "produced", "batches"),
        ("records_produced", "produced", "records"),
        ("bytes_produced", "produced", "bytes"),
        ("batches_fetched", "fetched", "batches"),
        ("records_fetched", "fetched", "records"),
        ("bytes_fetched", "fetched", "bytes"),
    ] {
        assert_eq!(r[ours].as_u64(), Some(sum(flow, k)), "{name}: {ours}");
    }

    for k in ["count", "min", "max"] {
        assert_eq!(
            db["latency"][k], stats["latency_us"][k],
            "{name}: latency {k}"
        );
    }
}

#[test]
fn parquet_of_every_corpus_capture_agrees_with_stats() {
    let dir = tempfile::tempdir().unwrap();
    let mut files: Vec<(String, PathBuf, Value)> = Vec::new();
    for name in corpus_captures() {
        let pcap = corpus_dir().join(format!("{name}.pcap"));
        let file = dir.path().join(format!("{name}.parquet"));
        let f = file.display().to_string();
        kwire_on(&["export", "-q", "--format", "parquet", "-o", &f], &pcap);
        let out = kwire_on(&["stats", "-q", "--json"], &pcap);
        let stats: Value = serde_json::from_slice(&out.stdout).unwrap();
        let stats = stats["stats"].clone();

        // parquet's own reader: a row per exchange, the summary in the footer.
        let (rows, summary) = read_back(&file);
        assert_eq!(Some(rows), stats["totals"]["requests"].as_i64(), "{name}");
        assert_eq!(summary["exchanges"].as_i64(), Some(rows), "{name}");
        assert!(rows > 0, "{name}: no exchange");
        files.push((name, file, stats));
    }
    assert!(files.len() >= 14, "the corpus has 14 captures or more");

    if let Some(why) = duckdb_missing() {
        return skip_or_fail(&why);
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/parquet_stats.py");
    let out = Command::new("python3")
        .arg(&script)
        .args(files.iter().map(|f| &f.1))
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "DuckDB: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let db: Value = serde_json::from_slice(&out.stdout).unwrap();
    for (name, file, stats) in &files {
        compare(name, &db[file.display().to_string()], stats);
    }
    // Negotiations both ways: completed ones are no errors (confluent's
    // ApiVersions fallback), a client stuck at one has errors (the loop).
    let at = |n: &str| {
        &db[dir
            .path()
            .join(format!("{n}.parquet"))
            .display()
            .to_string()]
    };
    assert!(at("confluent_basic")["totals"]["negotiations"].as_u64() > Some(0));
    assert!(at("kafka_python_apiversions_loop")["totals"]["errors"].as_u64() > Some(0));
}

/// Parquet's footer comes last: stdout is refused, with the reason.
#[test]
fn parquet_needs_a_file() {
    let pcap = corpus_dir().join("kcat.pcap");
    let p = pcap.display().to_string();
    for args in [
        vec!["export", "--format", "parquet", &p],
        vec!["export", "--format", "parquet", "-o", "-", &p],
    ] {
        let out = kwire(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.starts_with("kwire: error: --format parquet writes a file: give it with -o FILE\n"),
            "{err}"
        );
        assert!(out.stdout.is_empty());
    }
    let out = kwire(&["export", "--format", "csv", &p]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ndjson, parquet"));
}

/// Live: `--duration` and Ctrl-C both end with a complete file.
#[test]
fn live_capture_ends_with_a_complete_file() {
    let dir = tempfile::tempdir().unwrap();
    let probe = kwire(&["export", "-q", "-i", "lo", "--duration", "0.2"]);
    if !probe.status.success() {
        return skip_or_fail(&format!(
            "cannot capture on lo: {}",
            String::from_utf8_lossy(&probe.stderr).trim()
        ));
    }
    let timed = dir.path().join("timed.parquet");
    let t = timed.display().to_string();
    let out = kwire(&[
        "export",
        "-q",
        "--format",
        "parquet",
        "-o",
        &t,
        "-i",
        "lo",
        "--duration",
        "0.5",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (_, summary) = read_back(&timed);
    assert_eq!(summary["type"], "summary");
    assert!(
        summary["drops"].is_object(),
        "a live capture's drops: {summary}"
    );

    let stopped = dir.path().join("stopped.parquet");
    let s = stopped.display().to_string();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kwire"))
        .args(["export", "-q", "--format", "parquet", "-o", &s, "-i", "lo"])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if t0.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("kwire did not stop on SIGINT");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    let (_, summary) = read_back(&stopped);
    assert_eq!(summary["type"], "summary");
}
