//! Embedded protocols through the whole pipeline: the consumer protocol in
//! the corpus's JoinGroup and SyncGroup exchanges (librdkafka and
//! kafka-python, old and new versions, an error response), and SASL on
//! hand-built SaslHandshake/SaslAuthenticate exchanges fed as packets, with
//! the secrets absent from every exported line unless `show_secrets`.

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;

use common::*;
use kwire::export::ndjson;
use kwire::kafka::embedded::{Embedded, GroupProtocol, Mechanism, Role, SaslMessage};
use kwire::session::{Body, Exchange, Record, SessionConfig};
use serde_json::Value as Json;

const JOIN_GROUP: i16 = 11;
const SYNC_GROUP: i16 = 14;

fn corpus(name: &str) -> Vec<Record> {
    analyze(&corpus_dir().join(format!("{name}.pcap")), &[]).0
}

fn embedded(b: Option<&Body>) -> Vec<&Embedded> {
    b.map(|b| b.embedded.iter().map(|(_, e)| e).collect())
        .unwrap_or_default()
}

/// The topics of every consumer subscription in JoinGroup requests and
/// responses of `group`, as sets.
fn subscriptions(ex: &[&Exchange], group: &str) -> Vec<BTreeSet<String>> {
    let mut out = Vec::new();
    for e in ex.iter().filter(|e| e.api_key.0 == JOIN_GROUP) {
        let req = e.request_body.as_deref().unwrap();
        if req.tree().get("groupId").and_then(|n| n.as_str()) != Some(group) {
            continue;
        }
        for em in embedded(Some(req))
            .into_iter()
            .chain(embedded(e.response_body.as_deref()))
        {
            let Embedded::Group {
                protocol: GroupProtocol::Consumer,
                role: Role::Metadata,
                tree,
                ..
            } = em
            else {
                panic!("not a consumer subscription: {em:?}");
            };
            out.push(
                tree.get("topics")
                    .unwrap()
                    .children()
                    .iter()
                    .map(|t| t.as_str().unwrap().to_string())
                    .collect(),
            );
        }
    }
    out
}

/// Every (topic, partition) in SyncGroup assignments (requests and
/// responses), and the number of assignments seen.
fn assigned(ex: &[&Exchange]) -> (BTreeSet<(String, i64)>, usize) {
    let mut parts = BTreeSet::new();
    let mut n = 0;
    for e in ex.iter().filter(|e| e.api_key.0 == SYNC_GROUP) {
        for em in embedded(e.request_body.as_deref())
            .into_iter()
            .chain(embedded(e.response_body.as_deref()))
        {
            let Embedded::Group {
                protocol: GroupProtocol::Consumer,
                role: Role::Assignment,
                tree,
                ..
            } = em
            else {
                panic!("not a consumer assignment: {em:?}");
            };
            n += 1;
            for tp in tree.get("assignedPartitions").unwrap().children() {
                let topic = tp.get("topic").unwrap().as_str().unwrap();
                for p in tp.get("partitions").unwrap().children() {
                    parts.insert((topic.to_string(), p.as_int().unwrap()));
                }
            }
        }
    }
    (parts, n)
}

