//! The detail of one exchange: the request's and the response's decoded
//! bodies as collapsible trees (records and embedded protocols included),
//! and the selected message's bytes in hex with the selected field's bytes
//! highlighted.
//!
//! [`Detail::new`] decodes the bodies the UI kept ([`DetailInput`]) once,
//! every record in full (bounded by [`RecordLimits::default`]), and flattens
//! each tree into lines (module `tree`). The lines shown are recomputed only when
//! a node is expanded or collapsed; a frame draws only the tree lines and
//! hex rows on screen. The detail owns a copy of the bytes it shows.
//!
//! Layout: two header lines (API, version, correlation id, client id,
//! client → broker; frames, latency, status and errors), a line saying which
//! message is shown (`r`/`s` switch), then the tree and the hex: side by side
//! from [`SIDE_BY_SIDE`] columns, the hex under the tree below that (a hex
//! row is 76 columns, so 80 columns stay readable).
//!
//! Keys ([`Detail::key`]): `r`/`[` the request, `s`/`]` the response;
//! `j`/`k`/↓/↑, PgDn/PgUp, `g`/Home, `G`/End move; Enter/space open or close
//! a node; →/`l` open (or enter an open node); ←/`h` close (or go to the
//! parent); `e`/`E` open/close everything. Anything else (and any key with
//! Ctrl or Alt) is left to the caller.
//!
//! Contract: no panic on any bytes or any terminal size; memory in
//! proportion to the bodies (at most 1000 lines of records per `records`
//! field, then a `… N more records` line).

mod hex;
mod tree;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::ops::Range;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Block;

use super::theme::{Theme, glyph};
use crate::kafka::ApiKey;
use crate::kafka::errors::ErrorCode;
use crate::kafka::records::{RecordLimits, RecordsMode};
use crate::kafka::schema::MessageKind;
use crate::present::latency;
use crate::session::{DecodeOptions, ErrorRef, decode_body};
use tree::{Item, NO_PARENT, Tone};

/// The detail's keys, for the help screen (what [`Detail::key`] handles).
pub const KEYS: &[(&str, &str)] = &[
    ("r [", "show the request"),
    ("s ]", "show the response"),
    ("j k ↓ ↑", "next / previous field"),
    ("PgDn PgUp g G", "page, first, last field"),
    ("Enter space", "open or close the field"),
    ("→ l", "open the field (or enter it)"),
    ("← h", "close the field (or go to its parent)"),
    ("e E", "open / close every field"),
    ("Esc", "back to the list"),
];

/// What the detail shows: an exchange and the body bytes the UI kept.
pub struct DetailInput<'a> {
    pub api_key: ApiKey,
    pub api_version: i16,
    pub correlation_id: i32,
    pub client_id: Option<&'a str>,
    pub client: SocketAddr,
    pub broker: SocketAddr,
    pub request_frame: u64,
    pub response_frame: Option<u64>,
    pub latency_us: Option<i64>,
    /// The latency as the broker's time and the network's (several
    /// captures read as one, the exchange seen at both ends).
    pub split_us: Option<(i64, i64)>,
    /// How the exchange ended, in words (`ok`, the error names…).
    pub status: &'a str,
    /// How the exchange ended ([`crate::session::Outcome`]): the glyph and
    /// tone, as every view shows them.
    pub outcome: crate::session::Outcome,
    pub errors: &'a [ErrorRef],
    /// The request's body (after the header), `None` if not kept.
    pub request: Option<&'a [u8]>,
    /// False when the capture lost part of the request.
    pub request_complete: bool,
    /// The response's body (after the header), `None` if not kept or none.
    pub response: Option<&'a [u8]>,
    pub response_complete: bool,
    /// Leave SASL secrets readable (the bytes kept are masked otherwise).
    pub show_secrets: bool,
    /// Topic names known for ids (shown beside `topicId` fields).
    pub names: Option<&'a crate::analysis::topics::TopicNames>,
}

/// Width from which the hex is drawn beside the tree rather than under it.
pub const SIDE_BY_SIDE: u16 = 120;

