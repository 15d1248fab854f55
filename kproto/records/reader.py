# Theory of operation: walks a buffer of log entries (a fetch response's records field) and
# hands each complete entry to the decoder for its magic. Owns no state across calls. The
# only input that is not an error is a partial entry at the very end, which a broker sends
# when a fetch is cut at its byte limit: it is counted in `trailing_bytes` and skipped. An
# entry whose length field is below the minimum, whose magic is unknown, or whose body does
# not parse raises CorruptRecordError naming its offset (or, when asked, ends the walk with
# the error recorded next to the batches decoded before it).
"""Decoding of mixed magic 0/1/2 record buffers."""

from __future__ import annotations

import struct

from kproto.errors import CorruptRecordError, DecodeError, KprotoError

from .batch_v2 import BATCH_HEADER_SIZE, decode_batch_v2
from .codecs import DEFAULT_MAX_DECOMPRESSED_BYTES
from .legacy import MESSAGE_OVERHEAD, decode_legacy_entry
from .model import DecodeResult, RecordBatch

__all__ = ["decode_batches"]

_OFFSET_LENGTH = struct.Struct(">qi")
_LOG_OVERHEAD = 12
_UP_TO_MAGIC = 17
_MIN_V2_LENGTH = BATCH_HEADER_SIZE - _LOG_OVERHEAD
_MIN_LENGTH = MESSAGE_OVERHEAD[0]


def decode_batches(
    data: bytes | bytearray | memoryview,
    *,
    check_crcs: bool = True,
    max_decompressed_bytes: int = DEFAULT_MAX_DECOMPRESSED_BYTES,
    raise_errors: bool = True,
) -> DecodeResult:
    """Decode every complete batch in `data` (magic 0, 1 and 2 may be mixed).

    A partial batch at the end is skipped and its size reported as `trailing_bytes`.
    `check_crcs=False` skips CRC verification (like the Java client's check.crcs).
    `max_decompressed_bytes` caps the decompressed size of any one batch.
    With `raise_errors=False` a corrupt batch ends decoding and the result carries the
    error in `error` together with the batches before it, so a consumer can deliver those
    first, as the Java consumer does.
    """
    if not isinstance(data, bytes):
        data = bytes(data)
    n = len(data)
    pos = 0
    batches: list[RecordBatch] = []
    add = batches.append
    unpack = _OFFSET_LENGTH.unpack_from
    trailing = 0
    try:
        while pos < n:
            remaining = n - pos
            if remaining < _LOG_OVERHEAD:
                trailing = remaining
                break
            offset, length = unpack(data, pos)
            if length < _MIN_LENGTH:
                raise CorruptRecordError(
                    f"record batch at offset {offset}: size {length} is below the minimum "
                    f"of {_MIN_LENGTH}"
                )
            if remaining < _UP_TO_MAGIC or length > remaining - _LOG_OVERHEAD:
                trailing = remaining
                break
            end = pos + _LOG_OVERHEAD + length
            magic = data[pos + 16]
            if magic == 2:
                if length < _MIN_V2_LENGTH:
                    raise CorruptRecordError(
                        f"record batch at offset {offset}: size {length} is below the v2 "
                        f"header size"
                    )
                add(decode_batch_v2(data, pos, end, check_crcs, max_decompressed_bytes))
            elif magic < 2:
                add(decode_legacy_entry(data, pos, end, check_crcs, max_decompressed_bytes))
            else:
                raise CorruptRecordError(
                    f"record batch at offset {offset}: unsupported magic {magic}"
                )
            pos = end
    except KprotoError as exc:
        if isinstance(exc, DecodeError) and exc.offset is None:
            exc.offset = pos  # where in `data` the bad batch starts
        if raise_errors:
            raise
        return DecodeResult(batches, 0, exc)
    return DecodeResult(batches, trailing)
