"""The fake cluster's precise fault hooks: hold a request and settle it by hand (release,
answer, lose), script an answer, lose an answer the broker wrote, watch requests; at the wire
(a raw connection). With the producer core they are used by tests/producer/test_idempotence.py."""

from __future__ import annotations

from typing import Any

import pytest

from kproto import protocol
from kproto.protocol import apis
from kproto.protocol.messages.produce_response import (
    PartitionProduceResponse,
    TopicProduceResponse,
)
from kproto.testing import FakeCluster, HeldRequest
from kproto.testing.fake import codes
from tests.fake.driver import Raw
from tests.fake.test_apis import batch, part, produce_req

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


def test_a_held_request_applied_is_written_and_never_answered() -> None:
    cluster = FakeCluster(1, topics={"t": 1})
    raw = Raw(cluster)
    cluster.faults.hold(apis.PRODUCE)
    raw.send(produce_req(batch([b"a"])), 9)
    cluster.faults.pop_held().apply(1.0)
    raw.send(protocol.ApiVersionsRequest(), 0, now=1.5)
    cluster.handle_timer(100.0)
    assert raw.responses() == [] and not raw.conn.closed  # silent, and so is what follows
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
