"""Long polls do not hold up other partitions of the same broker.

One Fetch per broker is in flight and a broker answers a connection's requests in order, so a
Fetch that waits ``fetch_max_wait`` for caught-up partitions delays every partition of that
broker that becomes fetchable meanwhile: one being started (ListOffsets, validation, its
first fetch) or one whose full buffer its reader is draining. These tests pin the rule (a
short wait while such a partition exists, the full long poll otherwise) on a scripted
broker, and measure its effect in simulated time on the fake cluster.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import pytest

import kproto.consumer.fetcher as fetcher_module
from kproto.consumer import ConsumerCore, RecordsFetched
from kproto.group.core import GroupCore
from kproto.group.events import SessionInfo
from kproto.message_types import OFFSET_OLDEST, ProducerMessage
from kproto.producer import ProducerCore, RecordsDelivered
from kproto.testing import FakeCluster
from tests.consumer.scripted import LIST_OFFSETS, PartitionReply, batch, list_offsets_response
from tests.consumer.test_fetcher import Rig, records_of
from tests.fake.driver import Client, Driver

SHORT = 20  # ms: fetcher._HURRY_WAIT
LONG = 500  # ms: fetch_max_wait below


def wait_ms(req: Any) -> int:
    return int(req.body.max_wait_ms)


# -- the rule, on a scripted broker ----------------------------------------------------------

def test_a_partition_being_started_keeps_its_brokers_fetch_short() -> None:
    rig = Rig(topics={"t": [1, 1]}, fetch_max_wait=0.5)
    rig.consume("t", 0, 0)
    rig.consume("t", 1, OFFSET_OLDEST)
    reqs = rig.step()
    [lo] = [r for r in reqs if r.api_key == LIST_OFFSETS]
    fetch = rig.one_fetch(reqs)
    assert set(rig.parts(fetch)) == {("t", 0)}
    assert wait_ms(fetch) == SHORT  # t[1] is about to need a fetch
    lo.reply(list_offsets_response({("t", 1): (0, 0)}), rig.now)
    rig.step()
    fetch = rig.one_fetch(rig.answer(fetch, {}))
    assert set(rig.parts(fetch)) == {("t", 0), ("t", 1)}
    assert wait_ms(fetch) == SHORT  # both just started: more may follow at once
    rig.advance(0.2)  # past the start grace
    fetch = rig.one_fetch(rig.answer(fetch, {}))
    assert wait_ms(fetch) == LONG  # every partition is in the request, caught up


def test_a_paused_partition_being_started_does_not_shorten_the_long_poll() -> None:
    rig = Rig(topics={"t": [1, 1]}, fetch_max_wait=0.5)
    rig.consume("t", 0, 0)
    fetch = rig.one_fetch(rig.step())
    fetch = rig.one_fetch(rig.answer(fetch, {("t", 0): PartitionReply(batch(0, [b"a"]))}))
    rig.advance(0.2)
    rig.consumer.pause({"t": [0]}, rig.now)
    rig.consumer.resume({"t": [0]}, rig.now)
    s1 = rig.consume("t", 1, OFFSET_OLDEST)
    rig.fetcher.pause([s1], rig.now)
    rig.step()
    fetch = rig.one_fetch(rig.answer(fetch, {}))
    assert set(rig.parts(fetch)) == {("t", 0)}
    assert wait_ms(fetch) == LONG


def test_a_full_buffer_being_drained_keeps_its_brokers_fetch_short() -> None:
    rig = Rig(topics={"t": [1, 1]}, partition_buffer_bytes=100, fetch_max_wait=0.5)
    s0 = rig.consume("t", 0, 0)
    rig.consume("t", 1, 0)
    fetch = rig.one_fetch(rig.step())
    rig.advance(0.2)
    data = batch(0, [b"x" * 200])
    fetch = rig.one_fetch(rig.answer(fetch, {("t", 0): PartitionReply(data)}))
    [ev] = [e for e in rig.events() if isinstance(e, RecordsFetched)]
    assert set(rig.parts(fetch)) == {("t", 1)}  # t[0] is full
    assert wait_ms(fetch) == SHORT  # its reader has just been handed records
    # The reader takes nothing for fetch_max_wait: no more polling on its behalf.
    rig.advance(0.6)
    fetch = rig.one_fetch(rig.answer(fetch, {}))
    assert wait_ms(fetch) == LONG
    rig.fetcher.release(s0, ev.size, rig.now)
    fetch = rig.one_fetch(rig.answer(fetch, {}))
    assert rig.parts(fetch)[("t", 0)].fetch_offset == 1
    assert wait_ms(fetch) == LONG  # nothing is left out: caught up everywhere


def test_the_short_wait_never_exceeds_fetch_max_wait() -> None:
    rig = Rig(topics={"t": [1, 1]}, fetch_max_wait=0.005)
    rig.consume("t", 0, 0)
    rig.consume("t", 1, OFFSET_OLDEST)
    assert wait_ms(rig.one_fetch(rig.step())) == 5


# -- the effect, in simulated time on the fake cluster ---------------------------------------

@pytest.fixture(params=["fixed", "before"])
def variant(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """``before`` turns the short waits off (as the fetcher was): the measured times show
    what the rule saves, and that these tests detect its absence."""
    if request.param == "before":
        monkeypatch.setattr(fetcher_module, "_HURRY_WAIT", 1e9)
    return str(request.param)


def fill(d: Driver, partitions: int, per_partition: int, size: int) -> None:
    c = d.client(linger=0.0)
    producer = ProducerCore(c.core, c.config)
    tokens = [producer.send(ProducerMessage("t", b"x" * size, partition=p), d.now, 0)
              for p in range(partitions) for _ in range(per_partition)]
    d.run_until(lambda: sum(len(e.tokens) for e in c.events
                            if isinstance(e, RecordsDelivered)) == len(tokens))
    d.clients.remove(c)


def started(c: Client, token: int) -> bool:
    return c.result(token) is not None


class Readers:
    """One reader per stream; reader ``i`` takes a delivered chunk ``delays[i]`` seconds
    after the previous one (a timer on the client's clock), 0 meaning at once."""

    def __init__(self, d: Driver, c: Client, release: Any, delays: dict[int, float]) -> None:
        self.d, self.c, self.release, self.delays = d, c, release, delays
        self.waiting: dict[int, list[RecordsFetched]] = {}
        self.busy: set[int] = set()
        self.got: dict[int, list[int]] = {}

    def poll(self) -> None:
        for e in self.c.take(RecordsFetched):
            self.waiting.setdefault(e.stream, []).append(e)
        for stream in list(self.waiting):
            self._next(stream)

    def _next(self, stream: int) -> None:
        queue = self.waiting.get(stream)
        if stream in self.busy or not queue:
            return
        e = queue.pop(0)
        self.got.setdefault(stream, []).extend(m.offset for m in e.messages)
        delay = self.delays.get(stream, 0.0)
        if not delay:
            self.release(e.stream, e.size, self.d.now)
            return
        self.busy.add(stream)

        def done(now: float) -> None:
            self.busy.discard(stream)
            self.release(e.stream, e.size, now)
            self._next(stream)

        self.c.core.timers.call_at(self.d.now + delay, done)

    def run_until(self, cond: Callable[[], bool], limit: float) -> None:
        """Run the driver, taking what arrives, until ``cond`` holds."""

        def check() -> bool:
            self.poll()
            return cond()

        self.d.run_until(check, limit=limit)

    def total(self) -> int:
        return sum(len(v) for v in self.got.values())


def test_partitions_started_one_after_another_are_read_without_long_poll_stalls(
        variant: str) -> None:
    d = Driver(FakeCluster(1, topics={"t": 6}))
    fill(d, 6, 100, 100)
    c = d.client(seed=7, fetch_max_wait=0.5)
    consumer = ConsumerCore(c.core, c.config)
    readers = Readers(d, c, consumer.fetcher.release, {})
    start = d.now
    for p in range(6):  # as a reader awaiting each consume_partition does
        token = consumer.consume_partition("t", p, OFFSET_OLDEST, d.now)
        readers.run_until(partial(started, c, token), limit=10)
    readers.run_until(lambda: readers.total() == 600, limit=10)
    took = d.now - start
    assert all(v == list(range(100)) for v in readers.got.values())
    # Measured: 0.12 s of simulated time, 3.0 s before (a 0.5 s long poll per start).
    if variant == "fixed":
        assert took < 0.25, took
    else:
        assert took > 2.0, took


def test_readers_draining_full_buffers_at_different_speeds_are_not_held_up(
        variant: str) -> None:
    d = Driver(FakeCluster(1, topics={"t": 6}))
    fill(d, 6, 40, 1000)
    # Buffers of about one fetch; fetches of about ten records per partition.
    c = d.client(seed=7, fetch_max_wait=0.5, partition_buffer_bytes=5000,
                 max_partition_fetch_bytes=10_000)
    consumer = ConsumerCore(c.core, c.config)
    streams = [consumer.consume_partition("t", p, 0, d.now) for p in range(6)]
    delays = {s: 0.01 * (i + 1) for i, s in enumerate(streams)}  # 10 ms .. 60 ms a chunk
    readers = Readers(d, c, consumer.fetcher.release, delays)
    start = d.now
    readers.run_until(lambda: readers.total() == 240, limit=30)
    took = d.now - start
    assert all(readers.got[s] == list(range(40)) for s in streams)
    # Measured: 0.15 s of simulated time, 1.03 s before (the caught-up partitions' long
    # polls held back the partitions whose readers were still draining).
    if variant == "fixed":
        assert took < 0.4, took
    else:
        assert took > 0.8, took


def test_a_group_claim_of_twelve_partitions_is_read_without_long_poll_stalls(
        variant: str) -> None:
    d = Driver(FakeCluster(1, topics={"t": 12}))
    fill(d, 12, 50, 1000)
    c = d.client(seed=7, fetch_max_wait=0.5, group_id="g", auto_offset_reset="earliest",
                 partition_buffer_bytes=5000, max_partition_fetch_bytes=10_000)
    group = GroupCore(c.core, c.config)
    info = d.wait(c, group.consume(["t"], d.now), limit=30)
    assert isinstance(info, SessionInfo) and len(info.claims) == 12
    delays = {claim.stream: 0.005 * (i % 4) for i, claim in enumerate(info.claims)}
    readers = Readers(d, c, group.release, delays)
    start = d.now
    readers.run_until(lambda: readers.total() == 600, limit=30)
    took = d.now - start
    assert all(v == list(range(50)) for v in readers.got.values())
    # Measured: 0.07 s of simulated time, 1.51 s before.
    if variant == "fixed":
        assert took < 0.4, took
    else:
        assert took > 1.0, took


# -- starts are not held up behind a large fetch answer ----------------------------------------

def max_bytes(req: Any) -> int:
    return int(req.body.max_bytes)


def test_the_first_fetch_after_a_start_and_fetches_while_one_starts_ask_for_little() -> None:
    rig = Rig(topics={"t": [1, 1]})
    full = rig.core.config.fetch_max_bytes
    rig.consume("t", 0, OFFSET_OLDEST)
    [lo] = [r for r in rig.step() if r.api_key == LIST_OFFSETS]
    lo.reply(list_offsets_response({("t", 0): (0, 0)}), rig.now)
    # t[0] just started: a next consume_partition's ListOffsets would queue behind this.
    fetch = rig.one_fetch(rig.step())
    assert max_bytes(fetch) == fetcher_module._START_BYTES
    rig.consume("t", 1, OFFSET_OLDEST)
    [lo] = [r for r in rig.step() if r.api_key == LIST_OFFSETS]
    fetch = rig.one_fetch(rig.answer(fetch, {("t", 0): PartitionReply(batch(0, [b"a"]))}))
    assert set(rig.parts(fetch)) == {("t", 0)}
    assert max_bytes(fetch) == fetcher_module._START_BYTES  # t[1] is starting
    lo.reply(list_offsets_response({("t", 1): (0, 0)}), rig.now)
    rig.step()
    fetch = rig.one_fetch(rig.answer(fetch, {}))
    assert max_bytes(fetch) == fetcher_module._START_BYTES  # the first after t[1] started
    fetch = rig.one_fetch(rig.answer(fetch, {}))
    assert set(rig.parts(fetch)) == {("t", 0), ("t", 1)}
    assert max_bytes(fetch) == full  # nothing starting: full size


def test_a_batch_cut_by_a_small_fetch_is_asked_for_again_without_growing_the_fetch() -> None:
    rig = Rig(topics={"t": [1, 1]}, max_partition_fetch_bytes=4096)
    rig.consume("t", 0, 0)
    rig.consume("t", 1, OFFSET_OLDEST)
    reqs = rig.step()
    [lo] = [r for r in reqs if r.api_key == LIST_OFFSETS]
    fetch = rig.one_fetch(reqs)
    assert max_bytes(fetch) == fetcher_module._START_BYTES
    lo.reply(list_offsets_response({("t", 1): (0, 0)}), rig.now)
    data = batch(0, [b"y" * 3000])
    fetch = rig.one_fetch(rig.answer(fetch, {("t", 0): PartitionReply(data[:100])}))
    assert rig.parts(fetch)[("t", 0)].partition_max_bytes == 4096  # not doubled
    assert records_of(rig.events()) == []
    fetch = rig.one_fetch(rig.answer(fetch, {("t", 0): PartitionReply(data)}))
    assert [o for *_, o, _ in records_of(rig.events())] == [0]


def test_partitions_assigned_together_resolve_their_start_in_one_list_offsets() -> None:
    rig = Rig(topics={"t": [1, 1, 1]})
    with rig.fetcher.assigning(rig.now):
        for p in range(3):
            rig.fetcher.assign("t", p, OFFSET_OLDEST, rig.now)
        assert rig.step() == []  # nothing goes out before the block ends
    [lo] = rig.step()
    assert lo.api_key == LIST_OFFSETS
    assert sorted(p.partition_index for t in lo.body.topics for p in t.partitions) == [0, 1, 2]


def test_a_group_member_starts_all_its_claims_with_one_list_offsets_and_one_fetch(
        monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[tuple[str, list[int]]] = []
    for name in ("_send_list_offsets", "_send_fetch"):
        real = getattr(fetcher_module.Fetcher, name)

        def spy(self: Any, node: int, parts: list[Any], now: float, real: Any = real,
                name: str = name) -> None:
            sent.append((name, sorted(st.partition for st in parts)))
            real(self, node, parts, now)

        monkeypatch.setattr(fetcher_module.Fetcher, name, spy)
    d = Driver(FakeCluster(1, topics={"t": 12}))
    fill(d, 12, 5, 100)
    c = d.client(seed=7, group_id="g", auto_offset_reset="earliest")
    group = GroupCore(c.core, c.config)
    info = d.wait(c, group.consume(["t"], d.now), limit=30)
    assert isinstance(info, SessionInfo) and len(info.claims) == 12
    assert sent[:2] == [("_send_list_offsets", list(range(12))),
                        ("_send_fetch", list(range(12)))]
