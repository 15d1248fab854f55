"""Partition assignors: who in a consumer group reads which partition.

Theory of operation: the group leader collects every member's :class:`Subscription` (from
the JoinGroup response) and the partition count of every subscribed topic (from metadata),
and one :class:`Assignor` turns them into an :class:`Assignment` per member. Assignors are
pure functions of their input, except that the sticky ones remember their last assignment
(``on_assignment``) to put it in the next subscription's user data.

- ``range`` and ``roundrobin`` give exactly what the Java client's assignors of the same
  names give for the same input (members ordered as Java orders them: static members by
  group instance id first, then dynamic members by member id, strings compared by UTF-16
  code units as Java does).
- ``sticky`` (eager) and ``cooperative-sticky`` (KIP-429) keep partitions with their
  previous owners while balancing. They read previous ownership the way the Java assignors
  write it (``sticky``: the user data; ``cooperative-sticky``: the subscription's owned
  partitions and generation), so Java and kproto members can share a group. The cooperative
  one never hands a partition straight from one member to another: a moving partition is
  left out of this round (its owner revokes it and rejoins) and assigned in the next.

A custom assignor subclasses :class:`Assignor`; it may return plain partition lists.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple

from kproto.errors import ConfigurationError, DecodeError

__all__ = [
    "ASSIGNORS",
    "Assignment",
    "Assignor",
    "CooperativeStickyAssignor",
    "RangeAssignor",
    "RoundRobinAssignor",
    "StickyAssignor",
    "Subscription",
    "TopicPartition",
    "assignor_for",
    "java_member_order",
    "normalize_assignment",
]


class TopicPartition(NamedTuple):
    """One partition of one topic."""

    topic: str
    partition: int


@dataclass(frozen=True, slots=True)
class Subscription:
    """What one member told the group when it joined."""

    topics: tuple[str, ...]
    user_data: bytes | None = None
    owned_partitions: tuple[TopicPartition, ...] = ()
    generation: int = -1
    """The generation the owned partitions belong to (-1: unknown)."""
    group_instance_id: str | None = None
    rack: str | None = None


@dataclass(frozen=True, slots=True)
class Assignment:
    """What the leader gives one member."""

    partitions: tuple[TopicPartition, ...] = ()
    user_data: bytes | None = None


@dataclass(frozen=True, slots=True)
class _Member:
    member_id: str
    subscription: Subscription
    key: tuple[int, bytes] = field(compare=False)


def _java_string_key(text: str) -> bytes:
    # Java compares strings by UTF-16 code units; big-endian UTF-16 bytes sort the same way.
    return text.encode("utf-16-be", "surrogatepass")


def java_member_order(members: Mapping[str, Subscription]) -> list[str]:
    """Member ids in the order Java's assignors sort them: static members (by group
    instance id) first, then dynamic members (by member id)."""
    def key(member_id: str) -> tuple[int, bytes]:
        instance = members[member_id].group_instance_id
        if instance is not None:
            return (0, _java_string_key(instance))
        return (1, _java_string_key(member_id))
    return sorted(members, key=key)


class Assignor:
    """The base of every assignor. Subclasses set ``name`` and implement ``assign``."""

    name: ClassVar[str] = ""
    """The protocol name sent in JoinGroup; members agree on the first name all support."""
    cooperative: ClassVar[bool] = False
    """True for incremental cooperative rebalancing (KIP-429): members keep the partitions
    that do not move while the group rebalances."""

    def subscription_user_data(self, topics: Sequence[str]) -> bytes | None:
        """Opaque bytes sent with this member's subscription."""
        return None

    def assign(self, partitions: Mapping[str, int],
               members: Mapping[str, Subscription]) -> Mapping[str, Any]:
        """Map each member id to an :class:`Assignment` (or a list of (topic, partition)).

        ``partitions`` holds the partition count of every subscribed topic the metadata
        knows; topics it lacks are not assigned.
        """
        raise NotImplementedError

    def on_assignment(self, assignment: Assignment, generation: int) -> None:
        """Called on every member with its own assignment once the group is synced."""


