# Theory of operation: the message sets of magic 0 and 1, which brokers before 0.11 store and
# which Produce v0-v2 carry. Decoding turns one log entry (a plain message, or a compressed
# wrapper whose value is an inner message set) into a RecordBatch; encoding is done by
# `LegacyEncoder`, which accumulates messages and renders them, wrapped when compressed.
# Offsets inside a magic 1 wrapper are relative (the last inner offset equals the wrapper's
# offset); inside a magic 0 wrapper they are absolute. A magic 1 wrapper with
# LogAppendTime overrides every inner timestamp. CRC32 (zlib) covers magic..end of value.
"""Legacy message sets (magic 0 and 1): decode and encode."""

from __future__ import annotations

import struct
import zlib

from kproto.errors import CorruptRecordError

from .codecs import compress, decompress
from .model import (
    ATTR_COMPRESSION_MASK,
    ATTR_TIMESTAMP_TYPE,
    NO_PRODUCER_EPOCH,
    NO_PRODUCER_ID,
    NO_SEQUENCE,
    NO_TIMESTAMP,
    Compression,
    Record,
    RecordBatch,
)

__all__ = [
    "LegacyEncoder",
    "MESSAGE_OVERHEAD",
    "decode_legacy_entry",
]

# offset, message size, crc, magic, attributes
_ENTRY = struct.Struct(">qiIbb")
_TIMESTAMP = struct.Struct(">q")
_LEN = struct.Struct(">i")
_I32 = _LEN.unpack_from
_I64 = _TIMESTAMP.unpack_from

# bytes of a message (after offset and size) without key and value: crc, magic, attributes,
# [timestamp], key length, value length
MESSAGE_OVERHEAD = {0: 14, 1: 22}
_LOG_OVERHEAD = 12


class _Bad(Exception):
    pass


def _read_bytes(data: bytes, pos: int, end: int, what: str) -> tuple[bytes | None, int]:
    if pos + 4 > end:
        raise _Bad(f"{what} length runs past the message")
    (n,) = _I32(data, pos)
    pos += 4
    if n < 0:
        if n != -1:
            raise _Bad(f"negative {what} length {n}")
        return None, pos
    if n > end - pos:
        raise _Bad(f"{what} runs past the message")
    return data[pos : pos + n], pos + n


def _parse_message(
    data: bytes, start: int, end: int, check_crcs: bool
) -> tuple[int, int, int, int, int, bytes | None, bytes | None]:
    """Parse the message at data[start:end] (offset and size included).

    Returns (offset, crc, magic, attributes, timestamp, key, value).
    """
    offset, _size, crc, magic, attributes = _ENTRY.unpack_from(data, start)
    if magic not in (0, 1):
        raise _Bad(f"unsupported message magic {magic}")
    if end - start - _LOG_OVERHEAD < MESSAGE_OVERHEAD[magic]:
        raise _Bad(f"message size is below the minimum for magic {magic}")
    if check_crcs:
        computed = zlib.crc32(memoryview(data)[start + 16 : end])
        if computed != crc:
            raise _Bad(f"CRC32 mismatch (stored {crc:#010x}, computed {computed:#010x})")
    pos = start + 18
    if magic == 1:
        (timestamp,) = _I64(data, pos)
        pos += 8
    else:
        timestamp = NO_TIMESTAMP
    key, pos = _read_bytes(data, pos, end, "key")
    value, pos = _read_bytes(data, pos, end, "value")
    if pos != end:
        raise _Bad(f"{end - pos} bytes after the message value")
    return offset, crc, magic, attributes, timestamp, key, value


def _inner_records(
    wrapper_offset: int,
    wrapper_magic: int,
    wrapper_attributes: int,
    wrapper_timestamp: int,
    payload: bytes,
    check_crcs: bool,
) -> list[Record]:
    n = len(payload)
    pos = 0
    items: list[tuple[int, int, bytes | None, bytes | None]] = []
    while pos < n:
        if n - pos < _LOG_OVERHEAD:
            raise _Bad("inner message set ends with a partial message")
        (size,) = _I32(payload, pos + 8)
        if size < MESSAGE_OVERHEAD[0] or size > n - pos - _LOG_OVERHEAD:
            raise _Bad(f"inner message size {size} is out of range")
        end = pos + _LOG_OVERHEAD + size
        offset, _crc, _magic, attributes, timestamp, key, value = _parse_message(
            payload, pos, end, check_crcs
        )
        if attributes & ATTR_COMPRESSION_MASK:
            raise _Bad("inner message is itself compressed")
        items.append((offset, timestamp, key, value))
        pos = end
    if not items:
        raise _Bad("compressed wrapper holds no messages")
    # A wrapper that has not been through a broker (a Produce request) has offset 0 with
    # inner offsets 0..n-1; like the Java client, inner offsets are then taken as they are.
    base = wrapper_offset - items[-1][0] if wrapper_magic >= 1 else 0
    if base < 0:
        base = 0
    if wrapper_magic >= 1 and wrapper_attributes & ATTR_TIMESTAMP_TYPE:
        return [Record(base + o, wrapper_timestamp, k, v, ()) for o, _t, k, v in items]
    return [Record(base + o, t, k, v, ()) for o, t, k, v in items]


