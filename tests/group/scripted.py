"""A scripted broker for pure group tests: one node that is also the group coordinator.

``ScriptedBroker.step(now)`` opens the connections the core asks for, answers ApiVersions,
and hands every other request to a handler by API key. The default handlers play a
coordinator with one member (this client): MEMBER_ID_REQUIRED first (KIP-394), then
generation after generation with the member as leader, its own SyncGroup assignment echoed
back, heartbeats accepted, offsets stored. Tests queue replacements in ``script[api_key]``
(a response, or a callable building one) or ``hold`` an API to answer later by hand.
A fake fetcher stands in for the fetch engine so the session logic is tested alone.

It does not re-implement Kafka's group rules (the fake cluster's ``groups.py`` is the one
coordinator that does): it is a one-member stub whose answers the tests replace. The same
precision is now available on the fake cluster (``Faults.hold`` for ``hold``/``HOLD``,
``HeldRequest.answer`` for ``answer_held`` builders, ``Faults.respond`` for ``script``,
``Faults.watch`` for ``log``); moving these tests there is mechanical but not done yet.
"""

from __future__ import annotations

import random
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from kproto import protocol
from kproto.config import Config
from kproto.engine.client import ClientCore
from kproto.events import CloseConnection, Event, OpenConnection
from kproto.group.core import GroupCore
from kproto.protocol.messages import find_coordinator_response as fc
from kproto.protocol.messages import join_group_response as jg
from kproto.protocol.messages import leave_group_response as lg
from kproto.protocol.messages import offset_commit_response as oc
from kproto.protocol.messages import offset_fetch_response as of
from tests.core.wire import Wire, all_api_versions, metadata_response

FIND, JOIN, HEARTBEAT, LEAVE, SYNC, COMMIT, FETCH_OFFSETS, METADATA = 10, 11, 12, 13, 14, 8, 9, 3
NAMES = {FIND: "FindCoordinator", JOIN: "JoinGroup", HEARTBEAT: "Heartbeat", LEAVE: "LeaveGroup",
         SYNC: "SyncGroup", COMMIT: "OffsetCommit", FETCH_OFFSETS: "OffsetFetch",
         METADATA: "Metadata"}

Handler = Callable[[Any, int], Any]
HOLD = "hold"
"""Queue this in ``script[api_key]`` to hold that one request for ``answer_held``."""


class FakeFetcher:
    """Records what the group asks of the fetch engine; starts partitions when told."""

    def __init__(self, auto_start: bool = True) -> None:
        self.assigned: dict[int, tuple[str, int, int, int]] = {}
        self.on_start: dict[int, Any] = {}
        self.paused: set[int] = set()
        self.unassigned: list[int] = []
        self.auto_start = auto_start
        self.closed = False
        self.hwm: dict[int, int] = {}

    def assign(self, topic: str, partition: int, offset: int, now: float, *,
               leader_epoch: int = -1, on_start: Any = None, stream: int | None = None,
               start_timeout: float | None = None) -> int:
        assert stream is not None
        self.assigned[stream] = (topic, partition, offset, leader_epoch)
        self.on_start[stream] = on_start
        if self.auto_start and on_start is not None:
            on_start(stream, offset if offset >= 0 else 100, None)
        return stream

    def start(self, stream: int, offset: int, error: BaseException | None = None) -> None:
        self.on_start[stream](stream, offset, error)

    @contextmanager
    def assigning(self, now: float) -> Iterator[None]:
        yield

    def unassign(self, stream: int, now: float) -> None:
        if self.assigned.pop(stream, None) is not None:
            self.unassigned.append(stream)

    def pause(self, streams: Iterable[int], now: float) -> None:
        self.paused |= set(streams)

    def resume(self, streams: Iterable[int], now: float) -> None:
        self.paused -= set(streams)

    def release(self, stream: int, size: int, now: float) -> None:
        pass

    def streams(self) -> list[int]:
        return list(self.assigned)

    def high_water_mark(self, stream: int) -> int:
        return self.hwm.get(stream, -1)

    def close(self, now: float) -> None:
        self.closed = True
        for stream in list(self.assigned):
            self.unassign(stream, now)

    def by_tp(self) -> dict[tuple[str, int], int]:
        return {(t, p): s for s, (t, p, _o, _e) in self.assigned.items()}


