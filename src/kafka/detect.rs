//! Is this Kafka? Plausibility tests for frames seen without a port hint.
//!
//! A request is plausible when its size fits, its API key is one Kafka
//! defines, its version is at most a little newer than the newest known, its
//! correlation id is not negative and its client id is null or printable
//! UTF-8 that fits the frame. None of these alone is strong (a random 8-byte
//! string passes the first three about once in 10^8); the session confirms a
//! connection only when a response carries the correlation id of a plausible
//! request, or when its broker endpoint was already confirmed.

use super::api::ApiKey;
use super::frame::Verdict;
use super::header::{HeaderError, parse_request_header};

/// Versions up to this many beyond the newest known are still plausible:
/// clients may be newer than kwire's tables.
pub const VERSION_SLACK: i16 = 4;

/// Longest client id considered plausible while detecting (the wire allows
/// 32767 bytes; real clients send tens).
pub const MAX_PLAUSIBLE_CLIENT_ID: usize = 1024;

/// Smallest request: header v1 with a null client id.
pub const MIN_REQUEST_SIZE: u32 = 10;

/// Judge whether a request frame starts at `bytes[0]` (size prefix included).
/// When `client_id` is given (the connection's known client id), a candidate
/// must carry the same one.
pub fn request_candidate(bytes: &[u8], max_frame_size: u32, client_id: Option<&[u8]>) -> Verdict {
    let Some(size) = bytes.get(..4) else {
        return Verdict::NeedMore;
    };
    let size = u32::from_be_bytes(size.try_into().unwrap());
    // Oversize frames are judged too (to tell a huge request from garbage),
    // but never beyond what an int32 size can say.
    if !(MIN_REQUEST_SIZE..=i32::MAX as u32).contains(&size) {
        return Verdict::No;
    }
    let _ = max_frame_size;
    let frame = &bytes[4..];
    let frame = &frame[..frame.len().min(size as usize)];
    match plausible_request_header(frame, size as usize, client_id) {
        Ok(()) => Verdict::Yes,
        Err(HeaderError::Incomplete) if frame.len() < size as usize => Verdict::NeedMore,
        Err(_) => Verdict::No,
    }
}

/// Stricter than [`request_candidate`], for a connection joined mid-stream
/// where either side may be the client: the version must be one Kafka defines
/// and the client id must be present and non-empty.
pub fn role_candidate(bytes: &[u8]) -> Verdict {
    match request_candidate(bytes, u32::MAX, None) {
        Verdict::Yes => {}
        v => return v,
    }
    let frame = &bytes[4..];
    let key = ApiKey(i16::from_be_bytes([frame[0], frame[1]]));
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let known = key.info().is_some_and(|a| a.knows_version(version));
    let named =
        key.request_header_version(version) >= 1 && i16::from_be_bytes([frame[8], frame[9]]) > 0;
    if known && named {
        Verdict::Yes
    } else {
        Verdict::No
    }
}

/// Check a request header in `frame` (the bytes after the size prefix, at
/// most `size` of them, possibly fewer).
pub fn plausible_request_header(
    frame: &[u8],
    size: usize,
    client_id: Option<&[u8]>,
) -> Result<(), HeaderError> {
    // Judge the fixed part before anything else, so that an implausible key
    // is rejected on 4 bytes.
    if frame.len() >= 4 {
        let key = ApiKey(i16::from_be_bytes([frame[0], frame[1]]));
        let version = i16::from_be_bytes([frame[2], frame[3]]);
        let Some(info) = key.info() else {
            return Err(HeaderError::Invalid("unknown api key"));
        };
        if version < 0 || version > info.max_version.saturating_add(VERSION_SLACK) {
            return Err(HeaderError::Invalid("api version out of range"));
        }
    }
    if frame.len() >= 5 && frame[4] & 0x80 != 0 {
        return Err(HeaderError::Invalid("negative correlation id"));
    }
    let header_v0 = frame.len() >= 4
        && ApiKey(i16::from_be_bytes([frame[0], frame[1]]))
            .request_header_version(i16::from_be_bytes([frame[2], frame[3]]))
            == 0;
    if frame.len() >= 10 && !header_v0 {
        let len = i16::from_be_bytes([frame[8], frame[9]]);
        if len < -1
            || len as isize > size as isize - 10
            || len as isize > MAX_PLAUSIBLE_CLIENT_ID as isize
        {
            return Err(HeaderError::Invalid("client id length"));
        }
    }
    let h = parse_request_header(frame)?;
    if h.header_len > size {
        return Err(HeaderError::Invalid("header longer than frame"));
    }
    if h.header_version == 0 {
        return Ok(());
    }
    match (h.client_id, client_id) {
        (Some(got), Some(want)) if got != want => Err(HeaderError::Invalid("other client id")),
        (Some(got), _) if !printable(got) => Err(HeaderError::Invalid("client id not printable")),
        _ => Ok(()),
    }
}

