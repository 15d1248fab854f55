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
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from kproto.config import Config
from kproto.consumer import (
    ConsumerCore,
    ConsumerError,
    FetchError,
    MessageBuffer,
    RecordsFetched,
    TopicPartitions,
)
from kproto.consumer.lookup import check_targets, list_offsets
from kproto.errors import ClosedError, ObjectClosedError
from kproto.facade._feature import EntersClient, Feature, L
from kproto.facade._streams import AsyncBatches, AsyncIterates, PartitionErrors
from kproto.facade._wait import AsyncLoop, Op, call
from kproto.facade.positioning import AsyncPositioned, Positioned
from kproto.message_types import OFFSET_NEWEST, OFFSET_OLDEST, ConsumerMessage

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from kproto.options import Options


T = TypeVar("T")
P = TypeVar("P", bound="PartitionConsumerBase")
S = TypeVar("S")
C = TypeVar("C", bound="ConsumerBase[Any, Any]")


class PartitionConsumerBase(Positioned, PartitionErrors):
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
        self._end_at = -1
        """With ``stop_at_end``: the end offset when it started; iteration ends there."""
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
        if event.seeks < self._seeks:
            return  # fetched before the latest seek
        if not self._closed:
            messages = event.messages
            end = self._end_at
            if end >= 0 and messages and messages[-1].offset >= end:
                # Past the end it was asked to stop at: the reader ends there (what was
                # left out is released when the partition consumer closes).
                messages = tuple(m for m in messages if m.offset < end)
            self._buf.push(messages, event.size)
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
        self._nothing_buffered()
        return None

    def _nothing_buffered(self) -> None:
        """Nothing is buffered: ClosedError once closed, the stopping error, or ClosedError
        at the end with ``stop_at_end``; else it returns (the reader waits)."""
        if self._closed:
            raise ClosedError(f"{self.topic}[{self.partition}]: the partition consumer is closed")
        if self._fatal is not None:
            raise self._fatal
        if self._end_at >= 0 and self._consumer._run(
                lambda cc, now: self._reached_end(cc)):
            self._consumer._close_partition(self)
            raise ClosedError(f"{self.topic}[{self.partition}]: read to offset {self._end_at}, "
                              f"the end when it started (stop_at_end)")
        return None

    def _take_batch(self) -> tuple[ConsumerMessage, ...] | None:
        """As ``_take``, a fetched chunk (or what is left of it) at a time."""
        got = self._buf.take_chunk()
        if got is not None:
            messages, release = got
            self._consumer._release(self._stream, release)
            return messages
        self._nothing_buffered()
        return None

    def _next_batch(self, timeout: float | None) -> Op[tuple[ConsumerMessage, ...]]:
        return self._poll(self._take_batch, timeout, "no message")

    def _reached_end(self, cc: ConsumerCore) -> bool:
        if self._stream not in cc.fetcher.streams():
            return False
        position = cc.fetcher.position(self._stream)
        return position is not None and position >= self._end_at

    # -- positioning (kproto.facade.positioning) ---------------------------------------------

    def _pos_config(self) -> Any:
        return self._consumer.config

    def _pos_fetcher(self) -> Any:
        return self._consumer._core.fetcher

    def _pos_stream(self) -> int:
        return self._stream

    def _pos_queries(self, engine: Any) -> Any:
        return self._consumer._client._queries(engine)

    def _pos_open(self) -> None:
        if self._closed or self._consumer._closed:
            raise ObjectClosedError(
                f"{self.topic}[{self.partition}]: the partition consumer is closed")

    def _next_buffered(self) -> int | None:
        buf = self._buf
        if buf.idx < len(buf.cur):
            return buf.cur[buf.idx].offset
        return buf.chunks[0][0][0].offset if buf.chunks else None

    def _discard(self) -> None:
        self._buf.clear()

    def _start_committed(self, engine: Any, now: float) -> int:
        return self._consumer._core.committed(self.topic, self.partition, now)

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
                 **options: Unpack[Options]) -> None:
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
                           timeout: float | None = None, stop_at_end: bool = False) -> Op[P]:
        self._check_open()
        if not isinstance(stop_at_end, bool):
            raise TypeError(f"stop_at_end must be a bool, not {stop_at_end!r}")
        cc = self._core
        pc = self._partition_class(self, topic, partition)
        if stop_at_end:  # the end now, before the first fetch can deliver past it
            found = yield from self._list_offsets({(topic, partition): OFFSET_NEWEST}, timeout,
                                                  f"the end of {topic}[{partition}]")
            pc._end_at = max(0, found[(topic, partition)][0])

        def start(core: Any, now: float) -> int:
            token = cc.consume_partition(topic, partition, offset, now)
            pc._stream = token
            self._pcs[token] = pc
            if stop_at_end and token in cc.fetcher.streams():
                cc.fetcher.report_moves(token)  # wake the reader when markers end it
            return token

        try:
            yield from call(self._loop, start, timeout,  # type: ignore[arg-type]
                            f"consume_partition({topic!r}, {partition})")
        except BaseException:
            self._close_partition(pc)
            raise
        return pc

    def _list_offsets(self, targets: dict[tuple[str, int], int], timeout: float | None,
                      what: str) -> Op[dict[tuple[str, int], tuple[int, int]]]:
        """ListOffsets for ``targets``, one request per leader (kproto.consumer.lookup)."""
        self._check_open()
        wanted = check_targets(targets)
        found = yield from call(
            self._loop,  # type: ignore[arg-type]
            lambda engine, now: list_offsets(self._client._queries(engine), wanted, now),
            timeout, what)
        return dict(found)

    def _offsets_for_times(self, times: Mapping[tuple[str, int], int],
                           timeout: float | None = None
                           ) -> Op[dict[tuple[str, int], tuple[int, int] | None]]:
        wanted = check_targets(times)
        for tp, ms in wanted.items():
            if ms < 0:
                raise ValueError(f"times[{tp!r}] must be a timestamp in ms >= 0, not {ms}")
        found = yield from self._list_offsets(wanted, timeout, "offsets_for_times()")
        return {tp: (None if found[tp][0] < 0 else found[tp]) for tp in wanted}

    def _ends(self, partitions: Iterable[tuple[str, int]], which: int,
              timeout: float | None = None) -> Op[dict[tuple[str, int], int]]:
        if isinstance(partitions, (str, bytes, Mapping)):
            raise TypeError(f"partitions must be (topic, partition) pairs, not "
                            f"{type(partitions).__name__}")
        wanted = {tuple(tp): which for tp in partitions}
        what = "beginning_offsets()" if which == OFFSET_OLDEST else "end_offsets()"
        found = yield from self._list_offsets(wanted, timeout, what)  # type: ignore[arg-type]
        return {tp: offset for tp, (offset, _) in found.items()}

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


