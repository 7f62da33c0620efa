//! The Kafka error-code table: every error code Apache Kafka defines, from -1
//! (`UNKNOWN_SERVER_ERROR`) to 136 (`CONTROLLER_ID_NOT_REGISTERED`), with
//! Kafka's name, whether Kafka's clients treat it as retriable, a one-line
//! meaning, and the older names a code has had.
//!
//! # Where the facts come from
//!
//! * Codes, names and meanings: Apache Kafka's
//!   `clients/src/main/java/org/apache/kafka/common/protocol/Errors.java`
//!   (the enum the protocol guide's "Error Codes" table is generated from),
//!   as of Kafka 4.2 for -1..=133. The meanings here are Kafka's descriptions,
//!   shortened to one line where Kafka's run longer.
//! * Retriable: the protocol guide prints `True` when the code's exception in
//!   `Errors.java` is an `instanceof RetriableException`. The flags here follow
//!   that rule through the class hierarchy of Kafka 4.2's javadoc
//!   (`RetriableException`, `RefreshRetriableException`,
//!   `InvalidMetadataException` and their subclasses). 32 codes are retriable.
//! * Newest codes: 133 `SHARE_SESSION_LIMIT_REACHED` is the newest code of a
//!   released Kafka (present in 4.1 and 4.2). 134 `GROUP_DELETION_FAILED` and
//!   135 `STREAMS_TOPOLOGY_DESCRIPTION_UPDATE_FAILED` (KIP-1331, apache/kafka
//!   PR #22397) and 136 `CONTROLLER_ID_NOT_REGISTERED` (KIP-1312, apache/kafka
//!   PR #22191) are on Kafka trunk for 4.4 and in the 4.4 docs
//!   (kafka.apache.org/44); their exceptions extend `ApiException`, so they are
//!   not retriable.
//! * Aliases: names a code had in the original protocol guide (the wiki page
//!   "A Guide To The Kafka Protocol", CamelCase: `NotLeaderForPartition`,
//!   `GroupCoordinatorNotAvailable`, ...) and earlier UPPER_SNAKE names of
//!   `Errors.java` (`NOT_LEADER_FOR_PARTITION` until 2.6,
//!   `GROUP_COORDINATOR_NOT_AVAILABLE` in 0.10, `UNKNOWN` for -1 until 2.0).
//!   Forks' codes (e.g. Aiven's mirroring codes from 134 on) are not Kafka's
//!   and are not here.
//!
//! # Contract
//!
//! [`ErrorCode`] keeps any `i16` read off the wire; a code Kafka does not
//! define (or one newer than this table) has no [`ErrorInfo`], is named
//! [`UNKNOWN_CODE_NAME`] and is not retriable (Kafka's own clients map an
//! unknown code to the non-retriable `UNKNOWN_SERVER_ERROR`). Nothing here
//! panics or allocates except [`ErrorCode::from_name`], which copies its
//! argument once.

use std::fmt;

/// The name [`ErrorCode::name`] gives a code that is not in the table.
pub const UNKNOWN_CODE_NAME: &str = "UNKNOWN_ERROR_CODE";

/// An error code as on the wire. A newtype, not an enum: unknown codes are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ErrorCode(pub i16);

impl ErrorCode {
    /// What kwire knows of this code, if anything.
    pub fn info(self) -> Option<&'static ErrorInfo> {
        // The table starts at -1, so code i sits at position i + 1.
        let i = usize::try_from(i32::from(self.0) + 1).ok()?;
        ERROR_TABLE.get(i).filter(|e| e.code == self.0)
    }

    /// Kafka's UPPER_SNAKE name (`"NOT_LEADER_OR_FOLLOWER"`), or
    /// [`UNKNOWN_CODE_NAME`] for a code not in the table.
    pub fn name(self) -> &'static str {
        self.info().map_or(UNKNOWN_CODE_NAME, |e| e.name)
    }

    /// Whether Kafka's clients retry on this code. False for `NONE` and for
    /// codes not in the table.
    pub fn is_retriable(self) -> bool {
        self.info().is_some_and(|e| e.retriable)
    }

    /// True for every code but `NONE` (0).
    pub fn is_error(self) -> bool {
        self.0 != 0
    }

    /// The code with this name: Kafka's current name or any alias, in any
    /// case, with or without underscores (`NotLeaderOrFollower`,
    /// `not_leader_or_follower` and `NOT_LEADER_FOR_PARTITION` all give 6).
    /// Only ASCII letters and digits are compared. The original protocol
    /// guide's `...Code` spelling (`StaleControllerEpochCode`) is accepted
    /// too. A decimal number is not a name; parse it as `i16` instead.
    pub fn from_name(name: &str) -> Option<ErrorCode> {
        let wanted: String = name
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_lowercase())
            .collect();
        if wanted.is_empty() {
            return None;
        }
        find_normalized(&wanted).or_else(|| {
            let stem = wanted.strip_suffix("code")?;
            if stem.is_empty() {
                None
            } else {
                find_normalized(stem)
            }
        })
    }
}

