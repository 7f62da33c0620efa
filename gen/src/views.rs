//! Writes `src/kafka/schema/views.rs`: typed zero-copy views over message
//! bodies, one module per message, one newtype over `StructView` per Kafka
//! struct type, one accessor per field over the union of the message's
//! versions (both sources' definitions, where both are used), and the
//! `ApiKey` constants.
//!
//! The accessors name fields by their JSON names (`"memberId"`): this file
//! and the JSON writer are the only places such strings live.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;

use crate::{Field, Merged, Msg, OPEN, Prim, camel};

/// Names the generated modules import or the prelude gives: a Kafka struct
/// type called so gets a suffix.
const RESERVED_TYPES: &[&str] = &[
    "ApiKey",
    "Array",
    "ArrayView",
    "Element",
    "Elements",
    "MessageKind",
    "Range",
    "StructView",
    "Option",
    "Some",
    "None",
    "Result",
    "Ok",
    "Err",
    "Self",
    "Iterator",
    "String",
    "Vec",
];

/// Rust keywords (2024 edition, reserved ones included): a field called so
/// is a raw identifier (`r#type`).
const KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "do", "dyn",
    "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl", "in", "let",
    "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref", "return",
    "static", "struct", "trait", "true", "try", "type", "typeof", "unsafe", "unsized", "use",
    "virtual", "where", "while", "yield",
];

/// `JoinGroupRequest` → `join_group_request`; `isKRaftController` →
/// `is_kraft_controller`.
pub fn snake(name: &str) -> String {
    let name = name.replace("KRaft", "Kraft");
    let cs: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(cs.len() + 4);
    for (i, &c) in cs.iter().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            let prev = cs[i - 1];
            let next_lower = cs.get(i + 1).is_some_and(char::is_ascii_lowercase);
            if prev.is_ascii_lowercase()
                || prev.is_ascii_digit()
                || (prev.is_ascii_uppercase() && next_lower)
            {
                out.push('_');
            }
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

fn ident(snake: &str) -> String {
    assert!(
        !["self", "super", "crate", "Self"].contains(&snake),
        "field name {snake:?} cannot be an identifier"
    );
    if KEYWORDS.contains(&snake) {
        format!("r#{snake}")
    } else {
        snake.to_string()
    }
}

/// The `ApiKey` constant of a request or response (`JOIN_GROUP`).
fn api_const(m: &Merged) -> String {
    let name = m.name.strip_suffix("Request");
    let name = name.or_else(|| m.name.strip_suffix("Response")).unwrap();
    snake(name).to_uppercase()
}

/// One field of a struct type, over all the versions of the message.
struct VField {
    /// The JSON name (`memberId`): what the accessor passes to `StructView`.
    json: String,
    prim: Prim,
    array: bool,
    /// For structs: the index of the struct type.
    sub: Option<usize>,
    /// The message versions the field is in (those a segment decodes with
    /// a definition that has it).
    present: BTreeSet<i16>,
    nullable: BTreeSet<i16>,
    tagged: BTreeSet<i16>,
    /// Some definition says `"N+"`.
    open: bool,
    about: String,
}

struct VStruct {
    /// Kafka's struct type name (the message's name for the message).
    kafka: String,
    /// The Rust type name.
    rust: String,
    /// Where the struct is used (`topics[].partitions[]`).
    paths: Vec<String>,
    /// Some field holds an array of it.
    in_array: bool,
    fields: Vec<VField>,
}

struct VMsg<'a> {
    m: &'a Merged<'a>,
    max: i16,
    structs: Vec<VStruct>,
}

fn build<'a>(m: &'a Merged<'a>) -> VMsg<'a> {
    let mut v = VMsg {
        m,
        max: m.segs.last().unwrap().hi,
        structs: vec![VStruct {
            kafka: m.name.clone(),
            rust: m.name.clone(),
            paths: Vec::new(),
            in_array: false,
            fields: Vec::new(),
        }],
    };
    // The definitions the segments use, kafka_client's first, each with
    // the versions it decodes.
    let mut defs: Vec<(&Msg, BTreeSet<i16>)> = Vec::new();
    for s in &m.segs {
        let i = match defs.iter().position(|(d, _)| std::ptr::eq(*d, s.msg)) {
            Some(i) => i,
            None => {
                defs.push((s.msg, BTreeSet::new()));
                defs.len() - 1
            }
        };
        defs[i].1.extend(s.lo..=s.hi);
    }
    defs.sort_by_key(|(d, _)| std::cmp::Reverse(d.src));
    let mut by_name = HashMap::new();
    for (d, vs) in &defs {
        add_fields(&mut v.structs, &mut by_name, 0, &d.fields, vs, "");
    }
    v
}

