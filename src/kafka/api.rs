//! The Kafka API table: every API key Apache Kafka defines, with the range of
//! versions its message definitions declare and the first flexible version.
//!
//! Facts taken from Apache Kafka's message definitions
//! (`clients/src/main/resources/common/message/*Request.json`), the union of
//! Kafka 3.9 (old versions, e.g. Produce 0–2) and Kafka 4.2/4.3 (newest).

use std::fmt;

/// An API key as on the wire. A newtype, not an enum: unknown keys are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ApiKey(pub i16);

// The constants of every key (`ApiKey::JOIN_GROUP`) are generated:
// `kafka::schema::views`.
impl ApiKey {
    /// What kwire knows of this key, if anything.
    pub fn info(self) -> Option<&'static ApiInfo> {
        let i = usize::try_from(self.0).ok()?;
        API_TABLE.get(i).filter(|a| a.key == self.0)
    }

    /// Kafka's name for the API (`"ApiVersions"`), or `"Unknown"`.
    pub fn name(self) -> &'static str {
        self.info().map_or("Unknown", |a| a.name)
    }

    /// Whether requests of this key and version use the flexible encoding
    /// (request header v2, compact types, tagged fields). Versions newer than
    /// any known are assumed flexible when the API is flexible at all.
    pub fn is_flexible(self, version: i16) -> bool {
        match self.info() {
            Some(a) => a.flexible_from >= 0 && version >= a.flexible_from,
            None => false,
        }
    }

    /// Request header version: 2 when flexible, 0 for ControlledShutdown v0
    /// (the only request with the original header, without client id), else 1.
    pub fn request_header_version(self, version: i16) -> u8 {
        if self == ApiKey::CONTROLLED_SHUTDOWN && version == 0 {
            0
        } else if self.is_flexible(version) {
            2
        } else {
            1
        }
    }

    /// Response header version: 1 (with tagged fields) when flexible, except
    /// ApiVersions, whose response header is always v0 so that a client can
    /// read it before it knows what the broker supports.
    pub fn response_header_version(self, version: i16) -> u8 {
        if self != ApiKey::API_VERSIONS && self.is_flexible(version) {
            1
        } else {
            0
        }
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.info() {
            Some(a) => f.write_str(a.name),
            None => write!(f, "Unknown({})", self.0),
        }
    }
}

/// One row of the API table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ApiInfo {
    pub key: i16,
    pub name: &'static str,
    pub min_version: i16,
    pub max_version: i16,
    /// First flexible version, or -1 when no version is flexible.
    pub flexible_from: i16,
}

impl ApiInfo {
    const fn new(
        key: i16,
        name: &'static str,
        min_version: i16,
        max_version: i16,
        flexible_from: i16,
    ) -> Self {
        ApiInfo {
            key,
            name,
            min_version,
            max_version,
            flexible_from,
        }
    }

    /// Whether `version` is one Kafka defines for this API.
    pub fn knows_version(&self, version: i16) -> bool {
        (self.min_version..=self.max_version).contains(&version)
    }
}

/// All known API keys, indexed by key.
pub fn all() -> &'static [ApiInfo] {
    API_TABLE
}

