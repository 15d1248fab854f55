"""Consume throughput: one timed runner per client, each reading a filled topic's every
partition from the oldest offset and touching every message (counts it, adds up the value
sizes).

The topic is filled once per scenario (``Broker.fill``, round-robin, so each partition's count
is known). The clock runs from assigning the partitions to the last message read; connecting
and metadata come before. No consumer group: every client assigns the partitions itself
(kproto one ``consume_partition`` per partition, read by a thread or task each, as sarama
users do). Fetch sizes are each client's defaults; confluent-kafka's pause after filling its
prefetch queue is cut from 1 s to 10 ms. The ``-batch`` runners read a fetched chunk at a time
with ``PartitionConsumer.batches()`` (no await per record).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

from bench.common import Meter, NotAvailable, Timing, unique

READ_TIMEOUT = 300.0
"""Bound on one run's read loop: a lost record fails the run instead of hanging it."""


def bounded(want: int, count: int, deadline: float) -> bool:
    """Whether to go on reading; raises once the deadline has passed."""
    if count < want and time.monotonic() > deadline:
        raise RuntimeError(f"read {count} of {want} messages in {READ_TIMEOUT:.0f} s")
    return count < want

Runner = Callable[[str, str, list[int], int], Timing]

def chunk_call(partition_consumer_class: type) -> str:
    """``batches``, the PartitionConsumer's chunk-at-a-time iterator, or NotAvailable on a
    kproto without it (the row then says so)."""
    if getattr(partition_consumer_class, "batches", None) is None:
        raise NotAvailable("not available")
    return "batches"


def check(count: int, total: int, want: int, size: int) -> None:
    if count != want:
        raise RuntimeError(f"read {count} messages, expected {want}")
    if total != want * size:
        raise RuntimeError("value sizes do not add up")


# -- kproto ----------------------------------------------------------------------------------


def _read_messages(pc: Any, want: int) -> tuple[int, int]:
    count = total = 0
    if want:
        for m in pc.messages:
            count += 1
            total += len(m.value)
            if count == want:
                break
    return count, total


def _read_batches(pc: Any, want: int) -> tuple[int, int]:
    count = total = 0
    if want:
        for chunk in pc.batches():
            for m in chunk:
                count += 1
                total += len(m.value)
            if count >= want:
                break
    return count, total


