"""The sequence and epoch state machine of the idempotent and transactional producer, against
the fake cluster (its partition logs check producer state as Kafka 4.4 does;
``OnFake(kafka_45=True)``: 4.5), with its fault hooks for the exact faults.

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
16. After a partition's leader moved, its new batches wait until those on the wire to the old
    leader settled (answered, failed or timed out; retried first): sent meanwhile, later
    batches could push them out of the broker's five-batch window.
17. An abort fails the batches never sent, but one waiting to be sent again holds sequence
    numbers the broker expects next: it goes again and is aborted with the transaction
    (Java's RecordAccumulator.abortUndrainedBatches keeps batches that have a sequence).
"""

from __future__ import annotations

from typing import Any

import pytest

from kproto import protocol
from kproto.errors import (
    InvalidProducerEpochError,
    MessageTooLargeError,
    OutOfOrderSequenceNumberError,
    TransactionAbortedError,
)
from kproto.producer import TxnStatus
from kproto.protocol import apis
from kproto.protocol.messages.produce_response import (
    PartitionProduceResponse,
    TopicProduceResponse,
)
from kproto.records import BatchBuilder, decode_batches
from kproto.testing import PartitionLog
from tests.producer.on_fake import OnFake

MAX_SEQ = 0x7FFFFFFF
PRODUCE, INIT_PRODUCER_ID = apis.PRODUCE, apis.INIT_PRODUCER_ID
TXN: dict[str, Any] = {"transactional_id": "tx-1", "transaction_timeout": 15.0}


def error_response(request: Any, code: int) -> Any:
    return protocol.ProduceResponse(responses=[TopicProduceResponse(
        name=t.name, partition_responses=[PartitionProduceResponse(
            index=p.index, error_code=code, base_offset=-1, log_start_offset=0)
            for p in t.partition_data]) for t in request.topic_data])


def ids(f: OnFake) -> list[tuple[int, int]]:
    """(producer id, epoch) of every InitProducerId request."""
    return [(r.producer_id, r.producer_epoch) for r in f.requests(INIT_PRODUCER_ID)]


def ready(f: OnFake) -> None:
    assert f.result(f.producer.init_transactions(f.now)) == ("ok", None)


def in_flight(f: OnFake) -> int:
    """Requests the broker holds plus those queued behind them: what the client has sent and
    not had answered (the broker reads one request of a connection at a time)."""
    return sum(1 + f.cluster.connections[h.conn_id].queued_requests
               for h in f.faults.held if h.conn_id in f.cluster.connections)


# -- the fake cluster's producer-state rules --------------------------------------------------


def raw_batch(pid: int, epoch: int, seq: int, n: int) -> tuple[Any, bytes]:
    b = BatchBuilder(producer_id=pid, producer_epoch=epoch, base_sequence=seq)
    for i in range(n):
        b.append(0, None, b"%d" % i, [])
    data = b.build()
    return decode_batches(data).batches[0], data


