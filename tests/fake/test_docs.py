"""docs/testing-your-app.md's examples are tests: each ``python`` block runs under pytest."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
DOC = ROOT / "docs" / "testing-your-app.md"


def test_every_example_in_the_testing_guide_passes(tmp_path: Path) -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 6
    for i, block in enumerate(blocks):
        (tmp_path / f"test_example_{i}.py").write_text(block, encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-W", "error::pytest.PytestUnraisableExceptionWarning",
                           str(tmp_path)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=240)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert f"{len(blocks)} passed" in proc.stdout, proc.stdout  # one test per block
