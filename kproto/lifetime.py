"""Noticing objects dropped without ``close()``.

Theory of operation: a transport's loop outlives the producers, consumers and groups built on
it, and it calls each of them on every event. If it held them strongly, an object the user
dropped without closing would live as long as the loop and its loss would go unseen. So the
loop keeps :class:`WeakHandler` wrappers; once the object is collected, its handler answers
``False`` and the loop drops it. The object's finaliser calls :func:`warn_dropped`, which
names what was lost (unsettled records, open connections) in a ``ResourceWarning``.
"""

from __future__ import annotations

import inspect
import warnings
import weakref
from collections.abc import Callable
from typing import Any, Protocol

from kproto.events import Event

__all__ = ["WeakHandler", "warn_dropped"]


class WeakHandler:
    """An event handler holding its object weakly, so that an object dropped without close
    can be collected (and say what it lost) although the loop outlives it."""

    __slots__ = ("_ref",)

    def __init__(self, fn: Callable[[Event], bool]) -> None:
        self._ref: Callable[[], Callable[[Event], bool] | None] = (
            weakref.WeakMethod(fn) if inspect.ismethod(fn) else lambda: fn)

    def __call__(self, event: Event) -> bool:
        fn = self._ref()
        return fn is not None and fn(event)

    def __eq__(self, other: object) -> bool:
        return self._ref() == other if not isinstance(other, WeakHandler) else self is other

    __hash__ = None  # type: ignore[assignment]


class _Connections(Protocol):
    def open_connections(self) -> int: ...


class _Metrics(Protocol):
    def metrics(self) -> dict[str, Any]: ...


def warn_dropped(obj: object, loop: _Connections | None, core: _Metrics | None = None) -> None:
    """The ResourceWarning of an object collected without close() that still held records
    (unsettled in its producer ``core``) or connections (open in its own ``loop``): what it
    held is lost."""
    connections = loop.open_connections() if loop is not None else 0
    records = core.metrics()["records_unsettled"] if core is not None else 0
    lost = []
    if records:
        lost.append(f"{records} record{'s' if records != 1 else ''} unsettled (queued ones are "
                    "never sent, sent ones never confirmed)")
    if connections:
        lost.append(f"{connections} open broker connection{'s' if connections != 1 else ''}")
    if lost:
        warnings.warn(f"{type(obj).__name__} dropped without close(): {', '.join(lost)}",
                      ResourceWarning, source=obj, stacklevel=2)
