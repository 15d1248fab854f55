"""The transaction state machine of a transactional producer.

Theory of operation: a :class:`TransactionManager` owns the transaction status (sarama's
flags, :class:`TxnStatus`), the coordinator of the transactional id, the partitions added to
the current transaction and the user operations in progress. Inputs: the user operations
(``init``, ``begin``, ``commit``, ``abort``, ``add_offsets``), the sender asking whether a
partition may be written (``partition_ready``: the first batch of a partition triggers an
implicit AddPartitionsToTxn), record failures and the moment no record is unsettled
(``on_idle``). Outputs: requests to the coordinators through the client engine and the
completion of the operations' tokens.

Each user operation is an :class:`_Op` with tokens and a deadline (``max_block``); its steps
retry with backoff on CONCURRENT_TRANSACTIONS, COORDINATOR_LOAD_IN_PROGRESS, lost
connections and timeouts, and find the coordinator again on NOT_COORDINATOR or
COORDINATOR_NOT_AVAILABLE. At the deadline the operation's tokens fail with a timeout and
its steps stop; calling the operation again resumes it from its current state.

Consumer offsets join a transaction with AddOffsetsToTxn (to the transaction coordinator)
then TxnOffsetCommit (to the group coordinator). The offsets name the group by its id or by
the member's :class:`~kproto.group.metadata.ConsumerGroupMetadata` (KIP-447): from request
version 3 TxnOffsetCommit carries the generation, member id and group instance id, and the
group coordinator rejects the commit of a member a rebalance fenced (ILLEGAL_GENERATION,
UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID: abortable, the consumer must rejoin). A coordinator
older than version 3 cannot check the member, so metadata naming one is refused there
(UNSUPPORTED_VERSION, fatal as in the Java client) rather than sent without its fencing.

Errors come in two kinds. Abortable ones (a record that failed inside the transaction,
OUT_OF_ORDER_SEQUENCE, a topic the producer may not write, a fenced group member) leave the
transaction in
ABORTABLE_ERROR: only ``abort`` is accepted, and afterwards the producer continues (with an
epoch bump via InitProducerId when the sequences need a fresh start, KIP-360). Fatal ones
(PRODUCER_FENCED, INVALID_PRODUCER_EPOCH, TRANSACTIONAL_ID_AUTHORIZATION_FAILED, ...) end the
producer: every operation fails from then on.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from kproto import protocol
from kproto.config import Config
from kproto.engine.client import ClientCore
from kproto.engine.coordinators import GROUP_KEY, TXN_KEY, find_coordinator
from kproto.errors import (
    ClientTimeoutError,
    ClosedError,
    ClusterAuthorizationFailedError,
    ConcurrentTransactionsError,
    CoordinatorLoadInProgressError,
    CoordinatorNotAvailableError,
    FencedInstanceIdError,
    GroupAuthorizationFailedError,
    IllegalGenerationError,
    InvalidProducerEpochError,
    InvalidProducerIdMappingError,
    InvalidTransactionTimeoutError,
    InvalidTxnStateError,
    KprotoError,
    NotCoordinatorError,
    OperationNotAttemptedError,
    ProducerFencedError,
    RequestTimedOutError,
    TransactionalIdAuthorizationFailedError,
    TransactionCoordinatorFencedError,
    UnknownMemberIdError,
    UnknownTopicOrPartitionError,
    UnsupportedVersionError,
    error_for_code,
    is_retriable,
)
from kproto.group.metadata import ConsumerGroupMetadata
from kproto.protocol.apis import (
    ADD_OFFSETS_TO_TXN,
    ADD_PARTITIONS_TO_TXN,
    END_TXN,
    INIT_PRODUCER_ID,
    TXN_OFFSET_COMMIT,
)

from .errors import TransactionAbortedError, TransactionStateError
from .idempotence import ProducerIdentity, backoff

if TYPE_CHECKING:
    from kproto.protocol.messages.txn_offset_commit_request import (
        TxnOffsetCommitRequestPartition,
    )


__all__ = ["TransactionManager", "TxnStatus"]

log = logging.getLogger("kproto.producer.txn")


# error codes
UNKNOWN_TOPIC_OR_PARTITION = UnknownTopicOrPartitionError.code
REQUEST_TIMED_OUT = RequestTimedOutError.code
COORDINATOR_LOAD_IN_PROGRESS = CoordinatorLoadInProgressError.code
COORDINATOR_NOT_AVAILABLE = CoordinatorNotAvailableError.code
NOT_COORDINATOR = NotCoordinatorError.code
GROUP_AUTHORIZATION_FAILED = GroupAuthorizationFailedError.code
CONCURRENT_TRANSACTIONS = ConcurrentTransactionsError.code
OPERATION_NOT_ATTEMPTED = OperationNotAttemptedError.code
UNKNOWN_MEMBER_ID = UnknownMemberIdError.code
ILLEGAL_GENERATION = IllegalGenerationError.code
FENCED_INSTANCE_ID = FencedInstanceIdError.code
MEMBER_FENCED = frozenset({ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID})
TXN_OFFSET_COMMIT_MEMBER_VERSION = 3
"""The first TxnOffsetCommit version with the generation, member id and group instance id."""
REFIND = frozenset({COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR})
RETRY = frozenset({COORDINATOR_LOAD_IN_PROGRESS, CONCURRENT_TRANSACTIONS, REQUEST_TIMED_OUT,
                   UNKNOWN_TOPIC_OR_PARTITION})
FATAL = frozenset({
    ClusterAuthorizationFailedError.code,
    UnsupportedVersionError.code,
    InvalidProducerEpochError.code,
    InvalidTxnStateError.code,
    InvalidProducerIdMappingError.code,
    InvalidTransactionTimeoutError.code,
    TransactionCoordinatorFencedError.code,
    TransactionalIdAuthorizationFailedError.code,
    ProducerFencedError.code,
})


class TxnStatus(enum.IntFlag):
    """sarama's ProducerTxnStatusFlag: what a transactional producer is doing."""

    UNINITIALIZED = 1 << 0
    INITIALIZING = 1 << 1
    READY = 1 << 2
    IN_TRANSACTION = 1 << 3
    END_TRANSACTION = 1 << 4
    IN_ERROR = 1 << 5
    COMMITTING_TRANSACTION = 1 << 6
    ABORTING_TRANSACTION = 1 << 7
    ABORTABLE_ERROR = 1 << 8
    FATAL_ERROR = 1 << 9