@pytest.mark.parametrize("kafka_45", [False, True])
def test_the_log_checks_sequences_like_kafka(kafka_45: bool) -> None:
    log = PartitionLog(first_sequence_zero=kafka_45)

    def append(pid: int, epoch: int, seq: int, n: int) -> tuple[int, int]:
        r = log.append(*raw_batch(pid, epoch, seq, n), leader_epoch=0)
        return r.error, r.base_offset

    # An unknown producer may start anywhere before 4.5; from 4.5 a never-written partition
    # takes only sequence 0.
    assert append(7, 0, 5, 2) == ((45, -1) if kafka_45 else (0, 0))
    if kafka_45:
        assert append(7, 0, 0, 7) == (0, 0)
    base = log.log_end_offset - 2 if not kafka_45 else 0
    first, last = (5, 6) if not kafka_45 else (0, 6)
    count = last - first + 1
    # A partition that holds records takes any first sequence from another producer (4.5 too).
    assert append(8, 0, 40, 1)[0] == 0
    # Duplicates: the exact first and last sequence of a recent batch, answered with its offset.
    assert append(7, 0, first, count) == (0, base)
    assert append(7, 0, first, count + 1) == (45, -1)  # same first only
    assert append(7, 0, last + 2, 1) == (45, -1)  # a gap
    assert append(7, 0, last + 1, 1)[0] == 0  # the next one
    # A new epoch starts at 0; an older epoch is refused.
    assert append(7, 1, 3, 1) == (45, -1)
    assert append(7, 1, 0, 1)[0] == 0
    assert append(7, 0, last + 2, 1) == (47, -1)
    # The duplicate cache holds five batches.
    for seq in range(1, 7):
        assert append(7, 1, seq, 1)[0] == 0
    assert append(7, 1, 2, 1)[0] == 0  # still cached: a duplicate
    assert append(7, 1, 1, 1) == (45, -1)  # fell out of the cache
    # Wrapping: after 2**31-1 comes 0.
    assert append(9, 0, MAX_SEQ - 1, 1)[0] == 0
    assert append(9, 0, MAX_SEQ, 1)[0] == 0
    assert append(9, 0, 0, 1)[0] == 0


def test_an_idempotent_bump_gets_a_new_producer_id() -> None:
    f = OnFake()
    f.acked_once()
    pid = f.stamps()[0][0]
    f.producer.identity.request_bump()  # type: ignore[union-attr]
    f.producer.sender.pump(f.now)
    f.run_until(lambda: len(ids(f)) == 2 and f.producer.metrics()["producer_id"] != pid)
    assert ids(f) == [(-1, -1), (pid, 0)]
    assert f.producer.metrics()["producer_epoch"] == 0


# -- 2: the first batch travels alone ---------------------------------------------------------


@pytest.mark.parametrize("kafka_45", [False, True])
def test_a_first_batch_refused_by_a_new_leader_is_not_overtaken(kafka_45: bool) -> None:
    """Right after a topic is created, the first batch (sequences 0-6) gets
    NOT_LEADER_OR_FOLLOWER while a later one (sequence 7) could already be written."""
    f = OnFake(batch_max_messages=7, linger=5.0, delivery_timeout=30.0, kafka_45=kafka_45)
    f.faults.hold(PRODUCE, count=-1)
    tokens = [f.send(b"%d" % i) for i in range(8)]  # a full batch goes
    f.producer.flush(f.now)  # the eighth record would go at once
    f.step()
    assert in_flight(f) == 1  # the second batch waits for the first one's answer
    f.faults.rules.clear()
    f.faults.fail(PRODUCE, 6, topic="t", partition=0)
    f.release_held()
    f.run_until(lambda: f.settled(tokens), limit=120)
    assert f.failed() == {}
    assert f.values() == [b"%d" % i for i in range(8)]
    assert [s[2:] for s in f.stamps()] == [(0, 7), (0, 7), (7, 1)]
    assert len(ids(f)) == 1


def test_every_partition_and_every_new_id_start_with_one_batch() -> None:
    f = OnFake(partitions=2, batch_max_messages=1, max_in_flight_per_connection=20)
    f.faults.hold(PRODUCE, count=-1)
    for i in range(4):
        f.send(b"%d" % i, partition=0)
        f.send(b"%d" % i, partition=1)
    f.producer.flush(f.now)
    f.step()
    # One batch per partition: the broker holds one request, one more waits behind it.
    assert in_flight(f) == 2
    f.faults.rules.clear()
    f.release_held()
    f.run_until(lambda: len(f.delivered()) == 8)
    assert [s[2] for s in f.stamps(0)] == [0, 1, 2, 3]
    assert [s[2] for s in f.stamps(1)] == [0, 1, 2, 3]
    # After a bump (a new id) the first batch travels alone again.
    pid = f.stamps()[0][0]
    f.producer.identity.request_bump()  # type: ignore[union-attr]
    f.producer.sender.pump(f.now)
    f.run_until(lambda: f.producer.metrics()["producer_id"] != pid)
    f.faults.hold(PRODUCE, count=-1)
    for i in range(3):
        f.send(b"n%d" % i, partition=0)
    f.producer.flush(f.now)
    f.step()
    assert in_flight(f) == 1
    f.faults.rules.clear()
    f.release_held()
    f.run_until(lambda: len(f.delivered()) == 11)
    new = f.producer.metrics()["producer_id"]
    assert [s[:3] for s in f.stamps()][-3:] == [(new, 0, 0), (new, 0, 1), (new, 0, 2)]


