"""The pipe on its own: a ClientCore linked to a fake cluster by hand, no adapter, no clock.

What the adapters rely on: the link takes the engine's actions and writes and answers them in
one pump; the cluster's deadlines come back in the adapter's clock (trio's starts far from
``time.monotonic``); the cluster's time never runs backwards; a link whose connection gets
bytes from another client's request is notified; a long exchange is cut into bounded pumps.
"""

from __future__ import annotations

import contextlib
import random
from typing import Any

from kproto.config import Config
from kproto.consumer import ConsumerCore
from kproto.engine.client import ClientCore
from kproto.events import OperationCompleted
from kproto.message_types import OFFSET_OLDEST, ProducerMessage
from kproto.producer import ProducerCore
from kproto.testing import FakeCluster
from kproto.testing.fake import pipe

OFFSET = 10_000.0  # how far this adapter's clock is from the shared one


class Linked:
    def __init__(self, cluster: FakeCluster, now: float, shared_now: float) -> None:
        self.notified = 0
        link = pipe.link_for(cluster.bootstrap, now, shared_now, self.notify,
                             contextlib.nullcontext)
        assert link is not None
        self.link = link
        self.config = Config(fetch_max_wait=0.5)
        self.core = ClientCore(link.bootstrap, self.config, rng=random.Random(1), now=now)

    def notify(self) -> None:
        self.notified += 1

    def result(self, token: int) -> Any:
        while (event := self.core.next_event()) is not None:
            if isinstance(event, OperationCompleted) and event.token == token:
                return event.value
        return None


def test_one_pump_answers_what_the_engine_asked() -> None:
    cluster = FakeCluster(3, topics={"t": 2})
    c = Linked(cluster, now=OFFSET, shared_now=0.0)
    token = c.core.metadata(["t"], OFFSET)
    c.link.pump(c.core, OFFSET)
    metadata = c.result(token)
    assert metadata is not None and len(metadata.brokers) == 3
    assert len(c.link.conns) >= 1


def test_deadlines_are_mapped_between_clocks_and_cluster_time_only_moves_on() -> None:
    cluster = FakeCluster(1, topics={"t": 1})
    c = Linked(cluster, now=OFFSET + 5.0, shared_now=5.0)
    consumer = ConsumerCore(c.core, c.config)
    consumer.consume_partition("t", 0, OFFSET_OLDEST, OFFSET + 5.0)
    now = OFFSET + 5.0
    for _ in range(20):  # until a Fetch waits in the cluster for its max wait
        c.link.pump(c.core, now)
        if cluster.next_deadline() is not None:
            break
        now += 0.01
        c.core.handle_timer(now)
    theirs = cluster.next_deadline()
    assert theirs is not None and 5.0 <= theirs <= 5.0 + 0.5 + 0.3
    assert c.link.cluster_deadline() == theirs + OFFSET
    deadline = c.link.next_deadline(c.core)
    assert deadline is not None and deadline <= theirs + OFFSET
    ex = pipe.exchange_of(cluster)
    seen = ex.now
    c.link.pump(c.core, now - 3.0)  # an earlier reading (another thread's) never rewinds it
    assert ex.now == seen


def test_another_clients_request_notifies_a_link_with_an_answer_waiting() -> None:
    cluster = FakeCluster(1, topics={"t": 1})
    reader = Linked(cluster, now=1.0, shared_now=1.0)
    writer = Linked(cluster, now=1.0, shared_now=1.0)
    consumer = ConsumerCore(reader.core, reader.config)
    consumer.consume_partition("t", 0, OFFSET_OLDEST, 1.0)
    now = 1.0
    for _ in range(20):
        reader.link.pump(reader.core, now)
        if cluster.next_deadline() is not None:
            break
        now += 0.01
        reader.core.handle_timer(now)
    assert not reader.link.has_news()
    producer = ProducerCore(writer.core, Config(linger=0.0))
    producer.send(ProducerMessage("t", b"v"), now, 0)
    before = reader.notified
    for _ in range(20):
        writer.core.handle_timer(now)
        writer.link.pump(writer.core, now)
        if reader.notified > before:
            break
        now += 0.01
    assert reader.notified > before and reader.link.has_news()


def test_a_closed_link_leaves_the_exchange_and_wakes_the_others() -> None:
    cluster = FakeCluster(1)
    a = Linked(cluster, now=0.0, shared_now=0.0)
    b = Linked(cluster, now=0.0, shared_now=0.0)
    a.link.pump(a.core, 0.0)
    a.core.metadata(None, 0.0)
    a.link.pump(a.core, 0.0)
    a.link.close(a.core, 0.0)
    ex = pipe.exchange_of(cluster)
    assert a.link not in ex.links and b.link in ex.links
    assert b.notified == 1 and not a.link.conns
    assert not cluster.connections


def test_a_long_exchange_is_cut_into_bounded_pumps(monkeypatch: Any) -> None:
    monkeypatch.setattr(pipe, "_ROUNDS", 1)
    cluster = FakeCluster(1, topics={"t": 1})
    c = Linked(cluster, now=0.0, shared_now=0.0)
    token = c.core.metadata(["t"], 0.0)
    pumps = 0
    while (metadata := c.result(token)) is None:
        assert pumps < 20
        c.link.pump(c.core, 0.0)
        pumps += 1
    assert pumps > 1 and c.notified >= pumps - 1  # each cut-short pump asked to come back
    assert metadata.brokers
