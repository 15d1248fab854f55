"""The asyncio Consumer: partition consumers whose streams are async iterators.

A :class:`kproto.consumer.ConsumerCore` runs on the event loop's thread. The engine hands
its ``RecordsFetched`` / ``FetchError`` events to ``Consumer._on_event``, which appends them
to the partition consumer's streams and wakes a waiting reader. When a reader has taken
every message of a fetched chunk, the chunk's bytes are released to the core, which is what
lets a partition whose buffer was full be fetched again.
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

from kproto.config import Config, from_options
from kproto.consumer import (
    ConsumerCore,
    ConsumerError,
    FetchError,
    MessageBuffer,
    RecordsFetched,
    TopicPartitions,
)
from kproto.errors import ClientTimeoutError, ClosedError, ConfigurationError, ObjectClosedError
from kproto.events import Event
from kproto.lifetime import warn_dropped
from kproto.messages import ConsumerMessage
from kproto_asyncio.client import Client

__all__ = ["Consumer", "ErrorStream", "MessageStream", "PartitionConsumer"]


class _Signal:
    """Wakes the tasks waiting for a partition consumer's streams to change."""

    __slots__ = ("_waiters",)

    def __init__(self) -> None:
        self._waiters: list[asyncio.Future[None]] = []

    def fire(self) -> None:
        waiters, self._waiters = self._waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    async def wait(self, timeout: float | None, what: str) -> None:
        fut = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        if timeout is None:
            await fut
            return
        try:
            await asyncio.wait_for(fut, timeout)
        except asyncio.TimeoutError:
            raise ClientTimeoutError(f"{what} within {timeout:g}s") from None


class MessageStream:
    """A partition consumer's messages: ``async for m in pc.messages`` or ``await get()``."""

    def __init__(self, owner: PartitionConsumer) -> None:
        self._pc = owner

    async def get(self, timeout: float | None = None) -> ConsumerMessage:
        """The next message. Raises ClientTimeoutError after ``timeout``, ClosedError once
        the partition consumer is closed, and the partition's error once it stopped on one
        and every message before it was read."""
        pc = self._pc
        while True:
            msg = pc._pop_message()
            if msg is not None:
                return msg
            await pc._signal.wait(timeout, f"{pc.topic}[{pc.partition}]: no message")

    def get_nowait(self) -> ConsumerMessage:
        """The next message; IndexError when none is buffered."""
        msg = self._pc._pop_message()
        if msg is None:
            raise IndexError("no message buffered")
        return msg

    def __len__(self) -> int:
        """Messages delivered and not read yet."""
        return len(self._pc._buf)

    def __aiter__(self) -> AsyncIterator[ConsumerMessage]:
        return self

    async def __anext__(self) -> ConsumerMessage:
        buf = self._pc._buf
        cur = buf.cur
        i = buf.idx
        if i + 1 < len(cur):  # not the last of its chunk: nothing to release
            buf.idx = i + 1
            return cur[i]
        try:
            return await self.get()
        except ClosedError:
            raise StopAsyncIteration from None


class ErrorStream:
    """A partition consumer's errors (``ConsumerError`` values); ends when it is closed or
    after the error that stopped it."""

    def __init__(self, owner: PartitionConsumer) -> None:
        self._pc = owner

    async def get(self, timeout: float | None = None) -> ConsumerError:
        pc = self._pc
        while True:
            if pc._errors:
                return pc._errors.popleft()
            if pc._closed or pc._fatal is not None:
                raise ClosedError(f"{pc.topic}[{pc.partition}]: no more errors")
            await pc._signal.wait(timeout, f"{pc.topic}[{pc.partition}]: no error")

    def __len__(self) -> int:
        return len(self._pc._errors)

    def __aiter__(self) -> AsyncIterator[ConsumerError]:
        return self

    async def __anext__(self) -> ConsumerError:
        try:
            return await self.get()
        except ClosedError:
            raise StopAsyncIteration from None


