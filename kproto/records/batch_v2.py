# Theory of operation: decoding of one record batch of magic 2, given a buffer and the
# bounds of a complete batch in it (the reader has already checked the length field). No
# state survives a call. The header is one precompiled struct; the records are parsed by a
# single straight-line loop that handles one- and two-byte varints inline and compares raw
# zigzag values instead of decoding them where it can, because this loop is the consumer's
# hot path. Anything that does not add up raises CorruptRecordError naming the batch offset.
"""Record batch v2 decoding (the consumer's hot path)."""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Protocol

from kproto.errors import CorruptRecordError

from ._accel import speedups
from .codecs import decompress
from .model import (
    ATTR_COMPRESSION_MASK,
    ATTR_CONTROL,
    ATTR_TIMESTAMP_TYPE,
    ControlRecord,
    ControlType,
    Record,
    RecordBatch,
)
from .varint import read_uvarint

__all__ = [
    "BATCH_HEADER",
    "BATCH_HEADER_SIZE",
    "CRC_OFFSET",
    "ATTRIBUTES_OFFSET",
    "MIN_RECORD_SIZE",
    "decode_batch_v2",
]

# baseOffset, batchLength, partitionLeaderEpoch, magic, crc, attributes, lastOffsetDelta,
# baseTimestamp, maxTimestamp, producerId, producerEpoch, baseSequence, recordCount
BATCH_HEADER = struct.Struct(">qiibIhiqqqhii")
BATCH_HEADER_SIZE = BATCH_HEADER.size  # 61
CRC_OFFSET = 17
ATTRIBUTES_OFFSET = 21
# length varint + attributes + timestamp delta + offset delta + key len + value len + header count
MIN_RECORD_SIZE = 7



class _Crc32c(Protocol):
    def __call__(self, data: bytes | bytearray | memoryview, value: int = 0, /) -> int: ...


def _crc32c_first_use(data: bytes | bytearray | memoryview, value: int = 0) -> int:
    """Import the crc32c package on first use and bind its function as ``crc32c``.

    Importing the package costs more than the rest of kproto's record code (it reads its
    distribution metadata), so an import of kproto that never touches a v2 batch skips it;
    after the first checksum every call goes straight to the C function.
    """
    global crc32c
    from crc32c import crc32c as impl
    crc32c = impl
    return impl(data, value)


crc32c: _Crc32c = _crc32c_first_use
"""CRC-32C (Castagnoli), the v2 batch checksum; callers read it as ``batch_v2.crc32c``."""

_DecodeRecords = Callable[[bytes, int, int, int, int, int, "int | None"], "list[Record] | None"]
# The compiled twin of _decode_records (None when absent or KPROTO_PURE is set): it returns
# None for anything it cannot prove well formed, and then the pure loop runs and decides.
# Measured in docs/performance.md: about 3x the records per second of the pure loop.
decode_records_fast: _DecodeRecords | None = (
    speedups.decode_records if speedups is not None else None
)

_CONTROL_KEY = struct.Struct(">hh")
_MARKER_VALUE = struct.Struct(">hi")


class _Bad(Exception):
    """Internal: a record does not parse; turned into CorruptRecordError with the offset."""


def _decode_headers(
    buf: bytes, pos: int, rec_end: int
) -> tuple[tuple[tuple[str, bytes | None], ...], int]:
    count, pos = read_uvarint(buf, pos)
    if count & 1:
        raise _Bad("negative header count")
    count >>= 1
    if count > (rec_end - pos) >> 1:
        raise _Bad(f"header count {count} does not fit in the record")
    headers: list[tuple[str, bytes | None]] = []
    for _ in range(count):
        n, pos = read_uvarint(buf, pos)
        if n & 1:
            raise _Bad("negative header key length")
        n >>= 1
        if pos + n > rec_end:
            raise _Bad("header key runs past the record")
        hkey = buf[pos : pos + n].decode("utf-8", "surrogateescape")
        pos += n
        n, pos = read_uvarint(buf, pos)
        if n == 1:
            hval: bytes | None = None
        elif n & 1:
            raise _Bad("negative header value length")
        else:
            n >>= 1
            if pos + n > rec_end:
                raise _Bad("header value runs past the record")
            hval = buf[pos : pos + n]
            pos += n
        headers.append((hkey, hval))
    return tuple(headers), pos


