//! One module per view; each draws from the [`App`](super::app::App)'s
//! state and the analysis models, nothing else.

pub mod connections;
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

/// A byte count the short way: `812B`, `14.2K`, `3.1M`, `1.2G`.
pub fn bytes(n: u64) -> String {
    let f = n as f64;
    if n < 1024 {
        format!("{n}B")
    } else if n < 1 << 20 {
        format!("{:.1}K", f / 1024.0)
    } else if n < 1 << 30 {
        format!("{:.1}M", f / (1u64 << 20) as f64)
    } else {
        format!("{:.1}G", f / (1u64 << 30) as f64)
    }
}