class ScriptedBroker:
    """Node 1 at b1:9092, leader of every partition and coordinator of every group."""

    def __init__(self, core: ClientCore, topics: dict[str, int]) -> None:
        self.core = core
        self.topics = dict(topics)
        self.wires: dict[int, Wire] = {}
        self.log: list[tuple[str, Any, int, int]] = []
        """(api name, request, version, conn id) of every request answered or held."""
        self.script: dict[int, deque[Any]] = defaultdict(deque)
        self.hold: set[int] = set()
        self.held: list[tuple[Wire, Any, Any, int]] = []
        self.committed: dict[tuple[str, int], int] = {}
        self.generation = 0
        self.next_member = 1
        self.members: dict[str, tuple[str | None, list[Any]]] = {}
        self.leader_assignments: dict[str, bytes] = {}
        self.closed: list[int] = []

    # -- driving ------------------------------------------------------------------------

    def step(self, now: float) -> None:
        """Do what the core asked (open/close), answer every request, until quiet."""
        while True:
            progressed = False
            while (action := self.core.next_action()) is not None:
                progressed = True
                if isinstance(action, OpenConnection):
                    self.core.connection_made(action.conn_id, now)
                    self.wires[action.conn_id] = Wire(self.core, action.conn_id)
                elif isinstance(action, CloseConnection):
                    self.wires.pop(action.conn_id, None)
                    self.closed.append(action.conn_id)
            for wire in list(self.wires.values()):
                for header, req, version in wire.requests():
                    progressed = True
                    self._answer(wire, header, req, version, now)
            if not progressed:
                return

    def drop(self, conn_id: int, now: float) -> None:
        """The connection breaks (as if the broker went away)."""
        self.wires.pop(conn_id, None)
        self.core.connection_lost(conn_id, "connection reset by peer", now)

    def answer_held(self, now: float,
                    builders: dict[int, Callable[[Any, int], Any]] | None = None) -> None:
        """Answer the held requests in the order they came (as a broker does), with the
        default handlers or ``builders[api_key]``."""
        held, self.held = self.held, []
        for wire, header, req, version in held:
            key = header.request_api_key
            resp = (builders or {}).get(key, self.handler(key))(req, version)
            wire.reply(header, version, resp, now)

    def requests(self, api_key: int) -> list[tuple[Any, int]]:
        return [(r, v) for name, r, v, _c in self.log if name == NAMES[api_key]]

    def last(self, api_key: int) -> Any:
        return self.requests(api_key)[-1][0]

    def count(self, api_key: int) -> int:
        return len(self.requests(api_key))

    def coordinator_conn(self) -> int:
        return next(c for name, _r, _v, c in reversed(self.log) if name in (
            "JoinGroup", "Heartbeat", "SyncGroup", "OffsetCommit", "OffsetFetch"))

    def _answer(self, wire: Wire, header: Any, req: Any, version: int, now: float) -> None:
        key = header.request_api_key
        if key == 18:
            wire.reply(header, version, all_api_versions(), now)
            return
        self.log.append((NAMES.get(key, str(key)), req, version, wire.conn_id))
        if key in self.hold:
            self.held.append((wire, header, req, version))
            return
        queued = self.script.get(key)
        if queued:
            item = queued.popleft()
            if item == HOLD:
                self.held.append((wire, header, req, version))
                return
            resp = item(req, version) if callable(item) else item
        else:
            resp = self.handler(key)(req, version)
        if resp is not None:
            wire.reply(header, version, resp, now)

    # -- default behaviour --------------------------------------------------------------

    def handler(self, key: int) -> Handler:
        return {METADATA: self.metadata, FIND: self.find, JOIN: self.join, SYNC: self.sync,
                HEARTBEAT: self.heartbeat, LEAVE: self.leave, COMMIT: self.commit,
                FETCH_OFFSETS: self.fetch_offsets}[key]

    def metadata(self, req: Any, version: int) -> Any:
        wanted = None if req.topics is None else {t.name for t in req.topics}
        return metadata_response([(1, "b1", 9092)], {
            t: [1] * n for t, n in self.topics.items() if wanted is None or t in wanted})

    def find(self, req: Any, version: int, error: int = 0) -> Any:
        if version >= 4:
            return protocol.FindCoordinatorResponse(coordinators=[fc.Coordinator(
                key=req.coordinator_keys[0], node_id=1, host="b1", port=9092, error_code=error)])
        return protocol.FindCoordinatorResponse(error_code=error, node_id=1, host="b1",
                                                port=9092)

    def join(self, req: Any, version: int) -> Any:
        if not req.member_id and req.group_instance_id is None:
            member = f"m-{self.next_member}"
            self.next_member += 1
            return protocol.JoinGroupResponse(error_code=79, member_id=member)
        member = req.member_id or f"static-{req.group_instance_id}"
        self.generation += 1
        self.members = {member: (req.group_instance_id, req.protocols)}
        proto = req.protocols[0]
        return protocol.JoinGroupResponse(
            error_code=0, generation_id=self.generation, protocol_type="consumer",
            protocol_name=proto.name, leader=member, member_id=member,
            members=[jg.JoinGroupResponseMember(member_id=member,
                                                group_instance_id=req.group_instance_id,
                                                metadata=proto.metadata)])

    def sync(self, req: Any, version: int) -> Any:
        for a in req.assignments:
            self.leader_assignments[a.member_id] = a.assignment
        return protocol.SyncGroupResponse(
            error_code=0, protocol_type="consumer", protocol_name=req.protocol_name,
            assignment=self.leader_assignments.get(req.member_id, b""))

    def heartbeat(self, req: Any, version: int, error: int = 0) -> Any:
        return protocol.HeartbeatResponse(error_code=error)

    def leave(self, req: Any, version: int) -> Any:
        return protocol.LeaveGroupResponse(error_code=0, members=[
            lg.MemberResponse(member_id=m.member_id, group_instance_id=m.group_instance_id,
                              error_code=0) for m in req.members])

    def commit(self, req: Any, version: int, error: int = 0) -> Any:
        topics = []
        for t in req.topics:
            parts = []
            for p in t.partitions:
                if not error:
                    self.committed[(t.name, p.partition_index)] = p.committed_offset
                parts.append(oc.OffsetCommitResponsePartition(partition_index=p.partition_index,
                                                              error_code=error))
            topics.append(oc.OffsetCommitResponseTopic(name=t.name, partitions=parts))
        return protocol.OffsetCommitResponse(topics=topics)

    def fetch_offsets(self, req: Any, version: int, error: int = 0) -> Any:
        asked = req.groups[0].topics if version >= 8 else req.topics
        if version >= 8:
            return protocol.OffsetFetchResponse(groups=[of.OffsetFetchResponseGroup(
                group_id=req.groups[0].group_id, error_code=0, topics=[
                    of.OffsetFetchResponseTopics(name=t.name, partitions=[
                        of.OffsetFetchResponsePartitions(
                            partition_index=p, error_code=error,
                            committed_offset=self.committed.get((t.name, p), -1),
                            committed_leader_epoch=-1)
                        for p in t.partition_indexes]) for t in asked])])
        return protocol.OffsetFetchResponse(topics=[of.OffsetFetchResponseTopic(
            name=t.name, partitions=[of.OffsetFetchResponsePartition(
                partition_index=p, error_code=error,
                committed_offset=self.committed.get((t.name, p), -1))
                for p in t.partition_indexes]) for t in asked])


