"""Compression details: framings, the LZ4 magic 0 quirk, levels, bombs and broken streams."""

from __future__ import annotations

import struct
import tracemalloc
import zlib
from collections.abc import Iterator

import lz4.frame
import pytest
import snappy
import zstandard
from crc32c import crc32c

from kproto.errors import CorruptRecordError
from kproto.records import BatchBuilder, Compression, decode_batches, flatten
from kproto.records.codecs import XERIAL_HEADER, compress, decompress, lz4_header_checksum
from kproto.records.varint import encode_varint
from kproto.records.xxhash32 import xxh32

DATA = b"".join(b"record %d of a compressible payload; " % i for i in range(3000))
MIB = 1024 * 1024


def test_xxh32_known_values() -> None:
    # Published XXH32 test values (seed 0).
    assert xxh32(b"") == 0x02CC5D05
    assert xxh32(b"a") == 0x550D7456
    assert xxh32(b"abc") == 0x32D153FF
    assert xxh32(b"Nobody inspects the spammish repetition") == 0xE2293B2F


@pytest.mark.parametrize("magic", [0, 1, 2])
@pytest.mark.parametrize("codec", [Compression.GZIP, Compression.SNAPPY, Compression.LZ4])
def test_codec_round_trip(codec: Compression, magic: int) -> None:
    blob = compress(codec, DATA, magic=magic)
    assert len(blob) < len(DATA) // 4
    assert decompress(codec, blob, magic=magic, max_bytes=len(DATA)) == DATA


def test_snappy_framing_per_magic() -> None:
    # Legacy message sets carry snappy-java's stream framing, v2 batches raw blocks.
    legacy = compress(Compression.SNAPPY, DATA, magic=1)
    assert legacy.startswith(XERIAL_HEADER)
    (first_block,) = struct.unpack_from(">I", legacy, 16)
    assert snappy.uncompress(legacy[20 : 20 + first_block]) == DATA[: 32 * 1024]
    raw = compress(Compression.SNAPPY, DATA, magic=2)
    assert snappy.uncompress(raw) == DATA
    # Either framing decodes in either kind of batch.
    for blob in (legacy, raw):
        for magic in (1, 2):
            assert decompress(Compression.SNAPPY, blob, magic=magic, max_bytes=len(DATA)) == DATA


def test_lz4_frames_look_like_javas() -> None:
    for magic in (0, 1, 2):
        blob = compress(Compression.LZ4, DATA, magic=magic)
        info = lz4.frame.get_frame_info(blob if magic else _fixed_hc(blob))
        assert info["content_size"] == 0  # no content size field
        assert info["block_size_id"] == 4  # 64 KiB blocks
        assert not info["block_linked"]
        assert not info["content_checksum"]


def _fixed_hc(blob: bytes) -> bytes:
    out = bytearray(blob)
    out[6] = lz4_header_checksum(blob[:6], broken=False)
    return bytes(out)


def test_lz4_magic0_uses_kafkas_broken_header_checksum() -> None:
    blob = compress(Compression.LZ4, DATA, magic=0)
    # The checksum byte covers the magic number too, so a standard decoder rejects it...
    assert blob[6] == (xxh32(blob[:6]) >> 8) & 0xFF
    assert blob[6] != (xxh32(blob[4:6]) >> 8) & 0xFF
    with pytest.raises(RuntimeError):
        lz4.frame.decompress(blob)
    # ...while Kafka (and kproto) ignore the value for magic 0.
    assert decompress(Compression.LZ4, blob, magic=0, max_bytes=len(DATA)) == DATA
    # A standard frame read as magic 0 is accepted as well.
    std = compress(Compression.LZ4, DATA, magic=1)
    assert decompress(Compression.LZ4, std, magic=0, max_bytes=len(DATA)) == DATA
    # Magic 1 checks the header checksum properly.
    with pytest.raises(CorruptRecordError):
        decompress(Compression.LZ4, blob, magic=1, max_bytes=len(DATA))


def test_lz4_frames_with_content_size_and_checksums_decode() -> None:
    blob = lz4.frame.compress(
        DATA, store_size=True, content_checksum=True, block_linked=True, block_checksum=True
    )
    assert decompress(Compression.LZ4, blob, magic=2, max_bytes=len(DATA)) == DATA


@pytest.mark.parametrize(
    ("codec", "levels"),
    [
        (Compression.GZIP, [1, 9]),
        (Compression.LZ4, [0, 12]),
        (Compression.ZSTD, [1, 19]),
    ],
)
def test_levels_change_the_output_and_still_decode(codec: Compression, levels: list[int]) -> None:
    outputs = [compress(codec, DATA, level) for level in levels]
    assert outputs[0] != outputs[1]
    assert len(outputs[1]) <= len(outputs[0])
    for blob in outputs:
        assert decompress(codec, blob, magic=2, max_bytes=len(DATA)) == DATA
    b = BatchBuilder(compression=codec, level=levels[1])
    b.append(0, None, DATA)
    assert flatten(decode_batches(b.build()).batches)[0].value == DATA


def test_zstd_frame_without_content_size() -> None:
    cobj = zstandard.ZstdCompressor(level=3).compressobj()
    blob = cobj.compress(DATA) + cobj.flush()
    assert zstandard.get_frame_parameters(blob).content_size == zstandard.CONTENTSIZE_UNKNOWN
    assert decompress(Compression.ZSTD, blob, magic=2, max_bytes=len(DATA)) == DATA


