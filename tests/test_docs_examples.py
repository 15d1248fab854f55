"""The guides' examples are tests: each ``python`` block of these pages runs under pytest
against the in-process fake cluster."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = {"migrating-from-aiokafka.md": 4}
"""Each page and how many examples it has at least."""


@pytest.mark.parametrize("page", sorted(PAGES))
def test_every_example_passes(page: str, tmp_path: Path) -> None:
    text = (ROOT / "docs" / page).read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) >= PAGES[page]
    for i, block in enumerate(blocks):
        (tmp_path / f"test_example_{i}.py").write_text(block, encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-W", "error::pytest.PytestUnraisableExceptionWarning",
                           str(tmp_path)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=240)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert f"{len(blocks)} passed" in proc.stdout, proc.stdout
