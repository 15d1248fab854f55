"""The subscribe-and-iterate group consumer (Java's KafkaConsumer, aiokafka's
AIOKafkaConsumer), written once over the same :class:`~kproto.group.core.GroupCore` as the
handler-based ConsumerGroup.

Theory of operation
-------------------
GroupCore runs sessions: a join hands out claims (one fetch stream per partition), a
rebalance or a lost membership ends the session (``ClaimsStopping``), the session drains once
every claim is finished (``SessionDrained``) and ``finish_session`` makes the final commit;
the next ``consume`` rejoins. Cooperative rebalancing revokes (``ClaimsStopping`` with reason
"revoked") and adds (``ClaimsStarted``) claims within a running session.

Here there are no claim loops: the *caller's poll* plays them all, as Java's poll() runs the
rebalance. ``_on_event`` (inside the engine) only files things: fetched chunks go to their
partition's buffer, group events to ``_stopping`` / ``_started`` / ``_drained``. Every
:meth:`GroupConsumerBase._poll` first runs :meth:`_maintain`, an operation that, in order:

1. hands finished ``commit_async`` results to their callbacks;
2. joins when there is no session (``GroupCore.consume``; the join's Result is kept across
   polls, so a poll that times out or is cancelled does not give up the join) and calls
   ``listener.on_partitions_assigned``;
3. for revoked claims: ``on_partitions_revoked`` first (so it can still commit), then
   ``claim_finished``, which lets the core commit what is marked and rejoin;
4. for a session that ends: ``on_partitions_revoked`` (``on_partitions_lost`` when the
   membership was lost), ``claim_finished`` for each claim, then, once drained, the final
   commit (``finish_session``); the next round rejoins;
5. for claims added: ``on_partitions_assigned``.

Then it takes up to ``max_records`` from the partitions' buffers, in rotation, skipping
paused ones. The *position* of a partition is the offset of the next message to return (the
claim's initial offset, then last returned + 1); ``commit()`` stores positions, and with
``enable_auto_commit`` each poll marks the positions it returned, which GroupCore commits
every ``auto_commit_interval``, at a rebalance and at close. Without it nothing is committed
but what ``commit``/``commit_async`` asks for.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from kproto.config import from_options
from kproto.consumer import FetchError, RecordsFetched
from kproto.errors import (
    ClientTimeoutError,
    ClosedError,
    ConfigurationError,
    ObjectClosedError,
    UsageError,
)
from kproto.events import Event
from kproto.facade._feature import EntersClient, Feature, L
from kproto.facade._wait import AsyncLoop, CallUser, Op, Park, Result, Signal, wait
from kproto.group.assignors import TopicPartition
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
from kproto.message_types import OFFSET_OLDEST, ConsumerMessage

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from kproto.options import Options

__all__ = ["AsyncGroupConsumer", "GroupConsumerBase", "RebalanceListener"]

T = TypeVar("T")
Offsets = Mapping[tuple[str, int], int]
CommitCallback = Callable[[dict[TopicPartition, int], BaseException | None], Any]


class RebalanceListener:
    """Subclass and override what you need; methods may be plain or coroutines. Each is
    called from inside ``poll``/iteration, on the caller's thread or task:
    ``on_partitions_revoked`` before the partitions' offsets are committed and given away
    (commit there what you processed), ``on_partitions_assigned`` once they are yours,
    ``on_partitions_lost`` when the membership was lost (they are someone else's already)."""

    def on_partitions_revoked(self, revoked: set[TopicPartition]) -> Any:
        return None

    def on_partitions_assigned(self, assigned: set[TopicPartition]) -> Any:
        return None

    def on_partitions_lost(self, lost: set[TopicPartition]) -> Any:
        return None


class _Partition:
    """One assigned partition: its fetched chunks not yet returned and its position."""

    __slots__ = ("chunks", "error", "index", "position", "stopping", "stream", "tp")

    def __init__(self, info: ClaimInfo) -> None:
        self.tp = TopicPartition(info.topic, info.partition)
        self.stream = info.stream
        self.chunks: deque[tuple[tuple[ConsumerMessage, ...], int]] = deque()
        self.index = 0
        self.position: int | None = info.initial_offset if info.initial_offset >= 0 else None
        self.error: BaseException | None = info.error
        self.stopping = False


def _tp_set(partitions: Any, what: str) -> set[TopicPartition]:
    """(topic, partition) pairs, one pair, or ``{topic: [partitions]}``, checked."""
    if isinstance(partitions, Mapping):
        pairs: Iterable[Any] = [(t, p) for t, ps in partitions.items() for p in ps]
    elif isinstance(partitions, tuple) and len(partitions) == 2 and \
            isinstance(partitions[0], str):
        pairs = [partitions]
    else:
        pairs = partitions
    out = set()
    try:
        for t, p in pairs:
            if not isinstance(t, str) or not isinstance(p, int) or p < 0:
                raise TypeError
            out.add(TopicPartition(t, p))
    except (TypeError, ValueError):
        raise UsageError(f"{what}: expected (topic, partition) pairs, got {partitions!r}") \
            from None
    return out


class GroupConsumerBase(Feature[L, GroupCore]):
    """A member of a consumer group read by polling. The adapter names its errors stream
    class in ``_errors_class`` and adds the blocking or awaited methods."""

    _what = "group consumer"
    _errors_class: Any

    def __init__(self, bootstrap: str | list[str] | None = None, config: Any = None, *,
                 client: Any = None, rng: Any = None, **options: Unpack[Options]) -> None:
        base = config or (client.config if client is not None else None)
        if not (from_options(base, options) if options or base is None else base).group_id:
            raise ConfigurationError("a group consumer needs group_id")
        super().__init__(bootstrap, config, client=client, rng=rng, **options)
        self._topics: Topics | None = None
        self._listener: Any = None
        self._joining: Result[Any] | None = None
        self._info: SessionInfo | None = None
        self._parts: dict[TopicPartition, _Partition] = {}
        self._by_stream: dict[int, _Partition] = {}
        self._early: dict[int, list[tuple[tuple[ConsumerMessage, ...], int]]] = {}
        """Chunks of claims fetched before the poll took up their session or addition."""
        self._early_errors: dict[int, BaseException] = {}
        self._stopping: deque[ClaimsStopping] = deque()
        self._started: deque[ClaimsStarted] = deque()
        self._drained: SessionDrained | None = None
        self._commits: deque[tuple[CommitCallback, dict[TopicPartition, int],
                                   BaseException | None]] = deque()
        self._paused: set[TopicPartition] = set()
        self._signal = Signal()
        self._polling = False
        self._rotation = 0
        self._errors: Any = self._errors_class()
        self._errors._owner = self

    def _make_core(self, engine: Any, now: float) -> GroupCore:
        return GroupCore(engine, self.config)

    def _locked(self, fn: Callable[[], T]) -> T:
        """``fn()`` where the engine's state may be read (threads: under its lock)."""
        with self._loop.lock:  # type: ignore[attr-defined]
            return fn()

    def _do(self, fn: Callable[[GroupCore, float], T]) -> T:
        """``fn(core, now)`` inside the engine, then perform what it asked for."""
        return self._loop.run(lambda _, now: fn(self._core, now))  # type: ignore[attr-defined, no-any-return]

    @property
    def errors(self) -> Any:
        """Errors that do not stop the consumer (``GroupError``): failed auto-commits and
        ``commit_async`` calls without a callback, fetch errors, lost memberships."""
        return self._errors

    # == events (inside the engine) ======================================================

    def _on_event(self, event: Event) -> bool:
        core = self._core
        if isinstance(event, RecordsFetched):
            if not core.owns_stream(event.stream):
                return False
            part = self._by_stream.get(event.stream)
            if part is None:  # a claim whose session the poll has not taken up yet
                self._early.setdefault(event.stream, []).append((event.messages, event.size))
            elif part.stopping:
                core.release(event.stream, event.size, core.core.now)
            else:
                part.chunks.append((event.messages, event.size))
                self._signal.fire()
            return True
        if isinstance(event, FetchError):
            if not core.owns_stream(event.stream):
                return False
            self._errors._push(GroupError(core.id, event.error, event.topic, event.partition))
            part = self._by_stream.get(event.stream)
            if event.stopped and part is not None:
                part.error = event.error
                self._signal.fire()
            elif event.stopped:
                self._early_errors[event.stream] = event.error
            return True
        if getattr(event, "group", None) != core.id:
            return False
        if isinstance(event, ClaimsStopping):
            for stream in event.streams:
                part = self._by_stream.get(stream)
                if part is not None:
                    part.stopping = True
                    part.chunks.clear()
            self._stopping.append(event)
        elif isinstance(event, ClaimsStarted):
            self._started.append(event)
        elif isinstance(event, SessionDrained):
            self._drained = event
        elif isinstance(event, GroupError):
            self._errors._push(event)
        self._signal.fire()
        return True

    # == the poll ========================================================================

    def subscribe(self, topics: Any = None, *, pattern: Any = None,
                  listener: Any = None) -> None:
        """Consume ``topics`` (names) or every topic ``pattern`` (a regular expression)
        matches, as a member of the group; the next poll joins. ``listener``: a
        :class:`RebalanceListener`, called from inside the polls."""
        self._locked(lambda: self._subscribe(topics, pattern, listener))

    def _subscribe(self, topics: Any, pattern: Any, listener: Any) -> None:
        if (topics is None) == (pattern is None):
            raise UsageError("subscribe: give topics or pattern=, not both")
        if pattern is not None:
            if isinstance(pattern, str):
                try:
                    pattern = re.compile(pattern)
                except re.error as exc:
                    raise UsageError(f"subscribe: pattern {pattern!r} is not valid: {exc}") \
                        from None
            if not isinstance(pattern, re.Pattern):
                raise UsageError(f"subscribe: pattern must be a str or re.Pattern, got "
                                 f"{pattern!r}")
            wanted: Topics = pattern
        else:
            names = (topics,) if isinstance(topics, str) else tuple(topics)
            if not names or not all(isinstance(t, str) and t for t in names):
                raise UsageError(f"subscribe: topics must be topic names, got {topics!r}")
            wanted = names
        for name in ("on_partitions_revoked", "on_partitions_assigned", "on_partitions_lost"):
            if listener is not None and hasattr(listener, name) and \
                    not callable(getattr(listener, name)):
                raise UsageError(f"subscribe: listener.{name} is not callable")
        self._check_open()
        self._topics, self._listener = wanted, listener
        _ = self._core
        if self._info is not None:  # the next poll rejoins with the new subscription
            info = self._info
            self._do(lambda core, now: core.stop_session(info.session,
                                                         "the subscription changed", now))

    def _call_listener(self, name: str, parts: set[TopicPartition]) -> Op[None]:
        fn = getattr(self._listener, name, None)
        if fn is not None and parts:
            yield CallUser(fn, (set(parts),))

    def _poll(self, max_records: int | None, timeout: float | None
              ) -> Op[dict[TopicPartition, list[ConsumerMessage]]]:
        """Up to ``max_records`` messages by partition once there are any, else ``{}`` after
        ``timeout`` (None: wait for as long as it takes)."""
        if max_records is not None and (not isinstance(max_records, int) or max_records < 1):
            raise UsageError(f"max_records must be an int >= 1 or None, got {max_records!r}")
        if timeout is not None and timeout < 0:
            raise UsageError(f"timeout must be >= 0 or None, got {timeout!r}")
        if self._polling:
            raise UsageError("the group consumer is already being polled (by another thread "
                             "or task, or from its listener)")
        self._polling = True
        loop: Any = self._loop
        deadline = None if timeout is None else loop.now() + timeout
        try:
            while True:
                yield from self._maintain()
                batch = self._take(max_records)
                if batch:
                    return batch
                if deadline is not None and loop.now() >= deadline:
                    return {}
                on: tuple[Any, ...] = (self._signal,)
                if self._joining is not None:
                    on += (self._joining,)
                yield Park(on, deadline)
        finally:
            self._polling = False

    def _maintain(self) -> Op[None]:
        """Commit callbacks, joins and rebalances, in the order the module comment gives."""
        loop: Any = self._loop
        while True:
            if self._closed:
                raise ClosedError("the group consumer is closed")
            while self._commits:
                callback, offsets, error = self._commits.popleft()
                yield CallUser(callback, (offsets, error))
            if self._topics is None:
                raise UsageError("subscribe() to topics before polling")
            core = self._core
            if self._info is None:
                if self._joining is None:
                    self._joining = loop.start(partial(self._join, core, self._topics))
                if not self._joining.done():
                    return
                joining, self._joining = self._joining, None
                info: SessionInfo = joining.result()
                self._info, self._drained = info, None
                self._add(info.claims)
                yield from self._call_listener("on_partitions_assigned", set(self._parts))
                continue
            if self._stopping:
                event = self._stopping.popleft()
                parts = {p.tp for s in event.streams if (p := self._by_stream.get(s))}
                if event.reason == "revoked":
                    yield from self._call_listener("on_partitions_revoked", parts)
                else:
                    abandoned = self._drained is not None and bool(self._drained.abandoned)
                    lost = abandoned or self._do(partial(self._lost, self._info))
                    yield from self._call_listener(
                        "on_partitions_lost" if lost else "on_partitions_revoked", parts)
                self._do(partial(self._finish_claims, self._info, event.streams))
                continue
            if self._drained is not None:
                yield from self._end_session()
                continue
            if self._started:
                event2 = self._started.popleft()
                self._add(event2.claims)
                yield from self._call_listener(
                    "on_partitions_assigned",
                    {TopicPartition(c.topic, c.partition) for c in event2.claims})
                continue
            return

    def _one(self, timeout: float | None) -> Op[ConsumerMessage]:
        batch = yield from self._poll(1, timeout)
        if not batch:
            raise ClientTimeoutError(f"no message within {timeout:g}s")
        [[message]] = batch.values()
        return message

    def _add(self, claims: Iterable[ClaimInfo]) -> None:
        def add() -> None:
            for claim in claims:
                part = _Partition(claim)
                part.chunks.extend(self._early.pop(part.stream, ()))
                part.error = part.error or self._early_errors.pop(part.stream, None)
                self._parts[part.tp] = self._by_stream[part.stream] = part
        self._locked(add)

    @staticmethod
    def _join(core: GroupCore, topics: Topics, _engine: Any, now: float) -> int:
        return core.consume(topics, now)

    @staticmethod
    def _lost(info: SessionInfo, core: GroupCore, _now: float) -> bool:
        return core.session_lost(info.session)

    def _finish_claims(self, info: SessionInfo, streams: Iterable[int], core: GroupCore,
                       now: float) -> None:
        for stream in streams:
            self._early.pop(stream, None)
            part = self._by_stream.pop(stream, None)
            if part is not None and self._parts.get(part.tp) is part:
                del self._parts[part.tp]
            core.claim_finished(info.session, stream, now)

    def _end_session(self) -> Op[None]:
        """After the drain: the final commit; an abandoned session (the caller did not poll
        within the rebalance timeout) is reported on ``errors`` and rejoined, a fatal end is
        raised."""
        info, drained = self._info, self._drained
        assert info is not None and drained is not None
        core, loop = self._core, self._loop
        try:
            yield from wait(loop.start(lambda _, now: core.finish_session(info.session, now)),  # type: ignore[attr-defined]
                            loop, 2 * float(self.config.request_timeout) + 5.0,  # type: ignore[arg-type]
                            "the final commit", shield=True)
        except ClosedError:
            if not self._closed:
                raise
        except Exception as exc:
            if not drained.abandoned:
                raise
            self._errors._push(GroupError(core.id, exc))
        finally:
            self._by_stream.clear()
            self._parts.clear()
            self._early.clear()  # (their streams are unassigned: nothing to give back)
            self._early_errors.clear()
            self._info = self._drained = None

    def _take(self, max_records: int | None) -> dict[TopicPartition, list[ConsumerMessage]]:
        """Messages from the buffers, partitions in rotation; positions move past them (and,
        with auto-commit, are marked); a partition's stopping error once its buffer is empty."""
        out: dict[TopicPartition, list[ConsumerMessage]] = {}
        left = max_records if max_records is not None else 1 << 62
        parts = [p for p in self._parts.values() if not p.stopping and p.tp not in self._paused]
        if not parts:
            return out
        self._rotation = (self._rotation + 1) % len(parts)
        released: list[tuple[int, int]] = []
        for part in parts[self._rotation:] + parts[:self._rotation]:
            got: list[ConsumerMessage] = []
            while left and part.chunks:
                messages, size = part.chunks[0]
                n = min(left, len(messages) - part.index)
                got.extend(messages[part.index:part.index + n])
                part.index += n
                left -= n
                if part.index == len(messages):
                    part.chunks.popleft()
                    part.index = 0
                    released.append((part.stream, size))
            if got:
                out[part.tp] = got
                part.position = got[-1].offset + 1
            elif part.error is not None and not out:
                error, part.error = part.error, None
                part.stopping = True
                self._release(released)
                raise error
            if not left:
                break
        self._release(released)
        if out and self.config.enable_auto_commit and self._info is not None:
            self._mark({tp: self._parts[tp].position for tp in out})  # type: ignore[misc]
        return out

    def _release(self, released: list[tuple[int, int]]) -> None:
        if released:
            def give(core: GroupCore, now: float) -> None:
                for stream, size in released:
                    core.release(stream, size, now)
            self._do(give)

    def _mark(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Set the offsets to commit to exactly these (forward or back)."""
        info = self._info
        if info is None:
            return

        def mark(core: GroupCore, now: float) -> None:
            for (topic, partition), offset in offsets.items():
                core.mark_offset(info.session, topic, partition, offset)
                core.reset_offset(info.session, topic, partition, offset)
        self._do(mark)

    # == commits =========================================================================

    def _commit_start(self, offsets: Offsets | None) -> tuple[Result[Any],
                                                               dict[TopicPartition, int]]:
        """Mark ``offsets`` (default: every position) and start committing them."""
        self._check_open()
        if offsets is None:
            chosen = {tp: p.position for tp, p in self._parts.items()
                      if p.position is not None}
        else:
            if not isinstance(offsets, Mapping):
                raise UsageError(f"offsets must map (topic, partition) to an offset, got "
                                 f"{offsets!r}")
            chosen = {}
            for key, offset in offsets.items():
                [tp] = _tp_set([key], "offsets")
                if not isinstance(offset, int) or offset < 0:
                    raise UsageError(f"offsets: {tp.topic}[{tp.partition}] must map to an "
                                     f"offset >= 0, got {offset!r}")
                if tp not in self._parts:
                    raise UsageError(f"offsets: {tp.topic}[{tp.partition}] is not assigned "
                                     f"to this consumer")
                chosen[tp] = offset
        self._mark(chosen)
        parts = set(chosen)
        result: Result[Any] = self._loop.start(  # type: ignore[attr-defined]
            lambda _, now: self._core.commit(now, parts))
        return result, chosen

    def _commit(self, offsets: Offsets | None, timeout: float | None) -> Op[None]:
        result, _chosen = self._commit_start(offsets)
        yield from wait(result, self._loop, timeout, "commit")  # type: ignore[arg-type]

    def commit_async(self, offsets: Offsets | None = None,
                     callback: CommitCallback | None = None) -> None:
        """Start committing the positions (or ``offsets``, ``{(topic, partition): offset}``)
        and return at once. ``callback(offsets, error)`` runs inside a later poll (as Java
        does); without one, a failure goes to ``errors``."""
        if callback is not None and not callable(callback):
            raise UsageError(f"callback must be callable, got {callback!r}")
        result, chosen = self._locked(lambda: self._commit_start(offsets))

        def settled() -> None:
            try:
                result.result()
                error: BaseException | None = None
            except Exception as exc:
                error = exc
            if callback is not None:
                self._commits.append((callback, chosen, error))
                self._signal.fire()
            elif error is not None:
                self._errors._push(GroupError(self._core.id, error))
        result.add_waker(settled)

    # == positions, pause, queries =======================================================

    def _assigned(self, tp: Any, what: str) -> _Partition:
        [one] = _tp_set([tp], what)
        part = self._parts.get(one)
        if part is None or part.stopping:
            raise UsageError(f"{what}: {one.topic}[{one.partition}] is not assigned to this "
                             f"consumer")
        return part

    def seek(self, partition: tuple[str, int], offset: int) -> None:
        """Read ``partition`` from ``offset`` (or OFFSET_OLDEST / OFFSET_NEWEST) on; what was
        fetched past the old position is dropped."""
        part = self._locked(lambda: self._assigned(partition, "seek"))
        if not isinstance(offset, int) or offset < OFFSET_OLDEST:
            raise UsageError(f"seek: offset must be >= 0, OFFSET_OLDEST or OFFSET_NEWEST, got "
                             f"{offset!r}")
        info = self._info
        assert info is not None

        def move(core: GroupCore, now: float) -> None:
            for _messages, size in part.chunks:
                core.release(part.stream, size, now)
            part.chunks.clear()
            part.index = 0
            part.error = None
            part.position = offset if offset >= 0 else None
            core.seek(info.session, part.tp.topic, part.tp.partition, offset, now)
        self._do(move)

    def position(self, partition: tuple[str, int]) -> int | None:
        """The offset of the next message to return (None until the start is resolved)."""
        return self._locked(lambda: self._assigned(partition, "position").position)

    def assignment(self) -> set[TopicPartition]:
        """The partitions assigned to this member now."""
        return self._locked(lambda: {tp for tp, p in self._parts.items() if not p.stopping})

    def paused(self) -> set[TopicPartition]:
        return set(self._paused)

    def pause(self, partitions: Any) -> None:
        """Return nothing from these (topic, partition) pairs and stop fetching them until
        resumed; the pause outlives rebalances."""
        parts = _tp_set(partitions, "pause")
        self._paused |= parts
        self._do(lambda core, now: core.pause(parts, now))

    def resume(self, partitions: Any) -> None:
        parts = _tp_set(partitions, "resume")
        self._paused -= parts
        self._do(lambda core, now: core.resume(parts, now))
        self._signal.fire()

    def group_metadata(self) -> ConsumerGroupMetadata:
        """This member as the coordinator knows it, for ``add_offsets_to_txn`` (KIP-447)."""
        return self._do(lambda core, now: core.group_metadata())

    # == close ===========================================================================

    def _close(self, timeout: float) -> Op[None]:
        """``on_partitions_revoked`` (unless a poll is running elsewhere), then GroupCore's
        close: the final commit of what is marked, LeaveGroup for dynamic members."""
        loop: Any = self._loop
        core = self._core_obj
        try:
            if core is None:
                return
            if self._listener is not None and not self._polling and self.assignment():
                yield from self._call_listener("on_partitions_revoked", self.assignment())
            self._closed = True
            self._signal.fire()
            try:
                yield from wait(loop.start(lambda _, now: core.close(now)), loop, timeout,
                                "closing the group consumer", shield=True)
            except (ClosedError, ClientTimeoutError):
                pass
        finally:
            self._closed = True
            self._errors._end()
            self._release_handler()

    def _check_open(self) -> None:
        if self._closed:
            raise ObjectClosedError("the group consumer is closed")


class AsyncGroupConsumer(EntersClient, GroupConsumerBase[AsyncLoop]):
    """A member of a consumer group read by polling (aiokafka's AIOKafkaConsumer):
    ``async with GroupConsumer("host:9092", group_id="g") as consumer:``,
    ``consumer.subscribe(["t"])``, then ``async for message in consumer`` or ``await
    getmany(max_records, timeout)``; ``await commit()``."""

    async def getmany(self, max_records: int | None = None, timeout: float | None = 0.0
                      ) -> dict[TopicPartition, list[ConsumerMessage]]:
        """Up to ``max_records`` messages by partition: what is there now, else what comes
        within ``timeout`` seconds (None: wait for some); ``{}`` when nothing did. Joins and
        rebalances run inside, with the listener's calls."""
        return await self._loop.drive(self._poll(max_records, timeout))

    async def getone(self, timeout: float | None = None) -> ConsumerMessage:
        """The next message; ClientTimeoutError after ``timeout`` seconds without one."""
        return await self._loop.drive(self._one(timeout))

    async def commit(self, offsets: Offsets | None = None) -> None:
        """Commit the positions (the offset of the next message to read, per assigned
        partition) or ``offsets`` (``{(topic, partition): offset}``) and wait for the broker."""
        await self._loop.drive(self._commit(offsets, None))

    async def close(self) -> None:
        """``on_partitions_revoked``, commit what auto-commit marked, leave the group (a
        static member stays until its session times out), release everything."""
        try:
            await self._loop.drive(self._close(2 * float(self.config.request_timeout) + 5.0))
        finally:
            if self._owns_client:
                await self._close_client()

    async def _close_client(self) -> None:
        await self._client.close()

    def __aiter__(self) -> AsyncGroupConsumer:
        return self

    async def __anext__(self) -> ConsumerMessage:
        try:
            return await self.getone()
        except ClosedError:
            raise StopAsyncIteration from None
