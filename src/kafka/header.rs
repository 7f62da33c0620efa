//! Request and response headers.
//!
//! A Kafka message on the wire is `size:int32` followed by `size` bytes: a
//! header and a body. These functions take the bytes after the size prefix.
//!
//! Request header v0: `api_key:int16 api_version:int16 correlation_id:int32`;
//! v1 adds `client_id:nullable string` (int16 length); v2 (flexible versions)
//! adds tagged fields after the client id, which stays a non-compact string.
//! Response header v0: `correlation_id:int32`; v1 adds tagged fields.
//!
//! Contract: no panic, no allocation; incomplete input is `Incomplete`, never
//! an error.

use super::api::ApiKey;

/// Why a header could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderError {
    /// More bytes are needed (the frame is cut short).
    Incomplete,
    /// The bytes cannot be a header.
    Invalid(&'static str),
}

/// A parsed request header, borrowing the client id from the frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestHeader<'a> {
    pub api_key: ApiKey,
    pub api_version: i16,
    pub correlation_id: i32,
    /// `None` for a null client id or header v0.
    pub client_id: Option<&'a [u8]>,
    /// 0, 1 or 2.
    pub header_version: u8,
    /// Number of tagged fields in a v2 header.
    pub tagged_fields: u32,
    /// Bytes taken by the header; the body starts here.
    pub header_len: usize,
}

/// A parsed response header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResponseHeader {
    pub correlation_id: i32,
    pub header_version: u8,
    pub tagged_fields: u32,
    pub header_len: usize,
}

