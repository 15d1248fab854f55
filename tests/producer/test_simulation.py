"""Seeded fault simulation: an idempotent producer against the fake cluster (Kafka 4.4
rules, or 4.5's) whose brokers, through its fault hooks, lose connections (before or after
storing a batch), move leaders, answer with retriable errors and refuse batches above a
topic's size limit (the producer splits them). Whatever happens, every acknowledged record is stored exactly once, in send
order, at the offset the producer reported, and every record is settled exactly once."""

from __future__ import annotations

import random

import pytest

from kproto.message_types import ProducerMessage
from kproto.producer import RecordsDelivered, RecordsFailed
from kproto.protocol.apis import PRODUCE
from tests.producer.on_fake import OnFake

PARTITIONS = 3
RETRIABLE = [6, 7, 19, 20, 5]  # NOT_LEADER, REQUEST_TIMED_OUT, NOT_ENOUGH_REPLICAS(_AFTER), LNA


def run(seed: int, idempotent: bool = True, kafka_45: bool = False,
        ordered: bool = True) -> OnFake:
    rng = random.Random(seed)
    options = {"batch_max_messages": rng.choice([1, 2, 5]), "linger": rng.choice([0.0, 0.01]),
               "request_timeout": 2.0, "retry_backoff": 0.01, "retry_backoff_max": 0.2,
               "reconnect_backoff": 0.01, "reconnect_backoff_max": 0.1,
               "delivery_timeout": 600.0}
    if not idempotent:
        options |= {"idempotent": False, "acks": 1}
        if ordered:
            options["max_in_flight_per_partition"] = 1
    sim = OnFake(leaders=[1, 2, 1], seed=seed, kafka_45=kafka_45, **options)
    cluster, faults = sim.cluster, sim.faults
    if rng.random() < 0.3:
        # batches of more than about 3 records are split
        cluster.topics["t"].configs["max.message.bytes"] = "120"
    faults.hold(PRODUCE, count=-1)
    counters = [0] * PARTITIONS
    sent: dict[int, tuple[int, bytes]] = {}
    for _ in range(250):
        action = rng.random()
        if action < 0.45:
            for _ in range(rng.randint(1, 4)):
                part = rng.randrange(PARTITIONS)
                value = b"%d:%05d" % (part, counters[part])
                counters[part] += 1
                token = sim.producer.send(ProducerMessage("t", value, partition=part),
                                          sim.now, 1)
                sent[token] = (part, value)
            sim.step()
        elif action < 0.65 and faults.held:
            faults.pop_held().release(sim.now)  # answered normally
            sim.step()
        elif action < 0.72 and faults.held:
            held = faults.pop_held()
            if rng.random() < 0.5:
                held.lose(sim.now)  # stored, but the answer is lost with the connection
            cluster.drop_connections(held.node)  # the broker's connections go
            sim.step()
        elif action < 0.78 and faults.held:
            held = faults.pop_held()
            faults.fail(PRODUCE, rng.choice(RETRIABLE), topic="t",
                        partition=held.request.topic_data[0].partition_data[0].index)
            held.release(sim.now)
            sim.step()
        elif action < 0.82:
            part = rng.randrange(PARTITIONS)
            leader = cluster.topics["t"].partitions[part].leader
            # the leader moves to the other broker
            cluster.move_leader("t", part, 3 - leader, sim.now)
            sim.step()
        else:
            sim.advance(rng.choice([0.001, 0.01, 0.05, 0.3]))
    # Calm: no more faults; everything must settle.
    faults.clear()
    sim.release_held()
    sim.run_until(lambda: settled(sim) == len(sent), limit=600)
    check(sim, sent, idempotent, ordered)
    return sim


def settled(sim: OnFake) -> int:
    n = 0
    for ev in sim.client.events:
        if isinstance(ev, (RecordsDelivered, RecordsFailed)):
            n += len(ev.tokens)
    return n


def check(sim: OnFake, sent: dict[int, tuple[int, bytes]], idempotent: bool,
          ordered: bool = True) -> None:
    seen_tokens: list[int] = []
    for ev in sim.client.events:
        if isinstance(ev, (RecordsDelivered, RecordsFailed)):
            seen_tokens += ev.tokens
    assert sorted(seen_tokens) == sorted(sent)  # each settled exactly once
    assert sim.failed() == {}  # nothing gave up within the delivery timeout
    delivered = sim.delivered()
    for part in range(PARTITIONS):
        log = [r for e in sim.log(part).entries for r in e.records()]
        values = [r.value for r in log]
        ours = [v for t, (p, v) in sorted(sent.items()) if p == part]
        if idempotent:
            assert values == ours  # exactly once, in order
        elif ordered:
            # At least once: duplicates may appear, but first copies keep the send order.
            firsts = list(dict.fromkeys(values))
            assert firsts == ours
        else:
            # Pipelined without idempotence: at least once, in any order (a batch answered
            # with an error may be stored after a later one of its partition).
            assert set(values) == set(ours)
        for token, (p, value) in sent.items():
            if p == part:
                _, partition, offset = delivered[token]
                assert partition == part and log[offset].value == value


@pytest.mark.parametrize("seed", range(40))
def test_idempotent_producer_under_faults(seed: int) -> None:
    run(seed)


@pytest.mark.parametrize("seed", range(40, 60))
def test_idempotent_producer_under_faults_on_kafka_45(seed: int) -> None:
    run(seed, kafka_45=True)


@pytest.mark.parametrize("seed", range(10))
def test_plain_producer_under_faults_keeps_order_and_loses_nothing(seed: int) -> None:
    run(seed, idempotent=False)


@pytest.mark.parametrize("seed", range(10, 20))
def test_pipelined_plain_producer_under_faults_loses_nothing(seed: int) -> None:
    run(seed, idempotent=False, ordered=False)
