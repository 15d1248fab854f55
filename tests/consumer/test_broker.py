"""The Consumer against a real broker, through every transport."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from kproto.errors import ConfigurationError, OffsetOutOfRangeError
from kproto.message_types import OFFSET_NEWEST, OFFSET_OLDEST
from tests.conformance.drivers import TRANSPORTS
from tests.consumer.drivers import Partition, consumer, fetch_sessions, produce, shared_client

each = pytest.mark.parametrize("transport", TRANSPORTS)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@each
def test_topics_partitions_and_messages_in_order(transport: str, kafka_broker: Any) -> None:
    topic = unique(f"cons-basic-{transport}")
    kafka_broker.create_topic(topic, partitions=3)
    produce(kafka_broker.bootstrap, topic,
            [(p, b"k%d" % i, b"p%d-%d" % (p, i)) for p in range(3) for i in range(50)])
    with consumer(transport, kafka_broker.bootstrap) as c:
        assert topic in c.topics()
        assert c.partitions(topic) == [0, 1, 2]
        pcs = {p: Partition(c, c.consume_partition(topic, p, OFFSET_OLDEST)) for p in range(3)}
        for p, pc in pcs.items():
            got = pc.take(50)
            assert [m.offset for m in got] == list(range(50))
            assert [m.value for m in got] == [b"p%d-%d" % (p, i) for i in range(50)]
            assert [m.key for m in got] == [b"k%d" % i for i in range(50)]
            assert all(m.topic == topic and m.partition == p for m in got)
            assert all(m.timestamp > 0 and m.timestamp_type == 0 for m in got)
            assert pc.call("high_water_mark_offset") == 50
        assert c.high_water_marks() == {topic: {0: 50, 1: 50, 2: 50}}
        # The broker gave a fetch session, and the fetches went on incrementally in it.
        [(session_id, epoch)] = fetch_sessions(c)
        assert session_id != 0 and epoch > 1


@each
def test_a_consumer_on_an_existing_client_leaves_it_open(transport: str,
                                                         kafka_broker: Any) -> None:
    topic = unique(f"cons-shared-{transport}")
    kafka_broker.create_topic(topic, partitions=1)
    produce(kafka_broker.bootstrap, topic, [(0, None, b"s%d" % i) for i in range(5)])
    with shared_client(transport, kafka_broker.bootstrap) as (client, c):
        pc = Partition(c, c.consume_partition(topic, 0, OFFSET_OLDEST))
        assert [m.value for m in pc.take(5)] == [b"s%d" % i for i in range(5)]
        c.close()
        assert topic in client.metadata([topic]).topics  # the client still works
        target = client.target if hasattr(client, "target") else client
        assert target._loop._handlers == []  # and the consumer left no handler behind
        with pytest.raises(Exception, match="closed"):
            c.topics()


@each
def test_consuming_twice_and_unknown_partitions_are_clear_errors(transport: str,
                                                                 kafka_broker: Any) -> None:
    topic = unique(f"cons-twice-{transport}")
    kafka_broker.create_topic(topic, partitions=1)
    with consumer(transport, kafka_broker.bootstrap) as c:
        c.consume_partition(topic, 0, OFFSET_NEWEST)
        with pytest.raises(ConfigurationError, match="already being consumed"):
            c.consume_partition(topic, 0, OFFSET_OLDEST)
        with pytest.raises(Exception, match="partition"):
            c.consume_partition(topic, 7, OFFSET_OLDEST)


@each
def test_newest_sees_only_later_messages(transport: str, kafka_broker: Any) -> None:
    topic = unique(f"cons-newest-{transport}")
    kafka_broker.create_topic(topic, partitions=1)
    produce(kafka_broker.bootstrap, topic, [(0, None, b"old%d" % i) for i in range(5)])
    with consumer(transport, kafka_broker.bootstrap) as c:
        pc = Partition(c, c.consume_partition(topic, 0, OFFSET_NEWEST))
        produce(kafka_broker.bootstrap, topic, [(0, None, b"new%d" % i) for i in range(3)])
        got = pc.take(3)
        assert [(m.offset, m.value) for m in got] == [(5, b"new0"), (6, b"new1"), (7, b"new2")]


@each
@pytest.mark.parametrize("policy", ["earliest", "latest", "none"])
def test_an_offset_past_the_end_is_handled_as_configured(transport: str, policy: str,
                                                         kafka_broker: Any) -> None:
    topic = unique(f"cons-range-{transport}-{policy}")
    kafka_broker.create_topic(topic, partitions=1)
    produce(kafka_broker.bootstrap, topic, [(0, None, b"m%d" % i) for i in range(4)])
    with consumer(transport, kafka_broker.bootstrap, auto_offset_reset=policy) as c:
        if policy == "none":
            with pytest.raises(OffsetOutOfRangeError, match="offset 1000 is out of range"):
                c.consume_partition(topic, 0, 1000)
            return
        pc = Partition(c, c.consume_partition(topic, 0, 1000))
        if policy == "earliest":
            assert [m.offset for m in pc.take(4)] == [0, 1, 2, 3]
        produce(kafka_broker.bootstrap, topic, [(0, None, b"late")])
        [m] = pc.take(1)
        assert (m.offset, m.value) == (4, b"late")


@each
def test_pause_and_resume_keep_the_position(transport: str, kafka_broker: Any) -> None:
    topic = unique(f"cons-pause-{transport}")
    kafka_broker.create_topic(topic, partitions=2)
    produce(kafka_broker.bootstrap, topic, [(p, None, b"a%d" % i) for p in (0, 1) for i in range(10)])
    with consumer(transport, kafka_broker.bootstrap) as c:
        pc0 = Partition(c, c.consume_partition(topic, 0, OFFSET_OLDEST))
        pc1 = Partition(c, c.consume_partition(topic, 1, OFFSET_OLDEST))
        assert [m.offset for m in pc0.take(10)] == list(range(10))
        assert [m.offset for m in pc1.take(10)] == list(range(10))
        c.pause({topic: [0]})
        produce(kafka_broker.bootstrap, topic,
                [(p, None, b"b%d" % i) for p in (1, 0) for i in range(5)])
        # The unpaused partition flows; the paused one's messages (written after the other's,
        # fetched from the same broker) do not arrive.
        assert [m.offset for m in pc1.take(5)] == list(range(10, 15))
        c.high_water_marks()  # the IO side has delivered everything it had
        assert pc0.buffered() == 0
        c.pause_all()
        c.resume_all()
        got = pc0.take(5)
        assert [(m.offset, m.value) for m in got] == [(10 + i, b"b%d" % i) for i in range(5)]
