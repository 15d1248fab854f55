# Theory of operation: stateless compress/decompress functions, one pair per Kafka codec.
# Compression writes what the Java client writes (gzip; xerial-framed snappy for legacy
# message sets and raw snappy for v2; LZ4 frames without content size in 64 KiB independent
# blocks; zstd). Decompression accepts every framing a peer may send and is always
# incremental with a byte budget, so a decompression bomb stops at `max_bytes` plus one
# chunk instead of exhausting memory. Every codec failure leaves as CorruptRecordError.
"""Kafka's four compression codecs with capped, streaming decompression."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable

import lz4.frame as _lz4f  # type: ignore[import-untyped]
import snappy as _snappy  # type: ignore[import-untyped]
import zstandard as _zstd

from kproto.errors import CorruptRecordError

from .model import Compression
from .xxhash32 import xxh32

Buffer = bytes | memoryview

__all__ = [
    "DEFAULT_MAX_DECOMPRESSED_BYTES",
    "XERIAL_HEADER",
    "compress",
    "decompress",
    "lz4_header_checksum",
]

DEFAULT_MAX_DECOMPRESSED_BYTES = 128 * 1024 * 1024
"""Default cap on the decompressed size of one batch (or one legacy wrapper)."""

_CHUNK = 256 * 1024

# snappy-java's stream header: marker byte, "SNAPPY", NUL, version 1, compatible version 1.
_XERIAL_MAGIC = b"\x82SNAPPY\x00"
XERIAL_HEADER = _XERIAL_MAGIC + struct.pack(">ii", 1, 1)
_XERIAL_BLOCK = 32 * 1024
_U32BE = struct.Struct(">I")

_LZ4_MAGIC = b"\x04\x22\x4d\x18"

# The best zstd expansion is an RLE block: four input bytes for a 128 KiB block.
_ZSTD_MAX_RATIO = 32768
_ZSTD_BLOCK = 128 * 1024


def _fail(codec: str, what: str) -> CorruptRecordError:
    return CorruptRecordError(f"{codec} decompression failed: {what}")


def _too_big(codec: str, max_bytes: int) -> CorruptRecordError:
    return CorruptRecordError(
        f"{codec} data decompresses to more than max_decompressed_bytes={max_bytes}"
    )


# ---------------------------------------------------------------- compression


def _gzip_compress(data: bytes, level: int | None) -> bytes:
    c = zlib.compressobj(-1 if level is None else level, zlib.DEFLATED, 31)
    return c.compress(data) + c.flush()


def _snappy_compress_raw(data: bytes) -> bytes:
    return bytes(_snappy.compress(data))


def _snappy_compress_xerial(data: bytes) -> bytes:
    parts = [XERIAL_HEADER]
    for i in range(0, len(data), _XERIAL_BLOCK):
        block = bytes(_snappy.compress(data[i : i + _XERIAL_BLOCK]))
        parts.append(_U32BE.pack(len(block)))
        parts.append(block)
    return b"".join(parts)


def lz4_header_checksum(header: Buffer, *, broken: bool) -> int:
    """The HC byte of an LZ4 frame whose magic + descriptor (without HC) is `header`.

    The frame format hashes the descriptor only. Kafka before KIP-57 hashed the magic
    number too, and magic 0 message sets still carry that value.
    """
    covered = bytes(header if broken else header[4:])
    return (xxh32(covered) >> 8) & 0xFF


def _lz4_descriptor_length(frame: Buffer) -> int:
    flg = frame[4]
    return 2 + (8 if flg & 0x08 else 0) + (4 if flg & 0x01 else 0)


def _lz4_compress(data: bytes, level: int | None, magic: int) -> bytes:
    out = _lz4f.compress(
        data,
        compression_level=0 if level is None else level,
        block_size=_lz4f.BLOCKSIZE_MAX64KB,
        block_linked=False,
        content_checksum=False,
        block_checksum=False,
        store_size=False,
    )
    if magic == 0:
        hc_pos = 4 + _lz4_descriptor_length(out)
        fixed = bytearray(out)
        fixed[hc_pos] = lz4_header_checksum(out[:hc_pos], broken=True)
        out = bytes(fixed)
    return bytes(out)


def _zstd_compress(data: bytes, level: int | None) -> bytes:
    return _zstd.ZstdCompressor(level=3 if level is None else level).compress(data)


def compress(codec: Compression, data: bytes, level: int | None = None, *, magic: int = 2) -> bytes:
    """Compress `data` the way the Java client does for a batch of this magic."""
    if codec == Compression.GZIP:
        return _gzip_compress(data, level)
    if codec == Compression.SNAPPY:
        return _snappy_compress_raw(data) if magic >= 2 else _snappy_compress_xerial(data)
    if codec == Compression.LZ4:
        return _lz4_compress(data, level, magic)
    if codec == Compression.ZSTD:
        if magic < 2:
            raise ValueError("zstd needs record batch magic 2")
        return _zstd_compress(data, level)
    if codec == Compression.NONE:
        return data
    raise ValueError(f"unknown compression codec {codec!r}")


# -------------------------------------------------------------- decompression


def _gzip_decompress(data: Buffer, max_bytes: int) -> bytes:
    out: list[bytes] = []
    total = 0
    d = zlib.decompressobj(47)  # gzip or zlib header, detected
    buf: Buffer = data
    try:
        while True:
            chunk = d.decompress(buf, _CHUNK)
            if chunk:
                total += len(chunk)
                if total > max_bytes:
                    raise _too_big("gzip", max_bytes)
                out.append(chunk)
            if d.eof:
                rest = d.unused_data
                if rest[:2] == b"\x1f\x8b":  # another gzip member follows
                    d = zlib.decompressobj(47)
                    buf = rest
                    continue
                break  # like GZIPInputStream, bytes after the last member are ignored
            tail = d.unconsumed_tail
            if not chunk and not tail and not buf:
                raise _fail("gzip", "stream is truncated")
            buf = tail
    except zlib.error as exc:
        raise _fail("gzip", str(exc)) from None
    return b"".join(out)


def _read_snappy_preamble(data: Buffer, start: int, end: int) -> int:
    """Uncompressed length stored at the front of a raw snappy block."""
    result = 0
    shift = 0
    pos = start
    while pos < end and shift < 35:
        b = data[pos]
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result
        pos += 1
        shift += 7
    raise _fail("snappy", "bad block length preamble")


def _snappy_block(data: Buffer, start: int, end: int, budget: int, max_bytes: int) -> bytes:
    size = _read_snappy_preamble(data, start, end)
    if size > budget:
        raise _too_big("snappy", max_bytes)
    try:
        out = bytes(_snappy.uncompress(data[start:end]))
    except Exception as exc:  # the codec library raises its own types
        raise _fail("snappy", str(exc) or type(exc).__name__) from None
    if len(out) != size:
        raise _fail("snappy", "block length does not match its preamble")
    return out


def _snappy_decompress(data: Buffer, max_bytes: int) -> bytes:
    n = len(data)
    if data[:8] != _XERIAL_MAGIC:
        return _snappy_block(data, 0, n, max_bytes, max_bytes)
    if n < 16:
        raise _fail("snappy", "xerial header is truncated")
    pos = 16
    out: list[bytes] = []
    total = 0
    while pos < n:
        if pos + 4 > n:
            raise _fail("snappy", "xerial block length is truncated")
        (length,) = _U32BE.unpack_from(data, pos)
        pos += 4
        if length > n - pos:
            raise _fail("snappy", "xerial block is truncated")
        block = _snappy_block(data, pos, pos + length, max_bytes - total, max_bytes)
        total += len(block)
        out.append(block)
        pos += length
    return b"".join(out)


def _lz4_decompress(data: Buffer, max_bytes: int, magic: int) -> bytes:
    if data[:4] != _LZ4_MAGIC or len(data) < 7:
        raise _fail("lz4", "not an LZ4 frame")
    if magic == 0:
        # Kafka ignores the header checksum of magic 0 frames (it was computed wrongly);
        # rewrite it to the correct value so the frame decoder accepts it.
        hc_pos = 4 + _lz4_descriptor_length(data)
        if hc_pos >= len(data):
            raise _fail("lz4", "frame descriptor is truncated")
        fixed = bytearray(data)
        fixed[hc_pos] = lz4_header_checksum(data[:hc_pos], broken=False)
        data = bytes(fixed)
    out: list[bytes] = []
    total = 0
    d = _lz4f.LZ4FrameDecompressor()
    try:
        chunk = d.decompress(data, max_length=_CHUNK)
        while True:
            total += len(chunk)
            if total > max_bytes:
                raise _too_big("lz4", max_bytes)
            out.append(chunk)
            if d.eof:
                break
            if d.needs_input:
                raise _fail("lz4", "frame is truncated")
            chunk = d.decompress(b"", max_length=_CHUNK)
    except RuntimeError as exc:  # lz4.frame reports bad frames as RuntimeError
        raise _fail("lz4", str(exc)) from None
    return b"".join(out)


def _zstd_window_limit(max_bytes: int) -> int:
    # Allow the window sizes real encoders pick (up to 8 MiB at level 19) even under a small
    # cap, and never more than zstd's own default limit.
    return 1 << max(23, min(27, max_bytes.bit_length()))


def _zstd_decompress(data: Buffer, max_bytes: int) -> bytes:
    # The input is fed in slices small enough that even all-RLE blocks cannot overshoot the
    # remaining budget by more than a couple of blocks; frames without a content size
    # (what Java's streaming encoder writes) work the same way as frames with one.
    out: list[bytes] = []
    total = 0
    dctx = _zstd.ZstdDecompressor(max_window_size=_zstd_window_limit(max_bytes))
    n = len(data)
    pos = 0
    try:
        while pos < n:
            d = dctx.decompressobj(write_size=_CHUNK)
            while True:
                end = min(n, pos + max(64, (max_bytes - total) // _ZSTD_MAX_RATIO))
                chunk = d.decompress(data[pos:end])
                pos = end
                if chunk:
                    total += len(chunk)
                    if total > max_bytes:
                        raise _too_big("zstd", max_bytes)
                    out.append(chunk)
                if d.eof:
                    pos -= len(d.unused_data)
                    break
                if pos >= n:
                    raise _fail("zstd", "frame is truncated")
    except _zstd.ZstdError as exc:
        raise _fail("zstd", str(exc)) from None
    return b"".join(out)


_DECOMPRESSORS: dict[int, Callable[[Buffer, int], bytes]] = {
    Compression.GZIP: _gzip_decompress,
    Compression.SNAPPY: _snappy_decompress,
    Compression.ZSTD: _zstd_decompress,
}


def decompress(codec: int, data: Buffer, *, magic: int, max_bytes: int) -> bytes:
    """Decompress a batch payload; never holds much more than `max_bytes` of output."""
    if codec == Compression.LZ4:
        return _lz4_decompress(data, max_bytes, magic)
    fn = _DECOMPRESSORS.get(codec)
    if fn is None:
        raise CorruptRecordError(f"unknown compression codec id {codec}")
    return fn(data, max_bytes)
