"""The records users send and receive.

A :class:`ProducerMessage` is what a producer is given; once delivered, its ``partition``,
``offset`` and ``timestamp`` are filled in and the same object comes back on a success
stream (as in sarama), carrying the caller's opaque ``metadata``. A :class:`ConsumerMessage`
is immutable: what the broker stored, where it was stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["OFFSET_NEWEST", "OFFSET_OLDEST", "ConsumerMessage", "Header", "ProducerMessage"]

OFFSET_NEWEST = -1
"""Start consuming after the last record currently in the partition."""
OFFSET_OLDEST = -2
"""Start consuming at the oldest record still in the partition."""

Header = tuple[str, "bytes | None"]


@dataclass(slots=True, eq=False)
class ProducerMessage:
    """A record to produce. ``partition=None`` lets the partitioner choose; ``timestamp``
    (milliseconds since the epoch) defaults to the time of sending."""

    topic: str
    value: bytes | None
    key: bytes | None = None
    headers: Sequence[Header] = ()
    partition: int | None = None
    timestamp: int | None = None
    metadata: Any = None
    offset: int = field(default=-1, kw_only=True)
    """Set on delivery: the offset the broker assigned (-1 with acks=0)."""

    def __repr__(self) -> str:
        where = f"{self.topic}[{self.partition}]" if self.partition is not None else self.topic
        at = f"@{self.offset}" if self.offset >= 0 else ""
        return f"ProducerMessage({where}{at} key={self.key!r} value={_short(self.value)})"


@dataclass(frozen=True, slots=True)
class ConsumerMessage:
    """A record as stored: topic, partition, offset, key, value, headers and timestamp."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[Header, ...]
    timestamp: int
    timestamp_type: int
    """0: the producer's create time; 1: the broker's log-append time."""

    def __repr__(self) -> str:
        return (f"ConsumerMessage({self.topic}[{self.partition}]@{self.offset} "
                f"key={self.key!r} value={_short(self.value)})")


def _short(value: bytes | None) -> str:
    if value is None or len(value) <= 32:
        return repr(value)
    return f"{value[:29]!r}... ({len(value)} bytes)"
