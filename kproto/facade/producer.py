"""The producers (SyncProducer, AsyncProducer) and their result streams, written once.

Theory of operation
-------------------
A producer is a :class:`~kproto.facade._feature.Feature` over a
:class:`~kproto.producer.ProducerCore`. Every call into the core happens inside an operation
(a generator the adapter's driver runs, under the engine lock on threads) or inside
``loop.run``; the engine hands the core's events to ``_on_event``:

- ``RecordsDelivered`` / ``RecordsFailed`` settle the records: a SyncProducer sets the
  :class:`Result` it registered for each token (its waiting ``send_message`` wakes), an
  AsyncProducer pushes them onto its ``successes`` / ``errors`` :class:`ResultStream`.
- ``BufferSpaceAvailable`` fires ``_space``: a send refused with BufferFullError parks on it,
  up to ``max_block``, and tries again (``close`` fires it too, so the sender sees the close).

Each record's waiter is registered before the engine is kicked, since a record may fail at
once. Cancelling a wait stops the wait only: the record stays in the producer. Cancelling a
close (or, on threads, its timeout passing) drops what is left.

The adapters add what is native to them: threads' ``timeout=`` parameters and their default
bounds, trio's owned nursery and shielded client close, each one's driver for the streams.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from kproto.config import Config
from kproto.errors import ClientTimeoutError, ClosedError
from kproto.events import Event
from kproto.facade._feature import EntersClient, Feature
from kproto.facade._streams import AsyncIterates, Iterates
from kproto.facade._wait import (
    AsyncLoop,
    BlockingLoop,
    EngineLoop,
    Op,
    Park,
    Result,
    Signal,
    call,
    wait,
)
from kproto.group.metadata import ConsumerGroupMetadata
from kproto.message_types import ConsumerMessage, ProducerMessage
from kproto.producer import (
    BufferFullError,
    BufferSpaceAvailable,
    DropWarning,
    ProducerCore,
    ProducerError,
    ProducerErrors,
    RecordsDelivered,
    RecordsFailed,
    ResultBuffer,
    TxnStatus,
)

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from kproto.options import Options


T = TypeVar("T")
R = TypeVar("R")
LoopT = TypeVar("LoopT", bound=EngineLoop)
Start = Callable[[ProducerCore, float], int]
"""Starts a core operation at ``now``; returns the token its result settles."""


class ResultStreamBase(Generic[T]):
    """A bounded stream of results. When it is full, ``results_when_full`` decides: the
    oldest entry is dropped and counted in ``dropped`` (a warning is logged), or ``send``
    waits for a reader. It ends once the producer is closed and it is drained. Its producer
    sets ``_owner`` to itself: its loop drives the waits, and a read wakes its senders."""

    _owner: Any

    def __init__(self, capacity: int, block: bool = False,
                 on_drop: Callable[[], None] | None = None) -> None:
        self._buf: ResultBuffer[T] = ResultBuffer(capacity, block=block, on_drop=on_drop)
        self._signal = Signal()

    @property
    def dropped(self) -> int:
        """Results dropped because the stream was full (0 with results_when_full='block')."""
        return self._buf.dropped

    def _popped(self, item: T) -> T:
        """A reader took ``item``: with ``block``, a sender may go on."""
        if self._buf.block:
            self._owner._space.fire()
        return item

    def _push(self, item: T) -> None:
        self._buf.push(item)
        self._signal.fire()

    def _close(self) -> None:
        self._buf.close()
        self._signal.fire()

    def _get(self, loop: EngineLoop, timeout: float | None = None) -> Op[T]:
        """The next result; ClosedError at the end, ClientTimeoutError after ``timeout``."""
        buf = self._buf
        deadline = None if timeout is None else loop.now() + timeout
        while not len(buf):
            if buf.closed:
                raise ClosedError("the producer is closed and its stream is drained")
            if deadline is not None and loop.now() >= deadline:
                raise ClientTimeoutError(f"no result within {timeout:g}s")
            yield Park((self._signal,), deadline)
        return self._popped(buf.pop())

    def __len__(self) -> int:
        return len(self._buf)


class ResultStream(AsyncIterates[T], ResultStreamBase[T]):
    """A bounded async stream of results: ``async for`` it, or ``await get()`` (asyncio
    and trio).

    When it is full, the oldest entry is dropped and counted in ``dropped`` (a warning is
    logged), or with ``results_when_full='block'`` ``send`` waits for a reader; iteration
    ends once the producer is closed and the stream drained.
    """

    async def get(self) -> T:
        """The next result; ClosedError once the producer is closed and this is drained."""
        loop: AsyncLoop = self._owner._loop
        return await loop.drive(self._get(loop))

    def get_nowait(self) -> T:
        """The next result; IndexError when there is none yet."""
        return self._popped(self._buf.pop())



class BlockingResultStream(Iterates[T], ResultStreamBase[T]):
    """A bounded stream of results: iterate it (blocking), or ``get(timeout)`` (threads).

    When it is full, the oldest entry is dropped and counted in ``dropped`` (a warning is
    logged), or with ``results_when_full='block'`` ``send`` waits for a reader; iteration
    ends once the producer is closed and the stream drained.
    """

    def get(self, timeout: float | None = None) -> T:
        """The next result; ClientTimeoutError after ``timeout``, ClosedError at the end."""
        loop: BlockingLoop = self._owner._loop
        return loop.drive(self._get(loop, timeout))



class ProducerBase(Feature[LoopT, ProducerCore]):
    """What both producers share: sending with backpressure, flush, close, transactions."""

    _what = "producer"
    _counts_records = True

    def __init__(self, bootstrap: str | list[str] | None = None, config: Config | None = None,
                 *, client: Any = None, rng: random.Random | None = None,
                 **options: Unpack[Options]) -> None:
        super().__init__(bootstrap, config, client=client, rng=rng, **options)
        self._space = Signal()
        self._space_fired = 0
        self._send_loop: Any = None
        """The core's loop, kept when the core is made (see ``_try_send``)."""
        """Counts ``_space`` firings: a send that saw it move while it ran (an in-process
        cluster may answer inside the kick) tries again instead of parking."""
        self._close_result: Result[Any] | None = None
        self._setup()

    def _setup(self) -> None:
        """The kind's own state (waiters or streams)."""

    def _make_core(self, engine: Any, now: float) -> ProducerCore:
        self._send_loop = self._loop
        return ProducerCore(engine, self.config)

    # -- events ---------------------------------------------------------------------------

    def _on_event(self, event: Event) -> bool:
        core = self._core_obj
        if core is None:
            return False
        if isinstance(event, (RecordsDelivered, RecordsFailed)) and event.producer == core.ident:
            self._settled(event)
            return True
        if isinstance(event, BufferSpaceAvailable) and event.producer == core.ident:
            self._space_fired += 1
            self._space.fire()
            return True
        return False

    def _settled(self, event: RecordsDelivered | RecordsFailed) -> None:
        raise NotImplementedError

    def _registered(self, token: int) -> Any:
        """What the caller of a send keeps to learn the record's result."""
        return None

    def _finished(self) -> None:
        """The producer is closed: release whoever still waits."""

    # -- sending --------------------------------------------------------------------------

    _block_results = False
    """An AsyncProducer with results_when_full='block': a send checks its result streams."""

    def _results_full(self) -> None:
        """Raise BufferFullError when a result stream the send must wait for is full."""

    def _try_send(self, msg: ProducerMessage) -> Any:
        if self._block_results:
            self._results_full()
        if self._closed:
            self._check_open()
        core = self._core_obj
        if core is None:
            core = self._core  # it sets _send_loop
        # The loop is the core's for its whole life: kept, the two property calls that
        # reach it (feature, then client) are saved on every send (~0.3 us per record).
        loop = self._send_loop
        before = core.activity
        try:
            token = core.send(msg, loop.now(), loop.wall_ms())
        except BufferFullError:
            loop.kick()
            raise
        # Registered before the engine runs: a record may fail at once.
        waiter = self._registered(token)
        if core.activity != before:
            loop.kick()  # a batch filled or a timer moved: the engine has work
        return waiter

    def _enqueue(self, msg: ProducerMessage, block: float | None = None) -> Op[Any]:
        """Send; while the buffer is full, wait for space up to ``block`` (``max_block``)."""
        loop = self._loop
        deadline = loop.now() + (self.config.max_block if block is None else block)
        while True:
            fired = self._space_fired
            try:
                return self._try_send(msg)
            except BufferFullError:
                if loop.now() >= deadline:
                    raise
            if self._space_fired == fired:
                yield Park((self._space,), deadline)

    def _enqueue_batch(self, msgs: Sequence[ProducerMessage], track: bool,
                       block: float | None = None) -> Op[Result[Any] | None]:
        """Queue ``msgs`` under one token (``ProducerCore.send_batch``): as many as
        ``buffer_memory`` takes, then a park on ``_space`` (up to ``block``, else
        ``max_block``, for the whole call) and the rest. With ``track``, returns the
        :class:`Result` settled once with the failed ``(message, error)`` pairs; messages
        left out when the wait ends (or the producer closes) are failures too. Without it,
        BufferFullError (``queued`` says how many went in) or the closing error is raised
        and only the messages before ``queued`` were taken."""
        loop = self._loop
        core = self._core
        bound = self.config.max_block if block is None else block
        deadline = loop.now() + bound
        n = len(msgs)
        state = [0, 0]  # token, next index

        def chunk(engine: Any, now: float) -> int:
            state[0], state[1] = core.send_batch(msgs, now, loop.wall_ms(), state[1],
                                                 state[0], track)
            return state[0]

        result: Result[Any] | None = None
        while True:
            fired = self._space_fired
            try:
                if self._block_results:
                    self._results_full()  # a full result stream: wait as for memory
                if state[0]:
                    loop.run(chunk)
                else:
                    self._check_open()
                    if track:
                        result = loop.start(chunk)
                        if result.done() and not state[0]:
                            result.result()  # the client was closed
                    else:
                        loop.run(chunk)
            except BufferFullError:
                pass  # wait for a reader of the result streams, as for memory
            except Exception as exc:
                if not state[0]:
                    raise
                return self._give_up_batch(msgs, state[0], state[1], exc, result)
            if state[1] >= n:
                return result
            if loop.now() >= deadline:
                err = BufferFullError(
                    f"buffer_memory ({self.config.buffer_memory} bytes) stayed full for "
                    f"{bound:g}s: {state[1]} of {n} messages were queued")
                return self._give_up_batch(msgs, state[0], state[1], err, result)
            if self._space_fired == fired:
                try:
                    yield Park((self._space,), deadline)
                except BaseException:  # cancelled: what was queued stays queued
                    if result is not None:
                        self._loop.run(lambda engine, now: core.end_batch(state[0]))
                    raise

    def _give_up_batch(self, msgs: Sequence[ProducerMessage], token: int, index: int,
                       error: Exception, result: Result[Any] | None) -> Result[Any] | None:
        """Messages from ``index`` on were not taken: with a tracked batch they fail with
        ``error``; otherwise ``error`` is raised, naming how many were."""
        if result is None:
            if isinstance(error, BufferFullError):
                error.queued = index
            raise error
        core = self._core
        rest = [(msg, error) for msg in msgs[index:]]
        self._loop.run(lambda engine, now: core.end_batch(token, rest))
        return result

    # -- operations -----------------------------------------------------------------------

    def _op(self, start: Start, timeout: float | None, what: str) -> Op[None]:
        """Start a core operation and wait for it."""
        core = self._core
        yield from call(self._loop, lambda engine, now: start(core, now), timeout, what)

    def _close(self, drop: bool, timeout: float | None = None) -> Op[None]:
        """Deliver (or, with ``drop``, fail) what is queued, then release the producer. A
        second close waits for the first; one cancelled or timed out drops what is left."""
        if self._close_result is None:
            self._closed = True
            self._space.fire()
            core = self._core_obj
            if core is None:
                self._close_result = Result()
                self._close_result.set_result(None)
            else:
                self._close_result = self._loop.start(lambda engine, now: core.close(now, drop))
        try:
            yield from wait(self._close_result, self._loop, timeout, "close")
        except ClientTimeoutError:
            self._drop()
        except ClosedError:
            pass
        except BaseException:
            self._drop()
            raise
        finally:
            self._finished()
            self._release_handler()

    def _drop(self) -> None:
        core = self._core_obj
        if core is not None and not self._loop.closed:
            self._loop.run(lambda engine, now: core.close(now, drop=True))

    def metrics(self) -> dict[str, Any]:
        return self._loop.run(lambda engine, now: self._core.metrics())

    def is_transactional(self) -> bool:
        return self.config.transactional_id is not None

    def txn_status(self) -> TxnStatus:
        return self._loop.run(lambda engine, now: self._core.txn_status())

    @staticmethod
    def _add_offsets(offsets: Mapping[Any, Any], group_id: str | ConsumerGroupMetadata) -> Start:
        return lambda core, now: core.add_offsets_to_txn(offsets, group_id, now)

    @staticmethod
    def _add_message(message: ConsumerMessage, group_id: str | ConsumerGroupMetadata,
                     metadata: str | None) -> Start:
        return lambda core, now: core.add_message_to_txn(message, group_id, metadata, now)

    def _end_txn(self, error: BaseException | None, timeout: float | None) -> Op[None]:
        """The end of a ``transaction()`` block: commit after a normal exit; after ``error``
        abort, shielded (a cancelled block still aborts), and chain an abort failure onto
        ``error`` (its ``__cause__`` and a note) rather than let it hide the original."""
        if error is None:
            yield from self._op(start_commit, timeout, "commit_txn")
            return
        core = self._core
        try:
            yield from wait(self._loop.start(lambda engine, now: start_abort(core, now)),
                            self._loop, timeout, "abort_txn", shield=True)
        except Exception as abort_error:
            note = f"abort_txn failed as well: {abort_error!r}"
            add_note = getattr(error, "add_note", None)  # Python 3.11+
            if add_note is not None:
                add_note(note)
            if error.__cause__ is None:
                error.__cause__ = abort_error


