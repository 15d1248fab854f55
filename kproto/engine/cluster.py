"""What the client knows of the cluster: brokers, topics, partitions and their leaders.

Theory of operation: :class:`ClusterMetadata` owns the newest picture built from Metadata
responses. ``update()`` merges one response: the broker list is replaced, the topics in the
response are replaced, and topics not in it are kept (a response may cover only some
topics). Queries return plain immutable values so a caller never sees a half-updated picture.
It decides nothing about when to refresh; the engine does that.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

__all__ = ["BrokerInfo", "ClusterMetadata", "PartitionInfo", "TopicInfo"]


@dataclass(frozen=True, slots=True)
class BrokerInfo:
    node_id: int
    host: str
    port: int
    rack: str | None = None


@dataclass(frozen=True, slots=True)
class PartitionInfo:
    topic: str
    partition: int
    leader: int
    leader_epoch: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]
    offline_replicas: tuple[int, ...]
    error_code: int = 0


@dataclass(frozen=True, slots=True)
class TopicInfo:
    name: str
    topic_id: uuid.UUID
    is_internal: bool
    partitions: tuple[PartitionInfo, ...]
    error_code: int = 0

    def writable(self) -> tuple[int, ...]:
        """Partitions with a leader, the ones a producer can write to now."""
        return tuple(p.partition for p in self.partitions if p.leader >= 0)


class ClusterMetadata:
    """The merged picture of the cluster, updated from Metadata responses."""

    __slots__ = ("brokers", "cluster_id", "controller_id", "topic_errors", "topics", "version")

    def __init__(self) -> None:
        self.brokers: dict[int, BrokerInfo] = {}
        self.topics: dict[str, TopicInfo] = {}
        self.topic_errors: dict[str, int] = {}
        self.cluster_id: str | None = None
        self.controller_id = -1
        self.version = 0
        """Bumped by every update, so callers can tell cheaply whether anything changed."""

    def update(self, response: Any) -> None:
        """Merge a MetadataResponse (any version)."""
        self.brokers = {
            b.node_id: BrokerInfo(b.node_id, b.host, b.port, getattr(b, "rack", None))
            for b in response.brokers
        }
        self.cluster_id = getattr(response, "cluster_id", None)
        self.controller_id = getattr(response, "controller_id", -1)
        for t in response.topics:
            name = t.name
            if name is None:
                continue
            if t.error_code and not t.partitions:
                self.topic_errors[name] = t.error_code
                self.topics.pop(name, None)
                continue
            self.topic_errors.pop(name, None)
            parts = tuple(sorted(
                (PartitionInfo(
                    topic=name,
                    partition=p.partition_index,
                    leader=p.leader_id,
                    leader_epoch=getattr(p, "leader_epoch", -1),
                    replicas=tuple(p.replica_nodes),
                    isr=tuple(p.isr_nodes),
                    offline_replicas=tuple(getattr(p, "offline_replicas", ())),
                    error_code=p.error_code,
                ) for p in t.partitions),
                key=lambda p: p.partition,
            ))
            self.topics[name] = TopicInfo(
                name=name,
                topic_id=getattr(t, "topic_id", None) or uuid.UUID(int=0),
                is_internal=getattr(t, "is_internal", False),
                partitions=parts,
                error_code=t.error_code,
            )
        self.version += 1

    def forget_topic(self, name: str) -> None:
        self.topics.pop(name, None)

    def partitions(self, topic: str) -> tuple[int, ...]:
        info = self.topics.get(topic)
        return tuple(p.partition for p in info.partitions) if info else ()

    def writable_partitions(self, topic: str) -> tuple[int, ...]:
        info = self.topics.get(topic)
        return info.writable() if info else ()

    def partition(self, topic: str, partition: int) -> PartitionInfo | None:
        info = self.topics.get(topic)
        if info is None or not 0 <= partition < len(info.partitions):
            return None
        p = info.partitions[partition]
        return p if p.partition == partition else None

    def leader(self, topic: str, partition: int) -> int:
        """The leader's node id, or -1 when unknown."""
        p = self.partition(topic, partition)
        return p.leader if p is not None else -1

    def broker(self, node_id: int) -> BrokerInfo | None:
        return self.brokers.get(node_id)

    def snapshot(self) -> Metadata:
        return Metadata(
            cluster_id=self.cluster_id,
            controller_id=self.controller_id,
            brokers=tuple(sorted(self.brokers.values(), key=lambda b: b.node_id)),
            topics=dict(self.topics),
            topic_errors=dict(self.topic_errors),
        )


@dataclass(frozen=True, slots=True)
class Metadata:
    """An immutable view of the cluster, as returned to users."""

    cluster_id: str | None
    controller_id: int
    brokers: tuple[BrokerInfo, ...]
    topics: dict[str, TopicInfo]
    topic_errors: dict[str, int]
