//! kwire-gen: writes `src/kafka/schema/generated.rs`, kwire's decoding tables
//! for every Kafka message, from Apache Kafka's own JSON message definitions.
//!
//! Two registry packages ship those definitions: `tansu-sans-io` 0.6
//! (`message/`, Kafka 3.9: the old versions) and `kafka_client` 0.8
//! (`protocol-definitions/`, Kafka 4.2/4.3: the newest). Cargo downloads them
//! because this crate lists them (never compiled); `cargo metadata` says where
//! they are. For each message and each version, the definition comes from
//! `kafka_client` when it defines that version, else from `tansu-sans-io`;
//! where both define a version their wire layouts are compared and any
//! disagreement is written into the generated file's header and to stderr.
//!
//! It also writes `src/kafka/schema/views.rs` ([`views`]): typed zero-copy
//! views over every message's bodies, and the `ApiKey` constants.
//!
//! Usage: `cargo run --manifest-path gen/Cargo.toml -- [DIR]` writes
//! `generated.rs` and `views.rs` into DIR (default: `src/kafka/schema`
//! beside `gen/`). The output depends only on the two packages' JSON files:
//! the same inputs give the same bytes.

mod views;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value as J;

/// A version range `lo..=hi`; empty when `lo > hi`. `hi == i16::MAX` is "N+".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Vers {
    lo: i16,
    hi: i16,
}

const NONE: Vers = Vers { lo: 0, hi: -1 };
const OPEN: i16 = i16::MAX;

impl Vers {
    fn contains(self, v: i16) -> bool {
        self.lo <= v && v <= self.hi
    }
    fn is_empty(self) -> bool {
        self.lo > self.hi
    }
    fn parse(s: &str) -> Vers {
        let s = s.trim();
        if s == "none" {
            return NONE;
        }
        if let Some(lo) = s.strip_suffix('+') {
            return Vers {
                lo: lo.parse().expect("version"),
                hi: OPEN,
            };
        }
        if let Some((lo, hi)) = s.split_once('-') {
            return Vers {
                lo: lo.parse().expect("version"),
                hi: hi.parse().expect("version"),
            };
        }
        let v = s
            .parse()
            .unwrap_or_else(|_| panic!("bad version spec {s:?}"));
        Vers { lo: v, hi: v }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Prim {
    Bool,
    Int8,
    Int16,
    Uint16,
    Int32,
    Uint32,
    Int64,
    Float64,
    Str,
    Bytes,
    Uuid,
    Records,
    Struct,
}

impl Prim {
    fn parse(s: &str) -> Option<Prim> {
        Some(match s {
            "bool" => Prim::Bool,
            "int8" => Prim::Int8,
            "int16" => Prim::Int16,
            "uint16" => Prim::Uint16,
            "int32" => Prim::Int32,
            "uint32" => Prim::Uint32,
            "int64" => Prim::Int64,
            "float64" => Prim::Float64,
            "string" => Prim::Str,
            "bytes" => Prim::Bytes,
            "uuid" => Prim::Uuid,
            "records" => Prim::Records,
            _ => return None,
        })
    }
    /// The constant's name in `spec.rs`.
    fn konst(self) -> &'static str {
        match self {
            Prim::Bool => "BOOL",
            Prim::Int8 => "I8",
            Prim::Int16 => "I16",
            Prim::Uint16 => "U16",
            Prim::Int32 => "I32",
            Prim::Uint32 => "U32",
            Prim::Int64 => "I64",
            Prim::Float64 => "F64",
            Prim::Str => "STR",
            Prim::Bytes => "BYTES",
            Prim::Uuid => "UUID",
            Prim::Records => "RECORDS",
            Prim::Struct => "STRUCT",
        }
    }
}

#[derive(Clone, Debug)]
struct Field {
    /// Kafka's name, as in the JSON (`TopicData`).
    name: String,
    prim: Prim,
    array: bool,
    versions: Vers,
    nullable: Vers,
    tagged: Vers,
    tag: u32,
    /// Field-level `"flexibleVersions": "none"` (RequestHeader's ClientId).
    never_compact: bool,
    fields: Vec<Field>,
    /// For structs: Kafka's struct type name (`JoinGroupRequestProtocol`).
    struct_name: String,
    /// Kafka's one-line description (`"about"`), if any.
    about: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Src {
    Tansu,
    KafkaClient,
}

#[derive(Clone, Debug)]
struct Msg {
    name: String,
    api_key: Option<i16>,
    kind: String,
    valid: Vers,
    flexible: Vers,
    deprecated: Vers,
    fields: Vec<Field>,
    src: Src,
    file: String,
}

/// Remove `//` comments (outside strings) from Kafka's commented JSON.
fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_str = false;
    let mut escaped = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if in_str {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_str = false;
            }
        } else if c == '/' && chars.peek() == Some(&'/') {
            for c in chars.by_ref() {
                if c == '\n' {
                    out.push('\n');
                    break;
                }
            }
        } else {
            if c == '"' {
                in_str = true;
            }
            out.push(c);
        }
    }
    out
}

