"""The asyncio ConsumerGroup: one task per claim, on the engine's event loop.

The session policy and the claims' buffers are :mod:`kproto.facade.group`'s; this file binds
them to the asyncio Client and asyncio's events and tasks.
"""

from __future__ import annotations

import asyncio

from kproto.facade.group import (
    AsyncClaim,
    AsyncClaimMessages,
    AsyncGroup,
    AsyncGroupErrors,
    AsyncSession,
)
from kproto.facade.handler import AsyncGroupHandler
from kproto_asyncio._loop import Loop
from kproto_asyncio.client import Client

__all__ = ["Claim", "ClaimMessages", "ConsumerGroup", "GroupErrors", "GroupHandler", "Session"]


class ClaimMessages(AsyncClaimMessages):
    """A claim's messages in offset order: ``async for m in claim.messages``, or ``await
    get()``. Iteration ends when the claim is told to stop; a partition error is raised
    after the messages before it."""


class GroupErrors(AsyncGroupErrors):
    """The group's errors (``GroupError`` values): ``async for`` or ``await get()``; when
    nobody reads and it is full the oldest is dropped. Iteration ends once the group closes."""


class Claim(AsyncClaim):
    __doc__ = AsyncClaim.__doc__
    messages: ClaimMessages


class Session(AsyncSession):
    _event = asyncio.Event


class GroupHandler(AsyncGroupHandler[Session, Claim]):
    """A handler to subclass: write ``async def consume_claim(session, claim)``; ``setup``
    and ``cleanup`` do nothing unless overridden."""


class ConsumerGroup(AsyncGroup[Loop]):
    """A member of a consumer group. ``await consume(topics, handler)`` runs one session.

    ``async with ConsumerGroup("host:9092", group_id="g") as group:``; or ``config=``, or
    ``client=`` an existing Client whose connections it shares.
    """

    _client_class = Client
    _claims_class = ClaimMessages
    _claim_class = Claim
    _session_class = Session
    _errors_class = GroupErrors
    _current = staticmethod(asyncio.current_task)

    @property
    def errors(self) -> GroupErrors:
        """The group's errors (``GroupError`` values) as they come."""
        return self._errors  # type: ignore[no-any-return]

    async def __aenter__(self) -> ConsumerGroup:
        if self._owns_client:
            await self._client.__aenter__()
        _ = self._core
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
