"""Errors only a producer raises.

A record that a broker rejects fails with the broker's :class:`kproto.errors.KafkaError`;
these classes (all importable from :mod:`kproto.errors` too) cover what the producer decides
itself: a full buffer, an operation that the transaction state does not allow, a record
dropped by an abort, and the per-message wrapper sarama users know (``ProducerError`` carrying
the message and its error).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kproto.errors import KprotoError, UsageError

__all__ = [
    "BufferFullError",
    "ProducerError",
    "ProducerErrors",
    "TransactionAbortedError",
    "TransactionStateError",
]


class BufferFullError(KprotoError):
    """The producer holds ``buffer_memory`` bytes of records; sending must wait or give up."""

    queued: int | None = None
    """From an AsyncProducer's ``send_batch``: how many of its messages (the first ones)
    were queued before it gave up."""


class TransactionStateError(UsageError):
    """An operation the transaction state does not allow (commit without begin, send
    outside a transaction, anything after a fatal error): a method called in the wrong
    state, so a :class:`kproto.errors.UsageError`; after an error, the cause is chained."""


class TransactionAbortedError(KprotoError):
    """The record was dropped before it was sent because its transaction was aborted."""


class ProducerError(KprotoError):
    """One message that could not be delivered, with the reason (sarama's ProducerError).

    It has the shape of every errors stream's values (``topic``, ``partition``, ``error``, as
    the consumer's ``ConsumerError`` and the group's ``GroupError``): ``topic`` and
    ``partition`` are the message's (``partition`` None when no partition was chosen). It
    stays an exception, unlike those two, because ``send_messages`` raises it inside
    ``ProducerErrors``.
    """

    def __init__(self, message: Any, error: BaseException) -> None:
        super().__init__(f"{message!r}: {error}")
        self.message = message
        self.error = error

    @property
    def topic(self) -> str | None:
        topic = getattr(self.message, "topic", None)
        return topic if isinstance(topic, str) else None

    @property
    def partition(self) -> int | None:
        partition = getattr(self.message, "partition", None)
        return partition if isinstance(partition, int) else None


class ProducerErrors(KprotoError):
    """Every message of a ``send_messages`` call that failed, each with its reason."""

    def __init__(self, errors: Sequence[ProducerError]) -> None:
        self.errors = list(errors)
        lines = [f"{len(self.errors)} message(s) failed:"]
        lines += [f"  {e}" for e in self.errors]
        super().__init__("\n".join(lines))
