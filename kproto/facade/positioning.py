"""Positioning, written once for a partition consumer and a group session's claim.

Theory of operation
-------------------
A reader of one partition (``PartitionConsumer``, ``Claim``) is fed by a fetch stream of a
:class:`~kproto.consumer.Fetcher`; :class:`Positioned` moves that stream and reads where it
is. Every change happens inside the engine (``loop.run``), so a reader on another thread
never sees half of it:

- ``seek(offset)``: a literal offset moves at once; OFFSET_NEWEST / OFFSET_OLDEST and
  timestamps are looked up first (ListOffsets, ``kproto.consumer.lookup``), so the seek
  answers with the literal offset it moved to. The fetcher's ``seek`` ignores the fetch in
  flight and forgets the bytes delivered; the reader drops what it buffered and every
  ``RecordsFetched`` tagged with an older ``seeks`` count, so the next message read is the
  one at the new position. The owner's ``_after_seek`` hook follows (a claim moves its
  session's mark there).
- ``position()``: the offset of the next message the reader yields: the first one buffered,
  else the fetcher's position (the next offset to fetch); -1 while it is not known.
- ``committed()``: the group's committed offset (OffsetFetch through an OffsetBook: the
  session's for a claim, the Consumer's group_id one for a partition consumer); -1 if none.
- ``lag()``: the high water mark of the latest fetch (the last stable offset with
  read_committed) minus ``position()``; looked up when no fetch has told it yet.

The adapters spell these as blocking methods with ``timeout=`` (threads) or coroutines
(:class:`AsyncPositioned`, asyncio and trio).
"""

from __future__ import annotations

from typing import Any

from kproto.consumer.lookup import check_time, list_offsets
from kproto.errors import ObjectClosedError
from kproto.facade._wait import AsyncLoop, Op, call
from kproto.message_types import OFFSET_NEWEST, OFFSET_OLDEST

__all__ = ["AsyncPositioned", "Positioned", "check_offset"]


def check_offset(offset: object) -> int:
    """A literal offset, OFFSET_NEWEST or OFFSET_OLDEST; else an error naming ``offset``."""
    if not isinstance(offset, int) or isinstance(offset, bool):
        raise TypeError(f"offset must be an int (an offset >= 0, OFFSET_NEWEST or "
                        f"OFFSET_OLDEST), not {type(offset).__name__} ({offset!r})")
    if offset < OFFSET_OLDEST:
        raise ValueError(f"offset must be >= 0, OFFSET_NEWEST ({OFFSET_NEWEST}) or "
                         f"OFFSET_OLDEST ({OFFSET_OLDEST}), not {offset}")
    return offset


