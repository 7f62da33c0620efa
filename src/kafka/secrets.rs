//! The bytes fields of Kafka messages that hold a credential or its
//! equivalent, in one table ([`SECRET_FIELDS`]), and where they lie in a
//! body ([`ranges`]).
//!
//! SASL secrets live inside `authBytes` and are found by decoding the
//! mechanism ([`super::embedded`]); the fields here are secret as a whole:
//! a SCRAM salted password lets whoever holds it log in as the user (the
//! salt beside it is no secret), a delegation token's HMAC is the token's
//! password. The session overwrites them with `*` in the body's bytes
//! unless secrets are to be shown, as it does SASL secrets, so that no
//! rendering of the body can leak them.
//!
//! Contract: [`ranges`] reads through a view of the body and never panics;
//! a field the view could not read (a body cut before or inside it) is not
//! in its answer, which is why the session also hides what follows a
//! decode error in such a body.

use std::ops::Range;

use super::ApiKey;
use super::schema::{MessageKind, StructView};

/// A secret bytes field: the api key, request or response, and its path
/// from the body (`[]` after an array of structs' name: every element).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SecretField {
    pub api_key: ApiKey,
    pub kind: MessageKind,
    pub path: &'static str,
}

const fn secret(api_key: ApiKey, kind: MessageKind, path: &'static str) -> SecretField {
    SecretField {
        api_key,
        kind,
        path,
    }
}

/// Every secret bytes field kwire masks (a test checks each against the
/// schema: the path exists in some version and ends in a bytes field).
pub const SECRET_FIELDS: &[SecretField] = &[
    secret(
        ApiKey::ALTER_USER_SCRAM_CREDENTIALS,
        MessageKind::Request,
        "upsertions[].saltedPassword",
    ),
    secret(
        ApiKey::CREATE_DELEGATION_TOKEN,
        MessageKind::Response,
        "hmac",
    ),
    secret(ApiKey::RENEW_DELEGATION_TOKEN, MessageKind::Request, "hmac"),
    secret(
        ApiKey::EXPIRE_DELEGATION_TOKEN,
        MessageKind::Request,
        "hmac",
    ),
    secret(
        ApiKey::DESCRIBE_DELEGATION_TOKEN,
        MessageKind::Response,
        "tokens[].hmac",
    ),
];

/// Whether bodies of this api key and kind may hold a secret field.
pub fn has_secrets(api_key: ApiKey, kind: MessageKind) -> bool {
    SECRET_FIELDS
        .iter()
        .any(|s| s.api_key == api_key && s.kind == kind)
}

/// The data ranges (after the length prefix) of the secret fields in the
/// body `view` reads, in body offsets; null, absent and unreadable fields
/// are left out.
pub fn ranges(api_key: ApiKey, kind: MessageKind, view: &StructView<'_>) -> Vec<Range<u32>> {
    let mut out = Vec::new();
    for s in SECRET_FIELDS
        .iter()
        .filter(|s| s.api_key == api_key && s.kind == kind)
    {
        let steps: Vec<&str> = s.path.split('.').collect();
        collect(view, &steps, &mut out);
    }
    out
}

fn collect(view: &StructView<'_>, steps: &[&str], out: &mut Vec<Range<u32>>) {
    match steps {
        [] => {}
        [last] => out.extend(view.bytes_range(last)),
        [first, rest @ ..] => {
            if let Some(name) = first.strip_suffix("[]") {
                if let Some(a) = view.array(name) {
                    for s in a.structs() {
                        collect(&s, rest, out);
                    }
                }
            } else if let Some(s) = view.strukt(first) {
                collect(&s, rest, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kafka::schema::{self, FieldSpec, Ty};

    /// The field at `steps` under `fields`, in any version.
    fn field(fields: &'static [FieldSpec], steps: &[&str]) -> Option<&'static FieldSpec> {
        let (first, rest) = steps.split_first()?;
        let (name, array) = match first.strip_suffix("[]") {
            Some(n) => (n, true),
            None => (*first, false),
        };
        let f = fields.iter().find(|f| {
            f.name == name && !f.versions.is_empty() && (!array || (f.array && f.ty == Ty::Struct))
        })?;
        if rest.is_empty() {
            Some(f)
        } else {
            field(f.fields(), rest)
        }
    }

    #[test]
    fn every_secret_field_is_a_bytes_field_of_the_schema() {
        for s in SECRET_FIELDS {
            let spec = schema::message(s.api_key.0, s.kind)
                .unwrap_or_else(|| panic!("{s:?}: no such message"));
            let steps: Vec<&str> = s.path.split('.').collect();
            let found: Vec<&FieldSpec> = spec
                .segments
                .iter()
                .filter_map(|seg| field(seg.fields(), &steps))
                .collect();
            assert!(!found.is_empty(), "{s:?}: not in {}", spec.name);
            for f in found {
                assert!(
                    f.ty == Ty::Bytes && !f.array,
                    "{s:?}: {} is not bytes",
                    spec.name
                );
            }
        }
    }

    #[test]
    fn ranges_find_every_element() {
        let key = ApiKey::DESCRIBE_DELEGATION_TOKEN;
        // DescribeDelegationToken response v0: error 0, two tokens with
        // hmac "AB" and "CDE", throttle 0.
        let mut b = vec![0, 0, 0, 0, 0, 2];
        for hmac in [&b"AB"[..], b"CDE"] {
            b.extend(2i16.to_be_bytes());
            b.extend(b"pp"); // principalType
            b.extend(1i16.to_be_bytes());
            b.push(b'n'); // principalName
            b.extend(0i64.to_be_bytes()); // issueTimestamp
            b.extend(0i64.to_be_bytes()); // expiryTimestamp
            b.extend(0i64.to_be_bytes()); // maxTimestamp
            b.extend(1i16.to_be_bytes());
            b.push(b't'); // tokenId
            b.extend((hmac.len() as i32).to_be_bytes());
            b.extend(hmac);
            b.extend(0i32.to_be_bytes()); // renewers
        }
        b.extend(0i32.to_be_bytes()); // throttleTimeMs
        let spec = schema::message(key.0, MessageKind::Response).unwrap();
        let view = StructView::message(spec, 0, &b).unwrap();
        let r = ranges(key, MessageKind::Response, &view);
        let got: Vec<&[u8]> = r
            .iter()
            .map(|r| &b[r.start as usize..r.end as usize])
            .collect();
        assert_eq!(got, [&b"AB"[..], b"CDE"]);
        assert!(has_secrets(key, MessageKind::Response));
        assert!(!has_secrets(key, MessageKind::Request));
        // A body cut inside the second hmac: only the first is found.
        let cut = &b[..b.len() - 10];
        let view = StructView::message(spec, 0, cut).unwrap();
        assert_eq!(ranges(key, MessageKind::Response, &view).len(), 1);
    }
}
