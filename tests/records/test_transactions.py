"""Control batches and read_committed filtering with interleaved transactions."""

from __future__ import annotations

import struct
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kproto.errors import CorruptRecordError
from kproto.records import (
    BatchBuilder,
    Compression,
    ControlType,
    decode_batches,
    filter_committed,
    flatten,
)
from kproto.records import build_control_batch as marker
from kproto.records.varint import encode_varint


def _data(
    offset: int,
    pid: int,
    values: list[bytes],
    *,
    txn: bool = True,
    codec: Compression = Compression.NONE,
) -> bytes:
    b = BatchBuilder(
        compression=codec,
        base_offset=offset,
        producer_id=pid,
        producer_epoch=0 if pid >= 0 else -1,
        base_sequence=0 if pid >= 0 else -1,
        transactional=txn,
    )
    for v in values:
        b.append(1000 + offset, None, v)
    return b.build()


def test_control_batch_decodes_to_markers() -> None:
    raw = marker(
        commit=False,
        producer_id=42,
        producer_epoch=3,
        timestamp=777,
        coordinator_epoch=9,
        base_offset=15,
    )
    (batch,) = decode_batches(raw).batches
    assert batch.is_control and batch.is_transactional
    assert batch.records == []
    (ctl,) = batch.control
    assert (ctl.offset, ctl.timestamp, ctl.type, ctl.version, ctl.coordinator_epoch) == (
        15,
        777,
        ControlType.ABORT,
        0,
        9,
    )
    assert ctl.is_abort and not ctl.is_commit
    assert (batch.producer_id, batch.producer_epoch) == (42, 3)
    commit = decode_batches(
        marker(commit=True, producer_id=1, producer_epoch=0, timestamp=0)
    ).batches[0]
    assert commit.control[0].is_commit
    assert flatten([batch, commit]) == []


def _control_with(key: bytes | None, value: bytes | None) -> bytes:
    from crc32c import crc32c

    def field(b: bytes | None) -> bytes:
        return b"\x01" if b is None else encode_varint(len(b)) + b

    body = b"\x00\x00\x00" + field(key) + field(value) + b"\x00"
    records = encode_varint(len(body)) + body
    header = struct.pack(">hiqqqhii", 0x30, 0, 0, 0, 5, 0, -1, 1)
    crc = crc32c(header + records)
    return struct.pack(">qiibI", 0, 49 + len(records), -1, 2, crc) + header + records


def test_unknown_control_types_are_kept_raw_and_bad_markers_rejected() -> None:
    (batch,) = decode_batches(_control_with(struct.pack(">hh", 0, 2), b"\x00\x00leader")).batches
    (ctl,) = batch.control
    assert ctl.type == ControlType.LEADER_CHANGE and ctl.value == b"\x00\x00leader"
    assert ctl.coordinator_epoch == -1
    with pytest.raises(CorruptRecordError, match="control record key"):
        decode_batches(_control_with(b"\x00", b""))
    with pytest.raises(CorruptRecordError, match="marker value"):
        decode_batches(_control_with(struct.pack(">hh", 0, 1), b"\x00"))
    # A newer key version keeps the type in the same place.
    (batch,) = decode_batches(
        _control_with(struct.pack(">hh", 1, 1) + b"more", struct.pack(">hi", 0, 4))
    ).batches
    assert batch.control[0].is_commit and batch.control[0].key_version == 1


def _log() -> bytes:
    return b"".join(
        [
            _data(0, 1, [b"p1-aborted-a", b"p1-aborted-b"]),
            _data(2, 2, [b"p2-a", b"p2-b"], codec=Compression.GZIP),
            _data(4, -1, [b"plain"], txn=False),
            marker(commit=False, producer_id=1, producer_epoch=0, timestamp=0, base_offset=6),
            _data(7, 2, [b"p2-c"]),
            marker(commit=True, producer_id=2, producer_epoch=0, timestamp=0, base_offset=8),
            _data(9, 1, [b"p1-committed"], codec=Compression.ZSTD),
            marker(commit=True, producer_id=1, producer_epoch=0, timestamp=0, base_offset=10),
            _data(11, 3, [b"idempotent"], txn=False),
            _data(12, 1, [b"p1-aborted-again"]),
            marker(commit=False, producer_id=1, producer_epoch=0, timestamp=0, base_offset=13),
        ]
    )


