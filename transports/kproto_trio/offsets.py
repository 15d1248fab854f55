"""The trio OffsetManager: the shared awaited facade (``kproto.facade.offsets``) over the trio
Client. Native here: a managed partition's errors are a receive channel, and closing (which
commits) is shielded from cancellation; the core bounds it by ``request_timeout``."""

from __future__ import annotations

import trio

from kproto.facade.offsets import AsyncOffsetManager, AsyncPartitionOffsetManager
from kproto_trio.client import Client
from kproto_trio.consumer import ErrorChannel

__all__ = ["OffsetManager", "PartitionOffsetManager"]


class PartitionOffsetManager(AsyncPartitionOffsetManager):
    """The offset of one managed partition: next_offset, mark_offset, reset_offset, errors."""

    errors: ErrorChannel
    _error_stream = ErrorChannel

    async def close(self) -> None:
        """Commit this partition's mark and stop managing it, even when cancelled."""
        with trio.CancelScope(shield=True):
            await super().close()


class OffsetManager(AsyncOffsetManager[PartitionOffsetManager]):
    """Commits a group's offsets without joining the group (sarama's OffsetManager), awaited:
    ``async with OffsetManager("host:9092", group_id="g") as om`` (entering its own Client),
    or ``client=`` an entered Client to share."""

    _client_class = Client
    _partition_class = PartitionOffsetManager

    async def close(self) -> None:
        """Commit every marked offset, then close, even when cancelled."""
        with trio.CancelScope(shield=True):
            await super().close()
