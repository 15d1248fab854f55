"""Build-then-decode round trips for every magic and codec, and the batch header fields."""

from __future__ import annotations

import struct

import pytest
from crc32c import crc32c
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kproto.records import (
    BatchBuilder,
    Compression,
    Record,
    TimestampType,
    decode_batches,
    flatten,
    set_base_offset,
    set_producer_state,
)

from .strategies import FORMATS, build, expected, record_inputs

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize(("magic", "codec"), FORMATS, ids=lambda v: str(getattr(v, "name", v)))
@SETTINGS
@given(data=st.data(), base_offset=st.integers(min_value=0, max_value=2**40))
def test_round_trip(magic: int, codec: Compression, data: st.DataObject, base_offset: int) -> None:
    rows = data.draw(record_inputs(magic))
    raw = build(magic, codec, rows, base_offset=base_offset)
    result = decode_batches(raw)
    assert result.trailing_bytes == 0
    assert flatten(result.batches) == expected(magic, rows, base_offset)
    last = result.batches[-1]
    assert last.next_offset == base_offset + len(rows)
    assert result.next_offset == base_offset + len(rows)
    for batch in result.batches:
        assert batch.magic == magic
        assert batch.compression == codec
        assert not batch.is_control and not batch.is_transactional


@SETTINGS
@given(
    rows=record_inputs(2),
    codec=st.sampled_from(list(Compression)),
    producer_id=st.integers(min_value=0, max_value=2**63 - 1),
    producer_epoch=st.integers(min_value=0, max_value=2**15 - 1),
    base_sequence=st.integers(min_value=0, max_value=2**31 - 1),
    leader_epoch=st.integers(min_value=-1, max_value=2**31 - 1),
    transactional=st.booleans(),
)
def test_v2_header_fields(
    rows: list,
    codec: Compression,
    producer_id: int,
    producer_epoch: int,
    base_sequence: int,
    leader_epoch: int,
    transactional: bool,
) -> None:
    raw = build(
        2,
        codec,
        rows,
        base_offset=7,
        producer_id=producer_id,
        producer_epoch=producer_epoch,
        base_sequence=base_sequence,
        transactional=transactional,
        partition_leader_epoch=leader_epoch,
    )
    (batch,) = decode_batches(raw).batches
    timestamps = [ts for ts, *_ in rows]
    assert batch.base_offset == 7
    assert batch.batch_length == len(raw) - 12
    assert batch.size_in_bytes == len(raw)
    assert batch.partition_leader_epoch == leader_epoch
    assert batch.crc == crc32c(raw[21:])
    assert batch.attributes & 7 == codec
    assert batch.is_transactional == transactional
    assert batch.timestamp_type == TimestampType.CREATE_TIME
    assert batch.last_offset_delta == len(rows) - 1
    assert batch.base_timestamp == timestamps[0]
    assert batch.max_timestamp == max(timestamps)
    assert batch.producer_id == producer_id
    assert batch.producer_epoch == producer_epoch
    assert batch.base_sequence == base_sequence
    assert batch.record_count == len(rows)
    assert not batch.has_delete_horizon and batch.delete_horizon_ms == -1


def _v2_batch_with_attributes(attributes: int, max_ts: int) -> bytes:
    """A one-record uncompressed batch with the given attribute bits, CRC fixed up."""
    b = BatchBuilder()
    b.append(1000, b"k", b"v")
    raw = bytearray(b.build())
    struct.pack_into(">h", raw, 21, attributes)
    struct.pack_into(">q", raw, 35, max_ts)
    struct.pack_into(">I", raw, 17, crc32c(bytes(raw[21:])))
    return bytes(raw)


def test_log_append_time_replaces_record_timestamps() -> None:
    raw = _v2_batch_with_attributes(0x08, 5555)
    (batch,) = decode_batches(raw).batches
    assert batch.timestamp_type == TimestampType.LOG_APPEND_TIME
    assert [r.timestamp for r in batch.records] == [5555]


def test_builder_can_mark_log_append_time() -> None:
    b = BatchBuilder(timestamp_type=TimestampType.LOG_APPEND_TIME)
    b.append(10, None, b"a")
    b.append(20, None, b"b")
    (batch,) = decode_batches(b.build()).batches
    assert batch.timestamp_type == TimestampType.LOG_APPEND_TIME
    assert [r.timestamp for r in batch.records] == [20, 20]


def test_delete_horizon_bit() -> None:
    raw = _v2_batch_with_attributes(0x40, 1000)
    (batch,) = decode_batches(raw).batches
    assert batch.has_delete_horizon
    assert batch.delete_horizon_ms == batch.base_timestamp == 1000
    assert batch.records[0].timestamp == 1000


