"""Every message at every valid version survives encode -> decode, alone and inside frames.

Few examples per (message, version) by default to keep CPU use low; set
KPROTO_HYPOTHESIS_EXAMPLES (for example to 200) for a deeper run.
"""

from __future__ import annotations

import os
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kproto.protocol as protocol
from kproto.protocol import (
    API_SPECS,
    Message,
    decode_request,
    decode_response,
    encode_request,
    encode_response,
    peek_correlation_id,
)
from kproto.protocol.messages import fetch_request as fq
from kproto.protocol.messages import metadata_response as mr
from tests.protocol.strategies import all_message_versions, message_strategy

EXAMPLES = int(os.environ.get("KPROTO_HYPOTHESIS_EXAMPLES", "4"))
PAIRS = all_message_versions()
REQUESTS = {spec.request.NAME for spec in API_SPECS.values()}
RESPONSES = {spec.response.NAME: key for key, spec in API_SPECS.items()}


def test_every_spec_version_is_covered() -> None:
    classes = [
        getattr(protocol, n)
        for n in protocol.__all__
        if isinstance(getattr(protocol, n), type)
        and issubclass(getattr(protocol, n), Message)
        and getattr(protocol, n) is not Message
    ]
    assert len(classes) == 186
    expected = {(c.NAME, v) for c in classes for v in range(c.MIN_VERSION, c.MAX_VERSION + 1)}
    assert set(PAIRS) == expected


@pytest.mark.parametrize(("name", "version"), PAIRS, ids=[f"{n}-v{v}" for n, v in PAIRS])
def test_roundtrip(name: str, version: int) -> None:
    cls = getattr(protocol, name)

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        database=None,
    )
    @given(msg=message_strategy(name, version), correlation_id=st.integers(-(2**31), 2**31 - 1))
    def check(msg: Message, correlation_id: int) -> None:
        data = msg.encode(version)
        assert cls.decode(data, version) == msg
        assert cls.decode(bytearray(data), version) == msg
        assert cls.decode(memoryview(data), version) == msg
        if name in REQUESTS:
            frame = encode_request(msg, version, correlation_id, "kproto-test")
            assert int.from_bytes(frame[:4], "big") == len(frame) - 4
            header, request, got_version = decode_request(frame[4:])
            assert (header.request_api_key, header.correlation_id) == (cls.API_KEY, correlation_id)
            assert got_version == version
            assert request == msg
        if name in RESPONSES:
            frame = encode_response(msg, version, correlation_id, cls.API_KEY)
            assert int.from_bytes(frame[:4], "big") == len(frame) - 4
            assert peek_correlation_id(frame[4:]) == correlation_id
            assert decode_response(frame[4:], cls.API_KEY, version) == (correlation_id, msg)

    check()


def test_large_arrays_roundtrip() -> None:
    partitions = [
        mr.MetadataResponsePartition(
            partition_index=i, leader_id=i % 7, replica_nodes=list(range(i % 5)), isr_nodes=[i]
        )
        for i in range(20_000)
    ]
    msg = protocol.MetadataResponse(
        topics=[mr.MetadataResponseTopic(name="big", topic_id=uuid.uuid4(), partitions=partitions)]
    )
    for version in (1, 12):
        data = msg.encode(version)
        assert protocol.MetadataResponse.decode(data, version).topics[0].partitions == partitions
    many_ints = fq.ForgottenTopic(topic="t", partitions=list(range(-50_000, 50_000)))
    req = protocol.FetchRequest(forgotten_topics_data=[many_ints])
    for version in (7, 12):
        assert protocol.FetchRequest.decode(req.encode(version), version) == req