/// Lines of the tree shown open at first: levels are opened from the top
/// while the lines stay within this.
const AUTO_EXPAND_LINES: usize = 40;

const NOT_KEPT: &str = "bytes not kept: over the UI's memory budget";

/// The detail view of one exchange.
pub struct Detail {
    head: [Vec<(String, Tone)>; 2],
    panes: [Pane; 2],
    /// 0: the request, 1: the response.
    current: usize,
}

impl Detail {
    /// Decode both bodies. Opens on the response's first error code when
    /// it has one, else on the request.
    pub fn new(input: &DetailInput) -> Detail {
        let opts = DecodeOptions {
            records: RecordsMode::Full,
            limits: RecordLimits::default(),
            show_secrets: input.show_secrets,
        };
        let request = match input.request {
            Some(b) => Pane::decode(
                "Request",
                input,
                MessageKind::Request,
                b,
                input.request_complete,
                &opts,
            ),
            None => Pane::absent("Request", Tone::Warning, NOT_KEPT.to_string()),
        };
        let response = match (input.response, input.response_frame) {
            (Some(b), _) => Pane::decode(
                "Response",
                input,
                MessageKind::Response,
                b,
                input.response_complete,
                &opts,
            ),
            (None, Some(_)) => Pane::absent("Response", Tone::Warning, NOT_KEPT.to_string()),
            (None, None) if input.status == "no_response_expected" => Pane::absent(
                "Response",
                Tone::Dim,
                "no response expected (acks=0)".to_string(),
            ),
            (None, None) => Pane::absent(
                "Response",
                Tone::Warning,
                format!("no response ({})", input.status),
            ),
        };
        let mut d = Detail {
            head: header(input),
            panes: [request, response],
            current: 0,
        };
        let first_error = d.panes[1].items.iter().enumerate().position(|(i, it)| {
            matches!(it.tone, Tone::Fatal | Tone::Retriable) && !it.has_children(i)
        });
        if let Some(i) = first_error {
            d.current = 1;
            d.panes[1].reveal(i);
        }
        d
    }

    /// Handle a key; false if not used (the caller then handles Esc/q/Tab…).
    pub fn key(&mut self, key: KeyEvent) -> bool {
        if key.kind == KeyEventKind::Release
            || key
                .modifiers
                .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
        {
            return false;
        }
        let p = &mut self.panes[self.current];
        let page = p.page.max(1) as isize;
        match key.code {
            KeyCode::Char('r' | '[') => self.current = 0,
            KeyCode::Char('s' | ']') => self.current = 1,
            KeyCode::Char('j') | KeyCode::Down => p.move_by(1),
            KeyCode::Char('k') | KeyCode::Up => p.move_by(-1),
            KeyCode::PageDown => p.move_by(page),
            KeyCode::PageUp => p.move_by(-page),
            KeyCode::Char('g') | KeyCode::Home => p.sel = 0,
            KeyCode::Char('G') | KeyCode::End => p.sel = p.visible.len().saturating_sub(1),
            KeyCode::Enter | KeyCode::Char(' ') => p.toggle(),
            KeyCode::Right | KeyCode::Char('l') => p.expand_or_enter(),
            KeyCode::Left | KeyCode::Char('h') => p.collapse_or_leave(),
            KeyCode::Char('e') => p.set_all(true),
            KeyCode::Char('E') => p.set_all(false),
            _ => return false,
        }
        true
    }

