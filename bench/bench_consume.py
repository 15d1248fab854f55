"""Consume throughput against a real broker: kproto on each transport beside kafka-python,
aiokafka and confluent-kafka, in one run, against the same broker.

A single-partition topic per record size (100 B and 1 KiB values, uncompressed) is filled
once with confluent-kafka. Each client then reads the whole partition from the oldest
offset and touches every message (counts it, adds up the value sizes). The clock runs from
assigning the partition to the last message read; connecting and loading metadata are done
before. Every client uses its defaults for fetch sizes (1 MiB per partition, 50 MiB per
response, 500 ms wait) and no consumer group; confluent-kafka's pause after filling its
prefetch queue is cut from 1 s to 10 ms. Prints messages/s, MB/s and each kproto
transport's rate as a ratio of each peer's (above 1.0 means kproto is faster).

    .venv/bin/python bench/bench_consume.py [--bootstrap host:port] [--records N]
        [--repeat R] [--only kproto-threads,confluent-kafka,...]

Without --bootstrap it starts a Kafka broker with the test harness (needs java; see
docs/testing.md). The machine is shared and small: treat the numbers as ratios, not truth.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "transports")]

Runner = Callable[[str, str, int], float]


def make_values(count: int, size: int) -> list[bytes]:
    return [(b"%d:" % i).ljust(size, b"v") for i in range(count)]


def fill(bootstrap: str, topic: str, values: list[bytes]) -> None:
    from confluent_kafka import Producer

    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 20,
                  "batch.size": 1_000_000, "queue.buffering.max.messages": 2_000_000})
    for value in values:
        while True:
            try:
                p.produce(topic, value, partition=0)
                break
            except BufferError:
                p.poll(0.01)
    assert p.flush(300) == 0


def check(count: int, total: int, want: int, size: int) -> None:
    assert count == want, f"read {count} messages, expected {want}"
    assert total == want * size, "value sizes do not add up"


# -- kproto ----------------------------------------------------------------------------------


def kproto_threads(bootstrap: str, topic: str, want: int, size: int) -> float:
    import kproto_threads
    from kproto import OFFSET_OLDEST

    with kproto_threads.Consumer(bootstrap) as c:
        c.partitions(topic)
        start = time.perf_counter()
        pc = c.consume_partition(topic, 0, OFFSET_OLDEST)
        count = total = 0
        for m in pc.messages:
            count += 1
            total += len(m.value)
            if count == want:
                break
        elapsed = time.perf_counter() - start
    check(count, total, want, size)
    return elapsed


def kproto_asyncio(bootstrap: str, topic: str, want: int, size: int) -> float:
    import kproto_asyncio
    from kproto import OFFSET_OLDEST

    async def main() -> float:
        async with kproto_asyncio.Consumer(bootstrap) as c:
            await c.partitions(topic)
            start = time.perf_counter()
            pc = await c.consume_partition(topic, 0, OFFSET_OLDEST)
            count = total = 0
            async for m in pc.messages:
                count += 1
                total += len(m.value)
                if count == want:
                    break
            elapsed = time.perf_counter() - start
        check(count, total, want, size)
        return elapsed

    return asyncio.run(main())


def kproto_trio(bootstrap: str, topic: str, want: int, size: int) -> float:
    import trio

    import kproto_trio
    from kproto import OFFSET_OLDEST

    async def main() -> float:
        async with kproto_trio.Consumer(bootstrap) as c:
            await c.partitions(topic)
            start = time.perf_counter()
            pc = await c.consume_partition(topic, 0, OFFSET_OLDEST)
            count = total = 0
            async for m in pc.messages:
                count += 1
                total += len(m.value)
                if count == want:
                    break
            elapsed = time.perf_counter() - start
        check(count, total, want, size)
        return elapsed

    return trio.run(main)  # type: ignore[no-any-return]


# -- peers -----------------------------------------------------------------------------------


def kafka_python(bootstrap: str, topic: str, want: int, size: int) -> float:
    from kafka import KafkaConsumer, TopicPartition

    c = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        c.partitions_for_topic(topic)
        start = time.perf_counter()
        tp = TopicPartition(topic, 0)
        c.assign([tp])
        c.seek_to_beginning(tp)
        count = total = 0
        while count < want:
            for records in c.poll(timeout_ms=1000).values():
                for m in records:
                    count += 1
                    total += len(m.value)
        elapsed = time.perf_counter() - start
    finally:
        c.close()
    check(count, total, want, size)
    return elapsed


def aiokafka(bootstrap: str, topic: str, want: int, size: int) -> float:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    async def main() -> float:
        c = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        await c.start()
        try:
            await c.topics()
            start = time.perf_counter()
            tp = TopicPartition(topic, 0)
            c.assign([tp])
            await c.seek_to_beginning(tp)
            count = total = 0
            while count < want:
                for records in (await c.getmany(timeout_ms=1000)).values():
                    for m in records:
                        count += 1
                        total += len(m.value)
            elapsed = time.perf_counter() - start
        finally:
            await c.stop()
        check(count, total, want, size)
        return elapsed

    return asyncio.run(main())


def confluent_kafka(bootstrap: str, topic: str, want: int, size: int) -> float:
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    # librdkafka pauses fetching for fetch.queue.backoff.ms (1 s by default) whenever its
    # prefetch queue reaches queued.min.messages; that pause, not the client, would be timed.
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-{uuid.uuid4().hex[:6]}",
                  "enable.auto.commit": False, "fetch.queue.backoff.ms": 10})
    try:
        c.list_topics(topic, timeout=30)
        start = time.perf_counter()
        c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        count = total = 0
        while count < want:
            for m in c.consume(num_messages=min(10000, want - count), timeout=1.0):
                if m.error():
                    raise RuntimeError(m.error())
                count += 1
                total += len(m.value())
        elapsed = time.perf_counter() - start
    finally:
        c.close()
    check(count, total, want, size)
    return elapsed


CLIENTS: dict[str, Callable[[str, str, int, int], float]] = {
    "kproto-threads": kproto_threads,
    "kproto-asyncio": kproto_asyncio,
    "kproto-trio": kproto_trio,
    "kafka-python": kafka_python,
    "aiokafka": aiokafka,
    "confluent-kafka": confluent_kafka,
}
KPROTO = [c for c in CLIENTS if c.startswith("kproto")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bootstrap", help="an existing broker (default: start one)")
    parser.add_argument("--records", type=int, default=200_000,
                        help="records of 100 B (the 1 KiB topic holds a quarter)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per client; best kept")
    parser.add_argument("--only", help="comma-separated client names")
    args = parser.parse_args()
    clients = args.only.split(",") if args.only else list(CLIENTS)
    unknown = sorted(set(clients) - set(CLIENTS))
    if unknown:
        parser.error(f"unknown client(s) {', '.join(unknown)}; known: {', '.join(CLIENTS)}")
    cluster = None
    bootstrap = args.bootstrap
    if bootstrap is None:
        from tests.harness.broker import KafkaCluster
        from tests.harness.jars import chosen_version
        version = os.environ.get("KPROTO_KAFKA_VERSION") or chosen_version()
        print(f"starting Kafka {version} ...", flush=True)
        cluster = KafkaCluster(version, 1).start()
        bootstrap = cluster.bootstrap
    try:
        return run(bootstrap, clients, args.records, args.repeat, cluster)
    finally:
        if cluster is not None:
            cluster.close()


def create_topic(bootstrap: str, cluster: Any, topic: str) -> None:
    if cluster is not None:
        cluster.create_topic(topic, partitions=1)
        return
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(topic, 1, 1)]).values():
        future.result(60)


def run(bootstrap: str, clients: list[str], records: int, repeat: int, cluster: Any) -> int:
    print(f"broker {bootstrap}; best of {repeat} runs; one partition, uncompressed\n")
    header = f"{'scenario':<10} {'client':<16} {'msgs/s':>11} {'MB/s':>8}"
    print(header)
    print("-" * len(header))
    table: dict[int, dict[str, float]] = {}
    for size in (100, 1024):
        count = records if size == 100 else max(1, records // 4)
        topic = f"bench-consume-{size}-{uuid.uuid4().hex[:6]}"
        create_topic(bootstrap, cluster, topic)
        fill(bootstrap, topic, make_values(count, size))
        rates: dict[str, float] = {}
        for name in clients:
            times = [CLIENTS[name](bootstrap, topic, count, size) for _ in range(repeat)]
            best = min(times)
            rates[name] = count / best
            print(f"{f'{size} B':<10} {name:<16} {count / best:>11,.0f} "
                  f"{count * size / best / 1e6:>8.1f}"
                  f"   (median {count / statistics.median(times):,.0f})", flush=True)
        table[size] = rates
    print("\nkproto / peer (above 1.0: kproto is faster)")
    peers = [c for c in clients if c not in KPROTO]
    ours = [c for c in clients if c in KPROTO]
    print(f"{'scenario':<10} {'transport':<16} " + " ".join(f"{p:>16}" for p in peers))
    for size, rates in table.items():
        for name in ours:
            ratios = " ".join(f"{rates[name] / rates[p]:>16.2f}" for p in peers)
            print(f"{f'{size} B':<10} {name:<16} {ratios}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
