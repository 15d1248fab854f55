"""A scripted cluster for pure consumer tests: the engine's connections answered by hand.

``Cluster`` opens every connection the engine asks for, answers ApiVersions and Metadata
from its own picture (brokers, leaders, leader epochs, topic ids) and hands every other
request to the test as a ``Req``, which the test answers with ``reply``. Helpers build
Fetch, ListOffsets and OffsetForLeaderEpoch responses and record batches.

Why it is not the fake cluster: these tests answer every Fetch by hand with bytes a broker
would not produce from a log (batches at offsets of the test's choosing, truncated or corrupt
data, aborted-transaction lists, diverging epochs, per-partition errors mixed in one
response) and assert how the fetcher reacts; the fake cluster's ``Faults.hold`` with
``HeldRequest.answer`` could carry those answers, but the answers stay hand-built, so only
the connection and metadata plumbing here would move.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from typing import Any

from kproto import protocol
from kproto.config import Config
from kproto.engine.client import ClientCore
from kproto.events import CloseConnection, Event, OpenConnection
from kproto.protocol.messages import fetch_response as fr
from kproto.protocol.messages import list_offsets_response as lo
from kproto.protocol.messages import metadata_response as md
from kproto.protocol.messages import offset_for_leader_epoch_response as ofl
from kproto.records import BatchBuilder, Compression, build_control_batch
from tests.core.wire import Wire, all_api_versions

FETCH, LIST_OFFSETS, METADATA, API_VERSIONS, OFFSET_FOR_LEADER_EPOCH = 1, 2, 3, 18, 23


def make_core(bootstrap: str = "b1:9092", seed: int = 1, **options: Any) -> ClientCore:
    return ClientCore(bootstrap, Config(**options), rng=random.Random(seed), now=0.0)


@dataclass(eq=False)
class Req:
    """One request the client wrote, with where it went."""

    node: int
    header: Any
    body: Any
    version: int
    wire: Wire
    cluster: Cluster
    answered: bool = False

    @property
    def api_key(self) -> int:
        return int(self.header.request_api_key)

    def reply(self, response: Any, now: float) -> None:
        """Answer; responses queued behind this one on its connection go out after it."""
        assert not self.answered, "answered twice"
        self.answered = True
        self.wire.reply(self.header, self.version, response, now)
        self.cluster.flush(self.wire, now)

    # Fetch request views, whatever the version (names before 13, ids after).
    def fetch_partitions(self, names: dict[uuid.UUID, str]) -> dict[tuple[str, int], Any]:
        out = {}
        for t in self.body.topics:
            name = t.topic if self.version < 13 else names[t.topic_id]
            for p in t.partitions:
                out[(name, p.partition)] = p
        return out

    def forgotten(self, names: dict[uuid.UUID, str]) -> set[tuple[str, int]]:
        out = set()
        for t in self.body.forgotten_topics_data:
            name = t.topic if self.version < 13 else names[t.topic_id]
            out |= {(name, p) for p in t.partitions}
        return out


@dataclass
class Cluster:
    """Brokers ``{node: host}`` (all on port 9092) and topics ``{name: [leader, ...]}``."""

    core: ClientCore
    brokers: dict[int, str] = field(default_factory=lambda: {1: "b1"})
    topics: dict[str, list[int]] = field(default_factory=dict)
    epochs: dict[tuple[str, int], int] = field(default_factory=dict)
    versions: dict[int, tuple[int, int]] = field(default_factory=dict)
    racks: dict[int, str] = field(default_factory=dict)
    topic_ids: dict[str, uuid.UUID] = field(default_factory=dict)
    wires: dict[int, tuple[Wire, int]] = field(default_factory=dict)
    queues: dict[int, list[Req]] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    metadata_requests: int = 0
    refuse: set[int] = field(default_factory=set)
    tls_fails: set[int] = field(default_factory=set)
    """Nodes whose TLS handshake fails verification (an authentication error)."""

    def __post_init__(self) -> None:
        for name in self.topics:
            self.topic_ids.setdefault(name, uuid.UUID(int=random.Random(name).getrandbits(128)))

    @property
    def names(self) -> dict[uuid.UUID, str]:
        return {v: k for k, v in self.topic_ids.items()}

    def node_of(self, host: str) -> int:
        for node, h in self.brokers.items():
            if h == host:
                return node
        raise AssertionError(f"no broker {host}")

    def step(self, now: float) -> list[Req]:
        """Open connections, answer ApiVersions and Metadata; return the other requests."""
        out: list[Req] = []
        while True:
            progress = False
            while (action := self.core.next_action()) is not None:
                progress = True
                if isinstance(action, OpenConnection):
                    node = self.node_of(action.host)
                    if node in self.refuse:
                        self.core.connection_lost(action.conn_id, "connection refused", now)
                        continue
                    if node in self.tls_fails:
                        self.core.connection_lost(action.conn_id, "certificate verify failed",
                                                  now, tls_failed=True)
                        continue
                    self.core.connection_made(action.conn_id, now)
                    self.wires[action.conn_id] = (Wire(self.core, action.conn_id), node)
                elif isinstance(action, CloseConnection):
                    self.wires.pop(action.conn_id, None)
            for conn_id, (wire, node) in list(self.wires.items()):
                queue = self.queues.setdefault(conn_id, [])
                for header, body, version in wire.requests():
                    progress = True
                    req = Req(node, header, body, version, wire, self)
                    queue.append(req)
                    if req.api_key not in (API_VERSIONS, METADATA):
                        out.append(req)
                self.flush(wire, now)
            while (event := self.core.next_event()) is not None:
                self.events.append(event)
            if not progress:
                return out

    def flush(self, wire: Wire, now: float) -> None:
        """Answer ApiVersions and Metadata at the head of the connection's queue."""
        queue = self.queues.get(wire.conn_id, [])
        while queue:
            req = queue[0]
            if req.answered:
                queue.pop(0)
                continue
            if req.api_key == API_VERSIONS:
                req.reply(all_api_versions(self.versions), now)
            elif req.api_key == METADATA:
                self.metadata_requests += 1
                req.reply(self.metadata(req.body), now)
            else:
                return

    def drop(self, node: int, now: float) -> None:
        """The broker's connections break."""
        for conn_id, (_wire, n) in list(self.wires.items()):
            if n == node:
                del self.wires[conn_id]
                self.core.connection_lost(conn_id, "connection reset by peer", now)

    def take_events(self) -> list[Event]:
        while (event := self.core.next_event()) is not None:
            self.events.append(event)
        out, self.events = self.events, []
        return out

    def metadata(self, request: Any = None) -> Any:
        asked = [t.name for t in request.topics] if request is not None and request.topics else []
        missing = [md.MetadataResponseTopic(error_code=3, name=name, partitions=[])
                   for name in asked if name not in self.topics]
        return protocol.MetadataResponse(
            brokers=[md.MetadataResponseBroker(node_id=n, host=h, port=9092,
                                               rack=self.racks.get(n))
                     for n, h in sorted(self.brokers.items())],
            cluster_id="scripted", controller_id=min(self.brokers),
            topics=[md.MetadataResponseTopic(
                error_code=0, name=name, topic_id=self.topic_ids[name],
                partitions=[md.MetadataResponsePartition(
                    error_code=0, partition_index=i, leader_id=leader,
                    leader_epoch=self.epochs.get((name, i), 0),
                    replica_nodes=sorted(self.brokers), isr_nodes=sorted(self.brokers))
                    for i, leader in enumerate(leaders)])
                for name, leaders in self.topics.items()] + missing)


