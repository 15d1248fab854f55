"""Testing aids for applications that use kproto: an embedded fake Kafka cluster.

``FakeCluster`` is a sans-IO Kafka cluster (see ``kproto.testing.fake``): a test creates
one, connects clients to its brokers with ``connect`` and moves bytes and time between them.
"""

from __future__ import annotations

from kproto.testing.fake import (
    Broker,
    FakeCluster,
    Faults,
    GroupSettings,
    Partition,
    PartitionLog,
    Rule,
    ServerConnection,
    Topic,
)

__all__ = [
    "Broker",
    "FakeCluster",
    "Faults",
    "GroupSettings",
    "Partition",
    "PartitionLog",
    "Rule",
    "ServerConnection",
    "Topic",
]
