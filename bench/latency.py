"""End-to-end latency at a fixed rate: each client produces RATE records/s (100 B, the send
time in the first 8 bytes) for DURATION seconds while a consumer in the same process reads the
topic; each record's latency is the consumer's clock minus the producer's stamp (one process,
one monotonic clock). Sends are paced by the clock (every millisecond, the records now due),
not by sleeps per record. Both sides use the settings of the throughput runs (acks=1, linger
5 ms) and each client's fetch defaults; a warm-up record read back before the clock starts
takes connecting and assignment out. Reported: p50, p99 and max in milliseconds.
"""

from __future__ import annotations

import asyncio
import struct
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from bench.common import COMMON, unique

SIZE = 100
STAMP = struct.Struct(">q")
WARM = b"W" * SIZE


def stamped() -> bytes:
    return STAMP.pack(time.perf_counter_ns()).ljust(SIZE, b".")


class Collector:
    """Latencies of the stamped records; ``warm`` is set once the warm-up record arrives."""

    def __init__(self, want: int) -> None:
        self.want = want
        self.lat: list[float] = []
        self.warm = threading.Event()

    def see(self, value: bytes) -> None:
        now = time.perf_counter_ns()
        if value == WARM:
            self.warm.set()
        else:
            self.lat.append((now - STAMP.unpack_from(value)[0]) / 1e6)

    @property
    def done(self) -> bool:
        return len(self.lat) >= self.want


def _due(t0: float, rate: int, total: int) -> int:
    return min(total, int((time.perf_counter() - t0) * rate) + 1)


def pace(rate: int, total: int, send: Callable[[bytes], Any], idle: Callable[[], Any]) -> None:
    t0, i = time.perf_counter(), 0
    while i < total:
        for _ in range(_due(t0, rate, total) - i):
            send(stamped())
            i += 1
        idle()


async def apace(rate: int, total: int, send: Callable[[bytes], Awaitable[Any]],
                sleep: Callable[[float], Awaitable[Any]]) -> None:
    t0, i = time.perf_counter(), 0
    while i < total:
        for _ in range(_due(t0, rate, total) - i):
            await send(stamped())
            i += 1
        await sleep(0.001)


def _wait(flag: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not flag():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} not in {timeout:.0f} s")
        time.sleep(0.005)


async def _await(flag: Callable[[], bool], sleep: Callable[[float], Awaitable[Any]],
                 timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not flag():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} not in {timeout:.0f} s")
        await sleep(0.005)


# -- clients: each returns the latencies in ms -----------------------------------------------


def kproto_threads(bootstrap: str, topic: str, rate: int, total: int) -> list[float]:
    import kproto_threads
    from kproto import OFFSET_OLDEST
    from kproto.message_types import ProducerMessage

    col = Collector(total)
    with kproto_threads.Consumer(bootstrap) as c, kproto_threads.AsyncProducer(
            bootstrap, idempotent=False, return_successes=False, **COMMON) as p:
        pc = c.consume_partition(topic, 0, OFFSET_OLDEST)

        def read() -> None:
            for m in pc.messages:
                col.see(m.value or b"")
                if col.done:
                    return

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        p.send(ProducerMessage(topic, WARM, partition=0))
        _wait(col.warm.is_set, 60, "the warm-up record")
        pace(rate, total, lambda v: p.send(ProducerMessage(topic, v, partition=0)),
             lambda: time.sleep(0.001))
        reader.join(30 + total / rate)
    return col.lat


async def _kproto_async(module: Any, bootstrap: str, topic: str, rate: int, total: int,
                        sleep: Callable[[float], Awaitable[Any]],
                        start: Callable[[Callable[[], Coroutine[Any, Any, None]]], Any],
                        ) -> list[float]:
    from kproto import OFFSET_OLDEST
    from kproto.message_types import ProducerMessage

    col = Collector(total)
    async with module.Consumer(bootstrap) as c, module.AsyncProducer(
            bootstrap, idempotent=False, return_successes=False, **COMMON) as p:
        pc = await c.consume_partition(topic, 0, OFFSET_OLDEST)

        async def read() -> None:
            async for m in pc.messages:
                col.see(m.value or b"")
                if col.done:
                    return

        start(read)
        await p.send(ProducerMessage(topic, WARM, partition=0))
        await _await(col.warm.is_set, sleep, 60, "the warm-up record")
        await apace(rate, total, lambda v: p.send(ProducerMessage(topic, v, partition=0)), sleep)
        await _await(lambda: col.done, sleep, 30, "every record")
    return col.lat


