"""The producer state machine: records in, Produce requests out, one event per batch back.

Theory of operation: a :class:`ProducerCore` sits on a :class:`kproto.engine.client.ClientCore`
and owns every record from ``send()`` until it is settled. A record goes through the
interceptors, then to its topic's partitioner; when the topic's metadata is not known yet (or
no partition has a leader) it is held, in order, with the topic added to the client's
metadata interest, until metadata arrives or a deadline passes: ``metadata_max_wait`` for the
topic to appear, the delivery deadline for a leader. A placed record is
appended to its partition's batch in the :class:`Accumulator`; the :class:`Sender` sends due
batches and settles them. Each settled batch becomes one event, :class:`RecordsDelivered` or
:class:`RecordsFailed`, carrying the tokens ``send()`` returned and the messages (filled in
with partition, offset and timestamp, as sarama does).

Batches of records (``send_batch``): many records under ONE token, appended in one loop
with the partitioner asked only for records without a partition. The core counts the
batch's records as they settle (a :class:`_Tracked` per tracked token) and completes the
token once, with the list of ``(message, error)`` that failed (empty when all were
delivered), after every record is settled and the caller said no more records follow. The
per-partition events (RecordsDelivered / RecordsFailed) still carry each record with the
batch's token, so result streams see every record as they do for ``send()``.

Memory: records count against ``buffer_memory`` from ``send()`` until settled; a send that
does not fit raises :class:`BufferFullError` and, once memory frees, the core emits
:class:`BufferSpaceAvailable` so a blocked adapter tries again.

Flush and close: ``flush()`` returns a token that completes once every record sent before it
is settled (records carry a flush generation); while a flush waits, every batch is due at
once. ``close()`` refuses new records, lets the queued ones finish (aborting an open
transaction first) and completes its token; ``close(drop=True)`` fails everything unsettled
at once with ClosedError. A close that finds no broker reachable (or learns it from the
engine's failure listener while it waits) fails what is unsettled with ClusterUnreachableError
instead of waiting for the delivery timeout.

Failures the engine reports: an AuthenticationError fails every record not yet on the wire
at once (a wrong password or security protocol does not get better); a record that times out
while no broker is reachable fails with ClusterUnreachableError, naming each address's error.

Idempotence (:mod:`.idempotence`) and transactions (:mod:`.transactions`) plug in here: the
producer id stamps batches, transactions gate sends and add partitions before a partition's
first batch.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from kproto.config import Config
from kproto.engine.client import ClientCore
from kproto.errors import (
    AuthenticationError,
    ClientTimeoutError,
    ClosedError,
    ClusterUnreachableError,
    ConfigurationError,
    KprotoError,
    LeaderNotAvailableError,
    MessageTooLargeError,
    ObjectClosedError,
    UnknownTopicOrPartitionError,
    error_for_code,
)
from kproto.group.metadata import ConsumerGroupMetadata, group_metadata_of
from kproto.message_types import ConsumerMessage, ProducerMessage
from kproto.partitioners import (
    InvalidPartitionError,
    Partitioner,
    PartitionerSettings,
    choose_partition,
    notify_queue_sizes,
    partitioner_for_topic,
)
from kproto.records import Compression

from .accumulator import BATCH_OVERHEAD, Accumulator, PartitionState, ProducerBatch, record_size
from .errors import BufferFullError
from .events import BufferSpaceAvailable, RecordsDelivered, RecordsFailed
from .idempotence import ProducerIdentity, backoff
from .sender import Sender
from .transactions import TransactionManager, TxnStatus

__all__ = ["ProducerCore"]

log = logging.getLogger("kproto.producer")

UNKNOWN_TOPIC_OR_PARTITION = UnknownTopicOrPartitionError.code
LEADER_NOT_AVAILABLE = LeaderNotAvailableError.code


class _Held(NamedTuple):
    """A record waiting for its topic's metadata."""

    msg: ProducerMessage
    token: int
    timestamp: int
    gen: int
    mem: int
    deadline: float
    explicit: int | None


class _Tracked:
    """A ``send_batch`` token's records not yet settled, and those that failed."""

    __slots__ = ("failed", "left", "open")

    def __init__(self) -> None:
        self.left = 0
        self.open = True
        """More records may follow (``send_batch`` is called again with the token)."""
        self.failed: list[tuple[ProducerMessage, BaseException]] = []


