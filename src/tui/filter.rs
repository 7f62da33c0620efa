//! The filter language of the `/` prompt.
//!
//! ```text
//! api:Fetch,Produce topic:orders* (err or lat>50ms) -client:"health check"
//! ```
//!
//! # Grammar
//!
//! ```text
//! filter := or?                          nothing: matches everything
//! or     := and (("or" | "|" | "||") and)*
//! and    := unary (("and" | "&" | "&&")? unary)*     AND binds tighter than OR
//! unary  := ("!" | "-" | "not") unary | "(" or ")" | term
//! term   := key op value ("," value)*  |  flag  |  text
//! op     := ":" | "=" | "==" | ">" | ">=" | "<" | "<="
//! flag   := "err" | "neg" | "negotiation" | "ok" | "noresp" | "throttled"
//!         | "malformed"
//! ```
//!
//! A word runs up to whitespace, `(`, `)` or `|`; those and `,` `*` `:` lose
//! their meaning inside double quotes (`client:"my app"`, `"a|b"`), where `\"`
//! and `\\` are the only escapes. `!`, `-`, `&` mean negation or AND only at
//! the start of a word (`my-topic` is one word). `or`, `and`, `not` and the
//! flags are keywords, in any case, unless quoted. A word is a `key op value`
//! term when it starts with unquoted ASCII letters followed by an operator;
//! a key kwire does not know is an error (quote the word to search it as
//! text). Anything else is free text. [`terms_help`] lists the terms.
//!
//! # Meaning
//!
//! * Values after `,` are alternatives: `api:Produce,Fetch`, `err:6,fatal`.
//! * API and error names: a number; else the exact name in any case, with
//!   or without `_`/`-` (old error names too, via
//!   [`ErrorCode::from_name`]); else a unique prefix (`offsetc` is
//!   OffsetCommit; `fetc` is an error naming Fetch and FetchSnapshot); or a
//!   `*` glob over the names (`api:*group*`). Unknown numbers are kept.
//! * `topic:` and `group:` are exact and case-sensitive, as Kafka's names
//!   are; an unquoted `*` matches any run of characters.
//! * `client:` is an address when the value parses as `ip`, `ip:port`,
//!   `[v6]`, `[v6]:port` or `:port` and is unquoted, else a case-insensitive
//!   substring of the client id. IPv4-mapped IPv6 equals its IPv4.
//! * `frame` tests the request and the response frame, either may match.
//! * `err` is an error code in the response; `ok` is answered without one;
//!   `noresp` is given up on (acks=0 produce requests are neither);
//!   `err:fatal` has an error not all retriable. Unanswered exchanges
//!   never match a `lat` comparison.
//! * Free text is a substring, ignoring case (lower-casing, not full
//!   folding), of the summary, the API name, client id, topics, group and
//!   error names; addresses are not text (use `client:` and `broker:`).
//!
//! # Contract
//!
//! * [`Filter::parse`] never panics, whatever the string. It refuses input
//!   longer than 2048 characters and nesting (parentheses and negations)
//!   deeper than 32, with a [`FilterError`] whose position is counted in
//!   characters, so the UI can underline it. Everything a match needs is
//!   computed here once: lower-cased needles, split globs, API and error
//!   names resolved to numbers.
//! * [`Filter::matches`] does not allocate and does no parsing.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use crate::kafka::api::{self, ApiKey};
use crate::kafka::errors::{self, ErrorCode};

/// Longest input accepted, in characters.
const MAX_CHARS: usize = 2048;
/// Deepest nesting of parentheses and negations accepted.
const MAX_DEPTH: usize = 32;

/// What a filter looks at; the UI's stored exchange implements it.
pub trait Subject {
    /// The request's API key.
    fn api_key(&self) -> i16;
    /// The request's API version.
    fn api_version(&self) -> i16;
    /// The request's correlation id.
    fn correlation_id(&self) -> i32;
    /// The TCP stream (connection) number.
    fn stream(&self) -> u64;
    /// The client's address.
    fn client(&self) -> SocketAddr;
    /// The broker's address.
    fn broker(&self) -> SocketAddr;
    /// The client id of the request header, if any.
    fn client_id(&self) -> Option<&str>;
    /// The topics the exchange touches.
    fn topics(&self) -> &[String];
    /// The consumer group the exchange is about, if any.
    fn group(&self) -> Option<&str>;
    /// The non-zero error codes in the response.
    fn error_codes(&self) -> &[i16];
    /// Whether the response has an error and all its errors are retriable.
    fn retriable(&self) -> bool;
    /// Whether the response's errors are all the protocol's expected
    /// answers of a negotiation ([`crate::session::Outcome::Negotiation`]:
    /// ApiVersions UNSUPPORTED_VERSION, JoinGroup v4+ MEMBER_ID_REQUIRED),
    /// which `err` leaves out.
    fn negotiation(&self) -> bool {
        false
    }
    /// Whether the response does not decode ([`crate::session::Status::Malformed`]).
    fn malformed(&self) -> bool {
        false
    }
    /// The throttle time the response asks for, if it has one.
    fn throttle_ms(&self) -> Option<i64>;
    /// Whether a response was seen.
    fn answered(&self) -> bool;
    /// A request that got no response (not one that expects none, acks=0).
    fn no_response(&self) -> bool;
    /// Time from request to response, in microseconds, when answered.
    fn latency_us(&self) -> Option<i64>;
    /// The latency as the broker's time and the network's, in
    /// microseconds (several captures read as one, seen at both ends).
    fn split_us(&self) -> Option<(i64, i64)> {
        None
    }
    /// The request's frame number and the response's, if any.
    fn frames(&self) -> (u64, Option<u64>);
    /// The one-line summary, searched by free text.
    fn text(&self) -> &str;
    /// Everything free text searches (summary, API name, client id,
    /// topics, group, error names), lower-cased ([`lower_search_text`]),
    /// when the subject keeps it: one search instead of six.
    fn search_text(&self) -> Option<&str> {
        None
    }
}

/// The text [`Subject::search_text`] returns: the fields free text searches,
/// lower-cased, separated by a character no needle contains (`\n`).
pub fn lower_search_text(s: &dyn Subject) -> String {
    let mut parts: Vec<&str> = vec![s.text(), ApiKey(s.api_key()).name()];
    if let Some(c) = s.client_id() {
        parts.push(c);
    }
    parts.extend(s.topics().iter().map(String::as_str));
    if let Some(g) = s.group() {
        parts.push(g);
    }
    let names: Vec<&str> = s
        .error_codes()
        .iter()
        .map(|&c| ErrorCode(c).name())
        .collect();
    parts.extend(names);
    parts
        .iter()
        .map(|p| p.chars().flat_map(char::to_lowercase).collect::<String>())
        .collect::<Vec<_>>()
        .join("\n")
}

/// A parsed filter, ready to match. The default matches everything.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    root: Option<Node>,
}

/// Why a filter does not parse, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterError {
    /// Offset of the offending text in the input, in characters (not bytes).
    pub at: usize,
    /// Its length in characters; 0 when something is missing at the end.
    pub len: usize,
    /// One short line for the user, with a suggestion when there is one.
    pub message: String,
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for FilterError {}

fn fail<T>(at: usize, len: usize, message: impl Into<String>) -> Result<T, FilterError> {
    Err(FilterError {
        at,
        len,
        message: message.into(),
    })
}

impl Filter {
    /// Parses the prompt's text. Empty or blank text gives the filter that
    /// matches everything.
    pub fn parse(input: &str) -> Result<Filter, FilterError> {
        let n = input.chars().count();
        if n > MAX_CHARS {
            return fail(
                MAX_CHARS,
                n - MAX_CHARS,
                format!("filter too long: at most {MAX_CHARS} characters"),
            );
        }
        let chars: Vec<char> = input.chars().collect();
        let toks = lex(&chars)?;
        if toks.is_empty() {
            return Ok(Filter::default());
        }
        let mut p = Parser {
            chars: &chars,
            toks,
            pos: 0,
        };
        let root = p.or(0)?;
        // `or` stops only at the end or at a `)` it did not open.
        if let Some(t) = p.toks.get(p.pos) {
            return fail(t.at, t.len, "unmatched \")\"");
        }
        Ok(Filter { root: Some(root) })
    }

    /// True for the filter that matches everything.
    pub fn is_empty(&self) -> bool {
        self.root.is_none()
    }

    /// Whether the exchange passes the filter. Allocates nothing.
    pub fn matches(&self, s: &dyn Subject) -> bool {
        self.root.as_ref().is_none_or(|n| n.eval(s))
    }
}

/// One line per term, for the help screen: an example and what it means.
pub fn terms_help() -> &'static [(&'static str, &'static str)] {
    &[
        (
            "api:Fetch",
            "API by name (any case, unique prefix, * glob) or key; api:Produce,Fetch for several",
        ),
        ("v:3", "API version; also v>=3, v<3, ...; version:3"),
        (
            "topic:orders*",
            "touches this topic; exact and case-sensitive, * matches anything",
        ),
        ("group:billing", "consumer group; exact, * matches anything"),
        (
            "client:\"my app\"",
            "client id contains this (any case), or client address ip[:port] or :port",
        ),
        ("broker::9092", "broker address ip[:port] or :port"),
        (
            "err",
            "the response carries an error code (a negotiation's expected answer aside: see neg)",
        ),
        (
            "neg",
            "a negotiation's expected answer: ApiVersions UNSUPPORTED_VERSION, JoinGroup v4+ MEMBER_ID_REQUIRED",
        ),
        (
            "err:NOT_COORDINATOR",
            "this error anywhere in the response: name (old names too, any case, prefix) or code",
        ),
        (
            "err:retriable",
            "all errors retriable; err:fatal: some error is not",
        ),
        ("ok", "answered, without error"),
        ("noresp", "request never answered (acks=0 produce excluded)"),
        (
            "malformed",
            "the response does not decode as the version asked for (the broker broke the protocol)",
        ),
        (
            "throttled",
            "the broker asked the client to wait (throttle time > 0)",
        ),
        (
            "lat>50ms",
            "latency above 50 ms; also >=, <, <=; units us, ms, s; bare number = ms",
        ),
        (
            "net>5ms",
            "network's share of the latency (several captures, seen at both ends); also atbroker>5ms for the broker's",
        ),
        ("corr:42", "correlation id"),
        ("stream:3", "TCP stream; also conn:3"),
        (
            "frame:120",
            "request or response frame number; also frame>=100 ...",
        ),
        (
            "orders",
            "free text, any case: summary, API, client id, topics, group, error names",
        ),
        ("a b", "both; also a and b"),
        ("a or b", "either; also a | b; AND binds tighter than OR"),
        ("-a", "not a; also !a, not a"),
        ("(a or b) c", "parentheses group"),
        ("\"a b\"", "quotes keep spaces and ( ) | , * : as they are"),
    ]
}

