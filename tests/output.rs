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
    // Not a capture: and a hint saying what is (tests/cli.rs has more).
    let (code, _, err) = kwire(&["list", "Cargo.toml"]);
    assert_eq!(code, 1);
    assert_eq!(err.lines().count(), 2, "{err}");
    assert!(err.lines().nth(1).unwrap().starts_with("  hint: "), "{err}");
    let (code, _, err) = kwire(&["export", "-i", "no-such-interface0", "--duration", "0.1"]);
    assert_eq!(code, 1);
    assert_eq!(err.lines().count(), 1, "{err}");
    // A usage error exits 2, as clap's do.
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
    assert!(lines.next().unwrap().contains(" 1 error, "), "{text}");
    let first = lines.next().unwrap();
    assert!(
        first.starts_with("✗ ERROR")
            && first.contains("retried ApiVersions v4 27 times on 27 connections"),
        "{first}"
    );
}

/// Where a run's stderr goes in [`held_run`].
enum Stderr {
    Pipe,
    Terminal,
}

/// `kwire ARGS -` reading samples/demo.pcap from a pipe held open until
/// `hold` says so (so the run lasts as long as the test wants, however fast
/// the machine), with the progress shown at once
/// (`KWIRE_PROGRESS_DELAY_MS=0`) where it is shown at all, stdout thrown
/// away. Returns everything written on stderr. `hold` is given what stderr
/// has received so far, and returns `true` to end the input.
fn held_run(args: &[&str], stderr: Stderr, hold: impl Fn(&[u8]) -> bool) -> Vec<u8> {
    use std::io::{Read, Write};
    use std::process::Stdio;
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    let bytes = std::fs::read(samples_dir().join("demo.pcap")).unwrap();
    let (err_in, err_out): (Stdio, Box<dyn Read + Send>) = match stderr {
        Stderr::Pipe => {
            let (r, w) = std::io::pipe().unwrap();
            (w.into(), Box::new(r))
        }
        Stderr::Terminal => {
            let (master, slave) = pty();
            (slave.into(), Box::new(master))
        }
    };
    let mut child = {
        let mut c = Command::new(env!("CARGO_BIN_EXE_kwire"));
        c.args(args)
            .arg("-")
            .env("KWIRE_PROGRESS_DELAY_MS", "0")
            .env("TERM", "xterm")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(err_in);
        c.spawn().unwrap()
        // `c`, and the parent's copy of stderr's writing end, dropped here:
        // the reader below sees the end when the child exits.
    };
    let seen = Arc::new(Mutex::new(Vec::new()));
    let reader = {
        let seen = seen.clone();
        let mut err_out = err_out;
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // A terminal's master reads EIO once the child is gone.
            while let Ok(n @ 1..) = err_out.read(&mut buf) {
                seen.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        })
    };
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&bytes).unwrap();
    let t0 = Instant::now();
    while !hold(&seen.lock().unwrap()) {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "{args:?}: held too long"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(stdin);
    let status = child.wait().unwrap();
    assert!(status.success(), "{args:?}: {status:?}");
    reader.join().unwrap();
    seen.lock().unwrap().clone()
}

/// A pseudo-terminal: (master, slave).
fn pty() -> (std::fs::File, std::fs::File) {
    use std::os::fd::FromRawFd;
    unsafe {
        let master = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
        assert!(master >= 0, "posix_openpt");
        assert_eq!(libc::grantpt(master), 0);
        assert_eq!(libc::unlockpt(master), 0);
        let mut name = [0 as libc::c_char; 128];
        assert_eq!(libc::ptsname_r(master, name.as_mut_ptr(), name.len()), 0);
        let path = std::ffi::CStr::from_ptr(name.as_ptr()).to_str().unwrap();
        let slave = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .unwrap();
        (std::fs::File::from_raw_fd(master), slave)
    }
}

