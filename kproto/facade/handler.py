"""What ``ConsumerGroup.consume`` needs of a handler (sarama's ConsumerGroupHandler), typed.

Only ``consume_claim(session, claim)`` is required; ``setup(session)`` and
``cleanup(session)`` are optional, and the base classes here give no-op ones, so the smallest
handler is one method. A type checker checks a handler against the Protocols; at runtime
``consume`` checks it before joining the group (:func:`check_handler`), so a mistake is
reported by name instead of failing inside a running session.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, Generic, Protocol, TypeVar

from kproto.errors import UsageError

__all__ = ["AsyncGroupHandler", "AsyncHandlerProtocol", "GroupHandler", "HandlerProtocol",
           "check_handler", "no_op"]

S = TypeVar("S", contravariant=True)
C = TypeVar("C", contravariant=True)


class HandlerProtocol(Protocol[S, C]):
    """A blocking handler: ``consume_claim`` runs in a thread per claim."""

    def consume_claim(self, session: S, claim: C, /) -> None: ...


class AsyncHandlerProtocol(Protocol[S, C]):
    """An awaited handler: ``consume_claim`` runs in a task per claim (a plain function is
    accepted too)."""

    def consume_claim(self, session: S, claim: C, /) -> Awaitable[None] | None: ...


class GroupHandler(Generic[S, C]):
    """Subclass and write ``consume_claim``; ``setup`` and ``cleanup`` do nothing unless
    overridden."""

    def setup(self, session: S) -> None:
        """Called once the session's claims are known, before any claim is consumed."""

    def cleanup(self, session: S) -> None:
        """Called once every claim loop returned, before the session's final commit."""

    def consume_claim(self, session: S, claim: C) -> None:
        raise NotImplementedError


class AsyncGroupHandler(Generic[S, C]):
    """The awaited base: subclass and write ``async def consume_claim``."""

    async def setup(self, session: S) -> None:
        """Called once the session's claims are known, before any claim is consumed."""

    async def cleanup(self, session: S) -> None:
        """Called once every claim loop returned, before the session's final commit."""

    async def consume_claim(self, session: S, claim: C) -> None:
        raise NotImplementedError


def no_op(session: Any) -> None:
    """The setup or cleanup of a handler that has none."""


def check_handler(handler: object) -> None:
    """Refuse a handler ``consume`` cannot run, naming what is missing."""
    method = getattr(handler, "consume_claim", None)
    if not callable(method):
        raise UsageError(f"the handler {handler!r} has no consume_claim(session, claim) "
                         f"method (setup and cleanup are optional)")
    own = getattr(type(handler), "consume_claim", None)
    if own in (GroupHandler.consume_claim, AsyncGroupHandler.consume_claim):
        raise UsageError(f"{type(handler).__name__} does not override consume_claim(session, "
                         f"claim)")
    for name in ("setup", "cleanup"):
        if not callable(getattr(handler, name, no_op)):
            raise UsageError(f"the handler's {name} is not callable")
