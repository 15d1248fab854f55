"""asyncio and trio: the engine's timer runs after the application's tasks woken at the same
moment, so a record sent at the tick the linger ends goes in the batch that linger closes
(one Produce, one stored batch), not in the next one a whole linger later."""

from __future__ import annotations

import asyncio
from typing import Any

import trio
import trio.testing

import kproto_asyncio
import kproto_trio
from kproto.message_types import ProducerMessage
from kproto.testing import FakeCluster

LINGER = 0.1


def _stored_batches(cluster: FakeCluster) -> list[list[bytes | None]]:
    part = cluster.partition("t", 0)
    assert part is not None
    return [[r.value for r in entry.records()] for entry in part.log.entries]


def _linger_deadline(producer: Any, sent_at: float) -> float:
    deadline = producer._loop.core.next_deadline()
    assert deadline is not None and sent_at + LINGER <= deadline <= sent_at + LINGER + 0.1
    return deadline  # type: ignore[no-any-return]


def test_asyncio_a_record_sent_at_the_linger_tick_joins_the_batch() -> None:
    cluster = FakeCluster(1, topics={"t": 1})

    async def main() -> None:
        loop = asyncio.get_running_loop()
        async with kproto_asyncio.AsyncProducer(
                cluster.bootstrap, linger=LINGER, idempotent=False,
                return_successes=True) as producer:
            await producer.send(ProducerMessage("t", b"w", partition=0))
            await asyncio.wait_for(producer.successes.get(), 10)  # connected, metadata known
            sent_at = loop.time()
            await producer.send(ProducerMessage("t", b"a", partition=0))
            tick: asyncio.Future[None] = loop.create_future()
            loop.call_at(_linger_deadline(producer, sent_at), tick.set_result, None)
            await tick  # woken one loop turn after the timers due at that moment ran
            await producer.send(ProducerMessage("t", b"b", partition=0))
            for _ in range(2):
                await asyncio.wait_for(producer.successes.get(), 10)

    asyncio.run(main())
    assert _stored_batches(cluster)[-1] == [b"a", b"b"]


def test_trio_a_record_sent_at_the_linger_tick_joins_the_batch() -> None:
    for _ in range(8):  # trio runs a batch of woken tasks in either order: try both
        cluster = FakeCluster(1, topics={"t": 1})

        async def main(cluster: FakeCluster = cluster) -> None:
            async with kproto_trio.AsyncProducer(
                    cluster.bootstrap, linger=LINGER, idempotent=False,
                    return_successes=True) as producer:
                await producer.send(ProducerMessage("t", b"w", partition=0))
                with trio.fail_after(10):
                    await producer.successes.get()
                sent_at = trio.current_time()
                await producer.send(ProducerMessage("t", b"a", partition=0))
                await trio.sleep_until(_linger_deadline(producer, sent_at))
                await producer.send(ProducerMessage("t", b"b", partition=0))
                with trio.fail_after(10):
                    for _ in range(2):
                        await producer.successes.get()

        trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
        assert _stored_batches(cluster)[-1] == [b"a", b"b"]
