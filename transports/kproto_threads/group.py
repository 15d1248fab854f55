"""The blocking ConsumerGroup: one thread per claim over the engine's IO thread.

Everything about sessions, offsets and errors is decided by
:class:`kproto.group.session.GroupCore`; this file only runs ``handler.consume_claim`` in a
thread per claim, feeds each claim's ``messages`` from the IO thread, and waits.
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
from kproto_threads.client import Client

__all__ = ["Cancel", "Claim", "ClaimMessages", "ConsumerGroup", "GroupErrors", "Session"]

ERRORS_CAPACITY = 1000


class Cancel:
    """Ends a running ``consume`` from any thread: ``cancel.cancel()``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cancelled = False
        self._hooks: list[Any] = []

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            hooks, self._hooks = self._hooks, []
        for hook in hooks:
            hook()

    def _on_cancel(self, hook: Any) -> None:
        with self._lock:
            if not self._cancelled:
                self._hooks.append(hook)
                return
        hook()


class ClaimMessages:
    """A claim's messages in offset order: iterate it, or ``get(timeout)``. Iteration ends
    when the claim is told to stop; a partition error is raised after the messages before it."""

    def __init__(self, group: ConsumerGroup, stream: int) -> None:
        self._group = group
        self._stream = stream
        self._cond = threading.Condition(threading.Lock())
        self._chunks: deque[tuple[tuple[ConsumerMessage, ...], int]] = deque()
        self._pos = 0
        self._stopped = False
        self._error: BaseException | None = None
        self.high_water_mark = -1

    # IO thread
    def _push(self, messages: tuple[ConsumerMessage, ...], size: int, hwm: int) -> None:
        with self._cond:
            self.high_water_mark = max(self.high_water_mark, hwm)
            if not self._stopped:
                self._chunks.append((messages, size))
                self._cond.notify()

    def _stop(self, error: BaseException | None = None) -> None:
        with self._cond:
            if error is not None:
                self._error = error
            else:
                self._stopped = True
                self._chunks.clear()
            self._cond.notify_all()

    # claim thread
    def get(self, timeout: float | None = None) -> ConsumerMessage:
        """The next message; ClosedError once the claim stops (iteration just ends),
        ClientTimeoutError after ``timeout`` seconds without one."""
        deadline = None if timeout is None else time.monotonic() + timeout
        release = 0
        with self._cond:
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
                        release = size
                    break
                if self._error is not None:
                    error, self._error = self._error, None
                    self._stopped = True
                    raise error
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise ClientTimeoutError(f"no message within {timeout:g}s")
                self._cond.wait(remaining)
        if release:
            self._group._release(self._stream, release)
        return message

    def __iter__(self) -> Iterator[ConsumerMessage]:
        return self

    def __next__(self) -> ConsumerMessage:
        try:
            return self.get()
        except ClosedError:
            raise StopIteration from None


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
        known = self._group._locked(lambda: self._group._core.high_water_mark(self._info.stream))
        return max(int(known), self.messages.high_water_mark)

    def __repr__(self) -> str:
        return f"<Claim {self.topic}[{self.partition}] from {self.initial_offset}>"


class Session:
    """What a handler gets: the claims, the member, offsets to mark and commit."""

    def __init__(self, group: ConsumerGroup, info: SessionInfo) -> None:
        self._group = group
        self._id = info.session
        self._info = info
        self._metadata: ConsumerGroupMetadata | None = None
        self.stopped = threading.Event()
        """Set once the session is ending (a rebalance, a claim loop returned, cancel, close)."""

    @property
    def member_id(self) -> str:
        return str(self._group._locked(lambda: self._group._core.member_id))

    @property
    def generation_id(self) -> int:
        return int(self._group._locked(lambda: self._group._core.generation_id))

    def group_metadata(self) -> ConsumerGroupMetadata:
        """This member as the group coordinator knows it, for ``add_offsets_to_txn`` /
        ``add_message_to_txn`` (KIP-447): the current generation while the session runs, the
        generation it ran with once it is over, so that a late commit is rejected."""
        def get() -> ConsumerGroupMetadata:
            self._metadata = self._group._core.group_metadata(self._info, self._metadata)
            return self._metadata

        metadata: ConsumerGroupMetadata = self._group._locked(get)
        return metadata

    def claims(self) -> dict[str, list[int]]:
        """The partitions this session consumes now, by topic."""
        claims: dict[str, list[int]] = self._group._locked(
            lambda: self._group._core.claims(self._id))
        return claims

    def mark_message(self, message: ConsumerMessage, metadata: str | None = None) -> None:
        """Mark ``message`` processed (its offset + 1 is what gets committed)."""
        self._group._locked(lambda: self._group._core.mark_message(self._id, message, metadata))

    def mark_offset(self, topic: str, partition: int, offset: int,
                    metadata: str | None = None) -> None:
        """Mark everything before ``offset`` processed (only ever moves forward)."""
        self._group._locked(lambda: self._group._core.mark_offset(
            self._id, topic, partition, offset, metadata))

    def reset_offset(self, topic: str, partition: int, offset: int,
                     metadata: str | None = None) -> None:
        """Move the mark back to ``offset`` (only ever backward)."""
        self._group._locked(lambda: self._group._core.reset_offset(
            self._id, topic, partition, offset, metadata))

    def commit(self, timeout: float | None = None) -> None:
        """Commit the marked offsets now and wait for the broker."""
        fut = self._group._loop.call(lambda core, now: self._group._core.commit(now))
        self._group._wait(fut, timeout, "commit")


