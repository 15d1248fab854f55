"""The compiled record loops (kproto/records/_speedups.pyx) against the pure ones.

Every input is fed to both paths in the same process; they must give equal results, or
errors of the same class with the same message. The pure code is the reference. Inputs:
random well-formed batches of every magic and codec, mutations of them, records assembled
field by field with hostile values (negative and huge lengths, over-long and non-minimal
varints, deltas that leave int64, header counts that do not fit), and random arguments to
the builder. Skips only when the extension is not built, which under CI=true is a failure.
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

import pytest
from crc32c import crc32c
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kproto.records import BatchBuilder, Compression, batch_v2, builder, decode_batches

from .strategies import FORMATS, build, headers, payload, record_inputs


def _compiled() -> ModuleType | None:
    try:
        from kproto.records import _speedups
    except ImportError:
        return None
    return _speedups


SPEEDUPS = _compiled()
if SPEEDUPS is None:
    if os.environ.get("CI") == "true":
        raise RuntimeError(
            "kproto.records._speedups is not built; CI must test the compiled path "
            "(pip install -e . with Cython and a C compiler)"
        )
    pytest.skip("the compiled record extension is not built", allow_module_level=True)

FAST = SPEEDUPS


@contextmanager
def _path(compiled: bool) -> Iterator[None]:
    """Run the record layer on one path, whatever KPROTO_PURE chose at import."""
    saved = batch_v2.decode_records_fast, builder.encode_record_fast
    batch_v2.decode_records_fast = FAST.decode_records if compiled else None
    builder.encode_record_fast = FAST.encode_record if compiled else None
    try:
        yield
    finally:
        batch_v2.decode_records_fast, builder.encode_record_fast = saved


def _outcome(fn: Callable[[], Any]) -> tuple[str, Any]:
    try:
        return "ok", fn()
    except Exception as exc:
        return "error", (type(exc), str(exc))


def _both(fn: Callable[[], Any]) -> Any:
    with _path(compiled=False):
        pure = _outcome(fn)
    with _path(compiled=True):
        fast = _outcome(fn)
    assert fast == pure
    return pure


def _decode_result_both(data: bytes, check_crcs: bool) -> None:
    """raise_errors=False: batches equal, errors of the same class and message."""

    def run() -> Any:
        r = decode_batches(
            data, check_crcs=check_crcs, max_decompressed_bytes=1 << 16, raise_errors=False
        )
        err = None if r.error is None else (type(r.error), str(r.error), r.error.offset)
        return r.batches, r.trailing_bytes, err

    _both(run)
    _both(lambda: decode_batches(data, check_crcs=check_crcs, max_decompressed_bytes=1 << 16))


def _batch(records: bytes, count: int, attributes: int = 0, base_offset: int = 0,
           base_ts: int = 0, max_ts: int = 0) -> bytes:
    """A v2 batch around arbitrary record bytes, with a correct CRC."""
    header = struct.pack(">hiqqqhii", attributes, max(count - 1, 0), base_ts, max_ts, -1, -1, -1,
                         count)
    crc = crc32c(header + records)
    return struct.pack(">qiibI", base_offset, 49 + len(records), -1, 2, crc) + header + records


def _uvarint(u: int, pad: int = 0) -> bytes:
    """Unsigned varint; `pad` extra continuation bytes make a longer, non-minimal encoding."""
    out = bytearray()
    while u > 0x7F:
        out.append((u & 0x7F) | 0x80)
        u >>= 7
    out.extend([u | 0x80] + [0x80] * (pad - 1) + [0] if pad else [u])
    return bytes(out)


def _zz(v: int) -> int:
    return (v << 1) ^ -1 if v < 0 else v << 1


# ------------------------------------------------------------------ the fast path is used


def test_the_compiled_loops_handle_the_common_case_themselves() -> None:
    """Guard against a compiled twin that silently returns None (pure fallback) for all."""
    b = BatchBuilder(base_offset=7)
    rows = [(1000 + i, b"k%d" % i, b"v" * i, (("h", b"x"), ("n", None))) for i in range(50)]
    for ts, k, v, h in rows:
        b.append(ts, k, v, h)
    data = b.build()
    fast = FAST.decode_records(data, 61, len(data), 50, 7, 1000, None)
    assert fast is not None
    assert fast == batch_v2._decode_records(data, 61, len(data), 50, 7, 1000, None)
    assert fast[3] == (10, 1003, b"k3", b"vvv", (("h", b"x"), ("n", None)))
    assert type(fast[3]).__name__ == "Record"
    for args in [(0, 0, b"k", b"v", ()), (-1, 5000, None, None, [("a", b"b")]),
                 (1 << 40, 3, b"", b"x" * 5000, (("\udcff", None),))]:
        enc = FAST.encode_record(*args)
        assert enc is not None
        assert enc == builder._encode_record(*args)


def test_accelerated_follows_the_environment() -> None:
    code = "import kproto.records as r; print(r.ACCELERATED)"
    env = {k: v for k, v in os.environ.items() if k != "KPROTO_PURE"}
    for pure, expected in [(None, "True"), ("1", "False"), ("0", "True")]:
        if pure is not None:
            env["KPROTO_PURE"] = pure
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, timeout=60, check=True)
        assert out.stdout.strip() == expected, (pure, out.stderr)


# ------------------------------------------------------------------------------ decoding


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), fmt=st.sampled_from(FORMATS))
def test_random_batches_of_every_magic_and_codec(data: st.DataObject, fmt: Any) -> None:
    magic, codec = fmt
    rows = data.draw(record_inputs(magic))
    raw = build(magic, codec, rows, base_offset=data.draw(st.integers(0, 2**40)))
    status, _ = _both(lambda: decode_batches(raw))
    assert status == "ok"
    cut = data.draw(st.integers(0, len(raw)))
    _decode_result_both(raw[:cut], check_crcs=True)


@st.composite
def _mutated(draw: st.DrawFn) -> bytes:
    magic, codec = draw(st.sampled_from([f for f in FORMATS if f[0] == 2] + FORMATS[:2]))
    data = bytearray(build(magic, codec, draw(record_inputs(magic))))
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        pos = draw(st.integers(0, len(data) - 1))
        kind = draw(st.sampled_from(["flip", "set", "insert", "delete"]))
        if kind == "flip":
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set":
            data[pos] = draw(st.sampled_from([0x00, 0x01, 0x7F, 0x80, 0xFF]))
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=3))
        else:
            del data[pos : pos + draw(st.integers(1, 3))]
    if len(data) >= 61 and data[16] == 2 and draw(st.booleans()):
        struct.pack_into(">I", data, 17, crc32c(bytes(data[21:])))  # reach the records
    return bytes(data)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=_mutated(), check_crcs=st.booleans())
def test_mutated_batches(data: bytes, check_crcs: bool) -> None:
    _decode_result_both(data, check_crcs)


_small_payload = st.one_of(st.none(), st.binary(max_size=40))
_BIG = st.sampled_from([0, 1, 63, 64, 4095, 4096, 2**31, 2**62, 2**63 - 1, 2**63, 2**64 - 1])


@st.composite
def _hostile_record(draw: st.DrawFn) -> bytes:
    """One record assembled field by field, each field possibly hostile."""

    def varint(v: int) -> bytes:
        u = _zz(v) if draw(st.booleans()) else draw(_BIG)
        return _uvarint(u, pad=draw(st.sampled_from([0, 0, 0, 1, 3, 9, 10])))

    def length_of(b: bytes | None) -> bytes:
        if b is None:
            return b"\x01"
        n = len(b) + draw(st.sampled_from([0, 0, 0, -1, 1, -len(b) - 2]))
        return varint(n) if draw(st.booleans()) else _uvarint(_zz(n))

    key = draw(_small_payload)
    value = draw(_small_payload)
    hs = draw(headers)
    body = b"\x00" + varint(draw(st.integers(-(2**63), 2**63 - 1)))
    body += varint(draw(st.integers(-5, 5)))
    body += length_of(key) + (key or b"") + length_of(value) + (value or b"")
    hb = _uvarint(_zz(len(hs) + draw(st.sampled_from([0, 0, 1, -1, 1000]))))
    for hk, hv in hs:
        kb = hk.encode("utf-8", "surrogateescape")
        hb += length_of(kb) + kb + length_of(hv) + (hv or b"")
    body += hb
    n = len(body) + draw(st.sampled_from([0, 0, 0, 1, -1, 2**40]))
    return _uvarint(_zz(n)) + body


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    records=st.lists(_hostile_record(), min_size=1, max_size=4),
    extra=st.sampled_from([0, 0, 1, -1]),
    append_time=st.booleans(),
    base=st.sampled_from([0, 2**62, 2**63 - 10, -(2**63)]),
    tail=st.sampled_from([b"", b"\x00", b"\x02\x00"]),
)
def test_hostile_records_behind_a_valid_header(
    records: list[bytes], extra: int, append_time: bool, base: int, tail: bytes
) -> None:
    raw = _batch(b"".join(records) + tail, len(records) + extra,
                 attributes=0x08 if append_time else 0, base_offset=base, base_ts=base,
                 max_ts=123)
    _decode_result_both(raw, check_crcs=True)


@pytest.mark.parametrize(
    "records",
    [
        b"",
        b"\x80",  # truncated length
        b"\x80" * 11 + b"\x00",  # over-long length varint
        b"\xff" * 9 + b"\x01",  # ten-byte length beyond 2**63
        _uvarint(_zz(2**62)) + b"\x00" * 8,  # huge length
        b"\x01" + b"\x00" * 8,  # negative length
        _uvarint(_zz(7)) + b"\x00\x00\x00\x01\x01\x00\x00",  # length past the fields
        _uvarint(_zz(6)) + b"\x00\x00\x00\x03\x01\x00",  # negative key length
        _uvarint(_zz(6)) + b"\x00\x00\x00\x01\x7f\x00",  # value length past the end
        _uvarint(_zz(6)) + b"\x00\x00\x00\x01\x01\x02",  # one header, truncated
        _uvarint(_zz(6)) + b"\x00\x00\x00\x01\x01\x01",  # negative header count
        _uvarint(_zz(6)) + b"\x00" + _uvarint(_zz(1), pad=9) + b"\x00\x01\x01\x00",
        _uvarint(_zz(15)) + b"\x00" + b"\xff" * 9 + b"\x7f" + b"\x00\x01\x01\x00",
        _uvarint(_zz(6)) + b"\x00\x00\x00\x01\x01\x00" + b"\x00",  # bytes left over
    ],
)
@pytest.mark.parametrize("base", [0, 2**63 - 1])
def test_handmade_hostile_records(records: bytes, base: int) -> None:
    _decode_result_both(_batch(records, 1, base_offset=base, base_ts=base), check_crcs=True)


def test_a_delta_beyond_int64_gives_the_same_big_offset() -> None:
    rec = b"\x00\x00" + _uvarint(_zz(2**62)) + b"\x01\x01\x00"
    raw = _batch(_uvarint(_zz(len(rec))) + rec, 1, base_offset=2**62 + 5)
    _, result = _both(lambda: decode_batches(raw))
    assert result.batches[0].records[0].offset == 2**63 + 5


# ------------------------------------------------------------------------------ encoding

_odd_payload = st.one_of(
    payload,
    st.binary(max_size=8).map(bytearray),
    st.binary(max_size=8).map(memoryview),
    st.text(max_size=3),
    st.integers(0, 3),
)
_odd_headers = st.one_of(
    headers,
    headers.map(list),
    st.lists(st.tuples(st.text(max_size=3), st.binary(max_size=3).map(bytearray)), max_size=2),
    st.lists(st.lists(st.binary(max_size=2), min_size=2, max_size=2), max_size=2),
    st.just([("\ud800", b"lone surrogate")]),
    st.just([(b"bytes key", b"v")]),
    st.just(None),
)
_timestamp = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.integers(-2, 5000),
    st.sampled_from([2**63, -(2**64), 1.5, True]),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(st.tuples(_timestamp, _odd_payload, _odd_payload, _odd_headers),
                  min_size=1, max_size=5),
    codec=st.sampled_from([Compression.NONE, Compression.LZ4]),
)
def test_builder_gives_the_same_bytes_or_error(rows: list[Any], codec: Compression) -> None:
    def run() -> bytes:
        b = BatchBuilder(compression=codec, max_bytes=1 << 20)
        for ts, key, value, hs in rows:
            b.append(ts, key, value, hs)
        return b.build()

    _both(run)


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_built_batches_round_trip_on_both_paths(data: st.DataObject) -> None:
    rows = data.draw(record_inputs(2, min_timestamp=-(2**40)))
    _, raw = _both(lambda: build(2, Compression.NONE, rows))
    _, result = _both(lambda: decode_batches(raw))
    assert [r.value for r in result.batches[0].records] == [v for _, _, v, _ in rows]


# ------------------------------------------------------------------ consumer messages


def _build_on(compiled: bool, topic: str, partition: int, records: list[Any],
              kind: int) -> list[Any]:
    from kproto.consumer import decode

    saved = decode._OFFSETS, decode.speedups
    decode._OFFSETS = FAST.slot_offsets(decode.ConsumerMessage, decode._FIELDS) if compiled else None
    decode.speedups = FAST if compiled else None
    try:
        return decode._build(topic, partition, records, kind)
    finally:
        decode._OFFSETS, decode.speedups = saved


@settings(max_examples=100, deadline=None)
@given(
    rows=st.lists(st.tuples(st.integers(-(2**63), 2**63 - 1), st.integers(-(2**63), 2**63 - 1),
                            payload, payload, headers), max_size=40),
    topic=st.text(max_size=20),
    partition=st.integers(0, 2**31 - 1),
    kind=st.sampled_from([0, 1]),
)
def test_messages_are_built_alike(rows: list[Any], topic: str, partition: int,
                                  kind: int) -> None:
    import gc

    from kproto.records import Record

    records = [Record(o, t, k, v, tuple(h)) for o, t, k, v, h in rows]
    fast = _build_on(True, topic, partition, records, kind)
    pure = _build_on(False, topic, partition, records, kind)
    assert fast == pure
    for m, p in zip(fast, pure, strict=True):
        assert type(m) is type(p)
        for name in ("topic", "partition", "offset", "key", "value", "headers", "timestamp",
                     "timestamp_type"):
            assert getattr(m, name) is getattr(p, name) or getattr(m, name) == getattr(p, name)
        assert not gc.is_tracked(m)  # no cycle is possible through its fields
    del fast
    gc.collect()  # the compiled objects release what they hold like any other


def test_the_compiled_message_builder_is_used_and_declines_what_it_cannot_prove() -> None:
    from kproto.consumer import decode
    from kproto.message_types import ConsumerMessage
    from kproto.records import Record

    assert decode._OFFSETS is not None or os.environ.get("KPROTO_PURE", "") not in ("", "0")
    offsets = FAST.slot_offsets(ConsumerMessage, decode._FIELDS)
    assert offsets is not None and len(set(offsets)) == 8
    built = FAST.build_messages(ConsumerMessage, offsets, "t", 1, [Record(5, 6, b"k", b"v", ())], 0)
    assert built == [ConsumerMessage("t", 1, 5, b"k", b"v", (), 6, 0)]
    # Not exact Records (a plain tuple), a wrong offsets tuple, a class with its own fields:
    # None, and the pure builder decides.
    assert FAST.build_messages(ConsumerMessage, offsets, "t", 1, [(5, 6, b"k", b"v", ())], 0) is None
    assert FAST.build_messages(ConsumerMessage, offsets[:7], "t", 1, [], 0) is None
    assert FAST.slot_offsets(Record, ("offset",)) is None
    assert FAST.slot_offsets(ConsumerMessage, ("topic", "nope")) is None
