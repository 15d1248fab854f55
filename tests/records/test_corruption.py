"""CRC checking, truncation at every position, and garbage in the middle of a buffer."""

from __future__ import annotations

import struct

import pytest
from crc32c import crc32c

from kproto.errors import CorruptRecordError, DecodeError
from kproto.records import BatchBuilder, Compression, decode_batches, flatten

from .strategies import FORMATS


def _batch(magic: int, codec: Compression, base: int, n: int = 3) -> bytes:
    b = BatchBuilder(magic=magic, compression=codec, base_offset=base)
    for i in range(n):
        hs = [("h", b"%d" % i)] if magic == 2 else ()
        b.append(1000 + i, b"key%d" % i, b"value-%d" % i, hs)
    return b.build()


def _ids(v: object) -> str:
    return str(getattr(v, "name", v))


@pytest.mark.parametrize(("magic", "codec"), FORMATS, ids=_ids)
def test_crc_mismatch_is_detected_and_can_be_ignored(magic: int, codec: Compression) -> None:
    raw = bytearray(_batch(magic, codec, 40))
    # Flip a bit in the stored CRC: the body still parses, only the checksum disagrees.
    crc_pos = 17 if magic == 2 else 12
    raw[crc_pos] ^= 0x01
    with pytest.raises(CorruptRecordError, match="offset 4"):
        decode_batches(bytes(raw))
    result = decode_batches(bytes(raw), check_crcs=False)
    assert [r.value for r in flatten(result.batches)] == [b"value-0", b"value-1", b"value-2"]


@pytest.mark.parametrize("magic", [0, 1, 2])
def test_payload_bit_flip_fails_the_crc(magic: int) -> None:
    raw = bytearray(_batch(magic, Compression.NONE, 0))
    raw[raw.rfind(b"value-2") + 6] ^= 0x01  # "value-2" becomes "value-3"
    with pytest.raises(CorruptRecordError, match="CRC"):
        decode_batches(bytes(raw))
    # With checks off the altered byte is delivered as it is.
    values = [r.value for r in flatten(decode_batches(bytes(raw), check_crcs=False).batches)]
    assert values == [b"value-0", b"value-1", b"value-3"]


@pytest.mark.parametrize(("magic", "codec"), FORMATS, ids=_ids)
def test_truncation_at_every_position_is_a_partial_tail(magic: int, codec: Compression) -> None:
    buf = _batch(magic, codec, 0) + _batch(magic, codec, 100)
    full = decode_batches(buf).batches
    ends = []  # where each entry ends (uncompressed legacy sets have one entry per message)
    for batch in full:
        ends.append((ends[-1] if ends else 0) + batch.size_in_bytes)
    assert ends[-1] == len(buf)
    for cut in range(len(buf) + 1):
        result = decode_batches(buf[:cut])
        complete = [e for e in ends if e <= cut]
        assert result.batches == full[: len(complete)]
        assert result.trailing_bytes == cut - (complete[-1] if complete else 0)


@pytest.mark.parametrize(("magic", "codec"), FORMATS, ids=_ids)
def test_a_shortened_batch_in_the_middle_raises(magic: int, codec: Compression) -> None:
    first = _batch(magic, codec, 0)
    second = _batch(magic, codec, 100)
    third = _batch(magic, codec, 200)
    for cut in range(1, len(second) - 1, 3):
        # Cut bytes out of the middle batch but keep the buffer's later batches.
        garbled = bytearray(second[:cut] + second[cut + 1 :])
        buf = first + bytes(garbled) + third
        try:
            result = decode_batches(buf)
        except DecodeError as exc:
            # Either the CRC or the parser noticed; the error names where it happened.
            assert "offset" in str(exc)
            continue
        # Not noticed only if the length field now swallows the next batch's prefix as a
        # partial tail: never silently different records.
        assert [r.value for r in flatten(result.batches)][:3] == [
            b"value-0",
            b"value-1",
            b"value-2",
        ]
        assert result.trailing_bytes > 0


@pytest.mark.parametrize("magic", [0, 1, 2])
def test_length_below_minimum_is_corrupt(magic: int) -> None:
    good = _batch(magic, Compression.NONE, 0)
    bad = bytearray(good)
    struct.pack_into(">i", bad, 8, 5)
    with pytest.raises(CorruptRecordError, match="offset 0"):
        decode_batches(bytes(bad) + good)
    struct.pack_into(">i", bad, 8, -1)
    with pytest.raises(CorruptRecordError):
        decode_batches(bytes(bad))


def test_unknown_magic_is_corrupt() -> None:
    raw = bytearray(_batch(2, Compression.NONE, 9))
    raw[16] = 3
    with pytest.raises(CorruptRecordError, match="magic 3"):
        decode_batches(bytes(raw))


def _fix_crc(raw: bytearray) -> bytes:
    struct.pack_into(">I", raw, 17, crc32c(bytes(raw[21:])))
    return bytes(raw)


def test_v2_inconsistencies_with_valid_crc_raise() -> None:
    good = bytearray(_batch(2, Compression.NONE, 77))
    # record count larger than what the batch holds
    bad = bytearray(good)
    struct.pack_into(">i", bad, 57, 4)
    with pytest.raises(CorruptRecordError, match="offset 77"):
        decode_batches(_fix_crc(bad))
    # record count smaller: bytes left over
    bad = bytearray(good)
    struct.pack_into(">i", bad, 57, 2)
    with pytest.raises(CorruptRecordError, match="left after"):
        decode_batches(_fix_crc(bad))
    # negative record count
    bad = bytearray(good)
    struct.pack_into(">i", bad, 57, -3)
    with pytest.raises(CorruptRecordError, match="negative"):
        decode_batches(_fix_crc(bad))
    # unknown codec id
    bad = bytearray(good)
    struct.pack_into(">h", bad, 21, 5)
    with pytest.raises(CorruptRecordError, match="codec"):
        decode_batches(_fix_crc(bad))
    # a compressed attribute on records that are not compressed
    bad = bytearray(good)
    struct.pack_into(">h", bad, 21, 1)
    with pytest.raises(CorruptRecordError, match="gzip"):
        decode_batches(_fix_crc(bad))


def test_raise_errors_false_keeps_the_batches_before_the_error() -> None:
    good = _batch(2, Compression.NONE, 0)
    bad = bytearray(_batch(2, Compression.NONE, 3))
    bad[-1] ^= 0xFF
    result = decode_batches(good + bytes(bad) + good, raise_errors=False)
    assert [r.offset for r in flatten(result.batches)] == [0, 1, 2]
    assert isinstance(result.error, CorruptRecordError)
    assert "offset 3" in str(result.error)
    assert decode_batches(good, raise_errors=False).error is None
