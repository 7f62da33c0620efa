//! The UI's state and what keys do to it. No terminal here: [`App`] takes
//! records and key events and draws into a ratatui `Frame`, so that tests
//! drive it on a `TestBackend` exactly as a user drives it in a terminal.

use std::io::Write;

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::Rect;

use crate::analysis::connections::Connections;
use crate::analysis::groups::{GroupLimits, Groups};
use crate::analysis::stats::Stats;
use crate::analysis::topics::TopicNames;
use crate::capture::DropStats;
use crate::kafka::schema::MessageKind;
use crate::session::{Body, CaptureInfo, DecodeOptions, Exchange, Record, Summary, decode_body};

use super::detail::{Detail, DetailInput};
use super::filter::Filter;
use super::keys::{self, Action};
use super::ladder::FlowCache;
use super::store::{Item, Row, Store, StoreLimits};
use super::theme::Theme;

/// The views, in Tab order; their numbers are their keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    Timeline,
    Connections,
    Groups,
    Stats,
    Findings,
    Charts,
}

impl View {
    pub const ALL: [View; 6] = [
        View::Timeline,
        View::Connections,
        View::Groups,
        View::Stats,
        View::Findings,
        View::Charts,
    ];

    pub fn title(self) -> &'static str {
        match self {
            View::Timeline => "Timeline",
            View::Connections => "Connections",
            View::Groups => "Groups",
            View::Stats => "Stats",
            View::Findings => "Findings",
            View::Charts => "Charts",
        }
    }

    /// Its key: 1 for the first.
    pub fn number(self) -> usize {
        View::ALL.iter().position(|v| *v == self).unwrap_or(0) + 1
    }
}

/// How the timeline shows time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeMode {
    /// Wall clock, UTC.
    Absolute,
    /// Since the previous row shown.
    SincePrevious,
    /// Since the first packet.
    SinceStart,
}

impl TimeMode {
    fn next(self) -> TimeMode {
        match self {
            TimeMode::Absolute => TimeMode::SincePrevious,
            TimeMode::SincePrevious => TimeMode::SinceStart,
            TimeMode::SinceStart => TimeMode::Absolute,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            TimeMode::Absolute => "time (UTC)",
            TimeMode::SincePrevious => "+since prev",
            TimeMode::SinceStart => "since start",
        }
    }
}

/// A list's selection and scroll.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ListState {
    pub selected: usize,
    pub offset: usize,
}

impl ListState {
    /// Move by `delta` within `len` rows.
    pub fn step(&mut self, delta: isize, len: usize) {
        if len == 0 {
            self.selected = 0;
            return;
        }
        let s = self.selected as isize + delta;
        self.selected = s.clamp(0, len as isize - 1) as usize;
    }

    /// Keep the selection within `height` rows of the offset.
    pub fn scroll_into_view(&mut self, height: usize, len: usize) {
        let height = height.max(1);
        if len == 0 {
            self.selected = 0;
            self.offset = 0;
            return;
        }
        self.selected = self.selected.min(len - 1);
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + height {
            self.offset = self.selected + 1 - height;
        }
        self.offset = self.offset.min(len.saturating_sub(height));
    }
}

/// The prompt being typed in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PromptKind {
    Filter,
    Export,
}

#[derive(Clone, Debug)]
pub struct Prompt {
    pub kind: PromptKind,
    pub text: String,
    /// The filter's error for the text so far (live validation).
    pub error: Option<(usize, String)>,
}

/// Where the input comes from, for the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    File,
    Live,
}

/// Where Esc returns to (see `App::back`).
#[derive(Clone, Debug)]
struct Return {
    view: View,
    filter_text: String,
    filter: Filter,
}

/// The file `w` offers to write, in the working directory.
const EXPORT_FILE: &str = "kwire-export.ndjson";

/// Deepest back stack (Enter from Connections or Findings, then Esc).
pub const MAX_BACK: usize = 16;

/// Columns a sideways step scrolls (← →).
pub const HSCROLL_STEP: usize = 8;

