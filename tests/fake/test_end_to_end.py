"""The real engine (client core and feature cores) against the fake cluster, in-process.

Every test drives ``ClientCore`` with the producer, consumer and group cores through the
pure loop of ``driver.py``: no sockets, no threads, a fake clock.
"""

from __future__ import annotations

from typing import Any

from kproto.consumer import ConsumerCore
from kproto.consumer.events import RecordsFetched
from kproto.group.core import GroupCore
from kproto.group.events import ClaimsStopping, SessionInfo
from kproto.message_types import OFFSET_OLDEST, ProducerMessage
from kproto.producer import ProducerCore, RecordsDelivered, RecordsFailed
from kproto.protocol import apis
from kproto.records import Compression
from kproto.testing import FakeCluster
from kproto.testing.fake import codes
from tests.fake.driver import Client, Driver

TS = 1_700_000_000_000


def delivered(c: Client) -> dict[int, tuple[str, int, int]]:
    out = {}
    for e in c.events:
        if isinstance(e, RecordsDelivered):
            for i, token in enumerate(e.tokens):
                out[token] = (e.topic, e.partition, e.base_offset + i)
    return out


def failed(c: Client) -> dict[int, BaseException]:
    return {t: e.error for e in c.events if isinstance(e, RecordsFailed) for t in e.tokens}


def produce(d: Driver, c: Client, producer: ProducerCore, values: list[bytes],
            topic: str = "t", partition: int | None = None) -> list[int]:
    tokens = [producer.send(ProducerMessage(topic, v, partition=partition), d.now, TS)
              for v in values]
    d.run_until(lambda: all(t in delivered(c) or t in failed(c) for t in tokens))
    return tokens


def fetch_all(d: Driver, topic: str, partition: int, count: int,
              **options: Any) -> list[Any]:
    reader = d.client(seed=7, **options)
    consumer = ConsumerCore(reader.core, reader.config)
    stream = consumer.consume_partition(topic, partition, OFFSET_OLDEST, d.now)
    got: list[Any] = []

    def enough() -> bool:
        for e in reader.take(RecordsFetched):
            assert e.stream == stream
            got.extend(e.messages)
            consumer.fetcher.release(stream, e.size, d.now)
        return len(got) >= count

    d.run_until(enough)
    consumer.close(d.now)
    d.clients.remove(reader)
    return got


def test_idempotent_produce_then_fetch_back_every_codec() -> None:
    cluster = FakeCluster(3, topics={"t": 3})
    d = Driver(cluster)
    for codec in ("none", "gzip", "snappy", "lz4", "zstd"):
        c = d.client(linger=0.0, compression=codec)
        producer = ProducerCore(c.core, c.config)
        tokens = produce(d, c, producer, [f"{codec}-{i}".encode() for i in range(20)],
                         partition=1)
        assert not failed(c)
        offsets = sorted(delivered(c)[t][2] for t in tokens)
        assert offsets == list(range(offsets[0], offsets[0] + 20))
        d.clients.remove(c)
    log = cluster.topics["t"].partitions[1].log
    assert log.log_end_offset == 100
    assert {e.batch.compression for e in log.entries} == set(Compression)
    got = fetch_all(d, "t", 1, 100)
    assert [m.value for m in got][:3] == [b"none-0", b"none-1", b"none-2"]
    assert [m.offset for m in got] == list(range(100))
    assert got[-1].value == b"zstd-19"


def test_a_retried_batch_is_deduplicated_not_written_twice() -> None:
    cluster = FakeCluster(1, topics={"t": 1})
    d = Driver(cluster)
    c = d.client(linger=0.0, request_timeout=5.0, produce_timeout=5.0)
    producer = ProducerCore(c.core, c.config)
    # The broker appends, but its answer is held past the client's request timeout: the
    # client retries the same batch (same sequence), which the log must not store twice.
    cluster.faults.delay(10.0, apis.PRODUCE)
    tokens = produce(d, c, producer, [b"once"])
    assert not failed(c)
    log = cluster.topics["t"].partitions[0].log
    assert log.log_end_offset == 1
    assert delivered(c)[tokens[0]] == ("t", 0, 0)


