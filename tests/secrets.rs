//! Secret fields outside SASL (`kafka::secrets`: SCRAM salted passwords,
//! delegation-token HMACs) through the whole pipeline: bodies encoded by
//! kafka-protocol (an encoder independent of kwire's tables), framed with
//! their headers, fed as packets; the secret bytes are absent from every
//! exported line unless `show_secrets`, present with it.

mod common;

use std::net::SocketAddr;

use bytes::{Bytes, BytesMut};
use common::*;
use kafka_protocol::messages as kp;
use kafka_protocol::protocol::{Encodable, StrBytes};
use kwire::export::ndjson;
use kwire::kafka::ApiKey;
use kwire::session::{Record, SessionConfig};

const SALTED_PASSWORD: &[u8] = b"salted-password-0123456789abcdef";
const SALT: &[u8] = b"visible-salt";
const HMAC: &[u8] = b"delegation-token-hmac-0123456789";

fn encode<T: Encodable>(m: &T, v: i16) -> Vec<u8> {
    let mut out = BytesMut::new();
    m.encode(&mut out, v).expect("encodes");
    out.to_vec()
}

fn frame(b: Vec<u8>) -> Vec<u8> {
    let mut v = (b.len() as u32).to_be_bytes().to_vec();
    v.extend(b);
    v
}

/// A request frame with the header its version takes (client id "t").
fn request(key: ApiKey, version: i16, corr: i32, body: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend(key.0.to_be_bytes());
    b.extend(version.to_be_bytes());
    b.extend(corr.to_be_bytes());
    b.extend(1i16.to_be_bytes());
    b.push(b't');
    if key.request_header_version(version) >= 2 {
        b.push(0);
    }
    b.extend(body);
    frame(b)
}

fn response(key: ApiKey, version: i16, corr: i32, body: &[u8]) -> Vec<u8> {
    let mut b = corr.to_be_bytes().to_vec();
    if key.response_header_version(version) >= 1 {
        b.push(0);
    }
    b.extend(body);
    frame(b)
}