/// What the screen has room for, measured by the views before each frame
/// (`view::measure`): [`App::fit`] keeps selections and scrolls within it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Viewport {
    /// The area under the header: the views, the detail, the help.
    pub body: Rect,
    /// Rows a page holds (PageUp, PageDown).
    pub page: usize,
    /// Rows of the current view's list.
    pub list_rows: usize,
    /// The Groups view's flow pane, inside its border.
    pub flow_rows: usize,
    pub flow_width: usize,
    /// How far the Stats view and the help can scroll down.
    pub stats_max: usize,
    pub help_max: usize,
    /// Cells the widest row shown goes beyond the screen (how far ← →
    /// can scroll).
    pub overflow: usize,
}

/// Options of the UI.
#[derive(Clone, Debug)]
pub struct AppOptions {
    pub theme: Theme,
    pub limits: StoreLimits,
    pub groups: GroupLimits,
    /// How the detail decodes kept bodies (records in full, secrets).
    pub decode: DecodeOptions,
    /// How an export from the UI decodes them (as `kwire export` would).
    pub export: DecodeOptions,
    pub mode: Mode,
}

/// The whole UI state.
pub struct App {
    pub opts: AppOptions,
    pub store: Store,
    pub names: TopicNames,
    pub groups: Groups,
    pub stats: Stats,
    pub conns: Connections,
    pub view: View,
    pub capture: Option<CaptureInfo>,
    pub summary: Option<Summary>,
    /// Drop counters of a live capture (kernel and packet queue).
    pub drops: Option<DropStats>,
    /// Records the capture thread could not hand over (the UI was behind).
    pub internal_drops: u64,
    /// The input is still being read.
    pub loading: bool,
    pub quit: bool,

    // Timeline.
    pub filter: Filter,
    pub filter_text: String,
    /// Where Enter came from when it moved to the timeline with a filter
    /// (a connection's exchanges, a finding's frames): Esc goes back there
    /// with the filter before. At most [`MAX_BACK`] deep.
    back: Vec<Return>,
    /// Rows of the store shown (filtered), in frame order.
    pub visible: Vec<Row>,
    /// Exchanges among `visible` (the rest are events).
    pub visible_exchanges: usize,
    scanned: usize,
    seen_generation: u64,
    pub timeline: ListState,
    pub time_mode: TimeMode,
    pub follow: bool,
    pub paused: bool,
    /// Rows the store has that a paused display does not show yet.
    pub(crate) first_ts: Option<crate::capture::Timestamp>,

    // Other views.
    pub conn_list: ListState,
    pub group_list: ListState,
    /// Scroll of the selected group's flow; `Some` when the flow has focus.
    pub flow: Option<ListState>,
    pub group_cache: FlowCache,
    pub stats_scroll: usize,
    pub diagnoser: crate::analysis::findings::Diagnoser,
    /// The findings as last stated, and when (records ingested then).
    pub findings: Vec<crate::analysis::findings::Finding>,
    findings_at: Option<(u64, std::time::Instant)>,
    ingested: u64,
    pub finding_list: ListState,
    /// The Charts view's time series of `visible` and its state.
    pub series: super::series::Series,
    pub charts: super::series::ChartsState,

    pub detail: Option<(u64, Detail)>,
    pub help: bool,
    pub help_scroll: usize,
    pub prompt: Option<Prompt>,
    /// A one-line message for the status bar (export written, …).
    pub message: Option<String>,
    /// Rows of the list area at the last frame (for paging).
    pub page: usize,
    /// Cells the current view is scrolled sideways, and how far it can be.
    pub hscroll: usize,
    pub hscroll_max: usize,
}

