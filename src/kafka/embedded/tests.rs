use super::*;

const JOIN: ApiKey = ApiKey(11);
const SYNC: ApiKey = ApiKey(14);
const SASL: ApiKey = ApiKey::SASL_AUTHENTICATE;

/// librdkafka's subscription (from the corpus, confluent_basic).
const SUBSCRIPTION_V3: &[u8] = &[
    0x00, 0x03, // version 3
    0x00, 0x00, 0x00, 0x02, // topics: 2
    0x00, 0x06, b'e', b'v', b'e', b'n', b't', b's', //
    0x00, 0x06, b'o', b'r', b'd', b'e', b'r', b's', //
    0x00, 0x00, 0x00, 0x00, // userData: empty
    0x00, 0x00, 0x00, 0x00, // ownedPartitions: 0
    0xff, 0xff, 0xff, 0xff, // generationId -1
    0x00, 0x00, // rackId ""
];

/// An assignment: orders [0, 1], no user data.
const ASSIGNMENT_V0: &[u8] = &[
    0x00, 0x00, // version 0
    0x00, 0x00, 0x00, 0x01, // assignedPartitions: 1
    0x00, 0x06, b'o', b'r', b'd', b'e', b'r', b's', //
    0x00, 0x00, 0x00, 0x02, // partitions: 2
    0x00, 0x00, 0x00, 0x00, //
    0x00, 0x00, 0x00, 0x01, //
    0xff, 0xff, 0xff, 0xff, // userData: null
];

/// Connect v0 (eager) worker state: url "http://w1:8083/", configOffset 7.
fn connect_metadata_v0() -> Vec<u8> {
    let mut b = vec![0x00, 0x00];
    string(&mut b, "http://w1:8083/");
    b.extend_from_slice(&7i64.to_be_bytes());
    b
}

/// Connect assignment: error 0, leader, leaderUrl, configOffset 9,
/// connector "sink" with itself (-1) and task 0; v1+: revoked "src" task 2,
/// delay 1000.
fn connect_assignment(version: i16) -> Vec<u8> {
    let mut b = version.to_be_bytes().to_vec();
    b.extend_from_slice(&0i16.to_be_bytes());
    string(&mut b, "worker-1");
    string(&mut b, "http://w1:8083/");
    b.extend_from_slice(&9i64.to_be_bytes());
    b.extend_from_slice(&1i32.to_be_bytes());
    string(&mut b, "sink");
    b.extend_from_slice(&2i32.to_be_bytes());
    b.extend_from_slice(&(-1i32).to_be_bytes());
    b.extend_from_slice(&0i32.to_be_bytes());
    if version >= 1 {
        b.extend_from_slice(&1i32.to_be_bytes());
        string(&mut b, "src");
        b.extend_from_slice(&1i32.to_be_bytes());
        b.extend_from_slice(&2i32.to_be_bytes());
        b.extend_from_slice(&1000i32.to_be_bytes());
    }
    b
}

/// Connect v1 worker state with its current assignment as allocation.
fn connect_metadata_v1() -> Vec<u8> {
    let mut b = vec![0x00, 0x01];
    string(&mut b, "http://w2:8083/");
    b.extend_from_slice(&11i64.to_be_bytes());
    let alloc = connect_assignment(1);
    b.extend_from_slice(&(alloc.len() as i32).to_be_bytes());
    b.extend_from_slice(&alloc);
    b
}

fn string(b: &mut Vec<u8>, s: &str) {
    b.extend_from_slice(&(s.len() as i16).to_be_bytes());
    b.extend_from_slice(s.as_bytes());
}

/// A message body described by what the embedded decoder looks at: the
/// bytes field `name` in each element of `outer` (or at the top level), and
/// `protocolType` (null when `None`). Encoded as a real message of the api
/// key and kind it is decoded as ([`encode`]).
struct Desc {
    protocol_type: Option<String>,
    outer: Option<&'static str>,
    name: &'static str,
    /// `None`: a null bytes field.
    data: Vec<Option<Vec<u8>>>,
}

fn body(
    protocol_type: Option<&str>,
    outer: Option<&'static str>,
    name: &'static str,
    data: &[&[u8]],
) -> Desc {
    Desc {
        protocol_type: protocol_type.map(str::to_string),
        outer,
        name,
        data: data.iter().map(|d| Some(d.to_vec())).collect(),
    }
}