    /// Where the parts go in `area`: the two head lines, the tabs, the tree
    /// and the hex (none for a message without bytes).
    fn layout(&self, area: Rect) -> (Rect, Rect, Rect, Rect, Option<Rect>) {
        let [h1, h2, tabs, body] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Min(0),
        ])
        .areas(area);
        let len = self.panes.get(self.current).map_or(0, |p| p.bytes.len());
        if len == 0 || body.is_empty() {
            return (h1, h2, tabs, body, None);
        }
        if body.width >= SIDE_BY_SIDE {
            let w = hex::row_width(len) as u16 + 2;
            let [t, h] =
                Layout::horizontal([Constraint::Min(0), Constraint::Length(w)]).areas(body);
            (h1, h2, tabs, t, Some(h))
        } else {
            let rows = (hex::rows(len) as u16).saturating_add(2);
            let h = rows.min((body.height * 2 / 5).max(5)).min(body.height);
            let [t, h] = Layout::vertical([Constraint::Min(0), Constraint::Length(h)]).areas(body);
            (h1, h2, tabs, t, Some(h))
        }
    }

    /// Keep the selection and the hex in view in `area` (before drawing).
    pub fn fit(&mut self, area: Rect) {
        if area.is_empty() {
            return;
        }
        let (_, _, _, tree, hex) = self.layout(area);
        let Some(pane) = self.panes.get_mut(self.current) else {
            return;
        };
        pane.fit_tree(tree);
        if let Some(h) = hex {
            pane.fit_hex(h);
        }
    }

    pub fn render(&self, f: &mut Frame, area: Rect, theme: &Theme) {
        if area.is_empty() {
            return;
        }
        let (h1, h2, tabs, tree, hex) = self.layout(area);
        for (line, at) in self.head.iter().zip([h1, h2]) {
            f.render_widget(styled_line(line, theme), at);
        }
        f.render_widget(self.tabs(theme), tabs);
        let Some(pane) = self.panes.get(self.current) else {
            return;
        };
        if !tree.is_empty() {
            pane.render_tree(f, tree, theme);
        }
        if let Some(h) = hex {
            pane.render_hex(f, h, theme);
        }
    }

    /// Which message is shown, and the keys.
    fn tabs(&self, theme: &Theme) -> Line<'static> {
        let mut spans = Vec::new();
        for (i, p) in self.panes.iter().enumerate() {
            let style = if i == self.current {
                theme.selected().patch(theme.header())
            } else {
                theme.dim()
            };
            let size = if p.bytes.is_empty() {
                String::new()
            } else {
                format!(" {}B", p.bytes.len())
            };
            spans.push(Span::styled(format!(" {}{size} ", p.label), style));
            spans.push(Span::raw(" "));
        }
        for (k, what) in [
            ("r", "/"),
            ("s", " switch  "),
            ("↵", " open/close  "),
            ("h", " close/up  "),
            ("e", "/"),
            ("E", " all"),
        ] {
            spans.push(Span::styled(k, theme.key()));
            spans.push(Span::styled(what, theme.dim()));
        }
        Line::from(spans)
    }
}

fn style(theme: &Theme, tone: Tone) -> Style {
    match tone {
        Tone::Text => theme.text(),
        Tone::Dim => theme.dim(),
        Tone::Name => theme.name(),
        Tone::Header => theme.header(),
        Tone::Ok => theme.ok(),
        Tone::Warning => theme.warning(),
        Tone::Retriable => theme.retriable(),
        Tone::Fatal => theme.fatal(),
    }
}

fn styled_line(parts: &[(String, Tone)], theme: &Theme) -> Line<'static> {
    Line::from(
        parts
            .iter()
            .map(|(s, t)| Span::styled(s.clone(), style(theme, *t)))
            .collect::<Vec<_>>(),
    )
}

