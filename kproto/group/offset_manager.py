"""A group's committed offsets without joining the group: sarama's OffsetManager, sans-IO.

Theory of operation
-------------------
:class:`OffsetManagerCore` manages partitions of one group for a reader that assigns itself
partitions (a Consumer's partition consumers, a replay tool, a migration). It reuses the
group member's pieces: a :class:`~kproto.group.coordinator.CoordinatorLink` finds the group
coordinator, an :class:`~kproto.group.offsets.OffsetBook` keeps marks and commits them. Its
commits carry generation -1 and no member id, which Kafka accepts only while the group has
no active members (it answers UNKNOWN_MEMBER_ID or ILLEGAL_GENERATION otherwise: a group
session owns those offsets, and that error is reported, never hidden).

- ``manage(topic, partition)`` fetches the committed offset (OffsetFetch, require_stable) and
  starts tracking the partition; one partition is managed once at a time.
- ``next_offset`` is where a reader should start: the mark, else the committed offset, else
  the configured start (``auto_offset_reset``: OFFSET_NEWEST or OFFSET_OLDEST).
- ``mark`` moves forward only, ``reset`` backward only, as in sarama and the group session.
- Marks are committed every ``auto_commit_interval`` (when ``enable_auto_commit``), on
  ``commit()``, when a partition is released and when the manager closes. A failed automatic
  commit is emitted as :class:`OffsetManagerError` for each partition it concerned (the
  partition's ``errors`` stream); the mark stays, so the next commit tries again. A commit
  the caller asked for fails its token instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from kproto.config import Config
from kproto.engine.client import ClientCore
from kproto.engine.timers import TimerHandle
from kproto.errors import ClosedError, KafkaError, UsageError
from kproto.events import Event
from kproto.group.assignors import TopicPartition
from kproto.group.coordinator import CoordinatorLink
from kproto.group.offsets import CommitFailed, Committed, OffsetBook
from kproto.message_types import OFFSET_NEWEST, OFFSET_OLDEST

__all__ = ["OffsetManagerCore", "OffsetManagerError"]


@dataclass(frozen=True, slots=True)
class OffsetManagerError(Event):
    """An automatic commit of ``topic[partition]``'s mark failed (it is retried next time)."""

    manager: int
    topic: str
    partition: int
    error: BaseException