class GroupErrors:
    """The group's errors (``GroupError`` values): iterate or ``get(timeout)``; when nobody
    reads and it is full the oldest is dropped. Iteration ends once the group is closed."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._items: deque[GroupError] = deque(maxlen=ERRORS_CAPACITY)
        self._closed = False

    def _push(self, item: GroupError) -> None:
        with self._cond:
            self._items.append(item)
            self._cond.notify()

    def _close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def get(self, timeout: float | None = None) -> GroupError:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._items:
                if self._closed:
                    raise ClosedError("the consumer group is closed")
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise ClientTimeoutError(f"no error within {timeout:g}s")
                self._cond.wait(remaining)
            return self._items.popleft()

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[GroupError]:
        return self

    def __next__(self) -> GroupError:
        try:
            return self.get()
        except ClosedError:
            raise StopIteration from None


class _Run:
    """One ``consume`` call in progress."""

    def __init__(self) -> None:
        self.info: SessionInfo | None = None
        self.session: Session | None = None
        self.handler: Any = None
        self.threads: list[threading.Thread] = []
        self.errors: list[BaseException] = []
        self.drained: SessionDrained | None = None
        self.stop_requested = False
        self.done = threading.Event()
        self.caller: threading.Thread | None = None


class ConsumerGroup:
    """A member of a consumer group. ``consume(topics, handler)`` runs one session.

    ``ConsumerGroup("host:9092", group_id="g")``, or ``config=Config(...)``, or ``client=``
    an existing Client whose connections it shares.
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
        self._lock = self._loop.lock
        self._cond = threading.Condition(self._lock)
        try:
            self._core: GroupCore = self._loop.run(lambda core, now: GroupCore(core, self.config))
        except BaseException:
            if self._owns_client:
                self._client.close()
            raise
        self._messages: dict[int, ClaimMessages] = {}
        self._run: _Run | None = None
        self._closed = False
        self._abandoned: BaseException | None = None
        self.errors = GroupErrors()
        self._loop.add_handler(self._on_event)

    # -- helpers --------------------------------------------------------------------------

    def _locked(self, fn: Any) -> Any:
        with self._lock:
            return fn()

    def _release(self, stream: int, size: int) -> None:
        self._loop.run(lambda core, now: self._core.release(stream, size, now))

    def _wait(self, fut: Future[Any], timeout: float | None, what: str) -> Any:
        cfg = self.config
        limit = timeout if timeout is not None else (
            cfg.request_timeout + cfg.connect_timeout + 5.0)
        try:
            return fut.result(limit)
        except concurrent.futures.TimeoutError:
            raise ClientTimeoutError(f"{what} did not complete within {limit:g}s") from None

    def _stream(self, stream: int) -> ClaimMessages:
        messages = self._messages.get(stream)
        if messages is None:
            messages = self._messages[stream] = ClaimMessages(self, stream)
        return messages

    def __del__(self) -> None:
        """Dropped without close: say which connections of its own client are left open."""
        if self.__dict__.get("_closed", True) or not self.__dict__.get("_owns_client"):
            return
        loop = self._client._loop
        warn_dropped(self, loop)

    # -- events (IO thread, engine lock held) ---------------------------------------------

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
                run.drained = event
                self._cond.notify_all()
        elif isinstance(event, GroupError):
            self.errors._push(event)
        return True

    # -- claims ---------------------------------------------------------------------------

    def _start_claim(self, run: _Run, info: ClaimInfo) -> None:
        claim = Claim(self, info, self._stream(info.stream))
        assert run.session is not None
        session = run.session

        def main() -> None:
            try:
                run.handler.consume_claim(session, claim)
            except BaseException as exc:  # reported by consume()
                with self._lock:
                    run.errors.append(exc)
            finally:
                self._loop.run(lambda core, now: self._core.claim_finished(
                    session._id, info.stream, now))

        thread = threading.Thread(target=main, daemon=True,
                                  name=f"kproto-claim-{info.topic}-{info.partition}")
        run.threads.append(thread)
        thread.start()

    # -- the user API ---------------------------------------------------------------------

    def consume(self, topics: Topics, handler: Any, *, cancel: Cancel | None = None) -> None:
        """Run one session: join, ``handler.setup(session)``, ``handler.consume_claim(session,
        claim)`` in a thread per claim until the session ends, ``handler.cleanup(session)``,
        commit. Raises what ended the session when it was fatal, or the first exception a
        handler method raised (after cleanup and the final commit)."""
        with self._lock:
            if self._closed:
                raise ObjectClosedError("the consumer group is closed")
            if self._run is not None:
                raise AlreadyConsumingError("consume() is already running on this consumer group")
            run = self._run = _Run()
            run.handler = handler
            run.caller = threading.current_thread()
        interrupted: BaseException | None = None
        try:
            fut = self._loop.call(lambda core, now: self._core.consume(topics, now))
            cfg = self.config
            try:
                info: SessionInfo = self._wait(
                    fut, cfg.rebalance_timeout + cfg.request_timeout + cfg.connect_timeout + 5.0,
                    "joining the group")
            except BaseException:
                self._loop.run(lambda core, now: self._core.abort("consume() gave up", now))
                raise
            session = Session(self, info)
            with self._lock:
                run.info = info
                run.session = session
            try:
                handler.setup(session)
            except BaseException as exc:
                run.errors.append(exc)
                self._loop.run(lambda core, now: self._end_unstarted(info, now))
            else:
                with self._lock:
                    for claim_info in info.claims:
                        self._start_claim(run, claim_info)
            if cancel is not None:
                cancel._on_cancel(lambda: self._request_stop(run, "consume() was cancelled"))
            while True:
                try:
                    with self._lock:
                        while run.drained is None:
                            if self._closed:
                                self._stop_locked(run, "the consumer group is closing")
                            self._cond.wait()
                    break
                except BaseException as exc:  # KeyboardInterrupt: end the session first
                    if interrupted is not None:
                        raise
                    interrupted = exc
                    self._request_stop(run, f"consume() was interrupted ({type(exc).__name__})")
            drained = run.drained
            if drained.abandoned:
                with self._lock:
                    self._abandoned = drained.error
            else:
                try:
                    handler.cleanup(session)
                except BaseException as exc:
                    run.errors.append(exc)
            fut = self._loop.call(lambda core, now: self._core.finish_session(info.session, now))
            try:
                self._wait(fut, None, "the final commit")
            except ClosedError:
                if not self._closed:  # closed from a claim loop: close did the commit
                    raise
            except BaseException as exc:
                run.errors.insert(0, exc)
        finally:
            with self._lock:
                for stream in [s for s, m in self._messages.items() if m._stopped]:
                    del self._messages[stream]
                self._run = None
                run.done.set()
                self._cond.notify_all()
        if interrupted is not None:
            raise interrupted
        if run.errors:
            raise run.errors[0]

    def _end_unstarted(self, info: SessionInfo, now: float) -> None:
        self._core.stop_session(info.session, "setup() raised", now)
        for claim in info.claims:
            self._core.claim_finished(info.session, claim.stream, now)

    def _request_stop(self, run: _Run, reason: str) -> None:
        with self._lock:
            self._stop_locked(run, reason)
            self._cond.notify_all()
        self._loop.wake()

    def _stop_locked(self, run: _Run, reason: str) -> None:
        if run.stop_requested:
            return
        run.stop_requested = True
        if run.info is not None:
            self._core.stop_session(run.info.session, reason, time.monotonic())
        else:
            self._core.abort(reason, time.monotonic())  # still joining: give up the join
        self._loop.wake()

    def pause(self, partitions: Any) -> None:
        """Stop fetching ``{topic: [partition, ...]}`` or (topic, partition) pairs, now and
        in later sessions, until resumed."""
        self._loop.run(lambda core, now: self._core.pause(partitions, now))

    def resume(self, partitions: Any) -> None:
        self._loop.run(lambda core, now: self._core.resume(partitions, now))

    def pause_all(self) -> None:
        self._loop.run(lambda core, now: self._core.pause_all(now))

    def resume_all(self) -> None:
        self._loop.run(lambda core, now: self._core.resume_all(now))

    def close(self, timeout: float | None = None) -> None:
        """End a running session (its claim loops get the rebalance timeout to return), commit,
        leave the group, release everything. Raises SessionAbandonedError when claim loops
        had to be abandoned."""
        with self._lock:
            first = not self._closed
            self._closed = True
            run = self._run
            if run is not None:
                self._stop_locked(run, "the consumer group is closing")
            self._cond.notify_all()
        cfg = self.config
        if run is not None and threading.current_thread() is not run.caller and \
                threading.current_thread() not in run.threads:
            run.done.wait(cfg.rebalance_timeout + cfg.request_timeout + 5.0)
        if first:
            fut = self._loop.call(lambda core, now: self._core.close(now))
            try:
                self._wait(fut, timeout, "closing the consumer group")
            except ClosedError:
                pass
            finally:
                self.errors._close()
                if self._owns_client:
                    self._client.close()
        if self._abandoned is not None:
            error, self._abandoned = self._abandoned, None
            raise error

    def __enter__(self) -> ConsumerGroup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
