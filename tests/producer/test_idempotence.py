"""Idempotent producing against the fake cluster (its log checks sequences as Kafka does), with
its fault hooks where a test needs one fault at one point: a partition's next Produce failed
with a given code, requests held and released, an answer scripted or lost (more in
tests/fake/test_fault_hooks.py)."""

from __future__ import annotations

from typing import Any

from kproto import protocol
from kproto.protocol import apis
from kproto.protocol.messages.produce_response import (
    PartitionProduceResponse,
    TopicProduceResponse,
)
from tests.producer.on_fake import OnFake


def test_producer_id_first_then_sequences_per_partition() -> None:
    f = OnFake(partitions=2, batch_max_messages=2, linger=10.0)
    for i in range(6):
        f.send(b"%d" % i, partition=i % 2)
    f.producer.flush(f.now)
    f.run_until(lambda: len(f.delivered()) == 6)
    kinds = [k for k, _ in f.seen if k in (apis.INIT_PRODUCER_ID, apis.PRODUCE)]
    assert kinds[0] == apis.INIT_PRODUCER_ID
    [init] = f.requests(apis.INIT_PRODUCER_ID)
    assert init.transactional_id is None and init.producer_id == -1
    pid = f.stamps(0)[0][0]
    for p in (0, 1):
        seqs = f.stamps(p)
        assert [s[2] for s in seqs] == [0, 2]
        assert {s[:2] for s in seqs} == {(pid, 0)}
    assert f.requests(apis.PRODUCE)[0].acks == -1


def test_a_retry_keeps_its_sequence_and_epoch() -> None:
    f = OnFake()
    f.faults.fail(apis.PRODUCE, 6, topic="t", partition=0)  # NOT_LEADER_OR_FOLLOWER
    f.faults.fail(apis.PRODUCE, 7, topic="t", partition=0)  # REQUEST_TIMED_OUT
    token = f.send(b"x")
    f.run_until(lambda: token in f.delivered())
    pid = f.stamps()[0][0]
    assert f.stamps() == [(pid, 0, 0, 1)] * 3
    assert len(f.requests(apis.INIT_PRODUCER_ID)) == 1
    assert f.values() == [b"x"]


def test_out_of_order_on_the_next_sequence_bumps_the_epoch() -> None:
    f = OnFake(batch_max_messages=1)
    a = f.send(b"a")
    f.run_until(lambda: a in f.delivered())
    pid = f.stamps()[0][0]
    f.faults.fail(apis.PRODUCE, 45, topic="t", partition=0)  # lost track of sequence 1
    b = f.send(b"b")
    c = f.send(b"c")
    f.run_until(lambda: b in f.delivered() and c in f.delivered())
    inits = f.requests(apis.INIT_PRODUCER_ID)
    assert len(inits) == 2
    assert (inits[1].producer_id, inits[1].producer_epoch) == (pid, 0)  # KIP-360: current ones
    after = [s for s in f.stamps() if s[0] != pid]  # Kafka answers with a new id
    assert [s[1:3] for s in after] == [(0, 0), (0, 1)]  # sequences restart at 0
    assert f.values() == [b"a", b"b", b"c"]


def test_out_of_order_behind_an_unacked_batch_is_a_plain_retry() -> None:
    f = OnFake(batch_max_messages=1)
    f.acked_once()
    f.faults.hold(apis.PRODUCE, count=-1)
    tokens = [f.send(b"%d" % i) for i in range(3)]
    # One held, two queued behind it on the connection: all three were sent.
    [held] = f.faults.held
    assert f.cluster.connections[held.conn_id].queued_requests == 2
    f.faults.rules.clear()
    # The first batch is not written (leader moved); the others then arrive out of order.
    f.faults.fail(apis.PRODUCE, 6, topic="t", partition=0)
    f.release_held()
    f.run_until(lambda: all(t in f.delivered() for t in tokens))
    assert len(f.requests(apis.INIT_PRODUCER_ID)) == 1  # no epoch bump
    assert f.values() == [b"first", b"0", b"1", b"2"]
    # All three went twice, with the same sequences; the retries one at a time, in order.
    assert [s[2] for s in f.stamps()] == [0, 1, 2, 3, 1, 2, 3]
    assert len({s[:2] for s in f.stamps()}) == 1


