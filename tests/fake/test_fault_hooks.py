"""The fake cluster's precise fault hooks: hold a request and settle it by hand (release,
answer, lose), script an answer, lose an answer the broker wrote. First at the wire (a raw
connection), then with the producer core, as ports of the scripted-broker tests of
tests/producer (test_idempotence) that need exactly these faults."""

from __future__ import annotations

from typing import Any

import pytest

from kproto import protocol
from kproto.message_types import ProducerMessage
from kproto.producer import ProducerCore
from kproto.protocol import apis
from kproto.protocol.messages.produce_response import (
    PartitionProduceResponse,
    TopicProduceResponse,
)
from kproto.records import decode_batches
from kproto.testing import FakeCluster, HeldRequest
from kproto.testing.fake import codes
from tests.fake.driver import Client, Driver, Raw
from tests.fake.test_apis import batch, part, produce_req
from tests.fake.test_end_to_end import TS, delivered, failed

DUPLICATE_SEQUENCE_NUMBER = 46


def error_answer(request: Any, code: int, base_offset: int = -1) -> Any:
    """A Produce answer giving every partition of ``request`` the error ``code``."""
    return protocol.ProduceResponse(responses=[TopicProduceResponse(
        name=t.name, partition_responses=[PartitionProduceResponse(
            index=p.index, error_code=code, base_offset=base_offset, log_start_offset=0)
            for p in t.partition_data]) for t in request.topic_data])


def end_offset(cluster: FakeCluster, topic: str = "t", partition: int = 0) -> int:
    return cluster.topics[topic].partitions[partition].log.log_end_offset


# -- at the wire ------------------------------------------------------------------------------

def test_a_held_request_waits_with_the_requests_behind_it_until_released() -> None:
    cluster = FakeCluster(1, topics={"t": 1})
    raw = Raw(cluster)
    cluster.faults.hold(apis.PRODUCE)
    raw.send(produce_req(batch([b"a"])), 9, now=0.0)
    raw.send(protocol.ApiVersionsRequest(), 0, now=0.5)
    assert raw.responses() == []  # the ApiVersions waits behind the held Produce
    [held] = cluster.faults.held
    assert (held.api_key, held.version, held.node, held.at) == (apis.PRODUCE, 9, 1, 0.0)
    assert held.request.topic_data[0].name == "t"
    assert end_offset(cluster) == 0  # nothing applied while held
    held.release(1.0)
    produce, versions = raw.responses()
    assert part(produce).error_code == 0 and part(produce).base_offset == 0
    assert versions.error_code == 0
    assert end_offset(cluster) == 1 and cluster.faults.held == []
    assert held.outcome == "release"
    with pytest.raises(RuntimeError, match="already settled"):
        held.release(2.0)
    # The rule held one request only.
    assert part(raw.call(produce_req(batch([b"b"])), 9)).base_offset == 1


def test_a_held_request_answered_by_hand_is_not_served() -> None:
    cluster = FakeCluster(1, topics={"t": 1})
    raw = Raw(cluster)
    cluster.faults.hold(apis.PRODUCE, count=2)
    raw.send(produce_req(batch([b"a"])), 9)
    raw.send(produce_req(batch([b"b"])), 9)
    [first] = cluster.faults.held  # the second is not read before the first is answered
    first.answer(error_answer(first.request, codes.NOT_ENOUGH_REPLICAS), 1.0)
    [second] = cluster.faults.held
    assert second is not first and second.at == 1.0
    assert [part(r).error_code for r in raw.responses()] == [codes.NOT_ENOUGH_REPLICAS]
    assert cluster.faults.pop_held(apis.PRODUCE) is second and cluster.faults.held == []
    second.release(2.0)
    assert [part(r).base_offset for r in raw.responses()] == [0]
    assert end_offset(cluster) == 1  # only the released one was written
    with pytest.raises(LookupError, match="no held request of API 0"):
        cluster.faults.pop_held(apis.PRODUCE)


def test_a_held_request_lost_is_applied_and_its_connection_closes() -> None:
    cluster = FakeCluster(1, topics={"t": 1})
    raw = Raw(cluster)
    cluster.faults.hold(apis.PRODUCE)
    raw.send(produce_req(batch([b"a"])), 9)
    held: HeldRequest = cluster.faults.pop_held()
    held.lose(3.0)
    assert raw.conn.closed and "lost" in raw.conn.close_reason
    assert raw.conn.data_to_send() == b""
    assert end_offset(cluster) == 1


def test_lose_response_writes_then_drops_the_connection() -> None:
    cluster = FakeCluster(1, topics={"t": 1})
    raw = Raw(cluster)
    cluster.faults.lose_response(apis.PRODUCE)
    raw.send(produce_req(batch([b"a"])), 9)
    assert raw.conn.closed and raw.conn.data_to_send() == b""
    assert end_offset(cluster) == 1
    # Next connection: served as usual.
    assert part(Raw(cluster).call(produce_req(batch([b"b"])), 9)).base_offset == 1