# What each waiting call starts in the core; the adapters pass them to ``_op`` with their
# own bounds (threads) or none (asyncio, trio: the caller cancels).

def start_flush(core: ProducerCore, now: float) -> int:
    return core.flush(now)


def start_init(core: ProducerCore, now: float) -> int:
    return core.init_transactions(now)


def start_begin(core: ProducerCore, now: float) -> int:
    return core.begin_transaction(now)


def start_commit(core: ProducerCore, now: float) -> int:
    return core.commit_transaction(now)


def start_abort(core: ProducerCore, now: float) -> int:
    return core.abort_transaction(now)


class SendAndWait(ProducerBase[LoopT]):
    """SyncProducer's logic: each send waits for its record's result."""

    def _setup(self) -> None:
        self._futures: dict[int, Result[tuple[int, int]]] = {}

    def _registered(self, token: int) -> tuple[int, Result[tuple[int, int]]]:
        result: Result[tuple[int, int]] = Result()
        self._futures[token] = result
        return token, result

    def _settled(self, event: RecordsDelivered | RecordsFailed) -> None:
        futures = self._futures
        if isinstance(event, RecordsDelivered):
            for token, msg in zip(event.tokens, event.messages, strict=True):
                result = futures.pop(token, None)
                if result is not None:
                    result.set_result((msg.partition if msg.partition is not None else -1,
                                       msg.offset))
        else:
            for token in event.tokens:
                result = futures.pop(token, None)
                if result is not None:
                    result.set_exception(event.error)

    def _send_message(self, msg: ProducerMessage, block: float | None = None,
                      timeout: float | None = None) -> Op[tuple[int, int]]:
        token, result = yield from self._enqueue(msg, block)
        try:
            done: tuple[int, int] = yield from wait(result, self._loop, timeout, "send_message")
            return done
        finally:
            self._futures.pop(token, None)

    def _send_batch(self, msgs: Sequence[ProducerMessage], block: float | None = None,
                    timeout: float | None = None) -> Op[list[tuple[int, int]]]:
        """Queue all under one token, wait for the one settlement: (partition, offset) per
        message, in order; ProducerErrors naming exactly the messages that failed (the
        others were delivered: their partition and offset are filled in)."""
        msgs = _sequence(msgs)
        result = yield from self._enqueue_batch(msgs, True, block)
        assert result is not None
        failed: list[tuple[ProducerMessage, BaseException]] = yield from wait(
            result, self._loop, timeout, "send_batch")
        if failed:
            where = {id(msg): i for i, msg in enumerate(msgs)}
            failed.sort(key=lambda f: where.get(id(f[0]), -1))
            raise ProducerErrors([ProducerError(msg, err) for msg, err in failed])
        return [(-1 if m.partition is None else m.partition, m.offset) for m in msgs]

    def _send_messages(self, msgs: Iterable[ProducerMessage], block: float | None = None,
                       timeout: float | None = None) -> Op[None]:
        """Send all, wait for all (for ``timeout`` in all); ProducerErrors lists every
        failed message."""
        loop = self._loop
        pending: list[tuple[ProducerMessage, int, Result[tuple[int, int]]]] = []
        errors = []
        try:
            for msg in msgs:
                token, result = yield from self._enqueue(msg, block)
                pending.append((msg, token, result))
            deadline = None if timeout is None else loop.now() + timeout
            for msg, _, result in pending:
                while not result.done() and (deadline is None or loop.now() < deadline):
                    yield Park((result,), deadline)
                try:
                    if not result.done():
                        raise ClientTimeoutError(f"not settled within {timeout:g}s")
                    result.result()
                except Exception as exc:
                    errors.append(ProducerError(msg, exc))
        finally:
            for _, token, _ in pending:
                self._futures.pop(token, None)
        if errors:
            raise ProducerErrors(errors)

    def _finished(self) -> None:
        futures, self._futures = self._futures, {}
        for result in futures.values():
            result.set_exception(ClosedError("the producer was closed"))


