"""Bytes that do not parse raise DecodeError (and only DecodeError) saying where and why;
values that cannot be written raise EncodeError naming the field."""

from __future__ import annotations

import struct
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kproto.protocol as protocol
from kproto.errors import DecodeError, EncodeError
from kproto.protocol import (
    ApiVersionsResponse,
    FetchResponse,
    Message,
    MetadataRequest,
    MetadataResponse,
    ProduceRequest,
    RequestHeader,
    decode_request,
    decode_response,
    encode_request,
    peek_correlation_id,
)
from kproto.protocol.messages import metadata_request as mq
from kproto.protocol.messages import metadata_response as mr
from tests.protocol.strategies import all_message_versions, message_strategy

PAIRS = all_message_versions()


@pytest.mark.parametrize(("name", "version"), PAIRS, ids=[f"{n}-v{v}" for n, v in PAIRS])
def test_arbitrary_bytes_raise_only_decode_error(name: str, version: int) -> None:
    cls: type[Message] = getattr(protocol, name)

    @settings(max_examples=6, deadline=None, database=None)
    @given(data=st.one_of(st.binary(max_size=64), st.binary(min_size=64, max_size=512)))
    def check(data: bytes) -> None:
        try:
            cls.decode(data, version)
        except DecodeError as e:
            assert e.message_name == name
            assert e.version == version

    check()


