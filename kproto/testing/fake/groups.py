"""The classic group protocol's coordinator: membership, generations, assignments, offsets.

Theory of operation: one ``ClassicGroup`` per group id, moved through Kafka's states (Empty,
PreparingRebalance, CompletingRebalance, Stable, Dead) by the same rules as Kafka 4's
``GroupMetadataManager`` for classic groups:

- JoinGroup from an unknown member gets a member id; at version 4 and above a dynamic member
  is first answered MEMBER_ID_REQUIRED and kept pending (KIP-394); a static member
  (``group.instance.id``, KIP-345) that rejoins replaces its old member id, and in a Stable
  group whose protocol does not change it gets the current generation without a rebalance.
- A rebalance completes when every member has rejoined, or when the largest rebalance
  timeout passes (members that did not rejoin are removed); an Empty group's first
  rebalance waits ``initial_rebalance_delay`` (group.initial.rebalance.delay.ms) and again
  while new members keep arriving, up to the rebalance timeout.
- Completing a rebalance bumps the generation, picks the protocol most members support and
  answers every waiting JoinGroup (the leader gets the members' metadata); SyncGroup from the
  leader stores the assignment and answers every waiting SyncGroup; members that never
  sync within the rebalance timeout are removed.
- Heartbeats keep a member alive for its session timeout; a member that misses it is
  removed and the group rebalances.
- Offsets: committed per partition; transactional offsets (TxnOffsetCommit) stay pending per
  producer id until the transaction's marker commits or drops them.

Inputs are the request fields and ``now``; outputs are response messages, handed back
directly or through a ``Slot`` that a later input fills (a JoinGroup waits for the
rebalance, a SyncGroup for the leader). Timers go through the cluster's ``Timers``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from kproto import protocol
from kproto.protocol.messages import join_group_response as jg
from kproto.testing.fake import codes
from kproto.testing.fake.timers import Timers

__all__ = ["EMPTY", "STABLE", "ClassicGroup", "Committed", "GroupCoordinator", "Member", "Slot"]

EMPTY = "Empty"
PREPARING_REBALANCE = "PreparingRebalance"
COMPLETING_REBALANCE = "CompletingRebalance"
STABLE = "Stable"
DEAD = "Dead"


class Slot:
    """A response that may come later (a waiting JoinGroup or SyncGroup)."""

    __slots__ = ("value",)

    def __init__(self, value: Any = None) -> None:
        self.value = value


@dataclass(slots=True)
class Committed:
    offset: int
    leader_epoch: int
    metadata: str | None
    timestamp: int


@dataclass(eq=False)
class Member:
    member_id: str
    instance_id: str | None
    client_id: str
    client_host: str
    rebalance_timeout: float
    session_timeout: float
    protocol_type: str
    protocols: list[tuple[str, bytes]]
    assignment: bytes = b""
    join: Slot | None = None
    sync: Slot | None = None

    @property
    def awaiting_join(self) -> bool:
        return self.join is not None

    def metadata(self, protocol_name: str | None) -> bytes:
        return next((m for n, m in self.protocols if n == protocol_name), b"")


@dataclass(eq=False)
class ClassicGroup:
    group_id: str
    state: str = EMPTY
    previous_state: str = EMPTY
    generation: int = 0
    protocol_type: str | None = None
    protocol_name: str | None = None
    leader: str | None = None
    members: dict[str, Member] = field(default_factory=dict)
    pending_members: set[str] = field(default_factory=set)
    static: dict[str, str] = field(default_factory=dict)
    pending_sync: set[str] = field(default_factory=set)
    new_member_added: bool = False
    offsets: dict[tuple[str, int], Committed] = field(default_factory=dict)
    pending_txn_offsets: dict[int, dict[tuple[str, int], Committed]] = field(
        default_factory=dict)

    def transition(self, state: str) -> None:
        self.previous_state = self.state
        self.state = state

    @property
    def rebalance_timeout(self) -> float:
        return max((m.rebalance_timeout for m in self.members.values()), default=0.0)

    def all_joined(self) -> bool:
        return (all(m.awaiting_join for m in self.members.values())
                and not self.pending_members)

    def supports(self, protocol_type: str, protocols: list[tuple[str, bytes]]) -> bool:
        names = {n for n, _ in protocols}
        if not self.members:
            return bool(protocol_type) and bool(names)
        if protocol_type != self.protocol_type:
            return False
        return bool(names & self.candidates())

    def candidates(self) -> set[str]:
        sets = [{n for n, _ in m.protocols} for m in self.members.values()]
        return set.intersection(*sets) if sets else set()

    def select_protocol(self) -> str:
        cands = self.candidates()
        votes: dict[str, int] = {}
        for m in self.members.values():
            vote = next(n for n, _ in m.protocols if n in cands)
            votes[vote] = votes.get(vote, 0) + 1
        return max(votes, key=lambda n: votes[n])

    def validate_member(self, member_id: str, instance_id: str | None) -> int:
        if instance_id is not None:
            existing = self.static.get(instance_id)
            if existing is None:
                return codes.UNKNOWN_MEMBER_ID
            if existing != member_id:
                return codes.FENCED_INSTANCE_ID
        if member_id not in self.members:
            return codes.UNKNOWN_MEMBER_ID
        return codes.NONE

    def add(self, member: Member) -> None:
        if not self.members:
            self.protocol_type = member.protocol_type
        self.members[member.member_id] = member
        if member.instance_id is not None:
            self.static[member.instance_id] = member.member_id
        if self.leader is None:
            self.leader = member.member_id
        self.pending_members.discard(member.member_id)

    def remove(self, member_id: str) -> None:
        member = self.members.pop(member_id, None)
        if member is not None and member.instance_id is not None:
            self.static.pop(member.instance_id, None)
        if self.leader == member_id:
            self.leader = next(iter(self.members), None)
        self.pending_members.discard(member_id)
        self.pending_sync.discard(member_id)

    def join_response(self, member: Member, leader_view: bool) -> Any:
        members = []
        if leader_view:
            members = [jg.JoinGroupResponseMember(member_id=m.member_id,
                                                  group_instance_id=m.instance_id,
                                                  metadata=m.metadata(self.protocol_name))
                       for m in self.members.values()]
        return protocol.JoinGroupResponse(
            error_code=codes.NONE, generation_id=self.generation,
            protocol_type=self.protocol_type, protocol_name=self.protocol_name,
            leader=self.leader or "", member_id=member.member_id, members=members)


def _join_error(code: int, member_id: str = "") -> Any:
    return protocol.JoinGroupResponse(error_code=code, generation_id=-1, member_id=member_id,
                                      protocol_name=None, leader="", members=[])


@dataclass
class GroupSettings:
    min_session_timeout: float = 6.0
    max_session_timeout: float = 1800.0
    initial_rebalance_delay: float = 0.0
    max_size: int = 0x7FFFFFFF
    new_member_join_timeout: float = 300.0


class GroupCoordinator:
    """Every classic group of the cluster (coordinator placement is the cluster's)."""

    def __init__(self, timers: Timers, settings: GroupSettings,
                 new_uuid: Callable[[], uuid.UUID]) -> None:
        self.groups: dict[str, ClassicGroup] = {}
        self.offset_writes = 0
        """Counts commits of offsets (OffsetCommit, a committed transaction's offsets): a
        watcher of the committed offsets reads them again only when it moved."""
        self.timers = timers
        self.settings = settings
        self._uuid = new_uuid

    # -- JoinGroup ---------------------------------------------------------------------------

    def join(self, req: Any, version: int, client_id: str, client_host: str,
             now: float) -> Slot:
        s = self.settings
        if not req.group_id:
            return Slot(_join_error(codes.INVALID_GROUP_ID, req.member_id))
        session = req.session_timeout_ms / 1000
        if session < s.min_session_timeout or session > s.max_session_timeout:
            return Slot(_join_error(codes.INVALID_SESSION_TIMEOUT, req.member_id))
        unknown = req.member_id == ""
        group = self.groups.get(req.group_id)
        if group is None:
            if not unknown:
                return Slot(_join_error(codes.UNKNOWN_MEMBER_ID, req.member_id))
            group = self.groups[req.group_id] = ClassicGroup(req.group_id)
        if not self._accept(group, req.member_id):
            group.remove(req.member_id)
            return Slot(_join_error(codes.GROUP_MAX_SIZE_REACHED))
        protocols = [(p.name, p.metadata) for p in req.protocols]
        rebalance = (req.rebalance_timeout_ms if version >= 1 else req.session_timeout_ms) / 1000
        instance = req.group_instance_id if version >= 5 else None
        if group.state == DEAD:
            return Slot(_join_error(codes.COORDINATOR_NOT_AVAILABLE, req.member_id))
        if not group.supports(req.protocol_type, protocols):
            return Slot(_join_error(codes.INCONSISTENT_GROUP_PROTOCOL, req.member_id))
        slot = Slot()
        if unknown:
            prefix = instance if instance is not None else client_id
            new_id = f"{prefix}-{self._uuid()}"
            if instance is not None:
                old = group.static.get(instance)
                if old is not None:
                    self._replace_static(group, req, old, new_id, protocols, rebalance,
                                         session, slot, version, now)
                    return slot
            elif version >= 4:
                group.pending_members.add(new_id)
                self.timers.schedule(("heartbeat", group.group_id, new_id), now + session,
                                     partial(self._expire, group, new_id))
                return Slot(_join_error(codes.MEMBER_ID_REQUIRED, new_id))
            member = Member(new_id, instance, client_id, client_host, rebalance, session,
                            req.protocol_type, protocols, join=slot)
            self._add_member(group, member, now)
            return slot
        if req.member_id in group.pending_members:
            member = Member(req.member_id, instance, client_id, client_host, rebalance,
                            session, req.protocol_type, protocols, join=slot)
            self._add_member(group, member, now)
            return slot
        code = group.validate_member(req.member_id, instance)
        if code:
            return Slot(_join_error(code, req.member_id))
        member = group.members[req.member_id]
        same = member.protocols == protocols
        if group.state == PREPARING_REBALANCE:
            self._update(group, member, protocols, rebalance, session, slot, now)
        elif group.state == COMPLETING_REBALANCE:
            if same:
                slot.value = group.join_response(member, group.leader == member.member_id)
            else:
                self._update(group, member, protocols, rebalance, session, slot, now)
        elif group.state == STABLE:
            if group.leader == member.member_id or not same:
                self._update(group, member, protocols, rebalance, session, slot, now)
            else:
                slot.value = group.join_response(member, False)
        else:
            slot.value = _join_error(codes.UNKNOWN_MEMBER_ID, req.member_id)
        return slot

    def _accept(self, group: ClassicGroup, member_id: str) -> bool:
        size = self.settings.max_size
        if group.state in (EMPTY, DEAD):
            return True
        if group.state == PREPARING_REBALANCE:
            m = group.members.get(member_id)
            return (m is not None and m.awaiting_join) or sum(
                1 for x in group.members.values() if x.awaiting_join) < size
        return member_id in group.members or len(group.members) < size

    def _add_member(self, group: ClassicGroup, member: Member, now: float) -> None:
        if group.state == PREPARING_REBALANCE and group.previous_state == EMPTY:
            group.new_member_added = True
        group.add(member)
        self._reschedule_heartbeat(group, member, now, self.settings.new_member_join_timeout)
        self._rebalance_or_complete(group, now)

    def _update(self, group: ClassicGroup, member: Member, protocols: list[tuple[str, bytes]],
                rebalance: float, session: float, slot: Slot, now: float) -> None:
        member.protocols = protocols
        member.rebalance_timeout = rebalance
        member.session_timeout = session
        member.join = slot
        self._rebalance_or_complete(group, now)

    def _replace_static(self, group: ClassicGroup, req: Any, old_id: str, new_id: str,
                        protocols: list[tuple[str, bytes]], rebalance: float, session: float,
                        slot: Slot, version: int, now: float) -> None:
        old = group.members.pop(old_id)
        if old.join is not None:
            old.join.value = _join_error(codes.FENCED_INSTANCE_ID, old_id)
        if old.sync is not None:
            old.sync.value = protocol.SyncGroupResponse(error_code=codes.FENCED_INSTANCE_ID,
                                                        assignment=b"")
        self.timers.cancel(("heartbeat", group.group_id, old_id))
        old.member_id = new_id
        old.join = None
        old.sync = None
        group.members[new_id] = old
        group.static[old.instance_id or ""] = new_id
        if group.leader == old_id:
            group.leader = new_id
        if old_id in group.pending_sync:
            group.pending_sync.discard(old_id)
            group.pending_sync.add(new_id)
        self._reschedule_heartbeat(group, old, now)
        old.protocols = protocols
        old.rebalance_timeout = rebalance
        old.session_timeout = session
        if group.state == STABLE:
            if group.protocol_name == group.select_protocol():
                is_leader = group.leader == new_id
                if version >= 9:
                    resp = group.join_response(old, is_leader)
                    resp.skip_assignment = is_leader
                else:
                    resp = group.join_response(old, False)
                slot.value = resp
                return
            old.join = slot
            self._rebalance_or_complete(group, now)
            return
        old.join = slot
        if group.state == COMPLETING_REBALANCE:
            self._prepare_rebalance(group, now)
            return
        self._maybe_complete_join(group, now)

    def _rebalance_or_complete(self, group: ClassicGroup, now: float) -> None:
        if group.state in (STABLE, COMPLETING_REBALANCE, EMPTY):
            self._prepare_rebalance(group, now)
        else:
            self._maybe_complete_join(group, now)

    def _maybe_complete_join(self, group: ClassicGroup, now: float) -> None:
        if (group.state == PREPARING_REBALANCE and group.previous_state != EMPTY
                and group.all_joined()):
            self._complete_join(group, now)

    def _prepare_rebalance(self, group: ClassicGroup, now: float) -> None:
        if group.state == COMPLETING_REBALANCE:
            for m in group.members.values():
                m.assignment = b""
            self._propagate(group, codes.REBALANCE_IN_PROGRESS, now)
        group.pending_sync.clear()
        self.timers.cancel(("sync", group.group_id))
        initial = group.state == EMPTY
        key = ("join", group.group_id)
        if initial:
            delay = self.settings.initial_rebalance_delay
            remaining = max(group.rebalance_timeout - delay, 0.0)
            self.timers.schedule(key, now + delay,
                                 lambda t: self._initial_rebalance(group, delay, remaining, t))
        group.transition(PREPARING_REBALANCE)
        if initial:
            return
        if group.all_joined():
            self._complete_join(group, now)
        else:
            self.timers.schedule(key, now + group.rebalance_timeout,
                                 lambda t: self._complete_join(group, t))

    def _initial_rebalance(self, group: ClassicGroup, delay: float, remaining: float,
                           now: float) -> None:
        if group.new_member_added and remaining > 0:
            group.new_member_added = False
            new_delay = min(self.settings.initial_rebalance_delay, remaining)
            new_remaining = max(remaining - delay, 0.0)
            self.timers.schedule(
                ("join", group.group_id), now + new_delay,
                lambda t: self._initial_rebalance(group, new_delay, new_remaining, t))
        else:
            self._complete_join(group, now)

    def _complete_join(self, group: ClassicGroup, now: float) -> None:
        self.timers.cancel(("join", group.group_id))
        for m in list(group.members.values()):
            if not m.awaiting_join and m.instance_id is None:
                group.remove(m.member_id)
                self.timers.cancel(("heartbeat", group.group_id, m.member_id))
        if group.state == DEAD:
            return
        if not self._elect_joined_leader(group) and group.members:
            self.timers.schedule(("join", group.group_id), now + group.rebalance_timeout,
                                 lambda t: self._complete_join(group, t))
            return
        group.generation += 1
        if group.members:
            group.protocol_name = group.select_protocol()
            group.transition(COMPLETING_REBALANCE)
        else:
            group.protocol_name = None
            group.protocol_type = None
            group.transition(EMPTY)
        group.pending_sync.clear()
        if group.state == EMPTY:
            return
        for m in group.members.values():
            if m.join is not None:
                m.join.value = group.join_response(m, group.leader == m.member_id)
                m.join = None
            self._reschedule_heartbeat(group, m, now)
            group.pending_sync.add(m.member_id)
        generation = group.generation
        self.timers.schedule(("sync", group.group_id), now + group.rebalance_timeout,
                             lambda t: self._expire_sync(group, generation, t))

    def _elect_joined_leader(self, group: ClassicGroup) -> bool:
        if group.leader is None:
            return False
        leader = group.members.get(group.leader)
        if leader is not None and leader.awaiting_join:
            return True
        for m in group.members.values():
            if m.awaiting_join:
                group.leader = m.member_id
                return True
        return False

    def _expire_sync(self, group: ClassicGroup, generation: int, now: float) -> None:
        if generation != group.generation or group.state not in (COMPLETING_REBALANCE, STABLE):
            return
        if group.pending_sync:
            for member_id in list(group.pending_sync):
                group.remove(member_id)
                self.timers.cancel(("heartbeat", group.group_id, member_id))
            self._prepare_rebalance(group, now)

    def _propagate(self, group: ClassicGroup, error: int, now: float) -> None:
        for m in group.members.values():
            if m.sync is not None:
                m.sync.value = protocol.SyncGroupResponse(
                    error_code=error,
                    protocol_type=group.protocol_type if error == 0 else None,
                    protocol_name=group.protocol_name if error == 0 else None,
                    assignment=m.assignment)
                m.sync = None
                self._reschedule_heartbeat(group, m, now)

    def _reschedule_heartbeat(self, group: ClassicGroup, member: Member, now: float,
                              timeout: float | None = None) -> None:
        t = member.session_timeout if timeout is None else timeout
        self.timers.schedule(("heartbeat", group.group_id, member.member_id), now + t,
                             partial(self._expire, group, member.member_id))

    def _expire(self, group: ClassicGroup, member_id: str, now: float) -> None:
        if group.state == DEAD:
            return
        if member_id in group.pending_members:
            group.remove(member_id)
            if group.state == PREPARING_REBALANCE and group.all_joined():
                self._complete_join(group, now)
            return
        member = group.members.get(member_id)
        if member is None:
            return
        self._remove_member(group, member, now)

    def _remove_member(self, group: ClassicGroup, member: Member, now: float) -> None:
        if member.join is not None:
            member.join.value = _join_error(codes.UNKNOWN_MEMBER_ID)
            member.join = None
        group.remove(member.member_id)
        self.timers.cancel(("heartbeat", group.group_id, member.member_id))
        if group.state in (STABLE, COMPLETING_REBALANCE):
            self._rebalance_or_complete(group, now)
        elif group.state == PREPARING_REBALANCE and group.all_joined():
            self._complete_join(group, now)

    # -- SyncGroup, Heartbeat, LeaveGroup ----------------------------------------------------

    def sync(self, req: Any, version: int, now: float) -> Slot:
        def error(code: int) -> Slot:
            return Slot(protocol.SyncGroupResponse(error_code=code, assignment=b""))

        if not req.group_id:
            return error(codes.INVALID_GROUP_ID)
        group = self.groups.get(req.group_id)
        if group is None or not group.members:
            return error(codes.UNKNOWN_MEMBER_ID)
        instance = req.group_instance_id if version >= 3 else None
        code = group.validate_member(req.member_id, instance)
        if code:
            return error(code)
        if req.generation_id != group.generation:
            return error(codes.ILLEGAL_GENERATION)
        if version >= 5 and (
                (req.protocol_type is not None and req.protocol_type != group.protocol_type)
                or (req.protocol_name is not None
                    and req.protocol_name != group.protocol_name)):
            return error(codes.INCONSISTENT_GROUP_PROTOCOL)
        if group.state == PREPARING_REBALANCE:
            return error(codes.REBALANCE_IN_PROGRESS)
        member = group.members[req.member_id]
        if group.state == COMPLETING_REBALANCE:
            slot = Slot()
            member.sync = slot
            group.pending_sync.discard(req.member_id)
            if group.leader == req.member_id:
                assignment = {a.member_id: a.assignment for a in req.assignments}
                for m in group.members.values():
                    m.assignment = assignment.get(m.member_id, b"")
                self._propagate(group, codes.NONE, now)
                group.transition(STABLE)
            if not group.pending_sync:
                self.timers.cancel(("sync", group.group_id))
            return slot
        group.pending_sync.discard(req.member_id)
        return Slot(protocol.SyncGroupResponse(
            error_code=codes.NONE, protocol_type=group.protocol_type,
            protocol_name=group.protocol_name, assignment=member.assignment))

    def heartbeat(self, req: Any, version: int, now: float) -> int:
        if not req.group_id:
            return codes.INVALID_GROUP_ID
        group = self.groups.get(req.group_id)
        if group is None:
            return codes.UNKNOWN_MEMBER_ID
        if group.state == DEAD:
            return codes.COORDINATOR_NOT_AVAILABLE
        instance = req.group_instance_id if version >= 3 else None
        code = group.validate_member(req.member_id, instance)
        if code:
            return code
        if req.generation_id != group.generation:
            return codes.ILLEGAL_GENERATION
        if group.state == EMPTY:
            return codes.UNKNOWN_MEMBER_ID
        self._reschedule_heartbeat(group, group.members[req.member_id], now)
        if group.state == PREPARING_REBALANCE:
            return codes.REBALANCE_IN_PROGRESS
        return codes.NONE

    def leave(self, group_id: str, members: list[tuple[str, str | None]],
              now: float) -> tuple[int, list[int]]:
        """(top-level error, per-member errors) for members given as (member id, instance)."""
        if not group_id:
            return codes.INVALID_GROUP_ID, []
        group = self.groups.get(group_id)
        if group is None:
            return codes.UNKNOWN_MEMBER_ID, []
        if group.state == DEAD:
            return codes.COORDINATOR_NOT_AVAILABLE, []
        results = []
        left = False
        for member_id, instance in members:
            if member_id == "":
                if instance is not None and instance in group.static:
                    self._drop(group, group.static[instance])
                    results.append(codes.NONE)
                    left = True
                else:
                    results.append(codes.UNKNOWN_MEMBER_ID)
            elif member_id in group.pending_members:
                group.remove(member_id)
                self.timers.cancel(("heartbeat", group_id, member_id))
                results.append(codes.NONE)
                left = True
            else:
                code = group.validate_member(member_id, instance)
                if code == codes.NONE:
                    self._drop(group, member_id)
                    left = True
                results.append(code)
        if left:
            if group.state in (STABLE, COMPLETING_REBALANCE):
                self._rebalance_or_complete(group, now)
            elif group.state == PREPARING_REBALANCE:
                self._maybe_complete_join(group, now)
        return codes.NONE, results

    def _drop(self, group: ClassicGroup, member_id: str) -> None:
        member = group.members[member_id]
        self.timers.cancel(("heartbeat", group.group_id, member_id))
        if member.join is not None:
            member.join.value = _join_error(codes.UNKNOWN_MEMBER_ID)
            member.join = None
        group.remove(member_id)

    # -- offsets -----------------------------------------------------------------------------

    def validate_commit(self, group_id: str, member_id: str, instance: str | None,
                        generation: int, transactional: bool, version: int) -> int:
        """OffsetMetadataManager.validate(Transactional)OffsetCommit and
        ClassicGroup.validateOffsetCommit: a commit with a negative generation creates a
        missing group (a simple consumer group); any other commit to one fails."""
        group = self.groups.get(group_id)
        if group is None:
            if generation < 0:
                group = self.group_for_offsets(group_id)
            elif not transactional and version >= 9:
                return codes.GROUP_ID_NOT_FOUND
            else:
                return codes.ILLEGAL_GENERATION
        if group.state == DEAD:
            return codes.COORDINATOR_NOT_AVAILABLE
        if generation < 0 and group.state == EMPTY:
            return codes.NONE
        if generation >= 0 or member_id or instance is not None:
            code = group.validate_member(member_id, instance)
            if code:
                return code
            if generation != group.generation:
                return codes.ILLEGAL_GENERATION
        elif not transactional and group.state != EMPTY:
            return codes.UNKNOWN_MEMBER_ID
        if not transactional and group.state == COMPLETING_REBALANCE:
            return codes.REBALANCE_IN_PROGRESS
        return codes.NONE

    def group_for_offsets(self, group_id: str) -> ClassicGroup:
        group = self.groups.get(group_id)
        if group is None:
            group = self.groups[group_id] = ClassicGroup(group_id)
        return group

    def end_transaction(self, producer_id: int, commit: bool) -> None:
        for group in self.groups.values():
            pending = group.pending_txn_offsets.pop(producer_id, None)
            if pending and commit:
                self.offset_writes += 1
                group.offsets.update(pending)

    def delete(self, group_id: str) -> int:
        group = self.groups.get(group_id)
        if group is None:
            return codes.GROUP_ID_NOT_FOUND
        if group.state == DEAD:
            return codes.GROUP_ID_NOT_FOUND
        if group.state != EMPTY:
            return codes.NON_EMPTY_GROUP
        group.transition(DEAD)
        del self.groups[group_id]
        return codes.NONE
