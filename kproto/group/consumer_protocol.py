"""The bytes consumers put in JoinGroup and SyncGroup: ConsumerProtocolSubscription/Assignment.

Theory of operation: the group coordinator treats a member's protocol metadata and its
assignment as opaque bytes; consumers agree on their layout (the "consumer" protocol type):
a big-endian int16 version followed by the data schema at that version. Encoding uses the
newest version kproto knows; decoding a newer version reads it with the newest known layout
and ignores what follows, as the Java client does (new versions only append fields). This
module holds no state.
"""

from __future__ import annotations

import struct

from kproto import protocol
from kproto.errors import DecodeError
from kproto.group.assignors import Assignment, Subscription, TopicPartition

__all__ = [
    "PROTOCOL_TYPE",
    "decode_assignment",
    "decode_subscription",
    "encode_assignment",
    "encode_subscription",
]

PROTOCOL_TYPE = "consumer"
_VERSION = struct.Struct(">h")


def _grouped(parts: tuple[TopicPartition, ...]) -> dict[str, list[int]]:
    by_topic: dict[str, list[int]] = {}
    for tp in parts:
        by_topic.setdefault(tp.topic, []).append(tp.partition)
    return by_topic


def encode_subscription(sub: Subscription, version: int | None = None) -> bytes:
    """``sub`` as JoinGroup protocol metadata, at ``version`` (None: the newest kproto knows)."""
    from kproto.protocol.messages.consumer_protocol_subscription import (
        TopicPartition as OwnedTopic,
    )
    if version is None:
        version = protocol.ConsumerProtocolSubscription.MAX_VERSION
    msg = protocol.ConsumerProtocolSubscription(
        topics=list(sub.topics),
        user_data=sub.user_data,
        owned_partitions=[OwnedTopic(topic=t, partitions=p)
                          for t, p in _grouped(sub.owned_partitions).items()],
        generation_id=sub.generation,
        rack_id=sub.rack,
    )
    return _VERSION.pack(version) + msg.encode(version)


def _version(data: bytes, what: str, newest: int) -> int:
    if len(data) < 2:
        raise DecodeError(f"{what} is {len(data)} bytes, too short for its version")
    version: int = _VERSION.unpack_from(data)[0]
    if version < 0:
        raise DecodeError(f"{what} has version {version}")
    return min(version, newest)


def decode_subscription(data: bytes, group_instance_id: str | None = None) -> Subscription:
    """A member's subscription from its JoinGroup protocol metadata."""
    cls = protocol.ConsumerProtocolSubscription
    version = _version(data, "consumer subscription", cls.MAX_VERSION)
    msg, _end = cls.decode_from(bytes(data), 2, version)
    owned = tuple(TopicPartition(t.topic, p) for t in msg.owned_partitions for p in t.partitions)
    return Subscription(
        topics=tuple(msg.topics),
        user_data=msg.user_data,
        owned_partitions=owned,
        generation=msg.generation_id,
        group_instance_id=group_instance_id,
        rack=msg.rack_id,
    )


def encode_assignment(assignment: Assignment, version: int | None = None) -> bytes:
    """``assignment`` as SyncGroup bytes, at ``version`` (None: the newest kproto knows)."""
    from kproto.protocol.messages.consumer_protocol_assignment import (
        TopicPartition as AssignmentTopic,
    )
    if version is None:
        version = protocol.ConsumerProtocolAssignment.MAX_VERSION
    msg = protocol.ConsumerProtocolAssignment(
        assigned_partitions=[AssignmentTopic(topic=t, partitions=p)
                             for t, p in _grouped(assignment.partitions).items()],
        user_data=assignment.user_data,
    )
    return _VERSION.pack(version) + msg.encode(version)


def decode_assignment(data: bytes) -> Assignment:
    """A member's assignment from its SyncGroup response (empty bytes: nothing assigned)."""
    if not data:
        return Assignment()
    cls = protocol.ConsumerProtocolAssignment
    version = _version(data, "consumer assignment", cls.MAX_VERSION)
    msg, _end = cls.decode_from(bytes(data), 2, version)
    parts = tuple(TopicPartition(t.topic, p) for t in msg.assigned_partitions
                  for p in t.partitions)
    return Assignment(parts, msg.user_data)
