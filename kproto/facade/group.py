"""The consumer group's user-facing objects, written once.

Theory of operation
-------------------
:class:`kproto.group.core.GroupCore` decides everything about a session: the join, the
claims, offsets, when the session ends and drains, which errors it reports. What remains is
the *session policy* of one ``consume`` call, written here once as the operation
:meth:`GroupBase._consume` (see ``kproto.facade._wait`` for how operations wait):

1. join (``GroupCore.consume``); a join given up (cancelled, bounded out, the group closing)
   is aborted in the core;
2. ``handler.setup(session)`` as a :class:`CallUser`; if it raises, the session ends before
   any claim loop starts;
3. one :class:`Spawn` per claim, running ``handler.consume_claim(session, claim)``: those of
   the join and those a cooperative rebalance adds (``ClaimsStarted``); each ends in
   ``claim_finished``;
4. park until ``SessionDrained``. A cancellation on the way asks the core to stop the session
   (claims are told to stop, as in a rebalance) and the operation parks on, shielded: the core
   gives up on claim loops after the rebalance timeout (``abandoned``), and those are
   cancelled where the transport can (tasks; a thread is left alone);
5. ``handler.cleanup(session)`` unless abandoned, then the final commit
   (``finish_session``), shielded and bounded;
6. raise the cancellation, else the first error: the final commit's, then the handlers' in
   the order they came (a claim loop's cancellation is no error: it was abandoned).

:meth:`GroupBase._close` stops a running session and waits for it to end (not when called
from inside it: a handler or a claim loop, which would wait for itself), then leaves the
group; both shielded and bounded, so a dead coordinator cannot hold up a close for long.

A claim's messages and the group's errors are pure buffers woken through a :class:`Signal`
by engine events; each adapter wraps them as its iterator, async iterator or trio channel.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from kproto.config import from_options
from kproto.consumer import FetchError, RecordsFetched
from kproto.consumer.core import fetch_committed
from kproto.errors import (
    AlreadyConsumingError,
    ClientTimeoutError,
    ClosedError,
    ConfigurationError,
    ObjectClosedError,
)
from kproto.events import Event
from kproto.facade._feature import Feature, L
from kproto.facade._streams import AsyncBatches, AsyncIterates
from kproto.facade._wait import AsyncLoop, CallUser, Op, Park, Signal, Spawn, Spawned, call, wait
from kproto.facade.handler import AsyncHandlerProtocol, check_handler, no_op
from kproto.facade.positioning import AsyncPositioned, Positioned
from kproto.group.core import GroupCore, Topics
from kproto.group.events import (
    ClaimInfo,
    ClaimsStarted,
    ClaimsStopping,
    GroupError,
    SessionDrained,
    SessionInfo,
)
from kproto.group.metadata import ConsumerGroupMetadata
from kproto.message_types import ConsumerMessage

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from kproto.options import Options


ERRORS_CAPACITY = 1000

T = TypeVar("T")
AL = TypeVar("AL", bound=AsyncLoop)


def _cleanup_bound(group: Any) -> float:
    """How long a shielded final commit or LeaveGroup may hold up a cancellation or close."""
    return 2 * float(group.config.request_timeout) + 5.0


class _Buffer(Generic[T]):
    """What a claim's messages and the group's errors share: the next item now, or a park
    until there is one."""

    _signal: Signal

    @property
    def _loop(self) -> Any:
        raise NotImplementedError

    def _take(self) -> T | None:
        """The next item, None when there is none yet; ClosedError once it has ended."""
        raise NotImplementedError

    def _end(self) -> None:
        raise NotImplementedError

    def _get(self, timeout: float | None = None, what: str = "item") -> Op[T]:
        deadline = None if timeout is None else self._loop.now() + timeout
        while (item := self._take()) is None:
            if deadline is not None and self._loop.now() >= deadline:
                raise ClientTimeoutError(f"no {what} within {timeout:g}s")
            yield Park((self._signal,), deadline)
        return item


class ClaimStream(_Buffer[ConsumerMessage]):
    """A claim's messages in offset order, fed by ``RecordsFetched``; their buffer space is
    given back to the fetcher as each batch is read."""

    def __init__(self, group: Any, stream: int) -> None:
        self._group = group
        self._stream = stream
        self._chunks: deque[tuple[tuple[ConsumerMessage, ...], int]] = deque()
        self._pos = 0
        self._stopped = False
        self._error: BaseException | None = None
        self._signal = Signal()
        self.high_water_mark = -1
        self._seeks = 0
        """The fetcher's seek count after the claim's latest seek: older deliveries are
        dropped (see kproto.facade.positioning)."""

    @property
    def _loop(self) -> Any:
        return self._group._loop

    def _push(self, messages: tuple[ConsumerMessage, ...], size: int, hwm: int,
              seeks: int = 0) -> None:
        self.high_water_mark = max(self.high_water_mark, hwm)
        if messages and not self._stopped and seeks >= self._seeks:
            self._chunks.append((messages, size))
            self._signal.fire()

    def _stop(self, error: BaseException | None = None) -> None:
        """The claim is told to stop (its messages end), or its partition failed (``error``
        is raised after the messages before it)."""
        if error is not None:
            self._error = error
        else:
            self._stopped = True
            self._chunks.clear()
        self._signal.fire()

    def _end(self) -> None:
        self._stop()

    def _take(self) -> ConsumerMessage | None:
        if self._stopped:
            raise ClosedError("the claim was stopped: its session is ending")
        if self._chunks:
            messages, size = self._chunks[0]
            message = messages[self._pos]
            self._pos += 1
            if self._pos == len(messages):
                self._chunks.popleft()
                self._pos = 0
                self._group._release(self._stream, size)
            return message
        self._nothing_buffered()
        return None

    def _take_batch(self) -> tuple[ConsumerMessage, ...] | None:
        """As ``_take``, the rest of a fetched chunk at a time (the fetcher's tuple when
        none of it was read)."""
        if self._stopped:
            raise ClosedError("the claim was stopped: its session is ending")
        if self._chunks:
            messages, size = self._chunks.popleft()
            pos, self._pos = self._pos, 0
            self._group._release(self._stream, size)
            return messages[pos:] if pos else messages
        self._nothing_buffered()
        return None

    def _next_batch(self, timeout: float | None) -> Op[tuple[ConsumerMessage, ...]]:
        deadline = None if timeout is None else self._loop.now() + timeout
        while (batch := self._take_batch()) is None:
            if deadline is not None and self._loop.now() >= deadline:
                raise ClientTimeoutError(f"no message within {timeout:g}s")
            yield Park((self._signal,), deadline)
        return batch

    def _nothing_buffered(self) -> None:
        """Nothing is buffered: the partition's error once, when it failed."""
        if self._error is not None:
            error, self._error = self._error, None
            self._stopped = True
            raise error


