"""Cluster administration: the AdminCore state machine, its typed options and results, and
the checks of its input. See docs/admin.md."""

from __future__ import annotations

from .core import ANY, AdminCore
from .errors import InvalidArgumentError
from .types import *  # noqa: F403
from .types import __all__ as _types

__all__ = ["ANY", "AdminCore", "InvalidArgumentError", *_types]
