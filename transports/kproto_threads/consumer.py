"""The blocking Consumer: partition consumers fed by the engine's IO thread.

A :class:`kproto.consumer.ConsumerCore` runs under the engine lock. The IO thread hands its
``RecordsFetched`` / ``FetchError`` events to ``Consumer._on_event``, which appends them to
the partition consumer's streams; a reader blocks on the stream's condition. When a reader
has taken every message of a fetched chunk, the chunk's bytes are released to the core,
which is what lets a partition whose buffer was full be fetched again.
"""

from __future__ import annotations

import concurrent.futures
import random
import threading
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future
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
from kproto_threads.client import Client

__all__ = ["Consumer", "ErrorStream", "MessageStream", "PartitionConsumer"]


class MessageStream:
    """A partition consumer's messages: iterate (blocking) or ``get(timeout)``."""

    def __init__(self, owner: PartitionConsumer) -> None:
        self._pc = owner

    def get(self, timeout: float | None = None) -> ConsumerMessage:
        """The next message. Raises ClientTimeoutError after ``timeout``, ClosedError once
        the partition consumer is closed, and the partition's error once it stopped on one
        and every message before it was read."""
        return self._pc._next_message(timeout)

    def __iter__(self) -> Iterator[ConsumerMessage]:
        return self

    def __next__(self) -> ConsumerMessage:
        pc = self._pc
        with pc._rlock:
            buf = pc._buf
            cur = buf.cur
            i = buf.idx
            if i + 1 < len(cur):  # not the last of its chunk: nothing to release
                buf.idx = i + 1
                return cur[i]
        try:
            return pc._next_message(None)
        except ClosedError:
            raise StopIteration from None

    def __len__(self) -> int:
        """Messages delivered and not read yet."""
        return len(self._pc._buf)


class ErrorStream:
    """A partition consumer's errors (``ConsumerError`` values); ends when it is closed or
    after the error that stopped it."""

    def __init__(self, owner: PartitionConsumer) -> None:
        self._pc = owner

    def get(self, timeout: float | None = None) -> ConsumerError:
        return self._pc._next_error(timeout)

    def __iter__(self) -> Iterator[ConsumerError]:
        return self

    def __next__(self) -> ConsumerError:
        try:
            return self._pc._next_error(None)
        except ClosedError:
            raise StopIteration from None


