"""What the ClusterAdmin creates and alters, the Java tools and confluent-kafka's AdminClient
see; what they create, the ClusterAdmin describes the same (Kafka 4.x and 3.9, every
transport)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from kproto.admin import ConfigResource, ConfigResourceType, TopicDetail
from tests.conformance.drivers import TRANSPORTS
from tests.conformance.test_admin import admin as open_admin

TOPIC = ConfigResourceType.TOPIC
each = pytest.mark.parametrize("transport", TRANSPORTS)


@pytest.fixture(params=["kafka_broker", "kafka_broker_39"], ids=["newest", "3.9"])
def broker(request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue(request.param)


def tool(broker: Any, name: str, *args: str) -> str:
    proc = broker.java_tool(name, "--bootstrap-server", broker.bootstrap, *args)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return str(proc.stdout)


def commit_once_known(admin: Any, group: str, topic: str, offsets: dict[int, int]) -> None:
    """Commit ``offsets``; a topic created a moment ago may not have reached the broker's
    metadata yet (Kafka then answers UNKNOWN_TOPIC_OR_PARTITION, as to Java's admin)."""
    deadline = time.monotonic() + 30
    while True:
        results = admin.alter_consumer_group_offsets(group, {topic: offsets})
        if all(r.ok for r in results.values()) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert all(r.ok for r in results.values()), results


def ck_config(ck: Any, resource: Any) -> Any:
    """confluent-kafka's DescribeConfigs, asked again while the broker does not know the
    topic yet (a topic created a moment ago reaches its metadata a moment later)."""
    from confluent_kafka import KafkaError, KafkaException

    deadline = time.monotonic() + 30
    while True:
        [future] = ck.describe_configs([resource]).values()
        try:
            return future.result(60)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART \
                    or time.monotonic() > deadline:
                raise
        time.sleep(0.05)


@each
def test_java_tools_see_what_kproto_made(transport: str, broker: Any) -> None:
    stamp = int(time.time() * 1000)
    name, group = f"admin-java-{transport}-{stamp}", f"admin-java-group-{transport}-{stamp}"
    with open_admin(transport, broker.bootstrap) as admin:
        admin.create_topic(name, TopicDetail(3, 1, config_entries={"retention.ms": "12345"}))
        commit_once_known(admin, group, name, {0: 0, 2: 0})

        described = tool(broker, "topics", "--describe", "--topic", name)
        assert "PartitionCount: 3" in described and "ReplicationFactor: 1" in described
        assert "retention.ms=12345" in described
        configs = tool(broker, "configs", "--describe", "--entity-type", "topics",
                       "--entity-name", name)
        assert "retention.ms=12345" in configs
        groups = tool(broker, "consumer-groups", "--describe", "--group", group)
        rows = [line.split() for line in groups.splitlines() if name in line]
        assert sorted((r[2], r[3]) for r in rows) == [("0", "0"), ("2", "0")], groups
        admin.delete_topic(name)


@each
def test_kproto_sees_what_the_java_tools_made(transport: str, broker: Any) -> None:
    stamp = int(time.time() * 1000)
    name = f"admin-java-made-{transport}-{stamp}"
    group = f"admin-java-made-group-{transport}-{stamp}"
    tool(broker, "topics", "--create", "--topic", name, "--partitions", "2",
         "--replication-factor", "1", "--config", "retention.ms=98765")
    tool(broker, "consumer-groups", "--reset-offsets", "--group", group, "--topic", name,
         "--to-earliest", "--execute")
    with open_admin(transport, broker.bootstrap) as admin:
        deadline = time.monotonic() + 30
        while not (meta := admin.describe_topics([name])[name]).ok \
                and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [p.id for p in meta.partitions] == [0, 1]
        assert all(len(p.replicas) == 1 for p in meta.partitions)
        entries = {e.name: e for e in admin.describe_config(ConfigResource(TOPIC, name))}
        assert entries["retention.ms"].value == "98765" and not entries["retention.ms"].default
        offsets = admin.list_consumer_group_offsets(group)
        assert {p: b.offset for p, b in offsets[name].items()} == {0: 0, 1: 0}
        [described] = admin.describe_consumer_groups([group])
        assert described.state == "Empty"
        admin.delete_consumer_group(group)
        admin.delete_topic(name)


@each
def test_confluent_admin_and_kproto_agree(transport: str, broker: Any) -> None:
    from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic
    from confluent_kafka.admin import ConfigResource as CResource

    stamp = int(time.time() * 1000)
    theirs, ours = f"admin-ck-theirs-{transport}-{stamp}", f"admin-ck-ours-{transport}-{stamp}"
    group = f"admin-ck-group-{transport}-{stamp}"
    ck = AdminClient({"bootstrap.servers": broker.bootstrap})
    for f in ck.create_topics([NewTopic(theirs, 2, 1, config={"cleanup.policy": "compact"})],
                              operation_timeout=30).values():
        f.result(60)
    with open_admin(transport, broker.bootstrap) as admin:
        # What confluent-kafka created, kproto describes.
        deadline = time.monotonic() + 30
        while not (meta := admin.describe_topics([theirs])[theirs]).ok \
                and time.monotonic() < deadline:
            time.sleep(0.05)
        ck_meta = ck.list_topics(theirs, timeout=30).topics[theirs]
        assert sorted(p.id for p in meta.partitions) == sorted(ck_meta.partitions)
        assert {p.id: p.replicas for p in meta.partitions} == {
            i: tuple(p.replicas) for i, p in ck_meta.partitions.items()}
        entries = {e.name: e.value for e in admin.describe_config(ConfigResource(TOPIC, theirs))}
        assert entries["cleanup.policy"] == "compact"

        # What kproto creates and commits, confluent-kafka sees.
        admin.create_topic(ours, TopicDetail(4, 1, config_entries={"retention.ms": "54321"}))
        assert ck_config(ck, CResource("topic", ours))["retention.ms"].value == "54321"
        commit_once_known(admin, group, ours, {1: 7})
        [f] = ck.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)]).values()
        assert [(tp.topic, tp.partition, tp.offset) for tp in f.result(60).topic_partitions] \
            == [(ours, 1, 7)]

        # And the other way round: confluent-kafka commits, kproto lists.
        [f] = ck.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(
            group, [TopicPartition(ours, 3, 11)])]).values()
        f.result(60)
        offsets = admin.list_consumer_group_offsets(group)
        assert {p: b.offset for p, b in offsets[ours].items()} == {1: 7, 3: 11}
        admin.delete_consumer_group(group)
        assert all(r.ok for r in admin.delete_topics([ours, theirs]).values())