def normalize_assignment(result: Mapping[str, Any],
                         members: Mapping[str, Subscription],
                         partitions: Mapping[str, int], assignor: str) -> dict[str, Assignment]:
    """Check an assignor's output and give every member an :class:`Assignment`.

    A member missing from the result gets nothing; an unknown member, a partition that does
    not exist or one given twice raises ConfigurationError naming the assignor.
    """
    out: dict[str, Assignment] = {m: Assignment() for m in members}
    seen: dict[TopicPartition, str] = {}
    for member_id, value in result.items():
        if member_id not in members:
            raise ConfigurationError(
                f"assignor {assignor!r} assigned partitions to unknown member {member_id!r}")
        if isinstance(value, Assignment):
            parts, user_data = value.partitions, value.user_data
        else:
            parts, user_data = tuple(value), None
        clean: list[TopicPartition] = []
        for item in parts:
            try:
                topic, partition = item
            except (TypeError, ValueError):
                raise ConfigurationError(
                    f"assignor {assignor!r} returned {item!r}, not a (topic, partition)") from None
            tp = TopicPartition(str(topic), int(partition))
            if not 0 <= tp.partition < partitions.get(tp.topic, 0):
                raise ConfigurationError(
                    f"assignor {assignor!r} assigned {tp.topic}[{tp.partition}], "
                    f"which is not in the metadata")
            if tp in seen:
                raise ConfigurationError(
                    f"assignor {assignor!r} assigned {tp.topic}[{tp.partition}] to both "
                    f"{seen[tp]!r} and {member_id!r}")
            seen[tp] = member_id
            clean.append(tp)
        out[member_id] = Assignment(tuple(clean), user_data)
    return out


def _subscribed_topics(partitions: Mapping[str, int],
                       members: Mapping[str, Subscription]) -> list[str]:
    topics = {t for s in members.values() for t in s.topics if t in partitions}
    return sorted(topics, key=_java_string_key)


# == range and roundrobin (Java-exact) ===================================================

class RangeAssignor(Assignor):
    """Per topic, consecutive ranges of partitions to the members subscribed to it, the
    first ``count % members`` members getting one extra (Java's RangeAssignor)."""

    name = "range"

    def assign(self, partitions: Mapping[str, int],
               members: Mapping[str, Subscription]) -> dict[str, Assignment]:
        order = java_member_order(members)
        result: dict[str, list[TopicPartition]] = {m: [] for m in members}
        for topic in _subscribed_topics(partitions, members):
            consumers = [m for m in order if topic in members[m].topics]
            count = partitions[topic]
            per, extra = divmod(count, len(consumers))
            for i, member_id in enumerate(consumers):
                start = per * i + min(i, extra)
                length = per + (1 if i < extra else 0)
                result[member_id].extend(
                    TopicPartition(topic, p) for p in range(start, start + length))
        return {m: Assignment(tuple(parts)) for m, parts in result.items()}


class RoundRobinAssignor(Assignor):
    """All partitions (topics in name order) dealt one at a time around the members, each
    partition going to the next member subscribed to its topic (Java's RoundRobinAssignor)."""

    name = "roundrobin"

    def assign(self, partitions: Mapping[str, int],
               members: Mapping[str, Subscription]) -> dict[str, Assignment]:
        order = java_member_order(members)
        result: dict[str, list[TopicPartition]] = {m: [] for m in members}
        if not order:
            return {}
        subscribed = {m: set(members[m].topics) for m in order}
        pos = 0
        for topic in _subscribed_topics(partitions, members):
            for p in range(partitions[topic]):
                while topic not in subscribed[order[pos]]:
                    pos = (pos + 1) % len(order)
                result[order[pos]].append(TopicPartition(topic, p))
                pos = (pos + 1) % len(order)
        return {m: Assignment(tuple(parts)) for m, parts in result.items()}


# == sticky ==============================================================================

Owned = tuple[Sequence[TopicPartition], int]
"""The partitions a member owned and the generation they belong to."""