const FIELD_KEYS: &[&str] = &[
    "name",
    "type",
    "versions",
    "about",
    "fields",
    "default",
    "entityType",
    "ignorable",
    "nullableVersions",
    "mapKey",
    "taggedVersions",
    "tag",
    "zeroCopy",
    "flexibleVersions",
];

const MESSAGE_KEYS: &[&str] = &[
    "type",
    "name",
    "validVersions",
    "flexibleVersions",
    "fields",
    "apiKey",
    "listeners",
    "commonStructs",
    "deprecatedVersions",
    "latestVersionUnstable",
];

fn str_of<'a>(j: &'a J, key: &str, ctx: &str) -> &'a str {
    j.get(key)
        .and_then(J::as_str)
        .unwrap_or_else(|| panic!("{ctx}: missing string {key:?}"))
}

fn parse_fields(arr: Option<&J>, common: &HashMap<String, J>, ctx: &str) -> Vec<Field> {
    let Some(arr) = arr else { return Vec::new() };
    let arr = arr.as_array().unwrap_or_else(|| panic!("{ctx}: fields"));
    arr.iter().map(|f| parse_field(f, common, ctx)).collect()
}

fn parse_field(f: &J, common: &HashMap<String, J>, ctx: &str) -> Field {
    let name = str_of(f, "name", ctx).to_string();
    let ctx = format!("{ctx}.{name}");
    for k in f.as_object().expect("field object").keys() {
        assert!(
            FIELD_KEYS.contains(&k.as_str()),
            "{ctx}: unknown key {k:?} (teach the generator)"
        );
    }
    let ty = str_of(f, "type", &ctx);
    let (array, elem) = match ty.strip_prefix("[]") {
        Some(e) => (true, e),
        None => (false, ty),
    };
    let (prim, fields, struct_name) = match Prim::parse(elem) {
        Some(p) => {
            assert!(f.get("fields").is_none(), "{ctx}: primitive with fields");
            (p, Vec::new(), String::new())
        }
        None => {
            let fields = if f.get("fields").is_some() {
                parse_fields(f.get("fields"), common, &ctx)
            } else {
                let s = common
                    .get(elem)
                    .unwrap_or_else(|| panic!("{ctx}: unknown struct type {elem:?}"));
                parse_fields(s.get("fields"), common, &ctx)
            };
            (Prim::Struct, fields, elem.to_string())
        }
    };
    let vers = |k: &str| f.get(k).and_then(J::as_str).map_or(NONE, Vers::parse);
    let versions = vers("versions");
    assert!(!versions.is_empty(), "{ctx}: no versions");
    let tagged = vers("taggedVersions");
    let tag = match f.get("tag") {
        // One definition writes the tag as a string ("0").
        Some(t) => t
            .as_u64()
            .or_else(|| t.as_str().and_then(|s| s.parse().ok()))
            .unwrap_or_else(|| panic!("{ctx}: tag")) as u32,
        None => 0,
    };
    assert_eq!(f.get("tag").is_some(), !tagged.is_empty(), "{ctx}: tag");
    let never_compact = match f.get("flexibleVersions").and_then(J::as_str) {
        None => false,
        Some("none") => true,
        Some(other) => panic!("{ctx}: field flexibleVersions {other:?} not supported"),
    };
    Field {
        name,
        prim,
        array,
        versions,
        nullable: vers("nullableVersions"),
        tagged,
        tag,
        never_compact,
        fields,
        struct_name,
        about: f
            .get("about")
            .and_then(J::as_str)
            .unwrap_or_default()
            .to_string(),
    }
}

