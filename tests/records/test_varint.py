"""Zigzag varints: round trips over the whole int64 range and malformed encodings."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kproto.errors import CorruptRecordError
from kproto.records.varint import encode_varint, read_uvarint, read_varint, size_of_varint


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_round_trip(v: int) -> None:
    enc = encode_varint(v)
    assert len(enc) == size_of_varint(v)
    assert read_varint(b"\xaa" + enc + b"\xbb", 1) == (v, 1 + len(enc))


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (0, b"\x00"),
        (-1, b"\x01"),
        (1, b"\x02"),
        (-64, b"\x7f"),
        (64, b"\x80\x01"),
        (4095, b"\xfe\x3f"),
        (4096, b"\x80\x40"),
        (-(2**63), b"\xff" * 9 + b"\x01"),
    ],
)
def test_known_encodings(value: int, encoded: bytes) -> None:
    assert encode_varint(value) == encoded
    assert read_varint(encoded, 0) == (value, len(encoded))


def test_out_of_range_values_are_refused() -> None:
    with pytest.raises(ValueError):
        encode_varint(2**63)


def test_malformed_input() -> None:
    with pytest.raises(CorruptRecordError, match="longer than 10 bytes"):
        read_uvarint(b"\x80" * 11 + b"\x00", 0)
    with pytest.raises(IndexError):  # callers turn this into an error naming the batch
        read_uvarint(b"\x80\x80", 0)
