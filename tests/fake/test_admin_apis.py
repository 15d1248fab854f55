"""The fake cluster's admin APIs answer as Kafka does (pure: hand-built requests, no sockets):
AlterConfigs, OffsetDelete, DescribeLogDirs, the ACL APIs without an authorizer, client
quotas, DescribeProducers, List/DescribeTransactions, ElectLeaders and partition
reassignments."""

from __future__ import annotations

from typing import Any

from kproto import protocol
from kproto.group.assignors import Subscription
from kproto.group.consumer_protocol import encode_subscription
from kproto.protocol.messages import add_partitions_to_txn_request as apr
from kproto.protocol.messages import alter_client_quotas_request as aq
from kproto.protocol.messages import alter_configs_request as ac
from kproto.protocol.messages import alter_partition_reassignments_request as ap
from kproto.protocol.messages import create_acls_request as ca
from kproto.protocol.messages import delete_acls_request as da
from kproto.protocol.messages import describe_client_quotas_request as dq
from kproto.protocol.messages import describe_log_dirs_request as dl
from kproto.protocol.messages import describe_producers_request as dp
from kproto.protocol.messages import elect_leaders_request as el
from kproto.protocol.messages import join_group_request as jgr
from kproto.protocol.messages import offset_commit_request as ocr
from kproto.protocol.messages import offset_delete_request as odr
from kproto.testing import FakeCluster
from kproto.testing.fake import codes
from tests.fake.driver import Raw
from tests.fake.test_apis import batch, produce_req


def test_alter_configs_replaces_every_dynamic_config() -> None:
    cluster = FakeCluster(1, topics={"t": 1})
    topic = cluster.topics["t"]
    topic.configs = {"retention.ms": "1000"}
    raw = Raw(cluster)

    def alter(name: str, configs: dict[str, str | None], validate: bool = False) -> int:
        req = protocol.AlterConfigsRequest(validate_only=validate, resources=[
            ac.AlterConfigsResource(resource_type=2, resource_name=name, configs=[
                ac.AlterableConfig(name=k, value=v) for k, v in configs.items()])])
        return int(raw.call(req, 2).responses[0].error_code)

    assert alter("t", {"segment.ms": "7200000"}, validate=True) == 0
    assert topic.configs == {"retention.ms": "1000"}
    assert alter("t", {"segment.ms": "7200000"}) == 0
    assert topic.configs == {"segment.ms": "7200000"}     # retention.ms went back to default
    assert alter("t", {"no.such": "1"}) == codes.INVALID_CONFIG
    assert alter("t", {"segment.ms": None}) == codes.INVALID_REQUEST
    assert alter("none", {"segment.ms": "1"}) == codes.UNKNOWN_TOPIC_OR_PARTITION
    assert topic.configs == {"segment.ms": "7200000"}


def _commit(raw: Raw, group: str, offsets: dict[tuple[str, int], int]) -> None:
    topics: dict[str, list[Any]] = {}
    for (t, p), o in offsets.items():
        topics.setdefault(t, []).append(ocr.OffsetCommitRequestPartition(
            partition_index=p, committed_offset=o))
    req = protocol.OffsetCommitRequest(group_id=group, generation_id_or_member_epoch=-1,
                                       member_id="", topics=[
        ocr.OffsetCommitRequestTopic(name=t, partitions=ps) for t, ps in topics.items()])
    resp = raw.call(req, 8)
    assert all(p.error_code == 0 for t in resp.topics for p in t.partitions)


def _delete(raw: Raw, group: str, topic: str, partitions: list[int]) -> Any:
    return raw.call(protocol.OffsetDeleteRequest(group_id=group, topics=[
        odr.OffsetDeleteRequestTopic(name=topic, partitions=[
            odr.OffsetDeleteRequestPartition(partition_index=p) for p in partitions])]), 0)


