"""Cancelling consume() ends the session like a rebalance: claims stop, cleanup runs, the
marked offsets are committed, then the cancellation goes on. Each transport cancels its own
way, so this is one test per transport."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest
import trio

from tests.group.members import Behaviour, Ledger, handler
from tests.group.raw import committed
from tests.group.test_broker_groups import FAST, fill, unique

NO_AUTO = {**FAST, "enable_auto_commit": False}
"""Only the final commit can have stored the offsets."""


def prepare(kafka_broker: Any, transport: str) -> tuple[str, dict[tuple[str, int], int]]:
    topic = unique("cancel", transport)
    kafka_broker.create_topic(topic, partitions=2)
    fill(kafka_broker.bootstrap, topic, 2, 3, "a")
    return topic, {(topic, 0): 3, (topic, 1): 3}


def test_threads_cancel(kafka_broker: Any) -> None:
    from kproto_threads.group import Cancel, ConsumerGroup
    topic, ends = prepare(kafka_broker, "threads")
    ledger, how, cancel = Ledger(), Behaviour(), Cancel()
    outcome: list[Any] = []
    with ConsumerGroup(kafka_broker.bootstrap, group_id=topic, **NO_AUTO) as group:
        def run() -> None:
            try:
                outcome.append(group.consume([topic], handler("threads", ledger, "t", how),
                                             cancel=cancel))
            except BaseException as exc:
                outcome.append(exc)

        runner = threading.Thread(target=run, name="test-consume")
        runner.start()
        ledger.wait("every record", lambda: ledger.complete(ends))
        cancel.cancel()
        runner.join(60)
        assert outcome == [None] and how.cleanups == 1
        assert not ledger.holding["t"], "every claim loop returned"
    assert committed(kafka_broker.bootstrap, topic, topic, 2) == {0: 3, 1: 3}


def test_asyncio_cancel(kafka_broker: Any) -> None:
    from kproto_asyncio.group import ConsumerGroup
    topic, ends = prepare(kafka_broker, "asyncio")
    ledger, how = Ledger(), Behaviour()

    async def main() -> None:
        async with ConsumerGroup(kafka_broker.bootstrap, group_id=topic, **NO_AUTO) as group:
            task = asyncio.create_task(group.consume([topic], handler("asyncio", ledger, "a", how)))
            await asyncio.to_thread(ledger.wait, "every record", lambda: ledger.complete(ends))
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert how.cleanups == 1 and not ledger.holding["a"]

    asyncio.run(main())
    assert committed(kafka_broker.bootstrap, topic, topic, 2) == {0: 3, 1: 3}


def test_trio_cancel(kafka_broker: Any) -> None:
    from kproto_trio.group import ConsumerGroup
    topic, ends = prepare(kafka_broker, "trio")
    ledger, how = Ledger(), Behaviour()

    async def main() -> None:
        async with ConsumerGroup(kafka_broker.bootstrap, group_id=topic, **NO_AUTO) as group:
            with trio.CancelScope() as scope:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(group.consume, [topic], handler("trio", ledger, "t", how))
                    await trio.to_thread.run_sync(
                        lambda: ledger.wait("every record", lambda: ledger.complete(ends)))
                    scope.cancel()
            assert scope.cancelled_caught
            assert how.cleanups == 1 and not ledger.holding["t"]

    trio.run(main)
    assert committed(kafka_broker.bootstrap, topic, topic, 2) == {0: 3, 1: 3}


def run_bounded(main: Callable[[], None], bound: float) -> None:
    """Run ``main`` on a daemon thread: a close stuck in a shielded wait cannot be cancelled,
    so the bound is the thread's join."""
    errors: list[BaseException] = []

    def target() -> None:
        try:
            main()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target, name="test-bounded", daemon=True)
    thread.start()
    thread.join(bound)
    assert not thread.is_alive(), f"still running after {bound}s (a close that never returns)"
    if errors:
        raise errors[0]


@pytest.mark.parametrize("how", ["move_on_after", "nursery"])
def test_trio_cancel_around_the_group(kafka_broker: Any, how: str) -> None:
    """A cancelled scope enclosing ``async with ConsumerGroup`` ends the session, commits and
    closes: the client's connections outlive the cancellation until the group closed."""
    from kproto_trio.group import ConsumerGroup
    topic, ends = prepare(kafka_broker, "trio-outer")
    ledger, how_ = Ledger(), Behaviour()

    async def consume() -> None:
        async with ConsumerGroup(kafka_broker.bootstrap, group_id=topic, **NO_AUTO) as group:
            await group.consume([topic], handler("trio", ledger, "t", how_))

    async def main() -> None:
        if how == "move_on_after":
            reached = trio.Event()

            async def watch() -> None:
                await trio.to_thread.run_sync(
                    lambda: ledger.wait("every record", lambda: ledger.complete(ends)))
                reached.set()

            async with trio.open_nursery() as outer:
                outer.start_soon(watch)
                with trio.CancelScope() as scope:
                    async def cancel_when_read() -> None:
                        await reached.wait()
                        scope.cancel()
                    outer.start_soon(cancel_when_read)
                    await consume()
            assert scope.cancelled_caught
        else:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(consume)
                await trio.to_thread.run_sync(
                    lambda: ledger.wait("every record", lambda: ledger.complete(ends)))
                nursery.cancel_scope.cancel()
        assert how_.cleanups == 1 and not ledger.holding["t"]

    run_bounded(lambda: trio.run(main), 60)
    assert committed(kafka_broker.bootstrap, topic, topic, 2) == {0: 3, 1: 3}


def test_asyncio_cancel_around_the_group(kafka_broker: Any) -> None:
    """asyncio's equivalent: the task running ``async with ConsumerGroup`` is cancelled."""
    from kproto_asyncio.group import ConsumerGroup
    topic, ends = prepare(kafka_broker, "asyncio-outer")
    ledger, how = Ledger(), Behaviour()

    async def consume() -> None:
        async with ConsumerGroup(kafka_broker.bootstrap, group_id=topic, **NO_AUTO) as group:
            await group.consume([topic], handler("asyncio", ledger, "a", how))

    async def main() -> None:
        task = asyncio.create_task(consume())
        await asyncio.to_thread(ledger.wait, "every record", lambda: ledger.complete(ends))
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert how.cleanups == 1 and not ledger.holding["a"]

    run_bounded(lambda: asyncio.run(main()), 60)
    assert committed(kafka_broker.bootstrap, topic, topic, 2) == {0: 3, 1: 3}
