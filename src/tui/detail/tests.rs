//! Snapshots of the detail over real exchanges from `samples/` (decoded by
//! the whole pipeline with body bytes kept, as the UI keeps them), and the
//! keys.

use std::sync::OnceLock;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::Color;

use super::tree::{self, MAX_RECORD_LINES, Tone};
use super::*;
use crate::capture::PacketSource;
use crate::capture::file::FileSource;
use crate::kafka::records::{Batch, Payload, Record};
use crate::session::{self, CaptureInfo, Exchange, Record as Rec, SessionConfig};
use crate::tcp::TcpConfig;

/// Every exchange of `samples/<name>`, body bytes kept.
fn load(name: &str) -> Vec<Exchange> {
    let path = format!("{}/samples/{name}", env!("CARGO_MANIFEST_DIR"));
    let mut src = FileSource::open(&path).unwrap();
    let info = CaptureInfo {
        source: path.clone(),
        format: src.format(),
        link_types: src.link_types(),
        filter: None,
        merged: Vec::new(),
    };
    let cfg = SessionConfig::default();
    let mut out = Vec::new();
    let _ = session::run(&mut src, info, TcpConfig::default(), cfg, |r: Rec| {
        if let Rec::Exchange(e) = r {
            out.push(*e);
        }
        Ok(())
    })
    .unwrap();
    out
}

fn demo() -> &'static [Exchange] {
    static D: OnceLock<Vec<Exchange>> = OnceLock::new();
    D.get_or_init(|| load("demo.pcap"))
}

fn errors() -> &'static [Exchange] {
    static D: OnceLock<Vec<Exchange>> = OnceLock::new();
    D.get_or_init(|| load("errors.pcap"))
}

/// The exchange whose request is frame `frame`.
fn at(ex: &'static [Exchange], frame: u64) -> &'static Exchange {
    ex.iter().find(|e| e.request.frame == frame).unwrap()
}

fn input(e: &Exchange) -> DetailInput<'_> {
    DetailInput {
        api_key: e.api_key,
        api_version: e.api_version,
        correlation_id: e.correlation_id,
        client_id: e.client_id.as_deref(),
        client: e.client,
        broker: e.broker,
        request_frame: e.request.frame,
        response_frame: e.response.map(|r| r.frame),
        latency_us: e.latency_us(),
        split_us: None,
        status: e.status.as_str(),
        outcome: crate::session::Outcome::of(
            e.api_key,
            e.api_version,
            e.status,
            &e.errors.iter().map(|r| r.code).collect::<Vec<_>>(),
            false,
        ),
        errors: &e.errors,
        request: e.request_body.as_ref().map(|b| &b.bytes[..]),
        request_complete: e.request.lost_bytes == 0,
        response: e.response_body.as_ref().map(|b| &b.bytes[..]),
        response_complete: e.response.is_some_and(|r| r.lost_bytes == 0),
        show_secrets: false,
        names: None,
    }
}

fn draw(d: &mut Detail, w: u16, h: u16, theme: Theme) -> Terminal<TestBackend> {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| {
        d.fit(f.area());
        d.render(f, f.area(), &theme)
    })
    .unwrap();
    t
}

/// The screen as text, trailing blanks trimmed.
fn screen(d: &mut Detail, w: u16, h: u16) -> String {
    let t = draw(d, w, h, Theme::mono());
    let buf = t.backend().buffer();
    let mut s = String::new();
    for y in 0..buf.area.height {
        let mut line = String::new();
        for x in 0..buf.area.width {
            line.push_str(buf[(x, y)].symbol());
        }
        s.push_str(line.trim_end());
        s.push('\n');
    }
    s
}

/// Snapshots of the TUI live in `src/tui/snapshots/`.
fn snap(name: &str, screen: String) {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("../snapshots");
    settings.bind(|| insta::assert_snapshot!(name, screen));
}

fn press(d: &mut Detail, keys: &str) {
    for c in keys.chars() {
        assert!(
            d.key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)),
            "{c}"
        );
    }
}