def test_concatenated_frames_and_gzip_members() -> None:
    half = len(DATA) // 2
    z = zstandard.ZstdCompressor()
    blob = z.compress(DATA[:half]) + z.compress(DATA[half:])
    assert decompress(Compression.ZSTD, blob, magic=2, max_bytes=len(DATA)) == DATA
    g = compress(Compression.GZIP, DATA[:half]) + compress(Compression.GZIP, DATA[half:])
    assert decompress(Compression.GZIP, g, magic=2, max_bytes=len(DATA)) == DATA


def test_zlib_wrapped_deflate_is_accepted_for_gzip() -> None:
    assert decompress(Compression.GZIP, zlib.compress(DATA), magic=2, max_bytes=len(DATA)) == DATA


@pytest.mark.parametrize("codec", list(Compression)[1:])
def test_broken_streams_raise_corrupt_record_error(codec: Compression) -> None:
    blob = compress(codec, DATA)
    cases = [b"", blob[:1], blob[: len(blob) // 2], blob[:-1], b"\x00" * 40]
    flipped = bytearray(blob)
    flipped[len(flipped) // 2] ^= 0x55
    cases.append(bytes(flipped))
    for case in cases:
        try:
            out = decompress(codec, case, magic=2, max_bytes=len(DATA))
        except CorruptRecordError:
            continue
        # A flipped bit in a codec without checksums may still decode: never to the original
        # length and content at once.
        assert out != DATA


# ----------------------------------------------------------------- decompression bombs


def _zero_record_stream(size: int) -> tuple[bytes, Iterator[bytes], bytes]:
    """One record whose value is `size` zero bytes, as (prefix, zero chunks, suffix)."""
    body_head = b"\x00\x00\x00\x01" + encode_varint(size)
    body_len = len(body_head) + size + 1
    prefix = encode_varint(body_len) + body_head
    chunk = bytes(MIB)

    def zeros() -> Iterator[bytes]:
        left = size
        while left:
            n = min(left, MIB)
            yield chunk[:n]
            left -= n

    return prefix, zeros(), b"\x00"


def _bomb_payload(codec: Compression, size: int) -> bytes:
    prefix, zeros, suffix = _zero_record_stream(size)
    if codec == Compression.GZIP:
        c = zlib.compressobj(9, zlib.DEFLATED, 31)
        parts = [c.compress(prefix), *(c.compress(z) for z in zeros), c.compress(suffix), c.flush()]
        return b"".join(parts)
    if codec == Compression.LZ4:
        c = lz4.frame.LZ4FrameCompressor(block_size=lz4.frame.BLOCKSIZE_MAX4MB)
        parts = [c.begin(), c.compress(prefix), *(c.compress(z) for z in zeros)]
        return b"".join([*parts, c.compress(suffix), c.flush()])
    if codec == Compression.ZSTD:
        c = zstandard.ZstdCompressor(level=3).compressobj()
        parts = [c.compress(prefix), *(c.compress(z) for z in zeros), c.compress(suffix)]
        return b"".join([*parts, c.flush()])
    if codec == Compression.SNAPPY:  # xerial blocks, the framing that is checked per block
        stream = prefix + b"".join(zeros) + suffix
        out = [XERIAL_HEADER]
        for i in range(0, len(stream), 32 * 1024):
            block = snappy.compress(stream[i : i + 32 * 1024])
            out += [struct.pack(">I", len(block)), block]
        return b"".join(out)
    raise AssertionError(codec)


def _v2_batch(codec: Compression, payload: bytes) -> bytes:
    header = struct.pack(">hiqqqhii", int(codec), 0, 0, 0, -1, -1, -1, 1)
    crc = crc32c(header + payload)
    return struct.pack(">qiibI", 0, 49 + len(payload), -1, 2, crc) + header + payload


@pytest.mark.parametrize("codec", list(Compression)[1:])
def test_decompression_bomb_is_capped(codec: Compression) -> None:
    size = 48 * MIB
    batch = _v2_batch(codec, _bomb_payload(codec, size))
    assert len(batch) < size // 20
    cap = 2 * MIB
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        with pytest.raises(CorruptRecordError, match="max_decompressed_bytes"):
            decode_batches(batch, max_decompressed_bytes=cap)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak - before < cap + 3 * MIB
    # With room enough the same batch decodes.
    (record,) = flatten(decode_batches(batch, max_decompressed_bytes=size + 64).batches)
    assert record.value is not None and len(record.value) == size and record.value.count(0) == size


def test_raw_snappy_bomb_is_refused_before_allocating() -> None:
    prefix, zeros, suffix = _zero_record_stream(32 * MIB)
    payload = snappy.compress(prefix + b"".join(zeros) + suffix)
    batch = _v2_batch(Compression.SNAPPY, payload)
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        with pytest.raises(CorruptRecordError, match="max_decompressed_bytes"):
            decode_batches(batch, max_decompressed_bytes=MIB)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak - before < MIB


def test_legacy_wrapper_bomb_is_capped() -> None:
    b = BatchBuilder(magic=1, compression=Compression.GZIP)
    b.append(0, None, bytes(8 * MIB))
    raw = b.build()
    with pytest.raises(CorruptRecordError, match="max_decompressed_bytes"):
        decode_batches(raw, max_decompressed_bytes=MIB)
    assert len(flatten(decode_batches(raw).batches)[0].value or b"") == 8 * MIB
