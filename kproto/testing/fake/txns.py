"""The transaction coordinator: producer ids, epochs and the transaction state machine.

Theory of operation: one ``Txn`` per transactional id, moved through Kafka's states (Empty,
Ongoing, CompleteCommit, CompleteAbort) by the rules of Kafka's ``TransactionCoordinator``:

- InitProducerId without a transactional id hands out a new producer id at epoch 0. With one,
  the first call allocates an id at epoch 0; later calls bump the epoch (a new producer id
  once the epoch is exhausted), a producer naming its own id and epoch (KIP-360) must be
  the current one, and a call that finds a transaction open fences it (epoch + 1), aborts
  it and answers CONCURRENT_TRANSACTIONS so that the client retries. A timeout above
  ``transaction.max.timeout.ms`` is INVALID_TRANSACTION_TIMEOUT.
- AddPartitionsToTxn and AddOffsetsToTxn check the id (INVALID_PRODUCER_ID_MAPPING) and
  the epoch (PRODUCER_FENCED) and open the transaction; EndTxn writes a COMMIT or ABORT
  marker to every partition of the transaction and settles its group offsets; a retried
  EndTxn of the same kind succeeds, the other kind is INVALID_TXN_STATE.
- A transaction left open past its timeout is aborted with a bumped epoch, which fences the
  producer, as Kafka's timed-out transaction cleanup does.

Markers are written through the ``write_markers`` callback the cluster supplies (it owns
the partitions and groups); timers go through the cluster's ``Timers``. No clock, no IO.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from kproto.testing.fake import codes
from kproto.testing.fake.timers import Timers

__all__ = ["Txn", "TxnCoordinator"]

EMPTY = "Empty"
ONGOING = "Ongoing"
COMPLETE_COMMIT = "CompleteCommit"
COMPLETE_ABORT = "CompleteAbort"

MAX_EPOCH = 32767
MAX_TIMEOUT_MS = 900_000
"""transaction.max.timeout.ms."""

def exhausted(epoch: int) -> bool:
    """TransactionMetadata.isEpochExhausted."""
    return epoch >= MAX_EPOCH - 1


WriteMarkers = Callable[[int, int, set[tuple[str, int]], set[str], bool, float], None]


@dataclass(eq=False)
class Txn:
    transactional_id: str
    producer_id: int
    epoch: int
    timeout_ms: int
    state: str = EMPTY
    previous_producer_id: int = -1
    last_epoch: int = -1
    partitions: set[tuple[str, int]] = field(default_factory=set)
    groups: set[str] = field(default_factory=set)
    started: float | None = None
    """When the open (or last) transaction began, on the cluster's clock."""


