# Theory of operation: stateless. Takes the records field of one partition in a Fetch
# response plus what the fetcher knows (its fetch position, isolation level, the aborted
# transactions and last stable offset of the response) and produces a `Decoded`: the
# messages to deliver, the next fetch position, the leader epoch of the last batch, and
# what went wrong (a corrupt batch after good ones, or only part of a batch). Batches that
# deliver nothing (control markers, aborted transactions) still move the position past
# them; records before the position (a compressed batch starting before it) are skipped.
"""From a Fetch response's record bytes to ConsumerMessages."""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

from kproto.errors import KprotoError
from kproto.message_types import ConsumerMessage
from kproto.records import Record, RecordBatch, decode_batches, filter_committed, flatten
from kproto.records._accel import speedups

__all__ = ["Decoded", "decode_partition"]

_LENGTH = struct.Struct(">i")
_LOG_OVERHEAD = 12


@dataclass(frozen=True, slots=True)
class Decoded:
    """The outcome of decoding one partition's records."""

    messages: list[ConsumerMessage]
    next_offset: int
    """Where the next fetch starts (the position when nothing complete was decoded)."""
    last_epoch: int
    """Leader epoch of the last complete batch, -1 if none or unknown (legacy formats)."""
    error: KprotoError | None
    """A corrupt batch after the decoded ones: fetching cannot get past it."""
    needed_bytes: int
    """With no complete batch: the size of the first batch, partly received (0 if unknown)."""
    partial: bool
    """Nothing complete, only the beginning of a batch larger than the fetch size."""


def decode_partition(
    topic: str,
    partition: int,
    data: bytes,
    position: int,
    *,
    read_committed: bool,
    aborted: Iterable[object] | None,
    last_stable_offset: int,
    check_crcs: bool,
    max_decompressed_bytes: int,
) -> Decoded:
    """Decode ``data`` fetched from ``position``."""
    result = decode_batches(data, check_crcs=check_crcs,
                            max_decompressed_bytes=max_decompressed_bytes, raise_errors=False)
    batches = result.batches
    if not batches:
        needed = 0
        partial = result.error is None and result.trailing_bytes > 0
        if partial and len(data) >= _LOG_OVERHEAD:
            needed = _LOG_OVERHEAD + _LENGTH.unpack_from(data, 8)[0]
        return Decoded([], position, -1, result.error, needed, partial)
    if read_committed and last_stable_offset >= 0:
        # The broker stops at the last stable offset; never deliver past it regardless.
        while batches and batches[-1].base_offset >= last_stable_offset:
            batches = batches[:-1]
        if not batches:
            return Decoded([], position, -1, None, 0, False)
    if read_committed:
        records = filter_committed(batches, aborted, min_offset=position)  # type: ignore[arg-type]
        if last_stable_offset >= 0 and records and records[-1].offset >= last_stable_offset:
            records = [r for r in records if r.offset < last_stable_offset]
    else:
        records = flatten(batches, min_offset=position)
    last = batches[-1]
    return Decoded(_messages(topic, partition, records, batches),
                   max(position, last.next_offset), last.partition_leader_epoch,
                   result.error, 0, False)


_FIELDS = ("topic", "partition", "offset", "key", "value", "headers", "timestamp",
           "timestamp_type")


def _slot_setters() -> tuple[Any, ...] | None:
    """The slot setters of ConsumerMessage, in field order, if it is the slotted frozen
    dataclass this module knows: filling slots directly costs half of calling __init__,
    which goes through object.__setattr__ once per field."""
    if tuple(f.name for f in dataclasses.fields(ConsumerMessage)) != _FIELDS:
        return None
    setters = []
    for name in _FIELDS:
        slot = ConsumerMessage.__dict__.get(name)
        if slot is None or not hasattr(slot, "__set__"):
            return None
        setters.append(slot.__set__)
    return tuple(setters)


_SETTERS = _slot_setters()
_OFFSETS = (speedups.slot_offsets(ConsumerMessage, _FIELDS)
            if speedups is not None and _SETTERS is not None else None)
"""ConsumerMessage's slot offsets for the compiled builder (None: the Python loop below)."""


def _build(topic: str, partition: int, records: list[Record],
           kind: int) -> list[ConsumerMessage]:
    """One ConsumerMessage per record, all of one timestamp type."""
    cm = ConsumerMessage
    if _OFFSETS is not None and speedups is not None:
        # The compiled twin writes the slots directly and leaves the objects untracked by
        # the cycle collector: 80-100 ns a record against 420-560 for the loop below
        # (chunks of 9,000 records; docs/performance.md).
        built = speedups.build_messages(cm, _OFFSETS, topic, partition, records, kind)
        if built is not None:
            return cast("list[ConsumerMessage]", built)
    if _SETTERS is None:
        return [cm(topic, partition, o, k, v, h, t, kind) for o, t, k, v, h in records]
    s_topic, s_part, s_off, s_key, s_val, s_head, s_ts, s_kind = _SETTERS
    new = object.__new__
    out: list[ConsumerMessage] = []
    add = out.append
    for o, t, k, v, h in records:
        m = new(cm)
        s_topic(m, topic)
        s_part(m, partition)
        s_off(m, o)
        s_key(m, k)
        s_val(m, v)
        s_head(m, h)
        s_ts(m, t)
        s_kind(m, kind)
        add(m)
    return out


def _messages(topic: str, partition: int, records: list[Record],
              batches: list[RecordBatch]) -> list[ConsumerMessage]:
    if not records:
        return []
    kinds = {b.timestamp_type for b in batches if not b.is_control}
    if len(kinds) <= 1:
        return _build(topic, partition, records, int(kinds.pop()) if kinds else 0)
    # Batches of different timestamp types in one response (a format change mid-log):
    # build each batch's records with its type.
    out: list[ConsumerMessage] = []
    i = 0
    for b in batches:
        if b.is_control:
            continue
        j = i
        last = b.last_offset
        while j < len(records) and records[j].offset <= last:
            j += 1
        if j > i:
            out += _build(topic, partition, records[i:j], int(b.timestamp_type))
            i = j
    if i < len(records):  # cannot happen: every record comes from a batch
        out += _build(topic, partition, records[i:], 0)
    return out
