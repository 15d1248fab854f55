"""Legacy message sets (magic 0 and 1): offsets inside wrappers, timestamps, wire layout."""

from __future__ import annotations

import struct
import zlib

import pytest

from kproto.errors import CorruptRecordError
from kproto.records import (
    BatchBuilder,
    Compression,
    Record,
    TimestampType,
    decode_batches,
    flatten,
)
from kproto.records.codecs import compress


def _message(
    magic: int, offset: int, attributes: int, ts: int, key: bytes | None, value: bytes | None
) -> bytes:
    """A message written field by field, independent of the library's encoder."""
    body = bytes([magic, attributes])
    if magic == 1:
        body += struct.pack(">q", ts)
    for field in (key, value):
        body += struct.pack(">i", -1) if field is None else struct.pack(">i", len(field)) + field
    return struct.pack(">qiI", offset, len(body) + 4, zlib.crc32(body)) + body


def test_v0_wire_layout_matches_the_protocol_guide() -> None:
    b = BatchBuilder(magic=0, base_offset=5)
    b.append(123, b"k", b"value")
    b.append(456, None, None)
    assert b.build() == _message(0, 5, 0, 0, b"k", b"value") + _message(0, 6, 0, 0, None, None)


def test_v1_wire_layout_matches_the_protocol_guide() -> None:
    b = BatchBuilder(magic=1)
    b.append(123, b"k", b"")
    assert b.build() == _message(1, 0, 0, 123, b"k", b"")


def test_v1_wrapper_with_relative_inner_offsets() -> None:
    inner = b"".join(_message(1, i, 0, 100 + i, None, b"m%d" % i) for i in range(3))
    wrapper = _message(1, 1002, 1, 102, None, compress(Compression.GZIP, inner, magic=1))
    (batch,) = decode_batches(wrapper).batches
    assert [(r.offset, r.timestamp, r.value) for r in batch.records] == [
        (1000, 100, b"m0"),
        (1001, 101, b"m1"),
        (1002, 102, b"m2"),
    ]
    assert batch.base_offset == 1000 and batch.last_offset == 1002 and batch.next_offset == 1003
    assert batch.timestamp_type == TimestampType.CREATE_TIME
    assert batch.compression == Compression.GZIP and batch.magic == 1


def test_v1_wrapper_relative_offsets_with_gaps_after_compaction() -> None:
    inner = b"".join(_message(1, i, 0, 1, None, b"x") for i in (0, 4, 9))
    wrapper = _message(1, 59, 2, 1, None, compress(Compression.SNAPPY, inner, magic=1))
    assert [r.offset for r in flatten(decode_batches(wrapper).batches)] == [50, 54, 59]


def test_v1_wrapper_log_append_time_overrides_inner_timestamps() -> None:
    inner = b"".join(_message(1, i, 0, 100 + i, None, b"m") for i in range(2))
    wrapper = _message(1, 11, 1 | 0x08, 999, None, compress(Compression.GZIP, inner, magic=1))
    (batch,) = decode_batches(wrapper).batches
    assert batch.timestamp_type == TimestampType.LOG_APPEND_TIME
    assert [r.timestamp for r in batch.records] == [999, 999]


def test_v0_wrapper_with_absolute_inner_offsets() -> None:
    inner = b"".join(_message(0, 70 + i, 0, 0, b"k", b"m%d" % i) for i in range(3))
    wrapper = _message(0, 72, 3, 0, None, compress(Compression.LZ4, inner, magic=0))
    (batch,) = decode_batches(wrapper).batches
    assert [(r.offset, r.timestamp) for r in batch.records] == [(70, -1), (71, -1), (72, -1)]
    assert batch.timestamp_type == TimestampType.NO_TIMESTAMP_TYPE


@pytest.mark.parametrize("codec", [Compression.GZIP, Compression.SNAPPY, Compression.LZ4])
@pytest.mark.parametrize("magic", [0, 1])
def test_builder_wrappers_use_the_offset_convention_of_their_magic(
    magic: int, codec: Compression
) -> None:
    b = BatchBuilder(magic=magic, compression=codec, base_offset=300)
    for i in range(4):
        b.append(10 * i, b"k", b"v%d" % i)
    raw = b.build()
    (wrapper_offset,) = struct.unpack_from(">q", raw)
    assert wrapper_offset == 303
    records = flatten(decode_batches(raw).batches)
    assert [r.offset for r in records] == [300, 301, 302, 303]
    if magic == 1:
        assert [r.timestamp for r in records] == [0, 10, 20, 30]
        (wrapper_ts,) = struct.unpack_from(">q", raw, 18)
        assert wrapper_ts == 30  # the wrapper carries the max timestamp


def test_nested_compression_is_corrupt() -> None:
    inner = _message(1, 0, 1, 0, None, compress(Compression.GZIP, _message(1, 0, 0, 0, None, b"x")))
    wrapper = _message(1, 0, 1, 0, None, compress(Compression.GZIP, inner, magic=1))
    with pytest.raises(CorruptRecordError, match="itself compressed"):
        decode_batches(wrapper)


def _wrapped(inner: bytes, offset: int = 0) -> bytes:
    return _message(1, offset, 1, 0, None, compress(Compression.GZIP, inner, magic=1))


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (_message(1, 0, 1, 0, None, None), "null value"),
        (_wrapped(b""), "no messages"),
        (_wrapped(_message(1, 0, 0, 0, None, b"x")[:-2]), "inner message"),
        (_wrapped(_message(1, 0, 0, 0, None, b"x") + b"\x00" * 5), "partial message"),
    ],
)
def test_wrapper_problems_are_corrupt(raw: bytes, error: str) -> None:
    with pytest.raises(CorruptRecordError, match=error):
        decode_batches(raw)


def test_unassigned_wrapper_offset_keeps_inner_offsets() -> None:
    # What a producer sends: wrapper offset 0, inner relative offsets 0..n-1.
    inner = b"".join(_message(1, i, 0, 0, None, b"x") for i in range(3))
    assert [r.offset for r in flatten(decode_batches(_wrapped(inner)).batches)] == [0, 1, 2]


def test_bad_inner_crc_is_detected_unless_checks_are_off() -> None:
    msg = bytearray(_message(1, 0, 0, 5, None, b"abc"))
    msg[-1] ^= 1
    wrapper = _message(1, 0, 1, 5, None, compress(Compression.GZIP, bytes(msg), magic=1))
    with pytest.raises(CorruptRecordError, match="CRC32"):
        decode_batches(wrapper)
    assert flatten(decode_batches(wrapper, check_crcs=False).batches) == [
        Record(0, 5, None, b"abb", ())
    ]


def test_negative_lengths_and_overruns_are_corrupt() -> None:
    body = bytes([1, 0]) + struct.pack(">q", 0) + struct.pack(">i", -2) + struct.pack(">i", 0)
    bad = struct.pack(">qiI", 0, len(body) + 4, zlib.crc32(body)) + body
    with pytest.raises(CorruptRecordError, match="negative key length"):
        decode_batches(bad)
    body = bytes([0, 0]) + struct.pack(">i", -1) + struct.pack(">i", 50) + b"short"
    bad = struct.pack(">qiI", 0, len(body) + 4, zlib.crc32(body)) + body
    with pytest.raises(CorruptRecordError, match="value runs past"):
        decode_batches(bad)