fn set(v: &[&str]) -> BTreeSet<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn confluent_basic_group_billing() {
    let recs = corpus("confluent_basic");
    let ex = exchanges(&recs);
    let subs = subscriptions(&ex, "billing");
    // billing-1 and billing-2 join, each with two protocols (range,
    // roundrobin), and the leader sees the members.
    assert!(subs.len() >= 6, "{subs:?}");
    assert!(subs.iter().all(|s| *s == set(&["events", "orders"])));
    let clients: BTreeSet<&str> = ex
        .iter()
        .filter(|e| e.api_key.0 == JOIN_GROUP)
        .filter_map(|e| e.client_id.as_deref())
        .collect();
    assert!(clients.contains("billing-1") && clients.contains("billing-2"));

    let (parts, n) = assigned(&ex);
    assert!(n >= 4);
    let topics: BTreeSet<&str> = parts.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(topics, BTreeSet::from(["events", "orders"]));
    assert!(parts.contains(&("orders".to_string(), 0)));

    // Rendered as objects, not base64.
    let join = ex.iter().find(|e| e.api_key.0 == JOIN_GROUP).unwrap();
    let j = ndjson::to_json(&Record::Exchange(Box::new((*join).clone())));
    let m = &j["request"]["body"]["protocols"][0]["metadata"];
    assert_eq!(m["protocol"], "consumer");
    assert_eq!(m["version"], 3);
    let topics: BTreeSet<&str> = m["subscription"]["topics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(topics, BTreeSet::from(["events", "orders"]));
    let sync = ex
        .iter()
        .find(|e| e.api_key.0 == SYNC_GROUP && e.response_body.is_some())
        .unwrap();
    let j = ndjson::to_json(&Record::Exchange(Box::new((*sync).clone())));
    let a = &j["response"]["body"]["assignment"];
    assert_eq!(a["protocol"], "consumer");
    assert_eq!(a["version"], 0);
    assert!(a["assignment"]["assignedPartitions"].is_array());
}

#[test]
fn kafka_python_group_analytics() {
    let recs = corpus("kafka_python");
    let ex = exchanges(&recs);
    let subs = subscriptions(&ex, "analytics");
    assert!(!subs.is_empty());
    assert!(subs.iter().all(|s| *s == set(&["clicks"])));
    let (parts, n) = assigned(&ex);
    assert!(n >= 2);
    assert!(parts.contains(&("clicks".to_string(), 0)));
}

#[test]
fn kafka_python_legacy_join_v1_and_failing_sync_v0() {
    let recs = corpus("kafka_python_legacy");
    let ex = exchanges(&recs);
    assert!(
        ex.iter()
            .any(|e| e.api_key.0 == JOIN_GROUP && e.api_version == 1)
    );
    let subs = subscriptions(&ex, "legacy-group");
    assert!(!subs.is_empty());
    assert!(subs.iter().all(|s| *s == set(&["legacy"])));
    // JoinGroup v1 responses do not say the protocol type: inferred.
    let join = ex
        .iter()
        .find(|e| e.api_key.0 == JOIN_GROUP && e.api_version == 1)
        .unwrap();
    assert!(!embedded(join.response_body.as_deref()).is_empty());
    let (parts, _) = assigned(&ex);
    assert!(parts.contains(&("legacy".to_string(), 0)));
    // The SyncGroup v0 that failed with UNKNOWN_MEMBER_ID has a null
    // assignment: nothing embedded, null in the JSON.
    let failed = ex
        .iter()
        .find(|e| {
            e.api_key.0 == SYNC_GROUP && e.errors.iter().any(|er| er.name == "UNKNOWN_MEMBER_ID")
        })
        .expect("the failing SyncGroup");
    assert_eq!(failed.api_version, 0);
    assert!(embedded(failed.response_body.as_deref()).is_empty());
    let j = ndjson::to_json(&Record::Exchange(Box::new((*failed).clone())));
    assert_eq!(j["response"]["body"]["assignment"], Json::Null);
    // Its request still carries the leader's assignment.
    assert!(!embedded(failed.request_body.as_deref()).is_empty());
}

#[test]
fn errors_mtu1500_group_ledger() {
    let recs = corpus("errors_mtu1500");
    let ex = exchanges(&recs);
    let subs = subscriptions(&ex, "ledger");
    assert!(!subs.is_empty());
    assert!(subs.iter().all(|s| *s == set(&["payments"])));
    let (parts, _) = assigned(&ex);
    assert!(parts.contains(&("payments".to_string(), 0)));
    // The NOT_COORDINATOR JoinGroup response has no members: nothing to
    // decode, no note.
    let nc = ex
        .iter()
        .find(|e| {
            e.api_key.0 == JOIN_GROUP && e.errors.iter().any(|er| er.name == "NOT_COORDINATOR")
        })
        .unwrap();
    assert!(embedded(nc.response_body.as_deref()).is_empty());
}

#[test]
fn no_corpus_group_body_is_left_undecoded() {
    for name in corpus_captures() {
        let recs = corpus(&name);
        for e in exchanges(&recs) {
            if e.api_key.0 != JOIN_GROUP && e.api_key.0 != SYNC_GROUP {
                continue;
            }
            let j = ndjson::to_json(&Record::Exchange(Box::new(e.clone())));
            for side in ["request", "response"] {
                for n in j[side]["notes"].as_array().into_iter().flatten() {
                    let n = n.as_str().unwrap();
                    assert!(!n.contains("kept as base64"), "{name}: {n}");
                }
            }
            // No bytes field is left as a base64 string.
            let body = serde_json::to_string(&j).unwrap();
            assert!(!body.contains("\"metadata\":\""), "{name}: {body}");
            assert!(!body.contains("\"assignment\":\""), "{name}: {body}");
        }
    }
}

// SASL on hand-built exchanges ----------------------------------------------

const SASL_HANDSHAKE: i16 = 17;
const SASL_AUTHENTICATE: i16 = 36;

/// A request frame with header v1 (client id "t").
fn request(key: i16, version: i16, corr: i32, body: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend(key.to_be_bytes());
    b.extend(version.to_be_bytes());
    b.extend(corr.to_be_bytes());
    b.extend(1i16.to_be_bytes());
    b.push(b't');
    b.extend(body);
    frame(b)
}

/// A response frame with header v0.
fn response(corr: i32, body: &[u8]) -> Vec<u8> {
    let mut b = corr.to_be_bytes().to_vec();
    b.extend(body);
    frame(b)
}

fn frame(b: Vec<u8>) -> Vec<u8> {
    let mut v = (b.len() as u32).to_be_bytes().to_vec();
    v.extend(b);
    v
}

fn bytes(b: &[u8]) -> Vec<u8> {
    let mut v = (b.len() as i32).to_be_bytes().to_vec();
    v.extend(b);
    v
}

/// SaslAuthenticate v1 response: no error, no message, `auth`, lifetime 0.
fn auth_response(auth: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0, 0xff, 0xff];
    b.extend(bytes(auth));
    b.extend(0i64.to_be_bytes());
    b
}

