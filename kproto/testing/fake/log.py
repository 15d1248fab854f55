"""One partition's log: stored batches, offsets, producer state and transactions.

Theory of operation: a ``PartitionLog`` holds the record batches of one partition exactly as
a client will read them back (the bytes the producer sent, with the base offset and partition
leader epoch filled in; both lie outside the CRC) next to their decoded form. It owns:

- ``log_start_offset`` (moved by DeleteRecords), ``log_end_offset`` (the next offset) and the
  ``high_watermark`` (the end of the replicated prefix; it follows the end offset unless a
  test holds replication back to build an unflushed tail);
- the producer state of every idempotent or transactional producer, checked as Kafka's
  ``UnifiedLog.analyzeAndValidateProducerState`` and ``ProducerAppendInfo`` do (Kafka 3.9 and
  4.x): a batch whose epoch equals the producer's and whose first and last sequence equal
  one of its last five batches is a duplicate, answered with that batch's offset and no
  error; an older epoch is INVALID_PRODUCER_EPOCH; a newer epoch must start at sequence 0;
  the same epoch must continue at last sequence + 1 (0 after 2**31-1); a producer the
  partition holds no state for may start at any sequence; any other sequence is
  OUT_OF_ORDER_SEQUENCE_NUMBER. With ``first_sequence_zero`` (Kafka 4.5, KAFKA-15591) a
  partition that never held a record takes only sequence 0 from a producer it does not know;
  this is the one copy of these rules (the pure producer tests' brokers use it too);
- open transactions (producer id to first offset), which bound the ``last_stable_offset``,
  and the aborted transactions index that a read_committed Fetch returns.

Inputs: ``append`` (a validated client batch), ``write_marker`` (a transaction marker from
the coordinator), ``truncate`` (an unclean leader change), ``delete_records``. Outputs: the
results of those calls and ``read`` (the bytes a Fetch returns). Pure: no clock, no IO.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import deque
from dataclasses import dataclass, field
from typing import ClassVar

from kproto.records import Record, RecordBatch, build_control_batch, decode_batches
from kproto.testing.fake import codes

__all__ = ["AppendResult", "Entry", "PartitionLog", "ProducerState"]

BATCHES_TO_RETAIN = 5
"""Kafka's ProducerStateEntry.NUM_BATCHES_TO_RETAIN."""

_MAX_SEQ = 0x7FFFFFFF


def _patch(data: bytes, base_offset: int, leader_epoch: int) -> bytes:
    out = bytearray(data)
    out[0:8] = base_offset.to_bytes(8, "big", signed=True)
    out[12:16] = leader_epoch.to_bytes(4, "big", signed=True)
    return bytes(out)


@dataclass(slots=True)
class Entry:
    """One stored batch."""

    base_offset: int
    last_offset: int
    data: bytes
    batch: RecordBatch
    """The batch as decoded on arrival: its header fields hold, its offsets may not."""
    leader_epoch: int

    def records(self) -> list[Record]:
        shift = self.base_offset - self.batch.base_offset
        return [r._replace(offset=r.offset + shift) for r in self.batch.records]


@dataclass(slots=True)
class ProducerState:
    """What the partition knows of one producer id (Kafka's ProducerStateEntry)."""

    epoch: int
    last_seq: int = -1
    last_offset: int = -1
    batches: deque[tuple[int, int, int]] = field(
        default_factory=lambda: deque(maxlen=BATCHES_TO_RETAIN))
    """(first sequence, last sequence, base offset) of the last five batches."""
    txn_first_offset: int | None = None


@dataclass(frozen=True, slots=True)
class AppendResult:
    error: int
    base_offset: int = -1
    duplicate: bool = False
    message: str | None = None