def test_unknown_producer_id_bumps_the_epoch_and_the_batch_succeeds() -> None:
    f = OnFake()
    f.faults.fail(apis.PRODUCE, 59, topic="t", partition=0)  # UNKNOWN_PRODUCER_ID
    token = f.send(b"x")
    f.run_until(lambda: token in f.delivered())
    assert len(f.requests(apis.INIT_PRODUCER_ID)) == 2
    first, last = f.stamps()[0], f.stamps()[-1]
    assert last[0] != first[0] and last[1:] == (0, 0, 1)
    assert f.values() == [b"x"]


def test_no_bump_while_requests_are_in_flight() -> None:
    f = OnFake(partitions=2, linger=10.0)
    f.faults.hold(apis.PRODUCE, count=-1)
    f.send(b"a", partition=0)
    f.send(b"b", partition=1)
    f.producer.flush(f.now)
    f.step()
    f.run_until(lambda: len(f.faults.held) == 1)
    f.producer.identity.request_bump()  # type: ignore[union-attr]
    f.send(b"c", partition=0)
    f.advance(1.0)
    assert len(f.requests(apis.INIT_PRODUCER_ID)) == 1
    f.faults.rules.clear()
    f.release_held()
    f.run_until(lambda: len(f.delivered()) == 3)
    assert len(f.requests(apis.INIT_PRODUCER_ID)) == 2


def error_answer(request: Any, code: int, base_offset: int = -1) -> Any:
    """A Produce answer giving every partition of ``request`` the error ``code``."""
    return protocol.ProduceResponse(responses=[TopicProduceResponse(
        name=t.name, partition_responses=[PartitionProduceResponse(
            index=p.index, error_code=code, base_offset=base_offset, log_start_offset=0)
            for p in t.partition_data]) for t in request.topic_data])


def test_up_to_five_batches_in_flight_per_partition() -> None:
    f = OnFake(batch_max_messages=1, max_in_flight_per_connection=10)
    f.acked_once()
    f.faults.hold(apis.PRODUCE, count=-1)
    tokens = [f.send(b"%d" % i) for i in range(8)]
    f.producer.flush(f.now)
    f.step()
    # The broker reads one request of a connection at a time (as Kafka mutes a channel):
    # one held, the rest queued behind it; the sixth batch waits for an answer.
    [held] = f.faults.held
    assert 1 + f.cluster.connections[held.conn_id].queued_requests == 5
    f.faults.rules.clear()
    f.release_held()
    f.run_until(lambda: all(t in f.delivered() for t in tokens))
    assert f.values() == [b"first"] + [b"%d" % i for i in range(8)]
    assert [s[2] for s in f.stamps()] == list(range(9))


def test_a_duplicate_of_a_written_batch_is_success_and_stored_once() -> None:
    f = OnFake()
    f.faults.hold(apis.PRODUCE)
    token = f.send(b"once")
    f.run_until(lambda: bool(f.faults.held))
    f.faults.pop_held(apis.PRODUCE).lose(f.now)  # the broker writes the batch, the answer is lost
    f.run_until(lambda: token in f.delivered() or token in f.failed())
    assert f.values() == [b"once"]
    pid = f.stamps()[0][0]
    assert f.stamps() == [(pid, 0, 0, 1)] * 2
    assert f.delivered()[token] == ("t", 0, 0)


def test_duplicate_sequence_error_code_counts_as_delivered() -> None:
    f = OnFake()
    f.faults.respond(apis.PRODUCE, lambda req, _v: error_answer(req, 46, base_offset=41))
    token = f.send(b"x")
    f.run_until(lambda: token in f.delivered() or token in f.failed())
    assert f.delivered()[token] == ("t", 0, 41)
    assert token not in f.failed()
