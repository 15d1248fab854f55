"""Produce throughput against a real broker: kproto on each transport beside kafka-python,
aiokafka and confluent-kafka, in one run, against the same broker.

Each client sends the same records (100 B and 1 KiB values, uncompressed and lz4) to a
fresh single-partition topic and waits until every record is acknowledged. The clock runs
from the first send to the last acknowledgement; connecting and metadata are done before
(a warm-up record). Every client uses acks=1, no idempotence, linger 5 ms and 16 KiB
batches, so they do the same work on the wire; kproto's AsyncProducer keeps no success
stream (like sarama's default). Prints records/s, MB/s and each kproto transport's rate as a
ratio of each peer's (above 1.0 means kproto is faster).

    .venv/bin/python bench/bench_produce.py [--bootstrap host:port] [--records N]
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

from kproto.message_types import ProducerMessage  # noqa: E402

COMMON = {"acks": 1, "linger": 0.005, "batch_size": 16384}
Runner = Callable[[str, str, list[bytes], str], float]


def make_values(count: int, size: int) -> list[bytes]:
    """Text-like values (so lz4 has something to find), all different."""
    words = [b"alpha", b"bravo", b"charlie", b"delta", b"echo", b"foxtrot", b"golf"]
    out = []
    for i in range(count):
        chunk = b"%d:" % i + b";".join(words[(i + j) % len(words)] + b"=%d" % (i * j % 977)
                                      for j in range(size // 8 + 1))
        out.append(chunk[:size])
    return out


# -- kproto ----------------------------------------------------------------------------------


def kproto_threads(bootstrap: str, topic: str, values: list[bytes], codec: str) -> float:
    import kproto_threads

    with kproto_threads.AsyncProducer(bootstrap, idempotent=False, compression=codec,
                                      return_successes=False, **COMMON) as p:
        p.send(ProducerMessage(topic, b"warm-up"))
        p.flush()
        send = p.send
        start = time.perf_counter()
        for value in values:
            send(ProducerMessage(topic, value))
        p.flush()
        elapsed = time.perf_counter() - start
        assert len(p.errors) == 0, p.errors.get(1)
    return elapsed


def kproto_asyncio(bootstrap: str, topic: str, values: list[bytes], codec: str) -> float:
    import kproto_asyncio
    from kproto.producer import BufferFullError

    async def main() -> float:
        async with kproto_asyncio.AsyncProducer(bootstrap, idempotent=False, compression=codec,
                                                return_successes=False, **COMMON) as p:
            await p.send(ProducerMessage(topic, b"warm-up"))
            await p.flush()
            send_nowait = p.send_nowait
            start = time.perf_counter()
            for value in values:
                msg = ProducerMessage(topic, value)
                try:
                    send_nowait(msg)
                except BufferFullError:
                    await p.send(msg)
            await p.flush()
            elapsed = time.perf_counter() - start
            assert len(p.errors) == 0
        return elapsed

    return asyncio.run(main())


def kproto_trio(bootstrap: str, topic: str, values: list[bytes], codec: str) -> float:
    import trio

    import kproto_trio
    from kproto.producer import BufferFullError

    async def main() -> float:
        async with kproto_trio.AsyncProducer(bootstrap, idempotent=False, compression=codec,
                                             return_successes=False, **COMMON) as p:
            await p.send(ProducerMessage(topic, b"warm-up"))
            await p.flush()
            send_nowait = p.send_nowait
            start = time.perf_counter()
            for value in values:
                msg = ProducerMessage(topic, value)
                try:
                    send_nowait(msg)
                except BufferFullError:
                    await p.send(msg)
            await p.flush()
            elapsed = time.perf_counter() - start
            assert len(p.errors) == 0
        return elapsed

    return trio.run(main)  # type: ignore[no-any-return]


# -- peers -----------------------------------------------------------------------------------


def kafka_python(bootstrap: str, topic: str, values: list[bytes], codec: str) -> float:
    from kafka import KafkaProducer

    p = KafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=5, batch_size=16384,
                      compression_type=None if codec == "none" else codec)
    try:
        p.send(topic, b"warm-up").get(30)
        send = p.send
        start = time.perf_counter()
        futures = [send(topic, value) for value in values]
        p.flush()
        elapsed = time.perf_counter() - start
        assert all(f.succeeded() for f in futures[-10:])
    finally:
        p.close()
    return elapsed


def aiokafka(bootstrap: str, topic: str, values: list[bytes], codec: str) -> float:
    from aiokafka import AIOKafkaProducer

    async def main() -> float:
        p = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=5,
                             max_batch_size=16384,
                             compression_type=None if codec == "none" else codec)
        await p.start()
        try:
            await (await p.send(topic, b"warm-up"))
            start = time.perf_counter()
            futures = [await p.send(topic, value) for value in values]
            await p.flush()
            elapsed = time.perf_counter() - start
            assert all(f.done() and not f.exception() for f in futures[-10:])
        finally:
            await p.stop()
        return elapsed

    return asyncio.run(main())


def confluent_kafka(bootstrap: str, topic: str, values: list[bytes], codec: str) -> float:
    from confluent_kafka import Producer

    p = Producer({"bootstrap.servers": bootstrap, "acks": 1, "linger.ms": 5,
                  "batch.size": 16384, "enable.idempotence": False,
                  "compression.type": codec})
    errors: list[Any] = []

    def report(err: Any, msg: Any) -> None:
        if err is not None:
            errors.append(err)

    p.produce(topic, b"warm-up", on_delivery=report)
    p.flush(30)
    produce, poll = p.produce, p.poll
    start = time.perf_counter()
    for value in values:
        while True:
            try:
                produce(topic, value, on_delivery=report)
                break
            except BufferError:
                poll(0.001)
    p.flush(120)
    elapsed = time.perf_counter() - start
    assert not errors, errors[:3]
    return elapsed


CLIENTS: dict[str, Runner] = {
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
    parser.add_argument("--records", type=int, default=30000,
                        help="records per run of 100 B (1 KiB runs send a third)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per client; best kept")
    parser.add_argument("--only", help="comma-separated client names")
    args = parser.parse_args()
    clients = args.only.split(",") if args.only else list(CLIENTS)
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


def run(bootstrap: str, clients: list[str], records: int, repeat: int, cluster: Any) -> int:
    print(f"broker {bootstrap}; best of {repeat} runs; acks=1, linger 5 ms, 16 KiB batches\n")
    header = f"{'scenario':<16} {'client':<16} {'records/s':>11} {'MB/s':>8}"
    print(header)
    print("-" * len(header))
    table: dict[tuple[int, str], dict[str, float]] = {}
    for size in (100, 1024):
        count = records if size == 100 else max(1, records // 3)
        values = make_values(count, size)
        for codec in ("none", "lz4"):
            rates: dict[str, float] = {}
            for name in clients:
                times = []
                for _ in range(repeat):
                    topic = f"bench-{name}-{size}-{codec}-{uuid.uuid4().hex[:6]}"
                    if cluster is not None:
                        cluster.create_topic(topic, partitions=1)
                    times.append(CLIENTS[name](bootstrap, topic, values, codec))
                best = min(times)
                rates[name] = count / best
                print(f"{f'{size} B {codec}':<16} {name:<16} {count / best:>11,.0f} "
                      f"{count * size / best / 1e6:>8.1f}"
                      f"   (median {count / statistics.median(times):,.0f})", flush=True)
            table[(size, codec)] = rates
    print("\nkproto / peer (above 1.0: kproto is faster)")
    peers = [c for c in clients if c not in KPROTO]
    ours = [c for c in clients if c in KPROTO]
    print(f"{'scenario':<16} {'transport':<16} " + " ".join(f"{p:>16}" for p in peers))
    for (size, codec), rates in table.items():
        for name in ours:
            ratios = " ".join(f"{rates[name] / rates[p]:>16.2f}" for p in peers)
            print(f"{f'{size} B {codec}':<16} {name:<16} {ratios}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
