"""sarama's Client calls (topics, partitions, leader, replicas, get_offset, coordinators, ...)
through every transport, compared with what real brokers say: Kafka 4.x and 3.9, and the
three-broker cluster, where a warm cache answers without a single request."""

from __future__ import annotations

import time
from typing import Any

import pytest

import kproto_threads
from kproto import OFFSET_NEWEST, OFFSET_OLDEST, protocol
from kproto.admin import TopicDetail
from kproto.engine.cluster import BrokerInfo
from kproto.errors import ObjectClosedError, UnknownTopicOrPartitionError
from kproto.message_types import ProducerMessage
from kproto.protocol.apis import METADATA
from kproto.protocol.messages.metadata_request import MetadataRequestTopic
from tests.conformance.drivers import TRANSPORTS, open_remote
from tests.conformance.test_admin import eventually

each = pytest.mark.parametrize("transport", TRANSPORTS)


@pytest.fixture(params=["kafka_broker", "kafka_broker_39"], ids=["newest", "3.9"])
def broker(request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue(request.param)


def client(transport: str, bootstrap: str, **options: Any) -> Any:
    return open_remote(transport, lambda mod: mod.Client(bootstrap, **options))


def make_topic(bootstrap: str, name: str, partitions: int, replication: int) -> dict[int, Any]:
    """Create ``name`` and wait until every partition has a leader; its partitions as the
    ClusterAdmin describes them."""
    with kproto_threads.ClusterAdmin(bootstrap) as admin:
        admin.create_topic(name, TopicDetail(partitions, replication))

        def described() -> dict[int, Any] | None:
            topic = admin.describe_topics([name])[name]
            parts = {p.id: p for p in topic.partitions}
            ready = topic.ok and len(parts) == partitions and all(
                p.leader >= 0 and len(p.isr) == replication for p in parts.values())
            return parts if ready else None

        parts = eventually(described)
        assert parts, f"{name} did not get its leaders"
    # Every broker answers Metadata from its own copy: wait until each has the topic, so that
    # the client's one fetch finds it whichever broker it asks.
    with kproto_threads.Client(bootstrap) as c:
        nodes = [b.node_id for b in c.metadata([]).brokers]

        def known(node: int) -> bool:
            _version, resp = c.request(METADATA, lambda v: protocol.MetadataRequest(
                topics=[MetadataRequestTopic(name=name)], allow_auto_topic_creation=False),
                node_id=node)
            [topic] = resp.topics
            return not topic.error_code and len(topic.partitions) == partitions and all(
                p.leader_id >= 0 for p in topic.partitions)

        assert eventually(lambda: all(known(n) for n in nodes)), f"{name} did not spread"
    return parts  # type: ignore[no-any-return]


def where(b: Any) -> tuple[int, str, int]:
    """A broker as (node id, host, port), whichever class describes it."""
    return b.node_id, b.host, b.port


def requests_sent(c: Any) -> int:
    return sum(int(b["requests"]) for b in c.metrics()["brokers"].values())


@each
def test_each_call_matches_what_the_broker_says(transport: str, broker: Any) -> None:
    name = f"client-calls-{transport}-{int(time.time() * 1000)}"
    parts = make_topic(broker.bootstrap, name, 3, 1)
    base = int(time.time() * 1000) - 60_000
    stamps = [base, base + 1000, base + 2000]
    with kproto_threads.SyncProducer(broker.bootstrap, acks=-1) as producer:
        for i, ts in enumerate(stamps):
            assert producer.send_message(ProducerMessage(
                name, value=b"v%d" % i, partition=0, timestamp=ts)) == (0, i)
    with kproto_threads.ClusterAdmin(broker.bootstrap) as admin:
        admin_controller = admin.controller()
        admin_coordinator = admin.coordinator(f"{name}-group")

    with client(transport, broker.bootstrap) as c:
        assert c.closed is False
        meta = c.metadata(None)
        [only] = meta.brokers
        assert c.brokers() == [only] and isinstance(only, BrokerInfo)
        assert c.controller() == only and where(only) == where(admin_controller)
        topics = c.topics()
        assert name in topics and topics == sorted(topics)
        assert set(topics) >= {t for t, info in meta.topics.items() if not info.error_code}
        assert c.partitions(name) == [0, 1, 2]
        assert c.writable_partitions(name) == [0, 1, 2]
        for p, described in parts.items():
            assert c.leader(name, p) == only and only.node_id == described.leader
            assert c.replicas(name, p) == list(described.replicas) == [only.node_id]
            assert c.in_sync_replicas(name, p) == list(described.isr)
            assert c.offline_replicas(name, p) == list(described.offline_replicas) == []

        assert c.get_offset(name, 0, OFFSET_OLDEST) == 0
        assert c.get_offset(name, 0, OFFSET_NEWEST) == 3
        assert c.get_offset(name, 0, base + 500) == 1  # between the first two records
        assert c.get_offset(name, 0, base + 1000) == 1  # exactly the second's timestamp
        assert c.get_offset(name, 0, base - 1) == 0
        assert c.get_offset(name, 0, base + 999_999) == -1  # no record that new
        assert c.get_offset(name, 1, OFFSET_OLDEST) == c.get_offset(name, 1, OFFSET_NEWEST) == 0

        assert c.coordinator(f"{name}-group") == only
        assert where(only) == where(admin_coordinator)
        c.refresh_coordinator(f"{name}-group")
        assert c.coordinator(f"{name}-group") == only
        assert c.transaction_coordinator(f"{name}-txn") == only
        c.refresh_metadata()
        c.refresh_metadata(name)

        missing = f"{name}-missing"
        for call in (lambda: c.partitions(missing), lambda: c.leader(missing, 0),
                     lambda: c.get_offset(missing, 0, OFFSET_NEWEST),
                     lambda: c.leader(name, 3), lambda: c.replicas(name, 9),
                     lambda: c.get_offset(name, 3, OFFSET_OLDEST)):
            with pytest.raises(UnknownTopicOrPartitionError):
                call()
        assert missing not in c.topics()  # asking did not create it
        with pytest.raises(ValueError, match="topic"):
            c.partitions("")
        with pytest.raises(ValueError, match="partition"):
            c.leader(name, -1)
        with pytest.raises(TypeError, match="partition"):
            c.replicas(name, "0")
        with pytest.raises(ValueError, match="time"):
            c.get_offset(name, 0, -5)
        with pytest.raises(ValueError, match="group"):
            c.coordinator("")
        with pytest.raises(TypeError, match="transactional_id"):
            c.transaction_coordinator(None)
        target = getattr(c, "target", c)
    assert target.closed is True
    if transport == "threads":
        with pytest.raises(ObjectClosedError):
            target.partitions(name)


@each
def test_the_three_brokers_replicas_and_a_warm_cache(transport: str, kafka_cluster: Any) -> None:
    name = f"client-calls-3-{transport}-{int(time.time() * 1000)}"
    parts = make_topic(kafka_cluster.bootstrap, name, 6, 3)
    with kproto_threads.ClusterAdmin(kafka_cluster.bootstrap) as admin:
        groups = {g: admin.coordinator(g) for g in (f"{name}-a", f"{name}-b", f"{name}-c")}
    with client(transport, kafka_cluster.bootstrap) as c:
        brokers = c.brokers()
        ids = [b.node_id for b in brokers]
        assert len(ids) == 3 and ids == sorted(ids)
        assert c.controller().node_id in ids
        by_id = {b.node_id: b for b in brokers}
        assert c.partitions(name) == list(range(6))
        for p, described in parts.items():
            assert c.leader(name, p) == by_id[described.leader]
            assert c.replicas(name, p) == list(described.replicas)
            assert sorted(c.replicas(name, p)) == ids
            assert sorted(c.in_sync_replicas(name, p)) == sorted(described.isr) == ids
            assert c.offline_replicas(name, p) == []
        assert len({c.leader(name, p).node_id for p in parts}) > 1  # spread over brokers
        for group, coordinator in groups.items():
            assert where(c.coordinator(group)) == where(coordinator)
        for p in parts:
            assert c.get_offset(name, p, OFFSET_NEWEST) == 0

        # Warm: the same questions again send no request at all.
        before = requests_sent(c)
        for _ in range(20):
            assert c.partitions(name) == list(range(6))
            assert c.writable_partitions(name) == list(range(6))
            for p, described in parts.items():
                assert c.leader(name, p).node_id == described.leader
                assert c.replicas(name, p) == list(described.replicas)
                c.in_sync_replicas(name, p)
            assert c.brokers() == brokers
            c.controller()
            for group, coordinator in groups.items():
                assert where(c.coordinator(group)) == where(coordinator)
        assert requests_sent(c) == before
        # A forced refresh is one request; the cache answers after it.
        c.refresh_metadata(name)
        assert requests_sent(c) == before + 1
        assert c.leader(name, 0).node_id == parts[0].leader
        assert requests_sent(c) == before + 1