fn uvarint(b: &mut Vec<u8>, mut v: u32) {
    while v >= 0x80 {
        b.push((v as u8) | 0x80);
        v >>= 7;
    }
    b.push(v as u8);
}

/// Compact (flexible-version) encodings.
fn cstr(b: &mut Vec<u8>, s: Option<&str>) {
    match s {
        None => b.push(0),
        Some(s) => {
            uvarint(b, s.len() as u32 + 1);
            b.extend_from_slice(s.as_bytes());
        }
    }
}

fn cbytes(b: &mut Vec<u8>, d: Option<&[u8]>) {
    match d {
        None => b.push(0),
        Some(d) => {
            uvarint(b, d.len() as u32 + 1);
            b.extend_from_slice(d);
        }
    }
}

/// The body of `api`/`kind` at a flexible version holding `d`'s bytes
/// fields: JoinGroup v7, SyncGroup v5, SaslAuthenticate v2 (anything else:
/// a SyncGroup response). The version it is encoded at is returned too.
fn encode(api: ApiKey, kind: MessageKind, d: &Desc) -> (Vec<u8>, i16) {
    let mut b = Vec::new();
    let pt = d.protocol_type.as_deref();
    let items: Vec<Option<&[u8]>> = d.data.iter().map(Option::as_deref).collect();
    let first = items.first().copied().flatten();
    type Each<'e> = &'e dyn Fn(&mut Vec<u8>, Option<&[u8]>);
    let array = |b: &mut Vec<u8>, each: Each<'_>| {
        uvarint(b, items.len() as u32 + 1);
        for it in &items {
            each(b, *it);
            b.push(0); // element's tagged fields
        }
    };
    let version = match (api, kind) {
        (JOIN_GROUP, MessageKind::Request) => {
            cstr(&mut b, Some("g"));
            b.extend_from_slice(&30_000i32.to_be_bytes());
            b.extend_from_slice(&60_000i32.to_be_bytes());
            cstr(&mut b, Some(""));
            cstr(&mut b, None);
            cstr(&mut b, pt);
            array(&mut b, &|b, it| {
                cstr(b, Some("range"));
                cbytes(b, it);
            });
            7
        }
        (JOIN_GROUP, MessageKind::Response) => {
            b.extend_from_slice(&0i32.to_be_bytes());
            b.extend_from_slice(&0i16.to_be_bytes());
            b.extend_from_slice(&1i32.to_be_bytes());
            cstr(&mut b, pt);
            cstr(&mut b, Some("range"));
            cstr(&mut b, Some("m-1"));
            cstr(&mut b, Some("m-1"));
            array(&mut b, &|b, it| {
                cstr(b, Some("m-1"));
                cstr(b, None);
                cbytes(b, it);
            });
            7
        }
        (SYNC_GROUP, MessageKind::Request) => {
            cstr(&mut b, Some("g"));
            b.extend_from_slice(&1i32.to_be_bytes());
            cstr(&mut b, Some("m-1"));
            cstr(&mut b, None);
            cstr(&mut b, pt);
            cstr(&mut b, Some("range"));
            array(&mut b, &|b, it| {
                cstr(b, Some("m-1"));
                cbytes(b, it);
            });
            5
        }
        (ApiKey::SASL_AUTHENTICATE, MessageKind::Request) => {
            cbytes(&mut b, first);
            2
        }
        (ApiKey::SASL_AUTHENTICATE, MessageKind::Response) => {
            b.extend_from_slice(&0i16.to_be_bytes());
            cstr(&mut b, None);
            cbytes(&mut b, first);
            b.extend_from_slice(&0i64.to_be_bytes());
            2
        }
        _ => {
            b.extend_from_slice(&0i32.to_be_bytes());
            b.extend_from_slice(&0i16.to_be_bytes());
            cstr(&mut b, pt);
            cstr(&mut b, Some("range"));
            cbytes(&mut b, first);
            5
        }
    };
    b.push(0); // the body's tagged fields
    (b, version)
}

