"""Taking due batches off the queues and sending them, one Produce request per leader.

Theory of operation: the :class:`Sender` owns nothing but request bookkeeping (produce
requests in flight per broker) and one timer. ``pump(now)`` runs after every input that can
make a batch sendable (a batch filled up, a response, new metadata, a timer, a flush): it
expires queued batches past their delivery deadline, finds the partitions whose first batch
is due (full, lingered long enough, flushing, or a retry whose backoff ended), whose leader
is known and reachable, and that have room in flight (up to ``max_in_flight_per_partition``
batches per partition; with idempotence only once the partition's first batch under the
current producer id and epoch was acknowledged, one before that, and to one broker at a time:
after a leader change, once those on the wire to the old leader settled; a retry only travels
alone).
With idempotence a partition's batches reach the log in order whatever fails; without it
they do too unless a batch is answered with an error while a later one of its partition,
already on the wire, is stored (then the retry lands after it, as in the Java client with
``max.in.flight.requests.per.connection`` above 1): ``max_in_flight_per_partition=1`` keeps
the order always, at one round trip per batch. It groups them by leader,
assigns sequence numbers to batches sent for the first time, and sends one ProduceRequest
per leader and round (at most ``max_request_size`` bytes, at most
``max_in_flight_per_connection`` requests out per broker). Then it arms its timer for the
next linger, backoff or expiry deadline. A batch still on the wire at its delivery deadline
fails then too (as KIP-91 has it, delivery_timeout bounds the wait for a response as well);
its outcome is unknown, so an idempotent producer moves to a new epoch, and the late
response is ignored. The bump waits until nothing is in flight and no queued retry sent
under the current id is left unresolved: such a batch may have been written (only its
answer was lost), so it goes again as it was sent and settles first -- re-sent under a new
id, which has no history at the broker, it would be written twice.

Responses settle batches (success, DUPLICATE_SEQUENCE_NUMBER included), put them back for a
retry with exponential backoff (retriable errors, lost connections, timeouts; leader errors
also refresh metadata), or fail them. OUT_OF_ORDER_SEQUENCE_NUMBER with no lower-sequence
batch of the partition queued or in flight (a gap nothing can fill), UNKNOWN_PRODUCER_ID and
INVALID_PRODUCER_EPOCH ask for an epoch bump (KIP-360) at once for an idempotent producer, and
are abortable errors in a transaction; an out-of-order batch behind an earlier unsettled one
is simply retried. A batch of several records refused with MESSAGE_TOO_LARGE is split in two
(keeping its sequences) and goes again; a single record fails with the topic's limit, read
with DescribeConfigs.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

from kproto import protocol
from kproto.config import Config
from kproto.engine.client import ClientCore
from kproto.errors import (
    ClientTimeoutError,
    ClosedError,
    DuplicateSequenceNumberError,
    FencedLeaderEpochError,
    InconsistentTopicIdError,
    InvalidProducerEpochError,
    KafkaStorageError,
    KprotoError,
    LeaderNotAvailableError,
    MessageTooLargeError,
    NetworkError,
    NotLeaderOrFollowerError,
    OutOfOrderSequenceNumberError,
    ProducerFencedError,
    UnknownLeaderEpochError,
    UnknownProducerIdError,
    UnknownTopicOrPartitionError,
    error_for_code,
    is_retriable,
)
from kproto.protocol.apis import DESCRIBE_CONFIGS, PRODUCE
from kproto.records import set_producer_state

from .accumulator import SEQ_MASK, Accumulator, PartitionState, ProducerBatch
from .idempotence import ProducerIdentity, backoff
from .transactions import TransactionManager

if TYPE_CHECKING:
    from kproto.protocol.messages.produce_request import PartitionProduceData


__all__ = ["Sender"]

log = logging.getLogger("kproto.producer")

TOPIC_RESOURCE = 2
MESSAGE_TOO_LARGE = MessageTooLargeError.code
OUT_OF_ORDER_SEQUENCE_NUMBER = OutOfOrderSequenceNumberError.code
DUPLICATE_SEQUENCE_NUMBER = DuplicateSequenceNumberError.code
INVALID_PRODUCER_EPOCH = InvalidProducerEpochError.code
UNKNOWN_PRODUCER_ID = UnknownProducerIdError.code
PRODUCER_FENCED = ProducerFencedError.code
SEQUENCE_ERRORS = frozenset({
    OUT_OF_ORDER_SEQUENCE_NUMBER, UNKNOWN_PRODUCER_ID, INVALID_PRODUCER_EPOCH})
METADATA_ERRORS = frozenset({
    UnknownTopicOrPartitionError.code,
    LeaderNotAvailableError.code,
    NotLeaderOrFollowerError.code,
    KafkaStorageError.code,
    FencedLeaderEpochError.code,
    UnknownLeaderEpochError.code,
    InconsistentTopicIdError.code,
})
INF = float("inf")


class SenderOwner(Protocol):
    """What the sender needs of the producer core that owns it (a protocol, so that the
    sender does not import its owner back)."""

    client: ClientCore
    config: Config
    acc: Accumulator
    identity: ProducerIdentity | None
    txn: TransactionManager | None
    stopped: bool
    activity: int

    @property
    def force_send(self) -> bool: ...
    def is_settled(self, batch: ProducerBatch) -> bool: ...
    def deliver(self, batch: ProducerBatch, base_offset: int, log_append_time: int) -> None: ...
    def fail(self, batch: ProducerBatch, error: BaseException) -> None: ...
    def expire(self, st: PartitionState, batch: ProducerBatch, now: float) -> None: ...
    def sequence_gap(self, batch: ProducerBatch) -> None: ...
    def fail_everything(self, error: BaseException) -> None: ...
    def report_queue_sizes(self) -> None: ...


class Sender:
    """Drains the accumulator into Produce requests and settles their responses."""

    def __init__(self, owner: SenderOwner) -> None:
        self.owner = owner
        self.client = owner.client
        self.config = owner.config
        self.inflight_requests = 0
        self.retries = 0
        """Batches put back for another attempt, over the producer's life."""
        self.in_flight_batches: set[ProducerBatch] = set()
        self._node_inflight: dict[int, int] = {}
        self._timer: Any = None
        self._timer_when = INF
        self._pumping = False
        self._again = False
        self._rotation = 0
        self._metadata_asked = -INF
        self._in_flight_deadline = INF
        """No batch on the wire has a delivery deadline before this (it may be earlier
        than the true minimum, never later)."""
        self._sent_to: dict[tuple[str, int], int] = {}
        """The broker each partition's latest batch went to."""
        cfg = self.config
        # Several batches per partition on the wire without idempotence too. With one, a
        # partition moved one 16 KiB batch per round trip: in the benchmark's produce 100 B
        # row (one partition, acks=1) 407 requests for 60,000 records went strictly one
        # after another, and the wait after the last send was half the run (0.28 of
        # 0.55 s, asyncio). With 5, in one run alternating the two: asyncio 168k -> 178k
        # records/s, trio 147k -> 174k, threads 160k -> 192k, asyncio send_many 177k ->
        # 214k (aiokafka 147k; best of 5, 50,000 records, a busy 2-core machine).
        self._partition_cap = cfg.max_in_flight_per_partition
        self._request_timeout = max(cfg.request_timeout, cfg.produce_timeout + 5.0)
        self._timeout_ms = int(cfg.produce_timeout * 1000)

    # -- scheduling ----------------------------------------------------------------------

    def wake_at(self, when: float) -> None:
        """Make sure a pump runs no later than ``when`` (a new batch's linger deadline)."""
        if when < self._timer_when:
            self._arm(when)

    def _arm(self, when: float) -> None:
        self.owner.activity += 1
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_when = when
        if when < INF:
            self._timer = self.client.timers.call_at(when, self._fired)

    def _fired(self, now: float) -> None:
        self._timer = None
        self._timer_when = INF
        self.pump(now)

    def close(self) -> None:
        self._arm(INF)

    def pump(self, now: float) -> None:
        """Send whatever is due; safe to call re-entrantly (it then runs once more)."""
        self.owner.activity += 1
        if self._pumping:
            self._again = True
            return
        self._pumping = True
        try:
            while True:
                self._again = False
                self._pump_once(now)
                if not self._again:
                    break
        finally:
            self._pumping = False

    # -- draining ------------------------------------------------------------------------

    def _due(self, st: PartitionState, now: float, force: bool) -> float:
        """0.0 when the partition's first batch may go now, else when to look again."""
        head = st.queue[0]
        if head.attempts:
            if head.retry_at > now:
                return head.retry_at
        elif not (force or head.closed or len(st.queue) > 1):
            when = head.created + self.config.linger
            if when > now:
                return when
        if st.in_flight >= self._partition_cap:
            return INF  # a response will pump
        if st.in_flight and st.last_acked < 0 and self.owner.identity is not None:
            # Until the broker acknowledged a batch of this producer id and epoch, it may
            # take any first sequence (Kafka before 4.5): a later batch overtaking a failed
            # first one would be written, and the first one could never follow.
            return INF
        if head.attempts and st.in_flight:
            return INF  # a retry travels alone, after everything before it settled
        return 0.0

    def _pump_once(self, now: float) -> None:
        owner = self.owner
        if owner.stopped:
            return
        cluster = self.client.cluster
        force = owner.force_send
        wake = INF
        need_metadata = False
        identity = owner.identity
        blocked = False
        resolving = False
        if identity is not None and not identity.ready:
            blocked = True
            if identity.state == identity.NONE and owner.txn is None:
                identity.ensure(now)
            elif identity.bump_requested:
                resolving = self._unresolved()
                if not resolving and self.inflight_requests == 0:
                    identity.start_bump(now)
            elif identity.state == identity.FAILED:
                owner.fail_everything(identity.error or KprotoError("producer id failed"))
                return
        txn = owner.txn
        by_leader: dict[int, list[PartitionState]] = {}
        for st in owner.acc:
            queue = st.queue
            while queue and queue[0].deadline <= now:
                owner.expire(st, queue.popleft(), now)
            if not queue:
                continue
            if queue[0].deadline < wake:
                wake = queue[0].deadline
            head = queue[0]
            if head.attempts and head.retry_at > now:
                current = cluster.leader(st.topic, st.partition)
                if 0 <= current != self._sent_to.get((st.topic, st.partition), current):
                    head.retry_at = now  # a new leader: waiting out the backoff helps nothing
            due = self._due(st, now, force)
            if due:
                if due < wake:
                    wake = due
                continue
            if blocked and not (resolving and self._sent_before(head)):
                continue
            leader = cluster.leader(st.topic, st.partition)
            if leader < 0:
                need_metadata = True
                continue
            if st.in_flight and identity is not None \
                    and self._sent_to.get((st.topic, st.partition), leader) != leader:
                # Batches still on the wire to the old leader settle first (their response,
                # failure or timeout pumps): batches sent meanwhile to the new one could push
                # them out of the broker's five-batch duplicate window, and their retries
                # would then be refused as out of order though already written.
                continue
            if self.client.in_backoff(leader, now):
                wake = min(wake, now + self.config.retry_backoff)
                continue
            if txn is not None and not txn.partition_ready(st.topic, st.partition, now):
                continue
            by_leader.setdefault(leader, []).append(st)
        if now >= self._in_flight_deadline:
            self._expire_in_flight(now)
        if self._in_flight_deadline < wake:
            wake = self._in_flight_deadline
        if need_metadata:
            wake = min(wake, self._want_metadata(now))
        owner.report_queue_sizes()
        for leader, states in by_leader.items():
            self._drain(leader, states, now, force)
        if identity is not None and identity.bump_requested and not blocked \
                and self._may_bump():
            self._again = True  # a batch expired above: bump now, not at the next send
        if wake != self._timer_when:
            self._arm(wake)

    def _expire_in_flight(self, now: float) -> None:
        """Fail the batches on the wire whose delivery deadline passed; their requests stay
        out, and the responses find them settled."""
        owner = self.owner
        earliest = INF
        for batch in list(self.in_flight_batches):
            if owner.is_settled(batch):
                continue
            if batch.deadline > now:
                earliest = min(earliest, batch.deadline)
                continue
            last = batch.last_error or "no response from the broker yet"
            owner.fail(batch, ClientTimeoutError(
                f"{batch.record_count} record(s) for {batch.topic}[{batch.partition}] not "
                f"delivered within delivery_timeout ({self.config.delivery_timeout:g}s): "
                f"still awaiting the broker's answer; last error: {last}"))
            if batch.base_seq >= 0:
                owner.sequence_gap(batch)
        self._in_flight_deadline = earliest

    def _want_metadata(self, now: float) -> float:
        """Ask for fresh metadata at most once per ``retry_backoff`` (a metadata listener
        pumps, so asking on every pump would loop); returns when to ask again."""
        due = self._metadata_asked + self.config.retry_backoff
        if now >= due:
            self._metadata_asked = now
            self.client.request_metadata_update(now)
            return now + self.config.retry_backoff
        return due

    def _drain(self, leader: int, states: list[PartitionState], now: float,
               force: bool) -> None:
        cap = self.config.max_in_flight_per_connection
        limit = self.config.max_request_size
        if len(states) > 1:
            # Start at a different partition each time so no partition always comes last.
            self._rotation = (self._rotation + 1) % len(states)
            states = states[self._rotation:] + states[:self._rotation]
        while self._node_inflight.get(leader, 0) < cap:
            batches: list[ProducerBatch] = []
            size = 0
            for st in states:
                if not st.queue or self._due(st, now, force):
                    continue
                head = st.queue[0]
                data = head.build()
                if batches and size + len(data) > limit:
                    continue
                st.queue.popleft()
                self._sent_to[(st.topic, st.partition)] = leader
                self._stamp(st, head)
                head.in_flight = True
                self.in_flight_batches.add(head)
                if head.deadline < self._in_flight_deadline:
                    self._in_flight_deadline = head.deadline
                head.attempts += 1
                st.in_flight += 1
                batches.append(head)
                size += len(data)
            if not batches:
                return
            self._send(leader, batches, now)

    def _stamp(self, st: PartitionState, batch: ProducerBatch) -> None:
        """Give a batch its producer id, epoch and sequence when first sent (or after a
        reset); a retry keeps them."""
        identity = self.owner.identity
        if identity is None:
            return
        pid, epoch = identity.producer_id, identity.epoch
        if batch.base_seq >= 0 and batch.pid == pid and batch.epoch == epoch:
            return
        batch.base_seq = st.next_seq
        st.next_seq = (st.next_seq + batch.record_count) & SEQ_MASK
        batch.pid, batch.epoch = pid, epoch
        assert batch.data is not None
        batch.data = set_producer_state(batch.data, pid, epoch, batch.base_seq)

    def _send(self, leader: int, batches: list[ProducerBatch], now: float) -> None:
        from kproto.protocol.messages.produce_request import PartitionProduceData, TopicProduceData
        self._node_inflight[leader] = self._node_inflight.get(leader, 0) + 1
        self.inflight_requests += 1
        acks = self.config.acks
        txn_id = self.config.transactional_id
        timeout_ms = self._timeout_ms

        def build(version: int) -> Any:
            topics: dict[str, list[PartitionProduceData]] = {}
            for b in batches:
                topics.setdefault(b.topic, []).append(
                    PartitionProduceData(index=b.partition, records=b.data))
            return protocol.ProduceRequest(
                transactional_id=txn_id, acks=acks, timeout_ms=timeout_ms,
                topic_data=[TopicProduceData(name=t, partition_data=p)
                            for t, p in topics.items()])

        self.client.send(leader, PRODUCE, build, partial(self._done, leader, batches), now,
                         timeout=self._request_timeout, expect_response=acks != 0,
                         min_version=3)

    # -- responses -----------------------------------------------------------------------

    def _done(self, leader: int, batches: list[ProducerBatch], resp: Any,
              err: BaseException | None) -> None:
        now = self.client.now
        self._node_inflight[leader] -= 1
        self.inflight_requests -= 1
        owner = self.owner
        results: dict[tuple[str, int], Any] = {}
        if err is None and resp is not None:
            for topic in resp.responses:
                for part in topic.partition_responses:
                    results[(topic.name, part.index)] = part
        for batch in batches:
            st = owner.acc.state(batch.topic, batch.partition)
            st.in_flight -= 1
            batch.in_flight = False
            self.in_flight_batches.discard(batch)
            if owner.is_settled(batch):
                continue  # dropped by close(drop=True) while in flight
            if err is not None:
                self._failed(st, batch, err, now)
                continue
            if resp is None:  # acks=0: nothing comes back
                owner.deliver(batch, -1, -1)
                continue
            part = results.get((batch.topic, batch.partition))
            if part is None:
                self._failed(st, batch, NetworkError(
                    f"the response from broker {leader} does not mention "
                    f"{batch.topic}[{batch.partition}]"), now)
                continue
            code = part.error_code
            if code == 0 or code == DUPLICATE_SEQUENCE_NUMBER:
                if batch.base_seq >= 0:
                    last = (batch.base_seq + batch.record_count - 1) & SEQ_MASK
                    identity = owner.identity
                    if identity is not None and (batch.pid, batch.epoch) == (
                            identity.producer_id, identity.epoch):
                        st.last_acked = last
                owner.deliver(batch, part.base_offset, part.log_append_time_ms)
                continue
            self._failed(st, batch, _broker_error(code, part, leader), now)
        self._after_responses(now)

    def _after_responses(self, now: float) -> None:
        identity = self.owner.identity
        if identity is not None and identity.bump_requested and self._may_bump():
            identity.start_bump(now)
        self.pump(now)

    def _sent_before(self, batch: ProducerBatch) -> bool:
        """A queued retry sent under the current producer id and epoch: it may have been
        written (its answer was lost), so only the broker can say whether it was."""
        identity = self.owner.identity
        return (identity is not None and batch.attempts > 0 and batch.base_seq >= 0
                and (batch.pid, batch.epoch) == (identity.producer_id, identity.epoch))

    def _unresolved(self) -> bool:
        """Whether a queued batch's outcome under the current id is still unknown. A bump
        waits for them: re-sent under a new id, a batch already written would be written
        again (the broker keeps no history for a new id). They go again as they are and
        settle -- delivered, duplicate (written before), refused (re-sequenced after the
        bump) or past their deadline -- and the epoch moves on after."""
        return any(self._sent_before(batch) for st in self.owner.acc for batch in st.queue)

    def _may_bump(self) -> bool:
        return self.inflight_requests == 0 and not self._unresolved()

    def _failed(self, st: PartitionState, batch: ProducerBatch, err: BaseException,
                now: float) -> None:
        owner = self.owner
        batch.last_error = err
        if isinstance(err, ClosedError) or self.client.closed or owner.stopped:
            owner.fail(batch, err)
            return
        code = getattr(err, "code", None)
        identity = owner.identity
        txn = owner.txn
        if code == MESSAGE_TOO_LARGE:
            if batch.record_count > 1:
                self._split(st, batch, now)
            else:
                self._too_large(batch, err, now)
            return
        if identity is not None and code in SEQUENCE_ERRORS:
            if self._sequence_error(st, batch, err, code, now):
                return
        elif txn is not None and code == PRODUCER_FENCED:
            owner.fail(batch, err)
            txn.fatal_error(err)
            return
        elif is_retriable(err) and batch.attempts <= self.config.retries and (
                txn is None or not txn.in_error):
            self._retry(st, batch, err, now)
            if code in METADATA_ERRORS:
                self._want_metadata(now)
            return
        if is_retriable(err) and now >= batch.deadline:
            err = _timed_out(batch, self.config.delivery_timeout, err)
        owner.fail(batch, err)
        if batch.base_seq >= 0:
            owner.sequence_gap(batch)

    def _sequence_error(self, st: PartitionState, batch: ProducerBatch, err: BaseException,
                        code: int, now: float) -> bool:
        """OUT_OF_ORDER_SEQUENCE_NUMBER, UNKNOWN_PRODUCER_ID or INVALID_PRODUCER_EPOCH for an
        idempotent batch; False when the batch fails like any non-retriable one."""
        owner = self.owner
        identity = owner.identity
        assert identity is not None
        txn = owner.txn
        if batch.pid != identity.producer_id or batch.epoch != identity.epoch:
            # Sent under an id or epoch that has moved on: it goes again under the new one.
            self._retry(st, batch, err, now)
            return True
        if code == OUT_OF_ORDER_SEQUENCE_NUMBER and self._earlier_unsettled(st, batch):
            # An earlier batch is still queued or on the wire: it fills the gap (or fails
            # itself, which bumps the epoch).
            if batch.attempts > self.config.retries:
                return False
            self._retry(st, batch, err, now)
            return True
        # Nothing can fill the gap: the broker lost the producer's state, or accepted a
        # later batch first. The sequences must start again under a new epoch.
        if txn is not None:
            owner.fail(batch, err)
            txn.abortable_error(err, bump=True)
            return True
        identity.request_bump()
        if code == INVALID_PRODUCER_EPOCH:
            return False  # as the Java client: the batch fails, the epoch moves on
        # Refused, so not written, and neither can a later batch of the partition have been
        # (the broker writes sequences in order): they take new sequences under the new
        # epoch instead of holding the bump back as unresolved batches.
        for other in st.queue:
            if other.base_seq >= 0 and (other.pid, other.epoch) == (batch.pid, batch.epoch) \
                    and (other.base_seq - batch.base_seq) & SEQ_MASK < 1 << 30:
                other.base_seq = -1
        batch.base_seq = -1
        self._retry(st, batch, err, now)
        return True

    def _earlier_unsettled(self, st: PartitionState, batch: ProducerBatch) -> bool:
        """Whether a batch with a lower sequence under the same producer id and epoch is
        queued or in flight for the batch's partition."""
        def earlier(other: ProducerBatch) -> bool:
            return (other is not batch and other.base_seq >= 0 and other.pid == batch.pid
                    and other.epoch == batch.epoch
                    and 0 < (batch.base_seq - other.base_seq) & SEQ_MASK < 1 << 30)

        if any(earlier(other) for other in st.queue):
            return True
        return any(other.topic == batch.topic and other.partition == batch.partition
                   and earlier(other) for other in self.in_flight_batches)

    def _too_large(self, batch: ProducerBatch, err: BaseException, now: float) -> None:
        """A single record the broker refused: it fails, with its size and the topic's
        max.message.bytes, asked for with DescribeConfigs (the broker's error names none)."""
        from kproto.protocol.messages.describe_configs_request import DescribeConfigsResource
        topic = batch.topic

        def build(version: int) -> Any:
            return protocol.DescribeConfigsRequest(resources=[DescribeConfigsResource(
                resource_type=TOPIC_RESOURCE, resource_name=topic,
                configuration_keys=["max.message.bytes"])])

        def done(resp: Any, error: BaseException | None) -> None:
            limit = None
            if error is None:
                for result in resp.results:
                    for entry in result.configs if not result.error_code else ():
                        if entry.name == "max.message.bytes" and entry.value:
                            limit = int(entry.value)
            owner = self.owner
            self.in_flight_batches.discard(batch)
            if owner.is_settled(batch):
                return
            owner.fail(batch, _too_large(batch, err, limit))
            if batch.base_seq >= 0:
                owner.sequence_gap(batch)
            self.pump(self.client.now)

        # Counted as on the wire meanwhile: close(drop=True) settles it, and later batches of
        # the partition know an earlier one is unsettled.
        self.in_flight_batches.add(batch)
        self.client.send_any(DESCRIBE_CONFIGS, build, done, now,
                             timeout=self.config.request_timeout)

    def _split(self, st: PartitionState, batch: ProducerBatch, now: float) -> None:
        """MESSAGE_TOO_LARGE for a batch of several records: its halves take its place, with
        its sequences, and go again at once (the error is not retriable, so no backoff)."""
        parts = self.owner.acc.split(batch, self.owner.txn is not None)
        log.info("%r was too large for broker; sending it again as %d and %d record(s)",
                 batch, parts[0].record_count, parts[1].record_count)
        for part in parts:
            st.requeue(part)

    def _retry(self, st: PartitionState, batch: ProducerBatch, err: BaseException,
               now: float) -> None:
        if now >= batch.deadline:
            self.owner.fail(batch, _timed_out(batch, self.config.delivery_timeout, err))
            if batch.base_seq >= 0:
                self.owner.sequence_gap(batch)
            return
        delay = backoff(self.client, self.config, batch.attempts)
        batch.retry_at = now + delay
        self.retries += 1
        log.debug("retrying %r in %.3fs after %s", batch, delay, err)
        st.requeue(batch)


