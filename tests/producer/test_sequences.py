"""The sequence and epoch state machine of the idempotent and transactional producer, against
scripted brokers that check producer state with the fake cluster's rules (Kafka 4.4;
``Sim(kafka_45=True)``: 4.5).

Transitions, after the Java client's TransactionManager and Sender (each has a test here or,
where named, in test_idempotence.py / test_transactions.py):

1.  No producer id: InitProducerId (id -1) goes before any Produce (test_idempotence).
2.  A partition's first batch under a producer id and epoch travels alone until the broker
    acknowledged it (a broker before 4.5 takes any first sequence from a producer it does not
    know, so a later batch could overtake a failed first one for good).
3.  After that, up to ``max_in_flight_per_partition`` (5) batches per partition are in flight,
    with consecutive sequences (test_idempotence).
4.  A retriable error: the batch goes again after the backoff, with the same id, epoch and
    sequence, alone, after every earlier batch of the partition settled.
5.  A retry of a written batch (its first and last sequence match one of the producer's last
    five batches) is answered with the original offset: delivered once (test_idempotence);
    DUPLICATE_SEQUENCE_NUMBER counts as delivered (test_idempotence).
6.  OUT_OF_ORDER_SEQUENCE_NUMBER with a lower-sequence batch of the partition still queued or
    in flight: a plain retry with backoff, no bump (test_idempotence), bounded by ``retries``
    and the delivery timeout.
7.  OUT_OF_ORDER_SEQUENCE_NUMBER with nothing lower unsettled (a real gap): an idempotent
    producer bumps the epoch at once (InitProducerId with its id and epoch; Kafka hands out a
    new id) and sends the batch again from sequence 0; a transactional one fails the batch and
    enters the abortable error state, and the abort bumps the epoch (test_transactions).
8.  UNKNOWN_PRODUCER_ID: idempotent, bump and send again (test_idempotence); transactional,
    abortable with a bump.
9.  INVALID_PRODUCER_EPOCH on Produce: idempotent, the batch fails and the epoch is bumped;
    transactional, abortable with a bump (KIP-588), not fatal.
10. PRODUCER_FENCED: fatal for a transactional producer (test_transactions).
11. A batch that got a retriable error while a bump was pending may have been written (a lost
    answer, a timeout): it goes again under the id and sequence it was written with, and the
    bump waits for it to settle (Java keeps such batches on their old id until they complete,
    TransactionManager.maybeUpdateProducerIdAndEpoch). A batch the broker refused as out of
    order or of an unknown producer was not written: it starts again from sequence 0 under
    the new id (every partition restarts at 0).
12. A batch that was sent and then expires (or runs out of retries) leaves its sequence
    unresolved: an idempotent producer bumps at once, without waiting for another send.
13. The bump waits until no Produce request is in flight (test_idempotence).
14. MESSAGE_TOO_LARGE for a batch of several records: it is split in two with its own
    sequences and sent again at once; a later batch that got OUT_OF_ORDER_SEQUENCE_NUMBER
    meanwhile is a plain retry. A single record too large fails alone (with its size and the
    topic's limit) and the epoch is bumped.
15. Sequences wrap from 2**31-1 to 0.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import pytest

from kproto import protocol
from kproto.errors import (
    InvalidProducerEpochError,
    MessageTooLargeError,
    OutOfOrderSequenceNumberError,
)
from kproto.producer import TxnStatus
from kproto.protocol.messages.produce_response import (
    PartitionProduceResponse,
    TopicProduceResponse,
)
from kproto.records import BatchBuilder
from tests.producer.sim import INIT_PRODUCER_ID, PRODUCE, Seen, Sim
from tests.producer.test_core import warm
from tests.producer.test_idempotence import acked_once, stamps
from tests.producer.test_transactions import TXN, done, ready

MAX_SEQ = 0x7FFFFFFF


def error_response(seen: Seen, code: int) -> Any:
    return protocol.ProduceResponse(responses=[TopicProduceResponse(
        name=t.name, partition_responses=[PartitionProduceResponse(
            index=p.index, error_code=code, base_offset=-1, log_start_offset=0)
            for p in t.partition_data]) for t in seen.request.topic_data])


def settled(sim: Sim, tokens: list[int]) -> bool:
    return all(t in sim.delivered() or t in sim.failed() for t in tokens)


# -- the scripted broker's rules --------------------------------------------------------------


def raw_batch(pid: int, epoch: int, seq: int, n: int) -> bytes:
    b = BatchBuilder(producer_id=pid, producer_epoch=epoch, base_sequence=seq)
    for i in range(n):
        b.append(0, None, b"%d" % i, [])
    return b.build()


@pytest.mark.parametrize("kafka_45", [False, True])
def test_scripted_broker_checks_sequences_like_kafka(kafka_45: bool) -> None:
    sim = Sim(kafka_45=kafka_45)
    tp = ("t", 0)
    # An unknown producer may start anywhere before 4.5; from 4.5 a never-written partition
    # takes only sequence 0.
    assert sim.append(tp, raw_batch(7, 0, 5, 2)) == ((45, -1) if kafka_45 else (0, 0))
    if kafka_45:
        assert sim.append(tp, raw_batch(7, 0, 0, 7)) == (0, 0)
    base = sim.log().log_end_offset - 2 if not kafka_45 else 0
    first, last = (5, 6) if not kafka_45 else (0, 6)
    count = last - first + 1
    # A partition that holds records takes any first sequence from another producer (4.5 too).
    assert sim.append(tp, raw_batch(8, 0, 40, 1))[0] == 0
    # Duplicates: the exact first and last sequence of a recent batch, answered with its offset.
    assert sim.append(tp, raw_batch(7, 0, first, count)) == (0, base)
    assert sim.append(tp, raw_batch(7, 0, first, count + 1)) == (45, -1)  # same first only
    assert sim.append(tp, raw_batch(7, 0, last + 2, 1)) == (45, -1)  # a gap
    assert sim.append(tp, raw_batch(7, 0, last + 1, 1))[0] == 0  # the next one
    # A new epoch starts at 0; an older epoch is refused.
    assert sim.append(tp, raw_batch(7, 1, 3, 1)) == (45, -1)
    assert sim.append(tp, raw_batch(7, 1, 0, 1))[0] == 0
    assert sim.append(tp, raw_batch(7, 0, last + 2, 1)) == (47, -1)
    # The duplicate cache holds five batches.
    for seq in range(1, 7):
        assert sim.append(tp, raw_batch(7, 1, seq, 1))[0] == 0
    assert sim.append(tp, raw_batch(7, 1, 2, 1))[0] == 0  # still cached: a duplicate
    assert sim.append(tp, raw_batch(7, 1, 1, 1)) == (45, -1)  # fell out of the cache
    # Wrapping: after 2**31-1 comes 0.
    sim.set_last_sequence(9, MAX_SEQ - 1)
    assert sim.append(tp, raw_batch(9, 0, MAX_SEQ, 1))[0] == 0
    assert sim.append(tp, raw_batch(9, 0, 0, 1))[0] == 0


def test_an_idempotent_bump_gets_a_new_producer_id() -> None:
    sim = Sim()
    warm(sim)
    acked_once(sim)
    sim.producer.identity.request_bump()  # type: ignore[union-attr]
    sim.producer.sender.pump(sim.now)
    sim.step()
    inits = [s.request for s in sim.requests(INIT_PRODUCER_ID)]
    assert [(r.producer_id, r.producer_epoch) for r in inits] == [(-1, -1), (1001, 0)]
    assert sim.producer.metrics()["producer_id"] == 1002
    assert sim.producer.metrics()["producer_epoch"] == 0


# -- 2: the first batch travels alone ---------------------------------------------------------


@pytest.mark.parametrize("kafka_45", [False, True])
def test_a_first_batch_refused_by_a_new_leader_is_not_overtaken(kafka_45: bool) -> None:
    """Right after a topic is created, the first batch (sequences 0-6) gets
    NOT_LEADER_OR_FOLLOWER while a later one (sequence 7) could already be written."""
    sim = Sim(batch_max_messages=7, linger=5.0, delivery_timeout=30.0, kafka_45=kafka_45)
    warm(sim)
    sim.hold_apis.add(PRODUCE)
    tokens = [sim.send(b"%d" % i, partition=0) for i in range(8)]  # a full batch goes
    sim.producer.flush(sim.now)  # the eighth record would go at once
    sim.step()
    assert len(sim.held) == 1  # the second batch waits for the first one's answer
    sim.hold_apis.clear()
    sim.produce_errors[("t", 0)] = deque([6])
    sim.release(PRODUCE)
    sim.run_until(lambda: settled(sim, tokens), limit=120)
    assert sim.failed() == {}
    assert sim.values() == [b"%d" % i for i in range(8)]
    assert [s[2:] for s in stamps(sim)] == [(0, 7), (0, 7), (7, 1)]
    assert len(sim.requests(INIT_PRODUCER_ID)) == 1


def test_every_partition_and_every_new_id_start_with_one_batch() -> None:
    sim = Sim(topics={"t": [1, 1]}, batch_max_messages=1, max_in_flight_per_connection=20)
    warm(sim)
    sim.hold_apis.add(PRODUCE)
    for i in range(4):
        sim.send(b"%d" % i, partition=0)
        sim.send(b"%d" % i, partition=1)
    sim.producer.flush(sim.now)
    sim.step()
    assert [len(stamps(sim, p)) for p in (0, 1)] == [1, 1]  # one batch per partition
    sim.hold_apis.clear()
    sim.release(PRODUCE)
    sim.run_until(lambda: len(sim.delivered()) == 8)
    # After a bump (a new id) the first batch travels alone again.
    sim.producer.identity.request_bump()  # type: ignore[union-attr]
    sim.producer.sender.pump(sim.now)
    sim.step()
    sim.hold_apis.add(PRODUCE)
    for i in range(3):
        sim.send(b"n%d" % i, partition=0)
    sim.producer.flush(sim.now)
    sim.step()
    assert len(stamps(sim, 0)) == 4 + 1
    sim.hold_apis.clear()
    sim.release(PRODUCE)
    sim.run_until(lambda: len(sim.delivered()) == 11)
    assert [s[:3] for s in stamps(sim)][-3:] == [(1002, 0, 0), (1002, 0, 1), (1002, 0, 2)]


# -- 4: retriable errors back off -------------------------------------------------------------


def test_a_retriable_error_is_retried_after_the_backoff() -> None:
    sim = Sim(retry_backoff=1.0, retry_backoff_max=1.0)
    warm(sim)
    sim.produce_errors[("t", 0)] = deque([6, 19])
    token = sim.send(b"x", partition=0)
    sim.run_until(lambda: token in sim.delivered())
    times = [s.at for s in sim.requests(PRODUCE)]
    assert len(times) == 3
    assert times[1] - times[0] >= 0.8 and times[2] - times[1] >= 0.8


# -- 7, 12: real gaps bump at once ------------------------------------------------------------


def test_a_gap_nothing_can_fill_bumps_the_epoch_at_once_and_sends_again() -> None:
    """The broker lost the producer's state (it may then take any sequence, before 4.5): a
    later batch is written, the earlier one is refused as out of order and nothing lower is
    left to fill the gap."""
    sim = Sim(batch_max_messages=1, delivery_timeout=30.0)
    warm(sim)
    acked_once(sim)
    sim.hold_apis.add(PRODUCE)
    a = sim.send(b"a", partition=0)
    b = sim.send(b"b", partition=0)
    assert len(sim.requests(PRODUCE)) == 3
    sim.log().producers.clear()
    sim.hold_apis.clear()
    sim.produce_errors[("t", 0)] = deque([6])  # a is not written, b is
    sim.release(PRODUCE)
    sim.run_until(lambda: settled(sim, [a, b]), limit=60)
    assert sim.failed() == {}
    assert sim.values() == [b"first", b"b", b"a"]  # nothing lost, nothing twice
    inits = sim.requests(INIT_PRODUCER_ID)
    assert len(inits) == 2 and (inits[1].request.producer_id, inits[1].request.producer_epoch) \
        == (1001, 0)
    refused = [s for s in sim.requests(PRODUCE) if s.at <= inits[1].at]
    assert inits[1].at == refused[-1].at  # at once, no backoff, no further send
    assert stamps(sim)[-2:] == [(1001, 0, 1, 1), (1002, 0, 0, 1)]


def test_a_sent_batch_that_expires_bumps_the_epoch_without_another_send() -> None:
    sim = Sim(batch_max_messages=1, retry_backoff=2.0, retry_backoff_max=2.0,
              delivery_timeout=3.0)
    warm(sim)
    acked_once(sim)
    sim.produce_errors[("t", 0)] = deque([7, 7])  # REQUEST_TIMED_OUT, twice
    token = sim.send(b"x", partition=0)
    sim.advance(3.5)
    assert token in sim.failed()
    assert "delivery_timeout" in str(sim.failed()[token])
    assert len(sim.requests(INIT_PRODUCER_ID)) == 2
    assert sim.producer.metrics()["producer_id"] == 1002


def test_a_real_gap_in_a_transaction_is_abortable_and_the_abort_bumps() -> None:
    sim = Sim(**TXN)
    ready(sim)
    sim.producer.begin_transaction(sim.now)
    first = sim.send(b"first", partition=0)
    sim.run_until(lambda: first in sim.delivered())
    sim.hold_apis.add(PRODUCE)
    a = sim.send(b"a", partition=0)
    b = sim.send(b"b", partition=0)
    assert len(sim.requests(PRODUCE)) == 3
    sim.log().producers.clear()
    sim.hold_apis.clear()
    sim.produce_errors[("t", 0)] = deque([6])  # a is not written, b is
    sim.release(PRODUCE)
    sim.run_until(lambda: a in sim.failed())
    assert isinstance(sim.failed()[a], OutOfOrderSequenceNumberError)
    assert b in sim.delivered()
    assert sim.producer.txn_status() == TxnStatus.IN_ERROR | TxnStatus.ABORTABLE_ERROR
    assert done(sim, sim.producer.abort_transaction(sim.now)) == ("ok", None)
    inits = [s.request for s in sim.requests(INIT_PRODUCER_ID)]
    assert [(r.producer_id, r.producer_epoch) for r in inits][-1] == (1001, 0)
    assert sim.producer.metrics()["producer_epoch"] == 1


# -- 8, 9: lost producer state and old epochs -------------------------------------------------


@pytest.mark.parametrize("code", [59, 47])
def test_unknown_producer_or_old_epoch_in_a_transaction_is_abortable_with_a_bump(
        code: int) -> None:
    sim = Sim(**TXN)
    ready(sim)
    sim.producer.begin_transaction(sim.now)
    sim.produce_errors[("t", 0)] = deque([code])
    token = sim.send(b"x", partition=0)
    sim.run_until(lambda: token in sim.failed())
    assert sim.producer.txn_status() == TxnStatus.IN_ERROR | TxnStatus.ABORTABLE_ERROR
    assert done(sim, sim.producer.abort_transaction(sim.now)) == ("ok", None)
    assert len(sim.requests(INIT_PRODUCER_ID)) == 2
    sim.producer.begin_transaction(sim.now)
    ok = sim.send(b"y", partition=0)
    assert done(sim, sim.producer.commit_transaction(sim.now)) == ("ok", None)
    assert ok in sim.delivered()
    assert stamps(sim)[-1][1:3] == (1, 0)


def test_an_old_epoch_fails_an_idempotent_batch_and_bumps() -> None:
    sim = Sim()
    warm(sim)
    sim.produce_errors[("t", 0)] = deque([47])
    token = sim.send(b"x", partition=0)
    sim.run_until(lambda: token in sim.failed())
    assert isinstance(sim.failed()[token], InvalidProducerEpochError)
    sim.run_until(lambda: len(sim.requests(INIT_PRODUCER_ID)) == 2)
    later = sim.send(b"y", partition=0)
    sim.run_until(lambda: later in sim.delivered())
    assert stamps(sim)[-1] == (1002, 0, 0, 1)


# -- 11: batches waiting during a bump restart under the new id ------------------------------


def test_batches_retried_across_a_bump_restart_at_sequence_zero() -> None:
    sim = Sim(topics={"t": [1, 1]}, linger=1.0)
    warm(sim)
    for p in (0, 1):
        acked_once(sim, p)
    sim.hold_apis.add(PRODUCE)
    x = sim.send(b"x", partition=0)
    y = sim.send(b"y", partition=1)
    sim.producer.flush(sim.now)
    sim.step()
    [held] = sim.held  # both batches in one request
    sim.hold_apis.clear()
    sim.produce_errors[("t", 0)] = deque([59])  # the broker lost the producer: bump
    sim.produce_errors[("t", 1)] = deque([6])  # a plain retriable error
    sim.reply(held, sim.answer(held))
    sim.run_until(lambda: x in sim.delivered() and y in sim.delivered())
    assert len(sim.requests(INIT_PRODUCER_ID)) == 2
    assert stamps(sim, 0)[-1] == (1002, 0, 0, 1)   # refused: not written, new id from 0
    assert stamps(sim, 1)[-1] == (1001, 0, 1, 1)   # outcome unknown: as it was sent
    assert sim.values("t", 0) == [b"first", b"x"] and sim.values("t", 1) == [b"first", b"y"]


def test_a_written_batch_whose_answer_was_lost_is_not_written_again_across_a_bump() -> None:
    """Simulation seed 63: a batch written but unanswered (its request timed out) waits for
    its retry while another partition's batch runs out of time and asks for a bump. The retry
    goes under the old id and sequence and is answered as the duplicate it is; only then does
    the epoch move on. Re-sent under a new id it would be written twice."""
    sim = Sim(topics={"t": [1, 2]}, brokers=(1, 2), request_timeout=1.0, produce_timeout=0.5,
              delivery_timeout=7.0, retry_backoff=0.2, retry_backoff_max=0.2)
    warm(sim)
    for p in (0, 1):
        acked_once(sim, p)
    written_once = []

    def lossy(seen: Any) -> Any:
        [part] = [p.index for t in seen.request.topic_data for p in t.partition_data]
        if part == 1:  # t[1] is refused with a retriable error until its records expire
            sim.produce_errors[("t", 1)] = deque([6])
            return sim.answer(seen)
        response = sim.answer(seen)
        if not written_once:
            written_once.append(seen)
            return None  # t[0]: written the first time, but the answer is lost
        return response

    sim.script[PRODUCE] = deque([lossy] * 200)
    start = sim.now
    lost = sim.send(b"lost", partition=1)
    sim.run_until(lambda: sim.now >= start + 1.4)
    written = sim.send(b"written", partition=0)
    sim.run_until(lambda: lost in sim.failed() and written in sim.delivered())
    assert sim.values("t", 0) == [b"first", b"written"]
    assert stamps(sim, 0)[-1][:3] == stamps(sim, 0)[-2][:3]  # the retry kept id and sequence
    assert len(sim.requests(INIT_PRODUCER_ID)) == 2          # and the epoch moved on after


# -- 14: too large ----------------------------------------------------------------------------


def test_a_batch_too_large_is_split_with_its_sequences_and_order_holds() -> None:
    sim = Sim(batch_max_messages=4, linger=5.0)
    warm(sim)
    acked_once(sim)
    sim.max_message_bytes["t"] = 350  # 2 records of 100 bytes fit, 4 do not
    sim.hold_apis.add(PRODUCE)
    tokens = [sim.send(b"%d" % i + b"v" * 99, partition=0) for i in range(5)]
    sim.producer.flush(sim.now)
    sim.step()
    assert len(stamps(sim)) == 1 + 2  # 4 records, then 1
    sim.hold_apis.clear()
    sim.release(PRODUCE)
    sim.run_until(lambda: settled(sim, tokens))
    assert sim.failed() == {}
    assert sim.values()[1:] == [b"%d" % i + b"v" * 99 for i in range(5)]
    # (id, epoch, sequence, records): the batch of 4, the one behind it, the halves, then
    # the one behind it again with its own sequence.
    assert stamps(sim)[1:] == [(1001, 0, 1, 4), (1001, 0, 5, 1), (1001, 0, 1, 2),
                               (1001, 0, 3, 2), (1001, 0, 5, 1)]
    assert len(sim.requests(INIT_PRODUCER_ID)) == 1


def test_a_single_record_too_large_fails_alone_naming_its_size_and_the_limit() -> None:
    sim = Sim(batch_max_messages=1)
    warm(sim)
    acked_once(sim)
    sim.max_message_bytes["t"] = 500
    big = sim.send(b"B" * 1000, partition=0)
    sim.run_until(lambda: big in sim.failed())
    err = sim.failed()[big]
    assert isinstance(err, MessageTooLargeError)
    assert "1000 bytes of key and value" in str(err) and "(500 bytes)" in str(err)
    after = sim.send(b"small", partition=0)
    sim.run_until(lambda: after in sim.delivered())
    assert sim.values() == [b"first", b"small"]
    assert stamps(sim)[-1] == (1002, 0, 0, 1)  # the gap it left needs a new epoch


# -- 15: wrapping ----------------------------------------------------------------------------


def test_sequences_wrap_to_zero() -> None:
    sim = Sim(batch_max_messages=1)
    warm(sim)
    acked_once(sim)
    st = sim.producer.acc.state("t", 0)
    st.next_seq, st.last_acked = MAX_SEQ - 1, MAX_SEQ - 2
    sim.set_last_sequence(1001, MAX_SEQ - 2)
    tokens = [sim.send(b"%d" % i, partition=0) for i in range(3)]
    sim.run_until(lambda: settled(sim, tokens))
    assert sim.failed() == {}
    assert [s[2] for s in stamps(sim)][-3:] == [MAX_SEQ - 1, MAX_SEQ, 0]
    assert len(sim.requests(INIT_PRODUCER_ID)) == 1
