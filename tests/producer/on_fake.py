"""A producer core on the fake cluster, driven by hand: the pure producer tests' harness where
the fake's fault hooks give the precision they need (hold and settle a request, script an
answer, fail a partition's next requests, lose an answer).

``OnFake`` puts a ``ClientCore`` with a ``ProducerCore`` on ``tests/fake/driver.py``'s pure
driver and records every request the brokers read (``Faults.watch``), so a test asserts on
what the producer sent (ids, epochs, sequences) and on the partition's log itself.
"""

from __future__ import annotations

from typing import Any

from kproto.message_types import ProducerMessage
from kproto.producer import ProducerCore, RecordsDelivered, RecordsFailed
from kproto.protocol import apis
from kproto.records import decode_batches
from kproto.testing import FakeCluster
from tests.fake.driver import Driver

TS = 1_700_000_000_000


class OnFake:
    def __init__(self, partitions: int = 1, **options: Any) -> None:
        self.cluster = FakeCluster(1, topics={"t": partitions})
        self.faults = self.cluster.faults
        self.driver = Driver(self.cluster)
        options.setdefault("linger", 0.0)
        self.client = self.driver.client(**options)
        self.producer = ProducerCore(self.client.core, self.client.config)
        self.seen: list[tuple[int, Any]] = []
        self.faults.watch(lambda key, _node, req, _version: self.seen.append((key, req)))

    @property
    def now(self) -> float:
        return self.driver.now

    def send(self, value: bytes, partition: int = 0) -> int:
        token = self.producer.send(ProducerMessage("t", value, partition=partition),
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
                    out[token] = (e.topic, e.partition, e.base_offset + i)
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

    def values(self, partition: int = 0) -> list[bytes | None]:
        log = self.cluster.topics["t"].partitions[partition].log
        return [r.value for e in log.entries for r in e.records()]

    def release_held(self) -> None:
        """Serve every held request in order (clear the hold rule first to stop holding)."""
        while self.faults.held:
            self.faults.pop_held().release(self.now)
            self.driver.step()
