"""kproto driven by asyncio: protocols feed the engine, futures carry its results."""

from kproto_asyncio.client import Client
from kproto_asyncio.consumer import Consumer, PartitionConsumer
from kproto_asyncio.group import ConsumerGroup
from kproto_asyncio.producer import AsyncProducer, SyncProducer

__all__ = [
    "AsyncProducer",
    "Client",
    "Consumer",
    "ConsumerGroup",
    "PartitionConsumer",
    "SyncProducer",
]