class PartitionConsumer:
    """Messages of one partition, from the offset given to ``consume_partition``."""

    def __init__(self, consumer: Consumer, topic: str, partition: int) -> None:
        self.topic = topic
        self.partition = partition
        self._consumer = consumer
        self._stream = -1
        self._cond = threading.Condition(threading.Lock())
        self._rlock = threading.Lock()
        self._buf = MessageBuffer()
        self._errors: deque[ConsumerError] = deque()
        self._fatal: BaseException | None = None
        self._closed = False
        self._hwm = -1
        self.messages = MessageStream(self)
        self.errors = ErrorStream(self)

    def __repr__(self) -> str:
        state = "closed" if self._closed else "stopped" if self._fatal else "open"
        return f"<PartitionConsumer {self.topic}[{self.partition}] {state}>"

    # -- fed by the IO thread (engine lock held) -------------------------------------------

    def _deliver(self, event: RecordsFetched) -> None:
        with self._cond:
            self._hwm = event.high_watermark
            if not self._closed:
                self._buf.push(event.messages, event.size)
                self._cond.notify_all()

    def _fail(self, event: FetchError) -> None:
        with self._cond:
            self._errors.append(ConsumerError(event.topic, event.partition, event.error))
            if event.stopped:
                self._fatal = event.error
            self._cond.notify_all()

    def _end(self) -> None:
        with self._cond:
            self._closed = True
            self._buf.clear()
            self._cond.notify_all()

    # -- readers ---------------------------------------------------------------------------

    def _next_message(self, timeout: float | None) -> ConsumerMessage:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._rlock, self._cond:
            while True:
                got = self._buf.take()
                if got is not None:
                    msg, release = got
                    break
                if self._closed:
                    raise ClosedError(f"{self.topic}[{self.partition}]: the partition "
                                      f"consumer is closed")
                if self._fatal is not None:
                    raise self._fatal
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise ClientTimeoutError(
                        f"{self.topic}[{self.partition}]: no message within {timeout:g}s")
                self._cond.wait(remaining)
        if release:
            self._consumer._release(self._stream, release)
        return msg

    def _next_error(self, timeout: float | None) -> ConsumerError:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._errors:
                if self._closed or self._fatal is not None:
                    raise ClosedError(f"{self.topic}[{self.partition}]: no more errors")
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise ClientTimeoutError(
                        f"{self.topic}[{self.partition}]: no error within {timeout:g}s")
                self._cond.wait(remaining)
            return self._errors.popleft()

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

    def close(self) -> None:
        """Stop consuming; both streams end."""
        self._consumer._close_partition(self)

    def __enter__(self) -> PartitionConsumer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Consumer:
    """Consumes partitions of a cluster (sarama's Consumer), with blocking calls.

    ``Consumer("host:9092", config=Config(...))``, the same options as keywords, or
    ``Consumer(client=client)`` to share an existing client's connections.
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
        self._loop = self._client._loop
        self._pcs: dict[int, PartitionConsumer] = {}
        self._closed = False
        self._core: ConsumerCore = self._loop.run(
            lambda core, now: ConsumerCore(core, self.config))
        self._loop.add_handler(self._on_event)

    def __del__(self) -> None:
        """Dropped without close: say which connections of its own client are left open."""
        if self.__dict__.get("_closed", True) or not self.__dict__.get("_owns_client"):
            return
        loop = self._client._loop
        warn_dropped(self, loop)

    # -- events (IO thread, engine lock held) ----------------------------------------------

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
        return self._loop.run(lambda core, now: fn(self._core, now))

    def _release(self, stream: int, size: int) -> None:
        self._loop.run(lambda core, now: self._core.fetcher.release(stream, size, now))

    def _high_water_mark(self, pc: PartitionConsumer) -> int:
        def read(cc: ConsumerCore, now: float) -> int:
            if pc._stream in cc.fetcher.streams():
                pc._hwm = cc.fetcher.high_water_mark(pc._stream)
            return pc._hwm
        return int(self._run(read))

    def _wait(self, fut: Future[Any], timeout: float | None, what: str) -> Any:
        cfg = self.config
        limit = timeout if timeout is not None else (
            cfg.request_timeout + cfg.connect_timeout + cfg.fetch_max_wait + 5.0)
        try:
            return fut.result(limit)
        except concurrent.futures.TimeoutError:
            raise ClientTimeoutError(f"{what} did not complete within {limit:g}s") from None

    def _check_open(self) -> None:
        if self._closed:
            raise ObjectClosedError("the consumer is closed")

    # -- user operations -------------------------------------------------------------------

    def topics(self, timeout: float | None = None) -> list[str]:
        """Every topic in the cluster, sorted."""
        self._check_open()
        fut = self._loop.call(lambda core, now: self._core.topics(now))
        return list(self._wait(fut, timeout, "topics()"))

    def partitions(self, topic: str, timeout: float | None = None) -> list[int]:
        """The partition ids of ``topic``."""
        self._check_open()
        fut = self._loop.call(lambda core, now: self._core.partitions(topic, now))
        return list(self._wait(fut, timeout, f"partitions({topic!r})"))

    def consume_partition(self, topic: str, partition: int, offset: int,
                          timeout: float | None = None) -> PartitionConsumer:
        """Consume ``topic[partition]`` from ``offset`` (a literal offset, OFFSET_NEWEST or
        OFFSET_OLDEST); returns once the start position is known."""
        self._check_open()
        pc = PartitionConsumer(self, topic, partition)

        def start(core: Any, now: float) -> int:
            token = self._core.consume_partition(topic, partition, offset, now)
            pc._stream = token
            self._pcs[token] = pc
            return token

        fut = self._loop.call(start)
        try:
            self._wait(fut, timeout, f"consume_partition({topic!r}, {partition})")
        except BaseException:
            self._close_partition(pc)
            raise
        return pc

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

    def _close_partition(self, pc: PartitionConsumer) -> None:
        def close(cc: ConsumerCore, now: float) -> None:
            if pc._stream in cc.fetcher.streams():
                pc._hwm = cc.fetcher.high_water_mark(pc._stream)
            cc.close_partition(pc._stream, now)
            self._pcs.pop(pc._stream, None)

        if not self._loop.alive:
            pc._end()
            return
        self._run(close)
        pc._end()

    def close(self) -> None:
        """Close every partition consumer, then the consumer (and its own connections)."""
        if self._closed:
            return
        self._closed = True

        def close(cc: ConsumerCore, now: float) -> list[PartitionConsumer]:
            cc.close(now)
            pcs = list(self._pcs.values())
            self._pcs.clear()
            return pcs

        pcs = self._run(close) if self._loop.alive else list(self._pcs.values())
        for pc in pcs:
            pc._end()
        self._loop.remove_handler(self._on_event)
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> Consumer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
