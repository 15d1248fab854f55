"""The fuzz target (fuzz/fuzz_protocol.py) runs, and its seed corpus passes through it."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
SCRIPT = ROOT / "fuzz" / "fuzz_protocol.py"


def test_seed_corpus_and_hypothesis_fallback(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--corpus-out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    seeds = sorted(tmp_path.iterdir())
    assert len(seeds) > 600
    spec = importlib.util.spec_from_file_location("fuzz_protocol_under_test", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for seed in seeds:
        data = seed.read_bytes()
        module.test_one_input(data)
        module.test_one_input(data[: len(data) // 2])
    module.run_hypothesis(200)
