"""One member's side of the classic group protocol: JoinGroup, SyncGroup, Heartbeat, LeaveGroup.

Theory of operation: :class:`Membership` owns the member id, the generation, the chosen
protocol (assignor), the join/sync exchange in progress and the heartbeat timer. It moves
through UNJOINED -> JOINING -> SYNCING -> STABLE. ``join()`` (re)starts a join: find the
coordinator, send JoinGroup (once more with the id the broker hands out when it answers
MEMBER_ID_REQUIRED, KIP-394), compute the assignment when this member is the leader, send
SyncGroup, and report the assignment to its owner. Heartbeats run from the engine's timers
from the JoinGroup response on, every ``heartbeat_interval`` (and also while the owner is
busy winding a session down), never from user code, so a slow handler cannot starve them.

What responses do, and what the owner (:class:`MembershipOwner`) hears:

- REBALANCE_IN_PROGRESS on a heartbeat: ``rebalance_started`` (the owner decides when to
  rejoin; heartbeats go on until it does).
- ILLEGAL_GENERATION / UNKNOWN_MEMBER_ID on a heartbeat: the generation (and for the latter
  the member id) is reset and ``membership_lost`` is reported: the partitions are gone.
  During a join they restart the join, unless partitions are kept through a cooperative
  rejoin: those are gone too, so ``membership_lost`` is reported (as the Java client gives
  them up as lost when its generation or member id was reset).
- FENCED_INSTANCE_ID, authorization failures, inconsistent protocols and other non-retriable
  errors: ``membership_failed`` (fatal).
- NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE, lost connections, timeouts: find the
  coordinator again and carry on (rejoin or keep heartbeating).
- No successful heartbeat for ``session_timeout``: the coordinator is presumed gone and is
  looked up again, as the Java client does.

Static membership (KIP-345): ``group_instance_id`` goes in every request; a static member
does not send LeaveGroup when it closes (its session timeout releases it), so a restart within
the session timeout gets its partitions back without a rebalance.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

from kproto import protocol
from kproto.config import Config
from kproto.engine.client import ClientCore
from kproto.engine.timers import TimerHandle
from kproto.errors import (
    AuthenticationError,
    ClosedError,
    ConfigurationError,
    CoordinatorLoadInProgressError,
    DecodeError,
    EncodeError,
    FencedInstanceIdError,
    IllegalGenerationError,
    KprotoError,
    MemberIdRequiredError,
    NoCommonVersionError,
    ObjectClosedError,
    RebalanceInProgressError,
    UnknownMemberIdError,
    error_for_code,
)
from kproto.group.assignors import (
    Assignment,
    Assignor,
    Subscription,
    TopicPartition,
    normalize_assignment,
)
from kproto.group.consumer_protocol import (
    PROTOCOL_TYPE,
    decode_assignment,
    decode_subscription,
    encode_assignment,
    encode_subscription,
)
from kproto.group.coordinator import COORDINATOR_MOVED, CoordinatorLink, backoff_delay, engine_now

if TYPE_CHECKING:
    from kproto.protocol.messages.sync_group_request import SyncGroupRequestAssignment

__all__ = ["Membership", "MembershipExpiredError", "MembershipOwner"]

log = logging.getLogger("kproto.group")

JOIN_GROUP, HEARTBEAT, LEAVE_GROUP, SYNC_GROUP = 11, 12, 13, 14
JOIN_TIMEOUT_MARGIN = 5.0
"""A JoinGroup may wait the whole rebalance timeout at the coordinator; give it this more."""

FATAL_TRANSPORT_ERRORS = (ClosedError, NoCommonVersionError, AuthenticationError, EncodeError,
                          ConfigurationError)
"""Request failures that retrying cannot cure."""

UNJOINED, JOINING, SYNCING, STABLE, CLOSED = "unjoined", "joining", "syncing", "stable", "closed"


class MembershipExpiredError(KprotoError):
    """No heartbeat got through for a whole session timeout: the member is out of the group."""


class MembershipOwner(Protocol):
    """What a :class:`Membership` reports to the state machine that owns it."""

    def joined(self, assignment: Assignment, generation: int, now: float) -> None: ...
    def rebalance_started(self, reason: str, now: float) -> None: ...
    def membership_lost(self, error: KprotoError, now: float) -> None: ...
    def membership_failed(self, error: BaseException, now: float) -> None: ...


class Membership:
    """The classic consumer group protocol, for one member."""

    def __init__(self, core: ClientCore, config: Config, link: CoordinatorLink,
                 assignors: Sequence[Assignor], owner: MembershipOwner) -> None:
        if not assignors:
            raise ConfigurationError("a consumer group needs at least one assignor")
        names = [a.name for a in assignors]
        if len(set(names)) != len(names):
            raise ConfigurationError(f"assignor names must be unique, got {names}")
        self.core = core
        self.config = config
        self.link = link
        self.group_id = link.group_id
        self.instance_id = config.group_instance_id
        self.assignors = list(assignors)
        self.owner = owner
        self.cooperative = all(a.cooperative for a in assignors)
        """Incremental cooperative rebalancing, when every configured assignor supports it."""
        self.member_id = ""
        self.generation = -1
        self.protocol: str | None = None
        self.leader_id = ""
        self.state = UNJOINED
        self.rebalancing = False
        """A heartbeat said the group is rebalancing and this member has not rejoined yet."""
        self._topics: tuple[str, ...] = ()
        self._owned: tuple[TopicPartition, ...] = ()
        self._attempt = 0
        self._failures = 0
        self._timer: TimerHandle | None = None
        self._hb_timer: TimerHandle | None = None
        self._hb_in_flight = 0
        self._hb_seq = 0
        self._hb_waiting = False
        self._hb_ok_at = 0.0
        self._await_metadata: Any = None
        self.group_topics: tuple[str, ...] = ()
        """Every topic some member subscribes to (known to the leader only)."""

    @property
    def is_leader(self) -> bool:
        return bool(self.member_id) and self.member_id == self.leader_id

    # == operations ======================================================================

    def join(self, topics: Sequence[str], owned: Sequence[TopicPartition], now: float) -> None:
        """(Re)join with this subscription; ``owned`` are the partitions kept meanwhile
        (cooperative rebalancing; empty with the eager protocol)."""
        if self.state == CLOSED:
            raise ObjectClosedError("the consumer group was closed")
        self._topics = tuple(topics)
        self._owned = tuple(owned)
        self._restart(now)

    def stop_heartbeats(self) -> None:
        if self._hb_timer is not None:
            self._hb_timer.cancel()
            self._hb_timer = None

    def leave(self, reason: str, now: float, on_done: Any = None) -> None:
        """Leave the group (dynamic members only; static ones let the session expire) and
        stop everything. ``on_done(error)`` runs once the LeaveGroup is answered, or at once."""
        from kproto.protocol.messages.leave_group_request import MemberIdentity
        send = bool(self.member_id) and self.instance_id is None and self.link.node is not None
        member_id = self.member_id
        self._stop()
        self.state = UNJOINED
        self.member_id = ""
        self.generation = -1
        if not send:
            if on_done is not None:
                on_done(None)
            return
        log.info("group %s: member %s leaving (%s)", self.group_id, member_id, reason)

        def build(version: int) -> Any:
            if version >= 3:
                return protocol.LeaveGroupRequest(group_id=self.group_id, members=[
                    MemberIdentity(member_id=member_id, group_instance_id=self.instance_id,
                                   reason=reason)])
            return protocol.LeaveGroupRequest(group_id=self.group_id, member_id=member_id)

        def done(resp: Any, err: BaseException | None) -> None:
            if err is None and resp.error_code:
                err = error_for_code(resp.error_code)("LeaveGroup failed")
            if err is not None:
                log.info("group %s: LeaveGroup: %s", self.group_id, err)
            if on_done is not None:
                on_done(err)

        assert self.link.node is not None
        self.core.send(self.link.node, LEAVE_GROUP, build, done, now)

    def close(self) -> None:
        self._stop()
        self.state = CLOSED

    def cancel(self) -> None:
        """Stop joining and heartbeating (the member id and generation are kept)."""
        self._stop()
        if self.state != CLOSED:
            self.state = UNJOINED

    def reset(self, *, member_id: bool) -> None:
        """Forget the generation (and the member id): the next join starts afresh."""
        self.generation = -1
        if member_id:
            self.member_id = ""

    # == the join / sync exchange ========================================================

    def _stop(self) -> None:
        self._attempt += 1
        self.stop_heartbeats()
        self._hb_waiting = False
        self._hb_in_flight = 0
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._await_metadata is not None:
            self.core.remove_metadata_listener(self._await_metadata)
            self._await_metadata = None

    def _restart(self, now: float) -> None:
        self._stop()
        self.state = JOINING
        self.rebalancing = False
        attempt = self._attempt
        self.link.with_coordinator(partial(self._send_join, attempt), now)

    def _reset_in_join(self, code: int, api: str, now: float) -> None:
        """UNKNOWN_MEMBER_ID or ILLEGAL_GENERATION answered the join or sync: the coordinator
        no longer counts this member (or its generation) and may have given its partitions
        to others already. Without partitions join afresh. With some kept through a
        cooperative rejoin they are lost, as when a heartbeat says so: report it (the owner
        stops them without committing and joins again without them)."""
        if not self._owned:
            self.reset(member_id=code == UnknownMemberIdError.code)
            self._restart(now)
            return
        self._lose(code, f"{api} for group {self.group_id!r} during a cooperative rejoin", now)

    def _lose(self, code: int, what: str, now: float) -> None:
        """The coordinator answered UNKNOWN_MEMBER_ID or ILLEGAL_GENERATION (``code``) and
        this member holds partitions: stop, forget the generation (and the member id) and
        tell the owner they are gone."""
        self._stop()
        self.state = UNJOINED
        self.reset(member_id=code == UnknownMemberIdError.code)
        self._owned = ()
        self.owner.membership_lost(error_for_code(code)(what), now)

    def _retry_later(self, attempt: int, err: BaseException, now: float) -> None:
        self._failures += 1
        delay = backoff_delay(self.config, self.core, self._failures)
        log.debug("group %s: join failed (%s); retrying in %.3fs", self.group_id, err, delay)

        def again(t: float) -> None:
            if attempt == self._attempt:
                self._timer = None
                self.link.with_coordinator(partial(self._send_join, attempt), t)

        self._timer = self.core.timers.call_at(now + delay, again)

    def _subscription(self, assignor: Assignor) -> bytes:
        return encode_subscription(Subscription(
            topics=self._topics,
            user_data=assignor.subscription_user_data(self._topics),
            owned_partitions=self._owned if self.cooperative else (),
            generation=self.generation,
            rack=self.config.rack or None,
        ))

    def _send_join(self, attempt: int, now: float, node: int | None,
                   err: BaseException | None) -> None:
        from kproto.protocol.messages.join_group_request import JoinGroupRequestProtocol
        if attempt != self._attempt:
            return
        if err is not None or node is None:
            self._fail(err or ClosedError("no coordinator"), now)
            return
        protocols = [JoinGroupRequestProtocol(name=a.name, metadata=self._subscription(a))
                     for a in self.assignors]

        def build(version: int) -> Any:
            return protocol.JoinGroupRequest(
                group_id=self.group_id,
                session_timeout_ms=int(self.config.session_timeout * 1000),
                rebalance_timeout_ms=int(self.config.rebalance_timeout * 1000),
                member_id=self.member_id,
                group_instance_id=self.instance_id,
                protocol_type=PROTOCOL_TYPE,
                protocols=protocols,
                reason="joining" if not self.member_id else "rejoining",
            )

        timeout = max(self.config.request_timeout,
                      self.config.rebalance_timeout + JOIN_TIMEOUT_MARGIN)
        self.core.send(node, JOIN_GROUP, build, partial(self._join_done, attempt), now,
                       timeout=timeout, min_version=5 if self.instance_id is not None else None)

    def _join_done(self, attempt: int, resp: Any, err: BaseException | None) -> None:
        now = engine_now(self.core)
        if attempt != self._attempt:
            return
        if err is not None:
            self._transport_error(attempt, err, now)
            return
        code = resp.error_code
        if code == MemberIdRequiredError.code:
            # KIP-394: the broker hands out the member id; join again with it at once.
            self.member_id = resp.member_id
            self._restart(now)
            return
        if code in (UnknownMemberIdError.code, IllegalGenerationError.code):
            self._reset_in_join(code, "JoinGroup", now)
            return
        if code in COORDINATOR_MOVED:
            self.link.mark_dead(error_for_code(code).name, now)
            self._retry_later(attempt, error_for_code(code)(), now)
            return
        if code in (CoordinatorLoadInProgressError.code, RebalanceInProgressError.code):
            self._retry_later(attempt, error_for_code(code)(), now)
            return
        if code:
            self._fail(error_for_code(code)(f"JoinGroup for group {self.group_id!r} failed"), now)
            return
        self._failures = 0
        self.member_id = resp.member_id
        self.generation = resp.generation_id
        self.protocol = resp.protocol_name
        self.leader_id = resp.leader
        self.state = SYNCING
        self._hb_ok_at = now
        self._schedule_heartbeat(now)
        log.info("group %s: joined generation %d as %s%s (protocol %s)", self.group_id,
                 self.generation, self.member_id, " (leader)" if self.is_leader else "",
                 self.protocol)
        if self.is_leader and not resp.skip_assignment:
            self._lead(attempt, resp.members, now)
        else:
            self._send_sync(attempt, [], now)

    def _lead(self, attempt: int, members: list[Any], now: float) -> None:
        subs: dict[str, Subscription] = {}
        for m in members:
            try:
                subs[m.member_id] = decode_subscription(m.metadata, m.group_instance_id)
            except DecodeError as exc:
                log.warning("group %s: member %s sent an unreadable subscription (%s)",
                            self.group_id, m.member_id, exc)
                subs[m.member_id] = Subscription((), group_instance_id=m.group_instance_id)
        topics = {t for s in subs.values() for t in s.topics}
        self.group_topics = tuple(sorted(topics))
        cluster = self.core.cluster
        unknown = [t for t in topics if t not in cluster.topics and t not in cluster.topic_errors]
        if not unknown:
            self._assign(attempt, subs, now)
            return
        # Other members want topics this one has no metadata for: fetch it, then assign.
        self.core.add_topics(topics, now)

        def ready(t: float) -> None:
            if self._await_metadata is not None:
                self.core.remove_metadata_listener(self._await_metadata)
                self._await_metadata = None
            if attempt == self._attempt:
                self._assign(attempt, subs, t)

        self._await_metadata = ready
        self.core.add_metadata_listener(ready)
        self.core.request_metadata_update(now)

    def _assign(self, attempt: int, subs: dict[str, Subscription], now: float) -> None:
        from kproto.protocol.messages.sync_group_request import SyncGroupRequestAssignment
        assignor = next((a for a in self.assignors if a.name == self.protocol), None)
        if assignor is None:
            self._fail(ConfigurationError(
                f"the group chose assignor {self.protocol!r}, which this member lacks"), now)
            return
        cluster = self.core.cluster
        counts = {t: len(cluster.partitions(t)) for s in subs.values() for t in s.topics}
        counts = {t: n for t, n in counts.items() if n > 0}
        try:
            result = normalize_assignment(assignor.assign(counts, subs), subs, counts,
                                          assignor.name)
        except Exception as exc:  # a custom assignor's bug: fail the join, with its cause
            if isinstance(exc, KprotoError):
                failure: BaseException = exc
            else:
                failure = ConfigurationError(f"assignor {assignor.name!r} raised {exc!r}")
                failure.__cause__ = exc
            # Leave, so the others are not kept waiting for this leader's SyncGroup.
            self.leave(f"assignor {assignor.name!r} failed", now)
            self.owner.membership_failed(failure, now)
            return
        entries = [SyncGroupRequestAssignment(member_id=m, assignment=encode_assignment(a))
                   for m, a in result.items()]
        self._send_sync(attempt, entries, now)

    def _send_sync(self, attempt: int, assignments: list[SyncGroupRequestAssignment],
                   now: float) -> None:
        node = self.link.node
        if node is None:
            self._restart(now)
            return

        def build(version: int) -> Any:
            return protocol.SyncGroupRequest(
                group_id=self.group_id, generation_id=self.generation,
                member_id=self.member_id, group_instance_id=self.instance_id,
                protocol_type=PROTOCOL_TYPE, protocol_name=self.protocol,
                assignments=assignments)

        timeout = max(self.config.request_timeout,
                      self.config.rebalance_timeout + JOIN_TIMEOUT_MARGIN)
        self.core.send(node, SYNC_GROUP, build, partial(self._sync_done, attempt), now,
                       timeout=timeout)

    def _sync_done(self, attempt: int, resp: Any, err: BaseException | None) -> None:
        now = engine_now(self.core)
        if attempt != self._attempt:
            return
        if err is not None:
            self._transport_error(attempt, err, now)
            return
        code = resp.error_code
        if code == RebalanceInProgressError.code:
            self._restart(now)
            return
        if code in (UnknownMemberIdError.code, IllegalGenerationError.code):
            self._reset_in_join(code, "SyncGroup", now)
            return
        if code in COORDINATOR_MOVED:
            self.link.mark_dead(error_for_code(code).name, now)
            self._retry_later(attempt, error_for_code(code)(), now)
            return
        if code:
            self._fail(error_for_code(code)(f"SyncGroup for group {self.group_id!r} failed"), now)
            return
        try:
            assignment = decode_assignment(resp.assignment)
        except DecodeError as exc:
            self._fail(exc, now)
            return
        self.state = STABLE
        assignor = next((a for a in self.assignors if a.name == self.protocol), None)
        if assignor is not None:
            assignor.on_assignment(assignment, self.generation)
        self.owner.joined(assignment, self.generation, now)

    def _transport_error(self, attempt: int, err: BaseException, now: float) -> None:
        if isinstance(err, FATAL_TRANSPORT_ERRORS):
            self._fail(err, now)
            return
        # A lost connection or a timeout: the coordinator may have moved.
        self.link.mark_dead(str(err), now)
        self._retry_later(attempt, err, now)

    def _fail(self, err: BaseException, now: float) -> None:
        self._stop()
        self.state = UNJOINED
        if isinstance(err, FencedInstanceIdError):
            log.error("group %s: fenced: another member uses group instance id %r",
                      self.group_id, self.instance_id)
        self.owner.membership_failed(err, now)

    # == heartbeats ======================================================================

    def _schedule_heartbeat(self, now: float) -> None:
        self.stop_heartbeats()
        self._hb_timer = self.core.timers.call_at(now + self.config.heartbeat_interval,
                                                  partial(self._heartbeat, self._attempt))

    def _heartbeat(self, attempt: int, now: float) -> None:
        self._hb_timer = None
        if attempt != self._attempt or self.state not in (SYNCING, STABLE):
            return
        if now - self._hb_ok_at >= self.config.session_timeout:
            # Nothing got through for a whole session: the coordinator has dropped this
            # member by now (or is gone). Look for it again; the partitions are lost.
            self.link.mark_dead("no heartbeat answered within session_timeout", now)
            self._hb_ok_at = now
            self._hb_in_flight = 0
            if self.state == STABLE:
                self._stop()
                self.state = UNJOINED
                self.reset(member_id=False)
                self.owner.membership_lost(MembershipExpiredError(
                    f"group {self.group_id!r}: no heartbeat was answered within "
                    f"session_timeout ({self.config.session_timeout:g}s); the coordinator "
                    f"has dropped this member"), now)
                return
        # The next tick comes whatever happens to this one, so the session check above
        # runs even while the coordinator is being looked for.
        self._schedule_heartbeat(now)
        if self._hb_in_flight or self._hb_waiting:
            return
        self._hb_waiting = True
        self.link.with_coordinator(partial(self._send_heartbeat, attempt), now)

    def _send_heartbeat(self, attempt: int, now: float, node: int | None,
                        err: BaseException | None) -> None:
        self._hb_waiting = False
        if attempt != self._attempt:
            return
        if node is None:
            if err is not None and not isinstance(err, ClosedError):
                self._fail(err, now)
            return
        generation, member_id = self.generation, self.member_id

        def build(version: int) -> Any:
            return protocol.HeartbeatRequest(group_id=self.group_id, generation_id=generation,
                                             member_id=member_id,
                                             group_instance_id=self.instance_id)

        self._hb_seq += 1
        self._hb_in_flight = self._hb_seq
        self.core.send(node, HEARTBEAT, build,
                       partial(self._heartbeat_done, attempt, self._hb_seq), now,
                       timeout=min(self.config.request_timeout, self.config.session_timeout))

    def _heartbeat_done(self, attempt: int, seq: int, resp: Any,
                        err: BaseException | None) -> None:
        now = engine_now(self.core)
        if seq == self._hb_in_flight:
            self._hb_in_flight = 0
        if attempt != self._attempt:
            return
        if err is not None:
            if isinstance(err, ClosedError):
                return
            self.link.mark_dead(str(err), now)
            return
        code = resp.error_code
        if code == 0:
            self._hb_ok_at = now
            return
        if code == RebalanceInProgressError.code:
            self._hb_ok_at = now
            if self.state == STABLE and not self.rebalancing:
                self.rebalancing = True
                self.owner.rebalance_started("the group is rebalancing", now)
            return
        if code in (IllegalGenerationError.code, UnknownMemberIdError.code):
            self._lose(code, f"heartbeat for group {self.group_id!r}", now)
            return
        if code in COORDINATOR_MOVED:
            self.link.mark_dead(error_for_code(code).name, now)
            return
        if code == CoordinatorLoadInProgressError.code:
            return
        self._fail(error_for_code(code)(f"heartbeat for group {self.group_id!r} failed"), now)
