//! The terminal UI on real captures, drawn on ratatui's `TestBackend`:
//! snapshots of every view (monochrome, so the snapshot is the text a user
//! reads; colour is checked separately), keys driven as a user types them.

mod common;

use common::*;
use kwire::session::SessionConfig;
use kwire::tcp::TcpConfig;
use kwire::tui::app::{App, AppOptions, View};
use kwire::tui::run::load_file;
use kwire::tui::theme::Theme;
use kwire::tui::view::render_to_string;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

fn load(path: &std::path::Path) -> App {
    let opts = AppOptions {
        theme: Theme::mono(),
        ..AppOptions::default()
    };
    load_file(
        path.to_str().unwrap(),
        opts,
        TcpConfig::default(),
        SessionConfig::default(),
    )
    .expect("capture opens")
}

fn sample(name: &str) -> App {
    load(&samples_dir().join(name))
}

fn corpus(name: &str) -> App {
    load(&corpus_dir().join(format!("{name}.pcap")))
}

fn key(app: &mut App, c: char) {
    app.key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
}

fn code(app: &mut App, k: KeyCode) {
    app.key(KeyEvent::new(k, KeyModifiers::NONE));
}

fn typed(app: &mut App, s: &str) {
    for c in s.chars() {
        key(app, c);
    }
}

#[test]
fn timeline_80x24() {
    let mut app = sample("demo.pcap");
    insta::assert_snapshot!(render_to_string(&mut app, 80, 24));
}

#[test]
fn timeline_160x40_since_start() {
    let mut app = sample("demo.pcap");
    key(&mut app, 't');
    key(&mut app, 't');
    insta::assert_snapshot!(render_to_string(&mut app, 160, 40));
}

#[test]
fn timeline_errors_sample_120x30() {
    let mut app = sample("errors.pcap");
    let screen = render_to_string(&mut app, 120, 30);
    insta::assert_snapshot!(screen);
}

#[test]
fn connections_view() {
    let mut app = sample("demo.pcap");
    key(&mut app, '2');
    assert_eq!(app.view, View::Connections);
    insta::assert_snapshot!(render_to_string(&mut app, 120, 24));
}

#[test]
fn groups_view() {
    let mut app = sample("demo.pcap");
    key(&mut app, '3');
    assert_eq!(app.view, View::Groups);
    insta::assert_snapshot!(render_to_string(&mut app, 120, 40));
}

#[test]
fn stats_view() {
    let mut app = sample("demo.pcap");
    key(&mut app, '4');
    insta::assert_snapshot!(render_to_string(&mut app, 120, 40));
}

#[test]
fn detail_view() {
    let mut app = sample("demo.pcap");
    typed(&mut app, "/api:JoinGroup");
    code(&mut app, KeyCode::Enter);
    code(&mut app, KeyCode::Enter);
    assert!(app.detail.is_some());
    insta::assert_snapshot!(render_to_string(&mut app, 160, 40));
}

#[test]
fn help_view() {
    let mut app = sample("demo.pcap");
    key(&mut app, '?');
    insta::assert_snapshot!(render_to_string(&mut app, 100, 60));
}

/// The help fits any width: at 80 and at 40 columns every description
/// wraps inside the box (nothing cut at its border), and the last words of
/// the longest ones are there.
#[test]
fn help_fits_narrow_terminals() {
    for width in [80u16, 40] {
        let mut app = sample("demo.pcap");
        key(&mut app, '?');
        let mut all = String::new();
        // Scroll through the whole help, a screen at a time.
        for _ in 0..20 {
            let s = render_to_string(&mut app, width, 24);
            for l in s.lines().skip(2).take(21) {
                let inner = l.trim_start_matches('│').trim_end();
                assert!(
                    unicode_width::UnicodeWidthStr::width(l) <= usize::from(width),
                    "{width}: {l}"
                );
                all.push_str(inner.trim_end_matches('│').trim());
                all.push(' ');
            }
            for _ in 0..20 {
                key(&mut app, 'j');
            }
        }
        let words = all.split_whitespace().collect::<Vec<_>>().join(" ");
        for tail in ["skipped by n and err", "for several"] {
            assert!(words.contains(tail), "{width}: {tail:?} missing");
        }
    }
}

