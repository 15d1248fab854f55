"""What a producer core tells its adapter.

One event settles a whole batch: every record of it, in order, with the tokens ``send``
returned and the messages themselves (already filled in with partition, offset and
timestamp on success). ``producer`` names the :class:`ProducerCore` the event comes from, so
several producers can share one client.
"""

from __future__ import annotations

from dataclasses import dataclass

from kproto.events import Event
from kproto.message_types import ProducerMessage

__all__ = ["BufferSpaceAvailable", "RecordsDelivered", "RecordsFailed"]


@dataclass(frozen=True, slots=True)
class RecordsDelivered(Event):
    """The broker stored these records at ``base_offset``, ``base_offset + 1``, ...
    (``base_offset`` is -1 with acks=0, where nothing comes back)."""

    producer: int
    topic: str
    partition: int
    base_offset: int
    log_append_time: int
    """The broker's timestamp when the topic uses LogAppendTime, else -1."""
    tokens: tuple[int, ...]
    messages: tuple[ProducerMessage, ...]


@dataclass(frozen=True, slots=True)
class RecordsFailed(Event):
    """These records were not delivered, for ``error``."""

    producer: int
    tokens: tuple[int, ...]
    messages: tuple[ProducerMessage, ...]
    error: BaseException


@dataclass(frozen=True, slots=True)
class BufferSpaceAvailable(Event):
    """Memory was freed after a send was refused with BufferFullError: try again."""

    producer: int
