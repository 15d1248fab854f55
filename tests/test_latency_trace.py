"""bench/latency_trace.py: request frames are told apart by api key, and the report's
stages are the differences of the timestamps taken along the path."""

from __future__ import annotations

import struct

from bench import latency
from bench.latency_trace import Trace, _api_keys


def _frame(api_key: int, body: bytes = b"") -> bytes:
    rest = struct.pack(">hhi", api_key, 0, 7) + body
    return struct.pack(">i", len(rest)) + rest


def test_api_keys_of_frames_in_one_write() -> None:
    assert list(_api_keys(_frame(0, b"x" * 10) + _frame(1) + _frame(3, b"yy"))) == [0, 1, 3]


def test_report_gives_each_stage_from_the_timestamps() -> None:
    trace = Trace()
    ms = 1_000_000
    for i in range(100):
        sent = 10_000 * ms + i * ms
        stamp = sent.to_bytes(8, "big")
        trace.at["written"][stamp] = sent + 3 * ms
        trace.at["fetched"][stamp] = sent + 4 * ms
        trace.at["delivered"][stamp] = sent + 4 * ms + ms // 2
        trace.at["read"][stamp] = sent + 5 * ms
    report = trace.report("kproto-asyncio", [5.0] * 100)
    lines = {line.split("  ")[1].strip(): line.split()[-4:] for line in report.splitlines()[2:7]}
    assert lines["sent -> Produce written"] == ["3.00"] * 4
    assert lines["Produce written -> Fetch answer in"] == ["1.00"] * 4
    assert lines["Fetch answer in -> delivered to the reader"] == ["0.50"] * 4
    assert lines["delivered -> read"] == ["0.50"] * 4
    assert lines["end to end"] == ["5.00"] * 4
    assert latency.WARM[:8] not in trace.at["read"]