impl App {
    pub fn new(opts: AppOptions) -> App {
        App {
            store: Store::new(opts.limits),
            groups: Groups::new(opts.groups),
            names: TopicNames::new(),
            stats: Stats::new(),
            conns: Connections::new(),
            view: View::Timeline,
            capture: None,
            summary: None,
            drops: None,
            internal_drops: 0,
            loading: true,
            quit: false,
            filter: Filter::default(),
            filter_text: String::new(),
            back: Vec::new(),
            visible: Vec::new(),
            visible_exchanges: 0,
            scanned: 0,
            seen_generation: 0,
            timeline: ListState::default(),
            time_mode: TimeMode::Absolute,
            follow: opts.mode == Mode::Live,
            paused: false,
            first_ts: None,
            conn_list: ListState::default(),
            group_list: ListState::default(),
            flow: None,
            group_cache: Default::default(),
            stats_scroll: 0,
            diagnoser: Default::default(),
            findings: Vec::new(),
            findings_at: None,
            ingested: 0,
            finding_list: ListState::default(),
            series: Default::default(),
            charts: Default::default(),
            detail: None,
            help: false,
            help_scroll: 0,
            prompt: None,
            message: None,
            page: 20,
            hscroll: 0,
            hscroll_max: 0,
            opts,
        }
    }

    /// Take one record from the analysis.
    pub fn ingest(&mut self, r: Record) {
        self.ingested += 1;
        match r {
            Record::Capture(c) => {
                self.diagnoser.observe_capture(&c);
                self.capture = Some(c);
            }
            Record::Exchange(e) => self.ingest_exchange(&e),
            Record::Event(e) => {
                if self.first_ts.is_none() {
                    self.first_ts = Some(e.at.ts);
                }
                self.conns.observe_event(&e);
                self.diagnoser.observe_event(&e);
                if super::store::shown_in_timeline(&e.kind) {
                    self.store.push_event(&e);
                }
                if let crate::session::EventKind::Drops(d) = e.kind {
                    self.drops = Some(d);
                }
            }
            Record::Summary(s) => {
                self.diagnoser.observe_summary(&s);
                if s.drops.is_some() {
                    self.drops = s.drops;
                }
                self.summary = Some(*s);
                self.loading = false;
            }
        }
    }

    fn ingest_exchange(&mut self, e: &Exchange) {
        if self.first_ts.is_none_or(|t| e.request.ts < t) {
            self.first_ts = Some(e.request.ts);
        }
        let learnt = self.names.observe(e);
        if !learnt.is_empty() {
            self.name_earlier(&learnt);
        }
        let item = self.store.item(e, &self.names);
        let index = self.store.next_index();
        self.groups.observe(index as usize, e, &self.names);
        self.stats.observe(e, &self.names);
        self.conns.observe_exchange(e);
        self.diagnoser.observe_exchange(e);
        self.store.push(item);
    }

    /// State the findings again if records arrived since (at most once a
    /// second while they keep arriving).
    pub fn refresh_findings(&mut self) {
        let stale = match self.findings_at {
            None => true,
            Some((n, at)) => n != self.ingested && (!self.loading || at.elapsed().as_secs() >= 1),
        };
        if stale {
            self.findings = self.diagnoser.findings();
            self.findings_at = Some((self.ingested, std::time::Instant::now()));
        }
    }

    /// Bring what the views show up to date with the records: the findings
    /// (when shown) and the timeline's visible rows.
    pub fn refresh(&mut self) {
        if self.view == View::Findings && self.detail.is_none() {
            self.refresh_findings();
        }
        if self.paused {
            return;
        }
        if self.store.generation != self.seen_generation {
            // Rows were let go or inserted before the end: rebuild, keeping
            // the selected row if it is still there.
            let keep = self.visible.get(self.timeline.selected).copied();
            self.visible.clear();
            self.visible_exchanges = 0;
            self.scanned = 0;
            self.series.clear();
            self.seen_generation = self.store.generation;
            self.scan();
            if let Some(k) = keep
                && let Some(p) = self.visible.iter().position(|r| *r == k)
            {
                self.timeline.selected = p;
            }
        } else {
            self.scan();
        }
        if self.follow && !self.visible.is_empty() {
            self.timeline.selected = self.visible.len() - 1;
        }
        self.series.update(&self.visible, &self.store);
    }

