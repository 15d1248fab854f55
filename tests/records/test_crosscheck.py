"""Cross-checks with independent implementations: kafka-python's and aiokafka's records.

Batches their builders write must decode identically in kproto, and batches kproto builds
must decode identically with their readers, for every codec and magic they support.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kproto.records import BatchBuilder, Compression, Record, decode_batches, flatten

from .strategies import FORMATS, expected, record_inputs

kafka_default = pytest.importorskip("kafka.record.default_records")
kafka_legacy = pytest.importorskip("kafka.record.legacy_records")
kafka_memory = pytest.importorskip("kafka.record.memory_records")
aio_default = pytest.importorskip("aiokafka.record.default_records")
aio_legacy = pytest.importorskip("aiokafka.record.legacy_records")
aio_memory = pytest.importorskip("aiokafka.record.memory_records")

Rows = list[tuple[int, bytes | None, bytes | None, tuple]]

PEERS: dict[str, tuple[Any, Any, Any]] = {
    "kafka-python": (kafka_default, kafka_legacy, kafka_memory),
    "aiokafka": (aio_default, aio_legacy, aio_memory),
}


def peer_build(peer: str, magic: int, codec: Compression, rows: Rows) -> bytes:
    default, legacy, _ = PEERS[peer]
    if magic == 2:
        b = default.DefaultRecordBatchBuilder(2, int(codec), 0, -1, -1, -1, 1 << 30)
        for i, (ts, key, value, hs) in enumerate(rows):
            assert b.append(i, ts, key, value, list(hs)) is not None
    else:
        b = legacy.LegacyRecordBatchBuilder(magic, int(codec), 1 << 30)
        for i, (ts, key, value, _hs) in enumerate(rows):
            assert b.append(i, ts, key, value) is not None
    return bytes(b.build())


def peer_read(peer: str, data: bytes) -> list[Record]:
    _, _, memory = PEERS[peer]
    records = memory.MemoryRecords(data)
    out = []
    while records.has_next():
        batch = records.next_batch()
        if batch is None:
            break
        for r in batch:
            ts = -1 if r.timestamp is None else r.timestamp
            out.append(Record(r.offset, ts, r.key, r.value, tuple(r.headers or ())))
    return out


def kproto_build(magic: int, codec: Compression, rows: Rows) -> bytes:
    b = BatchBuilder(magic=magic, compression=codec, max_bytes=1 << 30)
    for ts, key, value, hs in rows:
        assert b.append(ts, key, value, hs)
    return b.build()


def _has_xxhash() -> bool:
    try:
        import xxhash  # noqa: F401
    except ImportError:
        return False
    return True


def _unsupported(peer: str, magic: int, codec: Compression, direction: str) -> str | None:
    if magic == 0 and codec == Compression.LZ4:
        if peer == "aiokafka":
            return "aiokafka has no LZ4 for magic 0 (it refuses both ways)"
        if not _has_xxhash():
            return "kafka-python needs the xxhash package for magic 0 LZ4"
    return None


SETTINGS = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CASES = [(peer, magic, codec) for peer in PEERS for magic, codec in FORMATS]


def _id(case: tuple[str, int, Compression]) -> str:
    peer, magic, codec = case
    return f"{peer}-v{magic}-{codec.name}"


def _run(case: tuple[str, int, Compression], direction: str, body: Callable[[], None]) -> None:
    reason = _unsupported(*case, direction)
    if reason:
        pytest.skip(reason)
    body()


@pytest.mark.parametrize("case", CASES, ids=_id)
@SETTINGS
@given(data=st.data())
def test_peer_built_batches_decode_in_kproto(
    case: tuple[str, int, Compression], data: st.DataObject
) -> None:
    peer, magic, codec = case
    # aiokafka's builder takes a first timestamp of -1 for "unset": keep to real times.
    rows = data.draw(record_inputs(magic, min_timestamp=0))

    def body() -> None:
        raw = peer_build(peer, magic, codec, rows)
        result = decode_batches(raw)
        assert result.trailing_bytes == 0
        assert flatten(result.batches) == expected(magic, rows)
        assert flatten(result.batches) == peer_read(peer, raw)

    _run(case, "build", body)


@pytest.mark.parametrize("case", CASES, ids=_id)
@SETTINGS
@given(data=st.data())
def test_kproto_built_batches_decode_in_peers(
    case: tuple[str, int, Compression], data: st.DataObject
) -> None:
    peer, magic, codec = case
    # aiokafka's builder takes a first timestamp of -1 for "unset": keep to real times.
    rows = data.draw(record_inputs(magic, min_timestamp=0))

    def body() -> None:
        raw = kproto_build(magic, codec, rows)
        assert peer_read(peer, raw) == expected(magic, rows)

    _run(case, "read", body)


@pytest.mark.parametrize("peer", list(PEERS))
def test_v2_header_fields_agree(peer: str) -> None:
    b = BatchBuilder(
        compression=Compression.GZIP,
        producer_id=123456789,
        producer_epoch=7,
        base_sequence=42,
        transactional=True,
        base_offset=1000,
    )
    b.append(1_700_000_000_000, b"k", b"v")
    b.append(1_700_000_000_500, None, b"w")
    raw = b.build()
    _, _, memory = PEERS[peer]
    theirs = memory.MemoryRecords(raw).next_batch()
    (ours,) = decode_batches(raw).batches
    assert theirs.validate_crc()
    assert theirs.base_offset == ours.base_offset == 1000
    assert theirs.producer_id == ours.producer_id == 123456789
    assert theirs.producer_epoch == ours.producer_epoch == 7
    assert theirs.base_sequence == ours.base_sequence == 42
    assert theirs.is_transactional and ours.is_transactional
    assert theirs.last_offset_delta == ours.last_offset_delta == 1
    assert theirs.max_timestamp == ours.max_timestamp == 1_700_000_000_500
    assert theirs.crc == ours.crc
    assert theirs.next_offset == ours.next_offset == 1002