fn i16_at(b: &[u8], at: usize) -> Option<i16> {
    Some(i16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn i32_at(b: &[u8], at: usize) -> Option<i32> {
    Some(i32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Read an unsigned varint (at most 5 bytes, a u32) at `*pos`.
pub fn read_uvarint(b: &[u8], pos: &mut usize) -> Result<u32, HeaderError> {
    let mut value: u32 = 0;
    for i in 0..5 {
        let byte = *b.get(*pos).ok_or(HeaderError::Incomplete)?;
        *pos += 1;
        if i == 4 && byte > 0x0f {
            return Err(HeaderError::Invalid("varint longer than 32 bits"));
        }
        value |= u32::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(HeaderError::Invalid("varint longer than 32 bits"))
}

/// Skip a tagged-field section at `*pos`; returns the number of fields.
fn skip_tagged_fields(b: &[u8], pos: &mut usize) -> Result<u32, HeaderError> {
    let count = read_uvarint(b, pos)?;
    // No allocation follows from `count`: each field read consumes at least
    // two bytes or stops with `Incomplete`, so the loop ends with the input.
    let mut last_tag: Option<u32> = None;
    for _ in 0..count {
        let tag = read_uvarint(b, pos)?;
        if last_tag.is_some_and(|t| tag <= t) {
            return Err(HeaderError::Invalid("tagged fields out of order"));
        }
        last_tag = Some(tag);
        let size = read_uvarint(b, pos)? as usize;
        if b.len() - *pos < size {
            return Err(HeaderError::Incomplete);
        }
        *pos += size;
    }
    Ok(count)
}

/// Parse a request header from the bytes after the size prefix.
///
/// The header version follows from the API key and version; an unknown API
/// key is read as header v1 (api key, version, correlation id, client id).
pub fn parse_request_header(b: &[u8]) -> Result<RequestHeader<'_>, HeaderError> {
    let api_key = ApiKey(i16_at(b, 0).ok_or(HeaderError::Incomplete)?);
    let api_version = i16_at(b, 2).ok_or(HeaderError::Incomplete)?;
    let correlation_id = i32_at(b, 4).ok_or(HeaderError::Incomplete)?;
    if api_version < 0 {
        return Err(HeaderError::Invalid("negative api version"));
    }
    let header_version = api_key.request_header_version(api_version);
    let mut pos = 8;
    let mut client_id = None;
    if header_version >= 1 {
        let len = i16_at(b, pos).ok_or(HeaderError::Incomplete)?;
        pos += 2;
        if len < -1 {
            return Err(HeaderError::Invalid("client id length below -1"));
        }
        if len >= 0 {
            let len = len as usize;
            let s = b.get(pos..pos + len).ok_or(HeaderError::Incomplete)?;
            pos += len;
            client_id = Some(s);
        }
    }
    let mut tagged_fields = 0;
    if header_version >= 2 {
        tagged_fields = skip_tagged_fields(b, &mut pos)?;
    }
    Ok(RequestHeader {
        api_key,
        api_version,
        correlation_id,
        client_id,
        header_version,
        tagged_fields,
        header_len: pos,
    })
}

/// Parse a response header of the given version (0 or 1) from the bytes
/// after the size prefix.
pub fn parse_response_header(b: &[u8], header_version: u8) -> Result<ResponseHeader, HeaderError> {
    let correlation_id = i32_at(b, 0).ok_or(HeaderError::Incomplete)?;
    let mut pos = 4;
    let mut tagged_fields = 0;
    if header_version >= 1 {
        tagged_fields = skip_tagged_fields(b, &mut pos)?;
    }
    Ok(ResponseHeader {
        correlation_id,
        header_version,
        tagged_fields,
        header_len: pos,
    })
}

/// The correlation id of a response: its first four bytes, whatever the
/// header version.
pub fn response_correlation_id(b: &[u8]) -> Option<i32> {
    i32_at(b, 0)
}

/// The `acks` of a Produce request body (after the header), which says
/// whether a response will come (`acks=0`: none). Produce v0–2 start with
/// acks; v3+ put a transactional id before it, compact from v9 (flexible).
pub fn produce_acks(version: i16, body: &[u8]) -> Option<i16> {
    let mut pos = 0usize;
    if version >= 9 {
        // Compact nullable string: length + 1, 0 for null.
        let len = read_uvarint(body, &mut pos).ok()? as usize;
        pos = pos.checked_add(len.saturating_sub(1))?;
    } else if version >= 3 {
        let len = i16_at(body, 0)?;
        pos = 2 + usize::try_from(len).unwrap_or(0);
    }
    i16_at(body, pos)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ApiVersions v3 request (header v2), correlation id 1, client id
    /// "producer-none", no tagged fields; body follows.
    const API_VERSIONS_V3: &[u8] = &[
        0x00, 0x12, // api key 18
        0x00, 0x03, // version 3
        0x00, 0x00, 0x00, 0x01, // correlation id 1
        0x00, 0x0d, b'p', b'r', b'o', b'd', b'u', b'c', b'e', b'r', b'-', b'n', b'o', b'n',
        b'e', // client id
        0x00, // no tagged fields
        0x0e, b'l', b'i', b'b', b'r', b'd', b'k', b'a', b'f', b'k', b'a', // body...
    ];

    #[test]
    fn parses_flexible_request_header() {
        let h = parse_request_header(API_VERSIONS_V3).unwrap();
        assert_eq!(h.api_key, ApiKey(18));
        assert_eq!(h.api_version, 3);
        assert_eq!(h.correlation_id, 1);
        assert_eq!(h.client_id, Some(&b"producer-none"[..]));
        assert_eq!(h.header_version, 2);
        assert_eq!(h.header_len, 24);
    }

    #[test]
    fn every_truncation_is_incomplete() {
        for cut in 0..24 {
            assert_eq!(
                parse_request_header(&API_VERSIONS_V3[..cut]),
                Err(HeaderError::Incomplete),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn null_client_id_and_header_v1() {
        // Metadata v1, correlation id 7, null client id.
        let b = [0, 3, 0, 1, 0, 0, 0, 7, 0xff, 0xff, 0xde, 0xad];
        let h = parse_request_header(&b).unwrap();
        assert_eq!(h.client_id, None);
        assert_eq!(h.header_version, 1);
        assert_eq!(h.header_len, 10);
    }

    #[test]
    fn header_v0_has_no_client_id() {
        // ControlledShutdown v0, correlation id 2, broker id 5.
        let b = [0, 7, 0, 0, 0, 0, 0, 2, 0, 0, 0, 5];
        let h = parse_request_header(&b).unwrap();
        assert_eq!(h.header_version, 0);
        assert_eq!(h.header_len, 8);
    }

    #[test]
    fn rejects_impossible_lengths() {
        let b = [0, 3, 0, 1, 0, 0, 0, 7, 0xff, 0xfe];
        assert!(matches!(
            parse_request_header(&b),
            Err(HeaderError::Invalid(_))
        ));
        let b = [0, 3, 0xff, 0xff, 0, 0, 0, 7, 0, 0];
        assert!(matches!(
            parse_request_header(&b),
            Err(HeaderError::Invalid(_))
        ));
    }

    #[test]
    fn tagged_fields_are_skipped_and_bounded() {
        // Response header v1: correlation id 9, one tagged field (tag 0, 2 bytes).
        let b = [0, 0, 0, 9, 1, 0, 2, 0xaa, 0xbb, 0x42];
        let h = parse_response_header(&b, 1).unwrap();
        assert_eq!(h.correlation_id, 9);
        assert_eq!(h.tagged_fields, 1);
        assert_eq!(h.header_len, 9);
        // A count of 2^31 in a 6-byte buffer fails at once.
        let b = [0, 0, 0, 9, 0x80, 0x80, 0x80, 0x80, 0x08];
        assert!(parse_response_header(&b, 1).is_err());
        // A varint that never ends.
        let b = [0, 0, 0, 9, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
        assert!(matches!(
            parse_response_header(&b, 1),
            Err(HeaderError::Invalid(_))
        ));
    }

    #[test]
    fn produce_acks_by_version() {
        assert_eq!(produce_acks(2, &[0, 1, 0, 0, 0x75, 0x30]), Some(1));
        // v3: null transactional id, acks 0.
        assert_eq!(produce_acks(3, &[0xff, 0xff, 0, 0]), Some(0));
        // v3: transactional id "tx", acks -1.
        assert_eq!(produce_acks(5, &[0, 2, b't', b'x', 0xff, 0xff]), Some(-1));
        // v9: compact null, acks -1; compact "tx", acks 0.
        assert_eq!(produce_acks(9, &[0, 0xff, 0xff]), Some(-1));
        assert_eq!(produce_acks(10, &[3, b't', b'x', 0, 0]), Some(0));
        assert_eq!(produce_acks(10, &[0x80]), None);
        assert_eq!(produce_acks(10, &[0xff, 0xff, 0xff, 0xff, 0x0f]), None);
    }

    #[test]
    fn uvarint_decodes_multibyte_values() {
        let mut pos = 0;
        assert_eq!(read_uvarint(&[0x96, 0x01], &mut pos), Ok(150));
        assert_eq!(pos, 2);
        let mut pos = 0;
        assert_eq!(
            read_uvarint(&[0xff, 0xff, 0xff, 0xff, 0x0f], &mut pos),
            Ok(u32::MAX)
        );
    }
}