def _broker_error(code: int, part: Any, leader: int) -> KprotoError:
    cls = error_for_code(code)
    detail = getattr(part, "error_message", None)
    record_errors = getattr(part, "record_errors", None) or ()
    if record_errors:
        first = record_errors[0]
        detail = (f"{detail or ''} (record {first.batch_index}: "
                  f"{first.batch_index_error_message})").strip()
    return cls(f"broker {leader}: {detail}" if detail else f"broker {leader}")


def _too_large(batch: ProducerBatch, err: BaseException,
               limit: int | None) -> MessageTooLargeError:
    """A single record the broker refused: say how large it was and what limits it."""
    [msg] = batch.messages
    size = len(batch.data) if batch.data is not None else -1
    payload = (len(msg.key) if msg.key else 0) + (len(msg.value) if msg.value else 0)
    known = f"{limit} bytes" if limit is not None else "not readable with DescribeConfigs"
    out = MessageTooLargeError(
        f"a record for {batch.topic}[{batch.partition}] with {payload} bytes of key and "
        f"value is {size} bytes as a record batch, larger than the topic's "
        f"max.message.bytes ({known}); {err}")
    out.__cause__ = err
    return out


def _timed_out(batch: ProducerBatch, limit: float, last: BaseException) -> ClientTimeoutError:
    err = ClientTimeoutError(
        f"{batch.record_count} record(s) for {batch.topic}[{batch.partition}] not delivered "
        f"within delivery_timeout ({limit:g}s); last error: {last}")
    err.__cause__ = last
    return err