def kproto_threads(bootstrap: str, topic: str, counts: list[int], size: int,
                   reader: Any = _read_messages) -> Timing:
    import kproto_threads
    from kproto import OFFSET_OLDEST

    results: list[tuple[int, int]] = [(0, 0)] * len(counts)

    def read(pc: Any, p: int) -> None:
        results[p] = reader(pc, counts[p])

    meter = Meter()
    with kproto_threads.Consumer(bootstrap) as c:
        c.partitions(topic)
        meter.start()
        pcs = [c.consume_partition(topic, p, OFFSET_OLDEST) for p in range(len(counts))]
        if len(pcs) == 1:
            read(pcs[0], 0)
        else:
            threads = [threading.Thread(target=read, args=(pc, p), daemon=True)
                       for p, pc in enumerate(pcs)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(READ_TIMEOUT)
        timing = meter.stop()
    check(sum(r[0] for r in results), sum(r[1] for r in results), sum(counts), size)
    return timing


async def _read_async(pc: Any, want: int) -> tuple[int, int]:
    count = total = 0
    if want:
        async for m in pc.messages:
            count += 1
            total += len(m.value)
            if count == want:
                break
    return count, total


async def _read_chunks(pc: Any, want: int) -> tuple[int, int]:
    count = total = 0
    if want:
        async for chunk in pc.batches():
            for m in chunk:
                count += 1
                total += len(m.value)
            if count >= want:
                break
    return count, total


def kproto_asyncio(bootstrap: str, topic: str, counts: list[int], size: int,
                   reader: Any = _read_async) -> Timing:
    import kproto_asyncio as module
    from kproto import OFFSET_OLDEST

    async def main() -> Timing:
        meter = Meter()
        async with module.Consumer(bootstrap) as c:
            await c.partitions(topic)
            meter.start()
            pcs = [await c.consume_partition(topic, p, OFFSET_OLDEST) for p in range(len(counts))]
            results = await asyncio.wait_for(
                asyncio.gather(*(reader(pc, counts[p]) for p, pc in enumerate(pcs))),
                READ_TIMEOUT)
            timing = meter.stop()
        check(sum(r[0] for r in results), sum(r[1] for r in results), sum(counts), size)
        return timing

    return asyncio.run(main())


def kproto_trio(bootstrap: str, topic: str, counts: list[int], size: int,
                reader: Any = _read_async) -> Timing:
    import trio

    import kproto_trio as module
    from kproto import OFFSET_OLDEST

    async def main() -> Timing:
        meter = Meter()
        results: list[tuple[int, int]] = [(0, 0)] * len(counts)

        async def one(pc: Any, p: int) -> None:
            results[p] = await reader(pc, counts[p])

        async with module.Consumer(bootstrap) as c:
            await c.partitions(topic)
            meter.start()
            pcs = [await c.consume_partition(topic, p, OFFSET_OLDEST) for p in range(len(counts))]
            with trio.fail_after(READ_TIMEOUT):
                async with trio.open_nursery() as nursery:
                    for p, pc in enumerate(pcs):
                        nursery.start_soon(one, pc, p)
            timing = meter.stop()
        check(sum(r[0] for r in results), sum(r[1] for r in results), sum(counts), size)
        return timing

    return trio.run(main)


def kproto_threads_batch(bootstrap: str, topic: str, counts: list[int], size: int) -> Timing:
    import kproto_threads as module

    chunk_call(module.PartitionConsumer)
    return kproto_threads(bootstrap, topic, counts, size, reader=_read_batches)


def kproto_asyncio_batch(bootstrap: str, topic: str, counts: list[int], size: int) -> Timing:
    import kproto_asyncio as module

    chunk_call(module.PartitionConsumer)
    return kproto_asyncio(bootstrap, topic, counts, size, reader=_read_chunks)


def kproto_trio_batch(bootstrap: str, topic: str, counts: list[int], size: int) -> Timing:
    import kproto_trio as module

    chunk_call(module.PartitionConsumer)
    return kproto_trio(bootstrap, topic, counts, size, reader=_read_chunks)


# -- peers -----------------------------------------------------------------------------------


def kafka_python(bootstrap: str, topic: str, counts: list[int], size: int) -> Timing:
    from kafka import KafkaConsumer, TopicPartition

    want = sum(counts)
    c = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    meter = Meter()
    try:
        c.partitions_for_topic(topic)
        meter.start()
        tps = [TopicPartition(topic, p) for p in range(len(counts))]
        c.assign(tps)
        c.seek_to_beginning(*tps)
        count = total = 0
        deadline = time.monotonic() + READ_TIMEOUT
        while bounded(want, count, deadline):
            for records in c.poll(timeout_ms=1000).values():
                for m in records:
                    count += 1
                    total += len(m.value)
        timing = meter.stop()
    finally:
        c.close()
    check(count, total, want, size)
    return timing


def aiokafka(bootstrap: str, topic: str, counts: list[int], size: int) -> Timing:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    want = sum(counts)

    async def main() -> Timing:
        c = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        await c.start()
        meter = Meter()
        try:
            await c.topics()
            meter.start()
            tps = [TopicPartition(topic, p) for p in range(len(counts))]
            c.assign(tps)
            await c.seek_to_beginning(*tps)
            count = total = 0
            deadline = time.monotonic() + READ_TIMEOUT
            while bounded(want, count, deadline):
                for records in (await c.getmany(timeout_ms=1000)).values():
                    for m in records:
                        count += 1
                        total += len(m.value)
            timing = meter.stop()
        finally:
            await c.stop()
        check(count, total, want, size)
        return timing

    return asyncio.run(main())


def confluent_kafka(bootstrap: str, topic: str, counts: list[int], size: int) -> Timing:
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    want = sum(counts)
    # librdkafka pauses fetching for fetch.queue.backoff.ms (1 s by default) whenever its
    # prefetch queue reaches queued.min.messages; that pause, not the client, would be timed.
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": unique("bench"),
                  "enable.auto.commit": False, "fetch.queue.backoff.ms": 10})
    meter = Meter()
    try:
        c.list_topics(topic, timeout=30)
        meter.start()
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(len(counts))])
        count = total = 0
        deadline = time.monotonic() + READ_TIMEOUT
        while bounded(want, count, deadline):
            for m in c.consume(num_messages=min(10000, want - count), timeout=1.0):
                if m.error():
                    raise RuntimeError(m.error())
                count += 1
                total += len(m.value() or b"")
        timing = meter.stop()
    finally:
        c.close()
    check(count, total, want, size)
    return timing


CLIENTS: dict[str, Runner] = {
    "kproto-threads": kproto_threads,
    "kproto-asyncio": kproto_asyncio,
    "kproto-trio": kproto_trio,
    "kproto-threads-batch": kproto_threads_batch,
    "kproto-asyncio-batch": kproto_asyncio_batch,
    "kproto-trio-batch": kproto_trio_batch,
    "kafka-python": kafka_python,
    "aiokafka": aiokafka,
    "confluent-kafka": confluent_kafka,
}
