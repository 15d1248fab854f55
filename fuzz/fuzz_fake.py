"""Fuzzing the fake cluster's request handling: hostile request bytes into a ServerConnection.

Input: one mode byte (bit 0: the cluster requires SASL, users alice / alice-secret), two bytes
seeding where the stream is cut, then the bytes a client sends. The cluster has topic ``t``
(two partitions) and auto-creates others; after the input the clock runs on so that waiting
answers (a Fetch, a JoinGroup) are given.

What must hold, as for a Kafka broker: ``receive_data`` and the timers raise nothing; the
connection either answers or closes, and closes only as a refusal (a bad size, a request that
does not parse, an unsupported API or version, a request before SASL, a failed SASL
exchange, what an API closes on as Kafka does) -- never because a handler raised ("request
could not be served") or its answer could not be encoded; every answer is a well-formed
frame that decodes as the response to a request it was sent, in order; the read buffer never
holds more than one incomplete request of at most ``max_request_bytes``.

    python fuzz/fuzz_fake.py --seconds 600                  # atheris
    python fuzz/fuzz_fake.py --hypothesis --examples 2000   # without atheris
"""

from __future__ import annotations

import random
import sys
from typing import Any

from _harness import instrumented, run

with instrumented():
    from kproto import protocol
    from kproto.errors import DecodeError
    from kproto.protocol.messages import (
        fetch_request,
        join_group_request,
        list_offsets_request,
        metadata_request,
        produce_request,
    )
    from kproto.records import BatchBuilder
    from kproto.testing.fake import FakeCluster
    from kproto.testing.fake.server import ServerConnection

NAME = "fake"
MAX_REQUEST = 256 * 1024
USER, PASSWORD = "alice", "alice-secret"
BUGS = ("request could not be served", "could not be encoded")


def _connect(sasl: bool) -> tuple[FakeCluster, ServerConnection]:
    cluster = FakeCluster(1, topics={"t": 2}, rng=random.Random(1),
                          sasl_users={USER: PASSWORD} if sasl else None,
                          max_request_bytes=MAX_REQUEST)
    conn = cluster.connect_node(1, 0.0)
    assert conn is not None
    return cluster, conn


def _frames(stream: bytes, limit: int) -> list[bytes]:
    """``stream`` cut into size-prefixed frames as the connection cuts it."""
    out, pos = [], 0
    while len(stream) - pos >= 4:
        size = int.from_bytes(stream[pos:pos + 4], "big", signed=True)
        if size < 0 or size > limit or len(stream) - pos - 4 < size:
            break
        out.append(stream[pos + 4:pos + 4 + size])
        pos += 4 + size
    return out


def _check_answers(requests: list[bytes], output: bytes) -> None:
    """Every answer decodes as the response to a request, in the order they were sent."""
    sent = []
    for frame in requests:
        if len(frame) >= 8:
            sent.append((int.from_bytes(frame[0:2], "big", signed=True),
                         int.from_bytes(frame[2:4], "big", signed=True),
                         int.from_bytes(frame[4:8], "big", signed=True)))
    answers = _frames(output, 1 << 31)
    if sum(4 + len(a) for a in answers) != len(output):
        raise AssertionError("the fake wrote a partial or malformed frame")
    i = 0
    for answer in answers:
        corr = protocol.peek_correlation_id(answer)
        while i < len(sent) and sent[i][2] != corr:
            i += 1
        if i == len(sent):
            raise AssertionError(f"answer with correlation id {corr} to no request in order")
        api_key, version, _ = sent[i]
        spec = protocol.API_SPECS[api_key]
        if api_key == 18 and not spec.min_version <= version <= spec.max_version:
            version = 0
        try:
            protocol.decode_response(answer, api_key, version)
        except DecodeError as exc:
            raise AssertionError(f"answer to API {api_key} v{version} does not decode: {exc}") \
                from exc
        i += 1


