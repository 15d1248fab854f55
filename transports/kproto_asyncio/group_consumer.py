"""The asyncio GroupConsumer (:mod:`kproto.facade.group_consumer`): subscribe, then ``async
for`` or ``await getmany()``; joins and rebalances run inside those calls."""

from __future__ import annotations

from kproto.facade.group_consumer import AsyncGroupConsumer, RebalanceListener
from kproto_asyncio.client import Client
from kproto_asyncio.group import GroupErrors

__all__ = ["GroupConsumer", "RebalanceListener"]


class GroupConsumer(AsyncGroupConsumer):
    __doc__ = AsyncGroupConsumer.__doc__
    _client_class = Client
    _errors_class = GroupErrors
