"""Fetch sessions (KIP-227): what each broker remembers of its incremental fetchers.

Theory of operation: a session has an id, the epoch the next request must carry, and the
partitions it fetches (topic name and id, partition, fetch offset, partition max bytes, and
the high watermark and log start offset last sent, so that an
incremental response leaves out partitions with nothing new). The Fetch handler applies
Kafka's rules (``FetchManager.newContext``): session id 0 and epoch 0 open a full session,
epoch -1 fetches without one (closing the named session), a positive epoch continues the
named session (FETCH_SESSION_ID_NOT_FOUND if unknown, INVALID_FETCH_SESSION_EPOCH if the
epoch is not the expected one). Ids come from the cluster's ``random.Random``; at most
``slots`` sessions live at once (Kafka's max.incremental.fetch.session.cache.slots), beyond
that a full fetch gets session id 0. Pure state, no clock.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field

__all__ = ["CachedPartition", "FetchSession", "FetchSessions"]


@dataclass(eq=False)
class CachedPartition:
    topic: str
    topic_id: uuid.UUID
    partition: int
    fetch_offset: int
    max_bytes: int
    current_leader_epoch: int = -1
    high_watermark: int = -1
    log_start_offset: int = -1


@dataclass(eq=False)
class FetchSession:
    session_id: int
    node: int
    uses_topic_ids: bool
    epoch: int = 1
    partitions: dict[tuple[str, int], CachedPartition] = field(default_factory=dict)


class FetchSessions:
    def __init__(self, slots: int, rng: random.Random) -> None:
        self.slots = slots
        self.rng = rng
        self.sessions: dict[int, FetchSession] = {}

    def create(self, node: int, uses_topic_ids: bool) -> FetchSession | None:
        if len(self.sessions) >= self.slots:
            return None
        while True:
            sid = self.rng.randrange(1, 0x7FFFFFFF)
            if sid not in self.sessions:
                break
        session = FetchSession(sid, node, uses_topic_ids)
        self.sessions[sid] = session
        return session

    def get(self, session_id: int, node: int) -> FetchSession | None:
        s = self.sessions.get(session_id)
        return s if s is not None and s.node == node else None

    def remove(self, session_id: int) -> None:
        self.sessions.pop(session_id, None)

    def drop_broker(self, node: int) -> None:
        for sid in [s for s, v in self.sessions.items() if v.node == node]:
            del self.sessions[sid]
