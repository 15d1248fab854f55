"""The trio ConsumerGroup: one task per claim, in the group's own nursery.

The session policy and the buffers are :mod:`kproto.facade.group`'s; this file binds them to
the trio Client, trio's events, receive channels and nurseries. Claim tasks live in the
nursery the group opens in ``__aenter__``, so cancelling ``consume`` ends the session like a
rebalance does (claims are told to stop) instead of tearing the claim loops down mid-message.
"""

from __future__ import annotations

from typing import Any, TypeVar

import trio

from kproto.errors import ClosedError, ObjectClosedError
from kproto.facade.group import (
    AsyncClaim,
    AsyncGroup,
    AsyncSession,
    ClaimStream,
    ErrorBuffer,
    _Buffer,
)
from kproto.facade.handler import AsyncGroupHandler, AsyncHandlerProtocol
from kproto.group.core import Topics
from kproto.group.events import GroupError
from kproto.message_types import ConsumerMessage
from kproto_trio._loop import Loop
from kproto_trio.client import Client
from kproto_trio.consumer import Batches

__all__ = ["Claim", "ClaimMessages", "ConsumerGroup", "GroupErrors", "GroupHandler", "Session"]

T = TypeVar("T")


class _Channel(trio.abc.ReceiveChannel[T], _Buffer[T]):
    """A core buffer as a receive channel: it ends (``trio.EndOfChannel``) where the buffer
    closes."""

    def receive_nowait(self) -> T:
        try:
            item = self._take()
        except ClosedError:
            raise trio.EndOfChannel from None
        if item is None:
            raise trio.WouldBlock
        return item

    async def receive(self) -> T:
        try:
            item: T = await self._loop.drive(self._get())
        except ClosedError:
            raise trio.EndOfChannel from None
        await trio.lowlevel.checkpoint()
        return item

    async def aclose(self) -> None:
        self._end()
        await trio.lowlevel.checkpoint()


class ClaimMessages(_Channel[ConsumerMessage], ClaimStream):
    """A claim's messages in offset order (a receive channel): ``async for m in
    claim.messages``, ``await receive()``. It ends (``trio.EndOfChannel``) when the claim is
    told to stop; a partition error is raised after the messages before it."""


class GroupErrors(_Channel[GroupError], ErrorBuffer):
    """The group's errors (``GroupError`` values), a receive channel; when nobody reads and
    it is full the oldest is dropped. It ends once the group closes."""


class Claim(AsyncClaim):
    __doc__ = AsyncClaim.__doc__
    messages: ClaimMessages
    _batches = Batches


class Session(AsyncSession):
    _event = trio.Event


class GroupHandler(AsyncGroupHandler[Session, Claim]):
    """A handler to subclass: write ``async def consume_claim(session, claim)``; ``setup``
    and ``cleanup`` do nothing unless overridden."""


class ConsumerGroup(AsyncGroup[Loop]):
    """A member of a consumer group. ``await consume(topics, handler)`` runs one session.

    ``async with ConsumerGroup("host:9092", group_id="g") as group:``; or ``config=``, or
    ``client=`` an existing (entered) Client whose connections it shares.
    """

    _client_class = Client
    _claims_class = ClaimMessages
    _claim_class = Claim
    _session_class = Session
    _errors_class = GroupErrors
    _current = staticmethod(trio.lowlevel.current_task)
    _nursery_cm: Any = None
    _nursery: trio.Nursery | None = None

    @property
    def errors(self) -> GroupErrors:
        """The group's errors (``GroupError`` values) as they come."""
        return self._errors  # type: ignore[no-any-return]

    async def consume(self, topics: Topics, handler: AsyncHandlerProtocol[Session, Claim]
                      ) -> None:
        """Run one session (as the asyncio ConsumerGroup does); claim tasks run in the
        group's nursery."""
        if self._closed or self._nursery is None:
            raise ObjectClosedError("the consumer group is closed (or not entered)")
        await self._loop.drive(self._consume(topics, handler), self._nursery)

    async def __aenter__(self) -> ConsumerGroup:
        if self._owns_client:
            await self._client.__aenter__()
        self._nursery_cm = trio.open_nursery()
        self._nursery = await self._nursery_cm.__aenter__()
        _ = self._core
        return self

    async def __aexit__(self, *exc: Any) -> bool | None:
        try:
            try:
                await self.close()
            finally:
                assert self._nursery is not None
                self._nursery.cancel_scope.cancel()
                # Raises Cancelled inside a cancelled scope: the client is closed regardless.
                await self._nursery_cm.__aexit__(None, None, None)
        finally:
            if self._owns_client:
                await self._client.__aexit__(None, None, None)
        return None