COMMITTING = TxnStatus.END_TRANSACTION | TxnStatus.COMMITTING_TRANSACTION
ABORTING = TxnStatus.END_TRANSACTION | TxnStatus.ABORTING_TRANSACTION
ABORTABLE = TxnStatus.IN_ERROR | TxnStatus.ABORTABLE_ERROR
FATAL_STATE = TxnStatus.IN_ERROR | TxnStatus.FATAL_ERROR


class _Op:
    """One operation in progress: its tokens, deadline and retry count."""

    __slots__ = ("alive", "attempts", "begin_after", "kind", "timer", "tokens", "waiting")

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.tokens: list[int] = []
        self.timer: Any = None
        self.alive = True
        self.attempts = 0
        self.begin_after = False
        self.waiting = False
        """commit/abort: waiting for the records to settle before EndTxn."""


class _Pumps(Protocol):
    def pump(self, now: float) -> None: ...


class TxnOwner(Protocol):
    """What the transaction manager needs of the producer core that owns it (a protocol, so
    that it does not import its owner back)."""

    identity: ProducerIdentity | None
    activity: int

    @property
    def sender(self) -> _Pumps: ...
    @property
    def unsettled(self) -> int: ...
    def drop_unsent(self, error: BaseException, keep_sequenced: bool = False) -> None: ...
    def fail_everything(self, error: BaseException) -> None: ...
    def maybe_finish(self, now: float) -> None: ...


