//! What the protocol allows, as data: which error codes an API may return
//! at which versions.
//!
//! Kafka adds error codes to an API at a version bump, so that a client
//! that asks at an older version never meets a code it was written without:
//! a broker must answer it with the older code (or not at all). A broker
//! that sends the new code to an old version breaks that contract, and the
//! client, which does not know the code, usually treats it as fatal or
//! retries forever. Two kinds of facts are kept:
//!
//! * [`SINCE`]: `(API, code, first version)`: the code is defined for the API
//!   from that version on (the API's earlier versions never return it);
//! * [`ONLY`]: `(code, APIs)`: codes that belong to one API family and that
//!   no other API returns.
//!
//! # Where the facts come from
//!
//! Apache Kafka's message definitions (`clients/src/main/resources/common/
//! message/*Response.json`, as of Kafka 4.1: their version comments, e.g.
//! "Starting in version 4, the client needs to issue a second request to
//! join group with assigned id", and their "Supported errors" lists) and the
//! KIPs that introduced each code; each entry names its source. Only codes
//! whose versions the definitions or the KIP state are listed: silence here
//! means "allowed", never "forbidden".

use super::api::ApiKey;
use super::errors::ErrorCode;

/// An error code an API defines only from some version on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Since {
    pub api: ApiKey,
    pub code: ErrorCode,
    /// The first version of `api` that may return `code`.
    pub version: i16,
    /// Where the rule comes from (a KIP, and the Kafka release).
    pub source: &'static str,
}

const fn since(api: ApiKey, code: ErrorCode, version: i16, source: &'static str) -> Since {
    Since {
        api,
        code,
        version,
        source,
    }
}

const KIP_227: &str = "KIP-227, Kafka 1.1";
const KIP_320: &str = "KIP-320, Kafka 2.1";
const KIP_345: &str = "KIP-345, Kafka 2.3";
const KIP_394: &str = "KIP-394, Kafka 2.2";
const KIP_447: &str = "KIP-447, Kafka 2.5";
const KIP_516: &str = "KIP-516, Kafka 3.1";
const KIP_588: &str = "KIP-588, Kafka 2.7";
const KIP_599: &str = "KIP-599, Kafka 2.7";
const KIP_848: &str = "KIP-848, Kafka 3.7";
const KIP_890: &str = "KIP-890, Kafka 3.8";