def decode_legacy_entry(
    data: bytes, start: int, end: int, check_crcs: bool, max_decompressed_bytes: int
) -> RecordBatch:
    """Decode the complete magic 0/1 log entry at data[start:end]."""
    (entry_offset,) = _I64(data, start)
    try:
        offset, crc, magic, attributes, timestamp, key, value = _parse_message(
            data, start, end, check_crcs
        )
        codec = attributes & ATTR_COMPRESSION_MASK
        if codec == Compression.NONE:
            records = [Record(offset, timestamp, key, value, ())]
        else:
            if value is None:
                raise _Bad("compressed wrapper has a null value")
            try:
                payload = decompress(codec, value, magic=magic, max_bytes=max_decompressed_bytes)
            except CorruptRecordError as exc:
                raise _Bad(str(exc)) from None
            records = _inner_records(offset, magic, attributes, timestamp, payload, check_crcs)
    except _Bad as exc:
        raise CorruptRecordError(f"message at offset {entry_offset}: {exc}") from None
    base_offset = records[0].offset
    return RecordBatch(
        base_offset,
        end - start - _LOG_OVERHEAD,
        -1,
        magic,
        crc,
        attributes,
        offset - base_offset,
        timestamp,
        timestamp,
        NO_PRODUCER_ID,
        NO_PRODUCER_EPOCH,
        NO_SEQUENCE,
        len(records),
        records,
        [],
    )


def _bytes_field(b: bytes | None) -> bytes:
    if b is None:
        return b"\xff\xff\xff\xff"
    return _LEN.pack(len(b)) + bytes(b)


def encode_message(
    magic: int, offset: int, attributes: int, timestamp: int, key: bytes | None, value: bytes | None
) -> bytes:
    """One legacy message with its offset and size prefix."""
    if magic == 1:
        body = struct.pack(">bbq", 1, attributes, timestamp)
    else:
        body = struct.pack(">bb", 0, attributes)
    body += _bytes_field(key) + _bytes_field(value)
    return struct.pack(">qiI", offset, 4 + len(body), zlib.crc32(body)) + body


def message_size(magic: int, key: bytes | None, value: bytes | None) -> int:
    """Bytes one message occupies in a message set, offset and size prefix included."""
    return (
        _LOG_OVERHEAD
        + MESSAGE_OVERHEAD[magic]
        + (0 if key is None else len(key))
        + (0 if value is None else len(value))
    )


class LegacyEncoder:
    """Accumulates messages of magic 0 or 1 and renders a message set.

    Uncompressed sets carry offsets base_offset, base_offset+1, ...; a compressed set is one
    wrapper message at the last offset whose inner offsets are relative (magic 1) or
    absolute (magic 0), as the Java client writes them.
    """

    __slots__ = ("_base_offset", "_codec", "_level", "_magic", "_max_ts", "_messages")

    def __init__(self, magic: int, codec: Compression, level: int | None, base_offset: int):
        if magic not in (0, 1):
            raise ValueError(f"legacy message sets have magic 0 or 1, not {magic}")
        if codec == Compression.ZSTD:
            raise ValueError("zstd needs record batch magic 2")
        self._magic = magic
        self._codec = codec
        self._level = level
        self._base_offset = base_offset
        self._messages: list[bytes] = []
        self._max_ts = NO_TIMESTAMP

    def append(self, timestamp: int, key: bytes | None, value: bytes | None) -> int:
        """Add a message; returns the bytes it added."""
        magic = self._magic
        i = len(self._messages)
        if self._codec != Compression.NONE and magic == 1:
            offset = i
        else:
            offset = self._base_offset + i
        if magic == 1 and (i == 0 or timestamp > self._max_ts):
            self._max_ts = timestamp
        msg = encode_message(magic, offset, 0, timestamp if magic == 1 else 0, key, value)
        self._messages.append(msg)
        return len(msg)

    def wrapper_overhead(self) -> int:
        return (
            0 if self._codec == Compression.NONE else _LOG_OVERHEAD + MESSAGE_OVERHEAD[self._magic]
        )

    def build(self) -> bytes:
        inner = b"".join(self._messages)
        if self._codec == Compression.NONE or not self._messages:
            return inner
        payload = compress(self._codec, inner, self._level, magic=self._magic)
        last = self._base_offset + len(self._messages) - 1
        return encode_message(self._magic, last, int(self._codec), self._max_ts, None, payload)