#[test]
fn filter_prompt_validates_while_typing() {
    let mut app = sample("demo.pcap");
    typed(&mut app, "/api:Fetc");
    let s = render_to_string(&mut app, 100, 24);
    assert!(s.contains("Fetch"), "suggestion shown:\n{s}");
    key(&mut app, 'h');
    let s = render_to_string(&mut app, 100, 24);
    assert!(s.contains("valid filter"), "{s}");
    code(&mut app, KeyCode::Enter);
    insta::assert_snapshot!(render_to_string(&mut app, 100, 24));
}

/// Every injected error of errors_mtu1500 is highlighted with its glyph,
/// and `n` visits each of them in order (and nothing else).
#[test]
fn errors_mtu1500_every_error_highlighted_and_walked() {
    let mut app = corpus("errors_mtu1500");
    let _ = render_to_string(&mut app, 200, 50);
    // The rows n must visit: errors and unanswered requests, in frame order.
    let want: Vec<u64> = app
        .visible
        .iter()
        .filter_map(|r| match r {
            kwire::tui::store::Row::Exchange(i) => app.store.exchange(*i),
            _ => None,
        })
        .filter(|it| it.severity().is_problem())
        .map(|it| it.request.frame)
        .collect();
    // ApiVersions negotiation (v3 answered UNSUPPORTED_VERSION, then v0) is
    // the protocol's, not a problem: n never stops there.
    let negotiations: Vec<u64> = app
        .visible
        .iter()
        .filter_map(|r| match r {
            kwire::tui::store::Row::Exchange(i) => app.store.exchange(*i),
            _ => None,
        })
        .filter(|it| it.severity() == kwire::session::Outcome::Negotiation)
        .map(|it| it.request.frame)
        .collect();
    assert!(!negotiations.is_empty());
    assert!(negotiations.iter().all(|f| !want.contains(f)));
    let injected = [
        "LEADER_NOT_AVAILABLE",
        "NOT_LEADER_OR_FOLLOWER",
        "REQUEST_TIMED_OUT",
        "COORDINATOR_NOT_AVAILABLE",
        "NOT_COORDINATOR",
        "REBALANCE_IN_PROGRESS",
        "ILLEGAL_GENERATION",
    ];
    key(&mut app, 'g');
    let mut seen = Vec::new();
    let mut names = std::collections::BTreeSet::new();
    for step in 0..want.len() {
        // The first row may be an error itself: n goes to the next one.
        let first_is_error = app
            .store
            .exchange(app.selected_exchange().unwrap())
            .unwrap()
            .request
            .frame
            == want[0];
        if !(step == 0 && first_is_error) {
            key(&mut app, 'n');
        }
        let i = app.selected_exchange().expect("n selects an exchange");
        let it = app.store.exchange(i).unwrap().clone();
        seen.push(it.request.frame);
        // The selected row is on screen with a glyph and the error's name.
        let screen = render_to_string(&mut app, 200, 50);
        let row = screen
            .lines()
            .find(|l| {
                l.trim_start()
                    .starts_with(&format!("{} ", it.request.frame))
            })
            .unwrap_or_else(|| panic!("frame {} not on screen:\n{screen}", it.request.frame));
        let glyphs = ["✗", "↻", "…"];
        assert!(glyphs.iter().any(|g| row.contains(g)), "no glyph: {row}");
        for e in it.errors.iter() {
            assert!(row.contains(e.name), "{row} lacks {}", e.name);
            names.insert(e.name);
        }
    }
    assert_eq!(seen, want);
    for n in injected {
        assert!(names.contains(n), "{n} not walked by n: {names:?}");
    }
    // At the last error, n says so and stays.
    key(&mut app, 'n');
    assert_eq!(
        app.store
            .exchange(app.selected_exchange().unwrap())
            .unwrap()
            .request
            .frame,
        *want.last().unwrap()
    );
    // N walks back.
    key(&mut app, 'N');
    assert_eq!(
        app.store
            .exchange(app.selected_exchange().unwrap())
            .unwrap()
            .request
            .frame,
        want[want.len() - 2]
    );
}