fn add_fields(
    structs: &mut Vec<VStruct>,
    by_name: &mut HashMap<String, usize>,
    si: usize,
    fields: &[Field],
    vs: &BTreeSet<i16>,
    path: &str,
) {
    for f in fields {
        let present: BTreeSet<i16> = vs
            .iter()
            .copied()
            .filter(|&v| f.versions.contains(v))
            .collect();
        if present.is_empty() {
            continue;
        }
        let json = camel(&f.name);
        let at = structs[si].fields.iter().position(|x| x.json == json);
        let sub = if f.prim != Prim::Struct {
            None
        } else if let Some(s) = at.and_then(|i| structs[si].fields[i].sub) {
            Some(s)
        } else if let Some(&s) = by_name.get(&f.struct_name) {
            Some(s)
        } else {
            let mut rust = f.struct_name.clone();
            if RESERVED_TYPES.contains(&rust.as_str()) || rust == structs[0].rust {
                rust.push_str("Struct");
            }
            structs.push(VStruct {
                kafka: f.struct_name.clone(),
                rust,
                paths: Vec::new(),
                in_array: false,
                fields: Vec::new(),
            });
            by_name.insert(f.struct_name.clone(), structs.len() - 1);
            Some(structs.len() - 1)
        };
        let of = |r: crate::Vers| -> BTreeSet<i16> {
            present.iter().copied().filter(|&v| r.contains(v)).collect()
        };
        match at {
            Some(i) => {
                let x = &mut structs[si].fields[i];
                assert!(
                    x.prim == f.prim && x.array == f.array && x.sub == sub,
                    "{}.{json}: the definitions disagree on its type (teach the generator)",
                    structs[si].kafka
                );
                x.present.extend(&present);
                x.nullable.extend(of(f.nullable));
                x.tagged.extend(of(f.tagged));
                x.open |= f.versions.hi == OPEN;
                if x.about.is_empty() {
                    x.about.clone_from(&f.about);
                }
            }
            None => structs[si].fields.push(VField {
                json: json.clone(),
                prim: f.prim,
                array: f.array,
                sub,
                nullable: of(f.nullable),
                tagged: of(f.tagged),
                present: present.clone(),
                open: f.versions.hi == OPEN,
                about: f.about.clone(),
            }),
        }
        if let Some(s) = sub {
            let p = format!("{path}{json}{}", if f.array { "[]" } else { "" });
            let st = &mut structs[s];
            st.in_array |= f.array;
            if !st.paths.contains(&p) {
                st.paths.push(p.clone());
            }
            add_fields(structs, by_name, s, &f.fields, &present, &format!("{p}."));
        }
    }
}

/// `v0+`, `v1-3`, `v0-2, v5+`: `open` is whether the last range, when it
/// reaches the newest version, is Kafka's `"N+"`.
fn ranges(vs: &BTreeSet<i16>, max: i16, open: bool) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut it = vs.iter().copied().peekable();
    while let Some(lo) = it.next() {
        let mut hi = lo;
        while it.peek() == Some(&(hi + 1)) {
            hi = it.next().unwrap();
        }
        out.push(if hi == max && open {
            format!("v{lo}+")
        } else if hi == lo {
            format!("v{lo}")
        } else {
            format!("v{lo}-{hi}")
        });
    }
    out.join(", ")
}

