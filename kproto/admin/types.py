"""The admin's options and results: typed values named after sarama's where it has one, after
Java's Admin where it does not.

Every per-resource result carries either its value or its ``error`` (a broker's
:class:`kproto.errors.KafkaError`, or the connection or timeout error that ended its retries),
so one failed topic never hides the others; ``raise_for_error()`` turns it into an exception.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import IntEnum

from kproto.errors import KprotoError

__all__ = [
    "AlterConfigsResult", "BrokerInfo", "ClusterDescription", "ConfigEntry", "ConfigResource",
    "ConfigResourceType", "ConfigSource", "ConfigSynonym", "ConsumerGroupListing",
    "CreatePartitionsResult", "CreateTopicResult", "DeleteGroupResult", "DeleteTopicResult",
    "DeletedRecords", "DescribeConfigsResult", "GroupDescription", "GroupMemberDescription",
    "IncrementalAlterConfigsEntry", "IncrementalAlterConfigsOperation",
    "ListConsumerGroupsResult", "ListOffsetsResultInfo",
    "MemberRemovalResult", "OffsetFetchResponseBlock", "OffsetSpec", "PartitionError",
    "PartitionMetadata", "TopicDetail", "TopicMetadata",
    # second batch
    "AclBinding", "AclFilter", "AclOperation", "AclPermissionType", "AclResourcePatternType",
    "AclResourceType", "AclResult", "FeatureUpdate", "FeatureUpdateResult", "FeatureUpgradeType",
    "ListTransactionsResult", "PartitionProducers", "AlterUserScramCredentialsDelete",
    "AlterUserScramCredentialsUpsert", "ClientQuotasOp", "DeleteAclsResult",
    "DescribeClientQuotasEntry", "DescribeLogDirsResult", "ElectionType", "LogDirDescription",
    "PartitionReplicaReassignmentsStatus", "ProducerState", "QuotaEntityComponent",
    "QuotaFilterComponent", "QuotaMatchType", "ReplicaInfo", "ScramCredentialInfo",
    "ScramMechanism", "TransactionDescription", "TransactionListing",
    "UserScramCredentialsDescription", "UserScramCredentialsResult",
]


class _Outcome:
    """A per-resource result: its value fields, or ``error``."""

    __slots__ = ()
    error: KprotoError | None

    @property
    def ok(self) -> bool:
        return self.error is None

    def raise_for_error(self) -> None:
        if self.error is not None:
            raise self.error


# -- options -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TopicDetail:
    """A topic to create (sarama's TopicDetail): ``num_partitions`` and
    ``replication_factor`` (-1: the broker's default), or a ``replica_assignment``
    ``{partition: [broker ids]}`` numbered 0..n-1 instead of both; ``config_entries``."""

    num_partitions: int = -1
    replication_factor: int = -1
    replica_assignment: dict[int, list[int]] | None = None
    config_entries: dict[str, str | None] = field(default_factory=dict)


class ConfigResourceType(IntEnum):
    """What a config belongs to (Kafka's ConfigResource.Type codes)."""

    UNKNOWN = 0
    TOPIC = 2
    BROKER = 4
    BROKER_LOGGER = 8
    CLIENT_METRICS = 16
    GROUP = 32


@dataclass(frozen=True, slots=True)
class ConfigResource:
    """A config owner (sarama's ConfigResource): a topic, a broker (its id as the name; ""
    for the cluster-wide default), a broker's loggers. ``config_names`` limits a describe."""

    type: ConfigResourceType
    name: str
    config_names: tuple[str, ...] | None = None


class IncrementalAlterConfigsOperation(IntEnum):
    SET = 0
    DELETE = 1
    APPEND = 2
    SUBTRACT = 3


@dataclass(frozen=True, slots=True)
class IncrementalAlterConfigsEntry:
    """One change of ``incremental_alter_config`` (sarama's IncrementalAlterConfigsEntry)."""

    operation: IncrementalAlterConfigsOperation
    value: str | None = None


class OffsetSpec(IntEnum):
    """What ``list_offsets`` looks up (Java's OffsetSpec); any other value >= 0 is a
    timestamp in milliseconds: the first offset whose timestamp is at or after it."""

    LATEST = -1
    EARLIEST = -2
    MAX_TIMESTAMP = -3


# -- results -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BrokerInfo:
    node_id: int
    host: str
    port: int
    rack: str | None = None


@dataclass(frozen=True, slots=True)
class ClusterDescription:
    """DescribeCluster's answer (sarama's DescribeCluster gives brokers and controller)."""

    cluster_id: str | None
    controller_id: int
    brokers: tuple[BrokerInfo, ...]


@dataclass(frozen=True, slots=True)
class CreateTopicResult(_Outcome):
    name: str
    error: KprotoError | None = None
    topic_id: uuid.UUID | None = None
    num_partitions: int = -1
    replication_factor: int = -1


@dataclass(frozen=True, slots=True)
class DeleteTopicResult(_Outcome):
    name: str
    error: KprotoError | None = None


@dataclass(frozen=True, slots=True)
class CreatePartitionsResult(_Outcome):
    name: str
    error: KprotoError | None = None


@dataclass(frozen=True, slots=True)
class PartitionMetadata:
    """One partition as metadata describes it (sarama's PartitionMetadata)."""

    id: int
    leader: int
    leader_epoch: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]
    offline_replicas: tuple[int, ...]
    error: KprotoError | None = None


@dataclass(frozen=True, slots=True)
class TopicMetadata(_Outcome):
    """One topic as metadata describes it (sarama's TopicMetadata)."""

    name: str
    error: KprotoError | None = None
    topic_id: uuid.UUID | None = None
    is_internal: bool = False
    partitions: tuple[PartitionMetadata, ...] = ()


class ConfigSource(IntEnum):
    UNKNOWN = 0
    DYNAMIC_TOPIC_CONFIG = 1
    DYNAMIC_BROKER_CONFIG = 2
    DYNAMIC_DEFAULT_BROKER_CONFIG = 3
    STATIC_BROKER_CONFIG = 4
    DEFAULT_CONFIG = 5
    DYNAMIC_BROKER_LOGGER_CONFIG = 6
    CLIENT_METRICS_CONFIG = 7
    GROUP_CONFIG = 8


@dataclass(frozen=True, slots=True)
class ConfigSynonym:
    name: str
    value: str | None
    source: ConfigSource


@dataclass(frozen=True, slots=True)
class ConfigEntry:
    """One config value (sarama's ConfigEntry)."""

    name: str
    value: str | None
    read_only: bool
    default: bool
    source: ConfigSource
    sensitive: bool
    synonyms: tuple[ConfigSynonym, ...] = ()


@dataclass(frozen=True, slots=True)
class DescribeConfigsResult(_Outcome):
    resource: ConfigResource
    error: KprotoError | None = None
    entries: tuple[ConfigEntry, ...] = ()

    def get(self, name: str) -> ConfigEntry | None:
        return next((e for e in self.entries if e.name == name), None)


@dataclass(frozen=True, slots=True)
class AlterConfigsResult(_Outcome):
    resource: ConfigResource
    error: KprotoError | None = None


@dataclass(frozen=True, slots=True)
class DeletedRecords(_Outcome):
    """DeleteRecords' answer for one partition: its new low watermark (Java's DeletedRecords)."""

    topic: str
    partition: int
    error: KprotoError | None = None
    low_watermark: int = -1


@dataclass(frozen=True, slots=True)
class ListOffsetsResultInfo(_Outcome):
    """The offset ``list_offsets`` found for one partition (Java's ListOffsetsResultInfo);
    ``timestamp`` is -1 for earliest and latest."""

    topic: str
    partition: int
    error: KprotoError | None = None
    offset: int = -1
    timestamp: int = -1
    leader_epoch: int = -1


@dataclass(frozen=True, slots=True)
class ConsumerGroupListing:
    """A group as ListGroups names it (Java's ConsumerGroupListing)."""

    group_id: str
    protocol_type: str
    state: str = ""
    type: str = ""


@dataclass(frozen=True, slots=True)
class ListConsumerGroupsResult:
    """Every broker's groups (Java's ListConsumerGroupsResult): ``groups`` by id, and
    ``errors`` by broker id for the brokers that did not answer (their groups are missing)."""

    groups: dict[str, ConsumerGroupListing]
    errors: dict[int, KprotoError]


@dataclass(frozen=True, slots=True)
class GroupMemberDescription:
    """One member of a described group (sarama's GroupMemberDescription)."""

    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    member_metadata: bytes
    member_assignment: bytes


@dataclass(frozen=True, slots=True)
class GroupDescription(_Outcome):
    """A described group (sarama's GroupDescription)."""

    group_id: str
    error: KprotoError | None = None
    state: str = ""
    protocol_type: str = ""
    protocol: str = ""
    members: tuple[GroupMemberDescription, ...] = ()
    coordinator: int = -1


@dataclass(frozen=True, slots=True)
class OffsetFetchResponseBlock(_Outcome):
    """A group's committed offset for one partition (sarama's OffsetFetchResponseBlock);
    -1 when the group committed none."""

    offset: int = -1
    leader_epoch: int = -1
    metadata: str | None = None
    error: KprotoError | None = None


@dataclass(frozen=True, slots=True)
class PartitionError(_Outcome):
    """A per-partition outcome with no value (offset commits and deletions)."""

    topic: str
    partition: int
    error: KprotoError | None = None


@dataclass(frozen=True, slots=True)
class DeleteGroupResult(_Outcome):
    group_id: str
    error: KprotoError | None = None


@dataclass(frozen=True, slots=True)
class MemberRemovalResult(_Outcome):
    """LeaveGroup's answer for one static member."""

    group_instance_id: str
    error: KprotoError | None = None


# -- log dirs, reassignments, elections ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReplicaInfo:
    """One replica in a log dir (Java's ReplicaInfo)."""

    size: int
    offset_lag: int
    is_future: bool


@dataclass(frozen=True, slots=True)
class LogDirDescription(_Outcome):
    """One log dir of a broker (Java's LogDirDescription)."""

    path: str
    error: KprotoError | None = None
    replicas: dict[tuple[str, int], ReplicaInfo] = field(default_factory=dict)
    total_bytes: int = -1
    usable_bytes: int = -1


@dataclass(frozen=True, slots=True)
class DescribeLogDirsResult(_Outcome):
    """One broker's log dirs."""

    broker: int
    error: KprotoError | None = None
    log_dirs: tuple[LogDirDescription, ...] = ()


@dataclass(frozen=True, slots=True)
class PartitionReplicaReassignmentsStatus:
    """An ongoing reassignment (sarama's PartitionReplicaReassignmentsStatus)."""

    replicas: tuple[int, ...]
    adding_replicas: tuple[int, ...]
    removing_replicas: tuple[int, ...]


class ElectionType(IntEnum):
    PREFERRED = 0
    UNCLEAN = 1


# -- SCRAM credentials -----------------------------------------------------------------------


class ScramMechanism(IntEnum):
    UNKNOWN = 0
    SCRAM_SHA_256 = 1
    SCRAM_SHA_512 = 2


@dataclass(frozen=True, slots=True)
class ScramCredentialInfo:
    mechanism: ScramMechanism
    iterations: int


@dataclass(frozen=True, slots=True)
class UserScramCredentialsDescription(_Outcome):
    """A user's SCRAM credentials (sarama's DescribeUserScramCredentialsResult)."""

    user: str
    error: KprotoError | None = None
    credentials: tuple[ScramCredentialInfo, ...] = ()


@dataclass(frozen=True, slots=True, repr=False)
class AlterUserScramCredentialsUpsert:
    """A SCRAM credential to set (sarama's AlterUserScramCredentialsUpsert); the salted
    password is computed here, the password itself is never sent. ``salt`` defaults to 32
    random bytes."""

    name: str
    mechanism: ScramMechanism
    iterations: int
    password: str
    salt: bytes | None = None

    def __repr__(self) -> str:
        return (f"AlterUserScramCredentialsUpsert(name={self.name!r}, "
                f"mechanism={self.mechanism!r}, iterations={self.iterations})")


@dataclass(frozen=True, slots=True)
class AlterUserScramCredentialsDelete:
    name: str
    mechanism: ScramMechanism


@dataclass(frozen=True, slots=True)
class UserScramCredentialsResult(_Outcome):
    user: str
    error: KprotoError | None = None


# -- client quotas ---------------------------------------------------------------------------


class QuotaMatchType(IntEnum):
    EXACT = 0
    DEFAULT = 1
    ANY = 2


@dataclass(frozen=True, slots=True)
class QuotaFilterComponent:
    """One part of a quota filter (sarama's QuotaFilterComponent): ``entity_type`` is
    "user", "client-id" or "ip"; ``match`` the name for EXACT."""

    entity_type: str
    match_type: QuotaMatchType
    match: str | None = None


@dataclass(frozen=True, slots=True)
class QuotaEntityComponent:
    """One part of a quota entity (sarama's QuotaEntityComponent); ``name`` None is the
    default entity."""

    entity_type: str
    name: str | None = None


@dataclass(frozen=True, slots=True)
class ClientQuotasOp:
    """Set ``key`` to ``value``, or remove it (sarama's ClientQuotasOp)."""

    key: str
    value: float = 0.0
    remove: bool = False


@dataclass(frozen=True, slots=True)
class DescribeClientQuotasEntry:
    """An entity and its quotas (sarama's DescribeClientQuotasEntry)."""

    entity: dict[str, str | None]
    values: dict[str, float]


# -- ACLs ------------------------------------------------------------------------------------


class AclResourceType(IntEnum):
    UNKNOWN = 0
    ANY = 1
    TOPIC = 2
    GROUP = 3
    CLUSTER = 4
    TRANSACTIONAL_ID = 5
    DELEGATION_TOKEN = 6
    USER = 7


class AclResourcePatternType(IntEnum):
    UNKNOWN = 0
    ANY = 1
    MATCH = 2
    LITERAL = 3
    PREFIXED = 4


class AclOperation(IntEnum):
    UNKNOWN = 0
    ANY = 1
    ALL = 2
    READ = 3
    WRITE = 4
    CREATE = 5
    DELETE = 6
    ALTER = 7
    DESCRIBE = 8
    CLUSTER_ACTION = 9
    DESCRIBE_CONFIGS = 10
    ALTER_CONFIGS = 11
    IDEMPOTENT_WRITE = 12
    CREATE_TOKENS = 13
    DESCRIBE_TOKENS = 14


class AclPermissionType(IntEnum):
    UNKNOWN = 0
    ANY = 1
    DENY = 2
    ALLOW = 3


@dataclass(frozen=True, slots=True)
class AclBinding:
    """One ACL: a resource pattern and an access entry (Java's AclBinding; sarama's
    Resource + Acl)."""

    resource_type: AclResourceType
    resource_name: str
    principal: str
    operation: AclOperation
    permission_type: AclPermissionType = AclPermissionType.ALLOW
    host: str = "*"
    pattern_type: AclResourcePatternType = AclResourcePatternType.LITERAL


@dataclass(frozen=True, slots=True)
class AclFilter:
    """Which ACLs to list or delete (sarama's AclFilter): None matches any name, principal
    or host; ANY matches any type, operation, permission or pattern."""

    resource_type: AclResourceType = AclResourceType.ANY
    resource_name: str | None = None
    pattern_type: AclResourcePatternType = AclResourcePatternType.ANY
    principal: str | None = None
    host: str | None = None
    operation: AclOperation = AclOperation.ANY
    permission_type: AclPermissionType = AclPermissionType.ANY


@dataclass(frozen=True, slots=True)
class AclResult(_Outcome):
    """One ACL created."""

    acl: AclBinding
    error: KprotoError | None = None


@dataclass(frozen=True, slots=True)
class DeleteAclsResult(_Outcome):
    """What one filter deleted (sarama's MatchingAcl list)."""

    filter: AclFilter
    error: KprotoError | None = None
    deleted: tuple[AclBinding, ...] = ()


# -- producers and transactions --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProducerState:
    """An active producer of a partition (Java's ProducerState)."""

    producer_id: int
    producer_epoch: int
    last_sequence: int
    last_timestamp: int
    coordinator_epoch: int
    current_txn_start_offset: int


@dataclass(frozen=True, slots=True)
class TransactionDescription(_Outcome):
    """A transactional id's state at its coordinator (Java's TransactionDescription)."""

    transactional_id: str
    error: KprotoError | None = None
    state: str = ""
    producer_id: int = -1
    producer_epoch: int = -1
    timeout_ms: int = -1
    start_time_ms: int = -1
    partitions: tuple[tuple[str, int], ...] = ()
    coordinator: int = -1


@dataclass(frozen=True, slots=True)
class TransactionListing:
    """A transaction as ListTransactions names it (Java's TransactionListing)."""

    transactional_id: str
    producer_id: int
    state: str


@dataclass(frozen=True, slots=True)
class PartitionProducers(_Outcome):
    """The active producers of one partition (Java's PartitionProducerState)."""

    topic: str
    partition: int
    error: KprotoError | None = None
    producers: tuple[ProducerState, ...] = ()


@dataclass(frozen=True, slots=True)
class ListTransactionsResult:
    """Every broker's transactions (Java's ListTransactionsResult): ``transactions``, and
    ``errors`` by broker id for the brokers that did not answer."""

    transactions: list[TransactionListing]
    errors: dict[int, KprotoError]


class FeatureUpgradeType(IntEnum):
    """How a finalized feature level may move (Java's FeatureUpdate.UpgradeType)."""

    UPGRADE = 1
    SAFE_DOWNGRADE = 2
    UNSAFE_DOWNGRADE = 3


@dataclass(frozen=True, slots=True)
class FeatureUpdate:
    """A feature's new finalized level (Java's FeatureUpdate); level 0 removes it (a
    downgrade)."""

    max_version_level: int
    upgrade_type: FeatureUpgradeType = FeatureUpgradeType.UPGRADE


@dataclass(frozen=True, slots=True)
class FeatureUpdateResult(_Outcome):
    feature: str
    error: KprotoError | None = None
