//! The terminal UI end to end: the real `kwire` binary in a real terminal
//! (tmux), driven with `send-keys` and read back with `capture-pane`, as a
//! user drives it.
//!
//! Every test runs in a tmux session of its own (`kwire-test-<pid>-<n>`, on a
//! tmux server of its own of the same name, no user configuration) of a
//! fixed size, with `TERM=xterm-256color`, and the session is killed with its
//! server and socket when the test ends, passed or failed. Tests wait for what
//! they expect to appear on the screen, up to a generous deadline (the machine
//! may be busy); nothing is asserted after a fixed sleep.
//!
//! kwire runs under `sh -c` so that its exit status, the terminal modes it
//! leaves (`stty -a`) and what the pane shows after it can be checked; the
//! pane then waits in `cat` until the session is killed.
//!
//! Needs tmux (`scripts/setup --test` installs it). Without it the tests print
//! why and pass, unless `KWIRE_REQUIRE_LIVE=1` (as in `scripts/test` and CI),
//! where they fail. The live test also needs what `tests/live.rs` needs (root
//! for capture on `lo`, the mock broker, python3 with confluent_kafka) and
//! skips or fails the same way.

mod common;

use std::collections::BTreeSet;

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::tmux::*;
use common::*;

/// The status bar's text once a file is read: no "reading…" any more.
const LOADED_CONFLUENT_BASIC: &str = " 241 exchanges ";
const LOADED_ERRORS: &str = " 77 exchanges ";

/// The right-hand pane of a two-pane screen (the Groups view: list │ flow),
/// without its borders, one entry per screen line.
fn right_pane(screen: &str) -> Vec<String> {
    screen
        .lines()
        .map(|l| match l.find("││") {
            Some(i) => l[i + "││".len()..]
                .trim_end()
                .trim_end_matches('│')
                .trim_end()
                .to_string(),
            None => String::new(),
        })
        .collect()
}

/// One generation as the Groups view lists it.
#[derive(Debug)]
struct Generation {
    number: u32,
    /// Member letters, `AB`.
    members: String,
    /// Member letter → its (topic, partition)s.
    assignments: Vec<(char, BTreeSet<(String, u32)>)>,
}

/// `events[0,1] orders[2]` → {(events,0), (events,1), (orders,2)}.
fn partitions(text: &str) -> BTreeSet<(String, u32)> {
    let mut set = BTreeSet::new();
    for word in text.split_whitespace() {
        let (topic, rest) = word.split_once('[').expect("topic[partitions]");
        for p in rest.trim_end_matches(']').split(',') {
            set.insert((topic.to_string(), p.parse().expect("partition number")));
        }
    }
    set
}

/// The Generations section of the flow.
fn generations(pane: &[String]) -> Vec<Generation> {
    let start = pane
        .iter()
        .position(|l| l == "Generations")
        .expect("a Generations section");
    let mut gens: Vec<Generation> = Vec::new();
    for l in &pane[start + 1..] {
        let t = l.trim_start();
        if t.is_empty() {
            break;
        }
        if let Some(rest) = t.strip_prefix("gen ") {
            let words: Vec<&str> = rest.split_whitespace().collect();
            let members = words
                .iter()
                .position(|w| *w == "members")
                .map(|i| words[i + 1].to_string())
                .expect("a members column");
            gens.push(Generation {
                number: words[0].parse().expect("generation number"),
                members,
                assignments: Vec::new(),
            });
        } else if let Some((who, parts)) = t.split_once(" → ") {
            let g = gens.last_mut().expect("an assignment under a generation");
            let who = who.trim();
            assert_eq!(who.chars().count(), 1, "member letter in {l:?}");
            g.assignments
                .push((who.chars().next().unwrap(), partitions(parts)));
        }
    }
    gens
}