def _decode_records(
    buf: bytes,
    pos: int,
    end: int,
    count: int,
    base_offset: int,
    base_ts: int,
    append_time: int | None,
) -> list[Record]:
    """Parse `count` records from buf[pos:end]; the records must fill it exactly."""
    records: list[Record] = []
    add = records.append
    new = tuple.__new__
    rec_cls = Record
    uvarint = read_uvarint
    no_headers: tuple[tuple[str, bytes | None], ...] = ()
    try:
        for _ in range(count):
            # length (zigzag); raw value 2*n for a non-negative n
            b = buf[pos]
            if b < 0x80:
                u = b
                pos += 1
            else:
                b2 = buf[pos + 1]
                if b2 < 0x80:
                    u = (b & 0x7F) | (b2 << 7)
                    pos += 2
                else:
                    u, pos = uvarint(buf, pos)
            if u & 1:
                raise _Bad("negative record length")
            rec_end = pos + (u >> 1)
            if rec_end > end:
                raise _Bad("record runs past the end of the batch")
            # attributes (unused), then the timestamp delta
            b = buf[pos + 1]
            if b < 0x80:
                td = b
                pos += 2
            else:
                b2 = buf[pos + 2]
                if b2 < 0x80:
                    td = (b & 0x7F) | (b2 << 7)
                    pos += 3
                else:
                    td, pos = uvarint(buf, pos + 1)
            # offset delta
            b = buf[pos]
            if b < 0x80:
                od = b
                pos += 1
            else:
                b2 = buf[pos + 1]
                if b2 < 0x80:
                    od = (b & 0x7F) | (b2 << 7)
                    pos += 2
                else:
                    od, pos = uvarint(buf, pos)
            # key: raw 1 is -1 (null); other odd raw values are negative lengths
            b = buf[pos]
            if b < 0x80:
                u = b
                pos += 1
            else:
                b2 = buf[pos + 1]
                if b2 < 0x80:
                    u = (b & 0x7F) | (b2 << 7)
                    pos += 2
                else:
                    u, pos = uvarint(buf, pos)
            if u & 1:
                if u != 1:
                    raise _Bad("negative key length")
                key = None
            else:
                u = pos + (u >> 1)
                key = buf[pos:u]
                pos = u
            # value
            b = buf[pos]
            if b < 0x80:
                u = b
                pos += 1
            else:
                b2 = buf[pos + 1]
                if b2 < 0x80:
                    u = (b & 0x7F) | (b2 << 7)
                    pos += 2
                else:
                    u, pos = uvarint(buf, pos)
            if u & 1:
                if u != 1:
                    raise _Bad("negative value length")
                value = None
            else:
                u = pos + (u >> 1)
                value = buf[pos:u]
                pos = u
            # headers
            if buf[pos] == 0:
                headers = no_headers
                pos += 1
            else:
                headers, pos = _decode_headers(buf, pos, rec_end)
            if pos != rec_end:
                raise _Bad("record length does not match its fields")
            add(
                new(
                    rec_cls,
                    (
                        base_offset + ((od >> 1) ^ -(od & 1)),
                        base_ts + ((td >> 1) ^ -(td & 1)) if append_time is None else append_time,
                        key,
                        value,
                        headers,
                    ),
                )
            )
    except IndexError:
        raise _Bad("record is truncated") from None
    if pos != end:
        raise _Bad(f"{end - pos} bytes left after the last of {count} records")
    return records


def _control_records(records: list[Record]) -> list[ControlRecord]:
    out: list[ControlRecord] = []
    for r in records:
        key = r.key
        if key is None or len(key) < 4:
            raise _Bad("control record key is shorter than 4 bytes")
        key_version, ctype = _CONTROL_KEY.unpack_from(key)
        version = coordinator_epoch = -1
        if ctype in (ControlType.ABORT, ControlType.COMMIT):
            value = r.value
            if value is None or len(value) < 6:
                raise _Bad("end transaction marker value is shorter than 6 bytes")
            version, coordinator_epoch = _MARKER_VALUE.unpack_from(value)
        out.append(
            ControlRecord(
                r.offset, r.timestamp, ctype, key_version, version, coordinator_epoch, key, r.value
            )
        )
    return out


def decode_batch_v2(
    data: bytes, start: int, end: int, check_crcs: bool, max_decompressed_bytes: int
) -> RecordBatch:
    """Decode the complete magic 2 batch at data[start:end]."""
    (
        base_offset,
        batch_length,
        leader_epoch,
        magic,
        crc,
        attributes,
        last_offset_delta,
        base_ts,
        max_ts,
        producer_id,
        producer_epoch,
        base_sequence,
        count,
    ) = BATCH_HEADER.unpack_from(data, start)
    if check_crcs:
        computed = crc32c(memoryview(data)[start + ATTRIBUTES_OFFSET : end])
        if computed != crc:
            raise CorruptRecordError(
                f"record batch at offset {base_offset}: CRC32C mismatch "
                f"(stored {crc:#010x}, computed {computed:#010x})"
            )
    codec = attributes & ATTR_COMPRESSION_MASK
    append_time = max_ts if attributes & ATTR_TIMESTAMP_TYPE else None
    try:
        if count < 0:
            raise _Bad(f"negative record count {count}")
        if codec:
            try:
                buf = decompress(
                    codec,
                    memoryview(data)[start + BATCH_HEADER_SIZE : end],
                    magic=2,
                    max_bytes=max_decompressed_bytes,
                )
            except CorruptRecordError as exc:
                raise _Bad(str(exc)) from None
            pos = 0
            rec_end = len(buf)
        else:
            buf = data
            pos = start + BATCH_HEADER_SIZE
            rec_end = end
        if count > (rec_end - pos) // MIN_RECORD_SIZE:
            raise _Bad(f"record count {count} does not fit in {rec_end - pos} bytes")
        fast = decode_records_fast
        records = (
            None
            if fast is None
            else fast(buf, pos, rec_end, count, base_offset, base_ts, append_time)
        )
        if records is None:
            records = _decode_records(
                buf, pos, rec_end, count, base_offset, base_ts, append_time
            )
        control: list[ControlRecord] = []
        if attributes & ATTR_CONTROL:
            control = _control_records(records)
            records = []
    except _Bad as exc:
        raise CorruptRecordError(f"record batch at offset {base_offset}: {exc}") from None
    except CorruptRecordError as exc:
        raise CorruptRecordError(f"record batch at offset {base_offset}: {exc}") from None
    return RecordBatch(
        base_offset,
        batch_length,
        leader_epoch,
        magic,
        crc,
        attributes,
        last_offset_delta,
        base_ts,
        max_ts,
        producer_id,
        producer_epoch,
        base_sequence,
        count,
        records,
        control,
    )