# -- 4: retriable errors back off -------------------------------------------------------------


def test_a_retriable_error_is_retried_after_the_backoff() -> None:
    f = OnFake(retry_backoff=1.0, retry_backoff_max=1.0)
    f.faults.fail(PRODUCE, 6, topic="t", partition=0)
    f.faults.fail(PRODUCE, 19, topic="t", partition=0)
    token = f.send(b"x")
    f.run_until(lambda: token in f.delivered())
    times = f.request_times(PRODUCE)
    assert len(times) == 3
    assert times[1] - times[0] >= 0.8 and times[2] - times[1] >= 0.8


# -- 7, 12: real gaps bump at once ------------------------------------------------------------


def test_a_gap_nothing_can_fill_bumps_the_epoch_at_once_and_sends_again() -> None:
    """The broker lost the producer's state (it may then take any sequence, before 4.5): a
    later batch is written, the earlier one is refused as out of order and nothing lower is
    left to fill the gap."""
    f = OnFake(batch_max_messages=1, delivery_timeout=30.0)
    f.acked_once()
    pid = f.stamps()[0][0]
    f.faults.hold(PRODUCE, count=-1)
    a = f.send(b"a")
    b = f.send(b"b")
    assert in_flight(f) == 2
    f.log().producers.clear()
    f.faults.rules.clear()
    f.faults.fail(PRODUCE, 6, topic="t", partition=0)  # a is not written, b is
    f.release_held()
    f.run_until(lambda: f.settled([a, b]), limit=60)
    assert f.failed() == {}
    assert f.values() == [b"first", b"b", b"a"]  # nothing lost, nothing twice
    assert ids(f)[1:] == [(pid, 0)]
    init_at = f.request_times(INIT_PRODUCER_ID)[1]
    refused = [t for t in f.request_times(PRODUCE) if t <= init_at]
    assert init_at == refused[-1]  # at once, no backoff, no further send
    new = f.producer.metrics()["producer_id"]
    assert f.stamps()[-2:] == [(pid, 0, 1, 1), (new, 0, 0, 1)]


def test_a_sent_batch_that_expires_bumps_the_epoch_without_another_send() -> None:
    f = OnFake(batch_max_messages=1, retry_backoff=2.0, retry_backoff_max=2.0,
               delivery_timeout=3.0)
    f.acked_once()
    pid = f.stamps()[0][0]
    f.faults.fail(PRODUCE, 7, count=2, topic="t", partition=0)  # REQUEST_TIMED_OUT, twice
    token = f.send(b"x")
    f.advance(3.5)
    assert token in f.failed()
    assert "delivery_timeout" in str(f.failed()[token])
    assert len(ids(f)) == 2
    assert f.producer.metrics()["producer_id"] not in (pid, -1)


