"""Errors only the consumer raises (broker error codes are in :mod:`kproto.errors`, which
re-exports these too)."""

from __future__ import annotations

from kproto.errors import KprotoError

__all__ = ["LogTruncationError", "RecordBatchTooLargeError"]


class LogTruncationError(KprotoError):
    """The leader's log no longer holds records the consumer already read (KIP-320).

    ``offset`` is the first offset known to diverge: where consumption continues when an
    ``auto_offset_reset`` policy allows it.
    """

    def __init__(self, message: str, *, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


class RecordBatchTooLargeError(KprotoError):
    """A record batch larger than the biggest response frame the client accepts."""
