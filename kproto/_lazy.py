"""Attributes of a package loaded on first use (PEP 562), so that importing an adapter does
not load every feature: ``__getattr__ = lazy(__name__, {"Consumer": ".consumer", ...})``."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping


def lazy(package: str, where: Mapping[str, str]) -> Callable[[str], object]:
    """A module ``__getattr__`` importing ``where[name]`` (relative to ``package``)."""

    def __getattr__(name: str) -> object:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