/// The two header lines.
fn header(input: &DetailInput) -> [Vec<(String, Tone)>; 2] {
    let mut l1 = vec![
        (
            format!("{} v{}", input.api_key.name(), input.api_version),
            Tone::Header,
        ),
        (format!("  corr {}", input.correlation_id), Tone::Text),
    ];
    if let Some(c) = input.client_id {
        l1.push(("  ".to_string(), Tone::Text));
        l1.push((c.chars().take(64).collect(), Tone::Name));
    }
    l1.push((format!("  {} → {}", input.client, input.broker), Tone::Dim));
    let mut l2 = vec![(
        match input.response_frame {
            Some(r) => format!("frames {} → {r}", input.request_frame),
            None => format!("frame {}", input.request_frame),
        },
        Tone::Dim,
    )];
    if let Some(us) = input.latency_us {
        l2.push((format!("  {}", latency(us)), Tone::Text));
    }
    if let Some((b, n)) = input.split_us {
        l2.push((
            format!(" = broker {} + network {}", latency(b), latency(n)),
            Tone::Dim,
        ));
    }
    use crate::session::Outcome;
    let (g, tone) = match input.outcome {
        Outcome::Ok
            if input.status.starts_with("no response expected")
                || input.status == "no_response_expected" =>
        {
            (glyph::NO_RESPONSE_EXPECTED, Tone::Dim)
        }
        Outcome::Ok => (glyph::OK, Tone::Ok),
        Outcome::Negotiation => (glyph::NEGOTIATION, Tone::Dim),
        Outcome::Throttled => (glyph::THROTTLED, Tone::Retriable),
        Outcome::Retriable => (glyph::RETRIABLE, Tone::Retriable),
        Outcome::Unanswered => (glyph::NO_RESPONSE, Tone::Warning),
        Outcome::Fatal => (glyph::FATAL, Tone::Fatal),
        Outcome::Malformed => (glyph::MALFORMED, Tone::Warning),
    };
    l2.push((format!("  {g} {}", input.status), tone));
    // Distinct error names, with a count when repeated.
    let mut names: Vec<(&ErrorRef, usize)> = Vec::new();
    for e in input.errors {
        match names.iter_mut().find(|(n, _)| n.code == e.code) {
            Some((_, c)) => *c += 1,
            None => names.push((e, 1)),
        }
    }
    for (k, (e, count)) in names.iter().enumerate() {
        if k == 3 {
            l2.push((format!("  +{} more", names.len() - 3), Tone::Dim));
            break;
        }
        // Each name in the exchange's tone, but for a fatal exchange the
        // names of retriable codes, which are not what made it fatal.
        let tone = match input.outcome {
            Outcome::Negotiation => Tone::Dim,
            Outcome::Fatal if !ErrorCode(e.code).is_retriable() => Tone::Fatal,
            _ => Tone::Retriable,
        };
        let n = if *count > 1 {
            format!("  {}×{count}", e.name)
        } else {
            format!("  {}", e.name)
        };
        l2.push((n, tone));
        if k == 0 {
            l2.push((format!(" at {}", e.path), Tone::Dim));
        }
    }
    [l1, l2]
}

/// One message: its tree, its bytes, and where the user is in them.
struct Pane {
    label: &'static str,
    /// The message's name and version, and its size.
    title: String,
    bytes: Box<[u8]>,
    notes: Vec<(Tone, String)>,
    items: Vec<Item>,
    expanded: Vec<bool>,
    /// Indexes of the items shown, in order.
    visible: Vec<u32>,
    /// The selected line (index into `visible`).
    sel: usize,
    /// The first line on screen.
    top: usize,
    /// Tree lines on screen at the last frame (for PgUp/PgDn).
    page: usize,
    /// The first hex row on screen.
    hex_top: usize,
    /// The item and height the hex was last scrolled for: it follows the
    /// selection, and is left alone otherwise.
    hex_for: Option<(usize, u16)>,
}

impl Pane {
    fn absent(label: &'static str, tone: Tone, note: String) -> Pane {
        Pane {
            label,
            title: String::new(),
            bytes: Box::default(),
            notes: vec![(tone, note)],
            items: Vec::new(),
            expanded: Vec::new(),
            visible: Vec::new(),
            sel: 0,
            top: 0,
            page: 10,
            hex_top: 0,
            hex_for: None,
        }
    }

