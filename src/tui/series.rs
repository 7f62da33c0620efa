//! The Charts view's time series and state. The model (buckets, lanes, the
//! window of columns) is [`crate::analysis::series`], shared with `kwire
//! report`; here it follows the timeline's rows, and keys move the view's
//! cursor. No terminal here.
//!
//! **It follows the timeline.** [`Series::update`] takes the rows of
//! [`App::visible`](super::app::App::visible) it has not seen yet (the
//! timeline's filter already applied); when `visible` is rebuilt (the filter
//! changed, rows were let go) the owner calls [`Series::clear`] and the next
//! update counts the rows again. Between rebuilds each row is counted once:
//! the work is linear in the rows, never a rescan per frame.

use std::ops::Deref;

pub use crate::analysis::series::{
    Bucket, ErrorNames, MAX_BUCKETS, MAX_ERROR_NAMES, MAX_KEYS, Problem, Sample, Shown, Sketch,
    Split, WIDTHS, Window, nanos, timestamp,
};

use super::keys::Action;
use super::store::{Item, Row, Store};

/// The series of the timeline's rows: the model, and how many of
/// `visible` it has counted. Reads as the model ([`Deref`]).
#[derive(Clone, Debug, Default)]
pub struct Series {
    model: crate::analysis::series::Series,
    /// Rows of `visible` counted so far.
    seen: usize,
}

impl Deref for Series {
    type Target = crate::analysis::series::Series;

    fn deref(&self) -> &Self::Target {
        &self.model
    }
}

impl Series {
    pub fn new() -> Series {
        Series::default()
    }

    /// Forget everything: the next [`Series::update`] counts `visible` from
    /// its first row.
    pub fn clear(&mut self) {
        *self = Series::new();
    }

    /// Count the rows of `visible` added since the last call. `visible`
    /// only grows between [`Series::clear`]s; should it have shrunk, the
    /// series starts again.
    pub fn update(&mut self, visible: &[Row], store: &Store) {
        if visible.len() < self.seen {
            self.clear();
        }
        for row in visible.get(self.seen..).unwrap_or_default() {
            if let Row::Exchange(i) = row
                && let Some(it) = store.exchange(*i)
            {
                self.add(it);
            }
        }
        self.seen = visible.len();
    }

    /// Count one exchange.
    pub fn add(&mut self, it: &Item) {
        self.model.add(&sample(it));
    }
}

/// The sample of a timeline item.
pub fn sample(it: &Item) -> Sample<'_> {
    Sample {
        ts: it.request.ts,
        frame: it.request.frame,
        api_key: it.api_key,
        broker: it.broker,
        bytes: u64::from(it.request.size) + it.response.map_or(0, |r| u64::from(r.size)),
        latency_us: it.latency_us(),
        problem: it.severity().is_problem(),
        no_response: it.response.is_none(),
        malformed: it.status == crate::session::Status::Malformed,
        codes: &it.codes,
    }
}

// ------------------------------------------------------------------
// The Charts view's state: what keys change (the view draws from it).

/// Series drawn in a breakdown: the busiest four and "other".
pub const MAX_SHOWN: usize = 5;
/// Columns of the labels left of the charts, below [`WIDE`] columns and
/// from it.
pub const GUTTER: u16 = 12;
pub const GUTTER_WIDE: u16 = 18;
pub const WIDE: u16 = 120;
/// The three charts, top to bottom.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Metric {
    #[default]
    Requests,
    Latency,
    Errors,
}

impl Metric {
    pub const ALL: [Metric; 3] = [Metric::Requests, Metric::Latency, Metric::Errors];

    pub fn title(self) -> &'static str {
        match self {
            Metric::Requests => "requests/s",
            Metric::Latency => "p99 latency (log scale)",
            Metric::Errors => "errors/s (errors, unanswered, malformed)",
        }
    }
}

/// The view's own state: changed by keys only.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChartsState {
    pub split: Split,
    /// The chart Enter filters for (the errors chart: only problems).
    pub focus: Metric,
    /// The cursor's time (ns since the epoch); `None`: the newest column.
    pub cursor: Option<i128>,
    /// Width of the view at the last draw (columns follow from it).
    pub width: u16,
}