/// Encode `d` as `api`/`kind` and find its embedded messages.
fn decode(api: ApiKey, kind: MessageKind, d: &Desc, show: bool) -> Vec<Found> {
    let expected = match (api, kind) {
        (JOIN_GROUP, MessageKind::Request) => (Some("protocols"), "metadata"),
        (JOIN_GROUP, MessageKind::Response) => (Some("members"), "metadata"),
        (SYNC_GROUP, MessageKind::Request) => (Some("assignments"), "assignment"),
        (ApiKey::SASL_AUTHENTICATE, _) => (None, "authBytes"),
        _ => (None, "assignment"),
    };
    if (d.outer, d.name) != expected {
        // The message has no such field: nothing to find.
        return Vec::new();
    }
    let (bytes, version) = encode(api, kind, d);
    let key = if carries_embedded(api) {
        api
    } else {
        SYNC_GROUP
    };
    let kind = if carries_embedded(api) {
        kind
    } else {
        MessageKind::Response
    };
    let view = schema::view_body(key.0, version, kind, &bytes).expect("a known message");
    assert!(view.is_complete(), "{api:?} {kind:?}: {bytes:02x?}");
    super::decode(api, kind, &view, show)
}

fn one(api: ApiKey, kind: MessageKind, tree: &Desc, show: bool) -> Found {
    let mut f = decode(api, kind, tree, show);
    assert_eq!(f.len(), 1, "{f:?}");
    f.remove(0)
}

fn json_of(f: &Found) -> Json {
    to_json(f.embedded.as_ref().expect("decoded"))
}

#[test]
fn consumer_subscription_in_join_group_request() {
    let tree = body(
        Some("consumer"),
        Some("protocols"),
        "metadata",
        &[SUBSCRIPTION_V3, SUBSCRIPTION_V3],
    );
    let f = decode(JOIN, MessageKind::Request, &tree, false);
    assert_eq!(f.len(), 2);
    assert_eq!(f[1].path, "protocols[1].metadata");
    // groupId "g", two timeouts, memberId "", null instance id,
    // "consumer", the array's count, the first protocol's name "range".
    let at = 2 + 8 + 1 + 1 + 9 + 1 + 6;
    assert_eq!(f[0].at, at);
    assert_eq!(f[0].data_start, at + 1);
    let j = json_of(&f[0]);
    assert_eq!(j["protocol"], "consumer");
    assert_eq!(j["version"], 3);
    assert_eq!(
        j["subscription"]["topics"],
        serde_json::json!(["events", "orders"])
    );
    assert_eq!(j["subscription"]["generationId"], -1);
    assert_eq!(j["subscription"]["rackId"], "");
    assert!(f[0].notes.is_empty());
}

#[test]
fn consumer_assignment_inferred_without_protocol_type() {
    // SyncGroup v0-v4 and JoinGroup responses before v7 do not say.
    let tree = body(None, None, "assignment", &[ASSIGNMENT_V0]);
    let f = one(SYNC, MessageKind::Response, &tree, false);
    let j = json_of(&f);
    assert_eq!(j["protocol"], "consumer");
    assert_eq!(j["version"], 0);
    let parts = &j["assignment"]["assignedPartitions"];
    assert_eq!(parts[0]["topic"], "orders");
    assert_eq!(parts[0]["partitions"], serde_json::json!([0, 1]));
    assert_eq!(j["assignment"]["userData"], Json::Null);
}

#[test]
fn explicit_consumer_that_does_not_decode_keeps_its_bytes_with_a_note() {
    let bad = &ASSIGNMENT_V0[..ASSIGNMENT_V0.len() - 6];
    let tree = body(Some("consumer"), Some("assignments"), "assignment", &[bad]);
    let f = one(SYNC, MessageKind::Request, &tree, false);
    assert!(f.embedded.is_none());
    assert_eq!(f.notes.len(), 1);
    assert!(
        f.notes[0].starts_with("assignments[0].assignment: not a consumer assignment: truncated"),
        "{}",
        f.notes[0]
    );
    assert!(f.notes[0].ends_with("kept as base64"));
    // Inferred: silently left alone.
    let tree = body(None, Some("assignments"), "assignment", &[bad]);
    let f = one(SYNC, MessageKind::Request, &tree, false);
    assert!(f.embedded.is_none() && f.notes.is_empty());
}

