"""The blocking OffsetManager: the shared facade (``kproto.facade.offsets``) driven on the
caller's thread. Waiting calls take ``timeout=`` (default: the core's own bound,
``request_timeout`` with its retries)."""

from __future__ import annotations

from kproto.facade.offsets import OffsetManagerBase, PartitionOffsetManagerBase
from kproto_threads._loop import Loop
from kproto_threads.client import Client
from kproto_threads.consumer import ErrorStream

__all__ = ["OffsetManager", "PartitionOffsetManager"]


class PartitionOffsetManager(PartitionOffsetManagerBase):
    """The offset of one managed partition: next_offset, mark_offset, reset_offset, errors."""

    errors: ErrorStream
    _error_stream = ErrorStream

    def close(self, timeout: float | None = None) -> None:
        """Commit this partition's mark and stop managing it; the errors stream ends."""
        self._loop.drive(self._close(timeout))

    def __enter__(self) -> PartitionOffsetManager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class OffsetManager(OffsetManagerBase[Loop]):
    """Commits a group's offsets without joining the group (sarama's OffsetManager), with
    blocking calls: ``OffsetManager("host:9092", group_id="g")``, or ``client=`` a Client."""

    _client_class = Client
    _partition_class = PartitionOffsetManager

    def manage_partition(self, topic: str, partition: int,
                         timeout: float | None = None) -> PartitionOffsetManager:
        """Manage ``topic[partition]``'s offset in the group; returns once the committed
        offset is known."""
        pom: PartitionOffsetManager = self._loop.drive(
            self._manage_partition(topic, partition, timeout))
        return pom

    def commit(self, timeout: float | None = None) -> None:
        """Commit every marked offset now (CommitFailed names each partition that failed)."""
        self._loop.drive(self._commit(timeout))

    def close(self, timeout: float | None = None) -> None:
        """Commit every marked offset, then close (and close its own client)."""
        try:
            self._loop.drive(self._close(timeout))
        finally:
            if self._owns_client:
                self._client.close()

    def __enter__(self) -> OffsetManager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
