"""A partition consumer survives a killed leader and a broken network: it carries on from its
position, without gaps or duplicates."""

from __future__ import annotations

import logging
import threading
import uuid
from typing import Any

import pytest

from kproto.message_types import OFFSET_OLDEST
from tests.conformance.drivers import TRANSPORTS
from tests.consumer.drivers import Partition, consumer, produce

each = pytest.mark.parametrize("transport", TRANSPORTS)
FAST = {"request_timeout": 5.0, "retry_backoff": 0.05, "retry_backoff_max": 0.5,
        "reconnect_backoff": 0.05, "reconnect_backoff_max": 0.5, "metadata_max_age": 5.0,
        "fetch_max_wait": 0.2}


def value(partition: int, i: int) -> bytes:
    return b"%d-%06d" % (partition, i)


@pytest.mark.slow
@each
def test_the_partition_leader_killed_during_consumption(transport: str, kafka_cluster: Any,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="kproto.consumer")
    topic = f"cons-failover-{transport}-{uuid.uuid4().hex[:6]}"
    kafka_cluster.create_topic(topic, partitions=2, replication_factor=3)
    before, after = 3000, 1000
    produce(kafka_cluster.bootstrap, topic,
            [(p, None, value(p, i)) for i in range(before) for p in (0, 1)])
    victim = kafka_cluster.leader(topic, 0)
    restarted = threading.Event()
    # Small fetches and buffers: most of the partition is still to be fetched at the kill.
    with consumer(transport, kafka_cluster.bootstrap, max_partition_fetch_bytes=4096,
                  partition_buffer_bytes=8192, **FAST) as c:
        pcs = [Partition(c, c.consume_partition(topic, p, OFFSET_OLDEST)) for p in (0, 1)]
        got: list[list[Any]] = [pc.take(500) for pc in pcs]
        try:
            kafka_cluster.kill(victim)
            for p, pc in enumerate(pcs):
                got[p] += pc.take(1000)
            # Records written after the failover arrive too (acks=all: two replicas left).
            produce(kafka_cluster.bootstrap, topic,
                    [(p, None, value(p, i)) for i in range(before, before + after)
                     for p in (0, 1)])
            threading.Thread(target=lambda: (kafka_cluster.restart(victim), restarted.set()),
                             daemon=True).start()
            for p, pc in enumerate(pcs):
                got[p] += pc.take(before + after - len(got[p]), timeout=120)
        finally:
            assert restarted.wait(180), "the killed broker did not come back"
        for p, msgs in enumerate(got):
            assert [m.offset for m in msgs] == list(range(before + after))
            assert [m.value for m in msgs] == [value(p, i) for i in range(before + after)]
    # The consumer followed the new leader and checked its position against it (KIP-320).
    assert any("validating position" in r.getMessage() for r in caplog.records)
    kafka_cluster.wait_for_brokers()


@each
def test_a_cut_network_is_reconnected_and_consumption_resumes(transport: str,
                                                               kafka_broker: Any) -> None:
    topic = f"cons-cut-{transport}-{uuid.uuid4().hex[:6]}"
    kafka_broker.create_topic(topic, partitions=1)
    produce(kafka_broker.bootstrap, topic, [(0, None, value(0, i)) for i in range(400)])
    proxy = kafka_broker.proxy
    host, port = proxy.address
    try:
        with consumer(transport, f"{host}:{port}", max_partition_fetch_bytes=2048,
                      partition_buffer_bytes=4096, **FAST) as c:
            pc = Partition(c, c.consume_partition(topic, 0, OFFSET_OLDEST))
            got = pc.take(100)
            proxy.cut()
            proxy.restore()
            got += pc.take(300)
            produce(kafka_broker.bootstrap, topic, [(0, None, value(0, i))
                                                   for i in range(400, 500)])
            got += pc.take(100)
            assert [m.offset for m in got] == list(range(500))
            assert [m.value for m in got] == [value(0, i) for i in range(500)]
    finally:
        proxy.restore()