def sticky_plan(partitions: Mapping[str, int], members: Mapping[str, Subscription],
                owned: Mapping[str, Owned]) -> dict[str, list[TopicPartition]]:
    """A balanced assignment that moves as few previously owned partitions as it can.

    ``owned`` maps a member id to (the partitions it owned, the generation of that claim).
    A partition claimed by several members stays with the newest generation's claim (with a
    tie, nobody's). The result is balanced: no partition could move to another member
    subscribed to its topic that has at least two fewer partitions.
    """
    order = java_member_order(members)
    rank = {m: i for i, m in enumerate(order)}
    wanted = {m: {t for t in members[m].topics if t in partitions} for m in order}
    all_parts = [TopicPartition(t, p) for t in _subscribed_topics(partitions, members)
                 for p in range(partitions[t])]
    eligible: dict[TopicPartition, list[str]] = {
        tp: [m for m in order if tp.topic in wanted[m]] for tp in all_parts}

    # Previous owners: valid claims only, newest generation wins, a tie leaves it free.
    claims: dict[TopicPartition, tuple[int, list[str]]] = {}
    for m in order:
        parts, generation = owned.get(m, ((), -1))
        for tp in set(parts):
            if tp not in eligible or tp.topic not in wanted[m]:
                continue
            best = claims.get(tp)
            if best is None or generation > best[0]:
                claims[tp] = (generation, [m])
            elif generation == best[0]:
                best[1].append(m)
    prev: dict[TopicPartition, str] = {tp: ms[0] for tp, (_g, ms) in claims.items()
                                       if len(ms) == 1}

    assigned: dict[str, set[TopicPartition]] = {m: set() for m in order}
    for tp, m in prev.items():
        assigned[m].add(tp)

    def load(m: str) -> tuple[int, int]:
        return (len(assigned[m]), rank[m])

    # Free partitions, the most constrained first, each to the least loaded eligible member.
    free = [tp for tp in all_parts if tp not in prev]
    free.sort(key=lambda tp: (len(eligible[tp]), _java_string_key(tp.topic), tp.partition))
    for tp in free:
        if eligible[tp]:
            assigned[min(eligible[tp], key=load)].add(tp)

    # Balance: move one partition at a time from a member to an eligible member with at
    # least two fewer, preferring partitions the giver did not own before. Every move
    # lowers the sum of squared loads, so this ends.
    while True:
        moved = False
        lightest = min((len(a) for a in assigned.values()), default=0)
        for giver in sorted(order, key=lambda m: (-len(assigned[m]), rank[m])):
            size = len(assigned[giver])
            if size <= lightest + 1:
                break
            candidates = sorted(assigned[giver], key=lambda tp: (
                prev.get(tp) == giver, _java_string_key(tp.topic), tp.partition))
            for tp in candidates:
                taker = min(eligible[tp], key=load)
                if len(assigned[taker]) < size - 1:
                    assigned[giver].discard(tp)
                    assigned[taker].add(tp)
                    moved = True
                    break
            if moved:
                break
        if not moved:
            break
    return {m: sorted(assigned[m], key=lambda tp: (_java_string_key(tp.topic), tp.partition))
            for m in order}


# Java's StickyAssignor user data (v1): [topic: string, partitions: [int32]], generation: int32.
_I16 = struct.Struct(">h")
_I32 = struct.Struct(">i")


def encode_sticky_user_data(parts: Iterable[TopicPartition], generation: int) -> bytes:
    by_topic: dict[str, list[int]] = {}
    for tp in parts:
        by_topic.setdefault(tp.topic, []).append(tp.partition)
    out = bytearray(_I32.pack(len(by_topic)))
    for topic in sorted(by_topic, key=_java_string_key):
        name = topic.encode()
        out += _I16.pack(len(name)) + name
        nums = sorted(by_topic[topic])
        out += _I32.pack(len(nums)) + struct.pack(f">{len(nums)}i", *nums)
    out += _I32.pack(generation)
    return bytes(out)


def decode_sticky_user_data(data: bytes) -> tuple[list[TopicPartition], int]:
    """Previous partitions and generation (-1 when absent, as in v0) from sticky user data."""
    parts: list[TopicPartition] = []
    pos = 0

    def take(n: int) -> bytes:
        nonlocal pos
        if n < 0 or pos + n > len(data):
            raise DecodeError("sticky assignor user data is truncated", offset=pos)
        chunk = data[pos:pos + n]
        pos += n
        return chunk

    (topics,) = _I32.unpack(take(4))
    if topics < 0 or topics > len(data):
        raise DecodeError(f"sticky assignor user data claims {topics} topics", offset=0)
    for _ in range(topics):
        (size,) = _I16.unpack(take(2))
        try:
            topic = take(size).decode()
        except UnicodeDecodeError:
            raise DecodeError("sticky assignor user data has a bad topic name") from None
        (count,) = _I32.unpack(take(4))
        if count < 0 or count * 4 > len(data) - pos:
            raise DecodeError(f"sticky assignor user data claims {count} partitions", offset=pos)
        nums = struct.unpack(f">{count}i", take(4 * count))
        parts.extend(TopicPartition(topic, p) for p in nums)
    generation = _I32.unpack(take(4))[0] if len(data) - pos >= 4 else -1
    return parts, generation


