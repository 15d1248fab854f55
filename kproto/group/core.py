"""The consumer group's session lifecycle: join, claim, consume, wind down, commit, rejoin.

Theory of operation: :class:`GroupCore` owns one member of one group: its
:class:`~kproto.group.membership.Membership` (join/sync/heartbeats), its
:class:`~kproto.group.offsets.OffsetBook` (marks and commits), a
:class:`~kproto.consumer.Fetcher` for its claims, and at most one session. A session moves
JOINING -> RUNNING -> STOPPING -> DRAINED -> (finished):

- ``consume(topics, now)`` starts one: join the group, fetch the committed offsets of the
  assigned partitions (oldest or newest when none, by ``auto_offset_reset``), start a fetch
  stream per partition (a claim), and complete the token with a :class:`SessionInfo`.
- RUNNING ends when a claim loop returns on its own (``claim_finished``), when the adapter
  stops it (``stop_session``: the caller cancelled, the group closes), when a rebalance
  starts (eager protocol), when the subscription changes (a topic pattern matches other
  topics, partitions were added) or when the membership is lost. Ending emits
  ``ClaimsStopping`` for every claim; once every claim loop has returned (or the rebalance
  timeout passed: ``abandoned``), ``SessionDrained``. The adapter then runs ``cleanup`` and
  calls ``finish_session``, which commits the marked offsets (the final commit) and stops
  the heartbeats; the next ``consume`` rejoins.
- With cooperative rebalancing (KIP-429) a rebalance does not end the session: the member
  rejoins in the background listing the partitions it keeps; after the sync, revoked claims
  get ``ClaimsStopping``, their marks are committed once their loops return, and the member
  rejoins again so others can take them; new partitions arrive as ``ClaimsStarted``.

Offsets: ``mark_offset``/``reset_offset`` record progress of claimed partitions, committed
every ``auto_commit_interval`` while the session runs (when enabled), on ``commit`` and at
the session's end. Errors that do not end the session (commit failures, fetch errors) are
emitted as ``GroupError`` for the group's errors stream.

An unreachable cluster or a failed authentication ends a join: an AuthenticationError from
the engine at once, a ClusterUnreachableError when FindCoordinator gives up or, at the
latest, once ``metadata_max_wait`` has passed with no broker reachable; a commit or close
that finds no broker reachable reports that cause.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from functools import partial
from typing import Any

from kproto.config import Config
from kproto.consumer import Fetcher
from kproto.engine.client import ClientCore
from kproto.engine.timers import TimerHandle
from kproto.errors import (
    AlreadyConsumingError,
    AuthenticationError,
    ClientTimeoutError,
    ClosedError,
    ConfigurationError,
    FencedInstanceIdError,
    KafkaError,
    KprotoError,
    ObjectClosedError,
)
from kproto.group.assignors import Assignment, Assignor, TopicPartition, assignor_for
from kproto.group.coordinator import CoordinatorLink, engine_now
from kproto.group.events import (
    ClaimInfo,
    ClaimsStarted,
    ClaimsStopping,
    GroupError,
    SessionAbandonedError,
    SessionDrained,
    SessionInfo,
)
from kproto.group.membership import Membership
from kproto.group.metadata import ConsumerGroupMetadata
from kproto.group.offsets import Committed, OffsetBook
from kproto.message_types import OFFSET_NEWEST, OFFSET_OLDEST, ConsumerMessage

__all__ = ["GroupCore", "NoCommittedOffsetError", "Topics"]

log = logging.getLogger("kproto.group")

JOINING, RUNNING, STOPPING, DRAINED = "joining", "running", "stopping", "drained"

Topics = Sequence[str] | str | re.Pattern[str]
"""What ``consume`` accepts: topic names, one name, or a compiled regular expression matched
(in full) against every topic in the cluster, re-evaluated on each metadata refresh."""


class NoCommittedOffsetError(KprotoError):
    """A claimed partition has no committed offset and ``auto_offset_reset`` is ``none``."""


class _Claim:
    __slots__ = ("error", "finished", "hwm", "initial_offset", "revoking", "stream", "tp")

    def __init__(self, stream: int, tp: TopicPartition) -> None:
        self.stream = stream
        self.tp = tp
        self.initial_offset = -1
        self.error: BaseException | None = None
        self.finished = False
        self.revoking = False
        self.hwm = -1

    def info(self) -> ClaimInfo:
        return ClaimInfo(self.stream, self.tp.topic, self.tp.partition, self.initial_offset,
                         self.error)


class _Session:
    __slots__ = ("abandon_error", "by_tp", "claims", "deadline", "drain_timer", "fatal", "id",
                 "joins", "lost", "pending", "starting", "state", "stop_reason", "token",
                 "topics", "waiting_metadata")

    def __init__(self, sid: int, token: int, topics: tuple[str, ...]) -> None:
        self.id = sid
        self.token = token
        self.topics = topics
        self.state = JOINING
        self.claims: dict[int, _Claim] = {}
        self.by_tp: dict[TopicPartition, _Claim] = {}
        self.pending: dict[int, tuple[set[int], list[_Claim]]] = {}
        """Claims started together (a batch) -> (streams not started yet, the claims)."""
        self.starting: set[TopicPartition] = set()
        """Assigned partitions whose committed offsets are being fetched: no claims yet, but
        owned (a rejoin meanwhile must name them, or the leader gives them to another member
        while this one starts consuming them)."""
        self.deadline: TimerHandle | None = None
        self.drain_timer: TimerHandle | None = None
        self.stop_reason = ""
        self.fatal: BaseException | None = None
        self.abandon_error: BaseException | None = None
        self.lost = False
        self.waiting_metadata = False
        self.joins = 0
        """Joins restarted while starting: an assignment's offsets fetched for an earlier
        join are stale."""

    def live(self) -> list[_Claim]:
        return [c for c in self.claims.values() if not c.finished]

    def held(self) -> set[TopicPartition]:
        return {c.tp for c in self.claims.values()
                if not c.finished and not c.revoking} | self.starting


def topic_partitions(partitions: Mapping[str, Iterable[int]] | Iterable[tuple[str, int]]
                     ) -> set[TopicPartition]:
    """``{topic: [partition, ...]}`` or (topic, partition) pairs, as a set."""
    if isinstance(partitions, Mapping):
        return {TopicPartition(t, int(p)) for t, ps in partitions.items() for p in ps}
    return {TopicPartition(t, int(p)) for t, p in partitions}


class GroupCore:
    """One member of one consumer group; see the module comment."""

    def __init__(self, core: ClientCore, config: Config, *, fetcher: Any = None,
                 assignors: Sequence[Any] | None = None) -> None:
        if not config.group_id:
            raise ConfigurationError("a consumer group needs group_id")
        self.core = core
        self.config = config
        self.group_id = config.group_id
        self.id = core.new_token()
        self.fetcher: Any = fetcher if fetcher is not None else Fetcher(core, config)
        self.link = CoordinatorLink(core, config, self.group_id)
        self.assignors: list[Assignor] = [assignor_for(a)
                                          for a in (assignors or config.assignors)]
        self.membership = Membership(core, config, self.link, self.assignors, self)
        self.offsets = OffsetBook(core, config, self.link, self._identity,
                                  self._commit_membership_error)
        self.session: _Session | None = None
        self.paused: set[TopicPartition] = set()
        self.paused_all = False
        self.closed = False
        self._pattern: re.Pattern[str] | None = None
        self._auto_timer: TimerHandle | None = None
        self._leader_counts: dict[str, int] = {}
        self._batches = 0
        core.add_metadata_listener(self._on_metadata)
        core.add_failure_listener(self._cluster_failed)

    # == queries =========================================================================

    @property
    def member_id(self) -> str:
        return self.membership.member_id

    @property
    def generation_id(self) -> int:
        return self.membership.generation

    def group_metadata(self, session: SessionInfo | None = None,
                       last: ConsumerGroupMetadata | None = None) -> ConsumerGroupMetadata:
        """The member as the group coordinator knows it, for transactional offset commits.

        Without ``session``: the membership now. With the session's :class:`SessionInfo`:
        the membership now while that session runs with a generation, else what the session
        ran with (``last`` or its start). Never the next generation nor generation -1: a
        commit from a session that is over must carry its stale generation so that the
        coordinator rejects it (generation -1 with no member id is not checked at all).
        """
        m = self.membership
        if session is not None:
            s = self.session
            if s is None or s.id != session.session or s.state != RUNNING or m.generation < 0:
                return last if last is not None else ConsumerGroupMetadata(
                    self.group_id, session.generation_id, session.member_id, m.instance_id)
        return ConsumerGroupMetadata(self.group_id, m.generation, m.member_id, m.instance_id)

    def claims(self, session: int) -> dict[str, list[int]]:
        """The partitions the session consumes now, by topic."""
        s = self.session
        out: dict[str, list[int]] = {}
        if s is None or s.id != session:
            return out
        for c in sorted(s.claims.values(), key=lambda c: c.tp):
            if not c.finished and not c.revoking:
                out.setdefault(c.tp.topic, []).append(c.tp.partition)
        return out

    def owns_stream(self, stream: int) -> bool:
        """Whether ``stream`` is a claim of the current session (for routing events)."""
        s = self.session
        return s is not None and stream in s.claims

    def high_water_mark(self, stream: int) -> int:
        claim = self._claim(stream)
        if claim is not None and not claim.finished and stream in self.fetcher.streams():
            hwm: int = self.fetcher.high_water_mark(stream)
            claim.hwm = max(claim.hwm, hwm)
        return claim.hwm if claim is not None else -1

    def release(self, stream: int, size: int, now: float) -> None:
        """The adapter's reader took a chunk of ``size`` bytes of ``stream``."""
        if stream in self.fetcher.streams():
            self.fetcher.release(stream, size, now)

    # == user operations =================================================================

    def consume(self, topics: Topics, now: float) -> int:
        """Join and claim partitions; the token completes with a :class:`SessionInfo`."""
        token = self.core.new_token()
        if self.closed:
            self.core.fail(token, ObjectClosedError("the consumer group was closed"))
            return token
        if self.session is not None:
            self.core.fail(token, AlreadyConsumingError(
                "consume() is already running a session of this consumer group"))
            return token
        try:
            names, pattern = _parse_topics(topics)
        except ConfigurationError as exc:
            self.core.fail(token, exc)
            return token
        self._pattern = pattern
        s = _Session(self.core.new_token(), token, names)
        self.session = s
        limit = self.config.rebalance_timeout + self.config.request_timeout
        s.deadline = self.core.timers.call_at(now + limit, partial(self._start_timed_out, s))
        if self.config.metadata_max_wait < limit:
            self.core.timers.call_at(now + self.config.metadata_max_wait,
                                     partial(self._check_reachable, s))
        if pattern is not None:
            s.waiting_metadata = True
            self.core.want_all_topics(True, now)
            self.core.request_metadata_update(now)
        else:
            self.core.add_topics(names, now)
            self.membership.join(names, (), now)
        return token

    def stop_session(self, session: int, reason: str, now: float) -> None:
        """End the session (the caller cancelled, the group is closing)."""
        s = self.session
        if s is None or s.id != session:
            return
        if s.state == JOINING:
            self._abort_start(s, ClosedError(f"the session was stopped: {reason}"), now)
        elif s.state == RUNNING:
            self._stop(s, reason, now)

    def abort(self, reason: str, now: float) -> None:
        """Stop the current session, whatever its state (joining or running)."""
        s = self.session
        if s is not None:
            self.stop_session(s.id, reason, now)

    def claim_finished(self, session: int, stream: int, now: float) -> None:
        """A claim loop returned (by itself or because it was told to stop)."""
        s = self.session
        if s is None or s.id != session:
            return
        claim = s.claims.get(stream)
        if claim is None or claim.finished:
            return
        claim.finished = True
        self._unassign(claim, now)
        if claim.revoking:
            if not any(c.revoking and not c.finished for c in s.claims.values()):
                self._revocation_done(s, now)
            return
        if s.state == RUNNING:
            self._stop(s, f"the claim loop for {claim.tp.topic}[{claim.tp.partition}] returned",
                       now)
        elif s.state == STOPPING and not s.live():
            self._drained(s, (), now)

    def finish_session(self, session: int, now: float) -> int:
        """After cleanup: the final commit; the token fails with what ended the session when
        that was fatal or the session was abandoned, else completes with None."""
        token = self.core.new_token()
        s = self.session
        if s is None or s.id != session:
            self.core.complete(token, None)
            return token
        for timer in (s.deadline, s.drain_timer, self._auto_timer):
            if timer is not None:
                timer.cancel()
        self._auto_timer = None
        for claim in s.claims.values():
            claim.finished = True
            self._unassign(claim, now)
        if self.membership.state in ("joining", "syncing"):
            self.membership.cancel()
        parts = [c.tp for c in s.claims.values()]

        def done(err: BaseException | None) -> None:
            if err is not None:
                self.core.emit(GroupError(self.id, err))
            self.offsets.forget(parts)
            self.membership.stop_heartbeats()
            if self.session is s:
                self.session = None
            failure = s.fatal or s.abandon_error
            if failure is not None:
                self.core.fail(token, failure)
            else:
                self.core.complete(token, None)

        if s.lost:
            dirty = self.offsets.dirty(parts)
            if dirty:
                self.core.emit(GroupError(self.id, KprotoError(
                    f"group {self.group_id!r}: {len(dirty)} marked offset(s) not committed: "
                    f"the member lost its partitions ({s.stop_reason})")))
            done(None)
        else:
            self.offsets.commit(now, done, parts)
        return token

    def mark_offset(self, session: int, topic: str, partition: int, offset: int,
                    metadata: str | None = None) -> None:
        """Mark everything before ``offset`` processed (the next commit stores ``offset``)."""
        tp = self._session_tp(session, topic, partition)
        if tp is not None:
            self.offsets.mark(tp, offset, metadata)

    def mark_message(self, session: int, message: ConsumerMessage,
                     metadata: str | None = None) -> None:
        self.mark_offset(session, message.topic, message.partition, message.offset + 1, metadata)

    def reset_offset(self, session: int, topic: str, partition: int, offset: int,
                     metadata: str | None = None) -> None:
        """Move the mark back to ``offset`` (never forward)."""
        tp = self._session_tp(session, topic, partition)
        if tp is not None:
            self.offsets.reset(tp, offset, metadata)

    def commit(self, now: float, parts: Iterable[TopicPartition] | None = None) -> int:
        """Commit the marked offsets (of ``parts``, or all) now; the token completes once the
        broker stored them."""
        token = self.core.new_token()

        def done(err: BaseException | None) -> None:
            if err is None:
                self.core.complete(token, None)
            else:
                self.core.fail(token, self._unreachable_or(err, "offset commit"))

        self.offsets.commit(now, done, parts)
        return token

    def seek(self, session: int, topic: str, partition: int, offset: int, now: float) -> bool:
        """Fetch a claimed partition from ``offset`` on (literal, OFFSET_OLDEST or
        OFFSET_NEWEST); False when the session does not fetch it."""
        s = self.session
        tp = self._session_tp(session, topic, partition)
        if s is None or tp is None:
            return False
        claim = s.by_tp[tp]
        if claim.finished or claim.revoking or claim.stream not in self.fetcher.streams():
            return False
        self.fetcher.seek(claim.stream, offset, now)
        return True

    def session_lost(self, session: int) -> bool:
        """Whether the session ended because the membership was lost (its partitions may be
        someone else's already: nothing of theirs can be committed)."""
        s = self.session
        return s is not None and s.id == session and s.lost

    def pause(self, partitions: Any, now: float) -> None:
        parts = topic_partitions(partitions)
        self.paused |= parts
        self.fetcher.pause(self._streams_of(parts), now)

    def resume(self, partitions: Any, now: float) -> None:
        parts = topic_partitions(partitions)
        self.paused -= parts
        if not self.paused_all:
            self.fetcher.resume(self._streams_of(parts), now)

    def pause_all(self, now: float) -> None:
        self.paused_all = True
        self.fetcher.pause(self._streams_of(None), now)

    def resume_all(self, now: float) -> None:
        self.paused_all = False
        self.paused.clear()
        self.fetcher.resume(self._streams_of(None), now)

    def close(self, now: float) -> int:
        """Commit what a running session marked, leave the group (dynamic members) and stop.
        The adapter ends a running session first; one still running here is abandoned."""
        token = self.core.new_token()
        if self.closed:
            self.core.complete(token, None)
            return token
        self.closed = True
        s = self.session
        if self._auto_timer is not None:
            self._auto_timer.cancel()
            self._auto_timer = None

        def leave(err: BaseException | None = None) -> None:
            if err is not None:
                self.core.emit(GroupError(self.id, err))
            self.membership.leave("the consumer group is closing", engine_now(self.core),
                                  finish)

        def finish(err: BaseException | None) -> None:
            t = engine_now(self.core)
            self.membership.close()
            self.offsets.close()
            self.link.close()
            self.fetcher.close(t)
            self.core.remove_metadata_listener(self._on_metadata)
            self.core.remove_failure_listener(self._cluster_failed)
            self.session = None
            self.core.complete(token, None)

        if s is None:
            leave()
            return token
        if s.state == RUNNING:
            self._stop(s, "the consumer group is closing", now)
        for timer in (s.deadline, s.drain_timer):
            if timer is not None:
                timer.cancel()
        if s.state == JOINING:
            self._drop_claims(s, now)  # (a claim starting now must not start the session)
            self.core.fail(s.token, ClosedError("the consumer group was closed"))
        elif s.state == STOPPING:
            # Claim loops still running (close was called from one of them): the session
            # ends without waiting for them, so whoever waits for it carries on.
            s.state = DRAINED
            self.core.emit(SessionDrained(self.id, s.id, tuple(c.stream for c in s.live()),
                                          None))
        for claim in s.claims.values():
            self._unassign(claim, now)
        unreachable = self.core.unreachable_error(
            f"group {self.group_id!r}: the final commit at close")
        if unreachable is not None:
            # Nobody to commit to: say so instead of waiting out the commit's deadline.
            dirty = self.offsets.dirty([c.tp for c in s.claims.values()])
            leave(unreachable if dirty and not s.lost else None)
        elif s.state != JOINING and not s.lost:
            self.offsets.commit(now, leave, [c.tp for c in s.claims.values()])
        else:
            leave()
        return token

    # == membership events (MembershipOwner) =============================================

    def joined(self, assignment: Assignment, generation: int, now: float) -> None:
        s = self.session
        if self.membership.is_leader:
            self._leader_counts = {t: len(self.core.cluster.partitions(t))
                                   for t in self._group_topics()}
        if s is None:
            return
        if s.state == JOINING:
            self._start_claims(s, list(assignment.partitions), generation, now)
            return
        if s.state != RUNNING:
            return
        # Cooperative: keep what stays, stop what was revoked, start what was added.
        held = s.held()
        new = set(assignment.partitions)
        revoked = held - new
        added = sorted(new - held)
        if revoked:
            # Those still starting are dropped before they become claims.
            s.starting -= revoked
            streams = []
            for c in s.claims.values():
                if c.tp in revoked and not c.finished:
                    c.revoking = True
                    streams.append(c.stream)
                    self._unassign(c, now)
            log.info("group %s: generation %d revokes %s", self.group_id, generation,
                     sorted(revoked))
            if streams:
                self.core.emit(ClaimsStopping(self.id, s.id, tuple(streams), "revoked"))
        if added:
            self._start_claims(s, added, generation, now)
        if revoked and not any(c.revoking and not c.finished for c in s.claims.values()):
            # Only partitions that had not started were revoked: nothing to wait for, so
            # rejoin at once for others to take them.
            self.membership.join(s.topics, sorted(s.held()), now)

    def rebalance_started(self, reason: str, now: float) -> None:
        s = self.session
        if s is None:
            return
        if s.state == JOINING:
            self._restart_join(s, now)
        elif s.state == RUNNING:
            self._rebalance(s, reason, now)

    def membership_lost(self, error: KprotoError, now: float) -> None:
        self.core.emit(GroupError(self.id, error))
        s = self.session
        if s is None:
            return
        if s.state == JOINING:
            self._restart_join(s, now)
            return
        s.lost = True
        if s.state == RUNNING:
            self._stop(s, f"the membership was lost: {error}", now)

    def membership_failed(self, error: BaseException, now: float) -> None:
        s = self.session
        if s is None:
            self.core.emit(GroupError(self.id, error))
            return
        if s.state == JOINING:
            self._abort_start(s, error, now)
            return
        s.fatal = error
        s.lost = True
        if s.state == RUNNING:
            self._stop(s, str(error), now)

    # == internals =======================================================================

    def _identity(self) -> tuple[int, str, str | None]:
        m = self.membership
        return m.generation, m.member_id, m.instance_id

    def _commit_membership_error(self, error: KafkaError, generation: int, member_id: str,
                                 now: float) -> None:
        if isinstance(error, FencedInstanceIdError):
            self.membership.cancel()
            self.membership_failed(error, now)
            return
        m = self.membership
        if (generation, member_id) != (m.generation, m.member_id) or \
                m.state in ("joining", "syncing"):
            # The commit raced a rebalance this member is part of: only the commit failed.
            return
        self.membership.cancel()
        self.membership.reset(member_id=error.name == "UNKNOWN_MEMBER_ID")
        self.membership_lost(error, now)

    def _claim(self, stream: int) -> _Claim | None:
        s = self.session
        return s.claims.get(stream) if s is not None else None

    def _session_tp(self, session: int, topic: str, partition: int) -> TopicPartition | None:
        s = self.session
        if s is None or s.id != session:
            return None
        tp = TopicPartition(topic, partition)
        return tp if tp in s.by_tp else None

    def _streams_of(self, parts: set[TopicPartition] | None) -> list[int]:
        s = self.session
        if s is None:
            return []
        return [c.stream for c in s.claims.values()
                if not c.finished and (parts is None or c.tp in parts)]

    def _unassign(self, claim: _Claim, now: float) -> None:
        if claim.stream in self.fetcher.streams():
            claim.hwm = max(claim.hwm, self.fetcher.high_water_mark(claim.stream))
            self.fetcher.unassign(claim.stream, now)

    def _group_topics(self) -> set[str]:
        return set(self.membership.group_topics)

    def _drop_claims(self, s: _Session, now: float) -> None:
        """Unassign every claim of a session that will not run them (its join restarts, its
        start is given up, the group closes while it joins). Batches first: unassigning a
        claim that is starting reports its start (failed), which would otherwise complete
        the batch and run the session on claims that are gone -- after an abort, a session
        the core has already dropped, whose consume then waits for a drain that never
        comes."""
        s.pending.clear()
        s.starting.clear()
        for claim in s.claims.values():
            claim.finished = True
            self._unassign(claim, now)

    def _restart_join(self, s: _Session, now: float) -> None:
        s.joins += 1
        self._drop_claims(s, now)
        self.offsets.forget([c.tp for c in s.claims.values()])
        s.claims.clear()
        s.by_tp.clear()
        self.membership.join(s.topics, (), now)

    def _abort_start(self, s: _Session, error: BaseException, now: float) -> None:
        self._drop_claims(s, now)
        self.offsets.forget([c.tp for c in s.claims.values()])
        if s.deadline is not None:
            s.deadline.cancel()
        self.membership.cancel()
        if self.session is s:
            self.session = None
        self.core.fail(s.token, error)

    def _start_timed_out(self, s: _Session, now: float) -> None:
        if s.state == JOINING and self.session is s:
            limit = self.config.rebalance_timeout + self.config.request_timeout
            self._abort_start(s, self._unreachable_or(ClientTimeoutError(
                f"group {self.group_id!r}: no session within rebalance_timeout + "
                f"request_timeout ({limit:g}s)"), "joining"), now)

    def _check_reachable(self, s: _Session, now: float) -> None:
        """``metadata_max_wait`` into a join: give up if no broker could be reached."""
        if s.state == JOINING and self.session is s:
            unreachable = self.core.unreachable_error(
                f"group {self.group_id!r}: no session within metadata_max_wait "
                f"({self.config.metadata_max_wait:g}s)")
            if unreachable is not None:
                self._abort_start(s, unreachable, now)

    def _cluster_failed(self, error: KprotoError, now: float) -> None:
        """An authentication failure ends a join at once: waiting cannot cure it."""
        s = self.session
        if isinstance(error, AuthenticationError) and s is not None and s.state == JOINING:
            self._abort_start(s, error, now)

    def _unreachable_or(self, error: BaseException, what: str) -> BaseException:
        """``error``, or a ClusterUnreachableError when it is a timeout and no broker is
        reachable (the true cause)."""
        if not isinstance(error, ClientTimeoutError):
            return error
        unreachable = self.core.unreachable_error(f"group {self.group_id!r}: {what}: {error}")
        if unreachable is None:
            return error
        unreachable.__cause__ = error
        return unreachable

    def _start_claims(self, s: _Session, parts: list[TopicPartition], generation: int,
                      now: float) -> None:
        """Start claims for ``parts``, which ``generation`` assigned."""
        self._batches += 1
        batch = self._batches
        joins = s.joins
        s.starting.update(parts)
        if not parts:
            self._batch_started(s, batch, [], generation, now)
            return

        def fetched(result: dict[TopicPartition, Committed] | None,
                    err: BaseException | None) -> None:
            t = engine_now(self.core)
            if self.session is not s or s.state not in (JOINING, RUNNING) or s.joins != joins \
                    or self.closed:
                # Over, or the join restarted since (its own batch starts the claims: these
                # would fetch its partitions twice, and Fetcher.assign would raise).
                return
            if err is not None or result is None:
                s.starting.difference_update(parts)
                error = err or KprotoError("no committed offsets")
                if s.state == JOINING:
                    self._abort_start(s, error, t)
                else:
                    self.core.emit(GroupError(self.id, error))
                    self._rebalance(s, f"could not fetch committed offsets: {error}", t)
                return
            claims: list[_Claim] = []
            waiting: set[int] = set()
            starts: list[tuple[_Claim, int, int]] = []
            s.pending[batch] = (waiting, claims)
            for tp in parts:
                if tp not in s.starting:
                    continue  # revoked while its offsets were fetched
                s.starting.discard(tp)
                committed = result.get(tp, Committed(-1))
                stream = self.core.new_token()
                claim = _Claim(stream, tp)
                s.claims[stream] = claim
                s.by_tp[tp] = claim
                claims.append(claim)
                self.offsets.track(tp, committed.offset)
                if committed.offset >= 0:
                    offset, epoch = committed.offset, committed.leader_epoch
                elif self.config.auto_offset_reset == "earliest":
                    offset, epoch = OFFSET_OLDEST, -1
                elif self.config.auto_offset_reset == "latest":
                    offset, epoch = OFFSET_NEWEST, -1
                else:
                    claim.error = NoCommittedOffsetError(
                        f"{tp.topic}[{tp.partition}]: no committed offset in group "
                        f"{self.group_id!r} and auto_offset_reset is 'none'")
                    self.core.emit(GroupError(self.id, claim.error, tp.topic, tp.partition))
                    continue
                waiting.add(stream)
                starts.append((claim, offset, epoch))
            nothing_to_start = not waiting
            # Every stream is in ``waiting`` before the first start can be reported. All
            # claims are assigned before anything is sent: one ListOffsets per broker for
            # those without a commit, and one first Fetch with all of them.
            with self.fetcher.assigning(t):
                for claim, offset, epoch in starts:
                    tp = claim.tp
                    self.fetcher.assign(tp.topic, tp.partition, offset, t, leader_epoch=epoch,
                                        on_start=partial(self._claim_started, s, batch, generation),
                                        stream=claim.stream,
                                        start_timeout=self.config.request_timeout)
                    if self.paused_all or tp in self.paused:
                        self.fetcher.pause([claim.stream], t)
            if nothing_to_start:
                s.pending.pop(batch, None)
                self._batch_started(s, batch, claims, generation, t)

        self.offsets.fetch(parts, now, fetched)

    def _claim_started(self, s: _Session, batch: int, generation: int, stream: int, offset: int,
                       error: BaseException | None) -> None:
        now = engine_now(self.core)
        claim = s.claims.get(stream)
        if claim is None or self.session is not s:
            return
        claim.initial_offset = offset
        if error is not None and not claim.finished:
            claim.error = error
            self.core.emit(GroupError(self.id, error, claim.tp.topic, claim.tp.partition))
        entry = s.pending.get(batch)
        if entry is None:
            return
        waiting, claims = entry
        waiting.discard(stream)
        if not waiting:
            del s.pending[batch]
            self._batch_started(s, batch, claims, generation, now)

    def _batch_started(self, s: _Session, batch: int, claims: list[_Claim], generation: int,
                       now: float) -> None:
        if self.session is not s or self.closed:
            return
        infos = tuple(c.info() for c in claims)
        if s.state == JOINING:
            s.state = RUNNING
            if s.deadline is not None:
                s.deadline.cancel()
                s.deadline = None
            self._arm_auto_commit(now)
            log.info("group %s: session %d runs generation %d with %s", self.group_id, s.id,
                     generation,
                     [f"{c.tp.topic}[{c.tp.partition}]" for c in claims])
            self.core.complete(s.token, SessionInfo(self.id, s.id, self.membership.member_id,
                                                    generation, infos))
        elif s.state == RUNNING and infos:
            self.core.emit(ClaimsStarted(self.id, s.id, infos, generation))

    def _rebalance(self, s: _Session, reason: str, now: float) -> None:
        if not self.membership.cooperative:
            self._stop(s, reason, now)
            return
        if any(c.revoking and not c.finished for c in s.claims.values()):
            return  # the rejoin after the revocation comes soon enough
        log.info("group %s: rejoining (%s), keeping %d partitions", self.group_id, reason,
                 len(s.held()))
        self.membership.join(s.topics, sorted(s.held()), now)

    def _revocation_done(self, s: _Session, now: float) -> None:
        revoked = [c for c in s.claims.values() if c.revoking]
        parts = [c.tp for c in revoked]

        def committed(err: BaseException | None) -> None:
            t = engine_now(self.core)
            if err is not None:
                self.core.emit(GroupError(self.id, err))
            self.offsets.forget(parts)
            for c in revoked:
                s.claims.pop(c.stream, None)
                if s.by_tp.get(c.tp) is c:
                    del s.by_tp[c.tp]
            if self.session is s and s.state == RUNNING:
                self.membership.join(s.topics, sorted(s.held()), t)

        self.offsets.commit(now, committed, parts)

    def _stop(self, s: _Session, reason: str, now: float) -> None:
        s.state = STOPPING
        s.stop_reason = reason
        if self._auto_timer is not None:
            self._auto_timer.cancel()
            self._auto_timer = None
        streams = []
        for c in s.claims.values():
            self._unassign(c, now)
            if not c.finished:
                streams.append(c.stream)
        log.info("group %s: session %d ends: %s", self.group_id, s.id, reason)
        self.core.emit(ClaimsStopping(self.id, s.id, tuple(streams), reason))
        if not streams:
            self._drained(s, (), now)
            return
        s.drain_timer = self.core.timers.call_at(now + self.config.rebalance_timeout,
                                                 partial(self._abandon, s))

    def _abandon(self, s: _Session, now: float) -> None:
        s.drain_timer = None
        if s.state != STOPPING or self.session is not s:
            return
        running = s.live()
        names = ", ".join(f"{c.tp.topic}[{c.tp.partition}]" for c in running)
        s.abandon_error = SessionAbandonedError(
            f"group {self.group_id!r}: the claim loops for {names} did not return within "
            f"rebalance_timeout ({self.config.rebalance_timeout:g}s) after the session ended "
            f"({s.stop_reason}); the session was abandoned without waiting for them and "
            f"cleanup was not called")
        self._drained(s, tuple(c.stream for c in running), now)

    def _drained(self, s: _Session, abandoned: tuple[int, ...], now: float) -> None:
        if s.state != STOPPING:
            return
        if s.drain_timer is not None:
            s.drain_timer.cancel()
            s.drain_timer = None
        s.state = DRAINED
        self.core.emit(SessionDrained(self.id, s.id, abandoned, s.abandon_error))

    def _arm_auto_commit(self, now: float) -> None:
        if self.config.enable_auto_commit:
            self._auto_timer = self.core.timers.call_at(now + self.config.auto_commit_interval,
                                                        self._auto_commit)

    def _auto_commit(self, now: float) -> None:
        self._auto_timer = None
        s = self.session
        if s is None or s.state != RUNNING:
            return
        if self.offsets.dirty(s.held()):
            self.offsets.commit(now, self._report, s.held())
        self._arm_auto_commit(now)

    def _report(self, err: BaseException | None) -> None:
        if err is not None:
            self.core.emit(GroupError(self.id, err))

    def _on_metadata(self, now: float) -> None:
        s = self.session
        if s is None or self.closed:
            return
        if self._pattern is not None:
            cluster = self.core.cluster
            names = tuple(sorted(t for t, info in cluster.topics.items()
                                 if not info.is_internal and self._pattern.fullmatch(t)))
            if s.waiting_metadata:
                s.waiting_metadata = False
                s.topics = names
                self.membership.join(names, (), now)
                return
            if names != s.topics:
                s.topics = names
                if s.state == JOINING:
                    self._restart_join(s, now)
                elif s.state == RUNNING:
                    self._rebalance(s, "the topic pattern matches other topics now", now)
                return
        if s.state == RUNNING and self.membership.is_leader and self._leader_counts:
            cluster = self.core.cluster
            for topic, count in self._leader_counts.items():
                now_count = len(cluster.partitions(topic))
                if now_count and now_count != count:
                    self._leader_counts = {}
                    self._rebalance(s, f"topic {topic} has {now_count} partitions now, "
                                       f"not {count}", now)
                    return


def _parse_topics(topics: Topics) -> tuple[tuple[str, ...], re.Pattern[str] | None]:
    if isinstance(topics, re.Pattern):
        return (), topics
    if isinstance(topics, str):
        names: tuple[str, ...] = (topics,)
    else:
        names = tuple(topics)
    if not names or not all(isinstance(t, str) and t for t in names):
        raise ConfigurationError(
            f"topics must be topic names or a compiled regular expression, got {topics!r}")
    return tuple(sorted(set(names))), None
