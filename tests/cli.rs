//! The command line's errors, run as a user meets them: every mistake and
//! every failure is one `kwire: error: …` line (and at most one `  hint:`
//! line) on stderr, a non-zero status (2 for a usage error, as clap's; 1
//! for a run that fails), and never a panic or an error said twice.

use std::process::Command;

/// Run the built binary; its status, stdout and stderr.
fn kwire(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kwire"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        // A panic would show its backtrace.
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// `args` fail with `code`, nothing on stdout, and one error line (and at
/// most one hint) on stderr; the error line.
fn fails(args: &[&str], code: i32) -> String {
    let (got, out, err) = kwire(args);
    assert_eq!(got, code, "kwire {args:?}: {err}");
    assert!(out.is_empty(), "kwire {args:?} wrote to stdout: {out}");
    let lines: Vec<&str> = err.lines().collect();
    assert!(
        matches!(lines.as_slice(), [e] | [e, _] if e.starts_with("kwire: error: ")),
        "kwire {args:?}: {err}"
    );
    if let [_, hint] = lines.as_slice() {
        assert!(hint.starts_with("  hint: "), "kwire {args:?}: {err}");
    }
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.matches("(os error").count() <= 1, "said twice: {err}");
    lines[0].to_string()
}

fn hint(args: &[&str]) -> Option<String> {
    let (_, _, err) = kwire(args);
    err.lines().nth(1).map(str::to_string)
}

#[test]
fn a_missing_capture_is_said_once() {
    for args in [
        &["list", "nosuch.pcap"][..],
        &["export", "nosuch.pcap"],
        &["stats", "nosuch.pcap"],
        &["diagnose", "nosuch.pcap"],
        &["nosuch.pcap"],
    ] {
        let e = fails(args, 1);
        assert!(
            e.starts_with("kwire: error: nosuch.pcap: ") && e.ends_with("(os error 2)"),
            "{e}"
        );
    }
}

#[test]
fn unreadable_and_foreign_files() {
    let e = fails(&["list", "samples"], 1);
    assert!(e.starts_with("kwire: error: samples: "), "{e}");
    // Not a capture: the hint says what is.
    let e = fails(&["list", "Cargo.toml"], 1);
    assert_eq!(e, "kwire: error: Cargo.toml: not a pcap or pcapng capture");
    assert!(hint(&["list", "Cargo.toml"]).unwrap().contains("pcapng"));
    let empty = tempfile::NamedTempFile::new().unwrap();
    let e = fails(&["stats", empty.path().to_str().unwrap()], 1);
    assert!(e.ends_with("not a pcap or pcapng capture"), "{e}");
}

#[test]
fn a_mistyped_command_is_suggested() {
    assert_eq!(
        fails(&["lst", "x.pcap"], 2),
        "kwire: error: no such command or file 'lst'; did you mean 'list'?"
    );
    for (typed, meant) in [
        ("lst", "list"),
        ("ls", "list"),
        ("lsit", "list"),
        ("exprot", "export"),
        ("diag", "diagnose"),
        ("stat", "stats"),
        ("tiu", "tui"),
    ] {
        let e = fails(&[typed, "samples/demo.pcap"], 2);
        assert!(
            e.ends_with(&format!("did you mean '{meant}'?")),
            "{typed}: {e}"
        );
    }
    // Alone, too (it is not a file either).
    let e = fails(&["lst"], 2);
    assert!(e.ends_with("did you mean 'list'?"), "{e}");
    let e = fails(&["help", "lst"], 2);
    assert_eq!(
        e,
        "kwire: error: no such command 'lst'; did you mean 'list'?"
    );
    // Nothing close: no command, and a bare capture comes alone.
    let e = fails(&["frobnicate", "x.pcap"], 2);
    assert_eq!(e, "kwire: error: no such command or file 'frobnicate'");
    assert!(hint(&["frobnicate", "x.pcap"]).unwrap().contains("list"));
    // A file of that name is a capture.
    let e = fails(&["samples"], 1);
    assert!(e.starts_with("kwire: error: samples: "), "{e}");
}

