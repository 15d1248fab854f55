"""The README's first command: the demo through all three transports, against a broker."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def test_demo_writes_and_reads_back_through_every_transport(kafka_broker: Any) -> None:
    proc = subprocess.run([sys.executable, "-m", "kproto_cli", "demo", "--bootstrap",
                           kafka_broker.bootstrap], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for transport in ("threads", "asyncio", "trio"):
        assert f"[{transport}] produced 3 records" in proc.stdout
        assert f"headers=(('transport', b'{transport}'),)" in proc.stdout
    assert proc.stdout.rstrip().endswith("demo succeeded")
