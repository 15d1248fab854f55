"""The asyncio ConsumerGroup: one task per claim, on the engine's event loop.

Everything about sessions, offsets and errors is decided by
:class:`kproto.group.session.GroupCore`; this file only runs ``handler.consume_claim`` as a
task per claim, feeds each claim's ``messages`` from engine events, and awaits.
Handler methods may be coroutines or plain functions.
"""

from __future__ import annotations

import asyncio
import inspect
import random
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

from kproto.config import Config, from_options
from kproto.consumer import FetchError, RecordsFetched
from kproto.errors import (
    AlreadyConsumingError,
    ClientTimeoutError,
    ClosedError,
    ConfigurationError,
    ObjectClosedError,
)
from kproto.events import Event
from kproto.group.events import (
    ClaimInfo,
    ClaimsStarted,
    ClaimsStopping,
    GroupError,
    SessionDrained,
    SessionInfo,
)
from kproto.group.metadata import ConsumerGroupMetadata
from kproto.group.session import GroupCore, Topics
from kproto.lifetime import warn_dropped
from kproto.messages import ConsumerMessage
from kproto_asyncio.client import Client

__all__ = ["Claim", "ClaimMessages", "ConsumerGroup", "GroupErrors", "Session"]

ERRORS_CAPACITY = 1000


async def _maybe_await(value: Any) -> Any:
    if inspect.isawaitable(value):
        return await value
    return value


class ClaimMessages:
    """A claim's messages in offset order: ``async for m in claim.messages``, or ``await
    get()``. Iteration ends when the claim is told to stop; a partition error is raised
    after the messages before it."""

    def __init__(self, group: ConsumerGroup, stream: int) -> None:
        self._group = group
        self._stream = stream
        self._chunks: deque[tuple[tuple[ConsumerMessage, ...], int]] = deque()
        self._pos = 0
        self._stopped = False
        self._error: BaseException | None = None
        self._wake = asyncio.Event()
        self.high_water_mark = -1

    def _push(self, messages: tuple[ConsumerMessage, ...], size: int, hwm: int) -> None:
        self.high_water_mark = max(self.high_water_mark, hwm)
        if not self._stopped:
            self._chunks.append((messages, size))
            self._wake.set()

    def _stop(self, error: BaseException | None = None) -> None:
        if error is not None:
            self._error = error
        else:
            self._stopped = True
            self._chunks.clear()
        self._wake.set()

    async def get(self, timeout: float | None = None) -> ConsumerMessage:
        """The next message; ClosedError once the claim stops (iteration just ends),
        ClientTimeoutError after ``timeout`` seconds without one."""
        while True:
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
            if self._error is not None:
                error, self._error = self._error, None
                self._stopped = True
                raise error
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except asyncio.TimeoutError:
                raise ClientTimeoutError(f"no message within {timeout:g}s") from None

    def __aiter__(self) -> AsyncIterator[ConsumerMessage]:
        return self

    async def __anext__(self) -> ConsumerMessage:
        try:
            return await self.get()
        except ClosedError:
            raise StopAsyncIteration from None


class Claim:
    """One partition of a session: ``topic``, ``partition``, ``initial_offset``, its
    ``messages`` and ``high_water_mark_offset()``."""

    def __init__(self, group: ConsumerGroup, info: ClaimInfo, messages: ClaimMessages) -> None:
        self._group = group
        self._info = info
        self.topic = info.topic
        self.partition = info.partition
        self.initial_offset = info.initial_offset
        self.messages = messages
        if info.error is not None:
            messages._stop(info.error)

    def high_water_mark_offset(self) -> int:
        return max(self._group._core.high_water_mark(self._info.stream),
                   self.messages.high_water_mark)

    def __repr__(self) -> str:
        return f"<Claim {self.topic}[{self.partition}] from {self.initial_offset}>"