def test_offset_delete_follows_the_group_coordinator() -> None:
    cluster = FakeCluster(1, topics={"t": 2, "u": 1})
    raw = Raw(cluster)
    _commit(raw, "g", {("t", 0): 3, ("t", 1): 4, ("u", 0): 5})
    resp = _delete(raw, "g", "t", [1])
    assert resp.error_code == 0 and resp.topics[0].partitions[0].error_code == 0
    assert set(cluster.groups.groups["g"].offsets) == {("t", 0), ("u", 0)}
    assert _delete(raw, "none", "t", [0]).error_code == codes.GROUP_ID_NOT_FOUND
    # A consumer group member subscribed to "t": its offsets stay, "u"'s may go.
    join = protocol.JoinGroupRequest(
        group_id="g", session_timeout_ms=10_000, rebalance_timeout_ms=10_000, member_id="",
        group_instance_id="static", protocol_type="consumer", protocols=[
            jgr.JoinGroupRequestProtocol(name="range", metadata=encode_subscription(Subscription(("t",))))])
    assert raw.call(join, 9).error_code == 0
    resp = _delete(raw, "g", "t", [0])
    assert resp.error_code == 0
    assert resp.topics[0].partitions[0].error_code == codes.GROUP_SUBSCRIBED_TO_TOPIC
    assert _delete(raw, "g", "u", [0]).topics[0].partitions[0].error_code == 0
    assert set(cluster.groups.groups["g"].offsets) == {("t", 0)}


def test_describe_log_dirs_lists_the_brokers_replicas() -> None:
    cluster = FakeCluster(2)
    cluster.create_topic("t", 2, assignments=[[1, 2], [2]])
    Raw(cluster, 1).call(produce_req(batch([b"abc"])), 9)
    resp = Raw(cluster, 2).call(protocol.DescribeLogDirsRequest(topics=None), 4)
    [result] = resp.results
    assert result.error_code == 0 and result.log_dir == "/kproto-fake/2"
    [topic] = result.topics
    sizes = {p.partition_index: p.partition_size for p in topic.partitions}
    assert sizes[0] == cluster.topics["t"].partitions[0].log.size_in_bytes > 0
    assert sizes[1] == 0
    only = Raw(cluster, 1).call(protocol.DescribeLogDirsRequest(topics=[
        dl.DescribableLogDirTopic(topic="t", partitions=[0, 1])]), 4)
    assert [p.partition_index for p in only.results[0].topics[0].partitions] == [0]


def test_acls_without_an_authorizer_are_security_disabled() -> None:
    raw = Raw(FakeCluster(1))
    created = raw.call(protocol.CreateAclsRequest(creations=[ca.AclCreation(
        resource_type=2, resource_name="t", resource_pattern_type=3, principal="User:a",
        host="*", operation=3, permission_type=3)] * 2), 3)
    assert [r.error_code for r in created.results] == [codes.SECURITY_DISABLED] * 2
    described = raw.call(protocol.DescribeAclsRequest(
        resource_type_filter=1, resource_name_filter=None, pattern_type_filter=1,
        principal_filter=None, host_filter=None, operation=1, permission_type=1), 3)
    assert described.error_code == codes.SECURITY_DISABLED
    deleted = raw.call(protocol.DeleteAclsRequest(filters=[da.DeleteAclsFilter(
        resource_type_filter=1, resource_name_filter=None, pattern_type_filter=1,
        principal_filter=None, host_filter=None, operation=1, permission_type=1)]), 3)
    assert deleted.filter_results[0].error_code == codes.SECURITY_DISABLED


