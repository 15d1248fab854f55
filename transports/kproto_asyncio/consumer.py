"""The asyncio Consumer: the shared awaited facade (``kproto.facade.consumer``) over the
asyncio Client; its streams are async iterators."""

from __future__ import annotations

from kproto.facade.consumer import AsyncConsumer, AsyncPartitionConsumer, ErrorStream, MessageStream
from kproto_asyncio.client import Client

__all__ = ["Consumer", "ErrorStream", "MessageStream", "PartitionConsumer"]


class PartitionConsumer(AsyncPartitionConsumer):
    """Messages of one partition, from the offset given to ``consume_partition``."""

    messages: MessageStream
    errors: ErrorStream


class Consumer(AsyncConsumer[PartitionConsumer]):
    """Consumes partitions of a cluster (sarama's Consumer), awaited: ``async with
    Consumer("host:9092", **options)``, or ``client=`` an existing Client to share."""

    _client_class = Client
    _partition_class = PartitionConsumer
