"""What every benchmark section shares: the broker (started with the test harness or given
with --bootstrap), topics, record values, and the meter that times a run.

A run is timed on two clocks: wall time (``perf_counter``) for records/s and MB/s, and the
CPU time of this whole process (``process_time``: every thread, so librdkafka's and
kproto_threads' I/O threads count as well as Python's) for CPU seconds per million records.
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass
from typing import Any

COMMON: dict[str, Any] = {"acks": 1, "linger": 0.005, "batch_size": 16384}
"""Producer settings every client gets: acks=1, no idempotence, linger 5 ms, 16 KiB batches."""


class NotAvailable(Exception):
    """A client or API this installation does not have: its row says so instead of a number."""


@dataclass
class Timing:
    wall: float
    cpu: float


class Meter:
    """Wall and process CPU time between ``start()`` and ``stop()``."""

    def __init__(self) -> None:
        self.t0 = self.c0 = 0.0

    def start(self) -> None:
        self.t0, self.c0 = time.perf_counter(), time.process_time()

    def stop(self) -> Timing:
        return Timing(time.perf_counter() - self.t0, time.process_time() - self.c0)


def make_values(count: int, size: int) -> list[bytes]:
    """Text-like values (so lz4 has something to find), all different, exactly ``size`` bytes."""
    words = [b"alpha", b"bravo", b"charlie", b"delta", b"echo", b"foxtrot", b"golf"]
    out = []
    for i in range(count):
        chunk = b"%d:" % i + b";".join(words[(i + j) % len(words)] + b"=%d" % (i * j % 977)
                                      for j in range(size // 8 + 1))
        out.append(chunk[:size])
    return out


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class Broker:
    """The broker under test: started with the test harness, or an existing one."""

    def __init__(self, bootstrap: str | None = None) -> None:
        self.cluster: Any = None
        self.version = "external"
        if bootstrap is None:
            from tests.harness.broker import KafkaCluster
            from tests.harness.jars import chosen_version

            self.version = os.environ.get("KPROTO_KAFKA_VERSION") or chosen_version()
            print(f"starting Kafka {self.version} ...", flush=True)
            self.cluster = KafkaCluster(self.version, 1).start()
            bootstrap = self.cluster.bootstrap
        self.bootstrap: str = bootstrap

    def close(self) -> None:
        if self.cluster is not None:
            self.cluster.close()

    def __enter__(self) -> Broker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def java_version(self) -> str:
        """The Kafka version whose jars run the Java perf tools."""
        if self.cluster is not None:
            return str(self.cluster.version)
        from tests.harness.jars import chosen_version

        return os.environ.get("KPROTO_KAFKA_VERSION") or chosen_version()

    def create_topic(self, topic: str, partitions: int) -> None:
        if self.cluster is not None:
            self.cluster.create_topic(topic, partitions=partitions)
            return
        from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        for future in admin.create_topics([NewTopic(topic, partitions, 1)]).values():
            future.result(60)
        deadline = time.monotonic() + 60
        while len(admin.list_topics(topic, timeout=30).topics[topic].partitions) < partitions:
            if time.monotonic() > deadline:
                raise RuntimeError(f"topic {topic} has no {partitions} partitions in time")
            time.sleep(0.05)

    def fill(self, topic: str, values: list[bytes], partitions: int, codec: str = "none") -> None:
        """Write ``values`` round-robin over the partitions (value i to partition i % P), so
        each partition's count is known without asking (see ``per_partition``)."""
        from confluent_kafka import Producer

        p = Producer({"bootstrap.servers": self.bootstrap, "acks": "all", "linger.ms": 20,
                      "batch.size": 1_000_000, "queue.buffering.max.messages": 2_000_000,
                      "compression.type": codec})
        for i, value in enumerate(values):
            while True:
                try:
                    p.produce(topic, value, partition=i % partitions)
                    break
                except BufferError:
                    p.poll(0.01)
        if p.flush(300) != 0:
            raise RuntimeError(f"filling {topic} did not finish")


def per_partition(count: int, partitions: int) -> list[int]:
    """How many of ``count`` records ``Broker.fill`` wrote to each partition."""
    return [count // partitions + (p < count % partitions) for p in range(partitions)]