class OffsetManagerCore:
    """Offsets of one group's managed partitions; see the module comment."""

    def __init__(self, core: ClientCore, config: Config, group_id: str) -> None:
        self.core = core
        self.config = config
        self.group_id = group_id
        self.id = core.new_token()
        self.link = CoordinatorLink(core, config, group_id)
        self.book = OffsetBook(core, config, self.link, lambda: (-1, "", None),
                               self._membership_error)
        self.managed: dict[TopicPartition, str | None] = {}
        """Managed partitions and the metadata of their committed offset."""
        self._starting: set[TopicPartition] = set()
        self._abandoned: set[TopicPartition] = set()
        self._timer: TimerHandle | None = None
        self.closed = False

    # == partitions ======================================================================

    def manage(self, topic: str, partition: int, now: float) -> int:
        """Start managing ``topic[partition]``: its token completes with its
        :class:`Committed` offset (-1 when the group has none) once fetched."""
        self._check_open()
        tp = TopicPartition(topic, partition)
        if tp in self.managed or tp in self._starting:
            raise UsageError(f"{topic}[{partition}] is already managed by this offset manager "
                             f"for group {self.group_id!r}")
        token = self.core.new_token()
        self._starting.add(tp)

        def fetched(result: dict[TopicPartition, Committed] | None,
                    err: BaseException | None) -> None:
            self._starting.discard(tp)
            if tp in self._abandoned:
                self._abandoned.discard(tp)
                self.core.fail(token, ClosedError(f"managing {topic}[{partition}] was given up"))
            elif self.closed:
                self.core.fail(token, ClosedError("the offset manager was closed"))
            elif result is None:
                self.core.fail(token, err or ClosedError("the offset manager was closed"))
            else:
                committed = result[tp]
                self.book.track(tp, committed.offset)
                self.managed[tp] = committed.metadata
                self._arm(self.core.now)
                self.core.complete(token, committed)

        self.book.fetch([tp], now, fetched)
        return token

    def next_offset(self, topic: str, partition: int) -> tuple[int, str]:
        """Where to read from: the mark, else the committed offset, else the configured start
        (OFFSET_NEWEST or OFFSET_OLDEST); with the metadata stored beside it."""
        tp = self._managed(topic, partition)
        mark = self.book.marks.get(tp)
        if mark is not None:
            return mark[0], mark[1] or ""
        committed = self.book.committed.get(tp, -1)
        if committed >= 0:
            return committed, self.managed[tp] or ""
        start = OFFSET_OLDEST if self.config.auto_offset_reset == "earliest" else OFFSET_NEWEST
        return start, ""

    def mark(self, topic: str, partition: int, offset: int, metadata: str | None) -> None:
        """Mark everything before ``offset`` processed (only ever moves forward)."""
        self.book.mark(self._managed(topic, partition), offset, metadata)

    def reset(self, topic: str, partition: int, offset: int, metadata: str | None) -> None:
        """Move the mark back to ``offset`` (only ever backward)."""
        self.book.reset(self._managed(topic, partition), offset, metadata)

    def abandon(self, topic: str, partition: int) -> None:
        """Forget ``topic[partition]`` without committing: its ``manage`` was cancelled or
        failed, so nobody holds it (a fetch still in flight then fails its token)."""
        tp = TopicPartition(topic, partition)
        if tp in self._starting:
            self._abandoned.add(tp)
        elif tp in self.managed:
            self.book.forget([tp])
            del self.managed[tp]

    def release(self, topic: str, partition: int, now: float) -> int:
        """Commit the partition's mark, then stop managing it; the token completes with None
        or fails with the commit's error (it is released either way)."""
        tp = self._managed(topic, partition)
        token = self.core.new_token()

        def done(err: BaseException | None) -> None:
            self.book.forget([tp])
            self.managed.pop(tp, None)
            self._settle(token, err)

        self.book.commit(now, done, [tp])
        return token

    # == commits =========================================================================

    def commit(self, now: float) -> int:
        """Commit every mark now; the token completes with None or fails with the error
        (:class:`~kproto.group.offsets.CommitFailed` names each partition that failed)."""
        self._check_open()
        token = self.core.new_token()
        self.book.commit(now, lambda err: self._settle(token, err))
        return token

    def close(self, now: float) -> int:
        """Commit every mark, then stop: its token completes with None or the commit's error
        (the manager is closed either way)."""
        token = self.core.new_token()
        if self.closed:
            self.core.complete(token, None)
            return token
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

        def done(err: BaseException | None) -> None:
            self.book.close()
            self.link.close()
            self.managed.clear()
            self._settle(token, err)

        self.book.commit(now, done)
        return token

    # == internals =======================================================================

    def _managed(self, topic: str, partition: int) -> TopicPartition:
        tp = TopicPartition(topic, partition)
        if tp not in self.managed:
            raise UsageError(f"{topic}[{partition}] is not managed by this offset manager "
                             f"(call manage_partition first)")
        return tp

    def _check_open(self) -> None:
        if self.closed:
            raise ClosedError("the offset manager is closed")

    def _settle(self, token: int, err: BaseException | None) -> None:
        if err is None:
            self.core.complete(token, None)
        else:
            self.core.fail(token, err)

    def _arm(self, now: float) -> None:
        if self._timer is None and self.config.enable_auto_commit and not self.closed:
            self._timer = self.core.timers.call_at(now + self.config.auto_commit_interval,
                                                   self._auto_commit)

    def _auto_commit(self, now: float) -> None:
        self._timer = None
        if self.closed:
            return
        dirty = self.book.dirty(self.managed)
        if dirty:
            self.book.commit(now, lambda err: self._report(err, set(dirty)), set(dirty))
        if self.managed:
            self._arm(now)

    def _report(self, err: BaseException | None, parts: set[TopicPartition]) -> None:
        if err is None or self.closed:
            return
        errors: dict[TopicPartition, BaseException] = (
            err.errors if isinstance(err, CommitFailed) else dict.fromkeys(parts, err))
        for tp, error in sorted(errors.items()):
            if tp in self.managed:
                self.core.emit(OffsetManagerError(self.id, tp.topic, tp.partition, error))

    def _membership_error(self, error: KafkaError, generation: int, member_id: str,
                          now: float) -> None:
        """The group has active members: the failed partitions carry the error already."""