class Harness:
    """A GroupCore on a scripted broker with a fake fetcher, and a clock."""

    def __init__(self, topics: dict[str, int] | None = None, *, seed: int = 1,
                 fetcher: FakeFetcher | None = None, **options: Any) -> None:
        defaults: dict[str, Any] = dict(group_id="g", session_timeout=10.0,
                                        heartbeat_interval=1.0, rebalance_timeout=20.0,
                                        auto_commit_interval=5.0, request_timeout=30.0)
        defaults.update(options)
        self.config = Config(**defaults)
        self.now = 0.0
        self.core = ClientCore("b1:9092", self.config, rng=random.Random(seed), now=0.0)
        self.broker = ScriptedBroker(self.core, topics or {"t": 4})
        self.fetcher = fetcher or FakeFetcher()
        self.group = GroupCore(self.core, self.config, fetcher=self.fetcher)
        self.events: list[Event] = []

    def step(self) -> list[Event]:
        self.broker.step(self.now)
        new = []
        while (ev := self.core.next_event()) is not None:
            new.append(ev)
        self.events += new
        return new

    def advance(self, seconds: float) -> list[Event]:
        """Let time pass, firing every timer on the way and answering what they send."""
        end = self.now + seconds
        out = self.step()
        while True:
            deadline = self.core.next_deadline()
            if deadline is None or deadline > end:
                break
            self.now = max(self.now, deadline)
            self.core.handle_timer(self.now)
            out += self.step()
        self.now = end
        self.core.handle_timer(self.now)
        return out + self.step()

    def run(self, op: Callable[[GroupCore, float], Any]) -> Any:
        result = op(self.group, self.now)
        self.step()
        return result

    def result(self, token: int) -> Any:
        from kproto.events import OperationCompleted, OperationFailed
        for ev in self.events:
            if isinstance(ev, OperationCompleted) and ev.token == token:
                return ev.value
            if isinstance(ev, OperationFailed) and ev.token == token:
                raise ev.error
        raise AssertionError(f"token {token} has not settled")

    def settled(self, token: int) -> bool:
        from kproto.events import OperationCompleted, OperationFailed
        return any(isinstance(ev, (OperationCompleted, OperationFailed)) and ev.token == token
                   for ev in self.events)

    def of(self, kind: type) -> list[Any]:
        return [ev for ev in self.events if isinstance(ev, kind)]

    def start(self, topics: Any = ("t",)) -> Any:
        token = self.run(lambda g, now: g.consume(topics, now))
        self.step()
        return self.result(token)
