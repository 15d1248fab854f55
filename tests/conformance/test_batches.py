"""The batch APIs on every transport: ``send_batch`` / ``send_many`` (one call, one token,
one settlement) and ``batches()`` on partition consumers and claims (a fetched chunk at a
time). Behaviour first against the in-process fake cluster (fast), then what is Kafka's
own (its answers to many records at once, fetch boundaries) against real brokers."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from kproto import OFFSET_OLDEST, ProducerMessage
from kproto.errors import (
    BufferFullError,
    ClientTimeoutError,
    InvalidPartitionError,
    MessageTooLargeError,
)
from kproto.producer import ProducerErrors, RecordsDelivered
from kproto.protocol import apis
from kproto.testing import FakeCluster, changing
from kproto.testing.fake import codes
from tests.conformance.drivers import CALL_TIMEOUT, TRANSPORTS, open_remote

each = pytest.mark.parametrize("transport", TRANSPORTS)
WAIT = 20.0


@pytest.fixture(params=["kafka_broker", "kafka_broker_39"], ids=["newest", "3.9"])
def broker(request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue(request.param)


def name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def producer(transport: str, kind: str, bootstrap: str, **options: Any) -> Any:
    return open_remote(transport, lambda mod: getattr(mod, kind)(bootstrap, **options))


def in_loop(transport: str, obj: Any, fn: Callable[[Any], Any],
            timeout: float = CALL_TIMEOUT) -> Any:
    """``fn(adapter object)`` where it lives (awaited there when it is a coroutine)."""
    if transport == "threads":
        return fn(obj)
    return obj._runner.call(lambda: fn(obj.target), timeout)


def read(transport: str, consumer: Any, topic: str, partition: int, count: int,
         offset: int = OFFSET_OLDEST, first: int = 0, seek_to: int | None = None,
         **kw: Any) -> list[tuple[Any, ...]]:
    """Batches of ``topic[partition]`` from ``offset`` until ``count`` messages came (or the
    iteration ended): ``first`` messages read one by one before, and with ``seek_to`` a seek
    there after the first batch."""
    if transport == "threads":
        pc = consumer.consume_partition(topic, partition, offset, **kw)
        out: list[tuple[Any, ...]] = [(pc.messages.get(WAIT),) for _ in range(first)]
        try:
            for batch in pc.batches(timeout=WAIT):
                out.append(batch)
                if seek_to is not None and len(out) == first + 1:
                    pc.seek(seek_to)
                if sum(map(len, out)) >= count:
                    break
        finally:
            pc.close()
        return out

    async def run(c: Any) -> list[tuple[Any, ...]]:
        pc = await c.consume_partition(topic, partition, offset, **kw)
        got: list[tuple[Any, ...]] = []
        try:
            for _ in range(first):
                got.append((await pc.messages.get(WAIT) if transport == "asyncio"
                            else await pc.messages.receive(),))
            async for batch in pc.batches():
                got.append(batch)
                if seek_to is not None and len(got) == first + 1:
                    await pc.seek(seek_to)
                if sum(map(len, got)) >= count:
                    break
        finally:
            await pc.close()
        return got

    return in_loop(transport, consumer, run)  # type: ignore[no-any-return]


def flat(batches: list[tuple[Any, ...]]) -> list[Any]:
    return [m for b in batches for m in b]


# -- the producer, on the fake cluster ---------------------------------------------------------


@each
def test_send_many_places_every_value_and_answers_in_order(transport: str) -> None:
    cluster = FakeCluster(3, topics={"t": 3})
    values = [b"v%d" % i for i in range(600)]
    keys = [b"k%d" % (i % 9) for i in range(600)]
    with producer(transport, "SyncProducer", cluster.bootstrap, linger=0.002,
                  batch_size=2048) as p:
        placed = p.send_many("t", values, keys=keys)
    assert len(placed) == 600
    by_key: dict[bytes, set[int]] = {}
    for (part, _), key in zip(placed, keys, strict=True):
        by_key.setdefault(key, set()).add(part)
    assert all(len(parts) == 1 for parts in by_key.values())  # a key keeps its partition
    for part in range(3):  # offsets contiguous per partition, in the order sent
        offsets = [off for p_, off in placed if p_ == part]
        assert offsets == list(range(len(offsets)))
        log = cluster.topics["t"].partitions[part].log
        assert log.log_end_offset == len(offsets)


@each
def test_send_batch_fails_exactly_the_messages_that_failed(transport: str) -> None:
    cluster = FakeCluster(3, topics={"t": 3})
    msgs = [ProducerMessage("t", b"m%d" % i, partition=i % 3) for i in range(30)]
    msgs[4] = ProducerMessage("t", b"x" * 3000, partition=1)    # too large for the client
    msgs[7] = ProducerMessage("t", b"nowhere", partition=99)     # no such partition
    with producer(transport, "SyncProducer", cluster.bootstrap,
                  max_request_size=2048) as p:
        with pytest.raises(ProducerErrors) as info:
            p.send_batch(msgs)
    failed = info.value.errors
    assert [e.message for e in failed] == [msgs[4], msgs[7]]
    assert isinstance(failed[0].error, MessageTooLargeError)
    assert isinstance(failed[1].error, InvalidPartitionError)
    ok = [m for i, m in enumerate(msgs) if i not in (4, 7)]
    for part in range(3):
        mine = [m for m in ok if m.partition == part]
        assert [m.offset for m in mine] == list(range(len(mine)))


@each
def test_a_partition_whose_batch_the_broker_refuses_fails_only_its_messages(
        transport: str) -> None:
    cluster = FakeCluster(1, topics={"t": 3})
    msgs = [ProducerMessage("t", b"m%d" % i, partition=i % 3) for i in range(60)]
    with producer(transport, "SyncProducer", cluster.bootstrap, linger=0.05) as p:
        with changing(cluster):  # partition 1's entry of the next Produce is refused
            cluster.faults.fail(apis.PRODUCE, codes.INVALID_RECORD, topic="t", partition=1)
        with pytest.raises(ProducerErrors) as info:
            p.send_batch(msgs)
    assert [e.message for e in info.value.errors] == [m for m in msgs if m.partition == 1]
    assert all(type(e.error).__name__ == "InvalidRecordError" for e in info.value.errors)
    for part in (0, 2):
        assert [m.offset for m in msgs if m.partition == part] == list(range(20))


@each
def test_a_full_buffer_is_waited_for_per_chunk_and_nothing_is_lost(transport: str) -> None:
    cluster = FakeCluster(1, topics={"t": 2})
    values = [b"%05d" % i + b"." * 95 for i in range(3000)]  # ~400 KiB through 16 KiB
    with producer(transport, "SyncProducer", cluster.bootstrap, buffer_memory=16384,
                  batch_size=4096, linger=0.001) as p:
        placed = p.send_many("t", values, partition=1)
    assert [off for _, off in placed] == list(range(3000))
    log = cluster.topics["t"].partitions[1].log
    assert log.log_end_offset == 3000


@each
def test_when_max_block_passes_the_rest_is_reported_not_lost(transport: str) -> None:
    cluster = FakeCluster(1, topics={"t": 1})
    msgs = [ProducerMessage("t", b"." * 100, partition=0) for _ in range(200)]
    opts = {"buffer_memory": 4096, "max_block": 0.0, "linger": 5.0}
    with producer(transport, "SyncProducer", cluster.bootstrap, **opts) as p:
        with pytest.raises(ProducerErrors) as info:
            p.send_batch(msgs)
    failed = [e.message for e in info.value.errors]
    queued = 200 - len(failed)
    assert 0 < queued < 200
    assert failed == msgs[queued:]  # the tail, in order
    assert all(isinstance(e.error, BufferFullError) for e in info.value.errors)
    assert [m.offset for m in msgs[:queued]] == list(range(queued))
    with producer(transport, "AsyncProducer", cluster.bootstrap, **opts) as p:
        with pytest.raises(BufferFullError) as full:
            p.send_batch([ProducerMessage("t", b"." * 100, partition=0) for _ in range(200)])
        assert full.value.queued is not None and 0 < full.value.queued < 200
        in_loop(transport, p, lambda obj: obj.flush())
        assert in_loop(transport, p, lambda obj: len(obj.successes)) == full.value.queued


@each
def test_the_async_producer_reports_each_message_of_a_batch(transport: str) -> None:
    cluster = FakeCluster(3, topics={"t": 3})
    with producer(transport, "AsyncProducer", cluster.bootstrap, linger=0.002) as p:
        p.send_many("t", [b"a%d" % i for i in range(300)])
        p.send_batch([ProducerMessage("t", b"bad", partition=9, metadata="bad")])
        in_loop(transport, p, lambda obj: obj.flush())
        done = in_loop(transport, p, lambda obj: [obj.successes.get_nowait()
                                                  for _ in range(len(obj.successes))]
                       if transport != "threads" else
                       [obj.successes.get(WAIT) for _ in range(len(obj.successes))])
        errors = in_loop(transport, p, lambda obj: len(obj.errors))
    assert sorted(m.value for m in done) == sorted(b"a%d" % i for i in range(300))
    assert errors == 1


@each
def test_bad_input_is_refused_before_anything_is_queued(transport: str) -> None:
    cluster = FakeCluster(1, topics={"t": 1})
    with producer(transport, "SyncProducer", cluster.bootstrap) as p:
        with pytest.raises(ValueError, match="keys"):
            p.send_many("t", [b"a", b"b"], keys=[b"k"])
        with pytest.raises(TypeError, match=r"msgs\[1\]"):
            p.send_batch([ProducerMessage("t", b"a"), b"not a message"])
        with pytest.raises(TypeError, match="msgs"):
            p.send_batch(ProducerMessage("t", b"a"))
        with pytest.raises(TypeError, match="topic"):
            p.send_many(b"t", [b"a"])
        assert p.send_batch([]) == []
    assert cluster.topics["t"].partitions[0].log.log_end_offset == 0


def test_the_core_settles_a_batch_once_with_one_token() -> None:
    """Core level: one token for all the records (the per-partition events carry it for
    each) and one completion of it, with no failures."""
    from kproto_threads import SyncProducer

    cluster = FakeCluster(1, topics={"t": 2})
    seen: list[Any] = []
    completed: list[tuple[int, Any]] = []
    with SyncProducer(cluster.bootstrap, linger=0.001) as p:
        engine = p._core.client
        complete, emit = engine.complete, engine.emit

        def record(token: int, value: Any) -> None:
            completed.append((token, value))
            complete(token, value)

        def watch(event: Any) -> None:
            seen.append(event)
            emit(event)
        engine.complete, engine.emit = record, watch
        msgs = [ProducerMessage("t", b"%d" % i, partition=i % 2) for i in range(50)]
        placed = p.send_batch(msgs)
        engine.complete, engine.emit = complete, emit
    delivered = [e for e in seen if isinstance(e, RecordsDelivered)]
    tokens = {t for e in delivered for t in e.tokens}
    assert len(tokens) == 1 and sum(len(e.tokens) for e in delivered) == 50
    assert [c for c in completed if c[0] in tokens] == [(tokens.pop(), [])]
    assert sorted(placed) == sorted((i % 2, i // 2) for i in range(50))


# -- the consumer, on the fake cluster ---------------------------------------------------------


def fill(cluster: FakeCluster, topic: str, n: int, partition: int = 0) -> None:
    import kproto_threads
    with kproto_threads.SyncProducer(cluster.bootstrap, batch_size=1024, linger=0) as p:
        p.send_many(topic, [b"r%d" % i for i in range(n)], partition=partition)


@each
def test_batches_give_every_record_once_in_order_across_fetches(transport: str) -> None:
    cluster = FakeCluster(1, topics={"t": 1})
    fill(cluster, "t", 2000)
    with open_remote(transport, lambda mod: mod.Consumer(
            cluster.bootstrap, max_partition_fetch_bytes=4096)) as c:
        got = read(transport, c, "t", 0, 2000, first=3)
    assert [m.offset for m in flat(got)] == list(range(2000))
    assert len(got) > 5  # several fetches, not one chunk
    assert all(len(b) == 1 for b in got[:3])


@each
def test_batches_follow_a_seek_and_end_at_stop_at_end(transport: str) -> None:
    cluster = FakeCluster(1, topics={"t": 1})
    fill(cluster, "t", 500)
    with open_remote(transport, lambda mod: mod.Consumer(
            cluster.bootstrap, max_partition_fetch_bytes=2048)) as c:
        got = read(transport, c, "t", 0, 10_000, seek_to=100, stop_at_end=True)
    offsets = [m.offset for m in flat(got)]
    first = len(got[0])
    assert offsets[:first] == list(range(first))
    assert offsets[first:] == list(range(100, 500))  # after the seek: from 100 to the end


@each
def test_a_batch_wait_is_bounded(transport: str) -> None:
    cluster = FakeCluster(1, topics={"t": 1})
    with open_remote(transport, lambda mod: mod.Consumer(cluster.bootstrap)) as c:
        def wait(consumer: Any) -> Any:
            if transport == "threads":
                pc = consumer.consume_partition("t", 0, OFFSET_OLDEST)
                try:
                    return pc.batches(timeout=0.2).get(0.2)
                finally:
                    pc.close()

            async def run() -> Any:
                pc = await consumer.consume_partition("t", 0, OFFSET_OLDEST)
                try:
                    return await pc.batches().get(0.2)
                finally:
                    await pc.close()
            return run()
        with pytest.raises(ClientTimeoutError):
            in_loop(transport, c, wait)


class _SyncClaims:
    def __init__(self, want: int) -> None:
        self.want = want
        self.got: list[tuple[Any, ...]] = []

    def setup(self, session: Any) -> None:
        pass

    def cleanup(self, session: Any) -> None:
        pass

    def consume_claim(self, session: Any, claim: Any) -> None:
        for batch in claim.batches(timeout=WAIT):
            self.got.append(batch)
            session.mark_message(batch[-1])
            if sum(map(len, self.got)) >= self.want:
                return


class _AsyncClaims(_SyncClaims):
    async def consume_claim(self, session: Any, claim: Any) -> None:  # type: ignore[override]
        async for batch in claim.batches():
            self.got.append(batch)
            session.mark_message(batch[-1])
            if sum(map(len, self.got)) >= self.want:
                return


@each
def test_a_claim_reads_batches_and_its_marks_are_committed(transport: str) -> None:
    cluster = FakeCluster(1, topics={"t": 1})
    fill(cluster, "t", 800)
    handler = _SyncClaims(800) if transport == "threads" else _AsyncClaims(800)
    options = {"group_id": name("g"), "auto_offset_reset": "earliest",
               "max_partition_fetch_bytes": 2048, "session_timeout": 6.0,
               "heartbeat_interval": 0.3}
    with open_remote(transport, lambda mod: mod.ConsumerGroup(cluster.bootstrap,
                                                              **options)) as g:
        g.consume(["t"], handler)  # the session ends when the claim loop returns
    assert [m.offset for m in flat(handler.got)] == list(range(800))
    assert len(handler.got) > 1
    group = cluster.groups.groups[str(options["group_id"])]
    assert group.offsets[("t", 0)].offset == 800


# -- against real brokers -------------------------------------------------------------------------


@each
def test_real_broker_batch_produce_and_consume(transport: str, broker: Any) -> None:
    """Kafka's answers to many records in one call: every partition's offsets contiguous,
    the one record the broker refuses as too large (the topic's max.message.bytes) failing
    alone after its batch is split, and the records read back a fetch at a time."""
    topic = name(f"batch-{transport}")
    broker.create_topic(topic, partitions=3, config={"max.message.bytes": "4000"})
    msgs = [ProducerMessage(topic, b"%04d" % i + b"." * 60, partition=i % 3)
            for i in range(600)]
    big = msgs[301] = ProducerMessage(topic, b"B" * 6000, partition=301 % 3)
    with producer(transport, "SyncProducer", broker.bootstrap, linger=0.005,
                  batch_size=16384, acks=-1) as p:
        placed = p.send_many(topic, [b"k%d" % i for i in range(90)],
                             keys=[b"%d" % (i % 7) for i in range(90)])
        with pytest.raises(ProducerErrors) as info:
            p.send_batch(msgs)
    assert [e.message for e in info.value.errors] == [big]
    assert type(info.value.errors[0].error).__name__ in (
        "MessageTooLargeError", "RecordListTooLargeError")
    before = {part: sum(1 for q, _ in placed if q == part) for part in range(3)}
    for part in range(3):
        offsets = [off for q, off in placed if q == part]
        assert offsets == list(range(len(offsets)))
        mine = [m for m in msgs if m.partition == part and m is not big]
        assert [m.offset for m in mine] == list(range(before[part],
                                                      before[part] + len(mine)))
    with open_remote(transport, lambda mod: mod.Consumer(
            broker.bootstrap, max_partition_fetch_bytes=4096)) as c:
        got = read(transport, c, topic, 1, 10_000, first=1, stop_at_end=True)
    values = [m.value for m in flat(got)]
    expected = [b"k%d" % i for i in range(90) if placed[i][0] == 1] + \
        [m.value for m in msgs if m.partition == 1 and m is not big]
    assert values == expected
    assert len(got) > 3  # read across several fetches


@each
def test_real_broker_takes_a_plain_producers_pipelined_batches_in_order(
        transport: str, broker: Any) -> None:
    """Without idempotence several batches of one partition are on the wire at once (one
    connection, the broker answering in order): stored in send order, none lost."""
    topic = name(f"pipelined-{transport}")
    broker.create_topic(topic, partitions=1)
    msgs = [ProducerMessage(topic, b"%04d" % i + b"." * 96, partition=0) for i in range(1000)]
    with producer(transport, "SyncProducer", broker.bootstrap, idempotent=False, acks=1,
                  batch_max_messages=25, max_in_flight_per_partition=5) as p:
        peak = in_loop(transport, p, _watch_in_flight)
        p.send_batch(msgs)
    assert [m.offset for m in msgs] == list(range(1000))
    assert 1 < peak[0] <= 5  # pipelined, within the cap


def _watch_in_flight(p: Any) -> list[int]:
    """The most Produce requests the producer had on the wire at once (updated as it sends)."""
    sender = p._core.sender
    peak = [0]
    send = sender._send

    def counting(leader: int, batches: Any, now: float) -> None:
        send(leader, batches, now)
        peak[0] = max(peak[0], sender.inflight_requests)

    sender._send = counting
    return peak


def test_a_cancelled_send_batch_leaves_what_it_queued_to_be_delivered() -> None:
    import asyncio

    import kproto_asyncio

    cluster = FakeCluster(1, topics={"t": 1})

    async def main() -> tuple[int, int]:
        async with kproto_asyncio.SyncProducer(cluster.bootstrap, buffer_memory=4096,
                                               linger=0.001) as p:
            await p.send_message(ProducerMessage("t", b"warm", partition=0))
            with changing(cluster):  # answers held back: the batch waits for space
                cluster.faults.delay(0.3, apis.PRODUCE, count=3)
            msgs = [ProducerMessage("t", b"." * 100, partition=0) for _ in range(200)]
            task = asyncio.create_task(p.send_batch(msgs))
            for _ in range(200):  # until it parked with part of the batch queued
                await asyncio.sleep(0.01)
                if p._core._tracked:
                    break
            assert p._core._tracked and not task.done()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await asyncio.wait_for(p.flush(), WAIT)
            queued = sum(1 for m in msgs if m.offset >= 0)
            return queued, len(p._core._tracked)

    queued, tracked = asyncio.run(main())
    assert 0 < queued < 200 and tracked == 0
    assert cluster.topics["t"].partitions[0].log.log_end_offset == 1 + queued
