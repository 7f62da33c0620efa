//! The view layer against the tree decoder: for any body of any message and
//! version (requests, responses, headers and data messages), the walker
//! stops where the interpreter stops (same error, offset and path), the JSON
//! written straight from the bytes equals the tree's JSON, and every field
//! of the tree, partial trees included, reads back through the views with
//! the same value. No panic, whatever the bytes.
//!
//! Input layout:
//!
//! ```text
//! which:    int16, big-endian: index into `schema::messages()` (modulo)
//! version:  int16, big-endian (any: below, within or above the known ones)
//! body:     the rest
//! ```
#![no_main]

mod common;

use common::Script;
use kwire::kafka::schema::json::{NoSplice, write_message};
use kwire::kafka::schema::walk::{Skip, body_version, walk_message};
use kwire::kafka::schema::{
    self, DecodeErrorKind, JsonOptions, MessageKind, Node, StructView, Value,
};
use libfuzzer_sys::fuzz_target;

/// Every field of `node` (the last of a name sent twice) reads the same
/// through `view`.
fn same(view: &StructView<'_>, node: &Node) {
    let kids = node.children();
    for (i, n) in kids.iter().enumerate() {
        if n.name.is_empty() || kids[i + 1..].iter().any(|k| k.name == n.name) {
            continue;
        }
        match &n.value {
            Value::Int(x) => assert_eq!(view.int(n.name), Some(*x), "{}", n.name),
            Value::Bool(b) => assert_eq!(view.bool(n.name), Some(*b), "{}", n.name),
            Value::Float(f) => assert_eq!(view.float(n.name).map(f64::to_bits), Some(f.to_bits())),
            Value::Str(s) => {
                let b = view.str_bytes(n.name).expect("string read");
                assert_eq!(String::from_utf8_lossy(b), *s, "{}", n.name);
            }
            Value::Uuid(u) => assert_eq!(view.uuid(n.name), Some(u)),
            Value::Bytes(b) => assert_eq!(view.bytes(n.name), Some(&b[..])),
            Value::Records(r) => assert_eq!(view.records(n.name), Some(r.clone())),
            Value::Null => assert!(view.has(n.name)),
            Value::Struct(_) => same(&view.strukt(n.name).expect("struct read"), n),
            Value::Array(items) => {
                let a = view.array(n.name).expect("array read");
                if let Some(Value::Struct(_)) = items.first().map(|i| &i.value) {
                    let mut k = 0;
                    for (v, item) in a.structs().zip(items) {
                        same(&v, item);
                        k += 1;
                    }
                    assert_eq!(k, items.len(), "{}", n.name);
                } else {
                    assert_eq!(a.scalars().count(), items.len(), "{}", n.name);
                }
            }
            Value::UnknownTagged { .. } => {}
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut s = Script::new(data);
    let which = s.u16() as usize;
    let version = s.u16() as i16;
    let body = s.take(usize::MAX);
    let all = schema::messages();
    let Some(spec) = all.get(which % all.len()) else {
        return;
    };
    let (d, used) = match spec.kind {
        MessageKind::Request | MessageKind::Response => (
            schema::decode_body(spec.api_key, version, spec.kind, body),
            body_version(spec, version, body),
        ),
        _ => (schema::decode_data(spec.name, version, body), version),
    };
    let walked = walk_message(spec, used, body, 0, &mut Skip);
    assert_eq!(walked.error, d.error);
    assert_eq!(walked.consumed, d.consumed);
    assert_eq!(walked.version, d.version);
    let mut out = Vec::new();
    write_message(
        spec,
        used,
        body,
        0,
        &JsonOptions::default(),
        &mut NoSplice,
        &mut out,
    );
    let got: serde_json::Value = serde_json::from_slice(&out).expect("valid JSON");
    // Both sides through the same text parser (serde_json's default float
    // parsing is not always exact: compare what the texts say).
    let want: serde_json::Value =
        serde_json::from_str(&schema::to_json(&d.tree).to_string()).expect("valid JSON");
    assert_eq!(got, want);
    if let Some(view) = StructView::message(spec, used, body) {
        let trailing = d
            .error
            .as_ref()
            .is_some_and(|e| e.kind == DecodeErrorKind::TrailingBytes);
        assert_eq!(view.is_complete(), d.error.is_none() || trailing);
        same(&view, &d.tree);
        // The view a body keeps (from where its decode's walk found the
        // top-level fields) reads the same as one that scans.
        let (_, root) = schema::view::walk_with_root(spec, used, body, &mut Skip);
        let kept = StructView::from_root(spec, used, body, &root).expect("the same version");
        assert_eq!(kept.is_complete(), view.is_complete());
        assert_eq!(kept.range(), view.range());
        same(&kept, &d.tree);
    }
});