fn code(d: &mut Detail, code: KeyCode) -> bool {
    d.key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn pane(d: &Detail) -> &Pane {
    &d.panes[d.current]
}

fn selected_path(d: &Detail) -> String {
    let p = pane(d);
    p.path_of(p.selected().unwrap())
}

/// Select the item at `path` (opening its ancestors).
fn select(d: &mut Detail, path: &str) {
    let p = &mut d.panes[d.current];
    let i = (0..p.items.len()).find(|&i| p.path_of(i) == path).unwrap();
    p.reveal(i);
}

#[test]
fn metadata_response() {
    // Frame 10: producer-gzip's Metadata v13 for `orders`.
    let e = at(demo(), 10);
    let mut d = Detail::new(&input(e));
    assert_eq!(d.current, 0);
    press(&mut d, "s");
    snap("metadata_response_80x24", screen(&mut d, 80, 24));
    select(&mut d, "topics[0].partitions[1].leaderId");
    snap("metadata_response_160x48", screen(&mut d, 160, 48));
}

#[test]
fn produce_request_with_records() {
    // Frame 36: a gzip Produce v10 of five records.
    let e = at(demo(), 36);
    let mut d = Detail::new(&input(e));
    press(&mut d, "e");
    select(
        &mut d,
        "topicData[0].partitionData[0].records.batch 0.record 0.value",
    );
    snap("produce_request_records_80x24", screen(&mut d, 80, 24));
    select(&mut d, "topicData[0].partitionData[0].records.batch 0");
    snap("produce_request_records_160x48", screen(&mut d, 160, 48));
}

#[test]
fn join_group_with_embedded_subscription() {
    // Frame 131: billing-1's JoinGroup v5, protocols range and roundrobin.
    let e = at(demo(), 131);
    let mut d = Detail::new(&input(e));
    select(&mut d, "protocols[0].metadata.topics[0]");
    snap("join_group_embedded_80x24", screen(&mut d, 80, 24));
    snap("join_group_embedded_160x48", screen(&mut d, 160, 48));
}

#[test]
fn error_response_opens_on_the_error() {
    // Frame 37: Produce answered NOT_LEADER_OR_FOLLOWER.
    let e = at(errors(), 37);
    let mut d = Detail::new(&input(e));
    assert_eq!(d.current, 1);
    assert_eq!(
        selected_path(&d),
        "responses[0].partitionResponses[0].errorCode"
    );
    snap("error_response_80x24", screen(&mut d, 80, 24));
    snap("error_response_160x48", screen(&mut d, 160, 48));
}

/// Cells drawn in the highlight style, as `(x, y)`, in order.
fn highlighted(t: &Terminal<TestBackend>) -> Vec<(u16, u16)> {
    let buf = t.backend().buffer();
    let mut v = Vec::new();
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            if buf[(x, y)].bg == Color::Cyan {
                v.push((x, y));
            }
        }
    }
    v
}

#[test]
fn selected_bytes_carry_the_highlight_in_colour() {
    let e = at(errors(), 37);
    let mut d = Detail::new(&input(e));
    let body = &e.response_body.as_ref().unwrap().bytes[..];
    for _ in 0..3 {
        let p = pane(&d);
        let r = p.range_of(p.selected().unwrap()).unwrap();
        let t = draw(&mut d, 160, 48, Theme { color: true });
        let cells = highlighted(&t);
        let buf = t.backend().buffer();
        let text: String = cells.iter().map(|&(x, y)| buf[(x, y)].symbol()).collect();
        // Row by row: the bytes in hex (with the gaps between lit bytes),
        // then in ASCII.
        assert!(r.start < r.end && r.len() <= 64, "{r:?}");
        let mut want = String::new();
        let rows = r.start as usize / 16..=(r.end as usize - 1) / 16;
        for row in rows {
            let from = (row * 16).max(r.start as usize);
            let to = (row * 16 + 16).min(r.end as usize);
            let bytes = &body[from..to];
            for (k, b) in bytes.iter().enumerate() {
                if k > 0 {
                    want.push_str(if (from + k) % 16 == 8 { "  " } else { " " });
                }
                want.push_str(&format!("{b:02x}"));
            }
            for &b in bytes {
                want.push(if b.is_ascii_graphic() || b == b' ' {
                    b as char
                } else {
                    '.'
                });
            }
        }
        assert_eq!(text, want, "{r:?}");
        // The hex column is at the right, the tree's selected line reversed.
        assert!(cells.iter().all(|&(x, _)| x >= 160 - 80));
        press(&mut d, "k");
    }
}