// ---------------------------------------------------------------- matching

#[derive(Clone, Debug)]
enum Node {
    All(Vec<Node>),
    Any(Vec<Node>),
    Not(Box<Node>),
    Term(Term),
}

impl Node {
    fn eval(&self, s: &dyn Subject) -> bool {
        match self {
            Node::All(v) => v.iter().all(|n| n.eval(s)),
            Node::Any(v) => v.iter().any(|n| n.eval(s)),
            Node::Not(n) => !n.eval(s),
            Node::Term(t) => t.eval(s),
        }
    }
}

#[derive(Clone, Debug)]
enum Term {
    Api(KeySet),
    Num(NumField, NumTest),
    Topic(Vec<Glob>),
    Group(Vec<Glob>),
    Client(Vec<ClientPat>),
    Broker(Vec<AddrPat>),
    AnyError,
    /// Errors that are all a negotiation's expected answers.
    Negotiation,
    Errors {
        codes: Vec<i16>,
        retriable: bool,
        fatal: bool,
    },
    Ok,
    NoResponse,
    Malformed,
    Throttled,
    /// Latency against a threshold in microseconds.
    Latency(Cmp, f64),
    /// The network's share of the latency against a threshold (µs).
    Network(Cmp, f64),
    /// The broker's share of the latency against a threshold (µs).
    AtBroker(Cmp, f64),
    Text(Needle),
}

impl Term {
    fn eval(&self, s: &dyn Subject) -> bool {
        match self {
            Term::Api(set) => set.contains(s.api_key()),
            Term::Num(field, test) => match field {
                NumField::Version => test.eval(i128::from(s.api_version())),
                NumField::Corr => test.eval(i128::from(s.correlation_id())),
                NumField::Stream => test.eval(i128::from(s.stream())),
                NumField::Frame => {
                    let (req, resp) = s.frames();
                    test.eval(i128::from(req)) || resp.is_some_and(|f| test.eval(i128::from(f)))
                }
            },
            Term::Topic(globs) => s
                .topics()
                .iter()
                .any(|t| globs.iter().any(|g| g.matches(t))),
            Term::Group(globs) => s
                .group()
                .is_some_and(|g| globs.iter().any(|p| p.matches(g))),
            Term::Client(pats) => pats.iter().any(|p| match p {
                ClientPat::Addr(a) => a.matches(s.client()),
                ClientPat::Id(n) => s.client_id().is_some_and(|id| n.found_in(id)),
            }),
            Term::Broker(pats) => pats.iter().any(|a| a.matches(s.broker())),
            Term::AnyError => !s.error_codes().is_empty() && !s.negotiation(),
            Term::Negotiation => s.negotiation(),
            Term::Errors {
                codes,
                retriable,
                fatal,
            } => {
                let errs = s.error_codes();
                (*retriable && s.retriable() && !s.negotiation())
                    || (*fatal && !errs.is_empty() && !s.retriable() && !s.negotiation())
                    || errs.iter().any(|c| codes.contains(c))
            }
            Term::Ok => s.answered() && s.error_codes().is_empty() && !s.malformed(),
            Term::Malformed => s.malformed(),
            Term::NoResponse => s.no_response(),
            Term::Throttled => s.throttle_ms().is_some_and(|t| t > 0),
            Term::Latency(cmp, us) => s.latency_us().is_some_and(|l| cmp.eval(l as f64, *us)),
            Term::Network(cmp, us) => s.split_us().is_some_and(|(_, n)| cmp.eval(n as f64, *us)),
            Term::AtBroker(cmp, us) => s.split_us().is_some_and(|(b, _)| cmp.eval(b as f64, *us)),
            Term::Text(n) => {
                if let Some(t) = s.search_text() {
                    return n.found_in_lower(t);
                }
                n.found_in(s.text())
                    || n.found_in(ApiKey(s.api_key()).name())
                    || s.client_id().is_some_and(|c| n.found_in(c))
                    || s.topics().iter().any(|t| n.found_in(t))
                    || s.group().is_some_and(|g| n.found_in(g))
                    || s.error_codes()
                        .iter()
                        .any(|&c| n.found_in(ErrorCode(c).name()))
            }
        }
    }
}

/// A set of API keys: a bitmap for the keys Kafka defines, a list for others.
#[derive(Clone, Debug, Default)]
struct KeySet {
    bits: [u64; 2],
    other: Vec<i16>,
}

impl KeySet {
    fn insert(&mut self, k: i16) {
        match usize::try_from(k) {
            Ok(i) if i < 128 => self.bits[i / 64] |= 1 << (i % 64),
            _ => {
                if !self.other.contains(&k) {
                    self.other.push(k);
                }
            }
        }
    }

    fn contains(&self, k: i16) -> bool {
        match usize::try_from(k) {
            Ok(i) if i < 128 => self.bits[i / 64] & (1 << (i % 64)) != 0,
            _ => self.other.contains(&k),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NumField {
    Version,
    Corr,
    Stream,
    Frame,
}

#[derive(Clone, Debug)]
enum NumTest {
    AnyOf(Vec<i128>),
    Cmp(Cmp, i128),
}

impl NumTest {
    fn eval(&self, x: i128) -> bool {
        match self {
            NumTest::AnyOf(v) => v.contains(&x),
            NumTest::Cmp(c, y) => c.eval(x, *y),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cmp {
    Gt,
    Ge,
    Lt,
    Le,
}

impl Cmp {
    fn eval<T: PartialOrd>(self, x: T, y: T) -> bool {
        match self {
            Cmp::Gt => x > y,
            Cmp::Ge => x >= y,
            Cmp::Lt => x < y,
            Cmp::Le => x <= y,
        }
    }
}

/// A `*` pattern split at the stars: `parts[0]` is a prefix, the last part a
/// suffix, the ones between must appear in order. One part: exact match.
#[derive(Clone, Debug)]
struct Glob {
    parts: Vec<String>,
}

impl Glob {
    /// From characters each flagged as a wildcard or not.
    fn compile(chars: impl Iterator<Item = (char, bool)>) -> Glob {
        let mut parts = vec![String::new()];
        for (c, wild) in chars {
            if wild {
                parts.push(String::new());
            } else if let Some(p) = parts.last_mut() {
                p.push(c);
            }
        }
        Glob { parts }
    }

    fn matches(&self, s: &str) -> bool {
        let (first, last) = match self.parts.as_slice() {
            [only] => return s == only,
            [first, .., last] => (first, last),
            [] => return false,
        };
        if s.len() < first.len() + last.len() || !s.starts_with(first.as_str()) {
            return false;
        }
        if !s.ends_with(last.as_str()) {
            return false;
        }
        // Both ends are char boundaries (they end a prefix / start a suffix).
        let mut rest = &s[first.len()..s.len() - last.len()];
        for mid in &self.parts[1..self.parts.len() - 1] {
            match rest.find(mid.as_str()) {
                Some(i) => rest = &rest[i + mid.len()..],
                None => return false,
            }
        }
        true
    }
}

/// A case-insensitive substring, lower-cased once.
#[derive(Clone, Debug)]
struct Needle {
    lower: String,
    ascii: bool,
    /// Searches lower-cased text.
    finder: Box<memchr::memmem::Finder<'static>>,
}

impl Needle {
    fn new(s: &str) -> Needle {
        let lower: String = s.chars().flat_map(char::to_lowercase).collect();
        let ascii = lower.is_ascii();
        let finder = Box::new(memchr::memmem::Finder::new(lower.as_bytes()).into_owned());
        Needle {
            lower,
            ascii,
            finder,
        }
    }

    /// Whether `lower` (already lower-cased) contains the needle.
    fn found_in_lower(&self, lower: &str) -> bool {
        self.finder.find(lower.as_bytes()).is_some()
    }

    /// Whether `hay` contains the needle, ignoring case. An ASCII needle is
    /// compared byte by byte (folding ASCII only); any other char by char.
    fn found_in(&self, hay: &str) -> bool {
        let n = self.lower.as_bytes();
        if n.is_empty() {
            return true;
        }
        if self.ascii {
            // Jump between occurrences of the first byte (either case):
            // most rows are rejected without comparing a window.
            let h = hay.as_bytes();
            let Some(last) = h.len().checked_sub(n.len()) else {
                return false;
            };
            let (lo, up) = (n[0].to_ascii_lowercase(), n[0].to_ascii_uppercase());
            return memchr::memchr2_iter(lo, up, &h[..=last])
                .any(|i| h[i..i + n.len()].eq_ignore_ascii_case(n));
        }
        hay.char_indices().any(|(i, _)| {
            let mut h = hay[i..].chars().flat_map(char::to_lowercase);
            self.lower.chars().all(|c| h.next() == Some(c))
        })
    }
}

/// An address, either part optional (`10.0.0.1`, `:9092`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct AddrPat {
    ip: Option<IpAddr>,
    port: Option<u16>,
}

impl AddrPat {
    fn parse(s: &str) -> Option<AddrPat> {
        if let Ok(a) = s.parse::<SocketAddr>() {
            return Some(AddrPat {
                ip: Some(a.ip()),
                port: Some(a.port()),
            });
        }
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Some(AddrPat {
                ip: Some(ip),
                port: None,
            });
        }
        if let Some(inner) = s.strip_prefix('[').and_then(|r| r.strip_suffix(']'))
            && let Ok(ip) = inner.parse::<Ipv6Addr>()
        {
            return Some(AddrPat {
                ip: Some(IpAddr::V6(ip)),
                port: None,
            });
        }
        let port = s.strip_prefix(':')?;
        if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(AddrPat {
            ip: None,
            port: Some(port.parse().ok()?),
        })
    }

    fn matches(&self, a: SocketAddr) -> bool {
        self.ip
            .is_none_or(|ip| ip.to_canonical() == a.ip().to_canonical())
            && self.port.is_none_or(|p| p == a.port())
    }
}

#[derive(Clone, Debug)]
enum ClientPat {
    Addr(AddrPat),
    Id(Needle),
}

// ---------------------------------------------------------------- lexing

#[derive(Debug)]
enum Tok {
    Open,
    Close,
    Or,
    And,
    Not,
    Word(Word),
}

/// A token and its place in the input, in characters.
#[derive(Debug)]
struct Token {
    tok: Tok,
    at: usize,
    len: usize,
}

/// A word's characters, quotes removed, each remembering whether it was
/// quoted and where it stood.
#[derive(Debug, Default)]
struct Word {
    pieces: Vec<Piece>,
    quoted: bool,
}

#[derive(Clone, Copy, Debug)]
struct Piece {
    c: char,
    quoted: bool,
    at: usize,
}

fn lex(chars: &[char]) -> Result<Vec<Token>, FilterError> {
    let mut toks = Vec::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        let next = chars.get(i + 1).copied();
        let (tok, len) = match c {
            _ if c.is_whitespace() => {
                i += 1;
                continue;
            }
            '(' => (Tok::Open, 1),
            ')' => (Tok::Close, 1),
            '|' => (Tok::Or, if next == Some('|') { 2 } else { 1 }),
            '&' => (Tok::And, if next == Some('&') { 2 } else { 1 }),
            '!' | '-' => (Tok::Not, 1),
            _ => {
                let (word, end) = lex_word(chars, i)?;
                let tok = match keyword(&word) {
                    Some(k) => k,
                    None => Tok::Word(word),
                };
                (tok, end - i)
            }
        };
        toks.push(Token { tok, at: i, len });
        i += len;
    }
    Ok(toks)
}

/// Reads the word starting at `start`; returns it and where it ends.
fn lex_word(chars: &[char], start: usize) -> Result<(Word, usize), FilterError> {
    let mut w = Word::default();
    let mut i = start;
    while let Some(&c) = chars.get(i) {
        if c == '"' {
            w.quoted = true;
            let open = i;
            i += 1;
            loop {
                let Some(&q) = chars.get(i) else {
                    return fail(open, i - open, "unclosed quote: add a closing \"");
                };
                if q == '"' {
                    i += 1;
                    break;
                }
                let escaped = match chars.get(i + 1) {
                    Some(&e @ ('"' | '\\')) if q == '\\' => Some(e),
                    _ => None,
                };
                match escaped {
                    Some(e) => {
                        w.pieces.push(Piece {
                            c: e,
                            quoted: true,
                            at: i + 1,
                        });
                        i += 2;
                    }
                    None => {
                        w.pieces.push(Piece {
                            c: q,
                            quoted: true,
                            at: i,
                        });
                        i += 1;
                    }
                }
            }
        } else if c.is_whitespace() || matches!(c, '(' | ')' | '|') {
            break;
        } else {
            w.pieces.push(Piece {
                c,
                quoted: false,
                at: i,
            });
            i += 1;
        }
    }
    Ok((w, i))
}

fn keyword(w: &Word) -> Option<Tok> {
    if w.quoted || w.pieces.len() > 3 {
        return None;
    }
    let s: String = w.pieces.iter().map(|p| p.c.to_ascii_lowercase()).collect();
    match s.as_str() {
        "or" => Some(Tok::Or),
        "and" => Some(Tok::And),
        "not" => Some(Tok::Not),
        _ => None,
    }
}

// ---------------------------------------------------------------- parsing

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Open,
    Close,
    Or,
    And,
    Not,
    Word,
}

struct Parser<'a> {
    chars: &'a [char],
    toks: Vec<Token>,
    pos: usize,
}

impl Parser<'_> {
    fn kind(&self) -> Option<Kind> {
        self.toks.get(self.pos).map(|t| match t.tok {
            Tok::Open => Kind::Open,
            Tok::Close => Kind::Close,
            Tok::Or => Kind::Or,
            Tok::And => Kind::And,
            Tok::Not => Kind::Not,
            Tok::Word(_) => Kind::Word,
        })
    }

