# Theory of operation: stateless. Takes the records field of one partition in a Fetch
# response plus what the fetcher knows (its fetch position, isolation level, the aborted
# transactions and last stable offset of the response) and produces a `Decoded`: the
# messages to deliver, the next fetch position, the leader epoch of the last batch, and
# what went wrong (a corrupt batch after good ones, or only part of a batch). Batches that
# deliver nothing (control markers, aborted transactions) still move the position past
# them; records before the position (a compressed batch starting before it) are skipped.
"""From a Fetch response's record bytes to ConsumerMessages."""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass

from kproto.errors import KprotoError
from kproto.messages import ConsumerMessage
from kproto.records import Record, RecordBatch, decode_batches, filter_committed, flatten

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


def _messages(topic: str, partition: int, records: list[Record],
              batches: list[RecordBatch]) -> list[ConsumerMessage]:
    if not records:
        return []
    cm = ConsumerMessage
    kinds = {b.timestamp_type for b in batches if not b.is_control}
    if len(kinds) <= 1:
        kind = int(kinds.pop()) if kinds else 0
        return [cm(topic, partition, o, k, v, h, t, kind) for o, t, k, v, h in records]
    # Batches of different timestamp types in one response (a format change mid-log):
    # find each record's batch by walking both lists in offset order.
    out = []
    ends = [(b.last_offset, int(b.timestamp_type)) for b in batches if not b.is_control]
    i = 0
    for o, t, k, v, h in records:
        while ends[i][0] < o:
            i += 1
        out.append(cm(topic, partition, o, k, v, h, t, ends[i][1]))
    return out