class Session:
    """What a handler gets: the claims, the member, offsets to mark and commit."""

    def __init__(self, group: ConsumerGroup, info: SessionInfo) -> None:
        self._group = group
        self._id = info.session
        self._info = info
        self._metadata: ConsumerGroupMetadata | None = None
        self.stopped = asyncio.Event()
        """Set once the session is ending (a rebalance, a claim loop returned, cancel, close)."""

    @property
    def member_id(self) -> str:
        return self._group._core.member_id

    @property
    def generation_id(self) -> int:
        return self._group._core.generation_id

    def group_metadata(self) -> ConsumerGroupMetadata:
        """This member as the group coordinator knows it, for ``add_offsets_to_txn`` /
        ``add_message_to_txn`` (KIP-447): the current generation while the session runs, the
        generation it ran with once it is over, so that a late commit is rejected."""
        self._metadata = self._group._core.group_metadata(self._info, self._metadata)
        return self._metadata

    def claims(self) -> dict[str, list[int]]:
        return self._group._core.claims(self._id)

    def mark_message(self, message: ConsumerMessage, metadata: str | None = None) -> None:
        self._group._core.mark_message(self._id, message, metadata)

    def mark_offset(self, topic: str, partition: int, offset: int,
                    metadata: str | None = None) -> None:
        self._group._core.mark_offset(self._id, topic, partition, offset, metadata)

    def reset_offset(self, topic: str, partition: int, offset: int,
                     metadata: str | None = None) -> None:
        self._group._core.reset_offset(self._id, topic, partition, offset, metadata)

    async def commit(self) -> None:
        """Commit the marked offsets now and wait for the broker."""
        await self._group._loop.call(lambda core, now: self._group._core.commit(now))


class GroupErrors:
    """The group's errors (``GroupError`` values): ``async for`` or ``await get()``; when
    nobody reads and it is full the oldest is dropped. Iteration ends once the group closes."""

    def __init__(self) -> None:
        self._items: deque[GroupError] = deque(maxlen=ERRORS_CAPACITY)
        self._wake = asyncio.Event()
        self._closed = False

    def _push(self, item: GroupError) -> None:
        self._items.append(item)
        self._wake.set()

    def _close(self) -> None:
        self._closed = True
        self._wake.set()

    async def get(self) -> GroupError:
        while not self._items:
            if self._closed:
                raise ClosedError("the consumer group is closed")
            self._wake.clear()
            await self._wake.wait()
        return self._items.popleft()

    def __len__(self) -> int:
        return len(self._items)

    def __aiter__(self) -> AsyncIterator[GroupError]:
        return self

    async def __anext__(self) -> GroupError:
        try:
            return await self.get()
        except ClosedError:
            raise StopAsyncIteration from None


class _Run:
    def __init__(self) -> None:
        self.info: SessionInfo | None = None
        self.session: Session | None = None
        self.handler: Any = None
        self.tasks: set[asyncio.Task[None]] = set()
        self.errors: list[BaseException] = []
        self.drained = asyncio.Event()
        self.drained_event: SessionDrained | None = None
        self.stop_requested = False
        self.done = asyncio.Event()