#[test]
fn keys_move_expand_and_collapse() {
    let e = at(demo(), 10);
    let mut d = Detail::new(&input(e));
    press(&mut d, "s");
    // The fields, and a line for the byte librdkafka's mock cluster adds.
    let fields = e.response_body.as_ref().unwrap().tree().children();
    let top_level = fields.len() + 1;
    assert_eq!(pane(&d).items.last().unwrap().name, "trailing bytes");
    press(&mut d, "E");
    assert_eq!(pane(&d).visible.len(), top_level);
    press(&mut d, "g");
    assert_eq!(selected_path(&d), "throttleTimeMs");
    press(&mut d, "j");
    assert_eq!(selected_path(&d), "brokers");
    // → opens, → again enters, ← goes back up, ← closes.
    code(&mut d, KeyCode::Right);
    assert_eq!(pane(&d).visible.len(), top_level + 3);
    code(&mut d, KeyCode::Right);
    assert_eq!(selected_path(&d), "brokers[0]");
    press(&mut d, "l");
    press(&mut d, "j");
    assert_eq!(selected_path(&d), "brokers[0].nodeId");
    // ← on a leaf goes up; on an open node closes it; then goes up.
    press(&mut d, "h");
    assert_eq!(selected_path(&d), "brokers[0]");
    assert_eq!(pane(&d).visible.len(), top_level + 3 + 4);
    press(&mut d, "h");
    assert_eq!(selected_path(&d), "brokers[0]");
    assert_eq!(pane(&d).visible.len(), top_level + 3);
    press(&mut d, "h");
    assert_eq!(selected_path(&d), "brokers");
    press(&mut d, "h");
    assert_eq!(pane(&d).visible.len(), top_level);
    // Enter and space toggle.
    code(&mut d, KeyCode::Enter);
    assert_eq!(pane(&d).visible.len(), top_level + 3);
    press(&mut d, " ");
    assert_eq!(pane(&d).visible.len(), top_level);
    // e opens everything; the selection stays; E closes onto the top level.
    press(&mut d, "e");
    assert_eq!(pane(&d).visible.len(), pane(&d).items.len());
    select(&mut d, "topics[0].partitions[2].leaderEpoch");
    press(&mut d, "E");
    assert_eq!(selected_path(&d), "topics");
    // G, g, PgDn, PgUp, ↑/↓ stay within the lines.
    press(&mut d, "G");
    assert_eq!(pane(&d).sel, top_level - 1);
    press(&mut d, "j");
    assert_eq!(pane(&d).sel, top_level - 1);
    code(&mut d, KeyCode::PageUp);
    assert_eq!(pane(&d).sel, 0);
    code(&mut d, KeyCode::Up);
    assert_eq!(pane(&d).sel, 0);
    code(&mut d, KeyCode::PageDown);
    assert_eq!(pane(&d).sel, top_level - 1);
    code(&mut d, KeyCode::Home);
    code(&mut d, KeyCode::Down);
    assert_eq!(pane(&d).sel, 1);
    // [ and ] switch; each message keeps its place.
    press(&mut d, "[");
    assert_eq!(d.current, 0);
    press(&mut d, "]");
    assert_eq!((d.current, pane(&d).sel), (1, 1));
    press(&mut d, "r");
    assert_eq!(d.current, 0);
    // Keys for the caller.
    assert!(!code(&mut d, KeyCode::Esc));
    assert!(!code(&mut d, KeyCode::Tab));
    assert!(!code(&mut d, KeyCode::Char('q')));
    let ctrl_e = KeyEvent::new(KeyCode::Char('e'), KeyModifiers::CONTROL);
    assert!(!d.key(ctrl_e));
    let mut release = KeyEvent::new(KeyCode::Char('j'), KeyModifiers::NONE);
    release.kind = KeyEventKind::Release;
    assert!(!d.key(release));
}

#[test]
fn highlight_follows_the_selection() {
    let e = at(demo(), 10);
    let mut d = Detail::new(&input(e));
    press(&mut d, "se");
    let body = e.response_body.as_ref().unwrap();
    // Every line's range is its node's: walk the schema's ranges in order.
    let mut want = Vec::new();
    crate::kafka::schema::walk(body.tree(), &mut |path, n| {
        want.push((crate::kafka::schema::path_string(path), n.range.clone()));
    });
    press(&mut d, "g");
    for (path, range) in &want {
        assert_eq!(&selected_path(&d), path);
        let p = pane(&d);
        assert_eq!(p.range_of(p.selected().unwrap()), Some(range.clone()));
        screen(&mut d, 80, 24);
        // The hex shows the range's first row.
        let p = pane(&d);
        let first = range.start as usize / 16;
        assert!(p.hex_top <= first && first < p.hex_top + 6, "{path}");
        press(&mut d, "j");
    }
}

