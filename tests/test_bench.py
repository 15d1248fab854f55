"""``./dev bench --quick`` against the session's broker: the table has every row and column
and its numbers parse. A smoke test of the benchmark's plumbing, never of its timings."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import run  # noqa: E402
from bench.chart import bar_chart  # noqa: E402

CLIENTS = ["kproto-asyncio", "kproto-asyncio-batch", "confluent-kafka"]
"""A few clients keep the test short; every section and both quick scenarios run."""


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


@pytest.mark.real_broker("the peers and Kafka's Java tools need a real broker")
def test_quick_bench_prints_every_row_and_column(kafka_broker, tmp_path: Path) -> None:
    out_json, out_png = tmp_path / "bench.json", tmp_path / "bench.png"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--bootstrap", kafka_broker.bootstrap,
         "--only", ",".join(CLIENTS), "--json", str(out_json), "--chart", str(out_png)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [line for line in done.stdout.splitlines() if line.startswith("|")]
    assert _cells(lines[0]) == list(run.COLUMNS)
    rows = [_cells(line) for line in lines[2:]]
    assert all(len(r) == len(run.COLUMNS) for r in rows)
    got = {(r[0], r[1], r[2]): r for r in rows}
    want = [(t, run.scenario_name(*s), c) for t in ("produce", "consume")
            for s in [(100, "none", 1), (1024, "lz4", 6)] for c in CLIENTS]
    per_record = [c for c in CLIENTS if not c.endswith("-batch")]
    want += [("latency", "100 B at 5,000/s, 0.5 s", c) for c in per_record]
    want += [("group", f"100 B, 12 partitions, {n} member{'s' if n > 1 else ''}", c)
             for n in (1, 2) for c in per_record]
    assert sorted(got) == sorted(want)
    for (test, _, client), r in got.items():
        if r[3] == run.NA:
            assert client.endswith("-batch"), r  # only an API this kproto lacks may say n/a
            continue
        numbers = r[6:9] if test == "latency" else r[3:5] + ([r[5]] if test != "group" else [])
        if client.startswith("kproto"):
            numbers.append(r[10])  # the ratio to confluent-kafka
        try:
            values = [float(n.replace(",", "")) for n in numbers]
        except ValueError:
            pytest.fail(f"a number does not parse in {r}")
        assert values[0] > 0 and min(values) >= 0, r
    data = json.loads(out_json.read_text())
    assert len(data["rows"]) == len(rows) and data["machine"]["cpus"] >= 1
    assert out_png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_only_names_unknown_sections_and_clients(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        run.parse(["--only", "produce,kproto-fortran"])
    assert "--only: unknown section or client 'kproto-fortran'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        run.parse(["--records", "0"])
    assert "--records must be at least 1" in capsys.readouterr().err


def test_chart_is_a_valid_png(tmp_path: Path) -> None:
    import struct
    import zlib

    path = tmp_path / "c.png"
    bar_chart("t", {"produce 100 B none p1": {"kproto-asyncio": 2.0, "aiokafka": 1.0}}, path)
    data = path.read_bytes()
    width, height = struct.unpack(">II", data[16:24])
    idat = data.index(b"IDAT")
    (length,) = struct.unpack(">I", data[idat - 4:idat])
    raw = zlib.decompress(data[idat + 4:idat + 4 + length])
    assert len(raw) == height * (1 + 3 * width)
    assert zlib.crc32(data[idat:idat + 4 + length]) == struct.unpack(
        ">I", data[idat + 4 + length:idat + 8 + length])[0]