/// `w` writes the exchanges the timeline shows as NDJSON, line for line
/// what `kwire export` writes for them.
#[test]
fn export_from_the_ui_matches_kwire_export() {
    let path = samples_dir().join("demo.pcap");
    let mut app = load(&path);
    typed(&mut app, "/api:JoinGroup,SyncGroup,Produce");
    code(&mut app, KeyCode::Enter);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ui.ndjson");
    key(&mut app, 'w');
    app.key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL));
    typed(&mut app, out.to_str().unwrap());
    code(&mut app, KeyCode::Enter);
    let msg = app.message.clone().unwrap_or_default();
    assert!(
        msg.starts_with("wrote 14 exchanges to /"),
        "the full path: {msg}"
    );
    assert!(msg.ends_with("ui.ndjson"), "{msg}");
    let written = std::fs::read_to_string(&out).unwrap();

    let (records, _) = analyze(&path, &[]);
    let want: Vec<String> = records
        .iter()
        .filter(|r| matches!(r, kwire::session::Record::Exchange(e) if matches!(e.api_key.0, 0 | 11 | 14)))
        .map(|r| kwire::export::ndjson::to_json(r).to_string())
        .collect();
    let got: Vec<&str> = written.lines().collect();
    assert_eq!(got.len(), want.len());
    // The UI lists in request order, the export in completion order.
    let mut want_sorted = want.clone();
    want_sorted.sort();
    let mut got_sorted: Vec<String> = got.iter().map(|s| s.to_string()).collect();
    got_sorted.sort();
    assert_eq!(got_sorted, want_sorted);
}

/// The filter examples in README.md parse.
#[test]
fn readme_filter_examples_parse() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let block = readme
        .split("The filter is checked as you type:")
        .nth(1)
        .expect("README has the filter examples");
    let mut n = 0;
    for line in block
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with("    ") || l.is_empty())
    {
        for example in line
            .trim()
            .split("  ")
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            kwire::tui::filter::Filter::parse(example)
                .unwrap_or_else(|e| panic!("README filter {example:?}: {}", e.message));
            n += 1;
        }
    }
    assert!(n >= 6, "{n} examples found");
}

/// A live-like session: records arrive while the UI draws; follow keeps the
/// newest selected, pause freezes the display and says how much is new,
/// and the exchange limit lets the oldest go without breaking the view.
#[test]
fn follow_pause_and_limits_while_records_arrive() {
    use kwire::tui::app::Mode;
    use kwire::tui::store::StoreLimits;
    let opts = AppOptions {
        theme: Theme::mono(),
        mode: Mode::Live,
        limits: StoreLimits {
            max_exchanges: 60,
            ..StoreLimits::default()
        },
        ..AppOptions::default()
    };
    let mut app = App::new(opts);
    let (records, _) = analyze(&samples_dir().join("demo.pcap"), &[]);
    let mut it = records.into_iter();
    for r in it.by_ref().take(100) {
        app.ingest(r);
    }
    render_to_string(&mut app, 120, 30);
    assert!(app.follow, "live starts following");
    assert_eq!(app.timeline.selected, app.visible.len() - 1);
    key(&mut app, ' ');
    let frozen = app.visible.len();
    for r in it.by_ref().take(60) {
        app.ingest(r);
    }
    let s = render_to_string(&mut app, 120, 30);
    assert_eq!(app.visible.len(), frozen, "paused");
    assert!(s.contains("PAUSED"), "{s}");
    key(&mut app, ' ');
    for r in it {
        app.ingest(r);
    }
    let s = render_to_string(&mut app, 120, 30);
    assert!(app.store.len() <= 60);
    assert!(app.store.evicted_exchanges > 0);
    assert!(s.contains("let go:"), "the limit is reported:\n{s}");
    assert_eq!(
        app.timeline.selected,
        app.visible.len() - 1,
        "still following"
    );
    for r in &app.visible {
        if let kwire::tui::store::Row::Exchange(i) = r {
            assert!(
                app.store.exchange(*i).is_some(),
                "only held exchanges shown"
            );
        }
    }
    // Moving up stops following.
    key(&mut app, 'k');
    assert!(!app.follow);
}