fn load_dir(dir: &Path, src: Src) -> Vec<Msg> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for p in files {
        let file = p.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&p).unwrap();
        let j: J = serde_json::from_str(&strip_comments(&text))
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        for k in j.as_object().expect("message object").keys() {
            assert!(
                MESSAGE_KEYS.contains(&k.as_str()),
                "{file}: unknown key {k:?} (teach the generator)"
            );
        }
        let name = str_of(&j, "name", &file).to_string();
        let mut common = HashMap::new();
        if let Some(cs) = j.get("commonStructs").and_then(J::as_array) {
            for s in cs {
                common.insert(str_of(s, "name", &file).to_string(), s.clone());
            }
        }
        let vers = |k: &str| j.get(k).and_then(J::as_str).map_or(NONE, Vers::parse);
        out.push(Msg {
            api_key: j.get("apiKey").map(|k| k.as_i64().expect("apiKey") as i16),
            kind: str_of(&j, "type", &file).to_string(),
            valid: vers("validVersions"),
            flexible: vers("flexibleVersions"),
            deprecated: vers("deprecatedVersions"),
            fields: parse_fields(j.get("fields"), &common, &name),
            src,
            file,
            name,
        });
    }
    out
}

/// Where cargo unpacked the two packages that ship the JSON definitions.
fn locate_sources(gen_dir: &Path) -> (PathBuf, PathBuf) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--manifest-path"])
        .arg(gen_dir.join("Cargo.toml"))
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: J = serde_json::from_slice(&out.stdout).expect("metadata JSON");
    let find = |name: &str, major_minor: &str| -> PathBuf {
        let pkg = meta["packages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| {
                p["name"] == name
                    && p["version"]
                        .as_str()
                        .is_some_and(|v| v.starts_with(major_minor))
            })
            .unwrap_or_else(|| panic!("package {name} {major_minor} not in cargo metadata"));
        PathBuf::from(pkg["manifest_path"].as_str().unwrap())
            .parent()
            .unwrap()
            .to_path_buf()
    };
    (
        find("tansu-sans-io", "0.6.").join("message"),
        find("kafka_client", "0.8.").join("protocol-definitions"),
    )
}

