"""Blocking producers over the engine's IO thread: SyncProducer and AsyncProducer.

Both drive a :class:`kproto.producer.ProducerCore` under the engine lock. The IO thread
delivers the core's events to ``_on_event``: a SyncProducer settles the future of each
record, an AsyncProducer puts the messages on its ``successes`` and ``errors`` streams.
Every blocking call takes a timeout and raises :class:`kproto.errors.ClientTimeoutError`.
"""

from __future__ import annotations

import concurrent.futures
import random
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future
from typing import Any, Generic, TypeVar

from kproto.config import Config, from_options
from kproto.errors import ClientTimeoutError, ClosedError, ConfigurationError, ObjectClosedError
from kproto.events import Event
from kproto.group.metadata import ConsumerGroupMetadata
from kproto.lifetime import warn_dropped
from kproto.messages import ConsumerMessage, ProducerMessage
from kproto.producer import (
    BufferFullError,
    BufferSpaceAvailable,
    ProducerCore,
    ProducerError,
    ProducerErrors,
    RecordsDelivered,
    RecordsFailed,
    ResultBuffer,
    TxnStatus,
)
from kproto_threads.client import Client

__all__ = ["AsyncProducer", "ResultStream", "SyncProducer"]

T = TypeVar("T")


class ResultStream(Generic[T]):
    """A bounded stream of results: iterate it (blocking), or ``get(timeout)``.

    When nobody reads and it is full, the oldest entry is dropped and counted in
    ``dropped``; iteration ends once the producer is closed and the stream drained.
    """

    def __init__(self, capacity: int) -> None:
        self._buf: ResultBuffer[T] = ResultBuffer(capacity)
        self._cond = threading.Condition(threading.Lock())

    @property
    def dropped(self) -> int:
        return self._buf.dropped

    def _push(self, item: T) -> None:
        with self._cond:
            self._buf.push(item)
            self._cond.notify()

    def _close(self) -> None:
        with self._cond:
            self._buf.close()
            self._cond.notify_all()

    def get(self, timeout: float | None = None) -> T:
        """The next result; ClientTimeoutError after ``timeout``, ClosedError at the end."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not len(self._buf):
                if self._buf.closed:
                    raise ClosedError("the producer is closed and its stream is drained")
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise ClientTimeoutError(f"no result within {timeout:g}s")
                self._cond.wait(remaining)
            return self._buf.pop()

    def __len__(self) -> int:
        return len(self._buf)

    def __iter__(self) -> Iterator[T]:
        return self

    def __next__(self) -> T:
        try:
            return self.get()
        except ClosedError:
            raise StopIteration from None


class _Producer:
    """What both producers share: construction, sending with backpressure, flush, close
    and transactions."""

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
        self._lock = self._loop.lock
        self._space = threading.Condition(self._lock)
        self._closed = False
        self._close_future: Future[Any] | None = None
        self._core: ProducerCore = self._loop.run(lambda core, now: ProducerCore(core, self.config))
        self._loop.add_handler(self._on_event)

    def __del__(self) -> None:
        """Dropped without close: say what is lost (records, the client's connections)."""
        core = self.__dict__.get("_core")
        if self.__dict__.get("_closed", True) or core is None:
            return
        loop = self._client._loop if self._owns_client else None
        warn_dropped(self, loop, core)

    # -- events (IO thread, engine lock held) ---------------------------------------------

    def _on_event(self, event: Event) -> bool:
        if isinstance(event, (RecordsDelivered, RecordsFailed)):
            if event.producer != self._core.ident:
                return False
            self._settled(event)
            return True
        if isinstance(event, BufferSpaceAvailable) and event.producer == self._core.ident:
            self._space.notify_all()
            return True
        return False

    def _settled(self, event: RecordsDelivered | RecordsFailed) -> None:
        raise NotImplementedError

    # -- sending --------------------------------------------------------------------------

    def _enqueue(self, msg: ProducerMessage, timeout: float | None) -> Any:
        wait = self.config.max_block if timeout is None else timeout
        deadline = time.monotonic() + wait
        core = self._core
        with self._lock:
            while True:
                if self._closed:
                    raise ObjectClosedError("the producer is closed")
                before = core.activity
                try:
                    token = core.send(msg, time.monotonic(), int(time.time() * 1000))
                    break
                except BufferFullError:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise
                    self._loop.wake()
                    self._space.wait(remaining)
            waiter = self._registered(token)
            busy = core.activity != before
        if busy:
            self._loop.wake()  # a batch filled or a timer moved: the IO thread has work
        return waiter

    def _registered(self, token: int) -> Any:
        return None

    def _wait(self, fut: Future[Any], timeout: float | None, what: str) -> Any:
        limit = timeout if timeout is not None else self._default_wait()
        try:
            return fut.result(limit)
        except concurrent.futures.TimeoutError:
            raise ClientTimeoutError(f"{what} did not complete within {limit:g}s") from None

    def _default_wait(self) -> float:
        cfg = self.config
        return cfg.delivery_timeout + cfg.request_timeout + cfg.produce_timeout + 5.0

    def _call(self, fn: Any, timeout: float | None, what: str) -> Any:
        fut = self._loop.call(fn)
        return self._wait(fut, timeout, what)

    def flush(self, timeout: float | None = None) -> None:
        """Send everything queued now and wait until each record is settled."""
        self._call(lambda core, now: self._core.flush(now), timeout, "flush")

    def close(self, timeout: float | None = None, *, drop: bool = False) -> None:
        """Deliver what is queued (or, with ``drop``, fail it), then release the producer.
        Closing twice is fine; a close that takes longer than ``timeout`` drops the rest."""
        with self._lock:
            fut = self._close_future
            if fut is None:
                self._closed = True
                self._space.notify_all()
                fut = self._close_future = self._loop.call(
                    lambda core, now: self._core.close(now, drop))
        try:
            fut.result(timeout if timeout is not None else self._default_wait())
        except concurrent.futures.TimeoutError:
            self._loop.run(lambda core, now: self._core.close(now, drop=True))
        except ClosedError:
            pass
        finally:
            self._finished()
            self._loop.remove_handler(self._on_event)
            if self._owns_client:
                self._client.close()

    def async_close(self) -> None:
        """Close at once, failing whatever was not delivered yet (sarama's AsyncClose)."""
        self.close(drop=True)

    def _finished(self) -> None:
        pass

    def metrics(self) -> dict[str, Any]:
        return self._loop.run(lambda core, now: self._core.metrics())  # type: ignore[no-any-return]

    def __enter__(self: Any) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transactions ---------------------------------------------------------------------

    def is_transactional(self) -> bool:
        return self._core.is_transactional()

    def txn_status(self) -> TxnStatus:
        with self._lock:
            return self._core.txn_status()

    def _txn_wait(self) -> float:
        return self.config.max_block + 5.0

    def init_transactions(self, timeout: float | None = None) -> None:
        """Get the producer id from the transaction coordinator (begin_txn does it too)."""
        self._call(lambda core, now: self._core.init_transactions(now),
                   timeout or self._txn_wait(), "init_transactions")

    def begin_txn(self, timeout: float | None = None) -> None:
        self._call(lambda core, now: self._core.begin_transaction(now),
                   timeout or self._txn_wait(), "begin_txn")

    def commit_txn(self, timeout: float | None = None) -> None:
        """Flush, then commit; raises the transaction's error if a record failed."""
        self._call(lambda core, now: self._core.commit_transaction(now),
                   timeout or self._default_wait(), "commit_txn")

    def abort_txn(self, timeout: float | None = None) -> None:
        self._call(lambda core, now: self._core.abort_transaction(now),
                   timeout or self._default_wait(), "abort_txn")

    def add_offsets_to_txn(self, offsets: Mapping[Any, Any],
                           group_id: str | ConsumerGroupMetadata,
                           timeout: float | None = None) -> None:
        """Commit consumer offsets inside the transaction; ``group_id`` is the group's id
        or, so that a member a rebalance fenced cannot commit, ``session.group_metadata()``."""
        self._call(lambda core, now: self._core.add_offsets_to_txn(offsets, group_id, now),
                   timeout or self._txn_wait(), "add_offsets_to_txn")

    def add_message_to_txn(self, message: ConsumerMessage,
                           group_id: str | ConsumerGroupMetadata,
                           metadata: str | None = None, timeout: float | None = None) -> None:
        """Commit ``message``'s offset + 1 inside the transaction; ``group_id`` as for
        ``add_offsets_to_txn``."""
        self._call(lambda core, now: self._core.add_message_to_txn(
            message, group_id, metadata, now), timeout or self._txn_wait(), "add_message_to_txn")


class SyncProducer(_Producer):
    """Sends one message (or a list) and waits for the broker's answer (sarama's
    SyncProducer). ``SyncProducer("host:9092", acks=-1)`` or ``SyncProducer(client=c)``."""

    def __init__(self, bootstrap: str | list[str] | None = None, config: Config | None = None,
                 *, client: Client | None = None, rng: random.Random | None = None,
                 **options: Any) -> None:
        self._futures: dict[int, Future[tuple[int, int]]] = {}
        super().__init__(bootstrap, config, client=client, rng=rng, **options)

    def _registered(self, token: int) -> Future[tuple[int, int]]:
        fut: Future[tuple[int, int]] = Future()
        self._futures[token] = fut
        return fut

    def _settled(self, event: RecordsDelivered | RecordsFailed) -> None:
        futures = self._futures
        if isinstance(event, RecordsDelivered):
            for token, msg in zip(event.tokens, event.messages, strict=True):
                fut = futures.pop(token, None)
                if fut is not None:
                    fut.set_result((msg.partition if msg.partition is not None else -1,
                                    msg.offset))
        else:
            for token in event.tokens:
                fut = futures.pop(token, None)
                if fut is not None:
                    fut.set_exception(event.error)

    def send_message(self, msg: ProducerMessage,
                     timeout: float | None = None) -> tuple[int, int]:
        """Send and wait: returns (partition, offset); raises the record's error."""
        fut = self._enqueue(msg, timeout)
        return self._wait(fut, timeout, "send_message")  # type: ignore[no-any-return]

    def send_messages(self, msgs: Iterable[ProducerMessage],
                      timeout: float | None = None) -> None:
        """Send all, wait for all; raises ProducerErrors listing every failed message."""
        pending = []
        for msg in msgs:
            pending.append((msg, self._enqueue(msg, timeout)))
        errors = []
        limit = timeout if timeout is not None else self._default_wait()
        deadline = time.monotonic() + limit
        for msg, fut in pending:
            try:
                fut.result(max(0.0, deadline - time.monotonic()))
            except concurrent.futures.TimeoutError:
                errors.append(ProducerError(msg, ClientTimeoutError(
                    f"not settled within {limit:g}s")))
            except Exception as exc:
                errors.append(ProducerError(msg, exc))
        if errors:
            raise ProducerErrors(errors)

    def _finished(self) -> None:
        with self._lock:
            futures, self._futures = self._futures, {}
        for fut in futures.values():
            if not fut.done():
                fut.set_exception(ClosedError("the producer was closed"))


class AsyncProducer(_Producer):
    """Queues messages without waiting for the broker (sarama's AsyncProducer): results
    arrive on ``successes`` and ``errors`` (bounded; see ``result_stream_capacity``).
    ``send`` blocks only while ``buffer_memory`` is full (up to ``max_block``)."""

    def __init__(self, bootstrap: str | list[str] | None = None, config: Config | None = None,
                 *, client: Client | None = None, rng: random.Random | None = None,
                 **options: Any) -> None:
        super().__init__(bootstrap, config, client=client, rng=rng, **options)
        capacity = self.config.result_stream_capacity
        self.successes: ResultStream[ProducerMessage] = ResultStream(capacity)
        self.errors: ResultStream[ProducerError] = ResultStream(capacity)

    def _settled(self, event: RecordsDelivered | RecordsFailed) -> None:
        if isinstance(event, RecordsDelivered):
            if self.config.return_successes:
                for msg in event.messages:
                    self.successes._push(msg)
        elif self.config.return_errors:
            for msg in event.messages:
                self.errors._push(ProducerError(msg, event.error))

    def send(self, msg: ProducerMessage, timeout: float | None = None) -> None:
        """Queue a message; its result goes to ``successes`` or ``errors``."""
        self._enqueue(msg, timeout)

    def send_nowait(self, msg: ProducerMessage) -> None:
        """Queue a message, or raise BufferFullError at once when the buffer is full."""
        self._enqueue(msg, 0.0)

    def _finished(self) -> None:
        self.successes._close()
        self.errors._close()