class SendAndStream(ProducerBase[LoopT]):
    """AsyncProducer's logic: sends return at once; results arrive on ``successes`` and
    ``errors`` (bounded; see ``result_stream_capacity`` and ``results_when_full``). The
    adapter names its stream class in ``_stream_class``.

    With ``results_when_full='block'`` a send finds a full stream with one cheap check and
    raises BufferFullError there, so ``send`` parks on ``_space`` (as for a full buffer),
    which a reader taking a result fires."""

    _stream_class: Any = ResultStream

    def _setup(self) -> None:
        cfg = self.config
        capacity = cfg.result_stream_capacity
        self._block_results = block = cfg.results_when_full == "block"
        warning = DropWarning(capacity)
        self.successes: ResultStreamBase[ProducerMessage] = self._stream_class(
            capacity, block, lambda: warning.dropped("successes"))
        self.errors: ResultStreamBase[ProducerError] = self._stream_class(
            capacity, block, lambda: warning.dropped("errors"))
        self.successes._owner = self.errors._owner = self

    def _results_full(self) -> None:
        if self.successes._buf.full or self.errors._buf.full:
            full = "successes" if self.successes._buf.full else "errors"
            self._check_open()
            raise BufferFullError(
                f"the AsyncProducer's {full} stream is full (result_stream_capacity="
                f"{self.config.result_stream_capacity}) and results_when_full is 'block': "
                f"read {full} while sending (send waits up to max_block for a reader)")

    def _settled(self, event: RecordsDelivered | RecordsFailed) -> None:
        if isinstance(event, RecordsDelivered):
            if self.config.return_successes:
                for msg in event.messages:
                    self.successes._push(msg)
        elif self.config.return_errors:
            for msg in event.messages:
                self.errors._push(ProducerError(msg, event.error))

    def _queue_batch(self, msgs: Sequence[ProducerMessage],
                     block: float | None = None) -> Op[None]:
        """Queue all under one token; each result goes to ``successes`` / ``errors``."""
        yield from self._enqueue_batch(_sequence(msgs), False, block)

    def send_nowait(self, msg: ProducerMessage) -> None:
        """Queue a message, or raise BufferFullError at once when the buffer is full (or,
        with ``results_when_full='block'``, a result stream is)."""
        loop = self._send_loop if self._core_obj is not None else self._loop
        with loop.lock:  # the engine lock on threads; nothing on asyncio and trio
            self._try_send(msg)  # it kicks the loop itself when the engine has work

    def _finished(self) -> None:
        self.successes._close()
        self.errors._close()


