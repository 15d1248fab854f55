"""A bounded result buffer for an AsyncProducer's ``successes`` and ``errors`` streams.

Theory of operation: a :class:`ResultBuffer` holds results in arrival order up to a
capacity. The producer never waits for a reader: when the buffer is full, the oldest entry
is dropped and counted in ``dropped`` (so an errors stream nobody reads cannot deadlock the
producer, unlike sarama's unbuffered channels). ``close()`` marks the end: readers drain
what is left, then see the stream end. Adapters wrap it with their own way of waking a
reader (a condition, an asyncio future, a trio event).
"""

from __future__ import annotations

from collections import deque
from typing import Generic, TypeVar

__all__ = ["ResultBuffer"]

T = TypeVar("T")


class ResultBuffer(Generic[T]):
    """Results in order, at most ``capacity`` of them, oldest dropped first."""

    __slots__ = ("_items", "capacity", "closed", "dropped")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: deque[T] = deque()
        self.dropped = 0
        """Entries dropped because the buffer was full."""
        self.closed = False

    def push(self, item: T) -> None:
        items = self._items
        if len(items) >= self.capacity:
            items.popleft()
            self.dropped += 1
        items.append(item)

    def pop(self) -> T:
        """The oldest entry; IndexError when empty."""
        return self._items.popleft()

    def close(self) -> None:
        self.closed = True

    @property
    def finished(self) -> bool:
        """Closed and drained: a reader stops."""
        return self.closed and not self._items

    def __len__(self) -> int:
        return len(self._items)