def test_a_consumer_group_of_two_members_rebalances() -> None:
    cluster = FakeCluster(3, topics={"t": 4})
    d = Driver(cluster)
    opts = dict(group_id="g", session_timeout=10.0, heartbeat_interval=1.0,
                rebalance_timeout=10.0, auto_offset_reset="earliest")
    a = d.client(seed=1, **opts)
    ga = GroupCore(a.core, a.config)
    ta = ga.consume(["t"], d.now)
    info_a = d.wait(a, ta)
    assert isinstance(info_a, SessionInfo)
    assert sorted(c.partition for c in info_a.claims) == [0, 1, 2, 3]

    b = d.client(seed=2, **opts)
    gb = GroupCore(b.core, b.config)
    tb = gb.consume(["t"], d.now)
    # The running session of A is told to stop when B's join starts a rebalance.
    d.run_until(lambda: any(isinstance(e, ClaimsStopping) for e in a.events))
    session_a = info_a.session
    for s in [e for e in a.events if isinstance(e, ClaimsStopping)]:
        for stream in s.streams:
            ga.claim_finished(session_a, stream, d.now)
    d.step()
    finish = ga.finish_session(session_a, d.now)
    d.wait(a, finish)
    ta2 = ga.consume(["t"], d.now)
    info_b = d.wait(b, tb)
    info_a2 = d.wait(a, ta2)
    mine = sorted(c.partition for c in info_a2.claims)
    theirs = sorted(c.partition for c in info_b.claims)
    assert sorted(mine + theirs) == [0, 1, 2, 3]
    assert len(mine) == len(theirs) == 2
    assert info_a2.generation_id == info_b.generation_id > info_a.generation_id
    group = cluster.groups.groups["g"]
    assert group.state == "Stable" and len(group.members) == 2


def _restart_session(d: Driver, c: Client, group: GroupCore, info: SessionInfo) -> int:
    """Stop the session the way an adapter does (claims end, finish) and consume again."""
    d.run_until(lambda: any(isinstance(e, ClaimsStopping) for e in c.events))
    for s in c.take(ClaimsStopping):
        for stream in s.streams:
            group.claim_finished(info.session, stream, d.now)
    d.step()
    finish = group.finish_session(info.session, d.now)
    d.run_until(lambda: c.result(finish) is not None)
    return group.consume(["t"], d.now)


def test_a_member_that_dies_is_expired_and_its_partitions_move() -> None:
    cluster = FakeCluster(1, topics={"t": 2})
    d = Driver(cluster)
    opts = dict(group_id="g", session_timeout=10.0, heartbeat_interval=1.0,
                rebalance_timeout=10.0)
    a = d.client(seed=1, **opts)
    ga = GroupCore(a.core, a.config)
    info_a = d.wait(a, ga.consume(["t"], d.now))
    b = d.client(seed=2, **opts)
    gb = GroupCore(b.core, b.config)
    tb = gb.consume(["t"], d.now)
    info_a = d.wait(a, _restart_session(d, a, ga, info_a))
    info_b = d.wait(b, tb)
    assert len(info_a.claims) == len(info_b.claims) == 1
    # A vanishes without leaving: no more heartbeats, its connections go silent.
    d.clients.remove(a)
    for conn in list(a.conns.values()):
        conn.connection_lost(d.now)
    start = d.now
    info_b2 = d.wait(b, _restart_session(d, b, gb, info_b), limit=60.0)
    assert sorted(c.partition for c in info_b2.claims) == [0, 1]
    assert d.now - start >= 9.0  # it took the session timeout, not a LeaveGroup


def test_the_group_survives_its_coordinator_stopping() -> None:
    cluster = FakeCluster(3, topics={"t": 2})
    d = Driver(cluster)
    a = d.client(seed=1, group_id="g", session_timeout=10.0, heartbeat_interval=1.0)
    ga = GroupCore(a.core, a.config)
    info = d.wait(a, ga.consume(["t"], d.now))
    old = cluster.coordinator_for(0, "g")
    assert old is not None
    cluster.stop_broker(old, d.now)
    new = cluster.coordinator_for(0, "g")
    assert new not in (None, old)
    d.advance(5.0)
    # The member found the new coordinator and kept its generation: no rebalance.
    group = cluster.groups.groups["g"]
    assert group.state == "Stable" and group.generation == info.generation_id
    assert not any(isinstance(e, ClaimsStopping) for e in a.events)
    conns = {conn.node_id for conn in a.conns.values()}
    assert new in conns and old not in conns


