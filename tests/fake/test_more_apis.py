"""Per-API tests of the fake cluster's admin and group-inspection APIs, and SASL through the
real engine."""

from __future__ import annotations

from typing import Any

import pytest

from kproto import protocol
from kproto.events import OperationFailed
from kproto.protocol.messages import delete_records_request as drr
from kproto.protocol.messages import offset_for_leader_epoch_request as ofq
from kproto.testing import FakeCluster
from kproto.testing.fake import codes
from tests.fake.driver import Driver, Raw
from tests.fake.test_apis import batch, join_req, produce_req


def test_offset_for_leader_epoch_after_leader_changes() -> None:
    cluster = FakeCluster(2, topics={"t": 1})
    p = cluster.topics["t"].partitions[0]
    Raw(cluster, p.leader).call(produce_req(batch([b"a", b"b"])), 9)
    cluster.move_leader("t", 0, 3 - p.leader, 0.0)        # epoch 1 starts at offset 2
    raw = Raw(cluster, p.leader)
    raw.call(produce_req(batch([b"c"])), 9)

    def ask(epoch: int, current: int = -1) -> tuple[int, int, int]:
        req = protocol.OffsetForLeaderEpochRequest(replica_id=-1, topics=[
            ofq.OffsetForLeaderTopic(topic="t", partitions=[ofq.OffsetForLeaderPartition(
                partition=0, current_leader_epoch=current, leader_epoch=epoch)])])
        r = raw.call(req, 4).topics[0].partitions[0]
        return r.error_code, r.leader_epoch, r.end_offset

    assert ask(0) == (0, 0, 2)
    assert ask(1) == (0, 1, 3)
    assert ask(5) == (0, -1, -1)
    assert ask(0, current=0)[0] == codes.FENCED_LEADER_EPOCH


def test_delete_records_moves_the_log_start() -> None:
    cluster = FakeCluster(1, topics={"t": 1})
    raw = Raw(cluster)
    for v in (b"a", b"b", b"c"):
        raw.call(produce_req(batch([v])), 9)

    def delete(offset: int) -> tuple[int, int]:
        req = protocol.DeleteRecordsRequest(timeout_ms=1000, topics=[drr.DeleteRecordsTopic(
            name="t", partitions=[drr.DeleteRecordsPartition(partition_index=0,
                                                             offset=offset)])])
        r = raw.call(req, 2).topics[0].partitions[0]
        return r.error_code, r.low_watermark

    assert delete(2) == (0, 2)
    assert delete(9) == (codes.OFFSET_OUT_OF_RANGE, -1)
    assert delete(-1) == (0, 3)
    assert cluster.topics["t"].partitions[0].log.entries == []


def test_describe_list_and_delete_groups() -> None:
    cluster = FakeCluster(1)
    raw = Raw(cluster)
    first = raw.call(join_req(), 9)
    joined = raw.call(join_req(first.member_id), 9)
    described = raw.call(protocol.DescribeGroupsRequest(groups=["g", "none"]), 5).groups
    assert described[0].group_state == "CompletingRebalance"
    assert [m.member_id for m in described[0].members] == [joined.member_id]
    assert described[1].group_state == "Dead"
    listed = raw.call(protocol.ListGroupsRequest(states_filter=["completingrebalance"]), 4)
    assert [g.group_id for g in listed.groups] == ["g"]
    delete = raw.call(protocol.DeleteGroupsRequest(groups_names=["g", "none"]), 2)
    assert [r.error_code for r in delete.results] == [codes.NON_EMPTY_GROUP,
                                                      codes.GROUP_ID_NOT_FOUND]


def test_describe_cluster() -> None:
    cluster = FakeCluster(3)
    cluster.stop_broker(2, 0.0)
    resp = Raw(cluster).call(protocol.DescribeClusterRequest(endpoint_type=1), 1)
    assert resp.cluster_id == cluster.cluster_id
    assert [b.broker_id for b in resp.brokers] == [1, 3]


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_sasl_through_the_engine(mechanism: str) -> None:
    cluster = FakeCluster(1, sasl_users={"alice": "secret"})
    d = Driver(cluster)
    good = d.client(security_protocol="SASL_PLAINTEXT", sasl_mechanism=mechanism,
                    sasl_username="alice", sasl_password="secret")
    d.wait(good, good.core.metadata(None, d.now))
    assert all(c.principal == "alice" for c in cluster.connections.values())
    bad = d.client(seed=2, security_protocol="SASL_PLAINTEXT", sasl_mechanism=mechanism,
                   sasl_username="alice", sasl_password="wrong", metadata_max_wait=5.0)
    token = bad.core.metadata(None, d.now)
    d.run_until(lambda: bad.result(token) is not None)
    failure = next(e for e in bad.events if isinstance(e, OperationFailed))
    assert "Authentication" in type(failure.error).__name__ or \
        "authentication" in str(failure.error).lower()


