"""A scripted cluster for pure producer tests: the client core, a producer core and brokers
that answer by rules, all driven by hand with ``now``.

Brokers keep each partition's log in the fake cluster's ``PartitionLog``
(kproto/testing/fake/log.py), the one implementation of Kafka's producer-state rules
(ProducerAppendInfo.checkSequence: duplicates among the last five batches, epochs, sequence
gaps; ``Sim(kafka_45=True)`` turns on the 4.5 rule of KAFKA-15591, a never-written partition
takes only sequence 0 from an unknown producer). InitProducerId without a transactional id
always hands out a new producer id at epoch 0, also when asked to bump one (as Kafka's
TransactionCoordinator does).
A test can hold requests of an API to answer them itself, script the next answers, inject
produce error codes per partition, or take a broker down.

The core, sequence, idempotence, partitioner, dead-leader and seeded simulation tests run on
the fake cluster itself (tests/producer/on_fake.py with the fake's fault hooks); this one
stays for test_transactions, whose assertions lean on its transaction bookkeeping
(``ended`` and ``committed_offsets`` as the coordinator received them, scripted coordinator
errors, a version-2 TxnOffsetCommit coordinator).
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kproto import protocol
from kproto.config import Config
from kproto.engine.client import ClientCore
from kproto.events import CloseConnection, Event, OpenConnection
from kproto.message_types import ProducerMessage
from kproto.producer import ProducerCore, RecordsDelivered, RecordsFailed
from kproto.protocol.messages import metadata_response as m
from kproto.protocol.messages.add_partitions_to_txn_response import (
    AddPartitionsToTxnPartitionResult,
    AddPartitionsToTxnTopicResult,
)
from kproto.protocol.messages.describe_configs_response import (
    DescribeConfigsResourceResult,
    DescribeConfigsResult,
)
from kproto.protocol.messages.find_coordinator_response import Coordinator
from kproto.protocol.messages.produce_response import (
    PartitionProduceResponse,
    TopicProduceResponse,
)
from kproto.protocol.messages.txn_offset_commit_response import (
    TxnOffsetCommitResponsePartition,
    TxnOffsetCommitResponseTopic,
)
from kproto.records import Record, decode_batches
from kproto.testing.fake.log import PartitionLog
from tests.core.wire import all_api_versions, frames

PRODUCE, METADATA, API_VERSIONS, FIND_COORDINATOR = 0, 3, 18, 10
INIT_PRODUCER_ID, ADD_PARTITIONS, ADD_OFFSETS, END_TXN, TXN_OFFSET_COMMIT = 22, 24, 25, 26, 28
DESCRIBE_CONFIGS = 32
READY, HELD, BLOCKED = "ready", "held", "blocked"


@dataclass
class Seen:
    """A request a broker received."""

    node: int
    conn_id: int
    header: Any
    request: Any
    version: int
    at: float

    @property
    def api_key(self) -> int:
        return int(self.header.request_api_key)


class Sim:
    """Client core + producer core + scripted brokers, driven by ``step``/``advance``."""

    def __init__(self, topics: dict[str, list[int]] | None = None, brokers: tuple[int, ...] = (1,),
                 seed: int = 1, **options: Any) -> None:
        self.kafka_45 = bool(options.pop("kafka_45", False))
        self.addresses = {n: (f"b{n}", 9090 + n) for n in brokers}
        bootstrap = ",".join(f"{h}:{p}" for h, p in self.addresses.values())
        options.setdefault("linger", 0.0)
        self.config = Config(**options)
        self.now = 0.0
        self.client = ClientCore(bootstrap, self.config, rng=random.Random(seed), now=0.0)
        self.producer = ProducerCore(self.client, self.config)
        self.topics: dict[str, list[int]] = dict(topics if topics is not None else {"t": [1]})
        self.conns: dict[int, int] = {}
        self.events: list[Event] = []
        self.seen: list[Seen] = []
        self.held: list[Seen] = []
        self.hold_apis: set[int] = set()
        self.script: dict[int, deque[Callable[[Seen], Any]]] = {}
        self.produce_errors: dict[tuple[str, int], deque[int]] = {}
        self.down: set[int] = set()
        self.logs: dict[tuple[str, int], PartitionLog] = {}
        self.coordinator = brokers[0]
        self.next_pid = 1000
        self.txn_epochs: dict[str, tuple[int, int]] = {}
        self.txn_partitions: dict[str, set[tuple[str, int]]] = {}
        self.ended: list[tuple[str, bool]] = []
        self.committed_offsets: dict[tuple[str, str, int], int] = {}
        self.outbox: dict[int, deque[list[Any]]] = {}
        self.max_message_bytes: dict[str, int] = {}
        """Per topic: a batch larger than this is MESSAGE_TOO_LARGE (max.message.bytes)."""

    # -- driving ---------------------------------------------------------------------------

    def step(self) -> None:
        """Run due timers, perform the core's IO and answer the brokers' requests."""
        client = self.client
        client.handle_timer(self.now)
        while True:
            progressed = False
            while (action := client.next_action()) is not None:
                progressed = True
                if isinstance(action, OpenConnection):
                    node = next(n for n, a in self.addresses.items()
                                if a == (action.host, action.port))
                    if node in self.down:
                        client.connection_lost(action.conn_id, "connection refused", self.now)
                    else:
                        self.conns[action.conn_id] = node
                        client.connection_made(action.conn_id, self.now)
                elif isinstance(action, CloseConnection):
                    self.conns.pop(action.conn_id, None)
            for conn_id, data in client.pending_writes():
                progressed = True
                for frame in frames(data):
                    header, request, version = protocol.decode_request(frame)
                    self._handle(Seen(self.conns.get(conn_id, -1), conn_id, header, request,
                                      version, self.now))
            while (event := client.next_event()) is not None:
                progressed = True
                self.events.append(event)
            if not progressed:
                return

    def advance(self, dt: float) -> None:
        """Move time forward, firing every timer due on the way, in order."""
        end = self.now + dt
        while True:
            deadline = self.client.next_deadline()
            if deadline is None or deadline > end:
                break
            self.now = max(self.now, deadline)
            self.client.handle_timer(self.now)
            self.step()
        self.now = end
        self.client.handle_timer(self.now)
        self.step()

    def run_until(self, cond: Callable[[], bool], limit: float = 600.0, tick: float = 0.01) -> None:
        start = self.now
        self.step()
        while not cond():
            assert self.now - start < limit, "condition not reached"
            deadline = self.client.next_deadline()
            if deadline is not None and deadline > self.now:
                self.advance(min(deadline - self.now, 1.0) + 1e-9)
            else:
                self.advance(tick)

    def send(self, value: bytes = b"v", topic: str = "t", key: bytes | None = None,
             partition: int | None = None, **kw: Any) -> int:
        token = self.producer.send(ProducerMessage(topic, value, key=key, partition=partition, **kw),
                                   self.now, 1_700_000_000_000)
        self.step()
        return token

    def kill(self, node: int) -> None:
        """The broker goes away: its connections drop, new ones are refused."""
        self.down.add(node)
        for conn_id, n in list(self.conns.items()):
            if n == node:
                del self.conns[conn_id]
                self.client.connection_lost(conn_id, "connection reset", self.now)
        self.held = [s for s in self.held if s.node != node]
        self.step()

    def revive(self, node: int) -> None:
        self.down.discard(node)

    # -- results ---------------------------------------------------------------------------

    def delivered(self) -> dict[int, tuple[str, int, int]]:
        """token -> (topic, partition, offset) of every delivered record."""
        out = {}
        for ev in self.events:
            if isinstance(ev, RecordsDelivered):
                for i, token in enumerate(ev.tokens):
                    offset = ev.base_offset + i if ev.base_offset >= 0 else -1
                    out[token] = (ev.topic, ev.partition, offset)
        return out

    def failed(self) -> dict[int, BaseException]:
        out = {}
        for ev in self.events:
            if isinstance(ev, RecordsFailed):
                for token in ev.tokens:
                    out[token] = ev.error
        return out

    def completed(self, token: int) -> Any:
        from kproto.events import OperationCompleted, OperationFailed
        for ev in self.events:
            if isinstance(ev, OperationCompleted) and ev.token == token:
                return ("ok", ev.value)
            if isinstance(ev, OperationFailed) and ev.token == token:
                return ("error", ev.error)
        return None

    def requests(self, api_key: int) -> list[Seen]:
        return [s for s in self.seen if s.api_key == api_key]

    def log(self, topic: str = "t", partition: int = 0) -> PartitionLog:
        """The partition's log: the fake cluster's, with its producer-state rules."""
        log = self.logs.get((topic, partition))
        if log is None:
            log = self.logs[(topic, partition)] = PartitionLog(first_sequence_zero=self.kafka_45)
        return log

    def records(self, topic: str = "t", partition: int = 0) -> list[Record]:
        return [r for e in self.log(topic, partition).entries for r in e.records()]

    def values(self, topic: str = "t", partition: int = 0) -> list[bytes | None]:
        return [r.value for r in self.records(topic, partition)]

    # -- answering -------------------------------------------------------------------------

    def reply(self, seen: Seen, response: Any) -> None:
        """Answer a held request; a connection answers in request order, so the answers
        of later requests wait for it (and later requests are processed after it)."""
        if seen in self.held:
            self.held.remove(seen)
        for entry in self.outbox.get(seen.conn_id, ()):
            if entry[0] is seen:
                entry[1:] = [response, READY]
        self._flush_out(seen.conn_id)
        self.step()

    def answer(self, seen: Seen) -> Any:
        """The broker's default answer to a request (also applies it)."""
        return self._default(seen)

    def release(self, api_key: int | None = None) -> None:
        """Answer every held request (of ``api_key``) the default way, in order."""
        for seen in list(self.held):
            if api_key is None or seen.api_key == api_key:
                self.reply(seen, self._default(seen))

    def _flush_out(self, conn_id: int) -> None:
        queue = self.outbox.get(conn_id)
        while queue:
            entry = queue[0]
            if entry[2] == HELD:
                return
            if entry[2] == BLOCKED:
                entry[0].at = self.now
                self._process(entry)
                continue
            seen, response, _ = queue.popleft()
            if response is None or conn_id not in self.conns:
                continue
            data = protocol.encode_response(response, seen.version,
                                            seen.header.correlation_id, seen.api_key)
            self.client.receive_data(conn_id, data, self.now)

    def _handle(self, seen: Seen) -> None:
        self.seen.append(seen)
        if seen.node in self.down:
            return
        queue = self.outbox.setdefault(seen.conn_id, deque())
        entry: list[Any] = [seen, None, BLOCKED]
        blocked = any(e[2] != READY for e in queue)
        queue.append(entry)
        if not blocked or seen.api_key in (API_VERSIONS, METADATA):
            self._process(entry)
        self._flush_out(seen.conn_id)

    def _process(self, entry: list[Any]) -> None:
        seen = entry[0]
        key = seen.api_key
        script = self.script.get(key)
        if key in (API_VERSIONS, METADATA):
            entry[1:] = [self._default(seen), READY]
        elif script:
            response = script.popleft()(seen)
            if response is not None:
                entry[1:] = [response, READY]
            else:
                entry[2] = HELD
                self.held.append(seen)
        elif key in self.hold_apis:
            entry[2] = HELD
            self.held.append(seen)
        else:
            entry[1:] = [self._default(seen), READY]

    def _default(self, seen: Seen) -> Any:
        req = seen.request
        key = seen.api_key
        if key == API_VERSIONS:
            return all_api_versions()
        if key == METADATA:
            return self.metadata_response(req)
        if key == PRODUCE:
            return self.produce_response(seen)
        if key == FIND_COORDINATOR:
            if seen.version >= 4:
                return protocol.FindCoordinatorResponse(coordinators=[Coordinator(
                    key=req.coordinator_keys[0], node_id=self.coordinator,
                    host=self.addresses[self.coordinator][0],
                    port=self.addresses[self.coordinator][1], error_code=0)])
            return protocol.FindCoordinatorResponse(
                error_code=0, node_id=self.coordinator,
                host=self.addresses[self.coordinator][0],
                port=self.addresses[self.coordinator][1])
        if key == INIT_PRODUCER_ID:
            return self.init_producer_id(req)
        if key == ADD_PARTITIONS:
            parts = self.txn_partitions.setdefault(req.v3_and_below_transactional_id, set())
            results = []
            for topic in req.v3_and_below_topics:
                for p in topic.partitions:
                    parts.add((topic.name, p))
                results.append(AddPartitionsToTxnTopicResult(name=topic.name, results_by_partition=[
                    AddPartitionsToTxnPartitionResult(partition_index=p, partition_error_code=0)
                    for p in topic.partitions]))
            return protocol.AddPartitionsToTxnResponse(results_by_topic_v3_and_below=results)
        if key == ADD_OFFSETS:
            return protocol.AddOffsetsToTxnResponse(error_code=0)
        if key == TXN_OFFSET_COMMIT:
            for topic in req.topics:
                for p in topic.partitions:
                    self.committed_offsets[(req.group_id, topic.name, p.partition_index)] = \
                        p.committed_offset
            return protocol.TxnOffsetCommitResponse(topics=[TxnOffsetCommitResponseTopic(
                name=t.name, partitions=[TxnOffsetCommitResponsePartition(
                    partition_index=p.partition_index, error_code=0) for p in t.partitions])
                for t in req.topics])
        if key == DESCRIBE_CONFIGS:
            return protocol.DescribeConfigsResponse(results=[DescribeConfigsResult(
                resource_type=r.resource_type, resource_name=r.resource_name,
                configs=[DescribeConfigsResourceResult(
                    name="max.message.bytes",
                    value=str(self.max_message_bytes.get(r.resource_name, 1048588)))])
                for r in req.resources])
        if key == END_TXN:
            self.ended.append((req.transactional_id, req.committed))
            self.txn_partitions.pop(req.transactional_id, None)
            return protocol.EndTxnResponse(error_code=0)
        raise AssertionError(f"no default answer for API {key}")

    def metadata_response(self, req: Any) -> Any:
        names = list(self.topics) if req.topics is None else [t.name for t in req.topics]
        topics = []
        for name in names:
            leaders = self.topics.get(name)
            if leaders is None:
                topics.append(m.MetadataResponseTopic(error_code=3, name=name, partitions=[]))
                continue
            topics.append(m.MetadataResponseTopic(error_code=0, name=name, partitions=[
                m.MetadataResponsePartition(
                    error_code=5 if leader < 0 else 0, partition_index=i, leader_id=leader,
                    leader_epoch=0, replica_nodes=[abs(leader)], isr_nodes=[abs(leader)])
                for i, leader in enumerate(leaders)]))
        return protocol.MetadataResponse(
            brokers=[m.MetadataResponseBroker(node_id=n, host=h, port=p)
                     for n, (h, p) in self.addresses.items()],
            cluster_id="sim", controller_id=min(self.addresses), topics=topics)

    def init_producer_id(self, req: Any) -> Any:
        txn = req.transactional_id
        if txn is None:
            # Kafka answers every idempotent request, a bump included, with a new id.
            self.next_pid += 1
            return protocol.InitProducerIdResponse(error_code=0, producer_id=self.next_pid,
                                                   producer_epoch=0)
        pid, epoch = self.txn_epochs.get(txn, (-1, -1))
        if pid < 0:
            self.next_pid += 1
            pid, epoch = self.next_pid, 0
        else:
            epoch += 1
        self.txn_epochs[txn] = (pid, epoch)
        return protocol.InitProducerIdResponse(error_code=0, producer_id=pid, producer_epoch=epoch)

    def produce_response(self, seen: Seen) -> Any:
        req = seen.request
        out = []
        for topic in req.topic_data:
            parts = []
            for pd in topic.partition_data:
                tp = (topic.name, pd.index)
                errors = self.produce_errors.get(tp)
                if errors:
                    code = errors.popleft()
                    parts.append(PartitionProduceResponse(index=pd.index, error_code=code,
                                                          base_offset=-1, log_start_offset=0))
                    continue
                leaders = self.topics.get(topic.name)
                if leaders is None or leaders[pd.index] != seen.node:
                    parts.append(PartitionProduceResponse(index=pd.index, error_code=6,
                                                          base_offset=-1))
                    continue
                limit = self.max_message_bytes.get(topic.name)
                if limit is not None and len(pd.records) > limit:
                    parts.append(PartitionProduceResponse(index=pd.index, error_code=10,
                                                          base_offset=-1, log_start_offset=0))
                    continue
                code, base = self.append(tp, pd.records)
                parts.append(PartitionProduceResponse(index=pd.index, error_code=code,
                                                      base_offset=base, log_append_time_ms=-1,
                                                      log_start_offset=0))
            out.append(TopicProduceResponse(name=topic.name, partition_responses=parts))
        if req.acks == 0:
            return None
        return protocol.ProduceResponse(responses=out)

    def append(self, tp: tuple[str, int], data: bytes) -> tuple[int, int]:
        """Apply one batch through the fake cluster's producer-state checks; (error code,
        offset). A duplicate is answered with the original offset and no error."""
        [batch] = decode_batches(data).batches
        result = self.log(*tp).append(batch, data, 0)
        return result.error, result.base_offset
