# Theory of operation: a BatchBuilder owns the records appended to one batch until build().
# For magic 2 each append encodes its record at once into a growing buffer, so the size
# estimate is a running sum (O(1)) and build() only compresses and writes the 61-byte header
# with its CRC32C. For magic 0/1 it delegates to the legacy encoder. Functions below patch
# fields of already built v2 batches (producer state, base offset) without re-encoding the
# records, which is what a producer needs when it re-sends after an epoch bump.
"""Building record batches (v2) and message sets (v0/v1) for Produce requests."""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable

from . import batch_v2
from ._accel import speedups
from .batch_v2 import ATTRIBUTES_OFFSET, BATCH_HEADER_SIZE, CRC_OFFSET
from .codecs import compress
from .legacy import LegacyEncoder, message_size
from .model import (
    ATTR_CONTROL,
    ATTR_TIMESTAMP_TYPE,
    ATTR_TRANSACTIONAL,
    NO_TIMESTAMP,
    Compression,
    ControlType,
    TimestampType,
)
from .varint import SMALL_MAX as _SMALL_MAX
from .varint import SMALL_VARINTS as _SMALL
from .varint import encode_varint

__all__ = [
    "DEFAULT_MAX_BATCH_BYTES",
    "BatchBuilder",
    "build_control_batch",
    "set_base_offset",
    "set_producer_state",
]

DEFAULT_MAX_BATCH_BYTES = 1024 * 1024

# baseOffset, batchLength, partitionLeaderEpoch, magic, crc
_PREFIX = struct.Struct(">qiibI")
# attributes .. recordCount: the part the CRC covers before the records
_CRC_HEADER = struct.Struct(">hiqqqhii")
_PRODUCER_STATE = struct.Struct(">qhi")
_PRODUCER_STATE_OFFSET = 43
_CRC = struct.Struct(">I")
_BASE_OFFSET = struct.Struct(">q")

Headers = Iterable[tuple[str, bytes | None]]


def _encode_headers(headers: Headers) -> bytes:
    items = list(headers)
    parts = [encode_varint(len(items))]
    for hkey, hval in items:
        kb = hkey.encode("utf-8", "surrogateescape")
        parts.append(encode_varint(len(kb)))
        parts.append(kb)
        if hval is None:
            parts.append(b"\x01")
        else:
            parts.append(encode_varint(len(hval)))
            parts.append(bytes(hval))
    return b"".join(parts)


def _encode_record(
    delta: int, count: int, key: bytes | None, value: bytes | None, headers: Headers
) -> bytes:
    """One v2 record: length, attributes, timestamp delta, offset delta, key, value, headers.

    The reference encoder; `encode_record_fast` is its compiled twin. Lengths and deltas
    below 4096 come from a table of pre-encoded varints (no loop).
    """
    small = _SMALL
    enc = encode_varint
    if key is None:
        kpart = b"\x01"
    else:
        n = len(key)
        kpart = (small[n + 1] if n < _SMALL_MAX else enc(n)) + key
    if value is None:
        vpart = b"\x01"
    else:
        n = len(value)
        vpart = (small[n + 1] if n < _SMALL_MAX else enc(n)) + value
    body = (
        b"\x00"  # record attributes
        + (small[delta + 1] if -1 <= delta < _SMALL_MAX else enc(delta))
        + (small[count + 1] if count < _SMALL_MAX else enc(count))
        + kpart
        + vpart
        + (_encode_headers(headers) if headers else b"\x00")
    )
    n = len(body)
    return (small[n + 1] if n < _SMALL_MAX else enc(n)) + body


_EncodeRecord = Callable[[int, int, "bytes | None", "bytes | None", Headers], "bytes | None"]
# The compiled twin of _encode_record (None when absent or KPROTO_PURE is set): it returns
# None for arguments of types it does not handle, and then the pure encoder runs.
encode_record_fast: _EncodeRecord | None = (
    speedups.encode_record if speedups is not None else None
)


