"""An AsyncProducer's results are never dropped without a word, through every transport
against real Kafka 4.x and 3.9 brokers: with ``results_when_full='block'`` 20,000 sends read
concurrently lose nothing and a send with nobody reading waits (then fails naming the full
stream); with ``drop_oldest`` the drops are counted and the first one logs one warning."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pytest

from kproto import ProducerMessage
from kproto.errors import BufferFullError
from tests.conformance.drivers import TRANSPORTS, open_remote

each = pytest.mark.parametrize("transport", TRANSPORTS)
SENDS = 20_000


@pytest.fixture(params=["kafka_broker", "kafka_broker_39"], ids=["newest", "3.9"])
def broker(request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue(request.param)


def producer(transport: str, bootstrap: str, **options: Any) -> Any:
    return open_remote(transport, lambda mod: mod.AsyncProducer(bootstrap, linger=0.01,
                                                                **options))


def topic_for(broker: Any, transport: str, what: str) -> str:
    topic = f"results-{what}-{transport}-{int(time.time() * 1000)}"
    broker.create_topic(topic, partitions=1)
    return topic


def next_success(transport: str, p: Any) -> Any:
    if transport == "threads":
        return p.successes.get(30)
    return p._runner.call(lambda: p.target.successes.get())


def send_and_read(transport: str, p: Any, topic: str, n: int) -> list[int]:
    """Send ``n`` records while a concurrent reader takes ``n`` successes; their offsets."""
    msgs = [ProducerMessage(topic, b"%d" % i, partition=0) for i in range(n)]
    if transport == "threads":
        got: list[int] = []
        reader = threading.Thread(
            target=lambda: got.extend(p.successes.get(60).offset for _ in range(n)))
        reader.start()
        for msg in msgs:
            p.send(msg)
        p.flush()
        reader.join(120)
        return got
    obj = p.target
    if transport == "asyncio":
        import asyncio

        async def run_asyncio() -> list[int]:
            async def read() -> list[int]:
                return [(await obj.successes.get()).offset for _ in range(n)]
            task = asyncio.ensure_future(read())
            for msg in msgs:
                await obj.send(msg)
            await obj.flush()
            return await asyncio.wait_for(task, 120)
        return p._runner.call(run_asyncio)  # type: ignore[no-any-return]
    import trio

    async def run_trio() -> list[int]:
        got: list[int] = []

        async def read() -> None:
            for _ in range(n):
                got.append((await obj.successes.get()).offset)
        with trio.fail_after(120):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(read)
                for msg in msgs:
                    await obj.send(msg)
                await obj.flush()
        return got
    return p._runner.call(run_trio)  # type: ignore[no-any-return]


@each
def test_block_loses_no_result(transport: str, broker: Any) -> None:
    topic = topic_for(broker, transport, "block")
    with producer(transport, broker.bootstrap, results_when_full="block",
                  result_stream_capacity=1000) as p:
        offsets = send_and_read(transport, p, topic, SENDS)
        assert sorted(offsets) == list(range(SENDS))
        assert p.successes.dropped == 0 and len(p.successes) == 0


@each
def test_block_waits_for_a_reader(transport: str, broker: Any) -> None:
    topic = topic_for(broker, transport, "wait")
    with producer(transport, broker.bootstrap, results_when_full="block",
                  result_stream_capacity=5, max_block=1.0) as p:
        start = time.monotonic()
        with pytest.raises(BufferFullError, match="successes stream is full"):
            for i in range(1000):
                p.send(ProducerMessage(topic, b"%d" % i, partition=0))
                if i < 5:
                    p.flush()   # the first five results fill the stream
        assert time.monotonic() - start >= 1.0  # it waited max_block for a reader
        assert p.successes.dropped == 0
        # A reader frees room: sending goes on, and every result is there.
        assert [next_success(transport, p).offset for _ in range(5)] == [0, 1, 2, 3, 4]
        p.send(ProducerMessage(topic, b"more", partition=0))
        p.flush()
        assert p.successes.dropped == 0


@each
def test_drop_oldest_counts_and_warns_once(transport: str, broker: Any,
                                           caplog: pytest.LogCaptureFixture) -> None:
    topic = topic_for(broker, transport, "drop")
    caplog.set_level(logging.WARNING, logger="kproto.producer")
    with producer(transport, broker.bootstrap, results_when_full="drop_oldest",
                  result_stream_capacity=10_000) as p:
        for i in range(SENDS):
            p.send(ProducerMessage(topic, b"%d" % i, partition=0))
        p.flush()
        assert p.successes.dropped == SENDS - 10_000
        assert len(p.successes) == 10_000
        assert next_success(transport, p).offset == SENDS - 10_000  # the newest were kept
    warnings = [r for r in caplog.records if r.name == "kproto.producer"
                and "dropped" in r.getMessage()]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    text = warnings[0].getMessage()
    assert "1 result(s) dropped" in text and "results_when_full='block'" in text
    assert "successes" in text