#[test]
fn trailing_bytes_are_a_note_when_the_protocol_is_declared() {
    let mut b = SUBSCRIPTION_V3.to_vec();
    b.push(0);
    let tree = body(Some("consumer"), Some("protocols"), "metadata", &[&b]);
    let f = one(JOIN, MessageKind::Request, &tree, false);
    assert!(f.embedded.is_some());
    assert!(f.notes[0].contains("1 bytes after the consumer subscription's last field"));
    let tree = body(None, Some("members"), "metadata", &[&b]);
    assert!(
        one(JOIN, MessageKind::Response, &tree, false)
            .embedded
            .is_none()
    );
}

#[test]
fn newer_consumer_versions_are_read_as_the_newest_known() {
    let mut b = SUBSCRIPTION_V3.to_vec();
    b[1] = 9;
    b.extend_from_slice(&[1, 2, 3]); // a field kwire does not know
    let tree = body(Some("consumer"), Some("protocols"), "metadata", &[&b]);
    let f = one(JOIN, MessageKind::Request, &tree, false);
    assert_eq!(json_of(&f)["version"], 9);
    assert!(f.notes[0].contains("newer than any known"), "{:?}", f.notes);
}

#[test]
fn null_empty_and_foreign_protocols_are_skipped() {
    let tree = body(Some("consumer"), None, "assignment", &[b""]);
    assert!(decode(SYNC, MessageKind::Response, &tree, false).is_empty());
    let mut tree = body(Some("consumer"), None, "assignment", &[b"x"]);
    tree.data[0] = None;
    assert!(decode(SYNC, MessageKind::Response, &tree, false).is_empty());
    let tree = body(
        Some("sr"),
        Some("protocols"),
        "metadata",
        &[SUBSCRIPTION_V3],
    );
    assert!(decode(JOIN, MessageKind::Request, &tree, false).is_empty());
    // Other api keys carry nothing.
    let tree = body(Some("consumer"), None, "assignment", &[ASSIGNMENT_V0]);
    assert!(decode(ApiKey(12), MessageKind::Response, &tree, false).is_empty());
}

#[test]
fn connect_v0_worker_state_and_assignment() {
    let m = connect_metadata_v0();
    let tree = body(Some("connect"), Some("protocols"), "metadata", &[&m]);
    let f = one(JOIN, MessageKind::Request, &tree, false);
    let j = json_of(&f);
    assert_eq!(j["protocol"], "connect");
    assert_eq!(j["version"], 0);
    assert_eq!(j["workerState"]["url"], "http://w1:8083/");
    assert_eq!(j["workerState"]["configOffset"], 7);
    assert!(j["workerState"].get("allocation").is_none());

    let a = connect_assignment(0);
    let tree = body(Some("connect"), None, "assignment", &[&a]);
    let j = json_of(&one(SYNC, MessageKind::Response, &tree, false));
    assert_eq!(j["version"], 0);
    let a = &j["assignment"];
    assert_eq!(a["error"], 0);
    assert_eq!(a["leader"], "worker-1");
    assert_eq!(a["leaderUrl"], "http://w1:8083/");
    assert_eq!(a["configOffset"], 9);
    assert_eq!(a["assignment"][0]["connector"], "sink");
    assert_eq!(a["assignment"][0]["tasks"], serde_json::json!([-1, 0]));
    assert!(a.get("revoked").is_none());
}

