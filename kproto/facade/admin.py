"""The ClusterAdmin, written once over the adapters' loops.

Theory of operation
-------------------
A :class:`kproto.admin.AdminCore` runs in the engine; it routes, retries within one deadline
and completes each operation's token with a typed result (``kproto.admin.types``). Each
method here is an operation (``_create_topics``, ...) that starts the core's call and parks
until its result settles; the core enforces the deadline (``timeout=``, else the
``request_timeout`` setting), so the park's own bound only guards against a stuck loop.
Input is checked before anything is sent (:class:`kproto.admin.InvalidArgumentError`).

Methods named for one resource (``create_topic``, ``delete_topic``, ``describe_config``,
...) raise that resource's error; those over many return a result per resource, each with
its value or its error. :class:`AsyncAdmin` holds the ``async def`` methods asyncio and trio
share; the blocking adapter adds the same methods, blocking.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from kproto.admin import AdminCore
from kproto.admin.types import (
    AclBinding,
    AclFilter,
    AclResult,
    AlterConfigsResult,
    AlterUserScramCredentialsDelete,
    AlterUserScramCredentialsUpsert,
    BrokerInfo,
    ClientQuotasOp,
    ClusterDescription,
    ConfigEntry,
    ConfigResource,
    ConfigResourceType,
    CreatePartitionsResult,
    CreateTopicResult,
    DeleteAclsResult,
    DeletedRecords,
    DeleteGroupResult,
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
from kproto.facade._feature import EntersClient, Feature, L
from kproto.facade._wait import AsyncLoop, Op, call

__all__ = ["AdminBase", "AsyncAdmin"]

T = TypeVar("T")

PartitionOffsets = Mapping[tuple[str, int], int]
"""``{(topic, partition): offset or OffsetSpec}``."""


class AdminBase(Feature[L, AdminCore]):
    """Administers a cluster (sarama's ClusterAdmin): topics, partitions, configs, records,
    offsets and consumer groups. The adapter names its Client class in ``_client_class``."""

    _what = "cluster admin"

    def _make_core(self, engine: Any, now: float) -> AdminCore:
        return AdminCore(engine, self.config)

    def _call(self, start: Callable[[AdminCore, float], int], timeout: float | None,
              what: str) -> Op[Any]:
        """Start a core call and wait for its result."""
        self._check_open()
        core = self._core
        cfg = self.config
        bound = (cfg.request_timeout if timeout is None else timeout) \
            + cfg.connect_timeout + 5.0
        return (yield from call(self._loop, lambda engine, now: start(core, now),  # type: ignore[arg-type]
                                bound, what))

    def _shut(self) -> bool:
        """Close the core; True when the admin's own client is to be closed."""
        if self._closed:
            return False
        self._closed = True
        if self._core_obj is not None:
            self._core_obj.close()
            self._release_handler()
        return self._owns_client

    # -- topics ----------------------------------------------------------------------------

    def _create_topics(self, topics: Mapping[str, TopicDetail], validate_only: bool,
                       timeout: float | None) -> Op[dict[str, CreateTopicResult]]:
        result: dict[str, CreateTopicResult] = yield from self._call(
            lambda c, now: c.create_topics(topics, validate_only, now, timeout), timeout,
            "create_topics")
        return result

    def _create_topic(self, topic: str, detail: TopicDetail | None, validate_only: bool,
                      timeout: float | None) -> Op[None]:
        results = yield from self._create_topics({topic: detail or TopicDetail()},
                                                 validate_only, timeout)
        results[topic].raise_for_error()

    def _delete_topics(self, topics: Iterable[str],
                       timeout: float | None) -> Op[dict[str, DeleteTopicResult]]:
        names = list(topics) if not isinstance(topics, str) else topics
        result: dict[str, DeleteTopicResult] = yield from self._call(lambda c, now: c.delete_topics(names, now, timeout),
                                      timeout, "delete_topics")
        return result

    def _delete_topic(self, topic: str, timeout: float | None) -> Op[None]:
        results = yield from self._delete_topics([topic], timeout)
        results[topic].raise_for_error()

    def _describe_topics(self, topics: Iterable[str] | None,
                         timeout: float | None) -> Op[dict[str, TopicMetadata]]:
        names = None if topics is None else list(topics) if not isinstance(topics, str) \
            else topics
        result: dict[str, TopicMetadata] = yield from self._call(lambda c, now: c.describe_topics(names, now, timeout),
                                      timeout, "describe_topics")
        return result

    def _list_topics(self, timeout: float | None) -> Op[dict[str, TopicDetail]]:
        topics = yield from self._describe_topics(None, timeout)
        resources = [ConfigResource(ConfigResourceType.TOPIC, n) for n in sorted(topics)]
        configs = (yield from self._describe_configs(resources, timeout)) if resources else []
        entries = {r.resource.name: {e.name: e.value for e in r.entries if not e.default}
                   for r in configs}
        out = {}
        for name, tm in sorted(topics.items()):
            if tm.error is not None:
                continue
            out[name] = TopicDetail(
                num_partitions=len(tm.partitions),
                replication_factor=len(tm.partitions[0].replicas) if tm.partitions else -1,
                replica_assignment={p.id: list(p.replicas) for p in tm.partitions},
                config_entries=entries.get(name, {}))
        return out

    def _create_partitions(self, topic: str, count: int, assignment: list[list[int]] | None,
                           validate_only: bool, timeout: float | None) -> Op[None]:
        result: CreatePartitionsResult = yield from self._call(
            lambda c, now: c.create_partitions(topic, count, assignment, validate_only, now,
                                               timeout), timeout, "create_partitions")
        result.raise_for_error()

    # -- configs ---------------------------------------------------------------------------

    def _describe_configs(self, resources: list[ConfigResource],
                          timeout: float | None) -> Op[list[DescribeConfigsResult]]:
        result: list[DescribeConfigsResult] = yield from self._call(
            lambda c, now: c.describe_configs(list(resources), now, timeout), timeout,
            "describe_configs")
        return result

    def _describe_config(self, resource: ConfigResource,
                         timeout: float | None) -> Op[list[ConfigEntry]]:
        [result] = yield from self._describe_configs([resource], timeout)
        result.raise_for_error()
        return list(result.entries)

    def _alter_config(self, resource_type: ConfigResourceType, name: str,
                      entries: Mapping[str, str | None], validate_only: bool,
                      timeout: float | None) -> Op[None]:
        resource = ConfigResource(ConfigResourceType(resource_type), name)
        results: list[AlterConfigsResult] = yield from self._call(
            lambda c, now: c.alter_configs({resource: dict(entries)}, validate_only, now,
                                           timeout), timeout, "alter_config")
        results[0].raise_for_error()

    def _incremental_alter_config(self, resource_type: ConfigResourceType, name: str,
                                  entries: Mapping[str, IncrementalAlterConfigsEntry],
                                  validate_only: bool, timeout: float | None) -> Op[None]:
        resource = ConfigResource(ConfigResourceType(resource_type), name)
        results: list[AlterConfigsResult] = yield from self._call(
            lambda c, now: c.incremental_alter_configs({resource: entries}, validate_only,
                                                       now, timeout),
            timeout, "incremental_alter_config")
        results[0].raise_for_error()

    # -- records and offsets ---------------------------------------------------------------

    def _delete_records(self, topic: str, partition_offsets: Mapping[int, int],
                        timeout: float | None) -> Op[dict[int, DeletedRecords]]:
        offsets = {(topic, p): o for p, o in partition_offsets.items()}
        results: dict[tuple[str, int], DeletedRecords] = yield from self._call(
            lambda c, now: c.delete_records(offsets, now, timeout), timeout, "delete_records")
        return {k[1]: r for k, r in results.items()}

    def _list_offsets(self, specs: PartitionOffsets, isolation_level: int,
                      timeout: float | None
                      ) -> Op[dict[tuple[str, int], ListOffsetsResultInfo]]:
        result: dict[tuple[str, int], ListOffsetsResultInfo] = yield from self._call(
            lambda c, now: c.list_offsets(specs, now, timeout, isolation_level), timeout,
            "list_offsets")
        return result

    # -- cluster ---------------------------------------------------------------------------

    def _describe_cluster(self, timeout: float | None) -> Op[ClusterDescription]:
        result: ClusterDescription = yield from self._call(lambda c, now: c.describe_cluster(now, timeout),
                                      timeout, "describe_cluster")
        return result

    def _controller(self, timeout: float | None) -> Op[BrokerInfo]:
        result: BrokerInfo = yield from self._call(lambda c, now: c.controller(now, timeout), timeout,
                                      "controller")
        return result

    def _coordinator(self, group: str, timeout: float | None) -> Op[BrokerInfo]:
        result: BrokerInfo = yield from self._call(lambda c, now: c.coordinator(group, now, timeout),
                                      timeout, "coordinator")
        return result

    # -- consumer groups -------------------------------------------------------------------

    def _list_consumer_groups(self, timeout: float | None) -> Op[ListConsumerGroupsResult]:
        result: ListConsumerGroupsResult = yield from self._call(lambda c, now: c.list_consumer_groups(now, timeout),
                                      timeout, "list_consumer_groups")
        return result

    def _describe_consumer_groups(self, groups: Iterable[str],
                                  timeout: float | None) -> Op[list[GroupDescription]]:
        names = list(groups) if not isinstance(groups, str) else [groups]
        result: list[GroupDescription] = yield from self._call(
            lambda c, now: c.describe_consumer_groups(names, now, timeout), timeout,
            "describe_consumer_groups")
        return result

    def _list_consumer_group_offsets(
            self, group: str, partitions: Mapping[str, Iterable[int]] | None,
            timeout: float | None) -> Op[dict[str, dict[int, OffsetFetchResponseBlock]]]:
        result: dict[str, dict[int, OffsetFetchResponseBlock]] = yield from self._call(
            lambda c, now: c.list_consumer_group_offsets(group, partitions, now, timeout),
            timeout, "list_consumer_group_offsets")
        return result

    def _alter_consumer_group_offsets(
            self, group: str, offsets: Mapping[str, Mapping[int, int]], metadata: str | None,
            timeout: float | None) -> Op[dict[tuple[str, int], PartitionError]]:
        result: dict[tuple[str, int], PartitionError] = yield from self._call(
            lambda c, now: c.alter_consumer_group_offsets(group, offsets, now, timeout,
                                                          metadata),
            timeout, "alter_consumer_group_offsets")
        return result

    def _delete_consumer_groups(self, groups: Iterable[str], timeout: float | None
                                ) -> Op[dict[str, DeleteGroupResult]]:
        names = list(groups)
        result: dict[str, DeleteGroupResult] = yield from self._call(
            lambda c, now: c.delete_consumer_groups(names, now, timeout), timeout,
            "delete_consumer_group")
        return result

    def _delete_consumer_group(self, group: str, timeout: float | None) -> Op[None]:
        results = yield from self._delete_consumer_groups([group], timeout)
        results[group].raise_for_error()

    def _delete_consumer_group_offset(self, group: str, topic: str, partition: int,
                                      timeout: float | None) -> Op[None]:
        results: dict[tuple[str, int], PartitionError] = yield from self._call(
            lambda c, now: c.delete_consumer_group_offsets(group, {topic: [partition]}, now,
                                                           timeout),
            timeout, "delete_consumer_group_offset")
        results[(topic, partition)].raise_for_error()

    def _remove_member_from_consumer_group(
            self, group: str, group_instance_ids: Iterable[str],
            timeout: float | None) -> Op[dict[str, MemberRemovalResult]]:
        ids = [group_instance_ids] if isinstance(group_instance_ids, str) \
            else list(group_instance_ids)
        result: dict[str, MemberRemovalResult] = yield from self._call(lambda c, now: c.remove_members(group, ids, now, timeout),
                                      timeout, "remove_member_from_consumer_group")
        return result

    # -- log dirs, reassignments, elections ------------------------------------------------

    def _describe_log_dirs(self, brokers: Iterable[int] | None,
                           timeout: float | None) -> Op[dict[int, DescribeLogDirsResult]]:
        ids = None if brokers is None else list(brokers)
        result: dict[int, DescribeLogDirsResult] = yield from self._call(
            lambda c, now: c.describe_log_dirs(ids, now, timeout), timeout, "describe_log_dirs")
        return result

    def _alter_partition_reassignments(
            self, topic: str, assignment: Mapping[int, Iterable[int] | None]
            | list[list[int]], timeout: float | None
    ) -> Op[dict[tuple[str, int], PartitionError]]:
        moves = dict(enumerate(assignment)) if isinstance(assignment, list) \
            else dict(assignment)
        result: dict[tuple[str, int], PartitionError] = yield from self._call(
            lambda c, now: c.alter_partition_reassignments(topic, moves, now, timeout),
            timeout, "alter_partition_reassignments")
        return result

    def _list_partition_reassignments(
            self, topic: str | None, partitions: Iterable[int] | None, timeout: float | None
    ) -> Op[dict[str, dict[int, PartitionReplicaReassignmentsStatus]]]:
        result: dict[str, dict[int, PartitionReplicaReassignmentsStatus]] = \
            yield from self._call(lambda c, now: c.list_partition_reassignments(
                topic, partitions, now, timeout), timeout, "list_partition_reassignments")
        return result

    def _elect_leaders(self, election_type: ElectionType,
                       partitions: Mapping[str, Iterable[int]] | None,
                       timeout: float | None) -> Op[dict[tuple[str, int], PartitionError]]:
        result: dict[tuple[str, int], PartitionError] = yield from self._call(
            lambda c, now: c.elect_leaders(election_type, partitions, now, timeout), timeout,
            "elect_leaders")
        return result

    # -- SCRAM credentials -----------------------------------------------------------------

    def _describe_user_scram_credentials(
            self, users: Iterable[str] | None, timeout: float | None
    ) -> Op[dict[str, UserScramCredentialsDescription]]:
        names = None if users is None else list(users)
        result: dict[str, UserScramCredentialsDescription] = yield from self._call(
            lambda c, now: c.describe_user_scram_credentials(names, now, timeout), timeout,
            "describe_user_scram_credentials")
        return result

    def _alter_user_scram_credentials(
            self, upsertions: Iterable[AlterUserScramCredentialsUpsert],
            deletions: Iterable[AlterUserScramCredentialsDelete], timeout: float | None
    ) -> Op[dict[str, UserScramCredentialsResult]]:
        ups, dels = list(upsertions), list(deletions)
        result: dict[str, UserScramCredentialsResult] = yield from self._call(
            lambda c, now: c.alter_user_scram_credentials(ups, dels, now, timeout), timeout,
            "alter_user_scram_credentials")
        return result

    # -- client quotas ---------------------------------------------------------------------

    def _describe_client_quotas(self, components: Iterable[QuotaFilterComponent],
                                strict: bool, timeout: float | None
                                ) -> Op[list[DescribeClientQuotasEntry]]:
        parts = list(components)
        result: list[DescribeClientQuotasEntry] = yield from self._call(
            lambda c, now: c.describe_client_quotas(parts, strict, now, timeout), timeout,
            "describe_client_quotas")
        return result

    def _alter_client_quotas(self, entity: Iterable[QuotaEntityComponent],
                             op: ClientQuotasOp | Iterable[ClientQuotasOp],
                             validate_only: bool, timeout: float | None) -> Op[None]:
        parts = list(entity)
        ops = [op] if isinstance(op, ClientQuotasOp) else list(op)
        yield from self._call(
            lambda c, now: c.alter_client_quotas(parts, ops, validate_only, now, timeout),
            timeout, "alter_client_quotas")

    # -- ACLs ------------------------------------------------------------------------------

    def _create_acls(self, acls: Iterable[AclBinding],
                     timeout: float | None) -> Op[list[AclResult]]:
        bindings = list(acls)
        result: list[AclResult] = yield from self._call(
            lambda c, now: c.create_acls(bindings, now, timeout), timeout, "create_acls")
        return result

    def _create_acl(self, acl: AclBinding, timeout: float | None) -> Op[None]:
        [result] = yield from self._create_acls([acl], timeout)
        result.raise_for_error()

    def _list_acls(self, acl_filter: AclFilter, timeout: float | None) -> Op[list[AclBinding]]:
        result: list[AclBinding] = yield from self._call(
            lambda c, now: c.describe_acls(acl_filter, now, timeout), timeout, "list_acls")
        return result

    def _delete_acl(self, acl_filter: AclFilter,
                    timeout: float | None) -> Op[list[AclBinding]]:
        results: list[DeleteAclsResult] = yield from self._call(
            lambda c, now: c.delete_acls([acl_filter], now, timeout), timeout, "delete_acl")
        results[0].raise_for_error()
        return list(results[0].deleted)

    # -- producers and transactions --------------------------------------------------------

    def _describe_producers(self, partitions: Iterable[tuple[str, int]], timeout: float | None
                            ) -> Op[dict[tuple[str, int], PartitionProducers]]:
        keys = list(partitions)
        result: dict[tuple[str, int], PartitionProducers] = yield from self._call(
            lambda c, now: c.describe_producers(keys, now, timeout), timeout,
            "describe_producers")
        return result

    def _describe_transactions(self, transactional_ids: Iterable[str], timeout: float | None
                               ) -> Op[list[TransactionDescription]]:
        ids = [transactional_ids] if isinstance(transactional_ids, str) \
            else list(transactional_ids)
        result: list[TransactionDescription] = yield from self._call(
            lambda c, now: c.describe_transactions(ids, now, timeout), timeout,
            "describe_transactions")
        return result

    def _list_transactions(self, states: Iterable[str], producer_ids: Iterable[int],
                           timeout: float | None) -> Op[ListTransactionsResult]:
        result: ListTransactionsResult = yield from self._call(
            lambda c, now: c.list_transactions(now, timeout, states, producer_ids), timeout,
            "list_transactions")
        return result

    # -- features --------------------------------------------------------------------------

    def _update_features(self, updates: Mapping[str, FeatureUpdate], validate_only: bool,
                         timeout: float | None) -> Op[dict[str, FeatureUpdateResult]]:
        result: dict[str, FeatureUpdateResult] = yield from self._call(
            lambda c, now: c.update_features(updates, validate_only, now, timeout), timeout,
            "update_features")
        return result


class AsyncAdmin(EntersClient, AdminBase[AsyncLoop]):
    """The ClusterAdmin's awaited methods, shared by the asyncio and trio adapters. Every
    method takes ``timeout=`` (seconds; default the ``request_timeout`` setting): retries
    stop there and each resource still pending gets the last error it saw."""

    async def _drive(self, op: Op[T]) -> T:
        return await self._loop.drive(op)

    async def create_topic(self, topic: str, detail: TopicDetail | None = None,
                           validate_only: bool = False, *, timeout: float | None = None) -> None:
        """Create ``topic`` (``detail``: partitions, replication, assignment, configs; the
        broker's defaults without it); ``validate_only`` checks without creating."""
        await self._drive(self._create_topic(topic, detail, validate_only, timeout))

    async def create_topics(self, topics: Mapping[str, TopicDetail],
                            validate_only: bool = False, *, timeout: float | None = None
                            ) -> dict[str, CreateTopicResult]:
        """Create several topics at once: a result per topic."""
        return await self._drive(self._create_topics(topics, validate_only, timeout))

    async def delete_topic(self, topic: str, *, timeout: float | None = None) -> None:
        await self._drive(self._delete_topic(topic, timeout))

    async def delete_topics(self, topics: Iterable[str], *, timeout: float | None = None
                            ) -> dict[str, DeleteTopicResult]:
        return await self._drive(self._delete_topics(topics, timeout))

    async def list_topics(self, *, timeout: float | None = None) -> dict[str, TopicDetail]:
        """Every topic with its partitions, replica assignment and non-default configs."""
        return await self._drive(self._list_topics(timeout))

    async def describe_topics(self, topics: Iterable[str] | None = None, *,
                              timeout: float | None = None) -> dict[str, TopicMetadata]:
        """Metadata per topic (None: every topic); an unknown topic carries its error."""
        return await self._drive(self._describe_topics(topics, timeout))

    async def create_partitions(self, topic: str, count: int,
                                assignment: list[list[int]] | None = None,
                                validate_only: bool = False, *,
                                timeout: float | None = None) -> None:
        """Raise ``topic``'s partition count to ``count``; ``assignment`` lists the replicas
        of each new partition."""
        await self._drive(self._create_partitions(topic, count, assignment, validate_only,
                                                  timeout))

    async def describe_config(self, resource: ConfigResource, *,
                              timeout: float | None = None) -> list[ConfigEntry]:
        return await self._drive(self._describe_config(resource, timeout))

    async def describe_configs(self, resources: list[ConfigResource], *,
                               timeout: float | None = None) -> list[DescribeConfigsResult]:
        return await self._drive(self._describe_configs(resources, timeout))

    async def alter_config(self, resource_type: ConfigResourceType, name: str,
                           entries: Mapping[str, str | None], validate_only: bool = False, *,
                           timeout: float | None = None) -> None:
        """Replace the resource's dynamic configs with ``entries`` (AlterConfigs: configs
        not named return to their defaults)."""
        await self._drive(self._alter_config(resource_type, name, entries, validate_only,
                                             timeout))

    async def incremental_alter_config(self, resource_type: ConfigResourceType, name: str,
                                       entries: Mapping[str, IncrementalAlterConfigsEntry],
                                       validate_only: bool = False, *,
                                       timeout: float | None = None) -> None:
        """Set, delete, append to or subtract from the named configs only."""
        await self._drive(self._incremental_alter_config(resource_type, name, entries,
                                                         validate_only, timeout))

    async def delete_records(self, topic: str, partition_offsets: Mapping[int, int], *,
                             timeout: float | None = None) -> dict[int, DeletedRecords]:
        """Delete the records before each offset (-1: all); each partition's new low
        watermark or error."""
        return await self._drive(self._delete_records(topic, partition_offsets, timeout))

    async def list_offsets(self, specs: PartitionOffsets, isolation_level: int = 0, *,
                           timeout: float | None = None
                           ) -> dict[tuple[str, int], ListOffsetsResultInfo]:
        """An offset per partition: OffsetSpec.EARLIEST, LATEST, MAX_TIMESTAMP, or a
        timestamp in milliseconds (the first offset at or after it)."""
        return await self._drive(self._list_offsets(specs, isolation_level, timeout))

    async def describe_cluster(self, *, timeout: float | None = None) -> ClusterDescription:
        return await self._drive(self._describe_cluster(timeout))

    async def controller(self, *, timeout: float | None = None) -> BrokerInfo:
        return await self._drive(self._controller(timeout))

    async def coordinator(self, group: str, *, timeout: float | None = None) -> BrokerInfo:
        return await self._drive(self._coordinator(group, timeout))

    async def list_consumer_groups(self, *, timeout: float | None = None
                                   ) -> ListConsumerGroupsResult:
        """Groups from every broker; brokers that did not answer are in ``errors``."""
        return await self._drive(self._list_consumer_groups(timeout))

    async def describe_consumer_groups(self, groups: Iterable[str], *,
                                       timeout: float | None = None) -> list[GroupDescription]:
        return await self._drive(self._describe_consumer_groups(groups, timeout))

    async def list_consumer_group_offsets(
            self, group: str, partitions: Mapping[str, Iterable[int]] | None = None, *,
            timeout: float | None = None) -> dict[str, dict[int, OffsetFetchResponseBlock]]:
        """The group's committed offsets (``partitions`` None: every one it committed)."""
        return await self._drive(self._list_consumer_group_offsets(group, partitions, timeout))

    async def alter_consumer_group_offsets(
            self, group: str, offsets: Mapping[str, Mapping[int, int]],
            metadata: str | None = None, *, timeout: float | None = None
    ) -> dict[tuple[str, int], PartitionError]:
        """Commit ``{topic: {partition: offset}}`` for a group with no active members."""
        return await self._drive(self._alter_consumer_group_offsets(group, offsets, metadata,
                                                                    timeout))

    async def delete_consumer_group(self, group: str, *, timeout: float | None = None) -> None:
        await self._drive(self._delete_consumer_group(group, timeout))

    async def delete_consumer_group_offset(self, group: str, topic: str, partition: int, *,
                                           timeout: float | None = None) -> None:
        await self._drive(self._delete_consumer_group_offset(group, topic, partition,
                                                             timeout))

    async def remove_member_from_consumer_group(
            self, group: str, group_instance_ids: Iterable[str], *,
            timeout: float | None = None) -> dict[str, MemberRemovalResult]:
        """Remove static members by their group instance ids."""
        return await self._drive(self._remove_member_from_consumer_group(
            group, group_instance_ids, timeout))

    async def describe_log_dirs(self, brokers: Iterable[int] | None = None, *,
                                timeout: float | None = None
                                ) -> dict[int, DescribeLogDirsResult]:
        """Each broker's log dirs and the replicas in them (None: every broker)."""
        return await self._drive(self._describe_log_dirs(brokers, timeout))

    async def alter_partition_reassignments(
            self, topic: str, assignment: Mapping[int, Iterable[int] | None] | list[list[int]],
            *, timeout: float | None = None) -> dict[tuple[str, int], PartitionError]:
        """Move partitions to new replicas: ``{partition: [broker ids]}`` (None cancels
        that partition's reassignment), or a list indexed by partition."""
        return await self._drive(self._alter_partition_reassignments(topic, assignment,
                                                                     timeout))

    async def list_partition_reassignments(
            self, topic: str | None = None, partitions: Iterable[int] | None = None, *,
            timeout: float | None = None
    ) -> dict[str, dict[int, PartitionReplicaReassignmentsStatus]]:
        """Ongoing reassignments (``topic`` None: all of them)."""
        return await self._drive(self._list_partition_reassignments(topic, partitions,
                                                                    timeout))

    async def elect_leaders(self, election_type: ElectionType = ElectionType.PREFERRED,
                            partitions: Mapping[str, Iterable[int]] | None = None, *,
                            timeout: float | None = None
                            ) -> dict[tuple[str, int], PartitionError]:
        """Elect the preferred (or, UNCLEAN, any) replica leader of each partition."""
        return await self._drive(self._elect_leaders(election_type, partitions, timeout))

    async def describe_user_scram_credentials(
            self, users: Iterable[str] | None = None, *, timeout: float | None = None
    ) -> dict[str, UserScramCredentialsDescription]:
        return await self._drive(self._describe_user_scram_credentials(users, timeout))

    async def upsert_user_scram_credentials(
            self, upsertions: Iterable[AlterUserScramCredentialsUpsert], *,
            timeout: float | None = None) -> dict[str, UserScramCredentialsResult]:
        """Set SCRAM credentials (the salted password is computed here)."""
        return await self._drive(self._alter_user_scram_credentials(upsertions, (), timeout))

    async def delete_user_scram_credentials(
            self, deletions: Iterable[AlterUserScramCredentialsDelete], *,
            timeout: float | None = None) -> dict[str, UserScramCredentialsResult]:
        return await self._drive(self._alter_user_scram_credentials((), deletions, timeout))

    async def describe_client_quotas(self, components: Iterable[QuotaFilterComponent] = (),
                                     strict: bool = False, *, timeout: float | None = None
                                     ) -> list[DescribeClientQuotasEntry]:
        return await self._drive(self._describe_client_quotas(components, strict, timeout))

    async def alter_client_quotas(self, entity: Iterable[QuotaEntityComponent],
                                  op: ClientQuotasOp | Iterable[ClientQuotasOp],
                                  validate_only: bool = False, *,
                                  timeout: float | None = None) -> None:
        await self._drive(self._alter_client_quotas(entity, op, validate_only, timeout))

    async def create_acl(self, acl: AclBinding, *, timeout: float | None = None) -> None:
        await self._drive(self._create_acl(acl, timeout))

    async def create_acls(self, acls: Iterable[AclBinding], *,
                          timeout: float | None = None) -> list[AclResult]:
        return await self._drive(self._create_acls(acls, timeout))

    async def list_acls(self, acl_filter: AclFilter, *,
                        timeout: float | None = None) -> list[AclBinding]:
        return await self._drive(self._list_acls(acl_filter, timeout))

    async def delete_acl(self, acl_filter: AclFilter, *,
                         timeout: float | None = None) -> list[AclBinding]:
        """Delete the ACLs matching the filter; returns them."""
        return await self._drive(self._delete_acl(acl_filter, timeout))

    async def describe_producers(self, partitions: Iterable[tuple[str, int]], *,
                                 timeout: float | None = None
                                 ) -> dict[tuple[str, int], PartitionProducers]:
        return await self._drive(self._describe_producers(partitions, timeout))

    async def describe_transactions(self, transactional_ids: Iterable[str], *,
                                    timeout: float | None = None
                                    ) -> list[TransactionDescription]:
        return await self._drive(self._describe_transactions(transactional_ids, timeout))

    async def list_transactions(self, states: Iterable[str] = (),
                                producer_ids: Iterable[int] = (), *,
                                timeout: float | None = None) -> ListTransactionsResult:
        return await self._drive(self._list_transactions(states, producer_ids, timeout))

    async def update_features(self, updates: Mapping[str, FeatureUpdate],
                              validate_only: bool = False, *, timeout: float | None = None
                              ) -> dict[str, FeatureUpdateResult]:
        """Change finalized feature levels (``metadata.version``, ...)."""
        return await self._drive(self._update_features(updates, validate_only, timeout))

    async def close(self) -> None:
        """Close the admin (and its own client's connections)."""
        if self._shut():
            await self._client.close()