    fn scan(&mut self) {
        let rows = self.store.rows();
        for (_, row) in &rows[self.scanned.min(rows.len())..] {
            let show = match row {
                Row::Exchange(i) => self
                    .store
                    .exchange(*i)
                    .is_some_and(|it| self.filter.is_empty() || self.filter.matches(it)),
                Row::Event(_) => self.filter.is_empty(),
            };
            if show {
                self.visible.push(*row);
                if let Row::Exchange(_) = row {
                    self.visible_exchanges += 1;
                }
            }
        }
        self.scanned = rows.len();
    }

    /// Note the view and filter Enter is leaving, for Esc to return to.
    fn remember_return(&mut self) {
        if self.back.len() >= MAX_BACK {
            self.back.remove(0);
        }
        self.back.push(Return {
            view: self.view,
            filter_text: self.filter_text.clone(),
            filter: self.filter.clone(),
        });
    }

    fn set_filter(&mut self, text: &str, filter: Filter) {
        self.filter = filter;
        self.filter_text = text.to_string();
        let keep = self.visible.get(self.timeline.selected).copied();
        self.visible.clear();
        self.visible_exchanges = 0;
        self.scanned = 0;
        self.series.clear();
        let paused = std::mem::replace(&mut self.paused, false);
        self.refresh();
        self.paused = paused;
        self.timeline.selected = keep
            .and_then(|k| self.visible.iter().position(|r| *r == k))
            .unwrap_or(0);
    }

    /// Keep every selection and scroll within what the screen shows (the
    /// update step of a frame; `view::measure` gives `vp`).
    pub fn fit(&mut self, vp: Viewport) {
        self.page = vp.page;
        self.charts.width = vp.body.width;
        self.help_scroll = self.help_scroll.min(vp.help_max);
        self.hscroll_max = vp.overflow;
        self.hscroll = self.hscroll.min(vp.overflow);
        if let Some((_, d)) = &mut self.detail {
            d.fit(vp.body);
            return;
        }
        match self.view {
            View::Timeline => self
                .timeline
                .scroll_into_view(vp.list_rows, self.visible.len()),
            View::Connections => self
                .conn_list
                .scroll_into_view(vp.list_rows, self.conns.len()),
            View::Groups => {
                self.group_list
                    .scroll_into_view(vp.list_rows, self.groups.len());
                self.group_cache.update(
                    &self.groups,
                    self.group_list.selected,
                    &self.opts.theme,
                    vp.flow_width,
                );
                if let Some(st) = &mut self.flow {
                    st.scroll_into_view(vp.flow_rows, self.group_cache.len());
                }
            }
            View::Stats => self.stats_scroll = self.stats_scroll.min(vp.stats_max),
            View::Findings => self
                .finding_list
                .scroll_into_view(vp.list_rows, self.findings.len()),
            // The cursor is a time: it stays valid whatever the width.
            View::Charts => {}
        }
    }

    /// Rows the store has that a paused timeline does not show yet.
    pub fn pending_rows(&self) -> usize {
        self.store.rows().len().saturating_sub(self.scanned)
    }

    /// The selected exchange's index, if the selection is an exchange.
    pub fn selected_exchange(&self) -> Option<u64> {
        match self.visible.get(self.timeline.selected)? {
            Row::Exchange(i) => Some(*i),
            Row::Event(_) => None,
        }
    }