/// Kafka's name with the first letter lower-cased, as the broker's request
/// log (and kwire's JSON) writes it.
fn camel(name: &str) -> String {
    let mut c = name.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// The wire layout of a field list at one version, for comparing sources.
/// Names are kept apart so that a rename is told from a wire change.
fn shape(fields: &[Field], v: i16, flexible: bool, wire: &mut String, names: &mut String) {
    for f in fields.iter().filter(|f| f.versions.contains(v)) {
        let tagged = f.tagged.contains(v);
        let compact = flexible && !f.never_compact;
        let _ = write!(
            wire,
            "{:?}{}{}{}{}",
            f.prim,
            if f.array { "[]" } else { "" },
            if f.nullable.contains(v) { "?" } else { "" },
            if tagged {
                format!("@{}", f.tag)
            } else {
                String::new()
            },
            if compact { "c" } else { "" },
        );
        let _ = write!(names, "{} ", f.name);
        if f.prim == Prim::Struct {
            wire.push('{');
            names.push('{');
            shape(&f.fields, v, flexible, wire, names);
            wire.push('}');
            names.push('}');
        }
        wire.push(',');
    }
}

fn shape_of(m: &Msg, v: i16) -> (String, String) {
    let (mut w, mut n) = (String::new(), String::new());
    let flexible = m.flexible.contains(v);
    w.push_str(if flexible { "flex:" } else { "fixed:" });
    shape(&m.fields, v, flexible, &mut w, &mut n);
    (w, n)
}

/// The fields of a message at one version as `path: type` lines, to say
/// how two definitions differ.
fn flat(fields: &[Field], v: i16, prefix: &str, out: &mut Vec<String>) {
    for f in fields.iter().filter(|f| f.versions.contains(v)) {
        let path = format!("{prefix}{}", camel(&f.name));
        out.push(format!(
            "{path}: {}{:?}{}{}",
            if f.array { "[]" } else { "" },
            f.prim,
            if f.nullable.contains(v) { "?" } else { "" },
            if f.tagged.contains(v) {
                format!(" tag {}", f.tag)
            } else {
                String::new()
            },
        ));
        if f.prim == Prim::Struct {
            let sub = if f.array {
                format!("{path}[].")
            } else {
                format!("{path}.")
            };
            flat(&f.fields, v, &sub, out);
        }
    }
}

/// What kafka_client's definition has that tansu-sans-io's lacks at `v`,
/// and the reverse.
fn describe_difference(k: &Msg, t: &Msg, v: i16) -> String {
    let (mut kf, mut tf) = (Vec::new(), Vec::new());
    flat(&k.fields, v, "", &mut kf);
    flat(&t.fields, v, "", &mut tf);
    let only = |a: &[String], b: &[String]| {
        a.iter()
            .filter(|x| !b.contains(x))
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "kafka_client has {{{}}} where tansu-sans-io has {{{}}}",
        only(&kf, &tf),
        only(&tf, &kf)
    )
}

/// One contiguous version range of a merged message, decoded by one tree.
struct Seg<'a> {
    lo: i16,
    hi: i16,
    msg: &'a Msg,
}

struct Merged<'a> {
    name: String,
    api_key: Option<i16>,
    kind: String,
    segs: Vec<Seg<'a>>,
    /// Versions deprecated by the source that defines them (Kafka 4
    /// dropped some that Kafka 3.9 deprecated: Produce 0-2).
    deprecated: Vers,
}

