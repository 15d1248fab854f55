"""Offsets of a consumer group: committed ones fetched at session start, marked ones committed.

Theory of operation: :class:`OffsetBook` owns, per partition, the last committed offset and
the offset marked as processed (the next offset to read, as in sarama: marking a message
marks its offset + 1). ``mark`` only moves a mark forward, ``reset`` only backward. ``commit``
sends every mark that differs from what is committed, one OffsetCommit at a time: a commit
asked for while one is in flight is sent after it, with the marks as they are then, so a
retried commit can never overwrite a newer one. Retriable failures (the coordinator moved or
is loading) retry with backoff until the commit's deadline; what cannot be retried completes
the commit with an error naming the partitions. ``fetch`` (OffsetFetch, require_stable, KIP-447)
returns the committed offset and leader epoch of each asked partition, -1 when none.

Callbacks report results; the owner turns them into tokens and events. Membership errors on a
commit (ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID) are reported too, through
``on_membership_error`` with the generation and member id the commit carried, because they
may mean the member's partitions are gone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from kproto import protocol
from kproto.config import Config
from kproto.engine.client import ClientCore
from kproto.engine.timers import TimerHandle
from kproto.errors import (
    ClientTimeoutError,
    ClosedError,
    CoordinatorLoadInProgressError,
    FencedInstanceIdError,
    IllegalGenerationError,
    KafkaError,
    KprotoError,
    RequestTimedOutError,
    UnknownMemberIdError,
    UnknownTopicOrPartitionError,
    UnstableOffsetCommitError,
    error_for_code,
)
from kproto.group.assignors import TopicPartition
from kproto.group.coordinator import COORDINATOR_MOVED, CoordinatorLink, backoff_delay, engine_now
from kproto.group.membership import FATAL_TRANSPORT_ERRORS

if TYPE_CHECKING:
    from kproto.protocol.messages.offset_commit_request import (
        OffsetCommitRequestPartition,
    )

__all__ = ["CommitFailed", "Committed", "OffsetBook"]

log = logging.getLogger("kproto.group")

OFFSET_COMMIT, OFFSET_FETCH = 8, 9

MEMBERSHIP_ERRORS = frozenset({IllegalGenerationError.code, UnknownMemberIdError.code,
                               FencedInstanceIdError.code})
RETRY_HERE = frozenset({CoordinatorLoadInProgressError.code, UnstableOffsetCommitError.code,
                        UnknownTopicOrPartitionError.code})
RETRY_ELSEWHERE = COORDINATOR_MOVED | {RequestTimedOutError.code}


@dataclass(frozen=True, slots=True)
class Committed:
    """A committed offset as OffsetFetch returns it (offset -1: nothing committed)."""

    offset: int
    leader_epoch: int = -1
    metadata: str | None = None


class CommitFailed(KprotoError):
    """An offset commit failed for some partitions; ``errors`` maps each to its error."""

    def __init__(self, group_id: str, errors: dict[TopicPartition, BaseException]) -> None:
        self.errors = errors
        parts = ", ".join(f"{tp.topic}[{tp.partition}]: {err}"
                          for tp, err in sorted(errors.items()))
        super().__init__(f"group {group_id!r}: offset commit failed: {parts}")


Mark = tuple[int, str | None]
"""A marked offset and its metadata."""

Identity = Callable[[], tuple[int, str, str | None]]
"""Returns (generation, member id, group instance id) for the next request."""


class _Commit:
    __slots__ = ("callbacks", "deadline", "parts")

    def __init__(self, parts: frozenset[TopicPartition] | None, deadline: float) -> None:
        self.parts = parts
        self.deadline = deadline
        self.callbacks: list[Callable[[BaseException | None], None]] = []


class OffsetBook:
    """Marks, commits and committed offsets for one group member."""

    def __init__(self, core: ClientCore, config: Config, link: CoordinatorLink,
                 identity: Identity,
                 on_membership_error: Callable[[KafkaError, int, str, float], None]) -> None:
        self.core = core
        self.config = config
        self.link = link
        self.group_id = link.group_id
        self._identity = identity
        self._on_membership_error = on_membership_error
        self.marks: dict[TopicPartition, Mark] = {}
        self.committed: dict[TopicPartition, int] = {}
        self._queue: list[_Commit] = []
        self._in_flight: _Commit | None = None
        self._retry: TimerHandle | None = None
        self._failures = 0
        self._closed = False

    # == marks ===========================================================================

    def track(self, tp: TopicPartition, committed: int) -> None:
        """Start keeping offsets for ``tp``, whose committed offset is ``committed``."""
        self.committed[tp] = committed
        self.marks.pop(tp, None)

    def forget(self, parts: Iterable[TopicPartition]) -> None:
        for tp in parts:
            self.committed.pop(tp, None)
            self.marks.pop(tp, None)

    def mark(self, tp: TopicPartition, offset: int, metadata: str | None) -> None:
        """Mark everything before ``offset`` processed (only ever moves forward)."""
        current = self.marks.get(tp)
        base = current[0] if current is not None else self.committed.get(tp, -1)
        if offset > base:
            self.marks[tp] = (offset, metadata)

    def reset(self, tp: TopicPartition, offset: int, metadata: str | None) -> None:
        """Move the mark back to ``offset`` (only ever backward, or to the same offset)."""
        current = self.marks.get(tp)
        base = current[0] if current is not None else self.committed.get(tp, -1)
        if base < 0 or offset <= base:
            self.marks[tp] = (offset, metadata)

    def dirty(self, parts: Iterable[TopicPartition] | None = None) -> dict[TopicPartition, Mark]:
        """Marks not committed yet (among ``parts`` when given)."""
        wanted = None if parts is None else set(parts)
        return {tp: m for tp, m in self.marks.items()
                if (wanted is None or tp in wanted) and self.committed.get(tp) != m[0]}

    # == commit ==========================================================================

    def commit(self, now: float, on_done: Callable[[BaseException | None], None],
               parts: Iterable[TopicPartition] | None = None) -> None:
        """Commit the marks (of ``parts``, or all); ``on_done(error)`` once settled."""
        if self._closed:
            on_done(ClosedError("the consumer group was closed"))
            return
        job = _Commit(None if parts is None else frozenset(parts),
                      now + self.config.request_timeout)
        job.callbacks.append(self._bounded(on_done, job.deadline))
        self._queue.append(job)
        self._pump(now)

    def _bounded(self, on_done: Callable[[BaseException | None], None],
                 deadline: float) -> Callable[[BaseException | None], None]:
        """``on_done``, called once: by the commit, or with a timeout at ``deadline``.

        A commit asked for while another is in flight is merged with the later ones, and the
        merged commit runs until the latest of their deadlines: without this, the first
        caller waited past its own ``request_timeout``."""
        settled = False

        def once(err: BaseException | None) -> None:
            nonlocal settled
            if not settled:
                settled = True
                timer.cancel()
                on_done(err)

        def expired(t: float) -> None:
            once(ClientTimeoutError(
                f"group {self.group_id!r}: offset commit not done within request_timeout "
                f"({self.config.request_timeout:g}s)"))

        timer = self.core.timers.call_at(deadline, expired)
        return once

    def close(self) -> None:
        self._closed = True
        if self._retry is not None:
            self._retry.cancel()
        jobs = list(self._queue)
        self._queue.clear()
        err = ClosedError("the consumer group was closed")
        for job in jobs:
            for cb in job.callbacks:
                cb(err)

    def _pump(self, now: float) -> None:
        if self._in_flight is not None or not self._queue or self._closed:
            return
        if self._retry is not None and not self._retry.cancelled:
            return
        job = self._queue.pop(0)
        # Merge every queued job into this one: they all want the newest marks committed.
        while self._queue:
            other = self._queue.pop(0)
            job.parts = None if job.parts is None or other.parts is None else \
                job.parts | other.parts
            job.deadline = max(job.deadline, other.deadline)
            job.callbacks += other.callbacks
        self._in_flight = job
        self._send(job, now)

    def _finish(self, job: _Commit, err: BaseException | None, now: float) -> None:
        self._in_flight = None
        for cb in job.callbacks:
            cb(err)
        self._pump(now)

    def _send(self, job: _Commit, now: float) -> None:
        todo = self.dirty(job.parts)
        if not todo:
            self._finish(job, None, now)
            return
        self.link.with_coordinator(partial(self._send_to, job, todo), now)

    def _send_to(self, job: _Commit, todo: dict[TopicPartition, Mark],
                 now: float, node: int | None, err: BaseException | None) -> None:
        from kproto.protocol.messages.offset_commit_request import (
            OffsetCommitRequestPartition,
            OffsetCommitRequestTopic,
        )
        if node is None:
            self._finish(job, err or ClosedError("no coordinator"), now)
            return
        generation, member_id, instance_id = self._identity()
        by_topic: dict[str, list[OffsetCommitRequestPartition]] = {}
        for tp, (offset, metadata) in sorted(todo.items()):
            by_topic.setdefault(tp.topic, []).append(OffsetCommitRequestPartition(
                partition_index=tp.partition, committed_offset=offset,
                committed_metadata=metadata))

        def build(version: int) -> Any:
            return protocol.OffsetCommitRequest(
                group_id=self.group_id, generation_id_or_member_epoch=generation,
                member_id=member_id, group_instance_id=instance_id if version >= 7 else None,
                topics=[OffsetCommitRequestTopic(name=t, partitions=p)
                        for t, p in by_topic.items()])

        timeout = max(0.001, min(self.config.request_timeout, job.deadline - now))
        self.core.send(node, OFFSET_COMMIT, build,
                       partial(self._committed, job, todo, generation, member_id), now,
                       timeout=timeout)

    def _committed(self, job: _Commit, todo: dict[TopicPartition, Mark],
                   generation: int, member_id: str, resp: Any,
                   err: BaseException | None) -> None:
        now = engine_now(self.core)
        if self._closed:
            self._in_flight = None
            for cb in job.callbacks:
                cb(ClosedError("the consumer group was closed"))
            return
        if err is not None:
            if isinstance(err, FATAL_TRANSPORT_ERRORS):
                self._finish(job, err, now)
                return
            self.link.mark_dead(str(err), now)
            self._again(job, err, now)
            return
        failed: dict[TopicPartition, BaseException] = {}
        retry: KafkaError | None = None
        moved = False
        membership: KafkaError | None = None
        for topic in resp.topics:
            for p in topic.partitions:
                tp = TopicPartition(topic.name, p.partition_index)
                code = p.error_code
                if code == 0:
                    if tp in todo and tp in self.committed:
                        self.committed[tp] = todo[tp][0]
                    continue
                error = error_for_code(code)()
                if code in RETRY_ELSEWHERE:
                    moved = True
                    retry = error
                elif code in RETRY_HERE:
                    retry = error
                else:
                    failed[tp] = error
                    if code in MEMBERSHIP_ERRORS:
                        membership = error
        if membership is not None:
            self._on_membership_error(membership, generation, member_id, now)
        if failed:
            self._finish(job, CommitFailed(self.group_id, failed), now)
            return
        if retry is not None:
            if moved:
                self.link.mark_dead(retry.name, now)
            self._again(job, retry, now)
            return
        self._failures = 0
        log.debug("group %s: committed %s", self.group_id,
                  {f"{tp.topic}[{tp.partition}]": o for tp, (o, _m) in todo.items()})
        self._finish(job, None, now)

    def _again(self, job: _Commit, err: BaseException, now: float) -> None:
        self._failures += 1
        delay = backoff_delay(self.config, self.core, self._failures)
        if now + delay >= job.deadline:
            self._finish(job, ClientTimeoutError(
                f"group {self.group_id!r}: offset commit not done within request_timeout "
                f"({self.config.request_timeout:g}s); last error: {err}"), now)
            return

        def again(t: float) -> None:
            self._retry = None
            if not self._closed:
                self._send(job, t)

        self._retry = self.core.timers.call_at(now + delay, again)

    # == fetch ===========================================================================

    def fetch(self, parts: Iterable[TopicPartition], now: float,
              on_done: Callable[[dict[TopicPartition, Committed] | None,
                                 BaseException | None], None]) -> None:
        """The committed offsets of ``parts``; ``on_done(result, error)`` once known."""
        from kproto.protocol.messages.offset_fetch_request import (
            OffsetFetchRequestGroup,
            OffsetFetchRequestTopic,
            OffsetFetchRequestTopics,
        )
        wanted = sorted(set(parts))
        deadline = now + self.config.request_timeout
        state = {"failures": 0}

        def attempt(t: float) -> None:
            if self._closed:
                on_done(None, ClosedError("the consumer group was closed"))
                return
            self.link.with_coordinator(send, t)

        def send(t: float, node: int | None, err: BaseException | None) -> None:
            if node is None:
                on_done(None, err or ClosedError("no coordinator"))
                return
            by_topic: dict[str, list[int]] = {}
            for tp in wanted:
                by_topic.setdefault(tp.topic, []).append(tp.partition)

            def build(version: int) -> Any:
                if version >= 8:
                    return protocol.OffsetFetchRequest(groups=[OffsetFetchRequestGroup(
                        group_id=self.group_id,
                        topics=[OffsetFetchRequestTopics(name=n, partition_indexes=p)
                                for n, p in by_topic.items()])], require_stable=True)
                return protocol.OffsetFetchRequest(
                    group_id=self.group_id, require_stable=version >= 7,
                    topics=[OffsetFetchRequestTopic(name=n, partition_indexes=p)
                            for n, p in by_topic.items()])

            timeout = max(0.001, min(self.config.request_timeout, deadline - t))
            self.core.send(node, OFFSET_FETCH, build, done, t, timeout=timeout)

        def retry(err: BaseException, moved: bool) -> None:
            t = engine_now(self.core)
            if moved:
                self.link.mark_dead(str(err), t)
            state["failures"] += 1
            delay = backoff_delay(self.config, self.core, state["failures"])
            if t + delay >= deadline:
                on_done(None, ClientTimeoutError(
                    f"group {self.group_id!r}: committed offsets not fetched within "
                    f"request_timeout ({self.config.request_timeout:g}s); last error: {err}"))
                return
            self.core.timers.call_at(t + delay, attempt)

        def done(resp: Any, err: BaseException | None) -> None:
            if err is not None:
                if isinstance(err, FATAL_TRANSPORT_ERRORS):
                    on_done(None, err)
                else:
                    retry(err, True)
                return
            if getattr(resp, "groups", None):
                group = resp.groups[0]
                code, topics = group.error_code, group.topics
            else:
                code, topics = resp.error_code, resp.topics
            if code:
                error = error_for_code(code)(f"OffsetFetch for group {self.group_id!r}")
                if code in RETRY_ELSEWHERE or code in RETRY_HERE:
                    retry(error, code in RETRY_ELSEWHERE)
                else:
                    on_done(None, error)
                return
            result: dict[TopicPartition, Committed] = {tp: Committed(-1) for tp in wanted}
            for topic in topics:
                for p in topic.partitions:
                    tp = TopicPartition(topic.name, p.partition_index)
                    pcode = p.error_code
                    if pcode in RETRY_HERE and pcode != UnknownTopicOrPartitionError.code:
                        retry(error_for_code(pcode)(), False)
                        return
                    if pcode in RETRY_ELSEWHERE:
                        retry(error_for_code(pcode)(), True)
                        return
                    if pcode == UnknownTopicOrPartitionError.code:
                        continue  # nothing committed for a partition the broker does not know
                    if pcode:
                        on_done(None, error_for_code(pcode)(
                            f"OffsetFetch {topic.name}[{p.partition_index}]"))
                        return
                    result[tp] = Committed(p.committed_offset, p.committed_leader_epoch,
                                           p.metadata)
            on_done(result, None)

        attempt(now)