    /// Handle a key.
    pub fn key(&mut self, e: KeyEvent) {
        self.message = None;
        if self.prompt.is_some() {
            self.prompt_key(e);
            return;
        }
        if self.help {
            match keys::action(&e, false) {
                Some(Action::Down) => self.help_scroll += 1,
                Some(Action::Up) => self.help_scroll = self.help_scroll.saturating_sub(1),
                Some(Action::Quit) => self.quit = true,
                _ => self.help = false,
            }
            return;
        }
        if let Some((_, d)) = &mut self.detail {
            if d.key(e) {
                return;
            }
            match keys::action(&e, false) {
                Some(Action::Back) | Some(Action::Open) => self.detail = None,
                Some(Action::Quit) => self.quit = true,
                Some(Action::Help) => self.help = true,
                Some(Action::View(n)) => {
                    self.detail = None;
                    self.switch(View::ALL[usize::from(n - 1) % View::ALL.len()]);
                }
                _ => {}
            }
            return;
        }
        let scope = match self.view {
            View::Timeline => keys::Scope::Timeline,
            View::Charts => keys::Scope::Charts,
            _ => keys::Scope::Lists,
        };
        let Some(action) = keys::action_in(&e, scope) else {
            return;
        };
        match action {
            Action::Quit => self.quit = true,
            Action::Help => {
                self.help = true;
                self.help_scroll = 0;
            }
            Action::NextView => {
                let n = self.view.number() % View::ALL.len();
                self.switch(View::ALL[n]);
            }
            Action::PrevView => {
                let n = (self.view.number() + View::ALL.len() - 2) % View::ALL.len();
                self.switch(View::ALL[n]);
            }
            Action::View(n) => {
                if let Some(v) = View::ALL.get(usize::from(n.saturating_sub(1))) {
                    self.switch(*v);
                }
            }
            Action::Filter => {
                self.prompt = Some(Prompt {
                    kind: PromptKind::Filter,
                    text: self.filter_text.clone(),
                    error: None,
                })
            }
            Action::ClearFilter => self.set_filter("", Filter::default()),
            Action::Export => {
                // The full path, so that where it goes is plain.
                let text = std::env::current_dir()
                    .map(|d| d.join(EXPORT_FILE).display().to_string())
                    .unwrap_or_else(|_| EXPORT_FILE.to_string());
                self.prompt = Some(Prompt {
                    kind: PromptKind::Export,
                    text,
                    error: None,
                })
            }
            Action::Follow => {
                self.follow = !self.follow;
                self.refresh();
            }
            Action::Pause => {
                self.paused = !self.paused;
                self.refresh();
            }
            Action::TimeMode => self.time_mode = self.time_mode.next(),
            Action::NextError => self.next_error(true),
            Action::PrevError => self.next_error(false),
            _ => self.list_action(action),
        }
    }

    fn switch(&mut self, v: View) {
        self.view = v;
        self.flow = None;
        self.hscroll = 0;
    }

    fn list_action(&mut self, a: Action) {
        let page = self.page.max(1) as isize;
        if self.view == View::Charts {
            self.charts_action(a);
            return;
        }
        let (state, len): (&mut ListState, usize) = match self.view {
            View::Timeline => (&mut self.timeline, self.visible.len()),
            View::Connections => (&mut self.conn_list, self.conns.len()),
            View::Groups => match &mut self.flow {
                Some(f) => (f, self.group_cache.len()),
                None => (&mut self.group_list, self.groups.len()),
            },
            View::Findings => (&mut self.finding_list, self.findings.len()),
            View::Stats => {
                match a {
                    Action::Left => self.hscroll = self.hscroll.saturating_sub(HSCROLL_STEP),
                    Action::Right => {
                        self.hscroll = (self.hscroll + HSCROLL_STEP).min(self.hscroll_max)
                    }
                    Action::Down => self.stats_scroll += 1,
                    Action::Up => self.stats_scroll = self.stats_scroll.saturating_sub(1),
                    Action::PageDown => self.stats_scroll += page as usize,
                    Action::PageUp => {
                        self.stats_scroll = self.stats_scroll.saturating_sub(page as usize)
                    }
                    Action::Top => self.stats_scroll = 0,
                    Action::Bottom => self.stats_scroll = usize::MAX / 2,
                    _ => {}
                }
                return;
            }
            View::Charts => return,
        };
        match a {
            Action::Left => {
                self.hscroll = self.hscroll.saturating_sub(HSCROLL_STEP);
                return;
            }
            Action::Right => {
                self.hscroll = (self.hscroll + HSCROLL_STEP).min(self.hscroll_max);
                return;
            }
            Action::Down => state.step(1, len),
            Action::Up => state.step(-1, len),
            Action::PageDown => state.step(page, len),
            Action::PageUp => state.step(-page, len),
            Action::Top => state.selected = 0,
            Action::Bottom => state.selected = len.saturating_sub(1),
            Action::Open => {
                self.open();
                return;
            }
            Action::Back => {
                if self.view == View::Groups && self.flow.is_some() {
                    self.flow = None;
                } else if self.view == View::Timeline
                    && let Some(r) = self.back.pop()
                {
                    self.set_filter(&r.filter_text, r.filter);
                    self.view = r.view;
                }
                return;
            }
            _ => return,
        }
        if self.view == View::Timeline && matches!(a, Action::Up | Action::PageUp | Action::Top) {
            // Moving away from the end stops following.
            self.follow = false;
        }
        if self.view == View::Groups && self.flow.is_none() {
            // The flow's scroll belongs to the group that was selected.
            self.flow = None;
        }
    }

