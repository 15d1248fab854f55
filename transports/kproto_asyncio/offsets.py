"""The asyncio OffsetManager: the shared awaited facade (``kproto.facade.offsets``) over the
asyncio Client; a managed partition's errors are the partition consumer's stream."""

from __future__ import annotations

from kproto.facade.consumer import ErrorStream
from kproto.facade.offsets import AsyncOffsetManager, AsyncPartitionOffsetManager
from kproto_asyncio.client import Client

__all__ = ["OffsetManager", "PartitionOffsetManager"]


class PartitionOffsetManager(AsyncPartitionOffsetManager):
    """The offset of one managed partition: next_offset, mark_offset, reset_offset, errors."""

    errors: ErrorStream
    _error_stream = ErrorStream


class OffsetManager(AsyncOffsetManager[PartitionOffsetManager]):
    """Commits a group's offsets without joining the group (sarama's OffsetManager), awaited:
    ``async with OffsetManager("host:9092", group_id="g") as om``, or ``client=`` a Client."""

    _client_class = Client
    _partition_class = PartitionOffsetManager
