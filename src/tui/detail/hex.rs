//! Hex dump rows: an offset column, 16 bytes in two groups of 8, and an
//! ASCII column, with one byte range highlighted.
//!
//! A row is `offset  xx xx xx xx xx xx xx xx  xx xx xx xx xx xx xx xx  |ascii|`:
//! [`row_width`] columns, 76 with a 6-digit offset. Only the rows on screen
//! are built, each from a handful of spans (consecutive bytes of one style
//! share a span).

use std::ops::Range;

use ratatui::style::Style;
use ratatui::text::{Line, Span};

pub(super) const BYTES_PER_ROW: usize = 16;

/// Digits of the offset column for a body of `len` bytes.
pub(super) fn offset_digits(len: usize) -> usize {
    if len <= 0x1_0000 {
        4
    } else if len <= 0x100_0000 {
        6
    } else {
        8
    }
}

/// Columns of one row.
pub(super) fn row_width(len: usize) -> usize {
    offset_digits(len) + 2 + 3 * BYTES_PER_ROW + 2 + BYTES_PER_ROW + 2
}

/// Rows of a body of `len` bytes.
pub(super) fn rows(len: usize) -> usize {
    len.div_ceil(BYTES_PER_ROW)
}

/// The first row to show so that `range` is in a window of `height` rows
/// starting at `top` (moved as little as possible; the range's start when it
/// does not fit).
pub(super) fn scroll_to(top: usize, height: usize, range: &Range<u32>, len: usize) -> usize {
    let height = height.max(1);
    let first = range.start as usize / BYTES_PER_ROW;
    let last = (range.end.max(range.start + 1) as usize - 1) / BYTES_PER_ROW;
    let top = if last + 1 - first > height || first < top {
        first
    } else if last >= top + height {
        last + 1 - height
    } else {
        top
    };
    top.min(rows(len).saturating_sub(height))
}

/// Spans merged by style.
struct Runs {
    spans: Vec<Span<'static>>,
    text: String,
    style: Style,
}

impl Runs {
    fn push(&mut self, s: &str, style: Style) {
        if style != self.style && !self.text.is_empty() {
            let text = std::mem::take(&mut self.text);
            self.spans.push(Span::styled(text, self.style));
        }
        self.style = style;
        self.text.push_str(s);
    }

    fn finish(mut self) -> Line<'static> {
        if !self.text.is_empty() {
            self.spans.push(Span::styled(self.text, self.style));
        }
        Line::from(self.spans)
    }
}

/// Styles of a row's parts.
pub(super) struct Styles {
    pub text: Style,
    pub dim: Style,
    pub highlight: Style,
}

/// Row `row` of `bytes`, bytes in `hl` highlighted.
pub(super) fn row(bytes: &[u8], row: usize, hl: Option<&Range<u32>>, st: &Styles) -> Line<'static> {
    let start = row * BYTES_PER_ROW;
    let chunk = bytes.get(start..).unwrap_or(&[]);
    let chunk = &chunk[..chunk.len().min(BYTES_PER_ROW)];
    let lit =
        |i: usize| hl.is_some_and(|r| (r.start as usize..r.end as usize).contains(&(start + i)));
    let mut runs = Runs {
        spans: Vec::with_capacity(8),
        text: String::with_capacity(80),
        style: st.dim,
    };
    let digits = offset_digits(bytes.len());
    runs.push(&format!("{start:0digits$x}"), st.dim);
    runs.push("  ", st.text);
    for i in 0..BYTES_PER_ROW {
        if i > 0 {
            // The gap is lit between two lit bytes, so a range reads as one.
            let gap = if i == 8 { "  " } else { " " };
            let style = if lit(i - 1) && lit(i) && i < chunk.len() {
                st.highlight
            } else {
                st.text
            };
            runs.push(gap, style);
        }
        match chunk.get(i) {
            Some(b) => {
                let style = if lit(i) {
                    st.highlight
                } else if *b == 0 {
                    st.dim
                } else {
                    st.text
                };
                runs.push(&format!("{b:02x}"), style);
            }
            None => runs.push("  ", st.text),
        }
    }
    runs.push("  ", st.text);
    runs.push("|", st.dim);
    for (i, b) in chunk.iter().enumerate() {
        let c = if b.is_ascii_graphic() || *b == b' ' {
            *b as char
        } else {
            '.'
        };
        let style = if lit(i) { st.highlight } else { st.text };
        let mut tmp = [0u8; 4];
        runs.push(c.encode_utf8(&mut tmp), style);
    }
    runs.push("|", st.dim);
    runs.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(l: &Line) -> String {
        l.spans.iter().map(|s| s.content.as_ref()).collect()
    }

    #[test]
    fn row_layout_is_76_columns_with_six_digit_offsets() {
        let st = Styles {
            text: Style::new(),
            dim: Style::new(),
            highlight: Style::new(),
        };
        let bytes: Vec<u8> = (0..20).map(|i| b'a' + i).collect();
        let l = row(&bytes, 0, None, &st);
        assert_eq!(
            text(&l),
            "0000  61 62 63 64 65 66 67 68  69 6a 6b 6c 6d 6e 6f 70  |abcdefghijklmnop|"
        );
        assert_eq!(text(&l).chars().count(), row_width(bytes.len()));
        let l = row(&bytes, 1, None, &st);
        assert!(text(&l).starts_with("0010  71 72 73 74    "));
        assert!(text(&l).ends_with("|qrst|"));
        assert_eq!(row_width(1 << 20), 76);
    }

    #[test]
    fn scroll_moves_as_little_as_possible() {
        // 100 rows, a window of 10.
        assert_eq!(scroll_to(0, 10, &(16..32), 1600), 0);
        assert_eq!(scroll_to(0, 10, &(160..176), 1600), 1);
        assert_eq!(scroll_to(50, 10, &(16..32), 1600), 1);
        // Too long to fit: its start.
        assert_eq!(scroll_to(0, 10, &(320..1600), 1600), 20);
        // Never past the end.
        assert_eq!(scroll_to(0, 10, &(1599..1600), 1600), 90);
        assert_eq!(scroll_to(0, 10, &(0..0), 0), 0);
    }
}