/// What a key asks the app to do after the view's state changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Nothing,
    /// Stop (`false`) or start following the newest data.
    Follow(bool),
    /// Show the timeline with this filter.
    Jump(String),
    Message(&'static str),
}

/// Plot columns in a view `width` cells wide.
pub fn plot_columns(width: u16) -> usize {
    usize::from(width.saturating_sub(gutter(width) + 2)).max(1)
}

/// Columns of the labels left of the charts in a view `width` wide.
pub fn gutter(width: u16) -> u16 {
    if width >= WIDE { GUTTER_WIDE } else { GUTTER }
}

impl ChartsState {
    /// The columns shown of `series`.
    pub fn window(&self, series: &Series, follow: bool) -> Window {
        series.window(plot_columns(self.width), follow)
    }

    /// The cursor's column in `w`.
    pub fn column(&self, w: &Window, follow: bool) -> usize {
        match self.cursor {
            Some(t) if !follow => w.column_of(t),
            _ => w.columns.saturating_sub(1),
        }
    }

    /// Act on a key of the Charts view. `live`: the input is a live
    /// capture (G resumes following it).
    pub fn act(
        &mut self,
        a: Action,
        series: &Series,
        filter_text: &str,
        follow: bool,
        live: bool,
    ) -> Outcome {
        let w = self.window(series, follow);
        let cur = self.column(&w, follow);
        let page = (w.columns / 4).max(1);
        let to = |s: &mut Self, c: usize| {
            s.cursor = Some(w.start_of(c.min(w.columns.saturating_sub(1))));
            if follow {
                Outcome::Follow(false)
            } else {
                Outcome::Nothing
            }
        };
        match a {
            Action::Up => {
                self.focus = match self.focus {
                    Metric::Requests | Metric::Latency => Metric::Requests,
                    Metric::Errors => Metric::Latency,
                };
                Outcome::Nothing
            }
            Action::Down => {
                self.focus = match self.focus {
                    Metric::Requests => Metric::Latency,
                    Metric::Latency | Metric::Errors => Metric::Errors,
                };
                Outcome::Nothing
            }
            Action::Split => {
                self.split = self.split.next();
                Outcome::Nothing
            }
            Action::Left => to(self, cur.saturating_sub(1)),
            Action::Right => to(self, cur + 1),
            Action::PageUp => to(self, cur.saturating_sub(page)),
            Action::PageDown => to(self, cur + page),
            Action::Top => to(self, 0),
            Action::Bottom => {
                self.cursor = None;
                if live && !follow {
                    Outcome::Follow(true)
                } else {
                    Outcome::Nothing
                }
            }
            Action::Open => match jump_filter(series, &w, cur, filter_text, self.focus) {
                Some(text) => Outcome::Jump(text),
                None => Outcome::Message("no exchanges in this bucket"),
            },
            _ => Outcome::Nothing,
        }
    }
}