def test_a_committed_and_an_aborted_transaction_under_read_committed() -> None:
    cluster = FakeCluster(3, topics={"t": 1})
    d = Driver(cluster)
    c = d.client(linger=0.0, transactional_id="tx-1")
    producer = ProducerCore(c.core, c.config)
    d.wait(c, producer.init_transactions(d.now))
    d.wait(c, producer.begin_transaction(d.now))
    produce(d, c, producer, [b"c1", b"c2"], partition=0)
    d.wait(c, producer.commit_transaction(d.now))
    d.wait(c, producer.begin_transaction(d.now))
    produce(d, c, producer, [b"a1", b"a2", b"a3"], partition=0)
    d.wait(c, producer.abort_transaction(d.now))
    d.wait(c, producer.begin_transaction(d.now))
    produce(d, c, producer, [b"c3"], partition=0)
    d.wait(c, producer.commit_transaction(d.now))
    log = cluster.topics["t"].partitions[0].log
    assert len(log.aborted) == 1
    assert log.last_stable_offset == log.high_watermark == log.log_end_offset
    committed = fetch_all(d, "t", 0, 3, isolation_level="read_committed")
    assert [m.value for m in committed] == [b"c1", b"c2", b"c3"]
    everything = fetch_all(d, "t", 0, 6)
    assert [m.value for m in everything] == [b"c1", b"c2", b"a1", b"a2", b"a3", b"c3"]


def test_an_open_transaction_holds_the_last_stable_offset() -> None:
    cluster = FakeCluster(1, topics={"t": 1})
    d = Driver(cluster)
    plain = d.client(seed=3, linger=0.0)
    plain_producer = ProducerCore(plain.core, plain.config)
    produce(d, plain, plain_producer, [b"p0"], partition=0)
    c = d.client(linger=0.0, transactional_id="tx-2")
    producer = ProducerCore(c.core, c.config)
    d.wait(c, producer.init_transactions(d.now))
    d.wait(c, producer.begin_transaction(d.now))
    produce(d, c, producer, [b"open"], partition=0)
    produce(d, plain, plain_producer, [b"p1"], partition=0)
    log = cluster.topics["t"].partitions[0].log
    assert log.last_stable_offset == 1 and log.high_watermark == 3
    assert [m.value for m in fetch_all(d, "t", 0, 1, isolation_level="read_committed")] \
        == [b"p0"]
    d.wait(c, producer.commit_transaction(d.now))
    assert log.last_stable_offset == log.log_end_offset == 4


def test_fault_hook_errors_are_retried_by_the_client() -> None:
    cluster = FakeCluster(1, topics={"t": 2})
    d = Driver(cluster)
    c = d.client(linger=0.0)
    producer = ProducerCore(c.core, c.config)
    cluster.faults.fail(apis.PRODUCE, codes.NOT_LEADER_OR_FOLLOWER, 3, topic="t",
                        partition=0)
    tokens = produce(d, c, producer, [b"x"], partition=0)
    assert not failed(c) and delivered(c)[tokens[0]] == ("t", 0, 0)
    assert cluster.faults.injected == 3


def test_fault_hook_with_a_fatal_error_fails_the_records() -> None:
    cluster = FakeCluster(1, topics={"t": 1})
    d = Driver(cluster)
    c = d.client(linger=0.0)
    producer = ProducerCore(c.core, c.config)
    cluster.faults.fail(apis.PRODUCE, codes.MESSAGE_TOO_LARGE, 1)
    tokens = produce(d, c, producer, [b"x"])
    assert tokens[0] in failed(c)
    assert "MessageTooLarge" in type(failed(c)[tokens[0]]).__name__ or \
        "too large" in str(failed(c)[tokens[0]]).lower()


