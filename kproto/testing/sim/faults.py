"""The fault mix: which faults a simulation run draws from its seed, and how often.

A ``FaultMix`` is a plain value. Rates are per simulated second (a Poisson rate: 0.01 is
about one every 100 seconds) for events the scheduler starts (broker stops, leader moves,
resets), and probabilities per delivery or per request for those that hit one message.
``FaultMix.none()`` turns everything off, ``FaultMix.parse("resets=0.1,unclean=0")``
narrows or widens a mix from a command line, and ``replace``-style keyword arguments
(``mix.with_(stops=0)``) make a variant.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields

__all__ = ["FaultMix"]


@dataclass(frozen=True)
class FaultMix:
    """What goes wrong in a simulation run; every field is >= 0 (0 turns it off)."""

    # -- the network (per delivered chunk of bytes) --------------------------------------
    latency: float = 0.001
    """Base one-way latency of every delivery, seconds."""
    jitter: float = 0.004
    """Uniform extra latency, seconds (connections drift apart: reordering between them)."""
    spike: float = 0.01
    """Probability that a delivery is held much longer (up to ``spike_delay``)."""
    spike_delay: float = 8.0
    """Longest held delivery, seconds (beyond ``request_timeout``: retries of the same
    batch, duplicated by retry)."""
    cut: float = 0.003
    """Probability that a delivery is cut mid-frame and its connection reset."""
    # -- events the scheduler starts (per simulated second) ------------------------------
    resets: float = 0.02
    """Drop one random connection at once, bytes in flight lost."""
    stops: float = 0.01
    """Stop a random broker (it restarts after ``downtime``)."""
    downtime: float = 6.0
    leader_moves: float = 0.02
    coordinator_moves: float = 0.01
    unclean: float = 0.0
    """Unclean leader changes (replication held first, so an unflushed tail is lost)."""
    pauses: float = 0.01
    """A client process freezes (its clock jumps forward by up to ``pause_length``)."""
    pause_length: float = 5.0
    # -- the fake brokers' own seeded mode (per request) ---------------------------------
    broker_errors: float = 0.02
    """Retriable error answers suited to each API."""
    broker_delays: float = 0.01
    broker_drops: float = 0.002
    # -- the simulated applications ----------------------------------------------------
    slow_handlers: float = 0.02
    """Probability that a group handler takes long over one message."""
    slow_length: float = 4.0
    handler_returns: float = 0.002
    """Probability per message that a claim loop returns early (the session ends)."""
    crashes: float = 0.005
    """Per simulated second: a group member's process dies (a new one starts later)."""

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"FaultMix.{f.name} must be a number >= 0, not {value!r}")
        for name in ("spike", "cut", "broker_errors", "broker_delays", "broker_drops",
                     "slow_handlers", "handler_returns"):
            if getattr(self, name) > 1:
                raise ValueError(f"FaultMix.{name} is a probability: at most 1")

    @classmethod
    def none(cls) -> FaultMix:
        """No faults at all (latency stays: bytes still take time)."""
        zero = {f.name: 0.0 for f in fields(cls)
                if f.name not in ("latency", "jitter", "spike_delay", "downtime",
                                  "pause_length", "slow_length")}
        return cls(**zero)

    @classmethod
    def heavy(cls) -> FaultMix:
        """Everything, often, unclean leader changes included."""
        return cls(spike=0.03, cut=0.01, resets=0.05, stops=0.03, leader_moves=0.05,
                   coordinator_moves=0.03, unclean=0.01, pauses=0.02, broker_errors=0.05,
                   broker_delays=0.03, broker_drops=0.005, slow_handlers=0.05, crashes=0.01)

    def with_(self, **changes: float) -> FaultMix:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def parse(cls, text: str, base: FaultMix | None = None) -> FaultMix:
        """``"none"``, ``"heavy"``, ``"default"`` or ``name=value,...`` on top of ``base``
        (or of a preset named first: ``"none,stops=0.05"``)."""
        mix = base if base is not None else cls()
        names = {f.name for f in fields(cls)}
        for part in (p.strip() for p in text.split(",")):
            if not part:
                continue
            if part in ("none", "heavy", "default"):
                mix = cls.none() if part == "none" else cls.heavy() if part == "heavy" else cls()
                continue
            name, sep, value = part.partition("=")
            name = name.strip()
            if not sep or name not in names:
                raise ValueError(f"faults: {part!r} is not name=value with a name among "
                                 f"{', '.join(sorted(names))}")
            try:
                number = float(value)
            except ValueError:
                raise ValueError(f"faults: {name} must be a number, not {value!r}") from None
            mix = dataclasses.replace(mix, **{name: number})
        return mix
