"""The asyncio ClusterAdmin: the shared awaited facade (``kproto.facade.admin``) over the
asyncio Client."""

from __future__ import annotations

from kproto.facade.admin import AsyncAdmin
from kproto_asyncio.client import Client

__all__ = ["ClusterAdmin"]


class ClusterAdmin(AsyncAdmin):
    """Administers a cluster (sarama's ClusterAdmin), awaited: ``async with
    ClusterAdmin("host:9092", **options)``, or ``client=`` an existing Client to share."""

    _client_class = Client