/// Kafka's text, made safe for rustdoc: no links, HTML or code spans.
fn doc_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.trim().chars() {
        match c {
            '[' | ']' | '<' | '>' | '`' | '*' | '_' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' | '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// The line documenting a field: name, versions, nullable/tagged, about.
fn field_doc(f: &VField, max: i16, with_about: bool) -> String {
    let mut d = format!("`{}` ({}", f.json, ranges(&f.present, max, f.open));
    for (what, set) in [("nullable", &f.nullable), ("tagged", &f.tagged)] {
        if set.is_empty() {
            continue;
        }
        if *set == f.present {
            let _ = write!(d, ", {what}");
        } else {
            let _ = write!(d, ", {what} {}", ranges(set, max, f.open));
        }
    }
    d.push(')');
    if with_about && !f.about.is_empty() {
        let _ = write!(d, ": {}", doc_text(&f.about));
    }
    d
}

/// What the module imports.
#[derive(Default)]
struct Uses {
    array: bool,
    element: bool,
    range: bool,
}

fn write_struct(out: &mut String, v: &VMsg, si: usize, with_about: bool, uses: &mut Uses) {
    let st = &v.structs[si];
    let t = &st.rust;
    let m = v.m;
    if si == 0 {
        let what = match m.kind.as_str() {
            "request" => format!("request body (api key {})", m.api_key.unwrap()),
            "response" => format!("response body (api key {})", m.api_key.unwrap()),
            "header" => "header".to_string(),
            _ => "data message".to_string(),
        };
        let _ = writeln!(
            out,
            "/// `{}`: the {what}, {}.",
            m.name,
            ranges(&(m.segs[0].lo..=v.max).collect(), v.max, false)
        );
    } else {
        let _ = writeln!(
            out,
            "/// `{}`: {}.",
            st.kafka,
            st.paths
                .iter()
                .map(|p| format!("`{p}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let _ = writeln!(
        out,
        "#[derive(Clone, Copy, Debug)]\npub struct {t}<'a>(pub StructView<'a>);\n"
    );
    if st.in_array {
        uses.element = true;
        let _ = writeln!(
            out,
            "impl<'a> Element<'a> for {t}<'a> {{\n    fn from_struct(v: StructView<'a>) -> Option<Self> {{ Some(Self(v)) }}\n}}\n"
        );
    }
    let _ = writeln!(out, "impl<'a> {t}<'a> {{");
    let mut names: BTreeSet<String> = ["view".to_string()].into();
    if si == 0 {
        names.insert("new".into());
        match m.kind.as_str() {
            "request" | "response" => {
                let k = m.api_key.unwrap();
                let kind = if m.kind == "request" {
                    "Request"
                } else {
                    "Response"
                };
                let _ = writeln!(
                    out,
                    "    pub const API_KEY: ApiKey = ApiKey::{};\n\n    \
                     /// The view of a body (the bytes after the header) at `version`, as\n    \
                     /// [`view_body`] reads it; `None` for a version below any known.\n    \
                     #[inline] pub fn new(body: &'a [u8], version: i16) -> Option<Self> {{ view_body({k}, version, MessageKind::{kind}, body).map(Self) }}\n",
                    api_const(m)
                );
            }
            _ => {
                let _ = writeln!(
                    out,
                    "    /// The view of the message's bytes at `version`, as [`view_data`]\n    \
                     /// reads them; `None` for a version below any known.\n    \
                     #[inline] pub fn new(bytes: &'a [u8], version: i16) -> Option<Self> {{ view_data({:?}, version, bytes).map(Self) }}\n",
                    m.name
                );
                if m.kind == "data" {
                    names.insert("versioned".into());
                    let _ = writeln!(
                        out,
                        "    /// The view of the message preceded by its int16 version, as JoinGroup\n    \
                         /// and SyncGroup carry the consumer protocol's; offsets count the\n    \
                         /// version's two bytes. `None` for fewer than two bytes or a version\n    \
                         /// below any known.\n    \
                         #[inline] pub fn versioned(bytes: &'a [u8]) -> Option<Self> {{ StructView::versioned_message(message_by_name({:?})?, bytes).map(Self) }}\n",
                        m.name
                    );
                }
            }
        }
    }
    let _ = writeln!(
        out,
        "    /// The untyped view.\n    #[inline] pub fn view(&self) -> StructView<'a> {{ self.0 }}"
    );
    for f in &st.fields {
        let sn = snake(&f.json);
        let id = ident(&sn);
        assert!(
            names.insert(sn.clone()),
            "{}.{}: name taken",
            st.kafka,
            f.json
        );
        let j = &f.json;
        let sub = f.sub.map(|s| v.structs[s].rust.as_str());
        let (ty, body) = if f.array {
            uses.array = true;
            let elem = match (f.prim, sub) {
                (Prim::Struct, Some(s)) => format!("{s}<'a>"),
                (Prim::Bool, _) => "bool".into(),
                (Prim::Int8, _) => "i8".into(),
                (Prim::Int16, _) => "i16".into(),
                (Prim::Uint16, _) => "u16".into(),
                (Prim::Int32, _) => "i32".into(),
                (Prim::Uint32, _) => "u32".into(),
                (Prim::Int64, _) => "i64".into(),
                (Prim::Float64, _) => "f64".into(),
                (Prim::Str, _) => "Option<&'a str>".into(),
                (Prim::Bytes, _) => "&'a [u8]".into(),
                (Prim::Uuid, _) => "&'a [u8; 16]".into(),
                (p, _) => panic!("{}.{j}: array of {p:?} (teach the generator)", st.kafka),
            };
            (
                format!("Array<'a, {elem}>"),
                format!("self.0.array({j:?}).map(Array::new)"),
            )
        } else {
            let int = |t: &str| (t.to_string(), format!("self.0.{t}({j:?})"));
            match f.prim {
                Prim::Bool => ("bool".into(), format!("self.0.bool({j:?})")),
                Prim::Int8 => int("i8"),
                Prim::Int16 => int("i16"),
                Prim::Uint16 => int("u16"),
                Prim::Int32 => int("i32"),
                Prim::Uint32 => int("u32"),
                Prim::Int64 => ("i64".into(), format!("self.0.int({j:?})")),
                Prim::Float64 => ("f64".into(), format!("self.0.float({j:?})")),
                Prim::Str => ("&'a str".into(), format!("self.0.str({j:?})")),
                Prim::Bytes => ("&'a [u8]".into(), format!("self.0.bytes({j:?})")),
                Prim::Uuid => ("&'a [u8; 16]".into(), format!("self.0.uuid({j:?})")),
                Prim::Records => {
                    uses.range = true;
                    ("Range<u32>".into(), format!("self.0.records({j:?})"))
                }
                Prim::Struct => {
                    let s = sub.unwrap();
                    (format!("{s}<'a>"), format!("self.0.strukt({j:?}).map({s})"))
                }
            }
        };
        let _ = writeln!(
            out,
            "\n    /// {}\n    #[inline] pub fn {id}(&self) -> Option<{ty}> {{ {body} }}",
            field_doc(f, v.max, with_about)
        );
        if f.prim == Prim::Bytes && !f.array {
            let o = format!("{sn}_offset");
            assert!(names.insert(o.clone()), "{}.{o}: name taken", st.kafka);
            let _ = writeln!(
                out,
                "    /// Where `{j}` starts in the body (its length): the key of what is decoded from it.\n    \
                 #[inline] pub fn {o}(&self) -> Option<u32> {{ self.0.offset({j:?}) }}"
            );
        }
    }
    out.push_str("}\n");
}

/// The views file for the messages in `order` (requests and responses by
/// api key, then headers and data messages).
pub fn write(order: &[&Merged], with_about: bool) -> String {
    let mut out = String::new();
    out.push_str(
        "// @generated by kwire-gen (gen/): do not edit. Regenerate with\n\
         // `cargo run --manifest-path gen/Cargo.toml`; CI checks it with\n\
         // `scripts/check-generated`.\n\n\
         //! Typed zero-copy views over message bodies, generated from Kafka's\n\
         //! message definitions with the tables of [`super::generated`].\n\
         //!\n\
         //! One module per message (`join_group_request`), holding the message's\n\
         //! view (`JoinGroupRequest<'a>`, also re-exported here) and one view per\n\
         //! struct type it contains, named as Kafka's definitions name them\n\
         //! (`JoinGroupRequestProtocol<'a>`): each a newtype over [`StructView`]\n\
         //! borrowing the body's bytes. One method per field over the union of\n\
         //! the message's versions, snake_case (`member_id`), typed after the\n\
         //! field: integers, `bool`, `f64`, `&'a str`, `&'a [u8]` (with\n\
         //! `<field>_offset()`, where the field starts: the key of what is\n\
         //! decoded from it), `&'a [u8; 16]` for UUIDs, `Range<u32>` for records\n\
         //! (their bytes in the body), nested views for structs, and [`Array`]s,\n\
         //! read lazily as they are iterated.\n\
         //!\n\
         //! Every accessor returns an `Option`, `None` when the view's version\n\
         //! lacks the field, when it is null, when a string is not UTF-8, or when\n\
         //! the body ends (or fails to decode) before it: nothing here panics.\n\
         //! Each method's doc gives the field's JSON name and the versions it is\n\
         //! in (over both sources' definitions).\n\
         //!\n\
         //! Also every API key as an [`ApiKey`] constant (`ApiKey::JOIN_GROUP`).\n\n\
         #![allow(clippy::wrong_self_convention, clippy::should_implement_trait)]\n\n\
         use super::{MessageKind, message_by_name, view_body, view_data};\n\
         use crate::kafka::api::ApiKey;\n\n\
         pub use super::view::{Array, Element, Elements, StructView};\n\n",
    );

    // API keys, by the request's name.
    out.push_str(
        "/// Every API key the message definitions give, named after the request.\nimpl ApiKey {\n",
    );
    for m in order.iter().filter(|m| m.kind == "request") {
        let k = m.api_key.unwrap();
        let c = api_const(m);
        let hi = m.segs.last().unwrap().hi;
        let _ = writeln!(
            out,
            "    /// {} ({k}), {}.\n    pub const {c}: ApiKey = ApiKey({k});",
            m.name.strip_suffix("Request").unwrap(),
            ranges(&(m.segs[0].lo..=hi).collect(), hi, false)
        );
    }
    out.push_str("}\n\n");

    for m in order {
        let _ = writeln!(out, "pub use {}::{};", snake(&m.name), m.name);
    }
    out.push('\n');

    for m in order {
        let v = build(m);
        let mut body = String::new();
        let mut uses = Uses::default();
        for si in 0..v.structs.len() {
            body.push('\n');
            write_struct(&mut body, &v, si, with_about, &mut uses);
        }
        let mut imports = vec!["StructView"];
        if uses.array {
            imports.push("Array");
        }
        if uses.element {
            imports.push("Element");
        }
        match m.kind.as_str() {
            "request" | "response" => imports.extend(["ApiKey", "MessageKind", "view_body"]),
            "header" => imports.push("view_data"),
            _ => imports.extend(["view_data", "message_by_name"]),
        }
        let _ = writeln!(
            out,
            "/// The views of `{}`.\npub mod {} {{\nuse super::{{{}}};{}\n{body}}}\n",
            m.name,
            snake(&m.name),
            imports.join(", "),
            if uses.range {
                "\nuse std::ops::Range;"
            } else {
                ""
            },
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(snake("JoinGroupRequest"), "join_group_request");
        assert_eq!(snake("memberId"), "member_id");
        assert_eq!(snake("isKRaftController"), "is_kraft_controller");
        assert_eq!(snake("KRaftVersionRecord"), "kraft_version_record");
        assert_eq!(snake("ZkMigrationReady"), "zk_migration_ready");
        assert_eq!(ident("type"), "r#type");
        assert_eq!(ident("topics"), "topics");
    }

    #[test]
    fn version_ranges() {
        let set = |v: &[i16]| v.iter().copied().collect::<BTreeSet<i16>>();
        assert_eq!(ranges(&set(&[0, 1, 2, 3]), 3, true), "v0+");
        assert_eq!(ranges(&set(&[0, 1, 2, 3]), 3, false), "v0-3");
        assert_eq!(ranges(&set(&[1]), 3, false), "v1");
        assert_eq!(ranges(&set(&[0, 1, 5, 6]), 6, true), "v0-1, v5+");
    }

    #[test]
    fn kafka_text_is_not_markup() {
        assert_eq!(doc_text(" a [b] <c> `d` "), r"a \[b\] \<c\> \`d\`");
    }
}
