"""The Consumer and its partition consumers, written once over the adapters' loops.

Theory of operation
-------------------
A :class:`kproto.consumer.ConsumerCore` runs in the engine. The engine hands its
``RecordsFetched`` / ``FetchError`` events to ``ConsumerBase._on_event`` (inside the engine:
under its lock on threads), which appends them to the partition consumer's state -- a
:class:`MessageBuffer`, an error deque, the error that stopped it -- and fires its
:class:`Signal`. A reader takes from that state; only when nothing is there does it run an
operation (``_next_message`` / ``_next_error``) that parks on the signal. When a reader has
taken the last message of a fetched chunk, the chunk's bytes are released to the core, which
is what lets a partition whose buffer was full be fetched again.

Fast path: the adapters' iterators read ``_buf.cur[_buf.idx]`` directly while the message is
not the last of its chunk (nothing to release), with no call into the engine and no
operation. Everything that changes the state the readers wait on (deliver, fail, end) runs
inside the engine (``loop.run``), so on threads a signal never fires while a reader is
registering on it.

The adapters keep what is native: threads' blocking iterators with ``timeout=``, asyncio's
async iterators (:class:`MessageStream`, :class:`ErrorStream`, here), trio's receive
channels and checkpoints.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from kproto.config import Config
from kproto.consumer import (
    ConsumerCore,
    ConsumerError,
    FetchError,
    MessageBuffer,
    RecordsFetched,
    TopicPartitions,
)
from kproto.errors import ClosedError
from kproto.facade._feature import EntersClient, Feature, L
from kproto.facade._streams import AsyncIterates, PartitionErrors
from kproto.facade._wait import AsyncLoop, Op, call
from kproto.message_types import ConsumerMessage

T = TypeVar("T")
P = TypeVar("P", bound="PartitionConsumerBase")
S = TypeVar("S")
C = TypeVar("C", bound="ConsumerBase[Any, Any]")


class PartitionConsumerBase(PartitionErrors):
    """Messages of one partition, from the offset given to ``consume_partition``. The
    adapter names its stream classes in ``_message_stream`` / ``_error_stream``."""

    _message_stream: Callable[[Any], Any]
    _error_stream: Callable[[Any], Any]

    def __init__(self, consumer: ConsumerBase[Any, Any], topic: str, partition: int) -> None:
        super().__init__()
        self.topic = topic
        self.partition = partition
        self._consumer = consumer
        self._stream = -1
        self._buf = MessageBuffer()
        self._hwm = -1
        self.messages = self._message_stream(self)
        self.errors = self._error_stream(self)

    def __repr__(self) -> str:
        state = "closed" if self._closed else "stopped" if self._fatal else "open"
        return f"<PartitionConsumer {self.topic}[{self.partition}] {state}>"

    @property
    def _loop(self) -> Any:
        return self._consumer._loop

    # -- fed inside the engine -------------------------------------------------------------

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

    # -- readers ---------------------------------------------------------------------------

    def _take(self) -> ConsumerMessage | None:
        """The next buffered message (releasing its chunk when it was the last), None when
        none is; ClosedError once closed, the stopping error once every message is read."""
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

    def _next_message(self, timeout: float | None) -> Op[ConsumerMessage]:
        return self._poll(self._take, timeout, "no message")

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


class ConsumerBase(Feature[L, ConsumerCore], Generic[L, P]):
    """Consumes partitions of a cluster (sarama's Consumer). The adapter names its
    PartitionConsumer class in ``_partition_class``."""

    _what = "consumer"
    _partition_class: type[P]

    def __init__(self, bootstrap: str | list[str] | None = None, config: Config | None = None,
                 *, client: Any = None, rng: random.Random | None = None,
                 **options: Any) -> None:
        super().__init__(bootstrap, config, client=client, rng=rng, **options)
        self._pcs: dict[int, P] = {}

    def _make_core(self, engine: Any, now: float) -> ConsumerCore:
        return ConsumerCore(engine, self.config)

    def _on_event(self, event: Any) -> bool:
        if not isinstance(event, (RecordsFetched, FetchError)):
            return False
        pc = self._pcs.get(event.stream)
        if pc is None:
            return False
        if isinstance(event, RecordsFetched):
            pc._deliver(event)
        else:
            pc._fail(event)
        return True

    # -- helpers ---------------------------------------------------------------------------

    def _run(self, fn: Callable[[ConsumerCore, float], T]) -> T:
        cc = self._core
        return self._loop.run(lambda core, now: fn(cc, now))  # type: ignore[attr-defined,no-any-return]

    def _release(self, stream: int, size: int) -> None:
        if not self._closed:
            self._run(lambda cc, now: cc.fetcher.release(stream, size, now))

    def _high_water_mark(self, pc: PartitionConsumerBase) -> int:
        def read(cc: ConsumerCore, now: float) -> int:
            if not self._closed and pc._stream in cc.fetcher.streams():
                pc._hwm = cc.fetcher.high_water_mark(pc._stream)
            return pc._hwm
        return self._run(read)

    def _close_partition(self, pc: PartitionConsumerBase) -> None:
        def close(cc: ConsumerCore, now: float) -> None:
            if not self._closed and not self._loop.closed:  # type: ignore[attr-defined]
                if pc._stream in cc.fetcher.streams():
                    pc._hwm = cc.fetcher.high_water_mark(pc._stream)
                cc.close_partition(pc._stream, now)
            self._pcs.pop(pc._stream, None)
            pc._end()
        self._run(close)

    def _shut(self) -> bool:
        """Close the core and end every partition consumer (inside the engine, so a reader
        on another thread is woken); True when the consumer's own client is to be closed."""
        if self._closed:
            return False
        if self._core_obj is None:
            self._closed = True
            return self._owns_client

        def close(cc: ConsumerCore, now: float) -> None:
            if not self._closed and not self._loop.closed:  # type: ignore[attr-defined]
                cc.close(now)
            self._closed = True
            for pc in self._pcs.values():
                pc._end()
            self._pcs.clear()
        self._run(close)
        self._release_handler()
        return self._owns_client

    # -- operations ------------------------------------------------------------------------

    def _topics(self, timeout: float | None = None) -> Op[list[str]]:
        self._check_open()
        cc = self._core
        return list((yield from call(self._loop, lambda core, now: cc.topics(now),  # type: ignore[arg-type]
                                     timeout, "topics()")))

    def _partitions(self, topic: str, timeout: float | None = None) -> Op[list[int]]:
        self._check_open()
        cc = self._core
        return list((yield from call(self._loop, lambda core, now: cc.partitions(topic, now),  # type: ignore[arg-type]
                                     timeout, f"partitions({topic!r})")))

    def _consume_partition(self, topic: str, partition: int, offset: int,
                           timeout: float | None = None) -> Op[P]:
        self._check_open()
        cc = self._core
        pc = self._partition_class(self, topic, partition)

        def start(core: Any, now: float) -> int:
            token = cc.consume_partition(topic, partition, offset, now)
            pc._stream = token
            self._pcs[token] = pc
            return token

        try:
            yield from call(self._loop, start, timeout,  # type: ignore[arg-type]
                            f"consume_partition({topic!r}, {partition})")
        except BaseException:
            self._close_partition(pc)
            raise
        return pc

    # -- user operations -------------------------------------------------------------------

    def high_water_marks(self) -> dict[str, dict[int, int]]:
        """``{topic: {partition: high water mark}}`` of every partition consumer."""
        return dict(self._run(lambda cc, now: cc.high_water_marks()))

    def pause(self, partitions: TopicPartitions) -> None:
        """Stop fetching ``{topic: [partition, ...]}`` (or ``(topic, partition)`` pairs)."""
        self._run(lambda cc, now: cc.pause(partitions, now))

    def resume(self, partitions: TopicPartitions) -> None:
        self._run(lambda cc, now: cc.resume(partitions, now))

    def pause_all(self) -> None:
        self._run(lambda cc, now: cc.pause_all(now))

    def resume_all(self) -> None:
        self._run(lambda cc, now: cc.resume_all(now))


# -- asyncio and trio --------------------------------------------------------------------


class MessageStream:
    """A partition consumer's messages: ``async for m in pc.messages`` or ``await get()``."""

    def __init__(self, owner: PartitionConsumerBase) -> None:
        self._pc = owner

    async def get(self, timeout: float | None = None) -> ConsumerMessage:
        """The next message. Raises ClientTimeoutError after ``timeout``, ClosedError once
        the partition consumer is closed, and the partition's error once it stopped on one
        and every message before it was read."""
        pc = self._pc
        msg = pc._take()
        if msg is not None:
            return msg
        loop: AsyncLoop = pc._loop
        return await loop.drive(pc._next_message(timeout))

    def get_nowait(self) -> ConsumerMessage:
        """The next message; IndexError when none is buffered."""
        msg = self._pc._take()
        if msg is None:
            raise IndexError("no message buffered")
        return msg

    def __len__(self) -> int:
        """Messages delivered and not read yet."""
        return len(self._pc._buf)

    def __aiter__(self) -> MessageStream:
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


class ErrorStream(AsyncIterates[ConsumerError]):
    """A partition's errors (``ConsumerError`` values) of a partition consumer or offset
    manager; ends when it is closed or after the error that stopped it."""

    def __init__(self, owner: PartitionErrors) -> None:
        self._pc = owner

    async def get(self, timeout: float | None = None) -> ConsumerError:
        loop: AsyncLoop = self._pc._loop
        return await loop.drive(self._pc._next_error(timeout))

    def __len__(self) -> int:
        return len(self._pc._errors)


class AsyncPartitionConsumer(PartitionConsumerBase):
    """The awaited partition consumer of asyncio and trio."""

    _message_stream: Callable[[Any], Any] = MessageStream
    _error_stream: Callable[[Any], Any] = ErrorStream

    async def close(self) -> None:
        """Stop consuming; both streams end."""
        self._consumer._close_partition(self)

    async def __aenter__(self: S) -> S:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class AsyncConsumer(EntersClient, ConsumerBase[AsyncLoop, P]):
    """The Consumer's awaited operations, shared by the asyncio and trio adapters."""

    async def topics(self) -> list[str]:
        """Every topic in the cluster, sorted."""
        return await self._loop.drive(self._topics())

    async def partitions(self, topic: str) -> list[int]:
        """The partition ids of ``topic``."""
        return await self._loop.drive(self._partitions(topic))

    async def consume_partition(self, topic: str, partition: int, offset: int) -> P:
        """Consume ``topic[partition]`` from ``offset`` (a literal offset, OFFSET_NEWEST or
        OFFSET_OLDEST); returns once the start position is known."""
        return await self._loop.drive(self._consume_partition(topic, partition, offset))

    async def close(self) -> None:
        """Close every partition consumer, then the consumer (and its own connections)."""
        if self._shut():
            await self._client.close()