def test_a_real_gap_in_a_transaction_is_abortable_and_the_abort_bumps() -> None:
    f = OnFake(**TXN)
    ready(f)
    f.producer.begin_transaction(f.now)
    first = f.send(b"first")
    f.run_until(lambda: first in f.delivered())
    pid = f.stamps()[0][0]
    f.faults.hold(PRODUCE, count=-1)
    a = f.send(b"a")
    b = f.send(b"b")
    assert in_flight(f) == 2
    f.log().producers.clear()  # the broker lost the producer's state
    f.faults.rules.clear()
    f.faults.fail(PRODUCE, 6, topic="t", partition=0)  # a is not written, b is
    f.release_held()
    f.run_until(lambda: a in f.failed())
    assert isinstance(f.failed()[a], OutOfOrderSequenceNumberError)
    assert b in f.delivered()
    assert f.producer.txn_status() == TxnStatus.IN_ERROR | TxnStatus.ABORTABLE_ERROR
    assert f.result(f.producer.abort_transaction(f.now)) == ("ok", None)
    assert ids(f)[-1] == (pid, 0)
    assert f.producer.metrics()["producer_epoch"] == 1


# -- 8, 9: lost producer state and old epochs -------------------------------------------------


@pytest.mark.parametrize("code", [59, 47])
def test_unknown_producer_or_old_epoch_in_a_transaction_is_abortable_with_a_bump(
        code: int) -> None:
    f = OnFake(**TXN)
    ready(f)
    f.producer.begin_transaction(f.now)
    f.faults.fail(PRODUCE, code, topic="t", partition=0)
    token = f.send(b"x")
    f.run_until(lambda: token in f.failed())
    assert f.producer.txn_status() == TxnStatus.IN_ERROR | TxnStatus.ABORTABLE_ERROR
    assert f.result(f.producer.abort_transaction(f.now)) == ("ok", None)
    assert len(ids(f)) == 2
    f.producer.begin_transaction(f.now)
    ok = f.send(b"y")
    assert f.result(f.producer.commit_transaction(f.now)) == ("ok", None)
    assert ok in f.delivered()
    assert f.stamps()[-1][1:3] == (1, 0)


def test_an_old_epoch_fails_an_idempotent_batch_and_bumps() -> None:
    f = OnFake()
    f.acked_once()
    f.faults.fail(PRODUCE, 47, topic="t", partition=0)
    token = f.send(b"x")
    f.run_until(lambda: token in f.failed())
    assert isinstance(f.failed()[token], InvalidProducerEpochError)
    f.run_until(lambda: len(ids(f)) == 2)
    later = f.send(b"y")
    f.run_until(lambda: later in f.delivered())
    new = f.producer.metrics()["producer_id"]
    assert f.stamps()[-1] == (new, 0, 0, 1) and new != f.stamps()[0][0]


# -- 11: batches waiting during a bump restart under the new id ------------------------------


def test_batches_retried_across_a_bump_restart_at_sequence_zero() -> None:
    f = OnFake(partitions=2, linger=1.0)
    for p in (0, 1):
        f.acked_once(p)
    pid = f.stamps()[0][0]
    f.faults.hold(PRODUCE)
    x = f.send(b"x", partition=0)
    y = f.send(b"y", partition=1)
    f.producer.flush(f.now)
    f.step()
    [held] = f.faults.held  # both batches in one request
    assert len(held.request.topic_data[0].partition_data) == 2
    f.faults.fail(PRODUCE, 59, topic="t", partition=0)  # the broker lost the producer: bump
    f.faults.fail(PRODUCE, 6, topic="t", partition=1)  # a plain retriable error
    f.faults.pop_held().release(f.now)
    f.run_until(lambda: x in f.delivered() and y in f.delivered())
    assert len(ids(f)) == 2
    new = f.producer.metrics()["producer_id"]
    assert f.stamps(0)[-1] == (new, 0, 0, 1)   # refused: not written, new id from 0
    assert f.stamps(1)[-1] == (pid, 0, 1, 1)   # outcome unknown: as it was sent
    assert f.values(0) == [b"first", b"x"] and f.values(1) == [b"first", b"y"]