class PartitionLog:
    """The log of one partition; see the module docstring."""

    def __init__(self, *, first_sequence_zero: bool = False) -> None:
        self.first_sequence_zero = first_sequence_zero
        """Kafka 4.5's rule (KAFKA-15591): on a partition that never held a record, a producer
        the partition does not know must start at sequence 0."""
        self.entries: list[Entry] = []
        self._bases: list[int] = []
        self.log_start_offset = 0
        self.log_end_offset = 0
        self.high_watermark = 0
        self.hold_replication = False
        self.producers: dict[int, ProducerState] = {}
        self.aborted: list[tuple[int, int, int]] = []
        """(producer id, first offset, marker offset) of every aborted transaction."""
        self.epochs: list[tuple[int, int]] = []
        """The leader epoch cache: (epoch, start offset), ascending."""
        self.writes = 0
        """Counts the changes a reader of the log could see (a batch or marker stored, the
        high watermark or log start moved, a truncation, a new epoch): a waiting Fetch
        re-reads its partitions only when their counts (or ``FakeCluster.changes``) moved."""

    all_writes: ClassVar[int] = 0
    """``writes`` summed over every log in the process: when it has not moved, no log did."""

    def _wrote(self) -> None:
        self.writes += 1
        PartitionLog.all_writes += 1

    # -- views -------------------------------------------------------------------------------

    @property
    def last_stable_offset(self) -> int:
        firsts = [p.txn_first_offset for p in self.producers.values()
                  if p.txn_first_offset is not None]
        return min([self.high_watermark, *firsts])

    @property
    def size_in_bytes(self) -> int:
        return sum(len(e.data) for e in self.entries)

    def open_transaction(self, producer_id: int) -> bool:
        state = self.producers.get(producer_id)
        return state is not None and state.txn_first_offset is not None

    # -- writes ------------------------------------------------------------------------------

    def append(self, batch: RecordBatch, data: bytes, leader_epoch: int) -> AppendResult:
        """Append one client batch after the producer-state checks (see module docstring)."""
        pid = batch.producer_id
        first = batch.base_sequence
        count = batch.last_offset_delta + 1
        last = (first + count - 1) & _MAX_SEQ if first >= 0 else -1
        state = self.producers.get(pid) if pid >= 0 else None
        if pid >= 0 and state is not None:
            if batch.producer_epoch == state.epoch:
                for b_first, b_last, b_offset in state.batches:
                    if (b_first, b_last) == (first, last):
                        return AppendResult(codes.NONE, b_offset, duplicate=True)
            if batch.producer_epoch < state.epoch:
                return AppendResult(
                    codes.INVALID_PRODUCER_EPOCH, message=(
                        f"Epoch of producer {pid} at offset {self.log_end_offset} is "
                        f"{batch.producer_epoch}, which is smaller than the last seen epoch "
                        f"{state.epoch}"))
            if batch.producer_epoch != state.epoch:
                if first != 0 and state.epoch >= 0:
                    return AppendResult(
                        codes.OUT_OF_ORDER_SEQUENCE_NUMBER, message=(
                            f"Invalid sequence number for new epoch of producer {pid} at "
                            f"offset {self.log_end_offset}: {batch.producer_epoch} "
                            f"(request epoch), {first} (seq. number), {state.epoch} "
                            "(current producer epoch)"))
            else:
                last_seq = state.batches[-1][1] if state.batches else -1
                in_sequence = first == last_seq + 1 or (first == 0 and last_seq == _MAX_SEQ)
                if not (state.epoch < 0 or in_sequence):
                    return AppendResult(
                        codes.OUT_OF_ORDER_SEQUENCE_NUMBER, message=(
                            f"Out of order sequence number for producer {pid} at offset "
                            f"{self.log_end_offset}: {first} (incoming seq. number), "
                            f"{last_seq} (current end sequence number)"))
        elif (pid >= 0 and self.first_sequence_zero and first != 0 and not self.entries
              and self.log_end_offset == 0):
            return AppendResult(
                codes.OUT_OF_ORDER_SEQUENCE_NUMBER, message=(
                    f"Invalid sequence number for new producer {pid} on an empty partition: "
                    f"{first} (incoming seq. number), expected 0"))
        base = self.log_end_offset
        self._store(_patch(data, base, leader_epoch), batch, base, leader_epoch)
        if pid >= 0:
            self._track(pid, batch.producer_epoch, first, last, base, base + count - 1,
                        batch.is_transactional)
        return AppendResult(codes.NONE, base)

    def write_marker(self, producer_id: int, producer_epoch: int, commit: bool,
                     timestamp: int, leader_epoch: int, coordinator_epoch: int = 0) -> int:
        """Write a COMMIT or ABORT marker for the producer's open transaction; its offset."""
        base = self.log_end_offset
        data = build_control_batch(commit=commit, producer_id=producer_id,
                                   producer_epoch=producer_epoch, timestamp=timestamp,
                                   coordinator_epoch=coordinator_epoch, base_offset=base,
                                   partition_leader_epoch=leader_epoch)
        [batch] = decode_batches(data).batches
        self._store(data, batch, base, leader_epoch)
        state = self.producers.setdefault(producer_id, ProducerState(producer_epoch))
        if producer_epoch != state.epoch:
            state.epoch = producer_epoch
            state.batches.clear()
        if state.txn_first_offset is not None and not commit:
            self.aborted.append((producer_id, state.txn_first_offset, base))
        state.txn_first_offset = None
        return base

    def _store(self, data: bytes, batch: RecordBatch, base: int, leader_epoch: int) -> None:
        self.entries.append(Entry(base, base + batch.last_offset_delta, data, batch,
                                  leader_epoch))
        self._bases.append(base)
        self.log_end_offset = base + batch.last_offset_delta + 1
        self._wrote()
        if not self.hold_replication:
            self.high_watermark = self.log_end_offset

    def _track(self, pid: int, epoch: int, first: int, last: int, base: int, last_offset: int,
               transactional: bool) -> None:
        state = self.producers.get(pid)
        if state is None or state.epoch != epoch:
            txn = state.txn_first_offset if state is not None else None
            state = ProducerState(epoch, txn_first_offset=txn)
            self.producers[pid] = state
        state.batches.append((first, last, base))
        state.last_seq = last
        state.last_offset = last_offset
        if transactional and state.txn_first_offset is None:
            state.txn_first_offset = base

    def replicate(self) -> None:
        """Followers caught up: the high watermark reaches the end of the log."""
        self.hold_replication = False
        self.high_watermark = self.log_end_offset
        self._wrote()

    def truncate(self, offset: int) -> None:
        """Drop every batch at or after ``offset`` (rounded down to a batch boundary) and
        rebuild the producer state from what is left, as a follower does after an unclean
        leader election."""
        keep = [e for e in self.entries if e.last_offset < offset]
        self._wrote()
        self.entries = []
        self._bases = []
        self.producers = {}
        self.aborted = []
        end = self.log_start_offset
        for e in keep:
            self.entries.append(e)
            self._bases.append(e.base_offset)
            end = e.last_offset + 1
            b = e.batch
            if b.is_control:
                commit = bool(b.control) and b.control[0].is_commit
                state = self.producers.setdefault(b.producer_id, ProducerState(b.producer_epoch))
                if state.txn_first_offset is not None and not commit:
                    self.aborted.append((b.producer_id, state.txn_first_offset, e.base_offset))
                state.txn_first_offset = None
            elif b.producer_id >= 0:
                first = b.base_sequence
                last = (first + b.last_offset_delta) & _MAX_SEQ
                self._track(b.producer_id, b.producer_epoch, first, last, e.base_offset,
                            e.last_offset, b.is_transactional)
        self.log_end_offset = max(end, self.log_start_offset)
        self.high_watermark = min(self.high_watermark, self.log_end_offset)
        self.epochs = [(e, s) for e, s in self.epochs if s <= self.log_end_offset]

    def delete_records(self, offset: int) -> int:
        """Move the log start offset (DeleteRecords); returns an error code."""
        if offset > self.high_watermark or offset < 0:
            return codes.OFFSET_OUT_OF_RANGE
        if offset > self.log_start_offset:
            self._wrote()
            self.log_start_offset = offset
            drop = 0
            while drop < len(self.entries) and self.entries[drop].last_offset < offset:
                drop += 1
            del self.entries[:drop]
            del self._bases[:drop]
            # Kafka forgets producers whose last data now lies before the log start.
            self.producers = {pid: s for pid, s in self.producers.items()
                              if s.last_offset >= offset or s.txn_first_offset is not None}
        return codes.NONE

    # -- reads -------------------------------------------------------------------------------

    def read(self, offset: int, upper: int, max_bytes: int, min_one: bool) -> list[bytes]:
        """Whole batches from the one holding ``offset``, below ``upper``, within
        ``max_bytes`` (the first batch goes even when larger if ``min_one``: KIP-74)."""
        i = max(bisect_right(self._bases, offset) - 1, 0)
        out: list[bytes] = []
        size = 0
        entries = self.entries
        while i < len(entries):
            e = entries[i]
            i += 1
            if e.last_offset < offset:
                continue
            if e.base_offset >= upper:
                break
            if size + len(e.data) > max_bytes and (out or not min_one):
                break
            out.append(e.data)
            size += len(e.data)
        return out

    def aborted_between(self, start: int, end: int) -> list[tuple[int, int]]:
        """(producer id, first offset) of aborted transactions overlapping [start, end)."""
        return [(pid, first) for pid, first, last in self.aborted
                if last >= start and first < end]

    def offset_for_timestamp(self, timestamp: int) -> tuple[int, int]:
        """(offset, timestamp) of the first record at or after ``timestamp``, or (-1, -1)."""
        for e in self.entries:
            b = e.batch
            if b.is_control or b.max_timestamp < timestamp:
                continue
            for r in e.records():
                if r.timestamp >= timestamp and r.offset >= self.log_start_offset:
                    return r.offset, r.timestamp
        return -1, -1

    def max_timestamp(self) -> tuple[int, int]:
        """(offset, timestamp) of the record with the largest timestamp, or (-1, -1)."""
        best = (-1, -1)
        for e in self.entries:
            if e.batch.is_control:
                continue
            for r in e.records():
                if r.timestamp > best[1]:
                    best = (r.offset, r.timestamp)
        return best

    def assign_epoch(self, epoch: int) -> None:
        """A leader of ``epoch`` starts at the current end (Partition.makeLeader)."""
        if not self.epochs or self.epochs[-1][0] < epoch:
            self._wrote()
            self.epochs.append((epoch, self.log_end_offset))

    def epoch_end_offset(self, requested: int) -> tuple[int, int]:
        """OffsetForLeaderEpoch as Kafka's LeaderEpochFileCache.endOffsetFor answers it:
        (the largest epoch <= ``requested``, the start offset of the next epoch), the log end
        for the latest epoch, (-1, -1) for an epoch above the latest."""
        if self.epochs and requested == self.epochs[-1][0]:
            return requested, self.log_end_offset
        higher = next(((e, s) for e, s in self.epochs if e > requested), None)
        if higher is None:
            return -1, -1
        floor = [e for e, _ in self.epochs if e <= requested]
        return (floor[-1] if floor else requested), higher[1]