#[test]
fn connect_v1_worker_state_with_allocation_and_cooperative_assignment() {
    let m = connect_metadata_v1();
    let tree = body(Some("connect"), Some("protocols"), "metadata", &[&m]);
    let j = json_of(&one(JOIN, MessageKind::Request, &tree, false));
    assert_eq!(j["version"], 1);
    let alloc = &j["workerState"]["allocation"];
    assert_eq!(alloc["version"], 1);
    assert_eq!(alloc["leader"], "worker-1");
    assert_eq!(alloc["revoked"][0]["connector"], "src");
    assert_eq!(alloc["revoked"][0]["tasks"], serde_json::json!([2]));
    assert_eq!(alloc["delay"], 1000);

    // v2 (sessioned) has v1's layout; fields after configOffset may be
    // missing, and assignment and revoked may be null.
    let mut a = connect_assignment(2);
    let tree = body(Some("connect"), None, "assignment", &[&a]);
    let j = json_of(&one(SYNC, MessageKind::Response, &tree, false));
    assert_eq!(j["version"], 2);
    assert_eq!(j["assignment"]["delay"], 1000);
    let short = 2 + 2 + 10 + 17 + 8;
    a.truncate(short);
    a.extend_from_slice(&(-1i32).to_be_bytes());
    let tree = body(Some("connect"), None, "assignment", &[&a]);
    let j = json_of(&one(SYNC, MessageKind::Response, &tree, false));
    assert_eq!(j["assignment"]["assignment"], Json::Null);
    assert!(j["assignment"].get("revoked").is_none());
}

#[test]
fn connect_is_inferred_from_complete_decodes_only() {
    let m = connect_metadata_v1();
    let tree = body(None, Some("members"), "metadata", &[&m]);
    let j = json_of(&one(JOIN, MessageKind::Response, &tree, false));
    assert_eq!(j["protocol"], "connect");
    // A consumer assignment is never taken for Connect's, nor the reverse.
    let tree = body(None, None, "assignment", &[ASSIGNMENT_V0]);
    assert_eq!(
        json_of(&one(SYNC, MessageKind::Response, &tree, false))["protocol"],
        "consumer"
    );
    let a = connect_assignment(1);
    let tree = body(None, None, "assignment", &[&a]);
    assert_eq!(
        json_of(&one(SYNC, MessageKind::Response, &tree, false))["protocol"],
        "connect"
    );
}

#[test]
fn connect_truncated_at_every_offset() {
    for full in [
        connect_metadata_v0(),
        connect_metadata_v1(),
        connect_assignment(0),
        connect_assignment(1),
    ] {
        for n in 1..full.len() {
            let cut = &full[..n];
            for (api, outer, name, kind) in [
                (JOIN, Some("protocols"), "metadata", MessageKind::Request),
                (SYNC, None, "assignment", MessageKind::Response),
            ] {
                let tree = body(Some("connect"), outer, name, &[cut]);
                let f = one(api, kind, &tree, false);
                // Decoded (a tolerated missing tail) or a note, never both
                // missing.
                assert!(f.embedded.is_some() || !f.notes.is_empty());
                let tree = body(None, outer, name, &[cut]);
                let _ = decode(api, kind, &tree, false);
            }
        }
    }
}

#[test]
fn connect_counts_beyond_the_bytes_are_rejected_before_allocating() {
    let mut a = connect_assignment(0);
    let at = 2 + 2 + 10 + 17 + 8;
    a[at..at + 4].copy_from_slice(&i32::MAX.to_be_bytes());
    let tree = body(Some("connect"), None, "assignment", &[&a]);
    let f = one(SYNC, MessageKind::Response, &tree, false);
    assert!(f.embedded.is_none());
    assert!(f.notes[0].contains("truncated at byte 39"), "{:?}", f.notes);
}

// SASL ---------------------------------------------------------------------

fn auth(kind: MessageKind, bytes: &[u8], show: bool) -> Found {
    let tree = body(None, None, "authBytes", &[bytes]);
    one(SASL, kind, &tree, show)
}

fn secret_text(f: &Found, bytes: &[u8]) -> Vec<String> {
    f.embedded
        .as_ref()
        .unwrap()
        .secrets()
        .iter()
        .map(|r| String::from_utf8_lossy(&bytes[r.start as usize..r.end as usize]).into_owned())
        .collect()
}

#[test]
fn plain() {
    let b = b"admin\0alice\0alice-secret";
    let f = auth(MessageKind::Request, b, false);
    let j = json_of(&f);
    assert_eq!(
        j,
        serde_json::json!({"mechanism": "PLAIN", "authzid": "admin", "username": "alice", "password": "***"})
    );
    assert_eq!(secret_text(&f, b), ["alice-secret"]);
    let j = json_of(&auth(MessageKind::Request, b, true));
    assert_eq!(j["password"], "alice-secret");
    let j = json_of(&auth(MessageKind::Request, b"\0bob\0", false));
    assert_eq!(j["authzid"], "");
    assert_eq!(j["username"], "bob");
}

