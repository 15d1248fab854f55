"""Idempotent producing against scripted brokers that check sequences like Kafka does."""

from __future__ import annotations

from collections import deque

from kproto.records import decode_batches
from tests.producer.sim import INIT_PRODUCER_ID, PRODUCE, Seen, Sim
from tests.producer.test_core import warm


def stamps(sim: Sim, partition: int = 0) -> list[tuple[int, int, int, int]]:
    """(producer id, epoch, base sequence, records) of every batch sent to the partition."""
    out = []
    for seen in sim.requests(PRODUCE):
        for t in seen.request.topic_data:
            for p in t.partition_data:
                if p.index == partition:
                    b = decode_batches(p.records).batches[0]
                    out.append((b.producer_id, b.producer_epoch, b.base_sequence, b.record_count))
    return out


def test_producer_id_first_then_sequences_per_partition() -> None:
    sim = Sim(topics={"t": [1, 1]}, batch_max_messages=2, linger=10.0)
    warm(sim)
    for i in range(6):
        sim.send(b"%d" % i, partition=i % 2)
    sim.producer.flush(sim.now)
    sim.run_until(lambda: len(sim.delivered()) == 6)
    kinds = [s.api_key for s in sim.seen if s.api_key in (INIT_PRODUCER_ID, PRODUCE)]
    assert kinds[0] == INIT_PRODUCER_ID
    init = sim.requests(INIT_PRODUCER_ID)[0].request
    assert init.transactional_id is None and init.producer_id == -1
    for p in (0, 1):
        seqs = stamps(sim, p)
        assert [s[2] for s in seqs] == [0, 2]
        assert {s[:2] for s in seqs} == {(1001, 0)}
    assert sim.requests(PRODUCE)[0].request.acks == -1


def acked_once(sim: Sim, partition: int = 0) -> None:
    """One record acknowledged on the partition, so later batches may travel together."""
    token = sim.send(b"first", partition=partition)
    sim.run_until(lambda: token in sim.delivered())


def test_up_to_five_batches_in_flight_per_partition() -> None:
    sim = Sim(batch_max_messages=1, max_in_flight_per_connection=10)
    warm(sim)
    acked_once(sim)
    sim.hold_apis.add(PRODUCE)
    for i in range(8):
        sim.send(b"%d" % i, partition=0)
    sim.producer.flush(sim.now)
    sim.step()
    assert len(sim.requests(PRODUCE)) == 1 + 5  # the sixth waits for an answer
    sim.hold_apis.clear()
    sim.release(PRODUCE)
    sim.run_until(lambda: len(sim.delivered()) == 9)
    assert sim.values() == [b"first"] + [b"%d" % i for i in range(8)]
    assert [s[2] for s in stamps(sim)] == list(range(9))


def test_a_retry_keeps_its_sequence_and_epoch() -> None:
    sim = Sim()
    warm(sim)
    sim.produce_errors[("t", 0)] = deque([6, 7])
    token = sim.send(b"x", partition=0)
    sim.run_until(lambda: token in sim.delivered())
    assert stamps(sim) == [(1001, 0, 0, 1)] * 3
    assert len(sim.requests(INIT_PRODUCER_ID)) == 1


def test_a_duplicate_of_a_written_batch_is_success_and_stored_once() -> None:
    sim = Sim()
    warm(sim)
    sim.hold_apis.add(PRODUCE)
    token = sim.send(b"once", partition=0)
    [seen] = sim.held
    sim.held.clear()
    sim.answer(seen)  # the broker writes the batch ...
    sim.hold_apis.clear()
    sim.kill(1)  # ... but the connection drops before the answer
    sim.down.clear()
    sim.run_until(lambda: token in sim.delivered())
    assert sim.values() == [b"once"]
    assert stamps(sim) == [(1001, 0, 0, 1)] * 2
    assert sim.delivered()[token] == ("t", 0, 0)


def test_duplicate_sequence_error_code_counts_as_delivered() -> None:
    sim = Sim()
    warm(sim)
    sim.script[PRODUCE] = deque([lambda seen: _error_response(seen, 46, base_offset=41)])
    token = sim.send(b"x", partition=0)
    sim.run_until(lambda: token in sim.delivered())
    assert sim.delivered()[token] == ("t", 0, 41)
    assert token not in sim.failed()