class Positioned:
    """What a partition consumer and a claim share; the owner provides the hooks below."""

    topic: str
    partition: int
    _seeks = 0
    """The fetcher's seek count after this reader's latest seek: older deliveries are dropped."""

    # -- hooks --------------------------------------------------------------------------------

    @property
    def _loop(self) -> Any:
        raise NotImplementedError

    def _pos_config(self) -> Any:
        raise NotImplementedError

    def _pos_fetcher(self) -> Any:
        """The fetcher serving this reader (called inside the engine)."""
        raise NotImplementedError

    def _pos_stream(self) -> int:
        raise NotImplementedError

    def _pos_queries(self, engine: Any) -> Any:
        """The client's query cache (inside the engine), for the ListOffsets lookups."""
        raise NotImplementedError

    def _pos_open(self) -> None:
        """Raise ObjectClosedError once the reader is closed or over."""
        raise NotImplementedError

    def _next_buffered(self) -> int | None:
        """The offset of the first message buffered and not read yet, None when none is."""
        raise NotImplementedError

    def _discard(self) -> None:
        """Drop the buffered messages (inside the engine; the fetcher forgot their bytes)."""
        raise NotImplementedError

    def _start_committed(self, engine: Any, now: float) -> int:
        """Start fetching the committed offset; returns its token."""
        raise NotImplementedError

    def _after_seek(self, offset: int) -> None:
        """Inside the engine, after the fetcher moved to ``offset``."""

    # -- operations ---------------------------------------------------------------------------

    def _where(self) -> str:
        return f"{self.topic}[{self.partition}]"

    def _lookup(self, time: int, timeout: float | None) -> Op[int]:
        """The offset ListOffsets gives for ``time`` (-1: no record is that new)."""
        tp = (self.topic, self.partition)
        found = yield from call(
            self._loop, lambda engine, now: list_offsets(self._pos_queries(engine), {tp: time},
                                                         now),
            timeout, f"looking up {self._where()} at {time}")
        return int(found[tp][0])

    def _seek(self, offset: int, timeout: float | None = None) -> Op[int]:
        check_offset(offset)
        self._pos_open()
        if offset < 0:
            offset = yield from self._lookup(offset, timeout)
        return self._move(offset)

    def _move(self, offset: int) -> int:
        def move(engine: Any, now: float) -> int:
            self._pos_open()
            fetcher = self._pos_fetcher()
            stream = self._pos_stream()
            fetcher.seek(stream, offset, now)
            self._seeks = fetcher.seeks(stream)
            self._discard()
            self._after_seek(offset)
            return offset
        return int(self._loop.run(move))

    def _seek_to_timestamp(self, timestamp: int, timeout: float | None = None) -> Op[int]:
        check_time(timestamp, "timestamp")
        if timestamp < 0:
            raise ValueError(f"timestamp must be in ms since the epoch (>= 0), not {timestamp}; "
                             f"seek(OFFSET_NEWEST / OFFSET_OLDEST) moves to either end")
        self._pos_open()
        offset = yield from self._lookup(timestamp, timeout)
        if offset < 0:  # no record that new: the end, as the Java client's seek does
            offset = yield from self._lookup(OFFSET_NEWEST, timeout)
        return self._move(offset)

    def _committed(self, timeout: float | None = None) -> Op[int]:
        self._pos_open()
        offset = yield from call(self._loop, self._start_committed, timeout,
                                 f"the committed offset of {self._where()}")
        return int(offset)

    def _seek_to_committed(self, timeout: float | None = None) -> Op[int]:
        offset = yield from self._committed(timeout)
        if offset < 0:
            reset = self._pos_config().auto_offset_reset
            if reset == "none":
                from kproto.group.core import NoCommittedOffsetError
                raise NoCommittedOffsetError(
                    f"{self._where()}: nothing committed and auto_offset_reset is 'none'")
            offset = OFFSET_OLDEST if reset == "earliest" else OFFSET_NEWEST
        return (yield from self._seek(offset, timeout))

    def _position(self) -> int:
        """Inside the engine: the offset of the next message this reader yields."""
        buffered = self._next_buffered()
        if buffered is not None:
            return buffered
        fetcher = self._pos_fetcher()
        stream = self._pos_stream()
        if stream not in fetcher.streams():
            return -1
        at = fetcher.position(stream)
        return -1 if at is None else int(at)

    def position(self) -> int:
        """The offset of the next message the iterator yields (-1 while not known)."""
        return int(self._loop.run(lambda engine, now: self._position()))

    def _lag(self, timeout: float | None = None) -> Op[int]:
        self._pos_open()

        def read(engine: Any, now: float) -> tuple[int, int]:
            fetcher = self._pos_fetcher()
            stream = self._pos_stream()
            end = -1
            if stream in fetcher.streams():
                end = fetcher.high_water_mark(stream)
                if self._pos_config().isolation_level == "read_committed":
                    end = fetcher.last_stable_offset(stream)
            return self._position(), end

        position, end = self._loop.run(read)
        position, end = int(position), int(end)
        if end < 0:
            end = yield from self._lookup(OFFSET_NEWEST, timeout)
        if position < 0:
            raise ObjectClosedError(f"{self._where()}: no position (closed, or not started)")
        return max(0, end - position)


class AsyncPositioned(Positioned):
    """The awaited spelling (asyncio and trio)."""

    async def seek(self, offset: int) -> int:
        """Continue from ``offset`` (a literal offset, OFFSET_NEWEST or OFFSET_OLDEST);
        messages buffered before are dropped. Returns the offset it moved to."""
        loop: AsyncLoop = self._loop
        return await loop.drive(self._seek(offset))

    async def seek_to_timestamp(self, timestamp: int) -> int:
        """Continue from the first message at or after ``timestamp`` (ms since the epoch),
        or from the end when none is that new. Returns the offset it moved to."""
        loop: AsyncLoop = self._loop
        return await loop.drive(self._seek_to_timestamp(timestamp))

    async def seek_to_committed(self) -> int:
        """Continue from the group's committed offset (``auto_offset_reset`` decides when
        nothing is committed). Returns the offset it moved to."""
        loop: AsyncLoop = self._loop
        return await loop.drive(self._seek_to_committed())

    async def committed(self) -> int:
        """The group's committed offset of this partition, -1 when none."""
        loop: AsyncLoop = self._loop
        return await loop.drive(self._committed())

    async def lag(self) -> int:
        """Messages behind the high water mark: its value from the latest fetch (looked up
        when unknown) minus ``position()``."""
        loop: AsyncLoop = self._loop
        return await loop.drive(self._lag())