class ConsumerGroup:
    """A member of a consumer group. ``await consume(topics, handler)`` runs one session.

    ``async with ConsumerGroup("host:9092", group_id="g") as group:``; or ``config=``, or
    ``client=`` an existing Client whose connections it shares.
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
        if not self.config.group_id:
            raise ConfigurationError("a consumer group needs group_id")
        self._core_obj: GroupCore | None = None
        self._messages: dict[int, ClaimMessages] = {}
        self._run: _Run | None = None
        self._closed = False
        self._abandoned: BaseException | None = None
        self._errors: GroupErrors | None = None
        self._closing: asyncio.Task[None] | None = None

    @property
    def _loop(self) -> Any:
        return self._client._loop

    @property
    def _core(self) -> GroupCore:
        if self._core_obj is None:
            self._core_obj = self._loop.run(lambda core, now: GroupCore(core, self.config))
            self._loop.add_handler(self._on_event)
        return self._core_obj

    @property
    def errors(self) -> GroupErrors:
        if self._errors is None:
            self._errors = GroupErrors()
        return self._errors

    def _release(self, stream: int, size: int) -> None:
        self._loop.run(lambda core, now: self._core.release(stream, size, now))

    def _stream(self, stream: int) -> ClaimMessages:
        messages = self._messages.get(stream)
        if messages is None:
            messages = self._messages[stream] = ClaimMessages(self, stream)
        return messages

    def __del__(self) -> None:
        """Dropped without close: say which connections of its own client are left open."""
        if self.__dict__.get("_closed", True) or not self.__dict__.get("_owns_client"):
            return
        loop = self._client._loop_obj
        warn_dropped(self, loop)

    # -- events ---------------------------------------------------------------------------

    def _on_event(self, event: Event) -> bool:
        core = self._core
        if isinstance(event, RecordsFetched):
            if not core.owns_stream(event.stream):
                return False
            self._stream(event.stream)._push(event.messages, event.size, event.high_watermark)
            return True
        if isinstance(event, FetchError):
            if not core.owns_stream(event.stream):
                return False
            self.errors._push(GroupError(core.id, event.error, event.topic, event.partition))
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
                for info in event.claims:
                    self._start_claim(run, info)
        elif isinstance(event, SessionDrained):
            if run is not None:
                run.drained_event = event
                run.drained.set()
        elif isinstance(event, GroupError):
            self.errors._push(event)
        return True

    # -- claims ---------------------------------------------------------------------------

    def _start_claim(self, run: _Run, info: ClaimInfo) -> None:
        claim = Claim(self, info, self._stream(info.stream))
        session = run.session
        assert session is not None

        async def main() -> None:
            try:
                await _maybe_await(run.handler.consume_claim(session, claim))
            except asyncio.CancelledError:
                pass  # an abandoned claim
            except Exception as exc:
                run.errors.append(exc)
            finally:
                self._loop.run(lambda core, now: self._core.claim_finished(
                    session._id, info.stream, now))

        task = asyncio.get_running_loop().create_task(
            main(), name=f"kproto-claim-{info.topic}-{info.partition}")
        run.tasks.add(task)
        task.add_done_callback(run.tasks.discard)

    # -- the user API ---------------------------------------------------------------------

    async def consume(self, topics: Topics, handler: Any) -> None:
        """Run one session: join, ``handler.setup(session)``, ``handler.consume_claim(session,
        claim)`` as a task per claim until the session ends, ``handler.cleanup(session)``,
        commit. Cancelling it ends the session the same way before the cancellation goes on.
        Raises what ended the session when it was fatal, or the first exception a handler
        method raised (after cleanup and the final commit)."""
        if self._closed:
            raise ObjectClosedError("the consumer group is closed")
        if self._run is not None:
            raise AlreadyConsumingError("consume() is already running on this consumer group")
        run = self._run = _Run()
        run.handler = handler
        cancelled: BaseException | None = None
        try:
            try:
                info: SessionInfo = await self._loop.call(
                    lambda core, now: self._core.consume(topics, now))
            except BaseException:
                self._loop.run(lambda core, now: self._core.abort("consume() gave up", now))
                raise
            session = Session(self, info)
            run.info = info
            run.session = session
            try:
                await _maybe_await(handler.setup(session))
            except asyncio.CancelledError as exc:
                cancelled = exc
                self._loop.run(lambda core, now: self._end_unstarted(info, now))
            except Exception as exc:
                run.errors.append(exc)
                self._loop.run(lambda core, now: self._end_unstarted(info, now))
            else:
                for claim_info in info.claims:
                    self._start_claim(run, claim_info)
            while not run.drained.is_set():
                if self._closed:
                    self._request_stop(run, "the consumer group is closing")
                try:
                    await run.drained.wait()
                except asyncio.CancelledError as exc:
                    if cancelled is not None:
                        raise
                    cancelled = exc
                    self._request_stop(run, "consume() was cancelled")
            drained = run.drained_event
            assert drained is not None
            if drained.abandoned:
                self._abandoned = drained.error
                for task in list(run.tasks):
                    task.cancel()
                if run.tasks:
                    await asyncio.gather(*run.tasks, return_exceptions=True)
            else:
                try:
                    await _maybe_await(handler.cleanup(session))
                except Exception as exc:
                    run.errors.append(exc)
            try:
                await asyncio.shield(self._loop.call(
                    lambda core, now: self._core.finish_session(info.session, now)))
            except asyncio.CancelledError as exc:
                cancelled = cancelled or exc
            except ClosedError:
                if not self._closed:  # closed from a claim loop: close did the commit
                    raise
            except Exception as exc:
                run.errors.insert(0, exc)
        finally:
            for stream in [s for s, m in self._messages.items() if m._stopped]:
                del self._messages[stream]
            self._run = None
            run.done.set()
        if cancelled is not None:
            raise cancelled
        if run.errors:
            raise run.errors[0]

    def _end_unstarted(self, info: SessionInfo, now: float) -> None:
        self._core.stop_session(info.session, "setup() raised", now)
        for claim in info.claims:
            self._core.claim_finished(info.session, claim.stream, now)

    def _request_stop(self, run: _Run, reason: str) -> None:
        if run.stop_requested:
            return
        run.stop_requested = True
        if run.info is not None:
            session = run.info.session
            self._loop.run(lambda core, now: self._core.stop_session(session, reason, now))
        else:  # still joining: give up the join
            self._loop.run(lambda core, now: self._core.abort(reason, now))

    def pause(self, partitions: Any) -> None:
        """Stop fetching ``{topic: [partition, ...]}`` or (topic, partition) pairs, now and in
        later sessions, until resumed."""
        self._loop.run(lambda core, now: self._core.pause(partitions, now))

    def resume(self, partitions: Any) -> None:
        self._loop.run(lambda core, now: self._core.resume(partitions, now))

    def pause_all(self) -> None:
        self._loop.run(lambda core, now: self._core.pause_all(now))

    def resume_all(self) -> None:
        self._loop.run(lambda core, now: self._core.resume_all(now))

    async def close(self) -> None:
        """End a running session (its claim loops get the rebalance timeout to return), commit,
        leave the group, release everything. Raises SessionAbandonedError when claim loops
        had to be abandoned."""
        self._closed = True
        if self._closing is None:
            # Its own task: a claim loop closing the group may itself be cancelled (abandoned)
            # meanwhile, and the commit and LeaveGroup must go through all the same.
            self._closing = asyncio.get_running_loop().create_task(
                self._close(asyncio.current_task()), name="kproto-group-close")
        await asyncio.shield(self._closing)
        if self._abandoned is not None:
            error, self._abandoned = self._abandoned, None
            raise error

    async def _close(self, caller: asyncio.Task[Any] | None) -> None:
        self._closed = True
        run = self._run
        if run is not None:
            self._request_stop(run, "the consumer group is closing")
            if caller not in run.tasks:
                cfg = self.config
                try:
                    await asyncio.wait_for(run.done.wait(),
                                           cfg.rebalance_timeout + cfg.request_timeout + 5.0)
                except asyncio.TimeoutError:
                    pass
        try:
            if self._core_obj is not None:
                # Bounded: a coordinator that stopped answering cannot hold close up for long.
                await asyncio.wait_for(self._loop.call(lambda core, now: self._core.close(now)),
                                       2 * self.config.request_timeout + 5.0)
        except (ClosedError, asyncio.TimeoutError):
            pass
        finally:
            self.errors._close()
            if self._owns_client:
                await self._client.close()

    async def __aenter__(self) -> ConsumerGroup:
        if self._owns_client:
            await self._client.__aenter__()
        _ = self._core
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