impl fmt::Display for ErrorCode {
    /// Kafka's name, or `UNKNOWN_ERROR_CODE(1234)` for a code not in the table.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.info() {
            Some(e) => f.write_str(e.name),
            None => write!(f, "{UNKNOWN_CODE_NAME}({})", self.0),
        }
    }
}

impl From<i16> for ErrorCode {
    fn from(code: i16) -> Self {
        ErrorCode(code)
    }
}

/// One row of the error table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErrorInfo {
    pub code: i16,
    /// Kafka's current UPPER_SNAKE name.
    pub name: &'static str,
    /// Whether Kafka's exception for the code is a `RetriableException`.
    pub retriable: bool,
    /// What the code means, in one line.
    pub message: &'static str,
    /// Names the code had before (older protocol guide, older `Errors.java`).
    pub aliases: &'static [&'static str],
}

impl ErrorInfo {
    /// The code as an [`ErrorCode`].
    pub fn error_code(&self) -> ErrorCode {
        ErrorCode(self.code)
    }
}

/// All known error codes, from -1 up; code i at position i + 1.
pub fn all() -> &'static [ErrorInfo] {
    ERROR_TABLE
}

/// Whether `candidate`, reduced to lowercase ASCII letters and digits, equals
/// `wanted` (already reduced).
fn normalized_eq(candidate: &str, wanted: &str) -> bool {
    candidate
        .bytes()
        .filter(u8::is_ascii_alphanumeric)
        .map(|b| b.to_ascii_lowercase())
        .eq(wanted.bytes())
}

fn find_normalized(wanted: &str) -> Option<ErrorCode> {
    ERROR_TABLE
        .iter()
        .find(|e| {
            normalized_eq(e.name, wanted) || e.aliases.iter().any(|a| normalized_eq(a, wanted))
        })
        .map(ErrorInfo::error_code)
}

/// Declares one `ErrorCode` constant per row and the table itself from the
/// same list, so the two cannot disagree.
macro_rules! error_table {
    ($( $code:literal $name:ident $retriable:literal $message:literal [$($alias:literal),*] )*) => {
        impl ErrorCode {
            $( pub const $name: ErrorCode = ErrorCode($code); )*
        }

        const ERROR_TABLE: &[ErrorInfo] = &[
            $( ErrorInfo {
                code: $code,
                name: stringify!($name),
                retriable: $retriable,
                message: $message,
                aliases: &[$($alias),*],
            }, )*
        ];
    };
}

