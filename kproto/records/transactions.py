# Theory of operation: isolation-level filtering of decoded batches, as the Java consumer
# does it. Holds no state across calls: for one fetched partition it takes the batches in
# log order and the fetch response's aborted-transaction list, and produces the records a
# read_committed (or read_uncommitted) consumer should see. An aborted transaction becomes
# active for its producer once a batch reaches its first offset, and stays active until that
# producer's abort marker; transactional batches of an active producer are dropped. Control
# batches are never delivered.
"""read_committed / read_uncommitted filtering of decoded batches."""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from typing import Protocol

from .model import ControlType, Record, RecordBatch

__all__ = ["AbortedTransactionLike", "filter_committed", "flatten"]


class AbortedTransactionLike(Protocol):
    """What a Fetch response's AbortedTransaction entry offers."""

    @property
    def producer_id(self) -> int: ...

    @property
    def first_offset(self) -> int: ...


AbortedEntry = AbortedTransactionLike | tuple[int, int]


def _records_of(batch: RecordBatch, min_offset: int) -> list[Record]:
    if min_offset <= batch.base_offset:
        return batch.records
    return [r for r in batch.records if r.offset >= min_offset]


def flatten(batches: Iterable[RecordBatch], *, min_offset: int = 0) -> list[Record]:
    """Records of every data batch, for read_uncommitted; control batches are dropped.

    Records below `min_offset` (the fetch position: a compressed batch may start before
    it) are dropped too.
    """
    out: list[Record] = []
    for batch in batches:
        if not batch.is_control:
            out.extend(_records_of(batch, min_offset))
    return out


def filter_committed(
    batches: Iterable[RecordBatch],
    aborted_transactions: Iterable[AbortedEntry] | None,
    *,
    min_offset: int = 0,
) -> list[Record]:
    """Records a read_committed consumer sees, given a fetch's aborted transactions.

    Entries of `aborted_transactions` are (producer_id, first_offset) tuples or objects with
    those attributes. Batches must be in log order, as decoded from one partition's data.
    """
    pending: list[tuple[int, int]] = []
    for entry in aborted_transactions or ():
        if isinstance(entry, tuple):
            producer_id, first_offset = entry
        else:
            producer_id, first_offset = entry.producer_id, entry.first_offset
        pending.append((first_offset, producer_id))
    heapq.heapify(pending)
    aborted: set[int] = set()
    out: list[Record] = []
    for batch in batches:
        if batch.has_producer_id:
            last = batch.last_offset
            while pending and pending[0][0] <= last:
                aborted.add(heapq.heappop(pending)[1])
            if batch.is_control:
                if batch.control and batch.control[0].type == ControlType.ABORT:
                    aborted.discard(batch.producer_id)
                continue
            if batch.is_transactional and batch.producer_id in aborted:
                continue
        if batch.is_control:
            continue
        out.extend(_records_of(batch, min_offset))
    return out
