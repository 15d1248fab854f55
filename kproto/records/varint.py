# Theory of operation: stateless helpers for the zigzag varints of record v2. Encoding uses a
# table of pre-encoded small values (built once at import) because lengths and deltas are
# nearly always small; decoding of the common one- and two-byte cases is inlined by the batch
# decoder itself, which calls `read_uvarint` only for longer encodings.
"""Zigzag varint encoding and decoding (protobuf style, as used inside v2 records)."""

from __future__ import annotations

from kproto.errors import CorruptRecordError

__all__ = [
    "SMALL_MAX",
    "SMALL_VARINTS",
    "encode_varint",
    "read_uvarint",
    "read_varint",
    "size_of_varint",
]

_TABLE_LOW = -1
_TABLE_HIGH = 4096


def _encode_uvarint(u: int) -> bytes:
    out = bytearray()
    while u > 0x7F:
        out.append((u & 0x7F) | 0x80)
        u >>= 7
    out.append(u)
    return bytes(out)


def _zigzag(v: int) -> int:
    return (v << 1) ^ (v >> 63)


_SMALL: list[bytes] = [_encode_uvarint(_zigzag(v)) for v in range(_TABLE_LOW, _TABLE_HIGH)]
# For inlined lookups by hot callers: SMALL_VARINTS[v + 1] encodes v for -1 <= v < SMALL_MAX.
SMALL_VARINTS = _SMALL
SMALL_MAX = _TABLE_HIGH


def encode_varint(v: int, _small: list[bytes] = _SMALL) -> bytes:
    """Zigzag-encode a signed 64-bit value."""
    if -1 <= v < _TABLE_HIGH:
        return _small[v + 1]
    if not -(1 << 63) <= v < (1 << 63):
        raise ValueError(f"varint value {v} does not fit in 64 bits")
    return _encode_uvarint((v << 1) ^ (v >> 63))


def size_of_varint(v: int) -> int:
    """Encoded length of a zigzag varint, without encoding it."""
    u = (v << 1) ^ (v >> 63)
    n = 1
    while u > 0x7F:
        u >>= 7
        n += 1
    return n


def read_uvarint(buf: bytes, pos: int) -> tuple[int, int]:
    """Read an unsigned varint of at most 10 bytes; returns (value, next position).

    Running off the end of `buf` raises IndexError, which callers turn into their own error
    naming the batch; an over-long encoding is a CorruptRecordError here.
    """
    result = 0
    shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise CorruptRecordError("varint longer than 10 bytes")


def read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    """Read a zigzag varint; returns (signed value, next position)."""
    u, pos = read_uvarint(buf, pos)
    return (u >> 1) ^ -(u & 1), pos
