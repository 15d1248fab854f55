"""Hypothesis strategies and small helpers shared by the record tests."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from kproto.records import BatchBuilder, Compression, Record

CODECS = list(Compression)
# (magic, codec) pairs that exist: zstd needs magic 2.
FORMATS = [(m, c) for m in (0, 1, 2) for c in Compression if not (c == Compression.ZSTD and m < 2)]

_PATTERN = bytes(range(256))


def _big(n: int) -> bytes:
    return (_PATTERN * (n // 256 + 1))[:n]


payload = st.one_of(
    st.none(),
    st.just(b""),
    st.binary(min_size=1, max_size=64),
    st.integers(min_value=65, max_value=70_000).map(_big),
)
header_key = st.text(max_size=12)
headers = st.lists(
    st.tuples(header_key, st.one_of(st.none(), st.binary(max_size=16))), max_size=4
).map(tuple)


@st.composite
def record_inputs(
    draw: Any, magic: int, min_timestamp: int = -1
) -> list[tuple[int, bytes | None, bytes | None, tuple]]:
    n = draw(st.integers(min_value=1, max_value=12))
    ts = st.integers(min_value=min_timestamp, max_value=2**45)
    out = []
    for _ in range(n):
        hs = draw(headers) if magic >= 2 else ()
        out.append((draw(ts), draw(payload), draw(payload), hs))
    return out


def build(
    magic: int,
    codec: Compression,
    rows: list[tuple[int, bytes | None, bytes | None, tuple]],
    **kwargs: Any,
) -> bytes:
    b = BatchBuilder(magic=magic, compression=codec, max_bytes=1 << 30, **kwargs)
    for ts, key, value, hs in rows:
        assert b.append(ts, key, value, hs)
    return b.build()


def expected(
    magic: int, rows: list[tuple[int, bytes | None, bytes | None, tuple]], base_offset: int = 0
) -> list[Record]:
    return [
        Record(base_offset + i, ts if magic >= 1 else -1, key, value, tuple(hs))
        for i, (ts, key, value, hs) in enumerate(rows)
    ]