def test_a_written_batch_whose_answer_was_lost_is_not_written_again_across_a_bump() -> None:
    """Simulation seed 63: a batch written but unanswered (its request timed out) waits for
    its retry while another partition's batch runs out of time and asks for a bump. The retry
    goes under the old id and sequence and is answered as the duplicate it is; only then does
    the epoch move on. Re-sent under a new id it would be written twice."""
    f = OnFake(leaders=[1, 2], request_timeout=1.0, produce_timeout=0.5,
               delivery_timeout=7.0, retry_backoff=0.2, retry_backoff_max=0.2)
    for p in (0, 1):
        f.acked_once(p)
    # t[1] (broker 2) is refused with a retriable error until its records expire; t[0]
    # (broker 1) is written the first time but never answered.
    f.faults.fail(PRODUCE, 6, count=-1, topic="t", partition=1)
    f.faults.hold(PRODUCE, node=1)
    start = f.now
    lost = f.send(b"lost", partition=1)
    f.run_until(lambda: f.now >= start + 1.4)
    written = f.send(b"written", partition=0)
    f.run_until(lambda: bool(f.faults.held))
    f.faults.pop_held().apply(f.now)  # written, but the answer never comes
    f.run_until(lambda: lost in f.failed() and written in f.delivered())
    assert f.values(0) == [b"first", b"written"]
    assert f.stamps(0)[-1][:3] == f.stamps(0)[-2][:3]  # the retry kept id and sequence
    assert len(ids(f)) == 2                              # and the epoch moved on after


# -- 14: too large ----------------------------------------------------------------------------


def test_a_batch_too_large_is_split_with_its_sequences_and_order_holds() -> None:
    f = OnFake(batch_max_messages=4, linger=5.0)
    f.acked_once()
    pid = f.stamps()[0][0]
    f.cluster.topics["t"].configs["max.message.bytes"] = "350"  # 2 records of 100 B fit
    f.faults.hold(PRODUCE, count=-1)
    tokens = [f.send(b"%d" % i + b"v" * 99) for i in range(5)]
    f.producer.flush(f.now)
    f.step()
    assert in_flight(f) == 2  # 4 records, then 1
    f.faults.rules.clear()
    f.release_held()
    f.run_until(lambda: f.settled(tokens))
    assert f.failed() == {}
    assert f.values()[1:] == [b"%d" % i + b"v" * 99 for i in range(5)]
    # (id, epoch, sequence, records): the batch of 4, the one behind it, the halves, then
    # the one behind it again with its own sequence.
    assert f.stamps()[1:] == [(pid, 0, 1, 4), (pid, 0, 5, 1), (pid, 0, 1, 2),
                              (pid, 0, 3, 2), (pid, 0, 5, 1)]
    assert len(ids(f)) == 1


def test_a_single_record_too_large_fails_alone_naming_its_size_and_the_limit() -> None:
    f = OnFake(batch_max_messages=1)
    f.acked_once()
    f.cluster.topics["t"].configs["max.message.bytes"] = "500"
    big = f.send(b"B" * 1000)
    f.run_until(lambda: big in f.failed())
    err = f.failed()[big]
    assert isinstance(err, MessageTooLargeError)
    assert "1000 bytes of key and value" in str(err) and "(500 bytes)" in str(err)
    after = f.send(b"small")
    f.run_until(lambda: after in f.delivered())
    assert f.values() == [b"first", b"small"]
    new = f.producer.metrics()["producer_id"]
    assert f.stamps()[-1] == (new, 0, 0, 1) and new != f.stamps()[0][0]  # a new epoch


# -- 15: wrapping ----------------------------------------------------------------------------


def test_sequences_wrap_to_zero() -> None:
    f = OnFake(batch_max_messages=1)
    f.acked_once()
    pid = f.stamps()[0][0]
    st = f.producer.acc.state("t", 0)
    st.next_seq, st.last_acked = MAX_SEQ - 1, MAX_SEQ - 2
    f.set_last_sequence(pid, MAX_SEQ - 2)
    tokens = [f.send(b"%d" % i) for i in range(3)]
    f.run_until(lambda: f.settled(tokens))
    assert f.failed() == {}
    assert [s[2] for s in f.stamps()][-3:] == [MAX_SEQ - 1, MAX_SEQ, 0]
    assert len(ids(f)) == 1