def test_client_quotas_alter_and_describe() -> None:
    cluster = FakeCluster(1)
    raw = Raw(cluster)

    def alter(entity: list[tuple[str, str | None]], key: str, value: float = 0.0,
              remove: bool = False) -> int:
        req = protocol.AlterClientQuotasRequest(validate_only=False, entries=[aq.EntryData(
            entity=[aq.EntityData(entity_type=t, entity_name=n) for t, n in entity],
            ops=[aq.OpData(key=key, value=value, remove=remove)])])
        return int(raw.call(req, 1).entries[0].error_code)

    def describe(components: list[tuple[str, int, str | None]], strict: bool) -> Any:
        return raw.call(protocol.DescribeClientQuotasRequest(strict=strict, components=[
            dq.ComponentData(entity_type=t, match_type=m, match=n)
            for t, m, n in components]), 1)

    assert alter([("client-id", "c")], "producer_byte_rate", 1024.0) == 0
    assert alter([("user", "u"), ("client-id", "c")], "consumer_byte_rate", 10.0) == 0
    assert alter([("client-id", "c")], "connection_creation_rate", 1.0) == \
        codes.INVALID_REQUEST
    assert alter([("ip", "1.2.3.4"), ("user", "u")], "connection_creation_rate", 1.0) == \
        codes.INVALID_REQUEST
    assert alter([("group", "g")], "producer_byte_rate", 1.0) == codes.INVALID_REQUEST
    strict = describe([("client-id", 0, "c")], True).entries
    assert [([(e.entity_type, e.entity_name) for e in x.entity],
             [(v.key, v.value) for v in x.values]) for x in strict] == [
        ([("client-id", "c")], [("producer_byte_rate", 1024.0)])]
    assert len(describe([("client-id", 2, None)], False).entries) == 2
    assert describe([("client-id", 1, "c")], False).error_code == codes.INVALID_REQUEST
    assert alter([("client-id", "c")], "producer_byte_rate", remove=True) == 0
    assert describe([("client-id", 0, "c")], True).entries == []


def test_describe_producers_and_transactions() -> None:
    cluster = FakeCluster(1, topics={"t": 2})
    raw = Raw(cluster)
    init = raw.call(protocol.InitProducerIdRequest(transactional_id="x",
                                                   transaction_timeout_ms=60_000), 4)
    pid = init.producer_id
    add = protocol.AddPartitionsToTxnRequest(
        v3_and_below_transactional_id="x", v3_and_below_producer_id=pid,
        v3_and_below_producer_epoch=0, v3_and_below_topics=[
            apr.AddPartitionsToTxnTopic(name="t", partitions=[0])])
    assert raw.call(add, 3).results_by_topic_v3_and_below[0].results_by_partition[0] \
        .partition_error_code == 0
    assert raw.call(produce_req(batch([b"a", b"b"], pid, 0, 0, txn=True), txn="x"), 9) \
        .responses[0].partition_responses[0].error_code == 0

    producers = raw.call(protocol.DescribeProducersRequest(topics=[
        dp.TopicRequest(name="t", partition_indexes=[0, 1, 7])]), 0).topics[0].partitions
    [active] = producers[0].active_producers
    assert (active.producer_id, active.producer_epoch, active.last_sequence,
            active.current_txn_start_offset) == (pid, 0, 1, 0)
    assert producers[1].error_code == 0 and producers[1].active_producers == []
    assert producers[2].error_code == codes.UNKNOWN_TOPIC_OR_PARTITION

    listed = raw.call(protocol.ListTransactionsRequest(
        state_filters=["Ongoing", "Nonsense"], producer_id_filters=[], duration_filter=-1), 1)
    assert [(s.transactional_id, s.transaction_state) for s in listed.transaction_states] \
        == [("x", "Ongoing")]
    assert listed.unknown_state_filters == ["Nonsense"]
    described = raw.call(protocol.DescribeTransactionsRequest(
        transactional_ids=["x", "missing"]), 0).transaction_states
    assert (described[0].error_code, described[0].transaction_state,
            described[0].producer_id) == (0, "Ongoing", pid)
    assert [(t.topic, list(t.partitions)) for t in described[0].topics] == [("t", [0])]
    assert described[1].error_code == codes.TRANSACTIONAL_ID_NOT_FOUND