#[test]
fn findings_view() {
    let mut app = corpus("errors_mtu1500");
    key(&mut app, '5');
    assert_eq!(app.view, View::Findings);
    insta::assert_snapshot!(render_to_string(&mut app, 120, 40));
    // Enter shows the selected finding's exchanges in the timeline.
    if let Some(f) = app.findings.first().cloned()
        && !f.frames.is_empty()
    {
        code(&mut app, KeyCode::Enter);
        assert_eq!(app.view, View::Timeline);
        assert!(app.filter_text.starts_with("frame:"), "{}", app.filter_text);
        assert!(app.visible_exchanges >= 1);
    }
}

/// Fetches by topic id seen before the Metadata naming their topic are
/// named once it arrives: their summaries and topics are made again.
#[test]
fn fetches_before_metadata_are_named_once_it_arrives() {
    use kwire::session::{Record, TopicIdNames};
    let (records, _) = analyze(&samples_dir().join("demo.pcap"), &[]);
    // As if the analysis had not known the names yet: nothing attached,
    // every Fetch before every Metadata.
    let mut fetches = Vec::new();
    let mut metadata = Vec::new();
    for r in records {
        let Record::Exchange(mut e) = r else { continue };
        for b in [&mut e.request_body, &mut e.response_body]
            .into_iter()
            .flatten()
        {
            b.topic_names = TopicIdNames::default();
        }
        match e.api_key.0 {
            1 => fetches.push(Record::Exchange(e)),
            3 => metadata.push(Record::Exchange(e)),
            _ => {}
        }
    }
    assert!(!fetches.is_empty() && !metadata.is_empty());
    let mut app = App::new(AppOptions {
        theme: Theme::mono(),
        ..AppOptions::default()
    });
    for r in fetches {
        app.ingest(r);
    }
    let unnamed = |app: &App| {
        app.store
            .exchanges()
            .filter(|(_, it)| {
                it.summary.contains("id:") || it.topics.iter().any(|t| t.starts_with("id:"))
            })
            .count()
    };
    assert!(unnamed(&app) > 0, "the fetches name topics by id");
    for r in metadata {
        app.ingest(r);
    }
    assert_eq!(unnamed(&app), 0);
    assert!(
        app.store
            .exchanges()
            .any(|(_, it)| it.summary.contains("orders-0@")
                && it.topics.iter().any(|t| t == "orders"))
    );
    // The search text follows.
    assert!(
        app.store
            .exchanges()
            .any(|(_, it)| it.search.contains("orders"))
    );
}

/// The detail shows the name the capture gave a `topicId`.
#[test]
fn detail_names_topic_ids() {
    let mut app = sample("demo.pcap");
    typed(&mut app, "/api:Fetch");
    code(&mut app, KeyCode::Enter);
    code(&mut app, KeyCode::Enter);
    assert!(app.detail.is_some());
    key(&mut app, 'e');
    let screen = render_to_string(&mut app, 160, 60);
    assert!(screen.contains("topicId"), "{screen}");
    assert!(screen.contains("(orders)"), "{screen}");
}

/// Enter on a connection shows its exchanges in the timeline; Esc goes
/// back to the Connections view, with the filter there was before.
#[test]
fn esc_returns_to_where_enter_came_from() {
    let mut app = load(&samples_dir().join("demo.pcap"));
    typed(&mut app, "/api:Produce");
    code(&mut app, KeyCode::Enter);
    assert_eq!(app.filter_text, "api:Produce");
    key(&mut app, '2');
    key(&mut app, 'j');
    code(&mut app, KeyCode::Enter);
    assert_eq!(app.view, kwire::tui::app::View::Timeline);
    assert_eq!(app.filter_text, "stream:1");
    code(&mut app, KeyCode::Esc);
    assert_eq!(app.view, kwire::tui::app::View::Connections);
    assert_eq!(app.filter_text, "api:Produce");
    // Nothing more to return to: Esc stays.
    key(&mut app, '1');
    code(&mut app, KeyCode::Esc);
    assert_eq!(app.view, kwire::tui::app::View::Timeline);
}