// (api key, name, lowest version, highest version, first flexible version or -1)
const API_TABLE: &[ApiInfo] = &[
    ApiInfo::new(0, "Produce", 0, 13, 9),
    ApiInfo::new(1, "Fetch", 0, 18, 12),
    ApiInfo::new(2, "ListOffsets", 0, 11, 6),
    ApiInfo::new(3, "Metadata", 0, 13, 9),
    ApiInfo::new(4, "LeaderAndIsr", 0, 7, 4),
    ApiInfo::new(5, "StopReplica", 0, 4, 2),
    ApiInfo::new(6, "UpdateMetadata", 0, 8, 6),
    ApiInfo::new(7, "ControlledShutdown", 0, 3, 3),
    ApiInfo::new(8, "OffsetCommit", 0, 10, 8),
    ApiInfo::new(9, "OffsetFetch", 0, 10, 6),
    ApiInfo::new(10, "FindCoordinator", 0, 6, 3),
    ApiInfo::new(11, "JoinGroup", 0, 9, 6),
    ApiInfo::new(12, "Heartbeat", 0, 4, 4),
    ApiInfo::new(13, "LeaveGroup", 0, 5, 4),
    ApiInfo::new(14, "SyncGroup", 0, 5, 4),
    ApiInfo::new(15, "DescribeGroups", 0, 6, 5),
    ApiInfo::new(16, "ListGroups", 0, 5, 3),
    ApiInfo::new(17, "SaslHandshake", 0, 1, -1),
    ApiInfo::new(18, "ApiVersions", 0, 4, 3),
    ApiInfo::new(19, "CreateTopics", 0, 7, 5),
    ApiInfo::new(20, "DeleteTopics", 0, 6, 4),
    ApiInfo::new(21, "DeleteRecords", 0, 2, 2),
    ApiInfo::new(22, "InitProducerId", 0, 6, 2),
    ApiInfo::new(23, "OffsetForLeaderEpoch", 0, 4, 4),
    ApiInfo::new(24, "AddPartitionsToTxn", 0, 5, 3),
    ApiInfo::new(25, "AddOffsetsToTxn", 0, 4, 3),
    ApiInfo::new(26, "EndTxn", 0, 5, 3),
    ApiInfo::new(27, "WriteTxnMarkers", 0, 2, 1),
    ApiInfo::new(28, "TxnOffsetCommit", 0, 5, 3),
    ApiInfo::new(29, "DescribeAcls", 0, 3, 2),
    ApiInfo::new(30, "CreateAcls", 0, 3, 2),
    ApiInfo::new(31, "DeleteAcls", 0, 3, 2),
    ApiInfo::new(32, "DescribeConfigs", 0, 4, 4),
    ApiInfo::new(33, "AlterConfigs", 0, 2, 2),
    ApiInfo::new(34, "AlterReplicaLogDirs", 0, 2, 2),
    ApiInfo::new(35, "DescribeLogDirs", 0, 5, 2),
    ApiInfo::new(36, "SaslAuthenticate", 0, 2, 2),
    ApiInfo::new(37, "CreatePartitions", 0, 3, 2),
    ApiInfo::new(38, "CreateDelegationToken", 0, 3, 2),
    ApiInfo::new(39, "RenewDelegationToken", 0, 2, 2),
    ApiInfo::new(40, "ExpireDelegationToken", 0, 2, 2),
    ApiInfo::new(41, "DescribeDelegationToken", 0, 3, 2),
    ApiInfo::new(42, "DeleteGroups", 0, 2, 2),
    ApiInfo::new(43, "ElectLeaders", 0, 2, 2),
    ApiInfo::new(44, "IncrementalAlterConfigs", 0, 1, 1),
    ApiInfo::new(45, "AlterPartitionReassignments", 0, 1, 0),
    ApiInfo::new(46, "ListPartitionReassignments", 0, 0, 0),
    ApiInfo::new(47, "OffsetDelete", 0, 0, -1),
    ApiInfo::new(48, "DescribeClientQuotas", 0, 1, 1),
    ApiInfo::new(49, "AlterClientQuotas", 0, 1, 1),
    ApiInfo::new(50, "DescribeUserScramCredentials", 0, 0, 0),
    ApiInfo::new(51, "AlterUserScramCredentials", 0, 0, 0),
    ApiInfo::new(52, "Vote", 0, 2, 0),
    ApiInfo::new(53, "BeginQuorumEpoch", 0, 1, 1),
    ApiInfo::new(54, "EndQuorumEpoch", 0, 1, 1),
    ApiInfo::new(55, "DescribeQuorum", 0, 2, 0),
    ApiInfo::new(56, "AlterPartition", 0, 3, 0),
    ApiInfo::new(57, "UpdateFeatures", 0, 2, 0),
    ApiInfo::new(58, "Envelope", 0, 0, 0),
    ApiInfo::new(59, "FetchSnapshot", 0, 1, 0),
    ApiInfo::new(60, "DescribeCluster", 0, 2, 0),
    ApiInfo::new(61, "DescribeProducers", 0, 0, 0),
    ApiInfo::new(62, "BrokerRegistration", 0, 4, 0),
    ApiInfo::new(63, "BrokerHeartbeat", 0, 2, 0),
    ApiInfo::new(64, "UnregisterBroker", 0, 0, 0),
    ApiInfo::new(65, "DescribeTransactions", 0, 0, 0),
    ApiInfo::new(66, "ListTransactions", 0, 2, 0),
    ApiInfo::new(67, "AllocateProducerIds", 0, 0, 0),
    ApiInfo::new(68, "ConsumerGroupHeartbeat", 0, 1, 0),
    ApiInfo::new(69, "ConsumerGroupDescribe", 0, 1, 0),
    ApiInfo::new(70, "ControllerRegistration", 0, 0, 0),
    ApiInfo::new(71, "GetTelemetrySubscriptions", 0, 0, 0),
    ApiInfo::new(72, "PushTelemetry", 0, 0, 0),
    ApiInfo::new(73, "AssignReplicasToDirs", 0, 0, 0),
    ApiInfo::new(74, "ListConfigResources", 0, 1, 0),
    ApiInfo::new(75, "DescribeTopicPartitions", 0, 0, 0),
    ApiInfo::new(76, "ShareGroupHeartbeat", 0, 1, 0),
    ApiInfo::new(77, "ShareGroupDescribe", 0, 1, 0),
    ApiInfo::new(78, "ShareFetch", 0, 2, 0),
    ApiInfo::new(79, "ShareAcknowledge", 0, 2, 0),
    ApiInfo::new(80, "AddRaftVoter", 0, 1, 0),
    ApiInfo::new(81, "RemoveRaftVoter", 0, 0, 0),
    ApiInfo::new(82, "UpdateRaftVoter", 0, 0, 0),
    ApiInfo::new(83, "InitializeShareGroupState", 0, 0, 0),
    ApiInfo::new(84, "ReadShareGroupState", 0, 0, 0),
    ApiInfo::new(85, "WriteShareGroupState", 0, 1, 0),
    ApiInfo::new(86, "DeleteShareGroupState", 0, 0, 0),
    ApiInfo::new(87, "ReadShareGroupStateSummary", 0, 1, 0),
    ApiInfo::new(88, "StreamsGroupHeartbeat", 0, 0, 0),
    ApiInfo::new(89, "StreamsGroupDescribe", 0, 0, 0),
    ApiInfo::new(90, "DescribeShareGroupOffsets", 0, 1, 0),
    ApiInfo::new(91, "AlterShareGroupOffsets", 0, 0, 0),
    ApiInfo::new(92, "DeleteShareGroupOffsets", 0, 0, 0),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_indexed_by_key() {
        for (i, a) in API_TABLE.iter().enumerate() {
            assert_eq!(a.key as usize, i, "{}", a.name);
            assert!(a.min_version <= a.max_version, "{}", a.name);
        }
    }

    #[test]
    fn header_versions_follow_flexibility() {
        assert_eq!(ApiKey(18).name(), "ApiVersions");
        assert_eq!(ApiKey::API_VERSIONS.request_header_version(3), 2);
        assert_eq!(ApiKey::API_VERSIONS.response_header_version(3), 0);
        assert_eq!(ApiKey::API_VERSIONS.request_header_version(2), 1);
        assert_eq!(ApiKey::METADATA.response_header_version(12), 1);
        assert_eq!(ApiKey::METADATA.response_header_version(8), 0);
        assert_eq!(ApiKey::CONTROLLED_SHUTDOWN.request_header_version(0), 0);
        assert_eq!(ApiKey::SASL_HANDSHAKE.request_header_version(1), 1);
        // Newer than any known version of a flexible API: still flexible.
        assert_eq!(ApiKey::PRODUCE.request_header_version(40), 2);
        assert_eq!(ApiKey(-3).name(), "Unknown");
        assert_eq!(ApiKey(900).to_string(), "Unknown(900)");
    }
}
