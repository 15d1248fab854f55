"""A bounded result buffer for an AsyncProducer's ``successes`` and ``errors`` streams.

Theory of operation: a :class:`ResultBuffer` holds results in arrival order up to a
capacity; what happens when it is full is the producer's ``results_when_full``:

- ``drop_oldest``: the oldest entry is dropped and counted in ``dropped``, so an errors
  stream nobody reads cannot stall the producer; every drop is reported to ``on_drop``,
  which a :class:`DropWarning` turns into a warning on the ``kproto.producer`` logger (the
  first drop of a producer, then at most one every ``WARN_EVERY`` drops), so results are
  never lost without a word.
- ``block``: nothing is ever dropped. The buffer only says it is ``full``; the producer then
  makes ``send`` wait until a reader takes an entry (sarama's channels). Results of records
  already in flight still arrive, so a full buffer may briefly hold more than its capacity.

``close()`` marks the end: readers drain what is left, then see the stream end. Adapters
wrap it with their own way of waking a reader (a condition, an asyncio future, a trio event).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["WARN_EVERY", "DropWarning", "ResultBuffer"]

T = TypeVar("T")

log = logging.getLogger("kproto.producer")

WARN_EVERY = 100_000
"""After the first warning, another one at most every this many drops."""


class ResultBuffer(Generic[T]):
    """Results in order, at most ``capacity`` of them: oldest dropped first, or (``block``)
    none dropped while the producer waits for a reader."""

    __slots__ = ("_items", "block", "capacity", "closed", "dropped", "on_drop")

    def __init__(self, capacity: int, *, block: bool = False,
                 on_drop: Callable[[], None] | None = None) -> None:
        self.capacity = capacity
        self.block = block
        self.on_drop = on_drop
        self._items: deque[T] = deque()
        self.dropped = 0
        """Entries dropped because the buffer was full (never with ``block``)."""
        self.closed = False

    def push(self, item: T) -> None:
        items = self._items
        if len(items) >= self.capacity and not self.block:
            items.popleft()
            self.dropped += 1
            if self.on_drop is not None:
                self.on_drop()
        items.append(item)

    def pop(self) -> T:
        """The oldest entry; IndexError when empty."""
        return self._items.popleft()

    @property
    def full(self) -> bool:
        return len(self._items) >= self.capacity

    def close(self) -> None:
        self.closed = True

    @property
    def finished(self) -> bool:
        """Closed and drained: a reader stops."""
        return self.closed and not self._items

    def __len__(self) -> int:
        return len(self._items)


class DropWarning:
    """Warns of a producer's dropped results: at the first drop, then at most every
    ``WARN_EVERY`` drops, with the count so far and how to avoid it."""

    __slots__ = ("capacity", "count", "next_at")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.count = 0
        self.next_at = 1

    def dropped(self, stream: str) -> None:
        self.count += 1
        if self.count < self.next_at:
            return
        self.next_at = self.count + WARN_EVERY
        log.warning(
            "AsyncProducer: %d result(s) dropped so far, the oldest of its full %r stream "
            "(result_stream_capacity=%d, results_when_full='drop_oldest'). To lose none: read "
            "successes and errors while sending, or set results_when_full='block' (send then "
            "waits for a reader), or return_successes=False when successes are not needed.",
            self.count, stream, self.capacity)
