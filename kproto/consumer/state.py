# Theory of operation: the record the fetcher keeps for each assigned partition. It owns no
# behaviour; the Fetcher moves it. `phase` says what the partition waits for (RESET: its
# position from ListOffsets; VALIDATE: a check of its position against a new leader epoch;
# FETCH; STOPPED: an error it cannot get past). `gen` is bumped whenever the position or
# the broker serving the partition changes, so a response to an older request is ignored.
"""Per-partition consumption state."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from kproto.engine.timers import TimerHandle
from kproto.message_types import OFFSET_NEWEST

__all__ = ["FETCHING", "RESET", "STOPPED", "VALIDATE", "OnStart", "PartitionState"]

RESET = "reset"
VALIDATE = "validate"
FETCHING = "fetch"
STOPPED = "stopped"

ZERO_ID = uuid.UUID(int=0)

OnStart = Callable[[int, int, "BaseException | None"], None]
"""``on_start(stream, offset, error)``: the start offset, or why the partition cannot start."""


class PartitionState:
    """Everything the fetcher knows about one assigned partition."""

    __slots__ = ("active_at", "buffered", "busy", "failures", "fetch_size", "gen", "high_watermark",
                 "last_stable_offset", "leader", "leader_epoch", "log_start_offset",
                 "md_failures", "needs_metadata", "on_start", "partition", "paused", "phase",
                 "position", "position_epoch", "replica", "replica_until", "report_moves", "reset_to",
                 "retry_at", "seeks", "start_offset", "start_timer", "started", "stream", "topic",
                 "topic_id", "tp")

    def __init__(self, stream: int, topic: str, partition: int, fetch_size: int) -> None:
        self.stream = stream
        self.topic = topic
        self.partition = partition
        self.tp = (topic, partition)
        self.phase = FETCHING
        self.reset_to = OFFSET_NEWEST
        """The ListOffsets timestamp of a RESET: OFFSET_NEWEST (-1) or OFFSET_OLDEST (-2)."""
        self.position = -1
        """The next offset to fetch."""
        self.position_epoch = -1
        """The leader epoch of the record before ``position``, -1 when unknown."""
        self.start_offset = -1
        self.leader = -1
        self.leader_epoch = -1
        """The newest leader epoch seen in metadata (sent as current_leader_epoch)."""
        self.topic_id = ZERO_ID
        self.replica = -1
        """A preferred read replica (KIP-392) while ``replica_until`` has not passed."""
        self.replica_until = 0.0
        self.high_watermark = -1
        self.last_stable_offset = -1
        self.log_start_offset = -1
        self.paused = False
        self.buffered = 0
        """Bytes delivered and not released by the reader yet."""
        self.active_at = 0.0
        """When records were last delivered or released: a full buffer whose reader took a
        chunk lately is draining and will be fetchable soon."""
        self.fetch_size = fetch_size
        self.gen = 0
        self.seeks = 0
        self.report_moves = False
        """Emit an empty RecordsFetched when only markers or aborted records moved the
        position (a reader waiting for a position, such as stop_at_end, asked for it)."""
        """How many times ``Fetcher.seek`` moved it: tags its RecordsFetched events, so a
        reader drops what was fetched before its latest seek."""
        self.busy: object | None = None
        """The ListOffsets or OffsetForLeaderEpoch request covering the partition."""
        self.retry_at = 0.0
        self.failures = 0
        self.needs_metadata = False
        self.md_failures = 0
        self.on_start: OnStart | None = None
        self.started = False
        self.start_timer: TimerHandle | None = None

    def __repr__(self) -> str:
        return (f"<partition {self.topic}[{self.partition}] stream={self.stream} {self.phase} "
                f"position={self.position} leader={self.leader}/{self.leader_epoch}>")