def test_a_leader_move_and_a_stopped_broker_are_followed() -> None:
    cluster = FakeCluster(3, topics={"t": 1})
    d = Driver(cluster)
    c = d.client(linger=0.0, metadata_max_age=5.0)
    producer = ProducerCore(c.core, c.config)
    produce(d, c, producer, [b"a"], partition=0)
    p = cluster.topics["t"].partitions[0]
    old = p.leader
    cluster.stop_broker(old, d.now)
    assert p.leader != old and p.leader_epoch == 1
    produce(d, c, producer, [b"b"], partition=0)
    other = next(r for r in p.replicas if r not in (old, p.leader))
    cluster.move_leader("t", 0, other, d.now)
    produce(d, c, producer, [b"c"], partition=0)
    assert not failed(c)
    cluster.start_broker(old, d.now)
    assert [m.value for m in fetch_all(d, "t", 0, 3)] == [b"a", b"b", b"c"]


def test_an_unclean_leader_change_loses_the_unflushed_tail() -> None:
    cluster = FakeCluster(3, topics={"t": 1})
    d = Driver(cluster)
    c = d.client(linger=0.0, acks=1, idempotent=False)
    producer = ProducerCore(c.core, c.config)
    produce(d, c, producer, [b"kept"], partition=0)
    cluster.hold_replication("t", 0)
    tokens = produce(d, c, producer, [b"lost-1", b"lost-2"], partition=0)
    assert all(t in delivered(c) for t in tokens)  # acks=1: the leader alone confirmed
    lost = cluster.unclean_leader_change("t", 0, d.now)
    assert lost == 2
    produce(d, c, producer, [b"after"], partition=0)
    assert [m.value for m in fetch_all(d, "t", 0, 2)] == [b"kept", b"after"]


def test_dropped_connections_and_stalls_are_survived() -> None:
    cluster = FakeCluster(1, topics={"t": 1})
    d = Driver(cluster)
    c = d.client(linger=0.0, request_timeout=3.0, produce_timeout=3.0)
    producer = ProducerCore(c.core, c.config)
    cluster.faults.drop(apis.PRODUCE)
    produce(d, c, producer, [b"one"])
    cluster.faults.stall(apis.PRODUCE)
    produce(d, c, producer, [b"two"])
    assert not failed(c)
    assert [m.value for m in fetch_all(d, "t", 0, 2)] == [b"one", b"two"]


def test_a_stalled_broker_delays_delivery_until_it_answers_again() -> None:
    cluster = FakeCluster(1, topics={"t": 1})
    d = Driver(cluster)
    c = d.client(linger=0.0, request_timeout=2.0, delivery_timeout=60.0)
    producer = ProducerCore(c.core, c.config)
    cluster.stall_broker(1)
    token = producer.send(ProducerMessage("t", b"late", partition=0), d.now, TS)
    d.advance(10.0)
    assert token not in delivered(c) and token not in failed(c)
    cluster.unstall_broker(1, d.now)
    d.run_until(lambda: token in delivered(c) or token in failed(c))
    assert delivered(c)[token] == ("t", 0, 0)
    assert cluster.topics["t"].partitions[0].log.log_end_offset == 1


def test_a_seeded_random_mode_replays_and_loses_nothing() -> None:
    import random

    def run(seed: int) -> tuple[int, list[bytes | None]]:
        cluster = FakeCluster(3, topics={"t": 1})
        cluster.faults.seeded(random.Random(seed), error_rate=0.2, drop_rate=0.05,
                              delay_rate=0.1)
        d = Driver(cluster)
        c = d.client(linger=0.0, request_timeout=5.0)
        producer = ProducerCore(c.core, c.config)
        for i in range(10):
            produce(d, c, producer, [f"r{i}".encode()], partition=0)
        assert not failed(c)
        injected = cluster.faults.injected
        cluster.faults.clear()
        return injected, [m.value for m in fetch_all(d, "t", 0, 10)]

    first = run(5)
    assert first[0] > 0
    assert first[1] == [f"r{i}".encode() for i in range(10)]
    assert run(5) == first


def test_fetch_fault_errors_are_retried_then_records_flow() -> None:
    cluster = FakeCluster(1, topics={"t": 1})
    d = Driver(cluster)
    c = d.client(linger=0.0)
    producer = ProducerCore(c.core, c.config)
    produce(d, c, producer, [b"a", b"b"], partition=0)
    cluster.faults.fail(apis.FETCH, codes.NOT_LEADER_OR_FOLLOWER, 4, topic="t")
    assert [m.value for m in fetch_all(d, "t", 0, 2)] == [b"a", b"b"]
    assert cluster.faults.injected == 4
