"""What the group core tells its adapter, and the values a session hands out.

Every event names its group (``group``, the id of the :class:`~kproto.group.core.GroupCore`)
and, where it matters, the session, so several groups sharing one engine each pick out their
own. Messages for a claim arrive as the fetch engine's ``RecordsFetched`` / ``FetchError``
events, named by the claim's ``stream``.
"""

from __future__ import annotations

from dataclasses import dataclass

from kproto.events import Event

__all__ = [
    "ClaimInfo",
    "ClaimsStarted",
    "ClaimsStopping",
    "GroupError",
    "SessionAbandonedError",
    "SessionDrained",
    "SessionInfo",
]

from kproto.errors import KprotoError


class SessionAbandonedError(KprotoError):
    """Claim loops did not return within the rebalance timeout after being told to stop; the
    session was given up on without waiting for them (and without calling cleanup)."""


@dataclass(frozen=True, slots=True)
class ClaimInfo:
    """One partition a session consumes: fetched under ``stream`` from ``initial_offset``.
    ``error`` is set when the partition could not start (its messages stream raises it)."""

    stream: int
    topic: str
    partition: int
    initial_offset: int
    error: BaseException | None = None


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """A session that has joined and claimed its partitions."""

    group: int
    session: int
    member_id: str
    generation_id: int
    claims: tuple[ClaimInfo, ...]


@dataclass(frozen=True, slots=True)
class ClaimsStopping(Event):
    """End the ``messages`` of these claims now: the session is ending (a rebalance, a claim
    loop returned, the caller cancelled, the group closes) or, with cooperative rebalancing,
    these partitions were revoked. Their claim loops must return."""

    group: int
    session: int
    streams: tuple[int, ...]
    reason: str


@dataclass(frozen=True, slots=True)
class ClaimsStarted(Event):
    """Cooperative rebalancing gave the running session more partitions: run their claims.
    ``generation_id`` is the generation that assigned them (later than the session's
    ``SessionInfo.generation_id``: a cooperative session outlives generations)."""

    group: int
    session: int
    claims: tuple[ClaimInfo, ...]
    generation_id: int


@dataclass(frozen=True, slots=True)
class SessionDrained(Event):
    """Every claim loop of the ending session returned (``abandoned`` is empty), or the
    rebalance timeout passed first (``abandoned`` lists the claims still running and
    ``error`` says so). Next: ``cleanup`` (unless abandoned), then ``finish_session``."""

    group: int
    session: int
    abandoned: tuple[int, ...]
    error: BaseException | None


@dataclass(frozen=True, slots=True)
class GroupError(Event):
    """An error for the group's ``errors`` stream (commit failures, fetch errors, lost
    membership); the group carries on."""

    group: int
    error: BaseException
    topic: str | None = None
    partition: int | None = None

    def __str__(self) -> str:
        where = f"{self.topic}[{self.partition}]: " if self.topic is not None else ""
        return f"{where}{self.error}"
