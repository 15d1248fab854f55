"""asyncio producers: SyncProducer and AsyncProducer, awaited.

Both drive a :class:`kproto.producer.ProducerCore` on the event loop's thread; the engine
delivers the core's events to ``_on_event``, which settles a SyncProducer's futures or feeds
an AsyncProducer's ``successes`` and ``errors`` async iterators. Cancelling an awaiting call
stops the wait; the record itself stays in the producer (its result still arrives).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterable, Mapping
from typing import Any, Generic, TypeVar

from kproto.config import Config, from_options
from kproto.errors import ClosedError, ConfigurationError, ObjectClosedError
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
from kproto_asyncio.client import Client

__all__ = ["AsyncProducer", "ResultStream", "SyncProducer"]

T = TypeVar("T")


class ResultStream(Generic[T]):
    """A bounded async stream of results: ``async for`` it, or ``await get()``.

    When nobody reads and it is full, the oldest entry is dropped and counted in
    ``dropped``; iteration ends once the producer is closed and the stream drained.
    """

    def __init__(self, capacity: int) -> None:
        self._buf: ResultBuffer[T] = ResultBuffer(capacity)
        self._waiters: list[asyncio.Future[None]] = []

    @property
    def dropped(self) -> int:
        return self._buf.dropped

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    def _push(self, item: T) -> None:
        self._buf.push(item)
        if self._waiters:
            self._wake()

    def _close(self) -> None:
        self._buf.close()
        self._wake()

    async def get(self) -> T:
        """The next result; ClosedError once the producer is closed and this is drained."""
        while not len(self._buf):
            if self._buf.closed:
                raise ClosedError("the producer is closed and its stream is drained")
            fut = asyncio.get_running_loop().create_future()
            self._waiters.append(fut)
            await fut
        return self._buf.pop()

    def get_nowait(self) -> T:
        """The next result; IndexError when there is none yet."""
        return self._buf.pop()

    def __len__(self) -> int:
        return len(self._buf)

    def __aiter__(self) -> ResultStream[T]:
        return self

    async def __anext__(self) -> T:
        try:
            return await self.get()
        except ClosedError:
            raise StopAsyncIteration from None


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
        self._core_obj: ProducerCore | None = None
        self._closed = False
        self._close_fut: asyncio.Future[Any] | None = None
        self._space = asyncio.Event()

    @property
    def _loop(self) -> Any:
        return self._client._loop

    @property
    def _core(self) -> ProducerCore:
        if self._core_obj is None:
            if self._closed:
                raise ObjectClosedError("the producer is closed")
            self._core_obj = self._loop.run(lambda core, now: ProducerCore(core, self.config))
            self._loop.add_handler(self._on_event)
        return self._core_obj

    def __del__(self) -> None:
        """Dropped without close: say what is lost (records, the client's connections)."""
        core = self.__dict__.get("_core_obj")
        if self.__dict__.get("_closed", True):
            return
        loop = self._client._loop_obj if self._owns_client else None
        warn_dropped(self, loop, core)

    # -- events ---------------------------------------------------------------------------

    def _on_event(self, event: Event) -> bool:
        core = self._core_obj
        if core is None:
            return False
        if isinstance(event, (RecordsDelivered, RecordsFailed)):
            if event.producer != core.ident:
                return False
            self._settled(event)
            return True
        if isinstance(event, BufferSpaceAvailable) and event.producer == core.ident:
            self._space.set()
            return True
        return False

    def _settled(self, event: RecordsDelivered | RecordsFailed) -> None:
        raise NotImplementedError

    # -- sending --------------------------------------------------------------------------

    def _try_send(self, msg: ProducerMessage) -> Any:
        if self._closed:
            raise ObjectClosedError("the producer is closed")
        core = self._core
        loop = self._loop
        before = core.activity
        try:
            token = core.send(msg, asyncio.get_running_loop().time(), int(time.time() * 1000))
        except BufferFullError:
            loop.pump()
            raise
        # Registered before the engine pumps: a record may fail at once.
        waiter = self._registered(token)
        if core.activity != before:
            loop.pump()  # a batch filled or a timer moved: the engine has work
        return waiter

    async def _enqueue(self, msg: ProducerMessage) -> Any:
        deadline = asyncio.get_running_loop().time() + self.config.max_block
        while True:
            self._space.clear()
            try:
                return self._try_send(msg)
            except BufferFullError:
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    raise
                try:
                    await asyncio.wait_for(self._space.wait(), remaining)
                except asyncio.TimeoutError:
                    pass

    def _registered(self, token: int) -> Any:
        return None

    async def _call(self, fn: Any) -> Any:
        return await self._loop.call(fn)

    async def flush(self) -> None:
        """Send everything queued now and wait until each record is settled."""
        core = self._core
        await self._call(lambda c, now: core.flush(now))

    async def close(self, *, drop: bool = False) -> None:
        """Deliver what is queued (or, with ``drop``, fail it), then release the producer.
        Closing twice is fine; cancelling a close drops what is left."""
        if self._close_fut is None:
            self._closed = True
            self._space.set()
            if self._core_obj is None:
                self._close_fut = asyncio.get_running_loop().create_future()
                self._close_fut.set_result(None)
            else:
                core = self._core_obj
                self._close_fut = self._loop.call(lambda c, now: core.close(now, drop))
        try:
            await asyncio.shield(self._close_fut)
        except asyncio.CancelledError:
            if self._core_obj is not None and not self._loop.closed:
                core = self._core_obj
                self._loop.run(lambda c, now: core.close(now, drop=True))
            raise
        except ClosedError:
            pass
        finally:
            self._finished()
            if self._core_obj is not None:
                self._loop.remove_handler(self._on_event)
            if self._owns_client:
                await self._client.close()

    async def async_close(self) -> None:
        """Close at once, failing whatever was not delivered yet (sarama's AsyncClose)."""
        await self.close(drop=True)

    def _finished(self) -> None:
        pass

    def metrics(self) -> dict[str, Any]:
        return self._core.metrics()

    async def __aenter__(self: Any) -> Any:
        _ = self._core
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- transactions ---------------------------------------------------------------------

    def is_transactional(self) -> bool:
        return self.config.transactional_id is not None

    def txn_status(self) -> TxnStatus:
        return self._core.txn_status()

    async def init_transactions(self) -> None:
        """Get the producer id from the transaction coordinator (begin_txn does it too)."""
        core = self._core
        await self._call(lambda c, now: core.init_transactions(now))

    async def begin_txn(self) -> None:
        core = self._core
        await self._call(lambda c, now: core.begin_transaction(now))

    async def commit_txn(self) -> None:
        """Flush, then commit; raises the transaction's error if a record failed."""
        core = self._core
        await self._call(lambda c, now: core.commit_transaction(now))

    async def abort_txn(self) -> None:
        core = self._core
        await self._call(lambda c, now: core.abort_transaction(now))

    async def add_offsets_to_txn(self, offsets: Mapping[Any, Any],
                                 group_id: str | ConsumerGroupMetadata) -> None:
        """Commit consumer offsets inside the transaction; ``group_id`` is the group's id
        or, so that a member a rebalance fenced cannot commit, ``session.group_metadata()``."""
        core = self._core
        await self._call(lambda c, now: core.add_offsets_to_txn(offsets, group_id, now))

    async def add_message_to_txn(self, message: ConsumerMessage,
                                 group_id: str | ConsumerGroupMetadata,
                                 metadata: str | None = None) -> None:
        """Commit ``message``'s offset + 1 inside the transaction; ``group_id`` as for
        ``add_offsets_to_txn``."""
        core = self._core
        await self._call(lambda c, now: core.add_message_to_txn(message, group_id, metadata,
                                                                 now))


class SyncProducer(_Producer):
    """Sends one message (or a list) and waits for the broker's answer (sarama's
    SyncProducer). ``async with SyncProducer("host:9092") as p:``."""

    def __init__(self, bootstrap: str | list[str] | None = None, config: Config | None = None,
                 *, client: Client | None = None, rng: random.Random | None = None,
                 **options: Any) -> None:
        super().__init__(bootstrap, config, client=client, rng=rng, **options)
        self._futures: dict[int, asyncio.Future[tuple[int, int]]] = {}

    def _registered(self, token: int) -> tuple[int, asyncio.Future[tuple[int, int]]]:
        fut: asyncio.Future[tuple[int, int]] = asyncio.get_running_loop().create_future()
        self._futures[token] = fut
        return token, fut

    def _settled(self, event: RecordsDelivered | RecordsFailed) -> None:
        futures = self._futures
        if isinstance(event, RecordsDelivered):
            for token, msg in zip(event.tokens, event.messages, strict=True):
                fut = futures.pop(token, None)
                if fut is not None and not fut.done():
                    fut.set_result((msg.partition if msg.partition is not None else -1,
                                    msg.offset))
        else:
            for token in event.tokens:
                fut = futures.pop(token, None)
                if fut is not None and not fut.done():
                    fut.set_exception(event.error)

    async def send_message(self, msg: ProducerMessage) -> tuple[int, int]:
        """Send and wait: returns (partition, offset); raises the record's error."""
        token, fut = await self._enqueue(msg)
        try:
            return await fut  # type: ignore[no-any-return]
        finally:
            self._futures.pop(token, None)

    async def send_messages(self, msgs: Iterable[ProducerMessage]) -> None:
        """Send all, wait for all; raises ProducerErrors listing every failed message."""
        pending = []
        try:
            for msg in msgs:
                token, fut = await self._enqueue(msg)
                pending.append((msg, token, fut))
            errors = []
            for msg, _, fut in pending:
                try:
                    await fut
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    errors.append(ProducerError(msg, exc))
        finally:
            for _, token, _ in pending:
                self._futures.pop(token, None)
        if errors:
            raise ProducerErrors(errors)

    def _finished(self) -> None:
        futures, self._futures = self._futures, {}
        for fut in futures.values():
            if not fut.done():
                fut.set_exception(ClosedError("the producer was closed"))
                fut.exception()  # retrieved: nobody may be awaiting it any more


class AsyncProducer(_Producer):
    """Queues messages without waiting for the broker (sarama's AsyncProducer): results
    arrive on the ``successes`` and ``errors`` async iterators (bounded; see
    ``result_stream_capacity``). ``await send()`` waits only while ``buffer_memory`` is
    full (up to ``max_block``); ``send_nowait`` raises BufferFullError instead."""

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

    async def send(self, msg: ProducerMessage) -> None:
        """Queue a message; its result goes to ``successes`` or ``errors``."""
        await self._enqueue(msg)

    def send_nowait(self, msg: ProducerMessage) -> None:
        """Queue a message, or raise BufferFullError at once when the buffer is full."""
        self._try_send(msg)

    def _finished(self) -> None:
        self.successes._close()
        self.errors._close()
