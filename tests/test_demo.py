"""The README's first command: the demo through all three transports.

By default it runs on the embedded fake cluster: no Java or Maven on ``PATH``, no import of
``tests``, trio only when it is installed (its leg is skipped with a note otherwise). With
``--bootstrap`` it runs against a real broker, as before.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 120

RUN_DEMO = """
import sys
{setup}
from kproto_cli.demo import main
code = main(sys.argv[1:])
leaked = sorted(m for m in sys.modules if m == "tests" or m.startswith("tests."))
assert not leaked, leaked
print("trio imported:", sys.modules.get("trio") is not None, file=sys.stderr)
sys.exit(code)
"""


def demo(*args: str, setup: str = "", cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The demo in a fresh interpreter whose PATH holds only its own directory (so no java,
    no mvn) and whose working directory is not the checkout."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PATH"] = str(Path(sys.executable).parent)
    return subprocess.run([sys.executable, "-c", RUN_DEMO.format(setup=setup), "demo", *args],
                          cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT, env=env)


def check_transports(stdout: str, transports: tuple[str, ...]) -> None:
    for transport in transports:
        assert f"[{transport}] produced 3 records" in stdout
        assert f"headers=(('transport', b'{transport}'),)" in stdout
    assert stdout.rstrip().endswith("demo succeeded")


def test_demo_runs_on_the_embedded_fake_cluster_without_java(tmp_path: Path) -> None:
    proc = demo(cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "embedded fake cluster" in proc.stdout
    check_transports(proc.stdout, ("threads", "asyncio", "trio"))
    assert "summary: threads 3/3 read back, asyncio 3/3 read back, trio 3/3 read back" \
        in proc.stdout


def test_demo_without_trio_skips_its_leg_and_never_imports_it(tmp_path: Path) -> None:
    proc = demo(setup="sys.modules['trio'] = None  # trio is not installed", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "[trio] skipped: trio is not installed" in proc.stdout
    check_transports(proc.stdout, ("threads", "asyncio"))
    assert "trio imported: False" in proc.stderr


def test_demo_asked_for_trio_without_trio_says_so(tmp_path: Path) -> None:
    proc = demo("--transport", "trio", setup="sys.modules['trio'] = None", cwd=tmp_path)
    assert proc.returncode == 2
    assert "trio is not installed" in proc.stderr


def test_demo_asked_to_start_kafka_without_the_harness_says_so(tmp_path: Path) -> None:
    proc = demo("--kafka", setup="sys.modules['tests'] = None  # not a source checkout",
                cwd=tmp_path)
    assert proc.returncode != 0
    assert "--kafka needs the broker harness" in proc.stderr


@pytest.mark.broker
def test_demo_writes_and_reads_back_through_every_transport(kafka_broker: Any) -> None:
    proc = subprocess.run([sys.executable, "-m", "kproto_cli", "demo", "--bootstrap",
                           kafka_broker.bootstrap], cwd=ROOT, capture_output=True, text=True,
                          timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    check_transports(proc.stdout, ("threads", "asyncio", "trio"))
