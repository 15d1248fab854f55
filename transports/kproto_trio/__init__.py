"""kproto driven by trio: a task per connection, results delivered to awaiting tasks."""

from kproto_trio.client import Client
from kproto_trio.consumer import Consumer, PartitionConsumer
from kproto_trio.group import ConsumerGroup
from kproto_trio.producer import AsyncProducer, SyncProducer

__all__ = [
    "AsyncProducer",
    "Client",
    "Consumer",
    "ConsumerGroup",
    "PartitionConsumer",
    "SyncProducer",
]
