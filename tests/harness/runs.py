"""Where this process's brokers keep their files, and cleaning up after dead processes.

Each Python process gets one run directory, ``<runs root>/<timestamp>-<pid>``, holding every
broker's config, data and ``server.out`` log. Node directories record their JVM's pid, so a
later process can kill JVMs whose owner died without cleaning up (SIGKILL, a crash) and prune
old runs, keeping the newest few for their logs.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import shutil
import signal
from pathlib import Path

from .jars import cache_root

KEEP_RUNS = 5


def tail(path: Path, lines: int = 60, since: int = 0) -> str:
    """The last ``lines`` lines of a log file, optionally only what was written after ``since``."""
    try:
        with open(path, "rb") as f:
            size = f.seek(0, os.SEEK_END)
            start = max(since, size - 256 * 1024)
            f.seek(start)
            text = f.read().decode(errors="replace")
    except OSError as exc:
        return f"(no log: {exc})"
    return "\n".join(text.splitlines()[-lines:])


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def runs_root() -> Path:
    return Path(os.environ.get("KPROTO_RUN_DIR") or cache_root() / "runs").expanduser()


def sweep_stale_runs() -> None:
    """Kill JVMs left by harness processes that died without cleaning up; prune old runs."""
    root = runs_root()
    if not root.is_dir():
        return
    runs = sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: p.name)
    for run in runs:
        owner = run.name.rsplit("-", 1)[-1]
        if owner.isdigit() and (int(owner) == os.getpid() or _pid_alive(int(owner))):
            continue
        for pid_file in run.glob("*/*/pid"):
            with contextlib.suppress(OSError, ValueError):
                pid = int(pid_file.read_text())
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                if str(run).encode() in cmdline:
                    os.kill(pid, signal.SIGKILL)
            pid_file.unlink(missing_ok=True)
    finished = [r for r in runs if not r.name.endswith(f"-{os.getpid()}")]
    for old in finished[:-KEEP_RUNS]:
        owner = old.name.rsplit("-", 1)[-1]
        if owner.isdigit() and _pid_alive(int(owner)):
            continue
        shutil.rmtree(old, ignore_errors=True)


_run_dir: Path | None = None


def run_dir() -> Path:
    """This process's run directory (logs, configs, data), created on first use."""
    global _run_dir
    if _run_dir is None:
        sweep_stale_runs()
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        _run_dir = runs_root() / f"{stamp}-{os.getpid()}"
        _run_dir.mkdir(parents=True, exist_ok=True)
    return _run_dir
