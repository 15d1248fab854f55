"""Project-wide gates: the core stays pure, typed and lint-clean."""

from __future__ import annotations

import ast
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORE = ROOT / "kproto"
FORBIDDEN = {
    "socket", "selectors", "ssl", "asyncio", "trio", "threading", "time", "concurrent",
    "multiprocessing", "subprocess", "select",
    "kproto_threads", "kproto_asyncio", "kproto_trio", "kproto_cli",
}


def _imports(path: pathlib.Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Call) and getattr(node.func, "id", "") == "__import__":
            found.append((node.lineno, "__import__(...)"))
    return found


def test_core_imports_no_io_clock_or_thread_module() -> None:
    offenders = []
    files = sorted(CORE.rglob("*.py"))
    assert len(files) > 10, "the core package looks empty"
    for path in files:
        for lineno, name in _imports(path):
            if name.split(".")[0] in FORBIDDEN or name == "__import__(...)":
                offenders.append(f"{path.relative_to(ROOT)}:{lineno} imports {name}")
    assert not offenders, "\n".join(offenders)


def test_purity_check_catches_a_forbidden_import(tmp_path: pathlib.Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import os\nfrom time import monotonic\n")
    assert [n for _, n in _imports(bad) if n.split(".")[0] in FORBIDDEN] == ["time"]


def _tool(name: str) -> str:
    exe = pathlib.Path(sys.executable).parent / name
    if exe.exists():
        return str(exe)
    found = shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed (it comes with the dev extra)")
    return found


def test_ruff_is_clean() -> None:
    proc = subprocess.run([_tool("ruff"), "check", "kproto", "transports", "tests", "codegen", "kproto_cli", "docs",
                           "bench", "fuzz"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_strict_is_clean_on_the_core() -> None:
    proc = subprocess.run([sys.executable, "-m", "mypy", "--strict", "kproto"], cwd=ROOT,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]


def test_mypy_strict_is_clean_on_the_transports_and_cli() -> None:
    proc = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent",
                           "transports", "kproto_cli"], cwd=ROOT, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]


LAYERS = [
    ("kproto.errors", "kproto.protocol", "kproto.records", "kproto._lazy"),
    ("kproto.config", "kproto.retry", "kproto.events", "kproto.lifetime", "kproto.message_types",
     "kproto.partitioners"),
    ("kproto.engine",),
    ("kproto.producer", "kproto.consumer", "kproto.group", "kproto.admin"),
    ("kproto.facade",),
    ("kproto.testing",),
]
"""The core's layers, lowest first: a module imports from its own layer or those below."""


def _layer(module: str) -> int | None:
    for i, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return i
    return None


def _resolved_imports(path: pathlib.Path) -> list[tuple[int, str, bool]]:
    """(line, absolute module, only for type checking) of every kproto import in ``path``."""
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
    package = parts if rel.name == "__init__" else parts[:-1]
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    typing_only = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
                   and "TYPE_CHECKING" in ast.unparse(node.test) for n in ast.walk(node)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            names = [module] if node.module else [f"{module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        found += [(node.lineno, n, id(node) in typing_only) for n in names
                  if n.startswith("kproto.")]
    return found


def test_the_core_is_layered() -> None:
    """No module imports a layer above its own (the feature errors that kproto.errors names
    for type checkers, and re-exports lazily, aside)."""
    offenders = []
    for path in sorted(CORE.rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        module = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        mine = _layer(module)
        if mine is None:
            continue  # the package's own __init__ re-exports every layer
        for lineno, name, typing_only in _resolved_imports(path):
            theirs = _layer(name)
            if theirs is not None and theirs > mine and not (
                    typing_only and module == "kproto.errors"):
                offenders.append(f"{rel}.py:{lineno} ({module}) imports {name}")
    assert not offenders, "\n".join(offenders)