class PartitionConsumer:
    """Messages of one partition, from the offset given to ``consume_partition``."""

    def __init__(self, consumer: Consumer, topic: str, partition: int) -> None:
        self.topic = topic
        self.partition = partition
        self._consumer = consumer
        self._stream = -1
        self._buf = MessageBuffer()
        self._errors: deque[ConsumerError] = deque()
        self._fatal: BaseException | None = None
        self._closed = False
        self._hwm = -1
        self._signal = _Signal()
        self.messages = MessageStream(self)
        self.errors = ErrorStream(self)

    def __repr__(self) -> str:
        state = "closed" if self._closed else "stopped" if self._fatal else "open"
        return f"<PartitionConsumer {self.topic}[{self.partition}] {state}>"

    # -- fed by the engine -----------------------------------------------------------------

    def _deliver(self, event: RecordsFetched) -> None:
        self._hwm = event.high_watermark
        if not self._closed:
            self._buf.push(event.messages, event.size)
            self._signal.fire()

    def _fail(self, event: FetchError) -> None:
        self._errors.append(ConsumerError(event.topic, event.partition, event.error))
        if event.stopped:
            self._fatal = event.error
        self._signal.fire()

    def _end(self) -> None:
        self._closed = True
        self._buf.clear()
        self._signal.fire()

    def _pop_message(self) -> ConsumerMessage | None:
        got = self._buf.take()
        if got is not None:
            msg, release = got
            if release:
                self._consumer._release(self._stream, release)
            return msg
        if self._closed:
            raise ClosedError(f"{self.topic}[{self.partition}]: the partition consumer is closed")
        if self._fatal is not None:
            raise self._fatal
        return None

    # -- user operations -------------------------------------------------------------------

    def high_water_mark_offset(self) -> int:
        """The partition's high water mark from the latest fetch (-1 until known)."""
        return self._consumer._high_water_mark(self)

    def pause(self) -> None:
        """Stop fetching; messages already delivered stay readable, the position is kept."""
        self._consumer._run(lambda cc, now: cc.fetcher.pause([self._stream], now))

    def resume(self) -> None:
        self._consumer._run(lambda cc, now: cc.fetcher.resume([self._stream], now))

    @property
    def paused(self) -> bool:
        return bool(self._consumer._run(
            lambda cc, now: self._stream in cc.fetcher.streams()
            and cc.fetcher.is_paused(self._stream)))

    async def close(self) -> None:
        """Stop consuming; both streams end."""
        self._consumer._close_partition(self)

    async def __aenter__(self) -> PartitionConsumer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class Consumer:
    """Consumes partitions of a cluster (sarama's Consumer), awaited.

    ``async with Consumer("host:9092", config=Config(...)) as consumer:``, the same options
    as keywords, or ``client=`` an existing Client whose connections it shares.
    """

    def __init__(self, bootstrap: str | list[str] | None = None, config: Config | None = None,
                 *, client: Client | None = None, rng: random.Random | None = None,
                 **options: Any) -> None:
        if client is not None:
            base = config or client.config
            self.config = from_options(base, options) if options else base
            self._client = client
            self._owns_client = False
        else:
            if bootstrap is None:
                raise ConfigurationError("give the bootstrap servers or an existing client=")
            self.config = from_options(config, options) if options or config is None else config
            self._client = Client(bootstrap, self.config, rng=rng)
            self._owns_client = self._client._owned = True
        self._core_obj: ConsumerCore | None = None
        self._pcs: dict[int, PartitionConsumer] = {}
        self._closed = False

    @property
    def _loop(self) -> Any:
        return self._client._loop

    @property
    def _core(self) -> ConsumerCore:
        if self._core_obj is None:
            self._core_obj = self._loop.run(lambda core, now: ConsumerCore(core, self.config))
            self._loop.add_handler(self._on_event)
        return self._core_obj

    def __del__(self) -> None:
        """Dropped without close: say which connections of its own client are left open."""
        if self.__dict__.get("_closed", True) or not self.__dict__.get("_owns_client"):
            return
        loop = self._client._loop_obj
        warn_dropped(self, loop)

    # -- events ----------------------------------------------------------------------------

    def _on_event(self, event: Event) -> bool:
        if isinstance(event, RecordsFetched):
            pc = self._pcs.get(event.stream)
            if pc is None:
                return False
            pc._deliver(event)
            return True
        if isinstance(event, FetchError):
            pc = self._pcs.get(event.stream)
            if pc is None:
                return False
            pc._fail(event)
            return True
        return False

    # -- helpers ---------------------------------------------------------------------------

    def _run(self, fn: Any) -> Any:
        cc = self._core
        return self._loop.run(lambda core, now: fn(cc, now))

    def _release(self, stream: int, size: int) -> None:
        if not self._closed:
            self._run(lambda cc, now: cc.fetcher.release(stream, size, now))

    def _high_water_mark(self, pc: PartitionConsumer) -> int:
        if not self._closed and pc._stream in self._core.fetcher.streams():
            pc._hwm = self._core.fetcher.high_water_mark(pc._stream)
        return pc._hwm

    def _check_open(self) -> None:
        if self._closed:
            raise ObjectClosedError("the consumer is closed")

    async def _call(self, fn: Any) -> Any:
        cc = self._core
        return await self._loop.call(lambda core, now: fn(cc, now))

    # -- user operations -------------------------------------------------------------------

    async def topics(self) -> list[str]:
        """Every topic in the cluster, sorted."""
        self._check_open()
        return list(await self._call(lambda cc, now: cc.topics(now)))

    async def partitions(self, topic: str) -> list[int]:
        """The partition ids of ``topic``."""
        self._check_open()
        return list(await self._call(lambda cc, now: cc.partitions(topic, now)))

    async def consume_partition(self, topic: str, partition: int,
                                offset: int) -> PartitionConsumer:
        """Consume ``topic[partition]`` from ``offset`` (a literal offset, OFFSET_NEWEST or
        OFFSET_OLDEST); returns once the start position is known."""
        self._check_open()
        pc = PartitionConsumer(self, topic, partition)

        def start(cc: ConsumerCore, now: float) -> int:
            token = cc.consume_partition(topic, partition, offset, now)
            pc._stream = token
            self._pcs[token] = pc
            return token

        try:
            await self._call(start)
        except BaseException:
            self._close_partition(pc)
            raise
        return pc

    def high_water_marks(self) -> dict[str, dict[int, int]]:
        """``{topic: {partition: high water mark}}`` of every partition consumer."""
        return dict(self._core.high_water_marks())

    def pause(self, partitions: TopicPartitions) -> None:
        """Stop fetching ``{topic: [partition, ...]}`` (or ``(topic, partition)`` pairs)."""
        self._run(lambda cc, now: cc.pause(partitions, now))

    def resume(self, partitions: TopicPartitions) -> None:
        self._run(lambda cc, now: cc.resume(partitions, now))

    def pause_all(self) -> None:
        self._run(lambda cc, now: cc.pause_all(now))

    def resume_all(self) -> None:
        self._run(lambda cc, now: cc.resume_all(now))

    def _close_partition(self, pc: PartitionConsumer) -> None:
        if not self._closed and self._core_obj is not None:
            def close(cc: ConsumerCore, now: float) -> None:
                if pc._stream in cc.fetcher.streams():
                    pc._hwm = cc.fetcher.high_water_mark(pc._stream)
                cc.close_partition(pc._stream, now)
            self._run(close)
        self._pcs.pop(pc._stream, None)
        pc._end()

    async def close(self) -> None:
        """Close every partition consumer, then the consumer (and its own connections)."""
        if self._closed:
            return
        if self._core_obj is not None and not self._loop.closed:
            self._run(lambda cc, now: cc.close(now))
        self._closed = True
        for pc in list(self._pcs.values()):
            pc._end()
        self._pcs.clear()
        if self._core_obj is not None:
            self._loop.remove_handler(self._on_event)
        if self._owns_client:
            await self._client.close()

    async def __aenter__(self) -> Consumer:
        _ = self._core
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
