"""The committed generated code is exactly what ``python -m codegen`` writes from the
vendored specs (run it after changing a spec, the error table or the generator)."""

from __future__ import annotations

import filecmp
import os
import subprocess
import sys
from pathlib import Path

import pytest

import codegen

ROOT = Path(__file__).resolve().parent.parent.parent


def test_regenerating_into_a_tmp_dir_gives_the_committed_files(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "codegen", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    generated = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.py"))
    assert len(generated) == len(list(codegen.SPECS.glob("*.json"))) + 5
    differ = [
        str(rel) for rel in generated if not filecmp.cmp(tmp_path / rel, ROOT / rel, shallow=False)
    ]
    assert not differ, f"stale generated files (run python -m codegen): {differ}"
    committed = sorted(
        p.relative_to(ROOT) for p in (ROOT / "kproto/protocol/messages").glob("*.py")
    )
    assert committed == [p for p in generated if p.parts[:3] == ("kproto", "protocol", "messages")]


def test_check_mode_reports_nothing_stale() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "codegen", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout


def test_generation_is_deterministic() -> None:
    assert codegen.generate() == codegen.generate()


def test_every_vendored_spec_is_generator_input() -> None:
    specs = sorted(p.name for p in codegen.SPECS.glob("*.json"))
    assert len(specs) == 186
    assert sorted(m.file_name for m in codegen.load()) == specs
    for m in codegen.load():
        module = ROOT / "kproto/protocol/messages" / f"{m.module}.py"
        second = module.read_text(encoding="utf-8").splitlines()[1]
        assert second == f"# Source: codegen/specs/{m.file_name}."
    assert (ROOT / "codegen" / "kafka-error-codes.tsv") == codegen.ERROR_TABLE


@pytest.mark.skipif(
    not os.environ.get("KPROTO_UPSTREAM_SPECS"),
    reason="set KPROTO_UPSTREAM_SPECS to a directory of Kafka's message specs to compare",
)
def test_vendored_specs_match_upstream() -> None:
    upstream = Path(os.environ["KPROTO_UPSTREAM_SPECS"])
    names = sorted(p.name for p in codegen.SPECS.glob("*.json"))
    _, mismatch, errors = filecmp.cmpfiles(upstream, codegen.SPECS, names, shallow=False)
    assert not mismatch and not errors, (mismatch, errors)
    assert sorted(p.name for p in upstream.glob("*.json")) == names
