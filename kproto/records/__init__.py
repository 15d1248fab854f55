# Theory of operation: the public face of the record layer. Decoding (`decode_batches`)
# turns the records field of a Fetch response into RecordBatch values; building
# (`BatchBuilder`) turns appended records into the records field of a Produce request;
# `filter_committed` / `flatten` apply the consumer's isolation level. Everything is pure:
# bytes in, values out. The per-record loops may run compiled (`ACCELERATED`; _accel.py
# decides, KPROTO_PURE=1 forces the pure code); results are the same either way.
"""Kafka record batches (magic 2), legacy message sets (magic 0/1), compression and CRCs."""

from __future__ import annotations

from ._accel import ACCELERATED
from .builder import (
    DEFAULT_MAX_BATCH_BYTES,
    BatchBuilder,
    build_control_batch,
    set_base_offset,
    set_producer_state,
)
from .codecs import DEFAULT_MAX_DECOMPRESSED_BYTES
from .model import (
    NO_PRODUCER_EPOCH,
    NO_PRODUCER_ID,
    NO_SEQUENCE,
    NO_TIMESTAMP,
    Compression,
    ControlRecord,
    ControlType,
    DecodeResult,
    Record,
    RecordBatch,
    TimestampType,
)
from .reader import decode_batches
from .transactions import AbortedTransactionLike, filter_committed, flatten

__all__ = [
    "ACCELERATED",
    "DEFAULT_MAX_BATCH_BYTES",
    "DEFAULT_MAX_DECOMPRESSED_BYTES",
    "NO_PRODUCER_EPOCH",
    "NO_PRODUCER_ID",
    "NO_SEQUENCE",
    "NO_TIMESTAMP",
    "AbortedTransactionLike",
    "BatchBuilder",
    "Compression",
    "ControlRecord",
    "ControlType",
    "DecodeResult",
    "Record",
    "RecordBatch",
    "TimestampType",
    "build_control_batch",
    "decode_batches",
    "filter_committed",
    "flatten",
    "set_base_offset",
    "set_producer_state",
]
