"""The consumer protocol bytes in JoinGroup metadata and SyncGroup assignments."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kproto.errors import DecodeError, KprotoError
from kproto.group.assignors import Assignment, Subscription, TopicPartition
from kproto.group.consumer_protocol import (
    decode_assignment,
    decode_subscription,
    encode_assignment,
    encode_subscription,
)

SUB = Subscription(("orders", "payments"), b"\x01\x02", (TopicPartition("orders", 0),
                                                         TopicPartition("orders", 2)),
                   generation=4, rack="rack-a")


def test_subscription_round_trip_at_every_version() -> None:
    data = encode_subscription(SUB)
    assert data[:2] == b"\x00\x03"
    assert decode_subscription(data, "static-1") == Subscription(
        SUB.topics, SUB.user_data, SUB.owned_partitions, 4, "static-1", "rack-a")
    v0 = decode_subscription(encode_subscription(SUB, 0))
    assert (v0.topics, v0.user_data, v0.owned_partitions, v0.generation) == (
        SUB.topics, SUB.user_data, (), -1)
    v1 = decode_subscription(encode_subscription(SUB, 1))
    assert v1.owned_partitions == SUB.owned_partitions and v1.generation == -1


def test_a_newer_version_is_read_with_the_newest_layout_and_its_tail_ignored() -> None:
    body = encode_subscription(SUB)[2:] + b"future fields"
    assert decode_subscription(struct.pack(">h", 9) + body).topics == SUB.topics
    assignment = Assignment((TopicPartition("t", 1),), b"u")
    tail = encode_assignment(assignment)[2:] + b"\x00\x00\x00\x07"
    assert decode_assignment(struct.pack(">h", 5) + tail) == assignment


def test_empty_assignment_means_nothing_assigned() -> None:
    assert decode_assignment(b"") == Assignment()


@pytest.mark.parametrize("data", [b"", b"\x00", b"\xff\xff" + b"\x00" * 8,
                                  b"\x00\x03\x00\x00\x00\x05"])
def test_bad_subscriptions_are_decode_errors(data: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_subscription(data)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_arbitrary_bytes_raise_only_kproto_errors(data: bytes) -> None:
    for decode in (decode_subscription, decode_assignment):
        try:
            decode(data)
        except KprotoError:
            pass
