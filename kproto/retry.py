"""Retry pacing: the one exponential backoff with jitter that every retry loop of the core uses.

The delay doubles with each consecutive failure from ``base`` up to ``cap`` and is spread by
+-20% with the engine's injected RNG, so that clients failing together do not retry together
and tests can seed the draws.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kproto.config import Config

__all__ = ["backoff", "retry_backoff"]


def backoff(base: float, cap: float, failures: int, rng: random.Random) -> float:
    """The delay before the next try after ``failures`` consecutive failures (1 = first)."""
    delay = min(cap, base * (2 ** max(0, failures - 1)))
    return float(delay * rng.uniform(0.8, 1.2))


def retry_backoff(config: Config, rng: random.Random, failures: int) -> float:
    """``backoff`` paced by the ``retry_backoff`` and ``retry_backoff_max`` settings."""
    return backoff(config.retry_backoff, config.retry_backoff_max, failures, rng)
