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
    insta::assert_snapshot!(app.render_to_string(80, 24));
}

#[test]
fn timeline_160x40_since_start() {
    let mut app = sample("demo.pcap");
    key(&mut app, 't');
    key(&mut app, 't');
    insta::assert_snapshot!(app.render_to_string(160, 40));
}

#[test]
fn timeline_errors_highlighted_and_n_walks_them() {
    let mut app = sample("errors.pcap");
    let screen = app.render_to_string(120, 30);
    insta::assert_snapshot!(screen);
}

#[test]
fn connections_view() {
    let mut app = sample("demo.pcap");
    key(&mut app, '2');
    assert_eq!(app.view, View::Connections);
    insta::assert_snapshot!(app.render_to_string(120, 24));
}

#[test]
fn groups_view() {
    let mut app = sample("demo.pcap");
    key(&mut app, '3');
    assert_eq!(app.view, View::Groups);
    insta::assert_snapshot!(app.render_to_string(120, 40));
}

#[test]
fn stats_view() {
    let mut app = sample("demo.pcap");
    key(&mut app, '4');
    insta::assert_snapshot!(app.render_to_string(120, 40));
}

#[test]
fn detail_view() {
    let mut app = sample("demo.pcap");
    typed(&mut app, "/api:JoinGroup");
    code(&mut app, KeyCode::Enter);
    code(&mut app, KeyCode::Enter);
    assert!(app.detail.is_some());
    insta::assert_snapshot!(app.render_to_string(160, 40));
}

#[test]
fn help_view() {
    let mut app = sample("demo.pcap");
    key(&mut app, '?');
    insta::assert_snapshot!(app.render_to_string(100, 60));
}

#[test]
fn filter_prompt_validates_while_typing() {
    let mut app = sample("demo.pcap");
    typed(&mut app, "/api:Fetc");
    let s = app.render_to_string(100, 24);
    assert!(s.contains("Fetch"), "suggestion shown:\n{s}");
    key(&mut app, 'h');
    let s = app.render_to_string(100, 24);
    assert!(s.contains("valid filter"), "{s}");
    code(&mut app, KeyCode::Enter);
    insta::assert_snapshot!(app.render_to_string(100, 24));
}

/// Every injected error of errors_mtu1500 is highlighted with its glyph,
/// and `n` visits each of them in order (and nothing else).
#[test]
fn errors_mtu1500_every_error_highlighted_and_walked() {
    let mut app = corpus("errors_mtu1500");
    let _ = app.render_to_string(200, 50);
    // The rows n must visit: errors and unanswered requests, in frame order.
    let want: Vec<u64> = app
        .visible
        .iter()
        .filter_map(|r| match r {
            kwire::tui::store::Row::Exchange(i) => app.store.exchange(*i),
            _ => None,
        })
        .filter(|it| {
            use kwire::tui::store::Severity::*;
            matches!(it.severity(), Fatal | Retriable | NoResponse)
        })
        .map(|it| it.request.frame)
        .collect();
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
        let screen = app.render_to_string(200, 50);
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