/// Which lanes of the ladder (`AB` columns under "time (UTC)") have a `●`
/// on each step line: (lanes, step text).
fn ladder(pane: &[String]) -> Vec<(String, String)> {
    let head = pane
        .iter()
        .position(|l| l.starts_with("time (UTC)"))
        .expect("the ladder's header");
    let header: Vec<char> = pane[head].chars().collect();
    let lanes: Vec<(usize, char)> = header
        .iter()
        .enumerate()
        .skip("time (UTC)".len())
        .take_while(|(_, c)| **c != 's')
        .filter(|(_, c)| c.is_ascii_uppercase())
        .map(|(i, c)| (i, *c))
        .collect();
    let step_col = pane[head].find("step").expect("step column");
    pane[head + 1..]
        .iter()
        .filter(|l| l.chars().next().is_some_and(|c| c.is_ascii_digit()))
        .map(|l| {
            let chars: Vec<char> = l.chars().collect();
            let who: String = lanes
                .iter()
                .filter(|(i, _)| chars.get(*i) == Some(&'●'))
                .map(|(_, c)| *c)
                .collect();
            let step: String = chars.iter().skip(step_col).collect();
            (who, step.trim().to_string())
        })
        .collect()
}

/// 1. The billing group's rebalance flow in at most 3 keystrokes, from
///    `kwire CAPTURE` (no subcommand: the bare form opens the UI on a
///    terminal). Seen: one key, `3`; title `billing · classic (consumer)`;
///    generations 2, 3, 4 with members A, AB, A; in generation 3
///    A → events[2,3] orders[2,3] and B → events[0,1] orders[0,1] (disjoint,
///    together generation 2's eight partitions of A); the ladder's
///    `JoinGroup (new member)` on A's lane (gen 2) and on B's (gen 3), B's
///    `LeaveGroup gen 3` and A's `LeaveGroup gen 4`.
#[test]
fn billing_flow_in_three_keys() {
    if !have_tmux() {
        return skip_or_fail("billing_flow_in_three_keys", "tmux is not installed");
    }
    let capture = corpus_dir().join("confluent_basic.pcap");
    let mut t = Tmux::start(160, 50, &[capture.to_str().unwrap()]);
    let timeline = t.wait_loaded(LOADED_CONFLUENT_BASIC);
    assert!(
        timeline.contains("1 Timeline"),
        "the UI opened:\n{timeline}"
    );

    t.key("3");
    let screen = t.wait_for("the billing group's flow", |s| {
        s.contains("Generations") && s.contains("LeaveGroup")
    });
    assert!(t.keys <= 3, "{} keys to reach the flow", t.keys);

    let title = screen
        .lines()
        .find(|l| l.contains("classic (consumer)"))
        .expect("the flow's title");
    assert!(title.contains("┌ billing · classic (consumer)"), "{title}");

    let pane = right_pane(&screen);
    let gens = generations(&pane);
    let numbers: Vec<u32> = gens.iter().map(|g| g.number).collect();
    assert!(numbers.len() >= 3, "generations {numbers:?}");
    assert!(
        numbers.windows(2).all(|w| w[0] < w[1]),
        "generations rise: {numbers:?}"
    );
    assert_eq!(numbers, [2, 3, 4]);
    let members: Vec<&str> = gens.iter().map(|g| g.members.as_str()).collect();
    assert_eq!(members, ["A", "AB", "A"], "members per generation");

    let two = &gens[1];
    let who: Vec<char> = two.assignments.iter().map(|(c, _)| *c).collect();
    assert_eq!(who, ['A', 'B'], "both members' assignments: {two:?}");
    let (a, b) = (&two.assignments[0].1, &two.assignments[1].1);
    assert!(!a.is_empty() && !b.is_empty(), "{two:?}");
    assert!(a.is_disjoint(b), "assignments overlap: {two:?}");
    let all: BTreeSet<_> = a.union(b).cloned().collect();
    assert_eq!(all.len(), 8, "events and orders, 4 partitions each");
    assert_eq!(
        gens[0].assignments,
        [('A', all.clone())],
        "gen 2: A alone had every partition"
    );
    assert_eq!(
        b.iter()
            .map(|(t, p)| format!("{t}[{p}]"))
            .collect::<Vec<_>>(),
        ["events[0]", "events[1]", "orders[0]", "orders[1]"]
    );

    let steps = ladder(&pane);
    let joined: Vec<&str> = steps
        .iter()
        .filter(|(_, s)| s.starts_with("JoinGroup (new member)"))
        .map(|(w, _)| w.as_str())
        .collect();
    assert_eq!(joined, ["A", "B"], "who joined as a new member: {steps:?}");
    let left: Vec<(&str, &str)> = steps
        .iter()
        .filter(|(_, s)| s.starts_with("LeaveGroup"))
        .map(|(w, s)| (w.as_str(), s.as_str()))
        .collect();
    assert_eq!(
        left,
        [("B", "LeaveGroup gen 3"), ("A", "LeaveGroup gen 4")],
        "{steps:?}"
    );
    assert!(t.keys <= 3);
}