class ErrorBuffer(_Buffer[GroupError]):
    """The group's errors; when nobody reads and it is full the oldest is dropped."""

    def __init__(self) -> None:
        self._items: deque[GroupError] = deque(maxlen=ERRORS_CAPACITY)
        self._closed = False
        self._signal = Signal()
        self._owner: Any = None
        """The group, set by it: its loop drives the waits."""

    @property
    def _loop(self) -> Any:
        return self._owner._loop

    def _push(self, item: GroupError) -> None:
        self._items.append(item)
        self._signal.fire()

    def _end(self) -> None:
        self._closed = True
        self._signal.fire()

    def _take(self) -> GroupError | None:
        if self._items:
            return self._items.popleft()
        if self._closed:
            raise ClosedError("the consumer group is closed")
        return None

    def __len__(self) -> int:
        return len(self._items)


class AsyncClaimMessages(AsyncIterates[ConsumerMessage], ClaimStream):
    async def get(self, timeout: float | None = None) -> ConsumerMessage:
        """The next message; ClosedError once the claim stops (iteration just ends),
        ClientTimeoutError after ``timeout`` seconds without one."""
        return await self._loop.drive(self._get(timeout, "message"))  # type: ignore[no-any-return]


class AsyncGroupErrors(AsyncIterates[GroupError], ErrorBuffer):
    async def get(self) -> GroupError:
        return await self._loop.drive(self._get())  # type: ignore[no-any-return]