/// At 80 columns every error name in the timeline is whole: a row whose
/// status does not fit gives it room from its client id and API columns.
#[test]
fn error_names_are_never_cut_at_80_columns() {
    let mut app = sample("errors.pcap");
    let mut screens = String::new();
    for _ in 0..30 {
        screens.push_str(&render_to_string(&mut app, 80, 24));
        for _ in 0..20 {
            key(&mut app, 'j');
        }
    }
    let mut names = std::collections::BTreeSet::new();
    for r in app.visible.iter() {
        if let kwire::tui::store::Row::Exchange(i) = r
            && let Some(it) = app.store.exchange(*i)
        {
            for e in it.errors.iter() {
                names.insert(e.name);
            }
        }
    }
    assert!(names.len() >= 5, "{names:?}");
    for n in names {
        assert!(screens.contains(n), "{n} is cut or missing at 80 columns");
    }
}

/// Every view at the three sizes a terminal is most often (80×24, 120×40,
/// 200×50), on the errors sample: snapshots to read, and what must hold at
/// each size (the client id at 80 columns, a negotiation never counted as an
/// error in Stats).
#[test]
fn every_view_at_three_sizes() {
    for (w, h) in [(80u16, 24u16), (120, 40), (200, 50)] {
        for view in ['1', '2', '3', '4', '5', '?'] {
            let mut app = sample("errors.pcap");
            key(&mut app, view);
            let screen = render_to_string(&mut app, w, h);
            if view == '1' {
                let header = screen.lines().nth(1).unwrap_or_default();
                assert!(header.contains("client id"), "{w}x{h}: {header}");
            }
            if view == '4' {
                let av = screen
                    .lines()
                    .find(|l| l.trim_start().starts_with("ApiVersions"))
                    .unwrap_or_else(|| panic!("{w}x{h}: no ApiVersions row\n{screen}"));
                // reqs, answered, then errors: 0.
                let cols: Vec<&str> = av.split_whitespace().collect();
                assert_eq!(cols.get(3), Some(&"0"), "{w}x{h}: {av}");
            }
            let name = format!("view_{}_{w}x{h}", if view == '?' { 'h' } else { view });
            insta::assert_snapshot!(name, screen);
        }
    }
}

/// At 80×24 every error name in every group's ladder is whole: what the step
/// did gives way first. Walks each group's whole flow on the samples with
/// rebalances and group errors.
#[test]
fn ladder_error_names_are_never_cut_at_80_columns() {
    let mut checked = 0;
    for name in [
        "errors.pcap",
        "demo.pcap",
        "findings/groups_coordinator.pcap",
        "findings/groups_killed_member.pcap",
        "findings/groups_kip848_fenced.pcap",
        "findings/groups_storm.pcap",
        "findings/kafkajs_group.pcap",
    ] {
        let mut app = sample(name);
        key(&mut app, '3');
        for g in 0..app.groups.len() {
            let names: std::collections::BTreeSet<&str> = app
                .groups
                .iter()
                .nth(g)
                .unwrap()
                .steps
                .iter()
                .filter_map(|s| s.error.map(|(_, n)| n))
                .collect();
            let steps = app.groups.iter().nth(g).unwrap().steps.len();
            code(&mut app, KeyCode::Enter);
            let mut screens = String::new();
            // Every line of the flow passes through the screen.
            for _ in 0..steps * 2 + 40 {
                screens.push_str(&render_to_string(&mut app, 80, 24));
                key(&mut app, 'j');
            }
            for n in &names {
                assert!(
                    screens.contains(&format!(" {n}")),
                    "{name}: {n} is cut or missing in the ladder at 80 columns"
                );
                checked += 1;
            }
            code(&mut app, KeyCode::Esc);
            key(&mut app, 'j');
        }
    }
    assert!(checked >= 8, "only {checked} error names seen in ladders");
}

