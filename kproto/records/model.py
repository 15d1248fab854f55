# Theory of operation: the value types of the record layer. Nothing here owns state that
# changes: decoders produce these objects, builders and filters consume them. A `Record` is
# one user-visible message; a `RecordBatch` is one entry of a log (a v2 batch, or a legacy
# message with its inner messages); a `ControlRecord` is a transaction marker inside a control
# batch. `DecodeResult` carries a decoded fetch buffer plus the byte count of its partial tail.
"""Record, batch and enum types shared by the record decoders and builders."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from kproto.errors import KprotoError

__all__ = [
    "ATTR_COMPRESSION_MASK",
    "ATTR_CONTROL",
    "ATTR_DELETE_HORIZON",
    "ATTR_TIMESTAMP_TYPE",
    "ATTR_TRANSACTIONAL",
    "NO_PRODUCER_EPOCH",
    "NO_PRODUCER_ID",
    "NO_SEQUENCE",
    "NO_TIMESTAMP",
    "Compression",
    "ControlRecord",
    "ControlType",
    "DecodeResult",
    "Header",
    "Record",
    "RecordBatch",
    "TimestampType",
]

ATTR_COMPRESSION_MASK = 0x07
ATTR_TIMESTAMP_TYPE = 0x08
ATTR_TRANSACTIONAL = 0x10
ATTR_CONTROL = 0x20
ATTR_DELETE_HORIZON = 0x40

NO_PRODUCER_ID = -1
NO_PRODUCER_EPOCH = -1
NO_SEQUENCE = -1
NO_TIMESTAMP = -1


class Compression(enum.IntEnum):
    """Codec ids as stored in the low three attribute bits."""

    NONE = 0
    GZIP = 1
    SNAPPY = 2
    LZ4 = 3
    ZSTD = 4


class TimestampType(enum.IntEnum):
    """Attribute bit 3. Magic 0 messages carry no timestamp at all."""

    NO_TIMESTAMP_TYPE = -1
    CREATE_TIME = 0
    LOG_APPEND_TIME = 1


class ControlType(enum.IntEnum):
    """Control record types (key field `type`). Only ABORT and COMMIT end transactions."""

    ABORT = 0
    COMMIT = 1
    LEADER_CHANGE = 2
    SNAPSHOT_HEADER = 3
    SNAPSHOT_FOOTER = 4
    KRAFT_VERSION = 5
    KRAFT_VOTERS = 6


Header = tuple[str, bytes | None]


class Record(NamedTuple):
    """One record as the consumer sees it.

    A NamedTuple rather than a frozen dataclass: it is immutable and slot-free in the same
    way, and building one costs a fifth as much, which matters on the fetch path.
    """

    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...] = ()


@dataclass(frozen=True, slots=True)
class ControlRecord:
    """A record of a control batch. `type` is a ControlType value when known.

    For ABORT and COMMIT markers `version` and `coordinator_epoch` come from the value; for
    other types they are -1 and the raw key and value are kept.
    """

    offset: int
    timestamp: int
    type: int
    key_version: int
    version: int
    coordinator_epoch: int
    key: bytes | None
    value: bytes | None

    @property
    def is_abort(self) -> bool:
        return self.type == ControlType.ABORT

    @property
    def is_commit(self) -> bool:
        return self.type == ControlType.COMMIT


@dataclass(frozen=True, slots=True)
class RecordBatch:
    """One log entry: a v2 batch, or a legacy (magic 0/1) message with its inner messages.

    For legacy entries the producer fields are -1, `partition_leader_epoch` is -1,
    `batch_length` is the message size and `crc` the message CRC32.
    """

    base_offset: int
    batch_length: int
    partition_leader_epoch: int
    magic: int
    crc: int
    attributes: int
    last_offset_delta: int
    base_timestamp: int
    max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    record_count: int
    records: list[Record]
    control: list[ControlRecord]

    @property
    def compression(self) -> Compression:
        return Compression(self.attributes & ATTR_COMPRESSION_MASK)

    @property
    def timestamp_type(self) -> TimestampType:
        if self.magic == 0:
            return TimestampType.NO_TIMESTAMP_TYPE
        if self.attributes & ATTR_TIMESTAMP_TYPE:
            return TimestampType.LOG_APPEND_TIME
        return TimestampType.CREATE_TIME

    @property
    def is_transactional(self) -> bool:
        return self.magic >= 2 and bool(self.attributes & ATTR_TRANSACTIONAL)

    @property
    def is_control(self) -> bool:
        return self.magic >= 2 and bool(self.attributes & ATTR_CONTROL)

    @property
    def has_delete_horizon(self) -> bool:
        return self.magic >= 2 and bool(self.attributes & ATTR_DELETE_HORIZON)

    @property
    def delete_horizon_ms(self) -> int:
        """The delete horizon a log cleaner stored in `base_timestamp`, or -1."""
        return self.base_timestamp if self.has_delete_horizon else NO_TIMESTAMP

    @property
    def last_offset(self) -> int:
        return self.base_offset + self.last_offset_delta

    @property
    def next_offset(self) -> int:
        return self.base_offset + self.last_offset_delta + 1

    @property
    def has_producer_id(self) -> bool:
        return self.producer_id > NO_PRODUCER_ID

    @property
    def size_in_bytes(self) -> int:
        """Bytes this entry occupies in the log: offset, length field and body."""
        return 12 + self.batch_length


@dataclass(frozen=True, slots=True)
class DecodeResult:
    """Decoded batches of one buffer, and how many bytes at its end were a partial batch.

    A broker may cut the last batch of a fetch response short; `trailing_bytes` tells the
    consumer that the data continues and it should fetch again from `next_offset`. `error`
    is set only when decoding was asked not to raise and stopped at a corrupt batch.
    """

    batches: list[RecordBatch]
    trailing_bytes: int
    error: KprotoError | None = None

    @property
    def next_offset(self) -> int | None:
        """The offset after the last complete batch, or None if there was none."""
        if not self.batches:
            return None
        return self.batches[-1].next_offset
