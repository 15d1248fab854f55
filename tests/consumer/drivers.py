"""Consumers on every transport with blocking calls, and test data written by other clients.

``consumer(transport, bootstrap, **options)`` opens a Consumer through
``tests.conformance.drivers.open_remote``; ``Partition(remote, pc)`` wraps a partition
consumer so its streams can be read with blocking, bounded calls whatever the transport
(the reads run inside the adapter's event loop for asyncio and trio).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from typing import Any

import trio

from kproto.message_types import ConsumerMessage
from tests.conformance.drivers import Remote, open_remote

WAIT = 60.0


@contextlib.contextmanager
def consumer(transport: str, bootstrap: str, **options: Any) -> Iterator[Any]:
    options.setdefault("client_id", f"kproto-consumer-test-{transport}")
    with open_remote(transport, lambda mod: mod.Consumer(bootstrap, **options)) as c:
        yield c


class Partition:
    """A partition consumer read with blocking calls, through any transport."""

    def __init__(self, owner: Any, pc: Any) -> None:
        self.pc = pc
        self.runner = owner._runner if isinstance(owner, Remote) else None
        self.kind = ("threads" if self.runner is None else
                     "asyncio" if hasattr(self.runner, "loop") else "trio")

    def _run(self, fn: Any, timeout: float) -> Any:
        if self.runner is None:
            return fn()
        return self.runner.call(fn, timeout=timeout + 10.0)

    def take(self, n: int, timeout: float = WAIT) -> list[ConsumerMessage]:
        """The next ``n`` messages; fails if they do not all come within ``timeout``."""
        pc = self.pc
        if self.kind == "threads":
            deadline = time.monotonic() + timeout
            return [pc.messages.get(max(0.0, deadline - time.monotonic())) for _ in range(n)]
        if self.kind == "asyncio":
            async def take_async() -> list[ConsumerMessage]:
                async with asyncio.timeout(timeout):
                    return [await pc.messages.get() for _ in range(n)]
            return self._run(take_async, timeout)  # type: ignore[no-any-return]

        async def take_trio() -> list[ConsumerMessage]:
            with trio.fail_after(timeout):
                return [await pc.messages.receive() for _ in range(n)]
        return self._run(take_trio, timeout)  # type: ignore[no-any-return]

    def next_error(self, timeout: float = WAIT) -> Any:
        pc = self.pc
        if self.kind == "threads":
            return pc.errors.get(timeout)
        if self.kind == "asyncio":
            async def get_async() -> Any:
                async with asyncio.timeout(timeout):
                    return await pc.errors.get()
            return self._run(get_async, timeout)

        async def get_trio() -> Any:
            with trio.fail_after(timeout):
                return await pc.errors.receive()
        return self._run(get_trio, timeout)

    def buffered(self) -> int:
        """Messages delivered to the stream and not read yet."""
        return int(self._run(lambda: len(self.pc.messages), 10.0))

    def call(self, name: str, *args: Any) -> Any:
        method = getattr(self.pc, name)
        return self._run(lambda: method(*args), WAIT)


def fetch_sessions(c: Any) -> list[tuple[int, int]]:
    """(session id, epoch) of the consumer's fetch session with each broker (white box)."""
    obj = c.target if isinstance(c, Remote) else c
    return [(s.session_id, s.epoch) for s in obj._core.fetcher._sessions.values()]


@contextlib.contextmanager
def shared_client(transport: str, bootstrap: str) -> Iterator[tuple[Any, Any]]:
    """A Client and a Consumer built on it (``client=``), both usable with blocking calls."""
    class Both:
        def __init__(self, mod: Any) -> None:
            self.client = mod.Client(bootstrap)
            self.consumer = mod.Consumer(client=self.client)

        def __enter__(self) -> Both:
            return self

        def __exit__(self, *exc: object) -> None:
            self.consumer.close()
            self.client.close()

        async def __aenter__(self) -> Both:
            await self.client.__aenter__()
            await self.consumer.__aenter__()
            return self

        async def __aexit__(self, *exc: object) -> None:
            await self.consumer.__aexit__(None, None, None)
            await self.client.__aexit__(None, None, None)

    with open_remote(transport, Both) as both:
        if isinstance(both, Remote):
            yield Remote(both._runner, both.target.client), Remote(both._runner,
                                                                   both.target.consumer)
        else:
            yield both.client, both.consumer


def produce(bootstrap: str, topic: str, items: list[tuple[int, bytes | None, bytes]], *,
            compression: str = "none", batch_bytes: int = 1_000_000,
            timeout: float = 120.0) -> None:
    """Write ``(partition, key, value)`` records with confluent-kafka (acks=all) and wait
    until every one is acknowledged."""
    from confluent_kafka import Producer

    failures: list[str] = []

    def report(err: Any, _msg: Any) -> None:
        if err is not None:
            failures.append(str(err))

    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 20,
                         "compression.type": compression, "batch.num.messages": 10000,
                         "queue.buffering.max.messages": 1_000_000, "batch.size": batch_bytes,
                         "enable.idempotence": True})
    for partition, key, value in items:
        while True:
            try:
                producer.produce(topic, value=value, key=key, partition=partition,
                                 on_delivery=report)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    left = producer.flush(timeout)
    assert left == 0, f"{left} records not delivered within {timeout}s"
    assert not failures, failures[:5]