def test_set_producer_state_patches_fields_and_crc() -> None:
    b = BatchBuilder(compression=Compression.GZIP, producer_id=5, producer_epoch=1, base_sequence=0)
    for i in range(3):
        b.append(100 + i, b"k", b"v%d" % i)
    raw = b.build()
    patched = set_producer_state(raw, 9_000_000_000, 7, 1234)
    assert len(patched) == len(raw)
    assert patched[61:] == raw[61:]  # records are not re-encoded
    (batch,) = decode_batches(patched).batches  # CRC verified
    assert (batch.producer_id, batch.producer_epoch, batch.base_sequence) == (
        9_000_000_000,
        7,
        1234,
    )
    assert [r.value for r in batch.records] == [b"v0", b"v1", b"v2"]
    assert set_producer_state(patched, 5, 1, 0) == raw


def test_set_base_offset() -> None:
    b = BatchBuilder()
    b.append(1, None, b"x")
    b.append(2, None, b"y")
    raw = set_base_offset(b.build(), 500)
    (batch,) = decode_batches(raw).batches
    assert [r.offset for r in batch.records] == [500, 501]


def test_patch_helpers_reject_legacy_bytes() -> None:
    b = BatchBuilder(magic=1)
    b.append(1, None, b"x")
    with pytest.raises(ValueError):
        set_producer_state(b.build(), 1, 1, 1)
    with pytest.raises(ValueError):
        set_base_offset(b"short", 1)


@pytest.mark.parametrize(("magic", "codec"), FORMATS, ids=lambda v: str(getattr(v, "name", v)))
def test_max_bytes_and_estimated_size(magic: int, codec: Compression) -> None:
    b = BatchBuilder(magic=magic, compression=codec, max_bytes=1000)
    sizes = [b.estimated_size]
    assert b.append(1, b"key", b"x" * 2000)  # the first record always fits
    sizes.append(b.estimated_size)
    assert not b.append(2, b"key", b"y")  # the next one would exceed max_bytes
    assert b.record_count == 1
    assert b.estimated_size == sizes[-1]
    small = BatchBuilder(magic=magic, compression=codec, max_bytes=300)
    n = 0
    while small.append(n, None, b"z" * 20):
        n += 1
    assert small.estimated_size <= 300 and n == small.record_count
    raw = small.build()
    if codec == Compression.NONE:
        assert len(raw) == small.estimated_size
    assert [r.value for r in flatten(decode_batches(raw).batches)] == [b"z" * 20] * n


def test_estimate_is_exact_for_uncompressed_v2() -> None:
    b = BatchBuilder()
    for i in range(50):
        b.append(1_700_000_000_000 + i * 1000, b"key-%d" % i, b"v" * i, [("h", b"x" * i)])
        assert len(b.build()) == b.estimated_size


def test_legacy_rejects_headers_and_producer_state() -> None:
    b = BatchBuilder(magic=1)
    with pytest.raises(ValueError):
        b.append(1, None, b"x", [("h", b"v")])
    with pytest.raises(ValueError):
        BatchBuilder(magic=0, producer_id=3)
    with pytest.raises(ValueError):
        BatchBuilder(magic=1, compression=Compression.ZSTD)
    with pytest.raises(ValueError):
        BatchBuilder(magic=3)


def test_empty_builder_builds_nothing() -> None:
    assert BatchBuilder().build() == b""
    assert BatchBuilder(magic=1, compression=Compression.GZIP).build() == b""
    assert decode_batches(b"").batches == []


def test_mixed_magics_in_one_buffer() -> None:
    parts = []
    for magic, codec, base in [
        (0, Compression.NONE, 0),
        (1, Compression.GZIP, 1),
        (2, Compression.LZ4, 3),
    ]:
        b = BatchBuilder(magic=magic, compression=codec, base_offset=base)
        b.append(10, b"k", b"a")
        if magic:
            b.append(11, b"k", b"b")
        parts.append(b.build())
    result = decode_batches(b"".join(parts))
    assert [b.magic for b in result.batches] == [0, 1, 2]
    assert [(r.offset, r.value) for r in flatten(result.batches)] == [
        (0, b"a"),
        (1, b"a"),
        (2, b"b"),
        (3, b"a"),
        (4, b"b"),
    ]


def test_header_keys_are_str_and_values_bytes_or_none() -> None:
    b = BatchBuilder()
    b.append(0, None, None, [("ключ", b""), ("", None), ("x", b"\x00\xff")])
    (rec,) = flatten(decode_batches(b.build()).batches)
    assert rec == Record(0, 0, None, None, (("ключ", b""), ("", None), ("x", b"\x00\xff")))


def test_decode_accepts_bytearray_and_memoryview() -> None:
    b = BatchBuilder()
    b.append(0, b"k", b"v")
    raw = b.build()
    for buf in (bytearray(raw), memoryview(raw)):
        assert flatten(decode_batches(buf).batches) == [Record(0, 0, b"k", b"v", ())]