class AsyncPartitionConsumer(PartitionConsumerBase, AsyncPositioned):
    """The awaited partition consumer of asyncio and trio."""

    _message_stream: Callable[[Any], Any] = MessageStream
    _error_stream: Callable[[Any], Any] = ErrorStream
    _batches: Callable[[Any], AsyncBatches] = AsyncBatches

    def batches(self) -> AsyncBatches:
        """``async for batch in pc.batches()``: the messages a fetched chunk at a time
        (a tuple each, in offset order), without an await per message; ends as
        ``messages`` does. Read one of ``messages`` and ``batches()`` at a time."""
        return self._batches(self)

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

    async def consume_partition(self, topic: str, partition: int, offset: int, *,
                                stop_at_end: bool = False) -> P:
        """Consume ``topic[partition]`` from ``offset`` (a literal offset, OFFSET_NEWEST or
        OFFSET_OLDEST); returns once the start position is known. With ``stop_at_end`` the
        iteration ends (cleanly) after the last message below the end offset the partition
        had when this was called (``kcat -e``)."""
        return await self._loop.drive(self._consume_partition(topic, partition, offset,
                                                              stop_at_end=stop_at_end))

    async def offsets_for_times(self, times: Mapping[tuple[str, int], int]
                                ) -> dict[tuple[str, int], tuple[int, int] | None]:
        """``{(topic, partition): ms}`` -> the (offset, timestamp) of each partition's first
        message at or after ``ms``, None when no message is that new."""
        return await self._loop.drive(self._offsets_for_times(times))

    async def beginning_offsets(self, partitions: Iterable[tuple[str, int]]
                                ) -> dict[tuple[str, int], int]:
        """The oldest offset of each (topic, partition)."""
        return await self._loop.drive(self._ends(partitions, OFFSET_OLDEST))

    async def end_offsets(self, partitions: Iterable[tuple[str, int]]
                          ) -> dict[tuple[str, int], int]:
        """The end offset (the next one to be written; the last stable offset with
        read_committed) of each (topic, partition)."""
        return await self._loop.drive(self._ends(partitions, OFFSET_NEWEST))

    async def close(self) -> None:
        """Close every partition consumer, then the consumer (and its own connections)."""
        if self._shut():
            await self._client.close()