# -- 16: the broker's duplicate window ------------------------------------------------------


def test_after_a_leader_change_new_batches_wait_for_those_on_the_wire_to_the_old_one() -> None:
    """Simulation seed 801120: three batches were written by the old leader but their
    answers never came; five later batches went to the new leader meanwhile and were
    acknowledged, which pushed the three out of the broker's five-batch window. Their
    retries were refused as out of order, the producer moved to a new id and wrote them a
    second time. A partition's batches now go to one broker at a time: the batch on the
    wire to the old leader is retried first (a duplicate, with its offset), then the rest."""
    # t[0] on broker 1; t[1] on broker 2, so the client has a connection there to learn the
    # new leader from while broker 1 stays silent.
    f = OnFake(leaders=[1, 2], batch_max_messages=1, request_timeout=1.0,
               produce_timeout=0.5, delivery_timeout=30.0, retry_backoff=0.1,
               retry_backoff_max=0.1)
    f.acked_once(0)
    f.acked_once(1)
    f.faults.hold(PRODUCE, node=1)
    a = f.send(b"a")
    f.run_until(lambda: bool(f.faults.held))
    f.faults.pop_held().apply(f.now)  # written by broker 1, never answered
    a_seq = f.stamps()[-1][2]
    f.advance(0.3)
    f.cluster.move_leader("t", 0, 2, f.now)
    f.client.core.request_metadata_update(f.now)
    f.run_until(lambda: f.client.core.cluster.leader("t", 0) == 2)
    later = [f.send(b"%d" % i) for i in range(6)]
    f.run_until(lambda: f.settled([a, *later]))
    assert f.failed() == {}
    assert f.values() == [b"first", b"a", *(b"%d" % i for i in range(6))]  # once, in order
    assert f.delivered()[a][2] == 1  # the retry was answered as the duplicate it is
    to_new = [p for s in f.received(PRODUCE) if s.node == 2
              for t in s.request.topic_data for p in t.partition_data if p.index == 0]
    assert decode_batches(to_new[0].records).batches[0].base_sequence == a_seq
    assert len(ids(f)) == 1  # no new producer id


# -- 17: an abort keeps a batch that holds its sequence ----------------------------------------


def test_an_abort_sends_again_a_batch_waiting_with_its_sequence() -> None:
    """Found by the simulator (tests/sim/test_regressions.py, seed 930041): failed with the
    unsent records, the batch left a gap that the next transaction's first batch ran into
    (OUT_OF_ORDER_SEQUENCE_NUMBER, and that transaction aborted too)."""
    f = OnFake(**TXN, retry_backoff=2.0, retry_backoff_max=2.0)
    ready(f)
    f.producer.begin_transaction(f.now)
    first = f.send(b"first")
    f.run_until(lambda: first in f.delivered())
    f.faults.fail(PRODUCE, 6, topic="t", partition=0)  # NOT_LEADER: not written, retried
    a = f.send(b"a")
    unsent = f.send(b"unsent")  # queued behind a's retry, never sent
    f.run_until(lambda: len(f.requests(PRODUCE)) == 2)
    assert f.stamps()[-1][2] == 1  # a went out with sequence 1 and waits for its retry
    assert f.result(f.producer.abort_transaction(f.now)) == ("ok", None)
    assert a in f.delivered()  # written again, then aborted with the transaction
    assert f.stamps()[-1][2] == 1
    f.producer.begin_transaction(f.now)
    b = f.send(b"b")
    assert f.result(f.producer.commit_transaction(f.now)) == ("ok", None)
    assert b in f.delivered() and list(f.failed()) == [unsent]
    assert isinstance(f.failed()[unsent], TransactionAbortedError)
    assert f.stamps()[-1][2] == 2
    assert f.log().aborted  # first and a, aborted