def chunks(stream: bytes, seed: int) -> list[bytes]:
    if seed == 0:
        return [stream]
    rng = random.Random(seed)
    out, pos = [], 0
    while pos < len(stream):
        step = rng.choice((1, 3, 4, 5, 9, 100, 4096))
        out.append(stream[pos:pos + step])
        pos += step
    return out


def one_input(data: bytes) -> None:
    if len(data) < 3:
        return
    _cluster, conn = _connect(bool(data[0] & 1))
    stream = data[3:]
    output = bytearray()
    now = 0.0
    for chunk in chunks(stream, int.from_bytes(data[1:3], "big")):
        now += 0.001
        conn.receive_data(chunk, now)
        output += conn.data_to_send()
        if conn.closed:
            break
        if len(conn._buf) >= 4 + MAX_REQUEST:
            raise AssertionError(f"{len(conn._buf)} bytes buffered, over max_request_bytes")
    for step in (1.0, 10.0, 100.0, 1000.0):
        conn.handle_timer(now + step)
        output += conn.data_to_send()
    if conn.closed and any(bug in conn.close_reason for bug in BUGS):
        raise AssertionError(f"the fake closed on a bug: {conn.close_reason}")
    _check_answers(_frames(stream, MAX_REQUEST), bytes(output))


def _request(msg: Any, version: int, corr: int) -> bytes:
    return protocol.encode_request(msg, version, corr, "fuzz")


def seeds() -> list[bytes]:
    """Requests a client sends, made with the codec: a session, a produce and fetch, a group."""
    p = protocol
    batch = BatchBuilder()
    batch.append(1, b"k", b"v")
    records = batch.build()
    v = {k: s.max_version for k, s in p.API_SPECS.items()}
    session = [
        _request(p.ApiVersionsRequest(client_software_name="kproto",
                                      client_software_version="1"), v[18], 0),
        _request(p.MetadataRequest(topics=[metadata_request.MetadataRequestTopic(name="t")]), v[3], 1),
        _request(p.ProduceRequest(acks=-1, timeout_ms=1000, topic_data=[
            produce_request.TopicProduceData(name="t", partition_data=[
                produce_request.PartitionProduceData(index=0, records=records)])]), 9, 2),
        _request(p.FetchRequest(max_wait_ms=500, min_bytes=1, max_bytes=1 << 20, topics=[
            fetch_request.FetchTopic(topic="t", partitions=[
                fetch_request.FetchPartition(partition=0, fetch_offset=0,
                                             partition_max_bytes=1 << 20)])]), 12, 3),
        _request(p.FindCoordinatorRequest(key="g", key_type=0), 3, 4),
        _request(p.JoinGroupRequest(group_id="g", session_timeout_ms=10000,
                                    rebalance_timeout_ms=10000, member_id="",
                                    protocol_type="consumer", protocols=[
                                        join_group_request.JoinGroupRequestProtocol(
                                            name="range", metadata=b"")]), 5, 5),
        _request(p.ListOffsetsRequest(replica_id=-1, topics=[
            list_offsets_request.ListOffsetsTopic(name="t", partitions=[
                list_offsets_request.ListOffsetsPartition(partition_index=1, timestamp=-1)])]),
            v[2], 6),
        _request(p.InitProducerIdRequest(transactional_id=None, transaction_timeout_ms=1000),
                 v[22], 7),
    ]
    sasl = [
        session[0],
        _request(p.SaslHandshakeRequest(mechanism="PLAIN"), 1, 1),
        _request(p.SaslAuthenticateRequest(auth_bytes=f"\0{USER}\0{PASSWORD}".encode()), 2, 2),
        session[1],
    ]
    return [
        b"\x00\x00\x00" + b"".join(session),
        b"\x00\x00\x07" + b"".join(session),
        b"\x01\x00\x00" + b"".join(sasl),
        b"\x00\x00\x00" + b"".join(session[:2]) + b"\x7f\xff\xff\xff",
    ] + [b"\x00\x00\x00" + session[0] + r for r in session[1:]]


if __name__ == "__main__":
    run(NAME, one_input, seeds, __doc__ or "")
    sys.exit(0)