/// 2. errors_mtu1500: `g`, then `n` until "no error after this row"; every
///    error injected into the capture is on the selected (reverse video) row
///    at some point, with its glyph. Seen: 19 stops (frames 10 … 254), the
///    7 injected errors (↻ LEADER_NOT_AVAILABLE, NOT_LEADER_OR_FOLLOWER,
///    REQUEST_TIMED_OUT, COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR,
///    REBALANCE_IN_PROGRESS; ✗ ILLEGAL_GENERATION×3) besides the clients'
///    ↻ UNSUPPORTED_VERSION probes and a JoinGroup left unanswered.
#[test]
fn errors_walked_with_n() {
    if !have_tmux() {
        return skip_or_fail("errors_walked_with_n", "tmux is not installed");
    }
    let capture = corpus_dir().join("errors_mtu1500.pcap");
    let mut t = Tmux::start(160, 50, &["tui", capture.to_str().unwrap()]);
    t.wait_loaded(LOADED_ERRORS);
    t.key("g");
    // The first row (line 2, under the tabs and the column header) selected.
    let wait_selected = |t: &Tmux, what: &str, ok: &dyn Fn(Option<&str>, &str) -> bool| {
        let t0 = Instant::now();
        loop {
            let esc = t.screen_escaped();
            let plain = t.screen();
            let row = selected_row(&esc);
            if ok(row.as_deref(), &plain) {
                return (row, plain);
            }
            if t0.elapsed() > DEADLINE {
                panic!("timed out waiting for {what}; selected {row:?}; screen:\n{plain}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let (first, screen) = wait_selected(&t, "the first row selected", &|row, plain| {
        row.is_some() && plain.lines().nth(2).map(str::trim_end) == row.map(str::trim_end)
    });
    assert_eq!(frame_of(first.as_deref().unwrap()), Some(4), "{screen}");

    let injected = [
        "LEADER_NOT_AVAILABLE",
        "NOT_LEADER_OR_FOLLOWER",
        "REQUEST_TIMED_OUT",
        "COORDINATOR_NOT_AVAILABLE",
        "NOT_COORDINATOR",
        "REBALANCE_IN_PROGRESS",
        "ILLEGAL_GENERATION",
    ];
    let mut seen: Vec<String> = Vec::new();
    let mut prev = frame_of(first.as_deref().unwrap());
    loop {
        assert!(seen.len() < 100, "n never reaches the end");
        t.key("n");
        let (row, plain) = wait_selected(&t, "n to move", &|row, plain| {
            last_line(plain).contains("no error after this row")
                || row.and_then(frame_of).is_some_and(|f| Some(f) != prev)
        });
        if last_line(&plain).contains("no error after this row") {
            break;
        }
        let row = row.unwrap();
        let frame = frame_of(&row);
        assert!(frame > prev, "n goes forward: {prev:?} → {frame:?}");
        prev = frame;
        seen.push(row);
    }
    for name in injected {
        let row = seen
            .iter()
            .find(|r| {
                r.split_whitespace()
                    .any(|w| w == name || w.starts_with(&format!("{name}×")))
            })
            .unwrap_or_else(|| panic!("{name} never selected; rows:\n{}", seen.join("\n")));
        let glyph = row
            .split_whitespace()
            .take_while(|w| !w.starts_with(name))
            .last()
            .unwrap();
        assert!(
            glyph == "✗" || glyph == "↻",
            "{name} without a status glyph: {row}"
        );
    }
    let frames: Vec<u64> = seen.iter().filter_map(|r| frame_of(r)).collect();
    // The 8 ApiVersions negotiations (v3 answered UNSUPPORTED_VERSION, then
    // v0) are the protocol's, not errors: n passes them by.
    assert!(
        seen.iter().all(|r| !r.contains("ApiVersions")),
        "n stopped on a negotiation: {seen:#?}"
    );
    assert_eq!(frames.len(), 12, "error rows: {frames:?}");
    assert_eq!((frames[0], frames[11]), (10, 175));
    assert!(
        seen.iter()
            .any(|r| r.contains("✗ ILLEGAL_GENERATION×3") && r.contains("OffsetCommit")),
        "the fatal one is marked ✗"
    );
    eprintln!("n stopped on frames {frames:?}");
}

/// 5. The Charts view at 80×24 on errors_mtu1500: `6` shows the three
///    charts; the errors chart's tallest bar is the burst of 22:43:41.25
///    (Produce NOT_LEADER_OR_FOLLOWER ×2 and REQUEST_TIMED_OUT,
///    FindCoordinator COORDINATOR_NOT_AVAILABLE); `g` and `l` take the `▲`
///    there and the readout names them; `j j` chooses the errors chart and
///    Enter shows the timeline filtered to exactly those errors; Esc comes
///    back to the charts, the cursor where it was.
#[test]
fn charts_error_burst_to_timeline_and_back() {
    if !have_tmux() {
        return skip_or_fail(
            "charts_error_burst_to_timeline_and_back",
            "tmux is not installed",
        );
    }
    let capture = corpus_dir().join("errors_mtu1500.pcap");
    let mut t = Tmux::start(80, 24, &[capture.to_str().unwrap()]);
    t.wait_loaded(LOADED_ERRORS);
    t.key("6");
    let screen = t.wait_for("the charts", |s| {
        s.contains("requests/s") && s.contains("p99 latency") && s.contains("errors/s")
    });
    for l in screen.lines() {
        assert!(l.chars().count() <= 80, "wider than 80: {l:?}");
    }
    assert!(
        screen.lines().next().unwrap().contains("6 Charts"),
        "{screen}"
    );
    let peak = charts::peak(&screen, "errors/s").expect("an error bar");
    let start = charts::cursor(&screen).expect("the cursor");
    assert!(start > peak, "the cursor starts on the newest bucket");
    t.key("g");
    t.wait_for("the cursor on the first bucket", |s| {
        charts::cursor(s) == Some(0)
    });
    for _ in 0..peak {
        t.key("l");
    }
    let screen = t.wait_for("the cursor on the burst", |s| {
        charts::cursor(s) == Some(peak)
    });
    let readout = screen
        .lines()
        .rev()
        .skip(1)
        .take(2)
        .collect::<Vec<_>>()
        .join("\n");
    for name in [
        "NOT_LEADER_OR_FOLLOWER×2",
        "REQUEST_TIMED_OUT",
        "COORDINATOR_NOT_AVAILABLE",
    ] {
        assert!(readout.contains(name), "{name} in the readout:\n{screen}");
    }
    t.key("j");
    t.key("j");
    t.wait_for("the errors chart chosen", |s| s.contains("▶ errors/s"));
    t.press("Enter");
    let timeline = t.wait_for("the burst's errors in the timeline", |s| {
        last_line(s).contains("match /frame>=") && s.contains("frame time (UTC)")
    });
    assert!(
        last_line(&timeline).contains("(err or noresp or malformed)"),
        "{timeline}"
    );
    // Timeline rows: a frame number, then the clock (not the status bar).
    let rows: Vec<&str> = timeline
        .lines()
        .filter(|l| frame_of(l).is_some() && l.contains(" 22:43:"))
        .collect();
    assert_eq!(rows.len(), 4, "{timeline}");
    for (frame, name) in [
        (38, "NOT_LEADER_OR_FOLLOWER"),
        (40, "NOT_LEADER_OR_FOLLOWER"),
        (47, "REQUEST_TIMED_OUT"),
        (70, "COORDINATOR_NOT_AVAILABLE"),
    ] {
        assert!(
            rows.iter()
                .any(|r| frame_of(r) == Some(frame) && r.contains(name)),
            "frame {frame} {name} shown:\n{timeline}"
        );
    }
    // Nothing but errors: every row has an error glyph.
    assert!(
        rows.iter().all(|r| r.contains('↻') || r.contains('✗')),
        "{timeline}"
    );
    t.press("Escape");
    let back = t.wait_for("the charts again", |s| {
        s.contains("▶ errors/s") && !last_line(s).contains("match")
    });
    assert_eq!(charts::cursor(&back), Some(peak), "{back}");
}

/// 4. `?` shows the key table, any key closes it, `q` quits with status 0
///    and leaves the terminal as it found it (main screen, cursor shown,
///    cooked mode with echo).
#[test]
fn help_then_quit_restores_the_terminal() {
    if !have_tmux() {
        return skip_or_fail(
            "help_then_quit_restores_the_terminal",
            "tmux is not installed",
        );
    }
    let capture = corpus_dir().join("confluent_basic.pcap");
    let mut t = Tmux::start(160, 50, &[capture.to_str().unwrap()]);
    t.wait_loaded(LOADED_CONFLUENT_BASIC);
    assert_eq!(
        t.display("#{alternate_on}"),
        "1",
        "the UI is on the alternate screen"
    );

    t.key("?");
    // Wait for the whole help: a capture can catch a frame half written.
    let help = t.wait_for("the help", |s| s.contains("Help:") && s.contains("j ↓"));
    let row = help
        .lines()
        .find(|l| l.contains("j ↓"))
        .expect("a `j ↓` line");
    assert!(row.contains("next row"), "{row}");
    assert!(help.contains("q Ctrl-c") && help.contains("quit"), "{help}");

    t.key("x");
    let closed = t.wait_for("the help to close", |s| !s.contains("Help:"));
    assert!(
        closed.contains("frame time (UTC)"),
        "back on the timeline:\n{closed}"
    );

    t.key("q");
    assert_eq!(t.wait_exit(), 0, "kwire's exit status");
    t.assert_terminal_restored();
}

/// 5. An 80×24 terminal: the timeline's header and at least 18 rows (seen:
///    21), no line wider than 80 columns; `3` shows the billing group with its
///    three generations.
#[test]
fn small_terminal_80x24() {
    if !have_tmux() {
        return skip_or_fail("small_terminal_80x24", "tmux is not installed");
    }
    let capture = corpus_dir().join("confluent_basic.pcap");
    let mut t = Tmux::start(80, 24, &[capture.to_str().unwrap()]);
    let screen = t.wait_loaded(LOADED_CONFLUENT_BASIC);
    let lines: Vec<&str> = screen.lines().collect();
    assert!(
        lines[1].trim_start().starts_with("frame time (UTC)")
            && lines[1].contains("api")
            && lines[1].contains("status"),
        "the header line: {:?}",
        lines[1]
    );
    let rows = lines
        .iter()
        .filter(|l| frame_of(l).is_some() && l.contains("22:30:"))
        .count();
    assert!(rows >= 18, "{rows} timeline rows:\n{screen}");
    assert_eq!(rows, 21);
    for l in &lines {
        assert!(l.chars().count() <= 80, "wider than 80: {l:?}");
    }

    t.key("3");
    let groups = t.wait_for("the groups view", |s| {
        s.contains("Generations") && s.contains("gen 4")
    });
    for l in groups.lines() {
        assert!(l.chars().count() <= 80, "wider than 80: {l:?}");
    }
    let title = groups.lines().nth(1).unwrap();
    assert!(title.contains("┌ billing · classic (consumer)"), "{title}");
    let gens: Vec<u32> = generations(&right_pane(&groups))
        .iter()
        .map(|g| g.number)
        .collect();
    assert_eq!(gens, [2, 3, 4]);
}

// ---------------------------------------------------------------------------
// Live

/// Produces one message every `GAP` seconds, each flushed on its own (one
/// Produce exchange each), and prints the wall-clock time its flush
/// returned.
const PRODUCER: &str = r#"
import sys, time
from confluent_kafka import Producer
bs, n, gap = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
p = Producer({"bootstrap.servers": bs, "client.id": "tmux-producer", "linger.ms": 0})
p.list_topics("live", timeout=10)
time.sleep(0.5)
for i in range(n):
    p.produce("live", value=b"m%d" % i)
    left = p.flush(10)
    print("delivered %d %.6f %d" % (i + 1, time.time(), left), flush=True)
    time.sleep(gap)
"#;
const MESSAGES: usize = 20;
const GAP: f64 = 0.3;

/// The `M` of " · M match /api:Produce" in the status bar.
fn produce_matches(screen: &str) -> Option<usize> {
    let status = last_line(screen);
    let i = status.find(" match /api:Produce")?;
    status[..i].rsplit(' ').next()?.parse().ok()
}

fn secs(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

/// 3. Live on `lo`: the mock cluster, `kwire tui -i lo --bpf …` in tmux
///    (filtered to `api:Produce` with `/`), and a real producer sending one
///    message every 300 ms, each flushed: every Produce exchange appears on
///    the screen (the status bar's match count rises) within a second of the
///    client's flush returning (the requirement: "new exchanges appear within
///    a second"). Then `q`: exit status 0, terminal restored. The delays are
///    printed (seen: 17–80 ms on a busy machine, the capture handing packets
///    over in blocks of at most 50 ms; the screen is sampled every ~10 ms and
///    a sample is timed when its capture returns, so a delay is an upper
///    bound).
#[test]
fn live_exchanges_appear_within_a_second() {
    let name = "live_exchanges_appear_within_a_second";
    if !have_tmux() {
        return skip_or_fail(name, "tmux is not installed");
    }
    let mock = match live_ready() {
        Ok(m) => m,
        Err(why) => return skip_or_fail(name, &why),
    };
    let mut cluster = MockCluster::start(&mock);
    cluster.cmd("topic live 1 1");
    let bootstrap = cluster.bootstrap.clone();
    let bpf = cluster.bpf();

    let mut t = Tmux::start(160, 50, &["tui", "-i", "lo", "--bpf", &bpf]);
    let screen = t.wait_for("the live UI", |s| {
        s.lines().next().is_some_and(|l| l.contains("● live")) && last_line(s).contains("capturing")
    });
    assert!(last_line(&screen).contains(" 0 exchanges"), "{screen}");
    t.key("/");
    t.key("api:Produce");
    t.press("Enter");
    t.wait_for("the filter applied", |s| produce_matches(s) == Some(0));

    // Sample the screen while the client runs: (time the capture returned,
    // Produce exchanges shown).
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let stop = stop.clone();
        let (socket, target) = (t.socket.clone(), t.name.clone());
        std::thread::spawn(move || {
            let mut samples: Vec<(SystemTime, usize)> = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                let out = Command::new("tmux")
                    .args(["-L", &socket, "-f", "/dev/null", "capture-pane", "-p", "-t"])
                    .arg(&target)
                    .output()
                    .unwrap();
                let at = SystemTime::now();
                if let Some(m) = produce_matches(&String::from_utf8_lossy(&out.stdout)) {
                    samples.push((at, m));
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            samples
        })
    };
    let client = Command::new("python3")
        .args(["-c", PRODUCER, &bootstrap])
        .arg(MESSAGES.to_string())
        .arg(GAP.to_string())
        .output()
        .unwrap();
    assert!(
        client.status.success(),
        "client failed: {}",
        String::from_utf8_lossy(&client.stderr)
    );
    // Until the last exchange is on the screen (or the deadline).
    let t0 = Instant::now();
    while produce_matches(&t.screen()).unwrap_or(0) < MESSAGES && t0.elapsed() < DEADLINE {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(100));
    stop.store(true, Ordering::SeqCst);
    let samples = sampler.join().unwrap();

    // "delivered I EPOCH LEFT": message I's flush returned at EPOCH.
    let delivered: Vec<(usize, f64)> = String::from_utf8_lossy(&client.stdout)
        .lines()
        .map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(w.len(), 4, "client line {l:?}");
            assert_eq!(w[3], "0", "message {} not delivered", w[1]);
            (w[1].parse().unwrap(), w[2].parse().unwrap())
        })
        .collect();
    assert_eq!(delivered.len(), MESSAGES);
    let mut delays_ms = Vec::new();
    for (i, at) in &delivered {
        let shown = samples
            .iter()
            .find(|(_, m)| m >= i)
            .unwrap_or_else(|| {
                panic!(
                    "Produce #{i} never shown; last sample {:?}; screen:\n{}",
                    samples.last().map(|s| s.1),
                    t.screen()
                )
            })
            .0;
        delays_ms.push(((secs(shown) - at) * 1000.0).round() as i64);
    }
    eprintln!("live: delay from flush to screen per Produce (ms): {delays_ms:?}");
    assert!(
        delays_ms.iter().all(|d| *d < 1000),
        "an exchange took a second or more to appear: {delays_ms:?} ms"
    );
    let status = last_line(&t.screen()).to_string();
    assert!(
        status.contains(&format!(" {MESSAGES} match /api:Produce")),
        "{status}"
    );

    t.key("q");
    assert_eq!(t.wait_exit(), 0, "kwire's exit status");
    t.assert_terminal_restored();
    drop(cluster);
}