    /// The current token's place and text.
    fn here(&self) -> (usize, usize, String) {
        match self.toks.get(self.pos) {
            Some(t) => {
                let text = self.chars.get(t.at..t.at + t.len).unwrap_or_default();
                (t.at, t.len, text.iter().collect())
            }
            None => (self.chars.len(), 0, String::new()),
        }
    }

    /// Whether the current token cannot start a term.
    fn at_term_end(&self) -> bool {
        matches!(self.kind(), None | Some(Kind::Close | Kind::Or | Kind::And))
    }

    fn or(&mut self, depth: usize) -> Result<Node, FilterError> {
        let mut alts = vec![self.and(depth)?];
        while self.kind() == Some(Kind::Or) {
            let (at, len, sym) = self.here();
            self.pos += 1;
            if self.at_term_end() {
                return fail(at, len, format!("\"{sym}\" needs a term after it"));
            }
            alts.push(self.and(depth)?);
        }
        Ok(if alts.len() == 1 {
            alts.swap_remove(0)
        } else {
            Node::Any(alts)
        })
    }

    fn and(&mut self, depth: usize) -> Result<Node, FilterError> {
        let mut items = Vec::new();
        loop {
            match self.kind() {
                None | Some(Kind::Close | Kind::Or) => break,
                Some(Kind::And) => {
                    let (at, len, sym) = self.here();
                    if items.is_empty() {
                        return fail(at, len, format!("\"{sym}\" needs a term before it"));
                    }
                    self.pos += 1;
                    if self.at_term_end() {
                        return fail(at, len, format!("\"{sym}\" needs a term after it"));
                    }
                }
                Some(_) => items.push(self.unary(depth)?),
            }
        }
        if items.is_empty() {
            let (at, len, sym) = self.here();
            return match self.kind() {
                Some(Kind::Or) => fail(at, len, format!("\"{sym}\" needs a term before it")),
                Some(_) => fail(at, len, "unmatched \")\""),
                None => fail(at, len, "a term is missing here"),
            };
        }
        Ok(if items.len() == 1 {
            items.swap_remove(0)
        } else {
            Node::All(items)
        })
    }

    fn unary(&mut self, depth: usize) -> Result<Node, FilterError> {
        let (at, len, sym) = self.here();
        let too_deep = || {
            fail(
                at,
                len,
                format!("nested too deeply: at most {MAX_DEPTH} levels of ( and !"),
            )
        };
        match self.kind() {
            Some(Kind::Not) => {
                if depth >= MAX_DEPTH {
                    return too_deep();
                }
                self.pos += 1;
                if self.at_term_end() {
                    return fail(at, len, format!("\"{sym}\" needs a term after it"));
                }
                Ok(Node::Not(Box::new(self.unary(depth + 1)?)))
            }
            Some(Kind::Open) => {
                if depth >= MAX_DEPTH {
                    return too_deep();
                }
                self.pos += 1;
                match self.kind() {
                    None => return fail(at, len, "unclosed \"(\": add a \")\""),
                    Some(Kind::Close) => {
                        let (close, _, _) = self.here();
                        return fail(at, close + 1 - at, "empty \"()\": put a term inside");
                    }
                    Some(_) => {}
                }
                let inner = self.or(depth + 1)?;
                if self.kind() != Some(Kind::Close) {
                    return fail(at, len, "unclosed \"(\": add a \")\"");
                }
                self.pos += 1;
                Ok(inner)
            }
            Some(Kind::Word) => {
                let node = match self.toks.get(self.pos) {
                    Some(Token {
                        tok: Tok::Word(w), ..
                    }) => Node::Term(term(w, at, len)?),
                    _ => return fail(at, len, "a term is missing here"),
                };
                self.pos += 1;
                Ok(node)
            }
            _ => fail(at, len, "a term is missing here"),
        }
    }
}

// ---------------------------------------------------------------- terms

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Key {
    Api,
    Version,
    Topic,
    Group,
    Client,
    Broker,
    Err,
    Lat,
    Net,
    AtBroker,
    Corr,
    Stream,
    Frame,
}

/// Every key as typed, with the key it means.
const KEYS: &[(&str, Key)] = &[
    ("api", Key::Api),
    ("v", Key::Version),
    ("version", Key::Version),
    ("topic", Key::Topic),
    ("group", Key::Group),
    ("client", Key::Client),
    ("broker", Key::Broker),
    ("err", Key::Err),
    ("lat", Key::Lat),
    ("latency", Key::Lat),
    ("net", Key::Net),
    ("network", Key::Net),
    ("atbroker", Key::AtBroker),
    ("corr", Key::Corr),
    ("stream", Key::Stream),
    ("conn", Key::Stream),
    ("frame", Key::Frame),
];

/// Words that are terms on their own.
const FLAGS: &[&str] = &[
    "err",
    "neg",
    "negotiation",
    "ok",
    "noresp",
    "throttled",
    "malformed",
];

impl Key {
    fn name(self) -> &'static str {
        match self {
            Key::Api => "api",
            Key::Version => "v",
            Key::Topic => "topic",
            Key::Group => "group",
            Key::Client => "client",
            Key::Broker => "broker",
            Key::Err => "err",
            Key::Lat => "lat",
            Key::Net => "net",
            Key::AtBroker => "atbroker",
            Key::Corr => "corr",
            Key::Stream => "stream",
            Key::Frame => "frame",
        }
    }

    fn example(self) -> &'static str {
        match self {
            Key::Api => "api:Fetch",
            Key::Version => "v:3",
            Key::Topic => "topic:orders",
            Key::Group => "group:billing",
            Key::Client => "client:\"my app\"",
            Key::Broker => "broker::9092",
            Key::Err => "err:NOT_COORDINATOR",
            Key::Lat => "lat>50ms",
            Key::Net => "net>5ms",
            Key::AtBroker => "atbroker>5ms",
            Key::Corr => "corr:42",
            Key::Stream => "stream:3",
            Key::Frame => "frame:120",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Cmp(Cmp),
}

fn text(p: &[Piece]) -> String {
    p.iter().map(|x| x.c).collect()
}

/// Where pieces stand in the input: offset and length in characters.
fn span(p: &[Piece]) -> (usize, usize) {
    match (p.first(), p.last()) {
        (Some(a), Some(b)) => (a.at, b.at + 1 - a.at),
        _ => (0, 0),
    }
}