/// Error codes defined for an API only from a version on.
pub const SINCE: &[Since] = &[
    // Group membership: a second JoinGroup with the id the broker assigned
    // (KIP-394), static membership (KIP-345).
    since(
        ApiKey::JOIN_GROUP,
        ErrorCode::MEMBER_ID_REQUIRED,
        4,
        KIP_394,
    ),
    since(
        ApiKey::JOIN_GROUP,
        ErrorCode::FENCED_INSTANCE_ID,
        5,
        KIP_345,
    ),
    since(
        ApiKey::SYNC_GROUP,
        ErrorCode::FENCED_INSTANCE_ID,
        3,
        KIP_345,
    ),
    since(ApiKey::HEARTBEAT, ErrorCode::FENCED_INSTANCE_ID, 3, KIP_345),
    since(
        ApiKey::LEAVE_GROUP,
        ErrorCode::FENCED_INSTANCE_ID,
        3,
        KIP_345,
    ),
    since(
        ApiKey::OFFSET_COMMIT,
        ErrorCode::FENCED_INSTANCE_ID,
        7,
        KIP_345,
    ),
    // OffsetCommit v0 carries no generation nor member id.
    since(
        ApiKey::OFFSET_COMMIT,
        ErrorCode::ILLEGAL_GENERATION,
        1,
        "Kafka 0.9",
    ),
    since(
        ApiKey::OFFSET_COMMIT,
        ErrorCode::UNKNOWN_MEMBER_ID,
        1,
        "Kafka 0.9",
    ),
    since(
        ApiKey::OFFSET_COMMIT,
        ErrorCode::STALE_MEMBER_EPOCH,
        9,
        KIP_848,
    ),
    since(
        ApiKey::OFFSET_COMMIT,
        ErrorCode::GROUP_ID_NOT_FOUND,
        9,
        KIP_848,
    ),
    since(
        ApiKey::OFFSET_COMMIT,
        ErrorCode::UNKNOWN_TOPIC_ID,
        10,
        KIP_848,
    ),
    since(
        ApiKey::OFFSET_FETCH,
        ErrorCode::UNSTABLE_OFFSET_COMMIT,
        7,
        KIP_447,
    ),
    since(
        ApiKey::OFFSET_FETCH,
        ErrorCode::UNKNOWN_MEMBER_ID,
        9,
        KIP_848,
    ),
    since(
        ApiKey::OFFSET_FETCH,
        ErrorCode::STALE_MEMBER_EPOCH,
        9,
        KIP_848,
    ),
    since(
        ApiKey::OFFSET_FETCH,
        ErrorCode::UNKNOWN_TOPIC_ID,
        10,
        KIP_848,
    ),
    since(
        ApiKey::TXN_OFFSET_COMMIT,
        ErrorCode::ILLEGAL_GENERATION,
        3,
        KIP_447,
    ),
    since(
        ApiKey::TXN_OFFSET_COMMIT,
        ErrorCode::UNKNOWN_MEMBER_ID,
        3,
        KIP_447,
    ),
    since(
        ApiKey::TXN_OFFSET_COMMIT,
        ErrorCode::FENCED_INSTANCE_ID,
        3,
        KIP_447,
    ),
    since(
        ApiKey::DESCRIBE_GROUPS,
        ErrorCode::GROUP_ID_NOT_FOUND,
        6,
        "KIP-1043, Kafka 4.0",
    ),
    // Fetch: sessions, leader epochs, topic ids, tiered storage.
    since(
        ApiKey::FETCH,
        ErrorCode::KAFKA_STORAGE_ERROR,
        6,
        "KIP-112, Kafka 1.0",
    ),
    since(
        ApiKey::FETCH,
        ErrorCode::FETCH_SESSION_ID_NOT_FOUND,
        7,
        KIP_227,
    ),
    since(
        ApiKey::FETCH,
        ErrorCode::INVALID_FETCH_SESSION_EPOCH,
        7,
        KIP_227,
    ),
    since(ApiKey::FETCH, ErrorCode::FENCED_LEADER_EPOCH, 9, KIP_320),
    since(ApiKey::FETCH, ErrorCode::UNKNOWN_LEADER_EPOCH, 9, KIP_320),
    since(ApiKey::FETCH, ErrorCode::UNKNOWN_TOPIC_ID, 13, KIP_516),
    since(ApiKey::FETCH, ErrorCode::INCONSISTENT_TOPIC_ID, 13, KIP_516),
    since(
        ApiKey::FETCH,
        ErrorCode::FETCH_SESSION_TOPIC_ID_ERROR,
        13,
        KIP_516,
    ),
    since(
        ApiKey::FETCH,
        ErrorCode::OFFSET_MOVED_TO_TIERED_STORAGE,
        14,
        "KIP-405, Kafka 3.6",
    ),
    since(
        ApiKey::LIST_OFFSETS,
        ErrorCode::FENCED_LEADER_EPOCH,
        4,
        KIP_320,
    ),
    since(
        ApiKey::LIST_OFFSETS,
        ErrorCode::UNKNOWN_LEADER_EPOCH,
        4,
        KIP_320,
    ),
    since(
        ApiKey::LIST_OFFSETS,
        ErrorCode::OFFSET_NOT_AVAILABLE,
        5,
        "KIP-207, Kafka 2.2",
    ),
    since(
        ApiKey::OFFSET_FOR_LEADER_EPOCH,
        ErrorCode::FENCED_LEADER_EPOCH,
        2,
        KIP_320,
    ),
    since(
        ApiKey::OFFSET_FOR_LEADER_EPOCH,
        ErrorCode::UNKNOWN_LEADER_EPOCH,
        2,
        KIP_320,
    ),
    // Produce.
    since(
        ApiKey::PRODUCE,
        ErrorCode::KAFKA_STORAGE_ERROR,
        4,
        "KIP-112, Kafka 1.0",
    ),
    since(
        ApiKey::PRODUCE,
        ErrorCode::TRANSACTION_ABORTABLE,
        11,
        KIP_890,
    ),
    since(ApiKey::PRODUCE, ErrorCode::UNKNOWN_TOPIC_ID, 13, KIP_516),
    // Transactions: PRODUCER_FENCED (KIP-588), TRANSACTION_ABORTABLE (KIP-890).
    since(
        ApiKey::INIT_PRODUCER_ID,
        ErrorCode::PRODUCER_FENCED,
        4,
        KIP_588,
    ),
    since(
        ApiKey::ADD_PARTITIONS_TO_TXN,
        ErrorCode::PRODUCER_FENCED,
        2,
        KIP_588,
    ),
    since(
        ApiKey::ADD_OFFSETS_TO_TXN,
        ErrorCode::PRODUCER_FENCED,
        2,
        KIP_588,
    ),
    since(ApiKey::END_TXN, ErrorCode::PRODUCER_FENCED, 2, KIP_588),
    since(
        ApiKey::INIT_PRODUCER_ID,
        ErrorCode::TRANSACTION_ABORTABLE,
        5,
        KIP_890,
    ),
    since(
        ApiKey::ADD_PARTITIONS_TO_TXN,
        ErrorCode::TRANSACTION_ABORTABLE,
        5,
        KIP_890,
    ),
    since(
        ApiKey::ADD_OFFSETS_TO_TXN,
        ErrorCode::TRANSACTION_ABORTABLE,
        4,
        KIP_890,
    ),
    since(
        ApiKey::END_TXN,
        ErrorCode::TRANSACTION_ABORTABLE,
        4,
        KIP_890,
    ),
    since(
        ApiKey::TXN_OFFSET_COMMIT,
        ErrorCode::TRANSACTION_ABORTABLE,
        4,
        KIP_890,
    ),
    since(
        ApiKey::FIND_COORDINATOR,
        ErrorCode::TRANSACTION_ABORTABLE,
        5,
        KIP_890,
    ),
    // Admin: controller mutation quotas (KIP-599), topic deletion.
    since(
        ApiKey::CREATE_TOPICS,
        ErrorCode::THROTTLING_QUOTA_EXCEEDED,
        6,
        KIP_599,
    ),
    since(
        ApiKey::CREATE_PARTITIONS,
        ErrorCode::THROTTLING_QUOTA_EXCEEDED,
        3,
        KIP_599,
    ),
    since(
        ApiKey::DELETE_TOPICS,
        ErrorCode::THROTTLING_QUOTA_EXCEEDED,
        5,
        KIP_599,
    ),
    since(
        ApiKey::DELETE_TOPICS,
        ErrorCode::TOPIC_DELETION_DISABLED,
        3,
        "Kafka 2.1",
    ),
    since(
        ApiKey::DELETE_TOPICS,
        ErrorCode::UNKNOWN_TOPIC_ID,
        6,
        KIP_516,
    ),
];

