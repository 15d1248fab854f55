# Theory of operation: decides once, at import, whether the record layer's per-record loops
# run compiled. The compiled module (_speedups, built from _speedups.pyx when the package is
# installed on a machine with a C compiler) is used when it imports, unless the environment
# variable KPROTO_PURE is set to anything but "" or "0"; then, or when it is missing, the
# pure functions in batch_v2 and builder run alone. Callers read `speedups` (the module or
# None); `kproto.records.ACCELERATED` tells users which path is active.
"""Selection of the optional compiled record loops (see docs/performance.md)."""

from __future__ import annotations

import os
from types import ModuleType

__all__ = ["ACCELERATED", "PURE_ENV", "speedups"]

PURE_ENV = "KPROTO_PURE"
"""Set this environment variable to 1 to run the pure-Python record code."""


def _load() -> ModuleType | None:
    if os.environ.get(PURE_ENV, "") not in ("", "0"):
        return None
    try:
        from . import _speedups
    except ImportError:
        return None
    return _speedups


speedups = _load()
ACCELERATED: bool = speedups is not None
"""True when the compiled record loops are in use."""