/// The timeline filter of column `c`: the current filter and the column's
/// request frames (and its problems when the errors chart is chosen).
///
/// `frame` matches a request's or a response's frame, so an exchange whose
/// request came before the column and whose response within it is shown
/// too: what was answered in that stretch of time.
fn jump_filter(series: &Series, w: &Window, c: usize, current: &str, m: Metric) -> Option<String> {
    let all = series.all(w);
    let (first, last) = all.get(c)?.frames()?;
    let mut text = String::new();
    if !current.trim().is_empty() {
        text.push_str(&format!("({}) ", current.trim()));
    }
    text.push_str(&format!("frame>={first} frame<={last}"));
    if m == Metric::Errors {
        // What the errors chart counts: `Outcome::is_problem`.
        text.push_str(" (err or noresp or malformed)");
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::Timestamp;
    use crate::kafka::ApiKey;
    use crate::kafka::errors::ErrorCode;
    use crate::session::{ErrorRef, MessageInfo, NoResponseReason, Status};
    use std::net::SocketAddr;

    const MS: i128 = 1_000_000;

    fn at(ms: i64) -> Timestamp {
        timestamp(i128::from(ms) * MS + 1_700_000_000_000 * MS)
    }

    fn info(frame: u64, ts: Timestamp) -> MessageInfo {
        MessageInfo {
            frame,
            first_frame: frame,
            ts,
            size: 100,
            lost_bytes: 0,
        }
    }

    /// An exchange of `api` to broker port `port` at `ms` (after a fixed
    /// epoch), answered after `lat_us` with the error `code` (0: none).
    fn item(frame: u64, ms: i64, api: i16, port: u16, lat_us: i64, code: i16) -> Item {
        let req = info(frame, at(ms));
        let resp = info(
            frame + 1,
            timestamp(nanos(req.ts) + i128::from(lat_us) * 1000),
        );
        let codes: Box<[i16]> = if code == 0 {
            Box::new([])
        } else {
            Box::new([code])
        };
        Item {
            stream: 0,
            client: "127.0.0.1:5000".parse().unwrap(),
            broker: SocketAddr::from(([127, 0, 0, 1], port)),
            api_key: ApiKey(api),
            api_version: 9,
            correlation_id: 1,
            client_id: None,
            request: req,
            response: Some(resp),
            status: if code == 0 { Status::Ok } else { Status::Error },
            errors: codes
                .iter()
                .map(|&c| ErrorRef {
                    path: "errorCode".into(),
                    code: c,
                    name: ErrorCode(c).name(),
                })
                .collect(),
            codes,
            throttle_ms: None,
            summary: "".into(),
            topics: Box::new([]),
            group: None,
            request_bytes: None,
            response_bytes: None,
            request_whole: false,
            response_whole: false,
            search: "".into(),
            broker_side: None,
        }
    }

    const PRODUCE: i16 = 0;
    const API_VERSIONS: i16 = 18;
    const NOT_LEADER: i16 = 6;

    #[test]
    fn columns_fit_the_width() {
        assert_eq!(plot_columns(80), 66);
        assert_eq!(plot_columns(200), 180);
        assert_eq!(plot_columns(0), 1);
    }

    #[test]
    fn negotiation_is_not_a_problem_and_no_response_is() {
        let mut s = Series::new();
        // ApiVersions answered UNSUPPORTED_VERSION (35): the negotiation.
        let mut neg = item(1, 0, API_VERSIONS, 9092, 50, 35);
        neg.api_version = 3;
        s.add(&neg);
        let mut lost = item(3, 0, PRODUCE, 9092, 0, 0);
        lost.response = None;
        lost.status = Status::NoResponse(NoResponseReason::ConnectionClosed);
        s.add(&lost);
        let all = s.all(&s.window(10, false));
        assert_eq!((all[0].requests, all[0].problems), (2, 1));
        assert_eq!(all[0].errors.top(), vec![(Problem::NoResponse, 1)]);
        // The unanswered one has no latency: p99 is the negotiation's.
        assert_eq!(all[0].p99(), Some(50));
        // A response that does not decode is a problem too.
        let mut bad = item(5, 0, PRODUCE, 9092, 70, 0);
        bad.status = Status::Malformed;
        s.add(&bad);
        let all = s.all(&s.window(10, false));
        assert_eq!(all[0].problems, 2);
        assert!(all[0].errors.top().contains(&(Problem::Malformed, 1)));
    }

    #[test]
    fn follows_visible_rows_incrementally_and_starts_again_when_cleared() {
        let mut store = Store::new(Default::default());
        let mut rows = Vec::new();
        for i in 0..10u64 {
            let code = if i == 7 { NOT_LEADER } else { 0 };
            let idx = store.push(item(i * 2, i as i64 * 10, PRODUCE, 9092, 100, code));
            rows.push(Row::Exchange(idx));
        }
        let mut s = Series::new();
        s.update(&rows[..4], &store);
        assert_eq!(s.exchanges(), 4);
        s.update(&rows, &store);
        assert_eq!(s.exchanges(), 10, "each row counted once");
        s.update(&rows, &store);
        assert_eq!(s.exchanges(), 10);
        // A filter (only the error): the owner clears, then updates.
        let filtered: Vec<Row> = rows[7..8].to_vec();
        s.clear();
        s.update(&filtered, &store);
        assert_eq!(s.exchanges(), 1);
        let all = s.all(&s.window(10, false));
        assert_eq!(all[0].problems, 1);
        // Rows fewer than seen without a clear: counted again, not twice.
        s.update(&rows[..0], &store);
        assert_eq!(s.exchanges(), 0);
        // Events are not exchanges.
        s.update(&[Row::Event(0)], &store);
        assert_eq!(s.exchanges(), 0);
    }
}