    fn decode(
        label: &'static str,
        input: &DetailInput,
        kind: MessageKind,
        bytes: &[u8],
        complete: bool,
        opts: &DecodeOptions,
    ) -> Pane {
        let mut body = decode_body(
            input.api_key,
            input.api_version,
            kind,
            bytes,
            complete,
            opts,
        );
        if let Some(names) = input.names {
            crate::session::names::attach_known_body(&mut body, |id| names.name(id).cloned());
        }
        let mut title = match body.message {
            None => format!("v{}", input.api_version),
            Some(m) => format!("{} v{}", m.name, input.api_version),
        };
        if body.version != input.api_version {
            title.push_str(&format!(" (read as v{})", body.version));
        }
        title.push_str(&format!(" · {} bytes", bytes.len()));
        let mut p = Pane::absent(label, Tone::Text, String::new());
        p.notes.clear();
        p.title = title;
        if !complete {
            let upto = body.error.as_ref().map_or(bytes.len(), |e| e.offset);
            p.notes.push((
                Tone::Warning,
                format!("lost in capture: decoded up to byte {upto}"),
            ));
        }
        for n in &body.notes {
            // The capture's loss is said above, in the view's words.
            if complete || !n.starts_with("part of the message was lost") {
                p.notes.push((Tone::Dim, n.clone()));
            }
        }
        p.items = tree::build(&body, bytes.len(), complete);
        p.bytes = bytes.into();
        p.expanded = vec![false; p.items.len()];
        p.auto_expand();
        p.rebuild();
        p
    }

    /// Open the tree level by level while it fits in
    /// [`AUTO_EXPAND_LINES`].
    fn auto_expand(&mut self) {
        let Some(deepest) = self.items.iter().map(|it| it.depth as usize).max() else {
            return;
        };
        let mut per_depth = vec![0usize; deepest + 2];
        for it in &self.items {
            per_depth[it.depth as usize] += 1;
        }
        let mut shown = per_depth[0];
        for d in 0..=deepest {
            let more = per_depth[d + 1];
            if more == 0 || shown + more > AUTO_EXPAND_LINES {
                break;
            }
            for (it, e) in self.items.iter().zip(self.expanded.iter_mut()) {
                if it.depth as usize == d {
                    *e = true;
                }
            }
            shown += more;
        }
    }

    /// The selected item.
    fn selected(&self) -> Option<usize> {
        self.visible.get(self.sel).map(|&i| i as usize)
    }

    /// The lines shown, after expand state changed; the selection stays on
    /// its item, or on the item that now hides it.
    fn rebuild(&mut self) {
        let keep = self.selected().unwrap_or(0) as u32;
        self.visible.clear();
        let mut i = 0;
        while i < self.items.len() {
            self.visible.push(i as u32);
            i = if self.expanded[i] {
                i + 1
            } else {
                (self.items[i].end as usize).max(i + 1)
            };
        }
        self.sel = match self.visible.binary_search(&keep) {
            Ok(p) => p,
            Err(p) => p.saturating_sub(1),
        };
    }

    fn move_by(&mut self, delta: isize) {
        let last = self.visible.len().saturating_sub(1);
        self.sel = self.sel.saturating_add_signed(delta).min(last);
    }

    fn toggle(&mut self) {
        if let Some(i) = self.selected()
            && self.items[i].has_children(i)
        {
            self.expanded[i] = !self.expanded[i];
            self.rebuild();
        }
    }

    /// Expand the selected item, or go to its first child when it is open.
    fn expand_or_enter(&mut self) {
        let Some(i) = self.selected() else { return };
        if !self.items[i].has_children(i) {
            return;
        }
        if self.expanded[i] {
            self.move_by(1);
        } else {
            self.expanded[i] = true;
            self.rebuild();
        }
    }

    /// Collapse the selected item, or go to its parent when it is closed.
    fn collapse_or_leave(&mut self) {
        let Some(i) = self.selected() else { return };
        if self.items[i].has_children(i) && self.expanded[i] {
            self.expanded[i] = false;
            self.rebuild();
        } else if self.items[i].parent != NO_PARENT {
            let parent = self.items[i].parent;
            if let Ok(p) = self.visible.binary_search(&parent) {
                self.sel = p;
            }
        }
    }

    fn set_all(&mut self, open: bool) {
        self.expanded.fill(open);
        self.rebuild();
    }

    /// Open the ancestors of item `i` and select it.
    fn reveal(&mut self, i: usize) {
        let mut p = self.items[i].parent;
        while p != NO_PARENT {
            self.expanded[p as usize] = true;
            p = self.items[p as usize].parent;
        }
        self.rebuild();
        if let Ok(pos) = self.visible.binary_search(&(i as u32)) {
            self.sel = pos;
        }
    }

