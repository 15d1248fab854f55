"""What the core asks of its transport (actions) and tells it (events).

Theory of operation: after every input the transport drains ``next_action()`` (open or close
a connection), writes ``data_to_send(conn_id)`` for each connection, re-arms its one timer
from ``next_deadline()`` and drains ``next_event()``. Every value here is immutable and small.
Operation results travel as tokens, never callbacks: a transport keeps a map from token to
its own future and settles it when the matching event arrives.
"""

from __future__ import annotations

import os
from collections.abc import Callable, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = [
    "Action",
    "CloseConnection",
    "Event",
    "OpenConnection",
    "OperationCompleted",
    "OperationFailed",
    "Settleable",
    "describe_os_error",
    "dispatch",
]


class Action:
    """An IO request from the core to its transport."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class OpenConnection(Action):
    """Open a TCP connection (wrapped in TLS when ``tls``) and report ``connection_made``
    or ``connection_lost`` for ``conn_id``."""

    conn_id: int
    host: str
    port: int
    tls: bool


@dataclass(frozen=True, slots=True)
class CloseConnection(Action):
    """Close ``conn_id``; the core has already forgotten it, so no report is needed."""

    conn_id: int
    reason: str = ""


class Event:
    """A notification from the core to the transport."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class OperationCompleted(Event):
    """The user operation ``token`` finished with ``value``."""

    token: int
    value: Any


@dataclass(frozen=True, slots=True)
class OperationFailed(Event):
    """The user operation ``token`` failed with ``error``."""

    token: int
    error: BaseException


def describe_os_error(exc: BaseException) -> str:
    """A short reason for a failed connect or socket operation, for the transports.

    Event loops wrap the errno that matters (a refused connect, say) in their own
    messages or exception groups; this digs it out so every transport reports the same text.
    """
    seen: list[BaseException] = []
    stack = [exc]
    while stack:
        err = stack.pop()
        seen.append(err)
        stack += list(getattr(err, "exceptions", ()))
        if err.__cause__ is not None:
            stack.append(err.__cause__)
    for err in seen:
        code = getattr(err, "errno", None)
        if isinstance(code, int) and code > 0:
            return os.strerror(code).lower()
    for err in seen:
        strerror = getattr(err, "strerror", None)
        if isinstance(strerror, str) and strerror:
            return strerror.lower()
    text = str(exc)
    return text or type(exc).__name__


class Settleable(Protocol):
    """What every transport's future type offers (concurrent, asyncio, trio waiter)."""

    def done(self) -> bool: ...
    def set_result(self, value: Any, /) -> None: ...
    def set_exception(self, error: BaseException, /) -> None: ...


def dispatch(event: Event, pending: MutableMapping[int, Any],
             handlers: Sequence[Callable[[Event], bool]]) -> None:
    """Route one event: an operation result settles the future waiting on its token;
    anything else goes to the first handler that takes it."""
    if isinstance(event, (OperationCompleted, OperationFailed)):
        fut: Settleable | None = pending.pop(event.token, None)
        if fut is not None:
            if not fut.done():
                if isinstance(event, OperationCompleted):
                    fut.set_result(event.value)
                else:
                    fut.set_exception(event.error)
            return
    for handler in handlers:
        if handler(event):
            return
