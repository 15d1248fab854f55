"""Bad input never crashes the fake cluster: it answers with an error or closes."""

from __future__ import annotations

import random

from kproto import protocol
from kproto.protocol.messages import fetch_request as fq
from kproto.protocol.messages import join_group_request as jgr
from kproto.protocol.messages import produce_request as prq
from kproto.records import BatchBuilder
from kproto.testing import FakeCluster


def _valid_frames() -> list[bytes]:
    b = BatchBuilder(producer_id=3, producer_epoch=0, base_sequence=0)
    b.append(1, b"k", b"v")
    records = b.build()
    msgs = [
        (protocol.ApiVersionsRequest(client_software_name="x", client_software_version="1"), 3),
        (protocol.MetadataRequest(topics=None), 12),
        (protocol.ProduceRequest(acks=-1, timeout_ms=100, topic_data=[prq.TopicProduceData(
            name="t", partition_data=[prq.PartitionProduceData(index=0, records=records)])]),
         9),
        (protocol.FetchRequest(max_wait_ms=0, min_bytes=1, session_epoch=0, topics=[
            fq.FetchTopic(topic="t", partitions=[fq.FetchPartition(
                partition=0, fetch_offset=0, partition_max_bytes=1000)])]), 11),
        (protocol.JoinGroupRequest(group_id="g", session_timeout_ms=10000,
                                   rebalance_timeout_ms=1000, member_id="",
                                   protocol_type="consumer", protocols=[
                                       jgr.JoinGroupRequestProtocol(name="r", metadata=b"")]),
         5),
    ]
    return [protocol.encode_request(m, v, i, "fuzz")[4:] for i, (m, v) in enumerate(msgs)]


def test_mutated_and_random_frames_never_raise() -> None:
    rng = random.Random(16)
    frames = _valid_frames()
    cluster = FakeCluster(1, topics={"t": 1}, max_request_bytes=1 << 16)
    now = 0.0
    for i in range(3000):
        frame = bytearray(rng.choice(frames))
        kind = i % 4
        if kind == 0:
            for _ in range(rng.randint(1, 4)):
                frame[rng.randrange(len(frame))] = rng.randrange(256)
        elif kind == 1:
            del frame[rng.randrange(len(frame)):]
        elif kind == 2:
            frame = bytearray(rng.randbytes(rng.randint(0, 64)))
        conn = cluster.connect_node(1, now)
        assert conn is not None
        data = len(frame).to_bytes(4, "big") + bytes(frame)
        # Split at a random point: framing must not care.
        cut = rng.randrange(len(data) + 1)
        conn.receive_data(data[:cut], now)
        conn.receive_data(data[cut:], now)
        now += 0.5
        cluster.handle_timer(now)
        conn.data_to_send()
        # Refusals of bad input are fine; a failure inside the cluster is a bug.
        assert "could not be" not in conn.close_reason, conn.close_reason
        if not conn.closed:
            conn.connection_lost(now)
    assert not cluster.connections


def test_every_served_version_answers_a_default_request() -> None:
    from kproto.errors import EncodeError
    cluster = FakeCluster(2, topics={"t": 2})
    served = 0
    for key, api in sorted(cluster.apis.items()):
        spec = protocol.API_SPECS[key]
        for version in range(api.min_version, api.max_version + 1):
            try:
                data = protocol.encode_request(spec.request(), version, 1, "sweep")
            except EncodeError:
                continue
            conn = cluster.connect_node(1, 0.0)
            assert conn is not None
            conn.receive_data(data, 0.0)
            cluster.handle_timer(1000.0)
            out = conn.data_to_send()
            assert "could not be" not in conn.close_reason, (spec.name, version,
                                                             conn.close_reason)
            if out:
                served += 1
                protocol.decode_response(out[4:], key, version)
            conn.connection_lost(0.0)
    assert served > 150
