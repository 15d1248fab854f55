"""Coverage-guided fuzzing of record batches: every codec (none, gzip, snappy, lz4, zstd) and
magic (0, 1, 2) through ``kproto.records.decode_batches``, and a re-encode round trip of
whatever decodes.

What must hold: on any input the decoder returns a DecodeResult or raises a KprotoError;
the batches and trailing bytes it reports add up to the input; the compiled record loops
(``kproto/records/_speedups``, when built) give exactly what the pure ones give (the input
is decoded both ways: the pure run is also what atheris sees, as compiled code is not
instrumented); a batch that decodes, built again with ``BatchBuilder`` from its records (same
magic, codec, offsets, producer state), decodes to the same records.

The first input byte picks a mode: CRC checks off, CRCs of v2 batches recomputed after
mutation (so mutations reach the record parser with checks on), or the bytes as they are.

    python fuzz/fuzz_records.py --seconds 600                  # atheris
    python fuzz/fuzz_records.py --hypothesis --examples 20000  # without atheris

Seeds: batches captured from the real broker's Fetch and the client's Produce
(fuzz/corpus/records/, see fuzz/capture_corpus.py) and a batch of every magic and codec.
"""

from __future__ import annotations

import struct
import sys

from _harness import instrumented, run
from crc32c import crc32c

with instrumented():
    from kproto.errors import KprotoError
    from kproto.records import (
        BatchBuilder,
        Compression,
        DecodeResult,
        RecordBatch,
        TimestampType,
        batch_v2,
        builder,
        decode_batches,
    )

NAME = "records"
MAX_DECOMPRESSED = 1 << 20


def refresh_crcs(data: bytearray) -> None:
    """Recompute the CRC of every v2 batch whose bounds are plausible."""
    pos = 0
    n = len(data)
    while n - pos >= 61:
        (length,) = struct.unpack_from(">i", data, pos + 8)
        end = pos + 12 + length
        if length < 49 or end > n:
            return
        if data[pos + 16] == 2:
            struct.pack_into(">I", data, pos + 17, crc32c(bytes(data[pos + 21 : end])))
        pos = end


def _rebuild(batch: RecordBatch) -> bytes | None:
    """``batch`` built again from its records; None when it is not one the builder makes."""
    if batch.is_control or not batch.records:
        return None
    offsets = [r.offset for r in batch.records]
    if offsets != list(range(batch.base_offset, batch.base_offset + len(offsets))):
        return None  # compacted or hostile offset deltas: the builder numbers from 0
    if batch.magic == 2:
        builder = BatchBuilder(
            magic=2, compression=batch.compression, base_offset=batch.base_offset,
            producer_id=batch.producer_id, producer_epoch=batch.producer_epoch,
            base_sequence=batch.base_sequence,
            transactional=batch.is_transactional and batch.producer_id >= 0,
            partition_leader_epoch=batch.partition_leader_epoch,
            timestamp_type=batch.timestamp_type, max_bytes=1 << 30)
    else:
        builder = BatchBuilder(magic=batch.magic, compression=batch.compression,
                               base_offset=batch.base_offset, max_bytes=1 << 30,
                               timestamp_type=batch.timestamp_type)
    for r in batch.records:
        builder.append(r.timestamp, r.key, r.value, r.headers)
    return builder.build()


def _same_records(a: RecordBatch, b: RecordBatch) -> bool:
    """The same records; timestamps only where the original's are the producer's own (with
    LOG_APPEND_TIME a decoder reports the batch's; the legacy builder writes CREATE_TIME)."""
    stamped = a.magic > 0 and a.timestamp_type == TimestampType.CREATE_TIME

    def view(batch: RecordBatch) -> list[tuple[object, ...]]:
        return [(r.offset, r.key, r.value, r.headers, r.timestamp if stamped else None)
                for r in batch.records]

    return view(a) == view(b)


_FAST = (batch_v2.decode_records_fast, builder.encode_record_fast)


def _decode(data: bytes, mode: int, compiled: bool) -> DecodeResult | KprotoError:
    """decode_batches with the compiled loops or the pure ones; its error as a value."""
    batch_v2.decode_records_fast, builder.encode_record_fast = _FAST if compiled else (None, None)
    try:
        return decode_batches(data, check_crcs=mode != 0, max_decompressed_bytes=MAX_DECOMPRESSED)
    except KprotoError as exc:
        return exc
    finally:
        batch_v2.decode_records_fast, builder.encode_record_fast = _FAST


def one_input(raw: bytes) -> None:
    if not raw:
        return
    mode = raw[0] % 3
    body = bytearray(raw[1:])
    if mode == 1:
        refresh_crcs(body)
    data = bytes(body)
    pure = _decode(data, mode, compiled=False)
    if batch_v2.decode_records_fast is not None:
        fast = _decode(data, mode, compiled=True)
        if repr(fast) != repr(pure):
            raise AssertionError(f"compiled and pure decoders differ: {fast!r} != {pure!r}")
    if not isinstance(pure, DecodeResult):
        return
    result = pure
    if not 0 <= result.trailing_bytes <= len(data):
        raise AssertionError(f"trailing_bytes {result.trailing_bytes} out of range")
    used = sum(b.size_in_bytes for b in result.batches)
    if used + result.trailing_bytes != len(data):
        raise AssertionError("batch sizes and trailing bytes do not cover the input")
    for batch in result.batches:
        rebuilt = _rebuild(batch)
        if rebuilt is None:
            continue
        again = decode_batches(rebuilt, max_decompressed_bytes=1 << 30).batches
        if len(again) != 1 or not _same_records(batch, again[0]):
            raise AssertionError(f"magic {batch.magic} {batch.compression.name}: the rebuilt "
                                 "batch decodes to other records")


def seeds() -> list[bytes]:
    """A batch of every magic and codec (zstd only in magic 2), in each mode."""
    out = []
    for magic in (0, 1, 2):
        for codec in Compression:
            if magic < 2 and codec == Compression.ZSTD:
                continue
            b = BatchBuilder(magic=magic, compression=codec, base_offset=5)
            b.append(1, b"key", b"value" * 3, [("h", b"v"), ("n", None)] if magic == 2 else ())
            b.append(2, None, b"")
            built = b.build()
            for mode in (0, 1, 2):
                out.append(bytes([mode]) + built)
    return out


if __name__ == "__main__":
    run(NAME, one_input, seeds, __doc__ or "")
    sys.exit(0)