/// Merge the two sources' definitions of one message, version by version,
/// recording disagreements in `notes`.
fn merge<'a>(k: Option<&'a Msg>, t: Option<&'a Msg>, notes: &mut Vec<String>) -> Merged<'a> {
    let primary = k.or(t).unwrap();
    let mut versions = BTreeSet::new();
    for m in [k, t].into_iter().flatten() {
        for v in m.valid.lo..=m.valid.hi {
            versions.insert(v);
        }
    }
    if let (Some(k), Some(t)) = (k, t) {
        if k.name != t.name {
            notes.push(format!(
                "{} (kafka_client) is {} in tansu-sans-io",
                k.name, t.name
            ));
        }
        // Group the versions both define by how they differ.
        let mut differ: BTreeMap<String, Vec<i16>> = BTreeMap::new();
        for v in versions.iter().copied() {
            if k.valid.contains(v) && t.valid.contains(v) {
                let (kw, kn) = shape_of(k, v);
                let (tw, tn) = shape_of(t, v);
                let what = if kw != tw {
                    "wire layout"
                } else if kn != tn {
                    "field names only"
                } else {
                    continue;
                };
                let key = format!("{what}: {}", describe_difference(k, t, v));
                differ.entry(key).or_default().push(v);
            }
        }
        for (what, vs) in differ {
            let vs: Vec<String> = vs.iter().map(|v| format!("v{v}")).collect();
            notes.push(format!(
                "{} {} differ in {what}; kafka_client's used",
                k.name,
                vs.join(", ")
            ));
        }
    }
    let mut deprecated: Vec<i16> = Vec::new();
    for &v in &versions {
        let definer = match (k, t) {
            (Some(k), _) if k.valid.contains(v) => k,
            (_, Some(t)) => t,
            (Some(k), None) => k,
            (None, None) => unreachable!(),
        };
        if definer.deprecated.contains(v) {
            deprecated.push(v);
        }
    }
    let deprecated = match (deprecated.first(), deprecated.last()) {
        (Some(&lo), Some(&hi)) => {
            assert_eq!(
                deprecated.len() as i16,
                hi - lo + 1,
                "{}: deprecated versions not contiguous",
                primary.name
            );
            Vers { lo, hi }
        }
        _ => NONE,
    };
    // Choose a tree per version: kafka_client's where it defines the
    // version; else tansu-sans-io's, unless kafka_client's field versions
    // describe that old version identically (then one tree serves both).
    let mut segs: Vec<Seg> = Vec::new();
    for v in versions {
        let msg = match (k, t) {
            (Some(k), _) if k.valid.contains(v) => k,
            (Some(k), Some(t)) => {
                if shape_of(k, v) == shape_of(t, v) {
                    k
                } else {
                    t
                }
            }
            (None, Some(t)) => t,
            (Some(k), None) => k,
            (None, None) => unreachable!(),
        };
        match segs.last_mut() {
            Some(s) if s.hi + 1 == v && std::ptr::eq(s.msg, msg) => s.hi = v,
            _ => segs.push(Seg { lo: v, hi: v, msg }),
        }
    }
    Merged {
        name: primary.name.clone(),
        api_key: primary.api_key,
        kind: primary.kind.clone(),
        segs,
        deprecated,
    }
}

/// The flat field table, with identical field runs shared.
#[derive(Default)]
struct Table {
    rows: Vec<String>,
    runs: HashMap<Vec<String>, (usize, usize)>,
}

impl Table {
    /// Emit a struct's fields (children first); returns (first, len).
    fn add(&mut self, fields: &[Field]) -> (usize, usize) {
        let mut rows = Vec::with_capacity(fields.len());
        for f in fields {
            let mut r = format!(
                "s({:?}, {}, {}, {})",
                camel(&f.name),
                f.prim.konst(),
                f.versions.lo,
                hi(f.versions.hi)
            );
            if f.array {
                r.push_str(".arr()");
            }
            if !f.nullable.is_empty() {
                let _ = write!(r, ".null({}, {})", f.nullable.lo, hi(f.nullable.hi));
            }
            if !f.tagged.is_empty() {
                let _ = write!(r, ".tag({}, {}, {})", f.tag, f.tagged.lo, hi(f.tagged.hi));
            }
            if f.never_compact {
                r.push_str(".never_compact()");
            }
            if f.prim == Prim::Struct {
                let (first, len) = self.add(&f.fields);
                let _ = write!(r, ".kids({first}, {len})");
            }
            rows.push(r);
        }
        if rows.is_empty() {
            return (0, 0);
        }
        if let Some(&run) = self.runs.get(&rows) {
            return run;
        }
        let run = (self.rows.len(), rows.len());
        self.rows.extend(rows.iter().cloned());
        self.runs.insert(rows, run);
        run
    }
}

fn hi(h: i16) -> String {
    if h == OPEN { "M".into() } else { h.to_string() }
}

fn vers_lit(v: Vers) -> String {
    if v.is_empty() {
        "NO".into()
    } else {
        format!("V({}, {})", v.lo, hi(v.hi))
    }
}