class TxnCoordinator:
    def __init__(self, timers: Timers, write_markers: WriteMarkers) -> None:
        self.txns: dict[str, Txn] = {}
        self.timers = timers
        self._write = write_markers
        self.next_producer_id = 1000

    def _new_pid(self) -> int:
        pid = self.next_producer_id
        self.next_producer_id += 1
        return pid

    def init_producer_id(self, transactional_id: str | None, timeout_ms: int,
                         producer_id: int, producer_epoch: int,
                         now: float) -> tuple[int, int, int]:
        """(error, producer id, epoch): TransactionCoordinator.handleInitProducerId and
        prepareInitProducerIdTransit. ``producer_id`` >= 0 is the producer's own id and
        epoch (KIP-360, version 3+): the same id (or, after an exhausted epoch, the previous
        one) may bump its current epoch, or repeat a bump that succeeded (its last epoch);
        anything else is PRODUCER_FENCED."""
        if transactional_id is None:
            return codes.NONE, self._new_pid(), 0
        if transactional_id == "":
            return codes.INVALID_REQUEST, -1, -1
        if timeout_ms <= 0 or timeout_ms > MAX_TIMEOUT_MS:
            return codes.INVALID_TRANSACTION_TIMEOUT, -1, -1
        txn = self.txns.get(transactional_id)
        if txn is None:
            txn = Txn(transactional_id, self._new_pid(), -1, timeout_ms)
            self.txns[transactional_id] = txn
        expected = (producer_id, producer_epoch) if producer_id >= 0 else None
        if expected is not None and not (
                txn.epoch < 0 or expected[0] == txn.producer_id
                or (expected[0] == txn.previous_producer_id and exhausted(expected[1]))):
            return codes.PRODUCER_FENCED, -1, -1
        if txn.state == ONGOING:
            # Fence the current producer, abort its transaction, let the caller retry.
            txn.epoch += 1
            self._end(txn, commit=False, now=now)
            return codes.CONCURRENT_TRANSACTIONS, -1, -1
        if exhausted(txn.epoch) and (expected is None or expected[1] == txn.epoch):
            txn.last_epoch = txn.epoch if expected is not None else -1
            txn.previous_producer_id = txn.producer_id
            txn.producer_id = self._new_pid()
            txn.epoch = 0
        elif expected is None:
            txn.epoch, txn.last_epoch = txn.epoch + 1, -1
        elif txn.epoch < 0 or expected[1] == txn.epoch:
            txn.epoch, txn.last_epoch = txn.epoch + 1, txn.epoch
        elif expected[1] != txn.last_epoch:
            return codes.PRODUCER_FENCED, -1, -1
        txn.timeout_ms = timeout_ms
        txn.state = EMPTY
        return codes.NONE, txn.producer_id, txn.epoch

    def check(self, transactional_id: str, producer_id: int, epoch: int) -> int:
        if not transactional_id:
            return codes.INVALID_REQUEST
        txn = self.txns.get(transactional_id)
        if txn is None or txn.producer_id != producer_id:
            return codes.INVALID_PRODUCER_ID_MAPPING
        if txn.epoch != epoch:
            return codes.PRODUCER_FENCED
        return codes.NONE

    def add_partitions(self, transactional_id: str, producer_id: int, epoch: int,
                       partitions: set[tuple[str, int]], now: float) -> int:
        code = self.check(transactional_id, producer_id, epoch)
        if code:
            return code
        txn = self.txns[transactional_id]
        self._open(txn, now)
        txn.partitions |= partitions
        return codes.NONE

    def add_offsets(self, transactional_id: str, producer_id: int, epoch: int, group_id: str,
                    now: float) -> int:
        code = self.check(transactional_id, producer_id, epoch)
        if code:
            return code
        txn = self.txns[transactional_id]
        self._open(txn, now)
        txn.groups.add(group_id)
        return codes.NONE

    def _open(self, txn: Txn, now: float) -> None:
        if txn.state != ONGOING:
            txn.state = ONGOING
            txn.started = now
            txn.partitions = set()
            txn.groups = set()
            self.timers.schedule(("txn", txn.transactional_id), now + txn.timeout_ms / 1000,
                                 lambda t: self._time_out(txn, t))

    def _time_out(self, txn: Txn, now: float) -> None:
        if txn.state == ONGOING:
            txn.epoch += 1
            self._end(txn, commit=False, now=now)

    def end_txn(self, transactional_id: str, producer_id: int, epoch: int, commit: bool,
                now: float) -> int:
        code = self.check(transactional_id, producer_id, epoch)
        if code:
            return code
        txn = self.txns[transactional_id]
        if txn.state == ONGOING:
            self._end(txn, commit, now)
            return codes.NONE
        if txn.state == COMPLETE_COMMIT:
            return codes.NONE if commit else codes.INVALID_TXN_STATE
        if txn.state == COMPLETE_ABORT:
            return codes.INVALID_TXN_STATE if commit else codes.NONE
        return codes.INVALID_TXN_STATE

    def _end(self, txn: Txn, commit: bool, now: float) -> None:
        self.timers.cancel(("txn", txn.transactional_id))
        self._write(txn.producer_id, txn.epoch, txn.partitions, txn.groups, commit, now)
        txn.state = COMPLETE_COMMIT if commit else COMPLETE_ABORT
        txn.partitions = set()
        txn.groups = set()

    def in_transaction(self, producer_id: int, tp: tuple[str, int]) -> bool:
        return any(t.producer_id == producer_id and t.state == ONGOING and tp in t.partitions
                   for t in self.txns.values())
