//! Golden files: `kwire export` of every corpus capture, every bundled
//! sample, damaged variants of real captures (made with `mangle.py`) and a
//! few captures with `--records full`, compared with the committed output
//! (`tests/golden/*.ndjson.gz`) line by line **as parsed JSON**: the values
//! must be the same, the order of an object's keys may change (the writer
//! follows the schema's field order).
//!
//! The goldens were written by the tree-based writer the byte-walking one
//! replaced; they change only when the output is meant to change. To write
//! them again after such a change: `KWIRE_BLESS=1 cargo test --test golden`,
//! and review the diff of the decompressed files.
//!
//! The capture record's `source` (a path that depends on where the corpus
//! lies) and `kwire_version` are left out of the comparison.

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use serde_json::Value;

/// Captures whose damaged variants are kept as goldens, and the damage.
const DAMAGED: &[&str] = &["confluent_basic_mtu1500", "errors_mtu1500", "kcat"];
const DAMAGE: &[(&str, &str, u64)] = &[
    ("drop", "drop=0.03", 5),
    ("swap", "swap=0.2", 11),
    ("dup", "dup=0.2", 12),
    ("from", "from=40", 1),
    ("snap", "snap=200", 1),
];
/// Captures also kept with `--records full` (every record decoded).
const FULL: &[&str] = &[
    "confluent_basic",
    "errors_mtu1500",
    "kafka_python_legacy",
    "kcat",
    "transactions",
];

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn export(path: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_kwire"))
        .arg("export")
        .args(args)
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kwire export {} failed: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("NDJSON is UTF-8")
}

fn normalise(mut v: Value) -> Value {
    if v["type"] == "capture"
        && let Some(o) = v.as_object_mut()
    {
        o.remove("source");
        o.remove("kwire_version");
    }
    v
}

fn read_gz(path: &Path) -> Option<String> {
    let f = std::fs::File::open(path).ok()?;
    let mut s = String::new();
    GzDecoder::new(f).read_to_string(&mut s).ok()?;
    Some(s)
}

fn write_gz(path: &Path, s: &str) {
    let f = std::fs::File::create(path).unwrap();
    let mut z = GzEncoder::new(f, Compression::best());
    z.write_all(s.as_bytes()).unwrap();
    z.finish().unwrap();
}

/// Compare `got` with the golden `name`, or write it when blessing.
/// Returns a description of the first difference.
fn check(name: &str, got: &str) -> Option<String> {
    let path = golden_dir().join(format!("{name}.ndjson.gz"));
    if std::env::var_os("KWIRE_BLESS").is_some() {
        std::fs::create_dir_all(golden_dir()).unwrap();
        write_gz(&path, got);
        return None;
    }
    let Some(want) = read_gz(&path) else {
        return Some(format!("{name}: no golden at {}", path.display()));
    };
    let (w, g): (Vec<&str>, Vec<&str>) = (want.lines().collect(), got.lines().collect());
    for (i, (a, b)) in w.iter().zip(&g).enumerate() {
        let a = normalise(serde_json::from_str(a).unwrap());
        let b = normalise(
            serde_json::from_str(b)
                .unwrap_or_else(|e| panic!("{name} line {}: not JSON ({e}): {b}", i + 1)),
        );
        if a != b {
            return Some(format!(
                "{name} line {}:\n want {}\n got  {}",
                i + 1,
                serde_json::to_string(&a).unwrap(),
                serde_json::to_string(&b).unwrap()
            ));
        }
    }
    (w.len() != g.len()).then(|| format!("{name}: {} lines, golden has {}", g.len(), w.len()))
}

fn run_all(cases: Vec<(String, PathBuf, Vec<&'static str>)>) {
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|(name, path, args)| check(name, &export(path, args)))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn corpus_exports_match_their_goldens() {
    let dir = corpus_dir();
    let mut cases = Vec::new();
    for name in corpus_captures() {
        let path = dir.join(format!("{name}.pcap"));
        if FULL.contains(&name.as_str()) {
            cases.push((
                format!("full_{name}"),
                path.clone(),
                vec!["--records", "full"],
            ));
        }
        if let Some(keys) = keys_of(&path) {
            // Decrypted with its key log too.
            let keys: &'static str = Box::leak(keys.display().to_string().into_boxed_str());
            cases.push((
                format!("keylog_{name}"),
                path.clone(),
                vec!["--keylog", keys],
            ));
        }
        cases.push((format!("corpus_{name}"), path, vec![]));
    }
    assert!(cases.len() >= 10, "corpus too small: {}", cases.len());
    run_all(cases);
}

#[test]
fn sample_exports_match_their_goldens() {
    let mut cases = Vec::new();
    for dir in [
        samples_dir(),
        samples_dir().join("findings"),
        samples_dir().join("conformance"),
    ] {
        let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
            .collect();
        names.sort();
        for p in names {
            let stem = p.file_stem().unwrap().to_string_lossy().into_owned();
            let prefix = if dir.ends_with("findings") {
                "findings_"
            } else if dir.ends_with("conformance") {
                "conformance_"
            } else {
                "sample_"
            };
            cases.push((format!("{prefix}{stem}"), p, vec![]));
        }
    }
    run_all(cases);
}

#[test]
fn damaged_exports_match_their_goldens() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cases = Vec::new();
    for name in DAMAGED {
        let orig = corpus_dir().join(format!("{name}.pcap"));
        for (label, mode, seed) in DAMAGE {
            let bad = tmp.path().join(format!("{name}_{label}.pcap"));
            mangle(&orig, &bad, mode, *seed);
            cases.push((format!("damaged_{name}_{label}"), bad, vec![]));
        }
    }
    run_all(cases);
}
