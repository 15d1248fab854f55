"""The blocking ClusterAdmin: the shared facade (``kproto.facade.admin``) driven on the
caller's thread. Every method takes ``timeout=`` (seconds; default the ``request_timeout``
setting): retries stop there and each resource still pending gets the last error it saw."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from kproto.admin.types import (
    AclBinding,
    AclFilter,
    AclResult,
    AlterUserScramCredentialsDelete,
    AlterUserScramCredentialsUpsert,
    BrokerInfo,
    ClientQuotasOp,
    ClusterDescription,
    ConfigEntry,
    ConfigResource,
    ConfigResourceType,
    CreateTopicResult,
    DeletedRecords,
    DeleteTopicResult,
    DescribeClientQuotasEntry,
    DescribeConfigsResult,
    DescribeLogDirsResult,
    ElectionType,
    FeatureUpdate,
    FeatureUpdateResult,
    GroupDescription,
    IncrementalAlterConfigsEntry,
    ListConsumerGroupsResult,
    ListOffsetsResultInfo,
    ListTransactionsResult,
    MemberRemovalResult,
    OffsetFetchResponseBlock,
    PartitionError,
    PartitionProducers,
    PartitionReplicaReassignmentsStatus,
    QuotaEntityComponent,
    QuotaFilterComponent,
    TopicDetail,
    TopicMetadata,
    TransactionDescription,
    UserScramCredentialsDescription,
    UserScramCredentialsResult,
)
from kproto.facade import BlockingLoop
from kproto.facade.admin import AdminBase, PartitionOffsets
from kproto_threads.client import Client

__all__ = ["ClusterAdmin"]


class ClusterAdmin(AdminBase[BlockingLoop]):
    """Administers a cluster (sarama's ClusterAdmin), with blocking calls:
    ``ClusterAdmin("host:9092", **options)``, or ``client=`` an existing Client to share."""

    _client_class = Client

    def create_topic(self, topic: str, detail: TopicDetail | None = None,
                     validate_only: bool = False, *, timeout: float | None = None) -> None:
        """Create ``topic`` (``detail``: partitions, replication, assignment, configs; the
        broker's defaults without it); ``validate_only`` checks without creating."""
        self._loop.drive(self._create_topic(topic, detail, validate_only, timeout))

    def create_topics(self, topics: Mapping[str, TopicDetail],
                      validate_only: bool = False, *, timeout: float | None = None
                      ) -> dict[str, CreateTopicResult]:
        """Create several topics at once: a result per topic."""
        return self._loop.drive(self._create_topics(topics, validate_only, timeout))

    def delete_topic(self, topic: str, *, timeout: float | None = None) -> None:
        self._loop.drive(self._delete_topic(topic, timeout))

    def delete_topics(self, topics: Iterable[str], *, timeout: float | None = None
                      ) -> dict[str, DeleteTopicResult]:
        return self._loop.drive(self._delete_topics(topics, timeout))

    def list_topics(self, *, timeout: float | None = None) -> dict[str, TopicDetail]:
        """Every topic with its partitions, replica assignment and non-default configs."""
        return self._loop.drive(self._list_topics(timeout))

    def describe_topics(self, topics: Iterable[str] | None = None, *,
                        timeout: float | None = None) -> dict[str, TopicMetadata]:
        """Metadata per topic (None: every topic); an unknown topic carries its error."""
        return self._loop.drive(self._describe_topics(topics, timeout))

    def create_partitions(self, topic: str, count: int,
                          assignment: list[list[int]] | None = None,
                          validate_only: bool = False, *,
                          timeout: float | None = None) -> None:
        """Raise ``topic``'s partition count to ``count``; ``assignment`` lists the replicas
        of each new partition."""
        self._loop.drive(self._create_partitions(topic, count, assignment, validate_only, timeout))

    def describe_config(self, resource: ConfigResource, *,
                        timeout: float | None = None) -> list[ConfigEntry]:
        return self._loop.drive(self._describe_config(resource, timeout))

    def describe_configs(self, resources: list[ConfigResource], *,
                         timeout: float | None = None) -> list[DescribeConfigsResult]:
        return self._loop.drive(self._describe_configs(resources, timeout))

    def alter_config(self, resource_type: ConfigResourceType, name: str,
                     entries: Mapping[str, str | None], validate_only: bool = False, *,
                     timeout: float | None = None) -> None:
        """Replace the resource's dynamic configs with ``entries`` (AlterConfigs: configs
        not named return to their defaults)."""
        self._loop.drive(self._alter_config(resource_type, name, entries, validate_only, timeout))

    def incremental_alter_config(self, resource_type: ConfigResourceType, name: str,
                                 entries: Mapping[str, IncrementalAlterConfigsEntry],
                                 validate_only: bool = False, *,
                                 timeout: float | None = None) -> None:
        """Set, delete, append to or subtract from the named configs only."""
        self._loop.drive(self._incremental_alter_config(
            resource_type, name, entries, validate_only, timeout))

    def delete_records(self, topic: str, partition_offsets: Mapping[int, int], *,
                       timeout: float | None = None) -> dict[int, DeletedRecords]:
        """Delete the records before each offset (-1: all); each partition's new low
        watermark or error."""
        return self._loop.drive(self._delete_records(topic, partition_offsets, timeout))

    def list_offsets(self, specs: PartitionOffsets, isolation_level: int = 0, *,
                     timeout: float | None = None
                     ) -> dict[tuple[str, int], ListOffsetsResultInfo]:
        """An offset per partition: OffsetSpec.EARLIEST, LATEST, MAX_TIMESTAMP, or a
        timestamp in milliseconds (the first offset at or after it)."""
        return self._loop.drive(self._list_offsets(specs, isolation_level, timeout))

    def describe_cluster(self, *, timeout: float | None = None) -> ClusterDescription:
        return self._loop.drive(self._describe_cluster(timeout))

    def controller(self, *, timeout: float | None = None) -> BrokerInfo:
        return self._loop.drive(self._controller(timeout))

    def coordinator(self, group: str, *, timeout: float | None = None) -> BrokerInfo:
        return self._loop.drive(self._coordinator(group, timeout))

    def list_consumer_groups(self, *, timeout: float | None = None
                             ) -> ListConsumerGroupsResult:
        """Groups from every broker; brokers that did not answer are in ``errors``."""
        return self._loop.drive(self._list_consumer_groups(timeout))

    def describe_consumer_groups(self, groups: Iterable[str], *,
                                 timeout: float | None = None) -> list[GroupDescription]:
        return self._loop.drive(self._describe_consumer_groups(groups, timeout))

    def list_consumer_group_offsets(
            self, group: str, partitions: Mapping[str, Iterable[int]] | None = None, *,
            timeout: float | None = None) -> dict[str, dict[int, OffsetFetchResponseBlock]]:
        """The group's committed offsets (``partitions`` None: every one it committed)."""
        return self._loop.drive(self._list_consumer_group_offsets(group, partitions, timeout))

    def alter_consumer_group_offsets(
            self, group: str, offsets: Mapping[str, Mapping[int, int]],
            metadata: str | None = None, *, timeout: float | None = None
    ) -> dict[tuple[str, int], PartitionError]:
        """Commit ``{topic: {partition: offset}}`` for a group with no active members."""
        return self._loop.drive(self._alter_consumer_group_offsets(
            group, offsets, metadata, timeout))

    def delete_consumer_group(self, group: str, *, timeout: float | None = None) -> None:
        self._loop.drive(self._delete_consumer_group(group, timeout))

    def delete_consumer_group_offset(self, group: str, topic: str, partition: int, *,
                                     timeout: float | None = None) -> None:
        self._loop.drive(self._delete_consumer_group_offset(group, topic, partition, timeout))

    def remove_member_from_consumer_group(
            self, group: str, group_instance_ids: Iterable[str], *,
            timeout: float | None = None) -> dict[str, MemberRemovalResult]:
        """Remove static members by their group instance ids."""
        return self._loop.drive(self._remove_member_from_consumer_group(
            group, group_instance_ids, timeout))

    def describe_log_dirs(self, brokers: Iterable[int] | None = None, *,
                          timeout: float | None = None
                          ) -> dict[int, DescribeLogDirsResult]:
        """Each broker's log dirs and the replicas in them (None: every broker)."""
        return self._loop.drive(self._describe_log_dirs(brokers, timeout))

    def alter_partition_reassignments(
            self, topic: str, assignment: Mapping[int, Iterable[int] | None] | list[list[int]],
            *, timeout: float | None = None) -> dict[tuple[str, int], PartitionError]:
        """Move partitions to new replicas: ``{partition: [broker ids]}`` (None cancels
        that partition's reassignment), or a list indexed by partition."""
        return self._loop.drive(self._alter_partition_reassignments(topic, assignment, timeout))

    def list_partition_reassignments(
            self, topic: str | None = None, partitions: Iterable[int] | None = None, *,
            timeout: float | None = None
    ) -> dict[str, dict[int, PartitionReplicaReassignmentsStatus]]:
        """Ongoing reassignments (``topic`` None: all of them)."""
        return self._loop.drive(self._list_partition_reassignments(topic, partitions, timeout))

    def elect_leaders(self, election_type: ElectionType = ElectionType.PREFERRED,
                      partitions: Mapping[str, Iterable[int]] | None = None, *,
                      timeout: float | None = None
                      ) -> dict[tuple[str, int], PartitionError]:
        """Elect the preferred (or, UNCLEAN, any) replica leader of each partition."""
        return self._loop.drive(self._elect_leaders(election_type, partitions, timeout))

    def describe_user_scram_credentials(
            self, users: Iterable[str] | None = None, *, timeout: float | None = None
    ) -> dict[str, UserScramCredentialsDescription]:
        return self._loop.drive(self._describe_user_scram_credentials(users, timeout))

    def upsert_user_scram_credentials(
            self, upsertions: Iterable[AlterUserScramCredentialsUpsert], *,
            timeout: float | None = None) -> dict[str, UserScramCredentialsResult]:
        """Set SCRAM credentials (the salted password is computed here)."""
        return self._loop.drive(self._alter_user_scram_credentials(upsertions, (), timeout))

    def delete_user_scram_credentials(
            self, deletions: Iterable[AlterUserScramCredentialsDelete], *,
            timeout: float | None = None) -> dict[str, UserScramCredentialsResult]:
        return self._loop.drive(self._alter_user_scram_credentials((), deletions, timeout))

    def describe_client_quotas(self, components: Iterable[QuotaFilterComponent] = (),
                               strict: bool = False, *, timeout: float | None = None
                               ) -> list[DescribeClientQuotasEntry]:
        return self._loop.drive(self._describe_client_quotas(components, strict, timeout))

    def alter_client_quotas(self, entity: Iterable[QuotaEntityComponent],
                            op: ClientQuotasOp | Iterable[ClientQuotasOp],
                            validate_only: bool = False, *,
                            timeout: float | None = None) -> None:
        self._loop.drive(self._alter_client_quotas(entity, op, validate_only, timeout))

    def create_acl(self, acl: AclBinding, *, timeout: float | None = None) -> None:
        self._loop.drive(self._create_acl(acl, timeout))

    def create_acls(self, acls: Iterable[AclBinding], *,
                    timeout: float | None = None) -> list[AclResult]:
        return self._loop.drive(self._create_acls(acls, timeout))

    def list_acls(self, acl_filter: AclFilter, *,
                  timeout: float | None = None) -> list[AclBinding]:
        return self._loop.drive(self._list_acls(acl_filter, timeout))

    def delete_acl(self, acl_filter: AclFilter, *,
                   timeout: float | None = None) -> list[AclBinding]:
        """Delete the ACLs matching the filter; returns them."""
        return self._loop.drive(self._delete_acl(acl_filter, timeout))

    def describe_producers(self, partitions: Iterable[tuple[str, int]], *,
                           timeout: float | None = None
                           ) -> dict[tuple[str, int], PartitionProducers]:
        return self._loop.drive(self._describe_producers(partitions, timeout))

    def describe_transactions(self, transactional_ids: Iterable[str], *,
                              timeout: float | None = None
                              ) -> list[TransactionDescription]:
        return self._loop.drive(self._describe_transactions(transactional_ids, timeout))

    def list_transactions(self, states: Iterable[str] = (),
                          producer_ids: Iterable[int] = (), *,
                          timeout: float | None = None) -> ListTransactionsResult:
        return self._loop.drive(self._list_transactions(states, producer_ids, timeout))

    def update_features(self, updates: Mapping[str, FeatureUpdate],
                        validate_only: bool = False, *, timeout: float | None = None
                        ) -> dict[str, FeatureUpdateResult]:
        """Change finalized feature levels (``metadata.version``, ...)."""
        return self._loop.drive(self._update_features(updates, validate_only, timeout))

    def close(self) -> None:
        """Close the admin (and its own client's connections)."""
        if self._shut():
            self._client.close()

    def __enter__(self) -> ClusterAdmin:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
