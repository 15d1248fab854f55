"""What the adapters add on every transport: backpressure, timeouts, cancellation, drop-close.

The broker is reached through its fault proxy; stalling the proxy holds every produce
request on the wire, so the producer's buffer fills and nothing is acknowledged.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from kproto.errors import ClientTimeoutError, ClosedError
from kproto.message_types import ProducerMessage
from kproto.producer import BufferFullError
from tests.conformance.drivers import TRANSPORTS, kproto_threads_alive, open_fds
from tests.producer.helpers import in_loop, producer, read_partition, take

each = pytest.mark.parametrize("transport", TRANSPORTS)


def faulty(kafka_broker: Any) -> str:
    _ = kafka_broker.proxy  # an external cluster has none: the test skips
    host, port = kafka_broker.listeners["FAULTY"]
    return f"{host}:{port}"


@contextmanager
def stalled(kafka_broker: Any) -> Iterator[None]:
    kafka_broker.proxy.stall()
    try:
        yield
    finally:
        kafka_broker.proxy.restore()


def run_async(transport: str, p: Any, make: Any) -> Any:
    """Run the coroutine ``make(producer)`` in the producer's event loop."""
    obj = p.target
    return p._runner.call(lambda: make(obj))


def new_topic(kafka_broker: Any, prefix: str) -> str:
    topic = f"{prefix}-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topic(topic, partitions=1)
    return topic


@each
def test_a_full_buffer_blocks_up_to_max_block_then_raises(transport: str,
                                                          kafka_broker: Any) -> None:
    topic = new_topic(kafka_broker, f"full-{transport}")
    with producer(transport, "AsyncProducer", faulty(kafka_broker), buffer_memory=8192,
                  max_block=0.5, request_timeout=60.0, linger=0.0) as p:
        p.send(ProducerMessage(topic, b"warm-up"))
        take(transport, p, "successes", 1)
        with stalled(kafka_broker):
            sent = 0
            started = time.monotonic()
            with pytest.raises(BufferFullError):
                for _ in range(1000):
                    p.send(ProducerMessage(topic, b"x" * 500))
                    sent += 1
            waited = time.monotonic() - started
            assert 5 <= sent < 20
            assert waited >= 0.5  # it waited for space before giving up
            with pytest.raises(BufferFullError):
                p.send_nowait(ProducerMessage(topic, b"x" * 500))
        # Once the broker answers, space frees and sending works again.
        p.send(ProducerMessage(topic, b"after"))
        p.flush()
        got = take(transport, p, "successes", sent + 1)
        assert got[-1].value == b"after"
    assert len(read_partition(kafka_broker.bootstrap, topic, 0)) == sent + 2


@each
def test_waiting_for_a_record_is_bounded_or_cancellable(transport: str,
                                                        kafka_broker: Any) -> None:
    topic = new_topic(kafka_broker, f"wait-{transport}")
    with producer(transport, "SyncProducer", faulty(kafka_broker), request_timeout=60.0,
                  linger=0.0) as p:
        assert p.send_message(ProducerMessage(topic, b"warm-up")) == (0, 0)
        with stalled(kafka_broker):
            started = time.monotonic()
            if transport == "threads":
                with pytest.raises(ClientTimeoutError):
                    p.send_message(ProducerMessage(topic, b"slow"), timeout=0.5)
            elif transport == "asyncio":
                import asyncio

                async def give_up(obj: Any) -> None:
                    with pytest.raises(asyncio.TimeoutError):
                        await asyncio.wait_for(obj.send_message(ProducerMessage(topic, b"slow")),
                                               0.5)
                run_async(transport, p, give_up)
            else:
                import trio

                async def give_up(obj: Any) -> None:
                    with trio.move_on_after(0.5) as scope:
                        await obj.send_message(ProducerMessage(topic, b"slow"))
                    assert scope.cancelled_caught
                run_async(transport, p, give_up)
            assert 0.5 <= time.monotonic() - started < 5.0
            if transport != "threads":
                # Cancelling left nothing behind in the producer's bookkeeping.
                pending = in_loop(transport, p, lambda obj: dict(
                    getattr(obj, "_futures", None) or getattr(obj, "_waiters", {})))
                assert pending == {}
    # The record itself was not dropped: close delivered it.
    values = [r.value for r in read_partition(kafka_broker.bootstrap, topic, 0)]
    assert values == [b"warm-up", b"slow"]


@each
def test_drop_close_fails_what_is_pending_at_once(transport: str, kafka_broker: Any) -> None:
    topic = new_topic(kafka_broker, f"drop-{transport}")
    before = open_fds()
    with producer(transport, "AsyncProducer", faulty(kafka_broker), request_timeout=60.0,
                  linger=0.0) as p:
        p.send(ProducerMessage(topic, b"warm-up"))
        take(transport, p, "successes", 1)
        with stalled(kafka_broker):
            for i in range(5):
                p.send(ProducerMessage(topic, b"%d" % i))
            started = time.monotonic()
            p.async_close()
            assert time.monotonic() - started < 5.0
            errors = take(transport, p, "errors", 5)
            assert all(isinstance(e.error, ClosedError) for e in errors)
            assert sorted(e.message.value for e in errors) == [b"%d" % i for i in range(5)]
            with pytest.raises(ClosedError):
                p.send(ProducerMessage(topic, b"late"))
            p.close()  # closing again is fine
    deadline = time.monotonic() + 5
    while (open_fds() > before or kproto_threads_alive()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert open_fds() <= before
    assert kproto_threads_alive() == []
