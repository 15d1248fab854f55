"""Positioning through every transport against real Kafka 4.x and 3.9 brokers: a partition
consumer's and a claim's seek (literal, either end, by time, to the committed offset),
position, committed and lag; the Consumer's offsets_for_times, beginning_offsets and
end_offsets; and stop_at_end, which ends a partition consumer at the end it saw at start.

Every check compares against records produced with known timestamps, so a seek that kept
buffered messages, a lookup that asked the wrong time or an end one message off fails."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from typing import Any

import pytest

from kproto import OFFSET_NEWEST, OFFSET_OLDEST, ProducerMessage
from kproto.errors import ObjectClosedError, UsageError
from tests.conformance.drivers import TRANSPORTS, Remote, open_remote

each = pytest.mark.parametrize("transport", TRANSPORTS)
N = 10
STEP = 1000
"""Record i has timestamp base + i * STEP."""


@pytest.fixture(params=["kafka_broker", "kafka_broker_39"], ids=["newest", "3.9"])
def broker(request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue(request.param)


def names(transport: str, what: str) -> tuple[str, str]:
    stamp = int(time.time() * 1000)
    return f"pos-{what}-{transport}-{stamp}", f"pos-{what}-group-{transport}-{stamp}"


def produce(bootstrap: str, topic: str, n: int = N) -> int:
    """``n`` records to partition 0, values b"0".. and timestamps base + i * STEP; the base."""
    base = int(time.time() * 1000) - 10 * 60 * 1000
    import kproto_threads
    with kproto_threads.SyncProducer(bootstrap) as p:
        p.send_messages([ProducerMessage(topic, str(i).encode(), partition=0,
                                         timestamp=base + i * STEP) for i in range(n)])
    return base


def consumer(transport: str, bootstrap: str, **options: Any) -> Any:
    return open_remote(transport, lambda mod: mod.Consumer(bootstrap, **options))


def remote_like(owner: Any, obj: Any) -> Any:
    return Remote(owner._runner, obj) if isinstance(owner, Remote) else obj


def partition(c: Any, topic: str, offset: int, **kw: Any) -> Any:
    return remote_like(c, c.consume_partition(topic, 0, offset, **kw))


def next_message(transport: str, pc: Any, timeout: float = 30.0) -> Any:
    if transport == "trio":
        import trio

        async def receive() -> Any:
            with trio.fail_after(timeout):
                return await pc.target.messages.receive()
        return pc._runner.call(receive)
    if transport == "asyncio":
        return pc._runner.call(lambda: pc.target.messages.get(timeout))
    return pc.messages.get(timeout)


def read_all(transport: str, pc: Any) -> list[Any]:
    """Iterate the partition consumer's messages to the end of the iteration."""
    if transport == "threads":
        return list(pc.messages)

    async def collect() -> list[Any]:
        return [m async for m in pc.target.messages]
    return pc._runner.call(collect)  # type: ignore[no-any-return]