/// SaslHandshake v1 naming `mechanism`, then a SaslAuthenticate v1
/// exchange per round of (request body, response body), fed as packets.
fn sasl_conn(mechanism: &str, rounds: &[(Vec<u8>, Vec<u8>)]) -> Vec<Record> {
    sasl_conn_with(mechanism, rounds, false)
}

fn sasl_conn_with(
    mechanism: &str,
    rounds: &[(Vec<u8>, Vec<u8>)],
    show_secrets: bool,
) -> Vec<Record> {
    let mut hs = (mechanism.len() as i16).to_be_bytes().to_vec();
    hs.extend(mechanism.as_bytes());
    let mut runs = vec![(true, request(SASL_HANDSHAKE, 1, 1, &hs))];
    let mut hs_resp = vec![0, 0, 0, 0, 0, 1];
    hs_resp.extend(&hs[..]);
    runs.push((false, response(1, &hs_resp)));
    for (i, (req, resp)) in rounds.iter().enumerate() {
        let corr = i as i32 + 2;
        runs.push((true, request(SASL_AUTHENTICATE, 1, corr, req)));
        runs.push((false, response(corr, resp)));
    }
    let conns = [Conn {
        client: SocketAddr::from(([10, 1, 0, 1], 40000)),
        server: SocketAddr::from(([10, 1, 0, 2], 9092)),
        runs,
    }];
    let packets = build(&conns, &|_, _, len| vec![len]);
    let cfg = SessionConfig {
        kafka_ports: vec![9092],
        show_secrets,
        ..SessionConfig::default()
    };
    run_packets(&packets, cfg).0
}

