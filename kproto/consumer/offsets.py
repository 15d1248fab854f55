# Theory of operation: stateless translation between the fetcher's questions about offsets
# and the wire. ListOffsets answers "where is the oldest / newest offset" (timestamps -2 /
# -1, with the isolation level: read_committed gets the last stable offset as newest);
# OffsetForLeaderEpoch answers "where does epoch E end on the current leader" (KIP-320),
# which tells whether a position read under an older leader is still in the log. Requests
# are built from plain tuples and responses read back into plain tuples, whatever the
# version, so the fetcher never touches version differences.
"""ListOffsets and OffsetForLeaderEpoch: requests from tuples, responses into tuples."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from kproto import protocol
from kproto.protocol.apis import LIST_OFFSETS, OFFSET_FOR_LEADER_EPOCH

if TYPE_CHECKING:
    from kproto.protocol.messages.list_offsets_request import ListOffsetsTopic
    from kproto.protocol.messages.offset_for_leader_epoch_request import (
        OffsetForLeaderTopic,
    )

__all__ = [
    "LIST_OFFSETS",
    "OFFSET_FOR_LEADER_EPOCH",
    "VALIDATION_MIN_VERSION",
    "epoch_request",
    "epoch_results",
    "list_offsets_found",
    "list_offsets_request",
    "list_offsets_results",
]

VALIDATION_MIN_VERSION = 3
"""OffsetForLeaderEpoch before v3 is for replicas only: consumers skip validation then."""


def list_offsets_request(targets: Iterable[tuple[str, int, int, int]], *,
                         isolation_level: int, timeout_ms: int) -> Any:
    """``targets``: (topic, partition, current leader epoch, timestamp) with timestamp -1
    for the newest offset and -2 for the oldest."""
    from kproto.protocol.messages.list_offsets_request import ListOffsetsPartition, ListOffsetsTopic
    topics: dict[str, ListOffsetsTopic] = {}
    for name, partition, leader_epoch, timestamp in targets:
        entry = topics.get(name)
        if entry is None:
            entry = topics[name] = ListOffsetsTopic(name=name)
        entry.partitions.append(ListOffsetsPartition(
            partition_index=partition, current_leader_epoch=leader_epoch,
            timestamp=timestamp, max_num_offsets=1))
    return protocol.ListOffsetsRequest(replica_id=-1, isolation_level=isolation_level,
                                       topics=list(topics.values()), timeout_ms=timeout_ms)


def list_offsets_results(resp: Any, version: int) -> Iterator[tuple[str, int, int, int, int]]:
    """(topic, partition, error code, offset, leader epoch) per partition; offset and epoch
    are -1 when the version does not carry them."""
    for name, index, code, offset, _timestamp, epoch in list_offsets_found(resp, version):
        yield name, index, code, offset, epoch


def list_offsets_found(resp: Any, version: int
                       ) -> Iterator[tuple[str, int, int, int, int, int]]:
    """(topic, partition, error code, offset, timestamp, leader epoch) per partition; each
    is -1 when the version does not carry it (the timestamp also for -1 / -2 lookups)."""
    for topic in resp.topics:
        for p in topic.partitions:
            if version >= 1:
                offset, timestamp = p.offset, p.timestamp
            else:
                offset = p.old_style_offsets[0] if p.old_style_offsets else -1
                timestamp = -1
            epoch = p.leader_epoch if version >= 4 else -1
            yield topic.name, p.partition_index, p.error_code, offset, timestamp, epoch


def epoch_request(targets: Iterable[tuple[str, int, int, int]]) -> Any:
    """``targets``: (topic, partition, current leader epoch, epoch to look up)."""
    from kproto.protocol.messages.offset_for_leader_epoch_request import (
        OffsetForLeaderPartition,
        OffsetForLeaderTopic,
    )
    topics: dict[str, OffsetForLeaderTopic] = {}
    for name, partition, current, epoch in targets:
        entry = topics.get(name)
        if entry is None:
            entry = topics[name] = OffsetForLeaderTopic(topic=name)
        entry.partitions.append(OffsetForLeaderPartition(
            partition=partition, current_leader_epoch=current, leader_epoch=epoch))
    return protocol.OffsetForLeaderEpochRequest(replica_id=-1, topics=list(topics.values()))


def epoch_results(resp: Any) -> Iterator[tuple[str, int, int, int, int]]:
    """(topic, partition, error code, leader epoch, end offset) per partition."""
    for topic in resp.topics:
        for p in topic.partitions:
            yield topic.topic, p.partition, p.error_code, p.leader_epoch, p.end_offset