    fn open(&mut self) {
        match self.view {
            View::Timeline => {
                if let Some(i) = self.selected_exchange() {
                    self.open_detail(i);
                }
            }
            View::Connections => {
                let stream = self
                    .conns
                    .iter()
                    .nth(self.conn_list.selected)
                    .map(|c| c.stream);
                if let Some(stream) = stream {
                    let text = format!("stream:{stream}");
                    if let Ok(f) = Filter::parse(&text) {
                        self.remember_return();
                        self.set_filter(&text, f);
                        self.view = View::Timeline;
                    }
                }
            }
            View::Groups => match &self.flow {
                None => {
                    if !self.groups.is_empty() {
                        // Start on the first step of the ladder.
                        self.flow = Some(ListState {
                            selected: self.group_cache.first_step(),
                            offset: 0,
                        });
                    }
                }
                Some(f) => {
                    if let Some(i) = self.group_cache.exchange(f.selected) {
                        self.open_detail(i as u64);
                    }
                }
            },
            View::Findings => {
                let text = self
                    .findings
                    .get(self.finding_list.selected)
                    .and_then(filter_for);
                match text.map(|t| (Filter::parse(&t), t)) {
                    Some((Ok(f), t)) => {
                        self.remember_return();
                        self.set_filter(&t, f);
                        self.view = View::Timeline;
                        self.follow = false;
                    }
                    _ => self.message = Some("this finding names no frame".into()),
                }
            }
            View::Stats | View::Charts => {}
        }
    }

    /// A key of the Charts view.
    fn charts_action(&mut self, a: Action) {
        use super::series::Outcome;
        let live = self.opts.mode == Mode::Live;
        match self
            .charts
            .act(a, &self.series, &self.filter_text, self.follow, live)
        {
            Outcome::Nothing => {}
            Outcome::Follow(on) => {
                self.follow = on;
                self.refresh();
            }
            Outcome::Message(m) => self.message = Some(m.into()),
            Outcome::Jump(text) => match Filter::parse(&text) {
                Ok(f) => {
                    self.remember_return();
                    self.set_filter(&text, f);
                    self.view = View::Timeline;
                    self.follow = false;
                    self.timeline.selected = 0;
                }
                Err(e) => self.message = Some(format!("cannot filter {text}: {}", e.message)),
            },
        }
    }

    fn open_detail(&mut self, index: u64) {
        let Some(it) = self.store.exchange(index) else {
            self.message = Some("that exchange is no longer held (over --ui-max-exchanges)".into());
            return;
        };
        let status = status_text(it);
        let input = DetailInput {
            api_key: it.api_key,
            api_version: it.api_version,
            correlation_id: it.correlation_id,
            client_id: it.client_id.as_deref(),
            client: it.client,
            broker: it.broker,
            request_frame: it.request.frame,
            response_frame: it.response.map(|r| r.frame),
            latency_us: it.latency_us(),
            split_us: it.split_us(),
            status: &status,
            outcome: it.severity(),
            errors: &it.errors,
            request: it.request_bytes.as_deref(),
            request_complete: it.request_whole,
            response: it.response_bytes.as_deref(),
            response_complete: it.response_whole,
            show_secrets: self.opts.decode.show_secrets,
            names: Some(&self.names),
        };
        self.detail = Some((index, Detail::new(&input)));
    }