    /// The item whose bytes stand for item `i`'s: itself, or its nearest
    /// ancestor that knows its bytes (a record in a compressed batch).
    fn range_owner(&self, i: usize) -> Option<usize> {
        let mut i = i as u32;
        loop {
            let it = &self.items[i as usize];
            if it.range.is_some() {
                return Some(i as usize);
            }
            if it.parent == NO_PARENT {
                return None;
            }
            i = it.parent;
        }
    }

    /// The bytes of item `i` (or of its [`Pane::range_owner`]) within the
    /// body.
    fn range_of(&self, i: usize) -> Option<Range<u32>> {
        let r = self.items[self.range_owner(i)?].range.as_ref()?;
        let len = self.bytes.len() as u32;
        (r.start < len).then(|| r.start..r.end.min(len))
    }

    /// `topics[0].partitions[2].errorCode`
    fn path_of(&self, i: usize) -> String {
        let mut names = Vec::new();
        let mut i = i as u32;
        while i != NO_PARENT {
            names.push(self.items[i as usize].name.as_str());
            i = self.items[i as usize].parent;
        }
        let mut s = String::new();
        for n in names.iter().rev() {
            if !s.is_empty() && !n.starts_with('[') {
                s.push('.');
            }
            s.push_str(n);
        }
        s
    }