/// `l` scrolls wide rows sideways, `h` back; a row that goes on past the
/// right edge ends in `…`, and the scroll stops at the widest row's end.
#[test]
fn wide_rows_scroll_sideways() {
    let mut app = sample("errors.pcap");
    let first = render_to_string(&mut app, 80, 24);
    let header = |s: &str| s.lines().nth(1).unwrap_or("").to_string();
    assert!(header(&first).contains("frame"), "{first}");
    assert!(
        first.lines().skip(2).any(|l| l.ends_with('…')),
        "no row is marked as going on:\n{first}"
    );
    key(&mut app, 'l');
    let moved = render_to_string(&mut app, 80, 24);
    assert!(app.hscroll > 0);
    assert_ne!(header(&first), header(&moved));
    // As far right as it goes: the widest row's end is on the screen.
    for _ in 0..100 {
        key(&mut app, 'l');
        render_to_string(&mut app, 80, 24);
    }
    let end = render_to_string(&mut app, 80, 24);
    assert!(app.hscroll <= app.hscroll_max);
    assert!(
        !end.lines()
            .skip(2)
            .any(|l| l.chars().count() >= 80 && l.ends_with('…')),
        "rows still go on at the end of the scroll:\n{end}"
    );
    for _ in 0..100 {
        key(&mut app, 'h');
    }
    assert_eq!(app.hscroll, 0);
    assert_eq!(render_to_string(&mut app, 80, 24), first);
    // Another view starts unscrolled.
    key(&mut app, 'l');
    key(&mut app, '2');
    assert_eq!(app.hscroll, 0);
}

/// A response that does not decode is not "ok": the broker answering
/// Metadata v5 in another version's layout shows `?` and "malformed
/// response", `n` stops at it, `malformed` finds it and `ok` does not.
#[test]
fn malformed_responses_are_not_ok() {
    let mut app = sample("conformance/wrong_response_version.pcap");
    let malformed: Vec<u64> = app
        .store
        .exchanges()
        .filter(|(_, it)| it.status == kwire::session::Status::Malformed)
        .map(|(_, it)| it.request.frame)
        .collect();
    assert_eq!(malformed.len(), 7, "{malformed:?}");
    let screen = render_to_string(&mut app, 120, 30);
    let rows: Vec<&str> = screen
        .lines()
        .filter(|l| l.contains("Metadata v5") && !l.contains("decode_error"))
        .collect();
    assert!(!rows.is_empty(), "{screen}");
    for r in &rows {
        assert!(r.contains("? malformed response"), "{r}");
    }
    // `n` from the top stops at the first of them (the negotiation before
    // it passed by).
    key(&mut app, 'g');
    key(&mut app, 'n');
    let sel = app.selected_exchange().and_then(|i| app.store.exchange(i));
    assert_eq!(sel.map(|it| it.request.frame), malformed.first().copied());
    key(&mut app, '/');
    typed(&mut app, "malformed");
    code(&mut app, KeyCode::Enter);
    render_to_string(&mut app, 120, 30);
    assert_eq!(app.visible_exchanges, 7);
    key(&mut app, '/');
    for _ in 0..20 {
        code(&mut app, KeyCode::Backspace);
    }
    typed(&mut app, "ok api:Metadata");
    code(&mut app, KeyCode::Enter);
    render_to_string(&mut app, 120, 30);
    assert_eq!(app.visible_exchanges, 0);
}

