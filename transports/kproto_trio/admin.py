"""The trio ClusterAdmin: the shared awaited facade (``kproto.facade.admin``) over the trio
Client. Native here: its own Client (and that Client's nursery) is entered with the admin,
and closing it is shielded from cancellation."""

from __future__ import annotations

import trio

from kproto.facade.admin import AsyncAdmin
from kproto_trio.client import Client

__all__ = ["ClusterAdmin"]


class ClusterAdmin(AsyncAdmin):
    """Administers a cluster (sarama's ClusterAdmin), awaited: ``async with
    ClusterAdmin("host:9092", **options)`` (entering its own Client), or ``client=`` an
    entered Client to share."""

    _client_class = Client

    async def close(self) -> None:
        """Close the admin (and its own client's connections), even when cancelled."""
        with trio.CancelScope(shield=True):
            await super().close()
