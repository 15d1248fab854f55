"""The trio GroupConsumer: subscribe, then ``async for`` or ``await getmany()``; joins and
rebalances run inside those calls (:mod:`kproto.facade.group_consumer`)."""

from __future__ import annotations

from kproto.facade.group_consumer import AsyncGroupConsumer, RebalanceListener
from kproto_trio.client import Client
from kproto_trio.group import GroupErrors

__all__ = ["GroupConsumer", "RebalanceListener"]


class GroupConsumer(AsyncGroupConsumer):
    """A member of a consumer group read by polling (aiokafka's AIOKafkaConsumer):
    ``async with GroupConsumer("host:9092", group_id="g") as consumer:``,
    ``consumer.subscribe(["t"])``, then ``async for message in consumer`` or ``await
    getmany(max_records, timeout)``; ``await commit()``."""

    _client_class = Client
    _errors_class = GroupErrors

    @property
    def errors(self) -> GroupErrors:
        """Errors that do not stop the consumer (``GroupError`` values)."""
        return self._errors  # type: ignore[no-any-return]