class Claim(Positioned):
    """One partition of a session: ``topic``, ``partition``, ``initial_offset``, its
    ``messages`` and ``high_water_mark_offset()``; positioning as a partition consumer's
    (``seek``, ``seek_to_timestamp``, ``seek_to_committed``, ``position``, ``committed``,
    ``lag``). A seek moves the session's mark to the new position (a commit then stores
    it): back, as ``reset_offset`` does, so a commit never claims the messages to be read
    again; forward, as ``mark_offset`` does, since the messages skipped are meant to stay
    unread."""

    def __init__(self, group: Any, info: ClaimInfo, messages: Any) -> None:
        self._group = group
        self._info = info
        self.topic = info.topic
        self.partition = info.partition
        self.initial_offset = info.initial_offset
        self.messages = messages
        if info.error is not None:
            messages._stop(info.error)

    def high_water_mark_offset(self) -> int:
        group = self._group
        known: int = group._locked(lambda: group._core.high_water_mark(self._info.stream))
        return max(known, int(self.messages.high_water_mark))

    def __repr__(self) -> str:
        return f"<Claim {self.topic}[{self.partition}] from {self.initial_offset}>"

    # -- positioning (kproto.facade.positioning) ---------------------------------------------

    @property
    def _loop(self) -> Any:
        return self._group._loop

    def _pos_config(self) -> Any:
        return self._group.config

    def _pos_fetcher(self) -> Any:
        return self._group._core.fetcher

    def _pos_stream(self) -> int:
        return self._info.stream

    def _pos_queries(self, engine: Any) -> Any:
        return self._group._client._queries(engine)

    def _pos_open(self) -> None:
        core = self._group._core
        if (self.messages._stopped or not core.owns_stream(self._info.stream)
                or self._info.stream not in core.fetcher.streams()):
            raise ObjectClosedError(f"{self.topic}[{self.partition}]: the claim is over")

    def _next_buffered(self) -> int | None:
        chunks = self.messages._chunks
        return chunks[0][0][self.messages._pos].offset if chunks else None

    def _discard(self) -> None:
        messages = self.messages
        messages._chunks.clear()
        messages._pos = 0
        messages._seeks = self._seeks

    def _start_committed(self, engine: Any, now: float) -> int:
        core = self._group._core
        return fetch_committed(core.core, core.offsets, self.topic, self.partition, now)

    def _after_seek(self, offset: int) -> None:
        core = self._group._core
        s = core.session
        if s is not None:  # the mark goes to the new position, back or forward
            core.reset_offset(s.id, self.topic, self.partition, offset)
            core.mark_offset(s.id, self.topic, self.partition, offset)


class AsyncClaim(Claim, AsyncPositioned):
    """A claim of the asyncio and trio ConsumerGroup: positioning is awaited."""

    _batches: Callable[[Any], AsyncBatches] = AsyncBatches

    def batches(self) -> AsyncBatches:
        """``async for batch in claim.batches()``: the claim's messages a fetched chunk at a
        time (a tuple each, in offset order), without an await per message; ends as
        ``messages`` does. Read one of ``messages`` and ``batches()`` at a time."""
        return self._batches(self.messages)