/// The user's text for a message, cut short.
fn shown(s: &str) -> String {
    const MAX: usize = 24;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(MAX - 1).collect();
        t.push('…');
        t
    }
}

/// Compiles one word (at `at`, `len` characters long) into a term.
fn term(w: &Word, at: usize, len: usize) -> Result<Term, FilterError> {
    let p = &w.pieces;
    let k = p
        .iter()
        .take_while(|x| !x.quoted && x.c.is_ascii_alphabetic())
        .count();
    let unquoted = |i: usize| p.get(i).filter(|x| !x.quoted).map(|x| x.c);
    let op = match (unquoted(k), unquoted(k + 1)) {
        _ if k == 0 => None,
        (Some(':'), _) => Some((Op::Eq, 1)),
        (Some('='), Some('=')) => Some((Op::Eq, 2)),
        (Some('='), _) => Some((Op::Eq, 1)),
        (Some('>'), Some('=')) => Some((Op::Cmp(Cmp::Ge), 2)),
        (Some('>'), _) => Some((Op::Cmp(Cmp::Gt), 1)),
        (Some('<'), Some('=')) => Some((Op::Cmp(Cmp::Le), 2)),
        (Some('<'), _) => Some((Op::Cmp(Cmp::Lt), 1)),
        (Some('!'), Some('=')) => Some((Op::Ne, 2)),
        _ => None,
    };
    let name: String = p[..k].iter().map(|x| x.c.to_ascii_lowercase()).collect();
    let Some((op, oplen)) = op else {
        if !w.quoted && k == p.len() {
            match name.as_str() {
                "err" => return Ok(Term::AnyError),
                "negotiation" | "neg" => return Ok(Term::Negotiation),
                "ok" => return Ok(Term::Ok),
                "noresp" => return Ok(Term::NoResponse),
                "throttled" => return Ok(Term::Throttled),
                "malformed" => return Ok(Term::Malformed),
                _ => {}
            }
        }
        return Ok(Term::Text(Needle::new(&text(p))));
    };
    let (key_at, key_len) = span(&p[..k]);
    let (op_at, _) = span(&p[k..k + oplen]);
    let Some(key) = KEYS.iter().find(|(n, _)| *n == name).map(|&(_, key)| key) else {
        if FLAGS.contains(&name.as_str()) {
            return fail(key_at, key_len, format!("\"{name}\" takes no value"));
        }
        let names = KEYS.iter().map(|(n, _)| *n).chain(FLAGS.iter().copied());
        let message = match closest(&name, names) {
            Some(s) => format!("unknown filter key \"{}\": did you mean {s}?", shown(&name)),
            None => format!(
                "unknown filter key \"{}\": keys are api, v, topic, group, client, broker, \
                 err, lat, corr, stream, frame; quote text to search it",
                shown(&name)
            ),
        };
        return fail(key_at, key_len, message);
    };
    let ex = key.example();
    let kn = key.name();
    let cmp = match op {
        Op::Ne => {
            return fail(
                op_at,
                oplen,
                format!("\"!=\" is not supported: negate the term, -{kn}:…"),
            );
        }
        Op::Eq => None,
        Op::Cmp(c) => Some(c),
    };
    let rest = &p[k + oplen..];
    if rest.is_empty() {
        return fail(at, len, format!("{kn} needs a value: {ex}"));
    }
    let values = split_values(rest)?;
    let numeric = matches!(
        key,
        Key::Version | Key::Corr | Key::Stream | Key::Frame | Key::Lat | Key::Net | Key::AtBroker
    );
    if cmp.is_some() && !numeric {
        return fail(op_at, oplen, format!("{kn} cannot be compared: use {ex}"));
    }
    if matches!(key, Key::Lat | Key::Net | Key::AtBroker) && cmp.is_none() {
        return fail(op_at, oplen, format!("{kn} needs a comparison: {ex}"));
    }
    if cmp.is_some() && values.len() > 1 {
        let (vat, vlen) = span(rest);
        return fail(vat, vlen, format!("a comparison takes one value: {ex}"));
    }

    match key {
        Key::Api => {
            let mut set = KeySet::default();
            for v in values {
                let s = text(v);
                let ids = match s.parse::<i16>() {
                    Ok(k) => vec![k],
                    Err(_) => resolve(&s, "API", &api_candidates(), None).map_err(|m| {
                        let (vat, vlen) = span(v);
                        FilterError {
                            at: vat,
                            len: vlen,
                            message: m,
                        }
                    })?,
                };
                for id in ids {
                    set.insert(id);
                }
            }
            Ok(Term::Api(set))
        }
        Key::Version | Key::Corr | Key::Stream | Key::Frame => {
            let (field, lo, hi) = match key {
                Key::Version => (
                    NumField::Version,
                    i128::from(i16::MIN),
                    i128::from(i16::MAX),
                ),
                Key::Corr => (NumField::Corr, i128::from(i32::MIN), i128::from(i32::MAX)),
                Key::Stream => (NumField::Stream, 0, i128::from(u64::MAX)),
                _ => (NumField::Frame, 0, i128::from(u64::MAX)),
            };
            let mut nums = Vec::with_capacity(values.len());
            for v in &values {
                let s = text(v);
                let (vat, vlen) = span(v);
                match s.parse::<i128>() {
                    Ok(n) if (lo..=hi).contains(&n) => nums.push(n),
                    Ok(_) => return fail(vat, vlen, format!("{kn} must be {lo} to {hi}")),
                    Err(_) => {
                        return fail(
                            vat,
                            vlen,
                            format!("{kn} needs a number, not \"{}\": {ex}", shown(&s)),
                        );
                    }
                }
            }
            let test = match (cmp, nums.first()) {
                (Some(c), Some(&n)) => NumTest::Cmp(c, n),
                _ => NumTest::AnyOf(nums),
            };
            Ok(Term::Num(field, test))
        }
        Key::Topic | Key::Group => {
            let globs = values
                .iter()
                .map(|v| Glob::compile(v.iter().map(|x| (x.c, x.c == '*' && !x.quoted))))
                .collect();
            Ok(if key == Key::Topic {
                Term::Topic(globs)
            } else {
                Term::Group(globs)
            })
        }
        Key::Client => {
            let pats = values
                .iter()
                .map(|v| {
                    let s = text(v);
                    match AddrPat::parse(&s) {
                        Some(a) if !v.iter().any(|x| x.quoted) => ClientPat::Addr(a),
                        _ => ClientPat::Id(Needle::new(&s)),
                    }
                })
                .collect();
            Ok(Term::Client(pats))
        }
        Key::Broker => {
            let mut pats = Vec::with_capacity(values.len());
            for v in &values {
                match AddrPat::parse(&text(v)) {
                    Some(a) => pats.push(a),
                    None => {
                        let (vat, vlen) = span(v);
                        return fail(vat, vlen, format!("broker needs ip[:port] or :port: {ex}"));
                    }
                }
            }
            Ok(Term::Broker(pats))
        }
        Key::Err => {
            let mut codes = Vec::new();
            let (mut retriable, mut fatal) = (false, false);
            for v in &values {
                let s = text(v);
                let (vat, vlen) = span(v);
                match normalize(&s).as_str() {
                    "retriable" | "retryable" => retriable = true,
                    "fatal" => fatal = true,
                    _ => {
                        let ids = match s.parse::<i16>() {
                            Ok(c) => vec![c],
                            Err(_) => {
                                let exact = ErrorCode::from_name(&s).map(|c| c.0);
                                resolve(&s, "error", &error_candidates(), exact)
                                    .or_else(|m| fail(vat, vlen, m))?
                            }
                        };
                        if ids.contains(&0) {
                            return fail(vat, vlen, "NONE (0) is not an error: use ok");
                        }
                        for id in ids {
                            if !codes.contains(&id) {
                                codes.push(id);
                            }
                        }
                    }
                }
            }
            Ok(Term::Errors {
                codes,
                retriable,
                fatal,
            })
        }
        Key::Lat | Key::Net | Key::AtBroker => {
            let (vat, vlen) = span(rest);
            match (cmp, latency_us(&text(rest))) {
                (Some(c), Some(us)) => Ok(match key {
                    Key::Net => Term::Network(c, us),
                    Key::AtBroker => Term::AtBroker(c, us),
                    _ => Term::Latency(c, us),
                }),
                _ => fail(
                    vat,
                    vlen,
                    format!(
                        "bad latency \"{}\": a number with us, ms or s, like {ex}",
                        shown(&text(rest))
                    ),
                ),
            }
        }
    }
}

/// Splits a value at unquoted commas; an empty item is an error.
fn split_values(p: &[Piece]) -> Result<Vec<&[Piece]>, FilterError> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, x) in p.iter().enumerate() {
        if !x.quoted && x.c == ',' {
            if i == start {
                return fail(x.at, 1, "empty value before \",\"");
            }
            out.push(&p[start..i]);
            start = i + 1;
        }
    }
    if start == p.len() {
        let at = p.last().map_or(0, |x| x.at);
        return fail(at, 1, "empty value after \",\"");
    }
    out.push(&p[start..]);
    Ok(out)
}