def eventually(check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


@each
def test_seek_position_lag_and_lookups(transport: str, broker: Any) -> None:
    topic, group = names(transport, "seek")
    broker.create_topic(topic, partitions=1)
    base = produce(broker.bootstrap, topic)
    tp = (topic, 0)
    with consumer(transport, broker.bootstrap, group_id=group) as c:
        assert c.beginning_offsets([tp]) == {tp: 0}
        assert c.end_offsets([tp]) == {tp: N}
        assert c.offsets_for_times({tp: base + 3 * STEP + 500}) == {tp: (4, base + 4 * STEP)}
        assert c.offsets_for_times({tp: base}) == {tp: (0, base)}
        assert c.offsets_for_times({tp: base + N * STEP}) == {tp: None}
        with pytest.raises(ValueError, match="times"):
            c.offsets_for_times({tp: -1})
        with pytest.raises(TypeError, match="partition"):
            c.end_offsets(topic)

        pc = partition(c, topic, OFFSET_OLDEST)
        assert pc.position() == 0
        assert [next_message(transport, pc).offset for _ in range(3)] == [0, 1, 2]
        assert pc.position() == 3
        assert eventually(lambda: pc.high_water_mark_offset() == N)
        assert pc.lag() == N - 3
        # Back: the messages buffered past 1 are dropped, 1 comes again.
        assert pc.seek(1) == 1
        assert pc.position() == 1
        assert next_message(transport, pc).value == b"1"
        # By time: the first record at or after the timestamp.
        assert pc.seek_to_timestamp(base + 5 * STEP) == 5
        assert next_message(transport, pc).offset == 5
        assert pc.seek_to_timestamp(base + N * STEP) == N  # none that new: the end
        assert pc.position() == N and pc.lag() == 0
        assert pc.seek(OFFSET_OLDEST) == 0
        lags = []
        for i in range(N):
            assert next_message(transport, pc).offset == i
            lags.append(pc.lag())
        assert lags == list(range(N - 1, -1, -1))  # decreasing to 0
        assert pc.seek(OFFSET_NEWEST) == N
        with pytest.raises(ValueError, match="offset"):
            pc.seek(-3)
        with pytest.raises(TypeError, match="offset"):
            pc.seek("5")
        with pytest.raises(ValueError, match="timestamp"):
            pc.seek_to_timestamp(-1)

        # The group's committed offset: none, then what an OffsetManager commits.
        assert pc.committed() == -1
        with open_remote(transport, lambda mod: mod.OffsetManager(
                broker.bootstrap, group_id=group)) as om:
            pom = remote_like(om, om.manage_partition(topic, 0))
            pom.mark_offset(4)
            om.commit()
        assert pc.committed() == 4
        assert pc.seek_to_committed() == 4
        assert next_message(transport, pc).offset == 4
        pc.close()
        with pytest.raises(ObjectClosedError):
            pc.seek(0)

    with consumer(transport, broker.bootstrap) as c:
        pc = partition(c, topic, 0)
        with pytest.raises(UsageError, match="group_id"):
            pc.committed()
        with pytest.raises(UsageError, match="group_id"):
            pc.seek_to_committed()


@each
def test_stop_at_end(transport: str, broker: Any) -> None:
    topic, _ = names(transport, "end")
    empty = f"{topic}-empty"
    broker.create_topic(topic, partitions=1)
    broker.create_topic(empty, partitions=1)
    produce(broker.bootstrap, topic)
    with consumer(transport, broker.bootstrap) as c:
        pc = partition(c, topic, OFFSET_OLDEST, stop_at_end=True)
        produce(broker.bootstrap, topic, 3)  # after the start: not read
        assert [m.offset for m in read_all(transport, pc)] == list(range(N))
        pc = partition(c, topic, 4, stop_at_end=True)
        assert [m.offset for m in read_all(transport, pc)] == list(range(4, N + 3))
        assert read_all(transport, partition(c, empty, OFFSET_OLDEST, stop_at_end=True)) == []
        assert read_all(transport, partition(c, topic, OFFSET_NEWEST, stop_at_end=True)) == []
        with pytest.raises(TypeError, match="stop_at_end"):
            c.consume_partition(topic, 0, 0, stop_at_end="yes")
        # Without it the iteration does not end at the end.
        pc = partition(c, topic, N + 2)
        assert next_message(transport, pc).offset == N + 2
        with pytest.raises(Exception) as info:
            next_message(transport, pc, timeout=0.5)
        assert type(info.value).__name__ in ("ClientTimeoutError", "TooSlowError")


@each
def test_stop_at_end_past_an_aborted_transaction(transport: str, broker: Any) -> None:
    """Only aborted records and a marker below the end: nothing to yield, and it still ends
    (the position moved without a message)."""
    topic, _ = names(transport, "aborted")
    broker.create_topic(topic, partitions=1)
    import kproto_threads
    with kproto_threads.SyncProducer(broker.bootstrap, transactional_id=f"{topic}-txn") as p:
        p.begin_txn()
        p.send_messages([ProducerMessage(topic, b"x%d" % i, partition=0) for i in range(3)])
        p.abort_txn()
    tp = (topic, 0)
    with consumer(transport, broker.bootstrap, isolation_level="read_committed") as c:
        # The abort marker is written after abort_txn returns: wait for the stable end.
        assert eventually(lambda: c.end_offsets([tp]) == {tp: 4})
        assert read_all(transport, partition(c, topic, OFFSET_OLDEST, stop_at_end=True)) == []


# -- claims -----------------------------------------------------------------------------------


async def maybe(value: Any) -> Any:
    """Await what the transport's call returned when it is awaitable (asyncio, trio)."""
    return (await value) if inspect.isawaitable(value) else value


async def claim_message(claim: Any) -> Any:
    messages = claim.messages
    if hasattr(messages, "receive"):  # trio
        return await messages.receive()
    return await maybe(messages.get(30.0))


async def check_claim(session: Any, claim: Any, base: int, seen: dict[str, Any]) -> None:
    """What a claim's positioning must do; what it saw goes to ``seen``."""
    seen["first"] = [(await claim_message(claim)).offset for _ in range(4)]
    for _ in range(3):
        session.mark_message(await claim_message(claim))   # marks 7: offsets 4..6 read
    seen["position"] = claim.position()
    seen["lag"] = await maybe(claim.lag())
    seen["seek"] = await maybe(claim.seek(5))   # back: the mark goes back to 5 too
    await maybe(session.commit())
    seen["committed"] = await maybe(claim.committed())
    seen["after_seek"] = (await claim_message(claim)).offset
    seen["by_time"] = await maybe(claim.seek_to_timestamp(base + 8 * STEP))
    seen["after_time"] = (await claim_message(claim)).offset
    seen["to_committed"] = await maybe(claim.seek_to_committed())
    message = await claim_message(claim)
    seen["after_committed"] = message.offset
    session.mark_message(message)                 # the final commit stores 6


class SyncClaimHandler:
    def __init__(self, base: int, seen: dict[str, Any]) -> None:
        self.base, self.seen = base, seen

    def setup(self, session: Any) -> None:
        pass

    def cleanup(self, session: Any) -> None:
        pass

    def consume_claim(self, session: Any, claim: Any) -> None:
        asyncio.run(check_claim(session, claim, self.base, self.seen))


class AsyncClaimHandler(SyncClaimHandler):
    async def consume_claim(self, session: Any, claim: Any) -> None:  # type: ignore[override]
        await check_claim(session, claim, self.base, self.seen)


@each
def test_a_claim_seeks_and_its_mark_follows(transport: str, broker: Any) -> None:
    topic, group = names(transport, "claim")
    broker.create_topic(topic, partitions=1)
    base = produce(broker.bootstrap, topic)
    seen: dict[str, Any] = {}
    handler = (SyncClaimHandler if transport == "threads" else AsyncClaimHandler)(base, seen)
    with open_remote(transport, lambda mod: mod.ConsumerGroup(
            broker.bootstrap, group_id=group, auto_offset_reset="earliest",
            enable_auto_commit=False)) as g:
        g.consume([topic], handler)
    assert seen == {"first": [0, 1, 2, 3], "position": 7, "lag": N - 7, "seek": 5,
                    "committed": 5, "after_seek": 5, "by_time": 8, "after_time": 8,
                    "to_committed": 5, "after_committed": 5}
    with open_remote(transport, lambda mod: mod.ClusterAdmin(broker.bootstrap)) as a:
        offsets = a.list_consumer_group_offsets(group)
        assert offsets[topic][0].offset == 6