class SessionBase:
    """What a handler gets: the claims, the member, offsets to mark and commit. The adapter
    names its event class (``stopped``) in ``_event``."""

    _event: ClassVar[type[Any]]

    def __init__(self, group: Any, info: SessionInfo) -> None:
        self._group = group
        self._id = info.session
        self._info = info
        self._metadata: ConsumerGroupMetadata | None = None
        self.stopped = self._event()
        """Set once the session is ending (a rebalance, a claim loop returned, cancel, close)."""

    def _locked(self, fn: Callable[[GroupCore], T]) -> T:
        group = self._group
        return group._locked(lambda: fn(group._core))  # type: ignore[no-any-return]

    @property
    def member_id(self) -> str:
        return self._locked(lambda core: core.member_id)

    @property
    def generation_id(self) -> int:
        return self._locked(lambda core: core.generation_id)

    def group_metadata(self) -> ConsumerGroupMetadata:
        """This member as the group coordinator knows it, for ``add_offsets_to_txn`` /
        ``add_message_to_txn`` (KIP-447): the current generation while the session runs, the
        generation it ran with once it is over, so that a late commit is rejected."""
        def get(core: GroupCore) -> ConsumerGroupMetadata:
            self._metadata = core.group_metadata(self._info, self._metadata)
            return self._metadata
        return self._locked(get)

    def claims(self) -> dict[str, list[int]]:
        """The partitions this session consumes now, by topic."""
        return self._locked(lambda core: core.claims(self._id))

    def mark_message(self, message: ConsumerMessage, metadata: str | None = None) -> None:
        """Mark ``message`` processed (its offset + 1 is what gets committed)."""
        self._locked(lambda core: core.mark_message(self._id, message, metadata))

    def mark_offset(self, topic: str, partition: int, offset: int,
                    metadata: str | None = None) -> None:
        """Mark everything before ``offset`` processed (only ever moves forward)."""
        self._locked(lambda core: core.mark_offset(self._id, topic, partition, offset, metadata))

    def reset_offset(self, topic: str, partition: int, offset: int,
                     metadata: str | None = None) -> None:
        """Move the mark back to ``offset`` (only ever backward)."""
        self._locked(lambda core: core.reset_offset(self._id, topic, partition, offset,
                                                     metadata))

    def _commit(self, timeout: float | None = None) -> Op[None]:
        group = self._group
        yield from call(group._loop, lambda _, now: group._core.commit(now), timeout, "commit")


class AsyncSession(SessionBase):
    async def commit(self) -> None:
        """Commit the marked offsets now and wait for the broker."""
        await self._group._loop.drive(self._commit())


class _Run:
    """One ``consume`` call in progress."""

    def __init__(self, handler: Any) -> None:
        self.handler = handler
        self.info: SessionInfo | None = None
        self.session: Any = None
        self.pending: list[ClaimInfo] = []
        """Claims to start (the join's, then those ``ClaimsStarted`` adds)."""
        self.spawned: list[Spawned] = []
        self.members: set[object] = set()
        """The threads or tasks running its caller and claim loops."""
        self.errors: list[BaseException] = []
        self.drained: SessionDrained | None = None
        self.stop_requested = False
        self.signal = Signal()