    fn next_error(&mut self, forward: bool) {
        let n = self.visible.len();
        if n == 0 {
            return;
        }
        let cur = self.timeline.selected.min(n - 1);
        let is_err = |r: &Row| match r {
            Row::Exchange(i) => self
                .store
                .exchange(*i)
                .is_some_and(|it| it.severity().is_problem()),
            Row::Event(_) => false,
        };
        let found = if forward {
            (cur + 1..n).find(|&p| is_err(&self.visible[p]))
        } else {
            (0..cur).rev().find(|&p| is_err(&self.visible[p]))
        };
        match found {
            Some(p) => {
                self.timeline.selected = p;
                self.follow = false;
            }
            None => {
                self.message = Some(if forward {
                    "no error after this row".into()
                } else {
                    "no error before this row".into()
                })
            }
        }
    }

    fn prompt_key(&mut self, e: KeyEvent) {
        let Some(p) = &mut self.prompt else { return };
        let ctrl = e.modifiers.contains(KeyModifiers::CONTROL);
        match e.code {
            KeyCode::Esc => {
                self.prompt = None;
                return;
            }
            KeyCode::Char('c') if ctrl => {
                self.prompt = None;
                return;
            }
            KeyCode::Char('u') if ctrl => p.text.clear(),
            KeyCode::Backspace => {
                p.text.pop();
            }
            KeyCode::Enter => {
                let p = self.prompt.take().unwrap_or(Prompt {
                    kind: PromptKind::Filter,
                    text: String::new(),
                    error: None,
                });
                match p.kind {
                    PromptKind::Filter => match Filter::parse(&p.text) {
                        Ok(f) => self.set_filter(p.text.trim(), f),
                        Err(err) => {
                            // Stay in the prompt until it parses.
                            self.prompt = Some(Prompt {
                                error: Some((err.at, err.message)),
                                ..p
                            });
                        }
                    },
                    PromptKind::Export => self.export(p.text.trim()),
                }
                return;
            }
            KeyCode::Char(c) if !ctrl => {
                if p.text.chars().count() < 1000 {
                    p.text.push(c);
                }
            }
            _ => return,
        }
        if p.kind == PromptKind::Filter {
            p.error = Filter::parse(&p.text).err().map(|e| (e.at, e.message));
        }
    }