@dataclass(frozen=True)
class Aborted:
    producer_id: int
    first_offset: int


def test_read_committed_drops_aborted_and_control_records() -> None:
    batches = decode_batches(_log()).batches
    committed = filter_committed(batches, [Aborted(1, 0), Aborted(1, 12)])
    assert [(r.offset, r.value) for r in committed] == [
        (2, b"p2-a"),
        (3, b"p2-b"),
        (4, b"plain"),
        (7, b"p2-c"),
        (9, b"p1-committed"),
        (11, b"idempotent"),
    ]
    # Tuples work as well as objects with attributes, in any order.
    assert filter_committed(batches, [(1, 12), (1, 0)]) == committed
    # read_uncommitted sees all data, and no control records.
    assert [r.offset for r in flatten(batches)] == [0, 1, 2, 3, 4, 7, 9, 11, 12]
    # No aborted transactions listed: everything but control records.
    assert filter_committed(batches, None) == flatten(batches)


def test_min_offset_drops_records_before_the_fetch_position() -> None:
    batches = decode_batches(_log()).batches
    assert [r.offset for r in flatten(batches, min_offset=3)] == [3, 4, 7, 9, 11, 12]
    assert [r.offset for r in filter_committed(batches, [(1, 0)], min_offset=3)] == [
        3,
        4,
        7,
        9,
        11,
        12,
    ]


# A random interleaving of transactional producers, checked against a model of the log.
_ops = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=3),
        st.sampled_from(["write", "write", "commit", "abort", "plain"]),
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(ops=_ops, split=st.integers(min_value=0, max_value=60))
def test_read_committed_matches_a_model(ops: list[tuple[int, str]], split: int) -> None:
    parts: list[bytes] = []
    offset = 0
    open_txn: dict[int, int] = {}  # producer -> first offset of its open transaction
    pending: dict[int, list[bytes]] = {}
    aborted: list[tuple[int, int]] = []
    aborted_ends: list[int] = []  # offset of each aborted transaction's marker
    visible: list[bytes] = []
    for pid, op in ops:
        if op == "write":
            value = b"%d@%d" % (pid, offset)
            parts.append(_data(offset, pid, [value]))
            open_txn.setdefault(pid, offset)
            pending.setdefault(pid, []).append(value)
            offset += 1
        elif op == "plain":
            value = b"plain@%d" % offset
            parts.append(_data(offset, -1, [value], txn=False))
            visible.append(value)
            offset += 1
        elif pid in open_txn:
            first = open_txn.pop(pid)
            parts.append(
                marker(
                    commit=op == "commit",
                    producer_id=pid,
                    producer_epoch=0,
                    timestamp=0,
                    base_offset=offset,
                )
            )
            offset += 1
            if op == "commit":
                visible.extend(pending.pop(pid))
            else:
                aborted.append((pid, first))
                aborted_ends.append(offset - 1)
                pending.pop(pid)
    batches = decode_batches(b"".join(parts)).batches
    got = [r.value for r in filter_committed(batches, aborted)]
    # Transactions still open at the end of the log are not yet decided: the consumer sees
    # them only up to the last stable offset, which the broker enforces; drop them here.
    undecided = {v for vs in pending.values() for v in vs}
    assert [v for v in got if v not in undecided] == sorted(
        visible, key=lambda v: int(v.split(b"@")[1])
    )
    # Splitting the log into two fetches gives the same result when each fetch gets the
    # aborted transactions that overlap its offset range (what a broker sends).
    cut = min(split, len(batches))
    again = []
    for part in (batches[:cut], batches[cut:]):
        if not part:
            continue
        lo, hi = part[0].base_offset, part[-1].last_offset
        overlapping = [
            a for a, end in zip(aborted, aborted_ends, strict=True) if a[1] <= hi and end >= lo
        ]
        again += filter_committed(part, overlapping)
    assert again == filter_committed(batches, aborted)