/// The Charts view on errors_mtu1500, at the three sizes: the errors chart's
/// tallest bar is the burst of 22:43:41.25 (Produce NOT_LEADER_OR_FOLLOWER
/// ×2 and REQUEST_TIMED_OUT, FindCoordinator COORDINATOR_NOT_AVAILABLE, all
/// within 50 ms); the cursor taken there reads them out; Enter from the
/// errors chart shows exactly those four in the timeline, and Esc comes
/// back to the charts with the filter there was.
#[test]
fn charts_show_the_error_burst_and_jump_to_it() {
    use common::charts;
    // The burst as `kwire list` shows it: request frames and errors.
    let burst: [(u64, &str); 4] = [
        (38, "NOT_LEADER_OR_FOLLOWER"),
        (40, "NOT_LEADER_OR_FOLLOWER"),
        (47, "REQUEST_TIMED_OUT"),
        (70, "COORDINATOR_NOT_AVAILABLE"),
    ];
    for (w, h) in [(80u16, 24u16), (120, 40), (200, 50)] {
        let mut app = corpus("errors_mtu1500");
        key(&mut app, '6');
        assert_eq!(app.view, View::Charts);
        let screen = render_to_string(&mut app, w, h);
        insta::assert_snapshot!(format!("charts_{w}x{h}"), screen);
        for title in ["requests/s", "p99 latency", "errors/s"] {
            assert!(
                charts::heights(&screen, title).iter().any(|&v| v > 0),
                "{w}x{h}: {title} drawn\n{screen}"
            );
        }
        let peak = charts::peak(&screen, "errors/s").expect("an error bar");
        // The cursor starts on the newest bucket; g takes it to the first,
        // l to the next.
        assert!(charts::cursor(&screen).unwrap() > peak);
        key(&mut app, 'g');
        for _ in 0..peak {
            key(&mut app, 'l');
        }
        let screen = render_to_string(&mut app, w, h);
        assert_eq!(charts::cursor(&screen), Some(peak), "{screen}");
        if w == 80 {
            insta::assert_snapshot!("charts_80x24_on_the_burst", screen);
        }
        let readout: Vec<&str> = screen.lines().rev().skip(1).take(2).collect();
        let readout = format!("{}\n{}", readout[1], readout[0]);
        // The model agrees with the screen: that column holds the burst
        // (and, in wider columns, the LEADER_NOT_AVAILABLEs just before).
        let win = app.charts.window(&app.series, app.follow);
        let col = app.series.all(&win)[peak].clone();
        assert!(col.problems >= 4, "{w}x{h}: {col:?}");
        let (first, last) = col.frames().unwrap();
        assert!(first <= 38 && last >= 70, "{first}..{last}");
        assert!(
            readout.contains(&format!("· {} errors", col.problems)),
            "{w}x{h}:\n{readout}"
        );
        assert!(readout.contains("NOT_LEADER_OR_FOLLOWER×2"), "{readout}");
        for name in ["REQUEST_TIMED_OUT", "COORDINATOR_NOT_AVAILABLE"] {
            assert!(readout.contains(name), "{w}x{h}: {name} in\n{readout}");
        }

        // The errors chart, Enter: the timeline shows the column's errors,
        // the burst among them.
        key(&mut app, 'j');
        key(&mut app, 'j');
        code(&mut app, KeyCode::Enter);
        assert_eq!(app.view, View::Timeline);
        assert_eq!(
            app.filter_text,
            format!("frame>={first} frame<={last} (err or noresp or malformed)")
        );
        let shown: Vec<(u64, Vec<&str>)> = app
            .visible
            .iter()
            .filter_map(|r| match r {
                kwire::tui::store::Row::Exchange(i) => app.store.exchange(*i),
                _ => None,
            })
            .map(|it| (it.request.frame, it.errors.iter().map(|e| e.name).collect()))
            .collect();
        assert_eq!(shown.len() as u64, col.problems, "{w}x{h}: {shown:?}");
        for (f, name) in burst {
            assert!(
                shown.contains(&(f, vec![name])),
                "{w}x{h}: {f} {name} in {shown:?}"
            );
        }
        let timeline = render_to_string(&mut app, w, h);
        assert!(
            timeline.contains(&format!("{} match /frame>=", col.problems)),
            "{timeline}"
        );
        // Esc: back to the charts, no filter, the cursor where it was.
        code(&mut app, KeyCode::Esc);
        assert_eq!(app.view, View::Charts);
        assert_eq!(app.filter_text, "");
        let back = render_to_string(&mut app, w, h);
        assert_eq!(charts::cursor(&back), Some(peak));
        assert!(back.contains("▶ errors/s"), "{back}");
    }
}

