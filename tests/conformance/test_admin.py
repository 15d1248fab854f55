"""The ClusterAdmin through every transport, against real Kafka 4.x and 3.9 brokers, and the
three-broker cluster with one broker down."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from kproto.admin import (
    ConfigResource,
    ConfigResourceType,
    IncrementalAlterConfigsEntry,
    IncrementalAlterConfigsOperation,
    InvalidArgumentError,
    OffsetSpec,
    TopicDetail,
)
from kproto.admin.validate import TOPIC_CONFIGS
from kproto.errors import (
    GroupIdNotFoundError,
    InvalidPartitionsError,
    TopicAlreadyExistsError,
    UnknownMemberIdError,
    UnknownTopicOrPartitionError,
)
from kproto.message_types import ProducerMessage
from tests.conformance.drivers import TRANSPORTS, open_remote

each = pytest.mark.parametrize("transport", TRANSPORTS)
TOPIC = ConfigResourceType.TOPIC
SET = IncrementalAlterConfigsOperation.SET


@pytest.fixture(params=["kafka_broker", "kafka_broker_39"], ids=["newest", "3.9"])
def broker(request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue(request.param)


def admin(transport: str, bootstrap: str, **options: Any) -> Any:
    return open_remote(transport, lambda mod: mod.ClusterAdmin(bootstrap, **options))


def eventually(check: Callable[[], Any], timeout: float = 30.0) -> Any:
    """``check()`` until it returns a true value (metadata spreads to brokers in a moment)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


@each
def test_topics_and_configs(transport: str, broker: Any) -> None:
    name = f"admin-topics-{transport}-{int(time.time() * 1000)}"
    with admin(transport, broker.bootstrap) as a:
        # Refused before anything is sent.
        with pytest.raises(InvalidArgumentError) as bad:
            a.create_topic("bad/name", TopicDetail(1, 1))
        assert bad.value.field == "topic"
        with pytest.raises(InvalidArgumentError):
            a.create_topic(name, TopicDetail(0, 1))

        a.create_topic(name, TopicDetail(1, 1), validate_only=True)
        assert name not in a.describe_topics() or a.describe_topics([name])[name].error
        a.create_topic(name, TopicDetail(2, 1, config_entries={"retention.ms": "3600000"}))
        again = a.create_topics({name: TopicDetail(1, 1), f"{name}-b": TopicDetail(3, -1)})
        assert isinstance(again[name].error, TopicAlreadyExistsError)
        assert again[f"{name}-b"].ok and again[f"{name}-b"].num_partitions == 3

        described = eventually(lambda: (d := a.describe_topics([name]))[name].ok and d)
        assert [p.id for p in described[name].partitions] == [0, 1]
        listed = a.list_topics()
        assert listed[name].num_partitions == 2 and listed[name].replication_factor == 1
        assert listed[name].config_entries.get("retention.ms") == "3600000"

        a.create_partitions(name, 4)
        with pytest.raises(InvalidPartitionsError):
            a.create_partitions(name, 2)
        assert eventually(lambda: len(a.describe_topics([name])[name].partitions) == 4)

        resource = ConfigResource(TOPIC, name)
        entries = {e.name: e for e in a.describe_config(resource)}
        # The names incremental_alter_config checks topic changes against are the broker's.
        assert set(entries) <= TOPIC_CONFIGS, set(entries) - TOPIC_CONFIGS
        assert entries["retention.ms"].value == "3600000"
        assert not entries["retention.ms"].default
        a.incremental_alter_config(TOPIC, name, {
            "cleanup.policy": IncrementalAlterConfigsEntry(SET, "compact")})
        # The controller accepted the change; the broker answering describe_config applies
        # it from the metadata log a moment later.
        entries = eventually(lambda: (e := {e.name: e for e in a.describe_config(resource)})[
            "cleanup.policy"].value == "compact" and e)
        assert entries, "cleanup.policy never became compact"
        assert entries["retention.ms"].value == "3600000"  # incremental: the rest stays
        a.alter_config(TOPIC, name, {"segment.ms": "7200000"})
        entries = eventually(lambda: (e := {e.name: e for e in a.describe_config(resource)})[
            "segment.ms"].value == "7200000" and e)
        assert entries, "segment.ms never became 7200000"
        assert entries["retention.ms"].default  # alter_config replaces every dynamic config

        deleted = a.delete_topics([name, f"{name}-b", f"{name}-missing"])
        assert deleted[name].ok and deleted[f"{name}-b"].ok
        assert isinstance(deleted[f"{name}-missing"].error, UnknownTopicOrPartitionError)
        with pytest.raises(UnknownTopicOrPartitionError):
            a.delete_topic(f"{name}-missing")