fn kind_of(kind: &str) -> &'static str {
    match kind {
        "request" => "Request",
        "response" => "Response",
        "header" => "Header",
        "data" => "Data",
        other => panic!("unknown message type {other:?}"),
    }
}

fn main() {
    let gen_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let out_dir = std::env::args_os()
        .nth(1)
        .map_or_else(|| gen_dir.join("../src/kafka/schema"), PathBuf::from);
    let out_path = out_dir.join("generated.rs");
    let views_path = out_dir.join("views.rs");
    let (tansu_dir, kc_dir) = locate_sources(&gen_dir);
    let tansu = load_dir(&tansu_dir, Src::Tansu);
    let kc = load_dir(&kc_dir, Src::KafkaClient);

    // Group by identity: (type, api key) for requests and responses, the
    // name for headers and data messages.
    let key = |m: &Msg| match m.api_key {
        Some(k) if m.kind == "request" || m.kind == "response" => format!("{}:{k:03}", m.kind),
        _ => format!("{}:{}", m.kind, m.name),
    };
    let mut groups: BTreeMap<String, (Option<&Msg>, Option<&Msg>)> = BTreeMap::new();
    for m in &kc {
        let g = groups.entry(key(m)).or_default();
        assert!(g.0.is_none(), "duplicate {}", m.file);
        g.0 = Some(m);
    }
    for m in &tansu {
        let g = groups.entry(key(m)).or_default();
        assert!(g.1.is_none(), "duplicate {}", m.file);
        g.1 = Some(m);
    }

    let mut notes = Vec::new();
    let merged: Vec<Merged> = groups
        .values()
        .map(|(k, t)| merge(*k, *t, &mut notes))
        .collect();

    // Order: requests and responses by api key, then headers, then data.
    let mut order: Vec<&Merged> = merged.iter().collect();
    let rank = |m: &Merged| match m.kind.as_str() {
        "request" | "response" => 0,
        "header" => 1,
        _ => 2,
    };
    order.sort_by(|a, b| {
        (rank(a), a.api_key, a.kind.as_str(), a.name.as_str()).cmp(&(
            rank(b),
            b.api_key,
            b.kind.as_str(),
            b.name.as_str(),
        ))
    });

    let mut table = Table::default();
    let mut messages = String::new();
    let max_key = order.iter().filter_map(|m| m.api_key).max().unwrap_or(0);
    let mut req_idx = vec![u16::MAX; max_key as usize + 1];
    let mut resp_idx = vec![u16::MAX; max_key as usize + 1];
    let mut api_rows = BTreeMap::new();
    for (i, m) in order.iter().enumerate() {
        let lo = m.segs.first().unwrap().lo;
        let hi_v = m.segs.last().unwrap().hi;
        let mut segs = String::new();
        for s in &m.segs {
            let (first, len) = table.add(&s.msg.fields);
            let src = match s.msg.src {
                Src::Tansu => "Tansu",
                Src::KafkaClient => "KafkaClient",
            };
            let _ = write!(
                segs,
                "seg({}, {}, {}, {first}, {len}, {src}), ",
                s.lo,
                s.hi,
                vers_lit(s.msg.flexible),
            );
        }
        let _ = writeln!(
            messages,
            "    msg({:?}, {}, {}, {lo}, {hi_v}, {}, &[{}]),",
            m.name,
            m.api_key.unwrap_or(-1),
            kind_of(&m.kind),
            vers_lit(m.deprecated),
            segs.trim_end_matches(", ")
        );
        if let Some(k) = m.api_key {
            match m.kind.as_str() {
                "request" => {
                    req_idx[k as usize] = i as u16;
                    // The header needs the first flexible version of the
                    // request, over the union of the sources.
                    let flex = m
                        .segs
                        .iter()
                        .filter_map(|s| {
                            let f = s.msg.flexible;
                            (!f.is_empty() && f.lo <= s.hi).then_some(f.lo.max(s.lo))
                        })
                        .min()
                        .unwrap_or(-1);
                    let name = m.name.strip_suffix("Request").unwrap().to_string();
                    api_rows.insert(k, (name, lo, hi_v, flex));
                }
                "response" => resp_idx[k as usize] = i as u16,
                _ => {}
            }
        }
    }

    let mut out = String::new();
    out.push_str(
        "// @generated by kwire-gen (gen/): do not edit. Regenerate with\n\
         // `cargo run --manifest-path gen/Cargo.toml`; CI checks it with\n\
         // `scripts/check-generated`.\n//\n\
         // Sources: tansu-sans-io 0.6 `message/` (Kafka 3.9) and kafka_client 0.8\n\
         // `protocol-definitions/` (Kafka 4.2/4.3); kafka_client's definition is\n\
         // used for every version it defines.\n",
    );
    if notes.is_empty() {
        out.push_str("//\n// The sources agree on every version both define.\n");
    } else {
        out.push_str("//\n// Differences between the sources, for versions both define:\n");
        for n in &notes {
            let _ = writeln!(out, "// - {n}");
        }
    }
    out.push_str("\nuse super::spec::*;\nuse crate::kafka::api::ApiInfo;\n\n");
    let _ = writeln!(
        out,
        "/// Every field of every message, struct by struct: a struct is a run\n\
         /// `first..first + len` of this table (runs are shared when identical).\n\
         pub static FIELDS: [FieldSpec; {}] = [",
        table.rows.len()
    );
    for (i, r) in table.rows.iter().enumerate() {
        let _ = writeln!(out, "    {r}, // {i}");
    }
    out.push_str("];\n\n");
    let _ = writeln!(
        out,
        "/// Every message: requests and responses by api key, then headers and\n\
         /// data messages.\n\
         pub static MESSAGES: [MessageSpec; {}] = [",
        order.len()
    );
    out.push_str(&messages);
    out.push_str("];\n\n");
    let idx = |v: &[u16]| {
        v.iter()
            .map(|i| {
                if *i == u16::MAX {
                    "X".into()
                } else {
                    i.to_string()
                }
            })
            .collect::<Vec<_>>()
            .chunks(16)
            .map(|c| format!("    {},\n", c.join(", ")))
            .collect::<String>()
    };
    let _ = write!(
        out,
        "/// Index into [`MESSAGES`] of each api key's request (`X`: none).\n\
         pub static REQUEST_BY_KEY: [u16; {n}] = [\n{}];\n\n\
         /// Index into [`MESSAGES`] of each api key's response (`X`: none).\n\
         pub static RESPONSE_BY_KEY: [u16; {n}] = [\n{}];\n\n",
        idx(&req_idx),
        idx(&resp_idx),
        n = req_idx.len()
    );
    let _ = writeln!(
        out,
        "/// The API table as the message definitions give it: per api key, the\n\
         /// name, the lowest and highest version over both sources and the first\n\
         /// flexible version (-1: none).\n\
         pub static API_TABLE: [ApiInfo; {}] = [",
        api_rows.len()
    );
    for (k, (name, lo, hi_v, flex)) in &api_rows {
        let _ = writeln!(
            out,
            "    ApiInfo {{ key: {k}, name: {name:?}, min_version: {lo}, max_version: {hi_v}, flexible_from: {flex} }},"
        );
    }
    out.push_str("];\n");

    for n in &notes {
        eprintln!("note: {n}");
    }
    eprintln!(
        "{} messages, {} field rows -> {}",
        order.len(),
        table.rows.len(),
        out_path.display()
    );
    std::fs::write(&out_path, out).unwrap_or_else(|e| panic!("{}: {e}", out_path.display()));

    let views = views::write(&order, true);
    eprintln!("{} bytes -> {}", views.len(), views_path.display());
    std::fs::write(&views_path, views).unwrap_or_else(|e| panic!("{}: {e}", views_path.display()));
}
