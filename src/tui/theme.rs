//! Colours and glyphs. Every state that has a colour also has a glyph, so
//! that the UI reads the same with `NO_COLOR`, on a monochrome terminal, or
//! for a colour-blind user. Colours are the terminal's named ones (its
//! palette adapts them to light and dark backgrounds); text is never drawn
//! in white or black on the default background.

use ratatui::style::{Color, Modifier, Style};

/// Styles of the UI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Theme {
    /// Use colours (off with `NO_COLOR` or `--no-color`).
    pub color: bool,
}

impl Theme {
    /// Colours unless `NO_COLOR` is set to a non-empty value
    /// (<https://no-color.org>).
    pub fn from_env() -> Theme {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Theme { color: !no_color }
    }

    pub fn mono() -> Theme {
        Theme { color: false }
    }

    fn fg(&self, c: Color) -> Style {
        if self.color {
            Style::new().fg(c)
        } else {
            Style::new()
        }
    }

    /// Plain text.
    pub fn text(&self) -> Style {
        Style::new()
    }

    /// Secondary text (addresses, units).
    pub fn dim(&self) -> Style {
        Style::new().add_modifier(Modifier::DIM)
    }

    /// Titles and column headers.
    pub fn header(&self) -> Style {
        Style::new().add_modifier(Modifier::BOLD)
    }

    /// The selected row: reversed video reads on any background.
    pub fn selected(&self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }

    /// A fatal error (not retriable).
    pub fn fatal(&self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }

    /// A retriable error.
    pub fn retriable(&self) -> Style {
        self.fg(Color::Yellow)
    }

    /// Throttled by quota.
    pub fn throttled(&self) -> Style {
        self.fg(Color::Magenta)
    }

    /// No response, gaps, resyncs: the capture's or the connection's trouble.
    pub fn warning(&self) -> Style {
        self.fg(Color::Magenta).add_modifier(Modifier::BOLD)
    }

    /// Good news (answered, joined, committed).
    pub fn ok(&self) -> Style {
        self.fg(Color::Green)
    }

    /// Highlighted bytes or matches.
    pub fn highlight(&self) -> Style {
        if self.color {
            Style::new().fg(Color::Black).bg(Color::Cyan)
        } else {
            Style::new().add_modifier(Modifier::REVERSED | Modifier::UNDERLINED)
        }
    }

    /// A chart's cursor column: a shade behind the bars (reverse video
    /// would show a bar as its negative); without colour, underlined, so
    /// that the empty cells of the column mark it.
    pub fn cursor(&self) -> Style {
        if self.color {
            Style::new().bg(Color::DarkGray)
        } else {
            Style::new().add_modifier(Modifier::UNDERLINED)
        }
    }

    /// Keys in help and the status bar.
    pub fn key(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    /// Names of things (topics, groups, members).
    pub fn name(&self) -> Style {
        self.fg(Color::Blue)
    }
}

/// Glyphs of the timeline's status column.
pub mod glyph {
    pub const OK: &str = "✓";
    pub const RETRIABLE: &str = "↻";
    pub const FATAL: &str = "✗";
    /// One cell wide (`⏳` is two in most terminals and shifted rows).
    pub const THROTTLED: &str = "⧗";
    /// A negotiation's expected answer (ApiVersions UNSUPPORTED_VERSION…).
    pub const NEGOTIATION: &str = "⇄";
    pub const NO_RESPONSE: &str = "…";
    /// A response that does not decode (the broker broke the protocol).
    pub const MALFORMED: &str = "?";
    pub const NO_RESPONSE_EXPECTED: &str = "→";
    pub const GAP: &str = "⚠";
}