def test_respond_answers_with_the_scripted_response_or_serves_when_it_returns_none() -> None:
    cluster = FakeCluster(1, topics={"t": 1})
    raw = Raw(cluster)
    seen: list[int] = []

    def spy(request: Any, version: int) -> Any:
        seen.append(version)
        return None  # serve it as usual

    cluster.faults.respond(apis.PRODUCE, lambda req, _v: error_answer(req, codes.CORRUPT_MESSAGE))
    cluster.faults.respond(apis.PRODUCE, spy)
    assert part(raw.call(produce_req(batch([b"a"])), 9)).error_code == codes.CORRUPT_MESSAGE
    assert part(raw.call(produce_req(batch([b"b"])), 9)).base_offset == 0
    assert seen == [9] and end_offset(cluster) == 1
    with pytest.raises(ValueError, match="response must be"):
        cluster.faults.respond(apis.PRODUCE, None)


def test_a_held_request_of_a_closed_connection_leaves_held() -> None:
    cluster = FakeCluster(1, topics={"t": 1})
    raw = Raw(cluster)
    cluster.faults.hold(apis.PRODUCE)
    raw.send(produce_req(batch([b"a"])), 9)
    [held] = cluster.faults.held
    raw.conn.connection_lost(1.0)
    assert cluster.faults.held == []
    held.release(2.0)  # nothing to answer: no effect
    assert end_offset(cluster) == 0


# -- with the producer core (ported from tests/producer/test_idempotence.py) ------------------

def producer_on(cluster: FakeCluster, **options: Any) -> tuple[Driver, Client, ProducerCore,
                                                                list[tuple[int, ...]]]:
    """A driver, a client with an idempotent producer core that has one record delivered,
    and the (producer id, epoch, base sequence, records) of every batch its Produce
    requests carry, in order (``Faults.watch``)."""
    d = Driver(cluster)
    c = d.client(linger=0.0, **options)
    stamps: list[tuple[int, ...]] = []

    def watch(api_key: int, _node: int, request: Any, _version: int) -> None:
        if api_key == apis.PRODUCE:
            for t in request.topic_data:
                for p in t.partition_data:
                    b = decode_batches(p.records).batches[0]
                    stamps.append((b.producer_id, b.producer_epoch, b.base_sequence,
                                   b.record_count))

    cluster.faults.watch(watch)
    producer = ProducerCore(c.core, c.config)
    first = send(d, producer, b"first")
    d.run_until(lambda: first in delivered(c))
    return d, c, producer, stamps


def send(d: Driver, producer: ProducerCore, value: bytes) -> int:
    token = producer.send(ProducerMessage("t", value, partition=0), d.now, TS)
    d.step()
    return token


def settled(c: Client, tokens: list[int]) -> bool:
    return all(t in delivered(c) or t in failed(c) for t in tokens)


def values(cluster: FakeCluster) -> list[bytes | None]:
    log = cluster.topics["t"].partitions[0].log
    return [r.value for e in log.entries for r in e.records()]


def test_a_duplicate_of_a_written_batch_is_success_and_stored_once() -> None:
    cluster = FakeCluster(1, topics={"t": 1})
    d, c, producer, stamps = producer_on(cluster)
    cluster.faults.hold(apis.PRODUCE)
    token = send(d, producer, b"once")
    d.run_until(lambda: bool(cluster.faults.held))
    cluster.faults.pop_held(apis.PRODUCE).lose(d.now)  # written, its answer lost
    d.run_until(lambda: settled(c, [token]))
    assert values(cluster) == [b"first", b"once"]
    pid = stamps[0][0]
    assert stamps == [(pid, 0, 0, 1), (pid, 0, 1, 1), (pid, 0, 1, 1)]
    assert delivered(c)[token] == ("t", 0, 1)


def test_duplicate_sequence_error_code_counts_as_delivered() -> None:
    cluster = FakeCluster(1, topics={"t": 1})
    d, c, producer, _ = producer_on(cluster)
    cluster.faults.respond(
        apis.PRODUCE, lambda req, _v: error_answer(req, DUPLICATE_SEQUENCE_NUMBER, 41))
    token = send(d, producer, b"x")
    d.run_until(lambda: settled(c, [token]))
    assert delivered(c)[token] == ("t", 0, 41)
    assert token not in failed(c)


def test_up_to_five_batches_in_flight_per_partition() -> None:
    cluster = FakeCluster(1, topics={"t": 1})
    d, c, producer, stamps = producer_on(cluster, batch_max_messages=1,
                                         max_in_flight_per_connection=10)
    cluster.faults.hold(apis.PRODUCE, count=-1)
    tokens = [send(d, producer, b"%d" % i) for i in range(8)]
    producer.flush(d.now)
    d.step()
    # The broker reads one request of a connection at a time (as Kafka mutes a channel):
    # one held, the rest queued behind it; the sixth batch waits for an answer.
    [held] = cluster.faults.held
    conn = cluster.connections[held.conn_id]
    assert 1 + conn.queued_requests == 5
    cluster.faults.rules.clear()
    cluster.faults.pop_held().release(d.now)
    d.run_until(lambda: settled(c, tokens))
    assert not failed(c)
    assert values(cluster) == [b"first"] + [b"%d" % i for i in range(8)]
    pid = stamps[0][0]
    assert stamps == [(pid, 0, seq, 1) for seq in range(9)]
