"""One heap of deadlines for the whole engine.

Theory of operation: every timer the core needs (request deadlines, connect timeouts,
backoffs, metadata age, linger, heartbeats) is an entry in one binary heap keyed by its
deadline. Cancelling marks the entry dead instead of searching the heap (lazy
invalidation); dead entries are dropped when they reach the top. ``next_deadline()`` is the
minimum live deadline, which is what an adapter arms its single timer with, and
``run_due(now)`` fires everything whose deadline has passed. Firing early or twice is
harmless: an entry fires once, and only when its deadline is <= now.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable

__all__ = ["TimerHandle", "Timers"]


class TimerHandle:
    """A scheduled callback; ``cancel()`` makes it never fire."""

    __slots__ = ("_fn", "cancelled", "when")

    def __init__(self, when: float, fn: Callable[[float], None]) -> None:
        self.when = when
        self._fn: Callable[[float], None] | None = fn
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True
        self._fn = None

    def __repr__(self) -> str:
        state = "cancelled" if self.cancelled else "armed"
        return f"<TimerHandle when={self.when:.3f} {state}>"


class Timers:
    """A heap of :class:`TimerHandle`, fired by ``run_due``."""

    __slots__ = ("_heap", "_seq")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, TimerHandle]] = []
        self._seq = 0

    def call_at(self, when: float, fn: Callable[[float], None]) -> TimerHandle:
        """Schedule ``fn(now)`` to run once ``now >= when``."""
        handle = TimerHandle(when, fn)
        self._seq += 1
        heapq.heappush(self._heap, (when, self._seq, handle))
        return handle

    def next_deadline(self) -> float | None:
        heap = self._heap
        while heap and heap[0][2].cancelled:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def run_due(self, now: float) -> int:
        """Fire every live timer due at ``now``; returns how many fired."""
        heap = self._heap
        fired = 0
        while heap and heap[0][0] <= now:
            _, _, handle = heapq.heappop(heap)
            fn = handle._fn
            if handle.cancelled or fn is None:
                continue
            handle.cancelled = True
            handle._fn = None
            fn(now)
            fired += 1
        return fired

    def __len__(self) -> int:
        return sum(1 for _, _, h in self._heap if not h.cancelled)
