"""A producer core on the fake cluster, driven by hand: the pure producer tests' harness where
the fake's fault hooks give the precision they need (hold and settle a request, script an
answer, fail a partition's next requests, lose an answer).

``OnFake`` puts a ``ClientCore`` with a ``ProducerCore`` on ``tests/fake/driver.py``'s pure
driver and records every request the brokers read (``Faults.watch``), so a test asserts on
what the producer sent (ids, epochs, sequences) and on the partition's log itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kproto.message_types import ProducerMessage
from kproto.producer import ProducerCore, RecordsDelivered, RecordsFailed
from kproto.protocol import apis
from kproto.records import decode_batches
from kproto.testing import FakeCluster
from tests.fake.driver import Driver

TS = 1_700_000_000_000


@dataclass
class Seen:
    """A request a broker read: the node, the decoded body, its version and when."""

    api_key: int
    node: int
    request: Any
    version: int
    at: float


class OnFake:
    """``partitions`` of topic "t" led by broker 1, or ``leaders``: the leader of each
    partition of "t" (brokers 1..max); or ``topics``: the leaders of each topic's partitions
    (none: no topic, and none is created on request); ``brokers``: at least this many;
    ``kafka_45``: the partitions apply Kafka 4.5's first sequence rule
    (``PartitionLog.first_sequence_zero``); ``seed``: the client's random choices."""

    def __init__(self, partitions: int = 1, *, leaders: list[int] | None = None,
                 topics: dict[str, list[int]] | None = None, brokers: int = 1,
                 kafka_45: bool = False, seed: int = 1, **options: Any) -> None:
        if topics is None:
            topics = {"t": leaders if leaders is not None else [1] * partitions}
        nodes = max([brokers, *(n for ls in topics.values() for n in ls)])
        self.cluster = FakeCluster(nodes, auto_create_topics=False)
        for name, ls in topics.items():
            self.cluster.create_topic(name, assignments=[[n] for n in ls])
            for p in self.cluster.topics[name].partitions:
                p.log.first_sequence_zero = kafka_45
        self.faults = self.cluster.faults
        self.driver = Driver(self.cluster)
        options.setdefault("linger", 0.0)
        self.client = self.driver.client(seed, **options)
        self.producer = ProducerCore(self.client.core, self.client.config)
        self.seen: list[tuple[int, Any]] = []
        self.times: list[float] = []
        """When the broker read each request of ``seen``."""
        self.log_of: list[Seen] = []
        """Every request the brokers read, with node, version and arrival time."""
        self.faults.watch(self._watch)

    def _watch(self, api_key: int, node: int, request: Any, version: int) -> None:
        self.seen.append((api_key, request))
        self.times.append(self.driver.now)
        self.log_of.append(Seen(api_key, node, request, version, self.driver.now))

    @property
    def now(self) -> float:
        return self.driver.now

    def send(self, value: bytes = b"v", partition: int | None = 0, topic: str = "t",
             key: bytes | None = None) -> int:
        token = self.producer.send(ProducerMessage(topic, value, key=key, partition=partition),
                                   self.now, TS)
        self.driver.step()
        return token

    def step(self) -> None:
        self.driver.step()

    def advance(self, dt: float) -> None:
        self.driver.advance(dt)

    def run_until(self, cond: Any, limit: float = 120.0) -> None:
        self.driver.run_until(cond, limit)

    def delivered(self) -> dict[int, tuple[str, int, int]]:
        out = {}
        for e in self.client.events:
            if isinstance(e, RecordsDelivered):
                for i, token in enumerate(e.tokens):
                    offset = e.base_offset + i if e.base_offset >= 0 else -1
                    out[token] = (e.topic, e.partition, offset)
        return out

    def failed(self) -> dict[int, BaseException]:
        return {t: e.error for e in self.client.events if isinstance(e, RecordsFailed)
                for t in e.tokens}

    def acked_once(self, partition: int = 0) -> None:
        """One record acknowledged on the partition, so later batches may travel together."""
        token = self.send(b"first", partition)
        self.run_until(lambda: token in self.delivered())

    def requests(self, api_key: int) -> list[Any]:
        return [req for key, req in self.seen if key == api_key]

    def received(self, api_key: int) -> list[Seen]:
        """The requests of ``api_key`` the brokers read, with node, version and time."""
        return [s for s in self.log_of if s.api_key == api_key]

    def request_times(self, api_key: int) -> list[float]:
        return [t for (key, _), t in zip(self.seen, self.times, strict=True) if key == api_key]

    def result(self, token: int, limit: float = 120.0) -> Any:
        """Run until the operation ``token`` completes; ("ok", value) or ("error", exc)."""
        self.run_until(lambda: self.client.result(token) is not None, limit)
        return self.client.result(token)

    def settled(self, tokens: list[int]) -> bool:
        delivered, failed = self.delivered(), self.failed()
        return all(t in delivered or t in failed for t in tokens)

    def set_last_sequence(self, producer_id: int, seq: int, partition: int = 0) -> None:
        """Make the partition believe the producer's last batch ended at ``seq`` (to reach
        the wrap at 2**31-1 without writing two billion records)."""
        log = self.cluster.topics["t"].partitions[partition].log
        state = log.producers[producer_id]
        state.batches.append((seq, seq, max(log.log_end_offset - 1, 0)))
        state.last_seq = seq

    def stamps(self, partition: int = 0) -> list[tuple[int, int, int, int]]:
        """(producer id, epoch, base sequence, records) of every batch sent to the partition."""
        out = []
        for req in self.requests(apis.PRODUCE):
            for t in req.topic_data:
                for p in t.partition_data:
                    if p.index == partition:
                        b = decode_batches(p.records).batches[0]
                        out.append((b.producer_id, b.producer_epoch, b.base_sequence,
                                    b.record_count))
        return out

    def log(self, partition: int = 0, topic: str = "t") -> Any:
        return self.cluster.topics[topic].partitions[partition].log

    def values(self, partition: int = 0, topic: str = "t") -> list[bytes | None]:
        return [r.value for e in self.log(partition, topic).entries for r in e.records()]

    def release_held(self) -> None:
        """Serve every held request in order (clear the hold rule first to stop holding)."""
        while self.faults.held:
            self.faults.pop_held().release(self.now)
            self.driver.step()