/// Every exported line, as text.
fn lines(recs: &[Record]) -> String {
    recs.iter()
        .map(|r| ndjson::to_json(r).to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The rendered `authBytes` of the SaslAuthenticate exchanges, request and
/// response.
fn auth_json(recs: &[Record]) -> Vec<(Json, Json)> {
    exchanges(recs)
        .into_iter()
        .filter(|e| e.api_key.0 == SASL_AUTHENTICATE)
        .map(|e| {
            let j = ndjson::to_json(&Record::Exchange(Box::new(e.clone())));
            (
                j["request"]["body"]["authBytes"].clone(),
                j["response"]["body"]["authBytes"].clone(),
            )
        })
        .collect()
}

/// Whether `text` holds `secret` as is or in any base64 alignment.
fn leaks(text: &str, secret: &[u8]) -> bool {
    use base64::Engine;
    let e = base64::engine::general_purpose::STANDARD;
    if text.contains(&*String::from_utf8_lossy(secret)) {
        return true;
    }
    // A secret inside base64 shows as the encoding of its middle bytes in
    // one of three alignments.
    (0..3).any(|pad| {
        let mut b = vec![0u8; pad];
        b.extend(secret);
        let enc = e.encode(&b);
        let inner = &enc[4 * pad.div_ceil(3).min(1)..enc.len().saturating_sub(4)];
        inner.len() >= 8 && text.contains(inner)
    })
}

const PASSWORD: &[u8] = b"correct-horse-battery-staple";
const PROOF: &[u8] = b"dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
const SIGNATURE: &[u8] = b"6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";
const TOKEN: &[u8] = b"eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl";

fn plain_rounds() -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut msg = b"\0alice\0".to_vec();
    msg.extend(PASSWORD);
    vec![(bytes(&msg), auth_response(b""))]
}

fn scram_rounds() -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut final_ = b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=".to_vec();
    final_.extend(PROOF);
    let mut server_final = b"v=".to_vec();
    server_final.extend(SIGNATURE);
    vec![
        (
            bytes(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"),
            auth_response(
                b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
            ),
        ),
        (bytes(&final_), auth_response(&server_final)),
    ]
}

fn oauth_rounds() -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut msg = b"n,,\x01auth=Bearer ".to_vec();
    msg.extend(TOKEN);
    msg.extend(b"\x01\x01");
    vec![(bytes(&msg), auth_response(b""))]
}

#[test]
fn plain_is_decoded_and_the_password_masked() {
    let recs = sasl_conn("PLAIN", &plain_rounds());
    let a = auth_json(&recs);
    assert_eq!(a.len(), 1);
    assert_eq!(
        a[0].0,
        serde_json::json!({"mechanism": "PLAIN", "authzid": "", "username": "alice", "password": "***"})
    );
    let all = lines(&recs);
    assert!(!leaks(&all, PASSWORD), "{all}");
    // The body's own copy of the bytes is masked too.
    let ex = exchanges(&recs);
    let e = ex
        .iter()
        .find(|e| e.api_key.0 == SASL_AUTHENTICATE)
        .unwrap();
    let tree = e.request_body.as_ref().unwrap().tree();
    let b = tree.get("authBytes").unwrap().as_bytes().unwrap();
    assert!(!b.windows(PASSWORD.len()).any(|w| w == PASSWORD));
    assert!(b.ends_with(&vec![b'*'; PASSWORD.len()]));

    let recs = sasl_conn_with("PLAIN", &plain_rounds(), true);
    assert!(leaks(&lines(&recs), PASSWORD));
    assert_eq!(
        auth_json(&recs)[0].0["password"],
        "correct-horse-battery-staple"
    );
}

#[test]
fn scram_proof_and_signature_are_masked() {
    let recs = sasl_conn("SCRAM-SHA-256", &scram_rounds());
    let a = auth_json(&recs);
    assert_eq!(a.len(), 2);
    assert_eq!(a[0].0["message"], "client-first");
    assert_eq!(a[0].0["username"], "user");
    assert_eq!(a[0].1["message"], "server-first");
    assert_eq!(a[0].1["iterations"], 4096);
    assert_eq!(a[1].0["message"], "client-final");
    assert_eq!(a[1].0["proof"], "***");
    assert_eq!(a[1].1["message"], "server-final");
    assert_eq!(a[1].1["serverSignature"], "***");
    let all = lines(&recs);
    assert!(!leaks(&all, PROOF), "{all}");
    assert!(!leaks(&all, SIGNATURE), "{all}");

    let recs = sasl_conn_with("SCRAM-SHA-256", &scram_rounds(), true);
    let a = auth_json(&recs);
    assert_eq!(a[1].0["proof"], std::str::from_utf8(PROOF).unwrap());
    assert_eq!(
        a[1].1["serverSignature"],
        std::str::from_utf8(SIGNATURE).unwrap()
    );
}

