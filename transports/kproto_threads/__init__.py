"""kproto driven by blocking sockets: one IO thread per client, concurrent.futures inside."""

from typing import TYPE_CHECKING

from kproto._lazy import lazy
from kproto_threads.client import Client

if TYPE_CHECKING:
    from kproto_threads.admin import ClusterAdmin
    from kproto_threads.consumer import Consumer, PartitionConsumer
    from kproto_threads.group import Claim, ConsumerGroup, GroupHandler, Session
    from kproto_threads.group_consumer import GroupConsumer, RebalanceListener
    from kproto_threads.offsets import OffsetManager, PartitionOffsetManager
    from kproto_threads.producer import AsyncProducer, SyncProducer

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
