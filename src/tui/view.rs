//! One module per view; each draws from the [`App`](super::app::App)'s
//! state and the analysis models, nothing else.

pub mod charts;
pub mod connections;
pub mod findings;
pub mod groups;
pub mod help;
pub mod stats;
pub mod timeline;

/// `s` cut to `width` characters, with `…` when cut.
pub fn fit(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut out: String = s.chars().take(width - 1).collect();
    out.push('…');
    out
}

/// `s` cut or padded to exactly `width` characters.
pub fn pad(s: &str, width: usize) -> String {
    let f = fit(s, width);
    let n = f.chars().count();
    format!("{f}{}", " ".repeat(width - n))
}

/// `s` right-aligned in `width` characters.
pub fn rpad(s: &str, width: usize) -> String {
    let f = fit(s, width);
    let n = f.chars().count();
    format!("{}{f}", " ".repeat(width - n))
}

pub use crate::export::stats::bytes;