def test_a_request_before_sasl_closes_the_connection() -> None:
    cluster = FakeCluster(1, sasl_users={"alice": "secret"})
    raw = Raw(cluster)
    raw.send(protocol.MetadataRequest(topics=None), 12)
    assert raw.conn.closed


def test_create_partitions() -> None:
    from kproto.protocol.messages import create_partitions_request as cpr
    cluster = FakeCluster(3, topics={"t": 2})
    raw = Raw(cluster)

    def grow(name: str, count: int, assignments: list[list[int]] | None = None,
             validate: bool = False) -> int:
        req = protocol.CreatePartitionsRequest(timeout_ms=1000, validate_only=validate,
                                               topics=[cpr.CreatePartitionsTopic(
            name=name, count=count, assignments=None if assignments is None else [
                cpr.CreatePartitionsAssignment(broker_ids=a) for a in assignments])])
        return int(raw.call(req, 3).results[0].error_code)

    assert grow("none", 3) == codes.UNKNOWN_TOPIC_OR_PARTITION
    assert grow("t", 1) == codes.INVALID_PARTITIONS
    assert grow("t", 2) == codes.INVALID_PARTITIONS
    assert grow("t", 4, [[1]]) == codes.INVALID_REPLICA_ASSIGNMENT
    assert grow("t", 3, [[9]]) == codes.INVALID_REPLICA_ASSIGNMENT
    assert grow("t", 5, validate=True) == 0 and len(cluster.topics["t"].partitions) == 2
    assert grow("t", 4, [[1, 2], [3, 1]]) == 0
    assert [p.replicas for p in cluster.topics["t"].partitions[2:]] == [[1, 2], [3, 1]]


@pytest.mark.parametrize("version", [1, 4])
def test_describe_and_incrementally_alter_configs(version: int) -> None:
    from kproto.protocol.messages import describe_configs_request as dcr
    from kproto.protocol.messages import incremental_alter_configs_request as iar
    cluster = FakeCluster(1, topics={"t": 1})
    raw = Raw(cluster)

    def describe(name: str, rtype: int = 2, keys: list[str] | None = None) -> Any:
        req = protocol.DescribeConfigsRequest(resources=[dcr.DescribeConfigsResource(
            resource_type=rtype, resource_name=name, configuration_keys=keys)])
        return raw.call(req, version).results[0]

    def alter(name: str, op: int, key: str, value: str | None) -> int:
        req = protocol.IncrementalAlterConfigsRequest(resources=[iar.AlterConfigsResource(
            resource_type=2, resource_name=name, configs=[iar.AlterableConfig(
                name=key, config_operation=op, value=value)])])
        return int(raw.call(req, 1).responses[0].error_code)

    r = describe("t", keys=["max.message.bytes"])
    assert [(c.name, c.value) for c in r.configs] == [("max.message.bytes", "1048588")]
    assert describe("none").error_code == codes.UNKNOWN_TOPIC_OR_PARTITION
    assert describe("1", rtype=4).error_code == 0
    assert describe("7", rtype=4).error_code == codes.INVALID_REQUEST
    assert alter("t", 0, "max.message.bytes", "2000") == 0
    assert alter("t", 0, "bogus", "1") == codes.INVALID_CONFIG
    assert alter("t", 2, "retention.ms", "1") == codes.INVALID_CONFIG
    assert alter("t", 2, "cleanup.policy", "compact") == 0
    assert cluster.topics["t"].config("cleanup.policy") == "delete,compact"
    assert alter("none", 0, "retention.ms", "1") == codes.UNKNOWN_TOPIC_OR_PARTITION
    changed = {c.name: c for c in describe("t").configs}
    assert changed["max.message.bytes"].value == "2000"
    if version >= 1:
        assert changed["max.message.bytes"].config_source == 1
        assert changed["retention.ms"].config_source == 5
