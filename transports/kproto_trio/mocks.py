"""Expectation-based doubles of this transport's producers, consumer and consumer group
(sarama's mocks); see docs/testing-your-app.md. The logic lives in kproto.testing.mocks;
here only the partition streams take trio's channel names (``receive``)."""

from kproto.testing.mocks import aio
from kproto.testing.mocks.aio import AsyncProducer, MockError, Session, SyncProducer

__all__ = ["AsyncProducer", "Claim", "Consumer", "ConsumerGroup", "MockError",
           "PartitionConsumer", "Session", "SyncProducer"]


class PartitionConsumer(aio.PartitionConsumer):
    __doc__ = aio.PartitionConsumer.__doc__
    _stream_class = aio.Channel


class Claim(aio.Claim):
    __doc__ = aio.Claim.__doc__
    _stream_class = aio.Channel


class Consumer(aio.Consumer):
    __doc__ = aio.Consumer.__doc__
    _partition_class = PartitionConsumer


class ConsumerGroup(aio.ConsumerGroup):
    __doc__ = aio.ConsumerGroup.__doc__
    _stream_class = aio.Channel
    _claim_class = Claim
