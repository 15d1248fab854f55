# Theory of operation: the consumer's public face. `Fetcher` is the fetch engine every
# consuming feature builds on (partitions assigned with a start offset come back as
# RecordsFetched / FetchError events); `ConsumerCore` is the Consumer's state machine on
# top of one Fetcher. See docs/consumer.md.
"""Consuming partitions: the fetch engine, fetch sessions, offsets and events."""

from __future__ import annotations

from .buffer import MessageBuffer
from .core import ConsumerCore, TopicPartitions, topic_partitions
from .errors import LogTruncationError, RecordBatchTooLargeError
from .events import ConsumerError, FetchError, RecordsFetched
from .fetch_session import FetchSession
from .fetcher import Fetcher, OnStart

__all__ = [
    "ConsumerCore",
    "ConsumerError",
    "FetchError",
    "FetchSession",
    "Fetcher",
    "LogTruncationError",
    "MessageBuffer",
    "OnStart",
    "RecordBatchTooLargeError",
    "RecordsFetched",
    "TopicPartitions",
    "topic_partitions",
]