/// `50ms`, `1.5s`, `200us`, `200µs`, `50` (ms) in microseconds.
fn latency_us(s: &str) -> Option<f64> {
    let digits = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(digits);
    if !num.bytes().any(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: f64 = num.parse().ok()?;
    let scale = match unit.to_ascii_lowercase().as_str() {
        "us" | "µs" | "μs" => 1.0,
        "" | "ms" => 1_000.0,
        "s" => 1_000_000.0,
        _ => return None,
    };
    Some(n * scale)
}

// ---------------------------------------------------------------- names

/// A name the user may mean: its normalised spelling, how to show it, its number.
struct Candidate {
    norm: String,
    shown: &'static str,
    id: i16,
}

fn api_candidates() -> Vec<Candidate> {
    api::all()
        .iter()
        .map(|a| Candidate {
            norm: normalize(a.name),
            shown: a.name,
            id: a.key,
        })
        .collect()
}

fn error_candidates() -> Vec<Candidate> {
    let mut v = Vec::new();
    for e in errors::all().iter().filter(|e| e.code != 0) {
        for n in std::iter::once(&e.name).chain(e.aliases) {
            v.push(Candidate {
                norm: normalize(n),
                shown: e.name,
                id: e.code,
            });
        }
    }
    v
}

/// Lower-case ASCII letters and digits (and `*`), the rest dropped:
/// `OFFSET_COMMIT`, `offset-commit` and `OffsetCommit` are all `offsetcommit`.
fn normalize(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '*')
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// Resolves a name to the numbers it means: a `*` glob (all that match), an
/// exact name (`exact`, else equal normalised spelling), or a unique prefix.
/// The error message says what went wrong and, if it can, what was meant.
fn resolve(
    raw: &str,
    what: &str,
    cands: &[Candidate],
    exact: Option<i16>,
) -> Result<Vec<i16>, String> {
    let q = normalize(raw);
    let mut ids = Vec::new();
    let mut names = Vec::new();
    let mut add = |c: &Candidate| {
        if !ids.contains(&c.id) {
            ids.push(c.id);
            names.push(c.shown);
        }
    };
    if q.contains('*') {
        let g = Glob::compile(q.chars().map(|c| (c, c == '*')));
        cands
            .iter()
            .filter(|c| g.matches(&c.norm))
            .for_each(&mut add);
        if ids.is_empty() {
            return Err(format!("no {what} matches \"{}\"", shown(raw)));
        }
        return Ok(ids);
    }
    if let Some(id) = exact.or_else(|| cands.iter().find(|c| c.norm == q).map(|c| c.id)) {
        return Ok(vec![id]);
    }
    if !q.is_empty() {
        cands
            .iter()
            .filter(|c| c.norm.starts_with(&q))
            .for_each(&mut add);
    }
    match ids.len() {
        0 => {}
        1 => return Ok(ids),
        _ => {
            return Err(format!(
                "ambiguous {what} \"{}\": {}",
                shown(raw),
                list(&names, ", ")
            ));
        }
    }
    let hint = match closest(&q, cands.iter().map(|c| (c.norm.as_str(), c.shown))) {
        Some(s) => format!(": did you mean {s}?"),
        None => {
            let mut within = Vec::new();
            if q.len() >= 3 {
                for c in cands.iter().filter(|c| c.norm.contains(&q)) {
                    if !within.contains(&c.shown) {
                        within.push(c.shown);
                    }
                }
            }
            if within.is_empty() {
                String::new()
            } else {
                format!(": did you mean {}?", list(&within, " or "))
            }
        }
    };
    Err(format!("unknown {what} \"{}\"{hint}", shown(raw)))
}

/// At most four names, then `…`.
fn list(names: &[&str], last_sep: &str) -> String {
    match names {
        [] => String::new(),
        [one] => one.to_string(),
        _ if names.len() > 4 => format!("{}, …", names[..4].join(", ")),
        [init @ .., last] => format!("{}{last_sep}{last}", init.join(", ")),
    }
}

/// Things that can be suggested: a spelling to compare and what to show.
trait Suggestable {
    fn parts(&self) -> (&str, &'static str);
}

impl Suggestable for &'static str {
    fn parts(&self) -> (&str, &'static str) {
        (self, self)
    }
}

impl Suggestable for (&str, &'static str) {
    fn parts(&self) -> (&str, &'static str) {
        (self.0, self.1)
    }
}

/// The candidate within a few edits of `q` (normalised): the closest, one
/// that `q` begins on a tie (`laten` → `latency`, not `lat`), else the first;
/// none for long or empty input.
fn closest<S: Suggestable>(q: &str, cands: impl Iterator<Item = S>) -> Option<&'static str> {
    if q.is_empty() || q.len() > 64 {
        return None;
    }
    let limit = match q.len() {
        0..=4 => 1,
        5..=8 => 2,
        _ => 3,
    };
    cands
        .map(|c| {
            let (spelling, show) = c.parts();
            let d = edit_distance(q.as_bytes(), spelling.as_bytes());
            (d, spelling.starts_with(q), show)
        })
        .filter(|&(d, _, _)| d <= limit)
        .min_by_key(|&(d, prefix, _)| (d, !prefix))
        .map(|(_, _, show)| show)
}

