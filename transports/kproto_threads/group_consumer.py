"""The blocking GroupConsumer: subscribe, then iterate or ``getmany``; joins and rebalances
run inside those calls, on the calling thread (:mod:`kproto.facade.group_consumer`)."""

from __future__ import annotations

from typing import TypeVar

from kproto.errors import ClosedError
from kproto.facade.group_consumer import GroupConsumerBase, Offsets, RebalanceListener
from kproto.group.assignors import TopicPartition
from kproto.message_types import ConsumerMessage
from kproto_threads._loop import Loop
from kproto_threads.client import Client
from kproto_threads.group import GroupErrors

__all__ = ["GroupConsumer", "RebalanceListener"]

T = TypeVar("T")


class GroupConsumer(GroupConsumerBase[Loop]):
    """A member of a consumer group read by polling (Java's KafkaConsumer):
    ``GroupConsumer("host:9092", group_id="g")``, ``subscribe(["t"])``, then ``for message
    in consumer`` or ``getmany(max_records, timeout)``; ``commit()``; ``close()``."""

    _client_class = Client
    _errors_class = GroupErrors

    def _bound(self, timeout: float | None) -> float:
        cfg = self.config
        return timeout if timeout is not None else cfg.request_timeout + cfg.connect_timeout + 5.0

    def getmany(self, max_records: int | None = None, timeout: float | None = 0.0
                ) -> dict[TopicPartition, list[ConsumerMessage]]:
        """Up to ``max_records`` messages by partition: what is there now, else what comes
        within ``timeout`` seconds (None: wait for some); ``{}`` when nothing did. Joins and
        rebalances run inside, with the listener's calls."""
        return self._loop.drive(self._poll(max_records, timeout))

    def getone(self, timeout: float | None = None) -> ConsumerMessage:
        """The next message; ClientTimeoutError after ``timeout`` seconds without one."""
        return self._loop.drive(self._one(timeout))

    def commit(self, offsets: Offsets | None = None, timeout: float | None = None) -> None:
        """Commit the positions (the offset of the next message to read, per assigned
        partition) or ``offsets`` (``{(topic, partition): offset}``) and wait for the broker."""
        self._loop.drive(self._commit(offsets, self._bound(timeout)))

    def close(self, timeout: float | None = None) -> None:
        """``on_partitions_revoked``, commit what auto-commit marked, leave the group (a
        static member stays until its session times out), release everything."""
        try:
            self._loop.drive(self._close(self._bound(timeout)))
        finally:
            if self._owns_client:
                self._client.close()

    def __iter__(self) -> GroupConsumer:
        return self

    def __next__(self) -> ConsumerMessage:
        try:
            return self.getone()
        except ClosedError:
            raise StopIteration from None

    def __enter__(self) -> GroupConsumer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
