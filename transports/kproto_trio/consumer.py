"""The trio Consumer: partition consumers whose streams are receive channels.

A :class:`kproto.consumer.ConsumerCore` runs in the Client's tasks. The engine hands its
``RecordsFetched`` / ``FetchError`` events to ``Consumer._on_event``, which appends them to
the partition consumer's channels and wakes a waiting receiver. When a receiver has taken
every message of a fetched chunk, the chunk's bytes are released to the core, which is what
lets a partition whose buffer was full be fetched again.
"""

from __future__ import annotations

import random
from collections import deque
from typing import Any

import trio

from kproto.config import Config, from_options
from kproto.consumer import (
    ConsumerCore,
    ConsumerError,
    FetchError,
    MessageBuffer,
    RecordsFetched,
    TopicPartitions,
)
from kproto.errors import ConfigurationError, ObjectClosedError
from kproto.events import Event
from kproto.lifetime import warn_dropped
from kproto.messages import ConsumerMessage
from kproto_trio.client import Client

__all__ = ["Consumer", "ErrorChannel", "MessageChannel", "PartitionConsumer"]

YIELD_EVERY = 64


class MessageChannel(trio.abc.ReceiveChannel[ConsumerMessage]):
    """A partition consumer's messages: ``async for m in pc.messages``, ``await receive()``.

    It ends (``trio.EndOfChannel``) when the partition consumer is closed; when the
    partition stopped on an error, that error is raised after the messages before it.
    """

    def __init__(self, owner: PartitionConsumer) -> None:
        self._pc = owner

    def receive_nowait(self) -> ConsumerMessage:
        """The next message; ``trio.WouldBlock`` when none is buffered."""
        return self._pc._pop_message()

    async def receive(self) -> ConsumerMessage:
        pc = self._pc
        # A checkpoint before taking a message, so a cancelled receive loses nothing.
        # Yielding to the scheduler for every message would cost more than the message;
        # a receive that finds one ready yields every YIELD_EVERY messages and otherwise
        # only honours cancellation.
        pc._ready_streak += 1
        if pc._ready_streak >= YIELD_EVERY:
            pc._ready_streak = 0
            await trio.lowlevel.checkpoint()
        else:
            await trio.lowlevel.checkpoint_if_cancelled()
        buf = pc._buf
        cur = buf.cur
        i = buf.idx
        if i + 1 < len(cur):  # not the last of its chunk: nothing to release
            buf.idx = i + 1
            return cur[i]
        while True:
            try:
                return pc._pop_message()
            except trio.WouldBlock:
                pc._ready_streak = 0
                await pc._wait()

    def __len__(self) -> int:
        """Messages delivered and not read yet."""
        return len(self._pc._buf)

    async def aclose(self) -> None:
        """Close the partition consumer."""
        await self._pc.close()


class ErrorChannel(trio.abc.ReceiveChannel[ConsumerError]):
    """A partition consumer's errors (``ConsumerError`` values); ends when it is closed or
    after the error that stopped it."""

    def __init__(self, owner: PartitionConsumer) -> None:
        self._pc = owner

    def receive_nowait(self) -> ConsumerError:
        pc = self._pc
        if pc._errors:
            return pc._errors.popleft()
        if pc._closed or pc._fatal is not None:
            raise trio.EndOfChannel
        raise trio.WouldBlock

    async def receive(self) -> ConsumerError:
        while True:
            try:
                error = self.receive_nowait()
            except trio.WouldBlock:
                await self._pc._wait()
                continue
            await trio.lowlevel.checkpoint()
            return error

    def __len__(self) -> int:
        return len(self._pc._errors)

    async def aclose(self) -> None:
        await self._pc.close()


class PartitionConsumer:
    """Messages of one partition, from the offset given to ``consume_partition``."""

    def __init__(self, consumer: Consumer, topic: str, partition: int) -> None:
        self.topic = topic
        self.partition = partition
        self._consumer = consumer
        self._stream = -1
        self._buf = MessageBuffer()
        self._ready_streak = 0
        self._errors: deque[ConsumerError] = deque()
        self._fatal: BaseException | None = None
        self._closed = False
        self._hwm = -1
        self._changed = trio.Event()
        self.messages = MessageChannel(self)
        self.errors = ErrorChannel(self)

    def __repr__(self) -> str:
        state = "closed" if self._closed else "stopped" if self._fatal else "open"
        return f"<PartitionConsumer {self.topic}[{self.partition}] {state}>"

    # -- fed by the engine -----------------------------------------------------------------

    def _fire(self) -> None:
        self._changed.set()

    async def _wait(self) -> None:
        if self._changed.is_set():
            self._changed = trio.Event()
        await self._changed.wait()

    def _deliver(self, event: RecordsFetched) -> None:
        self._hwm = event.high_watermark
        if not self._closed:
            self._buf.push(event.messages, event.size)
            self._fire()

    def _fail(self, event: FetchError) -> None:
        self._errors.append(ConsumerError(event.topic, event.partition, event.error))
        if event.stopped:
            self._fatal = event.error
        self._fire()

    def _end(self) -> None:
        self._closed = True
        self._buf.clear()
        self._fire()

    def _pop_message(self) -> ConsumerMessage:
        got = self._buf.take()
        if got is not None:
            msg, release = got
            if release:
                self._consumer._release(self._stream, release)
            return msg
        if self._closed:
            raise trio.EndOfChannel
        if self._fatal is not None:
            raise self._fatal
        raise trio.WouldBlock

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
        """Stop consuming; both channels end."""
        self._consumer._close_partition(self)
        await trio.lowlevel.checkpoint()

    async def __aenter__(self) -> PartitionConsumer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class Consumer:
    """Consumes partitions of a cluster (sarama's Consumer), awaited.

    ``async with Consumer("host:9092", config=Config(...)) as consumer:`` (its nursery opens
    there), the same options as keywords, or ``client=`` an entered Client whose connections
    it shares.
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
        self._nursery_cm: Any = None
        self._nursery: trio.Nursery | None = None
        self._pcs: dict[int, PartitionConsumer] = {}
        self._closed = False

    @property
    def _loop(self) -> Any:
        return self._client._loop

    @property
    def _core(self) -> ConsumerCore:
        if self._core_obj is None:
            raise ObjectClosedError("use the trio Consumer inside 'async with'")
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
        return await self._loop.call(lambda core, now: fn(cc, now)).wait()

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
        """Close every partition consumer, then the consumer."""
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
        await trio.lowlevel.checkpoint()

    async def __aenter__(self) -> Consumer:
        if self._owns_client:
            await self._client.__aenter__()
        self._nursery_cm = trio.open_nursery()
        self._nursery = await self._nursery_cm.__aenter__()
        self._core_obj = self._loop.run(lambda core, now: ConsumerCore(core, self.config))
        self._loop.add_handler(self._on_event)
        return self

    async def __aexit__(self, *exc: Any) -> bool | None:
        try:
            try:
                await self.close()
            finally:
                assert self._nursery is not None
                self._nursery.cancel_scope.cancel()
                # Raises Cancelled inside a cancelled scope: the client is closed regardless.
                await self._nursery_cm.__aexit__(None, None, None)
        finally:
            if self._owns_client:
                await self._client.__aexit__(None, None, None)
        return None
