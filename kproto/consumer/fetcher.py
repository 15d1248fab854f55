# Theory of operation: a Fetcher owns the consumption state of every partition assigned to
# it (position, leader and epochs, high water mark, pause flag, buffered bytes), one fetch
# session per broker and the Fetch, ListOffsets and OffsetForLeaderEpoch requests in flight.
#
# Inputs: user operations (`assign`, `unassign`, `seek`, `pause`, `resume`, `release`),
# responses (callbacks from the engine), metadata updates (a listener) and its one wake-up
# timer. After each, `_schedule` looks at every partition and sends what is due: at most
# one request of each kind per broker, covering all partitions that need it. Outputs:
# `RecordsFetched` and `FetchError` events (tagged with the stream id of the assignment),
# and the `on_start` callback of an assignment once its start position is confirmed.
#
# A partition moves between phases: RESET (find the position with ListOffsets), VALIDATE
# (check the position against a new leader epoch, KIP-320), FETCH, and STOPPED (an error it
# cannot get past; an out-of-range stop first asks the leader for the log's bounds, so the
# error names them). Orthogonal to the phase: whether its leader is known, whether it is
# paused, whether its unreleased bytes exceed the buffer bound. A response is applied only
# if the partition's generation (bumped by every seek, reset and change of broker) and
# position are what they were when the request was made, so a late answer never moves a
# position twice or from a stale leader.
#
# Long polls: a partition is fetched whenever its buffer is below the bound (prefetch), and
# a Fetch asks the broker for the full fetch_max_wait only when no other partition of that
# broker is about to become fetchable (starting, just started, or a full buffer its reader
# is draining); otherwise it waits at most _HURRY_WAIT, so that partition is not held back
# behind a long poll of the caught-up ones. While a partition of the broker is starting,
# and in the first Fetch after one started (the next consume_partition of a loop follows
# it), the Fetch also asks for at most _START_BYTES: the start's ListOffsets answer queues
# behind that Fetch's answer (one connection, answered in order) and the engine decodes a
# Fetch answer before it reads the next, so a full-size answer would hold the start back
# by the time it takes to decode megabytes of records.
#
# Assignments made together (`assigning`: a group member's claims) are scheduled once, so
# their start positions go out in one ListOffsets (and one OffsetForLeaderEpoch) per broker.
"""The fetch engine: partitions in, Fetch requests out, records back as events."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

from kproto.config import Config
from kproto.engine.client import ClientCore
from kproto.engine.timers import TimerHandle
from kproto.errors import (
    AlreadyConsumingError,
    ClientTimeoutError,
    ClosedError,
    ConfigurationError,
    FencedLeaderEpochError,
    FetchSessionIdNotFoundError,
    FetchSessionTopicIdError,
    InconsistentTopicIdError,
    InvalidFetchSessionEpochError,
    KafkaError,
    KafkaStorageError,
    LeaderNotAvailableError,
    NoCommonVersionError,
    NotAssignedError,
    NotLeaderOrFollowerError,
    ObjectClosedError,
    OffsetNotAvailableError,
    OffsetOutOfRangeError,
    ReplicaNotAvailableError,
    UnknownLeaderEpochError,
    UnknownTopicIdError,
    UnknownTopicOrPartitionError,
    error_for_code,
)
from kproto.message_types import OFFSET_NEWEST, OFFSET_OLDEST
from kproto.protocol.apis import FETCH
from kproto.retry import retry_backoff

from .decode import decode_partition
from .errors import LogTruncationError, RecordBatchTooLargeError
from .events import FetchError, RecordsFetched
from .fetch_session import FetchSession, PartitionParams, SessionRequest, fetch_request
from .offsets import (
    LIST_OFFSETS,
    OFFSET_FOR_LEADER_EPOCH,
    VALIDATION_MIN_VERSION,
    epoch_request,
    epoch_results,
    list_offsets_request,
    list_offsets_results,
)
from .state import FETCHING, RESET, STOPPED, VALIDATE, ZERO_ID, OnStart, PartitionState

__all__ = ["Fetcher", "OnStart"]

log = logging.getLogger("kproto.consumer")

OFFSET_OUT_OF_RANGE = OffsetOutOfRangeError.code
FETCH_SESSION_ID_NOT_FOUND = FetchSessionIdNotFoundError.code
INVALID_FETCH_SESSION_EPOCH = InvalidFetchSessionEpochError.code
FETCH_SESSION_TOPIC_ID_ERROR = FetchSessionTopicIdError.code
# Partition errors that mean "ask the metadata where this partition lives now".
_METADATA_ERRORS = frozenset({
    UnknownTopicOrPartitionError.code,
    LeaderNotAvailableError.code,
    NotLeaderOrFollowerError.code,
    ReplicaNotAvailableError.code,
    KafkaStorageError.code,
    FencedLeaderEpochError.code,
    UnknownLeaderEpochError.code,
    OffsetNotAvailableError.code,
    UnknownTopicIdError.code,
    InconsistentTopicIdError.code,
})
_FRAME_HEADROOM = 64 * 1024
# The longest a Fetch asks the broker to wait while another partition of the same broker is
# about to become fetchable (its start position is being looked up, or its buffer is full
# and its reader is draining it). One fetch per broker is in flight, so a full
# fetch_max_wait long poll for the caught-up partitions would hold that partition back for
# up to fetch_max_wait (0.5 s by default) each time. Measured on the fake cluster
# (tests/consumer/test_prefetch.py) and on one real broker (bench consume, 6 partitions,
# asyncio and threads): 100 B 28-31k -> 104-126k records/s, 1 KiB 7.7-8.1k -> 32-37k. 5 ms
# read 10-25% faster still, but polls four times as often while a slow reader drains a full
# buffer; 20 ms is the compromise.
_HURRY_WAIT = 0.02
# How long after a partition starts its broker's fetches stay short. A reader that starts
# several partitions (a loop of consume_partition, each waiting for its start) starts the
# next one just after the previous one's first fetch: a long poll sent then for the first
# holds up the next one's ListOffsets (a broker answers a connection's requests in order)
# and its first fetch. Six partitions started this way took 3.0 s of simulated time to
# read 600 records with fetch_max_wait 0.5 s, and 0.12 s with this grace.
_START_GRACE = 0.1
# The most a Fetch asks for (fetch_max_bytes) while a partition of its broker is starting
# (see the theory of operation). Kafka still returns the first batch of the first
# partition whole, however large. Measured on one real broker (100,000 records of 100 B,
# six partitions started one after another with consume_partition, asyncio, a busy 2-core
# machine, same run alternating): all six started after 52-230 ms instead of 105-794 ms
# (each start had waited for 1-6 MiB of another partition's records to be decoded);
# the whole read took as long either way (it is CPU-bound: the records decoded earlier
# are decoded later instead). 256 KiB is about 2,400 records of 100 B, a few ms to decode.
_START_BYTES = 256 * 1024

TopicPartition = tuple[str, int]


class _Fetch:
    """One Fetch request in flight to one broker: what was asked, to check what comes back."""

    __slots__ = ("capped", "entries", "ids", "node", "session_request", "version")

    def __init__(self, node: int) -> None:
        self.node = node
        self.entries: dict[TopicPartition, tuple[PartitionState, int, int]] = {}
        self.ids: dict[uuid.UUID, str] = {}
        self.session_request: SessionRequest | None = None
        self.version = -1
        self.capped = False
        """It asked for at most _START_BYTES."""


class Fetcher:
    """Fetches assigned partitions from their leaders and reports records as events."""

    def __init__(self, core: ClientCore, config: Config | None = None) -> None:
        self.core = core
        self.config = cfg = config or core.config
        self._parts: dict[int, PartitionState] = {}
        self._by_tp: dict[TopicPartition, PartitionState] = {}
        self._sessions: dict[int, FetchSession] = {}
        self._fetching: dict[int, _Fetch] = {}
        self._listing: set[int] = set()
        self._validating: set[int] = set()
        self._node_retry: dict[int, tuple[float, int]] = {}
        self._wake: TimerHandle | None = None
        self._closed = False
        self._scheduling = False
        self._again = False
        self._rotation = 0
        self._now = 0.0
        self._read_committed = cfg.isolation_level == "read_committed"
        self._isolation = 1 if self._read_committed else 0
        self._max_wait = cfg.fetch_max_wait
        self._max_wait_ms = int(cfg.fetch_max_wait * 1000)
        self._hurry_wait_ms = int(min(cfg.fetch_max_wait, _HURRY_WAIT) * 1000)
        self._hurry: set[int] = set()
        """Brokers with a partition that is not in the next fetch but soon will be."""
        self._lively: dict[int, float] = {}
        """Brokers whose fetches stay short until the time given (see _START_GRACE)."""
        self._starting: set[int] = set()
        """Brokers with a partition whose start position is being found or checked."""
        self._fresh: set[int] = set()
        """Brokers with a partition that started since their last Fetch was sent."""
        self._held = 0
        self._capped = False
        """The Fetch answer being read asked for at most _START_BYTES."""
        self._fetch_timeout = cfg.fetch_max_wait + cfg.request_timeout
        self._max_fetch_size = max(cfg.max_frame_size - _FRAME_HEADROOM, 1024)
        core.add_metadata_listener(self._on_metadata)

    # == user operations =================================================================

    def assign(self, topic: str, partition: int, offset: int, now: float, *,
               leader_epoch: int = -1, on_start: OnStart | None = None,
               stream: int | None = None, start_timeout: float | None = None) -> int:
        """Start fetching ``topic[partition]`` from ``offset``; returns the stream id.

        ``offset``: a literal offset, OFFSET_NEWEST or OFFSET_OLDEST. ``leader_epoch`` (of
        the record before ``offset``, when known) has the position validated first.
        ``start_timeout``: give up (``on_start`` with an error) if the partition has not
        started by then; None waits for as long as it takes.
        """
        self._tick(now)
        if self._closed:
            raise ObjectClosedError("the fetcher was closed")
        if not isinstance(offset, int) or offset < OFFSET_OLDEST:
            raise ConfigurationError(
                f"offset must be >= 0, OFFSET_NEWEST ({OFFSET_NEWEST}) or OFFSET_OLDEST "
                f"({OFFSET_OLDEST}); got {offset!r}")
        if not isinstance(partition, int) or partition < 0:
            raise ConfigurationError(f"partition must be an int >= 0; got {partition!r}")
        tp = (topic, partition)
        if tp in self._by_tp:
            raise AlreadyConsumingError(f"{topic}[{partition}] is already being consumed")
        if stream is None:
            stream = self.core.new_token()
        elif stream in self._parts:
            raise AlreadyConsumingError(f"stream id {stream} is already in use")
        st = PartitionState(stream, topic, partition, self.config.max_partition_fetch_bytes)
        st.on_start = on_start
        self._move_to(st, offset, leader_epoch)
        self._parts[stream] = st
        self._by_tp[tp] = st
        if start_timeout is not None:
            st.start_timer = self.core.timers.call_at(
                now + start_timeout, partial(self._start_timed_out, st))
        self._learn(st, now)
        if st.leader < 0:
            # add_topics asks for metadata; the schedule need not ask again right away.
            st.md_failures = 1
            st.retry_at = now + self._backoff(1)
        self.core.add_topics([topic], now)
        self._schedule(now)
        return stream

    @contextmanager
    def assigning(self, now: float) -> Iterator[None]:
        """Assign several partitions at once: nothing is sent until the block ends, so their
        start positions are looked up together (one ListOffsets per broker, not one for the
        first partition and another for the rest once it is answered)."""
        self._held += 1
        try:
            yield
        finally:
            self._held -= 1
            if not self._held:
                self._schedule(now)

    def unassign(self, stream: int, now: float) -> None:
        """Stop fetching for ``stream``; nothing more is reported for it."""
        self._tick(now)
        st = self._parts.pop(stream, None)
        if st is None:
            return
        if self._by_tp.get(st.tp) is st:
            del self._by_tp[st.tp]
        st.phase = STOPPED
        st.gen += 1
        if not st.started:
            self._start_failed(st, ClosedError(f"{st.topic}[{st.partition}] was unassigned"))
        if st.start_timer is not None:
            st.start_timer.cancel()

    def seek(self, stream: int, offset: int, now: float, leader_epoch: int = -1) -> None:
        """Continue from ``offset`` (literal, OFFSET_NEWEST or OFFSET_OLDEST). A fetch in
        flight is ignored when it answers (the generation moved); what was delivered and not
        released is forgotten: the reader drops it (events tagged with an older ``seeks``)."""
        self._tick(now)
        st = self._get(stream)
        if not isinstance(offset, int) or offset < OFFSET_OLDEST:
            raise ConfigurationError(f"cannot seek to offset {offset!r}")
        self._move_to(st, offset, leader_epoch)
        st.seeks += 1
        st.buffered = 0
        self._schedule(now)

    def report_moves(self, stream: int) -> None:
        """From now on, a fetch that moves ``stream``'s position without a message (only
        transaction markers or aborted records) emits an empty RecordsFetched, so a reader
        waiting for a position is woken."""
        self._get(stream).report_moves = True

    def seeks(self, stream: int) -> int:
        """How many seeks ``stream`` had (see ``RecordsFetched.seeks``)."""
        return self._get(stream).seeks

    def pause(self, streams: Iterable[int], now: float) -> None:
        """Stop fetching these partitions; their positions are kept."""
        self._tick(now)
        for stream in streams:
            st = self._parts.get(stream)
            if st is not None:
                st.paused = True

    def resume(self, streams: Iterable[int], now: float) -> None:
        self._tick(now)
        for stream in streams:
            st = self._parts.get(stream)
            if st is not None:
                st.paused = False
        self._schedule(now)

    def release(self, stream: int, size: int, now: float) -> None:
        """The reader took a ``RecordsFetched`` chunk of ``size`` bytes."""
        self._tick(now)
        st = self._parts.get(stream)
        if st is None:
            return
        bound = self.config.partition_buffer_bytes
        was_full = st.buffered >= bound
        st.buffered = max(0, st.buffered - size)
        st.active_at = now
        if was_full and st.buffered < bound:
            self._schedule(now)

    def close(self, now: float) -> None:
        """Unassign everything and stop."""
        if self._closed:
            return
        for stream in list(self._parts):
            self.unassign(stream, now)
        self._closed = True
        self.core.remove_metadata_listener(self._on_metadata)
        if self._wake is not None:
            self._wake.cancel()
            self._wake = None

    # -- queries ---------------------------------------------------------------------------

    def is_paused(self, stream: int) -> bool:
        return self._get(stream).paused

    def position(self, stream: int) -> int | None:
        """The next offset to fetch (after everything delivered), None while resolving."""
        st = self._get(stream)
        if st.phase == RESET or st.position < 0:
            return None
        return st.position

    def high_water_mark(self, stream: int) -> int:
        return self._get(stream).high_watermark

    def last_stable_offset(self, stream: int) -> int:
        return self._get(stream).last_stable_offset

    def buffered(self, stream: int) -> int:
        """Bytes delivered for ``stream`` and not yet released."""
        return self._get(stream).buffered

    def streams(self) -> list[int]:
        return list(self._parts)

    def topic_partition(self, stream: int) -> TopicPartition:
        return self._get(stream).tp

    def stream_of(self, topic: str, partition: int) -> int | None:
        st = self._by_tp.get((topic, partition))
        return st.stream if st is not None else None

    def _get(self, stream: int) -> PartitionState:
        st = self._parts.get(stream)
        if st is None:
            raise NotAssignedError(f"no partition is assigned as stream {stream}")
        return st

    # == state changes ===================================================================

    def _tick(self, now: float) -> None:
        if now > self._now:
            self._now = now

    def _time(self) -> float:
        """The time inside an engine callback (which is not given it)."""
        self._tick(self.core.now)
        return self._now

    def _move_to(self, st: PartitionState, offset: int, leader_epoch: int) -> None:
        st.gen += 1
        st.busy = None
        st.retry_at = 0.0
        st.fetch_size = self.config.max_partition_fetch_bytes
        if offset >= 0:
            st.position = offset
            st.position_epoch = leader_epoch
            st.phase = VALIDATE if leader_epoch >= 0 else FETCHING
        else:
            st.position = -1
            st.position_epoch = -1
            st.reset_to = offset
            st.phase = RESET
        if not st.started:
            st.start_offset = offset

    def _learn(self, st: PartitionState, now: float) -> None:
        """Take ``st``'s leader, epoch and topic id from the current metadata."""
        cluster = self.core.cluster
        topic = cluster.topics.get(st.topic)
        info = cluster.partition(st.topic, st.partition)
        if info is None:
            if topic is not None and not st.started and topic.partitions:
                self._start_failed(st, UnknownTopicOrPartitionError(
                    f"topic {st.topic!r} has {len(topic.partitions)} partition(s); "
                    f"there is no partition {st.partition}"))
            elif st.started and st.leader >= 0 and st.phase != STOPPED:
                # Gone from the metadata (deleted?): keep looking, but say so.
                code = cluster.topic_errors.get(st.topic, 3)
                self._report(st, error_for_code(code)(
                    f"{st.topic}[{st.partition}] is no longer in the cluster's metadata; "
                    f"waiting for it to come back"))
            self._set_leader(st, -1)
            return
        assert topic is not None
        epoch = info.leader_epoch
        if 0 <= epoch < st.leader_epoch:
            return  # older than what we know: a broker that has not caught up
        changed = info.leader != st.leader or epoch > st.leader_epoch
        if (st.leader_epoch >= 0 and epoch > st.leader_epoch and st.phase == FETCHING
                and st.position_epoch >= 0):
            log.info("%s[%d]: new leader %d (epoch %d); validating position %d of epoch %d",
                     st.topic, st.partition, info.leader, epoch, st.position, st.position_epoch)
            st.phase = VALIDATE
        if epoch > st.leader_epoch or epoch < 0:
            st.leader_epoch = epoch
        st.topic_id = topic.topic_id
        waiting = st.needs_metadata or st.leader < 0
        self._set_leader(st, info.leader)
        if waiting and info.leader >= 0:
            # Try again: at once if the metadata says something new, else after the backoff
            # (a broker's metadata may lag behind the leader change for a moment).
            st.needs_metadata = False
            if changed:
                st.retry_at = 0.0
                st.md_failures = 0

    def _set_leader(self, st: PartitionState, leader: int) -> None:
        if leader != st.leader:
            st.leader = leader
            st.replica = -1
            st.gen += 1
            st.busy = None

    def _route(self, st: PartitionState, now: float) -> int:
        """Where to fetch from: the preferred read replica while valid, else the leader."""
        if st.replica >= 0:
            if now < st.replica_until and self.core.cluster.broker(st.replica) is not None:
                return st.replica
            st.replica = -1
            st.gen += 1
        return st.leader

    def _started(self, st: PartitionState, offset: int) -> None:
        if st.started:
            return
        st.started = True
        if st.leader >= 0:
            self._lively[st.leader] = self._now + _START_GRACE
            self._fresh.add(st.leader)
        if st.start_timer is not None:
            st.start_timer.cancel()
            st.start_timer = None
        if st.on_start is not None:
            st.on_start(st.stream, offset, None)

    def _start_failed(self, st: PartitionState, error: BaseException) -> None:
        if st.started:
            return
        st.started = True  # on_start runs once
        st.phase = STOPPED
        if st.start_timer is not None:
            st.start_timer.cancel()
            st.start_timer = None
        if st.on_start is not None:
            st.on_start(st.stream, -1, error)

    def _start_timed_out(self, st: PartitionState, now: float) -> None:
        st.start_timer = None
        if st.started or self._parts.get(st.stream) is not st:
            return
        where = f"{st.topic}[{st.partition}]"
        if self.core.cluster.topics.get(st.topic) is None:
            code = self.core.cluster.topic_errors.get(st.topic, 3)
            error: BaseException = error_for_code(code)(
                f"topic {st.topic!r} is not in the cluster's metadata")
        elif st.leader < 0:
            error = ClientTimeoutError(f"{where} has no leader")
        else:
            error = ClientTimeoutError(f"{where} did not start before the deadline "
                                       f"(phase {st.phase}, leader {st.leader})")
        self._start_failed(st, error)

    def _stop(self, st: PartitionState, error: BaseException) -> None:
        """``st`` cannot continue: report it (or fail its start)."""
        log.warning("%s[%d] stopped: %s", st.topic, st.partition, error)
        if not st.started:
            self._start_failed(st, error)
            return
        st.phase = STOPPED
        st.gen += 1
        self.core.emit(FetchError(st.stream, st.topic, st.partition, error, True))

    def report_everywhere(self, error: BaseException) -> None:
        """An error that concerns every partition being consumed (an authentication
        failure): each started stream hears of it and keeps fetching, so fixed credentials
        (or a passing fault) let it go on."""
        for st in list(self._parts.values()):
            if st.started and st.phase != STOPPED:
                self._report(st, error)

    def _report(self, st: PartitionState, error: BaseException) -> None:
        self.core.emit(FetchError(st.stream, st.topic, st.partition, error, False))

    def _retry_later(self, st: PartitionState, now: float) -> None:
        st.failures += 1
        st.retry_at = now + self._backoff(st.failures)

    def _want_metadata(self, st: PartitionState, now: float) -> None:
        st.needs_metadata = True
        st.md_failures += 1
        st.retry_at = now + self._backoff(st.md_failures)
        self._arm(st.retry_at)
        self.core.request_metadata_update(now)

    def _range_detail(self, start: int, end: int) -> str:
        """What is known of a partition's log bounds, for a message; unknown ones left out."""
        end_name = "last stable offset" if self._read_committed else "high water mark"
        known = [f"{name} {value}" for name, value in (("log start", start), (end_name, end))
                 if value >= 0]
        return f" ({', '.join(known)})" if known else ""

    def _out_of_range(self, st: PartitionState, now: float, cause: str = "") -> None:
        policy = self.config.auto_offset_reset
        where = f"{st.topic}[{st.partition}]"
        if policy == "none":
            self._stop_out_of_range(st, now, cause)
            return
        detail = cause + self._range_detail(st.log_start_offset, st.high_watermark)
        target = OFFSET_OLDEST if policy == "earliest" else OFFSET_NEWEST
        log.info("%s: offset %d is out of range%s; resetting to the %s offset", where,
                 st.position, detail, "oldest" if target == OFFSET_OLDEST else "newest")
        keep_start = st.start_offset
        self._move_to(st, target, -1)
        st.start_offset = keep_start

    def _stop_out_of_range(self, st: PartitionState, now: float, cause: str) -> None:
        """Stop ``st`` at an out-of-range position, with the log's true bounds in the error.

        A Fetch that fails with OFFSET_OUT_OF_RANGE carries -1 for both bounds, so the
        leader is asked for the oldest and newest offsets (two ListOffsets requests: one may
        not name a partition twice) before the partition stops. The partition fetches
        nothing meanwhile; a seek or unassign in between wins over the late report."""
        position = st.position
        st.phase = STOPPED
        st.gen += 1
        gen = st.gen
        node = st.leader
        found = {OFFSET_OLDEST: st.log_start_offset, OFFSET_NEWEST: st.high_watermark}
        waiting = {OFFSET_OLDEST, OFFSET_NEWEST}
        why: list[str] = []

        def report() -> None:
            detail = cause + self._range_detail(found[OFFSET_OLDEST], found[OFFSET_NEWEST])
            if why:
                detail += f" (log bounds not known: {why[0]})"
            self._stop(st, OffsetOutOfRangeError(
                f"{st.topic}[{st.partition}]: offset {position} is out of range{detail}"))

        if node < 0 or self._closed:
            why.append("no leader known")
            report()
            return

        def ask(timestamp: int) -> None:
            def build(version: int) -> Any:
                chosen.append(version)
                return list_offsets_request(
                    [(st.topic, st.partition, st.leader_epoch, timestamp)],
                    isolation_level=self._isolation,
                    timeout_ms=int(self.config.request_timeout * 1000))

            def done(resp: Any, err: BaseException | None) -> None:
                waiting.discard(timestamp)
                if err is not None:
                    why.append(str(err))
                else:
                    for _, _, code, offset, _ in list_offsets_results(resp, chosen[-1]):
                        if code:
                            why.append(str(error_for_code(code)(
                                f"ListOffsets from broker {node}")))
                        elif offset >= 0:
                            found[timestamp] = offset
                if waiting or self._closed or self._parts.get(st.stream) is not st \
                        or st.gen != gen:
                    return
                report()
                self._schedule(self._time())

            chosen: list[int] = []
            self.core.send(node, LIST_OFFSETS, build, done, now)

        ask(OFFSET_OLDEST)
        ask(OFFSET_NEWEST)

    def _truncated(self, st: PartitionState, end_offset: int, epoch: int, now: float) -> None:
        where = f"{st.topic}[{st.partition}]"
        error = LogTruncationError(
            f"{where}: the leader's log diverges from offset {end_offset} (epoch {epoch}); "
            f"the consumer had read up to {st.position} (epoch {st.position_epoch})",
            offset=end_offset)
        if self.config.auto_offset_reset == "none":
            self._stop(st, error)
            return
        log.warning("%s; continuing from %d", error, end_offset)
        if st.started:
            self._report(st, error)
        self._move_to(st, end_offset, epoch)
        st.phase = FETCHING

    # == scheduling ======================================================================

    def _schedule(self, now: float) -> None:
        """Send every request that is due. Re-entrant calls (a request failing at once)
        make the outer call go round again instead of nesting."""
        self._tick(now)
        if self._held:
            return  # `assigning` schedules when it ends
        if self._scheduling:
            self._again = True
            return
        self._scheduling = True
        try:
            rounds = 0
            while True:
                self._again = False
                self._plan(self._now)
                rounds += 1
                if not self._again or rounds >= 8:
                    break
        finally:
            self._scheduling = False

    def _plan(self, now: float) -> None:
        if self._closed:
            return
        bound = self.config.partition_buffer_bytes
        fetches: dict[int, list[PartitionState]] = {}
        lists: dict[int, list[PartitionState]] = {}
        validations: dict[int, list[PartitionState]] = {}
        wake = float("inf")
        metadata = False
        hurry: set[int] = set()
        starting: set[int] = set()
        for st in self._parts.values():
            phase = st.phase
            if phase == STOPPED:
                continue
            if st.leader < 0 or st.needs_metadata:
                if st.retry_at > now:
                    wake = min(wake, st.retry_at)
                    continue
                metadata = True
                st.md_failures += 1
                st.retry_at = now + self._backoff(st.md_failures)
                wake = min(wake, st.retry_at)
                continue
            if st.retry_at > now:
                wake = min(wake, st.retry_at)
                continue
            if phase == FETCHING:
                if st.paused:
                    continue
                if st.buffered >= bound:
                    # Fetchable again once its reader releases a chunk: while the reader is
                    # draining it, keep the broker's other fetches short. A reader that took
                    # nothing for fetch_max_wait is not waited for (no polling for it).
                    if now - st.active_at < self._max_wait:
                        hurry.add(st.replica if st.replica >= 0 else st.leader)
                    continue
                fetches.setdefault(self._route(st, now), []).append(st)
            elif st.busy is not None:
                if not st.paused:  # a start position on its way: fetchable soon
                    starting.add(st.leader)
                continue
            elif phase == RESET:
                lists.setdefault(st.leader, []).append(st)
                if not st.paused:
                    starting.add(st.leader)
            elif phase == VALIDATE:
                validations.setdefault(st.leader, []).append(st)
                if not st.paused:
                    starting.add(st.leader)
        self._hurry = hurry | starting
        self._starting = starting
        for node, parts in lists.items():
            if node not in self._listing:
                wake = min(wake, self._send_if_ready(node, now, self._send_list_offsets, parts))
        for node, parts in validations.items():
            if node not in self._validating:
                wake = min(wake, self._send_if_ready(node, now, self._send_validation, parts))
        for node, parts in fetches.items():
            if node not in self._fetching:
                wake = min(wake, self._send_if_ready(node, now, self._send_fetch, parts))
        if metadata:
            self.core.request_metadata_update(now)
        if wake != float("inf"):
            self._arm(wake)

    def _send_if_ready(self, node: int, now: float,
                       send: Callable[[int, list[PartitionState], float], None],
                       parts: list[PartitionState]) -> float:
        until, _ = self._node_retry.get(node, (0.0, 0))
        if until > now:
            return until
        send(node, parts, now)
        return float("inf")

    def _arm(self, when: float) -> None:
        if self._wake is not None and not self._wake.cancelled and self._wake.when <= when:
            return
        if self._wake is not None:
            self._wake.cancel()
        self._wake = self.core.timers.call_at(when, self._on_wake)

    def _on_wake(self, now: float) -> None:
        self._wake = None
        self._schedule(now)

    def _backoff(self, failures: int) -> float:
        return retry_backoff(self.config, self.core.rng, failures)

    def _node_failed(self, node: int, now: float, error: BaseException) -> None:
        _, failures = self._node_retry.get(node, (0.0, 0))
        failures += 1
        delay = self._backoff(failures)
        self._node_retry[node] = (now + delay, failures)
        log.info("broker %d: %s; retrying in %.3fs", node, error, delay)
        self._arm(now + delay)

    def _on_metadata(self, now: float) -> None:
        self._tick(now)
        for st in list(self._parts.values()):
            self._learn(st, now)
        self._schedule(now)

    # == Fetch ===========================================================================

    def _session(self, node: int) -> FetchSession:
        session = self._sessions.get(node)
        if session is None:
            session = self._sessions[node] = FetchSession(node, self.config.use_fetch_sessions)
        return session

    def _send_fetch(self, node: int, parts: list[PartitionState], now: float) -> None:
        fetch = _Fetch(node)
        n = len(parts)
        if n > 1:  # rotate, so a full response does not always favour the same partitions
            start = self._rotation % n
            self._rotation += 1
            parts = parts[start:] + parts[:start]
        session = self._session(node)
        sent = session.sent
        wanted: dict[TopicPartition, PartitionParams] = {}
        topic_ids = True
        biggest = 0
        for st in parts:
            # Reuse the parameters the session last sent while they still hold (an idle
            # partition's do): no frozen dataclass built per partition per Fetch (21,642
            # built in the simulator's 30-minute mixed run, now 691), and session.prepare
            # compares them by identity.
            p = sent.get(st.tp)
            if p is None or p.fetch_offset != st.position or p.leader_epoch != st.leader_epoch \
                    or p.max_bytes != st.fetch_size or p.topic_id != st.topic_id:
                p = PartitionParams(st.position, st.leader_epoch, st.fetch_size, st.topic_id)
            wanted[st.tp] = p
            fetch.entries[st.tp] = (st, st.gen, st.position)
            fetch.ids[st.topic_id] = st.topic
            if st.topic_id == ZERO_ID:
                topic_ids = False
            biggest = max(biggest, st.fetch_size)
        cfg = self.config
        max_version = cfg.fetch_max_version
        if not topic_ids:
            max_version = 12 if max_version is None else min(12, max_version)
        max_bytes = max(cfg.fetch_max_bytes, biggest)
        # The full long poll only when no other partition of this broker is about to need a
        # fetch (see _HURRY_WAIT).
        hurry = node in self._hurry
        small = node in self._starting or node in self._fresh
        self._fresh.discard(node)
        lively = self._lively.get(node)
        if lively is not None:
            if lively > now:
                hurry = True
            else:
                del self._lively[node]
        max_wait_ms = self._hurry_wait_ms if hurry else self._max_wait_ms
        if small and max_bytes > _START_BYTES:  # see _START_BYTES
            max_bytes = _START_BYTES
            fetch.capped = True

        def build(version: int) -> Any:
            request = session.prepare(wanted, version >= 13)
            fetch.session_request = request
            fetch.version = version
            return fetch_request(request, max_wait_ms=max_wait_ms,
                                 min_bytes=cfg.fetch_min_bytes, max_bytes=max_bytes,
                                 isolation_level=self._isolation, rack=cfg.rack)

        self._fetching[node] = fetch
        self.core.send(node, FETCH, build, partial(self._fetch_done, fetch), now,
                       timeout=self._fetch_timeout, max_version=max_version)

    def _fetch_done(self, fetch: _Fetch, resp: Any, err: BaseException | None) -> None:
        now = self._time()
        node = fetch.node
        if self._fetching.get(node) is fetch:
            del self._fetching[node]
        if self._closed:
            return
        session = self._session(node)
        if err is not None:
            session.failed()
            self._node_failed(node, now, err)
            if isinstance(err, NoCommonVersionError):
                for st, gen, _ in fetch.entries.values():
                    if st.gen == gen and self._parts.get(st.stream) is st:
                        self._stop(st, err)
            self._schedule(now)
            return
        code = resp.error_code
        if code:
            error = error_for_code(code)(f"Fetch from broker {node}")
            session.failed(session_lost=code == FETCH_SESSION_ID_NOT_FOUND)
            if code in (FETCH_SESSION_ID_NOT_FOUND, INVALID_FETCH_SESSION_EPOCH,
                        FETCH_SESSION_TOPIC_ID_ERROR):
                log.debug("broker %d: %s; starting a new fetch session", node, error)
            else:
                self._node_failed(node, now, error)
            self._schedule(now)
            return
        if fetch.session_request is not None:
            session.succeeded(fetch.session_request, resp.session_id)
        self._node_retry.pop(node, None)
        by_id = fetch.version >= 13
        self._capped = fetch.capped
        failed: set[TopicPartition] = set()
        for topic in resp.responses:
            name = fetch.ids.get(topic.topic_id) if by_id else topic.topic
            if name is None:
                continue
            for pdata in topic.partitions:
                tp = (name, pdata.partition_index)
                entry = fetch.entries.get(tp)
                if entry is None:
                    continue
                if pdata.error_code:
                    failed.add(tp)
                st, gen, offset = entry
                if (self._parts.get(st.stream) is not st or st.gen != gen
                        or st.position != offset or st.phase != FETCHING or st.paused):
                    continue
                if not pdata.error_code and not st.started:
                    self._started(st, offset)
                self._partition_done(st, pdata, node, fetch.version, now)
        # A partition without an error (or left out: unchanged in the session) has a valid
        # position: its start is confirmed.
        for tp, (st, gen, offset) in fetch.entries.items():
            if not st.started and st.gen == gen and st.phase == FETCHING and tp not in failed:
                self._started(st, offset)
        self._schedule(now)

    def _partition_done(self, st: PartitionState, p: Any, node: int, version: int,
                        now: float) -> None:
        if p.high_watermark >= 0:
            st.high_watermark = p.high_watermark
        if p.last_stable_offset >= 0:
            st.last_stable_offset = p.last_stable_offset
        if p.log_start_offset >= 0:
            st.log_start_offset = p.log_start_offset
        code = p.error_code
        if code == 0:
            st.failures = 0
            st.md_failures = 0
            if version >= 11 and p.preferred_read_replica >= 0 \
                    and p.preferred_read_replica != node:
                log.debug("%s[%d]: fetching from replica %d", st.topic, st.partition,
                          p.preferred_read_replica)
                st.replica = p.preferred_read_replica
                st.replica_until = now + self.config.metadata_max_age
                st.gen += 1
            if version >= 12 and p.diverging_epoch.epoch >= 0:
                self._truncated(st, p.diverging_epoch.end_offset, p.diverging_epoch.epoch, now)
                return
            if p.records:
                self._deliver(st, p, now)
            return
        from_replica = node != st.leader
        if from_replica:
            # The follower cannot serve us (behind, or out of sync): back to the leader.
            st.replica = -1
            st.gen += 1
            return
        if code == OFFSET_OUT_OF_RANGE:
            self._out_of_range(st, now)
            return
        error = error_for_code(code)(f"Fetch {st.topic}[{st.partition}] from broker {node}")
        if code in _METADATA_ERRORS:
            log.debug("%s; refreshing metadata", error)
            self._want_metadata(st, now)
            return
        self._failed(st, error, now)

    def _failed(self, st: PartitionState, error: KafkaError, now: float) -> None:
        """A partition error that no metadata refresh will fix."""
        if error.retriable:
            self._report(st, error)
            self._retry_later(st, now)
        else:
            self._stop(st, error)

    def _deliver(self, st: PartitionState, p: Any, now: float) -> None:
        data = p.records
        decoded = decode_partition(
            st.topic, st.partition, data, st.position,
            read_committed=self._read_committed, aborted=p.aborted_transactions,
            last_stable_offset=p.last_stable_offset if self._read_committed else -1,
            check_crcs=self.config.check_crcs,
            max_decompressed_bytes=self.config.max_decompressed_batch_size)
        if decoded.partial:
            needed = decoded.needed_bytes
            if needed <= st.fetch_size:
                if self._capped:
                    return  # cut by a start's small Fetch (_START_BYTES): ask again as is
                needed = st.fetch_size * 2  # the response, not the partition, was full
            if needed > self._max_fetch_size:
                self._stop(st, RecordBatchTooLargeError(
                    f"{st.topic}[{st.partition}] offset {st.position}: a record batch of "
                    f"{decoded.needed_bytes} bytes does not fit in max_frame_size "
                    f"({self.config.max_frame_size} bytes)"))
                return
            log.debug("%s[%d]: batch at %d needs %d bytes, fetching again", st.topic,
                      st.partition, st.position, needed)
            st.fetch_size = needed
            return
        st.fetch_size = self.config.max_partition_fetch_bytes
        moved = decoded.next_offset != st.position
        if moved:
            st.position = decoded.next_offset
            if decoded.last_epoch >= 0:
                st.position_epoch = decoded.last_epoch
        if decoded.messages:
            size = len(data)
            st.buffered += size
            st.active_at = now
            self.core.emit(RecordsFetched(st.stream, st.topic, st.partition,
                                          tuple(decoded.messages), st.high_watermark, size,
                                          st.seeks))
        elif moved and st.report_moves:  # only markers or aborted records moved it
            self.core.emit(RecordsFetched(st.stream, st.topic, st.partition, (),
                                          st.high_watermark, 0, st.seeks))
        if decoded.error is not None:
            self._stop(st, decoded.error)

    # == ListOffsets =====================================================================

    def _send_list_offsets(self, node: int, parts: list[PartitionState], now: float) -> None:
        entries = {st.tp: (st, st.gen, st.reset_to) for st in parts}
        marker = object()
        for st in parts:
            st.busy = marker
        chosen: list[int] = []

        def build(version: int) -> Any:
            chosen.append(version)
            return list_offsets_request(
                [(name, partition, st.leader_epoch, reset_to)
                 for (name, partition), (st, _, reset_to) in entries.items()],
                isolation_level=self._isolation,
                timeout_ms=int(self.config.request_timeout * 1000))

        def done(resp: Any, err: BaseException | None) -> None:
            self._listing.discard(node)
            self._list_offsets_done(node, entries, marker, chosen[-1] if chosen else -1,
                                    resp, err)

        self._listing.add(node)
        self.core.send(node, LIST_OFFSETS, build, done, now)

    def _list_offsets_done(self, node: int,
                           entries: dict[TopicPartition, tuple[PartitionState, int, int]],
                           marker: object, version: int, resp: Any,
                           err: BaseException | None) -> None:
        now = self._time()
        for st, _, _ in entries.values():
            if st.busy is marker:
                st.busy = None
        if self._closed:
            return
        if err is not None:
            self._node_failed(node, now, err)
            if isinstance(err, NoCommonVersionError):
                for st, gen, _ in entries.values():
                    if st.gen == gen:
                        self._stop(st, err)
            self._schedule(now)
            return
        for name, partition, code, offset, epoch in list_offsets_results(resp, version):
            entry = entries.get((name, partition))
            if entry is None:
                continue
            st, gen, reset_to = entry
            if self._parts.get(st.stream) is not st or st.gen != gen or st.phase != RESET:
                continue
            if code == 0:
                if offset < 0:
                    self._retry_later(st, now)
                    continue
                st.position = offset
                st.position_epoch = epoch
                st.phase = FETCHING
                st.gen += 1
                st.failures = 0
                if reset_to == OFFSET_NEWEST and not self._read_committed:
                    st.high_watermark = max(st.high_watermark, offset)
                self._started(st, offset)
                continue
            error = error_for_code(code)(f"ListOffsets {name}[{partition}] from broker {node}")
            if code in _METADATA_ERRORS:
                self._want_metadata(st, now)
            else:
                self._failed(st, error, now)
        self._schedule(now)

    # == OffsetForLeaderEpoch (KIP-320) ==================================================

    def _send_validation(self, node: int, parts: list[PartitionState], now: float) -> None:
        entries = {st.tp: (st, st.gen, st.position) for st in parts}
        epochs = {st.tp: (st.leader_epoch, st.position_epoch) for st in parts}
        marker = object()
        for st in parts:
            st.busy = marker

        def build(version: int) -> Any:
            return epoch_request([(name, partition, current, last)
                                  for (name, partition), (current, last) in epochs.items()])

        def done(resp: Any, err: BaseException | None) -> None:
            self._validating.discard(node)
            self._validation_done(node, entries, marker, resp, err)

        self._validating.add(node)
        self.core.send(node, OFFSET_FOR_LEADER_EPOCH, build, done, now,
                       min_version=VALIDATION_MIN_VERSION)

    def _validation_done(self, node: int,
                         entries: dict[TopicPartition, tuple[PartitionState, int, int]],
                         marker: object, resp: Any, err: BaseException | None) -> None:
        now = self._time()
        for st, _, _ in entries.values():
            if st.busy is marker:
                st.busy = None
        if self._closed:
            return
        if err is not None:
            if isinstance(err, NoCommonVersionError):
                log.info("broker %d cannot validate positions (%s); fetching without", node,
                         err)
                for st, gen, _ in entries.values():
                    if st.gen == gen and st.phase == VALIDATE:
                        st.phase = FETCHING
            else:
                self._node_failed(node, now, err)
            self._schedule(now)
            return
        for name, partition, code, epoch, end_offset in epoch_results(resp):
            entry = entries.get((name, partition))
            if entry is None:
                continue
            st, gen, position = entry
            if (self._parts.get(st.stream) is not st or st.gen != gen
                    or st.phase != VALIDATE or st.position != position):
                continue
            if code == 0:
                st.failures = 0
                if end_offset < 0 or epoch < 0:
                    self._out_of_range(
                        st, now, f" (the leader has no record of epoch {st.position_epoch})")
                elif end_offset < st.position:
                    self._truncated(st, end_offset, epoch, now)
                else:
                    log.debug("%s[%d]: position %d is valid (epoch %d ends at %d)",
                              name, partition, st.position, epoch, end_offset)
                    st.phase = FETCHING
                continue
            error = error_for_code(code)(
                f"OffsetForLeaderEpoch {name}[{partition}] from broker {node}")
            if code in _METADATA_ERRORS:
                self._want_metadata(st, now)
            else:
                self._failed(st, error, now)
        self._schedule(now)