class StickyAssignor(Assignor):
    """Balanced, and keeps partitions with their previous owners (eager protocol: every
    member revokes everything when a rebalance starts, then usually gets it back)."""

    name = "sticky"

    def __init__(self) -> None:
        self._last: tuple[TopicPartition, ...] | None = None
        self._generation = -1

    def subscription_user_data(self, topics: Sequence[str]) -> bytes | None:
        if self._last is None:
            return None
        return encode_sticky_user_data(self._last, self._generation)

    def on_assignment(self, assignment: Assignment, generation: int) -> None:
        self._last = assignment.partitions
        self._generation = generation

    def _owned(self, members: Mapping[str, Subscription]) -> dict[str, Owned]:
        owned: dict[str, Owned] = {}
        for m, sub in members.items():
            if sub.user_data:
                try:
                    owned[m] = decode_sticky_user_data(sub.user_data)
                    continue
                except (DecodeError, struct.error):
                    pass  # unreadable history: treat the member as new
            owned[m] = (sub.owned_partitions, sub.generation)
        return owned

    def assign(self, partitions: Mapping[str, int],
               members: Mapping[str, Subscription]) -> dict[str, Assignment]:
        plan = sticky_plan(partitions, members, self._owned(members))
        return {m: Assignment(tuple(parts)) for m, parts in plan.items()}


class CooperativeStickyAssignor(Assignor):
    """Sticky and cooperative (KIP-429): a partition that must move is revoked from its owner
    in one rebalance and assigned to its new owner in the next, so every other partition
    keeps being consumed throughout."""

    name = "cooperative-sticky"
    cooperative = True

    def __init__(self) -> None:
        self._generation = -1

    def subscription_user_data(self, topics: Sequence[str]) -> bytes | None:
        # The Java assignor also puts the generation here, for readers of v0/v1 subscriptions.
        return _I32.pack(self._generation)

    def on_assignment(self, assignment: Assignment, generation: int) -> None:
        self._generation = generation

    def assign(self, partitions: Mapping[str, int],
               members: Mapping[str, Subscription]) -> dict[str, Assignment]:
        owned: dict[str, Owned] = {}
        for m, sub in members.items():
            generation = sub.generation
            if generation < 0 and sub.user_data and len(sub.user_data) >= 4:
                generation = _I32.unpack_from(sub.user_data)[0]
            owned[m] = (sub.owned_partitions, generation)
        plan = sticky_plan(partitions, members, owned)
        return cooperative_adjust(plan, members)


def cooperative_adjust(plan: Mapping[str, Sequence[TopicPartition]],
                       members: Mapping[str, Subscription]) -> dict[str, Assignment]:
    """Leave out of ``plan`` every partition that it takes from one member and gives to
    another: the owner revokes it this round and the follow-up rebalance assigns it."""
    added: set[TopicPartition] = set()
    revoked: set[TopicPartition] = set()
    for m, sub in members.items():
        mine = set(plan.get(m, ()))
        owned = set(sub.owned_partitions)
        added |= mine - owned
        revoked |= owned - mine
    moving = added & revoked
    return {m: Assignment(tuple(tp for tp in parts if tp not in moving))
            for m, parts in plan.items()}


ASSIGNORS: dict[str, type[Assignor]] = {
    cls.name: cls for cls in (RangeAssignor, RoundRobinAssignor, StickyAssignor,
                              CooperativeStickyAssignor)
}


def assignor_for(spec: Any) -> Assignor:
    """An assignor from a name (``range``, ``roundrobin``, ``sticky``,
    ``cooperative-sticky``), an Assignor subclass or an instance."""
    if isinstance(spec, Assignor):
        if not spec.name:
            raise ConfigurationError(f"assignor {spec!r} has no name")
        return spec
    if isinstance(spec, type) and issubclass(spec, Assignor):
        return assignor_for(spec())
    if isinstance(spec, str):
        cls = ASSIGNORS.get(spec)
        if cls is None:
            raise ConfigurationError(
                f"unknown assignor {spec!r}; known: {', '.join(ASSIGNORS)} "
                f"(or pass an Assignor instance)")
        return cls()
    raise ConfigurationError(f"an assignor must be a name or an Assignor, got {spec!r}")
