"""Arbitrary and mutated bytes: the decoder raises kproto errors and nothing else."""

from __future__ import annotations

import struct

from crc32c import crc32c
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kproto.errors import KprotoError
from kproto.records import BatchBuilder, Compression, DecodeResult, decode_batches

from .strategies import FORMATS


def _seeds() -> list[bytes]:
    out = []
    for magic, codec in FORMATS:
        b = BatchBuilder(magic=magic, compression=codec, base_offset=3)
        b.append(1, b"key", b"value", [("h", b"v")] if magic == 2 else ())
        b.append(2, None, b"", [("n", None)] if magic == 2 else ())
        out.append(b.build())
    return out


SEEDS = _seeds()
SMALL_CAP = 1 << 16


def _decode(data: bytes, check_crcs: bool) -> DecodeResult | None:
    try:
        result = decode_batches(data, check_crcs=check_crcs, max_decompressed_bytes=SMALL_CAP)
    except KprotoError:
        return None
    assert 0 <= result.trailing_bytes <= len(data)
    return result


def _refresh_v2_crc(data: bytearray) -> None:
    """Make a v2 batch's CRC right again so a mutation reaches the record parser."""
    if len(data) >= 61 and data[16] == 2:
        (length,) = struct.unpack_from(">i", data, 8)
        end = 12 + length
        if 21 <= end <= len(data):
            struct.pack_into(">I", data, 17, crc32c(bytes(data[21:end])))


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=300), check_crcs=st.booleans())
def test_arbitrary_bytes(data: bytes, check_crcs: bool) -> None:
    _decode(data, check_crcs)


@st.composite
def mutated(draw: st.DrawFn) -> bytearray:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        kind = draw(st.sampled_from(["flip", "set", "insert", "delete", "int"]))
        if not data:
            break
        pos = draw(st.integers(min_value=0, max_value=len(data) - 1))
        if kind == "flip":
            data[pos] ^= 1 << draw(st.integers(min_value=0, max_value=7))
        elif kind == "set":
            data[pos] = draw(st.integers(min_value=0, max_value=255))
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=4))
        elif kind == "delete":
            del data[pos : pos + draw(st.integers(min_value=1, max_value=4))]
        elif pos + 4 <= len(data):
            value = draw(st.sampled_from([-(2**31), -2, -1, 0, 1, 0x7FFFFFFF, 1 << 20]))
            struct.pack_into(">i", data, pos, value)
    return data


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=mutated(), fix_crc=st.booleans(), check_crcs=st.booleans())
def test_mutated_batches(data: bytearray, fix_crc: bool, check_crcs: bool) -> None:
    if fix_crc:
        _refresh_v2_crc(data)
    _decode(bytes(data), check_crcs)


@settings(max_examples=300, deadline=None)
@given(
    codec=st.sampled_from(list(Compression)[1:]),
    payload=st.binary(max_size=200),
    count=st.integers(min_value=-2, max_value=50),
)
def test_random_compressed_payloads(codec: Compression, payload: bytes, count: int) -> None:
    header = struct.pack(">hiqqqhii", int(codec), 0, 0, 0, -1, -1, -1, count)
    crc = crc32c(header + payload)
    batch = struct.pack(">qiibI", 0, 49 + len(payload), -1, 2, crc) + header + payload
    _decode(batch, True)


@settings(max_examples=300, deadline=None)
@given(records=st.binary(max_size=120), count=st.integers(min_value=-1, max_value=8))
def test_random_record_bytes_behind_a_valid_header(records: bytes, count: int) -> None:
    header = struct.pack(">hiqqqhii", 0, 0, 0, 0, -1, -1, -1, count)
    crc = crc32c(header + records)
    batch = struct.pack(">qiibI", 0, 49 + len(records), -1, 2, crc) + header + records
    _decode(batch, True)