class ProducerCore:
    """A producer over one client engine. Every method takes ``now`` (monotonic seconds)."""

    def __init__(self, client: ClientCore, config: Config | None = None) -> None:
        self.client = client
        self.config = cfg = config or client.config
        self.ident = client.new_token()
        """Names this producer in its events (several producers may share a client)."""
        self.acc = Accumulator(
            batch_size=min(cfg.batch_size, cfg.max_request_size),
            max_messages=cfg.batch_max_messages,
            compression=Compression[cfg.compression.upper()],
            level=cfg.compression_level,
            buffer_memory=cfg.buffer_memory,
            delivery_timeout=cfg.delivery_timeout)
        self.interceptors = tuple(cfg.interceptors)
        self.identity = ProducerIdentity(client, cfg, self._identity_changed) \
            if cfg.idempotent else None
        self.txn = TransactionManager(self, client, cfg) \
            if cfg.transactional_id is not None else None
        self.sender = Sender(self)
        self.stopped = False
        """Closed for good: nothing more is sent and every record is settled."""
        self.activity = 0
        """Changes whenever a call may have left IO, a new timer or events for the
        transport; when ``send()`` leaves it unchanged, the transport may skip its pump."""
        self._closing = False
        self._close_tokens: list[int] = []
        self._partitioners: dict[str, Partitioner] = {}
        self._appended_hooks: dict[str, Any] = {}
        """Each topic's partitioner's ``record_appended`` (None when it has none)."""
        self._settings = PartitionerSettings(rng=client.rng, batch_size=cfg.batch_size)
        self._topic_cache: dict[str, tuple[int, tuple[int, ...], tuple[int, ...]]] = {}
        self._topics: set[str] = set()
        self._held: dict[str, deque[_Held]] = {}
        self._held_mem = 0
        self._held_timer: Any = None
        self._held_refreshes = 0
        self._gen = 0
        self._gens: dict[int, int] = {}
        self._incomplete = 0
        self._flush_waiters: deque[tuple[int, int]] = deque()
        self._exhausted = False
        self._fatal: BaseException | None = None
        self._tracked: dict[int, _Tracked] = {}
        """``send_batch`` tokens still settling (see the module's docstring)."""
        client.add_metadata_listener(self._metadata_updated)
        client.add_failure_listener(self._cluster_failed)
        # Validate the partitioner now rather than at the first record.
        partitioner_for_topic(cfg.partitioner, "", self._settings)

    # == user operations ==================================================================

    def send(self, msg: ProducerMessage, now: float, timestamp_ms: int) -> int:
        """Queue one record; returns its token, settled by a RecordsDelivered/RecordsFailed
        event. Raises ClosedError after close, BufferFullError when ``buffer_memory`` is
        used up, TransactionStateError outside a transaction of a transactional producer."""
        if self._closing:
            raise ObjectClosedError("the producer is closed")
        if self.txn is not None:
            self.txn.check_send()
        for interceptor in self.interceptors:
            try:
                msg = interceptor.on_send(msg)
            except Exception:
                log.exception("producer interceptor %r failed in on_send", interceptor)
        _check_message(msg)
        mem = record_size(msg.key, msg.value, msg.headers)
        if mem + BATCH_OVERHEAD > self.config.max_request_size or mem > self.acc.buffer_memory:
            token = self.client.new_token()
            limit = min(self.config.max_request_size, self.acc.buffer_memory)
            err = MessageTooLargeError(
                f"a record of about {mem + BATCH_OVERHEAD} bytes is larger than "
                f"max_request_size/buffer_memory ({limit} bytes)")
            if self.interceptors:
                self._acknowledged((msg,), err)
            self._emit_failed((token,), (msg,), err)
            return token
        if self.acc.memory + self._held_mem + mem > self.acc.buffer_memory:
            self._exhausted = True
            self.sender.pump(now)
            raise BufferFullError(
                f"buffer_memory ({self.acc.buffer_memory} bytes) is full")
        if msg.timestamp is None:
            msg.timestamp = timestamp_ms
        token = self.client.new_token()
        gen = self._gen
        gens = self._gens
        gens[gen] = gens.get(gen, 0) + 1
        self._incomplete += 1
        if self._fatal is not None:
            self._fail_records((token,), (msg,), {gen: 1}, self._fatal)
            return token
        deadline = now + self.config.delivery_timeout
        if msg.topic in self._held:
            self._hold(_Held(msg, token, msg.timestamp, gen, mem, deadline, msg.partition), now)
        else:
            self._place(msg, token, msg.timestamp, gen, mem, deadline, msg.partition, now)
        return token

    def send_batch(self, msgs: Sequence[ProducerMessage], now: float, timestamp_ms: int,
                   start: int = 0, token: int = 0, track: bool = True) -> tuple[int, int]:
        """Queue ``msgs[start:]`` under one token, in order, until ``buffer_memory`` is
        full; returns ``(token, next)``: ``next == len(msgs)`` when all were taken, else the
        index of the first left out (call again with ``token`` and ``start=next`` once
        BufferSpaceAvailable came, or ``end_batch`` to give up). With ``track`` the token
        completes once, with the failed ``(message, error)`` pairs, when every record taken
        is settled and all were taken (or ``end_batch`` was called); without it only the
        per-partition events carry it. A record too large fails alone. Raises what
        ``send()`` raises, before taking anything."""
        if self._closing:
            raise ObjectClosedError("the producer is closed")
        txn = self.txn
        if txn is not None:
            txn.check_send()
        if not token:
            # Checked before any is taken, so bad input leaves nothing half-sent.
            for index, msg in enumerate(msgs):
                try:
                    _check_message(msg)
                except TypeError as exc:
                    raise TypeError(f"msgs[{index}]: {exc}") from None
            token = self.client.new_token()
            if track:
                self._tracked[token] = _Tracked()
        tracked = self._tracked.get(token)
        # One pass over the records with the per-record work inlined and the lookups
        # hoisted: the call and attribute loads send() pays per record are paid once here.
        interceptors = self.interceptors
        acc = self.acc
        shown = min(self.config.max_request_size, acc.buffer_memory)
        limit = min(self.config.max_request_size - BATCH_OVERHEAD, acc.buffer_memory)
        room = acc.buffer_memory - acc.memory - self._held_mem
        deadline = now + self.config.delivery_timeout
        gen = self._gen
        gens = self._gens
        held = self._held
        place = self._place
        i = start
        n = len(msgs)
        self.activity += 1
        while i < n:
            msg = msgs[i]
            for interceptor in interceptors:
                try:
                    msg = interceptor.on_send(msg)
                except Exception:
                    log.exception("producer interceptor %r failed in on_send", interceptor)
            if interceptors:
                _check_message(msg)  # what an interceptor returned
            mem = record_size(msg.key, msg.value, msg.headers)
            if mem > limit:
                err = MessageTooLargeError(
                    f"a record of about {mem + BATCH_OVERHEAD} bytes is larger than "
                    f"max_request_size/buffer_memory ({shown} bytes)")
                if interceptors:
                    self._acknowledged((msg,), err)
                if tracked is not None:
                    tracked.failed.append((msg, err))
                self._emit_failed((token,), (msg,), err)
                i += 1
                continue
            if mem > room:
                room = acc.buffer_memory - acc.memory - self._held_mem  # settled since
                if mem > room:
                    self._exhausted = True
                    break
            room -= mem
            if msg.timestamp is None:
                msg.timestamp = timestamp_ms
            if tracked is not None:
                tracked.left += 1
            self._incomplete += 1
            i += 1
            gens[gen] = gens.get(gen, 0) + 1
            if self._fatal is not None:
                self._fail_records((token,), (msg,), {gen: 1}, self._fatal)
            elif msg.topic in held:
                self._hold(_Held(msg, token, msg.timestamp, gen, mem, deadline,
                                 msg.partition), now)
            else:
                place(msg, token, msg.timestamp, gen, mem, deadline, msg.partition, now)
        if i == n:
            self.end_batch(token)
        elif self._exhausted:
            self.sender.pump(now)
        return token, i

    def end_batch(self, token: int,
                  failed: Iterable[tuple[ProducerMessage, BaseException]] = ()) -> None:
        """No more records follow under ``token``: ``failed`` (those never taken, with why)
        join its failures, and it completes once the records taken are settled."""
        tracked = self._tracked.get(token)
        if tracked is None or not tracked.open:
            return
        tracked.open = False
        tracked.failed.extend(failed)
        if tracked.left == 0:
            del self._tracked[token]
            self.client.complete(token, tracked.failed)

    def _batch_settled(self, tokens: Sequence[int], msgs: Sequence[ProducerMessage],
                       error: BaseException | None) -> None:
        """Count settled records against the ``send_batch`` tokens they belong to."""
        tracked_by = self._tracked
        for token, msg in zip(tokens, msgs, strict=True):
            tracked = tracked_by.get(token)
            if tracked is None:
                continue
            tracked.left -= 1
            if error is not None:
                tracked.failed.append((msg, error))
            if tracked.left == 0 and not tracked.open:
                del tracked_by[token]
                self.client.complete(token, tracked.failed)

    def flush(self, now: float) -> int:
        """A token completed once every record sent so far is settled."""
        token = self.client.new_token()
        if self._incomplete == 0:
            self.client.complete(token, None)
            return token
        self._flush_waiters.append((self._gen, token))
        self._gen += 1
        self.sender.pump(now)
        return token

    def close(self, now: float, drop: bool = False) -> int:
        """Stop taking records and finish (or, with ``drop``, fail) the queued ones; the
        token completes when the producer is done. Closing twice is fine."""
        token = self.client.new_token()
        if self.stopped:
            self.client.complete(token, None)
            return token
        self._close_tokens.append(token)
        self._closing = True
        unreachable = self.client.unreachable_error(
            "the producer closed before the record was delivered")
        if drop:
            self._drop(ClosedError("the producer was closed before the record was sent"), now)
        elif unreachable is not None:
            self._give_up(unreachable, now)
        elif self.txn is not None:
            self.txn.on_close(now)
        self._gen += 1
        self.sender.pump(now)
        self.maybe_finish(now)
        return token

    def metrics(self) -> dict[str, Any]:
        queued = sum(len(st.queue) for st in self.acc)
        return {"buffer_bytes": self.acc.memory + self._held_mem,
                "records_unsettled": self._incomplete, "batches_queued": queued,
                "requests_in_flight": self.sender.inflight_requests,
                "retries": self.sender.retries,
                "producer_id": self.identity.producer_id if self.identity else -1,
                "producer_epoch": self.identity.epoch if self.identity else -1}

    # -- transactions ---------------------------------------------------------------------

    def _need_txn(self) -> TransactionManager:
        if self.txn is None:
            raise ConfigurationError("not a transactional producer (set transactional_id)")
        return self.txn

    def is_transactional(self) -> bool:
        return self.txn is not None

    def txn_status(self) -> TxnStatus:
        return self.txn.status if self.txn is not None else TxnStatus.READY

    def init_transactions(self, now: float) -> int:
        return self._need_txn().init(now)

    def begin_transaction(self, now: float) -> int:
        return self._need_txn().begin(now)

    def commit_transaction(self, now: float) -> int:
        return self._need_txn().commit(now)

    def abort_transaction(self, now: float) -> int:
        return self._need_txn().abort(now)

    def add_offsets_to_txn(self, offsets: Mapping[Any, Any],
                           group_id: str | ConsumerGroupMetadata, now: float) -> int:
        """Commit consumer offsets as part of the transaction. ``offsets`` maps
        ``(topic, partition)`` or ``topic -> {partition: ...}`` to the next offset to read,
        or to ``(offset, metadata)``. ``group_id`` is the group's id or, so that the group
        coordinator can fence a member a rebalance left behind, the member's
        :class:`ConsumerGroupMetadata` (``session.group_metadata()``)."""
        group = group_metadata_of(group_id)
        return self._need_txn().add_offsets(_normalize_offsets(offsets), group, now)

    def add_message_to_txn(self, message: ConsumerMessage,
                           group_id: str | ConsumerGroupMetadata,
                           metadata: str | None, now: float) -> int:
        """Mark a consumed message as processed inside the transaction (its offset + 1)."""
        group = group_metadata_of(group_id)
        offsets = {(message.topic, message.partition): (message.offset + 1, metadata)}
        return self._need_txn().add_offsets(offsets, group, now)

    # == placement ========================================================================

    def _topic_info(self, topic: str) -> tuple[int, tuple[int, ...], tuple[int, ...]] | None:
        cluster = self.client.cluster
        cached = self._topic_cache.get(topic)
        if cached is not None and cached[0] == cluster.version:
            return cached
        info = cluster.topics.get(topic)
        if info is None or not info.partitions:
            return None
        cached = (cluster.version, tuple(p.partition for p in info.partitions), info.writable())
        self._topic_cache[topic] = cached
        return cached

    def _partitioner(self, topic: str) -> Partitioner:
        p = self._partitioners.get(topic)
        if p is None:
            p = self._partitioners[topic] = partitioner_for_topic(
                self.config.partitioner, topic, self._settings)
            # Looked up once per topic rather than per record (notify_record_appended's
            # getattr): the placement of a 100 B record costs ~0.15 us less.
            self._appended_hooks[topic] = getattr(p, "record_appended", None)
        return p

    def _place(self, msg: ProducerMessage, token: int, timestamp: int, gen: int, mem: int,
               deadline: float, explicit: int | None, now: float) -> None:
        topic = msg.topic
        info = self._topic_info(topic)
        if info is None:
            self._hold(_Held(msg, token, timestamp, gen, mem, deadline, explicit), now)
            return
        partitioner = self._partitioners.get(topic) or self._partitioner(topic)
        partitions = info[1]
        if explicit is not None and 0 <= explicit < len(partitions) \
                and partitions[explicit] == explicit:
            # A partition the topic has, as choose_partition would accept it: its call and
            # checks skipped (~0.4 us of ~5 us per 100 B record on the profile of
            # bench_produce); any other case goes through it.
            partition = explicit
        else:
            value = msg.value
            try:
                partition = choose_partition(partitioner, msg.key, len(value) if value else 0,
                                             explicit, partitions, info[2])
            except LeaderNotAvailableError:
                self._hold(_Held(msg, token, timestamp, gen, mem, deadline, explicit), now)
                return
            except InvalidPartitionError as exc:
                self._fail_records((token,), (msg,), {gen: 1}, exc)
                return
        msg.partition = partition
        acc = self.acc
        st = acc.partitions.get((topic, partition)) or acc.state(topic, partition)
        txn = self.txn
        if txn is None:
            appended, opened, closed = acc.append(st, msg, timestamp, token, gen, mem, now,
                                                  -1, -1, False, deadline)
        else:
            identity = self.identity
            appended, opened, closed = acc.append(
                st, msg, timestamp, token, gen, mem, now,
                identity.producer_id if identity is not None else -1,
                identity.epoch if identity is not None else -1, True, deadline)
        if explicit is None:
            hook = self._appended_hooks.get(topic)
            if hook is not None:  # notify_record_appended, its getattr done once per topic
                hook(partition, appended, st.all_full())
        if txn is not None:
            txn.partition_ready(topic, partition, now)
        if closed:
            self.sender.pump(now)
        elif opened:
            self.sender.wake_at(now + self.config.linger)

    def _hold(self, rec: _Held, now: float) -> None:
        self.activity += 1
        topic = rec.msg.topic
        queue = self._held.get(topic)
        if queue is None:
            queue = self._held[topic] = deque()
        queue.append(rec)
        self._held_mem += rec.mem
        if topic not in self._topics:
            self._topics.add(topic)
            self.client.add_topics([topic], now)
        self._arm_held_timer(now)

    def _arm_held_timer(self, now: float) -> None:
        """One timer for held records: the next refresh or the earliest deadline."""
        if self._held_timer is not None:
            self._held_timer.cancel()
            self._held_timer = None
        if not self._held:
            self._held_refreshes = 0
            return
        deadline = min(self._held_until(topic, q[0]) for topic, q in self._held.items())
        refresh = now + backoff(self.client, self.config, self._held_refreshes + 1)
        self._held_timer = self.client.timers.call_at(min(deadline, refresh), self._held_due)

    def _held_due(self, now: float) -> None:
        self._held_timer = None
        self._expire_held(now)
        if self._held:
            self._held_refreshes += 1
            self.client.request_metadata_update(now)
        self._arm_held_timer(now)

    def _expire_held(self, now: float) -> None:
        for topic in list(self._held):
            queue = self._held[topic]
            while queue and self._held_until(topic, queue[0]) <= now:
                rec = queue.popleft()
                self._held_mem -= rec.mem
                info = self._topic_info(topic)
                wait = min(self.config.metadata_max_wait, self.config.delivery_timeout)
                unreachable = self.client.unreachable_error(
                    f"no metadata for topic {topic!r} within {wait:g}s")
                if unreachable is not None:
                    err: KprotoError = unreachable
                elif info is None:
                    err = UnknownTopicOrPartitionError(
                        f"topic {topic!r} not found in the metadata within {wait:g}s "
                        f"(metadata_max_wait {self.config.metadata_max_wait:g}s, "
                        f"delivery_timeout {self.config.delivery_timeout:g}s)")
                else:
                    err = LeaderNotAvailableError(
                        f"no partition of {topic!r} had a leader within delivery_timeout "
                        f"({self.config.delivery_timeout:g}s)")
                self._fail_records((rec.token,), (rec.msg,), {rec.gen: 1}, err)
            if not queue:
                del self._held[topic]

    def _held_until(self, topic: str, rec: _Held) -> float:
        """A record waits ``metadata_max_wait`` for its topic to appear in the metadata and
        up to its delivery deadline for a partition leader."""
        if self._topic_info(topic) is not None:
            return rec.deadline
        waited = self.config.delivery_timeout - self.config.metadata_max_wait
        return rec.deadline - max(0.0, waited)

    def _cluster_failed(self, error: KprotoError, now: float) -> None:
        """The engine reports an authentication failure or an unreachable cluster."""
        if self.stopped:
            return
        if isinstance(error, AuthenticationError):
            # Retrying cannot cure it: what waits for metadata or a connection fails now.
            self.drop_unsent(error)
        elif self._closing and isinstance(error, ClusterUnreachableError):
            self._give_up(ClusterUnreachableError(
                "the producer closed before the record was delivered", error.reasons), now)
        self.maybe_finish(now)

    def _give_up(self, error: BaseException, now: float) -> None:
        """Closing with no broker reachable: waiting longer would only delay ``close``."""
        self._drop(error, now)
        if self.txn is not None:
            self.txn.close()

    def _metadata_updated(self, now: float) -> None:
        if self.stopped:
            return
        cluster = self.client.cluster
        for topic in list(self._held):
            code = cluster.topic_errors.get(topic, 0)
            if code and code not in (UNKNOWN_TOPIC_OR_PARTITION, LEADER_NOT_AVAILABLE) \
                    and not error_for_code(code).retriable:
                queue = self._held.pop(topic)
                err = error_for_code(code)(f"topic {topic!r}")
                for rec in queue:
                    self._held_mem -= rec.mem
                    self._fail_records((rec.token,), (rec.msg,), {rec.gen: 1}, err)
                continue
            if self._topic_info(topic) is None:
                continue
            queue = self._held.pop(topic)
            self._held_mem -= sum(rec.mem for rec in queue)
            while queue:
                rec = queue.popleft()
                self._place(rec.msg, rec.token, rec.timestamp, rec.gen, rec.mem, rec.deadline,
                            rec.explicit, now)
                if topic in self._held:
                    # No leader yet: the rest waits behind it, in order.
                    self._held[topic].extend(queue)
                    self._held_mem += sum(r.mem for r in queue)
                    break
        if self._held:
            self._arm_held_timer(now)
        elif self._held_timer is not None:
            self._held_timer.cancel()
            self._held_timer = None
            self._held_refreshes = 0
        self.sender.pump(now)

    def report_queue_sizes(self) -> None:
        """Tell adaptive partitioners how many batches wait per partition with a leader."""
        parts = self.acc.partitions
        for topic, partitioner in self._partitioners.items():
            if getattr(partitioner, "update_queue_sizes", None) is None:
                continue
            info = self._topic_info(topic)
            if info is None:
                continue
            sizes: dict[int, int] | None = {}
            for p in info[2]:
                st = parts.get((topic, p))
                if st is None:
                    sizes = None
                    break
                assert sizes is not None
                sizes[p] = len(st.queue)
            notify_queue_sizes(partitioner, sizes, len(info[1]))

    # == settlement (called by the sender and the transaction manager) ===================

    @property
    def force_send(self) -> bool:
        """Every batch is due now: a flush waits, the producer closes, memory ran out or a
        transaction ends."""
        return bool(self._flush_waiters) or self._closing or self._exhausted or (
            self.txn is not None and self.txn.ending)

    @property
    def unsettled(self) -> int:
        return self._incomplete

    def is_settled(self, batch: ProducerBatch) -> bool:
        return batch.settled

    def deliver(self, batch: ProducerBatch, base_offset: int, log_append_time: int) -> None:
        msgs = batch.messages
        for i, msg in enumerate(msgs):
            msg.offset = base_offset + i if base_offset >= 0 else -1
            if log_append_time >= 0:
                msg.timestamp = log_append_time
        self._settle(batch)
        if self.interceptors:
            self._acknowledged(msgs, None)
        if self._tracked:
            self._batch_settled(batch.tokens, msgs, None)
        self.client.emit(RecordsDelivered(self.ident, batch.topic, batch.partition, base_offset,
                                          log_append_time, tuple(batch.tokens), tuple(msgs)))
        self._records_settled(batch.gens, batch.record_count)

    def fail(self, batch: ProducerBatch, error: BaseException) -> None:
        if self.is_settled(batch):
            return
        if isinstance(error, ClientTimeoutError) and not isinstance(
                error, ClusterUnreachableError):
            unreachable = self.client.unreachable_error(str(error))
            if unreachable is not None:
                unreachable.__cause__ = error
                error = unreachable
        self._settle(batch)
        log.debug("%r failed: %s", batch, error)
        if self.txn is not None:
            self.txn.record_failed(error)
        self._fail_records(tuple(batch.tokens), tuple(batch.messages), batch.gens, error)

    def expire(self, st: PartitionState, batch: ProducerBatch, now: float) -> None:
        """A queued batch reached its delivery deadline."""
        last = f"; last error: {batch.last_error}" if batch.last_error else ""
        err = ClientTimeoutError(
            f"{batch.record_count} record(s) for {batch.topic}[{batch.partition}] not "
            f"delivered within delivery_timeout ({self.config.delivery_timeout:g}s){last}")
        self.fail(batch, err)
        if batch.base_seq >= 0:
            self.sequence_gap(batch)

    def sequence_gap(self, batch: ProducerBatch) -> None:
        """A batch that was sent will not be retried: later sequences cannot follow it."""
        if self.identity is None:
            return
        if self.txn is not None:
            self.txn.abortable_error(batch.last_error or KprotoError("a batch failed"),
                                     bump=True)
        elif batch.epoch == self.identity.epoch:
            self.identity.request_bump()

    def fail_everything(self, error: BaseException) -> None:
        """A fatal error: nothing can be sent any more."""
        if self._fatal is None:
            self._fatal = error
            log.error("producer failed: %s", error)
        for st in self.acc:
            while st.queue:
                self.fail(st.queue.popleft(), error)
        self._fail_held(error)

    def drop_unsent(self, error: BaseException, keep_sequenced: bool = False) -> None:
        """Fail every record not yet on the wire. ``keep_sequenced`` (a transaction abort):
        a batch waiting to be sent again keeps its place if it holds sequence numbers of
        the current producer id and epoch. The broker expects them next (or has them), so
        it goes out again and is aborted with the transaction; dropped, it would leave a
        gap in the partition's sequence that the next transaction's first batch runs into
        (OUT_OF_ORDER_SEQUENCE_NUMBER). Java keeps such batches on an abort too."""
        identity = self.identity if keep_sequenced else None
        for st in self.acc:
            kept: list[ProducerBatch] = []
            while st.queue:
                batch = st.queue.popleft()
                if identity is not None and batch.base_seq >= 0 and \
                        (batch.pid, batch.epoch) == (identity.producer_id, identity.epoch):
                    kept.append(batch)
                else:
                    self.fail(batch, error)
            st.queue.extend(kept)
        self._fail_held(error)

    def _fail_held(self, error: BaseException) -> None:
        held, self._held = self._held, {}
        for queue in held.values():
            for rec in queue:
                self._held_mem -= rec.mem
                self._fail_records((rec.token,), (rec.msg,), {rec.gen: 1}, error)

    def _drop(self, error: BaseException, now: float) -> None:
        self.drop_unsent(error)
        # Batches on the wire are settled now; their late responses are ignored.
        for batch in list(self.sender.in_flight_batches):
            self.fail(batch, error)

    def _settle(self, batch: ProducerBatch) -> None:
        self.acc.release(batch)
        batch.settled = True

    def _fail_records(self, tokens: tuple[int, ...], msgs: tuple[ProducerMessage, ...],
                      gens: dict[int, int], error: BaseException) -> None:
        if self.interceptors:
            self._acknowledged(msgs, error)
        if self._tracked:
            self._batch_settled(tokens, msgs, error)
        self._emit_failed(tokens, msgs, error)
        self._records_settled(gens, len(tokens))

    def _emit_failed(self, tokens: tuple[int, ...], msgs: tuple[ProducerMessage, ...],
                     error: BaseException) -> None:
        self.activity += 1
        self.client.emit(RecordsFailed(self.ident, tokens, msgs, error))

    def _acknowledged(self, msgs: Iterable[ProducerMessage], error: BaseException | None) -> None:
        for interceptor in self.interceptors:
            for msg in msgs:
                try:
                    interceptor.on_acknowledgement(msg, error)
                except Exception:
                    log.exception("producer interceptor %r failed in on_acknowledgement",
                                  interceptor)

    def _records_settled(self, gens: Mapping[int, int], count: int) -> None:
        counts = self._gens
        for gen, n in gens.items():
            left = counts[gen] - n
            if left:
                counts[gen] = left
            else:
                del counts[gen]
        self._incomplete -= count
        now = self.client.now
        waiters = self._flush_waiters
        if waiters:
            oldest = min(counts) if counts else None
            while waiters and (oldest is None or waiters[0][0] < oldest):
                self.client.complete(waiters.popleft()[1], None)
        if self._exhausted:
            self._exhausted = False
            self.client.emit(BufferSpaceAvailable(self.ident))
        if self._incomplete == 0:
            if self.txn is not None:
                self.txn.on_idle(now)
            self.maybe_finish(now)

    # == identity and shutdown ============================================================

    def _identity_changed(self, now: float, changed: bool) -> None:
        identity = self.identity
        assert identity is not None
        if identity.state == identity.FAILED:
            self.fail_everything(identity.error or KprotoError("no producer id"))
            return
        if changed:
            for st in self.acc:
                st.reset_sequences()
        self.sender.pump(now)

    def maybe_finish(self, now: float) -> None:
        if not self._closing or self.stopped or self._incomplete:
            return
        if self.txn is not None and not self.txn.idle_for_close:
            return
        self.stopped = True
        self.sender.close()
        if self.identity is not None:
            self.identity.close()
        if self.txn is not None:
            self.txn.close()
        if self._held_timer is not None:
            self._held_timer.cancel()
        self.client.remove_metadata_listener(self._metadata_updated)
        self.client.remove_failure_listener(self._cluster_failed)
        self.client.remove_topics(self._topics)
        tokens, self._close_tokens = self._close_tokens, []
        for token in tokens:
            self.client.complete(token, None)