@pytest.mark.parametrize(("name", "version"), PAIRS, ids=[f"{n}-v{v}" for n, v in PAIRS])
def test_every_truncation_and_byte_flip_raises_only_decode_error(name: str, version: int) -> None:
    cls: type[Message] = getattr(protocol, name)

    @settings(
        max_examples=2,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(msg=message_strategy(name, version), flips=st.lists(st.integers(0, 10**6), max_size=4))
    def check(msg: Message, flips: list[int]) -> None:
        data = msg.encode(version)
        for end in range(len(data)):
            with pytest.raises(DecodeError) as info:
                cls.decode(data[:end], version)
            assert info.value.offset is not None and info.value.offset <= end
        with pytest.raises(DecodeError, match="left over"):
            cls.decode(data + b"\x00", version)
        if data:
            mutated = bytearray(data)
            for flip in flips:
                mutated[flip % len(data)] ^= 0xFF if flip % 3 else 0x80
            try:
                cls.decode(bytes(mutated), version)
            except DecodeError:
                pass

    check()


def test_two_gib_array_claim_fails_before_allocating() -> None:
    # Four bytes of input claiming 2**31 - 1 brokers.
    with pytest.raises(DecodeError) as info:
        MetadataResponse.decode(b"\x7f\xff\xff\xff", 1)
    err = info.value
    assert err.field_path == "brokers"
    assert err.offset == 0
    assert "2147483647 elements" in err.reason
    assert str(err).startswith("MetadataResponse v1, field brokers, byte 0:")
    # The same for compact arrays (varint 0xffffffff = 2**32 - 2 elements) and fixed elements.
    with pytest.raises(DecodeError, match="elements"):
        MetadataResponse.decode(b"\x00\x00\x00\x00" + b"\xff\xff\xff\xff\x0f", 9)
    # ConsumerProtocolSubscription v1: owned_partitions[0].partitions claims 2**31 - 1 int32s.
    data = b"\x00\x00\x00\x00" + b"\xff\xff\xff\xff" + b"\x00\x00\x00\x01\x00\x01t\x7f\xff\xff\xff"
    with pytest.raises(DecodeError, match="needs at least 8589934588 bytes") as info:
        protocol.ConsumerProtocolSubscription.decode(data, 1)
    assert info.value.field_path == "owned_partitions[0].partitions"
    assert info.value.offset == 15


def test_string_and_bytes_lengths_are_checked() -> None:
    # MetadataRequest v0: topics = [name] with a name claiming 32767 bytes.
    with pytest.raises(DecodeError) as info:
        MetadataRequest.decode(b"\x00\x00\x00\x01\x7f\xffabc", 0)
    assert info.value.field_path == "topics[0].name"
    assert info.value.offset == 4
    assert "32767" in info.value.reason
    # ProduceRequest v3: a records field claiming 2 GiB.
    head = b"\xff\xff" + b"\xff\xff" + b"\x00\x00\x75\x30" + b"\x00\x00\x00\x01"
    topic = b"\x00\x01t" + b"\x00\x00\x00\x01" + b"\x00\x00\x00\x00" + b"\x7f\xff\xff\xff"
    with pytest.raises(DecodeError) as info:
        ProduceRequest.decode(head + topic, 3)
    assert info.value.field_path == "topic_data[0].partition_data[0].records"


def test_null_where_not_nullable() -> None:
    # MetadataResponse v1: broker host is a non-nullable string.
    data = b"\x00\x00\x00\x01" + b"\x00\x00\x00\x01" + b"\xff\xff" + bytes(20)
    with pytest.raises(DecodeError, match="null in a non-nullable string") as info:
        MetadataResponse.decode(data, 1)
    assert info.value.field_path == "brokers[0].host"


def test_invalid_utf8() -> None:
    with pytest.raises(DecodeError, match="UTF-8") as info:
        MetadataRequest.decode(b"\x00\x00\x00\x01\x00\x02\xff\xfe", 0)
    assert info.value.field_path == "topics[0].name"


def test_bad_varints_and_tagged_fields() -> None:
    # ApiVersionsRequest v3: two compact strings and a tag section.
    with pytest.raises(DecodeError, match="longer than 5 bytes"):
        protocol.ApiVersionsRequest.decode(b"\xff\xff\xff\xff\xff\x01", 3)
    with pytest.raises(DecodeError, match="32 bits"):
        protocol.ApiVersionsRequest.decode(b"\xff\xff\xff\xff\x7f", 3)
    # A tag section announcing a field larger than what remains.
    with pytest.raises(DecodeError, match="tagged field 5"):
        protocol.ApiVersionsRequest.decode(b"\x01\x01\x01\x05\x10ab", 3)
    # A known tagged field (ApiVersionsResponse v3 tag 1, an int64) with the wrong size.
    body = b"\x00\x00" + b"\x01" + b"\x00\x00\x00\x00" + b"\x01" + b"\x01\x02\x00\x07"
    with pytest.raises(DecodeError) as info:
        ApiVersionsResponse.decode(body, 3)
    assert info.value.field_path == "finalized_features_epoch"


def test_decode_error_for_versions_out_of_range() -> None:
    with pytest.raises(DecodeError, match="outside the valid versions"):
        MetadataResponse.decode(b"", 13)
    with pytest.raises(DecodeError, match="outside the valid versions"):
        MetadataResponse.decode(b"", -1)
    with pytest.raises(EncodeError, match="outside the valid versions"):
        MetadataResponse().encode(13)


def test_frame_errors() -> None:
    with pytest.raises(DecodeError):
        peek_correlation_id(b"\x00\x01")
    with pytest.raises(DecodeError, match="unknown API key"):
        decode_response(b"\x00\x00\x00\x01", 999, 0)
    with pytest.raises(DecodeError, match="unknown API key"):
        decode_request(b"\x03\xe7\x00\x00\x00\x00\x00\x01\x00\x00")
    with pytest.raises(DecodeError, match="outside the known versions"):
        decode_request(b"\x00\x03\x00\x63\x00\x00\x00\x01\x00\x00")
    with pytest.raises(DecodeError):
        decode_request(b"\x00")
    frame = encode_request(MetadataRequest(), 4, 1, "c")[4:]
    with pytest.raises(DecodeError, match="left over"):
        decode_request(frame + b"\x00")
    with pytest.raises(EncodeError, match="not a request"):
        encode_request(MetadataResponse(), 4, 1, "c")


def test_non_default_value_in_a_missing_field() -> None:
    # include_topic_authorized_operations exists from v8 and is not ignorable.
    msg = MetadataRequest(include_topic_authorized_operations=True)
    with pytest.raises(EncodeError) as info:
        msg.encode(7)
    err = info.value
    assert (err.message_name, err.version, err.field_path) == (
        "MetadataRequest",
        7,
        "include_topic_authorized_operations",
    )
    assert "does not exist in this version" in str(err)
    assert msg.encode(8)
    # Ignorable fields are dropped silently: throttle_time_ms exists from v3.
    assert MetadataResponse.decode(MetadataResponse(throttle_time_ms=5).encode(2), 2) == (
        MetadataResponse()
    )
    # Nested: topic_id exists from v10 (ignorable) but MetadataRequestTopic.name is not nullable
    # before v10.
    nested = MetadataRequest(topics=[mq.MetadataRequestTopic(name=None)])
    with pytest.raises(EncodeError) as info:
        nested.encode(9)
    assert info.value.field_path == "topics[0].name"
    assert "not nullable" in str(info.value)
    assert MetadataRequest.decode(nested.encode(10), 10) == nested


def test_none_in_non_nullable_fields() -> None:
    with pytest.raises(EncodeError, match="not nullable") as info:
        MetadataResponse(brokers=None).encode(1)  # type: ignore[arg-type]
    assert info.value.field_path == "brokers"
    # topics is nullable from v1 only.
    with pytest.raises(EncodeError, match="not nullable"):
        MetadataRequest(topics=None).encode(0)
    assert MetadataRequest.decode(MetadataRequest(topics=None).encode(1), 1).topics is None


def test_out_of_range_numbers_name_the_field() -> None:
    msg = MetadataResponse(
        topics=[
            mr.MetadataResponseTopic(partitions=[mr.MetadataResponsePartition(leader_id=2**31)])
        ]
    )
    with pytest.raises(EncodeError) as info:
        msg.encode(9)
    assert info.value.field_path == "topics[0].partitions[0].leader_id"
    bad_list = MetadataResponse(
        topics=[
            mr.MetadataResponseTopic(partitions=[mr.MetadataResponsePartition(isr_nodes=[1, "x"])])
        ]  # type: ignore[list-item]
    )
    with pytest.raises(EncodeError) as info:
        bad_list.encode(9)
    assert info.value.field_path == "topics[0].partitions[0].isr_nodes"
    with pytest.raises(EncodeError) as info:
        MetadataResponse(topics=[mr.MetadataResponseTopic(topic_id="x")]).encode(12)  # type: ignore[arg-type]
    assert info.value.field_path == "topics[0].topic_id"


def test_long_strings_and_unknown_tags_in_old_versions() -> None:
    with pytest.raises(EncodeError, match="longer than 32767"):
        MetadataRequest(topics=[mq.MetadataRequestTopic(name="x" * 40000)]).encode(12)
    with pytest.raises(EncodeError, match="no tagged fields"):
        MetadataRequest(unknown_tagged_fields=[(5, b"")]).encode(8)
    with pytest.raises(EncodeError, match="not a \\(tag, bytes\\) pair"):
        MetadataRequest(unknown_tagged_fields=[(5, "x")]).encode(9)  # type: ignore[list-item]


def test_header_encoding_rules() -> None:
    # ControlledShutdown v0 uses request header v0 (no client id).
    frame = encode_request(protocol.ControlledShutdownRequest(broker_id=1), 0, 9, "ignored")
    assert frame[4:] == struct.pack(">hhi", 7, 0, 9) + struct.pack(">i", 1)
    header, _, _ = decode_request(frame[4:])
    assert header == RequestHeader(request_api_key=7, request_api_version=0, correlation_id=9)
    # ApiVersionsResponse always uses response header v0, even at v3.
    from kproto.protocol import encode_response, response_header_version

    assert response_header_version(18, 3) == 0
    assert response_header_version(3, 9) == 1
    frame = encode_response(ApiVersionsResponse(), 3, 5, 18)
    assert frame[4:8] == b"\x00\x00\x00\x05"
    assert frame[8:10] == b"\x00\x00"  # straight into the error code: no tag section
    # A flexible FetchResponse has a tag section after the correlation id.
    frame = encode_response(FetchResponse(), 12, 5, 1)
    assert frame[4:9] == b"\x00\x00\x00\x05\x00"
    assert decode_response(frame[4:], 1, 12)[1] == FetchResponse()


def test_uuid_defaults_and_reprs() -> None:
    topic = mr.MetadataResponseTopic()
    assert topic.topic_id == uuid.UUID(int=0)
    assert "MetadataResponseTopic(error_code=0" in repr(topic)
    big = protocol.ProduceRequest(transactional_id="t")
    big_repr = repr(big)
    assert big_repr.startswith("ProduceRequest(transactional_id='t'")
    assert "unknown_tagged_fields" not in big_repr
    records = protocol.messages.produce_request.PartitionProduceData(records=bytes(1000))
    assert "(1000 bytes)" in repr(records)
    assert MetadataResponse() != MetadataRequest()
    assert MetadataResponse() == MetadataResponse()
    assert MetadataResponse(brokers=[]) is not MetadataResponse().brokers


def test_copy_and_pickle_keep_lazy_defaults() -> None:
    import copy
    import pickle

    from kproto.protocol.messages import fetch_response as fr

    part = fr.PartitionData(partition_index=3, records=b"x")
    twin = fr.PartitionData(partition_index=3, records=b"x")
    for clone in (copy.copy(part), copy.deepcopy(part), pickle.loads(pickle.dumps(part))):
        assert clone == twin
        assert clone.current_leader == fr.LeaderIdAndEpoch()
    decoded = FetchResponse.decode(
        FetchResponse(responses=[fr.FetchableTopicResponse(partitions=[part])]).encode(12), 12
    )
    again = pickle.loads(pickle.dumps(decoded))
    assert again == decoded
    assert again.encode(12) == decoded.encode(12)
    again.responses[0].partitions[0].current_leader.leader_id = 4
    assert decoded.responses[0].partitions[0].current_leader.leader_id == -1
