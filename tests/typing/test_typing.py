"""Type checkers see kproto as its users do: a program per transport type-checks cleanly under
``mypy --strict`` and pyright, asserting the precise types kproto declares, and a program of
mistakes gets an error on exactly the lines marked ``# error:``.

Both checkers run twice: against this venv's editable install (what ./dev makes), and against
a wheel built from the tree and installed in a fresh venv. Each runs from an empty directory,
so nothing resolves from the source tree by accident.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
PROGRAMS = Path(__file__).resolve().parent / "programs"
GOOD = ("threads_app.py", "asyncio_app.py", "trio_app.py")
MISTAKES = "mistakes.py"

pytestmark = pytest.mark.slow


def expected_errors() -> set[int]:
    lines = (PROGRAMS / MISTAKES).read_text().splitlines()
    return {i for i, line in enumerate(lines, 1) if re.search(r"\S.*#\s*error:", line)}


@pytest.fixture(scope="module")
def wheel_python(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A fresh venv with kproto installed from a wheel built from this tree; the dev venv's
    site-packages (trio, typing_extensions) are appended after its own."""
    where = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                           "--no-build-isolation", "-q", "-w", str(where), str(ROOT)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    shutil.rmtree(ROOT / "build", ignore_errors=True)
    [wheel] = where.glob("kproto-*.whl")
    env = where / "venv"
    venv.create(env, with_pip=False)
    python = env / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()"
                           "['purelib'])"], capture_output=True, text=True, check=True
                          ).stdout.strip()
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index",
                           "-q", "--target", site, str(wheel)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (Path(site) / "dev-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return str(python)


def programs(into: Path) -> list[str]:
    for name in (*GOOD, MISTAKES):
        shutil.copy(PROGRAMS / name, into / name)
    return [*GOOD, MISTAKES]


def run_mypy(python: str, where: Path) -> dict[str, set[int]]:
    files = programs(where)
    proc = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--python-executable",
                           python, "--cache-dir", str(where / ".mypy_cache"), *files],
                          cwd=where, capture_output=True, text=True, timeout=600)
    return errors(proc.stdout, r"^(\S+\.py):(\d+): error:", proc)


def run_pyright(python: str, where: Path) -> dict[str, set[int]]:
    files = programs(where)
    proc = subprocess.run([sys.executable, "-m", "pyright", "--pythonpath", python, *files],
                          cwd=where, capture_output=True, text=True, timeout=600)
    return errors(proc.stdout, r"^\s*\S*?([^/\s]+\.py):(\d+):\d+ - error", proc)


def errors(output: str, pattern: str, proc: subprocess.CompletedProcess[str]
           ) -> dict[str, set[int]]:
    found: dict[str, set[int]] = {}
    for line in output.splitlines():
        m = re.match(pattern, line)
        if m:
            found.setdefault(Path(m.group(1)).name, set()).add(int(m.group(2)))
    assert found or proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return found


def check(found: dict[str, set[int]], output_of: str) -> None:
    for name in GOOD:
        assert not found.get(name), f"{output_of}: {name} has errors on lines {found[name]}"
    assert found.get(MISTAKES, set()) == expected_errors(), (
        f"{output_of}: errors on {sorted(found.get(MISTAKES, set()))}, "
        f"expected {sorted(expected_errors())}")


@pytest.mark.parametrize("install", ["editable", "wheel"])
def test_mypy_strict(install: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    python = sys.executable if install == "editable" else request.getfixturevalue("wheel_python")
    check(run_mypy(python, tmp_path), f"mypy ({install})")


@pytest.mark.parametrize("install", ["editable", "wheel"])
def test_pyright(install: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    python = sys.executable if install == "editable" else request.getfixturevalue("wheel_python")
    check(run_pyright(python, tmp_path), f"pyright ({install})")