/// Optimal string alignment distance: insertions, deletions, substitutions
/// and swaps of neighbours, each costing one.
fn edit_distance(a: &[u8], b: &[u8]) -> usize {
    let w = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * w];
    for (i, row) in d.chunks_mut(w).enumerate() {
        row[0] = i;
    }
    for (j, cell) in d.iter_mut().take(w).enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[(i - 1) * w + j] + 1)
                .min(d[i * w + j - 1] + 1)
                .min(d[(i - 1) * w + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[(i - 2) * w + j - 2] + 1);
            }
            d[i * w + j] = v;
        }
    }
    d[a.len() * w + b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stored exchange, as the UI would have it.
    #[derive(Clone, Debug)]
    struct Ex {
        api: i16,
        version: i16,
        corr: i32,
        stream: u64,
        client: SocketAddr,
        broker: SocketAddr,
        client_id: Option<String>,
        topics: Vec<String>,
        group: Option<String>,
        errors: Vec<i16>,
        retriable: bool,
        throttle: Option<i64>,
        answered: bool,
        no_response: bool,
        latency: Option<i64>,
        frames: (u64, Option<u64>),
        text: String,
    }

    impl Subject for Ex {
        fn api_key(&self) -> i16 {
            self.api
        }
        fn api_version(&self) -> i16 {
            self.version
        }
        fn correlation_id(&self) -> i32 {
            self.corr
        }
        fn stream(&self) -> u64 {
            self.stream
        }
        fn client(&self) -> SocketAddr {
            self.client
        }
        fn broker(&self) -> SocketAddr {
            self.broker
        }
        fn client_id(&self) -> Option<&str> {
            self.client_id.as_deref()
        }
        fn topics(&self) -> &[String] {
            &self.topics
        }
        fn group(&self) -> Option<&str> {
            self.group.as_deref()
        }
        fn error_codes(&self) -> &[i16] {
            &self.errors
        }
        fn retriable(&self) -> bool {
            self.retriable
        }
        fn throttle_ms(&self) -> Option<i64> {
            self.throttle
        }
        fn answered(&self) -> bool {
            self.answered
        }
        fn no_response(&self) -> bool {
            self.no_response
        }
        fn latency_us(&self) -> Option<i64> {
            self.latency
        }
        fn frames(&self) -> (u64, Option<u64>) {
            self.frames
        }
        fn text(&self) -> &str {
            &self.text
        }
    }

    /// A Fetch v12 from billing-consumer, answered in 1.5 ms without error.
    fn fetch() -> Ex {
        Ex {
            api: 1,
            version: 12,
            corr: 7,
            stream: 2,
            client: "10.0.0.1:50000".parse().unwrap(),
            broker: "10.0.0.9:9092".parse().unwrap(),
            client_id: Some("Billing-Consumer".into()),
            topics: vec!["orders".into(), "orders.dlq".into()],
            group: Some("billing".into()),
            errors: vec![],
            retriable: false,
            throttle: Some(0),
            answered: true,
            no_response: false,
            latency: Some(1500),
            frames: (10, Some(12)),
            text: "orders[0]@42 → 3 records, 1.2 KB".into(),
        }
    }

    /// A Produce v9 to `payments` that got NOT_LEADER_OR_FOLLOWER after 80 ms.
    fn produce_err() -> Ex {
        Ex {
            api: 0,
            version: 9,
            corr: 300,
            stream: 5,
            client: "[::1]:40000".parse().unwrap(),
            broker: "[::1]:9093".parse().unwrap(),
            client_id: Some("my app".into()),
            topics: vec!["payments".into()],
            group: None,
            errors: vec![6],
            retriable: true,
            throttle: Some(250),
            answered: true,
            no_response: false,
            latency: Some(80_000),
            frames: (200, Some(230)),
            text: "payments[2] 1 batch".into(),
        }
    }

    /// An OffsetCommit the broker never answered; no client id.
    fn unanswered() -> Ex {
        Ex {
            api: 8,
            version: 8,
            corr: -5,
            stream: 9,
            client: "192.168.1.20:33000".parse().unwrap(),
            broker: "192.168.1.2:9092".parse().unwrap(),
            client_id: None,
            topics: vec!["Orders".into()],
            group: Some("billing-eu".into()),
            errors: vec![],
            retriable: false,
            throttle: None,
            answered: false,
            no_response: true,
            latency: None,
            frames: (500, None),
            text: "group billing-eu gen 4".into(),
        }
    }

    /// A JoinGroup refused with a fatal error and a retriable one.
    fn join_fatal() -> Ex {
        Ex {
            api: 11,
            version: 5,
            corr: 1,
            stream: 3,
            client: "10.0.0.2:41000".parse().unwrap(),
            broker: "10.0.0.9:9092".parse().unwrap(),
            client_id: Some("rdkafka".into()),
            topics: vec![],
            group: Some("Billing".into()),
            errors: vec![30, 15],
            retriable: false,
            throttle: Some(0),
            answered: true,
            no_response: false,
            latency: Some(200),
            frames: (40, Some(41)),
            text: "member m-1 range".into(),
        }
    }

    fn all() -> Vec<Ex> {
        vec![fetch(), produce_err(), unanswered(), join_fatal()]
    }

    /// Which of [`all`] the filter matches, as indexes.
    fn hits(f: &str) -> Vec<usize> {
        let filter = Filter::parse(f).unwrap_or_else(|e| panic!("{f:?}: {e:?}"));
        all()
            .iter()
            .enumerate()
            .filter(|(_, s)| filter.matches(*s))
            .map(|(i, _)| i)
            .collect()
    }

    /// A subject that keeps its search text, as the UI's store does.
    struct WithSearch(Ex, String);

    impl Subject for WithSearch {
        fn api_key(&self) -> i16 {
            self.0.api_key()
        }
        fn api_version(&self) -> i16 {
            self.0.api_version()
        }
        fn correlation_id(&self) -> i32 {
            self.0.correlation_id()
        }
        fn stream(&self) -> u64 {
            self.0.stream()
        }
        fn client(&self) -> SocketAddr {
            self.0.client()
        }
        fn broker(&self) -> SocketAddr {
            self.0.broker()
        }
        fn client_id(&self) -> Option<&str> {
            self.0.client_id()
        }
        fn topics(&self) -> &[String] {
            self.0.topics()
        }
        fn group(&self) -> Option<&str> {
            self.0.group()
        }
        fn error_codes(&self) -> &[i16] {
            self.0.error_codes()
        }
        fn retriable(&self) -> bool {
            self.0.retriable()
        }
        fn throttle_ms(&self) -> Option<i64> {
            self.0.throttle_ms()
        }
        fn answered(&self) -> bool {
            self.0.answered()
        }
        fn no_response(&self) -> bool {
            self.0.no_response()
        }
        fn latency_us(&self) -> Option<i64> {
            self.0.latency_us()
        }
        fn frames(&self) -> (u64, Option<u64>) {
            self.0.frames()
        }
        fn text(&self) -> &str {
            self.0.text()
        }
        fn search_text(&self) -> Option<&str> {
            Some(&self.1)
        }
    }

    #[test]
    fn kept_search_text_finds_what_the_fields_find() {
        let needles = [
            "fetch",
            "FETCH",
            "orders",
            "rebalance",
            "m-1",
            "ILLEGAL",
            "billing",
            "x",
            "range",
            "produce",
            "zzz",
            "Ä",
            "",
        ];
        for ex in all() {
            let kept = WithSearch(ex.clone(), lower_search_text(&ex));
            for n in needles {
                let f = Filter::parse(&format!("\"{n}\"")).unwrap();
                assert_eq!(f.matches(&kept), f.matches(&ex), "{n:?} on {ex:?}");
            }
        }
    }

    fn error(f: &str) -> FilterError {
        match Filter::parse(f) {
            Ok(ok) => panic!("{f:?} parsed: {ok:?}"),
            Err(e) => e,
        }
    }

    /// The error's message, and the text it points at.
    fn err_at(f: &str) -> (String, String) {
        let e = error(f);
        let pointed: String = f.chars().skip(e.at).take(e.len).collect();
        (e.message, pointed)
    }

    const F: usize = 0; // fetch
    const P: usize = 1; // produce_err
    const U: usize = 2; // unanswered
    const J: usize = 3; // join_fatal

    #[test]
    fn empty_matches_everything() {
        for f in ["", "   ", "\t\n"] {
            let filter = Filter::parse(f).unwrap();
            assert!(filter.is_empty());
            assert_eq!(hits(f), [F, P, U, J]);
        }
        assert!(Filter::default().is_empty());
        assert!(Filter::default().matches(&fetch()));
        assert!(!Filter::parse("ok").unwrap().is_empty());
    }

    #[test]
    fn api_by_name_key_prefix_glob_and_list() {
        assert_eq!(hits("api:Fetch"), [F]);
        assert_eq!(hits("api:fetch"), [F]); // exact beats prefix of FetchSnapshot
        assert_eq!(hits("API:FETCH"), [F]);
        assert_eq!(hits("api=fetch"), [F]);
        assert_eq!(hits("api:1"), [F]);
        assert_eq!(hits("api:offset_commit"), [U]);
        assert_eq!(hits("api:offsetc"), [U]); // unique prefix
        assert_eq!(hits("api:Produce,Fetch"), [F, P]);
        assert_eq!(hits("api:0,joingroup"), [P, J]);
        assert_eq!(hits("api:*group*"), [J]);
        assert_eq!(hits("api:Offset*"), [U]);
        assert_eq!(hits("api:*"), [F, P, U, J]);
        assert_eq!(hits("api:900"), Vec::<usize>::new()); // unknown keys are kept
        assert_eq!(hits("api:-1"), Vec::<usize>::new());
    }

    #[test]
    fn api_errors() {
        assert_eq!(
            err_at("api:fecth"),
            (
                "unknown API \"fecth\": did you mean Fetch?".into(),
                "fecth".into()
            )
        );
        assert_eq!(
            err_at("api:fetc"),
            (
                "ambiguous API \"fetc\": Fetch, FetchSnapshot".into(),
                "fetc".into()
            )
        );
        let (m, at) = err_at("api:offset");
        assert_eq!(
            m,
            "ambiguous API \"offset\": OffsetCommit, OffsetFetch, OffsetForLeaderEpoch, OffsetDelete"
        );
        assert_eq!(at, "offset");
        assert_eq!(
            err_at("api:Produce,Fecth"),
            (
                "unknown API \"Fecth\": did you mean Fetch?".into(),
                "Fecth".into()
            )
        );
        assert_eq!(
            err_at("api:commit").0,
            "unknown API \"commit\": did you mean OffsetCommit or TxnOffsetCommit?"
        );
        assert_eq!(err_at("api:zzzz").0, "unknown API \"zzzz\"");
        assert_eq!(err_at("api:zz*").0, "no API matches \"zz*\"");
        assert_eq!(err_at("api:").0, "api needs a value: api:Fetch");
        assert_eq!(
            err_at("api>3"),
            ("api cannot be compared: use api:Fetch".into(), ">".into())
        );
        assert_eq!(
            err_at("api:Fetch,"),
            ("empty value after \",\"".into(), ",".into())
        );
        assert_eq!(
            err_at("api:,Fetch"),
            ("empty value before \",\"".into(), ",".into())
        );
    }

    #[test]
    fn version_and_numbers() {
        assert_eq!(hits("v:12"), [F]);
        assert_eq!(hits("version:9"), [P]);
        assert_eq!(hits("v:9,12"), [F, P]);
        assert_eq!(hits("v>=9"), [F, P]);
        assert_eq!(hits("v>9"), [F]);
        assert_eq!(hits("v<8"), [J]);
        assert_eq!(hits("v<=8"), [U, J]);
        assert_eq!(hits("v==5"), [J]);
        assert_eq!(hits("corr:300"), [P]);
        assert_eq!(hits("corr:-5"), [U]);
        assert_eq!(hits("corr<0"), [U]);
        assert_eq!(hits("stream:5"), [P]);
        assert_eq!(hits("conn:9"), [U]);
        assert_eq!(hits("stream>=5"), [P, U]);
        // Request or response frame.
        assert_eq!(hits("frame:10"), [F]);
        assert_eq!(hits("frame:12"), [F]);
        assert_eq!(hits("frame:11"), Vec::<usize>::new());
        assert_eq!(hits("frame:230,500"), [P, U]);
        assert_eq!(hits("frame>=41 frame<=200"), [P, J]);
    }

    #[test]
    fn number_errors() {
        assert_eq!(
            err_at("v:x"),
            ("v needs a number, not \"x\": v:3".into(), "x".into())
        );
        assert_eq!(
            err_at("v:99999"),
            ("v must be -32768 to 32767".into(), "99999".into())
        );
        assert_eq!(
            err_at("stream:-1").0,
            "stream must be 0 to 18446744073709551615"
        );
        assert_eq!(
            err_at("corr:1.5").0,
            "corr needs a number, not \"1.5\": corr:42"
        );
        assert_eq!(
            err_at("frame:99999999999999999999999999999999999999999").0,
            "frame needs a number, not \"99999999999999999999999…\": frame:120"
        );
        assert_eq!(
            err_at("v>=3,4"),
            ("a comparison takes one value: v:3".into(), "3,4".into())
        );
        assert_eq!(
            err_at("v!=3"),
            (
                "\"!=\" is not supported: negate the term, -v:…".into(),
                "!=".into()
            )
        );
    }

    #[test]
    fn topics_and_groups() {
        assert_eq!(hits("topic:orders"), [F]);
        assert_eq!(hits("topic:Orders"), [U]); // case-sensitive
        assert_eq!(hits("topic:orders*"), [F]);
        assert_eq!(hits("topic:*dlq"), [F]);
        assert_eq!(hits("topic:o*s"), [F]); // "orders"
        assert_eq!(hits("topic:*r*e*"), [F, U]);
        assert_eq!(hits("topic:*"), [F, P, U]); // J touches no topic
        assert_eq!(hits("topic:order"), Vec::<usize>::new()); // exact without *
        assert_eq!(hits("topic:payments,Orders"), [P, U]);
        assert_eq!(hits("group:billing"), [F]);
        assert_eq!(hits("group:billing*"), [F, U]);
        assert_eq!(hits("group:*ill*"), [F, U, J]);
        assert_eq!(hits("group:*"), [F, U, J]);
        assert_eq!(err_at("group:").0, "group needs a value: group:billing");
    }

    #[test]
    fn glob_edges() {
        let g = |p: &str| Glob::compile(p.chars().map(|c| (c, c == '*')));
        assert!(g("a*a").matches("aa"));
        assert!(!g("a*a").matches("a")); // prefix and suffix may not overlap
        assert!(g("**").matches(""));
        assert!(g("*é*").matches("café"));
        assert!(g("a*b*c").matches("axxbyyc"));
        assert!(!g("a*b*c").matches("axxcyyb"));
        assert!(g("").matches(""));
        assert!(!g("").matches("x"));
        // A quoted star is a literal.
        assert_eq!(hits("topic:\"orders*\""), Vec::<usize>::new());
        let mut s = fetch();
        s.topics = vec!["a*b".into()];
        assert!(Filter::parse("topic:\"a*b\"").unwrap().matches(&s));
        assert!(Filter::parse("topic:a\"*\"b").unwrap().matches(&s));
        s.topics = vec!["axxb".into()];
        assert!(!Filter::parse("topic:\"a*b\"").unwrap().matches(&s));
        assert!(Filter::parse("topic:a*b").unwrap().matches(&s));
    }

    #[test]
    fn client_by_id_or_address() {
        assert_eq!(hits("client:billing"), [F]); // substring, any case
        assert_eq!(hits("client:CONSUMER"), [F]);
        assert_eq!(hits("client:\"my app\""), [P]);
        assert_eq!(hits("client:my"), [P]);
        assert_eq!(hits("client:10.0.0.1"), [F]);
        assert_eq!(hits("client:10.0.0.1:50000"), [F]);
        assert_eq!(hits("client:10.0.0.1:50001"), Vec::<usize>::new());
        assert_eq!(hits("client::40000"), [P]);
        assert_eq!(hits("client:::1"), [P]);
        assert_eq!(hits("client:[::1]"), [P]);
        assert_eq!(hits("client:[::1]:40000"), [P]);
        assert_eq!(hits("client:rdkafka,192.168.1.20"), [U, J]);
        // Quoted: always the client id.
        assert_eq!(hits("client:\"10.0.0.1\""), Vec::<usize>::new());
    }

    #[test]
    fn broker_address() {
        assert_eq!(hits("broker::9092"), [F, U, J]);
        assert_eq!(hits("broker:10.0.0.9"), [F, J]);
        assert_eq!(hits("broker:10.0.0.9:9092"), [F, J]);
        assert_eq!(hits("broker:[::1]:9093"), [P]);
        assert_eq!(hits("broker::9093,192.168.1.2"), [P, U]);
        let mut s = fetch();
        s.broker = "[::ffff:10.0.0.9]:9092".parse().unwrap(); // IPv4-mapped
        assert!(Filter::parse("broker:10.0.0.9").unwrap().matches(&s));
        assert_eq!(
            err_at("broker:kafka1"),
            (
                "broker needs ip[:port] or :port: broker::9092".into(),
                "kafka1".into()
            )
        );
        assert_eq!(err_at("broker::99999").1, ":99999");
        assert_eq!(err_at("broker::+1").1, ":+1");
    }

    #[test]
    fn errors_and_status_flags() {
        assert_eq!(hits("err"), [P, J]);
        assert_eq!(hits("ERR"), [P, J]);
        assert_eq!(hits("ok"), [F]);
        assert_eq!(hits("noresp"), [U]);
        assert_eq!(hits("throttled"), [P]);
        assert_eq!(hits("err:retriable"), [P]);
        assert_eq!(hits("err:retryable"), [P]);
        assert_eq!(hits("err:fatal"), [J]);
        assert_eq!(hits("err:NOT_LEADER_OR_FOLLOWER"), [P]);
        assert_eq!(hits("err:not_leader_or_follower"), [P]);
        assert_eq!(hits("err:NotLeaderForPartition"), [P]); // old name
        assert_eq!(hits("err:NOT_LEADER_FOR_PARTITION"), [P]);
        assert_eq!(hits("err:notleader"), [P]); // unique prefix (name and alias agree)
        assert_eq!(hits("err:6"), [P]);
        assert_eq!(hits("err:15"), [J]);
        assert_eq!(hits("err:group_authorization_failed"), [J]);
        assert_eq!(hits("err:*authorization*"), [J]);
        assert_eq!(hits("err:6,30"), [P, J]);
        assert_eq!(hits("err:fatal,6"), [P, J]);
        assert_eq!(hits("err:-1"), Vec::<usize>::new());
        assert_eq!(hits("err:1000"), Vec::<usize>::new()); // unknown codes are kept
        let mut s = fetch();
        s.throttle = None;
        assert!(!Filter::parse("throttled").unwrap().matches(&s));
        // acks=0: neither answered nor without response.
        s.answered = false;
        s.latency = None;
        assert!(!Filter::parse("ok or noresp or err").unwrap().matches(&s));
    }

    #[test]
    fn error_name_errors() {
        assert_eq!(
            err_at("err:NOT_LEDER_OR_FOLLOWER"),
            (
                "unknown error \"NOT_LEDER_OR_FOLLOWER\": did you mean NOT_LEADER_OR_FOLLOWER?"
                    .into(),
                "NOT_LEDER_OR_FOLLOWER".into()
            )
        );
        assert!(err_at("err:not").0.starts_with("ambiguous error \"not\": "));
        assert_eq!(err_at("err:xyzzy").0, "unknown error \"xyzzy\"");
        assert_eq!(
            err_at("err:0"),
            ("NONE (0) is not an error: use ok".into(), "0".into())
        );
        assert_eq!(err_at("err:none").0, "NONE (0) is not an error: use ok");
        assert_eq!(err_at("err:6,NoError").1, "NoError");
        assert_eq!(err_at("err:zz*").0, "no error matches \"zz*\"");
        assert_eq!(err_at("err:").0, "err needs a value: err:NOT_COORDINATOR");
        assert_eq!(
            err_at("ok:1"),
            ("\"ok\" takes no value".into(), "ok".into())
        );
        assert_eq!(err_at("noresp=x").0, "\"noresp\" takes no value");
    }

    #[test]
    fn latency_units() {
        // F 1.5 ms, P 80 ms, U none, J 200 µs.
        assert_eq!(hits("lat>50ms"), [P]);
        assert_eq!(hits("lat>50"), [P]); // bare number: ms
        assert_eq!(hits("lat>1.5ms"), [P]);
        assert_eq!(hits("lat>=1.5ms"), [F, P]);
        assert_eq!(hits("lat>=1500us"), [F, P]);
        assert_eq!(hits("lat<200us"), Vec::<usize>::new());
        assert_eq!(hits("lat<=200µs"), [J]);
        assert_eq!(hits("lat<=200μs"), [J]); // Greek mu
        assert_eq!(hits("lat<1s"), [F, P, J]); // never the unanswered one
        assert_eq!(hits("lat>0.05s"), [P]);
        assert_eq!(hits("lat>.5ms"), [F, P]);
        assert_eq!(hits("latency>1MS"), [F, P]);
        assert_eq!(hits("-lat<1s"), [U]);
        assert_eq!(
            err_at("lat:50ms"),
            ("lat needs a comparison: lat>50ms".into(), ":".into())
        );
        assert_eq!(
            err_at("lat>5x"),
            (
                "bad latency \"5x\": a number with us, ms or s, like lat>50ms".into(),
                "5x".into()
            )
        );
        for bad in [
            "lat>ms",
            "lat>1.2.3ms",
            "lat>-5",
            "lat>5m",
            "lat>inf",
            "lat>.ms",
        ] {
            let e = error(bad);
            assert!(e.message.starts_with("bad latency"), "{bad}: {e:?}");
        }
        assert_eq!(err_at("lat>").0, "lat needs a value: lat>50ms");
        assert_eq!(
            err_at("lat>1,2").0,
            "a comparison takes one value: lat>50ms"
        );
    }

    #[test]
    fn free_text() {
        assert_eq!(hits("records"), [F]); // summary
        assert_eq!(hits("RECORDS"), [F]);
        assert_eq!(hits("fetch"), [F]); // API name
        assert_eq!(hits("offsetcommit"), [U]);
        assert_eq!(hits("consumer"), [F]); // client id
        assert_eq!(hits("payments"), [P]); // topic
        assert_eq!(hits("billing"), [F, U, J]); // client id, group, summary
        assert_eq!(hits("not_leader"), [P]); // error name
        assert_eq!(hits("→"), [F]); // non-ASCII
        assert_eq!(hits("\"1 batch\""), [P]);
        assert_eq!(hits("1 batch"), [P]); // two terms, both in P's summary
        assert_eq!(hits("\"ok\""), Vec::<usize>::new()); // quoted keyword is text
        assert_eq!(hits("\"api:fetch\""), Vec::<usize>::new());
        assert_eq!(hits("10.0.0.1"), Vec::<usize>::new()); // addresses are not text
        assert_eq!(hits("orders[0]@42"), [F]);
        assert_eq!(hits("a-b"), Vec::<usize>::new());
        assert_eq!(hits("\"\""), [F, P, U, J]);
        // Words that are not `letters op`: text, not keys.
        assert_eq!(hits("m-1"), [J]);
        assert_eq!(hits("wow!"), Vec::<usize>::new());
        let mut s = fetch();
        s.text = "Straße ÉTÉ".into();
        // Lower-casing, not full case folding: ß is not "ss".
        assert!(!Filter::parse("STRASSE").unwrap().matches(&s));
        assert!(Filter::parse("été").unwrap().matches(&s));
        assert!(Filter::parse("straße").unwrap().matches(&s));
        assert!(Filter::parse("É").unwrap().matches(&s));
    }

    #[test]
    fn needle_paths() {
        assert!(Needle::new("ABC").found_in("xxabcxx"));
        assert!(Needle::new("abc").found_in("XXABC"));
        assert!(!Needle::new("abcd").found_in("abc"));
        assert!(Needle::new("").found_in(""));
        assert!(Needle::new("ÄB").found_in("xäbx"));
        assert!(Needle::new("äb").found_in("XÄBX"));
        assert!(!Needle::new("äbc").found_in("ÄB"));
        assert!(Needle::new("é").found_in("café"));
    }

    #[test]
    fn and_or_precedence() {
        assert_eq!(hits("api:Fetch ok"), [F]);
        assert_eq!(hits("api:Fetch err"), Vec::<usize>::new());
        assert_eq!(hits("api:Fetch and ok"), [F]);
        assert_eq!(hits("api:Fetch && ok"), [F]);
        assert_eq!(hits("api:Fetch & ok"), [F]);
        assert_eq!(hits("api:Fetch or err"), [F, P, J]);
        assert_eq!(hits("api:Fetch | err"), [F, P, J]);
        assert_eq!(hits("api:Fetch|err"), [F, P, J]);
        assert_eq!(hits("api:Fetch || err"), [F, P, J]);
        assert_eq!(hits("api:Fetch OR err"), [F, P, J]);
        // AND binds tighter: (noresp) or (err throttled)
        assert_eq!(hits("noresp or err throttled"), [P, U]);
        assert_eq!(hits("err throttled or noresp"), [P, U]);
        // Parentheses change it: (noresp or err) throttled
        assert_eq!(hits("(noresp or err) throttled"), [P]);
        assert_eq!(hits("(api:Fetch or api:Produce) (ok or err:6)"), [F, P]);
        assert_eq!(hits("((((ok))))"), [F]);
        assert_eq!(hits("(ok)(err)"), Vec::<usize>::new());
        assert_eq!(hits("topic:orders*(ok)"), [F]);
        assert_eq!(hits("ok or noresp or err:fatal"), [F, U, J]);
    }

    #[test]
    fn negation() {
        assert_eq!(hits("!err"), [F, U]);
        assert_eq!(hits("-err"), [F, U]);
        assert_eq!(hits("not err"), [F, U]);
        assert_eq!(hits("NOT err"), [F, U]);
        assert_eq!(hits("! err"), [F, U]);
        assert_eq!(hits("!!err"), [P, J]);
        assert_eq!(hits("-!err"), [P, J]);
        assert_eq!(hits("-api:Fetch -api:Produce"), [U, J]);
        assert_eq!(hits("-(api:Fetch or api:Produce)"), [U, J]);
        assert_eq!(hits("!ok or noresp"), [P, U, J]);
        assert_eq!(hits("!(ok or noresp)"), [P, J]);
        assert_eq!(hits("-topic:orders*"), [P, U, J]);
        assert_eq!(hits("-client:\"my app\""), [F, U, J]);
        assert_eq!(hits("billing -group:billing"), [U, J]);
    }

    #[test]
    fn quoting() {
        assert_eq!(hits("client:\"my app\""), [P]);
        assert_eq!(hits("client:my\" \"app"), [P]);
        assert_eq!(hits("\"member m-1\""), [J]);
        let mut s = fetch();
        s.text = "say \"hi\" (a|b) c\\d, e".into();
        for f in [
            "\"say \\\"hi\\\"\"",
            "\"(a|b)\"",
            "\"c\\d\"",
            "\"c\\\\d\"",
            "\"d, e\"",
        ] {
            assert!(Filter::parse(f).unwrap().matches(&s), "{f}");
        }
        // Comma and colon inside quotes are not syntax.
        let mut s = fetch();
        s.client_id = Some("a,b:c".into());
        assert!(Filter::parse("client:\"a,b:c\"").unwrap().matches(&s));
        assert!(!Filter::parse("client:\"a,x\"").unwrap().matches(&s));
        assert_eq!(
            err_at("client:\"my app"),
            ("unclosed quote: add a closing \"".into(), "\"my app".into())
        );
        assert_eq!(err_at("\"").1, "\"");
        assert_eq!(err_at("\"\\\"").1, "\"\\\"");
    }

    #[test]
    fn structure_errors() {
        assert_eq!(
            err_at("(ok"),
            ("unclosed \"(\": add a \")\"".into(), "(".into())
        );
        assert_eq!(
            err_at("(ok or (err)"),
            ("unclosed \"(\": add a \")\"".into(), "(".into())
        );
        assert_eq!(error("(ok or (err)").at, 0);
        assert_eq!(err_at("ok)"), ("unmatched \")\"".into(), ")".into()));
        assert_eq!(err_at(") ok"), ("unmatched \")\"".into(), ")".into()));
        assert_eq!(err_at("(ok))").1, ")");
        assert_eq!(error("(ok))").at, 4);
        assert_eq!(
            err_at("()"),
            ("empty \"()\": put a term inside".into(), "()".into())
        );
        assert_eq!(err_at("( )").1, "( )");
        assert_eq!(err_at("(").0, "unclosed \"(\": add a \")\"");
        assert_eq!(
            err_at("ok or"),
            ("\"or\" needs a term after it".into(), "or".into())
        );
        assert_eq!(
            err_at("ok |"),
            ("\"|\" needs a term after it".into(), "|".into())
        );
        assert_eq!(err_at("ok || )").1, "||");
        assert_eq!(
            err_at("or ok"),
            ("\"or\" needs a term before it".into(), "or".into())
        );
        assert_eq!(err_at("(| ok)").0, "\"|\" needs a term before it");
        assert_eq!(err_at("ok or or err").0, "\"or\" needs a term after it");
        assert_eq!(err_at("and ok").0, "\"and\" needs a term before it");
        assert_eq!(err_at("ok &&").0, "\"&&\" needs a term after it");
        assert_eq!(err_at("ok and or err").0, "\"and\" needs a term after it");
        assert_eq!(
            err_at("ok !"),
            ("\"!\" needs a term after it".into(), "!".into())
        );
        assert_eq!(err_at("-").0, "\"-\" needs a term after it");
        assert_eq!(err_at("not").0, "\"not\" needs a term after it");
        assert_eq!(err_at("(!)").1, "!");
        // Positions count characters, not bytes.
        let e = error("é → (ok");
        assert_eq!((e.at, e.len), (4, 1));
        let e = error("日本語 zz:1");
        assert_eq!((e.at, e.len), (4, 2));
    }

    #[test]
    fn unknown_keys() {
        assert_eq!(
            err_at("topc:orders"),
            (
                "unknown filter key \"topc\": did you mean topic?".into(),
                "topc".into()
            )
        );
        assert_eq!(
            err_at("grop:x").0,
            "unknown filter key \"grop\": did you mean group?"
        );
        assert_eq!(
            err_at("laten>5").0,
            "unknown filter key \"laten\": did you mean latency?"
        );
        assert_eq!(
            err_at("http://example.com"),
            (
                "unknown filter key \"http\": keys are api, v, topic, group, client, broker, \
                 err, lat, corr, stream, frame; quote text to search it"
                    .into(),
                "http".into()
            )
        );
        // Quoted, or not starting with letters: text.
        assert!(Filter::parse("\"http://example.com\"").is_ok());
        assert!(Filter::parse("127.0.0.1:9092").is_ok());
        assert!(Filter::parse("1>2").is_ok());
    }

    #[test]
    fn limits() {
        let deep = |n: usize| format!("{}ok{}", "(".repeat(n), ")".repeat(n));
        assert_eq!(hits(&deep(MAX_DEPTH)), [F]);
        let e = error(&deep(MAX_DEPTH + 1));
        assert_eq!(e.message, "nested too deeply: at most 32 levels of ( and !");
        assert_eq!((e.at, e.len), (MAX_DEPTH, 1));
        assert_eq!(hits(&format!("{}ok", "!".repeat(MAX_DEPTH))), [F]);
        assert_eq!(
            error(&format!("{}ok", "!".repeat(MAX_DEPTH + 1))).at,
            MAX_DEPTH
        );
        assert_eq!(
            error(&format!("{}ok", "-(".repeat(MAX_DEPTH))).message,
            "nested too deeply: at most 32 levels of ( and !"
        );
        assert!(Filter::parse(&"(".repeat(MAX_CHARS)).is_err());
        let long = "a ".repeat(MAX_CHARS / 2);
        assert!(Filter::parse(&long).is_ok());
        let e = error(&format!("{long}xy"));
        assert_eq!(e.message, "filter too long: at most 2048 characters");
        assert_eq!((e.at, e.len), (MAX_CHARS, 2));
        let e = error(&"é".repeat(100_000));
        assert_eq!((e.at, e.len), (MAX_CHARS, 100_000 - MAX_CHARS));
        // Many terms at the limit parse and match.
        let many = "ok ".repeat(MAX_CHARS / 3);
        assert_eq!(hits(&many), [F]);
        let many = "ok|".repeat(MAX_CHARS / 3 - 1) + "ok";
        assert_eq!(hits(&many), [F]);
    }

    #[test]
    fn messages_truncate_long_input() {
        let name = "x".repeat(500);
        let e = error(&format!("api:{name}"));
        assert!(e.message.chars().count() < 60, "{}", e.message);
        assert_eq!((e.at, e.len), (4, 500));
    }

    #[test]
    fn edit_distance_counts_swaps_once() {
        assert_eq!(edit_distance(b"fetch", b"fetch"), 0);
        assert_eq!(edit_distance(b"fecth", b"fetch"), 1);
        assert_eq!(edit_distance(b"", b"abc"), 3);
        assert_eq!(edit_distance(b"abc", b""), 3);
        assert_eq!(edit_distance(b"kitten", b"sitting"), 3);
    }

    #[test]
    fn help_lists_every_term() {
        let help = terms_help();
        for word in [
            "api:",
            "v:",
            "topic:",
            "group:",
            "client:",
            "broker:",
            "err",
            "err:",
            "ok",
            "noresp",
            "throttled",
            "lat>",
            "corr:",
            "stream:",
            "frame:",
            " or ",
            "-a",
            "(",
        ] {
            assert!(help.iter().any(|(t, _)| t.contains(word)), "{word}");
        }
        // Every example that is a single term parses.
        for (t, _) in help {
            assert!(Filter::parse(t).is_ok(), "{t}");
        }
    }

    /// A small deterministic generator (xorshift), for the property tests.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
            &v[(self.next() % v.len() as u64) as usize]
        }
    }

    #[test]
    fn odd_input_never_panics() {
        const BITS: &[&str] = &[
            "api:",
            "v",
            ">",
            ">=",
            "<",
            "=",
            "==",
            "!=",
            ":",
            "::",
            "topic:",
            "group:",
            "client:",
            "broker:",
            "err",
            "err:",
            "lat>",
            "lat<",
            "corr:",
            "stream:",
            "frame:",
            "ok",
            "noresp",
            "throttled",
            "or",
            "and",
            "not",
            "|",
            "||",
            "&",
            "!",
            "-",
            "(",
            ")",
            "\"",
            "\\",
            ",",
            "*",
            " ",
            " ",
            "\t",
            "fetch",
            "offsetc",
            "1",
            "-1",
            "50ms",
            "1.5",
            "us",
            "µs",
            "s",
            "é",
            "日本",
            "🦀",
            "\u{0}",
            "\u{202e}",
            "\u{200b}",
            "[::1]",
            "10.0.0.1",
            ":9092",
            "9999999999999999999999",
            "İ",
            "ß",
            "K",
            "\u{ffff}",
            "x",
        ];
        let subjects = all();
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for round in 0..20_000 {
            let n = 1 + rng.next() % 12;
            let s: String = (0..n).map(|_| *rng.pick(BITS)).collect();
            match Filter::parse(&s) {
                Ok(f) => {
                    for x in &subjects {
                        f.matches(x);
                    }
                }
                Err(e) => {
                    let chars = s.chars().count();
                    assert!(e.at + e.len <= chars, "{round} {s:?}: {e:?}");
                    assert!(!e.message.is_empty());
                }
            }
        }
        // Random code points, not just the pieces above.
        for _ in 0..5_000 {
            let n = rng.next() % 40;
            let s: String = (0..n)
                .filter_map(|_| {
                    let c = if rng.next().is_multiple_of(3) {
                        (rng.next() % 0x11_0000) as u32
                    } else {
                        (0x20 + rng.next() % 0x60) as u32
                    };
                    char::from_u32(c)
                })
                .collect();
            if let Err(e) = Filter::parse(&s) {
                assert!(e.at + e.len <= s.chars().count(), "{s:?}: {e:?}");
            }
        }
    }

    #[test]
    fn matches_many_quickly() {
        // 100,000 subjects against a filter using every kind of term.
        let f = Filter::parse(
            "(api:Fetch,Produce v>=9 topic:ord* group:bill* client:billing broker::9092 \
             -err lat>1ms corr>=0 stream:2 frame:10 records) or err:retriable or noresp",
        )
        .unwrap();
        let subjects = all();
        let n = (0..100_000)
            .filter(|i| f.matches(&subjects[i % subjects.len()]))
            .count();
        assert_eq!(n, 75_000);
    }
}
