//! The terminal UI fed a whole (hostile) capture: the input bytes are a pcap
//! or pcapng file run through the pipeline into the UI's `App`, which builds
//! its rows and the analysis models (topic names, groups, stats,
//! connections, findings) from every exchange; then every view is drawn
//! once (80×24 or 160×50) with its last row opened, the detail of the first
//! error opened (its kept bytes decoded again, records in full), and a
//! filter applied.
//!
//! Checks: no panic, hang or runaway allocation anywhere in the UI's path;
//! the store's memory accounting equals what it holds.
#![no_main]

use std::io::Cursor;

use kwire::capture::PacketSource;
use kwire::capture::file::FileSource;
use kwire::session::{self, CaptureInfo, SessionConfig};
use kwire::tcp::TcpConfig;
use kwire::tui::app::{App, AppOptions};
use kwire::tui::store::StoreLimits;
use kwire::tui::theme::Theme;
use kwire::tui::view::render_to_string;
use libfuzzer_sys::fuzz_target;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

fn key(app: &mut App, c: KeyCode) {
    app.key(KeyEvent::new(c, KeyModifiers::NONE));
}

fuzz_target!(|data: &[u8]| {
    let reader = Box::new(Cursor::new(data.to_vec()));
    let Ok(mut src) = FileSource::from_reader("fuzz", reader) else {
        return;
    };
    let info = CaptureInfo {
        source: "fuzz".into(),
        format: src.format(),
        link_types: src.link_types(),
        filter: None,
        merged: Vec::new(),
    };
    let tcp = TcpConfig {
        max_flows: 1024,
        max_ooo_bytes: 1 << 20,
        max_ooo_segments: 64,
        ..TcpConfig::default()
    };
    // Every field is set; the update keeps this compiling when kwire adds one.
    #[allow(clippy::needless_update)]
    let limits = StoreLimits {
        max_exchanges: 500,
        max_events: 500,
        max_body_bytes: 4 << 20,
        max_message_bytes: 1 << 20,
        ..StoreLimits::default()
    };
    let session = SessionConfig {
        max_frame_size: 1 << 20,
        scan_window: 64 << 10,
        detect_scan_limit: 1 << 20,
        max_unresolved_records: 10_000,
        ..SessionConfig::default()
    };
    let mut app = App::new(AppOptions {
        theme: Theme {
            color: data.len().is_multiple_of(2),
        },
        limits,
        ..AppOptions::default()
    });
    let sink = |r| {
        app.ingest(r);
        Ok(())
    };
    let _ = session::run(&mut src, info, tcp, session, sink);
    let held: usize = app.store.exchanges().map(|(_, it)| it.heap_bytes()).sum();
    assert_eq!(held, app.store.heap_bytes());
    // Each view once, its selection opened once; the size from the input.
    let (w, h) = if data.len().is_multiple_of(3) {
        (80, 24)
    } else {
        (160, 50)
    };
    for v in ['1', '2', '3', '4', '5'] {
        key(&mut app, KeyCode::Char(v));
        key(&mut app, KeyCode::Char('G'));
        key(&mut app, KeyCode::Enter);
        key(&mut app, KeyCode::Enter);
        render_to_string(&mut app, w, h);
        key(&mut app, KeyCode::Esc);
        key(&mut app, KeyCode::Esc);
    }
    key(&mut app, KeyCode::Char('1'));
    key(&mut app, KeyCode::Char('g'));
    key(&mut app, KeyCode::Char('n'));
    key(&mut app, KeyCode::Enter);
    key(&mut app, KeyCode::Char('e'));
    key(&mut app, KeyCode::Char('s'));
    key(&mut app, KeyCode::Char('G'));
    render_to_string(&mut app, w, h);
    key(&mut app, KeyCode::Esc);
    for c in "/err or lat>1ms".chars() {
        key(&mut app, KeyCode::Char(c));
    }
    key(&mut app, KeyCode::Enter);
    render_to_string(&mut app, w, h);
});