def _elect(raw: Raw, election: int, partitions: list[int] | None) -> dict[int, int]:
    resp = raw.call(protocol.ElectLeadersRequest(
        election_type=election, timeout_ms=1000,
        topic_partitions=None if partitions is None else [
            el.TopicPartitions(topic="t", partitions=partitions)]), 2)
    return {p.partition_id: p.error_code for r in resp.replica_election_results
            for p in r.partition_result}


def test_elect_leaders_preferred_and_unclean() -> None:
    cluster = FakeCluster(3)
    cluster.create_topic("t", 2, assignments=[[1, 2], [2, 3]])
    raw = Raw(cluster, 3)
    assert _elect(raw, 0, [0, 1, 5]) == {0: codes.ELECTION_NOT_NEEDED,
                                         1: codes.ELECTION_NOT_NEEDED,
                                         5: codes.UNKNOWN_TOPIC_OR_PARTITION}
    cluster.move_leader("t", 0, 2, 0.0)
    epoch = cluster.topics["t"].partitions[0].leader_epoch
    assert _elect(raw, 0, None) == {0: 0}          # null: only the partitions that moved
    p0 = cluster.topics["t"].partitions[0]
    assert p0.leader == 1 and p0.leader_epoch == epoch + 1
    cluster.stop_broker(1, 0.0)
    assert _elect(raw, 0, [0]) == {0: codes.PREFERRED_LEADER_NOT_AVAILABLE}
    assert _elect(raw, 1, [0]) == {0: codes.ELECTION_NOT_NEEDED}   # 2 took over


def test_partition_reassignment_completes_at_once() -> None:
    cluster = FakeCluster(3)
    cluster.create_topic("t", 1, assignments=[[1, 2]])
    raw = Raw(cluster)

    def reassign(replicas: list[int] | None) -> tuple[int, int]:
        resp = raw.call(protocol.AlterPartitionReassignmentsRequest(timeout_ms=1000, topics=[
            ap.ReassignableTopic(name="t", partitions=[
                ap.ReassignablePartition(partition_index=0, replicas=replicas)])]), 0)
        return resp.error_code, resp.responses[0].partitions[0].error_code

    p = cluster.topics["t"].partitions[0]
    assert reassign([2, 3]) == (0, 0)
    assert (p.replicas, p.isr, p.leader) == ([2, 3], [2, 3], 2)
    assert reassign([3, 2]) == (0, 0)
    assert (p.replicas, p.leader) == ([3, 2], 2)     # reordered; the leader stays
    assert reassign(None) == (0, codes.NO_REASSIGNMENT_IN_PROGRESS)
    assert reassign([]) == (0, codes.INVALID_REPLICA_ASSIGNMENT)
    assert reassign([2, 2]) == (0, codes.INVALID_REPLICA_ASSIGNMENT)
    assert reassign([9]) == (0, codes.INVALID_REPLICA_ASSIGNMENT)
    listed = raw.call(protocol.ListPartitionReassignmentsRequest(timeout_ms=1000,
                                                                 topics=None), 0)
    assert listed.error_code == 0 and listed.topics == []


def test_versions_kafka_4_removed_are_not_served() -> None:
    """KIP-896: DescribeLogDirs and the ACL APIs start at version 1 on Kafka 4.x."""
    cluster = FakeCluster(1)
    resp = Raw(cluster).call(protocol.ApiVersionsRequest(client_software_name="kproto",
                                                         client_software_version="1.0"), 3)
    served = {k.api_key: (k.min_version, k.max_version) for k in resp.api_keys}
    assert [served[k] for k in (29, 30, 31, 35)] == [(1, 3), (1, 3), (1, 3), (1, 4)]
    assert [served[k] for k in (33, 43, 45, 46, 47, 48, 49, 61, 65, 66)] == [
        (0, 2), (0, 2), (0, 0), (0, 0), (0, 0), (0, 1), (0, 1), (0, 0), (0, 0), (0, 1)]
