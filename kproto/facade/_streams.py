"""The iteration protocols every stream shares: ``for`` / ``async for`` over ``get()``,
ending when the stream is closed and drained (``get`` raises ClosedError); the error
queue of one partition, which a partition consumer and a partition offset manager share;
and the batch iterators of partition consumers and claims (``batches()``), over a
:class:`BatchSource`."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

from kproto.consumer.events import ConsumerError
from kproto.errors import ClientTimeoutError, ClosedError
from kproto.facade._wait import Op, Park, Signal
from kproto.message_types import ConsumerMessage

T = TypeVar("T")


class PartitionErrors:
    """One partition's errors (``ConsumerError`` values), read by the adapter's error stream
    through ``_next_error``; the stream ends once the owner is closed, or stopped by
    ``_fatal``, and drained. Filled and closed inside the engine, which fires ``_signal``."""

    topic: str
    partition: int

    def __init__(self) -> None:
        self._errors: deque[ConsumerError] = deque()
        self._fatal: BaseException | None = None
        self._closed = False
        self._signal = Signal()

    @property
    def _loop(self) -> Any:
        raise NotImplementedError

    def close(self) -> Any:
        raise NotImplementedError

    def _take_error(self) -> ConsumerError | None:
        if self._errors:
            return self._errors.popleft()
        if self._closed or self._fatal is not None:
            raise ClosedError(f"{self.topic}[{self.partition}]: no more errors")
        return None

    def _next_error(self, timeout: float | None) -> Op[ConsumerError]:
        return self._poll(self._take_error, timeout, "no error")

    def _poll(self, take: Callable[[], T | None], timeout: float | None, what: str) -> Op[T]:
        """``take()`` until it gives something, parked on the signal in between."""
        loop = self._loop
        deadline = None if timeout is None else loop.now() + timeout
        while (got := take()) is None:
            if deadline is not None and loop.now() >= deadline:
                raise ClientTimeoutError(
                    f"{self.topic}[{self.partition}]: {what} within {timeout:g}s")
            yield Park((self._signal,), deadline)
        return got


class Iterates(Generic[T]):
    """Blocking iteration (threads)."""

    def get(self) -> T:
        raise NotImplementedError

    def __iter__(self) -> Iterates[T]:
        return self

    def __next__(self) -> T:
        try:
            return self.get()
        except ClosedError:
            raise StopIteration from None


class AsyncIterates(Generic[T]):
    """Awaited iteration (asyncio, trio)."""

    async def get(self) -> T:
        raise NotImplementedError

    def __aiter__(self) -> AsyncIterates[T]:
        return self

    async def __anext__(self) -> T:
        try:
            return await self.get()
        except ClosedError:
            raise StopAsyncIteration from None


Batch = tuple[ConsumerMessage, ...]


class BatchSource(Protocol):
    """A partition's messages read a fetched chunk at a time: ``_take_batch()`` gives the
    rest of a chunk (its buffer space released) or None when none is buffered, and raises
    ClosedError at the end (the partition's error after the messages before it);
    ``_next_batch(timeout)`` parks until one is."""

    @property
    def _loop(self) -> Any: ...

    def _take_batch(self) -> Batch | None: ...

    def _next_batch(self, timeout: float | None) -> Op[Batch]: ...


class AsyncBatches:
    """``async for batch in pc.batches()``: each batch a tuple of the messages of one
    fetched chunk (or what is left of it), in offset order; no per-message await. Ends
    when the partition consumer or claim is closed (or reached its end with
    ``stop_at_end``); a partition's error is raised after the messages before it."""

    def __init__(self, source: BatchSource) -> None:
        self._source = source

    async def get(self, timeout: float | None = None) -> Batch:
        """The next batch; ClientTimeoutError after ``timeout``, ClosedError at the end."""
        source = self._source
        got = source._take_batch()
        if got is not None:
            return got
        return await source._loop.drive(source._next_batch(timeout))  # type: ignore[no-any-return]

    def __aiter__(self) -> AsyncBatches:
        return self

    async def __anext__(self) -> Batch:
        try:
            return await self.get()
        except ClosedError:
            raise StopAsyncIteration from None


class BlockingBatches:
    """``for batch in pc.batches(timeout)`` (threads): as :class:`AsyncBatches`, each wait
    bounded by ``timeout`` (ClientTimeoutError). ``lock`` keeps one reader at a time."""

    def __init__(self, source: BatchSource, timeout: float | None, lock: Any) -> None:
        self._source = source
        self._timeout = timeout
        self._lock = lock

    def get(self, timeout: float | None = None) -> Batch:
        """The next batch; ClientTimeoutError after ``timeout``, ClosedError at the end."""
        with self._lock:
            source = self._source
            got = source._take_batch()
            if got is not None:
                return got
            return source._loop.drive(source._next_batch(timeout))  # type: ignore[no-any-return]

    def __iter__(self) -> BlockingBatches:
        return self

    def __next__(self) -> Batch:
        try:
            return self.get(self._timeout)
        except ClosedError:
            raise StopIteration from None