class TransactionManager:
    """Transactional id, coordinator, partitions in the transaction, and the status."""

    def __init__(self, owner: TxnOwner, client: ClientCore, config: Config) -> None:
        assert config.transactional_id is not None
        self.owner = owner
        self.client = client
        self.config = config
        self.txn_id: str = config.transactional_id
        self.status = TxnStatus.UNINITIALIZED
        self.error: BaseException | None = None
        self.coordinator: int | None = None
        self._group_coordinators: dict[str, int] = {}
        self._added: set[tuple[str, int]] = set()
        self._pending: set[tuple[str, int]] = set()
        self._new: set[tuple[str, int]] = set()
        self._adding: _Op | None = None
        self._offsets_added = False
        self._record_error: BaseException | None = None
        self._bump_required = False
        self._ops: dict[str, _Op] = {}
        self._closed = False

    # == state queries ===================================================================

    @property
    def ending(self) -> bool:
        return bool(self.status & TxnStatus.END_TRANSACTION)

    @property
    def in_error(self) -> bool:
        return bool(self.status & TxnStatus.IN_ERROR)

    @property
    def idle_for_close(self) -> bool:
        return not self._ops

    def _identity(self) -> Any:
        identity = self.owner.identity
        assert identity is not None
        return identity

    def check_send(self) -> None:
        """Raise unless a record may be sent now."""
        if self.status == TxnStatus.IN_TRANSACTION:
            return
        if self.in_error:
            raise TransactionStateError(
                f"transactional id {self.txn_id!r}: cannot send in status {self.status!r}; "
                f"{'abort the transaction' if self.status == ABORTABLE else 'the producer failed'}"
                f": {self.error}") from self.error
        raise TransactionStateError(
            f"transactional id {self.txn_id!r}: sending needs a transaction in progress "
            f"(begin one first); status {self.status!r}")

    def _fail_state(self, what: str) -> TransactionStateError:
        if self.status == FATAL_STATE:
            err = TransactionStateError(
                f"transactional id {self.txn_id!r}: cannot {what}: the producer failed "
                f"fatally: {self.error}")
        else:
            err = TransactionStateError(
                f"transactional id {self.txn_id!r}: cannot {what} in status {self.status!r}")
        err.__cause__ = self.error
        return err

    # == user operations =================================================================

    def init(self, now: float) -> int:
        token = self.client.new_token()
        if self.status == TxnStatus.UNINITIALIZED:
            self.status = TxnStatus.INITIALIZING
        if self.status == TxnStatus.INITIALIZING:
            running = "init" in self._ops
            op = self._op("init", token, now)
            if not running:
                self._init_pid(op, now, bump=False)
            return token
        if self.status & (TxnStatus.READY | TxnStatus.IN_TRANSACTION):
            self.client.complete(token, None)
            return token
        raise self._fail_state("initialize transactions")

    def begin(self, now: float) -> int:
        if self.status in (TxnStatus.UNINITIALIZED, TxnStatus.INITIALIZING):
            token = self.init(now)
            self._ops["init"].begin_after = True
            return token
        if self.status != TxnStatus.READY:
            raise self._fail_state("begin a transaction")
        self._start_transaction()
        token = self.client.new_token()
        self.client.complete(token, None)
        return token

    def commit(self, now: float) -> int:
        if self.status == COMMITTING:
            running = "commit" in self._ops
            token = self.client.new_token()
            op = self._op("commit", token, now)
            if not running:
                self._begin_end(op, now)
            return token
        if self.status != TxnStatus.IN_TRANSACTION:
            if self.status == ABORTABLE:
                raise TransactionStateError(
                    f"transactional id {self.txn_id!r}: cannot commit, the transaction must "
                    f"be aborted: {self.error}") from self.error
            raise self._fail_state("commit")
        self.status = COMMITTING
        token = self.client.new_token()
        op = self._op("commit", token, now)
        self._begin_end(op, now)
        return token

    def abort(self, now: float) -> int:
        if self.status == FATAL_STATE or not self.status & (
                TxnStatus.IN_TRANSACTION | TxnStatus.END_TRANSACTION | TxnStatus.ABORTABLE_ERROR):
            raise self._fail_state("abort")
        token = self.client.new_token()
        commit = self._ops.get("commit")
        if commit is not None:
            self._finish(commit, TransactionAbortedError("the transaction was aborted"))
        offsets = self._ops.get("offsets")
        if offsets is not None:
            self._finish(offsets, TransactionAbortedError("the transaction was aborted"))
        running = "abort" in self._ops
        self.status = ABORTING
        op = self._op("abort", token, now)
        if not running:
            self.owner.drop_unsent(TransactionAbortedError(
                f"the transaction of {self.txn_id!r} was aborted before the record was sent"),
                keep_sequenced=True)
            self._begin_end(op, now)
        return token

    def add_offsets(self, offsets: dict[tuple[str, int], tuple[int, str | None]],
                    group: ConsumerGroupMetadata, now: float) -> int:
        if self.status != TxnStatus.IN_TRANSACTION:
            raise self._fail_state("add offsets to the transaction")
        if "offsets" in self._ops:
            raise TransactionStateError("an add_offsets_to_txn is already in progress")
        token = self.client.new_token()
        op = self._op("offsets", token, now)
        self._add_offsets(op, offsets, group, now)
        return token

    def on_close(self, now: float) -> None:
        """The producer closes: an open transaction is aborted (sarama does the same)."""
        if self.status in (TxnStatus.IN_TRANSACTION, ABORTABLE):
            self.abort(now)

    def close(self) -> None:
        self._closed = True
        err = ClosedError("the producer was closed")
        for op in list(self._ops.values()):
            self._finish(op, err)
        if self._adding is not None:
            self._adding.alive = False

    # == inputs from the producer ========================================================

    def partition_ready(self, topic: str, partition: int, now: float) -> bool:
        """Whether batches for the partition may be sent: it must be in the transaction."""
        key = (topic, partition)
        if key in self._added:
            return True
        if self.status not in (TxnStatus.IN_TRANSACTION, COMMITTING):
            return False
        if key not in self._pending and key not in self._new:
            self._new.add(key)
            if self._adding is None:
                self._add_partitions(now)
        return False

    def record_failed(self, error: BaseException) -> None:
        if self.status & (TxnStatus.IN_TRANSACTION | TxnStatus.COMMITTING_TRANSACTION):
            if self._record_error is None:
                self._record_error = error
            self.abortable_error(error, bump=False)

    def on_idle(self, now: float) -> None:
        """No record is unsettled: a waiting commit or abort may end the transaction."""
        for kind in ("commit", "abort"):
            op = self._ops.get(kind)
            if op is not None and op.waiting:
                self._begin_end(op, now)

    def abortable_error(self, error: BaseException, bump: bool) -> None:
        if self.status == FATAL_STATE:
            return
        self._bump_required |= bump
        if self.status & TxnStatus.ABORTING_TRANSACTION:
            return
        log.warning("transactional id %r: abortable error: %s", self.txn_id, error)
        self.status = ABORTABLE
        self.error = error
        for kind in ("commit", "offsets"):
            op = self._ops.get(kind)
            if op is not None:
                self._finish(op, _wrap(error, "the transaction must be aborted"))

    def fatal_error(self, error: BaseException) -> None:
        if self.status == FATAL_STATE:
            return
        log.error("transactional id %r: fatal error: %s", self.txn_id, error)
        self.status = FATAL_STATE
        self.error = error
        for op in list(self._ops.values()):
            self._finish(op, error)
        if self._adding is not None:
            self._adding.alive = False
            self._adding = None
        self.owner.fail_everything(error)

    # == operation bookkeeping ===========================================================

    def _op(self, kind: str, token: int, now: float) -> _Op:
        op = self._ops.get(kind)
        if op is None:
            op = self._ops[kind] = _Op(kind)
        op.tokens.append(token)
        if op.timer is None:
            op.timer = self.client.timers.call_at(
                now + self.config.max_block, lambda t: self._timed_out(op))
        return op

    def _timed_out(self, op: _Op) -> None:
        op.timer = None
        if not op.alive:
            return
        what = (f"transactional id {self.txn_id!r}: {op.kind} did not complete within "
                f"max_block ({self.config.max_block:g}s)")
        self._finish(op, self.client.unreachable_error(what) or ClientTimeoutError(
            f"{what}; call it again to resume"))
        if op.kind == "init" and self.status == TxnStatus.INITIALIZING:
            self.status = TxnStatus.UNINITIALIZED
        elif op.kind == "offsets":
            self.abortable_error(ClientTimeoutError("add_offsets_to_txn timed out"), bump=False)

    def _finish(self, op: _Op, error: BaseException | None) -> None:
        op.alive = False
        if op.timer is not None:
            op.timer.cancel()
            op.timer = None
        if self._ops.get(op.kind) is op:
            del self._ops[op.kind]
        tokens, op.tokens = op.tokens, []
        for token in tokens:
            if error is None:
                self.client.complete(token, None)
            else:
                self.client.fail(token, error)
        if not self._ops:
            self.owner.maybe_finish(self.client.now)

    def _later(self, op: _Op, now: float, step: Callable[[float], None]) -> None:
        op.attempts += 1
        delay = backoff(self.client, self.config, op.attempts)
        if op.attempts == 1 and op.kind == "add":
            delay = min(delay, 0.02)  # CONCURRENT_TRANSACTIONS clears fast
        self.client.timers.call_at(now + delay, lambda t: step(t) if op.alive else None)

    def _start_transaction(self) -> None:
        self.status = TxnStatus.IN_TRANSACTION
        self._added.clear()
        self._pending.clear()
        self._new.clear()
        self._offsets_added = False
        self._record_error = None
        self.error = None

    def _completed(self) -> None:
        self.status = TxnStatus.READY
        self._added.clear()
        self._pending.clear()
        self._new.clear()
        self._offsets_added = False
        self._record_error = None
        self.error = None
        if self._adding is not None:
            self._adding.alive = False
            self._adding = None

    # == coordinators ====================================================================

    def _with_coordinator(self, op: _Op, key_type: int, key: str, now: float,
                          then: Callable[[int, float], None]) -> None:
        node = self.coordinator if key_type == TXN_KEY else self._group_coordinators.get(key)
        if node is not None:
            then(node, now)
            return

        def found(now: float, node_id: int | None, err: BaseException | None) -> None:
            if not op.alive:
                return
            again = lambda t: self._with_coordinator(op, key_type, key, t, then)  # noqa: E731
            if err is not None:
                code = getattr(err, "code", None)
                if code in REFIND or code in RETRY or is_retriable(err):
                    self._later(op, now, again)
                else:
                    self._failed(op, err, fatal=key_type == TXN_KEY)
                return
            assert node_id is not None
            if key_type == TXN_KEY:
                self.coordinator = node_id
            else:
                self._group_coordinators[key] = node_id
            if self.client.cluster.broker(node_id) is None:
                self.client.request_metadata_update(now)
            then(node_id, now)

        find_coordinator(self.client, key_type, key, now, found)

    def _forget(self, key_type: int, key: str) -> None:
        if key_type == TXN_KEY:
            self.coordinator = None
        else:
            self._group_coordinators.pop(key, None)

    def _request(self, op: _Op, key_type: int, key: str, api_key: int,
                 build: Callable[[int], Any], handle: Callable[[Any, float], None],
                 step: Callable[[float], None], now: float,
                 max_version: int | None = None) -> None:
        """Send to the coordinator of ``key``; ``handle(response, now)`` on an answer,
        ``step`` again after a backoff when the coordinator could not be reached."""

        def go(node: int, now: float) -> None:
            def done(resp: Any, err: BaseException | None) -> None:
                now = self.client.now
                if not op.alive:
                    return
                if err is not None:
                    if is_retriable(err):
                        self._forget(key_type, key)
                        self._later(op, now, step)
                    else:
                        self._failed(op, err, fatal=True)
                    return
                handle(resp, now)

            self.client.send(node, api_key, build, done, now, max_version=max_version)

        self._with_coordinator(op, key_type, key, now, go)

    def _code_error(self, op: _Op, code: int, message: str | None, key_type: int, key: str,
                    step: Callable[[float], None], now: float, what: str) -> None:
        """The common handling of a coordinator's error code."""
        error = error_for_code(code)(message or what)
        if code in REFIND:
            self._forget(key_type, key)
            self._later(op, now, step)
        elif code in RETRY:
            self._later(op, now, step)
        elif code in FATAL:
            self._failed(op, error, fatal=True)
        else:
            self._failed(op, error, fatal=False)

    def _failed(self, op: _Op, error: BaseException, fatal: bool) -> None:
        if op.kind == "init" or fatal:
            self._finish(op, error)
            self.fatal_error(error)
        else:
            self._finish(op, error)
            self.abortable_error(error, bump=False)

    # == InitProducerId ==================================================================

    def _init_pid(self, op: _Op, now: float, bump: bool) -> None:
        identity = self._identity()
        pid, epoch = (identity.producer_id, identity.epoch) if bump else (-1, -1)
        timeout_ms = int(self.config.transaction_timeout * 1000)

        def build(version: int) -> Any:
            return protocol.InitProducerIdRequest(
                transactional_id=self.txn_id, transaction_timeout_ms=timeout_ms,
                producer_id=pid, producer_epoch=epoch)

        def handle(resp: Any, now: float) -> None:
            if resp.error_code:
                self._code_error(op, resp.error_code, None, TXN_KEY, self.txn_id, step, now,
                                 "InitProducerId")
                return
            log.debug("transactional id %r: producer id %d epoch %d", self.txn_id,
                      resp.producer_id, resp.producer_epoch)
            identity.set(resp.producer_id, resp.producer_epoch, now)
            self._bump_required = False
            begin = op.begin_after
            self._completed()
            if begin:
                self._start_transaction()
            self._finish(op, None)

        step = lambda t: self._init_pid(op, t, bump)  # noqa: E731
        self._request(op, TXN_KEY, self.txn_id, INIT_PRODUCER_ID, build, handle, step, now)

    # == AddPartitionsToTxn ==============================================================

    def _add_partitions(self, now: float) -> None:
        if self._adding is not None or not self._new:
            return
        self.owner.activity += 1
        op = self._adding = _Op("add")
        self._send_add(op, now)

    def _send_add(self, op: _Op, now: float) -> None:
        from kproto.protocol.messages.add_partitions_to_txn_request import AddPartitionsToTxnTopic
        self._pending |= self._new
        self._new.clear()
        parts = sorted(self._pending)
        identity = self._identity()
        pid, epoch = identity.producer_id, identity.epoch
        topics: dict[str, list[int]] = {}
        for topic, partition in parts:
            topics.setdefault(topic, []).append(partition)

        def build(version: int) -> Any:
            return protocol.AddPartitionsToTxnRequest(
                v3_and_below_transactional_id=self.txn_id, v3_and_below_producer_id=pid,
                v3_and_below_producer_epoch=epoch,
                v3_and_below_topics=[AddPartitionsToTxnTopic(name=t, partitions=p)
                                     for t, p in topics.items()])

        def handle(resp: Any, now: float) -> None:
            retry: list[int] = []
            failure: tuple[int, str] | None = None
            for topic in resp.results_by_topic_v3_and_below:
                for part in topic.results_by_partition:
                    key = (topic.name, part.partition_index)
                    code = part.partition_error_code
                    if code == 0:
                        self._pending.discard(key)
                        self._added.add(key)
                    elif code == OPERATION_NOT_ATTEMPTED:
                        continue
                    elif code in REFIND or code in RETRY:
                        retry.append(code)
                    elif failure is None or failure[0] == OPERATION_NOT_ATTEMPTED:
                        failure = (code, f"{topic.name}[{part.partition_index}]")
            if resp.error_code and failure is None and not retry:
                failure = (resp.error_code, "AddPartitionsToTxn")
            if failure is not None:
                self._adding = None
                op.alive = False
                code, what = failure
                error = error_for_code(code)(f"AddPartitionsToTxn {what}")
                if code in FATAL:
                    self.fatal_error(error)
                else:
                    self.abortable_error(error, bump=False)
                return
            if retry:
                if any(c in REFIND for c in retry):
                    self._forget(TXN_KEY, self.txn_id)
                self._later(op, now, step)
                return
            self._adding = None
            op.alive = False
            if self._new:
                self._add_partitions(now)
            self.owner.sender.pump(now)
            self._progress(now)

        step = lambda t: self._send_add(op, t)  # noqa: E731
        self._request(op, TXN_KEY, self.txn_id, ADD_PARTITIONS_TO_TXN, build, handle, step,
                      now, max_version=3)

    # == EndTxn ==========================================================================

    def _begin_end(self, op: _Op, now: float) -> None:
        """Commit or abort once every record settled and no partition is being added."""
        if self.owner.unsettled or self._adding is not None or "offsets" in self._ops:
            op.waiting = True
            self.owner.sender.pump(now)
            return
        op.waiting = False
        commit = op.kind == "commit"
        if commit and self._record_error is not None:
            error = _wrap(self._record_error, "a record of the transaction failed")
            self._finish(op, error)
            self.abortable_error(error, bump=False)
            return
        if not self._added and not self._offsets_added:
            self._ended(op, now)  # nothing reached the coordinator: nothing to end
            return
        self._end_txn(op, now, commit)

    def _progress(self, now: float) -> None:
        for kind in ("commit", "abort"):
            op = self._ops.get(kind)
            if op is not None and op.waiting:
                self._begin_end(op, now)

    def _end_txn(self, op: _Op, now: float, commit: bool) -> None:
        identity = self._identity()
        pid, epoch = identity.producer_id, identity.epoch

        def build(version: int) -> Any:
            return protocol.EndTxnRequest(transactional_id=self.txn_id, producer_id=pid,
                                          producer_epoch=epoch, committed=commit)

        def handle(resp: Any, now: float) -> None:
            if resp.error_code:
                if not commit and resp.error_code not in FATAL | REFIND | RETRY:
                    # An abort the coordinator refuses still leaves nothing to commit.
                    self._failed(op, error_for_code(resp.error_code)("EndTxn"), fatal=True)
                    return
                self._code_error(op, resp.error_code, None, TXN_KEY, self.txn_id, step, now,
                                 "EndTxn")
                return
            self._ended(op, now)

        step = lambda t: self._end_txn(op, t, commit)  # noqa: E731
        self._request(op, TXN_KEY, self.txn_id, END_TXN, build, handle, step, now,
                      max_version=4)

    def _ended(self, op: _Op, now: float) -> None:
        if op.kind == "abort" and self._bump_required:
            self._bump_after_abort(op, now)
            return
        self._completed()
        self._finish(op, None)

    def _bump_after_abort(self, op: _Op, now: float) -> None:
        """KIP-360: a fresh epoch lets the sequences start again at 0."""
        self._init_pid(op, now, bump=True)

    # == AddOffsetsToTxn + TxnOffsetCommit ===============================================

    def _add_offsets(self, op: _Op, offsets: dict[tuple[str, int], tuple[int, str | None]],
                     group: ConsumerGroupMetadata, now: float) -> None:
        identity = self._identity()
        pid, epoch = identity.producer_id, identity.epoch
        group_id = group.group_id

        def build(version: int) -> Any:
            return protocol.AddOffsetsToTxnRequest(
                transactional_id=self.txn_id, producer_id=pid, producer_epoch=epoch,
                group_id=group_id)

        def handle(resp: Any, now: float) -> None:
            if resp.error_code:
                self._code_error(op, resp.error_code, None, TXN_KEY, self.txn_id, step, now,
                                 f"AddOffsetsToTxn for group {group_id!r}")
                return
            self._offsets_added = True
            op.attempts = 0
            self._commit_offsets(op, dict(offsets), group, now)

        step = lambda t: self._add_offsets(op, offsets, group, t)  # noqa: E731
        self._request(op, TXN_KEY, self.txn_id, ADD_OFFSETS_TO_TXN, build, handle, step, now)

    def _commit_offsets(self, op: _Op, offsets: dict[tuple[str, int], tuple[int, str | None]],
                        group: ConsumerGroupMetadata, now: float) -> None:
        from kproto.protocol.messages.txn_offset_commit_request import (
            TxnOffsetCommitRequestPartition,
            TxnOffsetCommitRequestTopic,
        )
        identity = self._identity()
        pid, epoch = identity.producer_id, identity.epoch
        group_id = group.group_id
        topics: dict[str, list[TxnOffsetCommitRequestPartition]] = {}
        for (topic, partition), (offset, metadata) in sorted(offsets.items()):
            topics.setdefault(topic, []).append(TxnOffsetCommitRequestPartition(
                partition_index=partition, committed_offset=offset,
                committed_leader_epoch=-1, committed_metadata=metadata))

        def build(version: int) -> Any:
            request = protocol.TxnOffsetCommitRequest(
                transactional_id=self.txn_id, group_id=group_id, producer_id=pid,
                producer_epoch=epoch,
                topics=[TxnOffsetCommitRequestTopic(name=t, partitions=p)
                        for t, p in topics.items()])
            if version >= TXN_OFFSET_COMMIT_MEMBER_VERSION:
                request.generation_id = group.generation_id
                request.member_id = group.member_id
                request.group_instance_id = group.group_instance_id
            elif group.identifies_member:
                raise UnsupportedVersionError(
                    f"TxnOffsetCommit for {group.describe()}: the group coordinator supports "
                    f"TxnOffsetCommit only up to version {version}, and the member fields need "
                    f"version {TXN_OFFSET_COMMIT_MEMBER_VERSION} (Kafka 2.5 or newer); pass the "
                    f"group id alone to commit without fencing")
            return request

        def handle(resp: Any, now: float) -> None:
            left: dict[tuple[str, int], tuple[int, str | None]] = {}
            refind = False
            for topic in resp.topics:
                for part in topic.partitions:
                    key = (topic.name, part.partition_index)
                    code = part.error_code
                    if code == 0:
                        continue
                    if code in REFIND or code in RETRY:
                        # Like the Java client: a timed-out commit looks for the coordinator
                        # again.
                        refind |= code in REFIND or code == REQUEST_TIMED_OUT
                        if key in offsets:
                            left[key] = offsets[key]
                        continue
                    if code in MEMBER_FENCED:
                        error = error_for_code(code)(
                            f"TxnOffsetCommit {key[0]}[{key[1]}] for {group.describe()}: the "
                            f"group coordinator fenced this member (a rebalance moved on "
                            f"without it); abort the transaction, and the consumer must rejoin "
                            f"the group")
                    else:
                        error = error_for_code(code)(
                            f"TxnOffsetCommit {key[0]}[{key[1]}] for {group.describe()}")
                    self._failed(op, error, fatal=code in FATAL)
                    return
            if left:
                if refind:
                    self._forget(GROUP_KEY, group_id)
                self._later(op, now, lambda t: self._commit_offsets(op, left, group, t))
                return
            self._finish(op, None)
            self._progress(now)

        step = lambda t: self._commit_offsets(op, offsets, group, t)  # noqa: E731
        self._request(op, GROUP_KEY, group_id, TXN_OFFSET_COMMIT, build, handle, step, now)


def _wrap(error: BaseException, what: str) -> KprotoError:
    if isinstance(error, KprotoError):
        return error
    err = KprotoError(f"{what}: {error}")
    err.__cause__ = error
    return err
