"""The blocking ConsumerGroup: one thread per claim over the engine's IO thread.

The session policy and the buffers are :mod:`kproto.facade.group`'s, run on the calling
thread; this file adds the blocking methods with their ``timeout=`` and the :class:`Cancel`
object that ends a ``consume`` from another thread.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from kproto.facade import group as facade
from kproto.facade._streams import BlockingBatches, Iterates
from kproto.facade.group import ClaimStream, ErrorBuffer, GroupBase, SessionBase
from kproto.facade.handler import GroupHandler as BaseHandler
from kproto.facade.handler import HandlerProtocol
from kproto.group.core import Topics
from kproto.group.events import GroupError
from kproto.message_types import ConsumerMessage
from kproto_threads._loop import Loop
from kproto_threads.client import Client
from kproto_threads.consumer import Positioning

__all__ = ["Cancel", "Claim", "ClaimMessages", "ConsumerGroup", "GroupErrors", "GroupHandler",
           "Session"]

T = TypeVar("T")


class Cancel:
    """Ends a running ``consume`` from any thread: ``cancel.cancel()``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cancelled = False
        self._hooks: list[Any] = []

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            hooks, self._hooks = self._hooks, []
        for hook in hooks:
            hook()

    def _on_cancel(self, hook: Any) -> None:
        with self._lock:
            if not self._cancelled:
                self._hooks.append(hook)
                return
        hook()


def _bound(group: Any, timeout: float | None) -> float:
    # The engine bounds every request; this outer bound only guards against a stuck thread.
    cfg = group.config
    return timeout if timeout is not None else cfg.request_timeout + cfg.connect_timeout + 5.0


class ClaimMessages(Iterates[ConsumerMessage], ClaimStream):
    """A claim's messages in offset order: iterate it, or ``get(timeout)``. Iteration ends
    when the claim is told to stop; a partition error is raised after the messages before it."""

    def get(self, timeout: float | None = None) -> ConsumerMessage:
        """The next message; ClosedError once the claim stops (iteration just ends),
        ClientTimeoutError after ``timeout`` seconds without one."""
        return self._loop.drive(self._get(timeout, "message"))  # type: ignore[no-any-return]


class GroupErrors(Iterates[GroupError], ErrorBuffer):
    """The group's errors (``GroupError`` values): iterate or ``get(timeout)``; when nobody
    reads and it is full the oldest is dropped. Iteration ends once the group is closed."""

    def get(self, timeout: float | None = None) -> GroupError:
        return self._loop.drive(self._get(timeout, "error"))  # type: ignore[no-any-return]


class Claim(facade.Claim, Positioning):
    __doc__ = facade.Claim.__doc__
    messages: ClaimMessages

    def batches(self, timeout: float | None = None) -> BlockingBatches:
        """``for batch in claim.batches()``: the claim's messages a fetched chunk at a time
        (a tuple each, in offset order); ends as ``messages`` does; each wait bounded by
        ``timeout`` (ClientTimeoutError)."""
        return BlockingBatches(self.messages, timeout, contextlib.nullcontext())


class Session(SessionBase):
    _event = threading.Event

    def commit(self, timeout: float | None = None) -> None:
        """Commit the marked offsets now and wait for the broker."""
        self._group._loop.drive(self._commit(_bound(self._group, timeout)))


class GroupHandler(BaseHandler[Session, Claim]):
    """A handler to subclass: write ``consume_claim(session, claim)``; ``setup`` and
    ``cleanup`` do nothing unless overridden."""


class ConsumerGroup(GroupBase[Loop]):
    """A member of a consumer group. ``consume(topics, handler)`` runs one session.

    ``ConsumerGroup("host:9092", group_id="g")``, or ``config=Config(...)``, or ``client=``
    an existing Client whose connections it shares.
    """

    _client_class = Client
    _claims_class = ClaimMessages
    _claim_class = Claim
    _session_class = Session
    _errors_class = GroupErrors
    _join_bound = True
    _current = staticmethod(threading.current_thread)

    @property
    def errors(self) -> GroupErrors:
        """The group's errors (``GroupError`` values) as they come."""
        return self._errors  # type: ignore[no-any-return]

    def _locked(self, fn: Callable[[], T]) -> T:
        with self._loop.lock:
            return fn()

    def consume(self, topics: Topics, handler: HandlerProtocol[Session, Claim], *,
                cancel: Cancel | None = None) -> None:
        """Run one session: join, ``handler.setup(session)``, ``handler.consume_claim(session,
        claim)`` in a thread per claim until the session ends, ``handler.cleanup(session)``,
        commit. Raises what ended the session when it was fatal, or the first exception a
        handler method raised (after cleanup and the final commit)."""
        self._loop.drive(self._consume(topics, handler, cancel))

    def close(self, timeout: float | None = None) -> None:
        """End a running session (its claim loops get the rebalance timeout to return), commit,
        leave the group, release everything. Raises SessionAbandonedError when claim loops
        had to be abandoned."""
        first = self._locked(self._mark_closed)
        try:
            if self._core_obj is not None:
                self._loop.drive(self._close(first, timeout))
        finally:
            if first and self._owns_client:
                self._client.close()
        self._raise_abandoned()

    def __enter__(self) -> ConsumerGroup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
