"""kproto driven by asyncio: protocols feed the engine, futures carry its results."""

from typing import TYPE_CHECKING

from kproto._lazy import lazy
from kproto_asyncio.client import Client

if TYPE_CHECKING:
    from kproto_asyncio.admin import ClusterAdmin
    from kproto_asyncio.consumer import Consumer, PartitionConsumer
    from kproto_asyncio.group import Claim, ConsumerGroup, GroupHandler, Session
    from kproto_asyncio.group_consumer import GroupConsumer, RebalanceListener
    from kproto_asyncio.offsets import OffsetManager, PartitionOffsetManager
    from kproto_asyncio.producer import AsyncProducer, SyncProducer

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