#[test]
fn bad_option_values() {
    let e = fails(&["list", "--records", "bogus", "x.pcap"], 2);
    assert_eq!(
        e,
        "kwire: error: invalid value 'bogus' for '--records <MODE>'"
    );
    assert_eq!(
        hint(&["list", "--records", "bogus", "x.pcap"]).unwrap(),
        "  hint: possible values: none, meta, full"
    );
    let e = fails(&["export", "--max-frame-size", "5Q", "x.pcap"], 2);
    assert!(e.contains("unknown unit"), "{e}");
    assert_eq!(
        hint(&["export", "--max-frame-size", "5Q", "x.pcap"]).unwrap(),
        "  hint: see 'kwire export --help'"
    );
    fails(&["list", "--threads", "many", "x.pcap"], 2);
    fails(&["list", "--port", "99999", "x.pcap"], 2);
    // Seconds that do not fit a duration are refused, not a panic.
    for secs in ["inf", "nan", "1e30", "-1", "soon"] {
        fails(&["list", "-i", "lo", &format!("--duration={secs}")], 2);
        fails(&["list", &format!("--idle-timeout={secs}"), "x.pcap"], 2);
    }
    // Checked after parsing.
    let e = fails(&["list", "--max-frame-size", "3G", "samples/demo.pcap"], 1);
    assert!(e.contains("--max-frame-size"), "{e}");
    let e = fails(&["list", "-i", "lo", "--snaplen", "0"], 1);
    assert!(e.contains("--snaplen"), "{e}");
}

#[test]
fn mistaken_command_lines() {
    let e = fails(&["list"], 2);
    assert!(e.starts_with("kwire: error: no capture: "), "{e}");
    let e = fails(&["list", "--nosuch", "x.pcap"], 2);
    assert_eq!(e, "kwire: error: unexpected argument '--nosuch' found");
    assert_eq!(
        hint(&["list", "--recods", "meta", "x.pcap"]).unwrap(),
        "  hint: a similar argument exists: '--records'"
    );
    fails(&["list", "-i", "lo", "samples/demo.pcap"], 2);
    // A live capture's options are not taken silently with a file.
    for opt in [
        &["--bpf", "tcp"][..],
        &["--duration", "5"],
        &["--snaplen", "100"],
        &["--buffer-size", "1M"],
        &["--queue-bytes", "1M"],
        &["--queue-packets", "5"],
    ] {
        let mut args = vec!["list"];
        args.extend_from_slice(opt);
        args.push("samples/demo.pcap");
        let e = fails(&args, 2);
        assert!(e.contains("cannot be used with"), "{e}");
        assert!(hint(&args).unwrap().contains("-i IFACE"));
    }
    fails(&["-q"], 2);
    fails(&["--keylog", "keys.log"], 2);
    // Nothing at all: the help, on stderr.
    let (code, out, err) = kwire(&[]);
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert!(err.contains("Usage:") && err.contains("Commands:"), "{err}");
    // Asked for: on stdout, status 0.
    let (code, out, _) = kwire(&["help", "list"]);
    assert_eq!(code, 0);
    assert!(out.contains("--no-connections"), "{out}");
}

#[test]
fn key_logs() {
    let e = fails(&["list", "--keylog", "nosuch.keys", "samples/demo.pcap"], 1);
    assert!(e.starts_with("kwire: error: key log nosuch.keys: "), "{e}");
    let e = fails(&["--keylog", "nosuch.keys", "samples/demo.pcap"], 1);
    assert!(e.starts_with("kwire: error: key log nosuch.keys: "), "{e}");
    let e = fails(&["stats", "--keylog", "samples", "samples/demo.pcap"], 1);
    assert!(e.starts_with("kwire: error: key log samples: "), "{e}");
}

#[test]
fn live_capture_errors() {
    // Without capture permission the permission is what is said; either
    // way one line naming the interface.
    let e = fails(&["list", "-i", "nosuch0", "--duration", "1"], 1);
    assert!(
        e.starts_with("kwire: error: live capture: nosuch0: "),
        "{e}"
    );
    let e = fails(
        &["list", "-i", "lo", "--bpf", "tcp and (", "--duration", "1"],
        1,
    );
    assert!(e.starts_with("kwire: error: live capture: lo: "), "{e}");
}

#[test]
fn output_errors() {
    let e = fails(
        &["export", "-o", "nosuch/dir/out.ndjson", "samples/demo.pcap"],
        1,
    );
    assert!(
        e.starts_with("kwire: error: cannot create nosuch/dir/out.ndjson: "),
        "{e}"
    );
    if std::path::Path::new("/dev/full").exists() {
        let e = fails(&["export", "-o", "/dev/full", "samples/demo.pcap"], 1);
        assert!(e.starts_with("kwire: error: cannot write output: "), "{e}");
    }
}