def kproto_asyncio(bootstrap: str, topic: str, rate: int, total: int) -> list[float]:
    import kproto_asyncio

    async def main() -> list[float]:
        tasks: list[asyncio.Task[None]] = []
        return await _kproto_async(kproto_asyncio, bootstrap, topic, rate, total, asyncio.sleep,
                                   lambda fn: tasks.append(asyncio.create_task(fn())))

    return asyncio.run(main())


def kproto_trio(bootstrap: str, topic: str, rate: int, total: int) -> list[float]:
    import trio

    import kproto_trio

    async def main() -> list[float]:
        async with trio.open_nursery() as nursery:
            lat = await _kproto_async(kproto_trio, bootstrap, topic, rate, total, trio.sleep,
                                      nursery.start_soon)
            nursery.cancel_scope.cancel()
        return lat

    return trio.run(main)


def kafka_python(bootstrap: str, topic: str, rate: int, total: int) -> list[float]:
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    col = Collector(total)
    c = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                      auto_offset_reset="earliest")
    p = KafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=5, batch_size=16384)
    c.assign([TopicPartition(topic, 0)])
    stop = threading.Event()

    def read() -> None:
        while not col.done and not stop.is_set():
            for records in c.poll(timeout_ms=100).values():
                for m in records:
                    col.see(m.value or b"")

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        p.send(topic, WARM, partition=0)
        p.flush()
        _wait(col.warm.is_set, 60, "the warm-up record")
        pace(rate, total, lambda v: p.send(topic, v, partition=0), lambda: time.sleep(0.001))
        reader.join(30 + total / rate)
    finally:
        stop.set()
        reader.join(5)
        p.close()
        c.close()
    return col.lat


def aiokafka(bootstrap: str, topic: str, rate: int, total: int) -> list[float]:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    async def main() -> list[float]:
        col = Collector(total)
        c = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                             auto_offset_reset="earliest")
        p = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=5,
                             max_batch_size=16384)
        await c.start()
        await p.start()
        c.assign([TopicPartition(topic, 0)])

        async def read() -> None:
            while not col.done:
                for records in (await c.getmany(timeout_ms=100)).values():
                    for m in records:
                        col.see(m.value or b"")

        reader = asyncio.create_task(read())
        try:
            await p.send(topic, WARM, partition=0)
            await _await(col.warm.is_set, asyncio.sleep, 60, "the warm-up record")
            await apace(rate, total, lambda v: p.send(topic, v, partition=0), asyncio.sleep)
            await asyncio.wait_for(reader, 30)
        finally:
            reader.cancel()
            await p.stop()
            await c.stop()
        return col.lat

    return asyncio.run(main())


def confluent_kafka(bootstrap: str, topic: str, rate: int, total: int) -> list[float]:
    from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

    col = Collector(total)
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": unique("bench"),
                  "enable.auto.commit": False})
    p = Producer({"bootstrap.servers": bootstrap, "acks": 1, "linger.ms": 5,
                  "batch.size": 16384, "enable.idempotence": False})
    c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    stop = threading.Event()

    def read() -> None:
        while not col.done and not stop.is_set():
            m = c.poll(0.05)  # consume(n) would wait for n messages or its timeout
            if m is not None and m.error() is None:
                col.see(m.value() or b"")

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        p.produce(topic, WARM, partition=0)
        p.flush(30)
        _wait(col.warm.is_set, 60, "the warm-up record")
        pace(rate, total, lambda v: p.produce(topic, v, partition=0), lambda: p.poll(0.001))
        p.flush(30)
        reader.join(30 + total / rate)
    finally:
        stop.set()
        reader.join(5)
        c.close()
    return col.lat


CLIENTS: dict[str, Callable[[str, str, int, int], list[float]]] = {
    "kproto-threads": kproto_threads,
    "kproto-asyncio": kproto_asyncio,
    "kproto-trio": kproto_trio,
    "kafka-python": kafka_python,
    "aiokafka": aiokafka,
    "confluent-kafka": confluent_kafka,
}


def percentiles(lat: list[float]) -> tuple[float, float, float]:
    """p50, p99 and max (nearest rank)."""
    s = sorted(lat)
    return s[len(s) // 2], s[min(len(s) - 1, int(len(s) * 0.99))], s[-1]