/// UTF-8 without control characters.
pub fn printable(b: &[u8]) -> bool {
    if b.is_ascii() {
        return b.iter().all(|&c| (0x20..0x7f).contains(&c));
    }
    std::str::from_utf8(b).is_ok_and(|s| !s.chars().any(char::is_control))
}

/// Most frames followed when checking that a response candidate fits.
const CHAIN_MAX: usize = 64;

/// Judge whether a response frame starts at `bytes[0]` (size prefix
/// included). A size and a correlation id are just 8 bytes that a body may
/// contain by chance, so the frames from there on must chain: each one a
/// plausible size, each correlation id a little above the previous one
/// (clients number requests in order and Kafka answers in order), the last
/// ending exactly where the known bytes end.
///
/// - If `in_flight` accepts the first correlation id: `Yes` when the chain
///   reaches the end exactly, or has three links before running past it.
/// - If not (its request is not delivered yet, or was lost): `Yes` only for a
///   chain of two or more reaching the end exactly; a single fitting frame is
///   undecided (`NeedMore`), to be judged again once its request arrives.
pub fn response_candidate(bytes: &[u8], in_flight: impl Fn(i32) -> bool) -> Verdict {
    let header = |at: usize| -> Option<Option<(usize, i32)>> {
        let b = bytes.get(at..at + 8)?;
        let size = u32::from_be_bytes(b[..4].try_into().unwrap());
        if !(4..=i32::MAX as u32).contains(&size) {
            return Some(None);
        }
        Some(Some((
            size as usize,
            i32::from_be_bytes(b[4..8].try_into().unwrap()),
        )))
    };
    let Some(first) = header(0) else {
        return Verdict::NeedMore;
    };
    let Some((mut size, first_corr)) = first else {
        return Verdict::No;
    };
    let expected = in_flight(first_corr);
    let (mut at, mut corr) = (0usize, first_corr);
    for links in 1..=CHAIN_MAX {
        let end = at + 4 + size;
        if end == bytes.len() {
            return if expected || links >= 2 {
                Verdict::Yes
            } else {
                Verdict::NeedMore
            };
        }
        if end > bytes.len() {
            // Undecided until the frame's end arrives (re-judged then), unless
            // several frames already chained.
            return if expected && links >= 3 {
                Verdict::Yes
            } else {
                Verdict::NeedMore
            };
        }
        let Some(next) = header(end) else {
            return Verdict::NeedMore;
        };
        let Some((next_size, next_corr)) = next else {
            return Verdict::No;
        };
        let step = next_corr.wrapping_sub(corr);
        if !(1..1 << 16).contains(&step) {
            return Verdict::No;
        }
        (at, size, corr) = (end, next_size, next_corr);
    }
    if expected {
        Verdict::Yes
    } else {
        Verdict::NeedMore
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(key: i16, ver: i16, corr: i32, client: Option<&[u8]>, extra: usize) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend(key.to_be_bytes());
        body.extend(ver.to_be_bytes());
        body.extend(corr.to_be_bytes());
        match client {
            Some(c) => {
                body.extend((c.len() as i16).to_be_bytes());
                body.extend(c);
            }
            None => body.extend((-1i16).to_be_bytes()),
        }
        if ApiKey(key).request_header_version(ver) == 2 {
            body.push(0);
        }
        body.extend(std::iter::repeat_n(0u8, extra));
        let mut v = (body.len() as u32).to_be_bytes().to_vec();
        v.extend(body);
        v
    }

    #[test]
    fn accepts_real_requests() {
        let r = req(18, 3, 1, Some(b"producer-none"), 30);
        assert_eq!(request_candidate(&r, 1 << 20, None), Verdict::Yes);
        assert_eq!(
            request_candidate(&r, 1 << 20, Some(b"producer-none")),
            Verdict::Yes
        );
        assert_eq!(request_candidate(&r, 1 << 20, Some(b"other")), Verdict::No);
        let r = req(3, 1, 7, None, 4);
        assert_eq!(request_candidate(&r, 1 << 20, None), Verdict::Yes);
    }

    #[test]
    fn header_v0_has_no_client_id_to_check() {
        // ControlledShutdown v0: header v0, then broker id -2 (found by fuzzing:
        // its body was read as a client id length).
        let r = [0, 0, 0, 12, 0, 7, 0, 0, 0, 0, 0, 1, 0xff, 0xfe, 0, 0];
        assert_eq!(request_candidate(&r, 1 << 20, None), Verdict::Yes);
        for cut in 0..r.len() {
            let want = if cut < 12 {
                Verdict::NeedMore
            } else {
                Verdict::Yes
            };
            assert_eq!(
                request_candidate(&r[..cut], 1 << 20, None),
                want,
                "cut {cut}"
            );
        }
    }

    #[test]
    fn short_prefixes_need_more() {
        let r = req(0, 9, 5, Some(b"rdkafka"), 100);
        for cut in 0..(4 + 2 + 2 + 4 + 2 + 7 + 1) {
            assert_eq!(
                request_candidate(&r[..cut], 1 << 20, None),
                Verdict::NeedMore,
                "cut {cut}"
            );
        }
    }

    #[test]
    fn rejects_other_protocols() {
        for other in [
            &b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..],
            &b"HTTP/1.1 200 OK\r\n"[..],
            // TLS ClientHello: record of 0x200 bytes, handshake of 0x1fc.
            &[
                0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
            ][..],
            &b"SSH-2.0-OpenSSH_9.2\r\n"[..],
            // PostgreSQL startup: length, protocol 3.0 (reads as Metadata v0!),
            // then "user\0postgres\0": the client id is not printable.
            &b"\x00\x00\x00\x29\x00\x03\x00\x00user\x00postgres\x00database\x00postgres\x00\x00"[..],
        ] {
            assert_eq!(request_candidate(other, 100 << 20, None), Verdict::No);
        }
    }

    #[test]
    fn random_bytes_are_rarely_plausible() {
        let mut x: u64 = 88172645463325252;
        let mut yes = 0;
        for _ in 0..200_000 {
            let mut b = [0u8; 64];
            for c in b.iter_mut() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *c = x as u8;
            }
            if request_candidate(&b, 100 << 20, None) == Verdict::Yes {
                yes += 1;
            }
        }
        assert_eq!(yes, 0);
    }

    #[test]
    fn a_response_is_not_taken_for_a_request() {
        // ApiVersions v0 response, correlation id 5: reads as Produce v5 with
        // correlation id 0x0000_0000 and a client id of 0x003c bytes.
        let mut r = vec![
            0, 0, 0, 70, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0x3c, 0, 0, 0, 0, 0, 9,
        ];
        r.resize(74, 0);
        assert_eq!(role_candidate(&r), Verdict::No);
        let ok = req(18, 3, 1, Some(b"rdkafka"), 10);
        assert_eq!(role_candidate(&ok), Verdict::Yes);
        let anon = req(3, 1, 7, None, 4);
        assert_eq!(role_candidate(&anon), Verdict::No);
    }

    #[test]
    fn response_needs_expected_correlation_id_and_a_fit() {
        // Two responses: #42 (4 bytes of body), #43 (2 bytes).
        let r = [
            0, 0, 0, 8, 0, 0, 0, 42, 0, 0, 0, 0, 0, 0, 0, 6, 0, 0, 0, 43, 0, 0,
        ];
        let fl = |c: i32| c == 42 || c == 43;
        assert_eq!(response_candidate(&r, fl), Verdict::Yes);
        assert_eq!(response_candidate(&r[..12], fl), Verdict::Yes);
        assert_eq!(response_candidate(&r[12..], fl), Verdict::Yes);
        // Not in flight: a chain of two reaching the end still settles it; one
        // frame alone waits for its request.
        assert_eq!(response_candidate(&r, |c| c == 41), Verdict::Yes);
        assert_eq!(response_candidate(&r[12..], |c| c == 41), Verdict::NeedMore);
        assert_eq!(response_candidate(&r[..7], fl), Verdict::NeedMore);
        // Extends past the known bytes: undecided.
        assert_eq!(response_candidate(&r[..10], fl), Verdict::NeedMore);
        // A size and an in-flight id inside a body, followed by garbage.
        let g = [
            0, 0, 0, 4, 0, 0, 0, 42, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1, 0,
        ];
        assert_eq!(response_candidate(&g, fl), Verdict::No);
        // Small numbers that chain, but with falling correlation ids.
        let a = [0, 0, 0, 4, 0, 0, 0, 43, 0, 0, 0, 4, 0, 0, 0, 42];
        assert_eq!(response_candidate(&a, fl), Verdict::No);
    }
}
