"""kproto driven by blocking sockets: one IO thread per client, concurrent.futures inside."""

from kproto_threads.client import Client
from kproto_threads.consumer import Consumer, PartitionConsumer
from kproto_threads.group import ConsumerGroup
from kproto_threads.producer import AsyncProducer, SyncProducer

__all__ = [
    "AsyncProducer",
    "Client",
    "Consumer",
    "ConsumerGroup",
    "PartitionConsumer",
    "SyncProducer",
]