/// One exchange of `key` at `version` (request and response bodies), fed
/// as packets; every exported line.
fn export(key: ApiKey, version: i16, req: &[u8], resp: &[u8], show_secrets: bool) -> String {
    let runs = vec![
        (true, request(key, version, 7, req)),
        (false, response(key, version, 7, resp)),
    ];
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
    let recs: Vec<Record> = run_packets(&packets, cfg).0;
    assert!(
        recs.iter().any(|r| matches!(r, Record::Exchange(_))),
        "no exchange"
    );
    recs.iter()
        .map(|r| ndjson::to_json(r).to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether `text` holds `secret` as is or in any base64 alignment.
fn leaks(text: &str, secret: &[u8]) -> bool {
    use base64::Engine;
    let e = base64::engine::general_purpose::STANDARD;
    if text.contains(&*String::from_utf8_lossy(secret)) {
        return true;
    }
    (0..3).any(|pad| {
        let mut b = vec![0u8; pad];
        b.extend(secret);
        let enc = e.encode(&b);
        let inner = &enc[4 * pad.div_ceil(3).min(1)..enc.len().saturating_sub(4)];
        inner.len() >= 8 && text.contains(inner)
    })
}

/// Masked by default, shown with `show_secrets`.
fn check(what: &str, key: ApiKey, version: i16, req: &[u8], resp: &[u8], secret: &[u8]) {
    let all = export(key, version, req, resp, false);
    assert!(!all.contains("decode_error"), "{what}: {all}");
    assert!(!leaks(&all, secret), "{what} v{version}: {all}");
    let all = export(key, version, req, resp, true);
    assert!(leaks(&all, secret), "{what} v{version}: {all}");
}

fn scram_request() -> kp::AlterUserScramCredentialsRequest {
    kp::AlterUserScramCredentialsRequest::default().with_upsertions(vec![
        kp::alter_user_scram_credentials_request::ScramCredentialUpsertion::default()
            .with_name(StrBytes::from_static_str("alice"))
            .with_mechanism(1)
            .with_iterations(4096)
            .with_salt(Bytes::from_static(SALT))
            .with_salted_password(Bytes::from_static(SALTED_PASSWORD)),
        kp::alter_user_scram_credentials_request::ScramCredentialUpsertion::default()
            .with_name(StrBytes::from_static_str("bob"))
            .with_mechanism(2)
            .with_iterations(8192)
            .with_salt(Bytes::from_static(b"other-salt"))
            .with_salted_password(Bytes::from_static(b"second-salted-password-xyz")),
    ])
}

#[test]
fn scram_salted_passwords_are_masked_and_the_salt_shown() {
    let key = ApiKey::ALTER_USER_SCRAM_CREDENTIALS;
    let req = encode(&scram_request(), 0);
    let resp = encode(&kp::AlterUserScramCredentialsResponse::default(), 0);
    check(
        "AlterUserScramCredentials",
        key,
        0,
        &req,
        &resp,
        SALTED_PASSWORD,
    );
    let all = export(key, 0, &req, &resp, false);
    assert!(!leaks(&all, b"second-salted-password-xyz"), "{all}");
    assert!(leaks(&all, SALT), "the salt is no secret: {all}");
}

#[test]
fn delegation_token_hmacs_are_masked() {
    let hmac = Bytes::from_static(HMAC);
    for v in [1, 2, 3] {
        let key = ApiKey::CREATE_DELEGATION_TOKEN;
        let req = encode(&kp::CreateDelegationTokenRequest::default(), v);
        let resp = encode(
            &kp::CreateDelegationTokenResponse::default()
                .with_token_id(StrBytes::from_static_str("token-1"))
                .with_hmac(hmac.clone()),
            v,
        );
        check("CreateDelegationToken", key, v, &req, &resp, HMAC);

        let key = ApiKey::DESCRIBE_DELEGATION_TOKEN;
        let req = encode(&kp::DescribeDelegationTokenRequest::default(), v);
        let token = kp::describe_delegation_token_response::DescribedDelegationToken::default()
            .with_token_id(StrBytes::from_static_str("token-1"))
            .with_hmac(hmac.clone());
        let resp = encode(
            &kp::DescribeDelegationTokenResponse::default().with_tokens(vec![token.clone(), token]),
            v,
        );
        check("DescribeDelegationToken", key, v, &req, &resp, HMAC);
    }
    for v in [1, 2] {
        let key = ApiKey::RENEW_DELEGATION_TOKEN;
        let req = encode(
            &kp::RenewDelegationTokenRequest::default()
                .with_hmac(hmac.clone())
                .with_renew_period_ms(1000),
            v,
        );
        let resp = encode(&kp::RenewDelegationTokenResponse::default(), v);
        check("RenewDelegationToken", key, v, &req, &resp, HMAC);

        let key = ApiKey::EXPIRE_DELEGATION_TOKEN;
        let req = encode(
            &kp::ExpireDelegationTokenRequest::default()
                .with_hmac(hmac.clone())
                .with_expiry_time_period_ms(-1),
            v,
        );
        let resp = encode(&kp::ExpireDelegationTokenResponse::default(), v);
        check("ExpireDelegationToken", key, v, &req, &resp, HMAC);
    }
}

#[test]
fn secrets_do_not_leak_through_the_raw_bytes_of_a_body_that_failed() {
    let key = ApiKey::ALTER_USER_SCRAM_CREDENTIALS;
    let resp = encode(&kp::AlterUserScramCredentialsResponse::default(), 0);
    let full = encode(&scram_request(), 0);
    // Cut inside the first salted password (its length claims more than is
    // left), and just after it.
    let at = full
        .windows(SALTED_PASSWORD.len())
        .position(|w| w == SALTED_PASSWORD)
        .unwrap();
    for cut in [
        at + SALTED_PASSWORD.len() - 2,
        at + SALTED_PASSWORD.len() + 3,
    ] {
        let req = &full[..cut];
        let part = &SALTED_PASSWORD[..SALTED_PASSWORD.len() - 2];
        let all = export(key, 0, req, &resp, false);
        assert!(all.contains("\"raw\""), "{all}");
        assert!(!leaks(&all, part), "cut at {cut}: {all}");
        let all = export(key, 0, req, &resp, true);
        assert!(leaks(&all, part), "cut at {cut}: {all}");
    }
}
