"""The cluster's nouns: brokers, topics, partitions, topic configs and name rules.

Theory of operation: plain records owned and changed by ``FakeCluster``; the rules here are
Kafka's (topic name validation, the topic config defaults, the Java string hash that places
a group or transactional id on a coordinator). No behaviour beyond that, no clock, no IO.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field

from kproto.testing.fake import codes
from kproto.testing.fake.log import PartitionLog

__all__ = ["TOPIC_DEFAULTS", "Broker", "Partition", "Topic", "java_hash", "topic_name_error"]

TOPIC_DEFAULTS: dict[str, str] = {
    "cleanup.policy": "delete",
    "compression.type": "producer",
    "max.message.bytes": "1048588",
    "message.timestamp.type": "CreateTime",
    "min.insync.replicas": "1",
    "retention.bytes": "-1",
    "retention.ms": "604800000",
    "segment.bytes": "1073741824",
    "segment.ms": "604800000",
}
"""Kafka's defaults for the topic configs the fake cluster knows."""

_TOPIC_NAME = re.compile(r"^[a-zA-Z0-9._-]+$")
MAX_TOPIC_NAME = 249


def topic_name_error(name: str) -> int:
    """Kafka's Topic.validate: INVALID_TOPIC_EXCEPTION for a bad name, else 0."""
    if (not name or name in (".", "..") or len(name) > MAX_TOPIC_NAME
            or not _TOPIC_NAME.match(name)):
        return codes.INVALID_TOPIC_EXCEPTION
    return codes.NONE


def java_hash(s: str) -> int:
    h = 0
    for unit in s.encode("utf-16-be").hex(" ", 2).split():
        h = (31 * h + int(unit, 16)) & 0xFFFFFFFF
    return h - (1 << 32) if h >= 1 << 31 else h


@dataclass(eq=False)
class Broker:
    node_id: int
    host: str
    port: int
    rack: str | None = None
    up: bool = True
    # Other listeners' advertised addresses (e.g. a fault proxy's), by listener name: a
    # client that came in on one is told that listener's addresses, as Kafka does.
    listeners: dict[str, tuple[str, int]] = field(default_factory=dict)

    def address(self, listener: str) -> tuple[str, int]:
        """``(host, port)`` advertised on ``listener`` (the main address if it has none)."""
        return self.listeners.get(listener, (self.host, self.port))


@dataclass(eq=False)
class Partition:
    topic: str
    index: int
    replicas: list[int]
    leader: int
    isr: list[int]
    leader_epoch: int = 0
    log: PartitionLog = field(default_factory=PartitionLog)


@dataclass(eq=False)
class Topic:
    name: str
    topic_id: uuid.UUID
    partitions: list[Partition]
    configs: dict[str, str] = field(default_factory=dict)

    def config(self, name: str) -> str:
        return self.configs.get(name, TOPIC_DEFAULTS.get(name, ""))