def _sequence(msgs: Sequence[ProducerMessage]) -> Sequence[ProducerMessage]:
    """``msgs`` as a sequence (a list or tuple is used as it is; an iterable is listed)."""
    if isinstance(msgs, (list, tuple)):
        return msgs
    if isinstance(msgs, (str, bytes, ProducerMessage)) or not isinstance(msgs, Iterable):
        raise TypeError(f"msgs must be a sequence of ProducerMessage, not {type(msgs).__name__}")
    return list(msgs)


def messages_for(topic: str, values: Iterable[bytes | None],
                 keys: Iterable[bytes | None] | None = None,
                 partition: int | None = None) -> list[ProducerMessage]:
    """``send_many``'s messages: one per value, with the key at the same index."""
    if not isinstance(topic, str) or not topic:
        raise TypeError(f"topic must be a non-empty str, not {topic!r}")
    if isinstance(values, (bytes, str)) or not isinstance(values, Iterable):
        raise TypeError(f"values must be an iterable of bytes, not {type(values).__name__}")
    if partition is not None and (type(partition) is not int or partition < 0):
        raise ValueError(f"partition must be None or an int >= 0, not {partition!r}")
    if keys is None:
        return [ProducerMessage(topic, value, None, (), partition) for value in values]
    if isinstance(keys, (bytes, str)) or not isinstance(keys, Iterable):
        raise TypeError(f"keys must be None or an iterable of bytes, not {type(keys).__name__}")
    values, keys = list(values), list(keys)
    if len(keys) != len(values):
        raise ValueError(f"keys has {len(keys)} entries and values {len(values)}: "
                         f"one key per value")
    return [ProducerMessage(topic, value, key, (), partition)
            for value, key in zip(values, keys, strict=True)]