/// A file run's progress is on stderr only when that is a terminal, and
/// cleared when the run ends; `--quiet` and a piped stderr get nothing.
#[test]
fn progress_only_on_a_terminal() {
    use std::time::{Duration, Instant};
    let waited = |d: Duration| {
        let t0 = Instant::now();
        move |_: &[u8]| t0.elapsed() >= d
    };
    let drawn = |seen: &[u8]| String::from_utf8_lossy(seen).contains(" read, ");
    for cmd in ["export", "list", "stats", "diagnose"] {
        // On a terminal: drawn (bytes and rate: stdin has no size), then
        // cleared: the last thing written erases the line.
        let seen = held_run(&[cmd], Stderr::Terminal, drawn);
        let seen = String::from_utf8_lossy(&seen);
        assert!(seen.contains("kB read, "), "{cmd}: {seen:?}");
        assert!(seen.ends_with("\r\x1b[2K"), "{cmd}: {seen:?}");
        // Piped: nothing, though the run lasts long enough to show it.
        let seen = held_run(&[cmd], Stderr::Pipe, waited(Duration::from_millis(400)));
        assert!(
            seen.is_empty(),
            "{cmd}: {:?}",
            String::from_utf8_lossy(&seen)
        );
    }
    for args in [&["export", "--quiet"][..], &["stats", "-q"]] {
        let seen = held_run(args, Stderr::Terminal, waited(Duration::from_millis(400)));
        assert!(
            seen.is_empty(),
            "{args:?}: {:?}",
            String::from_utf8_lossy(&seen)
        );
    }
}

/// The frames a listing's lines begin with, and whether a line said some
/// came out of order.
fn frames_of(listing: &str) -> (Vec<u64>, bool) {
    let frames = listing
        .lines()
        .filter(|l| !l.starts_with('#') && !l.contains("! listing_order"))
        .map(|l| l.split_whitespace().next().unwrap().parse().unwrap())
        .collect();
    (frames, listing.contains("! listing_order"))
}

#[test]
fn list_is_in_frame_order() {
    let mut names = vec![];
    for dir in ["samples", "samples/findings", "samples/conformance"] {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "pcap" || x == "pcapng") {
                names.push(p.to_str().unwrap().to_string());
            }
        }
    }
    names.sort();
    let mut reordered = 0;
    for name in &names {
        let (code, out, err) = kwire(&["list", name]);
        assert_eq!(code, 0, "{name}: {err}");
        let (frames, late) = frames_of(&out);
        assert!(!late, "{name}: {out}");
        assert!(frames.is_sorted(), "{name}: {frames:?}");
        // As they complete, the same lines.
        let (_, asis, _) = kwire(&["list", "--order-window", "0", name]);
        let (asis_frames, _) = frames_of(&asis);
        let mut sorted = asis.lines().collect::<Vec<_>>();
        let mut lines = out.lines().collect::<Vec<_>>();
        sorted.sort_unstable();
        lines.sort_unstable();
        assert_eq!(sorted, lines, "{name}");
        reordered += usize::from(!asis_frames.is_sorted());
    }
    // The point of it: most samples complete out of frame order.
    assert!(reordered > 10, "{reordered}");
}

#[test]
fn list_says_what_it_could_not_order() {
    // KafkaJS polls for 5 s: with a window of 1 s a Fetch is late.
    let name = "samples/findings/kafkajs_group.pcap";
    let (code, out, _) = kwire(&["list", "--order-window", "1", name]);
    assert_eq!(code, 0);
    let notices: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("! listing_order"))
        .collect();
    assert_eq!(notices.len(), 1, "{out}");
    assert!(notices[0].contains("--order-window"), "{}", notices[0]);
    let summary = out.lines().last().unwrap();
    assert!(summary.contains("listed out of frame order"), "{summary}");
    // Each late line comes right when it completes; the rest stay ordered.
    let (frames, _) = frames_of(&out);
    assert!(!frames.is_sorted());
}
