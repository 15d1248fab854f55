"""An idempotent acks=all producer keeps writing while a partition leader dies: every
acknowledged record is stored exactly once, in the order it was sent."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import pytest

from kproto.message_types import ProducerMessage
from tests.conformance.drivers import TRANSPORTS
from tests.producer.helpers import in_loop, producer, read_partition, take

PARTITIONS = 2
ROUNDS = 60
PER_ROUND = 40


@pytest.mark.slow
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_leader_killed_mid_stream_loses_and_duplicates_nothing(transport: str,
                                                              kafka_cluster: Any) -> None:
    topic = f"failover-{transport}-{uuid.uuid4().hex[:6]}"
    kafka_cluster.create_topic(topic, partitions=PARTITIONS, replication_factor=3)
    victim = kafka_cluster.leader(topic, 0)
    restarted = threading.Event()
    options = {"request_timeout": 5.0, "retry_backoff": 0.05, "retry_backoff_max": 0.5,
               "reconnect_backoff": 0.05, "reconnect_backoff_max": 0.5, "linger": 0.005,
               "metadata_max_age": 5.0, "delivery_timeout": 120.0}
    total = ROUNDS * PER_ROUND
    with producer(transport, "AsyncProducer", kafka_cluster.bootstrap, **options) as p:
        try:
            for rnd in range(ROUNDS):
                for i in range(PER_ROUND):
                    n = rnd * PER_ROUND + i
                    p.send(ProducerMessage(topic, b"%06d" % n, partition=n % PARTITIONS,
                                           metadata=n))
                if rnd == ROUNDS // 4:
                    kafka_cluster.kill(victim)
                if rnd == ROUNDS // 2:
                    threading.Thread(target=lambda: (kafka_cluster.restart(victim),
                                                     restarted.set()), daemon=True).start()
                time.sleep(0.05)
            acked = take(transport, p, "successes", total, timeout=180)
            assert in_loop(transport, p, lambda obj: len(obj.errors)) == 0
            metrics = in_loop(transport, p, lambda obj: obj.metrics())
            # The failover was felt (on Kafka; the fake cluster elects the new leader as the
            # broker stops, so a producer may move without one failed request) ...
            assert metrics["retries"] > 0 or getattr(kafka_cluster, "fake", False)
            assert metrics["producer_epoch"] == 0  # ... and needed no epoch bump
        finally:
            assert restarted.wait(180), "the killed broker did not come back"
    kafka_cluster.wait_for_brokers()
    assert sorted(m.metadata for m in acked) == list(range(total))
    for part in range(PARTITIONS):
        leader = kafka_cluster.leader(topic, part)
        host, port = kafka_cluster.node(leader).listeners["PLAINTEXT"]
        stored = read_partition(f"{host}:{port}", topic, part)
        values = [r.value for r in stored]
        sent = [b"%06d" % n for n in range(part, total, PARTITIONS)]
        assert values == sent  # each exactly once, in order
        offsets = {m.metadata: m.offset for m in acked if m.partition == part}
        assert [offsets[n] for n in range(part, total, PARTITIONS)] == [r.offset for r in stored]
