"""Partitions started one after another against real brokers, on every transport.

While a partition is starting, and in the first Fetch after one started, the fetcher asks
for at most 256 KiB (kproto/consumer/fetcher.py, ``_START_BYTES``), so a start's ListOffsets
answer is not queued behind megabytes of records. What is Kafka's here: a first batch
larger than that limit still comes back whole, and answers the limit cuts short are read
again from where they stopped, so every record arrives once, in order.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from kproto import OFFSET_OLDEST, ProducerMessage
from tests.conformance.drivers import TRANSPORTS, open_remote

WAIT = 20.0
BIG = 300 * 1024  # one record, one batch, above the 256 KiB start limit


@pytest.fixture(params=["kafka_broker", "kafka_broker_39"], ids=["newest", "3.9"])
def broker(request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue(request.param)


def expected(topic: str) -> dict[int, list[bytes]]:
    return {0: [b"B" * BIG] + [b"p0-%04d" % i + b"." * 200 for i in range(500)],
            1: [b"p1-%04d" % i + b"." * 200 for i in range(2000)],
            2: [b"p2-%04d" % i + b"." * 200 for i in range(2000)]}


def read_all(transport: str, c: Any, topic: str, counts: dict[int, int]
             ) -> dict[int, list[bytes]]:
    """Start every partition from the oldest offset one after another (each waiting for
    its start, as a sarama user's loop does), then read each to its count."""
    if transport == "threads":
        pcs = {p: c.consume_partition(topic, p, OFFSET_OLDEST) for p in counts}
        got: dict[int, list[bytes]] = {}
        for p, pc in pcs.items():
            got[p] = [pc.messages.get(WAIT).value for _ in range(counts[p])]
            pc.close()
        return got

    async def run(consumer: Any) -> dict[int, list[bytes]]:
        pcs = {p: await consumer.consume_partition(topic, p, OFFSET_OLDEST) for p in counts}
        out: dict[int, list[bytes]] = {}
        for p, pc in pcs.items():
            values = []
            for _ in range(counts[p]):
                m = (await pc.messages.get(WAIT) if transport == "asyncio"
                     else await pc.messages.receive())
                values.append(m.value)
            out[p] = values
            await pc.close()
        return out

    return c._runner.call(lambda: run(c.target), 60.0)  # type: ignore[no-any-return]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_real_broker_partitions_started_in_a_loop_read_every_record_in_order(
        transport: str, broker: Any) -> None:
    topic = f"start-{transport}-{uuid.uuid4().hex[:8]}"
    broker.create_topic(topic, partitions=3)
    want = expected(topic)
    with open_remote(transport, lambda mod: mod.SyncProducer(
            broker.bootstrap, linger=0.005, acks=-1)) as p:
        p.send_batch([ProducerMessage(topic, v, partition=part)
                      for part, values in want.items() for v in values])
    with open_remote(transport, lambda mod: mod.Consumer(broker.bootstrap)) as c:
        got = read_all(transport, c, topic, {p: len(v) for p, v in want.items()})
    assert got == want