class AwaitedProducer(EntersClient, ProducerBase[AsyncLoop]):
    """The awaited methods both producers share on asyncio and trio."""

    async def _drive(self, op: Op[R]) -> R:
        return await self._loop.drive(op)

    async def flush(self) -> None:
        """Send everything queued now and wait until each record is settled."""
        await self._drive(self._op(start_flush, None, "flush"))

    async def close(self, *, drop: bool = False) -> None:
        """Deliver what is queued (or, with ``drop``, fail it), then release the producer.
        Closing twice is fine; cancelling a close drops what is left."""
        try:
            if self._core_obj is None:  # nothing was started (trio: maybe no loop yet)
                self._closed = True
                self._finished()
            else:
                await self._drive(self._close(drop))
        finally:
            if self._owns_client:
                await self._close_client()

    async def _close_client(self) -> None:
        await self._client.close()

    async def async_close(self) -> None:
        """Close at once, failing whatever was not delivered yet (sarama's AsyncClose)."""
        await self.close(drop=True)

    async def init_transactions(self) -> None:
        """Get the producer id from the transaction coordinator (begin_txn does it too)."""
        await self._drive(self._op(start_init, None, "init_transactions"))

    async def begin_txn(self) -> None:
        await self._drive(self._op(start_begin, None, "begin_txn"))

    def transaction(self: AP) -> AsyncTransaction[AP]:
        """``async with producer.transaction():`` begins a transaction, commits it when the
        block ends normally and aborts it when the block raises (the error goes on)."""
        return AsyncTransaction(self)

    async def commit_txn(self) -> None:
        """Flush, then commit; raises the transaction's error if a record failed."""
        await self._drive(self._op(start_commit, None, "commit_txn"))

    async def abort_txn(self) -> None:
        await self._drive(self._op(start_abort, None, "abort_txn"))

    async def add_offsets_to_txn(self, offsets: Mapping[Any, Any],
                                 group_id: str | ConsumerGroupMetadata) -> None:
        """Commit consumer offsets inside the transaction; ``group_id`` is the group's id
        or, so that a member a rebalance fenced cannot commit, ``session.group_metadata()``."""
        await self._drive(self._op(self._add_offsets(offsets, group_id), None,
                                   "add_offsets_to_txn"))

    async def add_message_to_txn(self, message: ConsumerMessage,
                                 group_id: str | ConsumerGroupMetadata,
                                 metadata: str | None = None) -> None:
        """Commit ``message``'s offset + 1 inside the transaction; ``group_id`` as for
        ``add_offsets_to_txn``."""
        await self._drive(self._op(self._add_message(message, group_id, metadata), None,
                                   "add_message_to_txn"))


