"""Hypothesis strategies for testing code that uses kproto: keys, values, headers, messages,
record batches, fault mixes and explicit fault schedules for the simulator.

Hypothesis is an optional dependency (``pip install 'kproto[testing]'``); importing this
module without it raises an ImportError that says so. ``kproto.testing`` itself never
imports it.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

try:
    from hypothesis import strategies as st
except ImportError as exc:  # pragma: no cover - exercised in a subprocess
    raise ImportError("kproto.testing.strategies needs Hypothesis: install the extra "
                      "kproto[testing] (pip install 'kproto[testing]')") from exc

from kproto.message_types import Header, ProducerMessage
from kproto.testing.sim.faults import FaultMix
from kproto.testing.sim.schedule import KINDS, Fault

__all__ = ["fault_mixes", "fault_schedules", "faults", "headers", "keys", "messages",
           "record_batches", "values"]

_PROBABILITIES = frozenset(("spike", "cut", "broker_errors", "broker_delays", "broker_drops",
                            "slow_handlers", "handler_returns"))


def keys(max_size: int = 16) -> st.SearchStrategy[bytes | None]:
    """A record key: None (no key), empty, or bytes."""
    return st.one_of(st.none(), st.binary(max_size=max_size))


def values(max_size: int = 64) -> st.SearchStrategy[bytes | None]:
    """A record value: None (a tombstone), empty, or bytes."""
    return st.one_of(st.none(), st.binary(max_size=max_size))


def headers(max_headers: int = 3, max_size: int = 16) -> st.SearchStrategy[tuple[Header, ...]]:
    """Record headers: (name, value or None) pairs; names may repeat, as Kafka allows."""
    one = st.tuples(st.text(max_size=max_size), st.one_of(st.none(), st.binary(max_size=max_size)))
    return st.lists(one, max_size=max_headers).map(tuple)


def messages(topic: str | st.SearchStrategy[str] = "t", partitions: int | None = None,
             *, key: st.SearchStrategy[bytes | None] | None = None,
             value: st.SearchStrategy[bytes | None] | None = None,
             header: st.SearchStrategy[tuple[Header, ...]] | None = None,
             ) -> st.SearchStrategy[ProducerMessage]:
    """A ``ProducerMessage`` to ``topic``; with ``partitions``, sometimes an explicit
    partition below it, else the partitioner chooses. A fresh object each draw (a producer
    fills in its offset)."""
    if partitions is not None and partitions < 1:
        raise ValueError(f"partitions must be >= 1 or None, not {partitions!r}")
    topics = topic if isinstance(topic, st.SearchStrategy) else st.just(topic)
    part: st.SearchStrategy[int | None] = st.none()
    if partitions is not None:
        part = st.one_of(st.none(), st.integers(0, partitions - 1))
    return st.builds(ProducerMessage, topics, value if value is not None else values(),
                     key=key if key is not None else keys(),
                     headers=header if header is not None else headers(), partition=part)


@st.composite
def record_batches(draw: Any, max_records: int = 8, magic: int = 2) -> bytes:
    """One encoded record batch (``magic`` 2, or a legacy message set with 0 or 1) of up to
    ``max_records`` records, with any codec the format allows."""
    from kproto.records import BatchBuilder, Compression

    if magic not in (0, 1, 2):
        raise ValueError(f"magic must be 0, 1 or 2, not {magic!r}")
    codecs = [c for c in Compression if magic == 2 or c != Compression.ZSTD]
    builder = BatchBuilder(magic=magic, compression=draw(st.sampled_from(codecs)),
                           max_bytes=1 << 24)
    for _ in range(draw(st.integers(1, max_records))):
        hs = draw(headers()) if magic == 2 else ()
        ts = draw(st.integers(0, 2**41))
        assert builder.append(ts, draw(keys()), draw(values()), hs)
    return builder.build()


def fault_mixes(scale: float = 1.0) -> st.SearchStrategy[FaultMix]:
    """A ``FaultMix``: each fault off, or on at up to ``scale`` times the heavy preset's
    rate (probabilities capped at 1); latencies and durations as the default mix has them,
    or up to twice that."""
    if scale < 0:
        raise ValueError(f"scale must be >= 0, not {scale!r}")
    heavy, default = FaultMix.heavy(), FaultMix()
    parts: dict[str, st.SearchStrategy[float]] = {}
    for f in fields(FaultMix):
        top = getattr(heavy, f.name)
        if f.name in ("latency", "jitter", "spike_delay", "downtime", "pause_length",
                      "slow_length"):
            base = getattr(default, f.name)
            parts[f.name] = st.floats(0.0, 2 * base)
        else:
            cap = top * scale if top > 0 else 0.01 * scale
            if f.name in _PROBABILITIES:
                cap = min(cap, 1.0)
            parts[f.name] = st.one_of(st.just(0.0), st.floats(0.0, cap))
    return st.fixed_dictionaries(parts).map(lambda d: FaultMix(**d))


def faults(kinds: tuple[str, ...] = KINDS, horizon: float = 0.0,
           max_seconds: float = 8.0) -> st.SearchStrategy[Fault]:
    """One explicit ``Fault`` of one of ``kinds``, at a time below ``horizon`` (0: now),
    lasting up to ``max_seconds``. Shrinks toward the first kind, target 0, short faults."""
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds:
        raise ValueError(f"kinds must be a non-empty choice among {', '.join(KINDS)}; "
                         f"unknown: {', '.join(unknown)}")
    when = st.floats(0.0, horizon) if horizon > 0 else st.just(0.0)
    return st.builds(Fault, st.sampled_from(kinds), target=st.integers(0, 15),
                     seconds=st.floats(0.0, max_seconds), at=when,
                     count=st.integers(1, 3))


def fault_schedules(kinds: tuple[str, ...] = KINDS, horizon: float = 30.0,
                    max_faults: int = 6, max_seconds: float = 8.0,
                    ) -> st.SearchStrategy[list[Fault]]:
    """A list of up to ``max_faults`` faults at times in ``[0, horizon]``, in time order,
    for ``schedule(sim, faults)``."""
    return st.lists(faults(kinds, horizon, max_seconds), max_size=max_faults).map(
        lambda fs: sorted(fs, key=lambda f: f.at))