# -- responses -------------------------------------------------------------------------------

@dataclass
class PartitionReply:
    records: bytes | None = None
    error: int = 0
    high_watermark: int = 0
    last_stable_offset: int = -1
    log_start_offset: int = 0
    aborted: list[tuple[int, int]] | None = None
    preferred_read_replica: int = -1
    diverging: tuple[int, int] | None = None


def fetch_response(req: Req, cluster: Cluster, parts: dict[tuple[str, int], PartitionReply],
                   *, session_id: int = 0, error: int = 0) -> Any:
    topics: dict[str, list[Any]] = {}
    for (name, partition), r in parts.items():
        pd = fr.PartitionData(
            partition_index=partition, error_code=r.error, high_watermark=r.high_watermark,
            last_stable_offset=r.last_stable_offset, log_start_offset=r.log_start_offset,
            aborted_transactions=None if r.aborted is None else [
                fr.AbortedTransaction(producer_id=pid, first_offset=first)
                for pid, first in r.aborted],
            preferred_read_replica=r.preferred_read_replica, records=r.records)
        if r.diverging is not None:
            pd.diverging_epoch = fr.EpochEndOffset(epoch=r.diverging[0],
                                                   end_offset=r.diverging[1])
        topics.setdefault(name, []).append(pd)
    return protocol.FetchResponse(
        error_code=error, session_id=session_id,
        responses=[fr.FetchableTopicResponse(topic=name, topic_id=cluster.topic_ids[name],
                                             partitions=ps)
                   for name, ps in topics.items()])


def list_offsets_response(answers: dict[tuple[str, int], tuple[int, int]],
                          epoch: int = 0) -> Any:
    """``{(topic, partition): (error, offset)}``."""
    topics: dict[str, list[Any]] = {}
    for (name, partition), (error, offset) in answers.items():
        topics.setdefault(name, []).append(lo.ListOffsetsPartitionResponse(
            partition_index=partition, error_code=error, timestamp=-1, offset=offset,
            leader_epoch=epoch))
    return protocol.ListOffsetsResponse(topics=[
        lo.ListOffsetsTopicResponse(name=name, partitions=ps) for name, ps in topics.items()])


def epoch_response(answers: dict[tuple[str, int], tuple[int, int, int]]) -> Any:
    """``{(topic, partition): (error, leader_epoch, end_offset)}``."""
    topics: dict[str, list[Any]] = {}
    for (name, partition), (error, epoch, end) in answers.items():
        topics.setdefault(name, []).append(ofl.EpochEndOffset(
            error_code=error, partition=partition, leader_epoch=epoch, end_offset=end))
    return protocol.OffsetForLeaderEpochResponse(topics=[
        ofl.OffsetForLeaderTopicResult(topic=name, partitions=ps) for name, ps in topics.items()])


# -- records ---------------------------------------------------------------------------------

def batch(base_offset: int, values: list[bytes], *, epoch: int = 0,
          compression: Compression = Compression.NONE, magic: int = 2,
          producer_id: int = -1, transactional: bool = False, timestamp: int = 1000,
          keys: list[bytes | None] | None = None) -> bytes:
    b = BatchBuilder(magic=magic, compression=compression, base_offset=base_offset,
                     producer_id=producer_id, producer_epoch=0 if producer_id >= 0 else -1,
                     base_sequence=0 if producer_id >= 0 else -1, transactional=transactional,
                     partition_leader_epoch=epoch)
    for i, v in enumerate(values):
        key = keys[i] if keys is not None else None
        assert b.append(timestamp + i, key, v, [("h", b"x")] if magic == 2 else ())
    return b.build()


def marker(offset: int, producer_id: int, commit: bool, epoch: int = 0) -> bytes:
    return build_control_batch(commit=commit, producer_id=producer_id, producer_epoch=0,
                               base_offset=offset, timestamp=2000,
                               partition_leader_epoch=epoch)
