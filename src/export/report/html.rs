//! Writing HTML by hand: escaping, and cutting wire strings to a bounded
//! length. Every string that came off the wire (client ids, group ids,
//! member ids, topics, error paths, software names) goes through [`text`]
//! or [`attr`]: what it contains can never open a tag, close an attribute
//! or start a script.

use std::fmt::Write as _;

/// Characters of one string from the wire shown; longer ones are cut in
/// the middle (`sarama-consu…ember-b`, so two long ids sharing a prefix
/// still tell apart).
pub const MAX_TEXT: usize = 160;

/// `s` escaped for HTML text and for a quoted attribute value, at the end
/// of `out`. Control characters (other than tab and newline) become
/// U+FFFD: the HTML parser rejects some of them, and none reads well.
pub fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' => out.push(c),
            c if c.is_control() => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

/// `s` escaped ([`escape_into`]).
pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    escape_into(&mut o, s);
    o
}

/// `s` cut to at most `max` characters, its middle replaced by `…`.
pub fn cut(s: &str, max: usize) -> std::borrow::Cow<'_, str> {
    let n = s.chars().count();
    if n <= max {
        return s.into();
    }
    let keep = max.saturating_sub(1);
    let head = keep.div_ceil(2);
    let tail = keep - head;
    let mut o: String = s.chars().take(head).collect();
    o.push('…');
    o.extend(s.chars().skip(n - tail));
    o.into()
}

/// A string from the wire as text: cut to [`MAX_TEXT`], escaped.
pub fn text(out: &mut String, s: &str) {
    escape_into(out, &cut(s, MAX_TEXT));
}

/// A string from the wire as a quoted attribute value: ` name="value"`,
/// cut to [`MAX_TEXT`] and escaped.
pub fn attr(out: &mut String, name: &str, value: &str) {
    out.push(' ');
    out.push_str(name);
    out.push_str("=\"");
    escape_into(out, &cut(value, MAX_TEXT));
    out.push('"');
}

/// A number as an attribute: ` name="n"`.
pub fn num_attr(out: &mut String, name: &str, n: impl std::fmt::Display) {
    let _ = write!(out, " {name}=\"{n}\"");
}

/// The line that says what a limit left out: `<p class="more"
/// data-more="12">12 more steps not shown</p>`; nothing when none.
pub fn more(out: &mut String, n: usize, what: &str) {
    if n > 0 {
        let _ = writeln!(
            out,
            "<p class=\"more\" data-more=\"{n}\">{n} more {} not shown</p>",
            escape(what)
        );
    }
}

/// A table row's cell of a number, aligned right.
pub fn num_cell(out: &mut String, n: impl std::fmt::Display) {
    let _ = write!(out, "<td class=\"n\">{n}</td>");
}

/// A count of errors in a row (`td.e`: red in a row with errors).
pub fn err_cell(out: &mut String, n: impl std::fmt::Display) {
    let _ = write!(out, "<td class=\"n e\">{n}</td>");
}

/// A count of unanswered requests in a row (`td.u`).
pub fn unanswered_cell(out: &mut String, n: impl std::fmt::Display) {
    let _ = write!(out, "<td class=\"n u\">{n}</td>");
}

/// An error name (`COORDINATOR_NOT_AVAILABLE`), escaped, that a narrow
/// page may wrap after its underscores (`<wbr>`) but never cuts.
pub fn error_name(out: &mut String, name: &str) {
    for (i, part) in name.split('_').enumerate() {
        if i > 0 {
            out.push_str("_<wbr>");
        }
        escape_into(out, part);
    }
}

/// A table row's cell of text from anywhere (escaped, cut).
pub fn text_cell(out: &mut String, s: &str) {
    out.push_str("<td>");
    text(out, s);
    out.push_str("</td>");
}

/// A table's head: `<thead><tr><th>…` with `right` marking the columns
/// of numbers.
pub fn head(out: &mut String, cols: &[(&str, bool)]) {
    out.push_str("<thead><tr>");
    for (name, right) in cols {
        if *right {
            let _ = write!(out, "<th class=\"n\">{}</th>", escape(name));
        } else {
            let _ = write!(out, "<th>{}</th>", escape(name));
        }
    }
    out.push_str("</tr></thead>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_strings_cannot_open_tags_or_leave_attributes() {
        let hostile = "<script>alert('x')</script>\"><img src=x onerror=alert(1)>&amp;";
        let mut o = String::new();
        text(&mut o, hostile);
        assert!(!o.contains('<') && !o.contains('>'), "{o}");
        assert!(!o.contains('"') && !o.contains('\''), "{o}");
        assert!(o.starts_with("&lt;script&gt;alert(&#39;x&#39;)"), "{o}");
        // The entity in the input is shown as typed, not as `&`.
        assert!(o.ends_with("&amp;amp;"), "{o}");
        let mut a = String::new();
        attr(&mut a, "data-client", hostile);
        assert_eq!(a.matches('"').count(), 2, "{a}");
        assert!(a.starts_with(" data-client=\"&lt;"), "{a}");
        // Control characters do not pass; tab and newline do.
        assert_eq!(escape("a\u{0}b\u{7f}c\td\ne"), "a\u{FFFD}b\u{FFFD}c\td\ne");
    }

    #[test]
    fn long_strings_are_cut_in_the_middle() {
        assert_eq!(cut("short", 10), "short");
        assert_eq!(cut("abcdefghij", 10), "abcdefghij");
        assert_eq!(cut("abcdefghijk", 5), "ab…jk");
        assert_eq!(cut("sarama-consumer-a", 9), "sara…er-a");
        assert_eq!(cut("sarama-consumer-b", 9), "sara…er-b");
        // Characters, not bytes: no panic in a multi-byte character.
        assert_eq!(cut("ééééééé", 4), "éé…é");
        assert_eq!(cut("abc", 0), "…");
        let long = "x".repeat(10 * MAX_TEXT);
        let mut o = String::new();
        text(&mut o, &long);
        assert_eq!(o.chars().count(), MAX_TEXT);
    }

    #[test]
    fn error_names_wrap_at_underscores_only() {
        let mut o = String::new();
        error_name(&mut o, "COORDINATOR_NOT_AVAILABLE");
        assert_eq!(o, "COORDINATOR_<wbr>NOT_<wbr>AVAILABLE");
        let mut o = String::new();
        error_name(&mut o, "no response");
        assert_eq!(o, "no response");
    }

    #[test]
    fn more_says_what_was_left_out_or_nothing() {
        let mut o = String::new();
        more(&mut o, 0, "steps");
        assert!(o.is_empty());
        more(&mut o, 12, "steps");
        assert_eq!(
            o,
            "<p class=\"more\" data-more=\"12\">12 more steps not shown</p>\n"
        );
    }
}