class AwaitedSyncProducer(AwaitedProducer, SendAndWait[AsyncLoop]):
    """Sends one message (or a list) and waits for the broker's answer (sarama's
    SyncProducer). ``async with SyncProducer("host:9092") as p:``."""

    async def send_message(self, msg: ProducerMessage) -> tuple[int, int]:
        """Send and wait: returns (partition, offset); raises the record's error."""
        return await self._drive(self._send_message(msg))

    async def send_messages(self, msgs: Iterable[ProducerMessage]) -> None:
        """Send all, wait for all; raises ProducerErrors listing every failed message."""
        await self._drive(self._send_messages(msgs))

    async def send_batch(self, msgs: Sequence[ProducerMessage]) -> list[tuple[int, int]]:
        """Send many messages with one settlement: returns (partition, offset) per message,
        in order, once all are settled; raises ProducerErrors naming exactly those that
        failed (the others were delivered)."""
        return await self._drive(self._send_batch(msgs))

    async def send_many(self, topic: str, values: Iterable[bytes | None], *,
                        keys: Iterable[bytes | None] | None = None,
                        partition: int | None = None) -> list[tuple[int, int]]:
        """``send_batch`` of one message per value (``keys[i]`` its key) to ``topic``."""
        return await self._drive(self._send_batch(messages_for(topic, values, keys, partition)))