class GroupBase(Feature[L, GroupCore]):
    """A member of a consumer group. The adapter names its classes and ``_current`` (the
    running thread or task)."""

    _what = "consumer group"
    _claims_class: ClassVar[Any]
    _claim_class: ClassVar[Any] = Claim
    _session_class: ClassVar[Any]
    _errors_class: ClassVar[Any]
    _join_bound: ClassVar[bool] = False
    """True where a join cannot be cancelled (threads): it gives up after a bound."""

    def __init__(self, bootstrap: str | list[str] | None = None, config: Any = None, *,
                 client: Any = None, rng: Any = None, **options: Unpack[Options]) -> None:
        base = config or (client.config if client is not None else None)
        if not (from_options(base, options) if options or base is None else base).group_id:
            raise ConfigurationError("a consumer group needs group_id")
        super().__init__(bootstrap, config, client=client, rng=rng, **options)
        self._messages: dict[int, Any] = {}
        self._run: _Run | None = None
        self._ended = Signal()
        """Fired when a ``consume`` call ends."""
        self._abandoned: BaseException | None = None
        self._errors: Any = self._errors_class()
        self._errors._owner = self

    @staticmethod
    def _current() -> object:
        raise NotImplementedError

    def _make_core(self, engine: Any, now: float) -> GroupCore:
        return GroupCore(engine, self.config)

    def _locked(self, fn: Callable[[], T]) -> T:
        """``fn()`` where the engine's state may be read (threads: under its lock)."""
        return fn()

    def _do(self, fn: Callable[[GroupCore, float], T]) -> T:
        """``fn(core, now)`` inside the engine, then perform what it asked for."""
        return self._loop.run(lambda _, now: fn(self._core, now))  # type: ignore[attr-defined, no-any-return]

    def _release(self, stream: int, size: int) -> None:
        self._do(lambda core, now: core.release(stream, size, now))

    def _stream(self, stream: int) -> Any:
        messages = self._messages.get(stream)
        if messages is None:
            messages = self._messages[stream] = self._claims_class(self, stream)
        return messages

    def _on_event(self, event: Event) -> bool:
        core = self._core
        if isinstance(event, RecordsFetched):
            if not core.owns_stream(event.stream):
                return False
            self._stream(event.stream)._push(event.messages, event.size, event.high_watermark,
                                             event.seeks)
            return True
        if isinstance(event, FetchError):
            if not core.owns_stream(event.stream):
                return False
            self._errors._push(GroupError(core.id, event.error, event.topic, event.partition))
            if event.stopped:
                self._stream(event.stream)._stop(event.error)
            return True
        if getattr(event, "group", None) != core.id:
            return False
        run = self._run
        if isinstance(event, ClaimsStopping):
            for stream in event.streams:
                self._stream(stream)._stop()
            if run is not None and run.session is not None and event.reason != "revoked":
                run.session.stopped.set()
        elif isinstance(event, ClaimsStarted):
            if run is not None and run.session is not None:
                run.pending.extend(event.claims)
                run.signal.fire()
        elif isinstance(event, SessionDrained):
            if run is not None:
                run.drained = event
                run.signal.fire()
        elif isinstance(event, GroupError):
            self._errors._push(event)
        return True

    def _request_stop(self, run: _Run, reason: str) -> None:
        def stop(core: GroupCore, now: float) -> None:
            if run.stop_requested:
                return
            run.stop_requested = True
            if run.info is not None:
                core.stop_session(run.info.session, reason, now)
            else:  # still joining: give up the join
                core.abort(reason, now)
        self._do(stop)

    def _end_unstarted(self, info: SessionInfo, now: float) -> None:
        self._core.stop_session(info.session, "setup() raised", now)
        for claim in info.claims:
            self._core.claim_finished(info.session, claim.stream, now)

    def _spawn(self, run: _Run, info: ClaimInfo) -> Spawn:
        session = run.session
        claim = self._claim_class(self, info, self._stream(info.stream))

        def main() -> Any:
            run.members.add(self._current())
            return run.handler.consume_claim(session, claim)

        def done(error: BaseException | None) -> None:
            if isinstance(error, Exception):  # else the claim loop was cancelled (abandoned)
                run.errors.append(error)
            self._do(lambda core, now: core.claim_finished(session._id, info.stream, now))

        return Spawn(main, done, f"kproto-claim-{info.topic}-{info.partition}")

    def _consume(self, topics: Topics, handler: Any, cancel: Any = None) -> Op[None]:
        """One session; see the module comment. ``cancel`` (threads) ends it from elsewhere."""
        self._check_open()
        check_handler(handler)
        if self._run is not None:
            raise AlreadyConsumingError("consume() is already running on this consumer group")
        loop: Any = self._loop
        core, cfg = self._core, self.config
        run = self._run = _Run(handler)
        run.members.add(self._current())
        cancelled: BaseException | None = None

        def failed(exc: BaseException, first: bool = False) -> BaseException | None:
            """Note a handler's or the final commit's error; a cancellation is kept apart."""
            if not isinstance(exc, Exception):
                return cancelled or exc
            run.errors.insert(0 if first else len(run.errors), exc)
            return cancelled

        try:
            bound = (cfg.rebalance_timeout + cfg.request_timeout + cfg.connect_timeout + 5.0
                     if self._join_bound else None)
            try:
                info: SessionInfo = yield from call(
                    loop, lambda _, now: core.consume(topics, now), bound, "joining the group")
            except BaseException:
                loop.run(lambda _, now: core.abort("consume() gave up", now))
                raise
            session = self._session_class(self, info)
            run.info, run.session = info, session
            try:
                yield CallUser(getattr(handler, "setup", no_op), (session,))
            except BaseException as exc:
                cancelled = failed(exc)
                loop.run(lambda _, now: self._end_unstarted(info, now))
            else:
                run.pending.extend(info.claims)
            if cancel is not None:
                cancel._on_cancel(lambda: self._request_stop(run, "consume() was cancelled"))
            while True:
                if self._closed:
                    self._request_stop(run, "the consumer group is closing")
                while run.pending and run.drained is None:
                    run.spawned.append((yield self._spawn(run, run.pending.pop(0))))
                if run.drained is not None:  # (a claim loop may have ended the session by now)
                    break
                try:
                    yield Park((run.signal,), shield=cancelled is not None)
                except BaseException as exc:
                    if cancelled is not None:
                        raise
                    cancelled = exc
                    self._request_stop(run, "consume() was cancelled")
            if run.drained.abandoned:
                self._abandoned = run.drained.error
                for spawned in run.spawned:
                    spawned.cancel()
            else:
                try:
                    yield CallUser(getattr(handler, "cleanup", no_op), (session,),
                                   shield=cancelled is not None,
                                   deadline=loop.now() + cfg.rebalance_timeout)
                except BaseException as exc:
                    cancelled = failed(exc)
            try:
                yield from wait(loop.start(lambda _, now: core.finish_session(info.session, now)),
                                loop, _cleanup_bound(self), "the final commit", shield=True)
            except ClosedError:
                if not self._closed:  # closed from a claim loop: close did the commit
                    raise
            except BaseException as exc:
                cancelled = failed(exc, first=True)
        finally:
            for stream in [s for s, m in self._messages.items() if m._stopped]:
                del self._messages[stream]
            self._run = None
            self._ended.fire()
        if cancelled is not None:
            raise cancelled
        if run.errors:
            raise run.errors[0]

    def _mark_closed(self) -> bool:
        """Closed from now on; True for the first close."""
        first, self._closed = not self._closed, True
        return first

    def _close(self, first: bool, timeout: float | None = None) -> Op[None]:
        """End a running session (waiting for it unless called from inside it), then, on the
        first close, leave the group; bounded, and shielded from cancellation."""
        loop: Any = self._loop
        cfg = self.config
        run = self._run
        if run is not None:
            self._request_stop(run, "the consumer group is closing")
            if self._current() not in run.members:
                deadline = loop.now() + cfg.rebalance_timeout + cfg.request_timeout + 5.0
                while self._run is run and loop.now() < deadline:
                    yield Park((self._ended,), deadline, shield=True)
        if first:
            try:
                yield from wait(loop.start(lambda _, now: self._core.close(now)), loop,
                                _cleanup_bound(self) if timeout is None else timeout,
                                "closing the consumer group", shield=True)
            except (ClosedError, ClientTimeoutError):
                pass
            finally:
                self._errors._end()

    def _raise_abandoned(self) -> None:
        """After close: SessionAbandonedError when claim loops had to be abandoned."""
        if self._abandoned is not None:
            error, self._abandoned = self._abandoned, None
            raise error

    def pause(self, partitions: Any) -> None:
        """Stop fetching ``{topic: [partition, ...]}`` or (topic, partition) pairs, now and
        in later sessions, until resumed."""
        self._do(lambda core, now: core.pause(partitions, now))

    def resume(self, partitions: Any) -> None:
        self._do(lambda core, now: core.resume(partitions, now))

    def pause_all(self) -> None:
        self._do(lambda core, now: core.pause_all(now))

    def resume_all(self) -> None:
        self._do(lambda core, now: core.resume_all(now))


class AsyncGroup(GroupBase[AL]):
    """The asyncio and trio ConsumerGroup's awaited methods."""

    _claim_class = AsyncClaim

    async def consume(self, topics: Topics, handler: AsyncHandlerProtocol[Any, Any]) -> None:
        """Run one session: join, ``handler.setup(session)``, ``handler.consume_claim(session,
        claim)`` as a task per claim until the session ends, ``handler.cleanup(session)``,
        commit. Cancelling it ends the session the same way before the cancellation goes on.
        Raises what ended the session when it was fatal, or the first exception a handler
        method raised (after cleanup and the final commit). Handler methods may be coroutines
        or plain functions."""
        await self._loop.drive(self._consume(topics, handler))

    async def close(self) -> None:
        """End a running session (its claim loops get the rebalance timeout to return), commit,
        leave the group, release everything. Raises SessionAbandonedError when claim loops
        had to be abandoned."""
        first = self._mark_closed()
        try:
            if self._core_obj is not None:
                await self._loop.drive(self._close(first))
        finally:
            if self._owns_client:
                await self._client.close()
        self._raise_abandoned()