    fn item_line(&self, i: usize, selected: bool, theme: &Theme) -> Line<'static> {
        let it = &self.items[i];
        let open = self.expanded[i];
        let parent = it.has_children(i);
        let indent = "  ".repeat((it.depth as usize).min(40));
        let marker = match (parent, open) {
            (false, _) => "  ",
            (true, true) => "▾ ",
            (true, false) => "▸ ",
        };
        let mut spans = vec![
            Span::raw(indent),
            Span::styled(marker, theme.dim()),
            Span::styled(it.name.clone(), theme.text()),
        ];
        if !it.suffix.is_empty() {
            spans.push(Span::styled(it.suffix.clone(), theme.dim()));
        }
        if !it.value.is_empty() {
            spans.push(Span::styled(": ", theme.dim()));
            spans.push(Span::styled(it.value.clone(), style(theme, it.tone)));
        }
        if parent && !open {
            if !it.preview.is_empty() {
                spans.push(Span::styled(format!("  {}", it.preview), theme.dim()));
            }
            if let Some(t) = it.inner {
                let g = match t {
                    Tone::Fatal => glyph::FATAL,
                    Tone::Retriable => glyph::RETRIABLE,
                    _ => glyph::GAP,
                };
                spans.push(Span::styled(format!(" {g}"), style(theme, t)));
            }
        }
        let line = Line::from(spans);
        if selected {
            line.style(theme.selected())
        } else {
            line
        }
    }

    /// The tree's bordered block.
    fn tree_block(&self, theme: &Theme) -> Block<'static> {
        Block::bordered().title(Line::from(vec![
            Span::styled(format!(" {} ", self.label), theme.header()),
            Span::styled(format!("{} ", self.title), theme.dim()),
        ]))
    }

    /// Notes shown in a tree pane of `inner` (at most half of it), and the
    /// rows left for the tree.
    fn tree_rows(&self, inner: Rect) -> (usize, usize) {
        let room = usize::from(inner.height / 2).max(1);
        let notes = self.notes.len().min(room);
        (notes, usize::from(inner.height).saturating_sub(notes))
    }

    /// Keep the selection in view, with a few lines of context around it.
    fn fit_tree(&mut self, area: Rect) {
        let inner = Block::bordered().inner(area);
        if inner.is_empty() {
            return;
        }
        let (_, height) = self.tree_rows(inner);
        self.page = height.max(1);
        if self.visible.is_empty() {
            return;
        }
        let context = (height / 4).min(3);
        if self.sel < self.top + context {
            self.top = self.sel.saturating_sub(context);
        } else if self.sel + context >= self.top + height {
            self.top = self.sel + context + 1 - height;
        }
        self.top = self.top.min(self.visible.len().saturating_sub(height));
    }

    fn render_tree(&self, f: &mut Frame, area: Rect, theme: &Theme) {
        let block = self.tree_block(theme);
        let inner = block.inner(area);
        f.render_widget(block, area);
        if inner.is_empty() {
            return;
        }
        let row = |y: u16| Rect {
            y,
            height: 1,
            ..inner
        };
        let mut y = inner.y;
        let (shown, height) = self.tree_rows(inner);
        for (k, (tone, note)) in self.notes.iter().enumerate().take(shown) {
            let (text, tone) = if k + 1 == shown && self.notes.len() > shown {
                (format!("+{} more notes", self.notes.len() - k), Tone::Dim)
            } else {
                (note.clone(), *tone)
            };
            f.render_widget(Line::styled(text, style(theme, tone)), row(y));
            y += 1;
        }
        if self.visible.is_empty() {
            if self.notes.is_empty() && height > 0 {
                f.render_widget(Line::styled("empty body", theme.dim()), row(y));
            }
            return;
        }
        let top = self.top.min(self.visible.len());
        for (k, &i) in self.visible[top..].iter().take(height).enumerate() {
            let line = self.item_line(i as usize, top + k == self.sel, theme);
            f.render_widget(line, row(y + k as u16));
        }
    }

    /// Bring the selected field's bytes into the hex's view.
    fn fit_hex(&mut self, area: Rect) {
        let inner = Block::bordered().inner(area);
        if inner.is_empty() {
            return;
        }
        let len = self.bytes.len();
        let height = usize::from(inner.height);
        let sel = self.selected();
        if let Some(i) = sel
            && self.hex_for != Some((i, inner.height))
        {
            if let Some(r) = self.range_of(i) {
                self.hex_top = hex::scroll_to(self.hex_top, height, &r, len);
            }
            self.hex_for = Some((i, inner.height));
        }
        self.hex_top = self.hex_top.min(hex::rows(len).saturating_sub(height));
    }

    fn render_hex(&self, f: &mut Frame, area: Rect, theme: &Theme) {
        let len = self.bytes.len();
        let sel = self.selected();
        let range = sel.and_then(|i| self.range_of(i));
        let mut title = vec![Span::styled(" hex ", theme.header())];
        match (&range, sel) {
            (Some(r), Some(i)) => {
                let n = r.len();
                let unit = if n == 1 { "byte" } else { "bytes" };
                let of = match self.range_owner(i) {
                    Some(o) if o != i => format!(" of {}", self.items[o].name),
                    _ => String::new(),
                };
                let at = format!("{:#06x}..{:#06x} ({n} {unit}{of}) ", r.start, r.end);
                // The path's end says most: cut it from the left.
                let room = usize::from(area.width).saturating_sub(8 + at.chars().count());
                let path = self.path_of(i);
                let skip = path.chars().count().saturating_sub(room);
                let path = if skip == 0 {
                    path
                } else {
                    format!("…{}", path.chars().skip(skip + 1).collect::<String>())
                };
                title.push(Span::styled(at, theme.text()));
                title.push(Span::styled(format!("{path} "), theme.dim()));
            }
            _ => title.push(Span::styled(format!("{len} bytes "), theme.dim())),
        }
        let block = Block::bordered().title(Line::from(title));
        let inner = block.inner(area);
        f.render_widget(block, area);
        if inner.is_empty() {
            return;
        }
        let height = usize::from(inner.height);
        let hex_top = self.hex_top.min(hex::rows(len).saturating_sub(height));
        let st = hex::Styles {
            text: theme.text(),
            dim: theme.dim(),
            highlight: theme.highlight(),
        };
        for k in 0..height.min(hex::rows(len).saturating_sub(hex_top)) {
            let line = hex::row(&self.bytes, hex_top + k, range.as_ref(), &st);
            let at = Rect {
                y: inner.y + k as u16,
                height: 1,
                ..inner
            };
            f.render_widget(line, at);
        }
    }
}