class AwaitedAsyncProducer(AwaitedProducer, SendAndStream[AsyncLoop]):
    """Queues messages without waiting for the broker (sarama's AsyncProducer): results
    arrive on the ``successes`` and ``errors`` async iterators (bounded; see
    ``result_stream_capacity`` and ``results_when_full``). ``await send()`` waits only while
    ``buffer_memory`` is full or, with ``results_when_full='block'``, a result stream is
    (up to ``max_block``); ``send_nowait`` raises BufferFullError instead."""

    successes: ResultStream[ProducerMessage]
    errors: ResultStream[ProducerError]

    async def send(self, msg: ProducerMessage) -> None:
        """Queue a message; its result goes to ``successes`` or ``errors``."""
        try:
            self._try_send(msg)  # the common case: room in the buffer, nothing to wait for
        except BufferFullError:
            await self._drive(self._enqueue(msg))

    async def send_batch(self, msgs: Sequence[ProducerMessage]) -> None:
        """Queue many messages at once (one token, one pass in the core); each result goes
        to ``successes`` or ``errors`` as ``send``'s do. Waits for buffer space as ``send``
        does, up to ``max_block`` for the whole call; then BufferFullError, whose
        ``queued`` says how many messages (the first ones) were taken."""
        await self._drive(self._queue_batch(msgs))

    async def send_many(self, topic: str, values: Iterable[bytes | None], *,
                        keys: Iterable[bytes | None] | None = None,
                        partition: int | None = None) -> None:
        """``send_batch`` of one message per value (``keys[i]`` its key) to ``topic``."""
        await self._drive(self._queue_batch(messages_for(topic, values, keys, partition)))


BP = TypeVar("BP")
"""A blocking producer."""
AP = TypeVar("AP", bound="AwaitedProducer")


class Transaction(Generic[BP]):
    """``with producer.transaction():`` on the blocking producers: begin on entry, commit on
    a normal exit, abort when the block raises (the exception propagates; an abort failure
    is chained to it). Each step is bounded by ``timeout`` as the ``*_txn`` methods are."""

    def __init__(self, producer: BP, timeout: float | None = None) -> None:
        self._producer = producer
        self._timeout = timeout

    def __enter__(self) -> BP:
        p: Any = self._producer
        p.begin_txn(self._timeout)
        return self._producer

    def __exit__(self, typ: object, error: BaseException | None, tb: object) -> None:
        p: Any = self._producer
        p._loop.drive(p._end_txn(error, p._bound(self._timeout)))


class AsyncTransaction(Generic[AP]):
    """``async with producer.transaction():`` on asyncio and trio; see :class:`Transaction`.
    A cancelled block aborts (shielded) before the cancellation goes on."""

    def __init__(self, producer: AP) -> None:
        self._producer = producer

    async def __aenter__(self) -> AP:
        await self._producer.begin_txn()
        return self._producer

    async def __aexit__(self, typ: object, error: BaseException | None, tb: object) -> None:
        await self._producer._drive(self._producer._end_txn(error, None))