/// RFC 7677's SCRAM-SHA-256 example, the four messages.
const SCRAM_CLIENT_FIRST: &[u8] = b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
const SCRAM_SERVER_FIRST: &[u8] =
    b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
const SCRAM_CLIENT_FINAL: &[u8] = b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
const SCRAM_SERVER_FINAL: &[u8] = b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

#[test]
fn scram_sha_256_all_four_messages() {
    let j = json_of(&auth(MessageKind::Request, SCRAM_CLIENT_FIRST, false));
    assert_eq!(
        j,
        serde_json::json!({"mechanism": "SCRAM", "message": "client-first", "channelBinding": "n",
            "authzid": null, "username": "user", "nonce": "rOprNGfwEbeRWgbNEkqO"})
    );
    let j = json_of(&auth(MessageKind::Response, SCRAM_SERVER_FIRST, false));
    assert_eq!(j["message"], "server-first");
    assert_eq!(
        j["nonce"],
        "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
    );
    assert_eq!(j["salt"], "W22ZaJ0SNY7soEsUEjb6gQ==");
    assert_eq!(j["iterations"], 4096);

    let f = auth(MessageKind::Request, SCRAM_CLIENT_FINAL, false);
    let j = json_of(&f);
    assert_eq!(j["message"], "client-final");
    assert_eq!(j["channelBinding"], "biws");
    assert_eq!(j["proof"], "***");
    assert_eq!(
        secret_text(&f, SCRAM_CLIENT_FINAL),
        ["dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="]
    );
    let j = json_of(&auth(MessageKind::Request, SCRAM_CLIENT_FINAL, true));
    assert_eq!(j["proof"], "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");

    let f = auth(MessageKind::Response, SCRAM_SERVER_FINAL, false);
    let j = json_of(&f);
    assert_eq!(j["message"], "server-final");
    assert_eq!(j["serverSignature"], "***");
    assert_eq!(
        secret_text(&f, SCRAM_SERVER_FINAL),
        ["6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="]
    );
    let j = json_of(&auth(MessageKind::Response, b"e=invalid-proof", false));
    assert_eq!(j["message"], "server-error");
    assert_eq!(j["error"], "invalid-proof");
}

#[test]
fn scram_kafka_token_extension_and_escaped_names() {
    let j = json_of(&auth(
        MessageKind::Request,
        b"n,a=al=2Cice,n=al=3Dice,r=abc,tokenauth=true",
        false,
    ));
    assert_eq!(j["authzid"], "al,ice");
    assert_eq!(j["username"], "al=ice");
    assert_eq!(j["extensions"], serde_json::json!(["tokenauth=true"]));
}

#[test]
fn oauthbearer() {
    let b = b"n,,\x01auth=Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.\x01traceId=42\x01\x01";
    let f = auth(MessageKind::Request, b, false);
    let j = json_of(&f);
    assert_eq!(
        j,
        serde_json::json!({"mechanism": "OAUTHBEARER", "message": "client-initial", "channelBinding": "n",
            "authzid": null, "token": "***", "extensions": ["traceId=42"]})
    );
    assert_eq!(
        secret_text(&f, b),
        ["eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9."]
    );
    let j = json_of(&auth(MessageKind::Request, b, true));
    assert_eq!(j["token"], "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.");
    let j = json_of(&auth(
        MessageKind::Response,
        br#"{"status":"invalid_token"}"#,
        false,
    ));
    assert_eq!(j["mechanism"], "OAUTHBEARER");
    assert_eq!(j["message"], "server-error");
    let j = json_of(&auth(MessageKind::Request, b"\x01", false));
    assert_eq!(j["message"], "client-abort");
}

