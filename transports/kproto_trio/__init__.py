"""kproto driven by trio: a task per connection, results delivered to awaiting tasks."""

from typing import TYPE_CHECKING

from kproto._lazy import lazy
from kproto_trio.client import Client

if TYPE_CHECKING:
    from kproto_trio.admin import ClusterAdmin
    from kproto_trio.consumer import Consumer, PartitionConsumer
    from kproto_trio.group import Claim, ConsumerGroup, GroupHandler, Session
    from kproto_trio.group_consumer import GroupConsumer, RebalanceListener
    from kproto_trio.offsets import OffsetManager, PartitionOffsetManager
    from kproto_trio.producer import AsyncProducer, SyncProducer

__all__ = [
    "AsyncProducer", "Client", "ClusterAdmin", "Consumer", "ConsumerGroup", "PartitionConsumer",
    "OffsetManager", "PartitionOffsetManager", "SyncProducer", "GroupConsumer",
    "RebalanceListener", "Claim", "GroupHandler", "Session",
]
__getattr__ = lazy(__name__, {
    "AsyncProducer": ".producer", "SyncProducer": ".producer", "Consumer": ".consumer",
    "PartitionConsumer": ".consumer", "ConsumerGroup": ".group", "ClusterAdmin": ".admin",
    "OffsetManager": ".offsets", "PartitionOffsetManager": ".offsets",
    "GroupConsumer": ".group_consumer", "RebalanceListener": ".group_consumer",
    "Claim": ".group", "GroupHandler": ".group", "Session": ".group",
})