@each
def test_records_and_offsets(transport: str, broker: Any) -> None:
    import kproto_threads

    name = f"admin-offsets-{transport}-{int(time.time() * 1000)}"
    broker.create_topic(name, partitions=2)
    base = 1_700_000_000_000
    with kproto_threads.SyncProducer(broker.bootstrap, acks=-1) as producer:
        for i in range(5):
            producer.send_message(ProducerMessage(name, b"v%d" % i, partition=0,
                                                  timestamp=base + i * 1000))
    with admin(transport, broker.bootstrap) as a:
        tp0, tp1 = (name, 0), (name, 1)
        out = a.list_offsets({tp0: OffsetSpec.LATEST, tp1: OffsetSpec.LATEST})
        assert out[tp0].offset == 5 and out[tp1].offset == 0
        assert a.list_offsets({tp0: OffsetSpec.EARLIEST})[tp0].offset == 0
        at = a.list_offsets({tp0: base + 2500})[tp0]
        assert (at.offset, at.timestamp) == (3, base + 3000)
        newest = a.list_offsets({tp0: OffsetSpec.MAX_TIMESTAMP})[tp0]
        assert (newest.offset, newest.timestamp) == (4, base + 4000)

        deleted = a.delete_records(name, {0: 2, 1: -1})
        assert deleted[0].low_watermark == 2 and deleted[1].low_watermark == 0
        assert a.list_offsets({tp0: OffsetSpec.EARLIEST})[tp0].offset == 2
        missing = a.list_offsets({tp0: OffsetSpec.LATEST, (name, 9): OffsetSpec.LATEST})
        assert missing[tp0].offset == 5
        assert isinstance(missing[(name, 9)].error, UnknownTopicOrPartitionError)


@each
def test_consumer_groups(transport: str, broker: Any) -> None:
    stamp = int(time.time() * 1000)
    name, group = f"admin-groups-{transport}-{stamp}", f"admin-group-{transport}-{stamp}"
    broker.create_topic(name, partitions=2)
    with admin(transport, broker.bootstrap) as a:
        committed = a.alter_consumer_group_offsets(group, {name: {0: 3, 1: 0}},
                                                   metadata="from the admin")
        assert all(r.ok for r in committed.values())
        offsets = a.list_consumer_group_offsets(group)
        assert {p: b.offset for p, b in offsets[name].items()} == {0: 3, 1: 0}
        assert offsets[name][0].metadata == "from the admin"
        only = a.list_consumer_group_offsets(group, {name: [1]})
        assert list(only[name]) == [1]

        listed = a.list_consumer_groups()
        assert group in listed.groups and listed.errors == {}
        [described] = a.describe_consumer_groups([group])
        assert described.ok and described.state == "Empty" and described.members == ()
        coordinator = a.coordinator(group)
        assert coordinator.port > 0

        removed = a.remove_member_from_consumer_group(group, ["nobody"])
        assert isinstance(removed["nobody"].error, UnknownMemberIdError)

        a.delete_consumer_group_offset(group, name, 1)
        assert list(a.list_consumer_group_offsets(group)[name]) == [0]
        a.delete_consumer_group(group)
        with pytest.raises(GroupIdNotFoundError):
            a.delete_consumer_group(group)
        assert group not in a.list_consumer_groups().groups


@each
def test_cluster(transport: str, broker: Any) -> None:
    with admin(transport, broker.bootstrap) as a:
        desc = a.describe_cluster()
        assert desc.cluster_id and len(desc.brokers) == 1
        controller = a.controller()
        assert controller.node_id == desc.brokers[0].node_id
        assert controller.port == desc.brokers[0].port


@each
def test_one_broker_down_fails_only_its_partitions(transport: str, kafka_cluster: Any) -> None:
    name = f"admin-down-{transport}-{int(time.time() * 1000)}"
    with admin(transport, kafka_cluster.bootstrap, request_timeout=5.0,
               reconnect_backoff_max=0.5) as a:
        nodes = sorted(b.node_id for b in a.describe_cluster().brokers)
        assert len(nodes) == 3
        # Replication factor 1: each partition lives on one broker only.
        a.create_topic(name, TopicDetail(replica_assignment={i: [n] for i, n in
                                                             enumerate(nodes)}))
        assert eventually(lambda: len(ps := a.describe_topics([name])[name].partitions) == 3
                          and all(p.leader >= 0 for p in ps))
        victim = nodes[-1]
        kafka_cluster.kill(victim)
        try:
            start = time.monotonic()
            out = a.list_offsets({(name, i): OffsetSpec.LATEST for i in range(3)},
                                 timeout=6.0)
            assert time.monotonic() - start < 15.0
            assert out[(name, 0)].ok and out[(name, 1)].ok
            assert out[(name, 2)].error is not None
            groups = a.list_consumer_groups(timeout=6.0)
            # The dead broker's groups are missing, reported by broker id, unless the
            # controller already fenced it out of the metadata; the others answered.
            assert set(groups.errors) <= {victim}
        finally:
            kafka_cluster.restart(victim)
        a.delete_topic(name)