// code  name  retriable  one-line meaning  [older names]
error_table! {
    -1 UNKNOWN_SERVER_ERROR false
        "The server experienced an unexpected error when processing the request."
        ["UNKNOWN", "Unknown"]
    0 NONE false "No error." ["NoError"]
    1 OFFSET_OUT_OF_RANGE false
        "The requested offset is not within the range of offsets maintained by the server."
        ["OffsetOutOfRange"]
    2 CORRUPT_MESSAGE true
        "The message failed its CRC check, exceeds the valid size, has a null key for a compacted topic, or is otherwise corrupt."
        ["InvalidMessage", "CorruptMessage"]
    3 UNKNOWN_TOPIC_OR_PARTITION true
        "This server does not host this topic-partition."
        ["UnknownTopicOrPartition"]
    4 INVALID_FETCH_SIZE false "The requested fetch size is invalid." ["InvalidMessageSize"]
    5 LEADER_NOT_AVAILABLE true
        "There is no leader for this topic-partition: a leadership election is in progress."
        ["LeaderNotAvailable"]
    6 NOT_LEADER_OR_FOLLOWER true
        "The broker is not the leader of the partition (or, for requests any replica may serve, not a replica of it)."
        ["NotLeaderForPartition", "NOT_LEADER_FOR_PARTITION"]
    7 REQUEST_TIMED_OUT true "The request timed out." ["RequestTimedOut"]
    8 BROKER_NOT_AVAILABLE false "The broker is not available." ["BrokerNotAvailable"]
    9 REPLICA_NOT_AVAILABLE true
        "The replica is not available for the requested topic-partition."
        ["ReplicaNotAvailable"]
    10 MESSAGE_TOO_LARGE false
        "The request included a message larger than the max message size the server will accept."
        ["MessageSizeTooLarge"]
    11 STALE_CONTROLLER_EPOCH false
        "The controller moved to another broker."
        ["StaleControllerEpoch"]
    12 OFFSET_METADATA_TOO_LARGE false
        "The metadata field of the offset request was too large."
        ["OffsetMetadataTooLarge"]
    13 NETWORK_EXCEPTION true "The server disconnected before a response was received." []
    14 COORDINATOR_LOAD_IN_PROGRESS true
        "The coordinator is loading and hence can't process requests."
        ["GroupLoadInProgress", "OffsetsLoadInProgress", "GROUP_LOAD_IN_PROGRESS"]
    15 COORDINATOR_NOT_AVAILABLE true
        "The coordinator is not available."
        ["GroupCoordinatorNotAvailable", "ConsumerCoordinatorNotAvailable", "GROUP_COORDINATOR_NOT_AVAILABLE"]
    16 NOT_COORDINATOR true
        "This is not the correct coordinator."
        ["NotCoordinatorForGroup", "NotCoordinatorForConsumer", "NOT_COORDINATOR_FOR_GROUP"]
    17 INVALID_TOPIC_EXCEPTION false
        "The request attempted to perform an operation on an invalid topic."
        ["InvalidTopic"]
    18 RECORD_LIST_TOO_LARGE false
        "The request included a message batch larger than the configured segment size on the server."
        []
    19 NOT_ENOUGH_REPLICAS true
        "Messages are rejected since there are fewer in-sync replicas than required."
        []
    20 NOT_ENOUGH_REPLICAS_AFTER_APPEND true
        "Messages are written to the log, but to fewer in-sync replicas than required."
        []
    21 INVALID_REQUIRED_ACKS false
        "Produce request specified an invalid value for required acks."
        []
    22 ILLEGAL_GENERATION false "Specified group generation id is not valid." []
    23 INCONSISTENT_GROUP_PROTOCOL false
        "The member's supported protocols are incompatible with the group's, or its protocol type or list is empty."
        []
    24 INVALID_GROUP_ID false "The group id is invalid." []
    25 UNKNOWN_MEMBER_ID false "The coordinator is not aware of this member." []
    26 INVALID_SESSION_TIMEOUT false
        "The session timeout is outside the range the broker allows (group.min/max.session.timeout.ms)."
        []
    27 REBALANCE_IN_PROGRESS false "The group is rebalancing, so a rejoin is needed." []
    28 INVALID_COMMIT_OFFSET_SIZE false "The committing offset data size is not valid." []
    29 TOPIC_AUTHORIZATION_FAILED false "Topic authorization failed." []
    30 GROUP_AUTHORIZATION_FAILED false "Group authorization failed." []
    31 CLUSTER_AUTHORIZATION_FAILED false "Cluster authorization failed." []
    32 INVALID_TIMESTAMP false "The timestamp of the message is out of acceptable range." []
    33 UNSUPPORTED_SASL_MECHANISM false
        "The broker does not support the requested SASL mechanism."
        []
    34 ILLEGAL_SASL_STATE false "Request is not valid given the current SASL state." []
    35 UNSUPPORTED_VERSION false "The version of API is not supported." []
    36 TOPIC_ALREADY_EXISTS false "Topic with this name already exists." []
    37 INVALID_PARTITIONS false "Number of partitions is below 1." []
    38 INVALID_REPLICATION_FACTOR false
        "Replication factor is below 1 or larger than the number of available brokers."
        []
    39 INVALID_REPLICA_ASSIGNMENT false "Replica assignment is invalid." []
    40 INVALID_CONFIG false "Configuration is invalid." []
    41 NOT_CONTROLLER true "This is not the correct controller for this cluster." []
    42 INVALID_REQUEST false
        "The request is malformed or was sent to an incompatible broker; see the broker logs."
        []
    43 UNSUPPORTED_FOR_MESSAGE_FORMAT false
        "The message format version on the broker does not support the request."
        []
    44 POLICY_VIOLATION false "Request parameters do not satisfy the configured policy." []
    45 OUT_OF_ORDER_SEQUENCE_NUMBER false "The broker received an out of order sequence number." []
    46 DUPLICATE_SEQUENCE_NUMBER false "The broker received a duplicate sequence number." []
    47 INVALID_PRODUCER_EPOCH false "Producer attempted to produce with an old epoch." []
    48 INVALID_TXN_STATE false
        "The producer attempted a transactional operation in an invalid state."
        []
    49 INVALID_PRODUCER_ID_MAPPING false
        "The producer used a producer id not currently assigned to its transactional id."
        []
    50 INVALID_TRANSACTION_TIMEOUT false
        "The transaction timeout is larger than the broker allows (transaction.max.timeout.ms)."
        []
    51 CONCURRENT_TRANSACTIONS true
        "The producer updated a transaction while another operation on it was ongoing."
        []
    52 TRANSACTION_COORDINATOR_FENCED false
        "The transaction coordinator sending a WriteTxnMarker is no longer the producer's current coordinator."
        []
    53 TRANSACTIONAL_ID_AUTHORIZATION_FAILED false "Transactional Id authorization failed." []
    54 SECURITY_DISABLED false "Security features are disabled." []
    55 OPERATION_NOT_ATTEMPTED false
        "The broker did not attempt this operation because others in the same batch failed."
        []
    56 KAFKA_STORAGE_ERROR true "Disk error when trying to access log file on the disk." []
    57 LOG_DIR_NOT_FOUND false
        "The user-specified log directory is not found in the broker config."
        []
    58 SASL_AUTHENTICATION_FAILED false "SASL Authentication failed." []
    59 UNKNOWN_PRODUCER_ID false
        "The broker has no metadata for the producer id (e.g. its records were removed by retention)."
        []
    60 REASSIGNMENT_IN_PROGRESS false "A partition reassignment is in progress." []
    61 DELEGATION_TOKEN_AUTH_DISABLED false "Delegation Token feature is not enabled." []
    62 DELEGATION_TOKEN_NOT_FOUND false "Delegation Token is not found on server." []
    63 DELEGATION_TOKEN_OWNER_MISMATCH false "Specified Principal is not valid Owner/Renewer." []
    64 DELEGATION_TOKEN_REQUEST_NOT_ALLOWED false
        "Delegation Token requests are not allowed on PLAINTEXT/1-way SSL or delegation-token-authenticated channels."
        []
    65 DELEGATION_TOKEN_AUTHORIZATION_FAILED false "Delegation Token authorization failed." []
    66 DELEGATION_TOKEN_EXPIRED false "Delegation Token is expired." []
    67 INVALID_PRINCIPAL_TYPE false "Supplied principalType is not supported." []
    68 NON_EMPTY_GROUP false "The group is not empty." []
    69 GROUP_ID_NOT_FOUND false "The group id does not exist." []
    70 FETCH_SESSION_ID_NOT_FOUND true "The fetch session ID was not found." []
    71 INVALID_FETCH_SESSION_EPOCH true "The fetch session epoch is invalid." []
    72 LISTENER_NOT_FOUND true
        "The leader has no listener matching the one on which the metadata request was processed."
        []
    73 TOPIC_DELETION_DISABLED false "Topic deletion is disabled." []
    74 FENCED_LEADER_EPOCH true
        "The leader epoch in the request is older than the epoch on the broker."
        []
    75 UNKNOWN_LEADER_EPOCH true
        "The leader epoch in the request is newer than the epoch on the broker."
        []
    76 UNSUPPORTED_COMPRESSION_TYPE false
        "The requesting client does not support the compression type of the partition."
        []
    77 STALE_BROKER_EPOCH false "Broker epoch has changed." []
    78 OFFSET_NOT_AVAILABLE true
        "The leader's high watermark has not caught up after an election, so offsets may not be monotonic."
        []
    79 MEMBER_ID_REQUIRED false
        "The member needs a valid member id before it can enter a consumer group."
        []
    80 PREFERRED_LEADER_NOT_AVAILABLE true "The preferred leader was not available." []
    81 GROUP_MAX_SIZE_REACHED false "The group has reached its maximum size." []
    82 FENCED_INSTANCE_ID false
        "Another consumer with the same group.instance.id registered with a different member.id."
        []
    83 ELIGIBLE_LEADERS_NOT_AVAILABLE true "Eligible topic partition leaders are not available." []
    84 ELECTION_NOT_NEEDED true "Leader election not needed for topic partition." []
    85 NO_REASSIGNMENT_IN_PROGRESS false "No partition reassignment is in progress." []
    86 GROUP_SUBSCRIBED_TO_TOPIC false
        "Offsets of a topic cannot be deleted while the consumer group is subscribed to it."
        []
    87 INVALID_RECORD false
        "This record has failed the validation on broker and hence will be rejected."
        []
    88 UNSTABLE_OFFSET_COMMIT true "There are unstable offsets that need to be cleared." []
    89 THROTTLING_QUOTA_EXCEEDED true "The throttling quota has been exceeded." []
    90 PRODUCER_FENCED false
        "A newer producer with the same transactionalId fences the current one."
        []
    91 RESOURCE_NOT_FOUND false
        "A request illegally referred to a resource that does not exist."
        []
    92 DUPLICATE_RESOURCE false "A request illegally referred to the same resource twice." []
    93 UNACCEPTABLE_CREDENTIAL false
        "Requested credential would not meet criteria for acceptability."
        []
    94 INCONSISTENT_VOTER_SET false
        "The sender or recipient of a voter-only request is not one of the expected voters."
        []
    95 INVALID_UPDATE_VERSION false "The given update version was invalid." []
    96 FEATURE_UPDATE_FAILED false
        "Unable to update finalized features due to an unexpected server error."
        []
    97 PRINCIPAL_DESERIALIZATION_FAILURE false
        "Request principal deserialization failed during forwarding."
        []
    98 SNAPSHOT_NOT_FOUND false "Requested snapshot was not found." []
    99 POSITION_OUT_OF_RANGE false
        "Requested position is negative or not less than the size of the snapshot."
        []
    100 UNKNOWN_TOPIC_ID true "This server does not host this topic ID." []
    101 DUPLICATE_BROKER_REGISTRATION false "This broker ID is already in use." []
    102 BROKER_ID_NOT_REGISTERED false "The given broker ID was not registered." []
    103 INCONSISTENT_TOPIC_ID true
        "The log's topic ID did not match the topic ID in the request."
        []
    104 INCONSISTENT_CLUSTER_ID false
        "The clusterId in the request does not match that found on the server."
        []
    105 TRANSACTIONAL_ID_NOT_FOUND false "The transactionalId could not be found." []
    106 FETCH_SESSION_TOPIC_ID_ERROR true
        "The fetch session encountered inconsistent topic ID usage."
        []
    107 INELIGIBLE_REPLICA false "The new ISR contains at least one ineligible replica." []
    108 NEW_LEADER_ELECTED false
        "The AlterPartition request updated the partition state but the leader has changed."
        []
    109 OFFSET_MOVED_TO_TIERED_STORAGE false "The requested offset is moved to tiered storage." []
    110 FENCED_MEMBER_EPOCH false
        "The member epoch is fenced; the member must abandon all its partitions and rejoin."
        []
    111 UNRELEASED_INSTANCE_ID false
        "The instance ID is still used by another member of the consumer group, which must leave first."
        []
    112 UNSUPPORTED_ASSIGNOR false
        "The assignor or its version range is not supported by the consumer group."
        []
    113 STALE_MEMBER_EPOCH false
        "The member epoch is stale; retry after receiving the updated epoch via ConsumerGroupHeartbeat."
        []
    114 MISMATCHED_ENDPOINT_TYPE false "The request was sent to an endpoint of the wrong type." []
    115 UNSUPPORTED_ENDPOINT_TYPE false "This endpoint type is not supported yet." []
    116 UNKNOWN_CONTROLLER_ID false "This controller ID is not known." []
    117 UNKNOWN_SUBSCRIPTION_ID false
        "A push telemetry request carried an invalid or outdated subscription ID."
        []
    118 TELEMETRY_TOO_LARGE false
        "A push telemetry request was larger than the maximum size the broker will accept."
        []
    119 INVALID_REGISTRATION false
        "The controller has considered the broker registration to be invalid."
        []
    120 TRANSACTION_ABORTABLE false
        "The transaction hit an error; the client can abort it to keep using this transactional ID."
        []
    121 INVALID_RECORD_STATE false
        "The record state is invalid; the acknowledgement of delivery could not be completed."
        []
    122 SHARE_SESSION_NOT_FOUND true "The share session was not found." []
    123 INVALID_SHARE_SESSION_EPOCH true "The share session epoch is invalid." []
    124 FENCED_STATE_EPOCH false
        "The share coordinator rejected the request because the share-group state epoch did not match."
        []
    125 INVALID_VOTER_KEY false "The voter key doesn't match the receiving replica's key." []
    126 DUPLICATE_VOTER false "The voter is already part of the set of voters." []
    127 VOTER_NOT_FOUND false "The voter is not part of the set of voters." []
    128 INVALID_REGULAR_EXPRESSION false "The regular expression is not valid." []
    129 REBOOTSTRAP_REQUIRED false
        "Client metadata is stale; the client should rebootstrap to obtain new metadata."
        []
    130 STREAMS_INVALID_TOPOLOGY false "The supplied topology is invalid." []
    131 STREAMS_INVALID_TOPOLOGY_EPOCH false "The supplied topology epoch is invalid." []
    132 STREAMS_TOPOLOGY_FENCED false "The supplied topology epoch is outdated." []
    133 SHARE_SESSION_LIMIT_REACHED true "The limit of share sessions has been reached." []
    134 GROUP_DELETION_FAILED false
        "DeleteGroups could not complete for the group; the per-group error message says why."
        []
    135 STREAMS_TOPOLOGY_DESCRIPTION_UPDATE_FAILED false
        "The broker could not process the streams topology description update."
        []
    136 CONTROLLER_ID_NOT_REGISTERED false "The given controller ID was not registered." []
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Reduce a name the way `from_name` does.
    fn norm(s: &str) -> String {
        s.chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_lowercase())
            .collect()
    }

    #[test]
    fn table_is_indexed_by_code() {
        for (i, e) in ERROR_TABLE.iter().enumerate() {
            assert_eq!(i32::from(e.code) + 1, i as i32, "{}", e.name);
            assert_eq!(e.error_code().info(), Some(e));
        }
        assert_eq!(ERROR_TABLE.first().map(|e| e.code), Some(-1));
        assert_eq!(ERROR_TABLE.last().map(|e| e.code), Some(136));
        assert_eq!(all().len(), 138);
    }

    #[test]
    fn names_are_upper_snake_and_messages_one_line() {
        for e in ERROR_TABLE {
            assert!(
                e.name
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_'),
                "{}",
                e.name
            );
            assert!(!e.message.is_empty(), "{}", e.name);
            assert!(!e.message.contains('\n'), "{}", e.name);
            assert!(e.message.len() <= 120, "{}: {}", e.name, e.message.len());
        }
    }

    #[test]
    fn names_and_aliases_are_unique_across_codes() {
        let mut owner: HashMap<String, i16> = HashMap::new();
        for e in ERROR_TABLE {
            for n in std::iter::once(&e.name).chain(e.aliases) {
                let prev = owner.insert(norm(n), e.code);
                assert!(
                    prev.is_none_or(|c| c == e.code),
                    "{n} names {prev:?} and {}",
                    e.code
                );
            }
        }
        // The `...Code` spelling must not shadow a real name either.
        for key in owner.keys() {
            assert!(!key.ends_with("code"), "{key}");
        }
        assert!(!owner.contains_key(&norm(UNKNOWN_CODE_NAME)));
    }

    #[test]
    fn every_name_and_alias_resolves_to_its_code() {
        for e in ERROR_TABLE {
            assert_eq!(ErrorCode::from_name(e.name), Some(e.error_code()));
            for a in e.aliases {
                assert_eq!(ErrorCode::from_name(a), Some(e.error_code()), "{a}");
            }
        }
    }

    #[test]
    fn old_protocol_guide_names_resolve() {
        let cases: &[(&str, ErrorCode)] = &[
            ("NotLeaderForPartition", ErrorCode::NOT_LEADER_OR_FOLLOWER),
            (
                "NOT_LEADER_FOR_PARTITION",
                ErrorCode::NOT_LEADER_OR_FOLLOWER,
            ),
            (
                "not_leader_for_partition",
                ErrorCode::NOT_LEADER_OR_FOLLOWER,
            ),
            (
                "GroupCoordinatorNotAvailable",
                ErrorCode::COORDINATOR_NOT_AVAILABLE,
            ),
            (
                "GroupCoordinatorNotAvailableCode",
                ErrorCode::COORDINATOR_NOT_AVAILABLE,
            ),
            (
                "ConsumerCoordinatorNotAvailable",
                ErrorCode::COORDINATOR_NOT_AVAILABLE,
            ),
            ("NotCoordinatorForGroup", ErrorCode::NOT_COORDINATOR),
            ("NotCoordinatorForConsumer", ErrorCode::NOT_COORDINATOR),
            (
                "GroupLoadInProgress",
                ErrorCode::COORDINATOR_LOAD_IN_PROGRESS,
            ),
            (
                "OffsetsLoadInProgress",
                ErrorCode::COORDINATOR_LOAD_IN_PROGRESS,
            ),
            (
                "COORDINATOR_LOAD_IN_PROGRESS",
                ErrorCode::COORDINATOR_LOAD_IN_PROGRESS,
            ),
            ("InvalidMessage", ErrorCode::CORRUPT_MESSAGE),
            ("CorruptMessage", ErrorCode::CORRUPT_MESSAGE),
            ("OffsetOutOfRange", ErrorCode::OFFSET_OUT_OF_RANGE),
            (
                "UnknownTopicOrPartition",
                ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
            ),
            ("LeaderNotAvailable", ErrorCode::LEADER_NOT_AVAILABLE),
            ("RequestTimedOut", ErrorCode::REQUEST_TIMED_OUT),
            ("BrokerNotAvailable", ErrorCode::BROKER_NOT_AVAILABLE),
            ("ReplicaNotAvailable", ErrorCode::REPLICA_NOT_AVAILABLE),
            ("MessageSizeTooLarge", ErrorCode::MESSAGE_TOO_LARGE),
            ("StaleControllerEpoch", ErrorCode::STALE_CONTROLLER_EPOCH),
            (
                "StaleControllerEpochCode",
                ErrorCode::STALE_CONTROLLER_EPOCH,
            ),
            (
                "OffsetMetadataTooLarge",
                ErrorCode::OFFSET_METADATA_TOO_LARGE,
            ),
            (
                "OffsetMetadataTooLargeCode",
                ErrorCode::OFFSET_METADATA_TOO_LARGE,
            ),
            ("IllegalGenerationCode", ErrorCode::ILLEGAL_GENERATION),
            ("NoError", ErrorCode::NONE),
            ("Unknown", ErrorCode::UNKNOWN_SERVER_ERROR),
            ("UnknownServerError", ErrorCode::UNKNOWN_SERVER_ERROR),
            ("RebalanceInProgress", ErrorCode::REBALANCE_IN_PROGRESS),
            ("rebalance-in-progress", ErrorCode::REBALANCE_IN_PROGRESS),
        ];
        for &(name, code) in cases {
            assert_eq!(ErrorCode::from_name(name), Some(code), "{name}");
        }
        for name in [
            "",
            "_",
            "Code",
            "code",
            "6",
            "NotAnError",
            "UNKNOWN_ERROR_CODE",
        ] {
            assert_eq!(ErrorCode::from_name(name), None, "{name:?}");
        }
    }

    #[test]
    fn retriable_flags_match_kafka() {
        // Each checked against the protocol guide / the exception's superclass.
        let retriable = [
            ErrorCode::CORRUPT_MESSAGE,
            ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
            ErrorCode::LEADER_NOT_AVAILABLE,
            ErrorCode::NOT_LEADER_OR_FOLLOWER,
            ErrorCode::REQUEST_TIMED_OUT,
            ErrorCode::REPLICA_NOT_AVAILABLE,
            ErrorCode::NETWORK_EXCEPTION,
            ErrorCode::COORDINATOR_LOAD_IN_PROGRESS,
            ErrorCode::COORDINATOR_NOT_AVAILABLE,
            ErrorCode::NOT_COORDINATOR,
            ErrorCode::NOT_ENOUGH_REPLICAS,
            ErrorCode::NOT_CONTROLLER,
            ErrorCode::CONCURRENT_TRANSACTIONS,
            ErrorCode::KAFKA_STORAGE_ERROR,
            ErrorCode::ELECTION_NOT_NEEDED,
            ErrorCode::THROTTLING_QUOTA_EXCEEDED,
            ErrorCode::SHARE_SESSION_LIMIT_REACHED,
        ];
        let not_retriable = [
            ErrorCode::UNKNOWN_SERVER_ERROR,
            ErrorCode::NONE,
            ErrorCode::OFFSET_OUT_OF_RANGE,
            ErrorCode::BROKER_NOT_AVAILABLE,
            ErrorCode::MESSAGE_TOO_LARGE,
            ErrorCode::ILLEGAL_GENERATION,
            ErrorCode::UNKNOWN_MEMBER_ID,
            ErrorCode::REBALANCE_IN_PROGRESS,
            ErrorCode::TOPIC_AUTHORIZATION_FAILED,
            ErrorCode::GROUP_AUTHORIZATION_FAILED,
            ErrorCode::SASL_AUTHENTICATION_FAILED,
            ErrorCode::INVALID_PRODUCER_EPOCH,
            ErrorCode::PRODUCER_FENCED,
            ErrorCode::INVALID_RECORD,
            ErrorCode::FENCED_MEMBER_EPOCH,
            ErrorCode::STALE_MEMBER_EPOCH,
            ErrorCode::TRANSACTION_ABORTABLE,
            ErrorCode::GROUP_DELETION_FAILED,
        ];
        for c in retriable {
            assert!(c.is_retriable(), "{c}");
        }
        for c in not_retriable {
            assert!(!c.is_retriable(), "{c}");
        }
        assert_eq!(ERROR_TABLE.iter().filter(|e| e.retriable).count(), 32);
    }

    #[test]
    fn unknown_codes_are_kept() {
        for c in [
            ErrorCode(-2),
            ErrorCode(137),
            ErrorCode(i16::MIN),
            ErrorCode(i16::MAX),
        ] {
            assert_eq!(c.info(), None);
            assert_eq!(c.name(), UNKNOWN_CODE_NAME);
            assert!(!c.is_retriable());
            assert!(c.is_error());
        }
        assert_eq!(ErrorCode(900).to_string(), "UNKNOWN_ERROR_CODE(900)");
        assert_eq!(ErrorCode(6).to_string(), "NOT_LEADER_OR_FOLLOWER");
        assert_eq!(ErrorCode::from(27).name(), "REBALANCE_IN_PROGRESS");
        assert!(!ErrorCode::NONE.is_error());
        assert_eq!(ErrorCode::default(), ErrorCode::NONE);
    }

    #[test]
    fn constants_match_their_rows() {
        assert_eq!(ErrorCode::UNKNOWN_SERVER_ERROR, ErrorCode(-1));
        assert_eq!(ErrorCode::NOT_LEADER_OR_FOLLOWER, ErrorCode(6));
        assert_eq!(ErrorCode::COORDINATOR_NOT_AVAILABLE, ErrorCode(15));
        assert_eq!(ErrorCode::ILLEGAL_GENERATION, ErrorCode(22));
        assert_eq!(ErrorCode::REBALANCE_IN_PROGRESS, ErrorCode(27));
        assert_eq!(ErrorCode::PRODUCER_FENCED, ErrorCode(90));
        assert_eq!(ErrorCode::SHARE_SESSION_LIMIT_REACHED, ErrorCode(133));
        assert_eq!(ErrorCode::CONTROLLER_ID_NOT_REGISTERED, ErrorCode(136));
    }
}