#[test]
fn oauthbearer_token_is_masked() {
    let recs = sasl_conn("OAUTHBEARER", &oauth_rounds());
    let a = auth_json(&recs);
    assert_eq!(a[0].0["mechanism"], "OAUTHBEARER");
    assert_eq!(a[0].0["token"], "***");
    let all = lines(&recs);
    assert!(!leaks(&all, TOKEN), "{all}");
    let recs = sasl_conn_with("OAUTHBEARER", &oauth_rounds(), true);
    assert_eq!(
        auth_json(&recs)[0].0["token"],
        std::str::from_utf8(TOKEN).unwrap()
    );
}

#[test]
fn secrets_do_not_leak_through_the_raw_bytes_of_a_body_that_failed() {
    // A SCRAM server-final whose sessionLifetimeMs is cut short: the body
    // does not decode, its bytes are kept, the signature masked in them.
    let mut server_final = b"v=".to_vec();
    server_final.extend(SIGNATURE);
    let mut resp = auth_response(&server_final);
    resp.truncate(resp.len() - 4);
    let mut rounds = scram_rounds();
    rounds[1].1 = resp;
    let recs = sasl_conn("SCRAM-SHA-256", &rounds);
    let all = lines(&recs);
    assert!(all.contains("\"decode_error\""), "{all}");
    assert!(all.contains("\"raw\""), "{all}");
    assert!(!leaks(&all, SIGNATURE), "{all}");
    // The check finds the signature in the raw base64 when it is there.
    let all = lines(&sasl_conn_with("SCRAM-SHA-256", &rounds, true));
    let raw: Vec<&str> = all.lines().filter(|l| l.contains("\"raw\"")).collect();
    assert_eq!(raw.len(), 1);
    let raw = serde_json::from_str::<Json>(raw[0]).unwrap()["response"]["raw"].clone();
    assert!(leaks(&raw.to_string(), SIGNATURE), "{raw}");

    // A PLAIN message whose length claims more than the body holds: the
    // authBytes are never read, so the body's bytes are not kept at all.
    let mut msg = b"\0alice\0".to_vec();
    msg.extend(PASSWORD);
    let mut req = ((msg.len() + 10) as i32).to_be_bytes().to_vec();
    req.extend(&msg);
    let recs = sasl_conn("PLAIN", &[(req.clone(), auth_response(b""))]);
    let all = lines(&recs);
    assert!(all.contains("\"decode_error\""), "{all}");
    assert!(!leaks(&all, PASSWORD), "{all}");
    assert!(all.contains("may hold a SASL credential"), "{all}");
    // Shown on request.
    let all = lines(&sasl_conn_with("PLAIN", &[(req, auth_response(b""))], true));
    assert!(all.contains("\"raw\""), "{all}");
}

#[test]
fn sasl_embedded_values() {
    let recs = sasl_conn("SCRAM-SHA-512", &scram_rounds());
    let ex = exchanges(&recs);
    let kinds: Vec<(Mechanism, SaslMessage)> = ex
        .iter()
        .filter(|e| e.api_key.0 == SASL_AUTHENTICATE)
        .flat_map(|e| {
            embedded(e.request_body.as_deref())
                .into_iter()
                .chain(embedded(e.response_body.as_deref()))
        })
        .map(|em| match em {
            Embedded::Sasl {
                mechanism, message, ..
            } => (*mechanism, *message),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            (Mechanism::Scram, SaslMessage::ClientFirst),
            (Mechanism::Scram, SaslMessage::ServerFirst),
            (Mechanism::Scram, SaslMessage::ClientFinal),
            (Mechanism::Scram, SaslMessage::ServerFinal),
        ]
    );
}
