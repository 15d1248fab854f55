"""Produce throughput: one timed runner per client, all sending the same values to the same
kind of topic and waiting until every record is acknowledged.

The clock runs from the first send to the last acknowledgement; connecting and metadata are
done before (a warm-up record). Every client uses ``COMMON`` (acks=1, no idempotence, linger
5 ms, 16 KiB batches), so they do the same work on the wire, and leaves partitioning to its
default partitioner (no keys); kproto's AsyncProducer keeps no success stream (like sarama's
default). The ``-batch`` runners queue 1,000 values a call with ``AsyncProducer.send_many``
(one call into the core and one token per call, no message objects of the caller's), then
flush as the per-record runners do.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from bench.common import COMMON, Meter, NotAvailable, Timing
from kproto.message_types import ProducerMessage

Runner = Callable[[str, str, list[bytes], str], Timing]

def batch_call(producer_class: type) -> str:
    """``send_many``, the AsyncProducer's many-values call, or NotAvailable on a kproto
    without it (the row then says so)."""
    if not callable(getattr(producer_class, "send_many", None)):
        raise NotAvailable("not available")
    return "send_many"


def _kproto_options(codec: str) -> dict[str, Any]:
    return dict(idempotent=False, compression=codec, return_successes=False, **COMMON)


# -- kproto ----------------------------------------------------------------------------------


def kproto_threads(bootstrap: str, topic: str, values: list[bytes], codec: str) -> Timing:
    import kproto_threads

    meter = Meter()
    with kproto_threads.AsyncProducer(bootstrap, **_kproto_options(codec)) as p:
        p.send(ProducerMessage(topic, b"warm-up"))
        p.flush()
        send = p.send
        meter.start()
        for value in values:
            send(ProducerMessage(topic, value))
        p.flush()
        timing = meter.stop()
        assert len(p.errors) == 0, p.errors.get(1)
    return timing


async def _kproto_async(module: Any, bootstrap: str, topic: str, values: list[bytes],
                        codec: str) -> Timing:
    """asyncio and trio share this: the adapters' async surfaces are the same."""
    from kproto.producer import BufferFullError

    meter = Meter()
    async with module.AsyncProducer(bootstrap, **_kproto_options(codec)) as p:
        await p.send(ProducerMessage(topic, b"warm-up"))
        await p.flush()
        send_nowait = p.send_nowait
        meter.start()
        for value in values:
            msg = ProducerMessage(topic, value)
            try:
                send_nowait(msg)
            except BufferFullError:
                await p.send(msg)
        await p.flush()
        timing = meter.stop()
        assert len(p.errors) == 0
    return timing


def kproto_asyncio(bootstrap: str, topic: str, values: list[bytes], codec: str) -> Timing:
    import kproto_asyncio

    return asyncio.run(_kproto_async(kproto_asyncio, bootstrap, topic, values, codec))


def kproto_trio(bootstrap: str, topic: str, values: list[bytes], codec: str) -> Timing:
    import trio

    import kproto_trio

    return trio.run(_kproto_async, kproto_trio, bootstrap, topic, values, codec)


BATCH = 1000
"""Values per call of the batch runners."""


def kproto_threads_batch(bootstrap: str, topic: str, values: list[bytes], codec: str) -> Timing:
    import kproto_threads

    call = batch_call(kproto_threads.AsyncProducer)
    meter = Meter()
    with kproto_threads.AsyncProducer(bootstrap, **_kproto_options(codec)) as p:
        send_many = getattr(p, call)
        send_many(topic, [b"warm-up"])
        p.flush()
        meter.start()
        for i in range(0, len(values), BATCH):
            send_many(topic, values[i:i + BATCH])
        p.flush()
        timing = meter.stop()
        assert len(p.errors) == 0, p.errors.get(1)
    return timing


async def _kproto_async_batch(module: Any, bootstrap: str, topic: str, values: list[bytes],
                              codec: str) -> Timing:
    call = batch_call(module.AsyncProducer)
    meter = Meter()
    async with module.AsyncProducer(bootstrap, **_kproto_options(codec)) as p:
        send_many = getattr(p, call)
        await send_many(topic, [b"warm-up"])
        await p.flush()
        meter.start()
        for i in range(0, len(values), BATCH):
            await send_many(topic, values[i:i + BATCH])
        await p.flush()
        timing = meter.stop()
        assert len(p.errors) == 0
    return timing


def kproto_asyncio_batch(bootstrap: str, topic: str, values: list[bytes], codec: str) -> Timing:
    import kproto_asyncio

    batch_call(kproto_asyncio.AsyncProducer)
    return asyncio.run(_kproto_async_batch(kproto_asyncio, bootstrap, topic, values, codec))


def kproto_trio_batch(bootstrap: str, topic: str, values: list[bytes], codec: str) -> Timing:
    import trio

    import kproto_trio

    batch_call(kproto_trio.AsyncProducer)
    return trio.run(_kproto_async_batch, kproto_trio, bootstrap, topic, values, codec)


# -- peers -----------------------------------------------------------------------------------


def kafka_python(bootstrap: str, topic: str, values: list[bytes], codec: str) -> Timing:
    from kafka import KafkaProducer

    p = KafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=5, batch_size=16384,
                      compression_type=None if codec == "none" else codec)
    meter = Meter()
    try:
        p.send(topic, b"warm-up").get(30)
        send = p.send
        meter.start()
        futures = [send(topic, value) for value in values]
        p.flush()
        timing = meter.stop()
        assert all(f.succeeded() for f in futures[-10:])
    finally:
        p.close()
    return timing


def aiokafka(bootstrap: str, topic: str, values: list[bytes], codec: str) -> Timing:
    from aiokafka import AIOKafkaProducer

    async def main() -> Timing:
        p = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=5,
                             max_batch_size=16384,
                             compression_type=None if codec == "none" else codec)
        await p.start()
        meter = Meter()
        try:
            await (await p.send(topic, b"warm-up"))
            meter.start()
            futures = [await p.send(topic, value) for value in values]
            await p.flush()
            timing = meter.stop()
            assert all(f.done() and not f.exception() for f in futures[-10:])
        finally:
            await p.stop()
        return timing

    return asyncio.run(main())


def confluent_kafka(bootstrap: str, topic: str, values: list[bytes], codec: str) -> Timing:
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
    meter = Meter()
    meter.start()
    for value in values:
        while True:
            try:
                produce(topic, value, on_delivery=report)
                break
            except BufferError:
                poll(0.001)
    p.flush(120)
    timing = meter.stop()
    assert not errors, errors[:3]
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