#[test]
fn missing_and_partial_bodies_say_so() {
    let e = at(errors(), 37);
    let mut i = input(e);
    i.request = None;
    let full = i.response.unwrap();
    i.response = Some(&full[..full.len() / 2]);
    i.response_complete = false;
    let mut d = Detail::new(&i);
    let s = screen(&mut d, 80, 24);
    assert!(s.contains("lost in capture: decoded up to byte"), "{s}");
    press(&mut d, "r");
    let s = screen(&mut d, 80, 24);
    assert!(
        s.contains("bytes not kept: over the UI's memory budget"),
        "{s}"
    );
    // No response at all.
    let mut i = input(e);
    i.response = None;
    i.response_frame = None;
    i.status = "no_response";
    let mut d = Detail::new(&i);
    press(&mut d, "s");
    assert!(screen(&mut d, 80, 24).contains("no response (no_response)"));
}

#[test]
fn hostile_bodies_and_tiny_screens_do_not_panic() {
    for e in demo().iter().chain(errors()).take(80) {
        let i = input(e);
        for (cut, complete) in [(None, true), (Some(7), false), (Some(1), true)] {
            let mut i2 = input(e);
            if let (Some(c), Some(b)) = (cut, i.request) {
                i2.request = Some(&b[..b.len() * c / 8]);
                i2.request_complete = complete;
            }
            let mut d = Detail::new(&i2);
            for (w, h) in [(80, 24), (20, 5), (1, 1), (200, 4)] {
                press(&mut d, "e");
                screen(&mut d, w, h);
                press(&mut d, "Gs");
                screen(&mut d, w, h);
                press(&mut d, "r");
            }
        }
    }
    // Garbage as a Produce request.
    let e = at(demo(), 36);
    let junk: Vec<u8> = (0..600u32).map(|i| (i * 37 % 251) as u8).collect();
    let mut i = input(e);
    i.request = Some(&junk);
    let mut d = Detail::new(&i);
    press(&mut d, "re");
    let s = screen(&mut d, 80, 24);
    assert!(s.contains("decode error"), "{s}");
}

#[test]
fn a_large_record_set_is_capped() {
    let e = at(demo(), 36);
    let mut body = (*e.request_body.clone().unwrap()).clone();
    let Batch::V2(b) = &mut body.records[0].1.batches[0] else {
        panic!("v2")
    };
    let record = Record {
        key: Payload::null(),
        value: Payload {
            size: Some(3),
            data: b"abc".to_vec(),
            truncated: false,
        },
        ..Record::default()
    };
    b.records = vec![record; 50_000];
    b.record_count = 50_000;
    let items = tree::build(&body, body.bytes.len(), true);
    assert!(items.len() < 200 + MAX_RECORD_LINES, "{}", items.len());
    let last = items.iter().rfind(|it| it.name == "…").unwrap();
    assert!(
        last.value.ends_with("more records not listed"),
        "{}",
        last.value
    );
    assert_eq!(last.tone, Tone::Dim);
}

#[test]
fn uncompressed_records_have_their_own_bytes() {
    // Frame 37 of errors.pcap: an uncompressed Produce of four records.
    let e = at(errors(), 37);
    let mut d = Detail::new(&input(e));
    press(&mut d, "r");
    let body = &e.request_body.as_ref().unwrap().bytes[..];
    let records = "topicData[0].partitionData[0].records.batch 0";
    let mut last_end = None;
    for k in 0..4 {
        let record = format!("{records}.record {k}");
        select(&mut d, &format!("{record}.value"));
        let p = pane(&d);
        let sel = p.selected().unwrap();
        assert_eq!(p.range_owner(sel), Some(sel), "{record}");
        let value = p.range_of(sel).unwrap();
        let text = p.items[sel].value.trim_matches('"').to_string();
        // A varint length, then the value's bytes.
        let bytes = &body[value.start as usize..value.end as usize];
        assert!(bytes.ends_with(text.as_bytes()), "{record}: {text}");
        assert!(bytes.len() - text.len() <= 2);
        // Records follow each other.
        let all = p.range_of(p.items[sel].parent as usize).unwrap();
        if let Some(end) = last_end {
            assert_eq!(all.start, end);
        }
        last_end = Some(all.end);
    }
    select(&mut d, records);
    let p = pane(&d);
    assert_eq!(
        last_end,
        Some(p.range_of(p.selected().unwrap()).unwrap().end)
    );
    snap("produce_uncompressed_80x24", {
        select(&mut d, &format!("{records}.record 2.value"));
        screen(&mut d, 80, 24)
    });
}