/// A code that only some APIs return.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Only {
    pub code: ErrorCode,
    pub apis: &'static [ApiKey],
    pub source: &'static str,
}

/// Codes of one API family, which no other API returns.
pub const ONLY: &[Only] = &[
    Only {
        code: ErrorCode::MEMBER_ID_REQUIRED,
        apis: &[ApiKey::JOIN_GROUP],
        source: KIP_394,
    },
    Only {
        code: ErrorCode::FETCH_SESSION_ID_NOT_FOUND,
        apis: &[ApiKey::FETCH],
        source: KIP_227,
    },
    Only {
        code: ErrorCode::INVALID_FETCH_SESSION_EPOCH,
        apis: &[ApiKey::FETCH],
        source: KIP_227,
    },
];

/// Why a response may not carry an error code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disallowed {
    /// The API defines the code only from `rule.version`.
    TooNew(&'static Since),
    /// The code belongs to other APIs.
    OtherApi(&'static Only),
    /// Kafka defines no such code.
    Unknown,
}

/// Whether a response of `api` at `version` may carry `code`; `None` when
/// nothing here says it may not. Code 0 (none) is always allowed.
pub fn disallowed(api: ApiKey, version: i16, code: ErrorCode) -> Option<Disallowed> {
    if code.0 == 0 {
        return None;
    }
    if code.info().is_none() {
        return Some(Disallowed::Unknown);
    }
    if let Some(o) = ONLY.iter().find(|o| o.code == code)
        && !o.apis.contains(&api)
    {
        return Some(Disallowed::OtherApi(o));
    }
    SINCE
        .iter()
        .find(|s| s.api == api && s.code == code && version < s.version)
        .map(Disallowed::TooNew)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_id_required_is_join_group_v4_on() {
        let c = ErrorCode::MEMBER_ID_REQUIRED;
        match disallowed(ApiKey::JOIN_GROUP, 1, c) {
            Some(Disallowed::TooNew(s)) => {
                assert_eq!(s.version, 4);
                assert!(s.source.starts_with("KIP-394"));
            }
            other => panic!("{other:?}"),
        }
        assert!(disallowed(ApiKey::JOIN_GROUP, 3, c).is_some());
        assert_eq!(disallowed(ApiKey::JOIN_GROUP, 4, c), None);
        assert_eq!(disallowed(ApiKey::JOIN_GROUP, 9, c), None);
        assert!(matches!(
            disallowed(ApiKey::HEARTBEAT, 4, c),
            Some(Disallowed::OtherApi(_))
        ));
    }

    #[test]
    fn unknown_codes_and_none() {
        assert_eq!(
            disallowed(ApiKey::PRODUCE, 9, ErrorCode(999)),
            Some(Disallowed::Unknown)
        );
        assert_eq!(disallowed(ApiKey::PRODUCE, 0, ErrorCode(0)), None);
        // Codes nothing here constrains are allowed.
        assert_eq!(
            disallowed(ApiKey::PRODUCE, 0, ErrorCode::NOT_LEADER_OR_FOLLOWER),
            None
        );
    }

    #[test]
    fn table_is_consistent() {
        for s in SINCE {
            assert!(s.version > 0, "{s:?}: a rule from v0 says nothing");
            assert!(s.code.info().is_some(), "{s:?}");
            assert!(s.source.contains("Kafka"), "{s:?}");
            let dups = SINCE
                .iter()
                .filter(|o| o.api == s.api && o.code == s.code)
                .count();
            assert_eq!(dups, 1, "{s:?} listed twice");
        }
        for o in ONLY {
            // A code restricted to some APIs is not also versioned for another.
            assert!(
                SINCE
                    .iter()
                    .all(|s| s.code != o.code || o.apis.contains(&s.api)),
                "{o:?}"
            );
        }
    }
}
