"""The default (idempotent) producer writing to a topic the moment it is created, against a
real broker, through every transport: several partitions, several batches in flight each,
while the partitions' leaders are still being set up. Every record must be stored exactly
once and in send order (a broker before 4.5 takes any first sequence from a producer it does
not know, so a first batch refused right after creation must not be overtaken)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from kproto.message_types import ProducerMessage
from tests.conformance.drivers import TRANSPORTS
from tests.producer.helpers import in_loop, producer, read_partition, take

PARTITIONS = 24
RECORDS = 12000


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("broker", ["kafka_broker", "kafka_broker_39"])
def test_sends_right_after_topic_creation_arrive_once_and_in_order(
        transport: str, broker: str, request: pytest.FixtureRequest) -> None:
    kafka = request.getfixturevalue(broker)
    topic = f"fresh-{transport}-{uuid.uuid4().hex[:8]}"
    # Every result is kept until read (the default capacity drops the oldest beyond 10,000,
    # and on a busy machine this reader may fall that far behind the deliveries).
    with producer(transport, "AsyncProducer", kafka.bootstrap, linger=0.002,
                  batch_max_messages=25, result_stream_capacity=RECORDS) as p:
        warm = f"{topic}-warm"
        kafka.create_topic(warm, partitions=1)
        p.send(ProducerMessage(warm, b"connected"))
        take(transport, p, "successes", 1)
        with kafka._conn() as conn:  # created, not waited for
            error, message = conn.create_topics([(topic, PARTITIONS, 1, {})])[topic]
        assert error == 0, message
        msgs = [ProducerMessage(topic, b"%d:%05d" % (i % PARTITIONS, i // PARTITIONS),
                                partition=i % PARTITIONS) for i in range(RECORDS)]

        def burst(obj: Any) -> None:  # all at once, where the producer lives
            for msg in msgs:
                obj.send_nowait(msg)

        in_loop(transport, p, burst)
        done = take(transport, p, "successes", RECORDS, timeout=300.0)
        assert in_loop(transport, p, lambda obj: len(obj.errors)) == 0
        stats = p.metrics()
    assert len(done) == RECORDS
    for part in range(PARTITIONS):
        values = [r.value for r in read_partition(kafka.bootstrap, topic, part)]
        assert values == [b"%d:%05d" % (part, n) for n in range(RECORDS // PARTITIONS)], (
            f"partition {part}: {len(values)} records, {len(set(values))} distinct; {stats}")
