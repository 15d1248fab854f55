"""The producer core against the fake cluster (tests/producer/on_fake.py): batching, sending,
retries, order, limits; the fake's fault hooks hold, fail or refuse requests where a test
needs one exact fault."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from kproto.errors import (
    ClientTimeoutError,
    ClosedError,
    LeaderNotAvailableError,
    MessageTooLargeError,
    NotLeaderOrFollowerError,
    TopicAuthorizationFailedError,
    UnknownTopicOrPartitionError,
)
from kproto.message_types import ProducerMessage
from kproto.partitioners import InvalidPartitionError
from kproto.producer import BufferFullError, BufferSpaceAvailable, RecordsDelivered
from kproto.protocol.apis import METADATA, PRODUCE
from kproto.records import Compression, decode_batches
from tests.producer.on_fake import OnFake

PLAIN: dict[str, Any] = {"idempotent": False, "acks": 1}


def produce_batches(sim: OnFake) -> list[list[tuple[str, int, int]]]:
    """Per Produce request: (topic, partition, record count) of each batch in it."""
    out = []
    for seen in sim.received(PRODUCE):
        out.append([(t.name, p.index, decode_batches(p.records).batches[0].record_count)
                    for t in seen.request.topic_data for p in t.partition_data])
    return out


def warm(sim: OnFake, topic: str = "t") -> None:
    """Get metadata and connections in place, so a test sees only its own records."""
    sim.client.core.add_topics([topic], sim.now)
    sim.step()
    sim.client.core.api_versions(sim.now, 1)
    sim.step()


# -- accumulation triggers ---------------------------------------------------------------------


def test_a_full_batch_goes_at_once_and_a_partial_one_waits_for_linger() -> None:
    sim = OnFake(batch_size=1024, linger=5.0, **PLAIN)
    warm(sim)
    for _ in range(9):
        sim.send(b"x" * 100, partition=0)
    # 9 records of ~100 bytes fill a 1 KiB batch: it leaves without waiting for linger.
    assert len(sim.received(PRODUCE)) == 1
    first = produce_batches(sim)[0][0][2]
    assert 5 <= first < 9
    sim.advance(4.9)
    assert len(sim.received(PRODUCE)) == 1  # the remainder lingers
    sim.advance(0.2)
    assert len(sim.received(PRODUCE)) == 2
    assert sum(b[0][2] for b in produce_batches(sim)) == 9
    assert sim.values() == [b"x" * 100] * 9


def test_batch_max_messages_closes_a_batch_by_count() -> None:
    sim = OnFake(batch_max_messages=3, linger=60.0, **PLAIN)
    warm(sim)
    for i in range(7):
        sim.send(b"%d" % i, partition=0)
    sim.producer.flush(sim.now)
    sim.run_until(lambda: len(sim.delivered()) == 7)
    assert [b[0][2] for b in produce_batches(sim)] == [3, 3, 1]
    assert sim.values() == [b"%d" % i for i in range(7)]


def test_linger_is_a_timer_not_a_poll() -> None:
    sim = OnFake(linger=0.25, **PLAIN)
    warm(sim)
    sim.send(b"a", partition=0)
    deadline = sim.client.core.next_deadline()
    assert deadline is not None and deadline <= sim.now + 0.25
    sim.advance(0.2)
    assert sim.received(PRODUCE) == []
    sim.advance(0.06)
    assert len(sim.received(PRODUCE)) == 1


def test_flush_sends_lingering_batches_and_completes_when_all_are_settled() -> None:
    sim = OnFake(topics={"t": [1, 1, 1]}, linger=30.0, **PLAIN)
    warm(sim)
    tokens = [sim.send(b"%d" % i, partition=i % 3) for i in range(6)]
    assert sim.received(PRODUCE) == []
    sim.faults.hold(PRODUCE, count=-1)
    flush = sim.producer.flush(sim.now)
    sim.step()
    assert len(sim.faults.held) == 1  # one request for the three partitions of the one leader
    assert sim.client.result(flush) is None
    later = sim.send(b"after")  # sent after the flush: not waited for
    sim.release_held()
    assert sim.client.result(flush) == ("ok", None)
    assert set(tokens) <= set(sim.delivered())
    assert later not in sim.failed()


def test_one_request_per_leader_capped_by_max_request_size() -> None:
    sim = OnFake(topics={"t": [1, 1, 1, 1, 2, 2]}, brokers=2, batch_size=4096,
              max_request_size=9000, linger=10.0, **PLAIN)
    warm(sim)
    for p in range(6):
        for _ in range(3):
            sim.send(b"y" * 1000, partition=p)  # 3 KiB per partition
    sim.producer.flush(sim.now)
    sim.run_until(lambda: len(sim.delivered()) == 18)
    by_node: dict[int, list[list[tuple[str, int, int]]]] = {}
    for seen, batches in zip(sim.received(PRODUCE), produce_batches(sim), strict=True):
        by_node.setdefault(seen.node, []).append(batches)
        size = sum(len(p.records) for t in seen.request.topic_data for p in t.partition_data)
        assert size <= 9000
    # Broker 1 leads four partitions of ~3 KiB: two per request; broker 2 two in one.
    assert sorted(len(r) for r in by_node[1]) == [2, 2]
    assert [len(r) for r in by_node[2]] == [2]


def test_a_record_above_max_request_size_fails_alone() -> None:
    sim = OnFake(max_request_size=2000, **PLAIN)
    warm(sim)
    ok1 = sim.send(b"a", partition=0)
    big = sim.send(b"z" * 5000, partition=0)
    ok2 = sim.send(b"b", partition=0)
    sim.run_until(lambda: len(sim.delivered()) == 2)
    err = sim.failed()[big]
    assert isinstance(err, MessageTooLargeError) and "max_request_size" in str(err)
    assert set(sim.delivered()) == {ok1, ok2}
    assert sim.values() == [b"a", b"b"]


def test_a_full_buffer_refuses_then_signals_space() -> None:
    sim = OnFake(buffer_memory=2000, linger=10.0, **PLAIN)
    warm(sim)
    sim.faults.hold(PRODUCE, count=-1)
    sent = 0
    with pytest.raises(BufferFullError):
        for _ in range(100):
            sim.send(b"m" * 200, partition=0)
            sent += 1
    assert 3 <= sent < 10
    sim.step()
    # The refusal makes everything due at once (nothing else frees memory).
    assert len(sim.faults.held) == 1
    assert not any(isinstance(e, BufferSpaceAvailable) for e in sim.client.events)
    sim.release_held()
    assert any(isinstance(e, BufferSpaceAvailable) for e in sim.client.events)
    sim.send(b"m" * 200, partition=0)  # fits again


def test_explicit_partition_out_of_range_is_invalid_and_others_are_unaffected() -> None:
    sim = OnFake(topics={"t": [1, 1]}, **PLAIN)
    warm(sim)
    bad = sim.send(b"x", partition=7)
    good = sim.send(b"y", partition=1)
    sim.run_until(lambda: good in sim.delivered())
    assert isinstance(sim.failed()[bad], InvalidPartitionError)


def test_compression_per_producer_with_level() -> None:
    sim = OnFake(compression="gzip", compression_level=9, linger=10.0, **PLAIN)
    warm(sim)
    for _ in range(50):
        sim.send(b"compress me " * 10, partition=0)
    sim.producer.flush(sim.now)
    sim.run_until(lambda: len(sim.delivered()) == 50)
    batches = [decode_batches(p.records).batches[0] for s in sim.received(PRODUCE)
               for t in s.request.topic_data for p in t.partition_data]
    assert {b.compression for b in batches} == {Compression.GZIP}
    assert sum(len(p.records) for s in sim.received(PRODUCE)
               for t in s.request.topic_data for p in t.partition_data) < 50 * 120 // 4
    assert sim.values() == [b"compress me " * 10] * 50


def test_keys_use_the_default_partitioner_and_messages_are_filled_in() -> None:
    from kproto.partitioners import murmur2
    sim = OnFake(topics={"t": [1] * 7}, **PLAIN)
    warm(sim)
    msgs = [ProducerMessage("t", b"v", key=b"key-%d" % i, metadata=i) for i in range(20)]
    for msg in msgs:
        sim.producer.send(msg, sim.now, 1234)
    sim.producer.flush(sim.now)
    sim.run_until(lambda: len(sim.delivered()) == 20)
    for i, msg in enumerate(msgs):
        assert msg.partition == (murmur2(msg.key) & 0x7FFFFFFF) % 7
        assert msg.offset >= 0 and msg.timestamp == 1234 and msg.metadata == i
    events = [e for e in sim.client.events if isinstance(e, RecordsDelivered)]
    assert all(m.partition == e.partition for e in events for m in e.messages)


# -- retries, order, timeouts ----------------------------------------------------------------------


def test_leader_error_refreshes_metadata_and_retries_with_backoff() -> None:
    sim = OnFake(retry_backoff=0.1, retry_backoff_max=1.0, **PLAIN)
    warm(sim)
    sim.faults.fail(PRODUCE, NotLeaderOrFollowerError.code, 3, topic="t", partition=0)
    metadata_before = len(sim.received(METADATA))
    token = sim.send(b"x", partition=0)
    sim.run_until(lambda: token in sim.delivered())
    times = [s.at for s in sim.received(PRODUCE)]
    assert len(times) == 4
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # 0.1, 0.2, 0.4 with +-20% jitter: exponential, never sooner than the backoff.
    for gap, base in zip(gaps, (0.1, 0.2, 0.4), strict=True):
        assert base * 0.8 <= gap <= base * 1.2 + 0.02
    assert len(sim.received(METADATA)) > metadata_before
    assert sim.values() == [b"x"]


def test_retries_exhausted_fail_with_the_broker_error() -> None:
    sim = OnFake(retries=2, **PLAIN)
    warm(sim)
    sim.faults.fail(PRODUCE, NotLeaderOrFollowerError.code, 5, topic="t", partition=0)
    token = sim.send(b"x", partition=0)
    sim.run_until(lambda: token in sim.failed())
    assert isinstance(sim.failed()[token], NotLeaderOrFollowerError)
    assert len(sim.received(PRODUCE)) == 3


def test_non_retriable_error_fails_at_once() -> None:
    sim = OnFake(**PLAIN)
    warm(sim)
    sim.faults.fail(PRODUCE, TopicAuthorizationFailedError.code, topic="t", partition=0)
    token = sim.send(b"x", partition=0)
    sim.run_until(lambda: token in sim.failed())
    assert isinstance(sim.failed()[token], TopicAuthorizationFailedError)
    assert len(sim.received(PRODUCE)) == 1


def test_without_idempotence_a_partitions_batches_are_pipelined() -> None:
    # Up to max_in_flight_per_partition batches of one partition on the wire: the producer
    # does not wait a round trip per batch.
    sim = OnFake(batch_max_messages=1, max_in_flight_per_partition=3, **PLAIN)
    warm(sim)
    sim.faults.hold(PRODUCE, count=-1)
    for i in range(6):
        sim.send(b"%d" % i, partition=0)
    # One held by the broker, two written behind it (unread), three waiting in the producer.
    queued = sum(c.queued_requests for c in sim.client.conns.values())
    assert (len(sim.faults.held), queued) == (1, 2)
    assert sim.producer.sender.inflight_requests == 3
    sim.faults.clear()
    sim.release_held()
    sim.run_until(lambda: len(sim.delivered()) == 6)
    assert sim.values() == [b"%d" % i for i in range(6)]
    assert len(sim.received(PRODUCE)) == 6


def test_without_idempotence_one_batch_in_flight_per_partition_keeps_order() -> None:
    sim = OnFake(batch_max_messages=1, max_in_flight_per_partition=1, **PLAIN)
    warm(sim)
    sim.faults.hold(PRODUCE, count=-1)
    for i in range(5):
        sim.send(b"%d" % i, partition=0)
    assert len(sim.faults.held) == 1
    # The first fails with a retriable error; the rest must not overtake it.
    sim.faults.fail(PRODUCE, NotLeaderOrFollowerError.code, topic="t", partition=0)
    sim.faults.clear()
    sim.release_held()
    sim.run_until(lambda: len(sim.delivered()) == 5)
    assert sim.values() == [b"%d" % i for i in range(5)]
    assert max(len(r) for r in produce_batches(sim)) == 1


def test_a_lost_connection_retries_and_a_leader_move_is_followed() -> None:
    sim = OnFake(topics={"t": [1]}, brokers=2, **PLAIN)
    sim.cluster.topics["t"].partitions[0].replicas.append(2)  # a follower to take over
    sim.cluster.topics["t"].partitions[0].isr.append(2)
    warm(sim)
    sim.faults.hold(PRODUCE, count=-1)
    token = sim.send(b"x", partition=0)
    assert [s.node for s in sim.faults.held] == [1]
    sim.cluster.stop_broker(1, sim.now)  # broker 2 takes over; the held request is gone
    assert sim.faults.held == []
    sim.faults.clear()
    sim.run_until(lambda: token in sim.delivered())
    assert sim.received(PRODUCE)[-1].node == 2
    assert sim.values() == [b"x"]


def test_delivery_timeout_bounds_a_record_whose_leader_never_answers() -> None:
    sim = OnFake(delivery_timeout=5.0, request_timeout=2.0, produce_timeout=1.0, **PLAIN)
    warm(sim)
    sim.faults.hold(PRODUCE, count=-1)  # the broker swallows produce requests
    token = sim.send(b"x", partition=0)
    sim.run_until(lambda: token in sim.failed(), limit=30)
    err = sim.failed()[token]
    assert isinstance(err, ClientTimeoutError) and "delivery_timeout" in str(err)
    assert 5.0 <= sim.now <= 5.0 + 6.0 + 1.0


@pytest.mark.parametrize("options", [PLAIN, {}], ids=["plain", "idempotent"])
def test_delivery_timeout_bounds_a_batch_still_on_the_wire(options: dict[str, Any]) -> None:
    # The Produce request's own timeout (produce_timeout + 5 s) is far longer than
    # delivery_timeout: the batch fails at its deadline all the same (KIP-91), and so the
    # close that waits for it ends then too.
    sim = OnFake(delivery_timeout=5.0, request_timeout=30.0, produce_timeout=30.0, **options)
    warm(sim)
    sim.faults.hold(PRODUCE, count=-1)
    token = sim.send(b"x", partition=0)
    sim.run_until(lambda: len(sim.received(PRODUCE)) == 1, limit=5)
    closed = sim.producer.close(sim.now)
    sim.run_until(lambda: token in sim.failed(), limit=30)
    err = sim.failed()[token]
    assert isinstance(err, ClientTimeoutError) and "still awaiting" in str(err)
    assert 5.0 <= sim.now <= 5.5
    sim.run_until(lambda: sim.client.result(closed) is not None, limit=1)
    # The late answer finds the batch settled: it is neither delivered nor failed again.
    sim.release_held()
    sim.advance(1.0)
    assert token not in sim.delivered() and sim.failed()[token] is err


def test_records_for_an_unknown_topic_wait_for_metadata() -> None:
    sim = OnFake(topics={}, **PLAIN)
    token = sim.send(b"x", None, topic="late")
    sim.advance(1.0)
    assert token not in sim.delivered() and token not in sim.failed()
    sim.cluster.create_topic("late", assignments=[[1]])
    sim.run_until(lambda: token in sim.delivered(), limit=10)
    assert sim.values(topic="late") == [b"x"]


def test_records_for_a_topic_that_never_appears_fail_after_delivery_timeout() -> None:
    sim = OnFake(topics={}, delivery_timeout=3.0, **PLAIN)
    tokens = [sim.send(b"x", None, topic="nope") for _ in range(3)]
    sim.run_until(lambda: len(sim.failed()) == 3, limit=10)
    assert all(isinstance(sim.failed()[t], UnknownTopicOrPartitionError) for t in tokens)
    assert 3.0 <= sim.now < 4.0
    # It kept asking in the meantime, with backoff rather than in a loop.
    asks = [s for s in sim.received(METADATA)
            if s.request.topics and s.request.topics[0].name == "nope"]
    assert 3 <= len(asks) <= 15


def test_no_leader_for_any_partition_holds_then_fails_with_leader_not_available() -> None:
    # Broker 2, the only replica, is down: the metadata broker 1 gives shows leader -1 and
    # LEADER_NOT_AVAILABLE for both partitions.
    sim = OnFake(topics={"t": [2, 2]}, delivery_timeout=2.0, **PLAIN)
    sim.cluster.stop_broker(2, sim.now)
    token = sim.send(b"x", None)
    sim.run_until(lambda: token in sim.failed(), limit=10)
    assert isinstance(sim.failed()[token], LeaderNotAvailableError)


def test_acks_zero_completes_on_write_with_offset_minus_one() -> None:
    sim = OnFake(idempotent=False, acks=0)
    warm(sim)
    msg = ProducerMessage("t", b"x", partition=0)
    token = sim.producer.send(msg, sim.now, 1)
    sim.run_until(lambda: token in sim.delivered())
    assert sim.delivered()[token] == ("t", 0, -1) and msg.offset == -1
    assert sim.received(PRODUCE)[0].request.acks == 0
    assert sim.values() == [b"x"]


def test_close_flushes_then_refuses_and_close_twice_is_fine() -> None:
    sim = OnFake(linger=30.0, **PLAIN)
    warm(sim)
    token = sim.send(b"x", partition=0)
    done = sim.producer.close(sim.now)
    sim.run_until(lambda: sim.client.result(done) is not None)
    assert token in sim.delivered()
    with pytest.raises(ClosedError):
        sim.send(b"y")
    again = sim.producer.close(sim.now)
    assert sim.client.result(again) is None
    sim.step()
    assert sim.client.result(again) == ("ok", None)


def test_close_with_drop_fails_everything_at_once() -> None:
    sim = OnFake(linger=30.0, **PLAIN)
    warm(sim)
    sim.faults.hold(PRODUCE, count=-1)
    tokens = [sim.send(b"x", partition=0) for _ in range(3)]
    sim.producer.flush(sim.now)
    sim.step()
    queued = sim.send(b"queued", partition=0)  # behind the one in flight
    done = sim.producer.close(sim.now, drop=True)
    sim.step()
    assert sim.client.result(done) == ("ok", None)
    failed = sim.failed()
    assert set(tokens) | {queued} <= set(failed)
    assert all(isinstance(failed[t], ClosedError) for t in tokens)
    sim.release_held()  # a late answer changes nothing
    assert set(sim.delivered()) == set()


class Recorder:
    def __init__(self) -> None:
        self.sent: list[bytes | None] = []
        self.acked: list[tuple[bytes | None, Any]] = []

    def on_send(self, msg: ProducerMessage) -> ProducerMessage:
        self.sent.append(msg.value)
        return ProducerMessage(msg.topic, (msg.value or b"") + b"!", key=msg.key,
                               partition=msg.partition, metadata=msg.metadata)

    def on_acknowledgement(self, msg: ProducerMessage, error: BaseException | None) -> None:
        self.acked.append((msg.value, type(error).__name__ if error else None))


def test_interceptors_see_sends_and_acknowledgements() -> None:
    rec = Recorder()
    sim = OnFake(interceptors=(rec,), max_request_size=1000, **PLAIN)
    warm(sim)
    sim.send(b"a", partition=0)
    sim.send(b"b" * 2000, partition=0)
    sim.run_until(lambda: len(rec.acked) == 2)
    assert rec.sent == [b"a", b"b" * 2000]
    assert sorted(rec.acked, key=str) == sorted(
        [(b"a!", None), (b"b" * 2000 + b"!", "MessageTooLargeError")], key=str)
    assert sim.values() == [b"a!"]


def test_acks_and_produce_timeout_travel_in_the_request() -> None:
    sim = OnFake(produce_timeout=7.5)
    warm(sim)
    token = sim.send(b"x", partition=0)
    sim.run_until(lambda: token in sim.delivered())
    request = sim.received(PRODUCE)[0]
    assert (request.request.acks, request.request.timeout_ms) == (-1, 7500)
    assert request.version == 11  # the newest both sides speak
    assert request.request.transactional_id is None


def test_requests_in_flight_per_connection_are_capped() -> None:
    sim = OnFake(topics={"t": [1, 1, 1]}, max_in_flight_per_connection=2, batch_max_messages=1)
    warm(sim)
    sim.faults.hold(PRODUCE, count=-1)
    for i in range(9):
        sim.send(b"%d" % i, partition=i % 3)
    sim.producer.flush(sim.now)
    sim.step()
    # Two on the wire: the broker holds the first, the second waits behind it unread.
    queued = sum(c.queued_requests for c in sim.client.conns.values())
    assert len(sim.received(PRODUCE)) == 1 and queued == 1
    sim.faults.clear()
    sim.release_held()
    sim.run_until(lambda: len(sim.delivered()) == 9)
    # Each request carries at most one batch per partition.
    for seen in sim.received(PRODUCE):
        indexes = [p.index for t in seen.request.topic_data for p in t.partition_data]
        assert len(indexes) == len(set(indexes))
    for part in range(3):
        assert sim.values(part) == [b"%d" % i for i in range(part, 9, 3)]