    /// Write the filtered exchanges as NDJSON to `path`.
    fn export(&mut self, path: &str) {
        if path.is_empty() {
            return;
        }
        match self.write_export(path) {
            Ok((n, undecoded)) => {
                // Said with the full path, wherever the UI was started.
                let full = std::fs::canonicalize(path)
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|_| path.to_string());
                let mut m = format!(
                    "wrote {} to {full}",
                    crate::present::count(n, "exchange", "exchanges")
                );
                if undecoded > 0 {
                    m.push_str(&format!(" ({undecoded} without bodies: not held)"));
                }
                self.message = Some(m);
            }
            Err(e) => self.message = Some(format!("cannot write {path}: {e}")),
        }
    }

    fn write_export(&self, path: &str) -> std::io::Result<(u64, u64)> {
        let f = std::fs::File::create(path)?;
        let mut w = std::io::BufWriter::new(f);
        let mut n = 0;
        let mut undecoded = 0;
        for row in &self.visible {
            let Row::Exchange(i) = row else { continue };
            let Some(it) = self.store.exchange(*i) else {
                continue;
            };
            let e = self.rebuild(it, &self.opts.export);
            if it.request_bytes.is_none() {
                undecoded += 1;
            }
            let v = crate::export::ndjson::to_json(&Record::Exchange(Box::new(e)));
            serde_json::to_writer(&mut w, &v)?;
            w.write_all(b"\n")?;
            n += 1;
        }
        w.flush()?;
        Ok((n, undecoded))
    }

    /// Name the topics of the exchanges held that showed the ids in
    /// `learnt` before the capture named them: their summary and topics
    /// are made again from their kept bytes, with the names known now.
    fn name_earlier(&mut self, learnt: &[[u8; 16]]) {
        let empty = TopicNames::new();
        let labels: Vec<String> = learnt.iter().map(|id| empty.id_label(id)).collect();
        let shows = |it: &Item| {
            labels
                .iter()
                .any(|l| it.summary.contains(l.as_str()) || it.topics.iter().any(|t| t == l))
        };
        let stale: Vec<u64> = self
            .store
            .exchanges()
            .filter(|(_, it)| shows(it))
            .map(|(i, _)| i)
            .collect();
        for index in stale {
            let Some(it) = self.store.exchange(index) else {
                continue;
            };
            let e = self.rebuild(it, &self.opts.decode);
            let summary = crate::session::describe::describe(&e).into_boxed_str();
            let topics = crate::analysis::topics::topics_of(&e, &self.names).into_boxed_slice();
            self.store.update(index, |it| {
                it.summary = summary;
                it.topics = topics;
                it.search = crate::tui::filter::lower_search_text(&*it).into_boxed_str();
            });
        }
    }

    /// The exchange an item was made from, its bodies decoded again from
    /// the kept bytes.
    pub fn rebuild(&self, it: &Item, opts: &DecodeOptions) -> Exchange {
        let body = |b: Option<&[u8]>, whole: bool, kind| -> Option<Box<Body>> {
            b.map(|b| {
                Box::new(decode_body(
                    it.api_key,
                    it.api_version,
                    kind,
                    b,
                    whole,
                    opts,
                ))
            })
        };
        let mut e = Exchange {
            stream: it.stream,
            client: it.client,
            broker: it.broker,
            api_key: it.api_key,
            api_version: it.api_version,
            correlation_id: it.correlation_id,
            client_id: it.client_id.clone(),
            request: it.request,
            response: it.response,
            status: it.status,
            errors: it.errors.to_vec(),
            request_body: body(
                it.request_bytes.as_deref(),
                it.request_whole,
                MessageKind::Request,
            ),
            response_body: body(
                it.response_bytes.as_deref(),
                it.response_whole,
                MessageKind::Response,
            ),
            capture: 0,
            broker_side: it.broker_side.clone(),
        };
        // The names known now (the whole capture so far), as the analysis
        // would have attached them.
        crate::session::names::attach_known(&mut e, |id| self.names.name(id).cloned());
        e
    }
}

/// The filter that shows a finding's exchanges: its frames.
pub fn filter_for(f: &crate::analysis::findings::Finding) -> Option<String> {
    if f.frames.is_empty() {
        return None;
    }
    let terms: Vec<String> = f.frames.iter().map(|n| format!("frame:{n}")).collect();
    Some(terms.join(" or "))
}

/// The status as the timeline and detail say it.
/// The listing's status, and a throttled response says so.
pub fn status_text(it: &Item) -> String {
    match (it.status, it.throttle_ms) {
        (crate::session::Status::Ok, Some(ms)) => format!("throttled {ms}ms"),
        (status, _) => crate::present::status_text(it.api_key, it.api_version, status, &it.errors),
    }
}

impl Default for AppOptions {
    fn default() -> Self {
        // Exports decode as `kwire export` does by default.
        let session = crate::session::SessionConfig::default();
        let export = DecodeOptions {
            records: session.records,
            limits: session.record_limits.clone(),
            show_secrets: session.show_secrets,
        };
        AppOptions {
            theme: Theme::from_env(),
            limits: StoreLimits::default(),
            groups: GroupLimits::default(),
            decode: DecodeOptions {
                records: crate::kafka::records::RecordsMode::Full,
                limits: crate::kafka::records::RecordLimits {
                    verify_crc: true,
                    ..session.record_limits.clone()
                },
                ..export.clone()
            },
            export,
            mode: Mode::File,
        }
    }
}