class BatchBuilder:
    """Accumulates records for one partition and renders one batch.

    `append` returns False when the record would push the batch over `max_bytes`; the first
    record is always accepted, however large. Sizes are counted before compression, so
    `estimated_size` is an upper bound of the built size for all practical inputs.
    Magic 0 and 1 produce legacy message sets (no headers, no producer state).
    """

    __slots__ = (
        "_base_offset",
        "_base_sequence",
        "_base_ts",
        "_buf",
        "_compression",
        "_count",
        "_legacy",
        "_level",
        "_magic",
        "_max_bytes",
        "_max_ts",
        "_partition_leader_epoch",
        "_producer_epoch",
        "_producer_id",
        "_size",
        "_timestamp_type",
        "_transactional",
    )

    def __init__(
        self,
        magic: int = 2,
        compression: Compression = Compression.NONE,
        level: int | None = None,
        base_offset: int = 0,
        producer_id: int = -1,
        producer_epoch: int = -1,
        base_sequence: int = -1,
        transactional: bool = False,
        partition_leader_epoch: int = -1,
        max_bytes: int = DEFAULT_MAX_BATCH_BYTES,
        timestamp_type: TimestampType = TimestampType.CREATE_TIME,
    ) -> None:
        compression = Compression(compression)
        self._magic = magic
        self._compression = compression
        self._level = level
        self._base_offset = base_offset
        self._producer_id = producer_id
        self._producer_epoch = producer_epoch
        self._base_sequence = base_sequence
        self._transactional = transactional
        self._partition_leader_epoch = partition_leader_epoch
        self._max_bytes = max_bytes
        self._timestamp_type = TimestampType(timestamp_type)
        self._count = 0
        self._base_ts = NO_TIMESTAMP
        self._max_ts = NO_TIMESTAMP
        self._buf = bytearray()
        self._legacy: LegacyEncoder | None = None
        if magic == 2:
            self._size = BATCH_HEADER_SIZE
            if transactional and producer_id < 0:
                raise ValueError("a transactional batch needs a producer id")
        elif magic in (0, 1):
            if producer_id != -1 or transactional or base_sequence != -1:
                raise ValueError(f"magic {magic} message sets carry no producer state")
            self._legacy = LegacyEncoder(magic, compression, level, base_offset)
            self._size = self._legacy.wrapper_overhead()
        else:
            raise ValueError(f"unsupported magic {magic}")

    @property
    def magic(self) -> int:
        return self._magic

    @property
    def compression(self) -> Compression:
        return self._compression

    @property
    def record_count(self) -> int:
        return self._count

    @property
    def estimated_size(self) -> int:
        """Bytes of the batch so far, counted uncompressed (O(1))."""
        return self._size

    @property
    def max_timestamp(self) -> int:
        return self._max_ts

    def append(
        self,
        timestamp: int,
        key: bytes | None,
        value: bytes | None,
        headers: Headers = (),
    ) -> bool:
        """Add one record; False (and nothing added) if it would exceed `max_bytes`."""
        count = self._count
        legacy = self._legacy
        if legacy is not None:
            if headers:
                raise ValueError(f"magic {self._magic} messages cannot carry headers")
            size = message_size(self._magic, key, value)
            if count and self._size + size > self._max_bytes:
                return False
            legacy.append(timestamp, key, value)
        else:
            delta = timestamp - self._base_ts if count else 0
            fast = encode_record_fast
            record = None if fast is None else fast(delta, count, key, value, headers)
            if record is None:
                record = _encode_record(delta, count, key, value, headers)
            size = len(record)
            if count and self._size + size > self._max_bytes:
                return False
            self._buf += record
        if count == 0:
            self._base_ts = self._max_ts = timestamp
        elif timestamp > self._max_ts:
            self._max_ts = timestamp
        self._count = count + 1
        self._size += size
        return True

    def build(self) -> bytes:
        """Render the batch. A v2 builder with no records renders b'' (nothing to send)."""
        if self._legacy is not None:
            return self._legacy.build()
        count = self._count
        if count == 0:
            return b""
        codec = self._compression
        records = bytes(self._buf)
        payload = compress(codec, records, self._level, magic=2) if codec else records
        attributes = int(codec)
        if self._transactional:
            attributes |= ATTR_TRANSACTIONAL
        if self._timestamp_type == TimestampType.LOG_APPEND_TIME:
            attributes |= ATTR_TIMESTAMP_TYPE
        return _render_v2(
            self._base_offset,
            self._partition_leader_epoch,
            attributes,
            count - 1,
            self._base_ts,
            self._max_ts,
            self._producer_id,
            self._producer_epoch,
            self._base_sequence,
            count,
            payload,
        )


def _render_v2(
    base_offset: int,
    partition_leader_epoch: int,
    attributes: int,
    last_offset_delta: int,
    base_ts: int,
    max_ts: int,
    producer_id: int,
    producer_epoch: int,
    base_sequence: int,
    count: int,
    payload: bytes,
) -> bytes:
    header = _CRC_HEADER.pack(
        attributes,
        last_offset_delta,
        base_ts,
        max_ts,
        producer_id,
        producer_epoch,
        base_sequence,
        count,
    )
    crc = batch_v2.crc32c(payload, batch_v2.crc32c(header))
    prefix = _PREFIX.pack(
        base_offset, BATCH_HEADER_SIZE - 12 + len(payload), partition_leader_epoch, 2, crc
    )
    return prefix + header + payload


def _check_v2(batch: bytes | bytearray) -> None:
    if len(batch) < BATCH_HEADER_SIZE or batch[16] != 2:
        raise ValueError("not a record batch of magic 2")


def set_producer_state(
    batch: bytes | bytearray, producer_id: int, producer_epoch: int, base_sequence: int
) -> bytes:
    """Return a copy of a built v2 batch with new producer id, epoch and base sequence.

    Only those fields and the CRC change; the records are not re-encoded.
    """
    _check_v2(batch)
    out = bytearray(batch)
    _PRODUCER_STATE.pack_into(
        out, _PRODUCER_STATE_OFFSET, producer_id, producer_epoch, base_sequence
    )
    _CRC.pack_into(out, CRC_OFFSET, batch_v2.crc32c(memoryview(out)[ATTRIBUTES_OFFSET:]))
    return bytes(out)


def set_base_offset(batch: bytes | bytearray, base_offset: int) -> bytes:
    """Return a copy of a built v2 batch with a new base offset (outside the CRC)."""
    _check_v2(batch)
    out = bytearray(batch)
    _BASE_OFFSET.pack_into(out, 0, base_offset)
    return bytes(out)


def build_control_batch(
    *,
    commit: bool,
    producer_id: int,
    producer_epoch: int,
    timestamp: int,
    coordinator_epoch: int = 0,
    base_offset: int = 0,
    partition_leader_epoch: int = -1,
) -> bytes:
    """A transaction marker batch, as a transaction coordinator has a leader write it."""
    key = struct.pack(">hh", 0, ControlType.COMMIT if commit else ControlType.ABORT)
    value = struct.pack(">hi", 0, coordinator_epoch)
    body = (
        b"\x00\x00\x00"
        + encode_varint(len(key))
        + key
        + encode_varint(len(value))
        + value
        + b"\x00"
    )
    record = encode_varint(len(body)) + body
    return _render_v2(
        base_offset,
        partition_leader_epoch,
        ATTR_TRANSACTIONAL | ATTR_CONTROL,
        0,
        timestamp,
        timestamp,
        producer_id,
        producer_epoch,
        -1,
        1,
        record,
    )
