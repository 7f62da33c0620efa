//! Packet and header decoders on arbitrary bytes: `capture::link::decode`
//! under every link type kwire supports (and an unsupported one), and the
//! Kafka header and plausibility functions on the same bytes.
//!
//! Checks beyond "no panic":
//! - a decoded TCP segment's captured payload is a slice of the input, no
//!   longer than its length on the wire;
//! - a parsed request/response header ends within the input, its client id
//!   lies within it, and every shorter prefix of the header is `Incomplete`
//!   (three outcomes: a truncated header is never an error, never a success);
//! - `request_candidate`/`role_candidate` on a prefix say `NeedMore` or what
//!   they say on the whole (a definite verdict never changes with more
//!   bytes).
#![no_main]

use kwire::capture::LinkType;
use kwire::capture::link::{Decoded, decode};
use kwire::kafka::ApiKey;
use kwire::kafka::detect::{
    plausible_request_header, printable, request_candidate, response_candidate, role_candidate,
};
use kwire::kafka::frame::Verdict;
use kwire::kafka::header::{
    HeaderError, parse_request_header, parse_response_header, produce_acks, read_uvarint,
    response_correlation_id,
};
use libfuzzer_sys::fuzz_target;

const LINKS: [LinkType; 9] = [
    LinkType::NULL,
    LinkType::ETHERNET,
    LinkType::RAW,
    LinkType::LOOP,
    LinkType::LINUX_SLL,
    LinkType::IPV4,
    LinkType::IPV6,
    LinkType::LINUX_SLL2,
    LinkType(147), // USER0: unsupported
];

fn within(outer: &[u8], inner: &[u8]) -> bool {
    let (o, i) = (outer.as_ptr() as usize, inner.as_ptr() as usize);
    inner.is_empty() || (i >= o && i + inner.len() <= o + outer.len())
}

/// Cuts of `0..len` to try: all of them when short, else a spread.
fn cuts(len: usize) -> impl Iterator<Item = usize> {
    let step = if len <= 512 { 1 } else { len / 256 };
    (0..len).step_by(step.max(1))
}

fn check_request_header(b: &[u8]) {
    let Ok(h) = parse_request_header(b) else {
        return;
    };
    assert!(h.header_len <= b.len());
    assert!(h.header_len >= 8);
    assert!(h.header_version <= 2);
    if let Some(c) = h.client_id {
        assert!(within(&b[..h.header_len], c));
    }
    assert_eq!(parse_request_header(&b[..h.header_len]), Ok(h));
    for cut in cuts(h.header_len) {
        assert_eq!(
            parse_request_header(&b[..cut]),
            Err(HeaderError::Incomplete),
            "request header {h:?} cut at {cut}"
        );
    }
    let body = &b[h.header_len..];
    if h.api_key == ApiKey::PRODUCE {
        let _ = produce_acks(h.api_version, body);
    }
    let _ = h.api_key.name();
    let _ = h.api_key.is_flexible(h.api_version);
    let _ = h.api_key.response_header_version(h.api_version);
    let _ = printable(h.client_id.unwrap_or(b""));
}

fn check_response_header(b: &[u8], version: u8) {
    let Ok(h) = parse_response_header(b, version) else {
        return;
    };
    assert!(h.header_len <= b.len() && h.header_len >= 4);
    assert_eq!(Some(h.correlation_id), response_correlation_id(b));
    for cut in cuts(h.header_len) {
        assert_eq!(
            parse_response_header(&b[..cut], version),
            Err(HeaderError::Incomplete),
            "response header v{version} {h:?} cut at {cut}"
        );
    }
}

/// A definite verdict on a prefix must be the verdict on the whole.
fn check_monotone(name: &str, b: &[u8], f: impl Fn(&[u8]) -> Verdict) {
    let whole = f(b);
    for cut in cuts(b.len()) {
        let v = f(&b[..cut]);
        assert!(
            v == Verdict::NeedMore || v == whole,
            "{name}: {v:?} on {cut} bytes but {whole:?} on all {}",
            b.len()
        );
    }
}

fuzz_target!(|data: &[u8]| {
    for link in LINKS {
        match decode(link, data) {
            Decoded::Tcp(s) => {
                assert!(within(data, s.payload), "payload outside the input");
                assert!(
                    s.payload.len() as u64 <= u64::from(s.payload_len),
                    "captured payload longer than on the wire"
                );
                let _ = (s.flags.syn(), s.flags.ack(), s.flags.fin(), s.flags.rst());
            }
            Decoded::UnsupportedLink(l) => assert_eq!(l, link),
            _ => {}
        }
        let _ = link.name();
    }

    // The bytes as a frame body (after the size prefix), and with the prefix.
    check_request_header(data);
    check_response_header(data, 0);
    check_response_header(data, 1);
    if let Some(body) = data.get(4..) {
        check_request_header(body);
        check_response_header(body, 1);
        let size = u32::from_be_bytes(data[..4].try_into().unwrap()) as usize;
        let _ = plausible_request_header(body, size, None);
        let _ = plausible_request_header(body, size, Some(b"rdkafka"));
    }
    for v in [0i16, 2, 3, 8, 9, 10, i16::MAX] {
        let _ = produce_acks(v, data);
    }
    let mut pos = 0;
    while pos < data.len() && read_uvarint(data, &mut pos).is_ok() {}

    let candidates = data.len().min(64 << 10);
    let b = &data[..candidates];
    // regressions/link_decode/request_candidate_header_v0_client_id.bin: a
    // Yes on 12 bytes of a header-v0 request that turned No with more (fixed
    // in 98714d6).
    check_monotone("request_candidate", b, |x| {
        request_candidate(x, 1 << 20, None)
    });
    check_monotone("request_candidate(client id)", b, |x| {
        request_candidate(x, 512, Some(b"rdkafka"))
    });
    check_monotone("role_candidate", b, role_candidate);
    // Responses: undecided verdicts are by design not monotone (a chain that
    // ends exactly at the end of the bytes), so just run them.
    let _ = response_candidate(b, |_| false);
    let _ = response_candidate(b, |c| c & 1 == 0);
    if let Some(c) = response_correlation_id(b.get(4..).unwrap_or(&[])) {
        let _ = response_candidate(b, |x| x == c);
    }
});