_FAST = (bytes, type(None))


def _check_message(msg: ProducerMessage) -> None:
    if type(msg) is ProducerMessage and type(msg.value) in _FAST and type(msg.key) in _FAST \
            and type(msg.topic) is str and msg.topic:
        return  # the common case, cheaply
    if not isinstance(msg, ProducerMessage):
        raise TypeError(f"expected a ProducerMessage, got {type(msg).__name__}")
    for name in ("key", "value"):
        value = getattr(msg, name)
        if value is not None and not isinstance(value, (bytes, bytearray, memoryview)):
            raise TypeError(f"ProducerMessage.{name} must be bytes or None, "
                            f"not {type(value).__name__}")
    if not isinstance(msg.topic, str) or not msg.topic:
        raise TypeError(f"ProducerMessage.topic must be a non-empty str, not {msg.topic!r}")


def _normalize_offsets(offsets: Mapping[Any, Any]) -> dict[tuple[str, int], tuple[int, str | None]]:
    out: dict[tuple[str, int], tuple[int, str | None]] = {}

    def one(key: tuple[str, int], value: Any) -> None:
        if isinstance(value, tuple):
            out[key] = (int(value[0]), value[1])
        else:
            out[key] = (int(value), None)

    for key, value in offsets.items():
        if isinstance(key, tuple):
            one((str(key[0]), int(key[1])), value)
        elif isinstance(value, Mapping):
            for partition, v in value.items():
                one((str(key), int(partition)), v)
        else:
            raise ConfigurationError(
                f"offsets must map (topic, partition) or topic -> {{partition: offset}}; "
                f"got {key!r}: {value!r}")
    return out