def _error_response(seen: Seen, code: int, base_offset: int = -1) -> object:
    from kproto import protocol
    from kproto.protocol.messages.produce_response import (
        PartitionProduceResponse,
        TopicProduceResponse,
    )
    return protocol.ProduceResponse(responses=[TopicProduceResponse(
        name=t.name, partition_responses=[PartitionProduceResponse(
            index=p.index, error_code=code, base_offset=base_offset, log_start_offset=0)
            for p in t.partition_data]) for t in seen.request.topic_data])


def test_out_of_order_on_the_next_sequence_bumps_the_epoch() -> None:
    sim = Sim(batch_max_messages=1)
    warm(sim)
    a = sim.send(b"a", partition=0)
    sim.run_until(lambda: a in sim.delivered())
    sim.produce_errors[("t", 0)] = deque([45])  # the broker lost track of sequence 1
    b = sim.send(b"b", partition=0)
    c = sim.send(b"c", partition=0)
    sim.run_until(lambda: b in sim.delivered() and c in sim.delivered())
    inits = [s.request for s in sim.requests(INIT_PRODUCER_ID)]
    assert len(inits) == 2
    assert (inits[1].producer_id, inits[1].producer_epoch) == (1001, 0)  # KIP-360: current ones
    after = [s for s in stamps(sim) if s[0] == 1002]  # Kafka answers with a new id
    assert [s[1:3] for s in after] == [(0, 0), (0, 1)]  # sequences restart at 0
    assert sim.values() == [b"a", b"b", b"c"]


def test_out_of_order_behind_an_unacked_batch_is_a_plain_retry() -> None:
    sim = Sim(batch_max_messages=1)
    warm(sim)
    acked_once(sim)
    sim.hold_apis.add(PRODUCE)
    tokens = [sim.send(b"%d" % i, partition=0) for i in range(3)]
    assert len(sim.requests(PRODUCE)) == 1 + 3
    sim.hold_apis.clear()
    # The first batch is not written (leader moved); the others then arrive out of order.
    sim.produce_errors[("t", 0)] = deque([6])
    sim.release(PRODUCE)
    sim.run_until(lambda: all(t in sim.delivered() for t in tokens))
    assert len(sim.requests(INIT_PRODUCER_ID)) == 1  # no epoch bump
    assert sim.values() == [b"first", b"0", b"1", b"2"]
    # All three went twice, with the same sequences; the retries one at a time, in order.
    assert [s[2] for s in stamps(sim)] == [0, 1, 2, 3, 1, 2, 3]
    assert {s[:2] for s in stamps(sim)} == {(1001, 0)}


def test_unknown_producer_id_bumps_the_epoch_and_the_batch_succeeds() -> None:
    sim = Sim()
    warm(sim)
    sim.produce_errors[("t", 0)] = deque([59])
    token = sim.send(b"x", partition=0)
    sim.run_until(lambda: token in sim.delivered())
    assert len(sim.requests(INIT_PRODUCER_ID)) == 2
    assert stamps(sim)[-1] == (1002, 0, 0, 1)
    assert sim.values() == [b"x"]


def test_no_bump_while_requests_are_in_flight() -> None:
    sim = Sim(topics={"t": [1, 1]}, linger=10.0)
    warm(sim)
    sim.hold_apis.add(PRODUCE)
    sim.send(b"a", partition=0)
    sim.send(b"b", partition=1)
    sim.producer.flush(sim.now)
    sim.step()
    assert len(sim.held) == 1
    sim.producer.identity.request_bump()  # type: ignore[union-attr]
    sim.send(b"c", partition=0)
    sim.advance(1.0)
    assert len(sim.requests(INIT_PRODUCER_ID)) == 1
    sim.hold_apis.clear()
    sim.release(PRODUCE)
    sim.run_until(lambda: len(sim.delivered()) == 3)
    assert len(sim.requests(INIT_PRODUCER_ID)) == 2
