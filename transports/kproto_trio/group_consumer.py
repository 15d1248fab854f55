"""The trio GroupConsumer (:mod:`kproto.facade.group_consumer`). One built from bootstrap
servers opens its own client (and its nursery) in ``async with``; a cancelled close still
closes that client, shielded."""

from __future__ import annotations

import trio

from kproto.facade.group_consumer import AsyncGroupConsumer, RebalanceListener
from kproto_trio.client import Client
from kproto_trio.group import GroupErrors

__all__ = ["GroupConsumer", "RebalanceListener"]


class GroupConsumer(AsyncGroupConsumer):
    __doc__ = AsyncGroupConsumer.__doc__
    _client_class = Client
    _errors_class = GroupErrors

    async def _close_client(self) -> None:
        with trio.CancelScope(shield=True):
            await self._client.close()