/// Tokens of mechanisms not recognised (GSSAPI's Kerberos tokens...), of
/// a client or a server: masked whole, shown by their size only.
#[test]
fn unrecognised_tokens_are_masked_whole() {
    let b = b"\x60\x82\x02\x10\x06\x09*\x86H\x86\xf7\x12\x01\x02\x02"; // a GSSAPI token's start
    let f = auth(MessageKind::Request, b, false);
    let j = json_of(&f);
    assert_eq!(
        j,
        serde_json::json!({"mechanism": "unknown", "message": "token", "token": "***", "size": b.len()})
    );
    let whole = 0..b.len() as u32;
    assert_eq!(
        f.embedded.as_ref().unwrap().secrets(),
        std::slice::from_ref(&whole)
    );
    assert!(f.notes[0].starts_with("authBytes: a SASL mechanism not recognised"));
    let j = json_of(&auth(MessageKind::Request, b, true));
    assert_eq!(j["token"], schema::value::base64(b));
    // Three NULs is no PLAIN message: masked as a token all the same.
    let j = json_of(&auth(MessageKind::Request, b"a\0b\0c\0d", false));
    assert_eq!(j["token"], "***");
    // A server token likewise (a GSSAPI AP-REP's start).
    let f = auth(MessageKind::Response, b"\x6f\x81\x85\x30\x81", false);
    assert_eq!(
        json_of(&f),
        serde_json::json!({"mechanism": "unknown", "message": "token", "token": "***", "size": 5})
    );
    assert!(f.notes[0].ends_with("shown by its size only"));
}

#[test]
fn mask_overwrites_secrets_in_place() {
    let mut b = b"\0alice\0pw".to_vec();
    let f = auth(MessageKind::Request, &b, false);
    mask(&mut b, f.embedded.as_ref().unwrap().secrets());
    assert_eq!(b, b"\0alice\0**");
    mask(&mut b, &[5..100, 200..300]);
    assert_eq!(b, b"\0alic****");
}

#[test]
fn sasl_messages_truncated_at_every_offset_never_leak_or_panic() {
    // (direction, message, its secret)
    for (kind, full, secret) in [
        (
            MessageKind::Request,
            &b"\0alice\0alice-secret"[..],
            "alice-secret",
        ),
        (MessageKind::Request, SCRAM_CLIENT_FIRST, ""),
        (MessageKind::Request, SCRAM_CLIENT_FINAL, "dHzbZapWIk4jUhN+"),
        (
            MessageKind::Request,
            b"n,,\x01auth=Bearer XyZ123\x01\x01",
            "XyZ123",
        ),
        (MessageKind::Response, SCRAM_SERVER_FIRST, ""),
        (MessageKind::Response, SCRAM_SERVER_FINAL, "6rriTRBi23Wp"),
    ] {
        for n in 1..=full.len() {
            let cut = &full[..n];
            let f = auth(kind, cut, false);
            let j = f
                .embedded
                .as_ref()
                .map(|e| to_json(e).to_string())
                .unwrap_or_default();
            // Whatever part of the secret the cut holds (from 4
            // characters on) does not appear.
            let text = String::from_utf8_lossy(cut);
            if let Some(at) = text
                .find(&secret[..secret.len().min(4)])
                .filter(|_| !secret.is_empty())
            {
                let part = &text[at..];
                let part = &part[..part.len().min(secret.len())];
                if part.len() >= 4 {
                    assert!(f.embedded.is_some(), "{text:?} kept as base64");
                    assert!(!j.contains(part), "{text:?}: {j}");
                }
            }
        }
    }
}

#[test]
fn arbitrary_bytes_never_panic() {
    // A small deterministic generator over bytes biased toward the
    // delimiters and small lengths these decoders look at.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let alphabet = [
        0u8, 1, 2, 0xff, b',', b'=', 0x01, b'n', b'r', b'p', b'v', b'a', b'{', b'}',
    ];
    for len in 0..64 {
        for _ in 0..200 {
            let mut b = Vec::with_capacity(len);
            for _ in 0..len {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                b.push(alphabet[(x % alphabet.len() as u64) as usize]);
            }
            for (api, outer, name) in [
                (JOIN, Some("protocols"), "metadata"),
                (SYNC, None, "assignment"),
                (SASL, None, "authBytes"),
            ] {
                for pt in [None, Some("consumer"), Some("connect")] {
                    for kind in [MessageKind::Request, MessageKind::Response] {
                        let tree = body(pt, outer, name, &[&b]);
                        for f in decode(api, kind, &tree, false) {
                            if let Some(e) = &f.embedded {
                                let _ = to_json(e);
                            }
                        }
                    }
                }
            }
        }
    }
}
