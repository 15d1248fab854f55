"""The caller's mistakes fail with a UsageError naming what was wrong, on every transport: an
object used after close (or, on trio, outside its ``async with``), a partition consumed
twice, ``consume()`` while it already runs. Each stays the class it was before (ClosedError,
ConfigurationError), so existing ``except`` clauses keep catching it."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import trio

from kproto.errors import (
    AlreadyConsumingError,
    ClosedError,
    ConfigurationError,
    ObjectClosedError,
    UsageError,
)
from kproto.message_types import OFFSET_OLDEST, ProducerMessage
from tests.conformance.drivers import TRANSPORTS, Remote, open_remote
from tests.consumer.drivers import Partition, consumer, produce

each = pytest.mark.parametrize("transport", TRANSPORTS)
NOWHERE = "127.0.0.1:1"
"""No broker listens there: these mistakes are caught before anything goes on the wire."""
WAIT = 60.0


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def used_after_close(transport: str, factory: Callable[[Any], Any],
                     use: Callable[[Any], Any]) -> ObjectClosedError:
    """Open an object, close it, use it: the error raised."""
    with open_remote(transport, factory) as obj:
        obj.close()
        with pytest.raises(ObjectClosedError) as caught:
            use(obj)
    return caught.value


MSG = ProducerMessage("usage-topic", value=b"v")
AFTER_CLOSE: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any], str]] = {
    "AsyncProducer.send": (lambda mod: mod.AsyncProducer(NOWHERE),
                           lambda p: p.send(MSG), "the producer is closed"),
    "AsyncProducer.send_nowait": (lambda mod: mod.AsyncProducer(NOWHERE),
                                  lambda p: p.send_nowait(MSG), "the producer is closed"),
    "SyncProducer.send_message": (lambda mod: mod.SyncProducer(NOWHERE),
                                  lambda p: p.send_message(MSG), "the producer is closed"),
    "Consumer.topics": (lambda mod: mod.Consumer(NOWHERE),
                        lambda c: c.topics(), "the consumer is closed"),
    "Consumer.consume_partition": (lambda mod: mod.Consumer(NOWHERE),
                                   lambda c: c.consume_partition("t", 0, OFFSET_OLDEST),
                                   "the consumer is closed"),
    "ConsumerGroup.consume": (lambda mod: mod.ConsumerGroup(NOWHERE, group_id="usage"),
                              lambda g: g.consume(["t"], object()),
                              "the consumer group is closed"),
}


@each
@pytest.mark.parametrize("call", sorted(AFTER_CLOSE))
def test_an_object_used_after_close(transport: str, call: str) -> None:
    factory, use, says = AFTER_CLOSE[call]
    error = used_after_close(transport, factory, use)
    assert isinstance(error, UsageError) and isinstance(error, ClosedError)
    assert says in str(error)


@pytest.mark.parametrize("kind", ["Client", "Consumer", "ConsumerGroup"])
def test_a_trio_object_used_outside_async_with(kind: str) -> None:
    import kproto_trio

    async def use() -> None:
        options: dict[str, Any] = {"group_id": "usage"} if kind == "ConsumerGroup" else {}
        obj = getattr(kproto_trio, kind)(NOWHERE, **options)
        if kind == "Client":
            await obj.metadata()
        elif kind == "Consumer":
            await obj.topics()
        else:
            await obj.consume(["t"], object())

    with pytest.raises(ObjectClosedError) as caught:
        trio.run(use)
    assert isinstance(caught.value, UsageError) and isinstance(caught.value, ClosedError)
    said = str(caught.value)
    assert "async with" in said or "not entered" in said, said


@each
def test_a_partition_consumed_twice(transport: str, kafka_broker: Any) -> None:
    topic = unique(f"usage-twice-{transport}")
    kafka_broker.create_topic(topic, partitions=1)
    with consumer(transport, kafka_broker.bootstrap) as c:
        first = Partition(c, c.consume_partition(topic, 0, OFFSET_OLDEST))
        with pytest.raises(AlreadyConsumingError) as caught:
            c.consume_partition(topic, 0, OFFSET_OLDEST)
        assert isinstance(caught.value, UsageError)
        assert isinstance(caught.value, ConfigurationError)
        assert f"{topic}[0] is already being consumed" in str(caught.value)
        produce(kafka_broker.bootstrap, topic, [(0, None, b"after")])
        [msg] = first.take(1)  # the refused second call left the first one consuming
        assert (msg.offset, msg.value) == (0, b"after")


def handler(transport: str) -> Any:
    """A handler whose claims wait for their messages to end."""
    if transport == "threads":
        class Blocking:
            def setup(self, session: Any) -> None:
                pass

            def cleanup(self, session: Any) -> None:
                pass

            def consume_claim(self, session: Any, claim: Any) -> None:
                for _ in claim.messages:
                    pass
        return Blocking()

    class Async:
        async def setup(self, session: Any) -> None:
            pass

        async def cleanup(self, session: Any) -> None:
            pass

        async def consume_claim(self, session: Any, claim: Any) -> None:
            async for _ in claim.messages:
                pass
    return Async()


def wait_until(what: str, predicate: Callable[[], bool], timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


@each
def test_consume_while_consume_runs(transport: str, kafka_broker: Any) -> None:
    topic = unique(f"usage-consume-{transport}")
    kafka_broker.create_topic(topic, partitions=1)
    factory = lambda mod: mod.ConsumerGroup(kafka_broker.bootstrap, group_id=topic)  # noqa: E731
    with open_remote(transport, factory) as group:
        target = group.target if isinstance(group, Remote) else group
        ended: list[BaseException | None] = []
        done = threading.Event()
        if transport == "threads":
            def run() -> None:
                try:
                    group.consume([topic], handler(transport))
                    ended.append(None)
                except BaseException as exc:
                    ended.append(exc)
                finally:
                    done.set()
            threading.Thread(target=run, daemon=True).start()
        else:
            runner = group._runner

            async def run_async() -> None:
                try:
                    await target.consume([topic], handler(transport))
                    ended.append(None)
                except BaseException as exc:
                    ended.append(exc)
                finally:
                    done.set()
            if transport == "asyncio":
                runner.call(lambda: asyncio.ensure_future(run_async()) and None)
            else:
                runner.call(lambda: trio.lowlevel.spawn_system_task(run_async) and None)
        wait_until("the first consume() to start", lambda: target._run is not None)
        with pytest.raises(AlreadyConsumingError) as caught:
            group.consume([topic], handler(transport))
        assert isinstance(caught.value, UsageError)
        assert isinstance(caught.value, ConfigurationError)
        assert "consume() is already running" in str(caught.value)
        assert not done.is_set()  # the refused call did not end the running one
        group.close()
        assert done.wait(WAIT), "consume() did not end when the group closed"
    assert not [e for e in ended if e is not None and not isinstance(e, ClosedError)], ended
