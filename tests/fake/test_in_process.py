"""Every transport reaches the fake cluster in-process through its ``fake://`` bootstrap.

No sockets: the adapters pair their engine's connections with the cluster's
``ServerConnection``s (``kproto.testing.fake.pipe``). A consumer's Fetch waiting in the cluster
is answered when another client (its own loop, maybe its own thread) produces; groups
rebalance between members on different threads; faults and broker stops made by the test
reach the clients. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
import trio
import trio.testing

import kproto_asyncio
import kproto_threads
import kproto_trio
from kproto import OFFSET_OLDEST, ProducerMessage
from kproto.errors import ConfigurationError
from kproto.protocol import apis
from kproto.testing import FakeCluster, changing
from kproto.testing.fake import codes
from tests.conformance.drivers import TRANSPORTS
from tests.group.members import Ledger, member

WAIT = 20.0


def values(n: int, prefix: str = "v") -> list[bytes]:
    return [f"{prefix}{i}".encode() for i in range(n)]


def test_threads_consumer_waiting_gets_what_another_client_produces() -> None:
    cluster = FakeCluster(3, topics={"orders": 3})
    with kproto_threads.Consumer(cluster.bootstrap) as consumer, \
            consumer.consume_partition("orders", 1, OFFSET_OLDEST) as pc:
        with kproto_threads.SyncProducer(cluster.bootstrap) as producer:
            sent = [producer.send_message(ProducerMessage("orders", v, partition=1))
                    for v in values(5)]
        got = [pc.messages.get(WAIT) for _ in sent]
    assert sent == [(1, i) for i in range(5)]
    assert [m.value for m in got] == values(5)
    assert cluster.topics["orders"].partitions[1].log.log_end_offset == 5


def test_asyncio_consumer_waiting_gets_what_another_client_produces() -> None:
    cluster = FakeCluster(3, topics={"orders": 3})

    async def main() -> list[Any]:
        async with kproto_asyncio.Consumer(cluster.bootstrap) as consumer:
            async with await consumer.consume_partition("orders", 2, OFFSET_OLDEST) as pc:
                async with kproto_asyncio.SyncProducer(cluster.bootstrap,
                                                       compression="zstd") as producer:
                    await producer.send_messages(
                        [ProducerMessage("orders", v, partition=2) for v in values(5)])
                return [await asyncio.wait_for(pc.messages.get(WAIT), WAIT) for _ in range(5)]

    assert [m.value for m in asyncio.run(main())] == values(5)


def test_trio_consumer_waiting_gets_what_another_client_produces() -> None:
    cluster = FakeCluster(3, topics={"orders": 3})

    async def main() -> list[Any]:
        async with kproto_trio.Consumer(cluster.bootstrap) as consumer:
            async with await consumer.consume_partition("orders", 0, OFFSET_OLDEST) as pc:
                async with kproto_trio.SyncProducer(cluster.bootstrap) as producer:
                    await producer.send_messages(
                        [ProducerMessage("orders", v, partition=0) for v in values(5)])
                with trio.fail_after(WAIT):
                    return [await pc.messages.receive() for _ in range(5)]

    assert [m.value for m in trio.run(main)] == values(5)


def test_trio_with_an_autojumping_clock_runs_in_virtual_time() -> None:
    """The cluster's time follows the adapter's clock: long waits pass at once."""
    cluster = FakeCluster(1, topics={"t": 1})

    async def main() -> tuple[list[Any], float]:
        start = trio.current_time()
        async with kproto_trio.Consumer(cluster.bootstrap, fetch_max_wait=30.0) as consumer:
            async with await consumer.consume_partition("t", 0, OFFSET_OLDEST) as pc:
                await trio.sleep(100)  # fetches wait 30 s each in the cluster meanwhile
                async with kproto_trio.SyncProducer(cluster.bootstrap) as producer:
                    await producer.send_message(ProducerMessage("t", b"late"))
                with trio.fail_after(WAIT):
                    got = [await pc.messages.receive()]
        return got, trio.current_time() - start

    got, elapsed = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert [m.value for m in got] == [b"late"]
    assert elapsed >= 100


def test_clients_of_three_transports_share_one_cluster_at_once() -> None:
    """A threads producer feeds an asyncio and a trio consumer, each on its own thread and
    clock."""
    cluster = FakeCluster(1, topics={"shared": 1})
    results: dict[str, list[bytes]] = {}
    ready = threading.Barrier(3, timeout=WAIT)

    async def on_asyncio() -> None:
        async with kproto_asyncio.Consumer(cluster.bootstrap) as consumer:
            async with await consumer.consume_partition("shared", 0, OFFSET_OLDEST) as pc:
                await asyncio.get_running_loop().run_in_executor(None, ready.wait)
                results["asyncio"] = [(await asyncio.wait_for(pc.messages.get(WAIT),
                                                              WAIT)).value for _ in range(3)]

    async def on_trio() -> None:
        async with kproto_trio.Consumer(cluster.bootstrap) as consumer:
            async with await consumer.consume_partition("shared", 0, OFFSET_OLDEST) as pc:
                await trio.to_thread.run_sync(ready.wait)
                with trio.fail_after(WAIT):
                    results["trio"] = [(await pc.messages.receive()).value for _ in range(3)]

    threads = [threading.Thread(target=asyncio.run, args=(on_asyncio(),)),
               threading.Thread(target=trio.run, args=(on_trio,))]
    for t in threads:
        t.start()
    ready.wait()
    with kproto_threads.SyncProducer(cluster.bootstrap) as producer:
        producer.send_messages([ProducerMessage("shared", v) for v in values(3)])
    for t in threads:
        t.join(WAIT)
        assert not t.is_alive()
    assert results == {"asyncio": values(3), "trio": values(3)}


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_group_shares_partitions_between_members_on_other_threads(transport: str) -> None:
    cluster = FakeCluster(3, topics={"events": 4})
    ledger = Ledger()
    options = {"group_id": "g", "session_timeout": 6.0, "heartbeat_interval": 0.3,
               "auto_commit_interval": 0.2, "auto_offset_reset": "earliest"}
    with kproto_threads.SyncProducer(cluster.bootstrap) as producer:
        for p in range(4):
            producer.send_messages([ProducerMessage("events", v, partition=p)
                                    for v in values(10)])
    ends = {("events", p): 10 for p in range(4)}
    with member(transport, cluster.bootstrap, ["events"], ledger, "a", **options), \
            member(transport, cluster.bootstrap, ["events"], ledger, "b", **options):
        ledger.wait("both members to hold partitions",
                    lambda: bool(ledger.held_by("a")) and bool(ledger.held_by("b")), WAIT)
        ledger.wait("every record", lambda: ledger.complete(ends), WAIT)
    assert not ledger.violations


def test_faults_and_broker_stops_made_by_the_test_reach_the_clients() -> None:
    cluster = FakeCluster(3, topics={"t": 1})
    cluster.partition("t", 0).replicas = [1, 2, 3]  # type: ignore[union-attr]
    cluster.partition("t", 0).isr = [1, 2, 3]  # type: ignore[union-attr]
    with kproto_threads.SyncProducer(cluster.bootstrap, retry_backoff=0.01) as producer:
        assert producer.send_message(ProducerMessage("t", b"a")) == (0, 0)
        with changing(cluster):
            cluster.faults.fail(apis.PRODUCE, codes.NOT_LEADER_OR_FOLLOWER, count=2)
        assert producer.send_message(ProducerMessage("t", b"b")) == (0, 1)
        leader = cluster.partition("t", 0).leader  # type: ignore[union-attr]
        with changing(cluster) as now:
            cluster.stop_broker(leader, now)
        assert producer.send_message(ProducerMessage("t", b"c")) == (0, 2)
    assert cluster.partition("t", 0).leader != leader  # type: ignore[union-attr]


def test_the_admin_and_the_async_producer_work_in_process_too() -> None:
    from kproto.admin.types import TopicDetail

    cluster = FakeCluster(3, auto_create_topics=False)
    with kproto_threads.ClusterAdmin(cluster.bootstrap) as admin:
        admin.create_topic("made", TopicDetail(num_partitions=4, replication_factor=3))
        assert admin.list_topics()["made"].num_partitions == 4
    with kproto_threads.AsyncProducer(cluster.bootstrap) as producer:
        for v in values(20):
            producer.send(ProducerMessage("made", v, key=v))
        done = [producer.successes.get(WAIT) for _ in range(20)]
    assert sorted(m.value for m in done) == sorted(values(20))
    assert sum(p.log.log_end_offset for p in cluster.topics["made"].partitions) == 20


def test_a_fake_address_must_name_a_live_cluster_and_stand_alone() -> None:
    with pytest.raises(ConfigurationError, match="no fake cluster"):
        kproto_threads.Client("fake://nobody")
    cluster = FakeCluster()
    with pytest.raises(ConfigurationError, match="only one"):
        kproto_threads.Client([cluster.bootstrap, "localhost:9092"])
