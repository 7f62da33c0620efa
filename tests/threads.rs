//! One thread and several give byte-identical output: `export` and `list`
//! of every corpus capture, every bundled sample and damaged variants of
//! real captures, with `--threads 1` and `--threads 4`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

fn run(cmd: &str, path: &Path, threads: usize) -> Vec<u8> {
    let out = Command::new(env!("CARGO_BIN_EXE_kwire"))
        .arg(cmd)
        .arg("--threads")
        .arg(threads.to_string())
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kwire {cmd} {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn captures() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = Vec::new();
    for dir in [corpus_dir(), samples_dir(), samples_dir().join("findings")] {
        let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
            .collect();
        found.sort();
        v.extend(found);
    }
    v
}

#[test]
fn one_thread_and_four_write_the_same_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let mut all = captures();
    for (i, (name, mode)) in [
        ("confluent_basic_mtu1500", "drop=0.03"),
        ("errors_mtu1500", "swap=0.2"),
        ("kcat", "dup=0.2"),
        ("confluent_basic", "from=40"),
        ("errors_mtu1500", "snap=200"),
    ]
    .iter()
    .enumerate()
    {
        let bad = tmp.path().join(format!("{name}_{i}.pcap"));
        mangle(&corpus_dir().join(format!("{name}.pcap")), &bad, mode, 3);
        all.push(bad);
    }
    assert!(all.len() > 30, "{}", all.len());
    for p in &all {
        for cmd in ["export", "list"] {
            let one = run(cmd, p, 1);
            let four = run(cmd, p, 4);
            assert!(
                one == four,
                "kwire {cmd} {}: --threads 1 and 4 differ",
                p.display()
            );
            assert!(!one.is_empty());
        }
    }
}
