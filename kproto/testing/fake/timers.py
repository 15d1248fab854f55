"""Keyed timers for the fake cluster: schedule, replace, cancel, fire what is due.

Theory of operation: a dict from a key (any hashable, e.g. ``("heartbeat", group, member)``)
to a deadline and a callback. Scheduling under a key replaces the timer that key had, as
Kafka's coordinator timer does. ``fire(now)`` runs every callback whose deadline has
passed, earliest first, including timers those callbacks schedule for a time already past.
The caller supplies ``now``; nothing here reads a clock.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

__all__ = ["Timers"]


class Timers:
    def __init__(self) -> None:
        self._timers: dict[Hashable, tuple[float, Callable[[float], None]]] = {}
        self._next: float | None = None
        self._stale = False
        """``_next`` is out of date. A driver asks next_deadline after every step, far more
        often than timers change, so the minimum is kept (it was 3% of a simulation)."""

    def schedule(self, key: Hashable, deadline: float, fn: Callable[[float], None]) -> None:
        self._timers[key] = (deadline, fn)
        self._stale = True

    def cancel(self, key: Hashable) -> None:
        if self._timers.pop(key, None) is not None:
            self._stale = True

    def deadline(self, key: Hashable) -> float | None:
        entry = self._timers.get(key)
        return None if entry is None else entry[0]

    def next_deadline(self) -> float | None:
        if self._stale:
            self._stale = False
            self._next = min((d for d, _ in self._timers.values()), default=None)
        return self._next

    def fire(self, now: float) -> bool:
        """Run every due callback; True when any ran."""
        ran = False
        while True:
            first = self.next_deadline()
            if first is None or first > now:  # the common case: nothing due, no list built
                return ran
            due = [(d, k) for k, (d, _) in self._timers.items() if d <= now]
            if not due:
                return ran
            _, key = min(due, key=lambda x: x[0])
            _, fn = self._timers.pop(key)
            self._stale = True
            fn(now)
            ran = True
