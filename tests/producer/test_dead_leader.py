"""A broker that dies for good does not stop a producer: it keeps asking live brokers for
metadata until a new leader (or transaction coordinator) appears, then moves its batches
there at once. The killed broker stays down for the rest of each test."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import pytest

from kproto import protocol
from kproto.message_types import ProducerMessage
from kproto.protocol.apis import END_TXN, FIND_COORDINATOR, METADATA
from kproto.protocol.messages.find_coordinator_response import Coordinator
from tests.conformance.drivers import TRANSPORTS
from tests.group.raw import Raw
from tests.producer.helpers import producer, read_partition
from tests.producer.on_fake import OnFake

TXN: dict[str, Any] = {"transactional_id": "tx-dead", "transaction_timeout": 15.0}

# -- pure: the fake cluster ------------------------------------------------------------------


def test_batches_move_to_the_new_leader_while_the_old_one_stays_dead() -> None:
    sim = OnFake(leaders=[1, 2], brokers=3)
    for p in sim.cluster.topics["t"].partitions:
        p.replicas[:] = [p.leader, 2 if p.leader != 2 else 3]
        p.isr[:] = list(p.replicas)
    sim.client.core.add_topics(["t"], sim.now)
    before = sim.send(b"before", partition=0)
    sim.run_until(lambda: before in sim.delivered())
    # Broker 1 dies; until the controller notices, partition 0 still names it as leader.
    sim.cluster.brokers[1].up = False
    sim.cluster.drop_connections(1)
    killed_at = sim.now
    tokens = [sim.send(b"%d" % i, partition=0) for i in range(3)]
    sim.advance(9.0)
    assert not set(tokens) & (set(sim.delivered()) | set(sim.failed()))
    asked = [s for s in sim.received(METADATA) if s.at > killed_at]
    assert all(s.node in (2, 3) for s in asked)  # of live brokers only
    assert len(asked) >= 5, "the producer stopped asking where the leader went"
    assert len(asked) <= 30, "metadata requests not paced by a backoff"
    sim.cluster.move_leader("t", 0, 2, sim.now)  # broker 2 takes over
    moved_at = sim.now
    sim.run_until(lambda: set(tokens) <= set(sim.delivered()), limit=60)
    assert sim.now - moved_at <= 1.3
    assert sim.values(0) == [b"before", b"0", b"1", b"2"]
    assert not sim.failed()


def test_a_transaction_commits_after_its_coordinator_died_for_good() -> None:
    sim = OnFake(leaders=[2, 3], brokers=3, **TXN)
    cluster = sim.cluster
    cluster.move_coordinator(1, "tx-dead", 1)
    b1 = cluster.brokers[1]

    def names_broker_1(req: Any, version: int) -> Any:
        """What FindCoordinator answers until the controller notices broker 1 is gone."""
        if version >= 4:
            return protocol.FindCoordinatorResponse(coordinators=[Coordinator(
                key=k, node_id=1, host=b1.host, port=b1.port, error_code=0)
                for k in req.coordinator_keys])
        return protocol.FindCoordinatorResponse(error_code=0, node_id=1, host=b1.host,
                                                port=b1.port)

    def done(token: int) -> Any:
        return sim.result(token)

    assert done(sim.producer.init_transactions(sim.now)) == ("ok", None)
    b1.up = False  # the coordinator dies
    cluster.drop_connections(1)
    sim.faults.respond(FIND_COORDINATOR, names_broker_1, count=-1)
    killed_at = sim.now
    sim.producer.begin_transaction(sim.now)
    token = sim.send(b"x", partition=0)
    commit = sim.producer.commit_transaction(sim.now)
    sim.advance(5.0)  # FindCoordinator still names broker 1
    assert sim.client.result(commit) is None
    sim.faults.clear()
    cluster.move_coordinator(1, "tx-dead", 2)
    moved_at = sim.now
    assert done(commit) == ("ok", None)
    assert sim.now - moved_at <= 1.3
    ended = [(r.request.transactional_id, r.request.committed)
             for r in sim.received(END_TXN)]
    assert token in sim.delivered() and ended == [("tx-dead", True)]
    assert sim.log(0).last_stable_offset == sim.log(0).log_end_offset  # the marker is in
    finds = [s for s in sim.received(FIND_COORDINATOR) if s.at > killed_at]
    assert all(s.node != 1 for s in finds)
    assert any(s.at < moved_at for s in finds)  # it asked, and heard broker 1 again


# -- real brokers: the three-broker cluster, a broker killed and never restarted ---------------

CHUNK = 250
CHUNKS = 36
KILL_AT = 8
# Loose: the controller fences a dead broker after 3 s; a producer that never learns the new
# leader fails its records only after delivery_timeout (120 s).
FAILOVER_BOUND = 40.0


def wait_full_isr(cluster: Any, topics: list[str], timeout: float = 60.0) -> None:
    """Until every partition of ``topics`` has all three replicas in sync, so that one broker
    more may die (a broker restarted after an earlier test may still be catching up).
    The fake cluster has no internal topics (its coordinators are placed by hash alone)."""
    if getattr(cluster, "fake", False):
        topics = [name for name in topics if not name.startswith("__")]
    deadline = time.monotonic() + timeout
    while True:
        md = cluster.metadata(topics)
        lagging = {(name, i): p.isr for name in topics for i, p in (
            md.topics[name].partitions.items() if name in md.topics else [])
            if len(p.isr) < 3}
        if all(name in md.topics and md.topics[name].partitions for name in topics) \
                and not lagging:
            return
        assert time.monotonic() < deadline, f"replicas not in sync: {lagging}"
        time.sleep(0.2)


def _killer(cluster: Any, node: int) -> tuple[threading.Thread, threading.Event]:
    done = threading.Event()

    def run() -> None:
        try:
            cluster.kill(node)
        finally:
            done.set()

    return threading.Thread(target=run, daemon=True), done


@pytest.mark.slow
@pytest.mark.parametrize("moment", ["idle", "sending"])
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_producer_writes_on_while_a_leader_stays_dead(transport: str, moment: str,
                                                      kafka_cluster: Any) -> None:
    # "idle": the broker dies between two chunks, so the refresh its lost connection asks
    # for is answered at once, before the controller noticed; "sending": it dies while a
    # chunk is on its way.
    topic = f"dead-leader-{transport}-{uuid.uuid4().hex[:6]}"
    kafka_cluster.create_topic(topic, partitions=3, replication_factor=3)
    wait_full_isr(kafka_cluster, [topic])
    victim = kafka_cluster.leader(topic, 0)
    killer, killed = _killer(kafka_cluster, victim)
    sent: list[ProducerMessage] = []
    with producer(transport, "SyncProducer", kafka_cluster.bootstrap) as p:
        for c in range(CHUNKS):
            chunk = [ProducerMessage(topic, b"%06d" % n, key=b"k%d" % (n % 97))
                     for n in range(c * CHUNK, (c + 1) * CHUNK)]
            if c == KILL_AT:
                killer.start()
                if moment == "idle":
                    assert killed.wait(30)
            started = time.monotonic()
            p.send_messages(chunk)  # raises ProducerErrors if any record failed
            took = time.monotonic() - started
            assert took < FAILOVER_BOUND, f"chunk {c} took {took:.1f}s"
            sent += chunk
        assert killed.wait(30)
        assert not kafka_cluster.node(victim).alive
        # Records for partition 0 were acknowledged after the kill: by the new leader.
        assert any(m.partition == 0 for m in sent[(KILL_AT + 1) * CHUNK:])
    for part in range(3):
        leader = kafka_cluster.wait_for_leader(topic, part, exclude={victim})
        stored = read_partition(kafka_cluster.node(leader).bootstrap, topic, part)
        mine = {m.offset: m.value for m in sent if m.partition == part}
        assert {r.offset: r.value for r in stored} == mine  # each exactly once, where acked
    assert not kafka_cluster.node(victim).alive  # it stayed down throughout


def _txn_coordinator(cluster: Any, txn_id: str, exclude: set[int]) -> int:
    deadline = time.monotonic() + 30.0
    while True:
        node = next(n for n in cluster.live_nodes() if n.node_id not in exclude)
        with Raw(node.bootstrap) as raw:
            resp = raw.request(protocol.FindCoordinatorRequest(key=txn_id, key_type=1), 2)
        if resp.error_code == 0 and resp.node_id not in exclude:
            return int(resp.node_id)
        assert time.monotonic() < deadline, f"no coordinator for {txn_id}: {resp.error_code}"
        time.sleep(0.2)  # still loading, or not yet moved: ask again


@pytest.mark.slow
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_transactions_commit_on_while_their_coordinator_stays_dead(
        transport: str, kafka_cluster: Any) -> None:
    topic = f"dead-txn-{transport}-{uuid.uuid4().hex[:6]}"
    txn_id = f"tx-{topic}"
    kafka_cluster.create_topic(topic, partitions=3, replication_factor=3)
    committed: list[ProducerMessage] = []
    with producer(transport, "SyncProducer", kafka_cluster.bootstrap,
                  transactional_id=txn_id) as p:
        p.init_transactions()
        wait_full_isr(kafka_cluster, [topic, "__transaction_state"])
        victim = _txn_coordinator(kafka_cluster, txn_id, set())
        for r in range(12):
            p.begin_txn()
            chunk = [ProducerMessage(topic, b"%d-%d" % (r, i), key=b"k%d" % i)
                     for i in range(50)]
            p.send_messages(chunk)
            if r == 3:
                kafka_cluster.kill(victim)  # EndTxn goes to a dead coordinator
            started = time.monotonic()
            p.commit_txn()
            took = time.monotonic() - started
            assert took < FAILOVER_BOUND, f"commit {r} took {took:.1f}s"
            committed += chunk
        assert not kafka_cluster.node(victim).alive
    assert _txn_coordinator(kafka_cluster, txn_id, {victim}) != victim
    want = sorted(m.value or b"" for m in committed)

    def stored(read_committed: bool) -> list[bytes]:
        values: list[bytes] = []
        for part in range(3):
            leader = kafka_cluster.wait_for_leader(topic, part, exclude={victim})
            values += [r.value or b"" for r in read_partition(
                kafka_cluster.node(leader).bootstrap, topic, part, committed=read_committed)]
        return sorted(values)

    assert stored(False) == want  # every record in the log exactly once
    # (read_partition's committed read waits for the markers written after EndTxn.)
    assert stored(True) == want
    assert not kafka_cluster.node(victim).alive