/// The charts follow the timeline's filter: `/api:Produce` leaves only
/// Produce's exchanges (7: two NOT_LEADER_OR_FOLLOWER, one
/// REQUEST_TIMED_OUT), and Enter on a bucket keeps that filter.
#[test]
fn charts_follow_the_filter() {
    let mut app = corpus("errors_mtu1500");
    typed(&mut app, "/api:Produce");
    code(&mut app, KeyCode::Enter);
    key(&mut app, '6');
    let screen = render_to_string(&mut app, 120, 40);
    assert!(screen.contains("/api:Produce"), "{screen}");
    assert_eq!(app.series.exchanges(), 7);
    let win = app.charts.window(&app.series, false);
    let errors: u64 = app.series.all(&win).iter().map(|b| b.problems).sum();
    assert_eq!(errors, 3);
    // Clearing the filter (from the timeline) counts everything again.
    key(&mut app, '1');
    key(&mut app, 'c');
    key(&mut app, '6');
    let _ = render_to_string(&mut app, 120, 40);
    assert_eq!(app.series.exchanges(), 77);
    // By API: Produce is one of the series; by broker: three brokers.
    key(&mut app, 'b');
    let by_api = render_to_string(&mut app, 120, 40);
    assert!(by_api.contains("by API"), "{by_api}");
    assert!(by_api.contains("Produce┤"), "{by_api}");
    insta::assert_snapshot!("charts_by_api_120x40", by_api);
    key(&mut app, 'b');
    let by_broker = render_to_string(&mut app, 120, 40);
    assert!(by_broker.contains("by broker"), "{by_broker}");
    assert!(by_broker.contains("127.0.0.1:45015┤"), "{by_broker}");
    // Enter on the newest bucket keeps the filter the timeline had.
    typed(&mut app, "1/api:Produce");
    code(&mut app, KeyCode::Enter);
    key(&mut app, '6');
    let _ = render_to_string(&mut app, 120, 40);
    code(&mut app, KeyCode::Enter);
    assert_eq!(app.view, View::Timeline);
    assert!(
        app.filter_text.starts_with("(api:Produce) frame>="),
        "{}",
        app.filter_text
    );
    assert!(!app.visible.is_empty());
}

/// An empty capture and a live tail: the charts say there is nothing yet,
/// then follow the newest bucket as exchanges arrive.
#[test]
fn charts_empty_then_following() {
    let mut app = App::new(AppOptions {
        theme: Theme::mono(),
        mode: kwire::tui::app::Mode::Live,
        ..AppOptions::default()
    });
    key(&mut app, '6');
    let screen = render_to_string(&mut app, 80, 24);
    assert!(screen.contains("no exchanges to chart yet"), "{screen}");
    let full = corpus("errors_mtu1500");
    let items: Vec<_> = full.store.exchanges().map(|(_, it)| it.clone()).collect();
    let mut ends = std::collections::BTreeSet::new();
    for (n, it) in items.into_iter().enumerate() {
        app.store.push(it);
        if n % 10 == 9 {
            let s = render_to_string(&mut app, 80, 24);
            assert!(common::charts::cursor(&s).is_some(), "{s}");
            // Following: the cursor is on the newest column, the last.
            let axis = s.lines().find(|l| l.contains('└')).unwrap();
            assert!(axis.trim_end().ends_with('▲'), "{axis}");
            // The time under the right end moves on as exchanges arrive.
            let labels = s.lines().skip_while(|l| !l.contains('└')).nth(1).unwrap();
            ends.insert(labels.split_whitespace().last().unwrap().to_string());
        }
    }
    assert!(ends.len() >= 4, "the charts scrolled: {ends:?}");
    assert!(app.follow);
    // ← stops following; G follows again.
    code(&mut app, KeyCode::Left);
    assert!(!app.follow);
    key(&mut app, 'G');
    assert!(app.follow);
}

/// The Charts view in terminals too small for it draws what fits and never
/// panics (every size from 1×1 to 40×14, all three breakdowns).
#[test]
fn charts_in_tiny_terminals() {
    let mut app = corpus("errors_mtu1500");
    key(&mut app, '6');
    for _split in 0..3 {
        for w in 1..=40u16 {
            for h in 1..=14u16 {
                let s = render_to_string(&mut app, w, h);
                assert_eq!(s.lines().count(), usize::from(h), "{w}x{h}");
            }
        }
        key(&mut app, 'h');
        key(&mut app, 'b');
    }
}
